//! Result tables: per model and layer, every unit with its concept, similarity and top probe images (CSV + JSON),
//! and a summary across models (concept histograms, distinct/shared/unique concepts, categories).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::matcher::MatcherInfo;
use super::published::{LabelledLayer, LabelledUnit, PublishedAgreement};
use super::replicate::{RankedLayer, RankedUnit, Replication};
use super::wpmi::SoftWpmiParams;

/// The dissected model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRecord {
    pub name: String,
    /// File name of the ONNX graph.
    pub file: String,
    pub sha256: String,
    /// What the weights are (e.g. "TF-slim ImageNet MobileNet v1 0.75 192, dequantized" or "RANDOM (not trained)").
    pub weights: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeRecord {
    pub folder: String,
    pub n_images: usize,
    pub fingerprint: String,
    /// What the probe set is (`Broden 1.0, 224 px, …`); empty when the job does not say.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// How the folder's images were cut (`every 2th image (31653 of 63305)`); empty for all of them.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subset: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConceptSetRecord {
    pub name: String,
    pub sha256: String,
    pub n_concepts: usize,
    /// Whether the concept set assigns categories to its concepts.
    pub has_categories: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopImage {
    pub id: String,
    pub activation: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitLabel {
    pub unit: usize,
    pub concept: String,
    pub concept_index: usize,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub category: Option<String>,
    /// soft-WPMI of the chosen concept (CLIP-Dissect's `similarity` column).
    pub similarity: f32,
    pub top_images: Vec<TopImage>,
    /// The best concepts, best first (`torch.topk` of the unit's row), where the job asks for them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top_concepts: Vec<RankedConcept>,
}

/// A concept and its soft-WPMI for one unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RankedConcept {
    pub concept_index: usize,
    pub similarity: f32,
}

/// One model layer, fully labelled, with everything that produced it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DissectionTable {
    pub model: ModelRecord,
    pub layer: String,
    pub probe: ProbeRecord,
    pub concept_set: ConceptSetRecord,
    pub matcher: MatcherInfo,
    pub similarity_fn: String,
    pub params: SoftWpmiParams,
    pub units: Vec<UnitLabel>,
    /// Agreement with labels published for the same model and layer (jobs with `published`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<PublishedAgreement>,
    /// One of CLIP-Dissect's own tables replicated on this layer (jobs with `replicate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication: Option<Replication>,
}

impl DissectionTable {
    /// The layer, each unit's concept and its best concepts: what
    /// [`replicate::replicate`](super::replicate::replicate) reads.
    pub fn ranked_layer(&self) -> RankedLayer {
        RankedLayer {
            layer: self.layer.clone(),
            units: self
                .units
                .iter()
                .map(|u| RankedUnit {
                    concept: u.concept.clone(),
                    ranked_concepts: u.top_concepts.iter().map(|c| c.concept_index).collect(),
                })
                .collect(),
        }
    }

    /// The layer and each unit's concept: what [`published::compare`](super::published::compare) reads.
    pub fn labelled_layer(&self) -> LabelledLayer {
        LabelledLayer {
            layer: self.layer.clone(),
            units: self
                .units
                .iter()
                .map(|u| LabelledUnit {
                    unit: u.unit,
                    label: u.concept.clone(),
                })
                .collect(),
        }
    }

