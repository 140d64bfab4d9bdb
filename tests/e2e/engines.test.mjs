// The explain page on both engines, in Debian's headless Chromium (playwright-core; no browser download), on the
// real MobileNet v2 (ImageNet weights) from shared/data, against the native CLI (`glassbox explain`, CPU engine):
//   1. Chromium exposes a WebGPU adapter (SwiftShader here);
//   2. WebGPU path: the page loads the model through wonnx, classifies a sample image, runs Grad-CAM and LIME
//      (E2E_LIME_SAMPLES samples); the CAM read back from the page equals the native CLI's to 1e-3, the top-1
//      class matches, and LIME's superpixels and top-5 mask equal the native ones for the same seed;
//   3. no-WebGPU path (Chromium without --enable-unsafe-webgpu): the page says so, falls back to the CPU engine
//      (tract in wasm) and gives the same numbers;
//   4. the explain page's agreement table (Grad-CAM against LIME, CPU engine, LIME with AGREEMENT_LIME samples)
//      shows the numbers `glassbox compare --explained` computes from the native CLI's explanation of the same
//      image, and its threshold slider moves the threshold IoU to `compare --threshold T`'s;
//   5. "auto" takes the CPU engine when the only WebGPU adapter is a software one (SwiftShader), and says so.
// Screenshots are written to $E2E_OUT (default tests/e2e/artifacts/); precomputed/site/ keeps the ones looked at
// (its README says what each shows). Shared pieces: helpers.mjs.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { sharedDir } from './server.mjs';
import { readNpy } from './npy.mjs';
import { glassboxBin, launch, MODEL, outDir, repo, SAMPLE, site, tempDir, useSite, watch } from './helpers.mjs';

useSite();

// SwiftShader runs WebGPU on the CPU: one batch-8 MobileNet v2 pass takes tens of seconds here.
const LIME = { samples: Number(process.env.E2E_LIME_SAMPLES ?? 16), seed: 0 };
const CAM_TOLERANCE = 1e-3;

let native;

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

before(() => {
  native = nativeReference();
});

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
