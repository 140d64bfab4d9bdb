// Colour legends of the explain page's pictures, drawn with the colours crate/src/render.rs gives them.

/** JET (render::jet_lut): `channel(x) = clamp(1.5 − |4x − k|, 0, 1)`, k = 3, 2, 1 for red, green, blue. */
function jet(x) {
  return [3, 2, 1].map((k) => Math.round(255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * x - k)))));
}

/** LIME's weights (render::lime_weight_colour, also the report's figures): red against the class, black at 0, green for it. */
function limeWeight(x) {
  const level = Math.round(255 * Math.abs(2 * x - 1));
  return x < 0.5 ? [level, 0, 0] : [0, level, 0];
}

/** Fills `canvas` with the colour ramp of `kind` ('cam' or 'lime'), low values on the left. */
export function drawLegend(canvas, kind) {
  const colour = kind === 'cam' ? jet : limeWeight;
  const ctx = canvas.getContext('2d');
  for (let x = 0; x < canvas.width; x++) {
    const [r, g, b] = colour(x / (canvas.width - 1));
    ctx.fillStyle = `rgb(${r} ${g} ${b})`;
    ctx.fillRect(x, 0, 1, canvas.height);
  }
}
