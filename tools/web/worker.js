/* factedit's WebAssembly module (tools/web_api.c, `make wasm`) behind JavaScript calls, and the
   page's Web Worker: every computation runs here so the page never freezes.
   In node (tests/web_node.js) the same file is a module: require('./worker.js').FactEdit. */
'use strict';

/* The module needs a few WASI calls that stdio links in; nothing here reads files. */
function wasiShim(getMemory, log) {
  const ENOSYS = 52;
  return {
    fd_write(fd, iovs, niovs, nwritten) {
      const mem = getMemory(), dv = new DataView(mem.buffer);
      let text = '', total = 0;
      for (let i = 0; i < niovs; i++) {
        const p = dv.getUint32(iovs + 8 * i, true), n = dv.getUint32(iovs + 8 * i + 4, true);
        text += new TextDecoder().decode(new Uint8Array(mem.buffer, p, n));
        total += n;
      }
      dv.setUint32(nwritten, total, true);
      log(fd, text);
      return 0;
    },
    fd_close() { return ENOSYS; },
    fd_seek() { return ENOSYS; },
    proc_exit(code) { throw new Error('factedit.wasm exited with status ' + code); },
  };
}

class FactEdit {
  /* wasmBytes: the module (ArrayBuffer / Uint8Array); onProgress(iter, evals, loss, nll, kl, wd, delta_norm) */
  static async create(wasmBytes, onProgress) {
    const fe = new FactEdit();
    fe.onProgress = onProgress || null;
    const imports = {
      env: { fw_progress: (...a) => { if (fe.onProgress) fe.onProgress(...a); } },
      wasi_snapshot_preview1: wasiShim(() => fe.memory, (fd, t) => (fd === 2 ? console.error : console.log)(t)),
    };
    const { instance } = await WebAssembly.instantiate(wasmBytes, imports);
    fe.x = instance.exports;
    fe.memory = instance.exports.memory;
    if (fe.x._initialize) fe.x._initialize();
    return fe;
  }
  /* bytes into the module's memory; returns [pointer, length] (free with fw_free) */
  put(bytes, nul) {
    const n = bytes.length, p = this.x.fw_alloc(n + (nul ? 1 : 0));
    if (!p) throw new Error('factedit.wasm: out of memory for ' + n + ' bytes');
    const m = new Uint8Array(this.memory.buffer, p, n + (nul ? 1 : 0));
    m.set(bytes);
    if (nul) m[n] = 0;
    return [p, n];
  }
  cstr(p) {
    const m = new Uint8Array(this.memory.buffer);
    let e = p;
    while (m[e]) e++;
    return new TextDecoder().decode(m.subarray(p, e));
  }
  /* Calls fw_NAME with the arguments (strings passed as UTF-8, NUL-terminated) and parses its JSON;
     throws the module's message on failure. */
  call(name, ...args) {
    const owned = [];
    const enc = new TextEncoder();
    try {
      const a = args.map((v) => {
        if (typeof v !== 'string') return v;
        const [p] = this.put(enc.encode(v), true);
        owned.push(p);
        return p;
      });
      const r = this.x['fw_' + name](...a);
      if (!r) throw new Error(this.cstr(this.x.fw_error()));
      return JSON.parse(this.cstr(r));
    } finally {
      for (const p of owned) this.x.fw_free(p);
    }
  }
  init(model, encoder, bpe, stats) {
    const bufs = [model, encoder, bpe, stats].map((b) => (b && b.byteLength ? this.put(new Uint8Array(b), false) : [0, 0]));
    try {
      if (this.x.fw_init(bufs[0][0], bufs[0][1], bufs[1][0], bufs[1][1], bufs[2][0], bufs[2][1], bufs[3][0], bufs[3][1]))
        throw new Error(this.cstr(this.x.fw_error()));
    } finally {
      for (const [p] of bufs) if (p) this.x.fw_free(p);
    }
    return this.call('info');
  }
  info() { return this.call('info'); }
  tokenize(text) { return this.call('tokenize', text); }
  generate(text, n) { return this.call('generate', text, n); }
  topk(text, k) { return this.call('topk', text, k); }
  logits(text) { return this.call('logits', text); }
  trace(prompt, subject, kinds, samples, window, sigmas, seed) { return this.call('trace', prompt, subject, kinds, samples, window, sigmas, seed); }
  editCompute(prompt, subject, target, seed) { return this.call('edit_compute', prompt, subject, target, seed); }
  editApply() { return this.call('edit_apply'); }
  editUndo() { return this.call('edit_undo'); }
  /* the computed edit as patch bytes (a copy) */
  editSave() {
    const lp = this.x.fw_alloc(4);
    try {
      const p = this.x.fw_edit_save(lp);
      if (!p) throw new Error(this.cstr(this.x.fw_error()));
      const n = new DataView(this.memory.buffer).getUint32(lp, true);
      return new Uint8Array(this.memory.buffer, p, n).slice();
    } finally { this.x.fw_free(lp); }
  }
  patchApply(bytes) {
    const [p, n] = this.put(new Uint8Array(bytes), false);
    try {
      const r = this.x.fw_patch_apply(p, n);
      if (!r) throw new Error(this.cstr(this.x.fw_error()));
      return JSON.parse(this.cstr(r));
    } finally { this.x.fw_free(p); }
  }
}

