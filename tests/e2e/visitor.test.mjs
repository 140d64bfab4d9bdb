// A visitor's session on the explain page (MobileNet v1 0.25 on the CPU engine), in headless Chromium:
//   1. the download sizes before anything loads and the wasm only at load; two images picked before the model is
//      ready cost one forward pass (counted by the wasm) and show the last;
//   2. LIME cancelled midway is kept, labelled partial, equal to the native CLI with that many samples, and can be
//      discarded; the estimates count each method's real passes (AblationCAM and Grad-CAM none);
//   3. a pool of 2 CPU workers: LIME equal to one worker's bit for bit, ScoreCAM within 1e-6, the same number of
//      forward passes (the seconds of each printed), and the tutorial's 1000 LIME samples by default here;
//   4. switching image during LIME drops the old image's reply, so the drawn mask and the JSON download belong to
//      the new image.
// Screenshots are written to $E2E_OUT (default tests/e2e/artifacts/); precomputed/site/ keeps the ones looked at
// (its README says what each shows). Shared pieces: helpers.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { sharedDir } from './server.mjs';
import { readNpy } from './npy.mjs';
import { cardPixels, downloadJson, glassboxBin, launch, openExplain, outDir, pickImage, repo, SAMPLE, SHARK, SMALL_MODEL, startLime, tempDir, useSite, waitForPrediction } from './helpers.mjs';

useSite();

// Enough LIME samples that a run is still going when the test acts on it.
const LONG_LIME = 5000;

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
