// The Web Worker that owns the wasm module: the page never blocks while models load or explain.
//
// Messages in:  {id, type: 'load', manifestUrl, engine}            -> model info
//               {id, type: 'image', bytes, name}                   -> the model's view of the image + top-5
//               {id, type: 'explain', method, target, options}     -> numbers and pictures of one method
//               {type: 'cancel'}                                   -> the running explanation stops
// Messages out: {id, ok: true, result} | {id, ok: false, error} and {id, type: 'progress', stage, done, total}.
import init, * as glassbox from './pkg/glassbox.js';
import { browserJpegPixels } from './jpeg.js';

let session = null;
const ready = init();

async function fetchBytes(url, what, onProgress) {
  let response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new Error(`could not fetch the ${what} at ${url}: ${e.message}`);
  }
  if (!response.ok) throw new Error(`the ${what} is missing: ${url} answered HTTP ${response.status}`);
  const total = Number(response.headers.get('content-length')) || 0;
  if (!response.body || !total) return new Uint8Array(await response.arrayBuffer());
  const out = new Uint8Array(total);
  let done = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done: end, value } = await reader.read();
    if (end) break;
    out.set(value, done);
    done += value.length;
    onProgress?.(done, total);
  }
  return out.subarray(0, done);
}

/** 'auto' becomes 'webgpu' when the browser gives a hardware adapter, else 'cpu' with the reason. */
async function chooseEngine(wanted) {
  if (wanted === 'cpu') return { engine: 'cpu', note: 'CPU engine chosen' };
  let reason;
  if (!('gpu' in navigator)) reason = 'this browser has no WebGPU (navigator.gpu is missing)';
  else {
    try {
      const adapter = await navigator.gpu.requestAdapter();
      // A fallback adapter is a software renderer (Chromium's SwiftShader): a MobileNet v2 batch of 8 took
      // 31 s on it and 1.2 s on the CPU engine in tests/e2e (which prints both). 'auto' takes the CPU engine then;
      // choosing WebGPU in the menu still uses the adapter.
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

function describeAdapter(adapter) {
  const info = adapter.info ?? {};
  return [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' / ') || 'unknown adapter';
}

const handlers = {
  async load({ id, manifestUrl, engine: wanted }) {
    await ready;
    session?.free();
    session = null;
    const choice = await chooseEngine(wanted);
    const progress = (stage) => (done, total) => postMessage({ id, type: 'progress', stage, done, total });
    const manifestText = new TextDecoder().decode(await fetchBytes(manifestUrl, 'model manifest'));
    let manifest;
    try {
      manifest = JSON.parse(manifestText);
    } catch (e) {
      throw new Error(`the model manifest ${manifestUrl} is not JSON: ${e.message}`);
    }
    const onnxUrl = new URL(manifest.onnx, manifestUrl).href;
    const onnx = await fetchBytes(onnxUrl, 'ONNX model', progress('downloading the model'));
    let labels = null;
    if (manifest.labels?.file) {
      labels = new TextDecoder().decode(await fetchBytes(new URL(manifest.labels.file, manifestUrl).href, 'label file'));
    }
    postMessage({ id, type: 'progress', stage: `compiling the graph for ${choice.engine}`, done: 0, total: 1 });
    session = await glassbox.Session.load(manifestText, onnx, labels, choice.engine);
    return { ...session.info(), adapter: choice.adapter ?? null, note: choice.note ?? null, onnxUrl };
  },

  async image({ id, bytes, name }) {
    if (!session) throw new Error('load a model first');
    const data = new Uint8Array(bytes);
    const jpeg = await browserJpegPixels(data);
    const view = jpeg
      ? session.set_jpeg_image(data, name, jpeg.width, jpeg.height, jpeg.rgba)
      : session.set_image(data, name);
    const prediction = await session.classify(5);
    return { view, prediction };
  },

  async explain({ id, method, target, options }) {
    if (!session) throw new Error('load a model first');
    const onProgress = (stage, done, total) => postMessage({ id, type: 'progress', stage, done, total });
    return await session.explain(method, target, options ?? {}, onProgress);
  },

  cancel() {
    session?.cancel();
  },
};

self.onmessage = async ({ data }) => {
  const handler = handlers[data.type];
  if (!handler) {
    postMessage({ id: data.id, ok: false, error: `unknown request ${data.type}` });
    return;
  }
  try {
    const result = await handler(data);
    if (data.id !== undefined) postMessage({ id: data.id, ok: true, result });
  } catch (e) {
    postMessage({ id: data.id, ok: false, error: e?.message ?? String(e) });
  }
};