if (typeof module !== 'undefined' && module.exports) module.exports = { FactEdit };

/* ---------------------------------------------------------------- the worker ------------ */
if (typeof self !== 'undefined' && typeof importScripts === 'function') {
  let fe = null, checks = [];
  const now = () => performance.now();
  const fetchBytes = async (url, optional) => {
    const r = await fetch(url);
    if (!r.ok) { if (optional) return null; throw new Error('cannot load ' + url + ': HTTP ' + r.status); }
    return r.arrayBuffer();
  };
  const filled = (prompt, subject) => (prompt.includes('{}') ? prompt.replace('{}', subject) : prompt);
  const tables = (texts) => texts.map((t) => fe.topk(t, 5));
  const handlers = {
    async init() {
      const [wasm, model, enc, bpe, stats] = await Promise.all([
        fetchBytes('factedit.wasm'), fetchBytes('model/model.bin'), fetchBytes('model/encoder.json'),
        fetchBytes('model/vocab.bpe'), fetchBytes('model/stats.bin', true)]);
      fe = await FactEdit.create(wasm, (iter, evals, loss, nll, kl, wd, dn) =>
        self.postMessage({ type: 'progress', iter, evals, loss, nll, kl, wd, delta_norm: dn }));
      return fe.init(model, enc, bpe, stats);
    },
    trace(a) {
      const t0 = now();
      const r = fe.trace(a.prompt, a.subject, 7, a.samples || 10, a.window || 0, a.sigmas || 3, a.seed || 0);
      r.ms = now() - t0;
      return r;
    },
    generate(a) { return fe.generate(a.text, a.n || 10); },
    /* compute, apply, and the top 5 of the prompt, paraphrases and neighbours before and after */
    edit(a) {
      const t0 = now();
      const bare = filled(a.prompt, a.subject);
      checks = [{ kind: 'prompt', text: bare }]
        .concat((a.paraphrases || []).map((text) => ({ kind: 'paraphrase', text })))
        .concat((a.neighbors || []).map((text) => ({ kind: 'neighbour', text })));
      const before = tables(checks.map((c) => c.text));
      const genBefore = fe.generate(bare, 8).text;
      const t1 = now();
      const compute = fe.editCompute(a.prompt, a.subject, a.target, a.seed || 0);
      const apply = fe.editApply();
      const t2 = now();
      const after = tables(checks.map((c) => c.text));
      const genAfter = fe.generate(bare, 8).text;
      return { checks, before, after, genBefore, genAfter, compute, apply, ms_solve: t2 - t1, ms: now() - t0 };
    },
    undo() {
      const undo = fe.editUndo();
      return { undo, checks, tables: tables(checks.map((c) => c.text)) };
    },
  };
  self.onmessage = async (ev) => {
    const { id, cmd, args } = ev.data;
    try {
      if (!handlers[cmd]) throw new Error('unknown command ' + cmd);
      if (cmd !== 'init' && !fe) throw new Error('the model is not loaded yet');
      const result = await handlers[cmd](args || {});
      self.postMessage({ type: 'reply', id, result });
    } catch (e) {
      self.postMessage({ type: 'reply', id, error: String(e && e.message ? e.message : e) });
    }
  };
}
