//! Class activation maps at the last convolutional layer, with pytorch-grad-cam's exact semantics.
//!
//! Every supported model ends in `logits = W · mean_hw(features) + b` (checked when the
//! [`Classifier`] is loaded), so `∂y_c/∂A_k(i,j) = W[c,k] / (h·w)` at every position: the
//! gradient-based methods need no autodiff, and zero-ablating channel `k` changes `y_c` by exactly
//! `W[c,k] · (mean(A_k) − v)`. Only ScoreCAM needs extra forward passes (one per channel, batched).
//!
//! Post-processing follows `BaseCAM.compute_cam_per_layer` + `aggregate_multi_layers` for one target
//! layer: ReLU → per-image min-max (eps 1e-7) → `cv2.resize` (bilinear) to the input size → ReLU →
//! min-max again.

use anyhow::{ensure, Result};
use ndarray::{s, Array1, Array2, Array3, Array4, ArrayView1, ArrayView2, ArrayView3, Axis};
use serde::{Deserialize, Serialize};

use crate::model::{Classifier, Forward, LinearHead};
use crate::numerics::{min_max_eps, softmax};
use crate::progress::{check_cancelled, Progress};

/// A CAM method. Names follow pytorch-grad-cam's classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CamMethod {
    GradCam,
    AblationCam,
    ScoreCam,
    GradCamPlusPlus,
    XGradCam,
    LayerCam,
    EigenCam,
    HiResCam,
}

impl CamMethod {
    pub const ALL: [CamMethod; 8] = [
        CamMethod::GradCam,
        CamMethod::AblationCam,
        CamMethod::ScoreCam,
        CamMethod::GradCamPlusPlus,
        CamMethod::XGradCam,
        CamMethod::LayerCam,
        CamMethod::EigenCam,
        CamMethod::HiResCam,
    ];

    /// The name used on the command line, in file names and in the browser.
    pub fn name(self) -> &'static str {
        match self {
            CamMethod::GradCam => "gradcam",
            CamMethod::AblationCam => "ablationcam",
            CamMethod::ScoreCam => "scorecam",
            CamMethod::GradCamPlusPlus => "gradcamplusplus",
            CamMethod::XGradCam => "xgradcam",
            CamMethod::LayerCam => "layercam",
            CamMethod::EigenCam => "eigencam",
            CamMethod::HiResCam => "hirescam",
        }
    }

    /// Parses a method name (case-insensitive; `gradcam++` is accepted for Grad-CAM++).
    pub fn from_name(name: &str) -> Result<CamMethod> {
        let wanted = name.trim().to_ascii_lowercase().replace(['-', '_'], "");
        let wanted = if wanted == "gradcam++" {
            "gradcamplusplus".to_string()
        } else {
            wanted
        };
        CamMethod::ALL
            .into_iter()
            .find(|m| m.name() == wanted)
            .ok_or_else(|| {
                let known: Vec<_> = CamMethod::ALL.iter().map(|m| m.name()).collect();
                anyhow::anyhow!(
                    "unknown CAM method `{name}`; known methods: {}",
                    known.join(", ")
                )
            })
    }

    /// Whether the method needs forward passes beyond the first one.
    pub fn needs_extra_passes(self) -> bool {
        self.kind() == CamKind::Score
    }

    /// How the method finds its map (see [`CamKind`]).
    pub fn kind(self) -> CamKind {
        match self {
            CamMethod::GradCam => CamKind::Analytic(AnalyticMethod::GradCam),
            CamMethod::HiResCam => CamKind::Analytic(AnalyticMethod::HiResCam),
            CamMethod::GradCamPlusPlus => CamKind::Analytic(AnalyticMethod::GradCamPlusPlus),
            CamMethod::XGradCam => CamKind::Analytic(AnalyticMethod::XGradCam),
            CamMethod::LayerCam => CamKind::Analytic(AnalyticMethod::LayerCam),
            CamMethod::EigenCam => CamKind::Analytic(AnalyticMethod::EigenCam),
            CamMethod::AblationCam => CamKind::Ablation,
            CamMethod::ScoreCam => CamKind::Score,
        }
    }
}

