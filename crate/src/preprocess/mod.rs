//! Image decoding and the model's preprocessing.
//!
//! Both reference pipelines (torchvision's `Resize(256)+CenterCrop(224)` on a PIL image, and the TF-slim
//! MobileNets' central crop + bilinear resize) first produce a small **uint8** RGB image, then normalise it.
//! We keep that split: [`model_view`] gives the uint8 image the model sees (LIME perturbs it, overlays
//! are drawn on it) and [`to_tensor`] normalises it into a CHW float tensor.
//!
//! Resizing reproduces Pillow's `Image.resize(..., BILINEAR)` (what torchvision does to PIL images):
//! a separable triangle filter whose support grows with the downscale factor (antialiasing), 22-bit
//! fixed-point weights, a horizontal pass then a vertical pass, each rounded to uint8.
//!
//! JPEG pixels come from libjpeg-turbo natively (the C library every reference here decodes with:
//! Pillow's wheels and Chromium bundle it), built from source by the `mozjpeg` crate, with Pillow's
//! settings: accurate integer IDCT, fancy upsampling, YCbCr→RGB in the library. Pure-Rust decoders are
//! not bit-exact with it (`zune-jpeg`, the `image` crate's, differed by up to 10 levels on the probe
//! images), and those levels reach every CAM. With the same decoder and Pillow's integer resize, the
//! model's view equals torchvision's to the level (`crate/tests/preprocess.rs`).
//!
//! By concern: `decode` (formats, limits, truncation, libjpeg, EXIF), `jpeg` (the marker walk both JPEG
//! checks share), `resize` (Pillow's resampling), `crop` (torchvision's and TF-slim's crops); this module
//! holds the [`Preprocessing`] recipes and re-exports the rest.

use anyhow::{bail, ensure, Context, Result};
use image::RgbImage;
use ndarray::Array3;
use serde::{Deserialize, Serialize};

mod crop;
mod decode;
mod jpeg;
mod resize;

pub use crop::{center_crop, resize_shorter_side, resize_shorter_side_and_center_crop};
#[cfg(not(target_arch = "wasm32"))]
pub use decode::load;
pub use decode::{
    declared_size, decode, decode_named, decode_named_with_jpeg_pixels, exif_orientation, upright,
    ImageLimits, ImageTooLarge,
};
pub use jpeg::check_jpeg_complete;
pub use resize::{resize, Filter};

use crop::central_crop;

/// Height and width in pixels (a model's input, a feature map; `results` and the report serialise it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Size {
    pub height: usize,
    pub width: usize,
}

/// One image ready for a model: the uint8 image the model sees ([`model_view`]) and its normalised
/// CHW tensor ([`to_tensor`]).
#[derive(Debug, Clone)]
pub struct ModelInput {
    /// The model's view, [`Preprocessing::input_size`] in size.
    pub view: RgbImage,
    /// `[3, H, W]`.
    pub tensor: Array3<f32>,
}

/// How a model wants its images prepared (a model manifest's `preprocessing`; see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Preprocessing {
    /// torchvision's `Resize(resize)` (shorter side, PIL bilinear with antialias) + `CenterCrop(crop)`,
    /// then `(u8/255 - mean) / std`. With `squash`, `Resize((resize, resize))`: both sides, the aspect
    /// ratio not kept (lime's image tutorial).
    Torchvision {
        resize: u32,
        crop: u32,
        mean: [f32; 3],
        std: [f32; 3],
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        squash: bool,
    },
    /// TF-slim: central square crop of side `min(W,H)·central_fraction`, PIL bilinear resize to
    /// `size`², then `(u8 - offset) · scale`.
    CentralCrop {
        central_fraction: f32,
        size: u32,
        offset: f32,
        scale: f32,
    },
}

impl Preprocessing {
    /// torchvision's ImageNet recipe for a square input of side `crop`.
    pub fn imagenet_torchvision(crop: u32) -> Preprocessing {
        Preprocessing::Torchvision {
            // 256/224 is the ratio of torchvision's reference evaluation.
            resize: ((crop as f64) * 256.0 / 224.0).round() as u32,
            crop,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
            squash: false,
        }
    }

    /// The view in torchvision's words (`Resize(232) + CenterCrop(224)`), for reports and records.
    pub fn describe(&self) -> String {
        match *self {
            Preprocessing::Torchvision {
                resize,
                crop,
                squash: false,
                ..
            } => format!("Resize({resize}) + CenterCrop({crop})"),
            Preprocessing::Torchvision {
                resize,
                crop,
                squash: true,
                ..
            } => format!("Resize(({resize}, {resize})) + CenterCrop({crop})"),
            Preprocessing::CentralCrop {
                central_fraction,
                size,
                ..
            } => format!("central crop {central_fraction} + resize to {size}×{size}"),
        }
    }

    /// The view of lime's image tutorial (`Resize((256, 256))` + `CenterCrop(224)`) for a torchvision model
    /// (its normalisation kept): `glassbox explain --view lime-tutorial` reproduces the tutorial's LIME.
    pub fn lime_tutorial(&self) -> anyhow::Result<Preprocessing> {
        match self {
            Preprocessing::Torchvision { mean, std, .. } => Ok(Preprocessing::Torchvision {
                resize: 256,
                crop: 224,
                mean: *mean,
                std: *std,
                squash: true,
            }),
            other => anyhow::bail!(
                "lime's tutorial view (Resize((256, 256)) + CenterCrop(224)) is for torchvision models; this \
                 model is prepared as {other:?}"
            ),
        }
    }

