// The outputs of `scripts/reproduce.sh --quick --mirror DIR --test-mirror` (folder $GLASSBOX_REPRODUCE_OUT;
// scripts/test-reproduce.sh makes it and runs this file):
//   1. the files the run promises: OUT/site with index.html, the 10 sample images and the ResNet-50 graph;
//      dissection tables of layer2/3/4 of both ResNet-18s made with the CLIP matcher on the Broden-shaped
//      probe set, the Places365 one with its agreement with CLIP-Dissect's published (20k) labels, and the
//      paper's Table 2 and Table 3 replicated on the final layers; D1-D4 naming ResNet-50, never MobileNet;
//   2. "TEST MIRROR" in every output (manifests, tables, report text and figure captions, site, records);
//   3. the site served by a plain static server under a project sub-path (/glassbox/, as on GitHub Pages)
//      loads in Chromium and shows the test-mirror banner; a gallery image shows the run's explanations at
//      once (its pictures byte for byte, its top-5 and agreement table) with no engine or model downloaded and
//      no forward pass; "Compute here" loads the batch-1 graph on the CPU engine, classifies the image with one
//      pass and runs Grad-CAM equal to the native `glassbox explain` map of the same run; the dissection page opens;
//   4. ResNet-50 in the page (the run's seeded random export: the real model's cost): the per-image pass at batch
//      1 and 8 beside native tract on one thread, LIME with 1 and 2 workers (equal bit for bit; the seconds and
//      the speed-up printed, not asserted), and one pass on WebGPU (SwiftShader) equal to the CPU engine's
//      (top-5 logits within 1e-4 × their scale, Grad-CAM within 1e-3).
// Without $GLASSBOX_REPRODUCE_OUT the tests are skipped with that reason, except under CI=true, where they fail.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { assertNoCspViolations, guardCsp } from './csp.mjs';
import { serve } from './server.mjs';
import { readNpy } from './npy.mjs';
import { driveWorker, median } from './worker-driver.mjs';

const OUT = process.env.GLASSBOX_REPRODUCE_OUT;
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const BANNER = 'TEST MIRROR — not the official weights';
const MODEL = 'resnet50_imagenet1k_v2_b8';
const CPU_MODEL = 'resnet50_imagenet1k_v2_b1';
// LIME samples of the pool test (1 against 2 workers), and the images whose passes are timed.
const POOL_LIME = { samples: 32, seed: 0 };
const TIMED = ['n01443537_goldfish.JPEG', 'n01491361_tiger_shark.JPEG', 'n01608432_kite.JPEG', 'n01616318_vulture.JPEG'];
const BASE_FLAGS = ['--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--disable-quic'];
const SAMPLE = 'n01443537_goldfish.JPEG';
const RESNET18S = ['resnet18_imagenet1k_v1', 'resnet18_places365'];
const LAYERS = ['layer2', 'layer3', 'layer4'];
const skip = OUT ? false : 'set GLASSBOX_REPRODUCE_OUT to the output of scripts/reproduce.sh --quick --test-mirror';
if (!OUT && process.env.CI === 'true') throw new Error(`CI=true: ${skip}`);

const json = (...parts) => JSON.parse(readFileSync(path.join(OUT, ...parts), 'utf8'));
const text = (...parts) => readFileSync(path.join(OUT, ...parts), 'utf8');
let site;
let profile;

