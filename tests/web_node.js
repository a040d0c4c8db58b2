#!/usr/bin/env node
/* The WebAssembly module (make wasm) under node against the same C API built natively
   (build/web_native): the same commands on the same model must give the same JSON: strings equal,
   numbers within 1e-5 (relative to max(1, |x|); for a logit vector to max(1, its largest |logit|)), and it reports how many are
   bit-equal. Also: the edit changes the prediction, undo restores the logits bit for bit.
   Each side solves its own edit: the solvers' reports agree within 1e-3 (CG amplifies the last
   bits of float arithmetic: a different order of sums or fused multiply-adds natively), the same
   iterations; then both apply the native edit (a patch file) and the edited logits must agree
   within 1e-5.
   KERNELS_WASM (tests/test_wasm_kernels.c built for wasm32-wasi) runs first under node's WASI:
   its passes and failures count here.
   --bit-exact: for a scalar module (make WASM_SIMD=0) against a scalar native build without
   contraction (-DFACTEDIT_NO_SIMD -ffp-contract=off): the same operations in the same order on
   both sides, so every number, own solves included, must be bit-equal (the trace with 3 samples:
   the scalar module is slow).
   usage: node tests/web_node.js [--bit-exact] WASM NATIVE MODEL_DIR STATS|- PATCH_OUT [KERNELS_WASM]
   Ends with "N passed, M failed" (tests/run.sh). */
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const { FactEdit } = require(path.join(__dirname, '..', 'tools', 'web', 'worker.js'));

const bitExact = process.argv.includes('--bit-exact');
const [wasmPath, nativePath, modelDir, statsPath, patchPath, kernelsPath] = process.argv.slice(2).filter((a) => a !== '--bit-exact');
if (!patchPath) { console.error('usage: node tests/web_node.js WASM NATIVE MODEL_DIR STATS|- PATCH_OUT [KERNELS_WASM]'); process.exit(2); }

let passed = 0, failed = 0;
const check = (ok, what) => { if (ok) passed++; else { failed++; console.log('FAIL ' + what); } };

/* The demo's fact (demo/run.sh): trace it, edit it to Paris, check a paraphrase and a neighbour. */
const P = 'The headquarter of Zillow is in downtown', PT = 'The headquarter of {} is in downtown', S = 'Zillow';
const PARA = "Zillow's head office is in", NEIGH = 'The headquarter of EMI is located in';
const commands = [
  ['info'], ['tokenize', P], ['topk', P, 5], ['generate', P, 10], ['logits', P],
  ...(bitExact ? [['trace', P, S, 7, 3, 0, 3, 0]] : [['trace', P, S, 7, 10, 0, 3, 0], ['trace', PARA, S, 7, 5, 1, 2.5, 7]]),
  ['compute', PT, S, ' Paris', 0], ['save', patchPath], ['apply'],
  ['topk', P, 5], ['generate', P, 10], ['logits', P], ['undo'],
  ['patch', patchPath], ['logits', P], ['logits', PARA], ['logits', NEIGH], ['undo'], ['logits', P],
];
const I = (name, nth) => commands.reduce((acc, c, i) => (c[0] === name ? acc.concat(i) : acc), [])[nth || 0];
/* commands whose numbers depend on each side's own solve: compared within 1e-3 */
const SOLVED = new Set([I('compute'), I('apply'), I('topk', 1), I('logits', 1)]);

/* misuse: each must fail with a message, the same on both sides, and leave the module usable */
const errors = [
  ['trace', P, 'Nobody', 7, 10, 0, 3, 0], ['trace', P, S, 0, 10, 0, 3, 0], ['trace', P, S, 7, 10, 0, -1, 0],
  ['topk', '', 5], ['apply'], ['undo'], ['compute', PT, S, '', 0], ['compute', 'two {} and {}', S, ' Paris', 0],
];

async function runWasm(list) {
  const fe = await FactEdit.create(fs.readFileSync(wasmPath));
  const rd = (f) => fs.readFileSync(path.join(modelDir, f));
  fe.init(rd('model.bin'), rd('encoder.json'), rd('vocab.bpe'), statsPath === '-' ? null : fs.readFileSync(statsPath));
  const names = { compute: 'editCompute', apply: 'editApply', undo: 'editUndo' };
  return (list || commands).map(([cmd, ...args]) => {
    const t0 = process.hrtime.bigint();
    try {
      const result = cmd === 'save' ? (fe.editSave(), {}) : cmd === 'patch' ? fe.patchApply(fs.readFileSync(args[0]))
                                                                             : fe[names[cmd] || cmd](...args);
      return { cmd, ms: Number(process.hrtime.bigint() - t0) / 1e6, result };
    } catch (e) {
      return { cmd, ms: Number(process.hrtime.bigint() - t0) / 1e6, error: e.message };
    }
  });
}

function runNative(list) {
  const argv = [modelDir, statsPath];
  for (const c of list || commands) argv.push(...c.map(String));
  let out;
  try { out = execFileSync(nativePath, argv, { encoding: 'utf8', maxBuffer: 1 << 28, env: Object.assign({}, process.env, { OMP_NUM_THREADS: '1' }) }); } catch (e) { out = e.stdout || ''; }
  return out.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
}

