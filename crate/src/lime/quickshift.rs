//! Quickshift superpixels, equal to `skimage.segmentation.quickshift` as LIME calls it.
//!
//! scikit-image's algorithm (`_quickshift.py` + `_quickshift_cy.pyx`), step by step:
//! 1. `img_as_float` (u8 / 255, float64), then `rgb2lab` (sRGB → XYZ → CIELAB, D65 / 2°),
//! 2. a Gaussian blur of width `sigma` (none for `sigma = 0`, LIME's default), times `ratio`,
//! 3. a Parzen density per pixel over a `(2·⌈3·kernel_size⌉+1)²` window in joint (L, a, b, row, col)
//!    space, plus tie-breaking noise `default_rng(seed).normal(scale=1e-5, size=(H, W))`,
//! 4. each pixel links to the nearest pixel of higher density in the same window; links longer than
//!    `max_dist` are cut; every pixel is labelled by its tree's root, roots numbered in raster order.
//!
//! The density pass evaluates each pixel pair once and adds the same kernel value to both pixels
//! (the kernel is symmetric), which halves the `exp` calls, and computes `exp` with a vectorisable
//! polynomial (≤ 2 ulp). Both only move densities in their last bits (the order of the additions, the
//! rounding of `exp`), ten orders of magnitude below the 1e-5 noise that breaks ties: the labels stay
//! scikit-image's (checked on the 10 samples).

use super::rng::{NormalZiggurat, Pcg64};
use ndarray::{Array2, Array3};

/// Quickshift parameters with scikit-image's names; [`Default`] is what LIME uses.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QuickshiftParams {
    /// Weight of colour distances against spatial ones.
    pub ratio: f64,
    /// Width of the Gaussian density kernel, in pixels.
    pub kernel_size: f64,
    /// Longest link kept in the forest; longer links start new segments.
    pub max_dist: f64,
    /// Gaussian pre-smoothing width; LIME passes 0 (no smoothing), the only value supported.
    pub sigma: f64,
    /// Convert RGB to CIELAB first (scikit-image's `convert2lab`).
    pub convert2lab: bool,
    /// Seed of `np.random.default_rng` for the tie-breaking noise.
    pub seed: u64,
}

impl Default for QuickshiftParams {
    fn default() -> Self {
        // lime_image.LimeImageExplainer.explain_instance: SegmentationAlgorithm('quickshift',
        // kernel_size=4, max_dist=200, ratio=0.2, random_seed=...). scikit-image ≥ 0.21 no longer
        // has `random_seed` (it became `rng`), LIME's wrapper drops unknown arguments, so the seed
        // in effect is scikit-image's default 42.
        QuickshiftParams {
            ratio: 0.2,
            kernel_size: 4.0,
            max_dist: 200.0,
            sigma: 0.0,
            convert2lab: true,
            seed: 42,
        }
    }
}

/// sRGB → CIELAB exactly as `skimage.color.rgb2lab` does in float64 (D65 white, 2° observer).
/// `rgb` is H×W×3 u8; the result is H×W×3 (L, a, b).
pub fn rgb_to_lab(rgb: &Array3<u8>) -> Array3<f64> {
    const XYZ_FROM_RGB: [[f64; 3]; 3] = [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ];
    const WHITE_D65: [f64; 3] = [0.95047, 1.0, 1.08883];
    // Only 256 input values: linearise through a table.
    let linear: Vec<f64> = (0..256)
        .map(|v| {
            let c = v as f64 / 255.0;
            if c > 0.04045 {
                ((c + 0.055) / 1.055).powf(2.4)
            } else {
                c / 12.92
            }
        })
        .collect();
    let (h, w, _) = rgb.dim();
    let mut lab = Array3::<f64>::zeros((h, w, 3));
    for r in 0..h {
        for c in 0..w {
            let lin = [
                linear[rgb[[r, c, 0]] as usize],
                linear[rgb[[r, c, 1]] as usize],
                linear[rgb[[r, c, 2]] as usize],
            ];
            let mut f = [0.0f64; 3];
            for (k, out) in f.iter_mut().enumerate() {
                let row = XYZ_FROM_RGB[k];
                let xyz = lin[0] * row[0] + lin[1] * row[1] + lin[2] * row[2];
                let t = xyz / WHITE_D65[k];
                *out = if t > 0.008856 {
                    t.cbrt()
                } else {
                    7.787 * t + 16.0 / 116.0
                };
            }
            lab[[r, c, 0]] = 116.0 * f[1] - 16.0;
            lab[[r, c, 1]] = 500.0 * (f[0] - f[1]);
            lab[[r, c, 2]] = 200.0 * (f[1] - f[2]);
        }
    }
    lab
}

