// How long each method takes on the loaded model, from its forward passes (no page state: app.js passes it in).

/** An estimated duration in words: "under a second", "about 40 s", "about 3 min", "about 1.5 h". */
export function duration(ms) {
  if (ms < 1000) return 'under a second';
  if (ms < 90_000) return `about ${Math.round(ms / 1000)} s`;
  if (ms < 90 * 60_000) return `about ${Math.round(ms / 60_000)} min`;
  return `about ${(ms / 3_600_000).toFixed(1)} h`;
}

/**
 * Forward passes (engine batches of `model.batch`) `method` needs beyond the image's own, cached one.
 * Grad-CAM: the gradient of the linear head; AblationCAM: each ablated logit through the linear head
 * (cam::ablation_weights), exactly what pytorch-grad-cam's ablated forward passes give: no extra pass.
 * ScoreCAM: one masked input per feature channel. LIME: its samples in batches of `lime.batchSize`, each in
 * engine batches.
 */
export function enginePasses(method, model, lime) {
  if (method === 'scorecam') return Math.ceil(model.feature_channels / model.batch);
  if (method === 'lime') return Math.ceil(lime.samples / lime.batchSize) * Math.ceil(lime.batchSize / model.batch);
  return 0;
}

/** Milliseconds `passes` take at `passMs` each, spread over `workers` (the CPU engine's pool). */
export const passesMs = (passes, passMs, workers) => (passes * passMs) / Math.max(1, workers);
