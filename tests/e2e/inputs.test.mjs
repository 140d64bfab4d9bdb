// Bad input in the page, in headless Chromium:
//   1. every file of the bad-input corpus (tests/fixtures/bad-inputs/corpus.json) gets its listed outcome: a bad
//      image or model an error naming the problem (and the image file) in a visitor's words (no command-line
//      options, always what to do), a valid odd one a prediction (a 1×1 image with a warning);
//   2. 120 seeded mutants of the real originals (shared/data/imagenet-originals) and of PNGs through the file input:
//      each gets a top-5 or an error naming the file, the engine stays up, a gallery image is explained after;
//   3. the worker refuses malformed requests with an error (and ignores non-objects), never throws, and keeps working.
// Shared pieces: helpers.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import path from 'node:path';
import { developmentMounts, serve, sharedDir } from './server.mjs';
import { launch, openExplain, pickImage, repo, SHARK, site, SMALL_MODEL, useSite, waitForPrediction, watch } from './helpers.mjs';

useSite();

test('every bad-input corpus file gets its listed outcome in the page', { timeout: 600_000 }, async () => {
  const dir = path.join(repo, 'tests', 'fixtures', 'bad-inputs');
  const corpus = JSON.parse(readFileSync(path.join(dir, 'corpus.json'), 'utf8'));
  // The development site with the corpus under /bad-inputs/; site.json (routed below) lists its manifests.
  const corpusSite = await serve({ mounts: [['/bad-inputs/', dir], ...developmentMounts()] });
  const pageModels = corpus.models.filter((m) => !m.cli_only);
  const context = await launch({ webgpu: false });
  try {
    const page = await context.newPage();
    watch(page, 'bad-inputs');
    // Images: through the page's own file input, with a small real model loaded on the CPU engine.
    await page.goto(`${corpusSite.url}index.html?model=mobilenet_v1_0.25_128_b8&engine=cpu&autoload=1`);
    await page.waitForSelector('#engine-status[data-state=ready]', { timeout: 300_000 });
    for (const entry of corpus.images) {
      const before = await page.evaluate(() => window.glassbox.imageId);
      await page.setInputFiles('#file', path.join(dir, entry.file));
      // A new image record, then its prediction or its error.
      await page.waitForFunction((before) => window.glassbox.imageId !== before &&
        (window.glassbox.prediction || !document.querySelector('#image-error').hidden), before, { timeout: 120_000 });
      const shown = await page.evaluate(() => ({ error: document.querySelector('#image-error').hidden ? null
        : document.querySelector('#image-error').textContent, top: window.glassbox.prediction?.top?.length ?? 0,
      warning: document.querySelector('#image-warning').hidden ? null : document.querySelector('#image-warning').textContent }));
      console.log(`# [bad-inputs] ${entry.file}: ${shown.error ?? `explained (top-${shown.top})`}${shown.warning ? `; warning: ${shown.warning}` : ''}`);
      if (entry.outcome === 'ok') {
        assert.equal(shown.error, null, `${entry.file}: expected a prediction, the page says ${shown.error}`);
        assert.equal(shown.top, 5, `${entry.file}: no top-5`);
      } else {
        assert.ok(shown.error?.includes(entry.message), `${entry.file}: the page does not say "${entry.message}": ${shown.error}`);
        assert.ok(shown.error.includes(entry.file), `${entry.file}: the page's error does not name the file: ${shown.error}`);
        assert.doesNotMatch(shown.error, /\s--[a-z]/, `${entry.file}: the page names a command-line option: ${shown.error}`);
      }
      // A 1×1 picture is classified, with a word that the answer means little.
      if (entry.file === 'one_pixel.png') assert.match(shown.warning ?? '', /only 1×1 pixels/, 'no warning for a 1×1 image');
    }
    // Models: each manifest as the page's model list (site.json), loaded as a visitor would.
    await context.route('**/site.json', (route) => route.fulfill({ json: { banner: '', run: '',
      models: pageModels.map((m) => ({ id: m.file, title: m.what, manifest: `bad-inputs/${m.file}` })) } }));
    for (const entry of pageModels) {
      const modelPage = await context.newPage();
      watch(modelPage, `bad-inputs ${entry.file}`);
      await modelPage.goto(`${corpusSite.url}index.html?model=${encodeURIComponent(entry.file)}&engine=cpu&autoload=1`);
      await modelPage.waitForSelector('#engine-status[data-state=ready], #engine-status[data-state=error]', { timeout: 120_000 });
      const status = await modelPage.textContent('#engine-status');
      const error = await modelPage.evaluate(() => document.querySelector('#model-error').hidden ? null
        : document.querySelector('#model-error').textContent);
      console.log(`# [bad-inputs] ${entry.file}: ${error ?? status}`);
      if (entry.outcome === 'ok') {
        assert.equal(error, null, `${entry.file}: expected the model to load, the page says ${error}`);
        assert.match(status, /ready/);
      } else {
        assert.ok(error?.includes(entry.message), `${entry.file}: the page does not say "${entry.message}": ${error}`);
        // Whatever the error says, the visitor is told what they can do.
        assert.ok(error.includes('choose another model'), `${entry.file}: no help text: ${error}`);
      }
      await modelPage.close();
    }
  } finally {
    await context.close();
    corpusSite.server.close();
  }
});

