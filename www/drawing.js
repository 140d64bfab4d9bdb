// The pictures of the method cards: the model's view under a method's colours (crate/src/render.rs made them).

/**
 * Draws `result` of `method` on `canvas`: the model's `view` with the result's colour map (`heat_rgba`: JET for
 * the CAMs, green for / red against the class for LIME) at `opacity`; for LIME, the tutorial's picture on top:
 * the top label's positive superpixels outlined in yellow and, with `boundaries`, every superpixel's in white.
 */
export function drawResult(canvas, view, method, result, { opacity, boundaries }) {
  const { width: w, height: h } = view;
  const heat = result.heat_rgba;
  const out = new ImageData(w, h);
  for (let i = 0; i < w * h * 4; i += 4) {
    for (let c = 0; c < 3; c++) out.data[i + c] = Math.round((1 - opacity) * view.rgba[i + c] + opacity * heat[i + c]);
    out.data[i + 3] = 255;
  }
  if (method === 'lime') {
    const seg = result.segments;
    const mask = result.mask;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = y * w + x;
        const right = x + 1 < w ? i + 1 : i, down = y + 1 < h ? i + w : i;
        const left = x > 0 ? i - 1 : i, up = y > 0 ? i - w : i;
        const maskEdge = mask[i] && (!mask[right] || !mask[down] || !mask[left] || !mask[up]);
        const segEdge = seg[i] !== seg[right] || seg[i] !== seg[down];
        if (maskEdge) out.data.set([255, 255, 0], 4 * i);
        else if (segEdge && boundaries) out.data.set([255, 255, 255], 4 * i);
      }
    }
  }
  canvas.getContext('2d').putImageData(out, 0, 0);
}
