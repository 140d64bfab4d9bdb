//! D1: the dissection findings, from the tables `glassbox dissect` writes (`precomputed/dissect/*.json`).
//!
//! Two steps, like the rest of the report: [`findings`] reads the tables (summarised through
//! [`summarize`]) into [`DissectionFindings`] and draws the pictures of top probe images, in the analyse
//! step; [`section`] writes the Markdown and charts from the findings alone. So the section always
//! describes exactly the tables that were read, with their provenance: which model and weights, which
//! concept matcher (CLIP or a stand-in), which probe set. When there are no tables the section says so
//! instead of inventing findings.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::chart::{self, BarChart, BarSeries, Chart};
use super::data::{
    DissectedLayer, DissectionFindings, LayerConcepts, ModelConcepts, ReplicatedLayer,
    TopImagesPicture,
};
use super::markdown::Table;
use super::panels;
use crate::dissect::published::PublishedAgreement;
use crate::dissect::replicate::{Metric, METRICS};
use crate::dissect::tables::{summarize, table_stem, ConceptCount, DissectionTable};
use crate::preprocess::{self, ImageLimits};

/// The D1 section, a short summary for `results.md`, and the charts drawn.
pub struct Section {
    pub markdown: String,
    pub summary: String,
    pub figures: Vec<PathBuf>,
}

/// Concepts shown per layer in the histogram figure.
const HISTOGRAM_CONCEPTS: usize = 15;
/// Neurons whose top images are shown per layer (one per most frequent concept).
const EXAMPLE_NEURONS: usize = 4;
const THUMBNAIL: u32 = 96;

/// Every dissection table (`*.json` except `summary.json`) in `dir`, sorted by file name.
pub fn read_tables(dir: &Path) -> Result<Vec<DissectionTable>> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|e| e == "json")
                    && p.file_name().is_some_and(|n| n != "summary.json")
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{} is not a dissection table", path.display()))
        })
        .collect()
}

/// Units of a final (logit) layer labelled with their own class: unit `k` is class `k − offset`, where the
/// offset is the number of extra leading logits (1 for TF-slim's background class). `None` when the layer
/// is not a logit layer over the concept set.
pub fn own_class_units(table: &DissectionTable) -> Option<usize> {
    let offset = table
        .units
        .len()
        .checked_sub(table.concept_set.n_concepts)?;
    (table.layer == "logits" && offset <= 1).then(|| {
        table
            .units
            .iter()
            .filter(|u| u.concept_index + offset == u.unit)
            .count()
    })
}

/// The first name of a WordNet-style label ("tabby, tabby cat" → "tabby").
fn short(concept: &str) -> &str {
    concept.split(',').next().unwrap_or(concept).trim()
}

/// Reads the tables of `dissect_dir` (and of its `replication/` folder) into D1's findings, drawing the
/// pictures of top probe images into `fig_dir` when the probe images are in `shared_data/<probe folder>/`.
pub fn findings(
    dissect_dir: &Path,
    shared_data: &Path,
    fig_dir: &Path,
) -> Result<DissectionFindings> {
    let tables = read_tables(dissect_dir)?;
    let summary = summarize(&tables);
    let mut layers = Vec::new();
    for table in &tables {
        let layer = summary
            .models
            .iter()
            .find(|m| m.model.name == table.model.name)
            .and_then(|m| m.layers.iter().find(|l| l.layer == table.layer))
            .expect("summarize covers every table");
        let stem = table_stem(&table.model.name, &table.layer);
        layers.push(DissectedLayer {
            model: table.model.clone(),
            layer: table.layer.clone(),
            units: layer.n_units,
            distinct_concepts: layer.distinct_concepts,
            probe: table.probe.clone(),
            concept_set: table.concept_set.clone(),
            matcher: table.matcher.clone(),
            own_class_units: own_class_units(table),
            top_concepts: layer
                .histogram
                .iter()
                .take(HISTOGRAM_CONCEPTS)
                .cloned()
                .collect(),
            published: table.published.clone(),
            top_images: top_images_figure(table, &layer.histogram, shared_data, fig_dir, &stem)?,
        });
    }
    let replications = read_tables(&dissect_dir.join("replication"))?
        .into_iter()
        .filter_map(|table| {
            Some(ReplicatedLayer {
                replication: table.replication?,
                model: table.model.name,
                layer: table.layer,
                concept_set: table.concept_set.name,
                probe: table.probe,
            })
        })
        .collect();
    Ok(DissectionFindings {
        dir: dissect_dir.to_path_buf(),
        layers,
        replications,
        models: summary
            .models
            .iter()
            .map(|m| ModelConcepts {
                model: m.model.name.clone(),
                layers: m
                    .layers
                    .iter()
                    .map(|l| LayerConcepts {
                        layer: l.layer.clone(),
                        units: l.n_units,
                        distinct_concepts: l.distinct_concepts,
                    })
                    .collect(),
                distinct_concepts: m.distinct_concepts,
            })
            .collect(),
        pairs: summary.pairs,
        concept_sets_without_categories: summary.concept_sets_without_categories,
    })
}

