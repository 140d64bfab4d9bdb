//! Small numerical kernels shared by the methods and the metrics: softmax, min-max normalisation and
//! the IoU of two masks. Each variant reproduces a reference to the bit, so where two references
//! compute "the same" thing differently they stay two named functions, each saying whose semantics
//! it has:
//!
//! - [`softmax`] / [`softmax_probability`]: max-shifted in f32, exponentials and their (sequential)
//!   sum in f64, rounded to f32 at the end. Our own choice where no reference fixes the arithmetic
//!   (top-k probabilities, ScoreCAM's channel weights, the causal metrics' class probability).
//! - [`softmax_rows_torch_f32`]: everything in f32, `torch.nn.functional.softmax`'s arithmetic, for
//!   LIME, whose classifier function applies torch's softmax to the logits.
//! - [`softmax_scaled_f64`]: `softmax(a·x)` entirely in f64, as CLIP-Dissect's soft-WPMI computes its
//!   concept probabilities from double-precision similarities.
//! - [`min_max_eps`]: `(x − min) / (max − min + eps)`: pytorch-grad-cam's `scale_cam_image` (eps 1e-7)
//!   and ScoreCAM's mask normalisation (eps 1e-8).
//! - [`min_max_unit`]: `(x − min) / (max − min)` with no epsilon (zeros for a constant map), so a map
//!   spans exactly [0, 1]: the range SSIM's constants assume in the sanity checks.

use anyhow::{ensure, Result};
use ndarray::{Array2, ArrayView1, ArrayView2, Axis, Zip};

/// `exp(x − max)` in f64 for every entry (`x − max` rounded in f32 first) and their sum.
fn shifted_exp_f64(x: ArrayView1<f32>) -> (Vec<f64>, f64) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f64> = x.iter().map(|&v| ((v - max) as f64).exp()).collect();
    let total = exp.iter().sum();
    (exp, total)
}

/// Numerically stable softmax of one row: max subtracted in f32, exponentials and their sequential
/// sum in f64, each probability rounded to f32.
pub fn softmax(x: ArrayView1<f32>) -> Vec<f32> {
    let (exp, total) = shifted_exp_f64(x);
    exp.iter().map(|&e| (e / total) as f32).collect()
}

/// `softmax(logits)[class]`, bit for bit, without rounding the other probabilities.
pub fn softmax_probability(logits: ArrayView1<f32>, class: usize) -> f32 {
    let (exp, total) = shifted_exp_f64(logits);
    (exp[class] / total) as f32
}

/// Softmax over each row, in f32 as `torch.nn.functional.softmax` computes it (max subtracted first).
pub fn softmax_rows_torch_f32(logits: &Array2<f32>) -> Array2<f32> {
    let mut out = logits.clone();
    for mut row in out.axis_iter_mut(Axis(0)) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        row.mapv_inplace(|v| (v - max).exp());
        let sum: f32 = row.sum();
        row.mapv_inplace(|v| v / sum);
    }
    out
}

/// `softmax(a · x)` into `out`, entirely in f64 (max of `a·x` subtracted, as torch does).
pub fn softmax_scaled_f64(x: impl Iterator<Item = f32> + Clone, a: f64, out: &mut [f64]) {
    let max = x
        .clone()
        .fold(f64::NEG_INFINITY, |m, v| m.max(a * f64::from(v)));
    let mut sum = 0.0;
    for (o, v) in out.iter_mut().zip(x) {
        *o = (a * f64::from(v) - max).exp();
        sum += *o;
    }
    for o in out.iter_mut() {
        *o /= sum;
    }
}

/// `(x − min) / (max − min + eps)` in f32. With eps 1e-7 this is pytorch-grad-cam's `scale_cam_image`
/// (`x − min`, then `/ (1e-7 + max)` of the shifted map: the same numbers, since the shifted maximum
/// is exactly `max − min` rounded); with eps 1e-8, ScoreCAM's normalisation of its upsampled masks.
pub fn min_max_eps(map: ArrayView2<f32>, eps: f32) -> Array2<f32> {
    let min = map.iter().copied().fold(f32::INFINITY, f32::min);
    let max = map.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let denom = max - min + eps;
    map.mapv(|v| (v - min) / denom)
}

