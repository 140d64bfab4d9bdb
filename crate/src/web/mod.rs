//! Browser bindings (wasm32 only): a thin wasm-bindgen shell over the library calls the native CLI makes.
//!
//! `www/worker.js` fetches the manifest, the ONNX bytes and the labels, and drives one [`Session`] inside a
//! Web Worker, so the page never freezes. Everything numeric happens in the library
//! ([`Classifier`](crate::model::Classifier), [`crate::cam`], [`crate::lime`]); this module only converts
//! between JS values and Rust types, reports progress to a JS callback, and lets the page cancel.
//!
//! Cancellation: the worker is single-threaded, so a `cancel` message can only be handled while the
//! computation awaits. WebGPU read-backs await naturally; the CPU engine (tract) computes synchronously, so
//! `pool::WorkerEngine` yields to the event loop after every batch. The cancel flag is then seen by
//! [`Progress::is_cancelled`](crate::progress::Progress::is_cancelled) between batches. A cancelled LIME run
//! keeps what it computed: its surrogates are fitted on the samples done so far and the result says it is
//! partial ([`OnCancel::KeepSamplesSoFar`](crate::lime::OnCancel::KeepSamplesSoFar)).
//!
//! A pool of workers: the CPU engine is single-threaded, so the page may start helper workers, each with its
//! own copy of the model ([`Session::run_batch`]), and hand them to the explaining session
//! ([`Session::set_helpers`]). `WorkerEngine` then sends batches to idle helpers and runs the rest itself,
//! and LIME and ScoreCAM issue [`Engine::concurrency`](crate::engine::Engine::concurrency) batches at once.
//! Every batch is the one the session would run alone, through the same engine code, so the pool's results
//! equal one worker's bit for bit.
//!
//! Results reach JS as plain objects made from the typed structs in `js` (serde-wasm-bindgen's
//! JSON-compatible serializer: `None` is `null`, maps are objects); their large buffers (maps, masks,
//! pictures) are typed arrays passed through unchanged ([`serde_wasm_bindgen::preserve`]).
//!
//! The session keeps the current image's last CAM maps and LIME explanation, so the page can ask how far
//! they agree ([`Session::agreement`], [`crate::compare::agreement`]) without sending them back.
//!
//! Files: this one (the free functions and the errors in the page's words), `session` (the [`Session`] the
//! worker drives), `js` (the objects JS receives), `progress` (a JS callback as [`crate::progress::Progress`]),
//! `pool` (the helper workers and `WorkerEngine`).

mod js;
mod pool;
mod progress;
mod session;

pub use session::Session;

use anyhow::Result;
use wasm_bindgen::prelude::*;

use crate::preprocess::{self, ImageLimits, ImageTooLarge};

use js::to_js;

/// Sends Rust panics to the browser console (otherwise they surface as an opaque "unreachable").
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("glassbox panicked: {info}").into())
    }));
}

/// The wasm build's version, for the page footer and bug reports.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// The RGB pixels the page explains for a JPEG the browser decoded (`width × height` RGBA from
/// `www/jpeg.js`), the same call [`Session::set_jpeg_image`] makes: Pillow's pixels, EXIF orientation not
/// applied. `{width, height, rgb: Uint8Array}`; tests/e2e compares them with Pillow's.
#[wasm_bindgen]
pub fn decode_browser_jpeg(
    bytes: &[u8],
    name: &str,
    width: u32,
    height: u32,
    rgba: &[u8],
) -> Result<JsValue, JsError> {
    let img = browser_jpeg(bytes, name, width, height, rgba)?;
    to_js(&DecodedPixels {
        width: img.width(),
        height: img.height(),
        rgb: js_sys::Uint8Array::from(img.as_raw().as_slice()),
    })
    .map_err(js_error)
}

/// The browser's pixels of a JPEG through glassbox's checks, turned back as stored (what the page explains).
fn browser_jpeg(
    bytes: &[u8],
    name: &str,
    width: u32,
    height: u32,
    rgba: &[u8],
) -> Result<image::RgbImage, JsError> {
    preprocess::decode_named_with_jpeg_pixels(
        bytes,
        name,
        &ImageLimits::default(),
        (width, height),
        rgba,
    )
    .map_err(image_error)
}

#[derive(serde::Serialize)]
struct DecodedPixels {
    width: u32,
    height: u32,
    #[serde(with = "serde_wasm_bindgen::preserve")]
    rgb: js_sys::Uint8Array,
}

fn js_error(e: anyhow::Error) -> JsError {
    JsError::new(&format!("{e:#}"))
}

/// An image error in the page's words: the library's oversize message names the CLI's option, which a
/// visitor does not have.
fn image_error(e: anyhow::Error) -> JsError {
    match e.downcast_ref::<ImageTooLarge>() {
        Some(big) => JsError::new(&format!(
            "{}: the picture is {}×{} pixels ({:.0} megapixels), which exceeds the limit of this page ({:.0} \
             megapixels). Pick a smaller image, or shrink this one first.",
            big.name,
            big.width,
            big.height,
            big.megapixels(),
            big.max_pixels as f64 / 1e6
        )),
        None => js_error(e),
    }
}
