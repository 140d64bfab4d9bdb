//! One image, every requested method: the library call behind `glassbox explain`, the report and the
//! browser. It returns a [`results::ExplainedImage`](crate::results::ExplainedImage).
//!
//! The CLI and the wasm bindings only parse arguments, report progress and write or show what this
//! returns, so both worlds compute exactly the same numbers.

use anyhow::{ensure, Result};
use image::RgbImage;
use ndarray::{Array3, Array4, ArrayView1, ArrayView3, Axis};
use web_time::Instant;

use crate::cam::{self, CamMethod, CamOptions};
use crate::lime::{self, EnginePredictor, LimeExplanation, LimeParams, StabilityRun};
use crate::model::{Classifier, Forward};
use crate::numerics::softmax;
use crate::preprocess::{self, ModelInput};
use crate::progress::Progress;
use crate::results::{ExplainedCam, ExplainedImage, ExplainedLime, Prediction};

/// One image through the model with the CAMs asked for: the [`ExplainedImage`] (no LIME yet), and what
/// only this run has, which LIME, the pictures and later methods reuse.
#[derive(Debug, Clone)]
pub struct ExplainRun {
    /// The uint8 image the model saw (overlays are drawn on it; LIME perturbs it).
    pub view: RgbImage,
    /// `view` normalised as the model's input, 3×H×W.
    pub tensor: Array3<f32>,
    /// The first forward pass (the feature map the CAMs read).
    pub forward: Forward,
    pub explained: ExplainedImage,
}

/// The `k` most probable classes, most probable first.
pub fn top_k(classifier: &Classifier, logits: ArrayView1<f32>, k: usize) -> Vec<Prediction> {
    let probabilities = softmax(logits);
    let mut order: Vec<usize> = (0..probabilities.len()).collect();
    order.sort_by(|&a, &b| {
        probabilities[b]
            .total_cmp(&probabilities[a])
            .then(a.cmp(&b))
    });
    order
        .into_iter()
        .take(k)
        .map(|class| Prediction {
            class,
            label: classifier.label(class).to_string(),
            probability: probabilities[class],
        })
        .collect()
}

/// Classifies `image` and computes each CAM in `methods` for `target` (default: the top-1 class).
pub async fn explain_cams(
    classifier: &Classifier,
    image: &RgbImage,
    methods: &[CamMethod],
    target: Option<usize>,
    options: &CamOptions,
    progress: &dyn Progress,
) -> Result<ExplainRun> {
    let ModelInput { view, tensor } = classifier.prepare(image);
    let started = Instant::now();
    let batch: Array4<f32> = tensor.clone().insert_axis(Axis(0));
    let forward = classifier.forward(batch.view(), progress).await?;
    let forward_seconds = started.elapsed().as_secs_f64();
    let logits = forward.logits.row(0);
    let top5 = top_k(classifier, logits, 5);
    let target_class = target.unwrap_or(top5[0].class);
    ensure!(
        target_class < logits.len(),
        "target class {target_class} is out of range: the model has {} classes (0..{})",
        logits.len(),
        logits.len() - 1
    );
    let probabilities = softmax(logits);
    let target = Prediction {
        class: target_class,
        label: classifier.label(target_class).to_string(),
        probability: probabilities[target_class],
    };
    let mut cams = Vec::with_capacity(methods.len());
    for &method in methods {
        progress.stage(method.name(), 1);
        let started = Instant::now();
        let cam = cam::explain(
            classifier,
            tensor.view(),
            &forward,
            target_class,
            method,
            options,
            progress,
        )
        .await?;
        cams.push(ExplainedCam {
            method,
            map: cam.map,
            seconds: started.elapsed().as_secs_f64(),
        });
        progress.advance(1);
    }
    Ok(ExplainRun {
        view,
        tensor,
        forward,
        explained: ExplainedImage {
            top5,
            target,
            forward_seconds,
            cams,
            lime: None,
        },
    })
}

/// LIME's view of a classifier: u8 H×W×3 images → the model's normalisation → softmax, in engine-sized
/// batches (the tutorial's `batch_predict`).
pub fn lime_predictor(
    classifier: &Classifier,
) -> EnginePredictor<'_, impl Fn(ArrayView3<u8>) -> Array3<f32> + '_> {
    let spec = classifier.preprocessing();
    EnginePredictor {
        engine: classifier.engine.as_ref(),
        normalize: move |pixels: ArrayView3<u8>| {
            let (h, w, _) = pixels.dim();
            let view = RgbImage::from_raw(w as u32, h as u32, pixels.iter().copied().collect())
                .expect("an H×W×3 array fills an H×W RGB image");
            preprocess::to_tensor(&view, spec)
        },
        logits_output: classifier.logits_index(),
    }
}

/// LIME on the image the model sees ([`ExplainRun::view`]), as the `lime` tutorial runs it on the
/// 224×224 crop.
pub async fn explain_lime(
    classifier: &Classifier,
    view: &RgbImage,
    params: &LimeParams,
    progress: &dyn Progress,
) -> Result<LimeExplanation> {
    lime::explain(
        &lime_predictor(classifier),
        &lime::rgb_array(view),
        params,
        progress,
    )
    .await
}

/// LIME once per seed, with how often each superpixel lands in the top mask and the masks' mean IoU.
pub async fn lime_stability(
    classifier: &Classifier,
    view: &RgbImage,
    params: &LimeParams,
    seeds: &[u32],
    progress: &dyn Progress,
) -> Result<StabilityRun> {
    lime::stability(
        &lime_predictor(classifier),
        &lime::rgb_array(view),
        params,
        seeds,
        progress,
    )
    .await
}

/// LIME with `params` as an [`ExplainedImage`] records it: one seed is plain LIME; `seeds` > 1 runs
/// `params.seed`, `params.seed + 1`, … and keeps the first seed's explanation with the spread over all of
/// them ([`lime_stability`]). Its seconds are per seed.
pub async fn explain_lime_seeds(
    classifier: &Classifier,
    view: &RgbImage,
    params: &LimeParams,
    seeds: u32,
    progress: &dyn Progress,
) -> Result<ExplainedLime> {
    ensure!(seeds >= 1, "LIME needs at least one seed");
    let started = Instant::now();
    let (explanation, stability) = if seeds == 1 {
        (
            explain_lime(classifier, view, params, progress).await?,
            None,
        )
    } else {
        let seeds: Vec<u32> = (0..seeds).map(|i| params.seed + i).collect();
        let StabilityRun {
            mut runs,
            stability,
        } = lime_stability(classifier, view, params, &seeds, progress).await?;
        (runs.swap_remove(0), Some(stability))
    };
    Ok(ExplainedLime {
        explanation,
        seconds: started.elapsed().as_secs_f64() / f64::from(seeds),
        stability,
    })
}
