//! The published-label check compares like with like: CLIP-Dissect's published labels of the Places365
//! ResNet-18 (`resnet18_places_imagenet_broden.csv`: `<model>_<probe set>`, probed on ImageNet val + Broden) are
//! lines of the 20k concept set, so the real run compares them with its 20k dissection of layer2/3/4.

use crate::support;

use std::collections::HashSet;

use glassbox::dissect::published::{compare, PublishedLabels};
use glassbox::dissect::tables::DissectionTable;
use ndarray::Array1;

fn published() -> PublishedLabels {
    PublishedLabels::from_csv_path(
        &support::data_dir()
            .join("clip-dissect-results/CLIP_Dissect_results/resnet18_places_imagenet_broden.csv"),
    )
    .unwrap()
}

#[test]
fn the_published_layer2_to_4_labels_are_20k_concepts() {
    let concepts = std::fs::read_to_string(support::data_dir().join("concepts/20k.txt")).unwrap();
    let concepts: HashSet<&str> = concepts.lines().collect();
    let broden =
        std::fs::read_to_string(support::data_dir().join("concepts/broden_labels_clean.txt"))
            .unwrap();
    let broden: HashSet<&str> = broden.lines().collect();
    let labels = published();
    let mut total = 0;
    let mut in_broden = 0;
    for layer in ["layer2", "layer3", "layer4"] {
        for label in labels.by_layer[layer].values() {
            assert!(
                concepts.contains(label.as_str()),
                "{layer}: `{label}` is not a line of 20k.txt"
            );
            in_broden += usize::from(broden.contains(label.as_str()));
            total += 1;
        }
    }
    println!("{total} published layer2-4 labels, all in 20k.txt; {in_broden} are Broden concepts");
    assert_eq!(total, 128 + 256 + 512);
    // Against the Broden concepts, agreement could not exceed this share: the old, unlike comparison.
    assert!(in_broden < total / 3, "{in_broden} of {total}");
}

/// A hand-made 20k table of layer3 that takes the published label for every 4th unit and a 20k concept the
/// published table never uses for the others: the check counts exactly those units, beside its chance level.
#[test]
fn the_check_counts_equal_labels_on_a_20k_table() {
    let labels = published();
    let layer3 = &labels.by_layer["layer3"];
    let used: HashSet<&String> = layer3.values().collect();
    let concepts = std::fs::read_to_string(support::data_dir().join("concepts/20k.txt")).unwrap();
    let unused: Vec<&str> = concepts
        .lines()
        .filter(|c| !used.contains(&c.to_string()))
        .take(layer3.len())
        .collect();
    let ours: Vec<&str> = (0..layer3.len())
        .map(|unit| {
            if unit % 4 == 0 {
                layer3[&unit].as_str()
            } else {
                unused[unit]
            }
        })
        .collect();
    let mut table: DissectionTable = serde_json::from_value(serde_json::json!({
        "model": {"name": "resnet18_places365", "file": "m.onnx", "sha256": "00", "weights": "hand-made"},
        "layer": "layer3",
        "probe": {"folder": "p", "n_images": 1, "fingerprint": "f"},
        "concept_set": {"name": "20k", "sha256": "s", "n_concepts": 20000, "has_categories": false},
        "matcher": {"kind": "clip", "model": "m", "sha256": [], "method": "x"},
        "similarity_fn": "soft_wpmi",
        "params": {},
        "units": ours.iter().enumerate().map(|(unit, c)| serde_json::json!({
            "unit": unit, "concept": c, "concept_index": 0, "similarity": 1.0, "top_images": []
        })).collect::<Vec<_>>(),
    }))
    .unwrap();
    // Embeddings: a label's own axis (hash of its text), so equal labels have cosine 1 and others 0.
    let embedding = |label: &str| {
        let mut v = Array1::<f32>::zeros(64);
        v[label
            .bytes()
            .fold(7usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize))
            % 64] = 1.0;
        Some(v)
    };
    let agreement = compare(
        &table.labelled_layer(),
        &labels,
        "published 20k labels",
        &embedding,
    )
    .unwrap()
    .expect("layer3 is published");
    assert_eq!(agreement.units_compared, 256);
    assert_eq!(agreement.same_label, 64);
    assert!((agreement.same_label_share - 0.25).abs() < 1e-12);
    assert!(
        agreement.chance_same_label_share < 0.05,
        "{}",
        agreement.chance_same_label_share
    );
    assert!(agreement.mean_text_similarity >= 0.25 - 1e-6);
    table.layer = "fc".into();
    assert!(
        compare(&table.labelled_layer(), &labels, "x", &embedding)
            .unwrap()
            .is_none(),
        "no published fc layer"
    );
}
