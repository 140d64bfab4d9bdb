//! The [`Session`] the Web Worker drives: one model in an engine, the current image and what was computed
//! for it.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use anyhow::{anyhow, ensure, Context, Result};
use js_sys::{Array, Float32Array, Function, Int32Array, Promise, Uint8Array, Uint8ClampedArray};
use ndarray::{Array3, ArrayD, Axis, IxDyn};
use serde::Deserialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;
use web_time::Instant;

use crate::cam::{self, CamMethod, CamOptions};
use crate::compare::lime_vs_cam::{self, CamMap, LimeMaps};
use crate::engine::{self, EngineKind, Tensor};
use crate::explain::{self, top_k};
use crate::lime::{LimeExplanation, LimeParams, OnCancel};
use crate::model::{Classifier, Forward, Manifest, Model};
use crate::preprocess::{self, ImageLimits};
use crate::progress::Progress;
use crate::render;
use crate::results::ExplainedCam;

use super::js::{
    rgba, to_js, BatchOutput, CamResult, Classification, ImageAgreement, ImageView,
    LimeMaskSummary, LimeResult, ModelInfo, RankedClass,
};
use super::pool::{Helpers, WorkerEngine};
use super::progress::JsProgress;
use super::{browser_jpeg, image_error, js_error};

/// One model loaded into an engine, plus the image being explained.
#[wasm_bindgen]
pub struct Session {
    inner: Rc<Inner>,
}

struct Inner {
    classifier: Classifier,
    image: RefCell<Option<CurrentImage>>,
    /// Numbers the images [`Session::set_image`] prepares, so a result is kept only with its own image.
    images_prepared: Cell<u64>,
    cancel: Rc<Cell<bool>>,
    /// Engine runs (one batch each) since the model was loaded, the load's own check excluded; a run handed
    /// to a helper worker counts here too.
    forward_passes: Rc<Cell<u64>>,
    /// The helper workers the engine may hand batches to ([`Session::set_helpers`]).
    helpers: Rc<Helpers>,
}

/// The current image: what the model sees (u8 view and normalised tensor), its forward pass and the
/// explanations computed for it so far (for [`Session::agreement`]). Unlike an
/// [`ExplainedImage`](crate::results::ExplainedImage) it explains any class the page asks for, so each CAM
/// is kept with its class.
struct CurrentImage {
    /// Which [`Session::set_image`] call prepared it.
    serial: u64,
    name: String,
    view: image::RgbImage,
    tensor: Array3<f32>,
    /// The first forward pass, shared by classification and every CAM.
    forward: Option<Forward>,
    /// The last map of each CAM method run on this image, with the class it explains.
    cams: Vec<HeldCam>,
    /// The last LIME explanation of this image (possibly partial).
    lime: Option<LimeExplanation>,
}

/// A CAM kept for the agreement table, with the class it explains.
struct HeldCam {
    target: usize,
    cam: ExplainedCam,
}

