//! LIME for images, equal to the `lime` package's `LimeImageExplainer` as its PyTorch tutorial runs it.
//!
//! Pipeline (each step matches the Python reference to the digit where the reference is deterministic):
//! 1. superpixels: [`quickshift()`] (scikit-image's, bit-exact noise and CIELAB) or [`slic()`];
//! 2. perturbations: `RandomState(seed)` draws `randint(0, 1000)` (LIME's unused segmentation seed),
//!    then the binary matrix `randint(0, 2, num_samples × n_features)`, first row all ones
//!    ([`sample`], [`rng`]); hidden superpixels take `hide_color`;
//! 3. predictions: the perturbed u8 views in batches through a [`BatchPredictor`] (softmax);
//! 4. surrogate per top label: cosine-distance kernel, feature selection, weighted ridge ([`ridge`]);
//! 5. pictures: [`mask`].
//!
//! Pure computation plus the async predictor: no threads, no filesystem, no `std::time::Instant`
//! (timings use `web_time`), so the same code runs natively and in wasm32.

pub mod mask;
pub mod quickshift;
pub mod ridge;
pub mod rng;
pub mod sample;
pub mod slic;

use crate::engine::{Engine, Tensor};
use crate::numerics::{iou, softmax_rows_torch_f32};
use crate::progress::{check_cancelled, Cancelled, Progress};
use anyhow::{ensure, Context, Result};
use async_trait::async_trait;
use ndarray::{Array1, Array2, Array3, Array4, ArrayView2, ArrayView3, ArrayView4, Axis};
use web_time::Instant;

pub use mask::{boundaries, image_and_mask, mark_boundaries_rgba, ImageAndMask, MaskOptions};
pub use quickshift::{quickshift, QuickshiftParams};
pub use ridge::{FeatureSelection, FeatureWeight, LocalExplanation};
pub use sample::HideColor;
pub use slic::{slic, SlicParams};

/// Gives class probabilities for a batch of u8 RGB images (N×H×W×3), like the tutorial's `batch_predict`.
#[async_trait(?Send)]
pub trait BatchPredictor {
    /// Probabilities, N × classes (softmax over the model's logits).
    async fn predict<'a>(&self, images: ArrayView4<'a, u8>) -> Result<Array2<f32>>;

    /// How many `predict` calls may usefully run at once ([`Engine::concurrency`]); [`explain`] issues
    /// that many batches together, each the batch it would predict alone.
    fn concurrency(&self) -> usize {
        1
    }
}

/// A [`BatchPredictor`] over any [`Engine`]: each u8 view is normalised by `normalize` (e.g. the
/// model's `preprocess::to_tensor`) into a 3×H×W tensor, batches of at most `engine.max_batch()` run
/// through the engine, and the softmax of output `logits_output` is returned.
pub struct EnginePredictor<'a, F: Fn(ArrayView3<u8>) -> Array3<f32>> {
    pub engine: &'a dyn Engine,
    pub normalize: F,
    pub logits_output: usize,
}

#[async_trait(?Send)]
impl<F: Fn(ArrayView3<u8>) -> Array3<f32>> BatchPredictor for EnginePredictor<'_, F> {
    fn concurrency(&self) -> usize {
        self.engine.concurrency()
    }

    async fn predict<'a>(&self, images: ArrayView4<'a, u8>) -> Result<Array2<f32>> {
        let (n, h, w, _) = images.dim();
        let chunk = self.engine.max_batch().max(1);
        let mut logits: Option<Array2<f32>> = None;
        for first in (0..n).step_by(chunk) {
            let m = chunk.min(n - first);
            let mut input = Array4::<f32>::zeros((m, 3, h, w));
            for k in 0..m {
                let tensor = (self.normalize)(images.index_axis(Axis(0), first + k));
                ensure!(
                    tensor.dim() == (3, h, w),
                    "normalisation gave {:?}, expected (3, {h}, {w})",
                    tensor.dim()
                );
                input.index_axis_mut(Axis(0), k).assign(&tensor);
            }
            let outputs = self.engine.run(&Tensor::F32(input.into_dyn())).await?;
            let out = outputs
                .get(self.logits_output)
                .with_context(|| format!("engine has no output {}", self.logits_output))?;
            let out = out
                .view()
                .into_shape_with_order((m, out.len() / m.max(1)))
                .context("logits output is not N×classes")?;
            let all = logits.get_or_insert_with(|| Array2::zeros((n, out.ncols())));
            all.slice_mut(ndarray::s![first..first + m, ..])
                .assign(&out);
        }
        Ok(softmax_rows_torch_f32(
            &logits.unwrap_or_else(|| Array2::zeros((0, 0))),
        ))
    }
}

