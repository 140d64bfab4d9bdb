// What the explain page lets a visitor download: a method's numbers as CSV, every number as JSON, pictures.

/** A method's numbers as CSV: LIME's weight per superpixel (and whether it is in the mask), a CAM's map rows. */
export function toCsv(view, method, result) {
  if (method === 'lime') {
    const rows = ['superpixel,weight,in_mask'];
    result.weights.forEach((w, k) => rows.push(`${k},${w},${result.mask_superpixels.includes(k) ? 1 : 0}`));
    return rows.join('\n') + '\n';
  }
  const { width: w, height: h } = view;
  const rows = [];
  for (let y = 0; y < h; y++) rows.push(Array.from(result.map.subarray(y * w, (y + 1) * w), (v) => v.toPrecision(6)).join(','));
  return rows.join('\n') + '\n';
}

/** A result as plain JSON values: typed arrays as arrays, the colour pictures left out. */
export function plainNumbers(result) {
  const out = {};
  for (const [k, v] of Object.entries(result)) {
    if (k === 'heat_rgba') continue;
    out[k] = ArrayBuffer.isView(v) ? Array.from(v) : v;
  }
  return out;
}

/** The image's file name without its extension, the stem of every download. */
export const baseName = (name) => name.replace(/\.[^.]+$/, '');

export function download(blob, name) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}
