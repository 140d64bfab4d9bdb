//! Inference engines behind one trait.
//!
//! Every method (CAMs, LIME, dissection, faithfulness curves) talks to a model only through
//! [`Engine`], so the CPU engine (tract) and the WebGPU engine (wonnx) are interchangeable, natively
//! and in the browser. The trait is `async` because WebGPU read-back is asynchronous in the browser;
//! natively the futures are driven with `pollster` (or `futures::executor::block_on`).
//!
//! Batching: an engine runs at most [`Engine::max_batch`] inputs per call (static-batch graphs are
//! padded). [`run_chunked`] streams any number of inputs through an engine in such chunks, with
//! progress and cancellation; [`run_all`] is the collect-everything convenience on top of it.

use std::ops::Range;

use anyhow::{bail, ensure, Context, Result};
use async_trait::async_trait;
use ndarray::{ArrayD, Axis, IxDyn, Slice};

use crate::progress::{check_cancelled, Progress};

pub mod cpu;
pub mod graph;
#[cfg(all(feature = "onnxruntime", not(target_arch = "wasm32")))]
pub mod onnxruntime;
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

    /// Rows `range` of the first (batch) axis, as an owned tensor.
    pub fn slice_batch(&self, range: Range<usize>) -> Tensor {
        let slice = Slice::from(range);
        match self {
            Tensor::F32(a) => Tensor::F32(a.slice_axis(Axis(0), slice).to_owned()),
            Tensor::I64(a) => Tensor::I64(a.slice_axis(Axis(0), slice).to_owned()),
        }
    }

    /// A copy of the tensor with the batch axis zero-padded to `batch` rows.
    pub fn pad_batch(&self, batch: usize) -> Tensor {
        fn pad<T: Clone + Default>(a: &ArrayD<T>, batch: usize) -> ArrayD<T> {
            let mut shape = a.shape().to_vec();
            shape[0] = batch;
            let mut out = ArrayD::<T>::default(IxDyn(&shape));
            out.slice_axis_mut(Axis(0), Slice::from(0..a.shape()[0]))
                .assign(a);
            out
        }
        match self {
            Tensor::F32(a) => Tensor::F32(pad(a, batch)),
            Tensor::I64(a) => Tensor::I64(pad(a, batch)),
        }
    }

    /// Element type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Tensor::F32(_) => "f32",
            Tensor::I64(_) => "i64",
        }
    }
}

impl From<ArrayD<f32>> for Tensor {
    fn from(a: ArrayD<f32>) -> Self {
        Tensor::F32(a)
    }
}

impl From<ArrayD<i64>> for Tensor {
    fn from(a: ArrayD<i64>) -> Self {
        Tensor::I64(a)
    }
}

/// Which engine a caller asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// tract, on the CPU (native, CI, and the wasm fallback when the browser has no WebGPU). Its name in
    /// files, on the command line and in the page stays `cpu`; the variant names the backend because
    /// onnxruntime runs on the CPU too.
    #[serde(rename = "cpu")]
    Tract,
    /// onnxruntime on the CPU, loaded at run time (native only; see [`onnxruntime`]).
    Onnxruntime,
    /// wonnx on a wgpu adapter (WebGPU in the browser; Vulkan/Metal/DX12 natively).
    Webgpu,
}

impl std::str::FromStr for EngineKind {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "cpu" | "tract" => Ok(EngineKind::Tract),
            "onnxruntime" | "ort" => Ok(EngineKind::Onnxruntime),
            "webgpu" | "wonnx" | "gpu" => Ok(EngineKind::Webgpu),
            other => bail!(
                "unknown engine `{other}`: use `cpu` (tract), `onnxruntime` or `webgpu` (wonnx)"
            ),
        }
    }
}

