//! The report's numbers as typed data: what [`analyse`](super::analyse) computes, what `results.json`
//! holds, and all that [`output`](super::output) needs to write the documents and charts again.
//!
//! Every field is named; methods are [`Method`] values, never display strings, and lists of per-method
//! values are lists of structs naming their method.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::cam::CamMethod;
use crate::compare::agreement::Agreement;
use crate::compare::faithfulness::{CausalConfig, CausalCurve, CausalMode};
use crate::compare::sanity::{MapChange, WeightedLayer};
use crate::dissect::matcher::MatcherInfo;
use crate::dissect::published::PublishedAgreement;
use crate::dissect::replicate::Replication;
use crate::dissect::tables::{
    ConceptCount, ConceptSetRecord, ModelRecord, PairSummary, ProbeRecord,
};
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
    /// Pictures of this run (`fig/…`, relative to the report folder) that [`output`](super::output)
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

/// D1: what the report says about the dissection tables, read from them once by the analyse step
/// ([`dissection::findings`](super::dissection::findings)) so that rendering reads no table. Saved as
/// `dissection.json` beside `results.json`; a report made before it has none, and rendering it reads the
/// tables once more ([`output::render_only`](super::output::render_only)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DissectionFindings {
    /// The folder the tables were read from (`precomputed/dissect/`).
    pub dir: PathBuf,
    /// One per table, in file-name order.
    pub layers: Vec<DissectedLayer>,
    /// CLIP-Dissect's own final-layer tables replicated on this run (`<dir>/replication/`), in file-name
    /// order.
    pub replications: Vec<ReplicatedLayer>,
    /// Each model's concepts over its layers, models by name.
    pub models: Vec<ModelConcepts>,
    /// Models labelled from the same concept set: the concepts they share and those only one uses.
    pub pairs: Vec<PairSummary>,
    /// Concept sets that give their concepts no category (object, scene, …).
    pub concept_sets_without_categories: Vec<String>,
}

/// One dissection table: what made it and what its units learned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DissectedLayer {
    pub model: ModelRecord,
    pub layer: String,
    pub units: usize,
    pub distinct_concepts: usize,
    pub probe: ProbeRecord,
    pub concept_set: ConceptSetRecord,
    pub matcher: MatcherInfo,
    /// Logit units labelled with their own class; `None` when the layer is not a logit layer over the
    /// concept set.
    pub own_class_units: Option<usize>,
    /// The most frequent concepts with their numbers of units, most frequent first (the histogram's head).
    pub top_concepts: Vec<ConceptCount>,
    /// Agreement with the labels published for this model and layer.
    pub published: Option<PublishedAgreement>,
    /// The picture of the top probe images of a few units; `None` when the probe images were not there.
    pub top_images: Option<TopImagesPicture>,
}

/// A picture of top probe images, one row per unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopImagesPicture {
    /// Relative to the report folder (`fig/…png`).
    pub file: String,
    /// What each row shows (`unit 12 (dog)`).
    pub rows: Vec<String>,
}

/// One of CLIP-Dissect's own tables replicated on a final layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicatedLayer {
    pub model: String,
    pub layer: String,
    pub concept_set: String,
    pub probe: ProbeRecord,
    pub replication: Replication,
}

/// One model's concepts: per layer, and over all its layers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConcepts {
    pub model: String,
    pub layers: Vec<LayerConcepts>,
    pub distinct_concepts: usize,
}

/// One layer's units and the distinct concepts that label them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerConcepts {
    pub layer: String,
    pub units: usize,
    pub distinct_concepts: usize,
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

