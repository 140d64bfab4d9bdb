//! CLIP's image preprocessing (`clip.load(...)[1]`): `Resize(224, BICUBIC)` of the shorter side on a PIL image,
//! `CenterCrop(224)`, `ToTensor`, `Normalize(CLIP mean, CLIP std)`.
//!
//! Pillow's bicubic resampling (Keys cubic, a = −0.5, support 2, widened by the scale factor when shrinking, 22-bit
//! fixed-point weights, 8-bit intermediate after the horizontal pass) is re-implemented here, because the core
//! preprocessing only offers Pillow's bilinear filter.

use image::RgbImage;
use ndarray::Array3;

/// CLIP's normalisation constants (`clip/clip.py`, `_transform`).
pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
pub const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_6, 0.275_777_1];

/// Pillow's fixed-point precision for 8-bit images.
const PRECISION_BITS: u32 = 22;

/// The uint8 `n_px`×`n_px` view CLIP sees: bicubic shorter side → `n_px`, then the centre crop.
pub fn clip_view(img: &RgbImage, n_px: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let (short, long) = if w <= h { (w, h) } else { (h, w) };
    // torchvision: the longer side is int(size · long / short).
    let new_long = ((n_px as f64) * (long as f64) / (short as f64)) as u32;
    let (nw, nh) = if w <= h {
        (n_px, new_long)
    } else {
        (new_long, n_px)
    };
    let resized = resize_bicubic(img, nw, nh);
    crate::preprocess::center_crop(&resized, n_px, n_px)
}

/// `ToTensor` + `Normalize(CLIP_MEAN, CLIP_STD)`: CHW float.
pub fn clip_tensor(view: &RgbImage) -> Array3<f32> {
    let (w, h) = view.dimensions();
    Array3::from_shape_fn((3, h as usize, w as usize), |(c, y, x)| {
        let v = view.get_pixel(x as u32, y as u32)[c];
        (v as f32 / 255.0 - CLIP_MEAN[c]) / CLIP_STD[c]
    })
}

fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

struct Taps {
    start: usize,
    weights: Vec<i32>,
}

/// Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for the bicubic filter.
fn bicubic_taps(in_size: usize, out_size: usize) -> Vec<Taps> {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = 2.0 * filterscale;
    (0..out_size)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64)
                .min(in_size as i64)
                .max(xmin as i64) as usize;
            let raw: Vec<f64> = (xmin..xmax)
                .map(|x| bicubic((x as f64 - center + 0.5) / filterscale))
                .collect();
            let total: f64 = raw.iter().sum();
            let weights = raw
                .iter()
                .map(|&w| {
                    let v = if total != 0.0 { w / total } else { w }
                        * f64::from(1u32 << PRECISION_BITS);
                    (if v < 0.0 { v - 0.5 } else { v + 0.5 }) as i32
                })
                .collect();
            Taps {
                start: xmin,
                weights,
            }
        })
        .collect()
}

fn clip8(acc: i64) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Pillow's `Image.resize((w, h), Image.BICUBIC)` for RGB8 images.
pub fn resize_bicubic(img: &RgbImage, out_w: u32, out_h: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    if (w, h) == (out_w, out_h) {
        return img.clone();
    }
    let (w, h, ow, oh) = (w as usize, h as usize, out_w as usize, out_h as usize);
    let vert = bicubic_taps(h, oh);
    let src = img.as_raw();
    let round = 1i64 << (PRECISION_BITS - 1);
    // Horizontal pass first, only over the rows the vertical pass reads (Pillow's order).
    let (first_row, tmp_w, tmp) = if ow != w {
        let horiz = bicubic_taps(w, ow);
        let (first, last) = if oh != h {
            (
                vert[0].start,
                vert.iter()
                    .map(|t| t.start + t.weights.len())
                    .max()
                    .unwrap_or(0),
            )
        } else {
            (0, h)
        };
        let mut tmp = vec![0u8; (last - first) * ow * 3];
        for (ty, y) in (first..last).enumerate() {
            let row = &src[y * w * 3..(y + 1) * w * 3];
            for (x, taps) in horiz.iter().enumerate() {
                for c in 0..3 {
                    let mut acc = round;
                    for (k, &wt) in taps.weights.iter().enumerate() {
                        acc += i64::from(row[(taps.start + k) * 3 + c]) * i64::from(wt);
                    }
                    tmp[(ty * ow + x) * 3 + c] = clip8(acc);
                }
            }
        }
        (first, ow, tmp)
    } else {
        (0, w, src.to_vec())
    };
    if oh == h {
        return RgbImage::from_raw(out_w, out_h, tmp).expect("buffer sized to the output");
    }
    let mut out = vec![0u8; ow * oh * 3];
    for (y, taps) in vert.iter().enumerate() {
        let start = taps.start - first_row;
        for i in 0..tmp_w * 3 {
            let mut acc = round;
            for (k, &wt) in taps.weights.iter().enumerate() {
                acc += i64::from(tmp[(start + k) * tmp_w * 3 + i]) * i64::from(wt);
            }
            out[y * ow * 3 + i] = clip8(acc);
        }
    }
    RgbImage::from_raw(out_w, out_h, out).expect("buffer sized to the output")
}
