//! torchvision's `Resize(int)` and `CenterCrop` on PIL images, and the TF-slim MobileNets' central crop, with
//! Python's rounding of each box.

use image::RgbImage;

use super::resize::{resize, resize_window, Filter};

/// The central crop of the TF-slim MobileNet references, `central_fraction` of the shorter side (see
/// [`central_crop_box`]).
pub(super) fn central_crop(img: &RgbImage, fraction: f32) -> RgbImage {
    let (x, y, w, h) = central_crop_box(img.width(), img.height(), fraction);
    image::imageops::crop_imm(img, x, y, w, h).to_image()
}

/// The central crop `(left, top, width, height)` of the TF-slim MobileNet references
/// (mobilenet_onnx/SOURCES.md): PIL `img.crop((l, t, l + s, t + s))` with `s = min(W, H) · fraction`
/// and `l = (W - s) / 2`, `t = (H - s) / 2` as floats; PIL rounds each box coordinate with Python's
/// `round` (halves to even), so the crop can be one pixel off square. This reproduces the reference
/// top-1 and top-1 probabilities (to 4 decimals) on all 11 reference images.
fn central_crop_box(w: u32, h: u32, fraction: f32) -> (u32, u32, u32, u32) {
    let side = w.min(h) as f64 * fraction as f64;
    let (l, t) = ((w as f64 - side) / 2.0, (h as f64 - side) / 2.0);
    let (x0, y0) = (round_half_even(l) as u32, round_half_even(t) as u32);
    let (x1, y1) = (
        round_half_even(l + side) as u32,
        round_half_even(t + side) as u32,
    );
    (x0, y0, (x1 - x0).max(1), (y1 - y0).max(1))
}

/// torchvision `Resize(size)` with an int: the shorter side becomes `size`, the longer side
/// `int(size · long / short)`, with Pillow's `filter`.
pub fn resize_shorter_side(img: &RgbImage, size: u32, filter: Filter) -> RgbImage {
    let (nw, nh) = shorter_side_size(img.dimensions(), size);
    resize(img, nw, nh, filter)
}

/// The size `Resize(size)` gives a `(w, h)` picture (the long side saturates at `u32::MAX`).
fn shorter_side_size((w, h): (u32, u32), size: u32) -> (u32, u32) {
    let (short, long) = if w <= h { (w, h) } else { (h, w) };
    let new_long = ((size as f64) * (long as f64) / (short as f64)) as u32;
    if w <= h {
        (size, new_long)
    } else {
        (new_long, size)
    }
}

/// `center_crop(&resize_shorter_side(img, size, filter), ch, cw)`, pixel for pixel, computing only the pixels
/// the crop keeps. The resized picture of a very elongated image is enormous: a 1×1,000,000 PNG of a few
/// kilobytes becomes 256×256,000,000 pixels under `Resize(256)` (a 196 GB buffer; the fuzz harness found the
/// smaller cases), while the crop never holds more than `ch × cw`.
pub fn resize_shorter_side_and_center_crop(
    img: &RgbImage,
    size: u32,
    ch: u32,
    cw: u32,
    filter: Filter,
) -> RgbImage {
    let (nw, nh) = shorter_side_size(img.dimensions(), size);
    // Per axis, as `center_crop`: the window of the resized picture the crop keeps, and where it lands in
    // the crop (a picture smaller than the crop is zero-padded around).
    let axis = |n: u32, c: u32| {
        if c > n {
            (0..n, (c - n) / 2)
        } else {
            let start = round_half_even((n - c) as f64 / 2.0) as u32;
            (start..start + c, 0)
        }
    };
    let ((xs, left), (ys, top)) = (axis(nw, cw), axis(nh, ch));
    let window = resize_window(img, (nw, nh), xs, ys, filter);
    if window.dimensions() == (cw, ch) {
        return window;
    }
    let mut canvas = RgbImage::new(cw, ch);
    image::imageops::replace(&mut canvas, &window, i64::from(left), i64::from(top));
    canvas
}

/// torchvision `CenterCrop((ch, cw))` on a PIL image: zero-pads when the image is smaller, then crops at
/// `int(round((H - ch) / 2))` (Python's round: halves go to the even neighbour).
pub fn center_crop(img: &RgbImage, ch: u32, cw: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let padded;
    let img = if cw > w || ch > h {
        let left = if cw > w { (cw - w) / 2 } else { 0 };
        let top = if ch > h { (ch - h) / 2 } else { 0 };
        let right = if cw > w { (cw - w).div_ceil(2) } else { 0 };
        let bottom = if ch > h { (ch - h).div_ceil(2) } else { 0 };
        let mut canvas = RgbImage::new(w + left + right, h + top + bottom);
        image::imageops::replace(&mut canvas, img, left as i64, top as i64);
        padded = canvas;
        &padded
    } else {
        img
    };
    let (w, h) = img.dimensions();
    let top = round_half_even((h - ch) as f64 / 2.0) as u32;
    let left = round_half_even((w - cw) as f64 / 2.0) as u32;
    image::imageops::crop_imm(img, left, top, cw, ch).to_image()
}

fn round_half_even(x: f64) -> f64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
        r - x.signum()
    } else {
        r
    }
}
