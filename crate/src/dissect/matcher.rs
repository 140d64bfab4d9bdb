//! Concept matchers: what says how much each concept is present in each probe image.
//!
//! CLIP-Dissect uses CLIP: `S = normalize(image_emb) @ normalize(text_emb).T` and `P(c|x) = softmax(a·S)`.
//! Any matcher here produces per-image embeddings while the probe set streams by, then a [`ConceptScores`] source
//! whose rows `soft_wpmi` turns into `P(c|x)` with `softmax(a · row)`.
//! - [`ClipMatcher`]: CLIP's image and text encoders (ONNX graphs from `models/export.py`).
//! - [`ClassifierMatcher`]: an ImageNet classifier as the matcher, concepts = its class names: rows are
//!   `logits / a`, so `softmax(a · row)` is exactly the classifier's class probability. Used here where no
//!   CLIP weights can be had; its labels are the classifier's view of the image, not CLIP's.

use anyhow::{ensure, Context, Result};
use async_trait::async_trait;
use image::RgbImage;
use ndarray::{s, Array2, Array4, Axis, Ix2};

use super::clip_image;
use super::tokenizer::ClipTokenizer;
use super::wpmi::ConceptScores;
use crate::engine::{self, Engine, Tensor};
use crate::preprocess::Preprocessing;
use crate::progress::{Progress, Silent};

/// What a table records about the matcher.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MatcherInfo {
    /// `clip` or `classifier`.
    pub kind: String,
    /// Human-readable model name(s).
    pub model: String,
    /// sha256 of the ONNX file(s) (image encoder first for CLIP).
    pub sha256: Vec<String>,
    /// How the matcher turns images into concept scores, in one sentence.
    pub method: String,
}

#[async_trait(?Send)]
pub trait ConceptMatcher {
    fn info(&self) -> MatcherInfo;
    /// The concept texts, in the order of the score columns.
    fn concepts(&self) -> &[String];
    /// A string that changes whenever the per-image embedding would (model bytes, preprocessing).
    fn image_cache_id(&self) -> String;
    /// Embeds a batch of decoded probe images: one row per image.
    async fn embed_images(&self, images: &[RgbImage]) -> Result<Array2<f32>>;
    /// The score source over all probe images, from the stacked image embeddings.
    fn scores(&self, image_embeddings: Array2<f32>, a: f64) -> Result<Box<dyn ConceptScores>>;
}

/// Runs an image engine on tensors built from `images`, chunked to its batch size; returns the one output.
async fn run_images(
    engine: &dyn Engine,
    images: &[RgbImage],
    output: usize,
    to_tensor: &dyn Fn(&RgbImage) -> ndarray::Array3<f32>,
) -> Result<Array2<f32>> {
    let mut rows = Vec::new();
    engine::run_chunked(
        engine,
        images.len(),
        &Silent,
        |range| {
            let tensors: Vec<_> = images[range].iter().map(to_tensor).collect();
            let (c, h, w) = tensors[0].dim();
            let mut batch = Array4::zeros((tensors.len(), c, h, w));
            for (i, t) in tensors.iter().enumerate() {
                batch.index_axis_mut(Axis(0), i).assign(t);
            }
            Ok(Tensor::F32(batch.into_dyn()))
        },
        |_, mut outputs| {
            let out = std::mem::take(&mut outputs[output])
                .into_dimensionality::<Ix2>()
                .context("the matcher's output is not [batch, dim]")?;
            rows.push(out);
            Ok(())
        },
    )
    .await?;
    let views: Vec<_> = rows.iter().map(|r| r.view()).collect();
    Ok(ndarray::concatenate(Axis(0), &views)?)
}

pub(crate) fn l2_normalize_rows(m: &mut Array2<f32>) {
    for mut row in m.rows_mut() {
        let norm = row.dot(&row).sqrt();
        row.mapv_inplace(|v| v / norm);
    }
}

/// CLIP: image encoder `[N,3,224,224] → [N,D]`, text encoder `[N,77] int64 → [N,D]`.
pub struct ClipMatcher {
    image_engine: Box<dyn Engine>,
    image_sha256: String,
    text_sha256: String,
    name: String,
    concepts: Vec<String>,
    /// `[C, D]`, L2-normalised rows.
    text_embeddings: Array2<f32>,
    input_px: u32,
}