/// Segments an H×W×3 u8 RGB image; labels are `0..n` in raster order of each segment's root.
pub fn quickshift(rgb: &Array3<u8>, params: &QuickshiftParams) -> anyhow::Result<Array2<i32>> {
    let (h, w, channels) = rgb.dim();
    anyhow::ensure!(
        channels == 3,
        "quickshift needs an RGB image (H×W×3), got {channels} channels"
    );
    anyhow::ensure!(
        params.kernel_size >= 1.0,
        "quickshift kernel_size must be ≥ 1, got {}",
        params.kernel_size
    );
    anyhow::ensure!(
        params.sigma == 0.0,
        "quickshift pre-smoothing (sigma > 0) is not implemented; LIME uses sigma = 0"
    );
    anyhow::ensure!(h > 0 && w > 0, "quickshift got an empty image");
    let features = if params.convert2lab {
        rgb_to_lab(rgb)
    } else {
        rgb.mapv(|v| v as f64 / 255.0)
    };
    let planes = scaled_planes(&features, params.ratio);
    let parents = link_to_denser(&planes, h, w, params);
    Ok(label_roots(parents, h, w))
}

/// One plane per channel of an H×W×3 image, scaled by `ratio` as scikit-image does before the Cython
/// part; planes keep the inner loops over contiguous memory, which the compiler vectorises.
fn scaled_planes(features: &Array3<f64>, ratio: f64) -> [Vec<f64>; 3] {
    std::array::from_fn(|k| {
        features
            .index_axis(ndarray::Axis(2), k)
            .iter()
            .map(|v| v * ratio)
            .collect()
    })
}

/// Steps 3 and 4 up to the parent links (after cutting links longer than `max_dist`). On x86-64
/// CPUs with AVX2 the same code is compiled a second time for 4-wide vectors: the same IEEE
/// operations in the same order (no FMA), so the same bits, faster.
fn link_to_denser(
    planes: &[Vec<f64>; 3],
    h: usize,
    w: usize,
    params: &QuickshiftParams,
) -> Vec<usize> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked on the line above).
        return unsafe { link_to_denser_avx2(planes, h, w, params) };
    }
    link_to_denser_portable(planes, h, w, params)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn link_to_denser_avx2(
    planes: &[Vec<f64>; 3],
    h: usize,
    w: usize,
    params: &QuickshiftParams,
) -> Vec<usize> {
    link_to_denser_portable(planes, h, w, params)
}

