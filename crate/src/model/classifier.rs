//! A [`Model`] loaded into an [`Engine`], with its linear head read from the graph and verified on one
//! forward pass ([`Classifier::load`]).

use anyhow::{anyhow, ensure, Context, Result};
use ndarray::{Array2, Array4, ArrayView4, Ix2, Ix4};

use super::head::{LinearHead, HEAD_ERROR};
use super::manifest::Model;
use crate::engine::{self, Engine, EngineKind, Tensor};
use crate::preprocess::{ModelInput, Preprocessing, Size};
use crate::progress::Progress;

/// Features and logits of one batch.
#[derive(Debug, Clone)]
pub struct Forward {
    /// `[N, C, h, w]`.
    pub features: Array4<f32>,
    /// `[N, classes]`.
    pub logits: Array2<f32>,
}

/// A model loaded into an engine, with its verified linear head.
pub struct Classifier {
    pub model: Model,
    pub engine: Box<dyn Engine>,
    pub head: LinearHead,
    features_index: usize,
    logits_index: usize,
}

impl Classifier {
    /// Loads `model` into an engine of `kind` (`batch` sizes dynamic-batch graphs) and verifies its head.
    pub async fn load(model: Model, kind: EngineKind, batch: Option<usize>) -> Result<Classifier> {
        let engine = engine::create(kind, &model.onnx, batch)
            .await
            .with_context(|| {
                format!(
                    "loading model `{}` into the {kind} engine",
                    model.manifest.name
                )
            })?;
        Classifier::with_engine(model, engine).await
    }

    /// Wraps an already created engine; reads the head from the graph and checks it on one forward pass.
    pub async fn with_engine(model: Model, engine: Box<dyn Engine>) -> Result<Classifier> {
        let m = &model.manifest;
        let index_of = |name: &str| {
            engine
                .output_names()
                .iter()
                .position(|o| o == name)
                .ok_or_else(|| {
                    anyhow!(
                        "the engine has no output `{name}` (outputs: {:?})",
                        engine.output_names()
                    )
                })
        };
        let features_index = index_of(&m.outputs.features)?;
        let logits_index = index_of(&m.outputs.logits)?;
        let head = LinearHead::from_onnx(&model.onnx, &m.outputs.features, &m.outputs.logits)?;
        let c = Classifier {
            model,
            engine,
            head,
            features_index,
            logits_index,
        };
        let probe = c.probe_input();
        let out = c
            .forward(probe.view(), &crate::progress::Silent)
            .await
            .context("the head-check forward pass failed")?;
        ensure!(
            out.features.iter().any(|&v| v != 0.0),
            "{HEAD_ERROR}: the feature map is all zeros on the check input, so the head cannot be verified"
        );
        c.head
            .verify(out.features.view(), out.logits.view(), 1e-3)?;
        Ok(c)
    }

    /// A deterministic, image-like input (smooth colour gradients and stripes) for the head check.
    fn probe_input(&self) -> Array4<f32> {
        let Size {
            height: h,
            width: w,
        } = self.input_size();
        Array4::from_shape_fn((1, 3, h, w), |(_, c, y, x)| {
            let (fy, fx) = (y as f32 / h as f32, x as f32 / w as f32);
            let stripes = (fx * 9.0 + fy * 5.0 + c as f32).sin() * 0.6;
            (fx - fy) * (c as f32 - 1.0) + stripes
        })
    }

    /// Runs any number of images (chunked through the engine) and returns features and logits.
    pub async fn forward(
        &self,
        batch: ArrayView4<'_, f32>,
        progress: &dyn Progress,
    ) -> Result<Forward> {
        let input = Tensor::F32(batch.to_owned().into_dyn());
        let mut outputs = engine::run_all(self.engine.as_ref(), &input, progress).await?;
        let logits = std::mem::take(&mut outputs[self.logits_index])
            .into_dimensionality::<Ix2>()
            .context("the logits output is not 2-D")?;
        let features = std::mem::take(&mut outputs[self.features_index])
            .into_dimensionality::<Ix4>()
            .context("the features output is not 4-D")?;
        Ok(Forward { features, logits })
    }

    /// Position of the features output in [`Engine::run`]'s results (for [`engine::run_chunked`] users).
    pub fn features_index(&self) -> usize {
        self.features_index
    }

    /// Position of the logits output in [`Engine::run`]'s results.
    pub fn logits_index(&self) -> usize {
        self.logits_index
    }

    /// Height and width of the model input.
    pub fn input_size(&self) -> Size {
        self.model.manifest.preprocessing.input_size()
    }

    /// How images are prepared for this model.
    pub fn preprocessing(&self) -> &Preprocessing {
        &self.model.manifest.preprocessing
    }

    /// Number of logits.
    pub fn num_classes(&self) -> usize {
        self.model.num_classes()
    }

    /// Name of logit `k` ("?" when out of range).
    pub fn label(&self, k: usize) -> &str {
        self.model.labels.get(k).map_or("?", String::as_str)
    }

    /// The uint8 image the model sees and its normalised CHW tensor.
    pub fn prepare(&self, img: &image::RgbImage) -> ModelInput {
        crate::preprocess::prepare(img, self.preprocessing())
    }
}
