//! Pillow's `Image.resize` for RGB8 images, bit for bit (`ImagingResample`): a separable filter whose support
//! grows with the downscale factor (antialiasing), 22-bit fixed-point weights, a horizontal pass then a
//! vertical pass, each rounded to uint8.

use image::RgbImage;

/// Pillow's resampling filters, as `Image.resize` uses them (`ImagingResample`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// `Image.BILINEAR`: the triangle, support 1 (torchvision's default for PIL images).
    Bilinear,
    /// `Image.BICUBIC`: Keys' cubic with a = −0.5, support 2 (CLIP's preprocessing).
    Bicubic,
}

impl Filter {
    fn support(self) -> f64 {
        match self {
            Filter::Bilinear => 1.0,
            Filter::Bicubic => 2.0,
        }
    }

    fn weight(self, x: f64) -> f64 {
        let x = x.abs();
        match self {
            Filter::Bilinear if x < 1.0 => 1.0 - x,
            Filter::Bicubic => {
                const A: f64 = -0.5;
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
            Filter::Bilinear => 0.0,
        }
    }
}

/// Fractional bits of Pillow's fixed-point resampling weights (`32 - 8 - 2`).
const PRECISION_BITS: u32 = 22;

/// One output sample's source window and fixed-point weights.
struct Taps {
    start: usize,
    weights: Vec<i32>,
}

/// Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc`: the filter widened by the scale factor when
/// shrinking (antialiasing), weights normalised to sum 1, then rounded to 22-bit fixed point.
/// Only the output samples in `outputs` (a window of the output) are computed.
fn taps(
    filter: Filter,
    in_size: usize,
    out_size: usize,
    outputs: std::ops::Range<usize>,
) -> Vec<Taps> {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filter.support() * filterscale;
    let ss = 1.0 / filterscale;
    outputs
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            // `(int)` in C truncates toward zero; both bounds are then clamped to the image.
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64)
                .min(in_size as i64)
                .max(xmin as i64) as usize;
            let raw: Vec<f64> = (xmin..xmax)
                .map(|x| filter.weight((x as f64 - center + 0.5) * ss))
                .collect();
            let total: f64 = raw.iter().sum();
            let weights = raw
                .iter()
                .map(|&w| {
                    let w = if total != 0.0 { w / total } else { w };
                    let v = w * (1u32 << PRECISION_BITS) as f64;
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

#[inline]
fn clip8(acc: i32) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Pillow's `Image.resize((w, h), filter)` for RGB8 images, bit for bit: a horizontal pass into an 8-bit
/// intermediate over only the rows the vertical pass reads, then the vertical pass (Pillow's order).
pub fn resize(img: &RgbImage, out_w: u32, out_h: u32, filter: Filter) -> RgbImage {
    resize_window(img, (out_w, out_h), 0..out_w, 0..out_h, filter)
}

/// The pixels `xs × ys` of `resize(img, out_w, out_h, filter)`, bit for bit, at the cost of the window
/// alone: each output pixel depends only on its own taps.
pub(super) fn resize_window(
    img: &RgbImage,
    (out_w, out_h): (u32, u32),
    xs: std::ops::Range<u32>,
    ys: std::ops::Range<u32>,
    filter: Filter,
) -> RgbImage {
    let (w, h) = img.dimensions();
    let (win_w, win_h) = (xs.len() as u32, ys.len() as u32);
    if (w, h) == (out_w, out_h) {
        return image::imageops::crop_imm(img, xs.start, ys.start, win_w, win_h).to_image();
    }
    let (w, h, ow, oh) = (w as usize, h as usize, out_w as usize, out_h as usize);
    let xs = xs.start as usize..xs.end as usize;
    let ys = ys.start as usize..ys.end as usize;
    let vert = taps(filter, h, oh, ys.clone());
    let src = img.as_raw();
    let round = 1i32 << (PRECISION_BITS - 1);
    let tmp_w = xs.len();

    // The source rows the vertical pass reads (all of the window's rows when there is none).
    let rows = if oh != h {
        let first = vert.first().map_or(0, |t| t.start);
        first..vert.last().map_or(0, |t| t.start + t.weights.len())
    } else {
        ys.clone()
    };
    let mut tmp = vec![0u8; rows.len() * tmp_w * 3];
    if ow != w {
        let horiz = taps(filter, w, ow, xs.clone());
        for (ty, y) in rows.clone().enumerate() {
            let row = &src[y * w * 3..(y + 1) * w * 3];
            for (x, taps) in horiz.iter().enumerate() {
                for c in 0..3 {
                    let mut acc = round;
                    for (k, &wt) in taps.weights.iter().enumerate() {
                        acc += row[(taps.start + k) * 3 + c] as i32 * wt;
                    }
                    tmp[(ty * tmp_w + x) * 3 + c] = clip8(acc);
                }
            }
        }
    } else {
        // No horizontal pass: the window's columns as they are.
        for (ty, y) in rows.clone().enumerate() {
            tmp[ty * tmp_w * 3..(ty + 1) * tmp_w * 3]
                .copy_from_slice(&src[(y * w + xs.start) * 3..(y * w + xs.end) * 3]);
        }
    }
    if oh == h {
        return RgbImage::from_raw(win_w, win_h, tmp).expect("buffer sized to the window");
    }
    let mut out = vec![0u8; tmp_w * ys.len() * 3];
    for (y, taps) in vert.iter().enumerate() {
        let start = taps.start - rows.start;
        for i in 0..tmp_w * 3 {
            let mut acc = round;
            for (k, &wt) in taps.weights.iter().enumerate() {
                acc += tmp[(start + k) * tmp_w * 3 + i] as i32 * wt;
            }
            out[y * tmp_w * 3 + i] = clip8(acc);
        }
    }
    RgbImage::from_raw(win_w, win_h, out).expect("buffer sized to the window")
}