/// What a method adds to the shared base ([`explain`]: raw map → [`postprocess`]), as each of
/// pytorch-grad-cam's `BaseCAM` subclasses overrides `get_cam_weights` (or `get_cam_image`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CamKind {
    /// The map follows from the features and the head's gradient alone ([`analytic_cam`]).
    Analytic(AnalyticMethod),
    /// AblationCAM: the target logit's drop when each channel is ablated, through the head
    /// ([`ablation_cam`]).
    Ablation,
    /// ScoreCAM: one forward pass per channel-masked input ([`score_cam`]).
    Score,
}

/// The methods whose map needs nothing but the features and the linear head's (constant) gradient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnalyticMethod {
    GradCam,
    HiResCam,
    GradCamPlusPlus,
    XGradCam,
    LayerCam,
    EigenCam,
}

/// A map before post-processing (what [`Cam`] keeps of it under the same names).
#[derive(Debug, Clone, PartialEq)]
pub struct RawCam {
    /// The per-channel weights, where the method has them.
    pub channel_weights: Option<Array1<f32>>,
    /// The raw h×w map.
    pub raw: Array2<f32>,
}

/// Settings that change numbers, with pytorch-grad-cam's defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CamOptions {
    /// `AblationCAM(batch_size=32)`: only matters when the feature map has no zero, because then
    /// pytorch-grad-cam's ablation value drifts by −1e7 per image within each batch (see [`ablation_values`]).
    pub ablation_batch: usize,
    /// Images per engine call for ScoreCAM's masked inputs (does not change the numbers).
    pub score_batch: usize,
}

impl Default for CamOptions {
    fn default() -> Self {
        CamOptions {
            ablation_batch: 32,
            score_batch: 16,
        }
    }
}

/// One explanation map.
#[derive(Debug, Clone)]
pub struct Cam {
    pub method: CamMethod,
    /// The class explained (index into the logits).
    pub target: usize,
    /// Per-channel weights where the method has them (not LayerCAM, HiResCAM's elementwise form, EigenCAM).
    pub channel_weights: Option<Array1<f32>>,
    /// The map at feature resolution before ReLU/normalisation (h×w).
    pub raw: Array2<f32>,
    /// pytorch-grad-cam's "grayscale cam": input resolution (H×W), values in [0, 1].
    pub map: Array2<f32>,
}

/// Computes one CAM for `input` (3×H×W, already normalised) whose first forward pass is `forward`.
pub async fn explain(
    classifier: &Classifier,
    input: ArrayView3<'_, f32>,
    forward: &Forward,
    target: usize,
    method: CamMethod,
    options: &CamOptions,
    progress: &dyn Progress,
) -> Result<Cam> {
    let features = forward.features.index_axis(Axis(0), 0);
    let logits = forward.logits.index_axis(Axis(0), 0);
    let head = &classifier.head;
    ensure!(
        target < logits.len(),
        "target class {target} is out of range: the model has {} classes",
        logits.len()
    );
    ensure!(
        head.weight.ncols() == features.shape()[0],
        "the linear head has {} input channels but the feature map has {}",
        head.weight.ncols(),
        features.shape()[0]
    );
    let (out_h, out_w) = (input.shape()[1], input.shape()[2]);

    let RawCam {
        channel_weights,
        raw,
    } = match method.kind() {
        CamKind::Analytic(analytic) => analytic_cam(analytic, head, features, target),
        CamKind::Ablation => ablation_cam(
            head,
            features,
            logits[target],
            target,
            options.ablation_batch,
        )?,
        CamKind::Score => score_cam(classifier, input, features, target, options, progress).await?,
    };
    let map = postprocess(raw.view(), out_h, out_w);
    Ok(Cam {
        method,
        target,
        channel_weights,
        raw,
        map,
    })
}