impl ClipMatcher {
    /// Encodes every concept with the text encoder (CLIP-Dissect: `clip.tokenize(words)`, no prompt template).
    /// `text_embeddings` may be given from a cache (rows must match `concepts`), then the text engine is unused.
    #[allow(clippy::too_many_arguments)]
    pub async fn new(
        name: &str,
        image_engine: Box<dyn Engine>,
        image_onnx: &[u8],
        text_engine: &dyn Engine,
        text_onnx: &[u8],
        tokenizer: &ClipTokenizer,
        concepts: Vec<String>,
        cached_text_embeddings: Option<Array2<f32>>,
        progress: &dyn Progress,
    ) -> Result<ClipMatcher> {
        let shape = image_engine.input_shape().to_vec();
        ensure!(
            shape.len() == 4 && shape[1] == 3 && shape[2] == shape[3],
            "the CLIP image encoder should take [N,3,S,S] images, it takes {shape:?}"
        );
        let mut text_embeddings = match cached_text_embeddings {
            Some(t) => t,
            None => Self::encode_texts(text_engine, tokenizer, &concepts, progress).await?,
        };
        ensure!(
            text_embeddings.nrows() == concepts.len(),
            "{} text embeddings for {} concepts",
            text_embeddings.nrows(),
            concepts.len()
        );
        l2_normalize_rows(&mut text_embeddings);
        Ok(ClipMatcher {
            image_engine,
            image_sha256: crate::files::sha256_hex(image_onnx),
            text_sha256: crate::files::sha256_hex(text_onnx),
            name: name.to_string(),
            concepts,
            text_embeddings,
            input_px: shape[2] as u32,
        })
    }

    /// Raw (not normalised) text embeddings of `concepts`, `[C, D]`.
    pub async fn encode_texts(
        text_engine: &dyn Engine,
        tokenizer: &ClipTokenizer,
        concepts: &[String],
        progress: &dyn Progress,
    ) -> Result<Array2<f32>> {
        let tokens = tokenizer.tokenize(concepts);
        progress.stage("CLIP text embeddings", concepts.len() as u64);
        let mut rows = Vec::new();
        engine::run_chunked(
            text_engine,
            concepts.len(),
            progress,
            |range| {
                Ok(Tensor::I64(
                    tokens.slice(s![range, ..]).to_owned().into_dyn(),
                ))
            },
            |_, mut outputs| {
                rows.push(
                    std::mem::take(&mut outputs[0])
                        .into_dimensionality::<Ix2>()
                        .context("the CLIP text encoder's output is not [batch, dim]")?,
                );
                Ok(())
            },
        )
        .await?;
        let views: Vec<_> = rows.iter().map(|r| r.view()).collect();
        Ok(ndarray::concatenate(Axis(0), &views)?)
    }

    pub fn text_sha256(&self) -> &str {
        &self.text_sha256
    }
}

#[async_trait(?Send)]
impl ConceptMatcher for ClipMatcher {
    fn info(&self) -> MatcherInfo {
        MatcherInfo {
            kind: "clip".into(),
            model: self.name.clone(),
            sha256: vec![self.image_sha256.clone(), self.text_sha256.clone()],
            method: "CLIP-Dissect: softmax(a * cos(image embedding, text embedding)) over concepts"
                .into(),
        }
    }
    fn concepts(&self) -> &[String] {
        &self.concepts
    }
    fn image_cache_id(&self) -> String {
        format!(
            "clip-image {} bicubic{} clip-mean-std",
            self.image_sha256, self.input_px
        )
    }
    async fn embed_images(&self, images: &[RgbImage]) -> Result<Array2<f32>> {
        let px = self.input_px;
        let mut emb = run_images(self.image_engine.as_ref(), images, 0, &|img: &RgbImage| {
            clip_image::clip_tensor(&clip_image::clip_view(img, px))
        })
        .await?;
        l2_normalize_rows(&mut emb);
        Ok(emb)
    }
    fn scores(&self, image_embeddings: Array2<f32>, _a: f64) -> Result<Box<dyn ConceptScores>> {
        ensure!(
            image_embeddings.ncols() == self.text_embeddings.ncols(),
            "image embeddings have width {}, text embeddings {}",
            image_embeddings.ncols(),
            self.text_embeddings.ncols()
        );
        Ok(Box::new(ClipScores {
            images: image_embeddings,
            texts: self.text_embeddings.clone(),
        }))
    }
}

