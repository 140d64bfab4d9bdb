// The explain page: gallery / drop zone -> worker (wasm) -> top-5 and four explanations side by side, and
// how far each CAM agrees with LIME (numbers from the Rust library, through the worker).
//
// Every answer belongs to one question: the page numbers each model load (`modelId`, the load request's id)
// and each picked image (`imageId`); the worker's replies carry both, and a reply for a model or image
// that is no longer the current one is dropped. An image's prediction and explanations live in its own
// record (`current`), so nothing drawn or downloaded can mix two images. Picking another image or model
// cancels the running explanation.
//
// This file holds the page's state and wires it to the DOM; the rest is split by concern: worker-client.js (the
// worker protocol), estimates.js (pass counts and times), drawing.js (the cards' pictures), agreement.js (the
// CAM-vs-LIME table), downloads.js (CSV, JSON, PNG), run.js (what the site's run computed), legend.js.
import { agreementThreshold, hideAgreement, showAgreement, watchThreshold } from './agreement.js';
import { config } from './config.js';
import { baseName, download, plainNumbers, toCsv } from './downloads.js';
import { drawResult } from './drawing.js';
import { duration, enginePasses, passesMs } from './estimates.js';
import { drawLegend } from './legend.js';
import { METHODS } from './methods.js';
import { fillTop5, hideRunExplanation, showRunExplanation } from './run.js';
import { WorkerClient } from './worker-client.js';

const $ = (id) => document.getElementById(id);
// Below this share of the model's input side an image is mostly made up by upscaling.
const SMALL_IMAGE_SHARE = 0.25;
// A run estimated longer than this is marked as long next to its button; LIME takes the tutorial's samples
// by default only when they fit in it.
const LONG_RUN_MS = 60_000;
// The `lime` tutorial's num_samples.
const TUTORIAL_SAMPLES = 1000;

let nextImageId = 1;
/** The loaded model (worker info plus `modelId`), or null. */
let model = null;
/** The id of the latest load request, while it runs. */
let loadingModelId = null;
/** The current image: {id, name, bytes, view, prediction, results: {method: result}, agreement}, or null. */
let current = null;
/** The running explanation: {image, method}, or null. */
let running = null;
/** Milliseconds of one forward pass (one batch) on the loaded model, measured on the last image. */
let passMs = null;
/** Whether the visitor typed a number of LIME samples, and whether the page chose one for this model. */
let limeSamplesEdited = false;
let limeSamplesChosen = false;
// Replies the page dropped because they belonged to an earlier image or model (tests/e2e reads it).
let staleReplies = 0;

// What the e2e tests (and curious visitors, from the console) can read: window.glassbox. Read-only views
// of the current image, so `results` and `prediction` always belong to `imageName`.
window.glassbox = {
  get model() { return model; },
  get imageId() { return current?.id ?? null; },
  get imageName() { return current?.name ?? null; },
  get view() { return current?.view ?? null; },
  get prediction() { return current?.prediction ?? null; },
  get results() { return current?.results ?? {}; },
  /** The agreement table shown (Session.agreement's reply), or null. */
  get agreement() { return current?.agreement ?? null; },
  get staleReplies() { return staleReplies; },
};

// ---- worker protocol (see worker.js) --------------------------------------------------------------
// True once a load succeeded: the worker keeps the wasm, later loads fetch only the model.
let engineDownloaded = false;
const worker = new WorkerClient({
  onReply: (reply) => { document.body.dataset.forwardPasses = String(reply.forwardPasses); },
  onPool: (message) => showPool(message),
  onStopped: (message) => {
    showError('model-error', `The explanation engine could not start${message ? `: ${message}` : ''}. ` +
      'Reload the page; if it happens again, this browser may lack WebAssembly support.');
    engineDownloaded = false;
    model = null;
    loadingModelId = null;
    setStatus('no model loaded', 'error');
    updateBusy();
  },
});

function cancelExplanation() {
  if (running) worker.cancel();
}

