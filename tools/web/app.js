/* The page: forms, heatmaps (drawn as `factedit trace --svg` draws them, tools/cmd_trace.c) and the
   edit's tables. Every computation runs in worker.js (factedit.wasm), so the page never freezes. */
'use strict';
const $ = (id) => document.getElementById(id);
const worker = new Worker('worker.js');
const pending = new Map();
let nextId = 1;
const state = { info: null, trace: null, edit: null, undo: null, progress: [] };
window.factedit = state;   /* for tests/web_chrome.js */

worker.onmessage = (ev) => {
  const m = ev.data;
  if (m.type === 'progress') return onProgress(m);
  const p = pending.get(m.id);
  pending.delete(m.id);
  if (m.error) p.reject(new Error(m.error)); else p.resolve(m.result);
};
const call = (cmd, args) => new Promise((resolve, reject) => {
  const id = nextId++;
  pending.set(id, { resolve, reject });
  worker.postMessage({ id, cmd, args });
});

const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));
const tok = (s) => `<span class="tok">${esc(JSON.stringify(s).slice(1, -1))}</span>`;
const fmt = (x, d) => (x === null || x === undefined ? '–' : Number(x).toPrecision(d || 4));
function busy(on) {
  document.body.dataset.state = on ? 'busy' : 'ready';
  $('t-run').disabled = $('e-run').disabled = on;
  $('e-undo').disabled = on || !(state.edit && !state.undone);
}
function showError(where, e) { $(where).innerHTML = `<p class="err">${esc(e.message || e)}</p>`; }

