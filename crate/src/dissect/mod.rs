//! CLIP-Dissect: label every neuron of a layer with the concept whose presence best explains the probe images that
//! activate it most (Oikarinen & Weng, ICLR 2023; github.com/Trustworthy-ML-Lab/CLIP-dissect, `describe_neurons.py`
//! with `--similarity_fn soft_wpmi --pool_mode avg`).
//!
//! - [`tokenizer`]: CLIP's BPE tokenizer (concept texts → ids for the CLIP text encoder).
//! - [`wpmi`]: `soft_wpmi`, CLIP-Dissect's default similarity, computed streaming.
//! - [`matcher`]: concept matchers (CLIP; an ImageNet classifier where CLIP weights are not at hand).
//! - [`probe`]: the probe folder, pooled layer activations.
//! - [`cache`]: on-disk cache of activations and image embeddings.
//! - [`tables`]: per-layer tables and the cross-model summary.
//! - [`published`]: agreement with labels CLIP-Dissect published for the same model.
//! - [`replicate`]: the paper's own final-layer tables (top-1/top-5 accuracy, CLIP similarity) on our run.
//!
//! [`dissect`] runs the whole pipeline. Peak memory, for N probe images, L_total neurons over the requested layers,
//! C concepts, D embedding width, B images decoded at once:
//! `4·N·L_total` (pooled activations) + `4·N·D` (image embeddings; classifier matcher: D = C) + `4·C·D` (text
//! embeddings) + `8·L·C` (soft-WPMI accumulator of the layer being labelled) + `4·256·C` (probability rows) +
//! B decoded images and their tensors. The N×C probability matrix is never formed (for CLIP).

// Reading probe folders, caching on disk and running jobs need a file system: native only.
#[cfg(not(target_arch = "wasm32"))]
pub mod cache;
pub mod clip_image;
#[cfg(not(target_arch = "wasm32"))]
pub mod job;
pub mod matcher;
#[cfg(not(target_arch = "wasm32"))]
mod pipeline;
pub mod probe;
pub mod published;
pub mod replicate;
pub mod tables;
pub mod tokenizer;
pub mod wpmi;

#[cfg(not(target_arch = "wasm32"))]
pub use pipeline::{dissect, DissectOptions, DissectionRun, TargetModel, Timings};

use anyhow::{ensure, Result};

#[cfg(not(target_arch = "wasm32"))]
use tables::ConceptSetRecord;

use crate::files::sha256_hex;

/// A concept set: one concept per non-empty line (CLIP-Dissect drops empty lines).
#[derive(Debug, Clone)]
pub struct ConceptSet {
    pub name: String,
    pub sha256: String,
    pub concepts: Vec<String>,
    /// One category per concept, where the set defines them.
    pub categories: Option<Vec<Option<String>>>,
}

impl ConceptSet {
    /// One concept per non-empty line; a line `concept<TAB>category` gives the concept a category (a set has
    /// categories only if every line has one). None of CLIP-Dissect's shipped sets has categories: its
    /// `broden_labels_clean.txt` keeps only the label names of Broden.
    pub fn from_text(name: &str, text: &str) -> Result<ConceptSet> {
        let lines: Vec<&str> = text
            .split('\n')
            .map(|l| l.trim_end_matches('\r'))
            .filter(|l| !l.is_empty())
            .collect();
        ensure!(!lines.is_empty(), "concept set `{name}` has no concepts");
        let split: Vec<(&str, Option<&str>)> = lines
            .iter()
            .map(|l| match l.split_once('\t') {
                Some((concept, category)) => (concept, Some(category)),
                None => (*l, None),
            })
            .collect();
        let with_category = split.iter().filter(|(_, c)| c.is_some()).count();
        ensure!(
            with_category == 0 || with_category == split.len(),
            "concept set `{name}`: {with_category} of {} lines have a <TAB>category; give one for every line or none",
            split.len()
        );
        Ok(ConceptSet {
            name: name.to_string(),
            sha256: sha256_hex(text.as_bytes()),
            concepts: split.iter().map(|(c, _)| c.to_string()).collect(),
            categories: (with_category > 0)
                .then(|| split.iter().map(|(_, c)| c.map(String::from)).collect()),
        })
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_path(path: &std::path::Path) -> Result<ConceptSet> {
        use anyhow::Context;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read concept set {}", path.display()))?;
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("concepts");
        Self::from_text(name, &text)
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn record(&self) -> ConceptSetRecord {
        ConceptSetRecord {
            name: self.name.clone(),
            sha256: self.sha256.clone(),
            n_concepts: self.concepts.len(),
            has_categories: self.categories.is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concept_sets_drop_empty_lines_and_read_categories() {
        let plain = ConceptSet::from_text("p", "dog\ncat\n\n").unwrap();
        assert_eq!(plain.concepts, ["dog", "cat"]);
        assert!(plain.categories.is_none());
        let cats = ConceptSet::from_text("c", "sky\tscene\nred\tcolor\n").unwrap();
        assert_eq!(cats.concepts, ["sky", "red"]);
        assert_eq!(
            cats.categories.unwrap(),
            [Some("scene".to_string()), Some("color".to_string())]
        );
        assert!(ConceptSet::from_text("mixed", "sky\tscene\nred\n").is_err());
        assert!(ConceptSet::from_text("empty", "\n\n").is_err());
    }
}
