//! CLIP's image preprocessing (`clip.load(...)[1]`): `Resize(224, BICUBIC)` of the shorter side on a PIL image,
//! `CenterCrop(224)`, `ToTensor`, `Normalize(CLIP mean, CLIP std)`.
//!
//! The resize is Pillow's bicubic filter ([`preprocess::resize`] with [`Filter::Bicubic`]).

use image::RgbImage;
use ndarray::Array3;

use crate::preprocess::{self, Filter};

/// CLIP's normalisation constants (`clip/clip.py`, `_transform`).
pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
pub const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_6, 0.275_777_1];

/// The uint8 `n_px`×`n_px` view CLIP sees: bicubic shorter side → `n_px`, then the centre crop.
pub fn clip_view(img: &RgbImage, n_px: u32) -> RgbImage {
    preprocess::resize_shorter_side_and_center_crop(img, n_px, n_px, n_px, Filter::Bicubic)
}

/// `ToTensor` + `Normalize(CLIP_MEAN, CLIP_STD)`: CHW float.
pub fn clip_tensor(view: &RgbImage) -> Array3<f32> {
    let (w, h) = view.dimensions();
    Array3::from_shape_fn((3, h as usize, w as usize), |(c, y, x)| {
        let v = view.get_pixel(x as u32, y as u32)[c];
        (v as f32 / 255.0 - CLIP_MEAN[c]) / CLIP_STD[c]
    })
}
