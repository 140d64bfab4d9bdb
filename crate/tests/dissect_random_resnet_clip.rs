//! The full CLIP-Dissect pipeline on the real graph structures it is meant for: ResNet18 (ImageNet and Places365
//! variants; `layer2`, `layer3`, `layer4` pooled outputs) with CLIP ViT-B/16 image and text encoders, all made by
//! `python models/export.py --random-weights --batch 8 --out DIR` (no pretrained weights can be had here). The
//! labels of random networks mean nothing: this checks structure, shapes, caching and timing, nothing else.
//!
//! Run: `GLASSBOX_RANDOM_MODELS=DIR cargo test --test integration dissect_random_resnet_clip:: -- --ignored --nocapture`.

use crate::dissect_common;
use crate::support;

use std::path::PathBuf;

use dissect_common::require;
use glassbox::dissect::job::{run_job, DissectJob, MatcherSpec, TargetSpec};
use glassbox::dissect::tables::summarize;
use glassbox::dissect::wpmi::SoftWpmiParams;
use glassbox::engine::EngineKind;
use glassbox::progress::Silent;

const PROBE_IMAGES: usize = 8;
/// Broden labels used (two text batches keep the text encoder's share of the run small).
const N_CONCEPTS: usize = 16;

fn models_dir() -> PathBuf {
    let dir = std::env::var_os("GLASSBOX_RANDOM_MODELS")
        .expect("set GLASSBOX_RANDOM_MODELS to the output folder of `models/export.py --random-weights --batch 8`");
    require(PathBuf::from(dir))
}

fn job(target: &str, concepts: PathBuf, cache: PathBuf, max_images: usize) -> DissectJob {
    let dir = models_dir();
    DissectJob {
        target: TargetSpec {
            name: format!("{target}_RANDOM"),
            path: require(dir.join(format!("{target}_b8.json"))),
            preprocessing: None,
            weights: "RANDOM (models/export.py --random-weights): labels mean nothing".into(),
            layers: vec!["layer2".into(), "layer3".into(), "layer4".into()],
            also_cached: vec![],
        },
        matcher: MatcherSpec::Clip {
            name: "CLIP ViT-B/16 RANDOM weights".into(),
            image_onnx: require(dir.join("clip_vit_b16_image_b8.onnx")),
            text_onnx: require(dir.join("clip_vit_b16_text_b8.onnx")),
            bpe_vocab: require(support::data_dir().join("clip/bpe_simple_vocab_16e6.txt.gz")),
        },
        probe_dir: require(support::data_dir().join("imagenet-probe-1000")),
        probe_name: None,
        probe_every: None,
        max_images: Some(max_images),
        concept_set: concepts,
        params: SoftWpmiParams {
            top_k: 4,
            ..Default::default()
        },
        top_images: 3,
        cache_dir: Some(cache),
        batch: None,
        published: None,
        replicate: None,
    }
}

#[test]
#[ignore = "needs the graphs of `models/export.py --random-weights` in $GLASSBOX_RANDOM_MODELS"]
fn resnet18_with_clip_end_to_end() {
    let work = std::env::temp_dir().join(format!("glassbox-dissect-random-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let broden = std::fs::read_to_string(require(
        support::data_dir().join("concepts/broden_labels_clean.txt"),
    ))
    .unwrap();
    let concepts = work.join("broden_subset.txt");
    std::fs::write(
        &concepts,
        broden
            .lines()
            .take(N_CONCEPTS)
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
    let cache = work.join("cache");

    let mut tables = Vec::new();
    for (i, target) in ["resnet18_imagenet1k_v1", "resnet18_places365"]
        .iter()
        .enumerate()
    {
        let run = pollster::block_on(run_job(
            &job(target, concepts.clone(), cache.clone(), PROBE_IMAGES),
            EngineKind::Tract,
            &Silent,
        ))
        .unwrap();
        let t = &run.timings;
        println!(
            "{target}: {} images, decode {:.1}s, ResNet18 activations {}, CLIP image embedding {}, soft_wpmi {:.2}s",
            t.images_processed,
            t.decode_s,
            t.rate(t.target_s),
            t.rate(t.matcher_s),
            t.wpmi_s
        );
        assert_eq!(t.images_processed, PROBE_IMAGES);
        if i == 1 {
            // Same CLIP graph and probe set: the image embeddings come from the cache.
            assert_eq!(
                t.matcher_s, 0.0,
                "CLIP image embeddings were recomputed instead of read from the cache"
            );
        }
        for (table, units) in run.tables.iter().zip([128, 256, 512]) {
            assert_eq!(table.units.len(), units, "{}", table.layer);
            assert_eq!(table.probe.n_images, PROBE_IMAGES);
            assert_eq!(table.concept_set.n_concepts, N_CONCEPTS);
            assert_eq!(table.matcher.kind, "clip");
            assert!(table.model.weights.starts_with("RANDOM"));
            for u in &table.units {
                assert!(u.similarity.is_finite());
                assert_eq!(u.top_images.len(), 3);
                assert!(u
                    .top_images
                    .windows(2)
                    .all(|w| w[0].activation >= w[1].activation));
            }
        }
        tables.extend(run.tables);
    }
    // A different probe set (the first 4 images) never reuses the cached activations or embeddings.
    let fewer = pollster::block_on(run_job(
        &job("resnet18_imagenet1k_v1", concepts, cache, PROBE_IMAGES - 4),
        EngineKind::Tract,
        &Silent,
    ))
    .unwrap();
    assert_eq!(fewer.timings.images_processed, PROBE_IMAGES - 4);
    assert_eq!(fewer.tables[0].probe.n_images, PROBE_IMAGES - 4);

    let summary = summarize(&tables);
    assert_eq!(summary.models.len(), 2);
    assert_eq!(summary.pairs.len(), 1);
    println!(
        "summary: {}",
        serde_json::to_string(&summary.pairs[0]).unwrap()
    );
    std::fs::remove_dir_all(work).unwrap();
}