/// Writes D1 from its findings, drawing its charts into `fig_dir` (under `warning`, the run's provenance
/// warning, when there is one).
pub fn section(d1: &DissectionFindings, fig_dir: &Path, warning: Option<&str>) -> Result<Section> {
    let mut md = String::from("# D1: Dissection findings (CLIP-Dissect, soft-WPMI)\n\n");
    if d1.layers.is_empty() {
        let note = format!(
            "No dissection tables were found in `{}` when this report ran, so this run has no D1 findings. \
             Run `glassbox dissect --job …` (which writes them there) and then `glassbox report` again.",
            d1.dir.display()
        );
        md.push_str(&note);
        md.push('\n');
        return Ok(Section {
            markdown: md,
            summary: note,
            figures: Vec::new(),
        });
    }
    let mut figures = Vec::new();

    md.push_str("## What made these tables\n\n");
    let mut t = Table::new(&[
        "model",
        "weights",
        "layer",
        "units",
        "probe images",
        "concept set",
        "concept matcher",
    ]);
    for layer in &d1.layers {
        t.row(vec![
            format!("`{}`", layer.model.name),
            layer.model.weights.clone(),
            format!("`{}`", layer.layer),
            layer.units.to_string(),
            format!(
                "{} (`{}`{})",
                layer.probe.n_images,
                layer.probe.folder,
                if layer.probe.subset.is_empty() {
                    String::new()
                } else {
                    format!(": {}", layer.probe.subset)
                }
            ),
            format!(
                "`{}` ({})",
                layer.concept_set.name, layer.concept_set.n_concepts
            ),
            layer.matcher.model.clone(),
        ]);
    }
    md.push_str(&t.render());
    if d1.layers.iter().any(|l| l.matcher.kind != "clip") {
        md.push_str(
            "\n**Not CLIP.** Tables whose matcher is a classifier use its class probabilities as \
             P(concept | image), concepts = its class names: the CLIP-Dissect pipeline with a stand-in for \
             CLIP, because CLIP weights cannot be had where these were made. They are not ResNet18 + CLIP \
             results.\n",
        );
    }

    md.push_str("\n## Which concepts the neurons learn\n\n");
    let mut headline = Vec::new();
    for layer in &d1.layers {
        md.push_str(&format!(
            "### `{}` / `{}`: {} units, {} distinct concepts\n\n",
            layer.model.name, layer.layer, layer.units, layer.distinct_concepts
        ));
        let n_concepts = layer.concept_set.n_concepts;
        if let Some(own) = layer.own_class_units {
            md.push_str(&format!(
                "CLIP-Dissect's final-layer check: **{own} of {n_concepts} logit units ({:.1}%) are labelled with their own \
                 class** (chance: {:.2}%).\n\n",
                100.0 * own as f64 / n_concepts as f64,
                100.0 / n_concepts as f64,
            ));
            headline.push(format!(
                "`{}` logits: {own}/{n_concepts} own class",
                layer.model.name
            ));
        }
        let top = &layer.top_concepts;
        let covered: usize = top.iter().map(|c| c.units).sum();
        md.push_str(&format!(
            "The {} most frequent concepts label {covered} of the {} units ({:.0}%): {}.\n\n",
            top.len(),
            layer.units,
            100.0 * covered as f64 / layer.units.max(1) as f64,
            top.iter()
                .take(8)
                .map(|c| format!("{} ({})", short(&c.concept), c.units))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let stem = table_stem(&layer.model.name, &layer.layer);
        let groups: Vec<String> = top.iter().map(|c| short(&c.concept).to_string()).collect();
        let max = top.first().map_or(1, |c| c.units) as f64;
        let svg = chart::svg(
            &[Chart::Bar(BarChart {
                title: format!(
                    "{} / {}: units per concept (top {})",
                    layer.model.name,
                    layer.layer,
                    top.len()
                ),
                y_label: "Units".into(),
                groups,
                y_range: 0.0..max * 1.15,
                series: vec![BarSeries {
                    name: "units labelled".into(),
                    values: top.iter().map(|c| Some(c.units as f64)).collect(),
                }],
            })],
            warning,
        )?;
        let fig = format!("d1_{stem}_concepts.svg");
        let path = fig_dir.join(&fig);
        std::fs::write(&path, svg).with_context(|| format!("cannot write {}", path.display()))?;
        md.push_str(&format!("![{stem} concepts](fig/{fig})\n\n"));
        figures.push(path);

        if let Some(picture) = &layer.top_images {
            md.push_str(&format!(
                "The most activating probe images of the best-matching unit of each of the {EXAMPLE_NEURONS} most \
                 frequent concepts, one row each: {}.\n\n![{stem} top images]({})\n\n",
                picture.rows.join("; "),
                picture.file
            ));
        }
    }

    md.push_str(&published_section(&d1.layers, &mut headline));
    md.push_str(&replication_section(&d1.replications, &mut headline));

    md.push_str("## Comparing the models\n\n");
    let mut t = Table::new(&["model", "layers", "units", "distinct concepts (all layers)"]);
    for m in &d1.models {
        t.row(vec![
            format!("`{}`", m.model),
            m.layers
                .iter()
                .map(|l| format!("{} ({})", l.layer, l.distinct_concepts))
                .collect::<Vec<_>>()
                .join(", "),
            m.layers.iter().map(|l| l.units).sum::<usize>().to_string(),
            m.distinct_concepts.to_string(),
        ]);
        headline.push(format!(
            "`{}`: {} distinct concepts",
            m.model, m.distinct_concepts
        ));
    }
    md.push_str(&t.render());
    for p in &d1.pairs {
        let list = |v: &[String]| {
            v.iter()
                .take(12)
                .map(|c| short(c).to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        md.push_str(&format!(
            "\n`{}` and `{}` share {} concepts; {} are used only by `{}` (e.g. {}), {} only by `{}` (e.g. {}).\n",
            p.models[0],
            p.models[1],
            p.shared.len(),
            p.unique_to_first.len(),
            p.models[0],
            list(&p.unique_to_first),
            p.unique_to_second.len(),
            p.models[1],
            list(&p.unique_to_second),
        ));
    }
    if !d1.concept_sets_without_categories.is_empty() {
        md.push_str(&format!(
            "\nConcept categories (object, scene, texture, colour, part): the concept set(s) {} carry none, so \
             no category counts are given; a concept file with `concept<TAB>category` lines gets them.\n",
            d1.concept_sets_without_categories
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(Section {
        markdown: md,
        summary: format!(
            "{} tables from `{}`: {}. See [D1](d1_dissection.md).",
            d1.layers.len(),
            d1.dir.display(),
            headline.join("; ")
        ),
        figures,
    })
}

/// Agreement with the labels CLIP-Dissect published for the same model and layers: the truth check of
/// the dissection (real weights should agree far above chance; random ones sit at chance).
fn published_section(layers: &[DissectedLayer], headline: &mut Vec<String>) -> String {
    let compared: Vec<(&DissectedLayer, &PublishedAgreement)> = layers
        .iter()
        .filter_map(|l| l.published.as_ref().map(|p| (l, p)))
        .collect();
    let Some((_, first)) = compared.first() else {
        return String::new();
    };
    let mut md = format!(
        "## Agreement with the published labels\n\n{} (`{}`), compared unit by unit with our labels of the same \
         layers (same concept set). Chance: labels drawn independently from each table's own label \
         frequencies; the chance text similarity is the mean over all pairs of units.\n\n",
        first.description, first.source
    );
    let mut t = Table::new(&[
        "model",
        "layer",
        "units",
        "same label",
        "chance",
        "mean CLIP text similarity",
        "chance similarity",
    ]);
    for (layer, p) in &compared {
        t.row(vec![
            format!("`{}`", layer.model.name),
            format!("`{}`", layer.layer),
            p.units_compared.to_string(),
            format!("{} ({:.1}%)", p.same_label, 100.0 * p.same_label_share),
            format!("{:.1}%", 100.0 * p.chance_same_label_share),
            format!("{:.3}", p.mean_text_similarity),
            format!("{:.3}", p.chance_text_similarity),
        ]);
        headline.push(format!(
            "`{}` {}: {:.1}% of labels equal the published ones (chance {:.1}%)",
            layer.model.name,
            layer.layer,
            100.0 * p.same_label_share,
            100.0 * p.chance_same_label_share
        ));
    }
    md.push_str(&t.render());
    let above = compared
        .iter()
        .filter(|(_, p)| p.same_label_share > 2.0 * p.chance_same_label_share)
        .count();
    md.push_str(&format!(
        "\n{above} of {} layers agree with the published labels more than twice as often as chance.\n\n",
        compared.len()
    ));
    md
}

/// CLIP-Dissect's own final-layer tables replicated on this run (`<dissect>/replication/`, the jobs with
/// `replicate`), each number beside the published one and a random ranking's.
fn replication_section(replicated: &[ReplicatedLayer], headline: &mut Vec<String>) -> String {
    if replicated.is_empty() {
        return String::new();
    }
    let mut md = String::from(
        "## CLIP-Dissect's own tables, replicated

The final layer's neurons are classes, so a right \
         label is known: the notebooks' protocol run on this run's tables (top-k accuracy: the class among the \
         neuron's k best concepts; similarity: mean CLIP ViT-B/16 text cosine of the best concept and the class \
         name). Published: the notebooks' saved outputs, on their probe set; chance: a random ranking of the \
         concepts. mpnet similarity is published only (all-mpnet-base-v2 is not run here).\n\n",
    );
    let mut t = Table::new(&[
        "table",
        "model / concepts",
        "our probe set",
        "metric",
        "ours",
        "published",
        "chance",
    ]);
    let format = |v: Option<f64>, percent: bool| match v {
        Some(x) if percent => format!("{x:.2}%"),
        Some(x) => format!("{x:.4}"),
        None => "—".into(),
    };
    for layer in replicated {
        let r = &layer.replication;
        for Metric { name, percent, get } in &METRICS {
            if get(&r.ours).is_none() && get(&r.published).is_none() {
                continue;
            }
            t.row(vec![
                r.source.clone(),
                format!(
                    "`{}` `{}` / `{}`",
                    layer.model, layer.layer, layer.concept_set
                ),
                format!(
                    "{} images{}",
                    layer.probe.n_images,
                    if layer.probe.subset.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", layer.probe.subset)
                    }
                ),
                name.to_string(),
                format(get(&r.ours), *percent),
                format!(
                    "{} ({})",
                    format(get(&r.published), *percent),
                    r.published_probe
                ),
                format(get(&r.chance), *percent),
            ]);
        }
        if let (Some(ours), Some(published)) = (r.ours.top1, r.published.top1) {
            headline.push(format!(
                "`{}` fc top-1 {ours:.1}% (published {published:.1}%, chance {:.1}%)",
                layer.model,
                r.chance.top1.unwrap_or(0.0)
            ));
        }
    }
    md.push_str(&t.render());
    md.push('\n');
    md
}

/// For each of the most frequent concepts, the unit labelled with it that matches best, and a row of
/// its top probe images, drawn into `fig_dir`. `None` when the probe images are not on this machine.
fn top_images_figure(
    table: &DissectionTable,
    histogram: &[ConceptCount],
    shared_data: &Path,
    fig_dir: &Path,
    stem: &str,
) -> Result<Option<TopImagesPicture>> {
    let probe_dir = shared_data.join(&table.probe.folder);
    if !probe_dir.is_dir() {
        return Ok(None);
    }
    let mut rows = Vec::new();
    let mut captions = Vec::new();
    for ConceptCount { concept, .. } in histogram.iter().take(EXAMPLE_NEURONS) {
        let Some(unit) = table
            .units
            .iter()
            .filter(|u| &u.concept == concept)
            .max_by(|a, b| a.similarity.total_cmp(&b.similarity))
        else {
            continue;
        };
        let mut row = Vec::new();
        for img in &unit.top_images {
            let picture = preprocess::load(&probe_dir.join(&img.id), &ImageLimits::default())?;
            row.push(image::imageops::resize(
                &picture,
                THUMBNAIL,
                THUMBNAIL,
                image::imageops::FilterType::Triangle,
            ));
        }
        rows.push(panels::strip(&row));
        captions.push(format!("unit {} ({})", unit.unit, short(concept)));
    }
    if rows.is_empty() {
        return Ok(None);
    }
    let file = format!("d1_{stem}_top_images.png");
    let path = fig_dir.join(&file);
    std::fs::write(&path, crate::render::png_rgb(&panels::stack(&rows))?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(Some(TopImagesPicture {
        file: format!("fig/{file}"),
        rows: captions,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissect::matcher::MatcherInfo;
    use crate::dissect::tables::{ConceptSetRecord, ModelRecord, ProbeRecord, UnitLabel};
    use crate::dissect::wpmi::SoftWpmiParams;

    fn logits_table(labels: &[usize], n_concepts: usize) -> DissectionTable {
        DissectionTable {
            model: ModelRecord {
                name: "m".into(),
                file: "m.onnx".into(),
                sha256: "00".into(),
                weights: "w".into(),
            },
            layer: "logits".into(),
            probe: ProbeRecord {
                folder: "p".into(),
                n_images: 1,
                fingerprint: "f".into(),
                description: String::new(),
                subset: String::new(),
            },
            concept_set: ConceptSetRecord {
                name: "c".into(),
                sha256: "s".into(),
                n_concepts,
                has_categories: false,
            },
            matcher: MatcherInfo {
                kind: "classifier".into(),
                model: "x".into(),
                sha256: vec![],
                method: "x".into(),
            },
            similarity_fn: "soft_wpmi".into(),
            params: SoftWpmiParams::default(),
            units: labels
                .iter()
                .enumerate()
                .map(|(unit, &concept_index)| UnitLabel {
                    unit,
                    concept: format!("c{concept_index}"),
                    concept_index,
                    category: None,
                    similarity: 1.0,
                    top_images: vec![],
                    top_concepts: vec![],
                })
                .collect(),
            published: None,
            replication: None,
        }
    }

    #[test]
    fn own_class_counts_follow_the_background_offset() {
        // Three classes, no background: units 0 and 2 carry their own class.
        assert_eq!(own_class_units(&logits_table(&[0, 0, 2], 3)), Some(2));
        // A background logit first: unit k is class k − 1; units 1 and 3 carry their own class.
        assert_eq!(own_class_units(&logits_table(&[1, 0, 0, 2], 3)), Some(2));
        let mut features = logits_table(&[0, 1, 2], 3);
        features.layer = "features".into();
        assert_eq!(own_class_units(&features), None);
    }

    #[test]
    fn short_names_keep_the_first_synonym() {
        assert_eq!(short("tabby, tabby cat"), "tabby");
        assert_eq!(short("goldfish"), "goldfish");
    }
}
