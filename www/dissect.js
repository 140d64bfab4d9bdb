// Dissection pages, read from precomputed/dissect/ (written natively by `glassbox dissect`):
//   summary.json          models, their layers (table file, histogram, distinct concepts) and model pairs;
//   <model>_<layer>.json  one table: provenance (model, weights hash, probe set, concept set, matcher) and per
//                         unit its concept, soft-WPMI similarity and most activating probe images;
//   replication/          CLIP-Dissect's own final-layer tables replicated (tables with `replication`), if run.
// #table=<file>&neuron=<n> links to one neuron.
import { config } from './config.js';

const $ = (id) => document.getElementById(id);
const base = new URL('precomputed/dissect/', location.href);
const tables = new Map();
let summary;
let current;

function fail(message) {
  $('error').textContent = message;
  $('error').hidden = false;
}

async function getJson(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url} answered HTTP ${response.status}`);
  return response.json();
}

function element(tag, text, props = {}) {
  return Object.assign(document.createElement(tag), { textContent: text ?? '' }, props);
}

/** A table row; each cell is text or a node. */
function row(cells) {
  const tr = document.createElement('tr');
  for (const c of cells) {
    const td = document.createElement('td');
    td.append(c);
    tr.append(td);
  }
  return tr;
}

async function main() {
  try {
    summary = await getJson(new URL('summary.json', base));
  } catch (e) {
    return fail(`No dissection tables found (${e.message}). They are made natively: ` +
      '`glassbox dissect --job precomputed/dissect/jobs/<job>.json` writes precomputed/dissect/.');
  }
  for (const m of summary.models) {
    for (const l of m.layers) $('table').append(new Option(`${m.model.name} / ${l.layer}`, l.table));
  }
  renderModels();
  renderReplication();
  $('table').onchange = () => { location.hash = `table=${encodeURIComponent($('table').value)}`; };
  $('search').oninput = renderNeurons;
  window.onhashchange = show;
  await show();
}

/** The replicated tables, when the run made them (replication/summary.json lists their files). */
async function renderReplication() {
  const folder = new URL('replication/', base);
  let listing;
  try {
    listing = await getJson(new URL('summary.json', folder));
  } catch {
    return; // no replication in this run: the section stays hidden
  }
  const body = $('replication-table').tBodies[0];
  const show = (v, percent) => (v === undefined || v === null ? '—' : percent ? `${v.toFixed(2)}%` : v.toFixed(4));
  const metrics = [['top-1 accuracy', 'top1', true], ['top-5 accuracy', 'top5', true],
    ['CLIP similarity', 'clip_similarity', false], ['mpnet similarity (published only)', 'mpnet_similarity', false]];
  for (const m of listing.models) {
    for (const l of m.layers) {
      const t = await getJson(new URL(l.table, folder));
      const r = t.replication;
      if (!r) continue;
      for (const [name, key, percent] of metrics) {
        if (r.ours[key] === undefined && r.published[key] === undefined) continue;
        body.append(row([r.source, `${t.model.name} ${t.layer} / ${t.concept_set.name}`,
          `${t.probe.n_images} images${t.probe.subset ? ` (${t.probe.subset})` : ''}`, name, show(r.ours[key], percent),
          `${show(r.published[key], percent)} (${r.published_probe})`, show(r.chance[key], percent)]));
      }
    }
  }
  $('replication').hidden = body.rows.length === 0;
}

function renderModels() {
  const body = $('model-table').tBodies[0];
  for (const m of summary.models) {
    for (const l of m.layers) {
      body.append(row([m.model.name, m.model.weights, l.layer, String(l.n_units), String(l.distinct_concepts)]));
    }
    body.append(row([m.model.name, '', 'all layers', String(m.layers.reduce((n, l) => n + l.n_units, 0)), String(m.distinct_concepts)]));
  }
  $('pairs').replaceChildren(...summary.pairs.map((p) => {
    const div = document.createElement('div');
    div.append(element('p', `${p.models[0]} and ${p.models[1]}: ${p.shared.length} concepts used by both, ` +
      `${p.unique_to_first.length} only by ${p.models[0]}, ${p.unique_to_second.length} only by ${p.models[1]}.`));
    for (const [title, list] of [[`only ${p.models[0]}`, p.unique_to_first], [`only ${p.models[1]}`, p.unique_to_second], ['both', p.shared]]) {
      const details = document.createElement('details');
      details.append(element('summary', `${title} (${list.length})`), element('p', list.join(' · '), { className: 'note' }));
      div.append(details);
    }
    return div;
  }));
}

async function table(file) {
  if (!tables.has(file)) tables.set(file, await getJson(new URL(file, base)));
  return tables.get(file);
}

/**
 * The table the page opens on: the mission's model (a ResNet-18, ImageNet weights first) when the run
 * dissected it, else the first model; of its layers the deepest convolutional one (layer4, features),
 * the layer CLIP-Dissect's labels are about, rather than the logits.
 */
function defaultTable() {
  const resnet18 = (m) => /resnet-?18/i.test(m.model.name);
  const model = summary.models.find((m) => resnet18(m) && /imagenet/i.test(m.model.name))
    ?? summary.models.find(resnet18) ?? summary.models[0];
  const convolutional = model?.layers.filter((l) => !/logits|fc$/i.test(l.layer)) ?? [];
  return (convolutional.at(-1) ?? model?.layers[0])?.table;
}

function layerSummary(file) {
  for (const m of summary.models) for (const l of m.layers) if (l.table === file) return l;
  return null;
}

async function show() {
  const params = new URLSearchParams(location.hash.slice(1));
  const file = params.get('table') ?? defaultTable();
  if (!file) return fail('precomputed/dissect/summary.json lists no tables');
  $('table').value = file;
  try {
    current = { file, data: await table(file), layer: layerSummary(file) };
  } catch (e) {
    return fail(e.message);
  }
  const d = current.data;
  $('provenance').textContent = `${d.model.name} (${d.model.weights}; ${d.model.file}, sha256 ${d.model.sha256.slice(0, 12)}…), ` +
    `layer ${d.layer}; probe set ${d.probe.description || d.probe.folder} (${d.probe.n_images} images` +
    `${d.probe.subset ? `: ${d.probe.subset}` : ''}); concept set ${d.concept_set.name} ` +
    `(${d.concept_set.n_concepts} concepts); concept matcher: ${d.matcher.method}; ${d.similarity_fn}.`;
  // Jobs with published labels of the same model record how far ours agree (the truth check of a dissection).
  const p = d.published;
  $('published').hidden = !p;
  if (p) {
    const pct = (x) => `${(100 * x).toFixed(1)}%`;
    $('published').textContent = `Against ${p.description} (${p.source}): ${p.same_label} of ${p.units_compared} ` +
      `neurons (${pct(p.same_label_share)}) have the published label (chance ${pct(p.chance_same_label_share)}); ` +
      `mean CLIP text similarity of the two labels ${p.mean_text_similarity.toFixed(3)} ` +
      `(unrelated labels: ${p.chance_text_similarity.toFixed(3)}).`;
  }
  const neuron = params.get('neuron');
  $('neuron').hidden = neuron === null;
  $('layer').hidden = neuron !== null;
  if (neuron !== null) renderNeuron(Number(neuron));
  else {
    renderHistogram();
    renderNeurons();
  }
}

function renderHistogram() {
  const l = current.layer;
  $('layer-about').textContent = `${l.n_units} neurons, ${l.distinct_concepts} distinct concepts; the 30 most frequent:`;
  const top = l.histogram.slice(0, 30);
  const max = top[0]?.[1] ?? 1;
  $('histogram').replaceChildren(...top.map(([concept, count]) => {
    const div = document.createElement('div');
    div.className = 'hist-row';
    const bar = element('span', '', { className: 'bar' });
    bar.style.width = `${Math.round((300 * count) / max)}px`;
    div.append(element('span', concept.split(',')[0], { className: 'hist-label', title: concept }), bar, element('span', ` ${count}`));
    return div;
  }));
}

function probeImageUrl(id) {
  return new URL(`${current.data.probe.folder}/${id}`, config.sharedBase).href;
}

function thumbnail(img) {
  const figure = element('figure', '', { className: 'thumb' });
  const image = element('img', '', { src: probeImageUrl(img.id), alt: img.id, loading: 'lazy' });
  // The probe images are not part of the site (licence): without them the id and activation still show.
  image.onerror = () => image.replaceWith(element('span', '(image not served)', { className: 'note' }));
  figure.append(image, element('figcaption', `${img.id.replace(/\.[^.]+$/, '')} · ${img.activation.toFixed(3)}`));
  return figure;
}

function renderNeurons() {
  const q = $('search').value.trim().toLowerCase();
  const rows = current.data.units
    .filter((u) => !q || String(u.unit) === q || u.concept.toLowerCase().includes(q))
    .slice(0, 500)
    .map((u) => {
      const link = element('a', String(u.unit), { href: `#table=${encodeURIComponent(current.file)}&neuron=${u.unit}` });
      return row([link, u.concept, u.similarity.toFixed(3), u.top_images.map((i) => i.id.replace(/\.[^.]+$/, '')).join(', ')]);
    });
  $('neurons').tBodies[0].replaceChildren(...rows);
}

function renderNeuron(k) {
  const u = current.data.units.find((x) => x.unit === k);
  if (!u) return fail(`neuron ${k} is not in this table`);
  $('neuron-title').textContent = `${current.data.model.name} / ${current.data.layer} / neuron ${k}: ${u.concept}`;
  $('neuron-about').textContent = `soft-WPMI ${u.similarity.toFixed(4)}` + (u.category ? ` · category ${u.category}` : '') +
    ` · its ${u.top_images.length} most activating probe images (mean activation over the feature map):`;
  $('neuron-images').replaceChildren(...u.top_images.map(thumbnail));
  $('back').href = `#table=${encodeURIComponent(current.file)}`;
}

main();