/// `(u8 − offset) · scale` in CHW order: the normalisation of the TF-slim MobileNets (offset 128,
/// scale 1/128), for callers that have no model manifest at hand.
pub fn normalize_offset_scale(view: ArrayView3<u8>, offset: f32, scale: f32) -> Array3<f32> {
    let (h, w, _) = view.dim();
    Array3::from_shape_fn((3, h, w), |(c, r, x)| {
        (view[[r, x, c]] as f32 - offset) * scale
    })
}

/// Which superpixel algorithm LIME uses.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Segmenter {
    Quickshift(QuickshiftParams),
    Slic(SlicParams),
}

impl Segmenter {
    /// Segments an H×W×3 u8 image into labels `0..n`.
    pub fn segment(&self, image: &Array3<u8>) -> Result<Array2<i32>> {
        match self {
            Segmenter::Quickshift(p) => quickshift(image, p),
            Segmenter::Slic(p) => slic(image, p),
        }
    }
}

/// Parameters of one LIME explanation; [`Default`] is the tutorial's call with a fixed seed.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LimeParams {
    pub num_samples: usize,
    /// Images per predictor call (LIME's `batch_size`).
    pub batch_size: usize,
    /// `LimeImageExplainer(random_state=seed)`.
    pub seed: u32,
    /// Explain the `top_labels` most probable labels of the unperturbed image.
    pub top_labels: usize,
    pub num_features: usize,
    pub kernel_width: f64,
    pub hide_color: HideColor,
    pub feature_selection: FeatureSelection,
    pub segmenter: Segmenter,
    /// Superpixels in the headline mask (`get_image_and_mask(top label, positive_only=True, num_features=5)`).
    pub mask_features: usize,
    /// What a cancel during the forward passes does. Not a parameter of the result, so not serialised.
    #[serde(skip)]
    pub on_cancel: OnCancel,
}

/// What [`explain`] does when its [`Progress`] asks it to stop during the forward passes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnCancel {
    /// Return [`Cancelled`]: nothing of the run is kept (the CLI's Ctrl-C).
    #[default]
    Discard,
    /// Fit the surrogates on the samples predicted so far and return them: the explanation LIME gives
    /// with that many samples, since the first rows of the sample matrix do not depend on its length.
    /// [`LimeExplanation::is_partial`] tells it apart. With no batch done it is [`Cancelled`] as well.
    KeepSamplesSoFar,
}

impl LimeParams {
    /// At most this many samples: 100 times the tutorial's 1000; the probabilities alone are 400 MB for
    /// 1000 classes.
    pub const MAX_SAMPLES: usize = 100_000;
    /// At most this many perturbed images per engine call (the graphs here take 1 or 8).
    pub const MAX_BATCH: usize = 1024;
}

impl Default for LimeParams {
    fn default() -> Self {
        LimeParams {
            num_samples: 1000,
            batch_size: 10,
            seed: 0,
            top_labels: 5,
            num_features: 100_000,
            kernel_width: 0.25,
            hide_color: HideColor::Value(0),
            feature_selection: FeatureSelection::Auto,
            segmenter: Segmenter::Quickshift(QuickshiftParams::default()),
            mask_features: 5,
            on_cancel: OnCancel::Discard,
        }
    }
}

/// Wall-clock milliseconds of each stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LimeTiming {
    pub segmentation_ms: f64,
    /// Building the perturbed images (sample matrix, masking).
    pub perturbation_ms: f64,
    /// Predictor calls (normalisation, forward passes, softmax).
    pub inference_ms: f64,
    /// Kernel, feature selection and ridge fits.
    pub regression_ms: f64,
}

impl LimeTiming {
    pub fn total_ms(&self) -> f64 {
        self.segmentation_ms + self.perturbation_ms + self.inference_ms + self.regression_ms
    }
}