/// Mean of the defined values; `None` when there are none.
pub fn mean(values: impl IntoIterator<Item = Option<f64>>) -> Option<f64> {
    let v: Vec<f64> = values
        .into_iter()
        .flatten()
        .filter(|x| x.is_finite())
        .collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

impl Faithfulness {
    /// The area under one of the map's curves.
    pub fn auc(&self, mode: CausalMode) -> f64 {
        match mode {
            CausalMode::Deletion => self.deletion.auc,
            CausalMode::Insertion => self.insertion.auc,
        }
    }
}

impl ImageResult {
    /// The agreement score that orders the images: the mean same-count IoU over the CAMs.
    pub fn agreement_score(&self) -> Option<f64> {
        mean(self.cams.iter().map(|c| c.agreement.iou_same_count))
    }

    /// The mean over the CAMs of their Spearman correlation with LIME's weights.
    pub fn mean_spearman(&self) -> Option<f64> {
        mean(self.cams.iter().map(|c| c.agreement.spearman))
    }

    /// The CAMs whose maximum lies in LIME's mask.
    pub fn pointing_hits(&self) -> usize {
        self.cams
            .iter()
            .filter(|c| c.agreement.pointing_hit)
            .count()
    }

    /// Whether `method`'s map has the best AUC of all maps on this image (the lowest deletion AUC, the
    /// highest insertion AUC).
    pub fn is_most_faithful(&self, method: Method, mode: CausalMode) -> bool {
        let aucs = self.faithfulness.iter().map(|f| f.auc(mode));
        let best = match mode {
            CausalMode::Deletion => aucs.fold(f64::INFINITY, f64::min),
            CausalMode::Insertion => aucs.fold(f64::NEG_INFINITY, f64::max),
        };
        self.faithfulness
            .iter()
            .any(|f| f.method == method && f.auc(mode) == best)
    }
}

/// One method's deletion and insertion AUC, averaged over the images.
#[derive(Debug, Clone, Copy)]
pub struct MeanAucs {
    pub deletion: Option<f64>,
    pub insertion: Option<f64>,
}

/// The maps with the best mean AUCs.
#[derive(Debug, Clone, Copy)]
pub struct MostFaithful {
    /// The lowest mean deletion AUC.
    pub deletion: Method,
    /// The highest mean insertion AUC.
    pub insertion: Method,
}

/// One method against the object masks.
#[derive(Debug, Clone, Copy)]
pub struct ObjectScores {
    /// Cases where the map's maximum lies on the object.
    pub pointing_hits: usize,
    pub mean_iou: Option<f64>,
    pub mean_mass_on_object: Option<f64>,
}

/// How the agreement of the images relates to their clutter.
#[derive(Debug, Clone, Copy)]
pub struct ClutterAgreement<'a> {
    /// The images with an agreement score.
    pub images: usize,
    /// Spearman correlation of the agreement with the share of edge pixels.
    pub by_edges: Option<f64>,
    /// Spearman correlation of the agreement with LIME's superpixel count.
    pub by_segments: Option<f64>,
    /// The images with the most and the fewest edge pixels.
    pub most_cluttered: RankedImage<'a>,
    pub least_cluttered: RankedImage<'a>,
}

/// An image and its rank by agreement (1: the most).
#[derive(Debug, Clone, Copy)]
pub struct RankedImage<'a> {
    pub image: &'a ImageResult,
    pub rank: usize,
}