/** True when a reply belongs to the current model and image; counts the ones dropped. */
function isCurrent(reply, image) {
  const fresh = model !== null && reply.modelId === model.modelId && image === current && reply.imageId === image.id;
  if (!fresh) staleReplies += 1;
  return fresh;
}

// ---- page helpers ---------------------------------------------------------------------------------
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
const megabytes = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;

/** Disables what cannot be used now and says why (one line under the setup). */
function updateBusy() {
  const loading = loadingModelId !== null;
  const reason = loading ? `Loading ${selectedModel().title}: the model menus wait until it is ready` +
      (current ? `, then ${current.name} is classified.` : '.')
    : running ? `Running ${METHODS.find((m) => m.id === running.method).name} on ${running.image.name}. ` +
      'Cancel stops it (LIME keeps the samples done); picking another image or model stops it too.'
    : '';
  $('busy').textContent = reason;
  $('busy').hidden = !reason;
  for (const id of ['load', 'model', 'engine']) $(id).disabled = loading;
  const explainLocked = loading || running !== null || !current?.prediction;
  for (const el of document.querySelectorAll('#methods .run, #run-all, #target, #lime-samples, #lime-seed')) {
    el.disabled = explainLocked;
    el.title = explainLocked && reason ? reason : '';
  }
  $('cancel').disabled = running === null;
  $('download-json').disabled = !current || Object.keys(current.results).length === 0;
  document.body.dataset.explained = current ? Object.keys(current.results).sort().join(',') : '';
}

// ---- model ----------------------------------------------------------------------------------------
for (const m of config.models) $('model').append(new Option(m.title, m.id));
const params = new URLSearchParams(location.search);
if (params.get('model')) $('model').value = params.get('model');
if (params.get('engine')) $('engine').value = params.get('engine');
const selectedModel = () => config.models.find((x) => x.id === $('model').value);

/** Bytes a URL would download (HEAD), or null when the server does not say or the file is missing. */
async function sizeOf(url) {
  const head = await fetch(url, { method: 'HEAD' }).catch(() => null);
  return head?.ok ? Number(head.headers.get('content-length')) || null : null;
}

/** Says before the download what loading the selected model fetches: the engine (once) and the model. */
async function describeDownload() {
  const m = selectedModel();
  const note = $('download-size');
  const manifest = await fetch(m.manifest).then((r) => (r.ok ? r.json() : null)).catch(() => null);
  if (m !== selectedModel()) return; // the visitor picked another model meanwhile
  if (!manifest) {
    note.textContent = `${m.title} is not available on this site. ${m.howToGet}`;
    return;
  }
  const [wasm, onnx] = await Promise.all([engineDownloaded ? null : sizeOf(new URL('pkg/glassbox_bg.wasm', location.href)),
    sizeOf(new URL(manifest.onnx, m.manifest))]);
  if (m !== selectedModel()) return;
  const parts = [];
  if (!engineDownloaded) parts.push(wasm ? `the engine (${megabytes(wasm)}, once)` : 'the engine (once)');
  parts.push(onnx ? `the model (${megabytes(onnx)})` : 'the model');
  note.textContent = `Loading downloads ${parts.join(' and ')}; nothing is uploaded.`;
}
$('model').onchange = describeDownload;

