//! LIME benchmark: quickshift per 224×224 view, and LIME's total time against the time of its
//! forward passes alone (same model, same batch size, same CPU engine), with LIME's own split.
//!
//! `cargo bench -p glassbox --bench lime` (release), or quicker to build:
//! `CARGO_PROFILE_DEV_OPT_LEVEL=3 cargo bench -p glassbox --profile dev --bench lime`.
//! Environment: LIME_BENCH_SAMPLES (1000), LIME_BENCH_BATCH (8), LIME_BENCH_IMAGE (goldfish).

#[path = "../tests/lime_support/mod.rs"]
mod lime_support;

use glassbox::engine::{Engine, Tensor};
use glassbox::lime::{self, EnginePredictor, LimeParams, QuickshiftParams};
use glassbox::progress::Silent;
use lime_support::{cpu_engine, load_view, shared, STEMS};
use ndarray::{Array4, Axis};
use web_time::Instant;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let samples = env_or("LIME_BENCH_SAMPLES", 1000);
    let batch = env_or("LIME_BENCH_BATCH", 8);
    let stem = std::env::var("LIME_BENCH_IMAGE").unwrap_or_else(|_| STEMS[0].to_string());

    let mut times: Vec<f64> = STEMS
        .iter()
        .map(|s| {
            let view = load_view(s);
            let t = Instant::now();
            let seg = lime::quickshift(&view, &QuickshiftParams::default()).unwrap();
            std::hint::black_box(seg);
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "quickshift 224x224 (10 views): median {:.1} ms, min {:.1} ms, max {:.1} ms",
        times[times.len() / 2],
        times[0],
        times[times.len() - 1]
    );

    let model_file = if batch == 1 {
        "mobilenet_v2_1.0_224_b1.onnx"
    } else {
        "mobilenet_v2_1.0_224_b8.onnx"
    };
    let engine_batch = if batch == 1 { 1 } else { 8 };
    assert!(
        batch <= engine_batch,
        "LIME_BENCH_BATCH must be 1 or ≤ 8 (static MobileNet graphs)"
    );
    let engine = cpu_engine(&shared().join("models/mobilenet_onnx").join(model_file));
    let view = load_view(&stem);

    // The forward passes alone: `samples` images in batches of `batch`, inputs prepared beforehand.
    let tensor = lime::normalize_offset_scale(view.view(), 128.0, 1.0 / 128.0);
    let mut input = Array4::<f32>::zeros((batch, 3, 224, 224));
    for mut slot in input.axis_iter_mut(Axis(0)) {
        slot.assign(&tensor);
    }
    let input = Tensor::F32(input.into_dyn());
    let t = Instant::now();
    let mut done = 0;
    while done < samples {
        std::hint::black_box(futures::executor::block_on(engine.run(&input)).unwrap());
        done += batch;
    }
    let forward_ms = t.elapsed().as_secs_f64() * 1e3;
    let one_forward_ms = forward_ms / (samples as f64 / batch as f64);
    println!("{samples} forward passes of MobileNet v2 at batch {batch} ({}): {forward_ms:.0} ms ({one_forward_ms:.1} ms per batch)", engine.name());

    let predictor = EnginePredictor {
        engine: &engine,
        normalize: |v| lime::normalize_offset_scale(v, 128.0, 1.0 / 128.0),
        logits_output: 1,
    };
    let params = LimeParams {
        num_samples: samples,
        batch_size: batch,
        ..Default::default()
    };
    let t = Instant::now();
    let explanation =
        futures::executor::block_on(lime::explain(&predictor, &view, &params, &Silent)).unwrap();
    let total_ms = t.elapsed().as_secs_f64() * 1e3;
    let s = explanation.timing;
    println!(
        "LIME {stem} ({} superpixels, {samples} samples, batch {batch}): total {total_ms:.0} ms = segmentation {:.0} + perturbation {:.0} + inference {:.0} + regression {:.0} ms",
        explanation.n_segments, s.segmentation_ms, s.perturbation_ms, s.inference_ms, s.regression_ms
    );
    println!(
        "LIME total / forward passes alone: {:.3}x (target <= 1.1x)",
        total_ms / forward_ms
    );
    println!(
        "quickshift median / one forward batch: {:.3}",
        times[times.len() / 2] / one_forward_ms
    );
}
