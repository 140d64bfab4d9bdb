// The Web Worker that owns the wasm module: the page never blocks while models load or explain.
//
// Requests (from www/app.js), each with a fresh `id`:
//   {id, type: 'load', manifestUrl, engine}                     -> model info; the session's modelId is `id`
//   {id, type: 'image', imageId, bytes, name}                   -> {view, prediction}: the image explains use
//   {id, type: 'explain', imageId, method, target, options}     -> numbers and pictures of one method
//   {type: 'cancel'}                                            -> the running explanation stops at its next
//                                                                  batch (LIME keeps the samples done)
//   {id, type: 'agreement', imageId, target, threshold, methods} -> how far each CAM in `methods` agrees with
//                                                                  LIME on class `target` (Session.agreement)
// Replies name the request and what it belongs to, so the page can drop the ones it no longer wants:
//   {id, type: 'reply', ok, result | error, superseded?, modelId, imageId, forwardPasses}
//   {id, type: 'progress', stage, done, total, step?, steps?, modelId, imageId}
// `forwardPasses` counts the engine runs since the model was loaded (tests/e2e checks a visitor's clicks
// cost no more than they must).
//
// Requests run one at a time, in order: the session holds one image, and an explanation must not see
// the image change under it. `cancel` acts at once, and so does `agreement`: it only reads the maps the
// session keeps for its image (a few milliseconds), so the page's threshold slider answers even while LIME
// runs. A queued image or explain request that a later
// load or image request makes moot, and a load a later load replaces, is answered `superseded` unrun.
import init, * as glassbox from './pkg/glassbox.js';
import { browserJpegPixels } from './jpeg.js';

const WASM_URL = new URL('./pkg/glassbox_bg.wasm', import.meta.url).href;
// The steps of a load, in the order they report; the last three come from the wasm (Session.load).
const LOAD_STEPS = 5;

let wasmReady = null;
let session = null;
let modelId = null;
let imageId = null;

async function fetchBytes(url, what, onProgress) {
  let response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new Error(`could not download the ${what} (${url}): ${e.message}`);
  }
  if (!response.ok) throw new Error(`the ${what} is missing: ${url} answered HTTP ${response.status}`);
  // content-length counts the bytes on the wire, compressed or not: it only scales the progress.
  const total = Number(response.headers.get('content-length')) || 0;
  if (!response.body || !total || !onProgress) return new Uint8Array(await response.arrayBuffer());
  const chunks = [];
  let received = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.length;
    onProgress(Math.min(received, total), total);
  }
  const out = new Uint8Array(received);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/** 'auto' becomes 'webgpu' when the browser gives a hardware adapter, else 'cpu' with the reason. */
async function chooseEngine(wanted) {
  if (wanted === 'cpu') return { engine: 'cpu' };
  let reason;
  if (!('gpu' in navigator)) reason = 'this browser has no WebGPU (navigator.gpu is missing)';
  else {
    try {
      const adapter = await navigator.gpu.requestAdapter();
      // A fallback adapter is a software renderer (Chromium's SwiftShader): a MobileNet v2 batch of 8 took
      // 31 s on it and ~0.25 s on the CPU engine (wasm SIMD) in tests/e2e (which prints both). 'auto' takes
      // the CPU engine then; choosing WebGPU in the menu still uses the adapter.
      const software = adapter && (adapter.info?.isFallbackAdapter ?? adapter.isFallbackAdapter);
      if (adapter && (!software || wanted === 'webgpu')) return { engine: 'webgpu', adapter: describeAdapter(adapter) };
      reason = adapter
        ? `the only WebGPU adapter is a software renderer (${describeAdapter(adapter)}), much slower than the CPU engine`
        : 'WebGPU is present but gave no adapter (disabled or blocklisted GPU)';
    } catch (e) {
      reason = `WebGPU adapter request failed: ${e.message}`;
    }
  }
  if (wanted === 'webgpu') throw new Error(`WebGPU was requested but ${reason}`);
  return { engine: 'cpu', note: `${reason}; using the CPU engine (tract compiled to wasm) instead` };
}

/** The adapter's name from whatever the browser fills in (Chromium often leaves `device` blank). */
function describeAdapter(adapter) {
  const info = adapter.info ?? {};
  const parts = [info.vendor, info.architecture, info.device, info.description].filter(Boolean);
  return [...new Set(parts)].join(' / ') || 'unnamed adapter';
}