#[wasm_bindgen]
impl Session {
    /// Builds a session from the manifest text, the ONNX bytes (sha256-checked against the manifest) and
    /// the text of the manifest's label file; `engine` is `"webgpu"` or `"cpu"`. `on_progress(stage, done,
    /// total)` names each stage (checking the file, compiling the graph, the check pass) as it begins:
    /// none of them reports finer progress.
    pub async fn load(
        manifest_json: String,
        onnx: Vec<u8>,
        labels: Option<String>,
        engine: String,
        on_progress: Function,
    ) -> Result<Session, JsError> {
        let progress = JsProgress::new(on_progress, Rc::new(Cell::new(false)));
        let kind: EngineKind = engine.parse().map_err(js_error)?;
        progress.stage("checking the model file (sha256)", 0);
        let manifest = Manifest::from_json(&manifest_json).map_err(js_error)?;
        let name = manifest.name.clone();
        let model = Model::from_bytes(manifest, onnx, labels.as_deref()).map_err(js_error)?;
        // Yield so that the page receives the stage before the (synchronous, on the CPU) compilation.
        progress.stage(&format!("compiling the graph for {kind}"), 0);
        gloo_timers::future::TimeoutFuture::new(0).await;
        let engine = engine::create(kind, &model.onnx, None)
            .await
            .with_context(|| format!("loading model `{name}` into the {kind} engine"))
            .map_err(js_error)?;
        progress.stage("checking the model on one forward pass", 0);
        let forward_passes = Rc::new(Cell::new(0));
        let helpers = Rc::new(Helpers::default());
        let engine = WorkerEngine {
            inner: engine,
            runs: forward_passes.clone(),
            helpers: helpers.clone(),
        };
        let classifier = Classifier::with_engine(model, Box::new(engine))
            .await
            .map_err(js_error)?;
        forward_passes.set(0);
        Ok(Session {
            inner: Rc::new(Inner {
                classifier,
                image: RefCell::new(None),
                images_prepared: Cell::new(0),
                cancel: Rc::new(Cell::new(false)),
                forward_passes,
                helpers,
            }),
        })
    }

    /// Engine runs (one batch of up to `batch` images each) since the model was loaded, not counting the
    /// load's own check: the page shows it, and tests/e2e counts the passes a visitor's clicks cost.
    pub fn forward_passes(&self) -> f64 {
        self.inner.forward_passes.get() as f64
    }

    /// Hands this session `count` helper workers: `run(data: Float32Array, shape: number[])` must resolve to
    /// the outputs of one engine run of that input on a helper's own session ([`Session::run_batch`]), as
    /// `[{data: Float32Array, shape: number[]}]`. LIME and ScoreCAM then keep `1 + count` batches in
    /// flight. `count` 0 (or `run` null) goes back to computing alone. Only the CPU engine takes helpers:
    /// a WebGPU session computes on one GPU, so there it is refused.
    pub fn set_helpers(&self, run: Option<Function>, count: usize) -> Result<(), JsError> {
        let run = run.filter(|_| count > 0);
        if run.is_some() && self.inner.classifier.engine.kind() != EngineKind::Tract {
            return Err(JsError::new(
                "helper workers share the CPU engine's work; this session runs on WebGPU",
            ));
        }
        self.inner
            .helpers
            .count
            .set(if run.is_some() { count } else { 0 });
        *self.inner.helpers.run.borrow_mut() = run;
        Ok(())
    }

