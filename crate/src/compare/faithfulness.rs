//! Causal faithfulness metrics of RISE (Petsiuk, Das & Saenko, BMVC 2018), following the authors'
//! `evaluation.py` (eclique/RISE):
//!
//! - **Deletion**: start from the image and replace its pixels, most important first, `step` pixels at a
//!   time, by the *substrate* `0` in the normalised-input space (all three channels of a pixel at once).
//!   A faithful map makes the class probability drop fast: low AUC is good.
//! - **Insertion**: start from a blurred copy of the image (Gaussian kernel 11×11, σ = 5, per channel,
//!   zero padding, again in the normalised space) and put the original pixels back, most important first.
//!   A faithful map makes the probability rise fast: high AUC is good.
//! - The score is the softmax probability of the class predicted on the unmodified image, measured after
//!   0, 1, …, ⌈HW/step⌉ steps; the AUC is the trapezoid rule over the fraction of pixels changed (equal to
//!   RISE's `auc()` when `step` divides H·W).
//!
//! One deliberate difference: RISE orders pixels with `np.argsort` (unstable quicksort) reversed, so tied
//! pixels (a LIME superpixel, the zero region of a ReLU'd CAM) go in an arbitrary, scan-related order.
//! Here ties are broken by a seeded random permutation, so no image region is favoured by scan order and
//! runs are reproducible.

use anyhow::{ensure, Context, Result};
use async_trait::async_trait;
use ndarray::{Array3, Array4, ArrayView2, ArrayView3, ArrayView4, Axis};

use crate::numerics::softmax_probability;
use crate::progress::{check_cancelled, Progress};
use crate::rng::SplitMix64;

/// Which causal metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CausalMode {
    Deletion,
    Insertion,
}

impl CausalMode {
    pub fn name(self) -> &'static str {
        match self {
            CausalMode::Deletion => "deletion",
            CausalMode::Insertion => "insertion",
        }
    }
}

/// The model as the causal metrics see it: the probability of one class for each image of a batch.
#[async_trait(?Send)]
pub trait ClassProbability {
    /// `batch` is N×3×H×W in the model's normalised input space; returns N probabilities of `class`.
    async fn class_probability(&self, batch: ArrayView4<'_, f32>, class: usize)
        -> Result<Vec<f32>>;
}

/// The classifier as the causal metrics use it: softmax of its logits, as RISE wraps its model.
#[async_trait(?Send)]
impl ClassProbability for crate::model::Classifier {
    async fn class_probability(
        &self,
        batch: ArrayView4<'_, f32>,
        class: usize,
    ) -> Result<Vec<f32>> {
        // Silent: the causal game reports progress per step itself.
        let out = self.forward(batch, &crate::progress::Silent).await?;
        Ok(out
            .logits
            .axis_iter(Axis(0))
            .map(|row| softmax_probability(row, class))
            .collect())
    }
}

/// Settings of a deletion/insertion run.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CausalConfig {
    /// Pixels changed per step (RISE's notebook uses 224 on 224×224 inputs, i.e. 224 steps).
    pub step: usize,
    /// Images per call of the model.
    pub batch: usize,
    /// Seed of the tie-breaking permutation.
    pub seed: u64,
}

impl Default for CausalConfig {
    fn default() -> Self {
        // 224·7 = 1568 pixels per step: 32 steps on 224×224, a seventh of RISE's forward passes, and it
        // divides H·W so the AUC equals RISE's.
        CausalConfig {
            step: 224 * 7,
            batch: 8,
            seed: 0,
        }
    }
}

/// One deletion or insertion curve.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CausalCurve {
    pub mode: CausalMode,
    pub class: usize,
    /// Fraction of pixels changed after each step, from 0 to 1.
    pub fractions: Vec<f64>,
    /// Probability of `class` after each step.
    pub scores: Vec<f64>,
    /// Trapezoid area under `scores` over `fractions`.
    pub auc: f64,
}

/// Area under a curve by the trapezoid rule; `xs` must be increasing.
pub fn trapezoid_auc(xs: &[f64], ys: &[f64]) -> f64 {
    xs.windows(2)
        .zip(ys.windows(2))
        .map(|(x, y)| (x[1] - x[0]) * (y[0] + y[1]) / 2.0)
        .sum()
}