/** The library's model errors, minus advice meant for whoever publishes the site (editing a manifest). */
function visitorModelError(error) {
  const sha = /^sha256 mismatch for `([^`]*)`.*?expected (\w+), got (\w+)\./s.exec(error);
  if (!sha) return error;
  return `sha256 mismatch for ${sha[1]}: the file this site serves is not the one its manifest names ` +
    `(expected ${sha[2].slice(0, 12)}…, got ${sha[3].slice(0, 12)}…); it is damaged or a different version.`;
}

/** Workers for the CPU engine: `?workers=N`, else one per core (the worker bounds it by memory too). */
function poolWorkers() {
  const asked = Number(params.get('workers'));
  return Number.isInteger(asked) && asked >= 1 ? Math.min(asked, config.maxWorkers) : config.workers;
}

/** The pool's state under the engine status: how many workers compute, and why not more. */
function showPool({ modelId, ready, planned, failed }) {
  if (!model || model.modelId !== modelId) return;
  model.workersReady = ready;
  const note = $('pool-status');
  const plan = model.pool;
  note.hidden = !plan;
  if (plan) {
    const limits = `${plan.cores} cores; each worker holds its own copy of the model, about ${plan.perWorkerMb} MB, ` +
      `and the pool uses at most half of the ${(plan.memoryMb / 1024).toFixed(0)} GB this browser reports`;
    note.textContent = `CPU engine: ${ready} of ${planned} worker${planned > 1 ? 's' : ''} ready (${limits})` +
      (failed ? `; ${failed} could not load the model and ${failed > 1 ? 'are' : 'is'} left out.` : '.');
  }
  document.body.dataset.workersReady = String(ready);
  updateEstimates();
}

async function loadModel() {
  const m = selectedModel();
  cancelExplanation();
  showError('model-error', null);
  model = null;
  passMs = null;
  hideResults();
  setStatus(`loading ${m.title}…`, 'busy');
  const bar = $('load-progress');
  bar.hidden = false;
  bar.removeAttribute('value'); // indeterminate until a stage reports counts
  const started = performance.now();
  let stageText = 'starting';
  // Compilation reports no counts; the elapsed seconds show it is still going.
  const ticker = setInterval(() => setStatus(`${stageText} · ${Math.round((performance.now() - started) / 1000)} s`, 'busy'), 1000);
  const load = worker.request('load', { manifestUrl: m.manifest, cpuManifestUrl: m.cpuManifest, engine: $('engine').value,
    workers: poolWorkers() }, ({ stage, done, total, step, steps }) => {
    stageText = `step ${step} of ${steps}: ${stage}${total ? ` ${megabytes(done)} of ${megabytes(total)}` : ''}`;
    setStatus(stageText, 'busy');
    if (total) {
      bar.max = total;
      bar.value = done;
    } else {
      bar.removeAttribute('value');
    }
  });
  loadingModelId = load.id;
  updateBusy();
  const reply = await load.reply;
  clearInterval(ticker);
  if (loadingModelId !== load.id) return; // a later load replaced this one
  loadingModelId = null;
  bar.hidden = true;
  if (!reply.ok) {
    setStatus('no model loaded', 'error');
    showError('model-error', `${m.title} could not be loaded: ${visitorModelError(reply.error)}\n${m.howToGet}`);
    updateBusy();
    return;
  }
  model = { ...reply.result, modelId: reply.modelId, workersReady: 1 };
  engineDownloaded = true;
  limeSamplesChosen = false;
  showPool({ modelId: model.modelId, ready: 1, planned: model.pool?.workers ?? 1, failed: 0 });
  setStatus(`${model.name} on ${model.label}: ready`, 'ready');
  const warn = $('gpu-warning');
  warn.hidden = !model.note || model.kind === 'webgpu';
  warn.textContent = model.note ?? '';
  describeDownload();
  updateBusy();
  if (current) await classify(current);
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
    b.title = 'this sample image is not available on this site; drop your own image below';
  };
  b.querySelector('span').textContent = s.title;
  b.onclick = async () => {
    for (const other of $('gallery').children) other.setAttribute('aria-pressed', String(other === b));
    const response = await fetch(new URL(s.url, config.sharedBase)).catch(() => null);
    if (!response?.ok) return showError('image-error', `The sample image ${s.title} could not be downloaded; try another one.`);
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
  if (file) await useImage(await file.arrayBuffer(), file.name, { own: true });
};
$('file').onchange = async (e) => {
  const file = e.target.files[0];
  e.target.value = ''; // picking the same file again is a new pick
  if (file) await useImage(await file.arrayBuffer(), file.name, { own: true });
};

/**
 * A new image replaces the current one: its running explanation stops, and it is classified once. A gallery
 * image the run explained, picked while no model is loaded, shows the run's explanations instead: no download,
 * no forward pass, until the visitor asks to compute here.
 */
async function useImage(bytes, name, { own = false } = {}) {
  cancelExplanation();
  const image = current = { id: nextImageId++, name, bytes, own, view: null, prediction: null, results: {} };
  hideResults();
  showError('image-error', null);
  // While a model loads, the load classifies the image that is current when it is ready.
  if (loadingModelId !== null) return;
  if (!model && !own && await showRunExplanation(name, () => image === current && !model && loadingModelId === null)) {
    return;
  }
  if (image !== current) return;
  if (!model) return loadModel();
  await classify(current);
}
$('compute-here').onclick = loadModel;

function hideResults() {
  hideRunExplanation();
  $('prediction').hidden = $('explain').hidden = true;
  $('image-warning').hidden = true;
  updateBusy();
}

async function classify(image) {
  setStatus(`${model.name} on ${model.label}: classifying ${image.name}…`, 'busy');
  const reply = await worker.request('image', { imageId: image.id, bytes: image.bytes.slice(0), name: image.name,
    upright: image.own }).reply;
  if (!isCurrent(reply, image)) return;
  setStatus(`${model.name} on ${model.label}: ready`, 'ready');
  if (!reply.ok) {
    showError('image-error', reply.error);
    return updateBusy();
  }
  image.view = reply.result.view;
  image.prediction = reply.result.prediction;
  if (image.prediction.forward_ms > 0) passMs = image.prediction.forward_ms;
  showPrediction(image);
}

function showPrediction(image) {
  const { view, prediction } = image;
  const canvas = $('view');
  canvas.width = view.width;
  canvas.height = view.height;
  canvas.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(view.rgba), view.width, view.height), 0, 0);
  const [inputH, inputW] = model.input;
  const small = view.source_width < SMALL_IMAGE_SHARE * inputW || view.source_height < SMALL_IMAGE_SHARE * inputH;
  $('image-warning').hidden = !small && !view.turned_upright;
  $('image-warning').textContent = (small ? `${image.name} is only ${view.source_width}×${view.source_height} pixels, ` +
    `far smaller than the ${inputW}×${inputH} the model looks at: it was blown up from very few pixels, so the ` +
    'prediction and its explanations say little about it. A larger picture gives a meaningful answer. ' : '') +
    (view.turned_upright ? `Turned upright as the photo's EXIF tag says (${view.turned_upright}); the gallery ` +
      'images are read as stored, as Pillow and the Python references read them.' : '');
  fillTop5($('top5'), prediction.top);
  const target = $('target');
  target.replaceChildren();
  for (const p of prediction.top) target.append(new Option(`${p.label} (#${p.class})`, p.class));
  $('forward-time').textContent =
    `one forward pass on ${model.label}: ${prediction.forward_ms.toFixed(1)} ms (batch of ${model.batch})`;
  $('prediction').hidden = $('explain').hidden = false;
  buildCards(image);
  updateAgreement(image);
  updateEstimates();
  updateBusy();
}