    /// One engine run of `data` (shape `shape`, first axis at most the model's batch) on this session's own
    /// engine, for a session that has handed it a batch ([`Session::set_helpers`]): resolves to every graph
    /// output as `[{data: Float32Array, shape: number[]}]`.
    pub fn run_batch(&self, data: Vec<f32>, shape: Vec<usize>) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let outputs = async {
                let input = ArrayD::from_shape_vec(IxDyn(&shape), data)
                    .map_err(|e| anyhow!("a batch of shape {shape:?}: {e}"))?;
                let outputs = inner.classifier.engine.run(&Tensor::F32(input)).await?;
                let list = Array::new();
                for output in outputs {
                    list.push(&to_js(&BatchOutput::of(output))?);
                }
                Ok::<_, anyhow::Error>(JsValue::from(list))
            };
            outputs.await.map_err(|e| js_error(e).into())
        })
    }

    /// `{name, description, engine, kind, batch, input: [h, w], classes, feature_channels}`.
    pub fn info(&self) -> JsValue {
        let c = &self.inner.classifier;
        let size = c.input_size();
        to_js(&ModelInfo {
            name: &c.model.manifest.name,
            description: &c.model.manifest.description,
            engine: c.engine.name(),
            kind: c.engine.kind(),
            batch: c.engine.max_batch(),
            input: [size.height, size.width],
            classes: c.num_classes(),
            feature_channels: c.head.weight.ncols(),
        })
        .unwrap_or(JsValue::NULL)
    }

    /// Decodes an image (JPEG/PNG/BMP/WebP, as Pillow opens it: EXIF orientation not applied, unless
    /// `upright`, for a visitor's own photo) and prepares it as the model expects.
    /// Returns the model's view of it: `{width, height, rgba: Uint8ClampedArray, source_width,
    /// source_height, turned_upright}`.
    pub fn set_image(&self, bytes: &[u8], name: &str, upright: bool) -> Result<JsValue, JsError> {
        let img =
            preprocess::decode_named(bytes, name, &ImageLimits::default()).map_err(image_error)?;
        self.use_image(img, bytes, name, upright)
    }

    /// [`Session::set_image`] for a JPEG the browser has decoded and turned upright (`createImageBitmap`
    /// with colour-space conversion off, then `getImageData`: `width × height` RGBA): the pixels
    /// Pillow's libjpeg-turbo gives once turned back as stored, so the page's explanations equal the native
    /// CLI's. The file bytes are still checked as in `set_image`.
    pub fn set_jpeg_image(
        &self,
        bytes: &[u8],
        name: &str,
        width: u32,
        height: u32,
        rgba: &[u8],
        upright: bool,
    ) -> Result<JsValue, JsError> {
        let img = browser_jpeg(bytes, name, width, height, rgba)?;
        self.use_image(img, bytes, name, upright)
    }

    /// Prepares a decoded image as the model expects (turned upright first when asked and its EXIF says
    /// so) and returns the model's view of it (not exported).
    fn use_image(
        &self,
        mut img: image::RgbImage,
        bytes: &[u8],
        name: &str,
        upright: bool,
    ) -> Result<JsValue, JsError> {
        let mut turned_upright = None;
        if upright {
            let orientation = preprocess::exif_orientation(bytes).map_err(image_error)?;
            if orientation != image::metadata::Orientation::NoTransforms {
                img = preprocess::upright(img, orientation);
                turned_upright = Some(format!("{orientation:?}"));
            }
        }
        let preprocess::ModelInput { view, tensor } = self.inner.classifier.prepare(&img);
        let out = to_js(&ImageView {
            width: view.width(),
            height: view.height(),
            rgba: Uint8ClampedArray::from(rgba(&view).as_slice()),
            source_width: img.width(),
            source_height: img.height(),
            turned_upright,
        })
        .map_err(js_error)?;
        let serial = self.inner.images_prepared.get() + 1;
        self.inner.images_prepared.set(serial);
        *self.inner.image.borrow_mut() = Some(CurrentImage {
            serial,
            name: name.to_string(),
            view,
            tensor,
            forward: None,
            cams: Vec::new(),
            lime: None,
        });
        Ok(out)
    }

    /// Classifies the current image: `{top: [{class, label, probability, logit}], forward_ms}`.
    pub fn classify(&self, k: usize) -> js_sys::Promise {
        let inner = self.inner.clone();
        future_to_promise(async move { inner.classify(k).await.map_err(|e| js_error(e).into()) })
    }

    /// Explains class `target` of the current image with `method` (`gradcam`, `ablationcam`, `scorecam`,
    /// `lime`). `options` (LIME): `{num_samples, seed, batch_size}`. `on_progress(stage, done, total)` is
    /// called as work advances. Resolves to the numbers and pictures (see `www/app.js`); a cancelled
    /// LIME resolves to the surrogates fitted on the samples done so far, `partial: true`.
    pub fn explain(
        &self,
        method: String,
        target: usize,
        options: JsValue,
        on_progress: Function,
    ) -> js_sys::Promise {
        let inner = self.inner.clone();
        inner.cancel.set(false);
        future_to_promise(async move {
            let progress = JsProgress::new(on_progress, inner.cancel.clone());
            inner
                .explain(&method, target, options, &progress)
                .await
                .map_err(|e| js_error(e).into())
        })
    }

    /// Asks the running explanation to stop at its next batch boundary.
    pub fn cancel(&self) {
        self.inner.cancel.set(true);
    }

    /// How far each CAM in `methods` (`gradcam`, …) agrees with LIME on class `target` of the current
    /// image, from the maps this session computed for it last (a CAM not computed for `target` is left
    /// out): `{image, label, agreement: {class, threshold, lime_partial, cams: [{method, agreement:
    /// {iou_same_count, iou_top20, iou_half, spearman, pointing_hit}, iou_at_threshold}]}, lime:
    /// {mask_pixels, mask_superpixels, samples_used, samples_requested}}`. The numbers are
    /// [`lime_vs_cam::compare`]'s, as `glassbox compare --threshold` writes them: LIME's top-5 mask and
    /// per-pixel weight from [`LimeMaps::of`], `iou_at_threshold` for the CAM's pixels ≥ `threshold`.
    /// Synchronous and quick (a few sorts of the maps): the worker calls it even while an explanation runs.
    pub fn agreement(
        &self,
        target: usize,
        threshold: f32,
        methods: Vec<String>,
    ) -> Result<JsValue, JsError> {
        self.inner
            .agreement(target, threshold, &methods)
            .and_then(|table| to_js(&table))
            .map_err(js_error)
    }
}

