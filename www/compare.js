// Comparison page: the numbers and figures `glassbox report` leaves in precomputed/report/ (results.json,
// fig/*.png). Nothing is computed here; every number comes from the run that the page names.
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

function agreementTable(images) {
  const methods = images[0]?.agreement.map(([m]) => m) ?? [];
  const score = (img) => mean(img.agreement.map(([, a]) => a.iou_same_count)) ?? -1;
  const sorted = [...images].sort((a, b) => score(b) - score(a));
  fill($('agreement'), ['image', 'top-1', ...methods.flatMap((m) => [`${m} IoU`, `${m} Spearman`, `${m} hit`])],
    sorted.map((img) => [shortName(img.image), `${img.target.label.split(',')[0]} (${fixed(img.target.probability, 2)})`,
      ...img.agreement.flatMap(([, a]) => [fixed(a.iou_same_count), fixed(a.spearman), a.pointing_hit ? 'yes' : 'no'])]));
}

function faithfulnessTable(images) {
  const methods = images[0]?.faithfulness.map(([m]) => m) ?? [];
  const rows = images.map((img) => [shortName(img.image), ...img.faithfulness.flatMap(([, del, ins]) => [fixed(del.auc), fixed(ins.auc)])]);
  rows.push(['mean', ...methods.flatMap((_, k) => [fixed(mean(images.map((i) => i.faithfulness[k][1].auc))),
    fixed(mean(images.map((i) => i.faithfulness[k][2].auc)))])]);
  fill($('faithfulness'), ['image', ...methods.flatMap((m) => [`${m} deletion`, `${m} insertion`])], rows);
}

function objectsTable(objects) {
  const rows = objects.flatMap((o) => o.methods.map(([method, hit, iou, share]) =>
    [o.case, o.target.label.split(',')[0], method, hit ? 'yes' : 'no', fixed(iou), fixed(share)]));
  fill($('objects'), ['case', 'top-1', 'method', 'maximum on the object', 'IoU of top pixels with the object', 'share of the map on the object'], rows);
}

function sanityTable(sanity) {
  const rows = sanity.flatMap((s) => s.changes.map(([image, method, change]) =>
    [`top ${s.stage} layer(s): ${s.layers.map((l) => l.node).join(', ')}`, image, method, fixed(change.spearman), fixed(change.ssim)]));
  fill($('sanity'), ['re-initialised', 'image', 'method', 'Spearman with the original', 'SSIM with the original'], rows);
}

/** The report's short name of an image file: `n01443537_goldfish.JPEG` → `goldfish`. */
const shortName = (file) => file.replace(/\.[^.]+$/, '').replace(/^n\d+_/, '');

function imageFigures(images) {
  $('images').replaceChildren(...images.map((img) => {
    const figure = document.createElement('figure');
    figure.append(Object.assign(document.createElement('img'), { className: 'figure', src: new URL(`fig/${shortName(img.image)}_methods.png`, base).href, alt: img.image }),
      Object.assign(document.createElement('figcaption'), { textContent: `${shortName(img.image)}: ${img.target.label} (${fixed(img.target.probability, 3)}); LIME ${img.lime_segments} superpixels, mask ${img.lime_mask_pixels} pixels` }));
    return figure;
  }));
}

try {
  const response = await fetch(new URL('results.json', base));
  if (!response.ok) throw new Error(`precomputed/report/results.json answered HTTP ${response.status}`);
  const report = await response.json();
  $('model').textContent = `Model: ${report.model}; engine ${report.engine}; LIME ${report.lime.num_samples} samples, seed ${report.lime.seed}.`;
  agreementTable(report.images);
  faithfulnessTable(report.images);
  objectsTable(report.objects);
  sanityTable(report.sanity);
  imageFigures(report.images);
} catch (e) {
  $('error').textContent = `No report (${e.message}). It is made natively: \`glassbox report\` writes precomputed/report/.`;
  $('error').hidden = false;
}
