//! Helpers shared by the dissection integration tests: where the shared data and the fixtures are.

use std::path::PathBuf;

use glassbox::dissect::job::{DissectJob, MatcherSpec, TargetSpec};
use glassbox::dissect::wpmi::SoftWpmiParams;
use glassbox::model::Preprocessing;

use crate::support;

pub fn fixtures() -> PathBuf {
    support::repo_dir().join("tests/fixtures/dissect")
}

/// The shared data is required: a missing folder is a setup error, not a reason to pass.
pub fn require(path: PathBuf) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing: put shared/data next to the repository or set GLASSBOX_SHARED",
        path.display()
    );
    path
}

fn tf_slim(size: u32) -> Preprocessing {
    Preprocessing::CentralCrop {
        central_fraction: 0.875,
        size,
        offset: 128.0,
        scale: 1.0 / 128.0,
    }
}

/// The job the precomputed tables come from (`cargo run --example precompute_dissect`).
pub fn mobilenet_job(
    max_images: Option<usize>,
    cache_dir: Option<std::path::PathBuf>,
) -> DissectJob {
    let models = require(support::data_dir().join("models/mobilenet_onnx"));
    DissectJob {
        target: TargetSpec {
            name: "mobilenet_v1_0.75_192".into(),
            path: models.join("mobilenet_v1_0.75_192_b8.onnx"),
            preprocessing: Some(tf_slim(192)),
            weights: "pretrained ImageNet (TF-slim MobileNet v1 0.75 192, dequantized float)"
                .into(),
            layers: vec!["logits".into(), "features".into()],
        },
        matcher: MatcherSpec::Classifier {
            name: "mobilenet_v2_1.0_224 (classifier as concept matcher, not CLIP)".into(),
            path: models.join("mobilenet_v2_1.0_224_b8.onnx"),
            preprocessing: Some(tf_slim(224)),
            logits_output: "logits".into(),
            class_offset: 1,
        },
        probe_dir: require(support::data_dir().join("imagenet-probe-1000")),
        max_images,
        concept_set: require(support::data_dir().join("concepts/imagenet_labels.txt")),
        params: SoftWpmiParams::default(),
        top_images: 5,
        cache_dir,
        batch: None,
    }
}