// ---- explanations ---------------------------------------------------------------------------------
$('lime-samples').value = config.lime.numSamples;
$('lime-seed').value = config.lime.seed;
drawLegend($('legend-cam'), 'cam');
drawLegend($('legend-lime'), 'lime');

function limeOptions() {
  return { num_samples: Number($('lime-samples').value), seed: Number($('lime-seed').value), batch_size: config.lime.batchSize };
}

/** Forward passes (engine batches) `method` needs beyond the image's own, cached one (estimates.js). */
const batchesFor = (method, samples = limeOptions().num_samples) =>
  enginePasses(method, model, { samples, batchSize: config.lime.batchSize });
/** Milliseconds of `passes` on the loaded model: the measured pass, spread over the pool's ready workers. */
const estimateMs = (passes) => passesMs(passes, passMs, model.workersReady);

/**
 * LIME's samples, once per model, when the visitor has not set them: the tutorial's 1000 when they take under
 * a minute here, else the quicker default; the estimate-all line then says what 1000 would take.
 */
function chooseLimeSamples() {
  if (limeSamplesChosen) return;
  limeSamplesChosen = true;
  if (limeSamplesEdited) return;
  const tutorialMs = estimateMs(batchesFor('lime', TUTORIAL_SAMPLES));
  $('lime-samples').value = tutorialMs < LONG_RUN_MS ? TUTORIAL_SAMPLES : config.lime.numSamples;
}