/* ------------------------------------------------------------ heatmaps (tools/cmd_trace.c) -- */
const RAMPS = [
  [0xfcfbfd, 0xefedf5, 0xdadaeb, 0xbcbddc, 0x9e9ac8, 0x807dba, 0x6a51a3, 0x54278f, 0x3f007d],   /* Purples: hidden */
  [0xf7fcf5, 0xe5f5e0, 0xc7e9c0, 0xa1d99b, 0x74c476, 0x41ab5d, 0x238b45, 0x006d2c, 0x00441b],   /* Greens: MLP */
  [0xfff5f0, 0xfee0d2, 0xfcbba1, 0xfc9272, 0xfb6a4a, 0xef3b2c, 0xcb181d, 0xa50f15, 0x67000d],   /* Reds: attention */
];
function cmap(k, t) {   /* svg_cmap_at */
  const r = RAMPS[k];
  if (!(t > 0)) t = 0;
  if (t > 1) t = 1;
  let u = t * 8, i = Math.floor(u);
  const hex = (x) => [(x >> 16) & 255, (x >> 8) & 255, x & 255];
  if (i >= 8) return `rgb(${hex(r[8]).join(',')})`;
  u -= i;
  const a = hex(r[i]), b = hex(r[i + 1]);
  return `rgb(${a.map((v, j) => Math.floor(v + (b[j] - v) * u + 0.5)).join(',')})`;
}
const textWidth = (s, size) => [...s].length * size * 0.56;
function niceTicks(lo, hi) {
  const span = hi - lo, raw = span / 4, p = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(v);
  return { ticks: out, step };
}
function heatPanel(k, r, labels) {
  const titles = ['Impact of restoring state after corrupted input', 'Impact of restoring MLP after corrupted input',
                  'Impact of restoring Attn after corrupted input'];
  const names = ['hidden', 'mlp', 'attn'], grid = r.scores[names[k]];
  const T = grid.length, L = r.layers, ch = 16, cw = Math.min(24, Math.max(6, 320 / L));
  const lw = Math.max(40, ...labels.map((s) => textWidth(s, 10) + 10));
  const xlabel = k === 0 ? 'single restored layer within GPT' : `center of interval of ${r.window} restored ${k === 1 ? 'MLP' : 'Attn'} layers`;
  const cbar = `p(${r.answer.token.replace(/^ +/, '')})`;
  const content = lw + L * cw + 12 + 10 + Math.max(64, textWidth(cbar, 11));
  const pw = Math.max(content, textWidth(titles[k], 12) + 16, textWidth(xlabel, 11) + 16);
  const hx = (pw - content) / 2 + lw, hy = 32, W = pw + 10, H = 26 + T * ch + 50 + 16;
  const lo = Math.fround(r.low), hi = Math.max(lo, ...grid.flat());
  let s = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" data-kind="${names[k]}" font-family="sans-serif">`;
  s += `<rect width="${W}" height="${H}" fill="white"/><text x="${pw / 2}" y="20" font-size="12" text-anchor="middle">${esc(titles[k])}</text>`;
  for (let t = 0; t < T; t++)
    for (let l = 0; l < L; l++) {
      const v = grid[t][l];
      s += `<rect class="cell" x="${hx + l * cw}" y="${hy + t * ch}" width="${cw + 0.3}" height="${ch + 0.3}" fill="${cmap(k, hi > lo ? (v - lo) / (hi - lo) : 0)}"` +
           ` data-t="${t}" data-l="${l}" data-v="${v}"/>`;
    }
  s += `<rect x="${hx}" y="${hy}" width="${L * cw}" height="${T * ch}" fill="none" stroke="black" stroke-width="0.8"/>`;
  labels.forEach((lab, t) => { s += `<text x="${hx - 4}" y="${hy + t * ch + ch / 2 + 3.5}" font-size="10" text-anchor="end" xml:space="preserve">${esc(lab)}</text>`; });
  const step = L <= 6 ? 1 : 5;
  for (let l = 0; l < L; l += step) {
    const x = hx + (l + 0.5) * cw;
    s += `<line x1="${x}" y1="${hy + T * ch}" x2="${x}" y2="${hy + T * ch + 3}" stroke="black" stroke-width="0.8"/>` +
         `<text x="${x}" y="${hy + T * ch + 14}" font-size="10" text-anchor="middle">${l}</text>`;
  }
  s += `<text x="${hx + L * cw / 2}" y="${hy + T * ch + 30}" font-size="11" text-anchor="middle">${esc(xlabel)}</text>`;
  const bx = hx + L * cw + 12, bh = T * ch;   /* svg_colorbar */
  for (let i = 0; i < 64; i++) s += `<rect x="${bx}" y="${hy + bh - (i + 1) * bh / 64}" width="10" height="${bh / 64 + 0.3}" fill="${cmap(k, (i + 0.5) / 64)}"/>`;
  s += `<rect x="${bx}" y="${hy}" width="10" height="${bh}" fill="none" stroke="black" stroke-width="0.8"/>`;
  if (hi > lo) {
    const { ticks, step: st } = niceTicks(lo, hi), dec = Math.max(0, -Math.floor(Math.log10(st) + 1e-9));
    for (const v of ticks) {
      const y = hy + bh - (v - lo) / (hi - lo) * bh;
      s += `<line x1="${bx + 10}" y1="${y}" x2="${bx + 13}" y2="${y}" stroke="black" stroke-width="0.8"/>` +
           `<text x="${bx + 15}" y="${y + 3.5}" font-size="10">${v.toFixed(Math.min(dec, 6))}</text>`;
    }
  }
  s += `<text x="${bx}" y="${hy + bh + 14}" font-size="11">${esc(cbar)}</text></svg>`;
  return s;
}
function showTrace(r) {
  const labels = r.tokens.map((t, i) => t + (i >= r.subject[0] && i < r.subject[1] ? '*' : ''));
  $('t-summary').innerHTML =
    `<p>answer ${tok(r.answer.token)}: p = <b id="t-high">${fmt(r.high, 6)}</b> clean (high), <b id="t-low">${fmt(r.low, 6)}</b> corrupted (low);` +
    ` noise ${fmt(r.noise)} = 3 × ${fmt(r.embedding_std)}; ${r.samples} samples, window ${r.window};` +
    ` <span id="t-ms">${r.ms.toFixed(0)}</span> ms in the worker</p>`;
  $('heatmaps').innerHTML = [0, 1, 2].map((k) => heatPanel(k, r, labels)).join('');
  const tip = $('tip');
  $('heatmaps').onmousemove = (ev) => {
    const c = ev.target;
    if (!c.classList || !c.classList.contains('cell')) { tip.style.display = 'none'; return; }
    const kind = c.closest('svg').dataset.kind, t = +c.dataset.t, v = +c.dataset.v;
    tip.innerHTML = `${kind}, token ${t} ${tok(labels[t])}, layer ${c.dataset.l}: p = ${v.toPrecision(4)}` +
                    ` (effect ${(v - r.low).toPrecision(3)})`;
    tip.style.left = ev.clientX + 14 + 'px'; tip.style.top = ev.clientY + 10 + 'px'; tip.style.display = 'block';
  };
  $('heatmaps').onmouseleave = () => { tip.style.display = 'none'; };
}