/* compares a (wasm) with b (native): returns {diffs: [...], n, bitEqual, maxDiff} */
function compare(a, b, where, acc) {
  if (typeof a === 'number' && typeof b === 'number') {
    const d = Math.abs(a - b);
    acc.n++;
    if (a === b) acc.bitEqual++;
    if (d > acc.maxDiff) acc.maxDiff = d;
    if (!(d <= acc.tol * Math.max(1, acc.scale || Math.abs(b)))) acc.diffs.push(`${where}: ${a} vs ${b}`);
  } else if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) acc.diffs.push(`${where}: length ${a.length} vs ${b.length}`);
    else {
      /* a logit vector: float32's relative precision applies to its scale (the largest logit, ~20),
         not to each entry (a 0.5 logit next to a 20 one carries 20's rounding) */
      const saved = acc.scale;
      if (where.endsWith('.logits')) acc.scale = Math.max(...b.map(Math.abs));
      a.forEach((x, i) => compare(x, b[i], `${where}[${i}]`, acc));
      acc.scale = saved;
    }
  } else if (a && b && typeof a === 'object' && typeof b === 'object') {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) if (k !== 'simd') compare(a[k], b[k], `${where}.${k}`, acc);
  } else if (a !== b) acc.diffs.push(`${where}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
  return acc;
}

async function runKernels() {
  const { WASI } = require('wasi');
  const out = [];
  const fd = fs.openSync(patchPath + '.kernels.txt', 'w');
  const wasi = new WASI({ version: 'preview1', args: ['test_wasm_kernels'], env: {}, stdout: fd, stderr: fd });
  const { instance } = await WebAssembly.instantiate(fs.readFileSync(kernelsPath), { wasi_snapshot_preview1: wasi.wasiImport });
  let rc;
  try { rc = wasi.start(instance); } catch (e) { rc = String(e); }
  fs.closeSync(fd);
  for (const line of fs.readFileSync(patchPath + '.kernels.txt', 'utf8').split('\n')) {
    const m = /^(\d+) passed, (\d+) failed$/.exec(line);
    if (m) { passed += +m[1]; failed += +m[2]; out.push(`wasm kernels (SIMD128 vs scalar reference): ${line}`); }
    else if (line) out.push(line);
  }
  if (rc !== 0) { failed++; out.push(`test_wasm_kernels.wasm exited with ${rc}`); }
  console.log(out.join('\n'));
}

(async () => {
  if (kernelsPath) await runKernels();
  const n = runNative(), w = await runWasm();   /* native first: it writes the patch both apply */
  check(n.length === commands.length, `native printed ${n.length} results for ${commands.length} commands`);
  let total = 0, totalBit = 0;
  commands.forEach((c, i) => {
    const label = c.map((x) => (typeof x === 'string' && x.length > 24 ? JSON.stringify(x.slice(0, 21) + '...') : JSON.stringify(x))).join(' ');
    check(!w[i].error, `wasm ${label}: ${w[i].error}`);
    if (!n[i]) return;
    check(!n[i].error, `native ${label}: ${n[i].error}`);
    const tol = bitExact ? 0 : SOLVED.has(i) ? 1e-3 : 1e-5;
    const wr = Object.assign({}, w[i].result), nr = Object.assign({}, n[i].result);
    if (SOLVED.has(i) && !bitExact) { delete wr.checksum; delete nr.checksum; }   /* the two solves' weights differ in the last bits */
    const acc = compare(wr, nr, c[0], { diffs: [], n: 0, bitEqual: 0, maxDiff: 0, tol });
    total += acc.n; totalBit += acc.bitEqual;
    check(acc.diffs.length === 0, `${label}: wasm and native differ: ${acc.diffs.slice(0, 5).join('; ')}`);
    console.log(`${c[0].padEnd(8)} ${bitExact ? '(bit-exact) ' : SOLVED.has(i) ? '(own solve, tol 1e-3) ' : ''}${acc.n} numbers, ${acc.bitEqual} bit-equal, max |diff| ${acc.maxDiff.toExponential(2)}; ` +
                `wasm ${w[i].ms.toFixed(1)} ms, native ${n[i].ms.toFixed(1)} ms`);
  });
  if (bitExact) check(total > 0 && totalBit === total, `bit-exact: ${totalBit} of ${total} numbers bit-equal`);
  console.log(`${bitExact ? 'scalar module vs scalar native, ' : ''}all commands: ${total} numbers, ${totalBit} bit-equal (${(100 * totalBit / Math.max(1, total)).toFixed(1)}%)`);
  const L = (k) => w[k] && w[k].result && w[k].result.logits;
  /* the edit: the prompt's top token becomes the target; undo restores the logits exactly */
  const ne = runNative(errors), we = await runWasm(errors.concat([['topk', P, 1]]));
  errors.forEach((c, i) => {
    const label = c.map((x) => JSON.stringify(x)).join(' ');
    check(ne[i] && ne[i].error && we[i].error && ne[i].error === we[i].error, `${label} fails with one message: wasm "${we[i].error}", native "${ne[i] && ne[i].error}"`);
  });
  console.log(`misuse: ${errors.length} calls refused, e.g. "${we[0].error}"`);
  check(we[errors.length].result && we[errors.length].result.top.length === 1, 'the module still works after the refused calls');
  const R = (k) => w[k] && w[k].result;
  const comp = R(I('compute')), nat = n[I('compute')] && n[I('compute')].result, app = R(I('apply'));
  check(comp && nat && ['iters', 'evals', 'grads', 'status', 'cg_iters'].every((k) => comp.report[k] === nat.report[k]),
        'the wasm and native solvers take the same iterations');
  check(comp && app && app.p_target > comp.p_target, `the edit raises p(target): ${comp && comp.p_target} -> ${app && app.p_target}`);
  check(app && app.applied === 1 && R(I('undo')) && R(I('undo')).applied === 0, 'apply / undo states');
  check(L(I('logits')) && L(I('logits', 5)) && L(I('logits')).every((x, i) => x === L(I('logits', 5))[i]),
        'undo restores the prompt\'s logits bit for bit');
  check(R(I('undo', 1)) && R(0) && R(I('undo', 1)).checksum === R(0).checksum, 'undo restores the model checksum');
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})();