/// The gradient of logit `target` w.r.t. every position of channel `k`: `W[target,k] / (h·w)`.
pub fn head_gradient(head: &LinearHead, target: usize, h: usize, w: usize) -> Array1<f32> {
    let scale = 1.0 / (h * w) as f32;
    head.weight.row(target).mapv(|v| v * scale)
}

/// Every method whose map follows from the features and the head's gradient alone (no extra forward
/// pass, nothing that can fail).
pub fn analytic_cam(
    method: AnalyticMethod,
    head: &LinearHead,
    features: ArrayView3<f32>,
    target: usize,
) -> RawCam {
    let (channels, h, w) = features.dim();
    let grad = head_gradient(head, target, h, w);
    let sums: Array1<f32> = features.sum_axis(Axis(2)).sum_axis(Axis(1));
    match method {
        // GradCAM: mean of the (spatially constant) gradient. HiResCAM sums grads·A elementwise,
        // which for a constant gradient is the same map.
        AnalyticMethod::GradCam | AnalyticMethod::HiResCam => from_weights(features, grad),
        AnalyticMethod::GradCamPlusPlus => {
            // aij = g² / (2g² + ΣA·g³ + eps), zero where g == 0; weight = Σ_ij relu(g)·aij.
            let eps = 1e-6f32;
            let weights = Array1::from_shape_fn(channels, |k| {
                let g = grad[k];
                if g == 0.0 {
                    return 0.0;
                }
                let g2 = g * g;
                let aij = g2 / (2.0 * g2 + sums[k] * (g2 * g) + eps);
                (h * w) as f32 * (g.max(0.0) * aij)
            });
            from_weights(features, weights)
        }
        AnalyticMethod::XGradCam => {
            // weight = Σ_ij g·A / (ΣA + eps) = g·ΣA/(ΣA + eps).
            let eps = 1e-7f32;
            let weights = Array1::from_shape_fn(channels, |k| {
                let per_position = features
                    .index_axis(Axis(0), k)
                    .mapv(|a| grad[k] * a / (sums[k] + eps));
                per_position.sum()
            });
            from_weights(features, weights)
        }
        AnalyticMethod::LayerCam => {
            // Σ_k relu(g_k)·A_k: with a constant gradient this is a weighted sum with relu(g).
            let weights = grad.mapv(|g| g.max(0.0));
            RawCam {
                channel_weights: None,
                raw: weighted_sum(features, weights.view()),
            }
        }
        AnalyticMethod::EigenCam => RawCam {
            channel_weights: None,
            raw: eigen_projection(features),
        },
    }
}

/// The value pytorch-grad-cam's `AblationLayer` writes into ablated channel number `i` (0-based, in
/// channel order). With a zero anywhere in the map it is 0. Otherwise the layer writes
/// `min(output) − 1e7`, where `output` is the batch being ablated in place, so within each batch of
/// `batch` images the value keeps falling by 1e7 (f32 arithmetic, as torch does it).
pub fn ablation_values(features: ArrayView3<f32>, batch: usize) -> Array1<f32> {
    let channels = features.shape()[0];
    let min = features.iter().copied().fold(f32::INFINITY, f32::min);
    if min == 0.0 {
        return Array1::zeros(channels);
    }
    let batch = batch.max(1);
    Array1::from_shape_fn(channels, |k| {
        let mut value = min;
        for _ in 0..=(k % batch) {
            value -= 1e7;
        }
        value
    })
}

/// AblationCAM's weights `(y − y_k) / y`, where `y_k` is the target logit with channel k replaced by
/// the ablation value: through the linear head, `y − y_k = W[c,k]·(mean(A_k) − v_k)`.
pub fn ablation_weights(
    head: &LinearHead,
    features: ArrayView3<f32>,
    target_logit: f32,
    target: usize,
    batch: usize,
) -> Result<Array1<f32>> {
    ensure!(
        target_logit != 0.0,
        "AblationCAM divides by the target logit, which is exactly 0 for class {target}"
    );
    let values = ablation_values(features, batch);
    let (_, h, w) = features.dim();
    let row = head.weight.row(target);
    let y = target_logit as f64;
    Ok(Array1::from_shape_fn(features.shape()[0], |k| {
        let mean = features
            .index_axis(Axis(0), k)
            .iter()
            .map(|&a| a as f64)
            .sum::<f64>()
            / (h * w) as f64;
        let drop = row[k] as f64 * (mean - values[k] as f64);
        // pytorch-grad-cam rounds the ablated score to f32 before subtracting.
        let ablated = (y - drop) as f32 as f64;
        ((y - ablated) / y) as f32
    }))
}

