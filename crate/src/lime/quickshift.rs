//! Quickshift superpixels, equal to `skimage.segmentation.quickshift` as LIME calls it.
//!
//! scikit-image's algorithm (`_quickshift.py` + `_quickshift_cy.pyx`), step by step:
//! 1. `img_as_float` (u8 / 255, float64), then `rgb2lab` (sRGB → XYZ → CIELAB, D65 / 2°),
//! 2. a Gaussian blur of width `sigma` (none for `sigma = 0`, LIME's default), times `ratio`,
//! 3. a Parzen density per pixel over a `(2·⌈3·kernel_size⌉+1)²` window in joint (L, a, b, row, col)
//!    space, plus tie-breaking noise `default_rng(seed).random((H, W)) / 10`,
//! 4. each pixel links to the nearest pixel of higher density in the same window; links longer than
//!    `max_dist` are cut; every pixel is labelled by its tree's root, roots numbered in raster order.
//!
//! The density pass evaluates each pixel pair once and adds the same kernel value to both pixels
//! (the kernel is symmetric), which halves the `exp` calls; it only changes the order of the
//! floating-point additions, i.e. densities in the last bits, far below the noise that breaks ties.

use super::rng::Pcg64;
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
    // Interleaved (c0, c1, c2) per pixel, scaled by `ratio` as scikit-image does before the Cython part.
    let image: Vec<f64> = features.iter().map(|v| v * params.ratio).collect();
    let parents = link_to_denser(&image, h, w, params);
    Ok(label_roots(parents, h, w))
}

/// Steps 3 and 4 up to the parent links (after cutting links longer than `max_dist`).
fn link_to_denser(image: &[f64], h: usize, w: usize, params: &QuickshiftParams) -> Vec<usize> {
    let inv_kernel_size_sqr = -0.5 / (params.kernel_size * params.kernel_size);
    let half = (3.0 * params.kernel_size).ceil() as usize;
    let pixel = |r: usize, c: usize| -> &[f64] { &image[(r * w + c) * 3..(r * w + c) * 3 + 3] };
    let sq_dist = |a: &[f64], b: &[f64], dr: f64, dc: f64| -> f64 {
        let t0 = a[0] - b[0];
        let t1 = a[1] - b[1];
        let t2 = a[2] - b[2];
        t0 * t0 + t1 * t1 + t2 * t2 + dr * dr + dc * dc
    };

    let mut noise = Pcg64::from_seed(params.seed);
    let mut density: Vec<f64> = (0..h * w).map(|_| noise.next_f64() / 10.0).collect();
    // Self term: distance 0, exp(0) = 1.
    for d in density.iter_mut() {
        *d += 1.0;
    }
    // Every unordered pair within the window once: neighbours later in raster order.
    for r in 0..h {
        let r_max = (r + half + 1).min(h);
        for c in 0..w {
            let p = pixel(r, c);
            let i = r * w + c;
            let mut own = 0.0;
            for r2 in r..r_max {
                let c_min = if r2 == r { c + 1 } else { c.saturating_sub(half) };
                let c_max = (c + half + 1).min(w);
                let dr = (r2 - r) as f64;
                for c2 in c_min..c_max {
                    let dc = c2 as f64 - c as f64;
                    let k = (sq_dist(p, pixel(r2, c2), dr, dc) * inv_kernel_size_sqr).exp();
                    own += k;
                    density[r2 * w + c2] += k;
                }
            }
            density[i] += own;
        }
    }

    let mut parent: Vec<usize> = (0..h * w).collect();
    for r in 0..h {
        let r_min = r.saturating_sub(half);
        let r_max = (r + half + 1).min(h);
        for c in 0..w {
            let i = r * w + c;
            let p = pixel(r, c);
            let current = density[i];
            let c_min = c.saturating_sub(half);
            let c_max = (c + half + 1).min(w);
            let mut closest = f64::INFINITY;
            for r2 in r_min..r_max {
                let dr = r as f64 - r2 as f64;
                for c2 in c_min..c_max {
                    let j = r2 * w + c2;
                    if density[j] > current {
                        let d = sq_dist(p, pixel(r2, c2), dr, c as f64 - c2 as f64);
                        if d < closest {
                            closest = d;
                            parent[i] = j;
                        }
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