// ---- mutants of real files through the page --------------------------------------------------------------
/** A seeded generator in [0, 1) (mulberry32): the same mutants on every run. */
function seeded(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** An 8-bit RGB PNG of a `width`×`height` gradient (a PNG with chunks and CRCs as any encoder writes). */
function gradientPng(width, height) {
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(body.length + 8);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), body.length + 4);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) raw.set([(x * 7) & 255, (y * 13) & 255, ((x + y) * 3) & 255], y * (width * 3 + 1) + 1 + x * 3);
  }
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** Where a file states its picture's size: a JPEG frame header's height (then width, 2 bytes each), a PNG's
 * IHDR width (then height, 4 bytes each). */
function sizeField(bytes) {
  if (bytes[0] === 0x89 && bytes[1] === 0x50) return { at: 16, width: 4 };
  let i = 2;
  while (i + 9 < bytes.length && bytes[i] === 0xff) {
    const marker = bytes[i + 1];
    if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) return { at: i + 5, width: 2 };
    i += 2 + ((bytes[i + 2] << 8) | bytes[i + 3]);
  }
  return null;
}

/** One mutant of `original`: bit flips, a truncation, a duplicated chunk, a size field set to 0 or 65535, or junk. */
function mutant(original, random) {
  const below = (n) => Math.floor(random() * n);
  const b = Buffer.from(original);
  switch (below(5)) {
    case 0: {
      const n = 1 + below(8);
      for (let k = 0; k < n; k++) b[below(b.length)] ^= 1 << below(8);
      return { bytes: b, what: `${n} bit flips` };
    }
    case 1: {
      const cut = below(b.length);
      return { bytes: b.subarray(0, cut), what: `truncated to ${cut} bytes` };
    }
    case 2: {
      const start = below(b.length);
      const end = Math.min(b.length, start + 1 + below(512));
      const to = below(b.length);
      return { bytes: Buffer.concat([b.subarray(0, to), b.subarray(start, end), b.subarray(to)]), what: `bytes ${start}..${end} duplicated at ${to}` };
    }
    case 3: {
      const field = sizeField(b);
      if (!field) return { bytes: b.subarray(0, b.length >> 1), what: 'truncated to half (no size field)' };
      const at = field.at + field.width * below(2);
      const value = below(2) ? 65535 : 0;
      if (field.width === 2) b.writeUInt16BE(value, at); else b.writeUInt32BE(value, at);
      return { bytes: b, what: `size field at ${at} set to ${value}` };
    }
    default: {
      const start = below(b.length);
      const end = Math.min(b.length, start + 1 + below(256));
      for (let i = start; i < end; i++) b[i] = below(256);
      return { bytes: b, what: `random junk over bytes ${start}..${end}` };
    }
  }
}

const PAGE_MUTANTS = 120;