const handlers = {
  async load({ id, manifestUrl, engine: wanted }, progress) {
    session?.free();
    session = null;
    modelId = null;
    imageId = null;
    let step = 0;
    // Announces the next step at once (a download may be slow to send its first bytes); returns its
    // byte-progress callback.
    const stage = (name) => {
      step += 1;
      const report = (done, total) => progress({ stage: name, done, total, step, steps: LOAD_STEPS });
      report(0, 0);
      return report;
    };
    const choice = await chooseEngine(wanted);
    const manifestText = new TextDecoder().decode(await fetchBytes(manifestUrl, 'model manifest'));
    let manifest;
    try {
      manifest = JSON.parse(manifestText);
    } catch (e) {
      throw new Error(`the model manifest ${manifestUrl} is not JSON: ${e.message}`);
    }
    // The engine is fetched here, once a model is about to load: a visitor who never loads one (or picks
    // one the site lacks) never downloads it.
    if (!wasmReady) {
      const wasmProgress = stage('downloading the engine (wasm)');
      wasmReady = fetchBytes(WASM_URL, 'engine (wasm)', wasmProgress).then((bytes) => init({ module_or_path: bytes }));
      wasmReady.catch(() => { wasmReady = null; });
    } else {
      step += 1;
    }
    await wasmReady;
    const onnxUrl = new URL(manifest.onnx, manifestUrl).href;
    const onnx = await fetchBytes(onnxUrl, 'model file', stage('downloading the model'));
    let labels = null;
    if (manifest.labels?.file) {
      labels = new TextDecoder().decode(await fetchBytes(new URL(manifest.labels.file, manifestUrl).href, 'label file'));
    }
    // Session.load names its own stages (sha256 check, graph compilation, check pass) as each begins.
    session = await glassbox.Session.load(manifestText, onnx, labels, choice.engine, (name) => { stage(name); });
    modelId = id;
    const info = session.info();
    // The engine's own name may carry an empty adapter name (wgpu in the browser); the page names the adapter.
    const label = choice.engine === 'webgpu' ? `WebGPU (wonnx) on ${choice.adapter}` : info.engine;
    return { ...info, label, adapter: choice.adapter ?? null, note: choice.note ?? null, onnxUrl };
  },

  // `upright`: a visitor's own photo is turned as its EXIF orientation says; the gallery's reference images are
  // read as stored, as Pillow (and so the Python references) reads them.
  async image({ imageId: requested, bytes, name, upright = false }) {
    if (!session) throw new Error('load a model first');
    imageId = null;
    const data = new Uint8Array(bytes);
    const jpeg = await browserJpegPixels(data);
    const view = jpeg
      ? session.set_jpeg_image(data, name, jpeg.width, jpeg.height, jpeg.rgba, upright)
      : session.set_image(data, name, upright);
    imageId = requested;
    const prediction = await session.classify(5);
    return { view, prediction };
  },

  async explain({ imageId: requested, method, target, options }, progress) {
    if (!session) throw new Error('load a model first');
    if (requested !== imageId) throw new Error('the image changed before this explanation started');
    return await session.explain(method, target, options ?? {}, (stage, done, total) => progress({ stage, done, total }));
  },
};

// What each request must carry, checked before it runs: the page sends well-formed requests, but a worker is
// an API (any script of the page can post to it), and wasm-bindgen coerces what it is given (a target of
// 'three' becomes class 0), so a malformed request is refused with a message instead.
// A class number: wasm's usize is 32 bits, and wasm-bindgen wraps larger numbers (2**32 is class 0).
const isIndex = (v) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
const isBytes = (v) => v instanceof ArrayBuffer || ArrayBuffer.isView(v);
const isPlainObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const CHECKS = {
  load: (r) => (typeof r.manifestUrl !== 'string' ? 'manifestUrl must be a string'
    : !['auto', 'webgpu', 'cpu'].includes(r.engine) ? 'engine must be auto, webgpu or cpu' : null),
  image: (r) => (!isBytes(r.bytes) ? 'bytes must be an ArrayBuffer or a typed array'
    : typeof r.name !== 'string' ? 'name must be a string' : null),
  explain: (r) => (typeof r.method !== 'string' ? 'method must be a string'
    : !isIndex(r.target) ? 'target must be a class number'
      : r.options !== undefined && r.options !== null && !isPlainObject(r.options) ? 'options must be an object' : null),
  agreement: (r) => (!isIndex(r.target) ? 'target must be a class number'
    : typeof r.threshold !== 'number' || !(r.threshold >= 0 && r.threshold <= 1) ? 'threshold must be a number from 0 to 1'
      : !Array.isArray(r.methods) || !r.methods.every((m) => typeof m === 'string') ? 'methods must be a list of names' : null),
};

/** Why `request` cannot run, or null. Only the handlers' own names count (not `constructor`, `toString`...). */
function invalid(request) {
  if (!Object.hasOwn(CHECKS, request.type)) return `unknown request ${String(request.type)}`;
  const why = CHECKS[request.type](request);
  return why && `bad ${request.type} request: ${why}`;
}

const queue = [];
let draining = false;

function isSuperseded(request) {
  return queue.some((later) => later.type === 'load' || (request.type !== 'load' && later.type === 'image'));
}

function reply(request, fields) {
  postMessage({ id: request.id, type: 'reply', ...fields, modelId: request.type === 'load' ? request.id : modelId,
    imageId: request.imageId ?? null, forwardPasses: session?.forward_passes() ?? 0 });
}

async function drain() {
  draining = true;
  while (queue.length) {
    const request = queue.shift();
    const handler = handlers[request.type];
    if (isSuperseded(request)) {
      reply(request, { ok: false, superseded: true, error: 'superseded by a later request' });
      continue;
    }
    const progress = (fields) => postMessage({ id: request.id, type: 'progress', ...fields,
      modelId: request.type === 'load' ? request.id : modelId, imageId: request.imageId ?? null });
    try {
      reply(request, { ok: true, result: await handler(request, progress) });
    } catch (e) {
      reply(request, { ok: false, error: e?.message ?? String(e) });
    }
  }
  draining = false;
}

/** Answers an agreement request at once, from the maps the session holds for the current image. */
function agreementNow(request) {
  try {
    if (!session) throw new Error('load a model first');
    if (request.imageId !== imageId) throw new Error('the image changed before the agreement was asked for');
    reply(request, { ok: true, result: session.agreement(request.target, request.threshold, request.methods) });
  } catch (e) {
    reply(request, { ok: false, error: e?.message ?? String(e) });
  }
}

self.onmessage = ({ data }) => {
  // Not a request (no object to answer by its id): ignored rather than thrown on, which the page would take
  // for the engine failing to start.
  if (!isPlainObject(data)) return;
  if (data.type === 'cancel') {
    session?.cancel();
    return;
  }
  const why = invalid(data);
  if (why) {
    reply(data, { ok: false, error: why });
    return;
  }
  if (data.type === 'agreement') {
    agreementNow(data);
    return;
  }
  queue.push(data);
  if (!draining) drain();
};
