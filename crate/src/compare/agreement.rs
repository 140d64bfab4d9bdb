//! Agreement between saliency maps and masks: IoU at several thresholds, Spearman rank correlation,
//! the pointing game and SSIM.

use anyhow::{ensure, Result};
use ndarray::{Array2, ArrayView2};

use crate::numerics::iou;

/// The `k` largest pixels of `map`. Ties at the cut are taken in row-major order, so the mask has
/// exactly `k` pixels (what "the same pixel count as the LIME mask" needs).
pub fn top_k_mask(map: ArrayView2<f32>, k: usize) -> Array2<bool> {
    let (h, w) = map.dim();
    let values: Vec<f32> = map.iter().copied().collect();
    let mut order: Vec<usize> = (0..values.len()).collect();
    // Stable sort, descending; NaN (never produced by our methods) sorts last.
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    let mut mask = Array2::from_elem((h, w), false);
    for &i in order.iter().take(k.min(values.len())) {
        mask[(i / w, i % w)] = true;
    }
    mask
}

/// The top `fraction` of the pixels of `map` (rounded to the nearest pixel count).
pub fn top_fraction_mask(map: ArrayView2<f32>, fraction: f64) -> Array2<bool> {
    let k = (fraction.clamp(0.0, 1.0) * map.len() as f64).round() as usize;
    top_k_mask(map, k)
}

/// Pixels where `map >= threshold`.
pub fn threshold_mask(map: ArrayView2<f32>, threshold: f32) -> Array2<bool> {
    map.mapv(|v| v >= threshold)
}

/// Number of `true` pixels.
pub fn count(mask: ArrayView2<bool>) -> usize {
    mask.iter().filter(|&&m| m).count()
}

/// 1-based ranks with ties given the average of the ranks they span (`scipy.stats.rankdata`'s
/// default `method="average"`).
pub fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Positions start..end hold equal values: ranks start+1 ..= end, average (start+1+end)/2.
        let rank = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

/// Pearson correlation; `None` when either side is constant (correlation undefined).
pub fn pearson(a: &[f64], b: &[f64]) -> Option<f64> {
    let n = a.len() as f64;
    let mean_a = a.iter().sum::<f64>() / n;
    let mean_b = b.iter().sum::<f64>() / n;
    let (mut cov, mut var_a, mut var_b) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        cov += (x - mean_a) * (y - mean_b);
        var_a += (x - mean_a) * (x - mean_a);
        var_b += (y - mean_b) * (y - mean_b);
    }
    (var_a > 0.0 && var_b > 0.0).then(|| cov / (var_a.sqrt() * var_b.sqrt()))
}

/// Spearman rank correlation of two maps of the same shape (Pearson correlation of average ranks, as
/// `scipy.stats.spearmanr`); `None` when either map is constant.
pub fn spearman(a: ArrayView2<f32>, b: ArrayView2<f32>) -> Result<Option<f64>> {
    ensure!(
        a.dim() == b.dim(),
        "Spearman of maps with different shapes {:?} and {:?}",
        a.dim(),
        b.dim()
    );
    let ra = average_ranks(&a.iter().map(|&v| v as f64).collect::<Vec<_>>());
    let rb = average_ranks(&b.iter().map(|&v| v as f64).collect::<Vec<_>>());
    Ok(pearson(&ra, &rb))
}

/// A pixel of a map: its row and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pixel {
    pub row: usize,
    pub col: usize,
}

/// The pixel of the map's maximum; the first one in row-major order when several share it.
pub fn argmax(map: ArrayView2<f32>) -> Pixel {
    let w = map.ncols();
    let mut best = (0, f32::NEG_INFINITY);
    for (i, &v) in map.iter().enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    Pixel {
        row: best.0 / w,
        col: best.0 % w,
    }
}