/// AblationCAM: [`ablation_weights`] applied to the feature map.
pub fn ablation_cam(
    head: &LinearHead,
    features: ArrayView3<f32>,
    target_logit: f32,
    target: usize,
    batch: usize,
) -> Result<RawCam> {
    let weights = ablation_weights(head, features, target_logit, target, batch)?;
    Ok(from_weights(features, weights))
}

/// ScoreCAM: each channel, upsampled (bilinear, align_corners=True) and min-max normalised, masks the
/// input; the weights are the softmax over channels of the target logit of those masked inputs.
pub async fn score_cam(
    classifier: &Classifier,
    input: ArrayView3<'_, f32>,
    features: ArrayView3<'_, f32>,
    target: usize,
    options: &CamOptions,
    progress: &dyn Progress,
) -> Result<RawCam> {
    let (channels, _, _) = features.dim();
    let (_, out_h, out_w) = input.dim();
    let batch = options.score_batch.max(1);
    progress.stage("ScoreCAM forward passes", channels as u64);
    // A pool of workers (the page's) runs several batches at once; each batch is the same as alone.
    let lanes = classifier.engine.concurrency().max(1);
    let firsts: Vec<usize> = (0..channels).step_by(batch).collect();
    let mut scores = Vec::with_capacity(channels);
    for round in firsts.chunks(lanes) {
        check_cancelled(progress)?;
        let inputs: Vec<Array4<f32>> = round
            .iter()
            .map(|&start| {
                let end = (start + batch).min(channels);
                let mut masked = Array4::<f32>::zeros((end - start, 3, out_h, out_w));
                for (slot, k) in (start..end).enumerate() {
                    let mask = normalised_upsample(features.index_axis(Axis(0), k), out_h, out_w);
                    for c in 0..3 {
                        let mut plane = masked.slice_mut(s![slot, c, .., ..]);
                        plane.assign(&input.index_axis(Axis(0), c));
                        plane *= &mask;
                    }
                }
                masked
            })
            .collect();
        let outputs = futures::future::join_all(
            inputs
                .iter()
                .map(|masked| classifier.forward(masked.view(), progress)),
        )
        .await;
        for (out, masked) in outputs.into_iter().zip(&inputs) {
            scores.extend(out?.logits.column(target).iter().copied());
            progress.advance(masked.shape()[0] as u64);
        }
    }
    let weights = Array1::from(softmax(ArrayView1::from(&scores)));
    Ok(from_weights(features, weights))
}

/// One channel upsampled to the input size with align_corners=True and scaled to [0, 1] by
/// `(x − min) / (max − min + 1e-8)`, as ScoreCAM does it.
pub fn normalised_upsample(channel: ArrayView2<f32>, out_h: usize, out_w: usize) -> Array2<f32> {
    let up = resize_bilinear_align_corners(channel, out_h, out_w);
    min_max_eps(up.view(), 1e-8)
}

/// The shared base of the channel-weight methods (`BaseCAM.get_cam_image`): the weights and
/// `Σ_k weights[k] · A_k`.
pub fn from_weights(features: ArrayView3<f32>, weights: Array1<f32>) -> RawCam {
    let raw = weighted_sum(features, weights.view());
    RawCam {
        channel_weights: Some(weights),
        raw,
    }
}

