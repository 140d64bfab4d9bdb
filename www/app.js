// The explain page: gallery / drop zone -> worker (wasm) -> top-5 and four explanations side by side.
import { config } from './config.js';

const $ = (id) => document.getElementById(id);
const METHODS = [
  { id: 'gradcam', name: 'Grad-CAM' },
  { id: 'ablationcam', name: 'AblationCAM' },
  { id: 'scorecam', name: 'ScoreCAM' },
  { id: 'lime', name: 'LIME' },
];

// State the e2e tests (and curious users, from the console) can read: window.glassbox.
const state = { model: null, view: null, prediction: null, results: {}, imageName: null, busy: false };
window.glassbox = state;

// ---- worker RPC -----------------------------------------------------------------------------------
const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
let nextId = 0;
const pending = new Map();
worker.onmessage = ({ data }) => {
  const p = pending.get(data.id);
  if (!p) return;
  if (data.type === 'progress') return p.onProgress?.(data);
  pending.delete(data.id);
  data.ok ? p.resolve(data.result) : p.reject(new Error(data.error));
};
worker.onerror = (e) => {
  // A module worker that cannot load its imports reports an ErrorEvent without a message.
  showError('model-error', `the worker failed: ${e.message || 'it could not start; is the wasm package built (scripts/build-wasm.sh writes www/pkg/)?'}`);
  setStatus('no model loaded', 'error');
};
function call(type, payload = {}, onProgress = null, transfer = []) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject, onProgress });
    worker.postMessage({ id, type, ...payload }, transfer);
  });
}

function showError(where, message) {
  const el = $(where);
  el.textContent = message ?? '';
  el.hidden = !message;
}
function setStatus(text, kind) {
  const el = $('engine-status');
  el.textContent = text;
  el.dataset.state = kind;
}

// ---- model ----------------------------------------------------------------------------------------
for (const m of config.models) $('model').append(new Option(m.title, m.id));
const params = new URLSearchParams(location.search);
if (params.get('model')) $('model').value = params.get('model');
if (params.get('engine')) $('engine').value = params.get('engine');

async function loadModel() {
  const m = config.models.find((x) => x.id === $('model').value);
  showError('model-error', null);
  state.model = null;
  setStatus(`loading ${m.title}…`, 'busy');
  const bar = $('load-progress');
  bar.hidden = false;
  try {
    const head = await fetch(m.manifest, { method: 'HEAD' }).catch(() => null);
    if (!head || !head.ok) throw new Error(`The manifest ${m.manifest} is missing. ${m.howToGet}`);
    state.model = await call('load', { manifestUrl: m.manifest, engine: $('engine').value }, ({ stage, done, total }) => {
      setStatus(`${stage}…`, 'busy');
      bar.max = total || 1;
      bar.value = done;
    });
    const info = state.model;
    setStatus(`${info.name} on ${info.engine}${info.adapter ? ` (${info.adapter})` : ''}: ready`, 'ready');
    const warn = $('gpu-warning');
    warn.hidden = !info.note || info.kind === 'webgpu';
    warn.textContent = info.note ?? '';
    if (state.imageBytes) await classify(state.imageBytes, state.imageName);
  } catch (e) {
    setStatus('no model loaded', 'error');
    showError('model-error', e.message.includes('missing') ? e.message : `${e.message}\n${m.howToGet}`);
  } finally {
    bar.hidden = true;
  }
}
$('load').onclick = loadModel;

