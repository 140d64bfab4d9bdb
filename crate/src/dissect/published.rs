//! Agreement of our labels with labels CLIP-Dissect published for the same model (the truth check of a
//! dissection): the share of units given the same concept, and the mean CLIP text similarity of the two
//! labels, each beside its chance level (labels drawn independently from the two tables' own concept
//! frequencies).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use ndarray::{Array1, ArrayView1};
use serde::{Deserialize, Serialize};

/// The columns of CLIP-Dissect's label CSV, in order.
const HEADER: [&str; 4] = ["layer", "unit", "description", "similarity"];

/// Published labels: layer → unit → description (CLIP-Dissect's `layer,unit,description,similarity` CSV).
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedLabels {
    pub file: String,
    pub by_layer: BTreeMap<String, BTreeMap<usize, String>>,
}

impl PublishedLabels {
    pub fn from_csv_path(path: &Path) -> Result<PublishedLabels> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the published labels {}", path.display()))?;
        let file = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        Self::from_csv(&file, &text)
    }

    /// Parses CLIP-Dissect's CSV as a CSV (a description may be quoted and hold commas); blank lines are
    /// skipped.
    pub fn from_csv(file: &str, text: &str) -> Result<PublishedLabels> {
        let mut reader = csv::ReaderBuilder::new()
            // Rows of another length get this parser's own message (with the line), not csv's.
            .flexible(true)
            .from_reader(text.as_bytes());
        let header = reader
            .headers()
            .with_context(|| format!("{file}: cannot read the header"))?;
        ensure!(
            header.iter().map(str::trim).eq(HEADER),
            "{file}: expected CLIP-Dissect's header `{}`, found `{}`",
            HEADER.join(","),
            header.iter().collect::<Vec<_>>().join(",")
        );
        let mut by_layer: BTreeMap<String, BTreeMap<usize, String>> = BTreeMap::new();
        for record in reader.records() {
            let record = record.with_context(|| format!("{file}: a malformed row"))?;
            if record.iter().all(|field| field.trim().is_empty()) {
                continue;
            }
            let line = record.position().map_or(0, |p| p.line());
            let fields: Vec<&str> = record.iter().collect();
            let [layer, unit, description, _similarity] = fields[..] else {
                bail!(
                    "{file} line {line}: expected 4 fields, found {}",
                    fields.len()
                );
            };
            let unit: usize = unit
                .parse()
                .with_context(|| format!("{file} line {line}: unit `{unit}` is not a number"))?;
            by_layer
                .entry(layer.to_string())
                .or_default()
                .insert(unit, description.to_string());
        }
        Ok(PublishedLabels {
            file: file.to_string(),
            by_layer,
        })
    }

    /// Every published label (to embed the ones the concept set lacks).
    pub fn labels(&self) -> impl Iterator<Item = &String> {
        self.by_layer.values().flat_map(|units| units.values())
    }
}

/// One dissected layer's labels, as the comparison reads them (a
/// [`DissectionTable`](super::tables::DissectionTable) gives its own with `labelled_layer`).
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledLayer {
    pub layer: String,
    pub units: Vec<LabelledUnit>,
}

/// A unit and the concept it was labelled with.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledUnit {
    pub unit: usize,
    pub label: String,
}

/// How one dissected layer agrees with the published labels of the same layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishedAgreement {
    /// The published file and what it is.
    pub source: String,
    pub description: String,
    /// Units present in both tables.
    pub units_compared: usize,
    /// Units whose label equals the published one (exact text).
    pub same_label: usize,
    pub same_label_share: f64,
    /// Expected share if each table's labels were drawn independently from its own label frequencies.
    pub chance_same_label_share: f64,
    /// Mean cosine similarity of the CLIP text embeddings of our label and the published one, per unit.
    pub mean_text_similarity: f64,
    /// The same mean over every (our unit, published unit) pair: the level of unrelated labels.
    pub chance_text_similarity: f64,
}

