//! `soft_wpmi` against CLIP-Dissect's own `similarity.py` (fixture by `tests/reference/wpmi_reference.py`, which
//! imports the real file from a checkout of Trustworthy-ML-Lab/CLIP-dissect and runs it in float32, as CLIP-Dissect
//! does, and in float64).

use crate::dissect_common;

use dissect_common::fixtures;
use glassbox::dissect::wpmi::{best_concepts, soft_wpmi, SoftWpmiParams};
use glassbox::progress::Silent;
use ndarray::Array2;

fn read_f32(name: &str, rows: usize, cols: usize) -> Array2<f32> {
    let bytes = std::fs::read(fixtures().join(name)).unwrap();
    let v = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    Array2::from_shape_vec((rows, cols), v).unwrap()
}

fn read_f64(name: &str, rows: usize, cols: usize) -> Array2<f64> {
    let bytes = std::fs::read(fixtures().join(name)).unwrap();
    let v = bytes
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    Array2::from_shape_vec((rows, cols), v).unwrap()
}

fn params_of(json: &serde_json::Value) -> SoftWpmiParams {
    let d = SoftWpmiParams::default();
    let get = |k: &str, default: f64| json.get(k).and_then(|v| v.as_f64()).unwrap_or(default);
    SoftWpmiParams {
        top_k: json
            .get("top_k")
            .and_then(|v| v.as_u64())
            .map_or(d.top_k, |v| v as usize),
        a: get("a", d.a),
        lam: get("lam", d.lam),
        min_prob: get("min_prob", d.min_prob),
        p_start: get("p_start", d.p_start),
        p_end: get("p_end", d.p_end),
    }
}

#[test]
fn soft_wpmi_matches_clip_dissect() {
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("wpmi.json")).unwrap()).unwrap();
    let n = meta["n_images"].as_u64().unwrap() as usize;
    let c = meta["n_concepts"].as_u64().unwrap() as usize;
    let l = meta["n_neurons"].as_u64().unwrap() as usize;
    let clip_feats = read_f32("wpmi_clip_feats.f32", n, c);
    let target_feats = read_f32("wpmi_target_feats.f32", n, l);
    for (case, expected) in meta["cases"].as_object().unwrap() {
        let params = params_of(&expected["params"]);
        let ours = soft_wpmi(&clip_feats, target_feats.view(), &params, &Silent).unwrap();
        assert_eq!(ours.dim(), (l, c));
        let ref32 = read_f32(&format!("wpmi_{case}_similarity.f32"), l, c);
        let ref64 = read_f64(&format!("wpmi_{case}_similarity64.f64"), l, c);

        // Against the float64 run of the real code: the port's arithmetic, to 1e-4 (it is far closer).
        let err64 = ours
            .iter()
            .zip(&ref64)
            .map(|(&a, &b)| (f64::from(a) - b).abs())
            .fold(0.0, f64::max);
        // Against the float32 run (what CLIP-Dissect computes): within 1e-4 plus torch's own float32 rounding.
        let torch_rounding = expected["max_abs_float32_vs_float64"].as_f64().unwrap();
        let err32 = ours
            .iter()
            .zip(&ref32)
            .map(|(&a, &b)| f64::from(a - b).abs())
            .fold(0.0, f64::max);
        println!("{case}: max |ours - torch f64| = {err64:.3e}, max |ours - torch f32| = {err32:.3e} (torch f32 vs f64: {torch_rounding:.3e})");
        assert!(err64 < 1e-4, "{case}: {err64}");
        assert!(err32 < 1e-4 + torch_rounding, "{case}: {err32}");

        let ours_best: Vec<usize> = best_concepts(ours.view())
            .into_iter()
            .map(|best| best.concept)
            .collect();
        let argmax64: Vec<usize> = expected["argmax_float64"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(
            ours_best, argmax64,
            "{case}: argmax per neuron vs float64 reference"
        );
        // The float32 reference's argmax too, wherever its own best-vs-second margin is above its rounding.
        let argmax32: Vec<usize> = expected["argmax"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let mut compared = 0;
        for (neuron, row) in ref32.rows().into_iter().enumerate() {
            let mut sorted: Vec<f32> = row.to_vec();
            sorted.sort_by(|a, b| b.total_cmp(a));
            if f64::from(sorted[0] - sorted[1]) > 2.0 * torch_rounding {
                assert_eq!(
                    ours_best[neuron], argmax32[neuron],
                    "{case}: neuron {neuron} vs float32 reference"
                );
                compared += 1;
            }
        }
        println!("{case}: argmax equal to the float32 reference on all {compared} neurons with a clear margin, of {l}");
        assert!(
            compared >= l * 3 / 4,
            "{case}: too few neurons with a clear margin ({compared})"
        );
    }
}
