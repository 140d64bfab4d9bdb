// Comparison page: the numbers and figures `glassbox report` leaves in precomputed/report/ (results.json,
// fig/*.svg and *.png), read by field name (`ReportData` in crate/src/report/data.rs). Nothing is computed
// here; every number comes from the run that the page names.
import { title } from './methods.js';

const $ = (id) => document.getElementById(id);
const base = new URL('precomputed/report/', location.href);

const fixed = (v, digits = 3) => (v === null || v === undefined || Number.isNaN(v) ? '–' : Number(v).toFixed(digits));
const mean = (values) => {
  const ok = values.filter((v) => v !== null && v !== undefined && !Number.isNaN(v));
  return ok.length ? ok.reduce((a, b) => a + b, 0) / ok.length : null;
};

/** Fills `table` with a header and rows of text cells. */
function fill(table, header, rows) {
  const head = table.createTHead().insertRow();
  for (const h of header) head.append(Object.assign(document.createElement('th'), { textContent: h }));
  const body = table.createTBody();
  for (const r of rows) {
    const tr = body.insertRow();
    for (const cell of r) tr.insertCell().textContent = cell;
  }
}

const topLabel = (img) => `${img.target.label.split(',')[0]} (${fixed(img.target.probability, 2)})`;

function agreementTable(images, cams) {
  const score = (img) => mean(img.cams.map((c) => c.agreement.iou_same_count)) ?? -1;
  const sorted = [...images].sort((a, b) => score(b) - score(a));
  const cell = (img, method) => {
    const a = img.cams.find((c) => c.method === method)?.agreement;
    return a ? [fixed(a.iou_same_count), fixed(a.spearman), a.pointing_hit ? 'yes' : 'no'] : ['–', '–', '–'];
  };
  fill($('agreement'), ['image', 'top-1', ...cams.flatMap((m) => [`${title(m)} IoU`, `${title(m)} Spearman`, `${title(m)} hit`])],
    sorted.map((img) => [img.name, topLabel(img), ...cams.flatMap((m) => cell(img, m))]));
}

function faithfulnessTable(images) {
  const methods = images[0]?.faithfulness.map((f) => f.method) ?? [];
  const of = (img, method) => img.faithfulness.find((f) => f.method === method);
  const rows = images.map((img) => [img.name, ...methods.flatMap((m) => [fixed(of(img, m)?.deletion.auc), fixed(of(img, m)?.insertion.auc)])]);
  rows.push(['mean', ...methods.flatMap((m) => [fixed(mean(images.map((i) => of(i, m)?.deletion.auc))),
    fixed(mean(images.map((i) => of(i, m)?.insertion.auc)))])]);
  fill($('faithfulness'), ['image', ...methods.flatMap((m) => [`${title(m)} deletion`, `${title(m)} insertion`])], rows);
}

function objectsTable(objects) {
  const rows = objects.flatMap((o) => o.methods.map((hit) =>
    [o.case, o.target.label.split(',')[0], title(hit.method), hit.pointing_hit ? 'yes' : 'no', fixed(hit.iou_top_object), fixed(hit.mass_on_object)]));
  fill($('objects'), ['case', 'top-1', 'method', 'maximum on the object', 'IoU of top pixels with the object', 'share of the map on the object'], rows);
}

function sanityTable(report) {
  const nameOf = (file) => report.images.find((i) => i.image === file)?.name ?? file;
  const rows = report.sanity.flatMap((s) => s.changes.map((c) =>
    [`top ${s.stage} layer(s): ${s.layers.map((l) => l.node).join(', ')}`, nameOf(c.image), title(c.method), fixed(c.change.spearman), fixed(c.change.ssim)]));
  fill($('sanity'), ['re-initialised', 'image', 'method', 'Spearman with the original', 'SSIM with the original'], rows);
}

function imageFigures(images) {
  $('images').replaceChildren(...images.map((img) => {
    const figure = document.createElement('figure');
    figure.append(Object.assign(document.createElement('img'), { className: 'figure', src: new URL(`fig/${img.name}_methods.png`, base).href, alt: img.image }),
      Object.assign(document.createElement('figcaption'), { textContent: `${img.name}: ${img.target.label} (${fixed(img.target.probability, 3)}); LIME ${img.lime.superpixels} superpixels, mask ${img.lime.mask_pixels} pixels` }));
    return figure;
  }));
}

try {
  const response = await fetch(new URL('results.json', base));
  if (!response.ok) throw new Error(`precomputed/report/results.json answered HTTP ${response.status}`);
  const report = await response.json();
  const run = report.run;
  $('model').textContent = `Model: ${run.model}; engine ${run.engine}; LIME ${run.lime.num_samples} samples, seed ${run.lime.seed}.`;
  agreementTable(report.images, run.cams);
  faithfulnessTable(report.images);
  objectsTable(report.objects);
  sanityTable(report);
  imageFigures(report.images);
} catch (e) {
  $('error').textContent = `No report (${e.message}). It is made natively: \`glassbox report\` writes precomputed/report/.`;
  $('error').hidden = false;
}
