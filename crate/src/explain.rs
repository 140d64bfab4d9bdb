//! One image, every requested method: the library call behind `glassbox explain` and the browser.
//!
//! The CLI and the wasm bindings only parse arguments, report progress and write or show what this
//! returns, so both worlds compute exactly the same numbers.

use anyhow::{ensure, Result};
use image::RgbImage;
use ndarray::{Array3, Array4, ArrayView1, ArrayView3, Axis};
use serde::Serialize;
use web_time::Instant;

use crate::cam::{self, Cam, CamMethod, CamOptions};
use crate::lime::{self, EnginePredictor, LimeExplanation, LimeParams, StabilityRun};
use crate::model::{Classifier, Forward};
use crate::numerics::softmax;
use crate::preprocess::{self, ModelInput};
use crate::progress::Progress;

/// A class with its softmax probability.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Prediction {
    pub class: usize,
    pub label: String,
    pub probability: f32,
}

/// A CAM and the seconds it took (the shared first forward pass excluded).
#[derive(Debug, Clone)]
pub struct TimedCam {
    pub cam: Cam,
    pub seconds: f64,
}

/// What one image's explanation holds.
#[derive(Debug, Clone)]
pub struct Explanation {
    /// The uint8 image the model saw (overlays are drawn on it).
    pub view: RgbImage,
    pub top5: Vec<Prediction>,
    pub target: Prediction,
    /// Seconds of the first forward pass, which every method shares.
    pub forward_seconds: f64,
    pub forward: Forward,
    pub cams: Vec<TimedCam>,
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
) -> Result<Explanation> {
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
        cams.push(TimedCam {
            cam,
            seconds: started.elapsed().as_secs_f64(),
        });
        progress.advance(1);
    }
    Ok(Explanation {
        view,
        top5,
        target,
        forward_seconds,
        forward,
        cams,
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

/// LIME on the image the model sees (`Explanation::view`), as the `lime` tutorial runs it on the
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
