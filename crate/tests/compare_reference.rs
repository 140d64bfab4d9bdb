//! crate/src/compare against independent references: SciPy's `rankdata`/`spearmanr`, scikit-image's
//! `structural_similarity`, RISE's blur substrate (`gaussian_filter` kernel + zero-padded correlation) and
//! RISE's `auc()`. Inputs and expected outputs: tests/fixtures/compare/reference.json, made by
//! tests/reference/compare_reference.py.

use glassbox::compare::agreement::{average_ranks, spearman, ssim};
use glassbox::compare::faithfulness::{rise_blur, rise_blur_weights, trapezoid_auc};
use ndarray::{Array2, Array3};
use serde_json::Value;

fn reference() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/compare/reference.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("read reference.json"))
        .expect("parse reference.json")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn map(v: &Value) -> Array2<f32> {
    let rows: Vec<Vec<f64>> = v.as_array().unwrap().iter().map(floats).collect();
    Array2::from_shape_fn((rows.len(), rows[0].len()), |(r, c)| rows[r][c] as f32)
}

#[test]
fn average_ranks_equal_scipy_rankdata() {
    let r = reference();
    assert_eq!(
        average_ranks(&floats(&r["rank_input"])),
        floats(&r["rank_expected"])
    );
}

#[test]
fn spearman_equals_scipy_spearmanr_with_and_without_ties() {
    let r = reference();
    for case in r["spearman_cases"].as_array().unwrap() {
        let rho = spearman(map(&case["a"]).view(), map(&case["b"]).view())
            .unwrap()
            .unwrap();
        let expected = case["rho"].as_f64().unwrap();
        assert!((rho - expected).abs() < 1e-12, "{rho} vs scipy {expected}");
    }
}

#[test]
fn ssim_equals_skimage_structural_similarity() {
    let r = reference();
    for case in r["ssim_cases"].as_array().unwrap() {
        let s = ssim(map(&case["a"]).view(), map(&case["b"]).view(), 1.0).unwrap();
        let expected = case["ssim"].as_f64().unwrap();
        // The maps are f32 (skimage computes on the same f32 values promoted to f64): 1e-6 absolute.
        assert!((s - expected).abs() < 1e-6, "{s} vs skimage {expected}");
    }
}

#[test]
fn blur_substrate_equals_rise_gkern_and_conv2d() {
    let r = reference();
    let k = rise_blur_weights();
    let kernel = map(&r["blur_kernel_2d"]);
    for i in 0..11 {
        for j in 0..11 {
            assert!(
                (k[i] * k[j] - kernel[(i, j)] as f64).abs() < 1e-7,
                "kernel ({i},{j})"
            );
        }
    }
    let to3 = |v: &Value| {
        let planes: Vec<Array2<f32>> = v.as_array().unwrap().iter().map(map).collect();
        let (h, w) = planes[0].dim();
        Array3::from_shape_fn((planes.len(), h, w), |(c, y, x)| planes[c][(y, x)])
    };
    let blurred = rise_blur(to3(&r["blur_input"]).view());
    let expected = to3(&r["blur_expected"]);
    let max_diff = (&blurred - &expected)
        .iter()
        .fold(0.0f32, |m, d| m.max(d.abs()));
    assert!(max_diff < 1e-5, "max |diff| {max_diff}");
}

#[test]
fn trapezoid_auc_equals_rise_auc_on_even_steps() {
    let r = reference();
    let curve = floats(&r["auc_curve"]);
    let xs: Vec<f64> = (0..curve.len())
        .map(|i| i as f64 / (curve.len() - 1) as f64)
        .collect();
    let auc = trapezoid_auc(&xs, &curve);
    assert!((auc - r["auc_expected"].as_f64().unwrap()).abs() < 1e-12);
}
