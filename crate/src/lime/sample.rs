//! LIME's perturbations (`LimeImageExplainer.data_labels`): a binary matrix of which superpixels
//! stay, drawn as `RandomState(seed).randint(0, 2, num_samples * n_features)` with the first row
//! set to all ones (the unperturbed image), and the images it stands for.

use super::rng::Mt19937;
use ndarray::{Array2, Array3, ArrayView1, ArrayView2, ArrayView3};

/// What replaces a hidden superpixel (LIME's `hide_color`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HideColor {
    /// `hide_color=None`: each superpixel's mean colour, truncated to u8 as NumPy's assignment does.
    Mean,
    /// `hide_color=v`: every channel set to `v` (the PyTorch tutorial passes 0).
    Value(u8),
}

/// The binary sample matrix (`num_samples × n_features`, 1 = superpixel kept), first row all ones.
pub fn sample_matrix(rng: &mut Mt19937, num_samples: usize, n_features: usize) -> Array2<u8> {
    let bits = rng.random_bits(num_samples * n_features);
    let mut data = Array2::from_shape_vec((num_samples, n_features), bits)
        .expect("num_samples × n_features bits");
    if num_samples > 0 {
        data.row_mut(0).fill(1);
    }
    data
}

/// The "fudged" image LIME pastes into hidden superpixels.
pub fn fudged_image(image: ArrayView3<u8>, segments: ArrayView2<i32>, n_features: usize, hide: HideColor) -> Array3<u8> {
    match hide {
        HideColor::Value(v) => Array3::from_elem(image.dim(), v),
        HideColor::Mean => {
            let mut sums = vec![[0.0f64; 3]; n_features];
            let mut counts = vec![0usize; n_features];
            for ((r, c), &s) in segments.indexed_iter() {
                let s = s as usize;
                counts[s] += 1;
                for ch in 0..3 {
                    sums[s][ch] += image[[r, c, ch]] as f64;
                }
            }
            Array3::from_shape_fn(image.dim(), |(r, c, ch)| {
                let s = segments[[r, c]] as usize;
                // NumPy casts the float mean into the u8 array by truncation.
                (sums[s][ch] / counts[s] as f64) as u8
            })
        }
    }
}

/// Writes into `out` the image for one sample row: kept superpixels from `image`, hidden ones from `fudged`.
pub fn perturb_into(
    image: ArrayView3<u8>,
    fudged: ArrayView3<u8>,
    segments: ArrayView2<i32>,
    row: ArrayView1<u8>,
    out: &mut [u8],
) {
    let (h, w, _) = image.dim();
    debug_assert_eq!(out.len(), h * w * 3);
    for r in 0..h {
        for c in 0..w {
            let keep = row[segments[[r, c]] as usize] != 0;
            let src = if keep { &image } else { &fudged };
            let base = (r * w + c) * 3;
            for ch in 0..3 {
                out[base + ch] = src[[r, c, ch]];
            }
        }
    }
}