/// `S = images @ texts.T`, made a few rows at a time: memory is `N·D + C·D`, never `N·C`.
struct ClipScores {
    images: Array2<f32>,
    texts: Array2<f32>,
}

impl ConceptScores for ClipScores {
    fn n_images(&self) -> usize {
        self.images.nrows()
    }
    fn n_concepts(&self) -> usize {
        self.texts.nrows()
    }
    fn score_rows(&self, images: &[usize]) -> Result<Array2<f32>> {
        Ok(self.images.select(Axis(0), images).dot(&self.texts.t()))
    }
}

/// An ImageNet classifier as concept matcher: concept k = class `classes[k]` (its logit index).
pub struct ClassifierMatcher {
    engine: Box<dyn Engine>,
    preprocessing: Preprocessing,
    logits_output: usize,
    name: String,
    sha256: String,
    /// Logit index of every concept (e.g. 1..=1000 for a 1001-way model with background at 0).
    classes: Vec<usize>,
    concepts: Vec<String>,
}

impl ClassifierMatcher {
    /// `classes[k]` is the logit index of concept `concepts[k]`; other logits (e.g. background) are left out of
    /// the softmax, so `P(c|x)` is the classifier's probability renormalised over the concepts.
    pub fn new(
        name: &str,
        engine: Box<dyn Engine>,
        onnx: &[u8],
        preprocessing: Preprocessing,
        logits_output: &str,
        classes: Vec<usize>,
        concepts: Vec<String>,
    ) -> Result<ClassifierMatcher> {
        ensure!(
            classes.len() == concepts.len(),
            "{} classes for {} concepts",
            classes.len(),
            concepts.len()
        );
        let logits_output = engine
            .output_names()
            .iter()
            .position(|o| o == logits_output)
            .with_context(|| {
                format!(
                    "the matcher graph has no output `{logits_output}`: {:?}",
                    engine.output_names()
                )
            })?;
        Ok(ClassifierMatcher {
            engine,
            preprocessing,
            logits_output,
            name: name.to_string(),
            sha256: crate::files::sha256_hex(onnx),
            classes,
            concepts,
        })
    }
}

#[async_trait(?Send)]
impl ConceptMatcher for ClassifierMatcher {
    fn info(&self) -> MatcherInfo {
        MatcherInfo {
            kind: "classifier".into(),
            model: self.name.clone(),
            sha256: vec![self.sha256.clone()],
            method: "classifier as concept matcher: P(concept | image) = softmax of the classifier's logits over the \
                     concept classes (NOT CLIP)"
                .into(),
        }
    }
    fn concepts(&self) -> &[String] {
        &self.concepts
    }
    fn image_cache_id(&self) -> String {
        format!(
            "classifier-logits {} {} {:?}",
            self.sha256,
            serde_json::to_string(&self.preprocessing).unwrap_or_default(),
            self.classes
        )
    }
    async fn embed_images(&self, images: &[RgbImage]) -> Result<Array2<f32>> {
        let spec = self.preprocessing.clone();
        let logits = run_images(
            self.engine.as_ref(),
            images,
            self.logits_output,
            &move |img: &RgbImage| {
                crate::preprocess::to_tensor(&crate::preprocess::model_view(img, &spec), &spec)
            },
        )
        .await?;
        ensure!(
            self.classes.iter().all(|&k| k < logits.ncols()),
            "concept classes go up to {:?} but the classifier has {} logits",
            self.classes.iter().max(),
            logits.ncols()
        );
        Ok(logits.select(Axis(1), &self.classes))
    }
    fn scores(&self, image_embeddings: Array2<f32>, a: f64) -> Result<Box<dyn ConceptScores>> {
        ensure!(a > 0.0, "the softmax temperature a must be positive");
        Ok(Box::new(image_embeddings / a as f32))
    }
}
