//! Object masks for "does the explanation land on the object" checks: class-index segmentation bitmaps,
//! polygons and boxes, rasterised at the photo's resolution and then mapped onto the model's input grid
//! through the same crop and resize as the photo, so mask and explanation line up pixel for pixel.

use anyhow::{ensure, Context, Result};
use image::{Rgb, RgbImage};
use ndarray::{Array2, ArrayView2};

/// A mask from a segmentation bitmap that stores class indices as grey levels (8-bit BMP with the
/// identity grey palette, as the Coral test masks): `true` where the index is one of `classes`.
pub fn mask_from_index_image(img: &RgbImage, classes: &[u8]) -> Result<Array2<bool>> {
    let (w, h) = img.dimensions();
    let mut mask = Array2::from_elem((h as usize, w as usize), false);
    for (x, y, p) in img.enumerate_pixels() {
        ensure!(
            p[0] == p[1] && p[1] == p[2],
            "segmentation bitmap pixel ({x},{y}) is {:?}, not grey: expected class indices as grey levels",
            p.0
        );
        mask[(y as usize, x as usize)] = classes.contains(&p[0]);
    }
    Ok(mask)
}

/// Rasterises a closed polygon (pixel coordinates, x right, y down) by the even-odd rule, sampling each
/// pixel at its centre (x + 0.5, y + 0.5).
pub fn polygon_mask(points: &[(f64, f64)], width: usize, height: usize) -> Array2<bool> {
    let mut mask = Array2::from_elem((height, width), false);
    if points.len() < 3 {
        return mask;
    }
    for y in 0..height {
        let cy = y as f64 + 0.5;
        // x positions where the scanline crosses an edge (half-open rule on y avoids double counting).
        let mut crossings: Vec<f64> = Vec::new();
        for i in 0..points.len() {
            let (x0, y0) = points[i];
            let (x1, y1) = points[(i + 1) % points.len()];
            if (y0 <= cy) != (y1 <= cy) {
                crossings.push(x0 + (cy - y0) * (x1 - x0) / (y1 - y0));
            }
        }
        crossings.sort_by(f64::total_cmp);
        for pair in crossings.chunks_exact(2) {
            for x in 0..width {
                let cx = x as f64 + 0.5;
                if cx >= pair[0] && cx < pair[1] {
                    mask[(y, x)] = true;
                }
            }
        }
    }
    mask
}

/// The pixels whose centres lie in the box [x1, x2) × [y1, y2).
pub fn box_mask(x1: f64, y1: f64, x2: f64, y2: f64, width: usize, height: usize) -> Array2<bool> {
    Array2::from_shape_fn((height, width), |(y, x)| {
        let (cx, cy) = (x as f64 + 0.5, y as f64 + 0.5);
        cx >= x1 && cx < x2 && cy >= y1 && cy < y2
    })
}

/// Maps a mask drawn on the photo onto the model's input grid with `view` (the function that turns the
/// photo into the model's view: crop + resize, e.g. `preprocess::model_view` with the model's spec).
/// The mask travels as a black/white image through the same resampling; pixels at ≥ 50 % coverage count.
pub fn mask_to_model_grid(
    mask: ArrayView2<bool>,
    view: impl Fn(&RgbImage) -> RgbImage,
) -> Result<Array2<bool>> {
    let (h, w) = mask.dim();
    let img = RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let v = if mask[(y as usize, x as usize)] {
            255
        } else {
            0
        };
        Rgb([v, v, v])
    });
    let out = view(&img);
    let (ow, oh) = out.dimensions();
    ensure!(ow > 0 && oh > 0, "the model view of the mask is empty");
    Ok(Array2::from_shape_fn(
        (oh as usize, ow as usize),
        |(y, x)| out.get_pixel(x as u32, y as u32)[0] >= 128,
    ))
}

/// The human annotations shipped with imgaug's quokka photo.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct QuokkaAnnotations {
    pub bounding_boxes: Vec<AnnotatedBox>,
    pub polygons: Vec<AnnotatedPolygon>,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct AnnotatedBox {
    pub x1: f64,
    pub y1: f64,
    pub x2: f64,
    pub y2: f64,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct AnnotatedPolygon {
    pub keypoints: Vec<Point>,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

impl QuokkaAnnotations {
    pub fn parse(json: &str) -> Result<Self> {
        serde_json::from_str(json)
            .context("quokka_annotations.json: expected bounding_boxes and polygons")
    }

    /// The outline polygon of the animal, rasterised at the photo's size.
    pub fn polygon_mask(&self, width: usize, height: usize) -> Result<Array2<bool>> {
        let polygon = self
            .polygons
            .first()
            .context("quokka annotations have no polygon")?;
        let points: Vec<(f64, f64)> = polygon.keypoints.iter().map(|p| (p.x, p.y)).collect();
        Ok(polygon_mask(&points, width, height))
    }

    /// The bounding box of the animal, rasterised at the photo's size.
    pub fn box_mask(&self, width: usize, height: usize) -> Result<Array2<bool>> {
        let b = self
            .bounding_boxes
            .first()
            .context("quokka annotations have no bounding box")?;
        Ok(box_mask(b.x1, b.y1, b.x2, b.y2, width, height))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::agreement::count;

    #[test]
    fn polygon_of_a_square_and_a_triangle() {
        // Square with corners on pixel edges: exactly the 4×4 pixels inside.
        let square = polygon_mask(&[(2.0, 2.0), (6.0, 2.0), (6.0, 6.0), (2.0, 6.0)], 10, 10);
        assert_eq!(count(square.view()), 16);
        assert!(square[(2, 2)] && square[(5, 5)] && !square[(6, 6)] && !square[(1, 2)]);
        // Right triangle with legs of 100 px: area 5000, rasterised count within the edge's pixel band.
        let tri = polygon_mask(&[(0.0, 0.0), (100.0, 0.0), (0.0, 100.0)], 100, 100);
        let n = count(tri.view()) as f64;
        assert!((n - 5000.0).abs() <= 100.0, "{n}");
        assert!(polygon_mask(&[(0.0, 0.0), (1.0, 1.0)], 4, 4)
            .iter()
            .all(|&m| !m));
    }

    #[test]
    fn box_mask_counts_centres() {
        let m = box_mask(1.0, 2.0, 4.0, 3.0, 6, 6);
        assert_eq!(count(m.view()), 3);
        assert!(m[(2, 1)] && m[(2, 3)] && !m[(2, 4)]);
    }

    #[test]
    fn index_image_mask_selects_classes_and_rejects_colour() {
        let img = RgbImage::from_fn(4, 2, |x, _| {
            let v = x as u8;
            Rgb([v, v, v])
        });
        let m = mask_from_index_image(&img, &[1, 3]).unwrap();
        assert_eq!(m.row(0).to_vec(), vec![false, true, false, true]);
        let colour = RgbImage::from_pixel(2, 2, Rgb([1, 2, 3]));
        assert!(mask_from_index_image(&colour, &[1]).is_err());
    }

    #[test]
    fn mask_survives_an_identity_view_and_halves_with_a_2x_downscale() {
        let mask = box_mask(0.0, 0.0, 8.0, 4.0, 8, 8);
        let same = mask_to_model_grid(mask.view(), |i| i.clone()).unwrap();
        assert_eq!(same, mask);
        let half = mask_to_model_grid(mask.view(), |i| {
            image::imageops::resize(i, 4, 4, image::imageops::FilterType::Triangle)
        })
        .unwrap();
        assert_eq!(count(half.view()), 8);
    }
}