    /// Height and width of the model input.
    pub fn input_size(&self) -> Size {
        let side = match *self {
            Preprocessing::Torchvision { crop, .. } => crop as usize,
            Preprocessing::CentralCrop { size, .. } => size as usize,
        };
        Size {
            height: side,
            width: side,
        }
    }

    /// The largest `resize`, `crop` or `size`: far above any classifier's input (224–600 pixels), and small
    /// enough that the model's view (`crop`² or `size`² pixels) is never a memory bomb: a manifest or a
    /// dissection job is untrusted input too (a `size` of 4e9 would ask for 48 exabytes).
    pub const MAX_SIDE: u32 = 8192;

    /// Checks the parameters (positive sizes up to [`Self::MAX_SIDE`], a non-zero scale, finite numbers, ...).
    pub fn validate(&self) -> Result<()> {
        let side = |what: &str, v: u32| {
            ensure!(
                v > 0 && v <= Self::MAX_SIDE,
                "preprocessing: {what} must be between 1 and {}, got {v}",
                Self::MAX_SIDE
            );
            Ok(())
        };
        // JSON cannot say NaN, but 1e39 parses as an f32 infinity.
        let finite = |what: &str, values: &[f32]| {
            ensure!(
                values.iter().all(|v| v.is_finite()),
                "preprocessing: {what} must be finite numbers, got {values:?}"
            );
            Ok(())
        };
        match self {
            Preprocessing::Torchvision {
                resize,
                crop,
                mean,
                std,
                ..
            } => {
                side("resize", *resize)?;
                side("crop", *crop)?;
                finite("mean", mean)?;
                finite("std", std)?;
                ensure!(
                    std.iter().all(|s| *s > 0.0),
                    "preprocessing: std must be positive"
                );
            }
            Preprocessing::CentralCrop {
                central_fraction,
                size,
                offset,
                scale,
            } => {
                ensure!(
                    *central_fraction > 0.0 && *central_fraction <= 1.0,
                    "preprocessing: central_fraction must be in (0, 1], got {central_fraction}"
                );
                side("size", *size)?;
                finite("offset and scale", &[*offset, *scale])?;
                ensure!(*scale != 0.0, "preprocessing: scale must be non-zero");
            }
        }
        Ok(())
    }
}

/// The uint8 image the model sees, [`Preprocessing::input_size`] in size.
pub fn model_view(img: &RgbImage, spec: &Preprocessing) -> RgbImage {
    match *spec {
        Preprocessing::Torchvision {
            resize,
            crop,
            squash: false,
            ..
        } => resize_shorter_side_and_center_crop(img, resize, crop, crop, Filter::Bilinear),
        // lime's tutorial: Resize((256, 256)) squashes the whole picture, then CenterCrop.
        Preprocessing::Torchvision {
            resize,
            crop,
            squash: true,
            ..
        } => center_crop(
            &self::resize(img, resize, resize, Filter::Bilinear),
            crop,
            crop,
        ),
        Preprocessing::CentralCrop {
            central_fraction,
            size,
            ..
        } => resize(
            &central_crop(img, central_fraction),
            size,
            size,
            Filter::Bilinear,
        ),
    }
}

/// Normalises a model view into a CHW f32 tensor: torchvision `(u8/255 - mean) / std`, or TF-slim
/// `(u8 - offset) · scale`, each computed in the reference's order of operations.
pub fn to_tensor(view: &RgbImage, spec: &Preprocessing) -> Array3<f32> {
    let (w, h) = view.dimensions();
    let normalise: Box<dyn Fn(usize, u8) -> f32> = match *spec {
        Preprocessing::Torchvision { mean, std, .. } => {
            Box::new(move |c, v| (v as f32 / 255.0 - mean[c]) / std[c])
        }
        Preprocessing::CentralCrop { offset, scale, .. } => {
            Box::new(move |_, v| (v as f32 - offset) * scale)
        }
    };
    // A lookup table per channel: 256 values instead of one division per pixel.
    let table: Vec<[f32; 256]> = (0..3)
        .map(|c| std::array::from_fn(|v| normalise(c, v as u8)))
        .collect();
    let mut t = Array3::zeros((3, h as usize, w as usize));
    for (x, y, p) in view.enumerate_pixels() {
        for c in 0..3 {
            t[[c, y as usize, x as usize]] = table[c][p[c] as usize];
        }
    }
    t
}

/// The model's view of a decoded image and its normalised CHW tensor.
pub fn prepare(img: &RgbImage, spec: &Preprocessing) -> ModelInput {
    let view = model_view(img, spec);
    let tensor = to_tensor(&view, spec);
    ModelInput { view, tensor }
}

/// Decodes, prepares and normalises one image.
pub fn prepare_bytes(
    bytes: &[u8],
    name: &str,
    spec: &Preprocessing,
    limits: &ImageLimits,
) -> Result<ModelInput> {
    let img = decode_named(bytes, name, limits)?;
    Ok(prepare(&img, spec))
}

/// Stacks CHW tensors into an NCHW batch (all must have the same shape).
pub fn stack(tensors: &[Array3<f32>]) -> Result<ndarray::Array4<f32>> {
    if tensors.is_empty() {
        bail!("no images to stack");
    }
    let views: Vec<_> = tensors.iter().map(|t| t.view()).collect();
    ndarray::stack(ndarray::Axis(0), &views)
        .context("images of different sizes cannot share a batch")
}
