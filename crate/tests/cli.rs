//! The `glassbox` binary as users run it: `explain` with CAMs and LIME writes the files the README promises,
//! with the same numbers the library gives, and a bad `--target` is a clear error.

use std::path::Path;
use std::process::Command;

use crate::support;

use glassbox::explain;
use glassbox::lime::LimeParams;
use glassbox::model::{Classifier, Model};
use glassbox::progress::Silent;
use ndarray::Array2;

const SAMPLES: &str = "20";

fn explain_cli(out: &Path, extra: &[&str]) -> std::process::Output {
    let image = support::sample_images()[0].clone(); // goldfish
    Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(["explain", "--model"])
        .arg(support::manifest("mobilenet_v2_1.0_224_b8"))
        .args(["--methods", "gradcam,lime", "--samples", SAMPLES, "--out"])
        .arg(out)
        .args(extra)
        .arg(image)
        .output()
        .expect("the glassbox binary runs")
}

#[test]
fn explain_writes_cams_and_lime_equal_to_the_library() {
    let out = std::env::temp_dir().join(format!("glassbox-cli-{}", std::process::id()));
    let run = explain_cli(&out, &["--seed", "3", "--seeds", "2"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let dir = out.join("n01443537_goldfish");
    for file in [
        "gradcam.npy",
        "gradcam.png",
        "lime_segments.npy",
        "lime_mask.npy",
        "lime.png",
        "explanation.json",
    ] {
        assert!(dir.join(file).is_file(), "{file} was not written");
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("explanation.json")).unwrap()).unwrap();
    assert_eq!(
        summary["target"]["class"], 2,
        "goldfish is class 2 of the 1001"
    );
    let stability = &summary["methods"]["lime"]["stability"];
    assert_eq!(stability["seeds"], serde_json::json!([3, 4]));
    let iou = stability["mean_pairwise_iou"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&iou), "{iou}");

    // The first seed's mask is exactly what the library computes for the same view and seed.
    let model = Model::from_path(&support::manifest("mobilenet_v2_1.0_224_b8")).unwrap();
    let classifier = pollster::block_on(Classifier::load(
        model,
        glassbox::engine::EngineKind::Cpu,
        None,
    ))
    .unwrap();
    let image = glassbox::preprocess::load(
        &support::sample_images()[0],
        &glassbox::preprocess::ImageLimits::default(),
    )
    .unwrap();
    let (view, _) = classifier.prepare(&image);
    let params = LimeParams {
        num_samples: SAMPLES.parse().unwrap(),
        seed: 3,
        batch_size: 8,
        ..LimeParams::default()
    };
    let lime =
        pollster::block_on(explain::explain_lime(&classifier, &view, &params, &Silent)).unwrap();
    let mask: Array2<u8> = glassbox::npy::read::<u8>(&dir.join("lime_mask.npy"))
        .unwrap()
        .into_dimensionality()
        .unwrap();
    let segments: Array2<i32> = glassbox::npy::read::<i32>(&dir.join("lime_segments.npy"))
        .unwrap()
        .into_dimensionality()
        .unwrap();
    assert_eq!(segments, lime.segments);
    assert_eq!(mask, lime.mask_for(2).unwrap());
    // The mask is a union of whole superpixels, at most 5 of them.
    let mut chosen = std::collections::BTreeSet::new();
    for (&s, &m) in segments.iter().zip(&mask) {
        if m == 1 {
            chosen.insert(s);
        }
    }
    assert!(!chosen.is_empty() && chosen.len() <= 5, "{chosen:?}");
    for (&s, &m) in segments.iter().zip(&mask) {
        assert_eq!(
            m == 1,
            chosen.contains(&s),
            "superpixel {s} is split by the mask"
        );
    }
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn lime_for_a_class_it_did_not_explain_is_a_clear_error() {
    let out = std::env::temp_dir().join(format!("glassbox-cli-target-{}", std::process::id()));
    // Class 700 (paper towel) is nowhere near the goldfish's top 5.
    let run = explain_cli(&out, &["--target", "700"]);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("--target") && stderr.contains("700"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&out).ok();
}
