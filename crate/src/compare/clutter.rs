//! How cluttered an image is, to answer "do the methods agree more on simple images?" from the data rather
//! than from file names: the share of edge pixels (Sobel gradient magnitude of the luminance above a fixed
//! threshold). The report also uses LIME's superpixel count, a second clutter measure it already has.

use image::RgbImage;

/// Sobel magnitude (on 0–255 luminance) above which a pixel counts as an edge: a clear step of about 20
/// grey levels across the 3-pixel kernel.
pub const EDGE_THRESHOLD: f64 = 80.0;

/// Fraction of interior pixels whose Sobel gradient magnitude exceeds [`EDGE_THRESHOLD`]; 0 for images
/// smaller than 3×3.
pub fn edge_density(image: &RgbImage) -> f64 {
    let (w, h) = (image.width() as usize, image.height() as usize);
    if w < 3 || h < 3 {
        return 0.0;
    }
    // ITU-R BT.601 luma, as PIL's convert("L").
    let luma: Vec<f64> = image
        .pixels()
        .map(|p| 0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64)
        .collect();
    let at = |x: usize, y: usize| luma[y * w + x];
    let mut edges = 0usize;
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let gx = at(x + 1, y - 1) + 2.0 * at(x + 1, y) + at(x + 1, y + 1)
                - at(x - 1, y - 1)
                - 2.0 * at(x - 1, y)
                - at(x - 1, y + 1);
            let gy = at(x - 1, y + 1) + 2.0 * at(x, y + 1) + at(x + 1, y + 1)
                - at(x - 1, y - 1)
                - 2.0 * at(x, y - 1)
                - at(x + 1, y - 1);
            if (gx * gx + gy * gy).sqrt() > EDGE_THRESHOLD {
                edges += 1;
            }
        }
    }
    edges as f64 / ((w - 2) * (h - 2)) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_images_have_no_edges_and_stripes_have_many() {
        let flat = RgbImage::from_pixel(16, 16, image::Rgb([120, 120, 120]));
        assert_eq!(edge_density(&flat), 0.0);
        // One vertical step from black to white: the two interior columns beside it are edges.
        let step = RgbImage::from_fn(10, 10, |x, _| {
            image::Rgb(if x < 5 { [0; 3] } else { [255; 3] })
        });
        assert!((edge_density(&step) - 2.0 / 8.0).abs() < 1e-12);
        // 2-pixel stripes: every interior pixel has a black and a white horizontal neighbour.
        let stripes = RgbImage::from_fn(12, 12, |x, _| {
            image::Rgb(if (x / 2) % 2 == 0 { [0; 3] } else { [255; 3] })
        });
        assert_eq!(edge_density(&stripes), 1.0);
        assert_eq!(edge_density(&RgbImage::new(2, 2)), 0.0);
    }
}
