//! Browser bindings (wasm32 only): a thin wasm-bindgen shell over the library calls the native CLI makes.
//!
//! `www/worker.js` fetches the manifest, the ONNX bytes and the labels, and drives one [`Session`] inside a
//! Web Worker, so the page never freezes. Everything numeric happens in the library ([`Classifier`],
//! [`crate::cam`], [`crate::lime`]); this module only converts between JS values and Rust types, reports
//! progress to a JS callback, and lets the page cancel.
//!
//! Cancellation: the worker is single-threaded, so a `cancel` message can only be handled while the
//! computation awaits. WebGPU read-backs await naturally; the CPU engine (tract) computes synchronously, so
//! [`YieldingEngine`] yields to the event loop after every batch. The cancel flag is then seen by
//! [`Progress::is_cancelled`] between batches.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use anyhow::{anyhow, ensure, Context, Result};
use async_trait::async_trait;
use js_sys::{Array, Float32Array, Function, Int32Array, Object, Reflect, Uint8Array, Uint8ClampedArray};
use ndarray::{Array2, Array3, ArrayD, ArrayView3, Axis};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;
use web_time::Instant;

use crate::engine::{self, Engine, EngineKind, Tensor};
use crate::lime;
use crate::model::{Classifier, Manifest, Model};
use crate::preprocess::{self, ImageLimits};
use crate::progress::Progress;

/// Sends Rust panics to the browser console (otherwise they surface as an opaque "unreachable").
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| web_sys::console::error_1(&format!("glassbox panicked: {info}").into())));
}

/// The wasm build's version, for the page footer and bug reports.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

fn js_error(e: anyhow::Error) -> JsError {
    JsError::new(&format!("{e:#}"))
}

/// One model loaded into an engine, plus the image being explained.
#[wasm_bindgen]
pub struct Session {
    inner: Rc<Inner>,
}

struct Inner {
    classifier: Classifier,
    image: RefCell<Option<Prepared>>,
    cancel: Rc<Cell<bool>>,
}

/// The current image: what the model sees (u8 view and normalised tensor) and its forward pass.
struct Prepared {
    name: String,
    view: image::RgbImage,
    tensor: Array3<f32>,
    logits: Option<Vec<f32>>,
}

#[wasm_bindgen]
impl Session {
    /// Builds a session from the manifest text, the ONNX bytes (sha256-checked against the manifest) and
    /// the text of the manifest's label file; `engine` is `"webgpu"` or `"cpu"`.
    pub async fn load(
        manifest_json: String,
        onnx: Vec<u8>,
        labels: Option<String>,
        engine: String,
    ) -> Result<Session, JsError> {
        let kind: EngineKind = engine.parse().map_err(js_error)?;
        let manifest = Manifest::from_json(&manifest_json).map_err(js_error)?;
        let name = manifest.name.clone();
        let model = Model::from_bytes(manifest, onnx, labels.as_deref()).map_err(js_error)?;
        let engine = engine::create(kind, &model.onnx, None)
            .await
            .with_context(|| format!("loading model `{name}` into the {kind} engine"))
            .map_err(js_error)?;
        let classifier =
            Classifier::with_engine(model, Box::new(YieldingEngine(engine))).await.map_err(js_error)?;
        Ok(Session {
            inner: Rc::new(Inner { classifier, image: RefCell::new(None), cancel: Rc::new(Cell::new(false)) }),
        })
    }