// ---- input image ----------------------------------------------------------------------------------
for (const s of config.samples) {
  const b = document.createElement('button');
  b.dataset.file = s.file;
  b.title = s.title;
  b.innerHTML = `<img alt="" loading="lazy"><span></span>`;
  b.querySelector('img').src = new URL(s.url, config.sharedBase).href;
  b.querySelector('img').onerror = () => {
    b.disabled = true;
    b.title = `sample image not available at ${config.sharedBase} (set sharedBase in config.js)`;
  };
  b.querySelector('span').textContent = s.title;
  b.onclick = async () => {
    for (const other of $('gallery').children) other.setAttribute('aria-pressed', String(other === b));
    const response = await fetch(new URL(s.url, config.sharedBase));
    if (!response.ok) return showError('image-error', `could not fetch ${s.url}: HTTP ${response.status}`);
    await useImage(await response.arrayBuffer(), s.file);
  };
  $('gallery').append(b);
}
const drop = $('drop');
drop.ondragover = (e) => { e.preventDefault(); drop.classList.add('over'); };
drop.ondragleave = () => drop.classList.remove('over');
drop.ondrop = async (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const file = e.dataTransfer.files[0];
  if (file) await useImage(await file.arrayBuffer(), file.name);
};
$('file').onchange = async (e) => {
  const file = e.target.files[0];
  if (file) await useImage(await file.arrayBuffer(), file.name);
};

async function useImage(bytes, name) {
  state.imageBytes = bytes;
  state.imageName = name;
  if (!state.model) await loadModel();
  if (state.model) await classify(bytes, name);
}

async function classify(bytes, name) {
  showError('image-error', null);
  state.results = {};
  try {
    const { view, prediction } = await call('image', { bytes: bytes.slice(0), name });
    state.view = view;
    state.prediction = prediction;
  } catch (e) {
    $('prediction').hidden = $('explain').hidden = true;
    return showError('image-error', e.message);
  }
  const canvas = $('view');
  canvas.width = state.view.width;
  canvas.height = state.view.height;
  canvas.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(state.view.rgba), state.view.width, state.view.height), 0, 0);
  const top5 = $('top5');
  top5.replaceChildren();
  const target = $('target');
  target.replaceChildren();
  for (const p of state.prediction.top) {
    const li = document.createElement('li');
    li.textContent = `${p.label} (#${p.class}) ${(100 * p.probability).toFixed(1)}%`;
    const bar = document.createElement('span');
    bar.className = 'bar';
    bar.style.width = `${Math.round(120 * p.probability)}px`;
    li.append(bar);
    top5.append(li);
    target.append(new Option(`${p.label} (#${p.class})`, p.class));
  }
  $('forward-time').textContent =
    `one forward pass on ${state.model.engine}: ${state.prediction.forward_ms.toFixed(1)} ms (batch of ${state.model.batch})`;
  $('prediction').hidden = $('explain').hidden = false;
  buildCards();
}

// ---- explanations ---------------------------------------------------------------------------------
$('lime-samples').value = config.lime.numSamples;
$('lime-seed').value = config.lime.seed;

function buildCards() {
  const box = $('methods');
  box.replaceChildren();
  for (const m of METHODS) {
    const card = $('method-card').content.firstElementChild.cloneNode(true);
    card.dataset.method = m.id;
    card.querySelector('.name').textContent = m.name;
    const canvas = card.querySelector('canvas');
    canvas.width = state.view.width;
    canvas.height = state.view.height;
    card.querySelector('.run').onclick = () => runMethods([m.id]);
    card.querySelector('.png').onclick = () => canvas.toBlob((b) => download(b, `${baseName()}_${m.id}.png`));
    card.querySelector('.csv').onclick = () => download(new Blob([toCsv(m.id)], { type: 'text/csv' }), `${baseName()}_${m.id}.csv`);
    box.append(card);
  }
}