/// A LIME explanation of one image.
#[derive(Debug, Clone)]
pub struct LimeExplanation {
    /// Superpixel label per pixel, `0..n_segments`.
    pub segments: Array2<i32>,
    pub n_segments: usize,
    /// Labels explained, most probable first.
    pub top_labels: Vec<usize>,
    /// The predictor's probabilities for the unperturbed image.
    pub probabilities: Vec<f32>,
    /// One surrogate per label of `top_labels`, same order.
    pub explanations: Vec<LocalExplanation>,
    /// 1 on the `mask_features` superpixels with the largest positive weights for the top label.
    pub top_mask: Array2<u8>,
    /// Superpixels in each headline mask (`LimeParams::mask_features`).
    pub mask_features: usize,
    /// Perturbed samples the surrogates were fitted on (the unperturbed image included).
    pub samples_used: usize,
    /// `LimeParams::num_samples` of the run: more than `samples_used` when it was cancelled and kept.
    pub samples_requested: usize,
    pub timing: LimeTiming,
}

/// A [`LimeExplanation`] without its pictures (`segments`, `top_mask`): what `explanation.json` records of
/// it, the superpixels being `lime_segments.npy` beside it. [`LimeExplanation::from_fit`] puts the two back
/// together.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LimeFit {
    pub n_segments: usize,
    pub top_labels: Vec<usize>,
    pub probabilities: Vec<f32>,
    pub explanations: Vec<LocalExplanation>,
    pub mask_features: usize,
    #[serde(default)]
    pub samples_used: usize,
    #[serde(default)]
    pub samples_requested: usize,
    pub timing: LimeTiming,
}

impl LimeExplanation {
    /// The explanation of `fit` over the superpixels `segments`, its headline mask drawn again from them.
    pub fn from_fit(fit: LimeFit, segments: Array2<i32>) -> Result<LimeExplanation> {
        if let Some(&label) = segments
            .iter()
            .find(|&&s| s < 0 || s as usize >= fit.n_segments)
        {
            anyhow::bail!(
                "the superpixels hold label {label}, outside the explanation's 0..{}",
                fit.n_segments
            );
        }
        let top_mask = match fit.top_labels.first() {
            Some(&top) => {
                let surrogate = fit
                    .explanations
                    .iter()
                    .find(|e| e.label == top)
                    .context("LIME's top label has no surrogate")?;
                positive_mask(segments.view(), surrogate, fit.mask_features)
            }
            None => Array2::zeros(segments.dim()),
        };
        Ok(LimeExplanation {
            segments,
            n_segments: fit.n_segments,
            top_labels: fit.top_labels,
            probabilities: fit.probabilities,
            explanations: fit.explanations,
            top_mask,
            mask_features: fit.mask_features,
            samples_used: fit.samples_used,
            samples_requested: fit.samples_requested,
            timing: fit.timing,
        })
    }

    /// Everything but the pictures, as `explanation.json` records it.
    pub fn fit(&self) -> LimeFit {
        LimeFit {
            n_segments: self.n_segments,
            top_labels: self.top_labels.clone(),
            probabilities: self.probabilities.clone(),
            explanations: self.explanations.clone(),
            mask_features: self.mask_features,
            samples_used: self.samples_used,
            samples_requested: self.samples_requested,
            timing: self.timing,
        }
    }

    /// True when the run was cancelled and the surrogates fitted on fewer samples than requested.
    pub fn is_partial(&self) -> bool {
        self.samples_used < self.samples_requested
    }

    /// The surrogate of `label`, if it was explained.
    pub fn for_label(&self, label: usize) -> Option<&LocalExplanation> {
        self.explanations.iter().find(|e| e.label == label)
    }

    /// Weight of every superpixel (0 for unselected ones) for `label`, indexed by superpixel.
    pub fn dense_weights(&self, label: usize) -> Option<Vec<f64>> {
        let e = self.for_label(label)?;
        let mut w = vec![0.0; self.n_segments];
        for fw in &e.weights {
            w[fw.feature] = fw.weight;
        }
        Some(w)
    }

