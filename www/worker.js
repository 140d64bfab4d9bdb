// The Web Worker that owns the wasm module: the page never blocks while models load or explain.
//
// Requests (from www/app.js), each with a fresh `id`:
//   {id, type: 'load', manifestUrl, engine, cpuManifestUrl?, workers?}
//                                                               -> model info; the session's modelId is `id`.
//                                                                  On the CPU engine `cpuManifestUrl` (a batch-1
//                                                                  graph) replaces `manifestUrl`, and up to
//                                                                  `workers` - 1 helper workers load it too
//                                                                  (a pool, below)
//   {id, type: 'image', imageId, bytes, name}                   -> {view, prediction}: the image explains use
//   {id, type: 'explain', imageId, method, target, options}     -> numbers and pictures of one method
//   {type: 'cancel'}                                            -> the running explanation stops at its next
//                                                                  batch (LIME keeps the samples done)
//   {id, type: 'agreement', imageId, target, threshold, methods} -> how far each CAM in `methods` agrees with
//                                                                  LIME on class `target` (Session.agreement)
// Replies name the request and what it belongs to, so the page can drop the ones it no longer wants:
//   {id, type: 'reply', ok, result | error, superseded?, modelId, imageId, forwardPasses}
//   {id, type: 'progress', stage, done, total, step?, steps?, modelId, imageId}
//   {type: 'pool', modelId, ready, planned, failed?}             -> a helper worker of the pool is ready (or failed)
//
// A pool (the CPU engine only): the worker that loads the model starts helper workers, each this same script
// with its own copy of the model, and hands them to its session (Session.set_helpers); LIME and ScoreCAM then
// send them batches as `{id, type: 'run', data, shape}` -> the engine's outputs (Session.run_batch). Every
// batch is the one a single worker runs, so the results are the same bit for bit.
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
/** The helper workers of this worker's pool (empty in a helper, and on WebGPU). */
let helpers = [];
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
  async load({ id, manifestUrl: requestedManifest, engine: wanted, cpuManifestUrl, workers = 1 }, progress) {
    stopHelpers();
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
    // A single image on the CPU engine pays a whole padded batch with a batch-8 graph: a batch-1 graph is
    // faster per image there too (README "Speed"), and LIME and ScoreCAM run their batches one image at a time.
    const manifestUrl = choice.engine === 'cpu' && cpuManifestUrl ? cpuManifestUrl : requestedManifest;
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
    // The worker's wasm memory once the model is loaded and checked (the pool's per-worker figure is measured so).
    const memoryMb = (await wasmReady).memory.buffer.byteLength / 1e6;
    const pool = choice.engine === 'cpu' ? poolPlan(workers, onnx.length) : null;
    if (pool?.workers > 1) startHelpers(pool.workers - 1, manifestUrl, id);
    return { ...info, label, adapter: choice.adapter ?? null, note: choice.note ?? null, onnxUrl, manifestUrl, pool, memoryMb };
  },

  // A helper's part of a pool: one engine run of a batch the pool's first worker sends.
  async run({ data, shape }) {
    if (!session) throw new Error('load a model first');
    return await session.run_batch(data, shape);
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
    : !['auto', 'webgpu', 'cpu'].includes(r.engine) ? 'engine must be auto, webgpu or cpu'
      : r.cpuManifestUrl !== undefined && typeof r.cpuManifestUrl !== 'string' ? 'cpuManifestUrl must be a string'
        : r.workers !== undefined && !(Number.isInteger(r.workers) && r.workers >= 1 && r.workers <= MAX_WORKERS)
          ? `workers must be a whole number from 1 to ${MAX_WORKERS}` : null),
  run: (r) => (!(r.data instanceof Float32Array) ? 'data must be a Float32Array'
    : !Array.isArray(r.shape) || !r.shape.every(isIndex) ? 'shape must be a list of sizes' : null),
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

// ---- the pool ---------------------------------------------------------------------------------------
// Each worker holds its own wasm instance and model: its wasm memory is about four times the ONNX file (the
// weights as read, tract's packed copies, the activations of a batch; measured in tests/e2e/reproduced.test.mjs:
// 389 MB for ResNet-50's 102 MB batch-1 graph after its load, 518 MB for the batch-8 one) plus the engine. The pool takes no more
// workers than cores, and no more than fit in half the device memory the browser reports (navigator.deviceMemory,
// rounded and capped by the browser; a browser that reports none is taken to have 4 GB).
const MAX_WORKERS = 16;
const ENGINE_MB = 64;

/** How many workers a pool for an `onnxBytes` model may use here, and why. */
function poolPlan(wanted, onnxBytes) {
  const cores = navigator.hardwareConcurrency || 1;
  const memoryMb = 1024 * (navigator.deviceMemory || 4);
  const perWorkerMb = Math.ceil((4 * onnxBytes) / 1e6) + ENGINE_MB;
  const byMemory = Math.max(1, Math.floor(memoryMb / 2 / perWorkerMb));
  return { wanted, cores, memoryMb, perWorkerMb, byMemory, workers: Math.max(1, Math.min(wanted, cores, byMemory)) };
}

/** One helper worker, spoken to with the same requests the page sends. */
class Helper {
  constructor() {
    this.worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    this.pending = new Map();
    this.nextId = 1;
    this.worker.onmessage = ({ data }) => {
      if (data?.type !== 'reply' || !this.pending.has(data.id)) return;
      const { resolve, reject } = this.pending.get(data.id);
      this.pending.delete(data.id);
      if (data.ok) resolve(data.result);
      else reject(new Error(data.error));
    };
    this.worker.onerror = (e) => this.fail(new Error(`a helper worker stopped${e.message ? `: ${e.message}` : ''}`));
  }

  call(type, payload, transfer = []) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, type, ...payload }, transfer);
    });
  }

  fail(error) {
    for (const { reject } of this.pending.values()) reject(error);
    this.pending.clear();
  }

  stop() {
    this.worker.terminate();
    this.fail(new Error('the pool was stopped'));
  }
}

function stopHelpers() {
  for (const helper of helpers) helper.stop();
  helpers = [];
  session?.set_helpers(null, 0);
}

/**
 * Starts `count` helpers that load the same model (from the browser's cache) on the CPU engine; each one the
 * session may use as soon as it is ready. The page hears of each (`pool` messages); a helper that fails to
 * load is left out, and the session computes with the others.
 */
function startHelpers(count, manifestUrl, forModel) {
  const starting = Array.from({ length: count }, () => new Helper());
  helpers = starting;
  const idle = [];
  const ready = [];
  const run = (data, shape) => {
    const helper = idle.pop();
    if (!helper) return Promise.reject(new Error('no idle helper worker (the session asked for more than it has)'));
    return helper.call('run', { data, shape }, [data.buffer]).finally(() => idle.push(helper));
  };
  let failed = 0;
  for (const helper of starting) {
    helper.call('load', { manifestUrl, engine: 'cpu', workers: 1 }).then(() => {
      if (helpers !== starting) return; // a later load replaced this pool
      ready.push(helper);
      idle.push(helper);
      session.set_helpers(run, ready.length);
    }, (e) => {
      if (helpers !== starting) return;
      failed += 1;
      console.warn(`glassbox: a helper worker could not load the model (${e.message}); computing without it`);
    }).finally(() => {
      if (helpers === starting) postMessage({ type: 'pool', modelId: forModel, ready: ready.length + 1, planned: count + 1, failed });
    });
  }
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
