// The explain page's engines timed in headless Chromium on this machine's GPU: a one-shot measurement for a
// machine with a real GPU and its Vulkan driver (scripts/gpu-bench.sh runs it after the native bench). Not a test.
//
//   node gpu-page-bench.mjs [--lime-samples 1000] [--out bench-page.json] [--allow-software] B1.json B8.json
//
// For each manifest (e.g. ResNet-50 at batch 1 and batch 8): the load time and the forward pass of 4 sample
// images on the WebGPU engine (wonnx over Chromium's WebGPU on Vulkan) and on the CPU engine (tract in wasm,
// one worker), per image; then LIME with --lime-samples on the WebGPU engine with the last manifest (its
// batch), with its stage times. Chromium runs headless with --enable-unsafe-webgpu and Vulkan; a software
// adapter (SwiftShader, lavapipe) is refused unless --allow-software, so its numbers are never mistaken for a
// GPU's. Prints a Markdown table and writes the numbers as JSON.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { serve, developmentMounts } from './server.mjs';
import { driveWorker, median } from './worker-driver.mjs';

const { values: args, positionals: models } = parseArgs({ options: {
  'lime-samples': { type: 'string', default: '1000' }, out: { type: 'string', default: 'bench-page.json' },
  'allow-software': { type: 'boolean', default: false },
}, allowPositionals: true });
if (!models.length) throw new Error('name the manifests to time: node gpu-page-bench.mjs B1.json B8.json');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const IMAGES = ['n01443537_goldfish.JPEG', 'n01491361_tiger_shark.JPEG', 'n01608432_kite.JPEG', 'n01616318_vulture.JPEG'];
const limeSamples = Number(args['lime-samples']);

// Each manifest's folder is served at /bench-models/<i>/ (its ONNX and labels sit next to it).
const manifests = models.map((file, i) => ({ file: path.resolve(file), url: `bench-models/${i}/${path.basename(file)}` }));
const site = await serve({ mounts: [...manifests.map((m, i) => [`/bench-models/${i}/`, path.dirname(m.file)]), ...developmentMounts()] });
const profile = mkdtempSync(path.join(os.tmpdir(), 'glassbox-gpu-bench-'));
const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true,
  args: ['--no-sandbox', '--no-first-run', '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan',
    '--use-angle=vulkan', '--ignore-gpu-blocklist'] });
const rows = [];
try {
  const page = await context.newPage();
  await page.goto(`${site.url}index.html`);
  const adapter = await page.evaluate(async () => {
    const a = await navigator.gpu?.requestAdapter();
    return a ? { ...Object.fromEntries(['vendor', 'architecture', 'device', 'description'].map((k) => [k, a.info?.[k] ?? ''])),
      software: Boolean(a.info?.isFallbackAdapter ?? a.isFallbackAdapter) } : null;
  });
  console.log(`WebGPU adapter: ${JSON.stringify(adapter)}`);
  if (!adapter) throw new Error('Chromium gave no WebGPU adapter: is there a GPU with a Vulkan driver (vulkaninfo)?');
  if (adapter.software && !args['allow-software']) {
    throw new Error('the only WebGPU adapter is a software one: its times say nothing of a GPU (--allow-software to time it anyway)');
  }
  const images = IMAGES.map((name) => new URL(`shared/data/imagenet-samples/${name}`, site.url).href);
  for (const [i, manifest] of manifests.entries()) {
    for (const engine of ['webgpu', 'cpu']) {
      const last = i === manifests.length - 1 && engine === 'webgpu';
      const run = await driveWorker(page, { manifestUrl: new URL(manifest.url, site.url).href, engine, images,
        lime: last ? { samples: limeSamples, seed: 0, batchSize: 8 } : null });
      if (run.error) throw new Error(`${manifest.file} on ${engine}: ${run.error}`);
      // The first pass also warms the engine up (shaders, buffers, tract's plan).
      const perImage = median(run.forwardMs.slice(1)) / run.info.batch;
      rows.push({ manifest: manifest.file, engine: run.info.label ?? run.info.engine, batch: run.info.batch,
        load_s: run.loadMs / 1000, passes_ms: run.forwardMs, per_image_ms: perImage, lime: run.lime });
      console.log(`${path.basename(manifest.file)} on ${engine}: load ${(run.loadMs / 1000).toFixed(1)} s; passes ` +
        `${run.forwardMs.map((v) => v.toFixed(1)).join(', ')} ms; ${perImage.toFixed(1)} ms per image` +
        (run.lime ? `; LIME ${run.lime.samples} samples ${(run.lime.ms / 1000).toFixed(1)} s ${JSON.stringify(run.lime.timing)}` : ''));
    }
  }
  console.log('\n| graph | engine | batch | load | per image (median of passes 2–4) | LIME |\n|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${path.basename(r.manifest)} | ${r.engine} | ${r.batch} | ${r.load_s.toFixed(1)} s | ${r.per_image_ms.toFixed(1)} ms | ` +
      `${r.lime ? `${r.lime.samples} samples: ${(r.lime.ms / 1000).toFixed(1)} s` : ''} |`);
  }
  writeFileSync(args.out, `${JSON.stringify({ adapter, chromium: context.browser()?.version() ?? null, rows }, null, 1)}\n`);
  console.log(`\nwrote ${args.out}`);
} finally {
  await context.close();
  site.server.close();
  rmSync(profile, { recursive: true, force: true });
}