/// `(x − min) / (max − min)`, all zeros for a constant map: no epsilon, so the map spans exactly
/// [0, 1] (Adebayo et al. normalise maps this way before comparing them with SSIM).
pub fn min_max_unit(map: ArrayView2<f32>) -> Array2<f32> {
    let lo = map.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = map.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if hi > lo {
        map.mapv(|v| (v - lo) / (hi - lo))
    } else {
        map.mapv(|_| 0.0)
    }
}

/// Intersection over union of two masks of the same shape, a pixel being inside when it is not
/// `T::default()` (`true` for `bool` masks, non-zero for `u8` masks); `None` when both are empty.
pub fn iou<T: Copy + PartialEq + Default>(
    a: ArrayView2<T>,
    b: ArrayView2<T>,
) -> Result<Option<f64>> {
    ensure!(
        a.dim() == b.dim(),
        "IoU of masks with different shapes {:?} and {:?}",
        a.dim(),
        b.dim()
    );
    let outside = T::default();
    let (mut inter, mut union) = (0usize, 0usize);
    Zip::from(&a).and(&b).for_each(|&x, &y| {
        let (x, y) = (x != outside, y != outside);
        inter += (x && y) as usize;
        union += (x || y) as usize;
    });
    Ok((union > 0).then(|| inter as f64 / union as f64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let x = array![1.0f32, 3.0, 2.0, 12.0, -1000.0];
        let p = softmax(x.view());
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(p[3] > 0.999 && p[1] > p[2] && p[2] > p[0] && p[4] >= 0.0);
        for (k, &pk) in p.iter().enumerate() {
            assert_eq!(softmax_probability(x.view(), k), pk);
        }
        let closed_form = softmax_probability(array![0.0, (3.0f32).ln()].view(), 1);
        assert!((closed_form - 0.75).abs() < 1e-6);
    }

    #[test]
    fn softmax_rows_sum_to_one() {
        let p = softmax_rows_torch_f32(&array![[1.0f32, 2.0, 3.0], [1000.0, 0.0, -1000.0]]);
        for row in p.rows() {
            assert!((row.sum() - 1.0).abs() < 1e-6);
        }
        assert_eq!(p[[1, 0]], 1.0);
    }

    #[test]
    fn softmax_scaled_is_softmax_of_scaled_input() {
        let mut out = [0.0; 3];
        softmax_scaled_f64([1.0f32, 2.0, 3.0].into_iter(), 2.0, &mut out);
        let e: Vec<f64> = [2.0f64, 4.0, 6.0].iter().map(|v| (v - 6.0).exp()).collect();
        let s: f64 = e.iter().sum();
        for (o, e) in out.iter().zip(&e) {
            assert!((o - e / s).abs() < 1e-15);
        }
    }

    #[test]
    fn min_max_variants() {
        let m = array![[1.0f32, 3.0], [2.0, 5.0]];
        let unit = min_max_unit(m.view());
        assert_eq!(unit, array![[0.0, 0.5], [0.25, 1.0]]);
        let eps = min_max_eps(m.view(), 1e-7);
        assert!(eps[[1, 1]] <= 1.0 && eps[[1, 1]] > 0.999_999);
        assert_eq!(eps[[0, 0]], 0.0);
        assert_eq!(
            min_max_unit(array![[2.0f32, 2.0]].view()),
            array![[0.0, 0.0]]
        );
        // pytorch-grad-cam's scale_cam_image as written: shift, then divide by 1e-7 + shifted max.
        let shifted = m.mapv(|v| v - 1.0);
        let max = shifted.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        assert_eq!(eps, shifted.mapv(|v| v / (1e-7 + max)));
    }

    #[test]
    fn iou_of_bool_and_u8_masks() {
        let a = array![[true, true], [false, false]];
        let b = array![[true, false], [true, false]];
        assert_eq!(iou(a.view(), b.view()).unwrap(), Some(1.0 / 3.0));
        let (x, y) = (array![[1u8, 0], [0, 0]], array![[0u8, 0], [0, 0]]);
        assert_eq!(iou(x.view(), y.view()).unwrap(), Some(0.0));
        assert_eq!(iou(y.view(), y.view()).unwrap(), None);
        assert!(iou(a.view(), array![[true]].view()).is_err());
    }
}
