//! CLIP-Dissect's own quantitative tables, replicated on our run: the final layer's neurons have known
//! concepts (their classes), so the share of neurons labelled with their own class measures the pipeline.
//!
//! Two protocols, each as its notebook computes it (Trustworthy-ML-Lab/CLIP-dissect@21e7697, `experiments/`):
//! - [`Protocol::PlacesBrodenScenes`] (`table2_quantitative_rn18.ipynb`): ResNet-18 Places365 `fc`, concept set
//!   `broden_labels_clean.txt`. A class has a truth only when Broden has its scene
//!   (`data_utils.get_places_id_to_broden_label`, reading Broden's `c_scene.csv`); a hit compares
//!   `process_word` of both. Quirk kept: a class whose name has a `/` (`apartment_building/outdoor`) gets the
//!   truth `apartment_building/outdoor-s`, while the concept set writes it `…-outdoor`: it can never be hit.
//! - [`Protocol::ClassIndex`] (`table3_similarity_comparison.ipynb`): ResNet-50 `fc` with `imagenet_labels.txt`
//!   as concepts; neuron `i` is right when concept `i` is among its top k.
//!
//! Both notebooks' `get_topk_acc` count every hit among the top k (their inner `continue` does not stop the
//! loop), so a concept set with repeated words could count a class twice; that is kept too. The CLIP
//! similarity is `utils.get_cos_similarity`: the mean cosine of the CLIP text embeddings of each neuron's
//! best concept and its class name (`cls_id_to_name`). Chance levels are those of a labeller that ranks the
//! concepts at random: `k·m/C` hits for a class that `m` of the `C` concepts match, and the mean cosine of a
//! class name with the mean concept embedding.

use std::collections::HashMap;

use anyhow::{ensure, Context, Result};
use ndarray::Array1;
use serde::{Deserialize, Serialize};

/// How the truth of a neuron is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// Places365 classes against Broden's scene labels (Table 2).
    PlacesBrodenScenes,
    /// Neuron `i`'s truth is concept `i` (Table 3, ImageNet class names as the concept set).
    ClassIndex,
    /// Only the similarity of the best concept to the class name (Table 3 with the 20k concepts).
    SimilarityOnly,
}

/// The numbers a notebook's saved outputs show (absent where it shows none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TableNumbers {
    /// Top-1 accuracy, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top1: Option<f64>,
    /// Top-5 accuracy, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top5: Option<f64>,
    /// Mean CLIP ViT-B/16 text cosine of best concept and class name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_similarity: Option<f64>,
    /// Mean all-mpnet-base-v2 cosine (published only: we do not run that model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mpnet_similarity: Option<f64>,
}

/// What a replication compares with: where the numbers were published, the probe set they were measured
/// on, and the numbers.
pub struct PublishedNumbers<'a> {
    pub source: &'a str,
    pub probe: &'a str,
    pub numbers: TableNumbers,
}

/// One metric of the tables: its name, whether it is a percentage, and where it sits in [`TableNumbers`].
pub struct Metric {
    pub name: &'static str,
    pub percent: bool,
    pub get: fn(&TableNumbers) -> Option<f64>,
}

/// The metrics in the order the notebooks print them.
pub const METRICS: [Metric; 4] = [
    Metric {
        name: "top-1 accuracy",
        percent: true,
        get: |n| n.top1,
    },
    Metric {
        name: "top-5 accuracy",
        percent: true,
        get: |n| n.top5,
    },
    Metric {
        name: "CLIP similarity",
        percent: false,
        get: |n| n.clip_similarity,
    },
    Metric {
        name: "mpnet similarity",
        percent: false,
        get: |n| n.mpnet_similarity,
    },
];

/// What a replication is measured against, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Replication {
    /// The notebook and the setting (`table2_quantitative_rn18.ipynb: resnet18_places fc, broden, …`).
    pub source: String,
    pub protocol: Protocol,
    /// The probe set the published numbers were measured on (ours is in the table's `probe`).
    pub published_probe: String,
    pub published: TableNumbers,
    /// Neurons compared, and those with a truth (the accuracies' denominator).
    pub units: usize,
    pub units_with_truth: usize,
    pub ours: TableNumbers,
    /// A random ranking of the concepts, computed the same way.
    pub chance: TableNumbers,
}