/// The fewest images with an agreement score a clutter correlation is computed on.
pub const CLUTTER_MIN_IMAGES: usize = 3;

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

    /// The images with an agreement score, from most to least agreement.
    pub fn scored_images(&self) -> Vec<&ImageResult> {
        self.agreement_order()
            .into_iter()
            .map(|i| &self.images[i])
            .filter(|i| i.agreement_score().is_some())
            .collect()
    }

    /// The mean over the images of their agreement score.
    pub fn mean_agreement_score(&self) -> Option<f64> {
        mean(self.images.iter().map(ImageResult::agreement_score))
    }

    /// The mean Spearman correlation of every CAM on every image with LIME's weights.
    pub fn mean_spearman(&self) -> Option<f64> {
        mean(
            self.images
                .iter()
                .flat_map(|i| i.cams.iter().map(|c| c.agreement.spearman)),
        )
    }

    /// The images on which `cam`'s maximum lies in LIME's mask.
    pub fn pointing_hits(&self, cam: CamMethod) -> usize {
        self.images
            .iter()
            .filter(|i| {
                i.cams
                    .iter()
                    .any(|c| c.method == cam && c.agreement.pointing_hit)
            })
            .count()
    }

    /// Agreement against clutter, measured by edge density and by LIME's superpixel count; `None` with
    /// fewer than [`CLUTTER_MIN_IMAGES`] scored images.
    pub fn clutter_agreement(&self) -> Option<ClutterAgreement<'_>> {
        use crate::compare::agreement::{average_ranks, pearson};
        let scored = self.scored_images();
        if scored.len() < CLUTTER_MIN_IMAGES {
            return None;
        }
        let agreement: Vec<f64> = scored.iter().filter_map(|i| i.agreement_score()).collect();
        let rho = |clutter: Vec<f64>| pearson(&average_ranks(&clutter), &average_ranks(&agreement));
        let rank = |image: &ImageResult| {
            scored
                .iter()
                .position(|m| m.image == image.image)
                .unwrap_or(0)
                + 1
        };
        let edge_order =
            |a: &&&ImageResult, b: &&&ImageResult| a.edge_density.total_cmp(&b.edge_density);
        let most = *scored.iter().max_by(edge_order).expect("at least 3 images");
        let least = *scored.iter().min_by(edge_order).expect("at least 3 images");
        Some(ClutterAgreement {
            images: scored.len(),
            by_edges: rho(scored.iter().map(|i| i.edge_density).collect()),
            by_segments: rho(scored.iter().map(|i| i.lime.superpixels as f64).collect()),
            most_cluttered: RankedImage {
                image: most,
                rank: rank(most),
            },
            least_cluttered: RankedImage {
                image: least,
                rank: rank(least),
            },
        })
    }

    /// The maps whose faithfulness was measured, in column order (from the first image).
    pub fn faithfulness_methods(&self) -> Vec<Method> {
        self.images
            .first()
            .map(|i| i.faithfulness.iter().map(|f| f.method).collect())
            .unwrap_or_default()
    }

    /// Mean deletion and insertion AUC of one method over the images.
    pub fn mean_aucs(&self, method: Method) -> MeanAucs {
        let curves = || {
            self.images
                .iter()
                .flat_map(|i| i.faithfulness.iter().filter(|f| f.method == method))
        };
        MeanAucs {
            deletion: mean(curves().map(|f| Some(f.deletion.auc))),
            insertion: mean(curves().map(|f| Some(f.insertion.auc))),
        }
    }

    /// The methods with the lowest mean deletion and the highest mean insertion AUC (a method without
    /// one counts as not a number, last); `None` without faithfulness.
    pub fn most_faithful(&self) -> Option<MostFaithful> {
        let methods = self.faithfulness_methods();
        let auc = |m: Method, mode: CausalMode| {
            let aucs = self.mean_aucs(m);
            match mode {
                CausalMode::Deletion => aucs.deletion,
                CausalMode::Insertion => aucs.insertion,
            }
            .unwrap_or(f64::NAN)
        };
        let deletion = methods.iter().min_by(|&&a, &&b| {
            auc(a, CausalMode::Deletion).total_cmp(&auc(b, CausalMode::Deletion))
        })?;
        let insertion = methods.iter().max_by(|&&a, &&b| {
            auc(a, CausalMode::Insertion).total_cmp(&auc(b, CausalMode::Insertion))
        })?;
        Some(MostFaithful {
            deletion: *deletion,
            insertion: *insertion,
        })
    }

    /// The images on which `method`'s map has the best AUC of all maps.
    pub fn faithfulness_wins(&self, method: Method, mode: CausalMode) -> usize {
        self.images
            .iter()
            .filter(|i| i.is_most_faithful(method, mode))
            .count()
    }

    /// The methods of the object cases, in column order.
    pub fn object_methods(&self) -> Vec<Method> {
        self.objects
            .first()
            .map(|o| o.methods.iter().map(|m| m.method).collect())
            .unwrap_or_default()
    }

    /// One method on every object case.
    pub fn object_hits(&self, method: Method) -> impl Iterator<Item = &ObjectHit> {
        self.objects
            .iter()
            .flat_map(move |o| o.methods.iter().filter(move |m| m.method == method))
    }

    /// One method's pointing hits and mean overlaps over the object cases.
    pub fn object_scores(&self, method: Method) -> ObjectScores {
        ObjectScores {
            pointing_hits: self.object_hits(method).filter(|h| h.pointing_hit).count(),
            mean_iou: mean(self.object_hits(method).map(|h| h.iou_top_object)),
            mean_mass_on_object: mean(self.object_hits(method).map(|h| Some(h.mass_on_object))),
        }
    }

    /// The short name of an image file of this run (the file name itself when it is not one).
    pub fn short_name_of<'a>(&'a self, file: &'a str) -> &'a str {
        self.images
            .iter()
            .find(|i| i.image == file)
            .map_or(file, |i| i.name.as_str())
    }
}

/// One method's map changes in a sanity stage, averaged over the images.
#[derive(Debug, Clone, Copy)]
pub struct MeanChange {
    pub spearman: Option<f64>,
    pub ssim: Option<f64>,
}

impl DissectionFindings {
    /// The pictures of top probe images, relative to the report folder: drawn when the tables were read,
    /// not by rendering.
    pub fn pictures(&self) -> Vec<String> {
        self.layers
            .iter()
            .filter_map(|l| l.top_images.as_ref().map(|p| p.file.clone()))
            .collect()
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

    /// Mean Spearman and SSIM of one method's changes.
    pub fn mean_change(&self, method: Method) -> MeanChange {
        MeanChange {
            spearman: mean(self.changes_of(method).map(|c| c.change.spearman)),
            ssim: mean(self.changes_of(method).map(|c| Some(c.change.ssim))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_skips_undefined_values() {
        assert_eq!(mean([Some(1.0), None, Some(3.0)]), Some(2.0));
        assert_eq!(mean([None]), None);
    }
}
