//! The report's numbers as typed data: what [`analyse`](super::analyse) computes, what `results.json`
//! holds, and all that [`render`](super::render) needs to write the documents and charts again.
//!
//! Every field is named; methods are [`Method`] values, never display strings, and lists of per-method
//! values are lists of structs naming their method.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::compare::agreement::Agreement;
use crate::compare::faithfulness::{CausalConfig, CausalCurve};
use crate::compare::sanity::{MapChange, WeightedLayer};
use crate::lime::LimeParams;
use crate::results::Prediction;
pub use crate::results::{Method, Size};

/// Everything one report run found, in the order the documents present it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportData {
    pub run: RunInfo,
    /// D2/D3: every method on each sample image.
    pub images: Vec<ImageResult>,
    /// D3: explanations against object masks (empty when the section was skipped).
    pub objects: Vec<ObjectResult>,
    /// D3: the cascading randomisation, one entry per finished stage.
    pub sanity: Vec<SanityStage>,
    /// Pictures of this run (`fig/…`, relative to the report folder) that [`render`](super::render)
    /// does not draw: the model's view with the maps over it. Rendering elsewhere copies them.
    pub photos: Vec<String>,
}

/// How the run was made: model, engine, settings, and where D1's tables are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The sentence naming the model and its weights.
    pub model: String,
    /// The model's provenance warning (test mirror, random weights), stamped on every document.
    pub warning: Option<String>,
    /// A sentence about the run's scale (e.g. a quick run's cut), written at the top of every document.
    pub run_note: String,
    pub engine: String,
    /// The `glassbox explain` folder whose maps were used, when they were not computed here.
    pub explained: Option<PathBuf>,
    /// The CAMs compared with LIME, in column order.
    pub cams: Vec<crate::cam::CamMethod>,
    pub lime: LimeParams,
    pub causal: CausalConfig,
    /// Numbers of top weighted layers re-initialised by the sanity check, in order.
    pub cascade: Vec<usize>,
    pub sanity_seed: u64,
    /// How many images the sanity check re-explains.
    pub sanity_images: usize,
    /// How each image is cut to the input (`Resize(232) + CenterCrop(224)`), the same for every method;
    /// empty in reports made before it was recorded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub view: String,
    /// The model's input size.
    pub input: Size,
    /// The size of the feature map the CAMs read.
    pub features: Size,
    /// D1's dissection tables, and the shared data folder their top images come from.
    pub dissect_dir: PathBuf,
    pub shared_data: PathBuf,
}

/// One sample image explained by every method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageResult {
    /// The file name (`n01443537_goldfish.JPEG`).
    pub image: String,
    /// The short name used in tables and figure names (`goldfish`).
    pub name: String,
    /// The explained class: the model's top-1.
    pub target: Prediction,
    /// The true class from the file name, when it names an ImageNet class.
    pub expected_class: Option<usize>,
    pub top5: Vec<Prediction>,
    /// Share of edge pixels of the model's view (`compare::clutter`), a clutter measure.
    pub edge_density: f64,
    pub lime: LimeSummary,
    /// Each CAM with its agreement with LIME, in `RunInfo::cams` order.
    pub cams: Vec<CamSummary>,
    /// Deletion and insertion curves of every map (the CAMs, then LIME).
    pub faithfulness: Vec<Faithfulness>,
}

/// LIME on one image, for the explained class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LimeSummary {
    pub superpixels: usize,
    /// Pixels of the top-5 positive superpixels' mask.
    pub mask_pixels: usize,
    /// R² of the weighted ridge surrogate on its samples.
    pub surrogate_r2: Option<f64>,
    /// The surrogate's prediction for the unperturbed image.
    pub local_prediction: Option<f64>,
    /// `None` when the explanation came from an explain folder that did not record it.
    pub seconds: Option<f64>,
}

/// One CAM on one image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CamSummary {
    pub method: crate::cam::CamMethod,
    pub seconds: f64,
    pub agreement: Agreement,
}

/// RISE's deletion (lower is better) and insertion (higher is better) curves of one map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Faithfulness {
    pub method: Method,
    pub deletion: CausalCurve,
    pub insertion: CausalCurve,
}

/// One object mask and how each map meets it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectResult {
    pub case: String,
    /// Where the mask comes from (human outline, model-predicted segmentation, …).
    pub mask_source: String,
    pub target: Prediction,
    pub object_pixels: usize,
    pub methods: Vec<ObjectHit>,
    /// IoU of LIME's own top-5 mask with the object.
    pub lime_mask_iou: Option<f64>,
}

/// One map against one object mask.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectHit {
    pub method: Method,
    /// The map's maximum lies on the object.
    pub pointing_hit: bool,
    /// IoU with the object of the map's top pixels, as many as the object has.
    pub iou_top_object: Option<f64>,
    /// Share of the map's non-negative mass on the object.
    pub mass_on_object: f64,
}

/// One stage of the cascading randomisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SanityStage {
    /// Top weighted layers re-initialised.
    pub stage: usize,
    pub layers: Vec<WeightedLayer>,
    pub changes: Vec<SanityChange>,
    /// The randomised model's top-1 class on each image.
    pub randomized_top1: Vec<RandomizedPrediction>,
}

/// How one map of one image changed when the top layers were re-initialised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SanityChange {
    pub image: String,
    pub method: Method,
    pub change: MapChange,
}

/// The randomised model's top-1 class for one image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomizedPrediction {
    pub image: String,
    pub prediction: Prediction,
}

impl ImageResult {
    /// The agreement score that orders the images: the mean same-count IoU over the CAMs.
    pub fn agreement_score(&self) -> Option<f64> {
        super::markdown::mean(self.cams.iter().map(|c| c.agreement.iou_same_count))
    }
}

impl ReportData {
    /// Image indices from most to least agreement (images without a score last).
    pub fn agreement_order(&self) -> Vec<usize> {
        let score = |i: usize| {
            self.images[i]
                .agreement_score()
                .unwrap_or(f64::NEG_INFINITY)
        };
        let mut order: Vec<usize> = (0..self.images.len()).collect();
        order.sort_by(|&x, &y| score(y).total_cmp(&score(x)));
        order
    }

    /// The maps whose faithfulness was measured, in column order (from the first image).
    pub fn faithfulness_methods(&self) -> Vec<Method> {
        self.images
            .first()
            .map(|i| i.faithfulness.iter().map(|f| f.method).collect())
            .unwrap_or_default()
    }
}

impl SanityStage {
    /// The methods of this stage's changes, in first-seen order.
    pub fn methods(&self) -> Vec<Method> {
        let mut methods = Vec::new();
        for c in &self.changes {
            if !methods.contains(&c.method) {
                methods.push(c.method);
            }
        }
        methods
    }

    /// The changes of one method, image by image.
    pub fn changes_of(&self, method: Method) -> impl Iterator<Item = &SanityChange> {
        self.changes.iter().filter(move |c| c.method == method)
    }
}