/// RISE's 1-D blur weights: `scipy.ndimage.gaussian_filter` (σ = 5, truncate 4, mode "reflect") applied
/// to a unit impulse in the middle of 11 samples. The 2-D kernel is their outer product (the filter is
/// separable), so it sums to 1 and includes the mass that the reflecting border folds back in.
pub fn rise_blur_weights() -> [f64; 11] {
    const LEN: isize = 11;
    const SIGMA: f64 = 5.0;
    let radius = (4.0 * SIGMA + 0.5) as isize;
    let gauss: Vec<f64> = (-radius..=radius)
        .map(|x| (-0.5 * (x * x) as f64 / (SIGMA * SIGMA)).exp())
        .collect();
    let total: f64 = gauss.iter().sum();
    // scipy's "reflect" extends d c b a | a b c d | d c b a (period 2·LEN).
    let reflect = |j: isize| {
        let m = j.rem_euclid(2 * LEN);
        if m < LEN {
            m
        } else {
            2 * LEN - 1 - m
        }
    };
    let mut weights = [0.0; 11];
    for (i, w) in weights.iter_mut().enumerate() {
        for (t, g) in (-radius..=radius).zip(&gauss) {
            if reflect(i as isize + t) == LEN / 2 {
                *w += g / total;
            }
        }
    }
    weights
}

/// RISE's insertion substrate: each channel convolved with the 11×11 kernel, zero padding of 5.
pub fn rise_blur(image: ArrayView3<f32>) -> Array3<f32> {
    let k = rise_blur_weights();
    let r = (k.len() / 2) as isize;
    let (c, h, w) = image.dim();
    // Separable: rows then columns; zero padding is the same for both passes because the 2-D zero-padded
    // correlation with an outer-product kernel factorises.
    let mut rows = Array3::<f64>::zeros((c, h, w));
    let mut out = Array3::<f32>::zeros((c, h, w));
    for ch in 0..c {
        for y in 0..h {
            for x in 0..w {
                let mut acc = 0.0;
                for (t, kt) in k.iter().enumerate() {
                    let xx = x as isize + t as isize - r;
                    if (0..w as isize).contains(&xx) {
                        acc += kt * image[(ch, y, xx as usize)] as f64;
                    }
                }
                rows[(ch, y, x)] = acc;
            }
        }
        for y in 0..h {
            for x in 0..w {
                let mut acc = 0.0;
                for (t, kt) in k.iter().enumerate() {
                    let yy = y as isize + t as isize - r;
                    if (0..h as isize).contains(&yy) {
                        acc += kt * rows[(ch, yy as usize, x)];
                    }
                }
                out[(ch, y, x)] = acc as f32;
            }
        }
    }
    out
}

/// Pixel indices (row-major) from most to least important; ties in a seeded random order.
pub fn salient_order(saliency: ArrayView2<f32>, seed: u64) -> Vec<usize> {
    let values: Vec<f32> = saliency.iter().copied().collect();
    let mut rng = SplitMix64::new(seed);
    let tie_break: Vec<u64> = (0..values.len()).map(|_| rng.next_u64()).collect();
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| {
        values[b]
            .total_cmp(&values[a])
            .then(tie_break[a].cmp(&tie_break[b]))
    });
    order
}