    /// The headline mask of any explained label (1 on its `mask_features` strongest positive superpixels);
    /// `top_mask` is this for the top label.
    pub fn mask_for(&self, label: usize) -> Option<Array2<u8>> {
        let explanation = self.for_label(label)?;
        Some(positive_mask(
            self.segments.view(),
            explanation,
            self.mask_features,
        ))
    }
}

/// Converts an `image::RgbImage` into the H×W×3 array LIME works on.
pub fn rgb_array(image: &image::RgbImage) -> Array3<u8> {
    let (w, h) = image.dimensions();
    Array3::from_shape_vec((h as usize, w as usize, 3), image.as_raw().clone())
        .expect("RgbImage buffer is H×W×3")
}

/// Explains the predictor's top labels on `image` (the u8 view the model sees).
pub async fn explain(
    predictor: &dyn BatchPredictor,
    image: &Array3<u8>,
    params: &LimeParams,
    progress: &dyn Progress,
) -> Result<LimeExplanation> {
    let start = Instant::now();
    let segments = params
        .segmenter
        .segment(image)
        .context("LIME segmentation")?;
    let segmentation_ms = ms_since(start);
    explain_with_segments(
        predictor,
        image,
        segments,
        params,
        progress,
        segmentation_ms,
    )
    .await
}

/// [`explain`] with precomputed superpixels (labels `0..n`), e.g. to share them across seeds.
pub async fn explain_with_segments(
    predictor: &dyn BatchPredictor,
    image: &Array3<u8>,
    segments: Array2<i32>,
    params: &LimeParams,
    progress: &dyn Progress,
    segmentation_ms: f64,
) -> Result<LimeExplanation> {
    let (h, w, channels) = image.dim();
    ensure!(
        channels == 3,
        "LIME needs an RGB image, got {channels} channels"
    );
    ensure!(
        segments.dim() == (h, w),
        "segments are {:?} but the image is {h}×{w}",
        segments.dim()
    );
    // Bounded above too: the page's worker takes both from a message, and memory grows with them (the
    // sample matrix and the probabilities of every sample, the batch of perturbed images).
    ensure!(
        (1..=LimeParams::MAX_SAMPLES).contains(&params.num_samples),
        "LIME takes 1 to {} samples, not {}",
        LimeParams::MAX_SAMPLES,
        params.num_samples
    );
    ensure!(
        (1..=LimeParams::MAX_BATCH).contains(&params.batch_size),
        "LIME's batch size must be 1 to {}, not {}",
        LimeParams::MAX_BATCH,
        params.batch_size
    );
    ensure!(
        params.top_labels >= 1,
        "LIME must explain at least one label"
    );
    let n_features = segments.iter().copied().max().map_or(0, |m| m as usize + 1);
    ensure!(
        segments.iter().all(|&s| s >= 0) && n_features > 0,
        "segment labels must be 0..n"
    );

    let mut timing = LimeTiming {
        segmentation_ms,
        ..Default::default()
    };
    let t = Instant::now();
    let mut rng = rng::Mt19937::new(params.seed);
    // LIME draws its segmentation seed first, even though scikit-image ≥ 0.21 ignores it.
    let _segmentation_seed = rng.randint(0, 1000);
    let data = sample::sample_matrix(&mut rng, params.num_samples, n_features);
    let fudged = sample::fudged_image(image.view(), segments.view(), n_features, params.hide_color);
    timing.perturbation_ms += ms_since(t);

    progress.stage("LIME forward passes", params.num_samples as u64);
    let mut probabilities: Option<Array2<f32>> = None;
    // One buffer per batch in flight: a pool of workers predicts several batches at once, each the same
    // rows of the sample matrix as when they run one after another, so the result does not depend on it.
    let lanes = predictor.concurrency().max(1);
    let mut batches = vec![Array4::<u8>::zeros((params.batch_size, h, w, 3)); lanes];
    let firsts: Vec<usize> = (0..params.num_samples).step_by(params.batch_size).collect();
    // Samples whose predictions are in `probabilities`; fewer than requested only after a kept cancel.
    let mut samples_used = 0;
    for round in firsts.chunks(lanes) {
        if progress.is_cancelled() {
            if params.on_cancel == OnCancel::KeepSamplesSoFar && samples_used > 0 {
                break;
            }
            return Err(Cancelled.into());
        }
        let sizes: Vec<usize> = round
            .iter()
            .map(|&first| params.batch_size.min(params.num_samples - first))
            .collect();
        let t = Instant::now();
        for ((batch, &first), &n) in batches.iter_mut().zip(round).zip(&sizes) {
            for k in 0..n {
                let out = batch
                    .index_axis_mut(Axis(0), k)
                    .into_slice()
                    .expect("standard layout batch");
                sample::perturb_into(
                    image.view(),
                    fudged.view(),
                    segments.view(),
                    data.row(first + k),
                    out,
                );
            }
        }
        timing.perturbation_ms += ms_since(t);
        let t = Instant::now();
        let predicted = futures::future::join_all(
            batches
                .iter()
                .zip(&sizes)
                .map(|(batch, &n)| predictor.predict(batch.slice(ndarray::s![..n, .., .., ..]))),
        )
        .await;
        timing.inference_ms += ms_since(t);
        for ((probs, &first), &n) in predicted.into_iter().zip(round).zip(&sizes) {
            let probs = probs.context("LIME: predicting perturbed images")?;
            ensure!(
                probs.nrows() == n,
                "predictor returned {} rows for {n} images",
                probs.nrows()
            );
            let all = probabilities
                .get_or_insert_with(|| Array2::zeros((params.num_samples, probs.ncols())));
            all.slice_mut(ndarray::s![first..first + n, ..])
                .assign(&probs);
            samples_used = first + n;
            progress.advance(n as u64);
        }
    }
    let probabilities = probabilities
        .expect("at least one batch")
        .slice_move(ndarray::s![..samples_used, ..]);
    let data = data.slice(ndarray::s![..samples_used, ..]);

    let t = Instant::now();
    let top_labels = top_labels(probabilities.row(0).to_vec().as_slice(), params.top_labels);
    let weights = ridge::kernel_weights(data.view(), params.kernel_width);
    let mut explanations = Vec::with_capacity(top_labels.len());
    for &label in &top_labels {
        // Keeping what was computed means finishing these fits (milliseconds) whatever is asked.
        if params.on_cancel == OnCancel::Discard {
            check_cancelled(progress)?;
        }
        let targets: Array1<f64> = probabilities.column(label).mapv(|p| p as f64);
        explanations.push(ridge::explain_label(
            data.view(),
            targets.view(),
            weights.view(),
            label,
            params.num_features,
            params.feature_selection,
        ));
    }
    let top_mask = positive_mask(segments.view(), &explanations[0], params.mask_features);
    timing.regression_ms += ms_since(t);

    Ok(LimeExplanation {
        segments,
        n_segments: n_features,
        top_labels,
        probabilities: probabilities.row(0).to_vec(),
        explanations,
        top_mask,
        mask_features: params.mask_features,
        samples_used,
        samples_requested: params.num_samples,
        timing,
    })
}