/// `Σ_k weights[k] · A_k` over channels.
pub fn weighted_sum(features: ArrayView3<f32>, weights: ArrayView1<f32>) -> Array2<f32> {
    let (_, h, w) = features.dim();
    let mut out = Array2::<f32>::zeros((h, w));
    for (channel, &weight) in features.outer_iter().zip(weights.iter()) {
        if weight != 0.0 {
            out.scaled_add(weight, &channel);
        }
    }
    out
}

/// EigenCAM: the projection of the centred activations (positions × channels) on their first right
/// singular vector. That equals `s₁·u₁`, the first eigenvector of the small Gram matrix `X·Xᵀ`
/// (positions × positions), which we solve instead of an SVD of the wide matrix.
///
/// An SVD's sign is arbitrary (pytorch-grad-cam inherits whatever LAPACK returns), so we fix it the
/// way Seg-Eigen-CAM does: flip the map when `|min| > |max|`, so the dominant structure is positive.
pub fn eigen_projection(features: ArrayView3<f32>) -> Array2<f32> {
    let (channels, h, w) = features.dim();
    let positions = h * w;
    // X[p, k] centred over positions, in f64 for a stable Gram matrix.
    let mut x = Array2::<f64>::zeros((positions, channels));
    for k in 0..channels {
        let plane = features.index_axis(Axis(0), k);
        let values: Vec<f64> = plane
            .iter()
            .map(|&v| if v.is_nan() { 0.0 } else { v as f64 })
            .collect();
        let mean = values.iter().sum::<f64>() / positions as f64;
        for (p, v) in values.into_iter().enumerate() {
            x[[p, k]] = v - mean;
        }
    }
    let gram = x.dot(&x.t());
    let gram = nalgebra::DMatrix::from_fn(positions, positions, |i, j| gram[[i, j]]);
    let eigen = nalgebra::SymmetricEigen::new(gram);
    let top = eigen
        .eigenvalues
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i)
        .unwrap_or(0);
    let singular = eigen.eigenvalues[top].max(0.0).sqrt();
    let u = eigen.eigenvectors.column(top);
    let mut projection = Array2::from_shape_fn((h, w), |(i, j)| (singular * u[i * w + j]) as f32);
    let max = projection.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let min = projection.iter().copied().fold(f32::INFINITY, f32::min);
    if min.abs() > max.abs() {
        projection.mapv_inplace(|v| -v);
    }
    projection
}

/// ReLU → min-max → `cv2.resize` to (out_h, out_w) → ReLU → min-max, as pytorch-grad-cam does for a
/// single target layer (`compute_cam_per_layer` then `aggregate_multi_layers`).
/// Each min-max is `scale_cam_image`'s (`x − min`, then `/ (1e-7 + max)`; see [`min_max_eps`]).
pub fn postprocess(raw: ArrayView2<f32>, out_h: usize, out_w: usize) -> Array2<f32> {
    let scaled = min_max_eps(raw.mapv(|v| v.max(0.0)).view(), 1e-7);
    let resized = resize_bilinear_cv2(scaled.view(), out_h, out_w);
    min_max_eps(resized.mapv(|v| v.max(0.0)).view(), 1e-7)
}

/// OpenCV's `resize(..., INTER_LINEAR)` for a float image: half-pixel centres, edge clamping, no
/// antialiasing; a horizontal then a vertical pass, like cv2's separable implementation.
pub fn resize_bilinear_cv2(src: ArrayView2<f32>, out_h: usize, out_w: usize) -> Array2<f32> {
    let (in_h, in_w) = src.dim();
    let x_taps = cv2_taps(in_w, out_w);
    let y_taps = cv2_taps(in_h, out_h);
    let mut rows = Array2::<f32>::zeros((in_h, out_w));
    for y in 0..in_h {
        for (x, &(x0, x1, fx)) in x_taps.iter().enumerate() {
            rows[[y, x]] = src[[y, x0]] * (1.0 - fx) + src[[y, x1]] * fx;
        }
    }
    let mut out = Array2::<f32>::zeros((out_h, out_w));
    for (y, &(y0, y1, fy)) in y_taps.iter().enumerate() {
        for x in 0..out_w {
            out[[y, x]] = rows[[y0, x]] * (1.0 - fy) + rows[[y1, x]] * fy;
        }
    }
    out
}

