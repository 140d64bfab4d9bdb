//! Real engines on real models: tract and wonnx agree, the real MobileNet v2 classifies the samples as
//! its SOURCES.md says, the linear head is read and verified (and refused when it is not linear),
//! chunked runs equal one-shot runs, threads change no number, and cancellation stops a run.

use crate::support;

use std::cell::Cell;

use futures::executor::block_on;
use glassbox::engine::{self, cpu::CpuEngine, Engine, EngineKind, Tensor};
use glassbox::model::{Classifier, Model, HEAD_ERROR};
use glassbox::preprocess::{self, ImageLimits};
use glassbox::progress::{Cancelled, Progress, Silent};
use ndarray::{s, Array4, Axis};
use support::*;

/// Top-1 (1001-way) of mobilenet_v2_1.0_224 on the 10 samples, from mobilenet_onnx/SOURCES.md.
const V2_TOP1: [usize; 10] = [2, 4, 990, 443, 40, 131, 138, 204, 818, 951];

fn sample_batch(classifier: &Classifier) -> Array4<f32> {
    let tensors: Vec<_> = sample_images()
        .iter()
        .map(|p| {
            classifier
                .prepare(&preprocess::load(p, &ImageLimits::default()).unwrap())
                .tensor
        })
        .collect();
    preprocess::stack(&tensors).unwrap()
}

fn argmax(row: ndarray::ArrayView1<f32>) -> usize {
    row.iter()
        .enumerate()
        .fold(
            (0, f32::MIN),
            |best, (i, &v)| if v > best.1 { (i, v) } else { best },
        )
        .0
}

#[test]
fn mobilenet_v2_top1_on_the_samples_matches_sources_md() {
    let model = Model::from_path(&manifest("mobilenet_v2_1.0_224_b8")).unwrap();
    let classifier = block_on(Classifier::load(model, EngineKind::Tract, None)).unwrap();
    assert_eq!(classifier.engine.max_batch(), 8);
    assert_eq!(classifier.head.weight.dim(), (1001, 1280));
    let batch = sample_batch(&classifier);
    // 10 images through a batch-8 graph: one full chunk and one padded chunk.
    let out = block_on(classifier.forward(batch.view(), &Silent)).unwrap();
    assert_eq!(out.features.dim(), (10, 1280, 7, 7));
    let top1: Vec<usize> = out.logits.axis_iter(Axis(0)).map(argmax).collect();
    println!("mobilenet_v2_1.0_224 top-1: {top1:?}");
    assert_eq!(top1, V2_TOP1);
    assert!(
        classifier.label(top1[0]).starts_with("goldfish"),
        "{}",
        classifier.label(top1[0])
    );
    assert_eq!(classifier.label(0), "background");

    // The batch-1 graph gives the same numbers one image at a time (padding and chunking are exact).
    let single = Model::from_path(&manifest("mobilenet_v2_1.0_224")).unwrap();
    let single = block_on(Classifier::load(single, EngineKind::Tract, None)).unwrap();
    let out1 = block_on(single.forward(batch.slice(s![7..10, .., .., ..]), &Silent)).unwrap();
    let (diff, scale) = max_abs_diff(
        &out1.logits.into_dyn(),
        &out.logits.slice(s![7..10, ..]).to_owned().into_dyn(),
    );
    println!("b1 vs b8 graph: max |Δlogit| {diff:.2e} (max |logit| {scale:.1})");
    assert!(diff <= 1e-4 * scale.max(1.0));
}