test(`${PAGE_MUTANTS} mutants of real images through the file input: each explained or refused, the worker alive, then a normal image explained`, { timeout: 900_000 }, async () => {
  const originalsDir = path.join(sharedDir(), 'data', 'imagenet-originals');
  const jpegs = readdirSync(originalsDir).filter((f) => f.endsWith('.JPEG')).sort().map((f) => readFileSync(path.join(originalsDir, f)));
  assert.ok(jpegs.length >= 70, `imagenet-originals holds ${jpegs.length} JPEGs`);
  const pngs = [readFileSync(path.join(sharedDir(), 'data', 'quokka-imgaug', 'quokka_depth_map_halfres.png')), gradientPng(97, 61)];
  const random = seeded(23);
  const context = await launch({ webgpu: false });
  try {
    const page = await openExplain(context, 'mutants', '&autoload=1');
    await page.waitForSelector('#engine-status[data-state=ready]', { timeout: 300_000 });
    const outcomes = { explained: 0, refused: 0 };
    for (let n = 0; n < PAGE_MUTANTS; n++) {
      const png = n % 4 === 3;
      const pool = png ? pngs : jpegs;
      const { bytes, what } = mutant(pool[Math.floor(random() * pool.length)], random);
      const name = `mutant-${String(n).padStart(3, '0')}.${png ? 'png' : 'jpg'}`;
      const before = await page.evaluate(() => window.glassbox.imageId);
      await page.setInputFiles('#file', { name, mimeType: png ? 'image/png' : 'image/jpeg', buffer: bytes });
      await page.waitForFunction((before) => window.glassbox.imageId !== before &&
        (window.glassbox.prediction || !document.querySelector('#image-error').hidden), before, { timeout: 120_000 });
      const shown = await page.evaluate(() => ({ error: document.querySelector('#image-error').hidden ? null
        : document.querySelector('#image-error').textContent, top: window.glassbox.prediction?.top?.length ?? 0,
      state: document.querySelector('#engine-status').dataset.state, model: window.glassbox.model !== null }));
      console.log(`# [mutants] ${name} (${what}): ${shown.error ?? `explained (top-${shown.top})`}`);
      if (shown.error === null) {
        assert.equal(shown.top, 5, `${name} (${what}): neither an error nor a top-5`);
        outcomes.explained += 1;
      } else {
        assert.ok(shown.error.includes(name), `${name} (${what}): the error does not name the file: ${shown.error}`);
        outcomes.refused += 1;
      }
      assert.ok(shown.model && shown.state !== 'error', `${name} (${what}): the engine stopped (${shown.state})`);
    }
    console.log(`# [mutants] ${outcomes.explained} explained, ${outcomes.refused} refused`);
    // The worker is alive: a normal image is classified and explained.
    await pickImage(page, SHARK);
    await waitForPrediction(page, SHARK);
    await page.click('.method[data-method=gradcam] .run');
    await page.waitForFunction(() => (document.body.dataset.explained ?? '').split(',').includes('gradcam') ||
      !document.querySelector('#explain-error').hidden, null, { timeout: 300_000 });
    const err = await page.evaluate(() => document.querySelector('#explain-error').hidden ? null : document.querySelector('#explain-error').textContent);
    assert.equal(err, null, `Grad-CAM after the mutants: ${err}`);
  } finally {
    await context.close();
  }
});