impl Inner {
    fn with_image<T>(&self, f: impl FnOnce(&CurrentImage) -> T) -> Result<T> {
        let image = self.image.borrow();
        let prepared = image.as_ref().context("no image: call set_image first")?;
        Ok(f(prepared))
    }

    /// The current image's forward pass (computed once) and how long it took (0 when cached).
    async fn forward(&self) -> Result<(Forward, f64)> {
        if let Some(forward) = self.image.borrow().as_ref().and_then(|p| p.forward.clone()) {
            return Ok((forward, 0.0));
        }
        let input = self.with_image(|p| p.tensor.clone().insert_axis(Axis(0)))?;
        let start = Instant::now();
        let forward = self
            .classifier
            .forward(input.view(), &crate::progress::Silent)
            .await?;
        let ms = start.elapsed().as_secs_f64() * 1e3;
        if let Some(p) = self.image.borrow_mut().as_mut() {
            p.forward = Some(forward.clone());
        }
        Ok((forward, ms))
    }

    async fn classify(&self, k: usize) -> Result<JsValue> {
        let (forward, forward_ms) = self.forward().await?;
        let logits = forward.logits.row(0);
        let top = top_k(&self.classifier, logits, k)
            .into_iter()
            .map(|prediction| RankedClass {
                logit: logits[prediction.class],
                prediction,
            })
            .collect();
        to_js(&Classification { top, forward_ms })
    }

    async fn explain(
        &self,
        method: &str,
        target: usize,
        options: JsValue,
        progress: &JsProgress,
    ) -> Result<JsValue> {
        ensure!(
            target < self.classifier.num_classes(),
            "class {target} does not exist: the model has {} classes",
            self.classifier.num_classes()
        );
        if method.eq_ignore_ascii_case("lime") {
            // Until this run succeeds the image has no LIME: the page drops its old result too.
            self.with_image_mut(|p| p.lime = None);
            let options: LimeOptions = if options.is_undefined() || options.is_null() {
                LimeOptions::default()
            } else {
                serde_wasm_bindgen::from_value(options)
                    .map_err(|e| anyhow!("bad LIME options: {e}"))?
            };
            return self.explain_lime(target, &options, progress).await;
        }
        let method = CamMethod::from_name(method)?;
        self.with_image_mut(|p| p.cams.retain(|c| c.cam.method != method));
        self.explain_cam(method, target, progress).await
    }

