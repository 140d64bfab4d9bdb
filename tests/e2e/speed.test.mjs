// The page's CPU engine (tract compiled to wasm) against the native one, in one run on one machine.
//
// It checks that the wasm package is built with WebAssembly SIMD (`simd128` in the module's target features:
// without it tract-linalg runs its scalar kernels), then times the page's forward pass of the real MobileNet v2
// (the site's batch-8 export) on several sample images and the native CLI's single-thread tract pass of the same graph
// (`glassbox --threads 1 bench --engines cpu`), and prints both and their ratio. The ratio is printed, not
// asserted: on a shared 2-core machine a timing bound would fail by chance, so speed is read from this
// benchmark's output (README "Benchmarks"), never from a timed assertion. The graph is the site's (static batch 8:
// one classification is one batch-8 pass), timed per pass on both sides.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { assertNoCspViolations, guardCsp } from './csp.mjs';
import { serve, sharedDir } from './server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const MODEL = 'mobilenet_v2_1.0_224_b8';
const IMAGES = ['n01443537_goldfish.JPEG', 'n01491361_tiger_shark.JPEG', 'n01608432_kite.JPEG',
  'n01616318_vulture.JPEG', 'n02007558_flamingo.JPEG', 'n04037443_racer.JPEG', 'n07747607_orange.JPEG'];
const WASM = path.join(repo, 'www', 'pkg', 'glassbox_bg.wasm');

let site;
let profile;

function glassboxBin() {
  if (process.env.GLASSBOX_BIN) return process.env.GLASSBOX_BIN;
  return path.join(process.env.CARGO_TARGET_DIR ?? path.join(repo, 'target'), 'debug', 'glassbox');
}

/** The feature names of a wasm module's `target_features` custom section (rustc writes it; wasm-opt keeps it). */
function targetFeatures(bytes) {
  const module = new WebAssembly.Module(bytes);
  const [section] = WebAssembly.Module.customSections(module, 'target_features');
  assert.ok(section, 'the wasm module has no target_features section');
  const data = new Uint8Array(section);
  let at = 0;
  const leb = () => { let v = 0; let shift = 0; let b; do { b = data[at++]; v |= (b & 0x7f) << shift; shift += 7; } while (b & 0x80); return v; };
  const features = [];
  for (let n = leb(); n > 0; n--) {
    const prefix = String.fromCharCode(data[at++]);
    const len = leb();
    features.push(prefix + new TextDecoder().decode(data.subarray(at, at + len)));
    at += len;
  }
  return features;
}

const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

before(async () => {
  assert.ok(existsSync(WASM), `${WASM} is missing: run scripts/build-wasm.sh first`);
  site = await serve();
  profile = mkdtempSync(path.join(os.tmpdir(), 'glassbox-speed-chromium-'));
});

afterEach(assertNoCspViolations);
after(() => {
  site?.server.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

test('the wasm package is built with WebAssembly SIMD', () => {
  const features = targetFeatures(readFileSync(WASM));
  console.log(`# wasm target features: ${features.join(' ')}`);
  assert.ok(features.includes('+simd128'), `simd128 is not among the module's features: ${features.join(' ')}`);
});

test('the page\'s CPU forward pass, timed against the native single-thread one', { timeout: 600_000 }, async () => {
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--disable-quic'] });
  await guardCsp(context);
  const page = await context.newPage();
  page.on('pageerror', (e) => console.log(`# [speed pageerror] ${e.message}`));
  await page.goto(`${site.url}index.html?model=${MODEL}&engine=cpu&autoload=1`);
  await page.waitForSelector('#engine-status[data-state=ready], #engine-status[data-state=error]', { timeout: 300_000 });
  assert.match(await page.textContent('#engine-status'), /ready/, await page.textContent('#model-error'));
  const pageMs = [];
  for (const file of IMAGES) {
    const before = await page.evaluate(() => window.glassbox.prediction ?? null);
    await page.click(`#gallery button[data-file="${file}"]`);
    await page.waitForFunction((old) => {
      const p = window.glassbox.prediction;
      return (p && JSON.stringify(p) !== JSON.stringify(old)) || !document.querySelector('#image-error').hidden;
    }, before, { timeout: 300_000 });
    const prediction = await page.evaluate(() => window.glassbox.prediction);
    assert.ok(prediction.forward_ms > 0, `${file}: no forward time`);
    pageMs.push(prediction.forward_ms);
  }
  await context.close();
  // The first pass also warms the plan's buffers up; the native bench does an untimed warm-up pass too.
  const pageMedian = median(pageMs.slice(1));

  const json = path.join(mkdtempSync(path.join(os.tmpdir(), 'glassbox-speed-')), 'bench.json');
  execFileSync(glassboxBin(), ['--threads', '1', 'bench', '--engines', 'cpu', '--methods', '', '--rounds', '1',
    '--passes', '5', '--models', path.join(repo, 'models', `${MODEL}.json`), '--json', json],
  { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, GLASSBOX_SHARED: path.join(sharedDir(), 'data') } });
  const native = JSON.parse(readFileSync(json, 'utf8')).forward[0];
  rmSync(path.dirname(json), { recursive: true, force: true });
  const nativeMs = native.per_image_ms.map((v) => v * native.batch);
  const nativeMedian = median(nativeMs);
  console.log(`# ${MODEL} forward pass (batch ${native.batch}): page (wasm, CPU engine) ${pageMs.map((v) => v.toFixed(0)).join(', ')} ms ` +
    `(median of the last ${pageMs.length - 1}: ${pageMedian.toFixed(0)} ms); native tract 1 thread ` +
    `${nativeMs.map((v) => v.toFixed(0)).join(', ')} ms (median ${nativeMedian.toFixed(0)} ms); ` +
    `page ÷ native = ${(pageMedian / nativeMedian).toFixed(2)}`);
  assert.ok(Number.isFinite(pageMedian / nativeMedian));
});
