#!/usr/bin/env node
/* make test-web: headless Chromium (Debian's chromium, driven over the DevTools protocol on a pipe:
   no extra packages) loads the page from a local static server, runs the demo trace and an edit
   and an undo, checks the numbers the page shows against the native build of the same API
   (build/web_native), hovers a cell, and saves a screenshot (WEB_DIR/screenshot.png).
   usage: node tests/web_chrome.js WEB_DIR NATIVE     Ends with "N passed, M failed". */
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const http = require('http');
const { spawn, execFileSync } = require('child_process');

const [webDir, nativePath] = process.argv.slice(2);
if (!nativePath) { console.error('usage: node tests/web_chrome.js WEB_DIR NATIVE'); process.exit(2); }
let passed = 0, failed = 0;
const check = (ok, what) => { if (ok) passed++; else failed++; console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`); };
const finish = (code) => { console.log(`${passed} passed, ${failed} failed`); process.exit(code === undefined ? (failed ? 1 : 0) : code); };

const browser = process.env.CHROMIUM || ['chromium', 'chromium-browser', 'google-chrome'].find((b) => {
  try { execFileSync('sh', ['-c', `command -v ${b}`], { stdio: 'ignore' }); return true; } catch (e) { return false; }
});
if (!browser) { console.log('FAIL no chromium found (Debian package chromium; or set CHROMIUM=path)'); failed++; finish(1); }

/* the static server: any file of webDir */
const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json', '.png': 'image/png' };
const server = http.createServer((req, res) => {
  const rel = decodeURIComponent(req.url.split('?')[0]).replace(/^\/+/, '') || 'index.html';
  const file = path.join(webDir, path.normalize(rel));
  if (!file.startsWith(path.resolve(webDir)) && !file.startsWith(webDir)) { res.writeHead(403); return res.end(); }
  fs.readFile(file, (err, data) => {
    if (err) { res.writeHead(404); return res.end('not found'); }
    res.writeHead(200, { 'Content-Type': types[path.extname(file)] || 'application/octet-stream' });
    res.end(data);
  });
});

/* DevTools protocol over --remote-debugging-pipe (fd 3: to the browser, fd 4: from it; NUL-separated JSON) */
let chrome, msgId = 0, inbuf = '';
const waiting = new Map();
function cdp(method, params, sessionId) {
  const id = ++msgId;
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject, method });
    chrome.stdio[3].write(JSON.stringify({ id, method, params: params || {}, sessionId }) + '\0');
  });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

(async () => {
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}/`;
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'factedit-chrome-'));
  chrome = spawn(browser, ['--headless=new', '--remote-debugging-pipe', '--no-sandbox', '--disable-gpu', '--no-first-run',
                           '--disable-extensions', '--disable-dev-shm-usage', `--user-data-dir=${profile}`, 'about:blank'],
                 { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
  let stderr = '';
  chrome.stderr.on('data', (d) => { stderr += d; });
  chrome.stdio[4].on('data', (d) => {
    inbuf += d.toString('utf8');
    let i;
    while ((i = inbuf.indexOf('\0')) >= 0) {
      const m = JSON.parse(inbuf.slice(0, i));
      inbuf = inbuf.slice(i + 1);
      if (m.id && waiting.has(m.id)) {
        const w = waiting.get(m.id);
        waiting.delete(m.id);
        if (m.error) w.reject(new Error(`${w.method}: ${m.error.message}`)); else w.resolve(m.result);
      }
    }
  });
  const exited = new Promise((r) => chrome.on('exit', r));
  const cleanup = async () => {
    try { chrome.kill(); } catch (e) { /* gone */ }
    await Promise.race([exited, sleep(5000)]);
    server.close();
    try { fs.rmSync(profile, { recursive: true, force: true }); } catch (e) { /* a leftover temp dir is harmless */ }
  };
  const timer = setTimeout(() => { console.log('FAIL the test took more than 10 minutes'); failed++; cleanup().then(() => finish(1)); }, 600000);
  try {
    const { targetId } = await cdp('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await cdp('Target.attachToTarget', { targetId, flatten: true });
    const S = (m, p) => cdp(m, p, sessionId);
    const evaluate = async (expr) => {
      const r = await S('Runtime.evaluate', { expression: expr, returnByValue: true, awaitPromise: true });
      if (r.exceptionDetails) throw new Error(`${expr}: ${r.exceptionDetails.exception ? r.exceptionDetails.exception.description : r.exceptionDetails.text}`);
      return r.result.value;
    };
    const waitReady = async (what, seconds) => {
      const t0 = Date.now();
      for (;;) {
        const st = await evaluate('document.body && document.body.dataset.state');
        if (st === 'ready') return (Date.now() - t0) / 1000;
        if (st === 'error' || Date.now() - t0 > seconds * 1000) throw new Error(`${what}: the page is '${st}' after ${(Date.now() - t0) / 1000} s`);
        await sleep(20);
      }
    };
    await S('Page.enable');
    await S('Runtime.enable');
    await S('Emulation.setDeviceMetricsOverride', { width: 1200, height: 1500, deviceScaleFactor: 1, mobile: false });
    await S('Page.navigate', { url });
    await sleep(300);
    const tLoad = await waitReady('loading the model', 120);
    const info = await evaluate('window.factedit.info');
    check(info && info.layers > 0, `the page loaded the model in ${tLoad.toFixed(2)} s: ${info.layers} layers, ${info.simd} kernels, edit layer ${info.edit_layer}`);

    /* the trace of the demo prompt (the form's defaults) */
    const form = await evaluate(`({p: document.getElementById('t-prompt').value, s: document.getElementById('t-subject').value,
      ep: document.getElementById('e-prompt').value, es: document.getElementById('e-subject').value, et: document.getElementById('e-target').value,
      para: document.getElementById('e-para').value.split('\\n').filter(Boolean), neigh: document.getElementById('e-neigh').value.split('\\n').filter(Boolean)})`);
    const stats = path.join(webDir, 'model', 'stats.bin');
    const native = execFileSync(nativePath, [path.join(webDir, 'model'), fs.existsSync(stats) ? stats : '-',
      'trace', form.p, form.s, '7', '10', '0', '3', '0',
      'compute', form.ep, form.es, form.et, '0', 'apply', 'topk', form.ep.replace('{}', form.es), '5',
      ...form.para.flatMap((t) => ['topk', t, '5']), ...form.neigh.flatMap((t) => ['topk', t, '5']), 'undo'],
      { encoding: 'utf8', maxBuffer: 1 << 26, env: Object.assign({}, process.env, { OMP_NUM_THREADS: '1' }) }).split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const nTrace = native[0].result, nCompute = native[1].result, nApply = native[2].result, nTops = native.slice(3, -1).map((x) => x.result);
    await evaluate("document.getElementById('t-run').click()");
    await sleep(20);
    const tTrace = await waitReady('the trace', 120);
    const page = await evaluate(`({high: document.getElementById('t-high') && document.getElementById('t-high').textContent,
      low: document.getElementById('t-low') && document.getElementById('t-low').textContent, ms: +document.getElementById('t-ms').textContent,
      svgs: [...document.querySelectorAll('#heatmaps svg')].map((s) => ({kind: s.dataset.kind,
        cells: [...s.querySelectorAll('rect.cell')].map((c) => [+c.dataset.t, +c.dataset.l, +c.dataset.v])}))})`);
    check(page.svgs.length === 3, `three heatmaps drawn (${page.svgs.map((s) => s.kind).join(', ')})`);
    let worst = 0, count = 0;
    for (const s of page.svgs)
      for (const [t, l, v] of s.cells) { worst = Math.max(worst, Math.abs(v - nTrace.scores[s.kind][t][l])); count++; }
    const T = nTrace.tokens.length, L = nTrace.layers;
    check(count === 3 * T * L, `${count} cells for ${T} tokens x ${L} layers x 3 kinds`);
    check(worst <= 1e-5, `the page's trace scores equal the native build's within 1e-5 (worst ${worst.toExponential(2)})`);
    check(Math.abs(+page.high - nTrace.high) <= 1e-5 && Math.abs(+page.low - nTrace.low) <= 1e-5,
          `the page shows high ${page.high} and low ${page.low} (native ${nTrace.high.toPrecision(6)}, ${nTrace.low.toPrecision(6)})`);
    check(tTrace < 2, `the trace of the demo prompt took ${tTrace.toFixed(2)} s in Chromium (worker: ${page.ms.toFixed(0)} ms; native ${(native[0].ms / 1000).toFixed(2)} s)`);

    /* hover a cell: the tooltip shows its value */
    const box = await evaluate(`(() => { const c = document.querySelector('#heatmaps svg[data-kind=mlp] rect.cell[data-t="${nTrace.subject[1] - 1}"][data-l="0"]');
      const r = c.getBoundingClientRect(); return {x: r.x + r.width / 2, y: r.y + r.height / 2, v: +c.dataset.v}; })()`);
    await S('Input.dispatchMouseEvent', { type: 'mouseMoved', x: box.x, y: box.y });
    await sleep(50);
    const tip = await evaluate(`({shown: getComputedStyle(document.getElementById('tip')).display, text: document.getElementById('tip').textContent})`);
    check(tip.shown === 'block' && tip.text.includes(box.v.toPrecision(4)), `hovering a cell shows its value: "${tip.text}"`);

    /* the edit */
    await evaluate("document.getElementById('edit-form').requestSubmit()");
    await sleep(20);
    const tEdit = await waitReady('the edit', 300);
    const ed = await evaluate(`({pb: document.getElementById('e-p-before') && +document.getElementById('e-p-before').textContent,
      pa: document.getElementById('e-p-after') && +document.getElementById('e-p-after').textContent, ms: +document.getElementById('e-ms').textContent,
      rows: [...document.querySelectorAll('#e-table tr')].slice(1).map((tr) => [...tr.querySelectorAll('td .tok')].map((x) => x.textContent)),
      progress: window.factedit.progress.length, edit: window.factedit.edit})`);
    check(ed.edit && ed.progress > 0 && ed.progress >= ed.edit.compute.report.iters,
          `the solver's progress reached the page (${ed.progress} updates for ${ed.edit && ed.edit.compute.report.iters} iterations)`);
    check(Math.abs(ed.pb - nCompute.p_target) <= 1e-4 * Math.max(1e-3, nCompute.p_target) + 1e-9,
          `p(target) before: page ${ed.pb}, native ${nCompute.p_target.toPrecision(4)}`);
    check(Math.abs(ed.pa - nApply.p_target) <= 1e-3, `p(target) after: page ${ed.pa}, native ${nApply.p_target.toPrecision(4)} (each solves its own edit)`);
    const afterRows = ed.rows.filter((r, i) => i % 2 === 1);   /* rows alternate: before (with kind and prompt), after */
    const nTop1 = nTops.map((t) => JSON.stringify(t.top[0].token).slice(1, -1));
    check(afterRows.length === nTops.length && afterRows.every((r, i) => r[0] === nTop1[i]),
          `the top token after the edit of every prompt, paraphrase and neighbour matches the native build (${afterRows.map((r) => r[0]).join(' | ')})`);
    check(ed.edit && ed.edit.compute.report.iters === nCompute.report.iters && ed.edit.compute.report.evals === nCompute.report.evals,
          'the solver takes the native build\'s iterations and evaluations');
    check(ed.ms / 1000 < 2, `the edit (solve + apply) took ${(ed.ms / 1000).toFixed(2)} s in Chromium's worker (with the before/after tables: ${tEdit.toFixed(2)} s; native solve ${(native[1].ms / 1000).toFixed(2)} s)`);

    /* the screenshot: the whole page after the edit (3/4 size) */
    await evaluate("window.scrollTo(0, 0)");
    const h = await evaluate('Math.ceil(document.documentElement.scrollHeight)');
    await S('Emulation.setDeviceMetricsOverride', { width: 1200, height: Math.min(h, 4000), deviceScaleFactor: 1, mobile: false });
    await sleep(200);
    const shot = await S('Page.captureScreenshot', { format: 'png', clip: { x: 0, y: 0, width: 1200, height: Math.min(h, 4000), scale: 0.75 } });
    const out = path.join(webDir, 'screenshot.png');
    fs.writeFileSync(out, Buffer.from(shot.data, 'base64'));
    check(fs.statSync(out).size > 10000, `screenshot saved: ${out}`);
    await S('Emulation.setDeviceMetricsOverride', { width: 1200, height: 1500, deviceScaleFactor: 1, mobile: false });
    /* undo */
    await evaluate("document.getElementById('e-undo').click()");
    await sleep(20);
    await waitReady('undo', 60);
    const un = await evaluate('window.factedit.undo');
    check(un && un.undo.checksum === info.checksum && un.undo.applied === 0, `undo restores the model (checksum ${un && un.undo.checksum})`);
    check(un && un.tables.every((t, i) => JSON.stringify(t) === JSON.stringify(ed.edit.before[i])), 'after undo every top-5 table equals the one before the edit');

    console.log(`timings: trace ${tTrace.toFixed(2)} s (worker ${page.ms.toFixed(0)} ms), edit solve+apply ${(ed.ms / 1000).toFixed(2)} s;` +
                ` native trace ${(native[0].ms / 1000).toFixed(3)} s, native solve ${(native[1].ms / 1000).toFixed(3)} s`);
  } catch (e) {
    console.log(`FAIL ${e.message}`);
    if (stderr) console.log(stderr.split('\n').slice(-5).join('\n'));
    failed++;
  }
  clearTimeout(timer);
  await cleanup();
  finish();
})();