    /// LIME through [`explain::explain_lime`], the call `glassbox explain --methods lime` makes.
    async fn explain_lime(
        &self,
        target: usize,
        options: &LimeOptions,
        progress: &JsProgress,
    ) -> Result<JsValue> {
        let defaults = LimeParams::default();
        let params = LimeParams {
            num_samples: options.num_samples.unwrap_or(defaults.num_samples),
            seed: options.seed.unwrap_or(defaults.seed),
            batch_size: options
                .batch_size
                .unwrap_or(self.classifier.engine.max_batch()),
            // The page's Cancel keeps the samples done; its "discard" button drops the result.
            on_cancel: OnCancel::KeepSamplesSoFar,
            ..defaults
        };
        let (view, name, serial) =
            self.with_image(|p| (p.view.clone(), p.name.clone(), p.serial))?;
        let start = Instant::now();
        let lime = explain::explain_lime(&self.classifier, &view, &params, progress).await?;
        let ms = start.elapsed().as_secs_f64() * 1e3;
        let local = lime.for_label(target).with_context(|| {
            format!(
                "LIME explained the classes {:?} (the top {} of the unperturbed image); class {target} is not \
                 among them: pick one of those",
                lime.top_labels, params.top_labels
            )
        })?;
        let weights = lime.dense_weights(target).expect("the class was explained");
        let mask = lime.mask_for(target).expect("the class was explained");
        let mut mask_superpixels: Vec<i32> = lime
            .segments
            .iter()
            .zip(&mask)
            .filter(|(_, &m)| m != 0)
            .map(|(&s, _)| s)
            .collect();
        mask_superpixels.sort_unstable();
        mask_superpixels.dedup();
        let heat = rgba(&render::superpixel_weights(lime.segments.view(), &weights));
        let samples = if lime.is_partial() {
            format!(
                "partial: {} of {} samples",
                lime.samples_used, lime.samples_requested
            )
        } else {
            format!("{} samples", lime.samples_used)
        };
        let summary = format!(
            "{} superpixels, {samples}, seed {}, surrogate R² {:.3}",
            lime.n_segments, params.seed, local.score
        );
        let weights: Vec<f32> = weights.iter().map(|&w| w as f32).collect();
        let (h, w) = lime.segments.dim();
        let result = to_js(&LimeResult {
            method: "lime",
            image: name,
            target,
            label: self.classifier.label(target).to_string(),
            summary,
            width: w,
            height: h,
            segments: Int32Array::from(lime.segments.as_slice().expect("standard layout")),
            n_segments: lime.n_segments,
            weights: Float32Array::from(weights.as_slice()),
            intercept: local.intercept,
            score: local.score,
            mask: Uint8Array::from(mask.as_slice().expect("standard layout")),
            mask_superpixels: Int32Array::from(mask_superpixels.as_slice()),
            top_labels: lime.top_labels.clone(),
            num_samples: params.num_samples,
            samples_used: lime.samples_used,
            partial: lime.is_partial(),
            seed: params.seed,
            timing: lime.timing,
            heat_rgba: Uint8ClampedArray::from(heat.as_slice()),
            ms,
        })?;
        self.keep(serial, |p| p.lime = Some(lime));
        Ok(result)
    }