/* ------------------------------------------------------------------------ the edit ------- */
function onProgress(p) {
  state.progress.push(p);
  const rows = state.progress.map((q) => `<tr><td class="num">${q.iter}</td><td class="num">${q.evals}</td><td class="num">${fmt(q.loss)}</td>` +
    `<td class="num">${fmt(q.nll)}</td><td class="num">${fmt(q.kl)}</td><td class="num">${fmt(q.wd)}</td><td class="num">${fmt(q.delta_norm)}</td></tr>`);
  $('progress').innerHTML = `<table><tr><th>iter</th><th>evals</th><th>loss</th><th>nll</th><th>kl</th><th>wd</th><th>|δ|</th></tr>${rows.join('')}</table>`;
  const first = state.progress[0].loss, stop = 0.05;   /* ROME's loss_stop */
  const frac = p.loss <= stop ? 1 : Math.min(1, Math.log(first / p.loss) / Math.log(first / stop));
  $('e-bar').style.width = (100 * Math.max(0, frac)).toFixed(0) + '%';
}
function topCells(t, target) {
  return t.top.map((x) => `<td class="${x.token === target ? 'hit' : ''}">${tok(x.token)} <span class="num">${fmt(x.p, 3)}</span></td>`).join('');
}
function showTables(checks, before, after, afterTitle, target) {
  const head = `<tr><th>kind</th><th>prompt</th><th></th><th colspan="5">top 5 next tokens</th></tr>`;
  const rows = checks.map((c, i) =>
    `<tr><td rowspan="2">${c.kind}</td><td rowspan="2" class="ptext">${esc(c.text)}</td><td>before</td>${topCells(before[i], target)}</tr>` +
    `<tr><td>${afterTitle}</td>${topCells(after[i], target)}</tr>`);
  $('e-tables').innerHTML = `<table id="e-table">${head}${rows.join('')}</table>`;
}
async function runEdit(ev) {
  ev.preventDefault();
  const lines = (id) => $(id).value.split('\n').map((s) => s.trim()).filter(Boolean);
  state.progress = []; state.undone = false;
  $('progress').innerHTML = ''; $('e-bar').style.width = '0'; $('e-tables').innerHTML = '';
  $('e-summary').innerHTML = '<p>solving for v*…</p>';
  busy(true);
  try {
    const r = await call('edit', { prompt: $('e-prompt').value, subject: $('e-subject').value, target: $('e-target').value,
                                   paraphrases: lines('e-para'), neighbors: lines('e-neigh') });
    state.edit = r;
    const c = r.compute, rp = c.report;
    $('e-summary').innerHTML =
      `<p>layer ${c.layer}, subject's last token ${tok(c.subject_last.token)} (position ${c.subject_last.pos}), ${c.contexts} contexts,` +
      ` covariance: ${c.covariance ? 'the layer\'s key statistics' : 'none (u = k*/|k*|)'}. Solver: ${rp.iters} iterations, ${rp.evals} evaluations,` +
      ` loss ${fmt(rp.first.loss)} → ${fmt(rp.last.loss)}; <span id="e-ms">${r.ms_solve.toFixed(0)}</span> ms.</p>` +
      `<p>p(${tok(c.target)}) after ${esc(c.prompt)}: <b id="e-p-before">${fmt(c.p_target, 4)}</b> before,` +
      ` <b id="e-p-after">${fmt(r.apply.p_target, 4)}</b> after. Model checksum ${r.apply.checksum}.</p>` +
      `<p>greedy before: ${esc(c.prompt)}<b>${esc(r.genBefore)}</b><br>greedy after: ${esc(c.prompt)}<b>${esc(r.genAfter)}</b></p>`;
    $('e-bar').style.width = '100%';
    showTables(r.checks, r.before, r.after, 'after', c.target);
  } catch (e) { showError('e-summary', e); state.edit = null; }
  busy(false);
}
async function runUndo() {
  busy(true);
  try {
    const r = await call('undo');
    state.undo = r; state.undone = true;
    showTables(r.checks, state.edit.before, r.tables, 'after undo', state.edit.compute.target);
    $('e-summary').insertAdjacentHTML('beforeend', `<p id="e-undone">Undone: checksum ${r.undo.checksum}, p(target) back to ${fmt(r.undo.p_target, 4)}.</p>`);
  } catch (e) { showError('e-summary', e); }
  busy(false);
}
async function runTrace(ev) {
  ev.preventDefault();
  busy(true);
  $('t-summary').innerHTML = '<p>tracing…</p>';
  try {
    state.trace = await call('trace', { prompt: $('t-prompt').value, subject: $('t-subject').value,
                                        samples: +$('t-samples').value || 10, seed: +$('t-seed').value || 0 });
    showTrace(state.trace);
  } catch (e) { showError('t-summary', e); }
  busy(false);
}

$('trace-form').onsubmit = runTrace;
$('edit-form').onsubmit = runEdit;
$('e-undo').onclick = runUndo;
document.body.dataset.state = 'loading';
call('init').then((info) => {
  state.info = info;
  $('status').textContent = `Model: ${info.layers} layers × ${info.width} wide, ${info.vocab} tokens, context ${info.context};` +
    ` edits at layer ${info.edit_layer}${info.stats_tokens ? ` with key statistics over ${info.stats_tokens} tokens` : ' without key statistics'};` +
    ` kernels: ${info.simd}.`;
  busy(false);
}, (e) => { $('status').innerHTML = `<span class="err">${esc(e.message)}</span>`; document.body.dataset.state = 'error'; });