    /// `{name, description, engine, kind, batch, input: [h, w], classes}`.
    pub fn info(&self) -> JsValue {
        let c = &self.inner.classifier;
        let (h, w) = c.input_hw();
        let info = serde_json::json!({
            "name": c.model.manifest.name,
            "description": c.model.manifest.description,
            "engine": c.engine.name(),
            "kind": c.engine.kind(),
            "batch": c.engine.max_batch(),
            "input": [h, w],
            "classes": c.num_classes(),
        });
        info.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).unwrap_or(JsValue::NULL)
    }

    /// Decodes an image (JPEG/PNG/BMP/WebP, EXIF orientation applied) and prepares it as the model expects.
    /// Returns the model's view of it: `{width, height, rgba: Uint8ClampedArray}`.
    pub fn set_image(&self, bytes: &[u8], name: &str) -> Result<JsValue, JsError> {
        let img = preprocess::decode_named(bytes, name, &ImageLimits::default()).map_err(js_error)?;
        let (view, tensor) = self.inner.classifier.prepare(&img);
        let out = object(&[
            ("width", view.width().into()),
            ("height", view.height().into()),
            ("rgba", Uint8ClampedArray::from(rgba(&view).as_slice()).into()),
            ("source_width", img.width().into()),
            ("source_height", img.height().into()),
        ]);
        *self.inner.image.borrow_mut() = Some(Prepared { name: name.to_string(), view, tensor, logits: None });
        Ok(out)
    }

    /// Classifies the current image: `{top: [{class, label, logit, probability}], forward_ms}`.
    pub fn classify(&self, k: usize) -> js_sys::Promise {
        let inner = self.inner.clone();
        future_to_promise(async move { inner.classify(k).await.map_err(|e| js_error(e).into()) })
    }

    /// Explains class `target` of the current image with `method` (`gradcam`, `ablationcam`, `scorecam`,
    /// `lime`). `options` (LIME): `{num_samples, seed, batch_size}`. `on_progress(stage, done, total)` is
    /// called as work advances. Resolves to the numbers and pictures (see `www/app.js`).
    pub fn explain(&self, method: String, target: usize, options: JsValue, on_progress: Function) -> js_sys::Promise {
        let inner = self.inner.clone();
        inner.cancel.set(false);
        future_to_promise(async move {
            let progress = JsProgress::new(on_progress, inner.cancel.clone());
            inner.explain(&method, target, options, &progress).await.map_err(|e| js_error(e).into())
        })
    }

    /// Asks the running explanation to stop at its next batch boundary.
    pub fn cancel(&self) {
        self.inner.cancel.set(true);
    }
}

impl Inner {
    fn with_image<T>(&self, f: impl FnOnce(&Prepared) -> T) -> Result<T> {
        let image = self.image.borrow();
        let prepared = image.as_ref().context("no image: call set_image first")?;
        Ok(f(prepared))
    }

    async fn logits(&self) -> Result<(Vec<f32>, f64)> {
        if let Some(Some(l)) = self.image.borrow().as_ref().map(|p| p.logits.clone()) {
            return Ok((l, 0.0));
        }
        let input = self.with_image(|p| p.tensor.clone().insert_axis(Axis(0)))?;
        let start = Instant::now();
        let forward = self.classifier.forward(input.view(), &crate::progress::Silent).await?;
        let ms = start.elapsed().as_secs_f64() * 1e3;
        let logits = forward.logits.row(0).to_vec();
        if let Some(p) = self.image.borrow_mut().as_mut() {
            p.logits = Some(logits.clone());
        }
        Ok((logits, ms))
    }

    async fn classify(&self, k: usize) -> Result<JsValue> {
        let (logits, forward_ms) = self.logits().await?;
        let probabilities = softmax(&logits);
        let top = Array::new();
        for class in lime::top_labels(&probabilities, k) {
            top.push(&object(&[
                ("class", class.into()),
                ("label", self.classifier.label(class).into()),
                ("logit", logits[class].into()),
                ("probability", probabilities[class].into()),
            ]));
        }
        Ok(object(&[("top", top.into()), ("forward_ms", forward_ms.into())]))
    }

    async fn explain(&self, method: &str, target: usize, options: JsValue, progress: &JsProgress) -> Result<JsValue> {
        ensure!(
            target < self.classifier.num_classes(),
            "class {target} does not exist: the model has {} classes",
            self.classifier.num_classes()
        );
        match method {
            "lime" => {
                let options: LimeOptions = if options.is_undefined() || options.is_null() {
                    LimeOptions::default()
                } else {
                    serde_wasm_bindgen::from_value(options).map_err(|e| anyhow!("bad LIME options: {e}"))?
                };
                self.explain_lime(target, &options, progress).await
            }
            other => Err(anyhow!("unknown method `{other}`: use gradcam, ablationcam, scorecam or lime")),
        }
    }