/// Per neuron, what the notebook compares its concepts with.
pub struct Truth {
    /// Per neuron, the label a concept must match (`None`: the class is skipped by the accuracies).
    pub per_unit: Vec<Option<String>>,
    /// Per neuron, the class name the CLIP similarity compares the best concept with (`cls_id_to_name`).
    pub class_names: Vec<String>,
}

/// `data_utils.get_places_id_to_broden_label`: `categories_places365.txt` (`/a/airfield 0` lines, read with
/// `split('\n')`) and the `name` column of Broden's `c_scene.csv`.
pub fn places_id_to_broden_label(categories: &str, scene_names: &[String]) -> Vec<Option<String>> {
    categories
        .split('\n')
        .map(|cls| {
            let name = places_class_name(cls).replace('/', "-");
            scene_names
                .iter()
                .any(|s| *s == format!("{name}-s"))
                .then(|| format!("{}-s", name.replace('-', "/")))
        })
        .collect()
}

/// `cls[3:].split(' ')[0]`: `/a/apartment_building/outdoor 8` → `apartment_building/outdoor`.
pub fn places_class_name(line: &str) -> String {
    let tail: String = line.chars().skip(3).collect();
    tail.split(' ').next().unwrap_or_default().to_string()
}

/// Table 2's `process_word` for the Broden concept set: drop a `-s` suffix, `_` → space.
pub fn process_broden_word(word: &str) -> String {
    word.strip_suffix("-s").unwrap_or(word).replace('_', " ")
}

/// The `name` column of a Broden `c_*.csv` (`code,number,name,frequency,coverage`).
pub fn broden_category_names(csv_text: &str) -> Result<Vec<String>> {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let column = reader
        .headers()
        .context("Broden category CSV: no header")?
        .iter()
        .position(|h| h == "name")
        .context(
            "Broden category CSV: no `name` column (expected code,number,name,frequency,coverage)",
        )?;
    reader
        .records()
        .map(|r| {
            let r = r.context("Broden category CSV: a malformed row")?;
            r.get(column)
                .map(str::to_string)
                .context("Broden category CSV: a row without a name")
        })
        .collect()
}

impl Protocol {
    /// Whether concept `concept` (its text `word`) is a hit for a neuron whose truth is `truth`.
    fn hit(self, unit: usize, truth: &str, concept: usize, word: &str) -> bool {
        match self {
            Protocol::PlacesBrodenScenes => process_broden_word(word) == process_broden_word(truth),
            Protocol::ClassIndex => concept == unit,
            Protocol::SimilarityOnly => false,
        }
    }

    /// The truths: Table 2 from `categories_places365.txt` and `c_scene.csv`'s names; Table 3 from the
    /// class names (`imagenet_labels.txt`), one per neuron.
    pub fn truth(self, class_file_text: &str, scene_names: Option<&[String]>) -> Result<Truth> {
        Ok(match self {
            Protocol::PlacesBrodenScenes => {
                let scenes = scene_names.context("Table 2's truth needs Broden's c_scene.csv")?;
                Truth {
                    per_unit: places_id_to_broden_label(class_file_text, scenes),
                    class_names: class_file_text.split('\n').map(places_class_name).collect(),
                }
            }
            Protocol::ClassIndex | Protocol::SimilarityOnly => {
                let names: Vec<String> = class_file_text.split('\n').map(str::to_string).collect();
                Truth {
                    per_unit: if self == Protocol::ClassIndex {
                        names.iter().cloned().map(Some).collect()
                    } else {
                        vec![None; names.len()]
                    },
                    class_names: names,
                }
            }
        })
    }
}