async function runMethods(ids) {
  if (state.busy) return;
  state.busy = true;
  $('cancel').disabled = false;
  $('run-all').disabled = true;
  showError('explain-error', null);
  const target = Number($('target').value);
  try {
    for (const id of ids) {
      const card = document.querySelector(`.method[data-method=${id}]`);
      const bar = card.querySelector('progress');
      const stage = card.querySelector('.stage');
      const options = id === 'lime' ? {
        num_samples: Number($('lime-samples').value), seed: Number($('lime-seed').value), batch_size: config.lime.batchSize,
      } : {};
      const t0 = performance.now();
      try {
        const result = await call('explain', { method: id, target, options }, ({ stage: s, done, total }) => {
          bar.max = total || 1;
          bar.value = done;
          stage.textContent = `${s}: ${done}/${total}`;
        });
        state.results[id] = result;
        bar.value = bar.max;
        stage.textContent = `${result.summary} · ${((performance.now() - t0) / 1000).toFixed(1)} s`;
        card.querySelector('.png').disabled = card.querySelector('.csv').disabled = false;
        draw(id);
      } catch (e) {
        stage.textContent = e.message;
        if (/cancel/i.test(e.message)) break;
        showError('explain-error', `${id}: ${e.message}`);
      }
    }
  } finally {
    state.busy = false;
    $('cancel').disabled = true;
    $('run-all').disabled = false;
    $('download-json').disabled = Object.keys(state.results).length === 0;
    document.body.dataset.explained = Object.keys(state.results).sort().join(',');
  }
}
$('run-all').onclick = () => runMethods(METHODS.map((m) => m.id));
$('cancel').onclick = () => worker.postMessage({ type: 'cancel' });
$('opacity').oninput = () => Object.keys(state.results).forEach(draw);
$('boundaries').onchange = () => Object.keys(state.results).forEach(draw);
$('download-json').onclick = () => {
  const numbers = { image: state.imageName, model: state.model, prediction: state.prediction, results: {} };
  for (const [id, r] of Object.entries(state.results)) numbers.results[id] = plain(r);
  download(new Blob([JSON.stringify(numbers)], { type: 'application/json' }), `${baseName()}_explanations.json`);
};

/** Draws one method's picture: the model's view, its heat map (or LIME weights) at the chosen opacity. */
function draw(id) {
  const r = state.results[id];
  const canvas = document.querySelector(`.method[data-method=${id}] canvas`);
  const { width: w, height: h } = state.view;
  const ctx = canvas.getContext('2d');
  const alpha = Number($('opacity').value);
  const view = state.view.rgba;
  const heat = r.heat_rgba; // colour map RGBA, h×w
  const out = new ImageData(w, h);
  for (let i = 0; i < w * h * 4; i += 4) {
    for (let c = 0; c < 3; c++) out.data[i + c] = Math.round((1 - alpha) * view[i + c] + alpha * heat[i + c]);
    out.data[i + 3] = 255;
  }
  if (id === 'lime') {
    // The tutorial's picture: the positive superpixels of the top label outlined in yellow; optionally
    // every superpixel boundary in white.
    const seg = r.segments;
    const mask = r.mask;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = y * w + x;
        const right = x + 1 < w ? i + 1 : i, down = y + 1 < h ? i + w : i;
        const left = x > 0 ? i - 1 : i, up = y > 0 ? i - w : i;
        const maskEdge = mask[i] && (!mask[right] || !mask[down] || !mask[left] || !mask[up]);
        const segEdge = seg[i] !== seg[right] || seg[i] !== seg[down];
        if (maskEdge) out.data.set([255, 255, 0], 4 * i);
        else if (segEdge && $('boundaries').checked) out.data.set([255, 255, 255], 4 * i);
      }
    }
  }
  ctx.putImageData(out, 0, 0);
}

function toCsv(id) {
  const r = state.results[id];
  if (id === 'lime') {
    const rows = ['superpixel,weight,in_mask'];
    r.weights.forEach((wgt, k) => rows.push(`${k},${wgt},${r.mask_superpixels.includes(k) ? 1 : 0}`));
    return rows.join('\n') + '\n';
  }
  const { width: w, height: h } = state.view;
  const rows = [];
  for (let y = 0; y < h; y++) rows.push(Array.from(r.map.subarray(y * w, (y + 1) * w), (v) => v.toPrecision(6)).join(','));
  return rows.join('\n') + '\n';
}

function plain(r) {
  const out = {};
  for (const [k, v] of Object.entries(r)) {
    if (k === 'heat_rgba') continue;
    out[k] = ArrayBuffer.isView(v) ? Array.from(v) : v;
  }
  return out;
}

function baseName() {
  return (state.imageName ?? 'image').replace(/\.[^.]+$/, '');
}
function download(blob, name) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

// A link like ?model=…&engine=…&autoload=1 loads at once (the e2e tests use it).
if (params.get('autoload')) loadModel();
