//! The WebGPU engine: wonnx over wgpu (WebGPU in the browser; Vulkan/Metal/DX12 natively).
//!
//! wonnx 0.5.1 runs only graphs in a narrow form, and some of its gaps produce wrong numbers instead of
//! errors. [`prepare_for_wonnx`] rewrites a graph into that form, or refuses it before anything runs:
//! - every tensor gets a static `value_info` (wonnx reads shapes only from there), filled from tract's
//!   type and shape analysis of the same graph with the input fixed to the engine's batch;
//! - `Gemm` with `transB=1` gets its weight transposed and `transB=0` (wonnx rejects transposes);
//! - a `Conv` without a bias gets a zero bias (wonnx computes some bias-less convolutions wrongly);
//! - operators wonnx lacks, `Constant`-free dynamic shapes and non-float tensors are refused.
//!
//! wonnx caps a dispatch at 65,535 workgroups per dimension, which limits the static batch of a
//! 224×224 CNN to about 20: choose small batches for this engine.

use std::collections::HashMap;

use anyhow::{anyhow, bail, ensure, Context, Result};
use async_trait::async_trait;
use ndarray::{ArrayD, IxDyn};
use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::{Factoid, InferenceModelExt};

use super::{check_input, graph, unpad_outputs, Engine, EngineKind, Tensor};

/// Operators wonnx 0.5.1 compiles (or folds away in its optimiser).
const WONNX_OPS: &[&str] = &[
    "Abs",
    "Acos",
    "Acosh",
    "Add",
    "And",
    "Asin",
    "Asinh",
    "Atan",
    "Atanh",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Ceil",
    "Celu",
    "Clip",
    "Concat",
    "Constant",
    "Conv",
    "Cos",
    "Cosh",
    "Div",
    "Dropout",
    "Elu",
    "Equal",
    "Exp",
    "Flatten",
    "Floor",
    "Gather",
    "Gemm",
    "GlobalAveragePool",
    "Greater",
    "GreaterOrEqual",
    "Identity",
    "LeakyRelu",
    "Less",
    "LessOrEqual",
    "Log",
    "MatMul",
    "MaxPool",
    "Mod",
    "Mul",
    "Neg",
    "OneHot",
    "Or",
    "PRelu",
    "Pad",
    "Pow",
    "Reciprocal",
    "ReduceMax",
    "ReduceMean",
    "ReduceMin",
    "ReduceProd",
    "ReduceSum",
    "ReduceSumSquare",
    "Relu",
    "Reshape",
    "Resize",
    "Round",
    "Sigmoid",
    "Sign",
    "Sin",
    "Sinh",
    "Softmax",
    "Softplus",
    "Softsign",
    "Split",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Tan",
    "Tanh",
    "Transpose",
    "Unsqueeze",
];

/// A wonnx session with a fixed input shape.
pub struct WebGpuEngine {
    session: wonnx::Session,
    adapter: String,
    input_name: String,
    input_shape: Vec<usize>,
    input_is_f32: bool,
    output_names: Vec<String>,
    output_shapes: Vec<Vec<usize>>,
}

impl WebGpuEngine {
    /// Prepares the graph for wonnx, finds a GPU adapter and compiles the session.
    /// `batch` sets a dynamic batch axis (ignored for static graphs).
    pub async fn from_bytes(onnx: &[u8], batch: Option<usize>) -> Result<WebGpuEngine> {
        let proto = graph::decode(onnx)?;
        let input = graph::single_input(graph::graph(&proto))?;
        let input_shape = graph::concrete_input_shape(&input, batch)?;
        let input_is_f32 = input.elem_type == graph::FLOAT;
        let prepared = prepare_for_wonnx(proto, &input_shape)?;
        let outputs = graph::outputs(graph::graph(&prepared));
        let output_names: Vec<String> = outputs.iter().map(|o| o.name.clone()).collect();
        let output_shapes = outputs
            .iter()
            .map(|o| {
                o.static_shape()
                    .with_context(|| format!("output `{}` has no static shape", o.name))
            })
            .collect::<Result<Vec<_>>>()?;
        let adapter = find_adapter().await?;
        let session = wonnx::Session::from_bytes(&graph::encode(&prepared)).await.map_err(|e| {
            anyhow!(
                "wonnx could not compile the graph for input {input_shape:?}: {e}. If it mentions workgroups, use a \
                 smaller batch (wonnx 0.5.1 fits about 20 images of 224×224 per call); otherwise use the cpu engine"
            )
        })?;
        Ok(WebGpuEngine {
            session,
            adapter,
            input_name: input.name,
            input_shape,
            input_is_f32,
            output_names,
            output_shapes,
        })
    }
}

