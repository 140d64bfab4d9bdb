//! Pictures of an explanation: `ImageExplanation.get_image_and_mask` and skimage's
//! `find_boundaries(mode="outer")` / `mark_boundaries` (yellow lines), as LIME's tutorial draws them.

use super::ridge::{FeatureWeight, LocalExplanation};
use anyhow::{bail, Result};
use ndarray::{Array2, Array3, ArrayView2, ArrayView3};

/// Options of `get_image_and_mask` (LIME's names and defaults).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MaskOptions {
    pub positive_only: bool,
    pub negative_only: bool,
    pub hide_rest: bool,
    pub num_features: usize,
    pub min_weight: f64,
}

impl Default for MaskOptions {
    fn default() -> Self {
        MaskOptions {
            positive_only: true,
            negative_only: false,
            hide_rest: false,
            num_features: 5,
            min_weight: 0.0,
        }
    }
}

/// What `get_image_and_mask` returns (LIME's `(temp, mask)`).
#[derive(Debug, Clone, PartialEq)]
pub struct ImageAndMask {
    /// The image (u8, H×W×3), with the rest hidden or the chosen superpixels coloured as asked.
    pub image: Array3<u8>,
    /// 1 = supports the label, −1 = against it when both signs are shown, 0 = not selected (H×W).
    pub mask: Array2<i8>,
}

/// `get_image_and_mask`: the image and the mask of the chosen superpixels.
pub fn image_and_mask(
    image: ArrayView3<u8>,
    segments: ArrayView2<i32>,
    explanation: &LocalExplanation,
    options: &MaskOptions,
) -> Result<ImageAndMask> {
    if options.positive_only && options.negative_only {
        bail!("positive_only and negative_only cannot both be true");
    }
    let mut temp = if options.hide_rest {
        Array3::zeros(image.dim())
    } else {
        image.to_owned()
    };
    let mut mask = Array2::<i8>::zeros(segments.dim());
    let n_segments = segments.iter().copied().max().map_or(0, |m| m as usize + 1);
    // Per superpixel: None = untouched, Some(sign).
    let mut chosen: Vec<Option<i8>> = vec![None; n_segments.max(1)];
    let weights = &explanation.weights;
    if options.positive_only || options.negative_only {
        let picked = weights
            .iter()
            .filter(|fw| {
                let w = fw.weight;
                if options.positive_only {
                    w > 0.0 && w > options.min_weight
                } else {
                    w < 0.0 && w.abs() > options.min_weight
                }
            })
            .take(options.num_features);
        for fw in picked {
            if fw.feature < chosen.len() {
                chosen[fw.feature] = Some(1);
            }
        }
    } else {
        for &FeatureWeight {
            feature: f,
            weight: w,
        } in weights.iter().take(options.num_features)
        {
            if w.abs() < options.min_weight || f >= chosen.len() {
                continue;
            }
            chosen[f] = Some(if w < 0.0 { -1 } else { 1 });
        }
    }
    let signed = !(options.positive_only || options.negative_only);
    let image_max = image.iter().copied().max().unwrap_or(0);
    for ((r, c), &s) in segments.indexed_iter() {
        if let Some(sign) = chosen[s as usize] {
            mask[[r, c]] = sign;
            for ch in 0..3 {
                temp[[r, c, ch]] = image[[r, c, ch]];
            }
            if signed {
                // Green channel for support, red against, at the image's maximum (LIME's colouring).
                let channel = if sign < 0 { 0 } else { 1 };
                temp[[r, c, channel]] = image_max;
            }
        }
    }
    Ok(ImageAndMask { image: temp, mask })
}

/// `skimage.segmentation.find_boundaries(labels, mode="outer", background=0)`: pixels of the
/// background next to an object, and pixels of an object that touch a different object.
pub fn boundaries(labels: ArrayView2<i32>) -> Array2<bool> {
    find_boundaries_outer(labels, 0)
}

/// As [`boundaries`] with an explicit background label.
pub fn find_boundaries_outer(labels: ArrayView2<i32>, background: i32) -> Array2<bool> {
    let (h, w) = labels.dim();
    // Out-of-image neighbours are ignored (scikit-image's dilation/erosion reflect at the border,
    // which for a 3×3 footprint repeats the edge pixel itself).
    let window = |r: usize, c: usize, diagonal: bool, f: &mut dyn FnMut(i32)| {
        for dr in -1i64..=1 {
            for dc in -1i64..=1 {
                if !diagonal && dr != 0 && dc != 0 {
                    continue;
                }
                let (rr, cc) = (r as i64 + dr, c as i64 + dc);
                if rr >= 0 && cc >= 0 && (rr as usize) < h && (cc as usize) < w {
                    f(labels[[rr as usize, cc as usize]]);
                }
            }
        }
    };
    Array2::from_shape_fn((h, w), |(r, c)| {
        let (mut lo, mut hi) = (i32::MAX, i32::MIN);
        window(r, c, false, &mut |v| {
            lo = lo.min(v);
            hi = hi.max(v);
        });
        if lo == hi {
            return false;
        }
        if labels[[r, c]] == background {
            return true;
        }
        // Object pixel: keep it only if the 8-neighbourhood holds another object (background
        // counted as +∞ for the minimum, as scikit-image's inverted background does).
        let (mut lo8, mut hi8) = (i32::MAX, i32::MIN);
        window(r, c, true, &mut |v| {
            hi8 = hi8.max(v);
            lo8 = lo8.min(if v == background { i32::MAX } else { v });
        });
        hi8 != lo8
    })
}

/// `mark_boundaries(image, labels)` with LIME's defaults: boundary pixels yellow `(1, 1, 0)`;
/// returned as RGBA u8, ready to save as PNG.
pub fn mark_boundaries_rgba(image: ArrayView3<u8>, labels: ArrayView2<i32>) -> Vec<u8> {
    let edges = boundaries(labels);
    let (h, w, _) = image.dim();
    let mut rgba = Vec::with_capacity(h * w * 4);
    for r in 0..h {
        for c in 0..w {
            if edges[[r, c]] {
                rgba.extend_from_slice(&[255, 255, 0, 255]);
            } else {
                rgba.extend_from_slice(&[
                    image[[r, c, 0]],
                    image[[r, c, 1]],
                    image[[r, c, 2]],
                    255,
                ]);
            }
        }
    }
    rgba
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn outer_boundary_of_a_square_lies_outside_it() {
        let mut labels = Array2::<i32>::zeros((5, 5));
        labels.slice_mut(ndarray::s![1..4, 1..4]).fill(1);
        let b = boundaries(labels.view());
        // The square's pixels are not boundaries (only background touches them) ...
        for r in 1..4 {
            for c in 1..4 {
                assert!(!b[[r, c]]);
            }
        }
        // ... the 4-connected ring around it is, its far corners are not.
        assert!(b[[0, 1]] && b[[1, 0]] && b[[4, 3]] && b[[3, 4]]);
        assert!(!b[[0, 0]] && !b[[4, 4]]);
    }

    #[test]
    fn touching_objects_mark_both_sides() {
        let labels = array![[1, 1, 2, 2], [1, 1, 2, 2]];
        let b = boundaries(labels.view());
        assert_eq!(b.row(0).to_vec(), vec![false, true, true, false]);
    }
}
