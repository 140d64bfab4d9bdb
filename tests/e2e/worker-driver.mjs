// Drives a worker of the site's own script (www/worker.js) directly inside a page, with the page's protocol:
// what the explain page does, minus its choice of graph and engine, so that any graph can be timed or compared.
// Used by reproduced.test.mjs (ResNet-50 at batch 1 and 8, WebGPU against the CPU engine) and by
// gpu-page-bench.mjs (scripts/gpu-bench.sh on a machine with a GPU).

/**
 * In `page` (any page of the site, for its origin), loads `manifestUrl` on `engine` in a fresh worker, classifies
 * each of `images` (URLs; the forward time of each), then on the first image runs `method` (a CAM: its map is
 * returned) and LIME with `lime` = {samples, seed, batchSize} if given. Resolves to {info, loadMs, forwardMs,
 * first: the first image's prediction (+ map), lime: {ms, timing, samples}} or {error}.
 */
export async function driveWorker(page, { manifestUrl, engine, images, method = null, lime = null }) {
  return page.evaluate(async ({ manifestUrl, engine, images, method, lime }) => {
    const worker = new Worker(new URL('worker.js', location.href), { type: 'module' });
    let nextId = 1;
    const send = (message) => new Promise((resolve) => {
      const id = nextId++;
      worker.onmessage = ({ data }) => { if (data?.type === 'reply' && data.id === id) resolve(data); };
      worker.postMessage({ id, ...message });
    });
    try {
      const t0 = performance.now();
      const load = await send({ type: 'load', manifestUrl, engine, workers: 1 });
      const loadMs = performance.now() - t0;
      if (!load.ok) return { error: `load: ${load.error}` };
      const forwardMs = [];
      let first = null;
      for (const [i, url] of images.entries()) {
        const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
        const image = await send({ type: 'image', imageId: i + 1, bytes, name: url.split('/').pop() });
        if (!image.ok) return { error: `${url}: ${image.error}` };
        forwardMs.push(image.result.prediction.forward_ms);
        first ??= image.result.prediction;
      }
      // The methods explain the image the worker holds: the first one, classified again after the others.
      const held = images.length === 1 ? 1 : 0;
      if ((method || lime) && !held) {
        await send({ type: 'image', imageId: 0, bytes: new Uint8Array(await (await fetch(images[0])).arrayBuffer()), name: 'first' });
      }
      if (method) {
        const explained = await send({ type: 'explain', imageId: held, method, target: first.top[0].class });
        if (!explained.ok) return { error: `${method}: ${explained.error}` };
        first = { ...first, map: Array.from(explained.result.map) };
      }
      let limeRun = null;
      if (lime) {
        const t = performance.now();
        const explained = await send({ type: 'explain', imageId: held, method: 'lime', target: first.top[0].class,
          options: { num_samples: lime.samples, seed: lime.seed ?? 0, batch_size: lime.batchSize ?? 8 } });
        if (!explained.ok) return { error: `lime: ${explained.error}` };
        limeRun = { ms: performance.now() - t, timing: explained.result.timing, samples: explained.result.samples_used };
      }
      return { info: load.result, loadMs, forwardMs, first, lime: limeRun };
    } finally {
      worker.terminate();
    }
  }, { manifestUrl, engine, images, method, lime });
}

/** Median of a list of numbers. */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