#[async_trait(?Send)]
impl Engine for WebGpuEngine {
    fn name(&self) -> String {
        format!("webgpu (wonnx 0.5.1 on {})", self.adapter)
    }
    fn kind(&self) -> EngineKind {
        EngineKind::Webgpu
    }
    fn output_names(&self) -> &[String] {
        &self.output_names
    }
    fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }
    async fn run(&self, input: &Tensor) -> Result<Vec<ArrayD<f32>>> {
        check_input(&self.input_shape, self.input_is_f32, input)?;
        let n = input.shape()[0];
        let padded = input.pad_batch(self.input_shape[0]);
        let tensor = match &padded {
            Tensor::F32(a) => wonnx::utils::InputTensor::F32(
                a.as_standard_layout()
                    .into_owned()
                    .into_raw_vec_and_offset()
                    .0
                    .into(),
            ),
            Tensor::I64(a) => wonnx::utils::InputTensor::I64(
                a.as_standard_layout()
                    .into_owned()
                    .into_raw_vec_and_offset()
                    .0
                    .into(),
            ),
        };
        let inputs = HashMap::from([(self.input_name.clone(), tensor)]);
        let mut results = self
            .session
            .run(&inputs)
            .await
            .map_err(|e| anyhow!("wonnx forward pass failed: {e}"))?;
        let mut outputs = Vec::with_capacity(self.output_names.len());
        for name in &self.output_names {
            let values = results
                .remove(name)
                .with_context(|| format!("wonnx returned no output `{name}`"))?;
            let values: Vec<f32> = values
                .try_into()
                .map_err(|e| anyhow!("output `{name}` is not convertible to f32: {e:?}"))?;
            outputs.push(values);
        }
        // wonnx returns flat buffers; shapes come from the prepared graph (tract's analysis).
        let arrays = outputs
            .into_iter()
            .zip(&self.output_shapes)
            .map(|(v, s)| {
                ArrayD::from_shape_vec(IxDyn(s), v)
                    .map_err(|e| anyhow!("wonnx output has the wrong size: {e}"))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(unpad_outputs(arrays, self.input_shape[0], n))
    }
}

/// Finds the adapter wonnx will use (same selection: `WGPU_BACKEND`, `WGPU_ADAPTER_NAME`, else the
/// primary backends), so that "no GPU" is an error here instead of a panic inside wonnx.
pub async fn find_adapter() -> Result<String> {
    let backends = wgpu::util::backend_bits_from_env().unwrap_or(wgpu::Backends::PRIMARY);
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends,
        ..Default::default()
    });
    let adapter = wgpu::util::initialize_adapter_from_env_or_default(&instance, backends, None).await.context(
        "no WebGPU/Vulkan adapter found. Natively, install a Vulkan driver (on Debian/Ubuntu without a GPU: \
         `apt-get install -y mesa-vulkan-drivers` gives the lavapipe CPU driver); in a browser, enable WebGPU. \
         Or use the cpu engine",
    )?;
    let info = adapter.get_info();
    Ok(format!("{} ({:?})", info.name, info.backend))
}

/// Rewrites a graph into the form wonnx 0.5.1 runs correctly, with the input fixed to `input_shape`.
pub fn prepare_for_wonnx(
    mut model: pb::ModelProto,
    input_shape: &[usize],
) -> Result<pb::ModelProto> {
    let facts = analyse_shapes(&model, input_shape)?;
    let g = model.graph.as_mut().context("the model has no graph")?;

    let unsupported: Vec<&str> = g
        .node
        .iter()
        .map(|n| n.op_type.as_str())
        .filter(|op| !WONNX_OPS.contains(op))
        .collect();
    if !unsupported.is_empty() {
        let mut ops = unsupported;
        ops.sort_unstable();
        ops.dedup();
        bail!(
            "wonnx 0.5.1 does not implement the operator(s) {}; use the cpu engine for this graph",
            ops.join(", ")
        );
    }

    // Static types everywhere: inputs, outputs and every intermediate tensor.
    let initialized: std::collections::HashSet<String> =
        g.initializer.iter().map(|t| t.name.clone()).collect();
    let typed = |name: &str| -> Result<pb::ValueInfoProto> {
        let (elem, shape) = facts.get(name).with_context(|| {
            format!("tract could not infer the type and shape of tensor `{name}`; wonnx needs every shape")
        })?;
        Ok(graph::value_info(name, *elem, shape))
    };
    for input in g
        .input
        .iter_mut()
        .filter(|i| !initialized.contains(&i.name))
    {
        *input = typed(&input.name)?;
    }
    for output in g.output.iter_mut() {
        *output = typed(&output.name)?;
    }
    let outputs: std::collections::HashSet<String> =
        g.output.iter().map(|o| o.name.clone()).collect();
    let mut value_info = Vec::new();
    for node in &g.node {
        for out in node
            .output
            .iter()
            .filter(|o| !o.is_empty() && !outputs.contains(*o))
        {
            value_info.push(typed(out)?);
        }
    }
    g.value_info = value_info;
    for (name, (elem, _)) in &facts {
        ensure!(
            *elem == graph::FLOAT || initialized.contains(name) || !is_activation(g, name),
            "tensor `{name}` has ONNX type {elem}; wonnx computes activations in float32 only"
        );
    }

    fix_gemm_transb(g)?;
    add_missing_conv_bias(g, &facts)?;
    Ok(model)
}

