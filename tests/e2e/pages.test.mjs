// The site's other pages in headless Chromium: the dissection pages show the committed tables, a histogram and a
// neuron's top images, and open on the mission's ResNet-18 when the run has it; the comparison page shows the
// committed report; the reports render as HTML and their tables fit a 390 px screen. Shared pieces: helpers.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { launch, outDir, repo, site, useSite, watch } from './helpers.mjs';

useSite();

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
