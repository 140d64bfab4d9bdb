// Browser end-to-end tests of the site in Debian's headless Chromium (playwright-core; no browser download).
//
// What they check, on the real MobileNet v2 (ImageNet weights) from shared/data:
//   1. Chromium exposes a WebGPU adapter (SwiftShader here) and the wasm package exists (its size is printed);
//   2. WebGPU path: the page loads the model through wonnx, classifies a sample image, runs Grad-CAM and
//      LIME (E2E_LIME_SAMPLES samples); the CAM read back from the page equals the native CLI's
//      (`glassbox explain`, CPU engine) to 1e-3, the top-1 class matches, and LIME's superpixels and top-5
//      mask equal the native ones for the same seed;
//   3. no-WebGPU path (Chromium without --enable-unsafe-webgpu): the page says so, falls back to the CPU
//      engine (tract in wasm) and gives the same numbers;
//   4. the page's JPEG decoding (www/jpeg.js, the browser's libjpeg-turbo) gives Pillow's pixels, byte for
//      byte, on all 1086 JPEGs of shared/data, the 76 originals of every flavour included (EXIF-tagged ones:
//      Pillow's unrotated pixels; hashes from tests/reference/pil_decode_reference.py).
//   5. "auto" takes the CPU engine when the only WebGPU adapter is a software one (SwiftShader), and says so;
//   6. every file of the bad-input corpus (tests/fixtures/bad-inputs/corpus.json) gets its listed outcome: a bad
//      image or model an error naming the problem (and the image file) in a visitor's words (no command-line
//      options, always what to do), a valid odd one a prediction (a 1×1 image with a warning);
//   7. a visitor's session (MobileNet v1 0.25 on the CPU engine): the download sizes before anything loads and
//      the wasm only at load; two images picked before the model is ready cost one forward pass (counted by the
//      wasm) and show the last; LIME cancelled midway is kept, labelled partial, equal to the native CLI with
//      that many samples, and can be discarded; switching image during LIME drops the old image's reply, so
//      the drawn mask and the JSON download belong to the new image;
//   8. the reports render as HTML, the comparison tables fit a 390 px screen, the dissection page opens on
//      the mission's ResNet-18 when the run has it;
//   9. the explain page's agreement table (Grad-CAM against LIME, CPU engine, LIME with AGREEMENT_LIME
//      samples) shows the numbers `glassbox compare --explained` computes from the native CLI's explanation
//      of the same image, and its threshold slider moves the threshold IoU to `compare --threshold T`'s.
//  10. every page carries the Content-Security-Policy <meta>, and no test sees a violation (tests/e2e/csp.mjs);
//  11. 120 seeded mutants of the real originals (shared/data/imagenet-originals) and of PNGs through the file
//      input: each gets a top-5 or an error naming the file, the engine stays up, a gallery image is explained after;
//  12. the worker refuses malformed requests with an error (and ignores non-objects), never throws, and keeps working.
//  13. a pool of 2 CPU workers (MobileNet v1 0.25): LIME equal to one worker's bit for bit, ScoreCAM within 1e-6, the
//      same number of forward passes; the seconds of each are printed.
// Screenshots of each state are written to $E2E_OUT (default tests/e2e/artifacts/); precomputed/site/ keeps
// the ones looked at (its README says what each shows).
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { deflateSync, gzipSync } from 'node:zlib';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { developmentMounts, serve, sharedDir } from './server.mjs';
import { readNpy } from './npy.mjs';
import { assertNoCspViolations, guardCsp, takeCspViolations } from './csp.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const outDir = process.env.E2E_OUT ?? path.join(here, 'artifacts');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const MODEL = 'mobilenet_v2_1.0_224_b8';
const SAMPLE = 'n01443537_goldfish.JPEG';
// SwiftShader runs WebGPU on the CPU: one batch-8 MobileNet v2 pass takes tens of seconds here.
const LIME = { samples: Number(process.env.E2E_LIME_SAMPLES ?? 16), seed: 0 };
const CAM_TOLERANCE = 1e-3;
const BASE_FLAGS = ['--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--disable-quic'];

let site;
let native;
const tempDirs = [];

function tempDir(prefix) {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** The native CLI: $GLASSBOX_BIN, else the debug build in the cargo target dir (built if missing). */
function glassboxBin() {
  if (process.env.GLASSBOX_BIN) return process.env.GLASSBOX_BIN;
  const target = process.env.CARGO_TARGET_DIR ?? path.join(repo, 'target');
  const bin = path.join(target, 'debug', 'glassbox');
  if (!existsSync(bin)) {
    console.log(`# building the native CLI (${bin})`);
    execFileSync('cargo', ['build', '-p', 'glassbox', '--bin', 'glassbox'], { cwd: repo, stdio: 'inherit' });
  }
  return bin;
}

/** Native reference: `glassbox explain` on the CPU engine for the same image and model. */
function nativeReference() {
  const out = tempDir('glassbox-native-');
  const image = path.join(sharedDir(), 'data', 'imagenet-samples', SAMPLE);
  const args = ['explain', '--model', path.join(repo, 'models', `${MODEL}.json`), '--engine', 'cpu',
    '--methods', 'gradcam,lime', '--samples', String(LIME.samples), '--seed', String(LIME.seed), '--out', out, image];
  const t0 = Date.now();
  execFileSync(glassboxBin(), args, { cwd: repo, stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, GLASSBOX_SHARED: path.join(sharedDir(), 'data') } });
  const dir = path.join(out, path.parse(SAMPLE).name);
  const summary = JSON.parse(readFileSync(path.join(dir, 'explanation.json'), 'utf8'));
  const gradcam = readNpy(path.join(dir, 'gradcam.npy'));
  const lime = { segments: readNpy(path.join(dir, 'lime_segments.npy')), mask: readNpy(path.join(dir, 'lime_mask.npy')) };
  const inMask = lime.mask.data.reduce((a, b) => a + b, 0);
  console.log(`# native CLI reference: top-1 ${summary.top5[0].label} (#${summary.top5[0].class}), ` +
    `gradcam ${gradcam.shape.join('x')}, LIME ${LIME.samples} samples seed ${LIME.seed}: ${inMask} pixels in the mask, ` +
    `${Date.now() - t0} ms`);
  return { summary, gradcam, lime };
}

async function launch({ webgpu }) {
  const flags = [...BASE_FLAGS, ...(webgpu ? ['--enable-unsafe-webgpu'] : [])];
  // A fresh profile every time: no cached shaders, no state from earlier runs.
  const context = await chromium.launchPersistentContext(tempDir('glassbox-chromium-'), { executablePath: CHROMIUM,
    headless: true, args: flags, viewport: { width: 1200, height: 1100 } });
  await guardCsp(context);
  return context;
}

afterEach(assertNoCspViolations);

