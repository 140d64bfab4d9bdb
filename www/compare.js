// Comparison page: renders precomputed/compare.json (made natively by `glassbox compare`), whose
// top-level keys each hold an array of flat records (one table each).
const box = document.getElementById('tables');
const error = document.getElementById('error');

function tableOf(records) {
  const columns = [...new Set(records.flatMap((r) => Object.keys(r)))];
  const t = document.createElement('table');
  const head = t.createTHead().insertRow();
  for (const c of columns) head.append(Object.assign(document.createElement('th'), { textContent: c }));
  const body = t.createTBody();
  for (const r of records) {
    const row = body.insertRow();
    for (const c of columns) {
      const v = r[c];
      row.insertCell().textContent = typeof v === 'number' ? (Number.isInteger(v) ? v : v.toFixed(4)) : JSON.stringify(v ?? '');
    }
  }
  return t;
}

try {
  const response = await fetch(new URL('precomputed/compare.json', location.href));
  if (!response.ok) throw new Error(`precomputed/compare.json answered HTTP ${response.status}`);
  const report = await response.json();
  for (const [name, records] of Object.entries(report)) {
    if (!Array.isArray(records) || !records.length || typeof records[0] !== 'object') continue;
    box.append(Object.assign(document.createElement('h2'), { textContent: name }), tableOf(records));
  }
  if (!box.children.length) throw new Error('precomputed/compare.json holds no tables');
} catch (e) {
  error.textContent = `No comparison report (${e.message}). It is made natively: \`glassbox compare ...\` writes precomputed/compare.json.`;
  error.hidden = false;
}