/// Nanoseconds on the CPU of this process's tract worker threads (Linux: /proc/self/task).
fn tract_worker_cpu_ns() -> u64 {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = task.unwrap().path();
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if name.starts_with("tract-default") {
            let schedstat = std::fs::read_to_string(dir.join("schedstat")).unwrap_or_default();
            total += schedstat
                .split_whitespace()
                .next()
                .and_then(|ns| ns.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    total
}

#[test]
fn threaded_cpu_engine_works_on_worker_threads_and_changes_no_number() {
    let model = Model::from_path(&manifest("mobilenet_v2_1.0_224_b8")).unwrap();
    let classifier = block_on(Classifier::load(model, EngineKind::Tract, None)).unwrap();
    let batch = sample_batch(&classifier)
        .slice(s![..8, .., .., ..])
        .to_owned();
    engine::cpu::set_threads(1);
    let serial = block_on(classifier.forward(batch.view(), &Silent)).unwrap();
    engine::cpu::set_threads(3);
    let before = tract_worker_cpu_ns();
    let threaded = block_on(classifier.forward(batch.view(), &Silent));
    let worker_ns = tract_worker_cpu_ns() - before;
    engine::cpu::set_threads(1);
    let threaded = threaded.unwrap();
    println!(
        "tract worker threads: {:.1} ms of CPU",
        worker_ns as f64 / 1e6
    );
    assert!(worker_ns > 0, "the worker threads did no work");
    // Bitwise: `--threads` must not move a single number.
    assert_eq!(serial.features, threaded.features);
    assert_eq!(serial.logits, threaded.logits);
}

#[test]
fn head_is_verified_numerically_and_a_wrong_head_is_refused() {
    let model = Model::from_path(&manifest("mobilenet_v1_0.25_128")).unwrap();
    let classifier = block_on(Classifier::load(model, EngineKind::Tract, None)).unwrap();
    let batch = sample_batch(&classifier);
    let out = block_on(classifier.forward(batch.view(), &Silent)).unwrap();
    let head = &classifier.head;
    let predicted = head.apply(out.features.view());
    let (diff, scale) = max_abs_diff(&predicted.into_dyn(), &out.logits.clone().into_dyn());
    println!(
        "v1_0.25_128: max |W·mean(features)+b - logits| = {diff:.2e} (max |logit| {scale:.1})"
    );
    assert!(diff <= 1e-4 * scale);
    head.verify(out.features.view(), out.logits.view(), 1e-3)
        .unwrap();

    // A head that is off by 1% in one class's weights is caught.
    let mut wrong = head.clone();
    let top = argmax(out.logits.row(0));
    wrong.weight.row_mut(top).mapv_inplace(|w| w * 1.01);
    wrong.bias[top] += 0.05 * scale;
    let err = wrong
        .verify(out.features.view(), out.logits.view(), 1e-3)
        .unwrap_err()
        .to_string();
    assert!(err.contains(HEAD_ERROR), "{err}");
}

#[test]
fn a_nonlinear_head_is_refused_with_a_clear_error() {
    // Insert a Relu between the global average pool and the 1×1 classifier Conv.
    let onnx = edit_onnx(&mobilenet_onnx("mobilenet_v1_0.25_128_b1"), |g| {
        let gap = g
            .node
            .iter()
            .position(|n| n.op_type == "GlobalAveragePool")
            .unwrap();
        let pooled = g.node[gap].output[0].clone();
        let relu_out = format!("{pooled}_relu");
        for n in g.node.iter_mut().filter(|n| n.input.contains(&pooled)) {
            for i in n.input.iter_mut().filter(|i| **i == pooled) {
                *i = relu_out.clone();
            }
        }
        g.node.insert(
            gap + 1,
            tract_onnx::pb::NodeProto {
                input: vec![pooled],
                output: vec![relu_out],
                name: "inserted_relu".into(),
                op_type: "Relu".into(),
                ..Default::default()
            },
        );
    });
    let model = Model::from_onnx_bytes("mobilenet_relu_head", onnx).unwrap();
    let err = format!(
        "{:#}",
        block_on(Classifier::load(model, EngineKind::Tract, None))
            .err()
            .unwrap()
    );
    println!("{err}");
    assert!(err.contains(HEAD_ERROR), "{err}");
    assert!(
        err.contains("Relu"),
        "the error should name the offending node: {err}"
    );
}

#[test]
fn resnet_topology_head_is_read_from_gemm_with_transposed_weight() {
    let onnx = ResNetBuilder::new(7).build(64, 10);
    let model = Model::from_onnx_bytes("resnet_random", onnx).unwrap();
    assert_eq!(model.labels[3], "class 3");
    let classifier = block_on(Classifier::load(model, EngineKind::Tract, Some(4))).unwrap();
    assert_eq!(classifier.head.weight.dim(), (10, 32));
    assert_eq!(classifier.engine.max_batch(), 4);
    let mut rng = Rng::new(3);
    let x = rng
        .array(&[6, 3, 64, 64], 1.5)
        .into_dimensionality()
        .unwrap();
    let out = block_on(classifier.forward(x.view(), &Silent)).unwrap();
    assert_eq!(out.features.dim(), (6, 32, 8, 8));
    classifier
        .head
        .verify(out.features.view(), out.logits.view(), 1e-4)
        .unwrap();
}

#[test]
fn chunked_runs_equal_one_shot_runs_and_report_progress() {
    struct Counting {
        done: Cell<u64>,
    }
    impl Progress for Counting {
        fn advance(&self, n: u64) {
            self.done.set(self.done.get() + n);
        }
    }
    let onnx = ResNetBuilder::new(11).build(32, 5);
    let big = CpuEngine::from_bytes(&onnx, Some(7)).unwrap();
    let small = CpuEngine::from_bytes(&onnx, Some(3)).unwrap();
    let x = Tensor::F32(Rng::new(5).array(&[7, 3, 32, 32], 1.0));
    let reference = block_on(big.run(&x)).unwrap();
    let progress = Counting { done: Cell::new(0) };
    let chunked = block_on(engine::run_all(&small, &x, &progress)).unwrap();
    assert_eq!(progress.done.get(), 7);
    for (a, b) in chunked.iter().zip(&reference) {
        let (diff, scale) = max_abs_diff(a, b);
        assert!(diff <= 1e-5 * scale.max(1.0), "chunked differs by {diff}");
    }
}

#[test]
fn cancellation_stops_between_chunks() {
    struct CancelAfter {
        chunks: Cell<u32>,
    }
    impl Progress for CancelAfter {
        fn advance(&self, _: u64) {
            self.chunks.set(self.chunks.get() + 1);
        }
        fn is_cancelled(&self) -> bool {
            self.chunks.get() >= 2
        }
    }
    let engine = CpuEngine::from_bytes(&ResNetBuilder::new(1).build(32, 5), Some(2)).unwrap();
    let progress = CancelAfter {
        chunks: Cell::new(0),
    };
    let mut made = 0;
    let result = block_on(engine::run_chunked(
        &engine,
        100,
        &progress,
        |r| {
            made += r.len();
            Ok(Tensor::F32(ndarray::ArrayD::zeros(ndarray::IxDyn(&[
                r.len(),
                3,
                32,
                32,
            ]))))
        },
        |_, _| Ok(()),
    ));
    assert!(result.unwrap_err().downcast_ref::<Cancelled>().is_some());
    assert_eq!(made, 4, "two chunks of two, then stop");
}

#[cfg(feature = "onnxruntime")]
mod onnxruntime {
    use super::*;
    use glassbox::engine::onnxruntime::OnnxruntimeEngine;

    /// Every output of both engines on the same inputs: equal to float32 rounding of two kernel libraries.
    fn assert_agree(what: &str, ort: &[ndarray::ArrayD<f32>], tract: &[ndarray::ArrayD<f32>]) {
        assert_eq!(ort.len(), tract.len());
        for (o, t) in ort.iter().zip(tract) {
            assert_eq!(o.shape(), t.shape(), "{what}");
            let (diff, scale) = max_abs_diff(o, t);
            println!("{what}: max |onnxruntime - tract| = {diff:.2e} (max |value| {scale:.2})");
            assert!(
                diff <= 1e-4 * scale.max(1.0),
                "{what}: differs by {diff:.3e}"
            );
        }
    }

    #[test]
    fn onnxruntime_and_tract_agree_on_real_mobilenet_v2_at_batch_1_and_8() {
        if !onnxruntime_available("onnxruntime_and_tract_agree_on_real_mobilenet_v2") {
            return;
        }
        for (stem, rows) in [("mobilenet_v2_1.0_224", 1), ("mobilenet_v2_1.0_224_b8", 8)] {
            let model = Model::from_path(&manifest(stem)).unwrap();
            let tract = block_on(Classifier::load(model.clone(), EngineKind::Tract, None)).unwrap();
            // The head check (logits recomputed from the features) runs inside load on this engine too.
            let ort = block_on(Classifier::load(model, EngineKind::Onnxruntime, None)).unwrap();
            assert_eq!(ort.engine.kind(), EngineKind::Onnxruntime);
            assert_eq!(ort.engine.max_batch(), rows);
            let batch = sample_batch(&tract);
            // A full batch, and one image (padded by the static-batch graph).
            for n in [rows, 1] {
                let x = Tensor::F32(batch.slice(s![0..n, .., .., ..]).to_owned().into_dyn());
                let o = block_on(ort.engine.run(&x)).unwrap();
                assert_agree(
                    &format!("{stem}, {n} image(s)"),
                    &o,
                    &block_on(tract.engine.run(&x)).unwrap(),
                );
                for (i, row) in o[ort.logits_index()].outer_iter().enumerate() {
                    assert_eq!(argmax(row.into_dimensionality().unwrap()), V2_TOP1[i]);
                }
            }
        }
    }

    #[test]
    fn onnxruntime_runs_a_dynamic_batch_resnet_topology_graph_without_padding() {
        if !onnxruntime_available("onnxruntime_runs_a_dynamic_batch_resnet_topology_graph") {
            return;
        }
        let onnx = ResNetBuilder::new(7).build(64, 10);
        let ort = OnnxruntimeEngine::from_bytes(&onnx, Some(4)).unwrap();
        let tract = CpuEngine::from_bytes(&onnx, Some(4)).unwrap();
        assert_eq!(ort.max_batch(), 4);
        for n in [4, 3, 1] {
            let x = Tensor::F32(Rng::new(n as u64).array(&[n, 3, 64, 64], 1.5));
            let o = block_on(ort.run(&x)).unwrap();
            assert!(o.iter().all(|out| out.shape()[0] == n));
            assert_agree(
                &format!("resnet-topology, {n} rows"),
                &o,
                &block_on(tract.run(&x)).unwrap(),
            );
        }
        let too_many = Tensor::F32(Rng::new(1).array(&[5, 3, 64, 64], 1.0));
        let err = block_on(ort.run(&too_many)).unwrap_err().to_string();
        assert!(err.contains("exceeds this engine's maximum of 4"), "{err}");
    }
}

#[cfg(feature = "webgpu")]
mod webgpu {
    use super::*;
    use glassbox::engine::webgpu::WebGpuEngine;

    fn compare(
        what: &str,
        cpu: &[ndarray::ArrayD<f32>],
        gpu: &[ndarray::ArrayD<f32>],
        names: &[String],
    ) {
        for ((c, g), name) in cpu.iter().zip(gpu).zip(names) {
            let (diff, scale) = max_abs_diff(g, c);
            println!("{what}: `{name}` max |wonnx - tract| = {diff:.2e} (max |value| {scale:.2})");
            assert!(
                diff <= 1e-3 * scale.max(1.0),
                "{what}: `{name}` differs by {diff:.3e}"
            );
        }
    }

    #[test]
    fn tract_and_wonnx_agree_on_real_mobilenet_v2() {
        if !webgpu_available("tract_and_wonnx_agree_on_real_mobilenet_v2") {
            return;
        }
        let model = Model::from_path(&manifest("mobilenet_v2_1.0_224")).unwrap();
        let cpu = block_on(Classifier::load(model.clone(), EngineKind::Tract, None)).unwrap();
        // The head check runs inside load on the WebGPU engine too.
        let gpu = block_on(Classifier::load(model, EngineKind::Webgpu, None)).unwrap();
        println!("engine: {}", gpu.engine.name());
        let batch = sample_batch(&cpu);
        for i in [0usize, 5] {
            let x = Tensor::F32(batch.slice(s![i..i + 1, .., .., ..]).to_owned().into_dyn());
            let c = block_on(cpu.engine.run(&x)).unwrap();
            let g = block_on(gpu.engine.run(&x)).unwrap();
            compare(
                &format!("mobilenet_v2 image {i}"),
                &c,
                &g,
                cpu.engine.output_names(),
            );
            assert_eq!(
                argmax(
                    g[gpu.logits_index()]
                        .index_axis(Axis(0), 0)
                        .into_dimensionality()
                        .unwrap()
                ),
                V2_TOP1[i]
            );
        }
    }

    #[test]
    fn wonnx_runs_a_prepared_resnet_topology_graph_like_tract() {
        if !webgpu_available("wonnx_runs_a_prepared_resnet_topology_graph_like_tract") {
            return;
        }
        // Needs every fix of prepare_for_wonnx: no value_info, Gemm transB=1, bias-less Conv, dynamic batch.
        let onnx = ResNetBuilder::new(7).build(64, 10);
        let cpu = CpuEngine::from_bytes(&onnx, Some(2)).unwrap();
        let gpu = block_on(WebGpuEngine::from_bytes(&onnx, Some(2))).unwrap();
        assert_eq!(gpu.max_batch(), 2);
        // Two inputs through the batch-2 session, and one (padded).
        let x = Tensor::F32(Rng::new(9).array(&[2, 3, 64, 64], 1.5));
        compare(
            "resnet-topology b2",
            &block_on(cpu.run(&x)).unwrap(),
            &block_on(gpu.run(&x)).unwrap(),
            cpu.output_names(),
        );
        let x1 = x.slice_batch(1..2);
        let g1 = block_on(gpu.run(&x1)).unwrap();
        assert_eq!(g1[1].shape(), &[1, 10]);
        compare(
            "resnet-topology b1 padded",
            &block_on(cpu.run(&x1)).unwrap(),
            &g1,
            cpu.output_names(),
        );
    }
}