/// For each output index: (left source index, right source index, weight of the right one), with
/// cv2's mapping `src = (dst + 0.5)·scale − 0.5`, clamped at both edges.
fn cv2_taps(in_len: usize, out_len: usize) -> Vec<(usize, usize, f32)> {
    let scale = in_len as f64 / out_len as f64;
    (0..out_len)
        .map(|d| {
            let f = (d as f64 + 0.5) * scale - 0.5;
            let mut i = f.floor() as isize;
            let mut frac = (f - i as f64) as f32;
            if i < 0 {
                i = 0;
                frac = 0.0;
            }
            let last = in_len as isize - 1;
            if i >= last {
                i = last;
                frac = 0.0;
            }
            let i = i as usize;
            (i, (i + 1).min(in_len - 1), frac)
        })
        .collect()
}

/// `torch.nn.UpsamplingBilinear2d` (bilinear, align_corners=True): corners map to corners.
pub fn resize_bilinear_align_corners(
    src: ArrayView2<f32>,
    out_h: usize,
    out_w: usize,
) -> Array2<f32> {
    let (in_h, in_w) = src.dim();
    let taps = |in_len: usize, out_len: usize| -> Vec<(usize, usize, f32)> {
        let scale = if out_len > 1 {
            (in_len - 1) as f32 / (out_len - 1) as f32
        } else {
            0.0
        };
        (0..out_len)
            .map(|d| {
                let f = scale * d as f32;
                let i = (f.floor() as usize).min(in_len - 1);
                let j = (i + 1).min(in_len - 1);
                (i, j, f - i as f32)
            })
            .collect()
    };
    let (ys, xs) = (taps(in_h, out_h), taps(in_w, out_w));
    Array2::from_shape_fn((out_h, out_w), |(y, x)| {
        let (y0, y1, fy) = ys[y];
        let (x0, x1, fx) = xs[x];
        let top = src[[y0, x0]] * (1.0 - fx) + src[[y0, x1]] * fx;
        let bottom = src[[y1, x0]] * (1.0 - fx) + src[[y1, x1]] * fx;
        top * (1.0 - fy) + bottom * fy
    })
}