    /// `<stem>.json` and `<stem>.csv` in `dir`.
    pub fn write(&self, dir: &Path, stem: &str) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let json = dir.join(format!("{stem}.json"));
        std::fs::write(&json, serde_json::to_string_pretty(self)? + "\n")
            .with_context(|| format!("cannot write {}", json.display()))?;
        let csv = dir.join(format!("{stem}.csv"));
        std::fs::write(&csv, self.to_csv())
            .with_context(|| format!("cannot write {}", csv.display()))?;
        Ok(())
    }

    /// CLIP-Dissect's `descriptions.csv` columns (`layer,unit,description,similarity`), then category and the top
    /// images (`;`-separated ids and activations). Provenance is in the JSON twin and in a `#` comment line.
    pub fn to_csv(&self) -> String {
        let mut out = format!(
            "# model={} sha256={} weights={:?} probe={} ({} images) concepts={} matcher={}:{} similarity={}\n",
            self.model.name,
            self.model.sha256,
            self.model.weights,
            self.probe.folder,
            self.probe.n_images,
            self.concept_set.name,
            self.matcher.kind,
            self.matcher.model,
            self.similarity_fn
        );
        out.push_str("layer,unit,description,similarity,category,top_images,top_activations\n");
        for u in &self.units {
            let ids: Vec<&str> = u.top_images.iter().map(|t| t.id.as_str()).collect();
            let acts: Vec<String> = u
                .top_images
                .iter()
                .map(|t| format!("{:.6}", t.activation))
                .collect();
            out.push_str(&format!(
                "{},{},{},{:.6},{},{},{}\n",
                csv_field(&self.layer),
                u.unit,
                csv_field(&u.concept),
                u.similarity,
                csv_field(u.category.as_deref().unwrap_or("")),
                csv_field(&ids.join(";")),
                acts.join(";")
            ));
        }
        out
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The file stem of a model/layer table: `<dir>/<stem>.{json,csv}` (the site finds tables by it).
pub fn table_stem(model: &str, layer: &str) -> String {
    format!("{model}_{layer}").replace(['/', ' ', ':'], "_")
}

/// A concept and the number of units labelled with it. Serialised as a `[concept, units]` pair, the
/// format of `summary.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(from = "(String, usize)", into = "(String, usize)")]
pub struct ConceptCount {
    pub concept: String,
    pub units: usize,
}

impl From<(String, usize)> for ConceptCount {
    fn from((concept, units): (String, usize)) -> Self {
        ConceptCount { concept, units }
    }
}

impl From<ConceptCount> for (String, usize) {
    fn from(c: ConceptCount) -> Self {
        (c.concept, c.units)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LayerSummary {
    pub layer: String,
    /// The table's JSON file, next to the summary.
    pub table: String,
    pub n_units: usize,
    pub distinct_concepts: usize,
    /// Concepts with their number of units, most frequent first.
    pub histogram: Vec<ConceptCount>,
    /// Category → number of units (only when the concept set has categories).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub categories: Option<BTreeMap<String, usize>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<PublishedAgreement>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replication: Option<Replication>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelSummary {
    pub model: ModelRecord,
    pub matcher: MatcherInfo,
    pub concept_set: ConceptSetRecord,
    pub layers: Vec<LayerSummary>,
    pub distinct_concepts: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairSummary {
    pub models: [String; 2],
    pub shared: Vec<String>,
    pub unique_to_first: Vec<String>,
    pub unique_to_second: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub models: Vec<ModelSummary>,
    /// For every pair of models labelled from the same concept set: concepts used by both, and by one only
    /// (over all their layers).
    pub pairs: Vec<PairSummary>,
    /// Concept sets without categories (their summaries have no category counts).
    pub concept_sets_without_categories: Vec<String>,
}

/// Summarises tables grouped by model name (tables of one model share its record).
pub fn summarize(tables: &[DissectionTable]) -> Summary {
    let mut by_model: BTreeMap<String, Vec<&DissectionTable>> = BTreeMap::new();
    for t in tables {
        by_model.entry(t.model.name.clone()).or_default().push(t);
    }
    let mut models = Vec::new();
    let mut concept_sets: BTreeMap<String, ConceptSetRecord> = BTreeMap::new();
    let mut concepts_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, layers) in &by_model {
        let first = layers[0];
        concept_sets.insert(first.concept_set.name.clone(), first.concept_set.clone());
        let mut all = BTreeSet::new();
        let layer_summaries = layers
            .iter()
            .map(|t| {
                let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
                let mut cats: BTreeMap<String, usize> = BTreeMap::new();
                for u in &t.units {
                    *counts.entry(&u.concept).or_default() += 1;
                    all.insert(u.concept.clone());
                    if let Some(c) = &u.category {
                        *cats.entry(c.clone()).or_default() += 1;
                    }
                }
                let mut histogram: Vec<ConceptCount> = counts
                    .into_iter()
                    .map(|(concept, units)| ConceptCount {
                        concept: concept.to_string(),
                        units,
                    })
                    .collect();
                histogram.sort_by(|a, b| {
                    b.units
                        .cmp(&a.units)
                        .then_with(|| a.concept.cmp(&b.concept))
                });
                LayerSummary {
                    layer: t.layer.clone(),
                    table: format!("{}.json", table_stem(&t.model.name, &t.layer)),
                    n_units: t.units.len(),
                    distinct_concepts: histogram.len(),
                    histogram,
                    categories: t.concept_set.has_categories.then_some(cats),
                    published: t.published.clone(),
                    replication: t.replication.clone(),
                }
            })
            .collect();
        models.push(ModelSummary {
            model: first.model.clone(),
            matcher: first.matcher.clone(),
            concept_set: first.concept_set.clone(),
            layers: layer_summaries,
            distinct_concepts: all.len(),
        });
        concepts_of.insert(name.clone(), all);
    }
    let names: Vec<&String> = concepts_of.keys().collect();
    let concept_set_of = |name: &str| &by_model[name][0].concept_set.sha256;
    let mut pairs = Vec::new();
    for i in 0..names.len() {
        for j in i + 1..names.len() {
            // Only models labelled from the same concept set share a vocabulary to compare.
            if concept_set_of(names[i]) != concept_set_of(names[j]) {
                continue;
            }
            let (a, b) = (&concepts_of[names[i]], &concepts_of[names[j]]);
            pairs.push(PairSummary {
                models: [names[i].clone(), names[j].clone()],
                shared: a.intersection(b).cloned().collect(),
                unique_to_first: a.difference(b).cloned().collect(),
                unique_to_second: b.difference(a).cloned().collect(),
            });
        }
    }
    Summary {
        models,
        pairs,
        concept_sets_without_categories: concept_sets
            .values()
            .filter(|c| !c.has_categories)
            .map(|c| c.name.clone())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(model: &str, layer: &str, concepts: &[&str]) -> DissectionTable {
        DissectionTable {
            model: ModelRecord {
                name: model.into(),
                file: "m.onnx".into(),
                sha256: "00".into(),
                weights: "w".into(),
            },
            layer: layer.into(),
            probe: ProbeRecord {
                folder: "p".into(),
                n_images: 2,
                fingerprint: "f".into(),
                description: String::new(),
                subset: String::new(),
            },
            concept_set: ConceptSetRecord {
                name: "c".into(),
                sha256: "s".into(),
                n_concepts: 9,
                has_categories: false,
            },
            matcher: MatcherInfo {
                kind: "clip".into(),
                model: "m".into(),
                sha256: vec![],
                method: "x".into(),
            },
            similarity_fn: "soft_wpmi".into(),
            params: SoftWpmiParams::default(),
            units: concepts
                .iter()
                .enumerate()
                .map(|(unit, c)| UnitLabel {
                    unit,
                    concept: c.to_string(),
                    concept_index: 0,
                    category: None,
                    similarity: 1.5,
                    top_images: vec![TopImage {
                        id: "a,b.jpg".into(),
                        activation: 2.0,
                    }],
                    top_concepts: vec![],
                })
                .collect(),
            published: None,
            replication: None,
        }
    }

    #[test]
    fn csv_quotes_fields_with_commas() {
        let csv = table("m", "layer4", &["tench, Tinca tinca"]).to_csv();
        let row = csv.lines().nth(2).unwrap();
        assert_eq!(
            row,
            "layer4,0,\"tench, Tinca tinca\",1.500000,,\"a,b.jpg\",2.000000"
        );
    }

    #[test]
    fn summary_counts_shared_and_unique_concepts() {
        let tables = [
            table("a", "l1", &["sky", "sky", "dog"]),
            table("a", "l2", &["cat"]),
            table("b", "l1", &["dog", "tree"]),
        ];
        let s = summarize(&tables);
        assert_eq!(
            s.models[0].layers[0].histogram,
            vec![
                ConceptCount::from(("sky".to_string(), 2)),
                ConceptCount::from(("dog".to_string(), 1))
            ]
        );
        assert_eq!(s.models[0].distinct_concepts, 3);
        assert_eq!(s.pairs[0].shared, ["dog"]);
        assert_eq!(s.pairs[0].unique_to_first, ["cat", "sky"]);
        assert_eq!(s.pairs[0].unique_to_second, ["tree"]);
        assert_eq!(s.concept_sets_without_categories, ["c"]);
    }
}