#[inline(always)]
fn link_to_denser_portable(
    planes: &[Vec<f64>; 3],
    h: usize,
    w: usize,
    params: &QuickshiftParams,
) -> Vec<usize> {
    let [l, a, b] = planes;
    let inv_kernel_size_sqr = -0.5 / (params.kernel_size * params.kernel_size);
    let half = (3.0 * params.kernel_size).ceil() as usize;
    // (column offset)² for offsets -half..=half: the same exact small integers the pair loop would
    // compute, looked up so the inner loop has no integer-to-float conversion.
    let dc_sq: Vec<f64> = (0..=2 * half)
        .map(|k| {
            let dc = k as f64 - half as f64;
            dc * dc
        })
        .collect();
    // scikit-image: densities = default_rng(seed).normal(scale=0.00001, size=(H, W)).
    let mut noise = Pcg64::from_seed(params.seed);
    let ziggurat = NormalZiggurat::new();
    let mut density: Vec<f64> = (0..h * w)
        .map(|_| 0.00001 * ziggurat.sample(&mut noise))
        .collect();
    // Self term: distance 0, exp(0) = 1.
    for d in density.iter_mut() {
        *d += 1.0;
    }
    // Every unordered pair within the window once: neighbours later in raster order, one contiguous
    // run of columns per window row.
    let mut kernel = vec![0.0; 2 * half + 1];
    for r in 0..h {
        let r_max = (r + half + 1).min(h);
        for c in 0..w {
            let i = r * w + c;
            let pixel = [l[i], a[i], b[i]];
            let c_max = (c + half + 1).min(w);
            let mut own = 0.0;
            for r2 in r..r_max {
                let c_min = if r2 == r {
                    c + 1
                } else {
                    c.saturating_sub(half)
                };
                if c_min >= c_max {
                    continue;
                }
                let dr = (r2 - r) as f64;
                let dr_sq = dr * dr;
                let run = r2 * w + c_min..r2 * w + c_max;
                let k = &mut kernel[..c_max - c_min];
                let offsets = &dc_sq[c_min + half - c..c_max + half - c];
                for ((((k, &l2), &a2), &b2), &dc_sq) in k
                    .iter_mut()
                    .zip(&l[run.clone()])
                    .zip(&a[run.clone()])
                    .zip(&b[run.clone()])
                    .zip(offsets)
                {
                    let sq_dist = joint_sq_dist(pixel, [l2, a2, b2], dr_sq, dc_sq);
                    *k = exp(sq_dist * inv_kernel_size_sqr);
                }
                for (d, &k) in density[run].iter_mut().zip(k.iter()) {
                    *d += k;
                    own += k;
                }
            }
            density[i] += own;
        }
    }

    // Links: the nearest strictly denser pixel in the window, the first in raster order on ties
    // (scikit-image's strict `<`). Each window row's candidates go through a buffer (distance, or ∞
    // when not denser) so that loop has no branch and vectorises; the scan for the minimum is short.
    let mut parent: Vec<usize> = (0..h * w).collect();
    let mut candidates = vec![0.0; 2 * half + 1];
    for r in 0..h {
        let r_min = r.saturating_sub(half);
        let r_max = (r + half + 1).min(h);
        for c in 0..w {
            let i = r * w + c;
            let pixel = [l[i], a[i], b[i]];
            let current = density[i];
            let c_min = c.saturating_sub(half);
            let c_max = (c + half + 1).min(w);
            let offsets = &dc_sq[c_min + half - c..c_max + half - c];
            let mut closest = f64::INFINITY;
            for r2 in r_min..r_max {
                let dr = r as f64 - r2 as f64;
                let dr_sq = dr * dr;
                let run = r2 * w + c_min..r2 * w + c_max;
                let candidates = &mut candidates[..c_max - c_min];
                for (((((d, &denser), &l2), &a2), &b2), &dc_sq) in candidates
                    .iter_mut()
                    .zip(&density[run.clone()])
                    .zip(&l[run.clone()])
                    .zip(&a[run.clone()])
                    .zip(&b[run.clone()])
                    .zip(offsets)
                {
                    let sq_dist = joint_sq_dist(pixel, [l2, a2, b2], dr_sq, dc_sq);
                    *d = if denser > current {
                        sq_dist
                    } else {
                        f64::INFINITY
                    };
                }
                for (j, &d) in run.zip(candidates.iter()) {
                    if d < closest {
                        closest = d;
                        parent[i] = j;
                    }
                }
            }
            // scikit-image compares sqrt(closest) > max_dist; a root keeps itself (closest = ∞).
            if closest.sqrt() > params.max_dist {
                parent[i] = i;
            }
        }
    }
    parent
}

/// Squared distance in joint (L, a, b, row, col) space, in scikit-image's order of additions.
#[inline(always)]
fn joint_sq_dist(p: [f64; 3], q: [f64; 3], dr_sq: f64, dc_sq: f64) -> f64 {
    let t0 = p[0] - q[0];
    let t1 = p[1] - q[1];
    let t2 = p[2] - q[2];
    t0 * t0 + t1 * t1 + t2 * t2 + dr_sq + dc_sq
}