impl std::fmt::Display for EngineKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EngineKind::Tract => "cpu",
            EngineKind::Onnxruntime => "onnxruntime",
            EngineKind::Webgpu => "webgpu",
        })
    }
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
    /// The input shape one call runs internally (first axis = [`Engine::max_batch`]).
    fn input_shape(&self) -> &[usize];
    /// The largest batch one `run` call accepts. Static-batch graphs accept exactly this many
    /// inputs per call internally; `run` pads smaller batches, so callers may pass fewer.
    fn max_batch(&self) -> usize {
        self.input_shape()[0]
    }
    /// How many [`Engine::run`] calls may usefully be in flight at once: more than 1 only for an engine that
    /// hands runs to other threads (the page's pool of CPU workers, `web::pool`). Callers with many batches
    /// (LIME's samples, ScoreCAM's masks) then issue this many together; each batch is the same as when
    /// issued one by one, so the numbers do not depend on it.
    fn concurrency(&self) -> usize {
        1
    }
    /// Runs one batch (first axis ≤ `max_batch()`); returns every graph output with that batch size.
    async fn run(&self, input: &Tensor) -> Result<Vec<ArrayD<f32>>>;
}

/// Loads `onnx` into the engine `kind`.
///
/// `batch` chooses the batch size of graphs whose batch axis is dynamic (default: each engine's, measured
/// fastest per image: [`cpu::DYNAMIC_BATCH`] for tract, [`DEFAULT_DYNAMIC_BATCH`] otherwise); graphs with
/// a static batch keep theirs and ignore it.
pub async fn create(
    kind: EngineKind,
    onnx: &[u8],
    batch: Option<usize>,
) -> Result<Box<dyn Engine>> {
    match kind {
        EngineKind::Tract => Ok(Box::new(cpu::CpuEngine::from_bytes(onnx, batch)?)),
        #[cfg(all(feature = "onnxruntime", not(target_arch = "wasm32")))]
        EngineKind::Onnxruntime => Ok(Box::new(onnxruntime::OnnxruntimeEngine::from_bytes(
            onnx, batch,
        )?)),
        #[cfg(not(all(feature = "onnxruntime", not(target_arch = "wasm32"))))]
        EngineKind::Onnxruntime => bail!(
            "this build of glassbox has no onnxruntime engine (it is native only, feature `onnxruntime`): use the cpu engine"
        ),
        #[cfg(feature = "webgpu")]
        EngineKind::Webgpu => Ok(Box::new(
            webgpu::WebGpuEngine::from_bytes(onnx, batch).await?,
        )),
        #[cfg(not(feature = "webgpu"))]
        EngineKind::Webgpu => {
            bail!("this build of glassbox has no WebGPU engine: rebuild with `--features webgpu` or use the cpu engine")
        }
    }
}

/// An engine picked for the caller, with the reason to show them.
#[derive(Debug, Clone)]
pub struct EngineChoice {
    pub kind: EngineKind,
    pub reason: String,
}

/// The fastest CPU engine this process can use (`--engine auto`): onnxruntime when its library loads,
/// else tract.
pub fn fastest_cpu() -> EngineChoice {
    #[cfg(all(feature = "onnxruntime", not(target_arch = "wasm32")))]
    let choice = match onnxruntime::available() {
        Ok(found) => EngineChoice {
            kind: EngineKind::Onnxruntime,
            reason: format!("{found}, the fastest CPU engine here"),
        },
        Err(e) => EngineChoice {
            kind: EngineKind::Tract,
            reason: format!("tract, because onnxruntime is not available: {e:#}"),
        },
    };
    #[cfg(not(all(feature = "onnxruntime", not(target_arch = "wasm32"))))]
    let choice = EngineChoice {
        kind: EngineKind::Tract,
        reason: "tract (this build has no onnxruntime engine)".to_string(),
    };
    choice
}

/// Threads for the CPU engines' work (tract's matrix products, onnxruntime's intra-op pool).
#[cfg(not(target_arch = "wasm32"))]
pub fn set_threads(threads: usize) {
    cpu::set_threads(threads);
    #[cfg(feature = "onnxruntime")]
    onnxruntime::set_threads(threads);
}

/// Batch used for graphs whose batch axis is dynamic, when the caller does not choose one (tract plans
/// its own, [`cpu::DYNAMIC_BATCH`]; onnxruntime runs smaller batches unpadded up to this).
pub const DEFAULT_DYNAMIC_BATCH: usize = 16;

