//! Reading ONNX protobufs (tract's prost types): validation, input/output signatures, initializers.
//!
//! Shared by the model loader (head extraction), the CPU engine (input facts) and the WebGPU engine
//! (graph preparation for wonnx).

use anyhow::{bail, ensure, Context, Result};
use ndarray::{ArrayD, IxDyn};
use prost::Message;
use tract_onnx::pb::{self, tensor_proto::DataType, tensor_shape_proto::dimension, type_proto};

/// ONNX element type codes we handle by name.
pub const FLOAT: i32 = DataType::Float as i32;
pub const INT64: i32 = DataType::Int64 as i32;

/// Decodes and sanity-checks an ONNX model.
///
/// Protobuf decoding is lenient (random bytes sometimes parse), so we also require a graph with nodes,
/// at least one input and output, and an opset import: anything else is "not an ONNX model".
pub fn decode(bytes: &[u8]) -> Result<pb::ModelProto> {
    const HINT: &str = "give an .onnx file exported by torch.onnx.export, tf2onnx or similar";
    let model = pb::ModelProto::decode(bytes).map_err(|e| {
        anyhow::anyhow!("this file is not an ONNX model (protobuf decoding failed: {e}); {HINT}")
    })?;
    let graph = model.graph.as_ref().with_context(|| {
        format!("this file is not an ONNX model (no graph in the protobuf); {HINT}")
    })?;
    ensure!(
        !graph.node.is_empty() && !graph.output.is_empty() && !model.opset_import.is_empty(),
        "this file is not an ONNX model (the protobuf has no nodes, outputs or opset: {} nodes, {} outputs, {} opsets); {HINT}",
        graph.node.len(),
        graph.output.len(),
        model.opset_import.len()
    );
    Ok(model)
}

/// Encodes a (possibly edited) model back to bytes.
pub fn encode(model: &pb::ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}

/// The graph of a model decoded by [`decode`] (which guarantees it exists).
pub fn graph(model: &pb::ModelProto) -> &pb::GraphProto {
    model
        .graph
        .as_ref()
        .expect("decode() checked that the model has a graph")
}

/// Name, element type and shape (`None` = symbolic or unknown dimension) of a graph input or output.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueSig {
    pub name: String,
    pub elem_type: i32,
    pub dims: Option<Vec<Option<usize>>>,
}

impl ValueSig {
    pub fn rank(&self) -> Option<usize> {
        self.dims.as_ref().map(Vec::len)
    }

    /// The shape when every dimension is known.
    pub fn static_shape(&self) -> Option<Vec<usize>> {
        self.dims.as_ref()?.iter().copied().collect()
    }
}

fn value_sig(v: &pb::ValueInfoProto) -> ValueSig {
    let tensor = v
        .r#type
        .as_ref()
        .and_then(|t| t.value.as_ref())
        .map(|type_proto::Value::TensorType(t)| t);
    let dims = tensor.and_then(|t| t.shape.as_ref()).map(|s| {
        s.dim
            .iter()
            .map(|d| match d.value {
                Some(dimension::Value::DimValue(v)) if v > 0 => Some(v as usize),
                _ => None,
            })
            .collect()
    });
    ValueSig {
        name: v.name.clone(),
        elem_type: tensor.map_or(0, |t| t.elem_type),
        dims,
    }
}

/// Graph inputs that are real inputs (old exporters also list every initializer as an input).
pub fn inputs(graph: &pb::GraphProto) -> Vec<ValueSig> {
    let initialized: std::collections::HashSet<&str> =
        graph.initializer.iter().map(|t| t.name.as_str()).collect();
    graph
        .input
        .iter()
        .filter(|i| !initialized.contains(i.name.as_str()))
        .map(value_sig)
        .collect()
}

/// Graph outputs, in order.
pub fn outputs(graph: &pb::GraphProto) -> Vec<ValueSig> {
    graph.output.iter().map(value_sig).collect()
}