/// `get_image_and_mask(label, positive_only=True, num_features, hide_rest=False)`'s mask as 0/1.
fn positive_mask(
    segments: ArrayView2<i32>,
    explanation: &LocalExplanation,
    num_features: usize,
) -> Array2<u8> {
    let options = MaskOptions {
        num_features,
        ..Default::default()
    };
    let mask = image_and_mask(
        Array3::<u8>::zeros((segments.nrows(), segments.ncols(), 3)).view(),
        segments,
        explanation,
        &options,
    )
    .expect("positive_only alone is a valid mask request")
    .mask;
    mask.mapv(|v| v.max(0) as u8)
}

/// `np.argsort(p)[-k:][::-1]`: the k largest, largest first; equal values: the later index first,
/// as a stable ascending sort reversed gives.
pub fn top_labels(p: &[f32], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    order.into_iter().rev().take(k).collect()
}

/// How stable LIME's headline mask is across seeds.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Stability {
    pub seeds: Vec<u32>,
    /// Per superpixel: the fraction of seeds whose top mask contains it.
    pub in_mask_frequency: Vec<f64>,
    /// Mean IoU over all pairs of the seeds' top masks.
    pub mean_pairwise_iou: f64,
}

/// [`stability`]'s result: every seed's explanation and how much their top masks agree.
#[derive(Debug, Clone)]
pub struct StabilityRun {
    /// One explanation per seed, in the order of [`Stability::seeds`].
    pub runs: Vec<LimeExplanation>,
    pub stability: Stability,
}

