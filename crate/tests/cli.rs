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

/// `glassbox explain` on the goldfish; `--engine cpu` unless `extra` names another (the library side of the
/// comparisons below is tract).
fn explain_cli(out: &Path, extra: &[&str]) -> std::process::Output {
    explain_cli_with_env(out, extra, &[])
}

fn explain_cli_with_env(out: &Path, extra: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let image = support::sample_images()[0].clone(); // goldfish
    let engine: &[&str] = if extra.contains(&"--engine") {
        &[]
    } else {
        &["--engine", "cpu"]
    };
    Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .envs(env.iter().copied())
        .args(["explain", "--model"])
        .arg(support::manifest("mobilenet_v2_1.0_224_b8"))
        .args(["--methods", "gradcam,lime", "--samples", SAMPLES, "--out"])
        .arg(out)
        .args(engine)
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
        glassbox::engine::EngineKind::Tract,
        None,
    ))
    .unwrap();
    let image = glassbox::preprocess::load(
        &support::sample_images()[0],
        &glassbox::preprocess::ImageLimits::default(),
    )
    .unwrap();
    let view = classifier.prepare(&image).view;
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

#[test]
fn engine_auto_says_what_it_picked_and_a_missing_onnxruntime_is_a_clear_error() {
    let out = std::env::temp_dir().join(format!("glassbox-cli-engine-{}", std::process::id()));
    let missing = [("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so.1.32.0")];
    // auto without a loadable onnxruntime: tract, and the reason.
    let run = explain_cli_with_env(&out, &["--engine", "auto"], &missing);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains("engine (auto): tract, because onnxruntime is not available")
            && stderr.contains("ORT_DYLIB_PATH names /nonexistent/libonnxruntime.so.1.32.0"),
        "{stderr}"
    );
    let summary = |out: &Path| -> serde_json::Value {
        let file = out.join("n01443537_goldfish/explanation.json");
        serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap()
    };
    assert_eq!(summary(&out)["engine"], "cpu (tract 0.23)");
    // Asked for by name, the same problem is an error that says what to do.
    let run = explain_cli_with_env(&out, &["--engine", "onnxruntime"], &missing);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("ORT_DYLIB_PATH names") && stderr.contains("--engine cpu"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Where onnxruntime is present (CI: the export venv's wheel), auto picks it.
    if support::onnxruntime_available("engine auto picks onnxruntime") {
        let run = explain_cli(&out, &["--engine", "auto"]);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(run.status.success(), "{stderr}");
        assert!(stderr.contains("engine (auto): onnxruntime"), "{stderr}");
        let engine = summary(&out)["engine"].as_str().unwrap().to_string();
        assert!(engine.starts_with("onnxruntime 1."), "{engine}");
    }
    std::fs::remove_dir_all(&out).ok();
}
