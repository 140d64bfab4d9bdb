//! Pictures: the JET colormap, CAM overlays as `show_cam_on_image` draws them, LIME's weight colours, and PNG
//! encoding.
//!
//! Everything returns in-memory images or bytes, so the CLI writes files and the browser shows blobs
//! from the same code.

use anyhow::{ensure, Context, Result};
use image::{ImageFormat, Rgb, RgbImage, RgbaImage};
use ndarray::ArrayView2;

/// The JET colormap as a 256-entry RGB table: the classic piecewise-linear jet,
/// `channel(x) = clamp(1.5 − |4x − k|, 0, 1)` with k = 3, 2, 1 for red, green, blue.
///
/// OpenCV's `COLORMAP_JET` (what `show_cam_on_image` uses) is the same curve tabulated slightly
/// differently; `tests/fixtures/render/jet_cv2.npy` holds OpenCV's table and a test checks that no
/// entry differs by more than one level (invisible in a picture, and no CAM number depends on it).
pub fn jet_lut() -> [[u8; 3]; 256] {
    let mut lut = [[0u8; 3]; 256];
    for (i, entry) in lut.iter_mut().enumerate() {
        let x = i as f64 / 255.0;
        for (c, k) in [3.0, 2.0, 1.0].into_iter().enumerate() {
            let value = (1.5 - (4.0 * x - k).abs()).clamp(0.0, 1.0);
            entry[c] = (255.0 * value).round() as u8;
        }
    }
    lut
}

/// The JET heatmap of a [0, 1] map: `applyColorMap(uint8(255·map), JET)`, in RGB.
pub fn heatmap(map: ArrayView2<f32>) -> RgbImage {
    let lut = jet_lut();
    let (h, w) = map.dim();
    RgbImage::from_fn(w as u32, h as u32, |x, y| {
        Rgb(lut[to_u8_truncating(map[[y as usize, x as usize]])])
    })
}

/// The colour of a LIME weight scaled to [-1, 1] (by the largest |weight| of its explanation): green where it
/// supports the class, red where it speaks against it, black at 0, brightness |weight|, as the `lime` tutorial
/// colours pros and cons. The one convention of every LIME weight picture: the explain page, its legend
/// (`www/legend.js`) and the report's figures.
pub fn lime_weight_colour(scaled: f64) -> Rgb<u8> {
    let level = (scaled.abs().min(1.0) * 255.0).round() as u8;
    if scaled >= 0.0 {
        Rgb([0, level, 0])
    } else {
        Rgb([level, 0, 0])
    }
}

/// `1 / max |weight|`, or 0 when every weight is 0 (a black picture).
fn inverse_largest(weights: impl Iterator<Item = f64>) -> f64 {
    let max = weights.fold(0.0f64, |m, w| m.max(w.abs()));
    if max > 0.0 {
        1.0 / max
    } else {
        0.0
    }
}

/// LIME's superpixel weights as a picture in [`lime_weight_colour`], so the strongest superpixel is fully
/// coloured. `weights[s]` is superpixel `s`'s weight (0 for superpixels the surrogate did not select).
pub fn superpixel_weights(segments: ArrayView2<i32>, weights: &[f64]) -> RgbImage {
    let scale = inverse_largest(weights.iter().copied());
    let (h, w) = segments.dim();
    RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let s = segments[[y as usize, x as usize]];
        let weight = usize::try_from(s)
            .ok()
            .and_then(|s| weights.get(s))
            .copied()
            .unwrap_or(0.0);
        lime_weight_colour(weight * scale)
    })
}

/// LIME's weight of every pixel (its superpixel's) as a picture in [`lime_weight_colour`].
pub fn pixel_weights(weights: ArrayView2<f32>) -> RgbImage {
    let scale = inverse_largest(weights.iter().map(|&w| w as f64));
    let (h, w) = weights.dim();
    RgbImage::from_fn(w as u32, h as u32, |x, y| {
        lime_weight_colour(weights[[y as usize, x as usize]] as f64 * scale)
    })
}

/// `(1 − opacity)·view + opacity·colours`, rounded: how the explain page lays a method's colours over the
/// model's view (`www/drawing.js`).
pub fn blend(view: &RgbImage, colours: &RgbImage, opacity: f32) -> Result<RgbImage> {
    ensure!(
        view.dimensions() == colours.dimensions(),
        "the colours are {:?} but the image is {:?}",
        colours.dimensions(),
        view.dimensions()
    );
    ensure!(
        (0.0..=1.0).contains(&opacity),
        "opacity must be in [0, 1], got {opacity}"
    );
    let mut out = view.clone();
    for (pixel, colour) in out.pixels_mut().zip(colours.pixels()) {
        for c in 0..3 {
            pixel[c] =
                ((1.0 - opacity) * pixel[c] as f32 + opacity * colour[c] as f32).round() as u8;
        }
    }
    Ok(out)
}