/// The pointing game (Zhang et al. 2016): a hit when the map's maximum lies in `mask`, or within
/// `tolerance_px` pixels (Euclidean) of a mask pixel (Zhang et al. use 15 px on the original image).
pub fn pointing_game(
    map: ArrayView2<f32>,
    mask: ArrayView2<bool>,
    tolerance_px: f64,
) -> Result<bool> {
    ensure!(
        map.dim() == mask.dim(),
        "pointing game: map {:?} and mask {:?} differ in shape",
        map.dim(),
        mask.dim()
    );
    let Pixel { row: r, col: c } = argmax(map);
    if mask[(r, c)] {
        return Ok(true);
    }
    let t = tolerance_px.max(0.0);
    let reach = t.floor() as isize;
    let (h, w) = (mask.nrows() as isize, mask.ncols() as isize);
    for dr in -reach..=reach {
        for dc in -reach..=reach {
            let (y, x) = (r as isize + dr, c as isize + dc);
            if (0..h).contains(&y)
                && (0..w).contains(&x)
                && ((dr * dr + dc * dc) as f64) <= t * t
                && mask[(y as usize, x as usize)]
            {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Mean structural similarity of two maps, as `skimage.metrics.structural_similarity` with its
/// defaults (7×7 uniform window, K1 = 0.01, K2 = 0.03, sample covariance, mean over the windows that
/// lie fully inside the image) and the given `data_range` (1 for maps normalised to [0, 1]).
pub fn ssim(a: ArrayView2<f32>, b: ArrayView2<f32>, data_range: f64) -> Result<f64> {
    const WIN: usize = 7;
    ensure!(
        a.dim() == b.dim(),
        "SSIM of maps with different shapes {:?} and {:?}",
        a.dim(),
        b.dim()
    );
    let (h, w) = a.dim();
    ensure!(
        h >= WIN && w >= WIN,
        "SSIM needs maps of at least {WIN}×{WIN}, got {h}×{w}"
    );
    ensure!(
        data_range > 0.0,
        "SSIM data_range must be positive, got {data_range}"
    );
    let np = (WIN * WIN) as f64;
    let cov_norm = np / (np - 1.0);
    let c1 = (0.01 * data_range).powi(2);
    let c2 = (0.03 * data_range).powi(2);
    // Windowed sums through summed-area tables of x, y, x², y², xy (f64: sums of 50k values).
    let integral = |f: &dyn Fn(f64, f64) -> f64| {
        let mut t = Array2::<f64>::zeros((h + 1, w + 1));
        for i in 0..h {
            for j in 0..w {
                t[(i + 1, j + 1)] =
                    f(a[(i, j)] as f64, b[(i, j)] as f64) + t[(i, j + 1)] + t[(i + 1, j)]
                        - t[(i, j)];
            }
        }
        t
    };
    let tables = [
        integral(&|x, _| x),
        integral(&|_, y| y),
        integral(&|x, _| x * x),
        integral(&|_, y| y * y),
        integral(&|x, y| x * y),
    ];
    let window_mean = |t: &Array2<f64>, i: usize, j: usize| {
        (t[(i + WIN, j + WIN)] - t[(i, j + WIN)] - t[(i + WIN, j)] + t[(i, j)]) / np
    };
    let mut total = 0.0;
    let mut windows = 0usize;
    for i in 0..=h - WIN {
        for j in 0..=w - WIN {
            let [ux, uy, uxx, uyy, uxy] = [0, 1, 2, 3, 4].map(|k| window_mean(&tables[k], i, j));
            let vx = cov_norm * (uxx - ux * ux);
            let vy = cov_norm * (uyy - uy * uy);
            let vxy = cov_norm * (uxy - ux * uy);
            total += ((2.0 * ux * uy + c1) * (2.0 * vxy + c2))
                / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
            windows += 1;
        }
    }
    Ok(total / windows as f64)
}

/// Every agreement figure between one CAM and the LIME explanation of the same image and class.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Agreement {
    /// IoU with the LIME mask of the CAM's top pixels, as many as the LIME mask has.
    pub iou_same_count: Option<f64>,
    /// IoU with the LIME mask of the CAM's top 20 % pixels.
    pub iou_top20: Option<f64>,
    /// IoU with the LIME mask of the CAM's pixels ≥ 0.5 (CAM normalised to [0, 1]).
    pub iou_half: Option<f64>,
    /// Spearman correlation of the CAM and the per-pixel LIME weight.
    pub spearman: Option<f64>,
    /// Whether the CAM's maximum lies inside the LIME mask.
    pub pointing_hit: bool,
}

/// Compares a CAM (normalised to [0, 1]) with LIME's mask (its top superpixels) and LIME's per-pixel
/// weight (each pixel carries its superpixel's weight for the explained class).
pub fn agreement(
    cam: ArrayView2<f32>,
    lime_mask: ArrayView2<bool>,
    lime_weights: ArrayView2<f32>,
) -> Result<Agreement> {
    ensure!(
        cam.dim() == lime_mask.dim() && cam.dim() == lime_weights.dim(),
        "agreement: CAM {:?}, LIME mask {:?} and LIME weights {:?} must share one grid",
        cam.dim(),
        lime_mask.dim(),
        lime_weights.dim()
    );
    let same_count = top_k_mask(cam, count(lime_mask));
    Ok(Agreement {
        iou_same_count: iou(same_count.view(), lime_mask)?,
        iou_top20: iou(top_fraction_mask(cam, 0.2).view(), lime_mask)?,
        iou_half: iou(threshold_mask(cam, 0.5).view(), lime_mask)?,
        spearman: spearman(cam, lime_weights)?,
        pointing_hit: pointing_game(cam, lime_mask, 0.0)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn rect(
        h: usize,
        w: usize,
        rows: std::ops::Range<usize>,
        cols: std::ops::Range<usize>,
    ) -> Array2<bool> {
        Array2::from_shape_fn((h, w), |(r, c)| rows.contains(&r) && cols.contains(&c))
    }

    #[test]
    fn iou_of_two_overlapping_rectangles() {
        // 4×4 at (0,0) and 4×4 at (2,2): intersection 2×2 = 4, union 16 + 16 - 4 = 28.
        let a = rect(10, 10, 0..4, 0..4);
        let b = rect(10, 10, 2..6, 2..6);
        assert_eq!(iou(a.view(), b.view()).unwrap(), Some(4.0 / 28.0));
        assert_eq!(iou(a.view(), a.view()).unwrap(), Some(1.0));
        let c = rect(10, 10, 6..10, 6..10);
        assert_eq!(iou(a.view(), c.view()).unwrap(), Some(0.0));
        let empty = Array2::from_elem((10, 10), false);
        assert_eq!(iou(empty.view(), empty.view()).unwrap(), None);
        assert!(iou(a.view(), Array2::from_elem((3, 3), false).view()).is_err());
    }

    #[test]
    fn top_k_takes_exactly_k_pixels_with_ties_in_scan_order() {
        let map = array![[0.1f32, 0.9, 0.5], [0.5, 0.5, 0.2]];
        let m = top_k_mask(map.view(), 3);
        assert_eq!(m, array![[false, true, true], [true, false, false]]);
        assert_eq!(count(top_fraction_mask(map.view(), 0.5).view()), 3);
        assert_eq!(
            threshold_mask(map.view(), 0.5),
            array![[false, true, true], [true, true, false]]
        );
    }

    #[test]
    fn average_ranks_match_hand_computation() {
        // Sorted: 1 (rank 1), 2,2 (ranks 2,3 → 2.5), 3 (4), 5,5,5 (5,6,7 → 6).
        let r = average_ranks(&[5.0, 2.0, 3.0, 5.0, 1.0, 2.0, 5.0]);
        assert_eq!(r, vec![6.0, 2.5, 4.0, 6.0, 1.0, 2.5, 6.0]);
    }

    #[test]
    fn spearman_of_monotone_reversed_and_tied_cases() {
        let a = array![[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]];
        let monotone = a.mapv(|v| v.powi(3) + 7.0);
        assert!((spearman(a.view(), monotone.view()).unwrap().unwrap() - 1.0).abs() < 1e-12);
        let reversed = a.mapv(|v| -v);
        assert!((spearman(a.view(), reversed.view()).unwrap().unwrap() + 1.0).abs() < 1e-12);
        // By hand: x = [1,2,3,4], y = [1,1,2,3] → ranks y = [1.5,1.5,3,4], ranks x = [1,2,3,4].
        // Centred: x' = [-1.5,-0.5,0.5,1.5], y' = [-1,-1,0.5,1.5]; Σx'y' = 1.5+0.5+0.25+2.25 = 4.5,
        // Σx'² = 5, Σy'² = 1+1+0.25+2.25 = 4.5 → ρ = 4.5 / √(5·4.5) = 0.9486832980505138.
        let x = array![[1.0f32, 2.0], [3.0, 4.0]];
        let y = array![[1.0f32, 1.0], [2.0, 3.0]];
        let rho = spearman(x.view(), y.view()).unwrap().unwrap();
        assert!((rho - 0.9486832980505138).abs() < 1e-12, "{rho}");
        let constant = Array2::from_elem((2, 2), 3.0f32);
        assert_eq!(spearman(x.view(), constant.view()).unwrap(), None);
    }

    #[test]
    fn pointing_game_hits_misses_and_tolerance() {
        let mut map = Array2::<f32>::zeros((20, 20));
        map[(10, 10)] = 1.0;
        assert!(pointing_game(map.view(), rect(20, 20, 8..12, 8..12).view(), 0.0).unwrap());
        let far = rect(20, 20, 0..3, 0..3);
        assert!(!pointing_game(map.view(), far.view(), 0.0).unwrap());
        // Nearest mask pixel (2,2) is √(8²+8²) ≈ 11.3 px away.
        assert!(!pointing_game(map.view(), far.view(), 11.0).unwrap());
        assert!(pointing_game(map.view(), far.view(), 11.4).unwrap());
    }

    #[test]
    fn ssim_of_identical_maps_is_one_and_of_unrelated_maps_is_small() {
        let a = Array2::from_shape_fn((32, 32), |(r, c)| ((r * 7 + c * 13) % 17) as f32 / 16.0);
        assert!((ssim(a.view(), a.view(), 1.0).unwrap() - 1.0).abs() < 1e-12);
        let inverted = a.mapv(|v| 1.0 - v);
        assert!(ssim(a.view(), inverted.view(), 1.0).unwrap() < 0.0);
        assert!(ssim(a.view(), Array2::zeros((6, 6)).view(), 1.0).is_err());
    }

    #[test]
    fn agreement_of_a_cam_with_itself_as_lime() {
        let cam = Array2::from_shape_fn((8, 8), |(r, c)| ((r + c) as f32) / 14.0);
        let lime_mask = threshold_mask(cam.view(), 0.5);
        let a = agreement(cam.view(), lime_mask.view(), cam.view()).unwrap();
        assert_eq!(a.iou_half, Some(1.0));
        assert!(
            (a.spearman.unwrap() - 1.0).abs() < 1e-12,
            "{:?}",
            a.spearman
        );
        assert!(a.pointing_hit);
    }
}