/// Compares our labels of a layer with the published labels of the same layer. `embedding` gives the
/// L2-normalised CLIP text embedding of a label. `None` when the published file has no such layer.
pub fn compare(
    ours: &LabelledLayer,
    published: &PublishedLabels,
    description: &str,
    embedding: &dyn Fn(&str) -> Option<Array1<f32>>,
) -> Result<Option<PublishedAgreement>> {
    let Some(theirs) = published.by_layer.get(&ours.layer) else {
        return Ok(None);
    };
    let pairs: Vec<(&str, &str)> = ours
        .units
        .iter()
        .filter_map(|u| theirs.get(&u.unit).map(|p| (u.label.as_str(), p.as_str())))
        .collect();
    ensure!(
        !pairs.is_empty(),
        "{} has layer {} but none of the {} units of our table",
        published.file,
        ours.layer,
        ours.units.len()
    );
    let n = pairs.len() as f64;
    let same_label = pairs.iter().filter(|(a, b)| a == b).count();

    let mut ours_freq: BTreeMap<&str, f64> = BTreeMap::new();
    let mut theirs_freq: BTreeMap<&str, f64> = BTreeMap::new();
    for (a, b) in &pairs {
        *ours_freq.entry(a).or_default() += 1.0 / n;
        *theirs_freq.entry(b).or_default() += 1.0 / n;
    }
    let chance_same = ours_freq
        .iter()
        .map(|(c, p)| p * theirs_freq.get(c).copied().unwrap_or(0.0))
        .sum();

    let embed = |label: &str| {
        embedding(label).with_context(|| format!("no CLIP text embedding for the label `{label}`"))
    };
    let our_embeddings: Vec<Array1<f32>> =
        pairs.iter().map(|(a, _)| embed(a)).collect::<Result<_>>()?;
    let published_embeddings: Vec<Array1<f32>> =
        pairs.iter().map(|(_, b)| embed(b)).collect::<Result<_>>()?;
    let cosine = |a: ArrayView1<f32>, b: ArrayView1<f32>| a.dot(&b) as f64;
    let mean_similarity = our_embeddings
        .iter()
        .zip(&published_embeddings)
        .map(|(a, b)| cosine(a.view(), b.view()))
        .sum::<f64>()
        / n;
    // The mean cosine over all (ours, theirs) pairs is the dot product of the two mean embeddings.
    let mean_of = |rows: &[Array1<f32>]| {
        rows.iter()
            .fold(Array1::<f32>::zeros(rows[0].len()), |acc, r| acc + r)
            / rows.len() as f32
    };
    let chance_similarity = cosine(
        mean_of(&our_embeddings).view(),
        mean_of(&published_embeddings).view(),
    );
    Ok(Some(PublishedAgreement {
        source: published.file.clone(),
        description: description.to_string(),
        units_compared: pairs.len(),
        same_label,
        same_label_share: same_label as f64 / n,
        chance_same_label_share: chance_same,
        mean_text_similarity: mean_similarity,
        chance_text_similarity: chance_similarity,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A layer whose unit `i` is labelled `concepts[i]`.
    fn table(layer: &str, concepts: &[&str]) -> LabelledLayer {
        LabelledLayer {
            layer: layer.into(),
            units: concepts
                .iter()
                .enumerate()
                .map(|(unit, label)| LabelledUnit {
                    unit,
                    label: label.to_string(),
                })
                .collect(),
        }
    }

    #[test]
    fn counts_equal_labels_and_similarities_against_chance() {
        let csv = "layer,unit,description,similarity\nlayer2,0,sky,0.1\nlayer2,1,grass,0.1\n\
                   layer2,2,sky,0.1\nlayer2,3,tree,0.1\nlayer3,0,sky,0.2\n";
        let published = PublishedLabels::from_csv("x.csv", csv).unwrap();
        // Orthogonal unit embeddings: same label → 1, different → 0.
        let embedding = |label: &str| {
            let k = ["sky", "grass", "tree"].iter().position(|c| *c == label)?;
            let mut v = Array1::zeros(3);
            v[k] = 1.0f32;
            Some(v)
        };
        let ours = table("layer2", &["sky", "sky", "sky", "tree"]);
        let a = compare(&ours, &published, "test", &embedding)
            .unwrap()
            .unwrap();
        assert_eq!(a.units_compared, 4);
        assert_eq!(a.same_label, 3); // units 0, 2, 3
        assert_eq!(a.same_label_share, 0.75);
        // ours: sky 3/4, tree 1/4; theirs: sky 2/4, grass 1/4, tree 1/4 → 3/8 + 1/16.
        assert!((a.chance_same_label_share - (0.375 + 0.0625)).abs() < 1e-12);
        assert!((a.mean_text_similarity - 0.75).abs() < 1e-6);
        // mean(ours) = (3/4, 0, 1/4), mean(theirs) = (1/2, 1/4, 1/4): dot = 3/8 + 1/16.
        assert!((a.chance_text_similarity - 0.4375).abs() < 1e-6);
        assert!(
            compare(&table("layer9", &["sky"]), &published, "t", &embedding)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn reads_quoted_descriptions_with_commas() {
        let csv = "layer,unit,description,similarity\nlayer4,0,\"tench, Tinca tinca\",0.5\n\n\
                   layer4,1,sky,0.25\n";
        let published = PublishedLabels::from_csv("x.csv", csv).unwrap();
        assert_eq!(published.by_layer["layer4"][&0], "tench, Tinca tinca");
        assert_eq!(published.by_layer["layer4"][&1], "sky");
        // Unquoted, the same row has five fields: refused, with its line.
        let err = PublishedLabels::from_csv(
            "x.csv",
            "layer,unit,description,similarity\nlayer4,0,tench, Tinca tinca,0.5\n",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("x.csv line 2: expected 4 fields, found 5"),
            "{err}"
        );
    }

    #[test]
    fn refuses_a_file_that_is_not_clip_dissects_format() {
        let err = PublishedLabels::from_csv("x.csv", "unit,label\n0,sky\n").unwrap_err();
        assert!(err
            .to_string()
            .contains("layer,unit,description,similarity"));
        let err = PublishedLabels::from_csv(
            "x.csv",
            "layer,unit,description,similarity\nlayer2,zero,sky,0\n",
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("unit `zero` is not a number"));
    }
}
