// What the browser tests of the site share: the served site, Chromium launched with the Content-Security-Policy
// guard, the native CLI, temporary folders, and the small real model's page as a visitor uses it.
import { before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { serve, sharedDir } from './server.mjs';
import { assertNoCspViolations, guardCsp } from './csp.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, '..', '..');
export const outDir = process.env.E2E_OUT ?? path.join(here, 'artifacts');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const MODEL = 'mobilenet_v2_1.0_224_b8';
export const SAMPLE = 'n01443537_goldfish.JPEG';
const BASE_FLAGS = ['--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--disable-quic'];

const tempDirs = [];

export function tempDir(prefix) {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** The native CLI: $GLASSBOX_BIN, else the debug build in the cargo target dir (built if missing). */
export function glassboxBin() {
  if (process.env.GLASSBOX_BIN) return process.env.GLASSBOX_BIN;
  const target = process.env.CARGO_TARGET_DIR ?? path.join(repo, 'target');
  const bin = path.join(target, 'debug', 'glassbox');
  if (!existsSync(bin)) {
    console.log(`# building the native CLI (${bin})`);
    execFileSync('cargo', ['build', '-p', 'glassbox', '--bin', 'glassbox'], { cwd: repo, stdio: 'inherit' });
  }
  return bin;
}

export async function launch({ webgpu }) {
  const flags = [...BASE_FLAGS, ...(webgpu ? ['--enable-unsafe-webgpu'] : [])];
  // A fresh profile every time: no cached shaders, no state from earlier runs.
  const context = await chromium.launchPersistentContext(tempDir('glassbox-chromium-'), { executablePath: CHROMIUM,
    headless: true, args: flags, viewport: { width: 1200, height: 1100 } });
  await guardCsp(context);
  return context;
}

export function watch(page, tag) {
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') console.log(`# [${tag} console.${m.type()}] ${m.text()}`); });
  page.on('pageerror', (e) => console.log(`# [${tag} pageerror] ${e.message}`));
}

/** The site every test of a file uses, served from www/ with the development mounts (server.mjs) once its `before` ran. */
export const site = {};

/**
 * Registers a test file's hooks: the site served before its tests (the wasm package must be built), the
 * temporary folders removed after, and no Content-Security-Policy violation in any test (csp.mjs).
 */
export function useSite() {
  before(async () => {
    mkdirSync(outDir, { recursive: true });
    const wasm = path.join(repo, 'www', 'pkg', 'glassbox_bg.wasm');
    assert.ok(existsSync(wasm), `${wasm} is missing: run scripts/build-wasm.sh first`);
    const bytes = readFileSync(wasm);
    console.log(`# wasm size: ${bytes.length} bytes raw, ${gzipSync(bytes, { level: 9 }).length} bytes gzip`);
    Object.assign(site, await serve());
    console.log(`# site at ${site.url} (shared data from ${sharedDir()})`);
  });
  after(() => {
    site.server?.close();
    for (const d of tempDirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  afterEach(assertNoCspViolations);
}

// ---- the small real model (MobileNet v1 0.25 128, CPU engine: fast and deterministic), as a visitor uses it
export const SMALL_MODEL = 'mobilenet_v1_0.25_128_b8';
export const SHARK = 'n01491361_tiger_shark.JPEG';

/** The explain page with the small model selected, not loaded. */
export async function openExplain(context, tag, query = '') {
  const page = await context.newPage();
  watch(page, tag);
  await page.goto(`${site.url}index.html?model=${SMALL_MODEL}&engine=cpu${query}`);
  return page;
}

export async function pickImage(page, file) {
  const before = await page.evaluate(() => window.glassbox.imageId);
  await page.click(`#gallery button[data-file="${file}"]`);
  await page.waitForFunction((before) => window.glassbox.imageId !== before, before);
}

export async function waitForPrediction(page, file) {
  await page.waitForFunction((f) => window.glassbox.imageName === f && window.glassbox.prediction ||
    !document.querySelector('#image-error').hidden, file, { timeout: 300_000 });
  const error = await page.evaluate(() => document.querySelector('#image-error').hidden ? null : document.querySelector('#image-error').textContent);
  assert.equal(error, null, `classification failed: ${error}`);
}

/** Starts LIME with `samples` and waits until at least `done` samples are predicted. */
export async function startLime(page, samples, done) {
  await page.fill('#lime-samples', String(samples));
  await page.fill('#lime-seed', '0');
  await page.click('.method[data-method=lime] .run');
  await page.waitForFunction((n) => document.querySelector('.method[data-method=lime] progress').value >= n &&
    /LIME forward passes/.test(document.querySelector('.method[data-method=lime] .stage').textContent), done, { timeout: 300_000 });
}

export async function downloadJson(page) {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-json')]);
  return { name: download.suggestedFilename(), numbers: JSON.parse(readFileSync(await download.path(), 'utf8')) };
}

/** RGBA pixels of a method card's picture. */
export const cardPixels = (page, method) => page.evaluate((m) => {
  const canvas = document.querySelector(`.method[data-method=${m}] canvas`);
  return Array.from(canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data);
}, method);