/// `get_topk_acc` over neurons with a truth: `ranked[u]` holds neuron `u`'s concepts best first (at least k).
/// Returns (hits, neurons with a truth) and the chance level's expected hits.
fn topk_hits(
    protocol: Protocol,
    ranked: &[Vec<usize>],
    truth: &[Option<String>],
    words: &[String],
    k: usize,
) -> Result<(usize, usize, f64)> {
    let (mut hits, mut total, mut expected) = (0, 0, 0.0);
    for (unit, concepts) in ranked.iter().enumerate() {
        let Some(t) = &truth[unit] else { continue };
        ensure!(
            concepts.len() >= k,
            "neuron {unit} has {} ranked concepts, top-{k} needs {k}",
            concepts.len()
        );
        hits += concepts[..k]
            .iter()
            .filter(|&&c| protocol.hit(unit, t, c, &words[c]))
            .count();
        let matching = (0..words.len())
            .filter(|&c| protocol.hit(unit, t, c, &words[c]))
            .count();
        expected += (k * matching) as f64 / words.len() as f64;
        total += 1;
    }
    Ok((hits, total, expected))
}

/// One dissected layer as the replication reads it (a [`DissectionTable`](super::tables::DissectionTable)
/// gives its own with `ranked_layer`).
#[derive(Debug, Clone, PartialEq)]
pub struct RankedLayer {
    pub layer: String,
    pub units: Vec<RankedUnit>,
}

/// A unit's label and its best concepts, best first (indices into the concept set).
#[derive(Debug, Clone, PartialEq)]
pub struct RankedUnit {
    pub concept: String,
    pub ranked_concepts: Vec<usize>,
}

/// Replicates a table on `table` (its units carry their top concepts). `embedding` gives the L2-normalised
/// CLIP text embedding of any text (concepts and class names).
pub fn replicate(
    table: &RankedLayer,
    words: &[String],
    protocol: Protocol,
    truth: &Truth,
    published: PublishedNumbers<'_>,
    embedding: &dyn Fn(&str) -> Option<Array1<f32>>,
) -> Result<Replication> {
    let n = table.units.len();
    ensure!(
        truth.per_unit.len() == n && truth.class_names.len() == n,
        "the layer `{}` has {n} neurons but the class list has {} classes: replicate the table on the final layer",
        table.layer,
        truth.class_names.len()
    );
    let ranked: Vec<Vec<usize>> = table
        .units
        .iter()
        .map(|u| u.ranked_concepts.clone())
        .collect();
    let (hits1, total, chance1) = topk_hits(protocol, &ranked, &truth.per_unit, words, 1)?;
    let (hits5, _, chance5) = topk_hits(protocol, &ranked, &truth.per_unit, words, 5)?;
    ensure!(
        total > 0 || protocol == Protocol::SimilarityOnly,
        "no neuron of `{}` has a truth to compare with",
        table.layer
    );
    // Accuracies only where the protocol has truths.
    let percent = |x: f64| (total > 0).then(|| x / total as f64 * 100.0);

    let embed = |text: &str| {
        embedding(text).with_context(|| format!("no CLIP text embedding for `{text}`"))
    };
    let mut similarity = 0.0;
    let mut chance_similarity = 0.0;
    let mean_concept = mean_embedding(words, &embed)?;
    for (unit, class_name) in table.units.iter().zip(&truth.class_names) {
        let class = embed(class_name)?;
        // Normalised embeddings: the cosine is the dot product.
        similarity += embed(&unit.concept)?.dot(&class) as f64;
        chance_similarity += mean_concept.dot(&class) as f64;
    }
    Ok(Replication {
        source: published.source.to_string(),
        protocol,
        published_probe: published.probe.to_string(),
        published: published.numbers,
        units: n,
        units_with_truth: total,
        ours: TableNumbers {
            top1: percent(hits1 as f64),
            top5: percent(hits5 as f64),
            clip_similarity: Some(similarity / n as f64),
            mpnet_similarity: None,
        },
        chance: TableNumbers {
            top1: percent(chance1),
            top5: percent(chance5),
            clip_similarity: Some(chance_similarity / n as f64),
            mpnet_similarity: None,
        },
    })
}