function watch(page, tag) {
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') console.log(`# [${tag} console.${m.type()}] ${m.text()}`); });
  page.on('pageerror', (e) => console.log(`# [${tag} pageerror] ${e.message}`));
}

/** Opens the site with `engine`, picks the sample, runs the methods (LIME with `lime`); returns what the page holds. */
async function explainInPage(context, engine, methods, tag, lime = LIME) {
  const page = await context.newPage();
  watch(page, tag);
  await page.goto(`${site.url}index.html?model=${MODEL}&engine=${engine}&autoload=1`);
  const t0 = Date.now();
  if (engine === 'webgpu') {
    // On SwiftShader the graph compilation and the check pass (shaders compiled on first use) take tens of
    // seconds and report no counts: the page names the step and counts the seconds, so the status moves.
    const ticking = () => /step \d of 5: .* · ([2-9]|\d{2,}) s$/.test(document.querySelector('#engine-status').textContent);
    await page.waitForFunction(ticking, null, { timeout: 300_000 });
    const first = await page.textContent('#engine-status');
    await page.screenshot({ path: path.join(outDir, 'explain-compiling.png') });
    await page.waitForTimeout(1500);
    const later = await page.textContent('#engine-status');
    console.log(`# [${tag}] while loading: "${first}", then "${later}"`);
    assert.notEqual(later, first, 'the load status did not move in 1.5 s');
  }
  await page.waitForSelector('#engine-status[data-state=ready], #engine-status[data-state=error]', { timeout: 300_000 });
  const status = await page.textContent('#engine-status');
  const modelError = await page.textContent('#model-error');
  assert.match(status, /ready/, `model did not load: ${status} ${modelError}`);
  console.log(`# [${tag}] ${status} (${Date.now() - t0} ms)`);
  await page.click(`#gallery button[data-file="${SAMPLE}"]`);
  await page.waitForFunction(() => document.querySelectorAll('#top5 li').length === 5 || !document.querySelector('#image-error').hidden,
    null, { timeout: 300_000 });
  const imageError = await page.evaluate(() => document.querySelector('#image-error').hidden ? null : document.querySelector('#image-error').textContent);
  assert.equal(imageError, null, `classification failed: ${imageError}`);
  const prediction = await page.evaluate(() => window.glassbox.prediction);
  console.log(`# [${tag}] top-1 ${prediction.top[0].label} (#${prediction.top[0].class}); ` +
    `one MobileNet v2 forward pass in the page: ${prediction.forward_ms.toFixed(0)} ms`);
  if (methods.includes('lime')) {
    await page.fill('#lime-samples', String(lime.samples));
    await page.fill('#lime-seed', String(lime.seed));
  }
  for (const method of methods) {
    const t = Date.now();
    await page.click(`.method[data-method=${method}] .run`);
    await page.waitForFunction((m) => (document.body.dataset.explained ?? '').split(',').includes(m) ||
      !document.querySelector('#explain-error').hidden, method, { timeout: 600_000 });
    const err = await page.evaluate(() => document.querySelector('#explain-error').hidden ? null : document.querySelector('#explain-error').textContent);
    assert.equal(err, null, `${method} failed in the page: ${err}`);
    console.log(`# [${tag}] ${method}: ${await page.textContent(`.method[data-method=${method}] .stage`)} (${Date.now() - t} ms)`);
  }
  const results = await page.evaluate(() => {
    const plain = {};
    for (const [k, r] of Object.entries(window.glassbox.results)) {
      plain[k] = Object.fromEntries(Object.entries(r).filter(([f]) => f !== 'heat_rgba').map(([f, v]) => [f, ArrayBuffer.isView(v) ? Array.from(v) : v]));
    }
    return plain;
  });
  const model = await page.evaluate(() => window.glassbox.model);
  return { page, prediction, results, model };
}

