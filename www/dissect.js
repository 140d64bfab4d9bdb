// Dissection pages, read from precomputed/*.json (made natively by `glassbox dissect`; see www/README.md
// for the format). One page per table (model/layer): a concept histogram and a searchable neuron table;
// #table=<id>&neuron=<n> links to one neuron.
const $ = (id) => document.getElementById(id);
const base = new URL('precomputed/', location.href);

function hashParams() {
  return new URLSearchParams(location.hash.slice(1));
}

function fail(message) {
  $('error').textContent = message;
  $('error').hidden = false;
}

async function getJson(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url} answered HTTP ${response.status}`);
  return response.json();
}

let index;
const tables = new Map();

async function main() {
  try {
    index = await getJson(new URL('index.json', base));
  } catch (e) {
    return fail(`No dissection tables found (${e.message}). They are made natively: ` +
      '`glassbox dissect ...` writes precomputed/index.json and one table per model/layer.');
  }
  for (const t of index.tables) $('table').append(new Option(`${t.model} / ${t.layer}`, t.id));
  $('table').onchange = () => { location.hash = `table=${encodeURIComponent($('table').value)}`; };
  $('search').oninput = renderNeurons;
  window.onhashchange = show;
  await show();
}

async function table(id) {
  if (!tables.has(id)) {
    const entry = index.tables.find((t) => t.id === id);
    if (!entry) throw new Error(`no table ${id} in precomputed/index.json`);
    tables.set(id, { entry, data: await getJson(new URL(entry.file, base)) });
  }
  return tables.get(id);
}

let current = null;
async function show() {
  const params = hashParams();
  const id = params.get('table') ?? index.tables[0]?.id;
  if (!id) return fail('precomputed/index.json lists no tables');
  $('table').value = id;
  try {
    current = await table(id);
  } catch (e) {
    return fail(e.message);
  }
  const { entry, data } = current;
  $('about').textContent = `${data.neurons.length} neurons · concept set ${entry.concept_set ?? data.concept_set ?? '?'} · ` +
    `probe ${entry.probe ?? data.probe ?? '?'} · similarity ${data.similarity ?? 'soft-WPMI'}`;
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
  const counts = new Map();
  for (const n of current.data.neurons) counts.set(n.concept, (counts.get(n.concept) ?? 0) + 1);
  const top = [...counts].sort((a, b) => b[1] - a[1]).slice(0, 40);
  const max = top[0]?.[1] ?? 1;
  $('histogram').replaceChildren(...top.map(([concept, count]) => {
    const row = document.createElement('div');
    row.innerHTML = '<span style="display:inline-block;width:180px"></span><span class="bar" style="display:inline-block;height:10px;background:var(--accent)"></span> <span></span>';
    row.children[0].textContent = concept;
    row.children[1].style.width = `${Math.round((300 * count) / max)}px`;
    row.children[2].textContent = count;
    return row;
  }));
}

function renderNeurons() {
  const q = $('search').value.trim().toLowerCase();
  const rows = current.data.neurons
    .filter((n) => !q || String(n.neuron) === q || n.concept.toLowerCase().includes(q))
    .slice(0, 2000)
    .map((n) => {
      const tr = document.createElement('tr');
      tr.innerHTML = '<td><a></a></td><td></td><td></td>';
      const a = tr.querySelector('a');
      a.textContent = n.neuron;
      a.href = `#table=${encodeURIComponent(current.entry.id)}&neuron=${n.neuron}`;
      tr.children[1].textContent = n.concept;
      tr.children[2].textContent = Number(n.similarity).toFixed(4);
      return tr;
    });
  $('neurons').tBodies[0].replaceChildren(...rows);
}

function renderNeuron(k) {
  const n = current.data.neurons.find((x) => x.neuron === k);
  if (!n) return fail(`neuron ${k} is not in this table`);
  $('neuron-title').textContent = `${current.entry.model} / ${current.entry.layer} / neuron ${k}: ${n.concept}`;
  const rows = (n.top_concepts ?? [[n.concept, n.similarity]]).map(([c, s]) => {
    const tr = document.createElement('tr');
    tr.innerHTML = '<td></td><td></td>';
    tr.children[0].textContent = c;
    tr.children[1].textContent = Number(s).toFixed(4);
    return tr;
  });
  $('neuron-concepts').replaceChildren(...rows);
  $('back').href = `#table=${encodeURIComponent(current.entry.id)}`;
}

main();