/// The mean of the concepts' normalised embeddings: its dot product with a class name's embedding is the
/// expected cosine of a concept drawn at random.
fn mean_embedding(
    words: &[String],
    embed: &dyn Fn(&str) -> Result<Array1<f32>>,
) -> Result<Array1<f32>> {
    let mut cache: HashMap<&str, Array1<f32>> = HashMap::new();
    let mut sum: Option<Array1<f64>> = None;
    for w in words {
        if !cache.contains_key(w.as_str()) {
            cache.insert(w, embed(w)?);
        }
        let e = cache[w.as_str()].mapv(f64::from);
        sum = Some(match sum {
            Some(s) => s + e,
            None => e,
        });
    }
    let sum = sum.context("an empty concept set")?;
    Ok(sum.mapv(|v| (v / words.len() as f64) as f32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissect::wpmi::top_concepts;
    use ndarray::Array2;

    /// Tiny cases computed by the notebooks' code (numpy port): tests/reference/replication_reference.py.
    #[test]
    fn metrics_equal_the_notebooks_code_on_tiny_cases() {
        let fixture: serde_json::Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/dissect/replication_cases.json"
        ))
        .unwrap();
        for case in fixture["cases"].as_array().unwrap() {
            let protocol: Protocol = serde_json::from_value(case["protocol"].clone()).unwrap();
            let words: Vec<String> = serde_json::from_value(case["words"].clone()).unwrap();
            let rows: Vec<Vec<f32>> = serde_json::from_value(case["similarity"].clone()).unwrap();
            let sim = Array2::from_shape_fn((rows.len(), words.len()), |(u, c)| rows[u][c]);
            let ranked = top_concepts(sim.view(), 5);
            let table = RankedLayer {
                layer: "fc".into(),
                units: ranked
                    .iter()
                    .map(|r| RankedUnit {
                        concept: words[r[0].concept].clone(),
                        ranked_concepts: r.iter().map(|c| c.concept).collect(),
                    })
                    .collect(),
            };
            let scenes = case["c_scene_csv"]
                .as_str()
                .map(|t| broden_category_names(t).unwrap());
            let truth = protocol
                .truth(case["categories"].as_str().unwrap(), scenes.as_deref())
                .unwrap();
            let expected_truth: Vec<Option<String>> =
                serde_json::from_value(case["truth"].clone()).unwrap();
            assert_eq!(truth.per_unit, expected_truth, "{protocol:?}");
            let expected_names: Vec<String> =
                serde_json::from_value(case["class_names"].clone()).unwrap();
            assert_eq!(truth.class_names, expected_names);
            let vectors: HashMap<String, Vec<f32>> =
                serde_json::from_value(case["embeddings"].clone()).unwrap();
            let embedding = |t: &str| {
                vectors.get(t).map(|v| {
                    let a = Array1::from(v.clone());
                    let norm = a.dot(&a).sqrt();
                    a / norm
                })
            };
            let r = replicate(
                &table,
                &words,
                protocol,
                &truth,
                PublishedNumbers {
                    source: "notebook",
                    probe: "probe",
                    numbers: TableNumbers::default(),
                },
                &embedding,
            )
            .unwrap();
            let near = |ours: Option<f64>, key: &str, tol: f64| {
                let want = case[key].as_f64().unwrap();
                let got = ours.unwrap();
                assert!(
                    (got - want).abs() <= tol,
                    "{protocol:?} {key}: {got} vs {want}"
                );
            };
            near(r.ours.top1, "top1", 1e-9);
            near(r.ours.top5, "top5", 1e-9);
            near(r.ours.clip_similarity, "clip_similarity", 1e-6);
            near(r.chance.top1, "chance_top1", 1e-9);
            near(r.chance.top5, "chance_top5", 1e-9);
            near(r.chance.clip_similarity, "chance_clip_similarity", 1e-6);
        }
    }

    #[test]
    fn a_places_class_with_a_slash_can_never_be_hit() {
        let scenes = vec!["apartment_building-outdoor-s".to_string()];
        let truth = places_id_to_broden_label("/a/apartment_building/outdoor 8", &scenes);
        assert_eq!(truth, [Some("apartment_building/outdoor-s".to_string())]);
        // The concept set writes it with a dash: the notebook's comparison never matches.
        assert_ne!(
            process_broden_word("apartment building-outdoor"),
            process_broden_word(truth[0].as_deref().unwrap())
        );
        assert_eq!(
            process_broden_word("street-s"),
            process_broden_word("street")
        );
    }
}
