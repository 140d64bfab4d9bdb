//! LIME's local surrogate against the real `lime` package: same sample matrix and model
//! probabilities in, same coefficients, intercept, score, local prediction and features out.
//! Fixtures: tests/reference/lime_reference.py ridge (MobileNet v2 probabilities via onnxruntime).

use crate::lime_support;

use glassbox::lime::ridge::{explain_label, kernel_weights, FeatureSelection};
use glassbox::lime::rng::Mt19937;
use glassbox::lime::sample::sample_matrix;
use lime_support::{fixtures, read_npy};
use ndarray::{Array2, Axis};
use serde_json::Value;

const RELATIVE: f64 = 1e-5;

fn close(ours: f64, theirs: f64, what: &str) {
    let tolerance = RELATIVE * theirs.abs().max(1e-12);
    assert!(
        (ours - theirs).abs() <= tolerance,
        "{what}: ours {ours:e}, lime {theirs:e}, relative difference {:e}",
        (ours - theirs).abs() / theirs.abs()
    );
}

#[test]
fn surrogate_equals_lime() {
    let cases: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("ridge/cases.json")).unwrap(),
    )
    .unwrap();
    for (i, case) in cases.as_array().unwrap().iter().enumerate() {
        let data: Array2<u8> = read_npy(&fixtures().join(format!("ridge/case{i}_data.npy")))
            .into_dimensionality()
            .unwrap();
        let targets: Array2<f32> = read_npy(&fixtures().join(format!("ridge/case{i}_targets.npy")))
            .into_dimensionality()
            .unwrap();

        // Same seed → the same perturbation matrix as lime drew.
        let mut rng = Mt19937::new(case["seed"].as_u64().unwrap() as u32);
        rng.randint(0, 1000);
        assert_eq!(
            sample_matrix(&mut rng, data.nrows(), data.ncols()),
            data,
            "case {i}: sample matrix"
        );

        let num_features = case["num_features"].as_u64().unwrap() as usize;
        let selection = match case["feature_selection"].as_str().unwrap() {
            "auto" => FeatureSelection::Auto,
            "highest_weights" => FeatureSelection::HighestWeights,
            "forward_selection" => FeatureSelection::ForwardSelection,
            other => panic!("unexpected selection {other}"),
        };
        let weights = kernel_weights(data.view(), 0.25);
        let mut worst: f64 = 0.0;
        for (k, expected) in case["labels"].as_array().unwrap().iter().enumerate() {
            let label = expected["label"].as_u64().unwrap() as usize;
            let y = targets.index_axis(Axis(1), k).mapv(|v| v as f64);
            let ours = explain_label(
                data.view(),
                y.view(),
                weights.view(),
                label,
                num_features,
                selection,
            );
            let what = format!("case {i} label {label}");
            close(
                ours.intercept,
                expected["intercept"].as_f64().unwrap(),
                &format!("{what} intercept"),
            );
            close(
                ours.score,
                expected["score"].as_f64().unwrap(),
                &format!("{what} score"),
            );
            close(
                ours.local_pred,
                expected["local_pred"].as_f64().unwrap(),
                &format!("{what} local_pred"),
            );
            let theirs: Vec<(usize, f64)> = expected["weights"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p[0].as_u64().unwrap() as usize, p[1].as_f64().unwrap()))
                .collect();
            // Same selected features, in the same order (sorted by |weight|), with the same weights.
            let our_features: Vec<usize> = ours.weights.iter().map(|w| w.feature).collect();
            let their_features: Vec<usize> = theirs.iter().map(|p| p.0).collect();
            assert_eq!(our_features, their_features, "{what}: selected features");
            for (ours, &(_, t)) in ours.weights.iter().zip(&theirs) {
                let (f, w) = (ours.feature, ours.weight);
                close(w, t, &format!("{what} coefficient of superpixel {f}"));
                worst = worst.max((w - t).abs() / t.abs());
            }
        }
        println!(
            "case {i} ({}, {} superpixels, num_features {num_features}, {:?}): worst relative coefficient difference {worst:.2e}",
            case["image"].as_str().unwrap(),
            data.ncols(),
            selection
        );
    }
}