function maxAbsDiff(a, b) {
  assert.equal(a.length, b.length, `length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function checkAgainstNative(tag, { prediction, results }) {
  assert.equal(prediction.top[0].class, native.summary.top5[0].class, `${tag}: top-1 differs from the native CLI`);
  const page = results.gradcam;
  assert.deepEqual([page.height, page.width], native.gradcam.shape, `${tag}: Grad-CAM shape`);
  const diff = maxAbsDiff(page.map, native.gradcam.data);
  console.log(`# [${tag}] Grad-CAM max |page - native| = ${diff.toExponential(2)} (tolerance ${CAM_TOLERANCE})`);
  assert.ok(diff <= CAM_TOLERANCE, `${tag}: Grad-CAM differs from the native CLI by ${diff}`);
  // The map is a real explanation, not a constant: it spans [0, 1] after pytorch-grad-cam's normalisation.
  assert.ok(Math.max(...page.map) > 0.99 && Math.min(...page.map) < 0.01, `${tag}: Grad-CAM map is not normalised`);
  if (results.lime) checkLime(tag, results.lime);
}

/** LIME in the page: the same superpixels and, for the same seed, the same top-5 mask as the native CLI. */
function checkLime(tag, lime) {
  assert.deepEqual([lime.height, lime.width], native.lime.mask.shape, `${tag}: LIME mask shape`);
  assert.deepEqual(lime.segments, native.lime.segments.data, `${tag}: LIME superpixels differ from the native CLI`);
  const differing = lime.mask.reduce((n, v, i) => n + (v !== native.lime.mask.data[i] ? 1 : 0), 0);
  const inMask = lime.mask.reduce((a, b) => a + b, 0);
  console.log(`# [${tag}] LIME: ${lime.n_segments} superpixels, mask superpixels [${lime.mask_superpixels}], ` +
    `${inMask} pixels; ${differing} pixels differ from the native mask`);
  assert.ok(inMask > 0, `${tag}: the LIME mask is empty`);
  assert.equal(differing, 0, `${tag}: the LIME mask differs from the native CLI's in ${differing} pixels`);
}

before(async () => {
  mkdirSync(outDir, { recursive: true });
  const wasm = path.join(repo, 'www', 'pkg', 'glassbox_bg.wasm');
  assert.ok(existsSync(wasm), `${wasm} is missing: run scripts/build-wasm.sh first`);
  const bytes = readFileSync(wasm);
  console.log(`# wasm size: ${bytes.length} bytes raw, ${gzipSync(bytes, { level: 9 }).length} bytes gzip`);
  site = await serve();
  console.log(`# site at ${site.url} (shared data from ${sharedDir()})`);
  native = nativeReference();
});

after(() => {
  site?.server.close();
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

test("the page decodes every JPEG to Pillow's pixels", { timeout: 300_000 }, async () => {
  const reference = JSON.parse(readFileSync(path.join(repo, 'tests/fixtures/preprocess/pil_decode.json'), 'utf8'));
  const context = await launch({ webgpu: false });
  try {
    const page = await context.newPage();
    watch(page, 'jpeg');
    await page.goto(`${site.url}config.js`);
    let checked = 0;
    const differing = [];
    for (const [folder, images] of Object.entries(reference.sets)) {
      const names = Object.keys(images);
      const decoded = await page.evaluate(async ({ folder, names }) => {
        const { browserJpegPixels } = await import('/jpeg.js');
        // What the worker explains: the browser's pixels through the wasm check (EXIF turned back as stored).
        const wasm = await import('/pkg/glassbox.js');
        await wasm.default({ module_or_path: '/pkg/glassbox_bg.wasm' });
        const hex = (buffer) => [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, '0')).join('');
        const out = [];
        for (const name of names) {
          const bytes = new Uint8Array(await (await fetch(`/shared/data/${folder}/${name}`)).arrayBuffer());
          const image = await browserJpegPixels(bytes);
          if (!image) { out.push(null); continue; }
          const pixels = wasm.decode_browser_jpeg(bytes, name, image.width, image.height, image.rgba);
          out.push({ width: pixels.width, height: pixels.height, sha256: hex(await crypto.subtle.digest('SHA-256', pixels.rgb)) });
        }
        return out;
      }, { folder, names });
      names.forEach((name, i) => {
        const want = images[name];
        const got = decoded[i];
        assert.ok(got, `${folder}/${name}: the page did not decode it`);
        assert.deepEqual([got.width, got.height], [want.width, want.height], `${folder}/${name}: size`);
        if (got.sha256 !== want.rgb_sha256) differing.push(`${folder}/${name}`);
        checked += 1;
      });
    }
    console.log(`# page JPEG decoding: ${checked} images, ${differing.length} differ from Pillow`);
    assert.equal(checked, 1086);
    assert.deepEqual(differing, [], 'JPEG pixels in the page differ from Pillow');
  } finally {
    await context.close();
  }
});

test('Chromium exposes a WebGPU adapter', async () => {
  const context = await launch({ webgpu: true });
  try {
    const page = await context.newPage();
    await page.goto(`${site.url}config.js`);
    const info = await page.evaluate(async () => {
      const adapter = await navigator.gpu?.requestAdapter();
      if (!adapter) return null;
      const { vendor, architecture, device, description, isFallbackAdapter } = adapter.info;
      return { vendor, architecture, device, description, isFallbackAdapter };
    });
    console.log(`# adapter.info: ${JSON.stringify(info)}`);
    assert.ok(info, 'navigator.gpu.requestAdapter() returned no adapter');
  } finally {
    await context.close();
  }
});

test('WebGPU: classification, Grad-CAM and LIME equal the native CLI', { timeout: 900_000 }, async () => {
  const context = await launch({ webgpu: true });
  try {
    const run = await explainInPage(context, 'webgpu', ['gradcam', 'lime'], 'webgpu');
    assert.equal(run.model.kind, 'webgpu');
    assert.match(run.model.engine, /wonnx|webgpu/i);
    // The engine label names the adapter (wgpu leaves its name blank in the browser).
    const status = await run.page.textContent('#engine-status');
    assert.ok(run.model.adapter && status.includes(`on WebGPU (wonnx) on ${run.model.adapter}`), `engine label: ${status}`);
    assert.doesNotMatch(status, /on\s+\(/, `blank adapter name in: ${status}`);
    checkAgainstNative('webgpu', run);
    const shot = path.join(outDir, 'explain-webgpu.png');
    await run.page.screenshot({ path: shot, fullPage: true });
    console.log(`# screenshot: ${shot}`);
  } finally {
    await context.close();
  }
});

test('no WebGPU: the page says so and the CPU fallback gives the same numbers', { timeout: 900_000 }, async () => {
  const context = await launch({ webgpu: false });
  try {
    const run = await explainInPage(context, 'auto', ['gradcam', 'lime'], 'cpu-fallback');
    assert.equal(run.model.kind, 'cpu');
    const warning = await run.page.textContent('#gpu-warning');
    assert.match(warning, /WebGPU/);
    assert.ok(await run.page.isVisible('#gpu-warning'), 'the no-WebGPU message is not shown');
    checkAgainstNative('cpu-fallback', run);
    const shot = path.join(outDir, 'explain-cpu-fallback.png');
    await run.page.screenshot({ path: shot, fullPage: true });
    console.log(`# screenshot: ${shot}`);
  } finally {
    await context.close();
  }
});

// ---- the agreement table: the page's numbers are `glassbox compare`'s
const AGREEMENT_LIME = { samples: 32, seed: 0 };
// A threshold the slider can reach (steps of 0.05) other than the default 0.5.
const MOVED_THRESHOLD = 0.35;
// The page runs tract in wasm, the reference native tract: maps and LIME weights agree to ~1e-6, not to the
// bit. A CAM pixel at the edge of a mask may then fall on the other side (each one moves an IoU by
// 1 / union, union ≥ a thousand pixels here); Spearman moves by much less.
const AGREEMENT_TOLERANCE = { iou: 2e-3, spearman: 1e-4 };

/**
 * `glassbox explain` (CPU engine, Grad-CAM and LIME with AGREEMENT_LIME) on SAMPLE, then
 * `glassbox compare --explained DIR --out FILE [--threshold T]` for each threshold: the native numbers.
 */
function nativeAgreement(thresholds) {
  const explained = tempDir('glassbox-agreement-');
  const image = path.join(sharedDir(), 'data', 'imagenet-samples', SAMPLE);
  const env = { ...process.env, GLASSBOX_SHARED: path.join(sharedDir(), 'data') };
  execFileSync(glassboxBin(), ['explain', '--model', path.join(repo, 'models', `${MODEL}.json`), '--engine', 'cpu',
    '--methods', 'gradcam,lime', '--samples', String(AGREEMENT_LIME.samples), '--seed', String(AGREEMENT_LIME.seed),
    '--out', explained, image], { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'], env });
  const tables = {};
  for (const t of thresholds) {
    const out = path.join(tempDir('glassbox-compare-'), 'agreement.json');
    const args = ['compare', '--explained', explained, '--out', out, ...(t === undefined ? [] : ['--threshold', String(t)])];
    try {
      execFileSync(glassboxBin(), args, { cwd: repo, stdio: ['ignore', 'ignore', 'pipe'], env });
    } catch (e) {
      throw new Error(`glassbox ${args.join(' ')} failed (does this glassbox have the compare command?): ${e.stderr ?? e.message}`);
    }
    tables[t ?? 'default'] = JSON.parse(readFileSync(out, 'utf8'));
  }
  return tables;
}

/** The row of `method` for SAMPLE in `glassbox compare`'s JSON: {image, target, agreement: {class, threshold, lime_partial, cams}}. */
function compareRow(table, method) {
  const image = table.images.find((i) => i.image === path.parse(SAMPLE).name);
  assert.ok(image, `agreement.json has no ${path.parse(SAMPLE).name}: ${JSON.stringify(table.images.map((i) => i.image))}`);
  const row = image.agreement.cams.find((c) => c.method === method);
  assert.ok(row, `agreement.json has no ${method} for ${image.image}`);
  return { image, row };
}

function assertClose(tag, what, page, native, tolerance) {
  if (native === null || page === null) {
    assert.equal(page, native, `${tag}: ${what}: page ${page}, native ${native}`);
    return 0;
  }
  const diff = Math.abs(page - native);
  assert.ok(diff <= tolerance, `${tag}: ${what}: page ${page}, native ${native} (|diff| ${diff} > ${tolerance})`);
  return diff;
}

/** The page's row against the native one: every figure, and the cells as the visitor reads them. */
async function checkAgreementRow(page, tag, shown, native) {
  const diffs = {
    iou_same_count: assertClose(tag, 'IoU same count', shown.agreement.iou_same_count, native.agreement.iou_same_count, AGREEMENT_TOLERANCE.iou),
    iou_top20: assertClose(tag, 'IoU top 20 %', shown.agreement.iou_top20, native.agreement.iou_top20, AGREEMENT_TOLERANCE.iou),
    iou_half: assertClose(tag, 'IoU CAM ≥ 0.5', shown.agreement.iou_half, native.agreement.iou_half, AGREEMENT_TOLERANCE.iou),
    iou_at_threshold: assertClose(tag, 'IoU at the threshold', shown.iou_at_threshold, native.iou_at_threshold, AGREEMENT_TOLERANCE.iou),
    spearman: assertClose(tag, 'Spearman', shown.agreement.spearman, native.agreement.spearman, AGREEMENT_TOLERANCE.spearman),
  };
  assert.equal(shown.agreement.pointing_hit, native.agreement.pointing_hit, `${tag}: pointing game`);
  const cells = await page.$$eval('#agreement-table tbody tr[data-method=gradcam] td', (tds) => tds.map((td) => td.textContent));
  const f = (v) => (v === null ? '–' : v.toFixed(3));
  assert.deepEqual(cells, ['Grad-CAM', f(shown.agreement.iou_same_count), f(shown.agreement.iou_top20), f(shown.iou_at_threshold),
    f(shown.agreement.spearman), shown.agreement.pointing_hit ? 'hit' : 'miss'], `${tag}: the table's cells`);
  return diffs;
}

test('the agreement of Grad-CAM with LIME in the page is `glassbox compare`\'s, and the threshold slider moves it', { timeout: 600_000 }, async () => {
  const native = nativeAgreement([undefined, MOVED_THRESHOLD]);
  const context = await launch({ webgpu: false });
  try {
    const run = await explainInPage(context, 'cpu', ['gradcam', 'lime'], 'agreement', AGREEMENT_LIME);
    const { page } = run;
    await page.waitForSelector('#agreement:not([hidden]) #agreement-table tbody tr[data-method=gradcam]', { timeout: 60_000 });
    const shown = await page.evaluate(() => window.glassbox.agreement);
    const { image, row } = compareRow(native.default, 'gradcam');
    assert.equal(shown.agreement.class, image.target.class, 'the page compares another class than the native CLI');
    assert.equal(shown.agreement.class, run.results.lime.target);
    assert.equal(shown.agreement.lime_partial, false);
    assert.equal(shown.agreement.threshold, 0.5);
    assert.equal(shown.lime.samples_used, AGREEMENT_LIME.samples);
    assert.deepEqual(shown.agreement.cams.map((c) => c.method), ['gradcam']);
    const [cam] = shown.agreement.cams;
    assert.equal(cam.iou_at_threshold, cam.agreement.iou_half, 'at t = 0.5 the threshold IoU is the IoU of CAM ≥ 0.5');
    const inMask = run.results.lime.mask.reduce((a, b) => a + b, 0);
    assert.equal(shown.lime.mask_pixels, inMask, 'the agreement uses another LIME mask than the one drawn');
    assert.match(await page.textContent('#agreement-lime'), new RegExp(`${inMask} pixels \\(LIME ${AGREEMENT_LIME.samples} samples\\)`));
    const diffs = await checkAgreementRow(page, 'agreement t=0.5', cam, row);
    console.log(`# [agreement] page: ${JSON.stringify(cam)}; |page - native|: ${JSON.stringify(diffs)}`);
    await page.screenshot({ path: path.join(outDir, 'explain-agreement.png'), fullPage: true });

    // The visitor drags the slider: the table follows at once, with `compare --threshold`'s number.
    await page.$eval('#agreement-threshold', (el, t) => {
      el.value = String(t);
      el.dispatchEvent(new Event('input', { bubbles: true }));
    }, MOVED_THRESHOLD);
    await page.waitForFunction((t) => Math.abs((window.glassbox.agreement?.agreement.threshold ?? -1) - t) < 1e-6,
      MOVED_THRESHOLD, { timeout: 30_000 });
    assert.equal(await page.inputValue('#agreement-threshold-number'), String(MOVED_THRESHOLD));
    assert.equal(await page.textContent('#agreement-t'), MOVED_THRESHOLD.toFixed(2));
    const moved = (await page.evaluate(() => window.glassbox.agreement)).agreement.cams[0];
    const nativeMoved = compareRow(native[MOVED_THRESHOLD], 'gradcam').row;
    assert.notEqual(nativeMoved.iou_at_threshold, row.iou_at_threshold, 'the native threshold IoU does not change from 0.5 to ' + MOVED_THRESHOLD);
    assert.notEqual(moved.iou_at_threshold, cam.iou_at_threshold, 'the slider did not change the threshold IoU');
    assert.deepEqual(moved.agreement, cam.agreement, 'the threshold changed the other figures');
    const movedDiffs = await checkAgreementRow(page, `agreement t=${MOVED_THRESHOLD}`, moved, nativeMoved);
    console.log(`# [agreement] t = ${MOVED_THRESHOLD}: page ${moved.iou_at_threshold}, native ${nativeMoved.iou_at_threshold} ` +
      `(|diff| ${movedDiffs.iou_at_threshold.toExponential(2)}; at 0.5: ${cam.iou_at_threshold})`);
  } finally {
    await context.close();
  }
});

test('"auto" on a browser whose only WebGPU adapter is software (SwiftShader) picks the CPU engine and says why', { timeout: 300_000 }, async (t) => {
  const context = await launch({ webgpu: true });
  try {
    const page = await context.newPage();
    watch(page, 'auto-software');
    await page.goto(`${site.url}config.js`);
    const fallback = await page.evaluate(async () => (await navigator.gpu.requestAdapter())?.info?.isFallbackAdapter);
    if (fallback !== true) {
      // A machine with a hardware GPU: nothing to test here. CI's Chromium has SwiftShader only.
      assert.notEqual(process.env.CI, 'true', 'CI=true but the WebGPU adapter is not a fallback (SwiftShader) one');
      t.skip(`the WebGPU adapter is not a fallback one (isFallbackAdapter: ${fallback})`);
      return;
    }
    await page.goto(`${site.url}index.html?model=${MODEL}&engine=auto&autoload=1`);
    await page.waitForSelector('#engine-status[data-state=ready], #engine-status[data-state=error]', { timeout: 300_000 });
    const model = await page.evaluate(() => window.glassbox.model);
    const warning = await page.textContent('#gpu-warning');
    console.log(`# [auto-software] engine ${model.kind} (${model.engine}); the page says: ${warning}`);
    assert.equal(model.kind, 'cpu');
    assert.ok(await page.isVisible('#gpu-warning'), 'the reason is not shown');
    assert.match(warning, /software renderer/);
  } finally {
    await context.close();
  }
});

// ---- a visitor's session on the small real model (MobileNet v1 0.25 128, CPU engine: fast and deterministic)
const SMALL_MODEL = 'mobilenet_v1_0.25_128_b8';
const SHARK = 'n01491361_tiger_shark.JPEG';
// Enough LIME samples that a run is still going when the test acts on it.
const LONG_LIME = 5000;

/** The explain page with the small model selected, not loaded. */
async function openExplain(context, tag, query = '') {
  const page = await context.newPage();
  watch(page, tag);
  await page.goto(`${site.url}index.html?model=${SMALL_MODEL}&engine=cpu${query}`);
  return page;
}

async function pickImage(page, file) {
  const before = await page.evaluate(() => window.glassbox.imageId);
  await page.click(`#gallery button[data-file="${file}"]`);
  await page.waitForFunction((before) => window.glassbox.imageId !== before, before);
}

async function waitForPrediction(page, file) {
  await page.waitForFunction((f) => window.glassbox.imageName === f && window.glassbox.prediction ||
    !document.querySelector('#image-error').hidden, file, { timeout: 300_000 });
  const error = await page.evaluate(() => document.querySelector('#image-error').hidden ? null : document.querySelector('#image-error').textContent);
  assert.equal(error, null, `classification failed: ${error}`);
}

/** Starts LIME with `samples` and waits until at least `done` samples are predicted. */
async function startLime(page, samples, done) {
  await page.fill('#lime-samples', String(samples));
  await page.fill('#lime-seed', '0');
  await page.click('.method[data-method=lime] .run');
  await page.waitForFunction((n) => document.querySelector('.method[data-method=lime] progress').value >= n &&
    /LIME forward passes/.test(document.querySelector('.method[data-method=lime] .stage').textContent), done, { timeout: 300_000 });
}

async function downloadJson(page) {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-json')]);
  return { name: download.suggestedFilename(), numbers: JSON.parse(readFileSync(await download.path(), 'utf8')) };
}

/** RGBA pixels of a method card's picture. */
const cardPixels = (page, method) => page.evaluate((m) => {
  const canvas = document.querySelector(`.method[data-method=${m}] canvas`);
  return Array.from(canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data);
}, method);

test('a visitor who picks images before loading a model: sizes first, the wasm only at load, one forward pass for the last image', { timeout: 300_000 }, async () => {
  const context = await launch({ webgpu: false });
  try {
    // The model download waits until the visitor has clicked twice, so both clicks land while it loads.
    let releaseModel;
    const modelHeld = new Promise((ok) => { releaseModel = ok; });
    await context.route('**/*.onnx', async (route) => {
      if (route.request().method() === 'GET') await modelHeld;
      await route.continue();
    });
    const wasmRequests = [];
    context.on('request', (r) => { if (r.url().endsWith('.wasm') && r.method() === 'GET') wasmRequests.push(r.url()); });
    const page = await openExplain(context, 'before-load');
    await page.waitForFunction(() => /MB/.test(document.querySelector('#download-size').textContent));
    const sizes = await page.textContent('#download-size');
    console.log(`# [before-load] ${sizes}`);
    assert.match(sizes, /the engine \(\d+\.\d MB, once\) and the model \(\d+\.\d MB\)/);
    assert.deepEqual(wasmRequests, [], 'the page downloaded the wasm before any model was asked for');
    await page.screenshot({ path: path.join(outDir, 'explain-before-load.png') });

    await pickImage(page, SAMPLE);
    await page.waitForFunction(() => /downloading the model/.test(document.querySelector('#engine-status').textContent), null, { timeout: 120_000 });
    assert.equal(wasmRequests.length, 1, 'the wasm is downloaded once the model loads');
    await pickImage(page, SHARK);
    // While loading: the model controls are disabled and the page says why.
    assert.ok(await page.isDisabled('#load') && await page.isDisabled('#model'), 'model controls enabled while loading');
    assert.match(await page.textContent('#busy'), /Loading .*wait until it is ready, then n01491361_tiger_shark\.JPEG is classified/);
    assert.match(await page.textContent('#engine-status'), /step \d of \d: downloading the model/);
    await page.screenshot({ path: path.join(outDir, 'explain-loading.png') });
    releaseModel();

    await waitForPrediction(page, SHARK);
    const passes = await page.evaluate(() => document.body.dataset.forwardPasses);
    const shown = await page.evaluate(() => ({ name: window.glassbox.imageName, top: window.glassbox.prediction.top[0].label }));
    console.log(`# [before-load] shown: ${shown.name} (top-1 ${shown.top}); forward passes after load: ${passes}`);
    assert.equal(shown.name, SHARK, 'the prediction is not of the last image picked');
    assert.equal(passes, '1', 'two clicks before the model was ready must cost one forward pass');
    assert.equal(await page.isDisabled('#load'), false);
  } finally {
    await context.close();
  }
});

test('a visitor cancels LIME midway: the result is kept, fitted on the samples done, labelled partial; discard drops it', { timeout: 300_000 }, async () => {
  const context = await launch({ webgpu: false });
  try {
    const page = await openExplain(context, 'cancel-lime', '&autoload=1');
    await page.waitForSelector('#engine-status[data-state=ready]', { timeout: 300_000 });
    await pickImage(page, SAMPLE);
    await waitForPrediction(page, SAMPLE);
    // The estimate scales with the samples: lowering them is the visitor's way to a faster run.
    await page.fill('#lime-samples', String(LONG_LIME));
    const long = await page.textContent('.method[data-method=lime] .estimate');
    await page.fill('#lime-samples', '200');
    const short = await page.textContent('.method[data-method=lime] .estimate');
    console.log(`# [cancel-lime] estimate with ${LONG_LIME} samples: ${long}; with 200: ${short}`);
    assert.match(long, new RegExp(`\\(${LONG_LIME / 8} passes × `));
    assert.match(short, /\(25 passes × /);
    // Only ScoreCAM and LIME run extra passes: Grad-CAM and AblationCAM go through the linear head.
    const estimates = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll('.method')]
      .map((card) => [card.dataset.method, card.querySelector('.estimate').textContent])));
    console.log(`# [cancel-lime] estimates: ${JSON.stringify(estimates)}`);
    assert.match(estimates.gradcam, /no extra pass/);
    assert.match(estimates.ablationcam, /no extra pass/);
    assert.match(estimates.scorecam, /\(32 passes × /, 'MobileNet v1 0.25: 256 channels in batches of 8');

    await startLime(page, LONG_LIME, 40);
    assert.match(await page.textContent('#busy'), /Running LIME on n01443537_goldfish\.JPEG/);
    assert.ok(await page.isDisabled('#run-all'), 'Explain (all four) is enabled while LIME runs');
    await page.click('#cancel');
    await page.waitForFunction(() => (document.body.dataset.explained ?? '').split(',').includes('lime') ||
      !document.querySelector('#explain-error').hidden, null, { timeout: 120_000 });
    const stage = await page.textContent('.method[data-method=lime] .stage');
    const lime = await page.evaluate(() => {
      const r = window.glassbox.results.lime;
      return { partial: r.partial, used: r.samples_used, requested: r.num_samples, segments: Array.from(r.segments), mask: Array.from(r.mask) };
    });
    console.log(`# [cancel-lime] ${stage}`);
    assert.equal(lime.partial, true);
    assert.equal(lime.requested, LONG_LIME);
    assert.ok(lime.used >= 40 && lime.used < LONG_LIME && lime.used % 8 === 0, `samples used: ${lime.used}`);
    assert.match(stage, new RegExp(`partial: ${lime.used} of ${LONG_LIME} samples`));
    assert.equal(await page.getAttribute('.method[data-method=lime]', 'data-partial'), 'true');
    assert.ok(await page.isVisible('.method[data-method=lime] .discard'), 'no discard button');
    assert.equal(await page.isVisible('#busy'), false, 'still busy after the cancel');
    const { numbers } = await downloadJson(page);
    assert.equal(numbers.image, SAMPLE);
    assert.equal(numbers.results.lime.partial, true);
    assert.equal(numbers.results.lime.samples_used, lime.used);
    await page.screenshot({ path: path.join(outDir, 'explain-lime-partial.png'), fullPage: true });

    // What was kept is LIME with that many samples: the native CLI's mask for --samples <used>.
    const out = tempDir('glassbox-partial-');
    execFileSync(glassboxBin(), ['explain', '--model', path.join(repo, 'models', `${SMALL_MODEL}.json`), '--engine', 'cpu',
      '--methods', 'lime', '--samples', String(lime.used), '--seed', '0', '--out', out,
      path.join(sharedDir(), 'data', 'imagenet-samples', SAMPLE)], { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, GLASSBOX_SHARED: path.join(sharedDir(), 'data') } });
    const dir = path.join(out, path.parse(SAMPLE).name);
    assert.deepEqual(lime.segments, readNpy(path.join(dir, 'lime_segments.npy')).data, 'superpixels differ from the native CLI');
    const nativeMask = readNpy(path.join(dir, 'lime_mask.npy')).data;
    const differing = lime.mask.reduce((n, v, i) => n + (v !== nativeMask[i] ? 1 : 0), 0);
    console.log(`# [cancel-lime] partial mask vs native --samples ${lime.used}: ${differing} pixels differ`);
    assert.equal(differing, 0);

    await page.click('.method[data-method=lime] .discard');
    assert.equal(await page.evaluate(() => 'lime' in window.glassbox.results), false, 'discard kept the result');
    assert.ok((await cardPixels(page, 'lime')).every((v) => v === 0), 'the discarded mask is still drawn');
    assert.ok(await page.isDisabled('#download-json'));
  } finally {
    await context.close();
  }
});

/** LIME (POOL_LIME_SAMPLES) and ScoreCAM of SAMPLE on the small model with `workers` CPU workers, and their seconds. */
async function explainOnPool(context, workers) {
  const page = await openExplain(context, `pool-${workers}`, `&workers=${workers}&autoload=1`);
  await page.waitForSelector('#engine-status[data-state=ready]', { timeout: 300_000 });
  await page.waitForFunction((n) => document.body.dataset.workersReady === String(n), workers, { timeout: 300_000 });
  await pickImage(page, SAMPLE);
  await waitForPrediction(page, SAMPLE);
  // MobileNet v1 0.25: the tutorial's 1000 samples take seconds here, so they are the default.
  const defaultSamples = await page.inputValue('#lime-samples');
  const estimateAll = await page.textContent('#estimate-all');
  await page.fill('#lime-samples', String(POOL_LIME_SAMPLES));
  await page.fill('#lime-seed', '0');
  const seconds = {};
  for (const method of ['scorecam', 'lime']) {
    const t0 = Date.now();
    await page.click(`#methods .method[data-method=${method}] .run`);
    await page.waitForFunction((m) => (document.body.dataset.explained ?? '').split(',').includes(m) ||
      !document.querySelector('#explain-error').hidden, method, { timeout: 300_000 });
    assert.equal(await page.isHidden('#explain-error'), true, await page.textContent('#explain-error'));
    seconds[method] = (Date.now() - t0) / 1000;
  }
  const results = await page.evaluate(() => {
    const { lime, scorecam } = window.glassbox.results;
    return { scorecam: Array.from(scorecam.map), weights: Array.from(lime.weights), mask: Array.from(lime.mask),
      intercept: lime.intercept, score: lime.score, used: lime.samples_used,
      passes: Number(document.body.dataset.forwardPasses), pool: document.querySelector('#pool-status').textContent };
  });
  await page.close();
  return { ...results, seconds, defaultSamples, estimateAll };
}

const POOL_LIME_SAMPLES = 400;

test('a pool of 2 CPU workers: LIME bit-equal to one worker, ScoreCAM within 1e-6, the same passes', { timeout: 600_000 }, async () => {
  const context = await launch({ webgpu: false });
  try {
    const one = await explainOnPool(context, 1);
    const two = await explainOnPool(context, 2);
    let scoreDiff = 0;
    for (let i = 0; i < one.scorecam.length; i++) scoreDiff = Math.max(scoreDiff, Math.abs(two.scorecam[i] - one.scorecam[i]));
    console.log(`# [pool] ${SMALL_MODEL}: ScoreCAM ${one.seconds.scorecam.toFixed(1)} s on 1 worker, ` +
      `${two.seconds.scorecam.toFixed(1)} s on 2 (max |Δ| ${scoreDiff.toExponential(2)}); LIME ${POOL_LIME_SAMPLES} samples ` +
      `${one.seconds.lime.toFixed(1)} s on 1, ${two.seconds.lime.toFixed(1)} s on 2; ${two.pool}`);
    assert.match(two.pool, /2 of 2 workers ready/);
    assert.equal(one.defaultSamples, '1000', `the tutorial's samples are not the default: ${one.estimateAll}`);
    assert.doesNotMatch(one.estimateAll, /tutorial's 1000/);
    assert.equal(two.used, POOL_LIME_SAMPLES);
    assert.ok(scoreDiff <= 1e-6, `ScoreCAM on the pool differs from one worker's by ${scoreDiff}`);
    assert.deepEqual(two.mask, one.mask, 'LIME mask');
    assert.deepEqual(two.weights, one.weights, 'LIME weights');
    assert.equal(two.intercept, one.intercept);
    assert.equal(two.score, one.score);
    // Every batch is counted once, wherever it ran: a pool costs no extra pass.
    assert.equal(two.passes, one.passes);
  } finally {
    await context.close();
  }
});

test('a visitor switches image during LIME: the drawn mask and the download belong to the new image or to nothing', { timeout: 300_000 }, async () => {
  const context = await launch({ webgpu: false });
  try {
    const page = await openExplain(context, 'switch-image', '&autoload=1');
    await page.waitForSelector('#engine-status[data-state=ready]', { timeout: 300_000 });
    await pickImage(page, SAMPLE);
    await waitForPrediction(page, SAMPLE);
    await startLime(page, LONG_LIME, 16);
    const staleBefore = await page.evaluate(() => window.glassbox.staleReplies);
    await pickImage(page, SHARK);
    await waitForPrediction(page, SHARK);
    const state = await page.evaluate(() => ({ name: window.glassbox.imageName, results: Object.keys(window.glassbox.results),
      stale: window.glassbox.staleReplies, explained: document.body.dataset.explained, busy: !document.querySelector('#busy').hidden }));
    console.log(`# [switch-image] after the switch: ${JSON.stringify(state)}`);
    assert.equal(state.name, SHARK);
    assert.deepEqual(state.results, [], 'a result of the goldfish is filed under the shark');
    assert.equal(state.explained, '');
    assert.equal(state.busy, false, 'the goldfish LIME still runs');
    // The goldfish's (cancelled, partial) LIME reply came back and was dropped, not drawn.
    assert.equal(state.stale, staleBefore + 1, 'the stale LIME reply was not dropped exactly once');
    assert.ok((await cardPixels(page, 'lime')).every((v) => v === 0), 'a LIME mask is drawn over the shark');
    assert.ok(await page.isDisabled('#download-json'), 'downloadable numbers for an unexplained image');

    await page.click('.method[data-method=gradcam] .run');
    await page.waitForFunction(() => (document.body.dataset.explained ?? '') === 'gradcam', null, { timeout: 120_000 });
    const { name, numbers } = await downloadJson(page);
    assert.equal(name, 'n01491361_tiger_shark_explanations.json');
    assert.equal(numbers.image, SHARK);
    assert.deepEqual(Object.keys(numbers.results), ['gradcam']);
    assert.equal(numbers.results.gradcam.image, SHARK, 'the worker explained another image than the page shows');
    await page.screenshot({ path: path.join(outDir, 'explain-switched-image.png'), fullPage: true });
  } finally {
    await context.close();
  }
});

test('dissection pages show the committed tables, a histogram and a neuron with its top probe images', { timeout: 120_000 }, async () => {
  const summary = JSON.parse(readFileSync(path.join(repo, 'precomputed', 'dissect', 'summary.json'), 'utf8'));
  const layer = summary.models[0].layers.find((l) => l.layer === 'features') ?? summary.models[0].layers[0];
  const context = await launch({ webgpu: false });
  try {
    const page = await context.newPage();
    watch(page, 'dissect');
    await page.goto(`${site.url}dissect.html#table=${encodeURIComponent(layer.table)}`);
    await page.waitForSelector('#histogram .hist-row', { timeout: 60_000 });
    const options = await page.$$eval('#table option', (o) => o.length);
    assert.equal(options, summary.models.reduce((n, m) => n + m.layers.length, 0), 'one entry per model/layer table');
    const firstBar = await page.textContent('#histogram .hist-row');
    assert.ok(firstBar.includes(String(layer.histogram[0][1])), `histogram starts with ${layer.histogram[0]}: ${firstBar}`);
    // The page states which matcher and weights made the table, exactly as the table records them.
    const table = JSON.parse(readFileSync(path.join(repo, 'precomputed', 'dissect', layer.table), 'utf8'));
    const provenance = await page.textContent('#provenance');
    assert.ok(provenance.includes(`concept matcher: ${table.matcher.method}`), `provenance: ${provenance}`);
    assert.ok(provenance.includes(table.model.weights), `provenance lacks the weights: ${provenance}`);
    const rows = await page.$$eval('#neurons tbody tr', (r) => r.length);
    assert.equal(rows, Math.min(500, layer.n_units));
    await page.click('#neurons tbody tr:first-child a');
    await page.waitForSelector('#neuron-images .thumb img', { timeout: 30_000 });
    await page.waitForFunction(() => [...document.querySelectorAll('#neuron-images img')].every((i) => i.complete && i.naturalWidth > 0),
      null, { timeout: 30_000 });
    const shown = await page.$$eval('#neuron-images img', (imgs) => imgs.length);
    console.log(`# [dissect] ${options} tables; ${layer.table}: ${rows} neurons listed; first neuron shows ${shown} probe images`);
    assert.ok(shown >= 1);
    await page.screenshot({ path: path.join(outDir, 'dissect-neuron.png'), fullPage: true });
  } finally {
    await context.close();
  }
});

test('comparison page shows the committed report: agreement of 10 images, objects, sanity, figures', { timeout: 120_000 }, async () => {
  const report = JSON.parse(readFileSync(path.join(repo, 'precomputed', 'report', 'results.json'), 'utf8'));
  const context = await launch({ webgpu: false });
  try {
    const page = await context.newPage();
    watch(page, 'compare');
    await page.goto(`${site.url}compare.html`);
    await page.waitForSelector('#agreement tbody tr', { timeout: 60_000 });
    assert.equal(await page.$$eval('#agreement tbody tr', (r) => r.length), report.images.length);
    assert.equal(await page.$$eval('#faithfulness tbody tr', (r) => r.length), report.images.length + 1, 'one row per image and the mean');
    assert.ok(await page.$$eval('#objects tbody tr', (r) => r.length) > 0, 'object rows');
    assert.ok(await page.$$eval('#sanity tbody tr', (r) => r.length) > 0, 'sanity rows');
    assert.match(await page.textContent("#model"), new RegExp(report.run.model.split(" ")[0]));
    await page.waitForFunction(() => [...document.querySelectorAll('img.figure')].every((i) => i.complete && i.naturalWidth > 0),
      null, { timeout: 30_000 });
    const figures = await page.$$eval('img.figure', (i) => i.length);
    console.log(`# [compare] ${report.images.length} images, ${figures} figures shown; model: ${report.run.model}`);
    await page.screenshot({ path: path.join(outDir, 'compare.png'), fullPage: false });
  } finally {
    await context.close();
  }
});

test('the reports open as HTML, and the comparison tables fit a phone-wide screen', { timeout: 120_000 }, async () => {
  const markdown = readFileSync(path.join(repo, 'precomputed', 'report', 'd2_lime.md'), 'utf8');
  const title = markdown.match(/^# (.*)$/m)[1];
  // Rows of the Markdown tables: pipe lines that are not the header or its rule.
  const lines = markdown.split('\n');
  const bodyRows = lines.filter((l, i) => l.startsWith('|') && !/^\|[-| :]+\|$/.test(l) && !/^\|[-| :]+\|$/.test(lines[i + 1] ?? '')).length;
  const context = await launch({ webgpu: false });
  try {
    const page = await context.newPage();
    watch(page, 'report');
    await page.goto(`${site.url}compare.html`);
    await page.click('a[href="report.html?doc=d2_lime.md"]');
    await page.waitForSelector('#report h1');
    assert.equal(await page.textContent('#report h1'), title.replaceAll('**', ''));
    assert.equal(await page.$$eval('#report tbody tr', (r) => r.length), bodyRows, 'table rows of the Markdown');
    const text = await page.textContent('#report');
    assert.doesNotMatch(text, /\|---|!\[|\*\*/, 'raw Markdown in the rendered report');
    await page.waitForFunction(() => [...document.querySelectorAll('#report img')].every((i) => i.complete && i.naturalWidth > 0),
      null, { timeout: 30_000 });
    const figures = await page.$$eval('#report img', (i) => i.length);
    console.log(`# [report] d2_lime.md: "${title}", ${bodyRows} table rows, ${figures} figures`);
    await page.screenshot({ path: path.join(outDir, 'report-d2-lime.png') });
    // Links between reports stay on the report page.
    await page.goto(`${site.url}report.html?doc=results.md`);
    await page.waitForSelector('#report h1');
    assert.ok(await page.$('#report a[href="report.html?doc=d2_lime.md"]'), 'results.md does not link to the D2 report page');

    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${site.url}compare.html`);
    await page.waitForSelector('#agreement tbody tr', { timeout: 60_000 });
    const widths = await page.evaluate(() => ({ page: document.documentElement.scrollWidth,
      table: document.querySelector('#agreement').scrollWidth, box: document.querySelector('#agreement').parentElement.clientWidth }));
    console.log(`# [compare narrow] page ${widths.page} px wide; agreement table ${widths.table} px in a ${widths.box} px scroll box`);
    assert.ok(widths.page <= 390, `the page is ${widths.page} px wide on a 390 px screen`);
    assert.ok(widths.box <= 390);
    await page.screenshot({ path: path.join(outDir, 'compare-narrow.png') });
  } finally {
    await context.close();
  }
});

test('the dissection page opens on the mission model (ResNet-18) when the run has it, else on the deepest layer', { timeout: 120_000 }, async () => {
  const dissect = path.join(repo, 'precomputed', 'dissect');
  const summary = JSON.parse(readFileSync(path.join(dissect, 'summary.json'), 'utf8'));
  const first = summary.models[0];
  const context = await launch({ webgpu: false });
  try {
    const page = await context.newPage();
    watch(page, 'dissect-default');
    await page.goto(`${site.url}dissect.html`);
    await page.waitForSelector('#histogram .hist-row', { timeout: 60_000 });
    const deepest = first.layers.filter((l) => l.layer !== 'logits').at(-1).table;
    assert.equal(await page.inputValue('#table'), deepest, 'without a ResNet-18 the page opens on the first model\'s deepest layer');

    // A run with the mission's models: the same tables, as a ResNet-18's layers.
    const resnet = { ...first, model: { ...first.model, name: 'resnet18_imagenet1k_v1' },
      layers: ['layer2', 'layer3', 'layer4'].map((layer) => ({ ...first.layers.at(-1), layer, table: `resnet18_imagenet1k_v1_${layer}.json` })) };
    const places = { ...resnet, model: { ...resnet.model, name: 'resnet18_places365' },
      layers: resnet.layers.map((l) => ({ ...l, table: l.table.replace('imagenet1k_v1', 'places365') })) };
    await context.route('**/precomputed/dissect/summary.json', (route) => route.fulfill({ json: { ...summary, models: [...summary.models, places, resnet] } }));
    await context.route('**/precomputed/dissect/resnet18_*.json', (route) => route.fulfill({ path: path.join(dissect, first.layers.at(-1).table) }));
    await page.goto(`${site.url}dissect.html`);
    await page.waitForSelector('#histogram .hist-row', { timeout: 60_000 });
    const opened = await page.inputValue('#table');
    console.log(`# [dissect-default] committed tables: ${deepest}; with the mission's models: ${opened}`);
    assert.equal(opened, 'resnet18_imagenet1k_v1_layer4.json');
  } finally {
    await context.close();
  }
});

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

// ---- the Content-Security-Policy -----------------------------------------------------------------------
test('every page carries the strict Content-Security-Policy, and a violation is seen', { timeout: 120_000 }, async () => {
  const context = await launch({ webgpu: false });
  try {
    for (const file of ['index.html', 'dissect.html', 'compare.html', 'report.html']) {
      const page = await context.newPage();
      watch(page, `csp ${file}`);
      await page.goto(`${site.url}${file}`);
      await page.waitForLoadState('networkidle');
      const policy = await page.evaluate(() => document.querySelector('meta[http-equiv="Content-Security-Policy"]')?.content ?? null);
      assert.ok(policy, `${file} has no Content-Security-Policy <meta>`);
      for (const directive of ["default-src 'self'", "script-src 'self' 'wasm-unsafe-eval'", "worker-src 'self'", "style-src 'self'"]) {
        assert.ok(policy.includes(directive), `${file}: the policy lacks "${directive}": ${policy}`);
      }
      assert.doesNotMatch(policy, /'unsafe-eval'|'unsafe-inline'/, `${file}: ${policy}`);
      assert.deepEqual(takeCspViolations(), [], `${file} broke its policy while loading`);
      // The guard sees a violation: an inline script is refused and reported.
      await page.evaluate(() => {
        const s = document.createElement('script');
        s.textContent = 'window.inlineRan = true;';
        document.head.append(s);
      });
      await page.waitForTimeout(200);
      assert.equal(await page.evaluate(() => window.inlineRan ?? false), false, `${file}: an inline script ran`);
      const seen = takeCspViolations();
      assert.equal(seen.length, 1, `${file}: the inline script's violation was not reported: ${JSON.stringify(seen)}`);
      assert.match(seen[0].directive, /^script-src/);
      await page.close();
    }
  } finally {
    await context.close();
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
