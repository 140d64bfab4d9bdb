//! Inference engines behind one trait.
//!
//! Every method (CAMs, LIME, dissection, faithfulness curves) talks to a model only through
//! [`Engine`], so the CPU engine (tract) and the WebGPU engine (wonnx) are interchangeable, natively
//! and in the browser. The trait is `async` because WebGPU read-back is asynchronous in the browser;
//! natively the futures are driven with `pollster`.

use anyhow::Result;
use async_trait::async_trait;
use ndarray::ArrayD;

pub mod cpu;
#[cfg(feature = "webgpu")]
pub mod webgpu;

/// One input tensor. Images are `F32` NCHW; CLIP's text encoder takes `I64` token ids.
#[derive(Debug, Clone)]
pub enum Tensor {
    F32(ArrayD<f32>),
    I64(ArrayD<i64>),
}

impl Tensor {
    pub fn shape(&self) -> &[usize] {
        match self {
            Tensor::F32(a) => a.shape(),
            Tensor::I64(a) => a.shape(),
        }
    }
}

/// Which engine a caller asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// tract, on the CPU (native, CI, and the wasm fallback when the browser has no WebGPU).
    Cpu,
    /// wonnx on a wgpu adapter (WebGPU in the browser; Vulkan/Metal/DX12 natively).
    Webgpu,
}

/// A loaded ONNX graph that maps one input batch to all of the graph's outputs.
#[async_trait(?Send)]
pub trait Engine {
    /// Human-readable engine name with its backend, e.g. `cpu (tract 0.23)`.
    fn name(&self) -> String;
    /// The kind of engine.
    fn kind(&self) -> EngineKind;
    /// Graph output names, in the order [`Engine::run`] returns them.
    fn output_names(&self) -> &[String];
    /// The largest batch one `run` call accepts. Static-batch graphs (wonnx) accept exactly this many
    /// images per call internally; `run` pads smaller batches, so callers may pass fewer.
    fn max_batch(&self) -> usize;
    /// Runs one batch (first axis ≤ `max_batch()`); returns every graph output with that batch size.
    async fn run(&self, input: &Tensor) -> Result<Vec<ArrayD<f32>>>;
}
