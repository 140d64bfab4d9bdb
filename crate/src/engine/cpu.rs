//! The CPU engine: tract, natively, in CI, and in the browser when WebGPU is missing.
//!
//! The graph is loaded once with its input fixed to a concrete shape (static graphs keep theirs; a
//! dynamic batch axis is set to the chosen batch), optimised, and the optimised plan is kept for every
//! later call, so per-call cost is the forward pass only.

use std::sync::Arc;

use anyhow::{anyhow, ensure, Context, Result};
use async_trait::async_trait;
use ndarray::ArrayD;
use tract_onnx::prelude::*;

use super::{check_input, graph, unpad_outputs, Engine, EngineKind, Tensor};

type Plan = Arc<TypedRunnableModel>;

/// The batch tract plans a dynamic batch axis at when the caller does not choose one: 1, the fastest per
/// image by measurement (`glassbox bench`, README "Speed": ResNet-50 78 ms per image at batch 1
/// against 175 ms at batch 8, MobileNet v2 21 against 55 ms). tract's batched plans add axis moves and a
/// larger im2col working set; a method with many passes streams them one image at a time instead.
pub const DYNAMIC_BATCH: usize = 1;

/// Runs the matrix products of every CPU engine in this process on `threads` worker threads (1: on
/// the calling thread, tract's default). The outputs do not change: each output tile is still
/// computed whole, in the same order, by one thread.
#[cfg(not(target_arch = "wasm32"))]
pub fn set_threads(threads: usize) {
    use tract_linalg::multithread::{set_default_executor, Executor};
    set_default_executor(if threads > 1 {
        Executor::multithread(threads)
    } else {
        Executor::SingleThread
    });
}

/// A tract plan with a fixed input shape.
pub struct CpuEngine {
    plan: Plan,
    input_shape: Vec<usize>,
    input_is_f32: bool,
    output_names: Vec<String>,
}

impl CpuEngine {
    /// Loads an ONNX graph from bytes. `batch` sets a dynamic batch axis (default [`DYNAMIC_BATCH`];
    /// ignored for static graphs).
    pub fn from_bytes(onnx: &[u8], batch: Option<usize>) -> Result<CpuEngine> {
        let proto = graph::decode(onnx)?;
        let g = graph::graph(&proto);
        let input = graph::single_input(g)?;
        let input_shape = graph::concrete_input_shape(&input, batch.or(Some(DYNAMIC_BATCH)))?;
        let (datum, input_is_f32) = match input.elem_type {
            graph::FLOAT => (f32::datum_type(), true),
            graph::INT64 => (i64::datum_type(), false),
            other => anyhow::bail!(
                "the graph input `{}` has ONNX element type {other}; glassbox feeds float32 images or int64 tokens",
                input.name
            ),
        };
        let output_names: Vec<String> = graph::outputs(g).into_iter().map(|o| o.name).collect();

        let model = tract_onnx::onnx()
            .model_for_proto_model(&proto)
            .map_err(|e| anyhow!("{e:#}"))
            .context("tract could not read this ONNX graph")?
            .with_input_fact(0, InferenceFact::dt_shape(datum, input_shape.clone()))
            .map_err(|e| anyhow!("{e:#}"))?;
        let plan = model
            .into_optimized()
            .map_err(|e| anyhow!("{e:#}"))
            .with_context(|| {
                format!("tract could not optimise the graph for input shape {input_shape:?}")
            })?
            .into_runnable()
            .map_err(|e| anyhow!("{e:#}"))?;
        ensure!(
            plan.model().outputs.len() == output_names.len(),
            "tract sees {} outputs where the graph lists {}",
            plan.model().outputs.len(),
            output_names.len()
        );
        Ok(CpuEngine {
            plan,
            input_shape,
            input_is_f32,
            output_names,
        })
    }

    fn run_sync(&self, input: &Tensor) -> Result<Vec<ArrayD<f32>>> {
        check_input(&self.input_shape, self.input_is_f32, input)?;
        let n = input.shape()[0];
        let padded = input.pad_batch(self.input_shape[0]);
        let value: TValue = match padded {
            Tensor::F32(a) => tract_onnx::prelude::Tensor::from(a).into(),
            Tensor::I64(a) => tract_onnx::prelude::Tensor::from(a).into(),
        };
        let outputs = self
            .plan
            .run(tvec![value])
            .map_err(|e| anyhow!("{e:#}"))
            .context("tract forward pass failed")?;
        let arrays = outputs
            .iter()
            .zip(&self.output_names)
            .map(|(t, name)| {
                let t = t
                    .cast_to::<f32>()
                    .map_err(|e| anyhow!("{e:#}"))
                    .with_context(|| format!("output `{name}`"))?;
                Ok(t.to_plain_array_view::<f32>()
                    .map_err(|e| anyhow!("{e:#}"))?
                    .to_owned())
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(unpad_outputs(arrays, self.input_shape[0], n))
    }
}

#[async_trait(?Send)]
impl Engine for CpuEngine {
    fn name(&self) -> String {
        "cpu (tract 0.23)".to_string()
    }
    fn kind(&self) -> EngineKind {
        EngineKind::Tract
    }
    fn output_names(&self) -> &[String] {
        &self.output_names
    }
    fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }
    async fn run(&self, input: &Tensor) -> Result<Vec<ArrayD<f32>>> {
        self.run_sync(input)
    }
}