/** Each card's estimated time (passes × the measured pass time) and the total of "Explain (all four)". */
function updateEstimates() {
  if (!model || !passMs) return;
  chooseLimeSamples();
  const workers = model.workersReady > 1 ? ` ÷ ${model.workersReady} workers` : '';
  let total = 0;
  for (const m of METHODS) {
    const batches = batchesFor(m.id);
    const ms = estimateMs(batches);
    total += ms;
    const el = document.querySelector(`#methods .method[data-method=${m.id}] .estimate`);
    if (!el) continue;
    el.textContent = batches ? `${duration(ms)} (${batches} passes × ${(passMs / 1000).toFixed(2)} s${workers})`
      : 'under a second (no extra pass)';
    el.classList.toggle('long', ms > LONG_RUN_MS);
  }
  const samples = limeOptions().num_samples;
  const tutorial = samples === TUTORIAL_SAMPLES ? ''
    : ` LIME with the tutorial's ${TUTORIAL_SAMPLES} samples: ${duration(estimateMs(batchesFor('lime', TUTORIAL_SAMPLES)))}.`;
  const all = $('estimate-all');
  all.textContent = `All four: ${duration(total)}.${tutorial}` +
    (total > LONG_RUN_MS ? ' LIME samples set most of it: fewer samples are faster and rougher.' : '');
  all.classList.toggle('long', total > LONG_RUN_MS);
}
$('lime-samples').oninput = () => {
  limeSamplesEdited = true;
  updateEstimates();
};

function buildCards(image) {
  const box = $('methods');
  box.replaceChildren();
  for (const m of METHODS) {
    const card = $('method-card').content.firstElementChild.cloneNode(true);
    card.dataset.method = m.id;
    card.querySelector('.name').textContent = m.name;
    const canvas = card.querySelector('canvas');
    canvas.width = image.view.width;
    canvas.height = image.view.height;
    card.querySelector('.run').onclick = () => runMethods(image, [m.id]);
    const stem = `${baseName(image.name)}_${m.id}`;
    card.querySelector('.png').onclick = () => canvas.toBlob((b) => download(b, `${stem}.png`));
    card.querySelector('.csv').onclick = () => download(new Blob([toCsv(image.view, m.id, image.results[m.id])], { type: 'text/csv' }), `${stem}.csv`);
    card.querySelector('.discard').onclick = () => {
      delete image.results[m.id];
      resetCard(card, 'partial result discarded');
      updateAgreement(image);
      updateBusy();
    };
    box.append(card);
  }
}

function resetCard(card, text) {
  const canvas = card.querySelector('canvas');
  canvas.getContext('2d').clearRect(0, 0, canvas.width, canvas.height);
  card.querySelector('progress').value = 0;
  card.querySelector('.stage').textContent = text;
  card.querySelector('.png').disabled = card.querySelector('.csv').disabled = true;
  card.querySelector('.discard').hidden = true;
  delete card.dataset.partial;
}