/// The single real input of an image classifier graph.
pub fn single_input(graph: &pb::GraphProto) -> Result<ValueSig> {
    let inputs = inputs(graph);
    match inputs.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!("the ONNX graph has no input (every input is an initializer)"),
        many => bail!(
            "the ONNX graph has {} inputs ({}); glassbox needs exactly one image input",
            many.len(),
            many.iter()
                .map(|i| i.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Resolves the input shape one engine call uses: the graph's static shape, or its dynamic batch axis
/// set to `batch` (other dynamic axes are an error: glassbox feeds fixed-size images).
pub fn concrete_input_shape(input: &ValueSig, batch: Option<usize>) -> Result<Vec<usize>> {
    let dims = input.dims.as_ref().with_context(|| {
        format!(
            "the graph input `{}` has no shape; re-export it with a static shape",
            input.name
        )
    })?;
    ensure!(
        !dims.is_empty(),
        "the graph input `{}` is a scalar",
        input.name
    );
    let mut shape = Vec::with_capacity(dims.len());
    for (axis, d) in dims.iter().enumerate() {
        match (axis, d) {
            (_, Some(v)) => shape.push(*v),
            (0, None) => {
                let b = batch.unwrap_or(super::DEFAULT_DYNAMIC_BATCH);
                ensure!(b >= 1, "batch size must be at least 1");
                shape.push(b)
            }
            (axis, None) => bail!(
                "the graph input `{}` has a dynamic axis {axis} ({dims:?}); only the batch axis (0) may be dynamic: \
                 re-export with a fixed image size",
                input.name
            ),
        }
    }
    Ok(shape)
}

/// Finds an initializer by name.
pub fn initializer<'a>(graph: &'a pb::GraphProto, name: &str) -> Option<&'a pb::TensorProto> {
    graph.initializer.iter().find(|t| t.name == name)
}

/// Reads a float tensor (inline `float_data` or little-endian `raw_data`).
pub fn tensor_f32(t: &pb::TensorProto) -> Result<ArrayD<f32>> {
    ensure!(
        t.data_type == FLOAT,
        "tensor `{}` has ONNX data type {} where float32 (1) is needed",
        t.name,
        t.data_type
    );
    ensure!(
        t.external_data.is_empty(),
        "tensor `{}` is stored as external data; save the model with its weights inside the .onnx file",
        t.name
    );
    // Checked: dims are untrusted int64s (negative, or a product past usize) and `as` would wrap them.
    let shape = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).ok())
        .collect::<Option<Vec<usize>>>()
        .with_context(|| format!("tensor `{}` has a negative dimension: {:?}", t.name, t.dims))?;
    let n = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|n| n.checked_mul(4).is_some())
        .with_context(|| format!("tensor `{}`: shape {:?} is too large", t.name, t.dims))?;
    let data: Vec<f32> = if !t.raw_data.is_empty() {
        ensure!(
            t.raw_data.len() == 4 * n,
            "tensor `{}`: raw data has {} bytes for {n} floats",
            t.name,
            t.raw_data.len()
        );
        t.raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    } else {
        ensure!(
            t.float_data.len() == n,
            "tensor `{}`: {} floats for shape {shape:?}",
            t.name,
            t.float_data.len()
        );
        t.float_data.clone()
    };
    Ok(ArrayD::from_shape_vec(IxDyn(&shape), data)?)
}

/// Reads an int64 tensor (inline `int64_data` or little-endian `raw_data`).
pub fn tensor_i64(t: &pb::TensorProto) -> Result<Vec<i64>> {
    ensure!(
        t.data_type == INT64,
        "tensor `{}` has ONNX data type {} where int64 (7) is needed",
        t.name,
        t.data_type
    );
    if !t.raw_data.is_empty() {
        ensure!(
            t.raw_data.len().is_multiple_of(8),
            "tensor `{}`: raw data is not a whole number of int64",
            t.name
        );
        Ok(t.raw_data
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
            .collect())
    } else {
        Ok(t.int64_data.clone())
    }
}

/// A float tensor proto with inline data.
pub fn make_tensor_f32(name: &str, a: &ArrayD<f32>) -> pb::TensorProto {
    pb::TensorProto {
        name: name.to_string(),
        data_type: FLOAT,
        dims: a.shape().iter().map(|&d| d as i64).collect(),
        float_data: a.iter().copied().collect(),
        ..Default::default()
    }
}

/// Looks up an attribute of a node.
pub fn attribute<'a>(node: &'a pb::NodeProto, name: &str) -> Option<&'a pb::AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

/// An integer attribute, or `default` when absent.
pub fn attr_int(node: &pb::NodeProto, name: &str, default: i64) -> i64 {
    attribute(node, name).map_or(default, |a| a.i)
}

/// An integer-list attribute, or `None` when absent.
pub fn attr_ints<'a>(node: &'a pb::NodeProto, name: &str) -> Option<&'a [i64]> {
    attribute(node, name).map(|a| a.ints.as_slice())
}

/// A float tensor-valued ValueInfo (static shape) for `value_info` / outputs.
pub fn value_info(name: &str, elem_type: i32, shape: &[usize]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::Dimension;
    pb::ValueInfoProto {
        name: name.to_string(),
        r#type: Some(pb::TypeProto {
            denotation: String::new(),
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type,
                shape: Some(pb::TensorShapeProto {
                    dim: shape
                        .iter()
                        .map(|&d| Dimension {
                            denotation: String::new(),
                            value: Some(dimension::Value::DimValue(d as i64)),
                        })
                        .collect(),
                }),
            })),
        }),
        doc_string: String::new(),
    }
}