/// Runs one deletion or insertion game of `image` (3×H×W, normalised) explained by `saliency` (H×W).
pub async fn causal_curve(
    model: &dyn ClassProbability,
    image: ArrayView3<'_, f32>,
    saliency: ArrayView2<'_, f32>,
    class: usize,
    mode: CausalMode,
    config: &CausalConfig,
    progress: &dyn Progress,
) -> Result<CausalCurve> {
    let (channels, h, w) = image.dim();
    ensure!(
        saliency.dim() == (h, w),
        "{} game: saliency map is {:?} but the image is {h}×{w}; resize the map to the model input first",
        mode.name(),
        saliency.dim()
    );
    ensure!(
        config.step > 0 && config.batch > 0,
        "{} game: step and batch must be positive",
        mode.name()
    );
    let hw = h * w;
    let n_steps = hw.div_ceil(config.step);
    let order = salient_order(saliency, config.seed);
    let substrate = match mode {
        CausalMode::Deletion => Array3::zeros(image.raw_dim()),
        CausalMode::Insertion => rise_blur(image),
    };
    let (mut current, finish) = match mode {
        CausalMode::Deletion => (image.to_owned(), substrate),
        CausalMode::Insertion => (substrate, image.to_owned()),
    };
    progress.stage(&format!("{} game", mode.name()), (n_steps + 1) as u64);
    let mut scores = Vec::with_capacity(n_steps + 1);
    let mut fractions = Vec::with_capacity(n_steps + 1);
    let mut step_index = 0;
    while step_index <= n_steps {
        check_cancelled(progress)?;
        let in_batch = config.batch.min(n_steps + 1 - step_index);
        let mut batch = Array4::<f32>::zeros((in_batch, channels, h, w));
        for mut slot in batch.axis_iter_mut(Axis(0)) {
            slot.assign(&current);
            fractions.push((step_index * config.step).min(hw) as f64 / hw as f64);
            // Move to the next state: change the next `step` most salient pixels, all channels.
            let changed = &order
                [(step_index * config.step).min(hw)..((step_index + 1) * config.step).min(hw)];
            for &p in changed {
                let (y, x) = (p / w, p % w);
                for ch in 0..channels {
                    current[(ch, y, x)] = finish[(ch, y, x)];
                }
            }
            step_index += 1;
        }
        let probs = model
            .class_probability(batch.view(), class)
            .await
            .with_context(|| format!("{} game: model call failed", mode.name()))?;
        ensure!(
            probs.len() == in_batch,
            "model returned {} scores for {in_batch} images",
            probs.len()
        );
        scores.extend(probs.iter().map(|&p| p as f64));
        progress.advance(in_batch as u64);
    }
    let auc = trapezoid_auc(&fractions, &scores);
    Ok(CausalCurve {
        mode,
        class,
        fractions,
        scores,
        auc,
    })
}

/// The mean of several images' curves (each image has its own class).
#[derive(Debug, Clone, PartialEq)]
pub struct MeanCurve {
    pub fractions: Vec<f64>,
    /// The mean probability at each fraction.
    pub scores: Vec<f64>,
}

