//! What JS receives: plain objects made from these structs (field names are what www/worker.js and
//! www/app.js read).

use anyhow::{anyhow, Result};
use js_sys::{Float32Array, Int32Array, Uint8Array, Uint8ClampedArray};
use ndarray::{ArrayD, IxDyn};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use crate::engine::EngineKind;
use crate::lime::LimeTiming;
use crate::results::{AgreementSet, Prediction};

/// `Session::info`.
#[derive(Serialize)]
pub(super) struct ModelInfo<'a> {
    pub(super) name: &'a str,
    pub(super) description: &'a str,
    pub(super) engine: String,
    pub(super) kind: EngineKind,
    pub(super) batch: usize,
    /// `[height, width]` of the model's input.
    pub(super) input: [usize; 2],
    pub(super) classes: usize,
    pub(super) feature_channels: usize,
}

/// The model's view of an image (`set_image`, `set_jpeg_image`).
#[derive(Serialize)]
pub(super) struct ImageView {
    pub(super) width: u32,
    pub(super) height: u32,
    /// `width × height` RGBA.
    #[serde(with = "serde_wasm_bindgen::preserve")]
    pub(super) rgba: Uint8ClampedArray,
    /// Size of the picture before the model's resize and crop.
    pub(super) source_width: u32,
    pub(super) source_height: u32,
    /// The EXIF orientation applied (a visitor's own photo), if any.
    pub(super) turned_upright: Option<String>,
}

/// `Session::classify`.
#[derive(Serialize)]
pub(super) struct Classification {
    pub(super) top: Vec<RankedClass>,
    /// Milliseconds of the image's forward pass (0 when it was cached).
    pub(super) forward_ms: f64,
}

/// A class of the top-k: `{class, label, probability, logit}`.
#[derive(Serialize)]
pub(super) struct RankedClass {
    #[serde(flatten)]
    pub(super) prediction: Prediction,
    pub(super) logit: f32,
}

/// A CAM explanation (`Session::explain` with a CAM method).
#[derive(Serialize)]
pub(super) struct CamResult {
    pub(super) method: &'static str,
    pub(super) image: String,
    pub(super) target: usize,
    pub(super) label: String,
    pub(super) summary: String,
    pub(super) width: usize,
    pub(super) height: usize,
    /// The normalised map, `height × width`, as pytorch-grad-cam returns it.
    #[serde(with = "serde_wasm_bindgen::preserve")]
    pub(super) map: Float32Array,
    /// The map on the feature grid, before the resize.
    #[serde(with = "serde_wasm_bindgen::preserve")]
    pub(super) raw: Float32Array,
    pub(super) raw_width: usize,
    pub(super) raw_height: usize,
    /// A `Float32Array` of one weight per feature channel, or `null` (methods without channel weights).
    #[serde(with = "serde_wasm_bindgen::preserve")]
    pub(super) channel_weights: JsValue,
    /// The JET overlay colours, `height × width` RGBA.
    #[serde(with = "serde_wasm_bindgen::preserve")]
    pub(super) heat_rgba: Uint8ClampedArray,
    pub(super) ms: f64,
}

/// A LIME explanation (`Session::explain` with `lime`).
#[derive(Serialize)]
pub(super) struct LimeResult {
    pub(super) method: &'static str,
    pub(super) image: String,
    pub(super) target: usize,
    pub(super) label: String,
    pub(super) summary: String,
    pub(super) width: usize,
    pub(super) height: usize,
    /// Superpixel label per pixel, `height × width`.
    #[serde(with = "serde_wasm_bindgen::preserve")]
    pub(super) segments: Int32Array,
    pub(super) n_segments: usize,
    /// The surrogate's weight per superpixel for `target` (0 where unselected).
    #[serde(with = "serde_wasm_bindgen::preserve")]
    pub(super) weights: Float32Array,
    pub(super) intercept: f64,
    pub(super) score: f64,
    /// 1 on the top-5 positive superpixels of `target`, `height × width`.
    #[serde(with = "serde_wasm_bindgen::preserve")]
    pub(super) mask: Uint8Array,
    /// The superpixels of `mask`, ascending.
    #[serde(with = "serde_wasm_bindgen::preserve")]
    pub(super) mask_superpixels: Int32Array,
    pub(super) top_labels: Vec<usize>,
    pub(super) num_samples: usize,
    pub(super) samples_used: usize,
    pub(super) partial: bool,
    pub(super) seed: u32,
    pub(super) timing: LimeTiming,
    /// The weights as colours, `height × width` RGBA.
    #[serde(with = "serde_wasm_bindgen::preserve")]
    pub(super) heat_rgba: Uint8ClampedArray,
    pub(super) ms: f64,
}

/// `Session::agreement`: the CAMs of the current image against its LIME explanation of one class, with
/// the same [`AgreementSet`] `glassbox compare` writes per image in `agreement.json`.
#[derive(Serialize)]
pub(super) struct ImageAgreement {
    pub(super) image: String,
    /// The class's label (`agreement.class` is its number).
    pub(super) label: String,
    pub(super) agreement: AgreementSet,
    pub(super) lime: LimeMaskSummary,
}

/// The LIME side of an agreement table, for the page to say what was compared.
#[derive(Serialize)]
pub(super) struct LimeMaskSummary {
    /// Pixels in LIME's top-5 mask (the CAMs' "same pixel count").
    pub(super) mask_pixels: usize,
    /// Superpixels in the mask (at most 5: only positive ones count).
    pub(super) mask_superpixels: usize,
    pub(super) samples_used: usize,
    pub(super) samples_requested: usize,
}

/// One output of an engine run, passed between the workers of a pool (`Session::run_batch`).
#[derive(Serialize, Deserialize)]
pub(super) struct BatchOutput {
    #[serde(with = "serde_wasm_bindgen::preserve")]
    pub(super) data: Float32Array,
    pub(super) shape: Vec<usize>,
}

impl BatchOutput {
    pub(super) fn of(array: ArrayD<f32>) -> BatchOutput {
        let shape = array.shape().to_vec();
        let data = Float32Array::from(
            array
                .as_standard_layout()
                .as_slice()
                .expect("standard layout"),
        );
        BatchOutput { data, shape }
    }

    pub(super) fn into_array(self) -> Result<ArrayD<f32>> {
        ArrayD::from_shape_vec(IxDyn(&self.shape), self.data.to_vec())
            .map_err(|e| anyhow!("a helper worker sent an output that does not fit its shape: {e}"))
    }
}

/// `value` as a plain JS object (typed-array fields passed through).
pub(super) fn to_js<T: Serialize>(value: &T) -> Result<JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| anyhow!("could not convert a result for the page: {e}"))
}

pub(super) fn rgba(img: &image::RgbImage) -> Vec<u8> {
    img.pixels().flat_map(|p| [p[0], p[1], p[2], 255]).collect()
}