fn is_activation(g: &pb::GraphProto, name: &str) -> bool {
    g.node
        .iter()
        .any(|n| n.op_type != "Shape" && n.output.iter().any(|o| o == name))
}

/// ONNX element type and static shape of every named tensor, from tract's analysis.
fn analyse_shapes(
    model: &pb::ModelProto,
    input_shape: &[usize],
) -> Result<HashMap<String, (i32, Vec<usize>)>> {
    let input = graph::single_input(graph::graph(model))?;
    let datum = match input.elem_type {
        graph::FLOAT => f32::datum_type(),
        graph::INT64 => i64::datum_type(),
        other => bail!(
            "the graph input `{}` has ONNX element type {other}",
            input.name
        ),
    };
    let parsed = tract_onnx::onnx()
        .parse(model, None)
        .map_err(|e| anyhow!("{e:#}"))
        .context("tract could not read the graph")?;
    let mut m = parsed.model;
    m.set_input_fact(0, InferenceFact::dt_shape(datum, input_shape.to_vec()))
        .map_err(|e| anyhow!("{e:#}"))?;
    m.analyse(false)
        .map_err(|e| anyhow!("{e:#}"))
        .context("tract's shape analysis failed")?;
    let mut facts = HashMap::new();
    for (name, outlet) in parsed.outlets_by_name {
        let fact = m.outlet_fact(outlet).map_err(|e| anyhow!("{e:#}"))?;
        let (Some(dt), Ok(Some(shape))) = (
            fact.datum_type.concretize(),
            fact.shape.as_concrete_finite(),
        ) else {
            continue;
        };
        let elem = match dt {
            DatumType::F32 => graph::FLOAT,
            DatumType::I64 => graph::INT64,
            DatumType::I32 => pb::tensor_proto::DataType::Int32 as i32,
            DatumType::U8 => pb::tensor_proto::DataType::Uint8 as i32,
            DatumType::Bool => pb::tensor_proto::DataType::Bool as i32,
            other => bail!("tensor `{name}` has type {other:?}, which wonnx does not handle"),
        };
        facts.insert(name, (elem, shape.to_vec()));
    }
    Ok(facts)
}

/// wonnx rejects `transB=1`: store the transposed weight instead.
fn fix_gemm_transb(g: &mut pb::GraphProto) -> Result<()> {
    let mut new_inits = Vec::new();
    for (i, node) in g.node.iter_mut().enumerate() {
        if node.op_type != "Gemm" || graph::attr_int(node, "transB", 0) == 0 {
            continue;
        }
        ensure!(
            graph::attr_int(node, "transA", 0) == 0,
            "Gemm `{}` has transA=1, which wonnx cannot run",
            node.name
        );
        let b = g
            .initializer
            .iter()
            .find(|t| t.name == node.input[1])
            .with_context(|| {
                format!(
                    "Gemm `{}` has transB=1 on a computed input; wonnx cannot run it",
                    node.name
                )
            })?;
        let w = graph::tensor_f32(b)?;
        ensure!(w.ndim() == 2, "Gemm `{}` weight is not 2-D", node.name);
        let transposed = w.t().as_standard_layout().into_owned();
        let name = format!("{}__glassbox_transposed_{i}", node.input[1]);
        new_inits.push(graph::make_tensor_f32(&name, &transposed));
        node.input[1] = name;
        for a in node.attribute.iter_mut().filter(|a| a.name == "transB") {
            a.i = 0;
        }
    }
    g.initializer.extend(new_inits);
    Ok(())
}

/// wonnx computes a bias-less 3×3 stride-1 `Conv` wrongly (silently): give every Conv an explicit zero bias.
fn add_missing_conv_bias(
    g: &mut pb::GraphProto,
    facts: &HashMap<String, (i32, Vec<usize>)>,
) -> Result<()> {
    let mut new_inits = Vec::new();
    for (i, node) in g.node.iter_mut().enumerate() {
        if node.op_type != "Conv" || node.input.get(2).is_some_and(|b| !b.is_empty()) {
            continue;
        }
        let out_channels = facts
            .get(&node.input[1])
            .map(|(_, s)| s[0])
            .with_context(|| format!("Conv `{}`: unknown weight shape", node.name))?;
        let name = format!("{}__glassbox_zero_bias_{i}", node.name);
        new_inits.push(graph::make_tensor_f32(
            &name,
            &ArrayD::zeros(IxDyn(&[out_channels])),
        ));
        node.input.truncate(2);
        node.input.push(name);
    }
    g.initializer.extend(new_inits);
    Ok(())
}