/// Mean over images of curves that share their fractions (same image size and step); `None` when they
/// differ in length.
pub fn mean_curve(curves: &[&CausalCurve]) -> Option<MeanCurve> {
    let first = curves.first()?;
    let n = first.scores.len();
    if curves.iter().any(|c| c.scores.len() != n) {
        return None;
    }
    Some(MeanCurve {
        fractions: first.fractions.clone(),
        scores: (0..n)
            .map(|i| curves.iter().map(|c| c.scores[i]).sum::<f64>() / curves.len() as f64)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;
    use ndarray::Array2;

    /// A hand-made "model": the probability is the mean of channel 0 over a fixed set of pixels, so the
    /// curves have closed forms.
    struct MeanOverRegion {
        region: Array2<bool>,
    }

    #[async_trait(?Send)]
    impl ClassProbability for MeanOverRegion {
        async fn class_probability(
            &self,
            batch: ArrayView4<'_, f32>,
            _class: usize,
        ) -> Result<Vec<f32>> {
            let n = self.region.iter().filter(|&&m| m).count() as f32;
            Ok(batch
                .axis_iter(Axis(0))
                .map(|img| {
                    let mut s = 0.0;
                    for ((y, x), &m) in self.region.indexed_iter() {
                        if m {
                            s += img[(0, y, x)];
                        }
                    }
                    s / n
                })
                .collect())
        }
    }

    fn run(
        model: &MeanOverRegion,
        image: &Array3<f32>,
        sal: &Array2<f32>,
        mode: CausalMode,
        step: usize,
    ) -> CausalCurve {
        let config = CausalConfig {
            step,
            batch: 3,
            seed: 7,
        };
        futures::executor::block_on(causal_curve(
            model,
            image.view(),
            sal.view(),
            0,
            mode,
            &config,
            &Silent,
        ))
        .unwrap()
    }

    #[test]
    fn trapezoid_of_known_curves() {
        let xs: Vec<f64> = (0..=4).map(|i| i as f64 / 4.0).collect();
        assert!((trapezoid_auc(&xs, &[1.0; 5]) - 1.0).abs() < 1e-12);
        assert!((trapezoid_auc(&xs, &xs) - 0.5).abs() < 1e-12);
        // A step 1,1,0,0,0: 0.25 + 0.125 = 0.375.
        assert!((trapezoid_auc(&xs, &[1.0, 1.0, 0.0, 0.0, 0.0]) - 0.375).abs() < 1e-12);
    }

    #[test]
    fn deletion_with_a_perfect_map_drops_at_once_and_a_reversed_map_late() {
        // 4×4 image of ones; the model looks at the top-left 2×2 block (4 of 16 pixels).
        let region = Array2::from_shape_fn((4, 4), |(y, x)| y < 2 && x < 2);
        let model = MeanOverRegion {
            region: region.clone(),
        };
        let image = Array3::<f32>::ones((3, 4, 4));
        let perfect = region.mapv(|m| if m { 1.0f32 } else { 0.0 });
        let c = run(&model, &image, &perfect, CausalMode::Deletion, 2);
        // Steps of 2 pixels: scores 1, 0.5, 0, 0, ... (9 points over fractions 0, 1/8, ..., 1).
        assert_eq!(c.fractions.len(), 9);
        assert_eq!(&c.scores[..4], &[1.0, 0.5, 0.0, 0.0]);
        assert!(
            (c.auc - (0.125 * 0.75 + 0.125 * 0.25)).abs() < 1e-9,
            "{}",
            c.auc
        );
        let reversed = perfect.mapv(|v| 1.0 - v);
        let r = run(&model, &image, &reversed, CausalMode::Deletion, 2);
        // The 12 unimportant pixels go first (6 steps at 1.0), then 0.5, then 0.
        assert_eq!(r.scores, vec![1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.0]);
        assert!(r.auc > c.auc);
    }

    #[test]
    fn insertion_ends_at_the_original_score_and_starts_at_the_blurred_one() {
        let region = Array2::from_shape_fn((16, 16), |(y, x)| {
            (6..10).contains(&y) && (6..10).contains(&x)
        });
        let model = MeanOverRegion {
            region: region.clone(),
        };
        let image = Array3::from_shape_fn(
            (3, 16, 16),
            |(_, y, x)| if region[(y, x)] { 1.0 } else { 0.0 },
        );
        let sal = region.mapv(|m| if m { 1.0f32 } else { 0.0 });
        let c = run(&model, &image, &sal, CausalMode::Insertion, 16);
        let blurred = rise_blur(image.view());
        let blurred_score = model_score(&model, &blurred);
        assert!((c.scores[0] - blurred_score).abs() < 1e-6);
        assert!(blurred_score < 1.0);
        assert!((c.scores.last().unwrap() - 1.0).abs() < 1e-6);
        // The 16 region pixels are the first step: full score after one step.
        assert!((c.scores[1] - 1.0).abs() < 1e-6);
    }

    fn model_score(model: &MeanOverRegion, image: &Array3<f32>) -> f64 {
        let batch = image.view().insert_axis(Axis(0));
        futures::executor::block_on(model.class_probability(batch, 0)).unwrap()[0] as f64
    }

    #[test]
    fn blur_kernel_is_normalised_symmetric_and_peaked() {
        let k = rise_blur_weights();
        assert!((k.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        for i in 0..11 {
            assert!((k[i] - k[10 - i]).abs() < 1e-15);
        }
        assert!(k[5] > k[4] && k[4] > k[0]);
        // Far from the border the blur keeps a constant image constant; at the border zero padding darkens.
        let img = Array3::<f32>::ones((1, 30, 30));
        let b = rise_blur(img.view());
        assert!((b[(0, 15, 15)] - 1.0).abs() < 1e-6);
        assert!(b[(0, 0, 0)] < 0.5);
    }

    #[test]
    fn ties_are_broken_reproducibly_but_not_in_scan_order() {
        let flat = Array2::<f32>::zeros((8, 8));
        let a = salient_order(flat.view(), 1);
        assert_eq!(a, salient_order(flat.view(), 1));
        assert_ne!(a, (0..64).collect::<Vec<_>>());
    }
}