before(async () => {
  if (skip) return;
  site = await serve({ mounts: [['/glassbox/', path.join(OUT, 'site')]] });
  profile = mkdtempSync(path.join(os.tmpdir(), 'glassbox-chromium-'));
});
afterEach(assertNoCspViolations);
after(() => {
  site?.server.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

test('the site folder holds the pages, the 10 sample images and the ResNet-50 graph', { skip }, () => {
  const siteDir = path.join(OUT, 'site');
  for (const f of ['index.html', 'dissect.html', 'compare.html', 'pkg/glassbox_bg.wasm', 'site.json',
    `models/${MODEL}.json`, 'precomputed/dissect/summary.json', 'precomputed/report/results.json']) {
    assert.ok(existsSync(path.join(siteDir, f)), `OUT/site/${f} is missing`);
  }
  const manifest = JSON.parse(readFileSync(path.join(siteDir, 'models', `${MODEL}.json`), 'utf8'));
  assert.ok(existsSync(path.join(siteDir, 'models', manifest.onnx)), 'the ResNet-50 ONNX is in the site');
  assert.deepEqual(manifest.input.shape, [8, 3, 224, 224]);
  // The CPU engine's batch-1 graph of the same model, which the page loads on the CPU engine.
  const entry = JSON.parse(readFileSync(path.join(siteDir, 'site.json'), 'utf8')).models[0];
  assert.equal(entry.cpu_manifest, `models/${CPU_MODEL}.json`);
  const cpuManifest = JSON.parse(readFileSync(path.join(siteDir, 'models', `${CPU_MODEL}.json`), 'utf8'));
  assert.ok(existsSync(path.join(siteDir, 'models', cpuManifest.onnx)), 'the batch-1 ResNet-50 ONNX is in the site');
  assert.deepEqual(cpuManifest.input.shape, [1, 3, 224, 224]);
  const samples = readdirSync(path.join(siteDir, 'shared', 'data', 'imagenet-samples')).filter((f) => f.endsWith('.JPEG'));
  assert.equal(samples.length, 10);
  for (const html of ['index.html', 'dissect.html', 'compare.html']) {
    assert.doesNotMatch(readFileSync(path.join(siteDir, html), 'utf8'), /(src|href)="\//, `${html} has an absolute URL`);
  }
});

test('dissection: layer2/3/4 of both ResNet-18s with CLIP on Broden, the published-label check, the replicated tables', { skip }, () => {
  const summary = json('precomputed', 'dissect', 'summary.json');
  for (const model of RESNET18S) {
    for (const layer of LAYERS) {
      const table = json('precomputed', 'dissect', `${model}_${layer}.json`);
      assert.equal(table.matcher.kind, 'clip', `${model}_${layer}: matcher`);
      assert.match(table.matcher.model, /CLIP ViT-B\/16/);
      assert.ok(table.units.length > 0);
      assert.equal(table.probe.n_images, 48, 'the quick run probes 48 images');
      assert.equal(table.probe.folder, 'broden1_224_images', 'the extracted broden1_224/images');
      assert.match(table.probe.description, /Broden 1\.0/);
      assert.match(table.probe.subset, /every 3rd image \(80 of 240\), then the first 48/);
      assert.ok(table.units.every((u) => u.top_images.every((t) => t.id.endsWith('.jpg'))), 'a PNG mask probed');
    }
  }
  const pair = summary.pairs.find((p) => p.models.includes(RESNET18S[0]) && p.models.includes(RESNET18S[1]));
  assert.ok(pair, 'the two ResNet-18s are compared');
  for (const layer of LAYERS) {
    const table = json('precomputed', 'dissect', `resnet18_places365_${layer}.json`);
    assert.equal(table.concept_set.name, '20k_first100');
    const p = table.published;
    assert.ok(p, `${layer}: no comparison with the published labels`);
    assert.equal(p.units_compared, table.units.length);
    assert.match(p.description, /ImageNet val \+ Broden; ours: TEST MIRROR/);
    assert.ok(p.same_label_share >= 0 && p.same_label_share <= 1);
    assert.ok(p.mean_text_similarity > -1 && p.mean_text_similarity <= 1);
  }
  // The paper's Table 2 (ResNet-18 Places365 fc, Broden concepts) and Table 3 (ResNet-50 V1 fc).
  const replication = (name) => json('precomputed', 'dissect', 'replication', `${name}_logits.json`).replication;
  const t2 = replication('resnet18_places365_table2');
  assert.equal(t2.published.top1, 58.0524);
  assert.equal(t2.units, 365);
  assert.ok(t2.units_with_truth > 0 && t2.units_with_truth < 365, 'only classes Broden has a scene for');
  for (const k of ['top1', 'top5']) assert.ok(t2.ours[k] >= 0 && t2.ours[k] <= 100 && t2.chance[k] > 0);
  const t3 = replication('resnet50_imagenet1k_v1_table3_imagenet_labels');
  assert.equal(t3.published.top1, 70.7);
  assert.equal(t3.units, 1000);
  const t3b = replication('resnet50_imagenet1k_v1_table3_20k');
  assert.equal(t3b.published.clip_similarity, 0.7412);
  assert.equal(t3b.ours.top1, undefined, 'the 20k table has no accuracy');
  assert.ok(t3b.ours.clip_similarity > -1 && t3b.ours.clip_similarity <= 1);
  const d1 = text('precomputed', 'report', 'd1_dissection.md');
  assert.match(d1, /Agreement with the published labels/);
  assert.match(d1, /resnet18_places_imagenet_broden\.csv/);
});

test('the report names ResNet-50, never MobileNet, and answers from the run', { skip }, () => {
  for (const doc of ['d1_dissection.md', 'd2_lime.md', 'd3_cams.md', 'd4_insights.md', 'results.md']) {
    const body = text('precomputed', 'report', doc);
    assert.doesNotMatch(body, /mobilenet/i, `${doc} names a MobileNet`);
    if (doc !== 'd1_dissection.md') assert.match(body, /ResNet-50/, `${doc} does not name ResNet-50`);
  }
  const results = json('precomputed', 'report', 'results.json');
  assert.equal(results.images.length, 2, 'the quick run explains 2 images');
  assert.match(text('precomputed', 'report', 'd4_insights.md'), /Simple vs cluttered/);
});

test('every output says TEST MIRROR', { skip }, () => {
  const record = json('reproduce.json');
  assert.equal(record.test_mirror, true);
  assert.equal(record.banner, BANNER);
  assert.equal(json('site', 'site.json').banner, BANNER);
  for (const f of readdirSync(path.join(OUT, 'models')).filter((n) => n.endsWith('.json'))) {
    const m = json('models', f);
    assert.equal(m.test_mirror, true, `${f}: test_mirror`);
    assert.ok(m.description.startsWith(BANNER), `${f}: ${m.description}`);
  }
  for (const f of readdirSync(path.join(OUT, 'precomputed', 'dissect')).filter((n) => n.endsWith('.json'))) {
    assert.ok(text('precomputed', 'dissect', f).includes(BANNER), `${f} does not say ${BANNER}`);
  }
  for (const doc of ['d1_dissection.md', 'd2_lime.md', 'd3_cams.md', 'd4_insights.md', 'results.md']) {
    const body = text('precomputed', 'report', doc);
    assert.ok(body.split('\n').slice(0, 4).join('\n').includes(BANNER), `${doc}: no banner under the title`);
    const captions = [...body.matchAll(/!\[([^\]]*)\]/g)].map((m) => m[1]);
    for (const c of captions) assert.ok(c.startsWith(BANNER), `${doc}: the caption "${c}" lacks the banner`);
  }
  assert.ok(json('precomputed', 'report', 'results.json').run.warning.startsWith(BANNER));
  for (const dir of readdirSync(path.join(OUT, 'explain'))) {
    assert.ok(json('explain', dir, 'explanation.json').model.description.startsWith(BANNER), `explain/${dir}`);
  }
});

test('the site under a sub-path: the run\'s explanations at once; computed here, Grad-CAM equal to the native run; dissection page', { skip, timeout: 900_000 }, async () => {
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--no-first-run', '--disable-background-networking'], viewport: { width: 1200, height: 1100 } });
  await guardCsp(context);
  try {
    const page = await context.newPage();
    const notFound = [];
    page.on('response', (r) => { if (r.status() === 404) notFound.push(r.url()); });
    page.on('pageerror', (e) => console.log(`# [reproduced pageerror] ${e.message}`));
    const engineFiles = [];
    // Downloads of the engine or a model (the page asks their sizes with HEAD requests, which download nothing).
    page.on('request', (r) => {
      if (r.method() !== 'HEAD' && /\.(wasm|onnx)$/.test(new URL(r.url()).pathname)) engineFiles.push(r.url());
    });
    await page.goto(`${site.url}glassbox/index.html?model=${MODEL}&engine=cpu`);
    assert.match(await page.textContent('.site-banner'), /TEST MIRROR/);

    // Before any model is loaded, a gallery image the run explained shows what the run computed: its files, as
    // they are, with no engine or model downloaded and no forward pass.
    await page.click(`#gallery button[data-file="${SAMPLE}"]`);
    await page.waitForSelector('#run-results:not([hidden])', { timeout: 60_000 });
    const stem = path.parse(SAMPLE).name;
    const record = json('explain', stem, 'explanation.json');
    const shown = await page.evaluate(async () => {
      const images = {};
      for (const img of document.querySelectorAll('#run-methods img')) {
        const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
        images[img.closest('figure').dataset.runMethod] = { width: img.naturalWidth, bytes: Array.from(bytes) };
      }
      return { images, passes: document.body.dataset.forwardPasses ?? null, model: window.glassbox.model,
        top5: [...document.querySelectorAll('#run-top5 li')].map((li) => li.textContent),
        cards: Object.fromEntries([...document.querySelectorAll('#run-methods figure')]
          .map((f) => [f.dataset.runMethod, f.textContent])),
        agreement: [...document.querySelectorAll('#run-agreement-table tbody tr')]
          .map((tr) => [tr.dataset.method, ...[...tr.cells].slice(1).map((td) => td.textContent)]),
        provenance: document.querySelector('#run-provenance').textContent };
    });
    console.log(`# [reproduced site] the run's explanation of ${SAMPLE}: ${Object.keys(shown.images).join(', ')}; ` +
      `engine files requested: ${engineFiles.length}; forward passes: ${shown.passes ?? 0}`);
    assert.equal(shown.passes, null, 'a forward pass ran');
    assert.equal(shown.model, null, 'a model was loaded');
    assert.deepEqual(engineFiles, [], 'the engine or the model was downloaded');
    assert.deepEqual(shown.top5.map((t) => t.split(' (#')[0]), record.top5.map((p) => p.label));
    assert.match(shown.provenance, new RegExp(`${record.engine.replace(/[().]/g, '\\$&')}.*Resize\\(232\\) \\+ CenterCrop\\(224\\)`));
    const pictures = { gradcam: 'gradcam.png', ablationcam: 'ablationcam.png', scorecam: 'scorecam.png', lime: 'lime.png' };
    for (const [method, file] of Object.entries(pictures)) {
      const ran = existsSync(path.join(OUT, 'explain', stem, file));
      if (!ran) {
        assert.match(shown.cards[method], /not computed by this run/, method);
        continue;
      }
      assert.ok(shown.images[method]?.width > 0, `${method}: the run's picture is not shown`);
      assert.deepEqual(Buffer.from(shown.images[method].bytes), readFileSync(path.join(OUT, 'explain', stem, file)),
        `${method}: the picture shown is not the run's file`);
    }
    assert.equal(shown.cards.scorecam.includes('not computed'), true, 'the quick run computes no ScoreCAM');
    const expected = record.agreement.cams.filter((row) => ['gradcam', 'ablationcam', 'scorecam'].includes(row.method))
      .map((row) => [row.method, ...[row.agreement.iou_same_count, row.agreement.iou_top20, row.iou_at_threshold,
        row.agreement.spearman].map((v) => (v === null ? '–' : v.toFixed(3))), row.agreement.pointing_hit ? 'hit' : 'miss']);
    assert.deepEqual(shown.agreement, expected);
    await page.screenshot({ path: path.join(OUT, 'site-run-explanation.png'), fullPage: true });

    // "Compute here": the model loads and the same image is classified in the page.
    await page.click('#compute-here');
    await page.waitForSelector('#engine-status[data-state=ready], #engine-status[data-state=error]', { timeout: 300_000 });
    assert.match(await page.textContent('#engine-status'), /ready/, await page.textContent('#model-error'));
    await page.waitForFunction(() => document.querySelectorAll('#top5 li').length === 5 || !document.querySelector('#image-error').hidden,
      null, { timeout: 600_000 });
    assert.equal(await page.isHidden('#run-results'), true, 'the run\'s explanation stays beside the computed one');
    assert.equal(await page.evaluate(() => window.glassbox.imageName), SAMPLE);
    // The CPU engine loaded the batch-1 graph: the image cost one pass of one image, not a padded batch of 8.
    const loaded = await page.evaluate(() => ({ batch: window.glassbox.model.batch, manifest: window.glassbox.model.manifestUrl,
      passes: document.body.dataset.forwardPasses }));
    assert.equal(loaded.batch, 1);
    assert.ok(loaded.manifest.endsWith(`models/${CPU_MODEL}.json`), loaded.manifest);
    assert.equal(loaded.passes, '1');
    await page.click('.method[data-method=gradcam] .run');
    await page.waitForFunction(() => (document.body.dataset.explained ?? '').split(',').includes('gradcam') ||
      !document.querySelector('#explain-error').hidden, null, { timeout: 600_000 });
    const map = await page.evaluate(() => Array.from(window.glassbox.results.gradcam.map));
    const native = readNpy(path.join(OUT, 'explain', path.parse(SAMPLE).name, 'gradcam.npy'));
    let diff = 0;
    for (let i = 0; i < map.length; i++) diff = Math.max(diff, Math.abs(map[i] - native.data[i]));
    console.log(`# [reproduced site] Grad-CAM max |page - native explain| = ${diff.toExponential(2)}`);
    assert.equal(map.length, native.data.length);
    assert.ok(diff <= 1e-3, `Grad-CAM in the page differs from the run's by ${diff}`);
    await page.screenshot({ path: path.join(OUT, 'site-explain.png'), fullPage: true });

    await page.goto(`${site.url}glassbox/dissect.html#table=resnet18_places365_layer3.json`);
    await page.waitForSelector('#histogram .hist-row', { timeout: 60_000 });
    assert.match(await page.textContent('.site-banner'), /TEST MIRROR/);
    assert.match(await page.textContent('#published'), /have the published label \(chance/);
    assert.match(await page.textContent('#provenance'), /Broden 1\.0.*every 3rd image/);
    await page.waitForSelector('#replication:not([hidden]) tbody tr', { timeout: 60_000 });
    const replicated = await page.$$eval('#replication tbody tr', (rows) => rows.map((r) => r.textContent));
    assert.ok(replicated.some((r) => /table2_quantitative_rn18.*top-1 accuracy.*58\.05%/.test(r)), replicated.join('\n'));
    assert.ok(replicated.some((r) => /20k.*CLIP similarity.*0\.7412/.test(r)), replicated.join('\n'));
    await page.screenshot({ path: path.join(OUT, 'site-dissect.png'), fullPage: false });
    assert.deepEqual(notFound, [], `files the site asked for and does not have: ${notFound.join(', ')}`);
  } finally {
    await context.close();
  }
});

/** The worker of the site's script on `manifest` and `engine`, the TIMED images classified (worker-driver.mjs). */
function inWorker(page, { manifest, engine, method = null, images = TIMED }) {
  return driveWorker(page, { manifestUrl: new URL(`models/${manifest}.json`, `${site.url}glassbox/`).href, engine, method,
    images: images.map((name) => new URL(`shared/data/imagenet-samples/${name}`, `${site.url}glassbox/`).href) });
}

/** LIME of SAMPLE with POOL_LIME on the explain page with `workers` CPU workers: its numbers and seconds. */
async function limeInPage(context, workers) {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.log(`# [pool pageerror] ${e.message}`));
  await page.goto(`${site.url}glassbox/index.html?model=${MODEL}&engine=cpu&workers=${workers}&autoload=1`);
  await page.waitForSelector('#engine-status[data-state=ready], #engine-status[data-state=error]', { timeout: 300_000 });
  assert.match(await page.textContent('#engine-status'), /ready/, await page.textContent('#model-error'));
  await page.waitForFunction((n) => document.body.dataset.workersReady === String(n), workers, { timeout: 300_000 });
  const pool = await page.textContent('#pool-status');
  await page.click(`#gallery button[data-file="${SAMPLE}"]`);
  await page.waitForFunction(() => document.querySelectorAll('#top5 li').length === 5 || !document.querySelector('#image-error').hidden,
    null, { timeout: 300_000 });
  await page.waitForSelector('#run-results', { state: 'hidden' });
  const defaults = { samples: await page.inputValue('#lime-samples'), estimate: await page.textContent('#estimate-all') };
  await page.fill('#lime-samples', String(POOL_LIME.samples));
  await page.fill('#lime-seed', String(POOL_LIME.seed));
  const estimate = await page.textContent('#methods .method[data-method=lime] .estimate');
  const t0 = Date.now();
  await page.click('#methods .method[data-method=lime] .run');
  await page.waitForFunction(() => (document.body.dataset.explained ?? '').split(',').includes('lime') ||
    !document.querySelector('#explain-error').hidden, null, { timeout: 600_000 });
  const seconds = (Date.now() - t0) / 1000;
  assert.equal(await page.isHidden('#explain-error'), true, await page.textContent('#explain-error'));
  const lime = await page.evaluate(() => {
    const r = window.glassbox.results.lime;
    return { weights: Array.from(r.weights), mask: Array.from(r.mask), segments: Array.from(r.segments),
      intercept: r.intercept, score: r.score, samples: r.samples_used, timing: r.timing };
  });
  await page.close();
  return { lime, seconds, pool, estimate, defaults };
}

test('ResNet-50 in the page: a pass at batch 1 and 8 beside native tract on one thread; LIME on 1 and 2 workers, equal bit for bit; one pass on WebGPU equal to the CPU engine', { skip, timeout: 1_800_000 }, async () => {
  // Native tract, one thread, on the same two graphs (the run's seeded random export: the real model's cost).
  const bin = process.env.GLASSBOX_BIN ?? path.join(process.env.CARGO_TARGET_DIR ?? path.resolve('..', '..', 'target'), 'debug', 'glassbox');
  const benchDir = mkdtempSync(path.join(os.tmpdir(), 'glassbox-bench-'));
  const benchJson = path.join(benchDir, 'bench.json');
  execFileSync(bin, ['--threads', '1', 'bench', '--engines', 'cpu', '--methods', '', '--rounds', '1', '--passes', '3',
    '--models', path.join(OUT, 'models', `${CPU_MODEL}.json`), path.join(OUT, 'models', `${MODEL}.json`), '--json', benchJson],
  { stdio: ['ignore', 'ignore', 'inherit'] });
  const nativeRows = JSON.parse(readFileSync(benchJson, 'utf8')).forward;
  rmSync(benchDir, { recursive: true, force: true });
  const nativePerImage = Object.fromEntries(nativeRows.map((r) => [r.batch, median(r.per_image_ms)]));

  const context = await chromium.launchPersistentContext(mkdtempSync(path.join(os.tmpdir(), 'glassbox-pool-chromium-')),
    { executablePath: CHROMIUM, headless: true, args: [...BASE_FLAGS, '--enable-unsafe-webgpu'], viewport: { width: 1200, height: 1100 } });
  await guardCsp(context);
  try {
    const page = await context.newPage();
    await page.goto(`${site.url}glassbox/index.html`);
    const perImage = {};
    for (const [batch, manifest] of [[1, CPU_MODEL], [8, MODEL]]) {
      const run = await inWorker(page, { manifest, engine: 'cpu' });
      assert.equal(run.error, undefined, run.error);
      assert.equal(run.info.batch, batch);
      // The first pass also warms the plan up (the native bench has an untimed warm-up pass).
      perImage[batch] = median(run.forwardMs.slice(1)) / batch;
      console.log(`# [resnet50 speed] batch ${batch}: load ${(run.loadMs / 1000).toFixed(1)} s, wasm memory after the load ` +
        `${run.info.memoryMb.toFixed(0)} MB (the ONNX file: ${(statSync(path.join(OUT, 'models', manifest.replace('.json', '') + '.onnx')).size / 1e6).toFixed(0)} MB); passes ` +
        `${run.forwardMs.map((v) => v.toFixed(0)).join(', ')} ms; per image: page ${perImage[batch].toFixed(0)} ms, ` +
        `native tract 1 thread ${nativePerImage[batch].toFixed(0)} ms, page ÷ native ${(perImage[batch] / nativePerImage[batch]).toFixed(2)}`);
      assert.ok(Number.isFinite(perImage[batch]) && perImage[batch] > 0);
    }

    // LIME through the explain page with one worker and with a pool of two: the same numbers, bit for bit.
    const one = await limeInPage(context, 1);
    const two = await limeInPage(context, 2);
    console.log(`# [resnet50 pool] LIME ${POOL_LIME.samples} samples: 1 worker ${one.seconds.toFixed(1)} s, ` +
      `2 workers ${two.seconds.toFixed(1)} s, speed-up ${(one.seconds / two.seconds).toFixed(2)}× ` +
      `(${os.cpus().length} cores here); estimates shown: "${one.estimate}" / "${two.estimate}"; ${two.pool}`);
    assert.equal(one.lime.samples, POOL_LIME.samples);
    // ResNet-50 on this machine's CPU: the tutorial's 1000 samples would take minutes, so the default stays 300 and
    // the page says what 1000 would take.
    assert.equal(one.defaults.samples, '300', one.defaults.estimate);
    assert.match(one.defaults.estimate, /LIME with the tutorial's 1000 samples: about \d+ min\./);
    assert.deepEqual(two.lime.segments, one.lime.segments);
    assert.deepEqual(two.lime.mask, one.lime.mask);
    assert.deepEqual(two.lime.weights, one.lime.weights, 'the pool\'s LIME weights differ from one worker\'s');
    assert.equal(two.lime.intercept, one.lime.intercept);
    assert.equal(two.lime.score, one.lime.score);
    assert.match(two.pool, /2 of 2 workers ready/);

    // One ResNet-50 pass on WebGPU (SwiftShader here: the batch-1 graph) equals the CPU engine's.
    const cpu = await inWorker(page, { manifest: CPU_MODEL, engine: 'cpu', method: 'gradcam', images: [SAMPLE] });
    const gpu = await inWorker(page, { manifest: CPU_MODEL, engine: 'webgpu', method: 'gradcam', images: [SAMPLE] });
    assert.equal(gpu.error, undefined, gpu.error);
    assert.equal(gpu.info.kind, 'webgpu');
    const logits = (p) => p.top.map((c) => c.logit);
    const scale = Math.max(...logits(cpu.first).map(Math.abs));
    const logitDiff = Math.max(...logits(gpu.first).map((v, i) => Math.abs(v - logits(cpu.first)[i])));
    let mapDiff = 0;
    for (let i = 0; i < cpu.first.map.length; i++) mapDiff = Math.max(mapDiff, Math.abs(gpu.first.map[i] - cpu.first.map[i]));
    console.log(`# [resnet50 webgpu] ${gpu.info.label ?? gpu.info.engine}: load ${(gpu.loadMs / 1000).toFixed(1)} s, one pass ` +
      `${gpu.forwardMs[0].toFixed(0)} ms (CPU engine ${cpu.forwardMs[0].toFixed(0)} ms); top-5 logits max |Δ| ` +
      `${logitDiff.toExponential(2)} (scale ${scale.toFixed(2)}); Grad-CAM max |Δ| ${mapDiff.toExponential(2)}`);
    assert.deepEqual(gpu.first.top.map((c) => c.class), cpu.first.top.map((c) => c.class));
    assert.ok(logitDiff <= 1e-4 * scale, `WebGPU logits differ from the CPU engine's by ${logitDiff} (scale ${scale})`);
    assert.ok(mapDiff <= 1e-3, `WebGPU Grad-CAM differs from the CPU engine's by ${mapDiff}`);
  } finally {
    await context.close();
  }
});