/// Checks a batch before an engine runs it: element type, rank, non-batch dims, batch size.
pub(crate) fn check_input(engine_input: &[usize], want_f32: bool, input: &Tensor) -> Result<()> {
    let shape = input.shape();
    let is_f32 = matches!(input, Tensor::F32(_));
    ensure!(
        is_f32 == want_f32,
        "the graph expects {} input but got {}",
        if want_f32 { "f32" } else { "i64" },
        input.type_name()
    );
    ensure!(
        shape.len() == engine_input.len() && shape[1..] == engine_input[1..],
        "input shape {shape:?} does not fit the graph's input {engine_input:?} (the first axis is the batch)"
    );
    ensure!(shape[0] >= 1, "empty batch");
    ensure!(
        shape[0] <= engine_input[0],
        "batch of {} exceeds this engine's maximum of {}: split it with engine::run_chunked",
        shape[0],
        engine_input[0]
    );
    Ok(())
}

/// Keeps the first `n` rows of every output whose first axis is the (padded) batch.
pub(crate) fn unpad_outputs(
    outputs: Vec<ArrayD<f32>>,
    padded: usize,
    n: usize,
) -> Vec<ArrayD<f32>> {
    if padded == n {
        return outputs;
    }
    outputs
        .into_iter()
        .map(|o| {
            if o.ndim() > 0 && o.shape()[0] == padded {
                o.slice_axis(Axis(0), Slice::from(0..n)).to_owned()
            } else {
                o
            }
        })
        .collect()
}

/// Streams `total` inputs through `engine` in chunks of at most `max_batch()`.
///
/// `make_input(range)` builds the batch for input rows `range` (so large perturbation sets never exist
/// in memory at once); `consume(range, outputs)` receives every graph output for those rows.
/// Between chunks, `progress.advance(rows)` is called and cancellation is checked (returning
/// [`crate::progress::Cancelled`]). The caller announces the stage (`progress.stage`) itself.
pub async fn run_chunked<M, C>(
    engine: &dyn Engine,
    total: usize,
    progress: &dyn Progress,
    mut make_input: M,
    mut consume: C,
) -> Result<()>
where
    M: FnMut(Range<usize>) -> Result<Tensor>,
    C: FnMut(Range<usize>, Vec<ArrayD<f32>>) -> Result<()>,
{
    let step = engine.max_batch().max(1);
    let mut start = 0;
    while start < total {
        check_cancelled(progress)?;
        let range = start..(start + step).min(total);
        let input = make_input(range.clone())?;
        ensure!(
            input.shape().first() == Some(&range.len()),
            "make_input returned a batch of shape {:?} for {} rows",
            input.shape(),
            range.len()
        );
        let outputs = engine.run(&input).await.with_context(|| {
            format!(
                "running rows {}..{} of {total} on {}",
                range.start,
                range.end,
                engine.name()
            )
        })?;
        consume(range.clone(), outputs)?;
        progress.advance(range.len() as u64);
        start = range.end;
    }
    check_cancelled(progress)
}

/// Runs every row of `input` (any batch size) and concatenates each output along the batch axis.
pub async fn run_all(
    engine: &dyn Engine,
    input: &Tensor,
    progress: &dyn Progress,
) -> Result<Vec<ArrayD<f32>>> {
    let total = input.shape()[0];
    let mut parts: Vec<Vec<ArrayD<f32>>> = Vec::new();
    run_chunked(
        engine,
        total,
        progress,
        |range| Ok(input.slice_batch(range)),
        |_, outputs| {
            parts.push(outputs);
            Ok(())
        },
    )
    .await?;
    let n_outputs = parts.first().map_or(0, Vec::len);
    (0..n_outputs)
        .map(|k| {
            let views: Vec<_> = parts.iter().map(|p| p[k].view()).collect();
            ndarray::concatenate(Axis(0), &views).with_context(|| {
                format!(
                    "output `{}` changes shape between chunks",
                    engine.output_names()[k]
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tract engine's name in files, on the command line and in the page is `cpu`, whatever the
    /// variant is called in Rust.
    #[test]
    fn the_tract_engine_is_named_cpu_outside_rust() {
        assert_eq!(
            serde_json::to_string(&EngineKind::Tract).unwrap(),
            "\"cpu\""
        );
        assert_eq!(
            serde_json::from_str::<EngineKind>("\"cpu\"").unwrap(),
            EngineKind::Tract
        );
        assert_eq!(EngineKind::Tract.to_string(), "cpu");
        for name in ["cpu", "tract"] {
            assert_eq!(name.parse::<EngineKind>().unwrap(), EngineKind::Tract);
        }
    }
}