/// Stacks several maps (for writing or comparing): n×H×W.
pub fn stack(maps: &[&Array2<f32>]) -> Result<Array3<f32>> {
    let views: Vec<_> = maps.iter().map(|m| m.view()).collect();
    Ok(ndarray::stack(Axis(0), &views)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn head(weight: Array2<f32>) -> LinearHead {
        let classes = weight.nrows();
        LinearHead {
            weight,
            bias: Array1::zeros(classes),
        }
    }

    #[test]
    fn method_names_round_trip() {
        for method in CamMethod::ALL {
            assert_eq!(CamMethod::from_name(method.name()).unwrap(), method);
        }
        assert_eq!(
            CamMethod::from_name("Grad-CAM++").unwrap(),
            CamMethod::GradCamPlusPlus
        );
        let err = CamMethod::from_name("gradkam").unwrap_err().to_string();
        assert!(
            err.contains("unknown CAM method") && err.contains("scorecam"),
            "{err}"
        );
    }

    #[test]
    fn cv2_resize_keeps_constant_and_clamps_edges() {
        let src = array![[0.0f32, 1.0], [2.0, 3.0]];
        let out = resize_bilinear_cv2(src.view(), 4, 4);
        // Half-pixel mapping: dst 0 → src −0.25 → clamped to 0; dst 1 → 0.25; dst 2 → 0.75; dst 3 → clamped to 1.
        assert_eq!(out.row(0).to_vec(), vec![0.0, 0.25, 0.75, 1.0]);
        assert_eq!(out.column(0).to_vec(), vec![0.0, 0.5, 1.5, 2.0]);
        let constant = Array2::from_elem((7, 7), 0.5f32);
        assert!(resize_bilinear_cv2(constant.view(), 224, 224)
            .iter()
            .all(|&v| (v - 0.5).abs() < 1e-7));
    }

    #[test]
    fn align_corners_maps_corners_to_corners() {
        let src = array![[0.0f32, 1.0], [2.0, 3.0]];
        let out = resize_bilinear_align_corners(src.view(), 3, 3);
        assert_eq!(
            out,
            array![[0.0, 0.5, 1.0], [1.0, 1.5, 2.0], [2.0, 2.5, 3.0]]
        );
    }

    #[test]
    fn gradcam_is_head_weighted_sum_and_hirescam_equals_it() {
        let features =
            Array3::from_shape_fn((3, 2, 2), |(k, i, j)| (k + 1) as f32 * (i * 2 + j) as f32);
        let head = head(array![[1.0f32, -2.0, 0.5], [0.0, 1.0, 0.0]]);
        let RawCam {
            channel_weights: w,
            raw,
        } = analytic_cam(AnalyticMethod::GradCam, &head, features.view(), 0);
        assert_eq!(w.unwrap(), array![0.25f32, -0.5, 0.125]);
        // position (1,1): A = [3, 6, 9] → 0.75 − 3 + 1.125.
        assert!((raw[[1, 1]] - (-1.125)).abs() < 1e-6);
        let hires = analytic_cam(AnalyticMethod::HiResCam, &head, features.view(), 0).raw;
        assert_eq!(raw, hires);
    }

    #[test]
    fn ablation_weight_is_the_relative_logit_drop() {
        // One channel is all zeros, so pytorch-grad-cam ablates with 0.
        let features =
            Array3::from_shape_fn(
                (2, 2, 2),
                |(k, i, j)| if k == 0 { 0.0 } else { (1 + i + j) as f32 },
            );
        let head = head(array![[3.0f32, 2.0]]);
        // y = 3·0 + 2·mean([1,2,2,3]) = 4.
        let w = ablation_weights(&head, features.view(), 4.0, 0, 32).unwrap();
        assert_eq!(w, array![0.0f32, 1.0]);
    }

    #[test]
    fn ablation_value_drifts_within_a_batch_when_no_zero() {
        let features = Array3::from_elem((5, 1, 1), 2.0f32);
        let values = ablation_values(features.view(), 2);
        assert_eq!(
            values.to_vec(),
            vec![2.0 - 1e7, 2.0 - 2e7, 2.0 - 1e7, 2.0 - 2e7, 2.0 - 1e7]
        );
    }

    #[test]
    fn eigen_projection_recovers_a_rank_one_map() {
        // Every channel is a multiple of the same spatial pattern: the first component is that pattern.
        let pattern = array![[0.0f32, 1.0, 4.0], [1.0, 2.0, 8.0]];
        let features =
            Array3::from_shape_fn((4, 2, 3), |(k, i, j)| (k as f32 + 1.0) * pattern[[i, j]]);
        let projection = eigen_projection(features.view());
        let mean = pattern.mean().unwrap();
        let centred = pattern.mapv(|v| v - mean);
        let ratio = projection[[1, 2]] / centred[[1, 2]];
        assert!(
            ratio > 0.0,
            "sign convention keeps the dominant lobe positive"
        );
        for (p, c) in projection.iter().zip(centred.iter()) {
            assert!((p - ratio * c).abs() < 1e-4, "{p} vs {}", ratio * c);
        }
    }

    #[test]
    fn postprocess_is_in_unit_range_with_max_one() {
        let raw = array![[-1.0f32, 0.5], [2.0, 1.0]];
        let map = postprocess(raw.view(), 8, 8);
        assert!(map.iter().all(|&v| (0.0..=1.0).contains(&v)));
        assert!((map.iter().copied().fold(0.0, f32::max) - 1.0).abs() < 1e-6);
        // All-zero (after ReLU) maps stay zero rather than dividing by zero.
        let dead = postprocess(Array2::from_elem((2, 2), -1.0f32).view(), 4, 4);
        assert!(dead.iter().all(|&v| v == 0.0));
    }
}