/// numpy's `np.uint8(255 * v)` for v in [0, 1]: truncation toward zero.
fn to_u8_truncating(v: f32) -> usize {
    (255.0 * v).clamp(0.0, 255.0) as usize
}

/// `show_cam_on_image(img / 255, map, use_rgb=True, image_weight)`:
/// `(1 − w)·heatmap + w·img`, divided by its maximum, then `uint8(255·x)`.
pub fn overlay(view: &RgbImage, map: ArrayView2<f32>, image_weight: f32) -> Result<RgbImage> {
    let (h, w) = map.dim();
    ensure!(
        view.dimensions() == (w as u32, h as u32),
        "the map is {w}×{h} but the image is {}×{}",
        view.width(),
        view.height()
    );
    ensure!(
        (0.0..=1.0).contains(&image_weight),
        "image_weight must be in [0, 1], got {image_weight}"
    );
    let heat = heatmap(map);
    let blended: Vec<f32> = heat
        .pixels()
        .zip(view.pixels())
        .flat_map(|(hp, ip)| {
            (0..3).map(move |c| {
                (1.0 - image_weight) * (hp[c] as f32 / 255.0)
                    + image_weight * (ip[c] as f32 / 255.0)
            })
        })
        .collect();
    let max = blended
        .iter()
        .copied()
        .fold(0.0f32, f32::max)
        .max(f32::MIN_POSITIVE);
    let bytes: Vec<u8> = blended.iter().map(|&v| (255.0 * (v / max)) as u8).collect();
    RgbImage::from_raw(w as u32, h as u32, bytes).context("overlay buffer has the wrong size")
}

/// Encodes an RGB image as PNG bytes.
pub fn png_rgb(image: &RgbImage) -> Result<Vec<u8>> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, ImageFormat::Png)
        .context("encoding PNG")?;
    Ok(bytes.into_inner())
}

/// Encodes an RGBA image as PNG bytes.
pub fn png_rgba(image: &RgbaImage) -> Result<Vec<u8>> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, ImageFormat::Png)
        .context("encoding PNG")?;
    Ok(bytes.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn superpixel_weights_colour_support_green_and_opposition_red() {
        let segments = ndarray::array![[0, 1], [2, 2]];
        let picture = superpixel_weights(segments.view(), &[0.5, -0.25, 0.0]);
        assert_eq!(picture.get_pixel(0, 0).0, [0, 255, 0]);
        assert_eq!(picture.get_pixel(1, 0).0, [128, 0, 0]);
        assert_eq!(picture.get_pixel(0, 1).0, [0, 0, 0]);
    }

    #[test]
    fn pixel_weights_and_superpixel_weights_colour_alike_and_blend_as_the_page() {
        let segments = ndarray::array![[0, 1], [2, 2]];
        let per_pixel = ndarray::array![[0.5f32, -0.25], [0.0, 0.0]];
        assert_eq!(
            pixel_weights(per_pixel.view()),
            superpixel_weights(segments.view(), &[0.5, -0.25, 0.0])
        );
        let view = RgbImage::from_pixel(2, 2, Rgb([100, 100, 100]));
        let blended = blend(&view, &pixel_weights(per_pixel.view()), 0.5).unwrap();
        // Math.round(0.5·100 + 0.5·255) = 178 in the page's drawing.js.
        assert_eq!(blended.get_pixel(0, 0).0, [50, 178, 50]);
        assert_eq!(blended.get_pixel(1, 0).0, [114, 50, 50]);
        assert_eq!(blended.get_pixel(0, 1).0, [50, 50, 50]);
        assert!(blend(&view, &RgbImage::new(3, 2), 0.5).is_err());
    }

    #[test]
    fn jet_runs_from_dark_blue_through_green_to_dark_red() {
        let lut = jet_lut();
        assert_eq!(lut[0], [0, 0, 128]);
        assert_eq!(lut[255], [128, 0, 0]);
        assert_eq!(lut[64][2], 255);
        assert_eq!(lut[128][1], 255);
    }

    #[test]
    fn overlay_of_black_image_is_normalised_heatmap() {
        let view = RgbImage::new(4, 4);
        let map = Array2::from_elem((4, 4), 1.0f32);
        let out = overlay(&view, map.view(), 0.5).unwrap();
        // heat = dark red (128,0,0)/255 · 0.5 → divided by its own max → 255.
        assert_eq!(out.get_pixel(0, 0).0, [255, 0, 0]);
    }

    #[test]
    fn overlay_rejects_mismatched_sizes() {
        let err = overlay(&RgbImage::new(3, 3), Array2::zeros((4, 4)).view(), 0.5).unwrap_err();
        assert!(err.to_string().contains("4×4"), "{err}");
    }
}