    async fn explain_lime(&self, target: usize, options: &LimeOptions, progress: &JsProgress) -> Result<JsValue> {
        let defaults = lime::LimeParams::default();
        let params = lime::LimeParams {
            num_samples: options.num_samples.unwrap_or(defaults.num_samples),
            seed: options.seed.unwrap_or(defaults.seed),
            batch_size: options.batch_size.unwrap_or(self.classifier.engine.max_batch()),
            ..defaults
        };
        let (view, name) = self.with_image(|p| (lime::rgb_array(&p.view), p.name.clone()))?;
        let spec = self.classifier.preprocessing().clone();
        let predictor = lime::EnginePredictor {
            engine: self.classifier.engine.as_ref(),
            normalize: |v: ArrayView3<u8>| normalize_view(v, &spec),
            logits_output: self.classifier.logits_index(),
        };
        let start = Instant::now();
        let explanation = lime::explain(&predictor, &view, &params, progress).await?;
        let ms = start.elapsed().as_secs_f64() * 1e3;
        let local = explanation.for_label(target).with_context(|| {
            format!(
                "LIME explained the labels {:?} (the top {} of the unperturbed image); class {target} is not among them",
                explanation.top_labels, params.top_labels
            )
        })?;
        let weights = explanation.dense_weights(target).expect("the label was explained");
        let mask_options = lime::MaskOptions { num_features: params.mask_features, ..Default::default() };
        let (_, mask) = lime::image_and_mask(view.view(), explanation.segments.view(), local, &mask_options)?;
        let mask: Vec<u8> = mask.iter().map(|&v| u8::from(v > 0)).collect();
        let mut mask_superpixels: Vec<i32> = explanation
            .segments
            .iter()
            .zip(&mask)
            .filter(|(_, &m)| m != 0)
            .map(|(&s, _)| s)
            .collect();
        mask_superpixels.sort_unstable();
        mask_superpixels.dedup();
        let segments: Vec<i32> = explanation.segments.iter().copied().collect();
        let heat = weights_rgba(&explanation.segments, &weights);
        let summary = format!(
            "{} superpixels, {} samples, seed {}, score {:.3}",
            explanation.n_segments, params.num_samples, params.seed, local.score
        );
        Ok(object(&[
            ("method", "lime".into()),
            ("image", name.into()),
            ("target", target.into()),
            ("label", self.classifier.label(target).into()),
            ("summary", summary.into()),
            ("width", view.dim().1.into()),
            ("height", view.dim().0.into()),
            ("segments", Int32Array::from(segments.as_slice()).into()),
            ("n_segments", explanation.n_segments.into()),
            ("weights", Float32Array::from(weights.iter().map(|&w| w as f32).collect::<Vec<_>>().as_slice()).into()),
            ("intercept", local.intercept.into()),
            ("score", local.score.into()),
            ("mask", Uint8Array::from(mask.as_slice()).into()),
            ("mask_superpixels", Int32Array::from(mask_superpixels.as_slice()).into()),
            ("top_labels", serde_wasm_bindgen::to_value(&explanation.top_labels).unwrap_or(JsValue::NULL)),
            ("num_samples", params.num_samples.into()),
            ("seed", params.seed.into()),
            ("heat_rgba", Uint8ClampedArray::from(heat.as_slice()).into()),
            ("ms", ms.into()),
        ]))
    }
}

/// LIME options the page may set; the rest are the tutorial's defaults ([`lime::LimeParams::default`]).
#[derive(Debug, Default, Deserialize)]
struct LimeOptions {
    num_samples: Option<usize>,
    seed: Option<u32>,
    batch_size: Option<usize>,
}