async function runMethods(image, ids) {
  if (running || image !== current) return;
  showError('explain-error', null);
  const target = Number($('target').value);
  for (const id of ids) {
    if (image !== current) break;
    const card = document.querySelector(`#methods .method[data-method=${id}]`);
    const bar = card.querySelector('progress');
    const stage = card.querySelector('.stage');
    resetCard(card, 'starting…');
    delete image.results[id];
    updateAgreement(image);
    running = { image, method: id };
    updateBusy();
    const t0 = performance.now();
    const options = id === 'lime' ? limeOptions() : {};
    const reply = await worker.request('explain', { imageId: image.id, method: id, target, options }, ({ stage: s, done, total }) => {
      if (image !== current) return;
      bar.max = total || 1;
      bar.value = done;
      stage.textContent = `${s}: ${done}/${total}`;
    }).reply;
    running = null;
    if (!isCurrent(reply, image)) break;
    if (!reply.ok) {
      const cancelled = /cancel/i.test(reply.error);
      stage.textContent = cancelled ? 'cancelled' : reply.error;
      if (!cancelled) showError('explain-error', `${id}: ${reply.error}`);
      updateBusy();
      break;
    }
    const result = reply.result;
    image.results[id] = result;
    // A partial LIME shows how far it got.
    bar.value = result.partial ? result.samples_used : bar.max;
    stage.textContent = `${result.summary} · ${((performance.now() - t0) / 1000).toFixed(1)} s`;
    card.querySelector('.png').disabled = card.querySelector('.csv').disabled = false;
    if (result.partial) {
      card.dataset.partial = 'true';
      card.querySelector('.discard').hidden = false;
    }
    draw(image, id);
    updateAgreement(image);
    updateBusy();
    if (result.partial) break; // a cancel: the methods after this one do not start
  }
  updateBusy();
}
$('run-all').onclick = () => runMethods(current, METHODS.map((m) => m.id));
$('cancel').onclick = cancelExplanation;
$('opacity').oninput = () => Object.keys(current?.results ?? {}).forEach((id) => draw(current, id));
$('boundaries').onchange = $('opacity').oninput;
$('download-json').onclick = () => {
  const image = current;
  const numbers = { image: image.name, model, prediction: image.prediction, results: {} };
  for (const [id, r] of Object.entries(image.results)) numbers.results[id] = plainNumbers(r);
  if (image.agreement) numbers.agreement = image.agreement;
  download(new Blob([JSON.stringify(numbers)], { type: 'application/json' }), `${baseName(image.name)}_explanations.json`);
};

/** Draws one method's picture on its card (drawing.js) with the page's opacity and boundary settings. */
function draw(image, id) {
  drawResult(document.querySelector(`#methods .method[data-method=${id}] canvas`), image.view, id, image.results[id],
    { opacity: Number($('opacity').value), boundaries: $('boundaries').checked });
}

// ---- agreement of the CAMs with LIME ---------------------------------------------------------------
const CAMS = METHODS.filter((m) => m.id !== 'lime');
/** Counts agreement requests: only the latest one's reply is shown (the slider may send many). */
let agreementAsked = 0;

/**
 * Shows how far each CAM of `image` agrees with its LIME, for LIME's class: the worker computes it in the
 * Rust library (Session.agreement) from the maps it holds. Hidden until LIME and a CAM of that class exist.
 */
async function updateAgreement(image) {
  if (!image || image !== current) return;
  const asked = ++agreementAsked;
  const lime = image.results.lime;
  const cams = lime ? CAMS.filter((m) => image.results[m.id]?.target === lime.target).map((m) => m.id) : [];
  if (!cams.length) {
    image.agreement = null;
    hideAgreement();
    return;
  }
  const threshold = agreementThreshold();
  const reply = await worker.request('agreement', { imageId: image.id, target: lime.target, threshold, methods: cams }).reply;
  if (asked !== agreementAsked || !isCurrent(reply, image)) return;
  // As `glassbox compare` writes it per image.
  image.agreement = reply.ok ? reply.result : null;
  showAgreement(reply, threshold);
}
watchThreshold(() => updateAgreement(current));

describeDownload();
updateBusy();
// A link like ?model=…&engine=…&autoload=1 loads at once (the e2e tests use it).
if (params.get('autoload')) loadModel();