/// `e^x` for the density kernel (arguments in [-708, 0]), within 2 ulp of the correctly rounded
/// value. Written out in plain arithmetic rather than calling `f64::exp` for two reasons: the
/// compiler vectorises it inside the pair loop (a library call blocks that, and the `exp` calls were
/// most of quickshift's time), and it gives the same bits on every platform, whereas `f64::exp` is
/// glibc's natively and a Rust port of musl's in wasm.
#[inline(always)]
fn exp(x: f64) -> f64 {
    // x = n·ln2 + r with |r| ≤ ln2/2; n is rounded by the 1.5·2^52 trick, which also leaves n in the
    // low bits of `shifted` (a vectorisable stand-in for `round` and a float-to-int conversion).
    const ROUNDER: f64 = 6755399441055744.0;
    // fdlibm's split of ln 2: LN2_HI has 32 trailing zero bits, so n·LN2_HI is exact.
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
    let x = x.max(-708.0);
    let shifted = x * std::f64::consts::LOG2_E + ROUNDER;
    let n = shifted - ROUNDER;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    // Taylor series to r^13 (the next term is below 4e-18 for |r| ≤ 0.35), evaluated by Estrin's
    // scheme: independent pairs instead of one 13-deep chain of Horner steps.
    const C: [f64; 14] = [
        1.0,
        1.0,
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5_040.0,
        1.0 / 40_320.0,
        1.0 / 362_880.0,
        1.0 / 3_628_800.0,
        1.0 / 39_916_800.0,
        1.0 / 479_001_600.0,
        1.0 / 6_227_020_800.0,
    ];
    let r2 = r * r;
    let r4 = r2 * r2;
    let r8 = r4 * r4;
    let pair = |k: usize| C[k] + C[k + 1] * r;
    let low = (pair(0) + r2 * pair(2)) + r4 * (pair(4) + r2 * pair(6));
    let high = (pair(8) + r2 * pair(10)) + r4 * pair(12);
    let p = low + r8 * high;
    // 2^n from n's low bits: (n + 1023) lands in the exponent field.
    let two_to_n = f64::from_bits(shifted.to_bits().wrapping_add(1023) << 52);
    p * two_to_n
}

/// Follows links to the roots and numbers the roots `0..n` in increasing raster index
/// (`np.unique(roots, return_inverse=True)`).
fn label_roots(mut parent: Vec<usize>, h: usize, w: usize) -> Array2<i32> {
    // Links always point to strictly denser pixels, so pointer jumping terminates.
    loop {
        let mut changed = false;
        for i in 0..parent.len() {
            let grand = parent[parent[i]];
            if grand != parent[i] {
                parent[i] = grand;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut label_of_root = vec![-1i32; parent.len()];
    let mut next = 0;
    for (i, &root) in parent.iter().enumerate() {
        if root == i {
            label_of_root[i] = next;
            next += 1;
        }
    }
    Array2::from_shape_fn((h, w), |(r, c)| label_of_root[parent[r * w + c]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_exp_is_within_two_ulp_of_the_library_exp() {
        let mut worst = 0.0f64;
        for k in 0..=200_000 {
            let x = -708.0 * k as f64 / 200_000.0;
            let (ours, libm) = (exp(x), x.exp());
            worst = worst.max((ours - libm).abs() / (libm * f64::EPSILON));
        }
        assert!(worst <= 2.0, "{worst} ulp");
        assert_eq!(exp(0.0), 1.0);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_build_links_exactly_like_the_portable_one() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        // A noisy picture with flat patches: near-ties in density are where any rounding
        // difference between the two builds would show up as a different link.
        let mut rng = crate::rng::SplitMix64::new(7);
        let img = Array3::from_shape_fn((48, 40, 3), |(r, c, k)| {
            let noise = (rng.next_u64() >> 56) as u8;
            if (r / 12 + c / 10) % 2 == 0 {
                (40 * k) as u8
            } else {
                noise
            }
        });
        let params = QuickshiftParams::default();
        let planes = scaled_planes(&rgb_to_lab(&img), params.ratio);
        let portable = link_to_denser_portable(&planes, 48, 40, &params);
        // SAFETY: AVX2 support was checked above.
        let avx2 = unsafe { link_to_denser_avx2(&planes, 48, 40, &params) };
        assert_eq!(portable, avx2);
    }

    #[test]
    fn lab_of_white_and_black() {
        let img = Array3::from_shape_vec((1, 2, 3), vec![255, 255, 255, 0, 0, 0]).unwrap();
        let lab = rgb_to_lab(&img);
        assert!((lab[[0, 0, 0]] - 100.0).abs() < 1e-3, "L* of white");
        assert!(lab[[0, 0, 1]].abs() < 1e-2 && lab[[0, 0, 2]].abs() < 1e-2);
        assert_eq!(lab[[0, 1, 0]], 0.0);
    }

    #[test]
    fn two_flat_halves_give_two_segments() {
        // Left half black, right half white: colour distance ≫ max_dist → cut between halves.
        let img = Array3::from_shape_fn((20, 30, 3), |(_, c, _)| if c < 15 { 0 } else { 255 });
        let params = QuickshiftParams {
            max_dist: 5.0,
            ..Default::default()
        };
        let seg = quickshift(&img, &params).unwrap();
        let left = seg[[0, 0]];
        let right = seg[[0, 29]];
        assert_ne!(left, right);
        for ((_, c), &l) in seg.indexed_iter() {
            assert_eq!(l, if c < 15 { left } else { right });
        }
    }
}
