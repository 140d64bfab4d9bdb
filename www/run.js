// What the run (scripts/reproduce.sh) computed for a gallery image, shown on the explain page at once: the
// top-5, the four methods' pictures as the CLI drew them, the agreement of each CAM with LIME, the engine and
// the times, read from the site's run-explanations/<image>/ folder. Nothing is computed here: no engine, no
// model, no forward pass; "Compute here" hands the image to the page's own pipeline (app.js).
import { appendAgreementRow } from './agreement.js';
import { config } from './config.js';
import { METHODS } from './methods.js';

const $ = (id) => document.getElementById(id);

/** The top-5 as a list of "label (#class) p%" with a bar (the page's own predictions use it too). */
export function fillTop5(list, top) {
  list.replaceChildren();
  for (const p of top) {
    const li = document.createElement('li');
    li.textContent = `${p.label} (#${p.class}) ${(100 * p.probability).toFixed(1)}%`;
    const bar = document.createElement('span');
    bar.className = 'bar';
    bar.style.width = `${Math.round(120 * p.probability)}px`;
    li.append(bar);
    list.append(li);
  }
}

export function hideRunExplanation() {
  $('run-results').hidden = true;
  delete document.body.dataset.runExplanation;
}

/**
 * Shows the run's explanations of gallery image `file`, if the site has them and `stillWanted()` is true once
 * they arrive (the visitor may have picked another image meanwhile). Resolves to whether it showed them.
 */
export async function showRunExplanation(file, stillWanted) {
  const folder = config.runExplanations[file];
  if (!folder) return false;
  const record = await fetch(new URL('explanation.json', folder)).then((r) => (r.ok ? r.json() : null)).catch(() => null);
  if (!record || !stillWanted()) return false;
  $('run-provenance').textContent = `Computed by the site's run (scripts/reproduce.sh) on ${record.computed}: ` +
    `${record.model.description}; ${record.engine}; the model's view ${record.view}. Nothing was downloaded or ` +
    'computed in this browser for it. "Compute here" loads the model and runs the methods in this page.';
  fillTop5($('run-top5'), record.top5);
  $('run-methods').replaceChildren(...METHODS.map((m) => card(m, record, folder)));
  fillAgreement(record);
  $('run-results').hidden = false;
  document.body.dataset.runExplanation = file;
  return true;
}

/** One method's figure: the CLI's picture and what it was made from, or why there is none. */
function card(method, record, folder) {
  const figure = document.createElement('figure');
  figure.className = 'method';
  figure.dataset.runMethod = method.id;
  const caption = document.createElement('figcaption');
  caption.textContent = method.name;
  figure.append(caption);
  const done = record.methods[method.id];
  const note = document.createElement('div');
  note.className = 'stage';
  if (!done) {
    note.textContent = 'not computed by this run (see its settings above); "Compute here" runs it in the page';
    figure.append(note);
    return figure;
  }
  const img = document.createElement('img');
  img.src = new URL(`${method.id}.png`, folder).href;
  img.alt = `${method.name} of class ${record.target.label}, as the run drew it`;
  const lime = method.id === 'lime' ? record.methods.lime.explanation : null;
  note.textContent = `class ${record.target.label} (#${record.target.class}) · ${done.seconds.toFixed(2)} s` +
    (lime ? ` · ${lime.samples_used} samples, ${lime.n_segments} superpixels` : '');
  const links = document.createElement('div');
  links.className = 'links';
  const files = lime ? ['lime.png', 'lime_segments.npy', 'lime_mask.npy'] : [`${method.id}.png`, `${method.id}.npy`];
  for (const name of files) {
    const a = document.createElement('a');
    a.href = new URL(name, folder).href;
    a.download = `${record.image.replace(/\.[^.]+$/, '')}_${name}`;
    a.textContent = name.endsWith('.png') ? 'PNG' : name.replace(/^lime_/, '');
    links.append(a);
  }
  figure.append(img, note, links);
  return figure;
}

/** The agreement of the page's CAMs with LIME, as the run computed it (at its threshold). */
function fillAgreement(record) {
  const { agreement } = record;
  const rows = (agreement?.cams ?? []).filter((row) => METHODS.some((m) => m.id === row.method));
  $('run-agreement').hidden = rows.length === 0;
  if (!rows.length) return;
  $('run-agreement-class').textContent = `(class ${record.target.label}, #${agreement.class}; t = ${agreement.threshold})`;
  const body = $('run-agreement-table').tBodies[0];
  body.replaceChildren();
  for (const row of rows) appendAgreementRow(body, row);
}