test('the worker answers malformed messages with an error, stays up, and explains the next image', { timeout: 300_000 }, async () => {
  const context = await launch({ webgpu: false });
  try {
    const page = await openExplain(context, 'worker-messages');
    const manifestUrl = `${site.url}models/${SMALL_MODEL}.json`;
    const imageUrl = `${site.url}shared/data/imagenet-samples/${SHARK}`;
    // A second worker of the page's own script, driven directly: what the page never sends.
    const outcome = await page.evaluate(async ({ manifestUrl, imageUrl }) => {
      const worker = new Worker(new URL('worker.js', location.href), { type: 'module' });
      const uncaught = [];
      worker.onerror = (e) => { uncaught.push(e.message || 'an error event'); e.preventDefault(); };
      let nextId = 1;
      // Sends `message` (with a fresh id unless it is not an object); resolves to the reply, or 'no reply'.
      const send = (message, wait = 3000) => new Promise((resolve) => {
        const id = nextId++;
        const timer = setTimeout(() => resolve('no reply'), wait);
        worker.onmessage = ({ data }) => {
          if (data?.type === 'reply' && data.id === id) { clearTimeout(timer); resolve(data); }
        };
        worker.postMessage(message !== null && typeof message === 'object' && !Array.isArray(message) ? { id, ...message } : message);
      });
      const garbage = [
        { type: 'constructor' }, { type: 'toString' }, { type: '__proto__' }, { type: 'hasOwnProperty' }, { type: 42 },
        {}, { type: 'image', bytes: 'not bytes', name: 7 }, { type: 'explain', method: 'gradcam', target: 0 },
        { type: 'load', manifestUrl: 42, engine: 'cpu' }, { type: 'load', manifestUrl: 'nowhere.json', engine: 'tpu' },
        { type: 'load', manifestUrl: 'm.json', engine: 'cpu', workers: 0 }, { type: 'load', manifestUrl: 'm.json', engine: 'cpu', workers: 1.5 },
        { type: 'load', manifestUrl: 'm.json', engine: 'cpu', cpuManifestUrl: 7 }, { type: 'run', data: [1, 2], shape: [2] },
        { type: 'run', data: new Float32Array(4), shape: 'four' }, { type: 'run', data: new Float32Array(4), shape: [1, 2, 2] },
      ];
      const before = [];
      for (const m of garbage) before.push({ sent: m, reply: await send(m) });
      const notObjects = [];
      for (const m of [null, 'load', 17, [1, 2]]) notObjects.push({ sent: m, reply: await send(m, 500) });
      const load = await send({ type: 'load', manifestUrl, engine: 'cpu' }, 120_000);
      const bytes = new Uint8Array(await (await fetch(imageUrl)).arrayBuffer());
      const image = await send({ type: 'image', imageId: 1, bytes, name: 'shark.jpg' }, 60_000);
      const bad = [
        { type: 'explain', imageId: 1, method: 'gradcam', target: -1 },
        { type: 'explain', imageId: 1, method: 'gradcam', target: 2 ** 32 },
        { type: 'explain', imageId: 1, method: 'gradcam', target: 'three' },
        { type: 'explain', imageId: 1, method: 'no-such-method', target: 0 },
        { type: 'explain', imageId: 1, method: 'lime', target: 0, options: { num_samples: 1e9, batch_size: 8 } },
        { type: 'explain', imageId: 1, method: 'lime', target: 0, options: { num_samples: 16, batch_size: 1e9 } },
        { type: 'explain', imageId: 1, method: 'lime', target: 0, options: { num_samples: -5 } },
        { type: 'explain', imageId: 1, method: 'lime', target: 0, options: 'fast' },
        { type: 'agreement', imageId: 1, target: 'x', threshold: 'y', methods: 'gradcam' },
        { type: 'image', imageId: 2, bytes: new Uint8Array([0xff, 0xd8, 0xff]), name: 'three-bytes.jpg' },
      ];
      const after = [];
      for (const m of bad) after.push({ sent: m, reply: await send(m, 60_000) });
      const image3 = await send({ type: 'image', imageId: 3, bytes, name: 'shark.jpg' }, 60_000);
      const explained = await send({ type: 'explain', imageId: 3, method: 'gradcam', target: image3.result?.prediction?.top?.[0]?.class ?? 0 }, 60_000);
      worker.terminate();
      const brief = (r) => (typeof r === 'string' ? r : { ok: r.ok, error: r.error ?? null });
      return { uncaught, before: before.map((x) => ({ sent: x.sent, reply: brief(x.reply) })),
        notObjects: notObjects.map((x) => ({ sent: x.sent, reply: brief(x.reply) })), load: brief(load), image: brief(image),
        after: after.map((x) => ({ sent: { ...x.sent, bytes: undefined }, reply: brief(x.reply) })),
        image3: brief(image3), explained: { ...brief(explained), method: explained.result?.method ?? null } };
    }, { manifestUrl, imageUrl });
    for (const { sent, reply } of [...outcome.before, ...outcome.after]) {
      console.log(`# [worker-messages] ${JSON.stringify(sent)} → ${JSON.stringify(reply)}`);
      assert.notEqual(reply, 'no reply', `no reply to ${JSON.stringify(sent)}`);
      assert.equal(reply.ok, false, `${JSON.stringify(sent)} was answered ok`);
      assert.ok(reply.error, `${JSON.stringify(sent)}: an error without a message`);
    }
    for (const { sent, reply } of outcome.notObjects) {
      assert.equal(reply, 'no reply', `${JSON.stringify(sent)} (not a request) was answered: ${JSON.stringify(reply)}`);
    }
    assert.deepEqual(outcome.uncaught, [], 'the worker threw');
    assert.equal(outcome.load.ok, true, `load: ${outcome.load.error}`);
    assert.equal(outcome.image.ok, true, `image: ${outcome.image.error}`);
    assert.equal(outcome.image3.ok, true, `the image after the bad requests: ${outcome.image3.error}`);
    assert.equal(outcome.explained.ok, true, `Grad-CAM after the bad requests: ${outcome.explained.error}`);
  } finally {
    await context.close();
  }
});