/// Normalises an H×W×3 u8 view into the model's CHW tensor, exactly as [`preprocess::to_tensor`] does.
fn normalize_view(view: ArrayView3<u8>, spec: &crate::model::Preprocessing) -> Array3<f32> {
    let (h, w, _) = view.dim();
    let pixels: Vec<u8> = view.iter().copied().collect();
    let img = image::RgbImage::from_raw(w as u32, h as u32, pixels).expect("H×W×3 buffer");
    preprocess::to_tensor(&img, spec)
}

/// Softmax in f64 for display (probabilities of all logits, background included).
fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let exp: Vec<f64> = logits.iter().map(|&l| (l as f64 - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.iter().map(|&e| (e / sum) as f32).collect()
}

fn rgba(img: &image::RgbImage) -> Vec<u8> {
    img.pixels().flat_map(|p| [p[0], p[1], p[2], 255]).collect()
}

/// LIME's superpixel weights as colour: green for evidence for the class, red against, alpha-free RGBA.
/// Intensity is |weight| / max |weight| so the strongest superpixel is fully coloured.
fn weights_rgba(segments: &Array2<i32>, weights: &[f64]) -> Vec<u8> {
    let max = weights.iter().fold(0.0f64, |m, w| m.max(w.abs()));
    let scale = if max > 0.0 { 1.0 / max } else { 0.0 };
    segments
        .iter()
        .flat_map(|&s| {
            let w = weights.get(s as usize).copied().unwrap_or(0.0) * scale;
            let v = (w.abs() * 255.0).round() as u8;
            if w >= 0.0 {
                [0, v, 0, 255]
            } else {
                [v, 0, 0, 255]
            }
        })
        .collect()
}

fn object(fields: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in fields {
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(&o, &JsValue::from_str(k), v);
    }
    o.into()
}

/// Reports progress to a JS callback `(stage, done, total)` and reads the session's cancel flag.
struct JsProgress {
    callback: Function,
    cancel: Rc<Cell<bool>>,
    stage: RefCell<String>,
    done: Cell<u64>,
    total: Cell<u64>,
}

impl JsProgress {
    fn new(callback: Function, cancel: Rc<Cell<bool>>) -> JsProgress {
        JsProgress { callback, cancel, stage: RefCell::new(String::new()), done: Cell::new(0), total: Cell::new(0) }
    }

    fn report(&self) {
        let stage = JsValue::from_str(&self.stage.borrow());
        // A throwing progress callback must not abort the computation; the page shows progress only.
        let _ = self.callback.call3(
            &JsValue::NULL,
            &stage,
            &JsValue::from_f64(self.done.get() as f64),
            &JsValue::from_f64(self.total.get() as f64),
        );
    }
}

impl Progress for JsProgress {
    fn stage(&self, name: &str, total: u64) {
        *self.stage.borrow_mut() = name.to_string();
        self.done.set(0);
        self.total.set(total);
        self.report();
    }

    fn advance(&self, n: u64) {
        self.done.set(self.done.get() + n);
        self.report();
    }

    fn is_cancelled(&self) -> bool {
        self.cancel.get()
    }
}

/// Wraps an engine so that every batch ends with a trip through the event loop: the worker can then
/// receive a `cancel` message even while the synchronous CPU engine is busy.
struct YieldingEngine(Box<dyn Engine>);

#[async_trait(?Send)]
impl Engine for YieldingEngine {
    fn name(&self) -> String {
        self.0.name()
    }
    fn kind(&self) -> EngineKind {
        self.0.kind()
    }
    fn output_names(&self) -> &[String] {
        self.0.output_names()
    }
    fn input_shape(&self) -> &[usize] {
        self.0.input_shape()
    }
    fn max_batch(&self) -> usize {
        self.0.max_batch()
    }
    async fn run(&self, input: &Tensor) -> Result<Vec<ArrayD<f32>>> {
        let out = self.0.run(input).await;
        gloo_timers::future::TimeoutFuture::new(0).await;
        out
    }
}
