//! LIME end to end on the real MobileNet v2 (tract), against the real `lime` package running the
//! same model through onnxruntime (tests/fixtures/lime/agreement.json, made by
//! tests/reference/lime_reference.py agreement): our headline mask (top label, 5 positive superpixels)
//! must agree with lime's at least as well as lime agrees with itself across seeds.
//!
//! By default one image and two seeds (each run is 1000 forward passes); GLASSBOX_LIME_E2E=full runs
//! every image and seed of the fixture and prints the agreement table of tests/fixtures/lime/agreement.md.

use crate::lime_support;
use crate::support;

use glassbox::lime::{self, EnginePredictor, LimeParams};
use glassbox::numerics;
use glassbox::progress::Silent;
use lime_support::{cpu_engine, fixtures, load_segments, load_view};
use ndarray::Array2;
use serde_json::Value;

fn mask_of(segments: &Array2<i32>, features: &[usize]) -> Array2<u8> {
    segments.mapv(|s| features.contains(&(s as usize)) as u8)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

#[test]
fn lime_masks_agree_with_the_lime_package() {
    let model = support::data_dir().join("models/mobilenet_onnx/mobilenet_v2_1.0_224_b1.onnx");
    let engine = cpu_engine(&model);
    let predictor = EnginePredictor {
        engine: &engine,
        normalize: |v| lime::normalize_offset_scale(v, 128.0, 1.0 / 128.0),
        logits_output: 1,
    };
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("agreement.json")).unwrap())
            .unwrap();
    let full = std::env::var("GLASSBOX_LIME_E2E").is_ok_and(|v| v == "full");
    let images = reference["images"].as_object().unwrap();
    let n_images = if full { images.len() } else { 1 };
    let n_seeds = if full { usize::MAX } else { 2 };

    println!("| image | superpixels | label | ours vs lime, same seed | ours vs lime, other seeds | lime vs lime, other seeds | ours vs ours, other seeds |");
    println!("|---|---|---|---|---|---|---|");
    let (mut all_same, mut all_cross, mut all_lime) = (vec![], vec![], vec![]);
    for (stem, runs) in images.iter().take(n_images) {
        let view = load_view(stem);
        let skimage_segments = load_segments(stem);
        let runs: Vec<&Value> = runs.as_array().unwrap().iter().take(n_seeds).collect();
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        for run in &runs {
            let params = LimeParams {
                seed: run["seed"].as_u64().unwrap() as u32,
                batch_size: 8,
                ..Default::default()
            };
            let explanation =
                futures::executor::block_on(lime::explain(&predictor, &view, &params, &Silent))
                    .unwrap();
            assert_eq!(
                explanation.segments, skimage_segments,
                "{stem}: segments differ from skimage's"
            );
            assert_eq!(
                explanation.top_labels[0] as u64,
                run["label"].as_u64().unwrap(),
                "{stem}: top label"
            );
            let features: Vec<usize> = run["features"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_u64().unwrap() as usize)
                .collect();
            theirs.push(mask_of(&skimage_segments, &features));
            ours.push(explanation.top_mask.clone());
        }
        let k = runs.len();
        // Pixel IoU of two LIME masks; two empty masks agree.
        let mask_iou = |a: &Array2<u8>, b: &Array2<u8>| {
            numerics::iou(a.view(), b.view()).unwrap().unwrap_or(1.0)
        };
        let between = |a: &[Array2<u8>], b: &[Array2<u8>], same_seed: bool| -> Vec<f64> {
            let mut v = vec![];
            for (i, mask_a) in a.iter().enumerate().take(k) {
                for (j, mask_b) in b.iter().enumerate().take(k) {
                    if (i == j) == same_seed {
                        v.push(mask_iou(mask_a, mask_b));
                    }
                }
            }
            v
        };
        let within = |a: &[Array2<u8>]| -> Vec<f64> {
            let mut v = vec![];
            for i in 0..k {
                for j in i + 1..k {
                    v.push(mask_iou(&a[i], &a[j]));
                }
            }
            v
        };
        let same = between(&ours, &theirs, true);
        // README: our mask equals lime's for the same seed on every (image, seed) pair run.
        for (run, iou) in runs.iter().zip(&same) {
            assert_eq!(
                *iou, 1.0,
                "{stem}, seed {}: IoU {iou} between our LIME mask and lime's",
                run["seed"]
            );
        }
        let cross = between(&ours, &theirs, false);
        let lime_lime = within(&theirs);
        let ours_ours = within(&ours);
        println!(
            "| {stem} | {} | {} | {:.3} | {:.3} | {:.3} | {:.3} |",
            skimage_segments.iter().max().unwrap() + 1,
            runs[0]["label"],
            mean(&same),
            mean(&cross),
            mean(&lime_lime),
            mean(&ours_ours)
        );
        all_same.extend(same);
        all_cross.extend(cross);
        all_lime.extend(lime_lime);
    }
    println!(
        "| mean | | | {:.3} | {:.3} | {:.3} | |",
        mean(&all_same),
        mean(&all_cross),
        mean(&all_lime)
    );
    assert!(
        mean(&all_same) >= mean(&all_lime),
        "ours vs lime (same seed) {:.3} < lime vs lime across seeds {:.3}",
        mean(&all_same),
        mean(&all_lime)
    );
    assert!(
        mean(&all_cross) >= mean(&all_lime) - 0.05,
        "ours vs lime across seeds {:.3} well below lime vs lime {:.3}",
        mean(&all_cross),
        mean(&all_lime)
    );
}
