//! The report's pictures: the model's view with maps and mask outlines over it, side by side. They hold
//! no text: the Markdown caption under each figure names its panels, in real type.

use anyhow::Result;
use image::{Rgb, RgbImage};
use ndarray::{Array2, ArrayView2};

use crate::render;

const GAP: u32 = 6;
const WHITE: Rgb<u8> = Rgb([255, 255, 255]);

/// Pictures side by side on white, top-aligned, with a gap around each.
pub fn strip(panels: &[RgbImage]) -> RgbImage {
    let width = panels.iter().map(|p| p.width() + GAP).sum::<u32>() + GAP;
    let height = panels.iter().map(|p| p.height()).max().unwrap_or(0) + 2 * GAP;
    let mut canvas = RgbImage::from_pixel(width.max(1), height.max(1), WHITE);
    let mut x = GAP;
    for panel in panels {
        image::imageops::replace(&mut canvas, panel, x as i64, GAP as i64);
        x += panel.width() + GAP;
    }
    canvas
}

/// Pictures stacked top to bottom, left-aligned, on white.
pub fn stack(rows: &[RgbImage]) -> RgbImage {
    let width = rows.iter().map(|r| r.width()).max().unwrap_or(1);
    let height = rows.iter().map(|r| r.height()).sum::<u32>().max(1);
    let mut canvas = RgbImage::from_pixel(width, height, WHITE);
    let mut y = 0;
    for r in rows {
        image::imageops::replace(&mut canvas, r, 0, y as i64);
        y += r.height();
    }
    canvas
}

/// A map over the view with the JET colour map (`show_cam_on_image`, image weight 0.5).
pub fn heat(view: &RgbImage, map: ArrayView2<f32>) -> Result<RgbImage> {
    render::overlay(view, map, 0.5)
}

/// LIME's per-pixel weights over the view as the explain page shows them at its default opacity: green for the
/// class, red against ([`render::lime_weight_colour`]), half over the view.
pub fn lime_weights(view: &RgbImage, weights: &Array2<f32>) -> Result<RgbImage> {
    render::blend(view, &render::pixel_weights(weights.view()), 0.5)
}

/// A mask outlined in yellow on a copy of the view.
pub fn outline(view: &RgbImage, mask: &Array2<bool>) -> RgbImage {
    let mut img = view.clone();
    let (h, w) = mask.dim();
    let outside = |y: i64, x: i64| {
        y < 0 || x < 0 || y >= h as i64 || x >= w as i64 || !mask[(y as usize, x as usize)]
    };
    for ((y, x), &inside) in mask.indexed_iter() {
        let (yy, xx) = (y as i64, x as i64);
        let edge = [(0, 1), (1, 0), (0, -1), (-1, 0)]
            .iter()
            .any(|&(dy, dx)| outside(yy + dy, xx + dx));
        if inside && edge {
            img.put_pixel(x as u32, y as u32, Rgb([255, 255, 0]));
        }
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(img: &RgbImage, c: [u8; 3]) -> usize {
        img.pixels().filter(|p| p.0 == c).count()
    }

    #[test]
    fn strip_and_stack_place_panels_without_overlap() {
        let red = RgbImage::from_pixel(10, 8, Rgb([255, 0, 0]));
        let green = RgbImage::from_pixel(12, 8, Rgb([0, 255, 0]));
        let s = strip(&[red, green]);
        assert_eq!(count(&s, [255, 0, 0]), 80);
        assert_eq!(count(&s, [0, 255, 0]), 96);
        assert_eq!(s.width(), 10 + 12 + 3 * GAP);
        let st = stack(&[s.clone(), s.clone()]);
        assert_eq!(st.height(), 2 * s.height());
        assert_eq!(count(&st, [255, 0, 0]), 160);
    }

    #[test]
    fn outline_marks_only_the_border_of_the_mask() {
        let view = RgbImage::from_pixel(6, 6, Rgb([0, 0, 0]));
        let mask =
            Array2::from_shape_fn((6, 6), |(r, c)| (1..5).contains(&r) && (1..5).contains(&c));
        // A 4×4 square: 12 border pixels, the 2×2 inside untouched.
        assert_eq!(count(&outline(&view, &mask), [255, 255, 0]), 12);
    }
}