    async fn explain_cam(
        &self,
        method: CamMethod,
        target: usize,
        progress: &JsProgress,
    ) -> Result<JsValue> {
        let (forward, _) = self.forward().await?;
        let (tensor, view, name, serial) =
            self.with_image(|p| (p.tensor.clone(), p.view.clone(), p.name.clone(), p.serial))?;
        let start = Instant::now();
        // ScoreCAM's masked inputs one engine batch at a time, so that a pool spreads them evenly (the same
        // numbers as any other batch size).
        let options = CamOptions {
            score_batch: self.classifier.engine.max_batch(),
            ..CamOptions::default()
        };
        let cam = cam::explain(
            &self.classifier,
            tensor.view(),
            &forward,
            target,
            method,
            &options,
            progress,
        )
        .await?;
        let ms = start.elapsed().as_secs_f64() * 1e3;
        let (h, w) = cam.map.dim();
        let (fh, fw) = cam.raw.dim();
        let heat = rgba(&render::heatmap(cam.map.view()));
        let passes = if method.needs_extra_passes() {
            forward.features.shape()[1]
        } else {
            0
        };
        let summary = format!("{fh}×{fw} map, {passes} extra forward passes");
        let map: Vec<f32> = cam.map.iter().copied().collect();
        let raw: Vec<f32> = cam.raw.iter().copied().collect();
        let channel_weights = cam
            .channel_weights
            .as_ref()
            .map(|w| Float32Array::from(w.to_vec().as_slice()).into())
            .unwrap_or(JsValue::NULL);
        debug_assert_eq!(view.dimensions(), (w as u32, h as u32));
        let result = to_js(&CamResult {
            method: method.name(),
            image: name,
            target,
            label: self.classifier.label(target).to_string(),
            summary,
            width: w,
            height: h,
            map: Float32Array::from(map.as_slice()),
            raw: Float32Array::from(raw.as_slice()),
            raw_width: fw,
            raw_height: fh,
            channel_weights,
            heat_rgba: Uint8ClampedArray::from(heat.as_slice()),
            ms,
        })?;
        self.keep(serial, |p| {
            p.cams.push(HeldCam {
                target,
                cam: ExplainedCam {
                    method,
                    map: cam.map,
                    seconds: ms / 1e3,
                },
            })
        });
        Ok(result)
    }

    /// The agreement table of [`Session::agreement`].
    fn agreement(
        &self,
        target: usize,
        threshold: f32,
        methods: &[String],
    ) -> Result<ImageAgreement> {
        ensure!(
            (0.0..=1.0).contains(&threshold),
            "the threshold must lie in [0, 1] (the CAMs are normalised to it), got {threshold}"
        );
        let wanted = methods
            .iter()
            .map(|m| CamMethod::from_name(m))
            .collect::<Result<Vec<_>>>()?;
        let image = self.image.borrow();
        let p = image.as_ref().context("no image: call set_image first")?;
        let lime = p
            .lime
            .as_ref()
            .with_context(|| format!("LIME has not explained {} yet", p.name))?;
        let maps = LimeMaps::of(lime, target)?;
        let cams: Vec<CamMap> = wanted
            .iter()
            .filter_map(|&method| {
                p.cams
                    .iter()
                    .find(|held| held.cam.method == method && held.target == target)
                    .map(|held| held.cam.as_cam_map())
            })
            .collect();
        let mut superpixels: Vec<i32> = (lime.segments.iter().zip(&maps.mask))
            .filter(|(_, &m)| m)
            .map(|(&s, _)| s)
            .collect();
        superpixels.sort_unstable();
        superpixels.dedup();
        Ok(ImageAgreement {
            image: p.name.clone(),
            label: self.classifier.label(target).to_string(),
            lime: LimeMaskSummary {
                mask_pixels: maps.mask.iter().filter(|&&m| m).count(),
                mask_superpixels: superpixels.len(),
                samples_used: lime.samples_used,
                samples_requested: lime.samples_requested,
            },
            agreement: lime_vs_cam::compare(&cams, &maps, threshold)?,
        })
    }

    /// Runs `f` on the current image, if any.
    fn with_image_mut(&self, f: impl FnOnce(&mut CurrentImage)) {
        if let Some(p) = self.image.borrow_mut().as_mut() {
            f(p);
        }
    }

    /// Files a result with the image it was computed for (`serial`), if that image is still the current one.
    fn keep(&self, serial: u64, f: impl FnOnce(&mut CurrentImage)) {
        self.with_image_mut(|p| {
            if p.serial == serial {
                f(p)
            }
        });
    }
}

/// LIME options the page may set; the rest are the tutorial's ([`LimeParams::default`]).
#[derive(Debug, Default, Deserialize)]
struct LimeOptions {
    num_samples: Option<usize>,
    seed: Option<u32>,
    batch_size: Option<usize>,
}