/// Runs LIME once per seed on the same superpixels and measures how much the top masks agree.
pub async fn stability(
    predictor: &dyn BatchPredictor,
    image: &Array3<u8>,
    params: &LimeParams,
    seeds: &[u32],
    progress: &dyn Progress,
) -> Result<StabilityRun> {
    ensure!(seeds.len() >= 2, "stability needs at least two seeds");
    let t = Instant::now();
    let segments = params
        .segmenter
        .segment(image)
        .context("LIME segmentation")?;
    let segmentation_ms = ms_since(t);
    let mut runs = Vec::with_capacity(seeds.len());
    for &seed in seeds {
        let p = LimeParams {
            seed,
            ..params.clone()
        };
        runs.push(
            explain_with_segments(
                predictor,
                image,
                segments.clone(),
                &p,
                progress,
                segmentation_ms,
            )
            .await?,
        );
    }
    let n = runs[0].n_segments;
    let mut frequency = vec![0.0; n];
    let selected: Vec<Vec<bool>> = runs
        .iter()
        .map(|run| {
            let mut s = vec![false; n];
            for (&seg, &m) in run.segments.iter().zip(run.top_mask.iter()) {
                if m != 0 {
                    s[seg as usize] = true;
                }
            }
            s
        })
        .collect();
    for s in &selected {
        for (f, &on) in frequency.iter_mut().zip(s) {
            if on {
                *f += 1.0 / seeds.len() as f64;
            }
        }
    }
    let mut iou_sum = 0.0;
    let mut pairs = 0;
    for i in 0..runs.len() {
        for j in i + 1..runs.len() {
            // Two empty masks agree.
            iou_sum += iou(runs[i].top_mask.view(), runs[j].top_mask.view())?.unwrap_or(1.0);
            pairs += 1;
        }
    }
    Ok(StabilityRun {
        runs,
        stability: Stability {
            seeds: seeds.to_vec(),
            in_mask_frequency: frequency,
            mean_pairwise_iou: iou_sum / pairs as f64,
        },
    })
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_labels_match_numpy_argsort_tail() {
        assert_eq!(top_labels(&[0.1, 0.5, 0.2, 0.9, 0.0], 3), vec![3, 1, 2]);
    }

    /// Two classes: class 0's probability is the share of visible (non-hidden) pixels, weighted so
    /// that the four quadrant superpixels matter differently.
    struct VisibleShare;

    #[async_trait(?Send)]
    impl BatchPredictor for VisibleShare {
        async fn predict<'a>(&self, images: ArrayView4<'a, u8>) -> Result<Array2<f32>> {
            let (n, h, w, _) = images.dim();
            let mut out = Array2::zeros((n, 2));
            for k in 0..n {
                let mut score = 0.0;
                for y in 0..h {
                    for x in 0..w {
                        if images[[k, y, x, 0]] != 0 {
                            score += (1 + 2 * (y >= h / 2) as usize + (x >= w / 2) as usize) as f32;
                        }
                    }
                }
                let p = score / (10 * h * w / 4) as f32;
                out[[k, 0]] = p;
                out[[k, 1]] = 1.0 - p;
            }
            Ok(out)
        }
    }

    /// [`VisibleShare`] that says it runs `lanes` batches at once, answers each call only after a trip through
    /// the executor (as a helper worker does) and counts the calls in flight.
    struct Lanes {
        lanes: usize,
        in_flight: std::cell::Cell<usize>,
        most_in_flight: std::cell::Cell<usize>,
    }

    #[async_trait(?Send)]
    impl BatchPredictor for Lanes {
        async fn predict<'a>(&self, images: ArrayView4<'a, u8>) -> Result<Array2<f32>> {
            self.in_flight.set(self.in_flight.get() + 1);
            self.most_in_flight
                .set(self.most_in_flight.get().max(self.in_flight.get()));
            let mut yielded = false;
            futures::future::poll_fn(|cx| {
                if yielded {
                    return std::task::Poll::Ready(());
                }
                yielded = true;
                cx.waker().wake_by_ref();
                std::task::Poll::Pending
            })
            .await;
            self.in_flight.set(self.in_flight.get() - 1);
            VisibleShare.predict(images).await
        }

        fn concurrency(&self) -> usize {
            self.lanes
        }
    }

    #[test]
    fn batches_in_flight_together_give_the_explanation_of_one_at_a_time() {
        let (image, segments) = quadrants();
        // 44 samples in batches of 8: rounds of 3 batches, the last round short and its last batch too.
        let params = params(44, OnCancel::Discard);
        let alone = futures::executor::block_on(explain_with_segments(
            &VisibleShare,
            &image,
            segments.clone(),
            &params,
            &crate::progress::Silent,
            0.0,
        ))
        .unwrap();
        let lanes = Lanes {
            lanes: 3,
            in_flight: Default::default(),
            most_in_flight: Default::default(),
        };
        let together = futures::executor::block_on(explain_with_segments(
            &lanes,
            &image,
            segments,
            &params,
            &crate::progress::Silent,
            0.0,
        ))
        .unwrap();
        assert_eq!(lanes.most_in_flight.get(), 3);
        assert_eq!(together.samples_used, 44);
        assert_eq!(together.top_labels, alone.top_labels);
        assert_eq!(together.probabilities, alone.probabilities);
        for (a, b) in together.explanations.iter().zip(&alone.explanations) {
            assert_eq!(a.weights, b.weights);
            assert_eq!((a.intercept, a.score), (b.intercept, b.score));
        }
        assert_eq!(together.top_mask, alone.top_mask);
    }

    /// Asks to stop once `batches` batches are done.
    struct CancelAfter {
        batches: usize,
        done: std::cell::Cell<usize>,
    }

    impl Progress for CancelAfter {
        fn advance(&self, _n: u64) {
            self.done.set(self.done.get() + 1);
        }
        fn is_cancelled(&self) -> bool {
            self.done.get() >= self.batches
        }
    }

    fn quadrants() -> (Array3<u8>, Array2<i32>) {
        let segments =
            Array2::from_shape_fn((8, 8), |(y, x)| 2 * (y >= 4) as i32 + (x >= 4) as i32);
        (Array3::from_elem((8, 8, 3), 200), segments)
    }

    async fn run(params: &LimeParams, progress: &dyn Progress) -> Result<LimeExplanation> {
        let (image, segments) = quadrants();
        explain_with_segments(&VisibleShare, &image, segments, params, progress, 0.0).await
    }

    fn params(num_samples: usize, on_cancel: OnCancel) -> LimeParams {
        LimeParams {
            num_samples,
            batch_size: 8,
            top_labels: 2,
            on_cancel,
            ..LimeParams::default()
        }
    }

    #[test]
    fn a_kept_cancel_equals_a_run_with_the_samples_done() {
        let cancel = CancelAfter {
            batches: 2,
            done: Default::default(),
        };
        let partial =
            futures::executor::block_on(run(&params(40, OnCancel::KeepSamplesSoFar), &cancel))
                .unwrap();
        assert_eq!((partial.samples_used, partial.samples_requested), (16, 40));
        assert!(partial.is_partial());
        let short = futures::executor::block_on(run(
            &params(16, OnCancel::Discard),
            &crate::progress::Silent,
        ))
        .unwrap();
        assert!(!short.is_partial());
        assert_eq!(partial.top_labels, short.top_labels);
        for (a, b) in partial.explanations.iter().zip(&short.explanations) {
            assert_eq!(a.weights, b.weights);
            assert_eq!((a.intercept, a.score), (b.intercept, b.score));
        }
        assert_eq!(partial.top_mask, short.top_mask);
    }

    #[test]
    fn a_discarded_cancel_or_one_before_any_batch_is_cancelled() {
        for (batches, on_cancel) in [(2, OnCancel::Discard), (0, OnCancel::KeepSamplesSoFar)] {
            let cancel = CancelAfter {
                batches,
                done: Default::default(),
            };
            let err =
                futures::executor::block_on(run(&params(40, on_cancel), &cancel)).unwrap_err();
            assert!(
                err.is::<Cancelled>(),
                "{on_cancel:?} after {batches} batches: {err:#}"
            );
        }
    }
}
