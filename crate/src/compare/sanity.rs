//! Model-parameter randomisation test (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018),
//! cascading form: re-initialise the top layer, then the top two, … and see whether an explanation
//! changes. An explanation that survives the destruction of the weights it claims to explain is not
//! explaining the model.
//!
//! The randomised model is a copy of the ONNX file with the initializers of the last `k` weighted layers
//! (Conv / Gemm / MatMul, in graph order) redrawn, so every engine and method runs on it unchanged.
//! Each tensor is redrawn from a truncated normal (±2σ, TensorFlow's `truncated_normal`, the initialiser
//! family of the TF-slim MobileNets) with the **original tensor's mean and standard deviation**: the
//! activations keep their scale, so ReLU6 neither saturates nor dies, and only the learned structure is
//! destroyed. Each layer's draw depends on the seed and the layer name only, so a layer randomised at
//! cascade step k holds the same values at step k + 1, as in Adebayo et al.

use anyhow::{ensure, Context, Result};
use ndarray::ArrayView2;
use tract_onnx::pb::{GraphProto, TensorProto};

use super::agreement::{spearman, ssim};
use crate::engine::graph::{self, tensor_f32};
use crate::numerics::min_max_unit;
use crate::rng::SplitMix64;

/// The op types whose initializers (beyond the data input) are learned weights.
const WEIGHTED_OPS: [&str; 3] = ["Conv", "Gemm", "MatMul"];

/// One weighted layer of a graph.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WeightedLayer {
    /// The node name (or its first output's name when the node is unnamed).
    pub node: String,
    /// Names of its initializer inputs (weight, bias).
    pub initializers: Vec<String>,
}

/// The weighted layers of a model, in graph (topological) order.
pub fn weighted_layers(onnx: &[u8]) -> Result<Vec<WeightedLayer>> {
    let model = graph::decode(onnx)?;
    Ok(layers_of(graph::graph(&model)))
}

/// The weighted layers of a decoded graph, in graph (topological) order.
pub fn layers_of(graph: &GraphProto) -> Vec<WeightedLayer> {
    let is_initializer = |name: &str| graph.initializer.iter().any(|t| t.name == name);
    graph
        .node
        .iter()
        .filter(|n| WEIGHTED_OPS.contains(&n.op_type.as_str()))
        .map(|n| WeightedLayer {
            node: if n.name.is_empty() {
                n.output.first().cloned().unwrap_or_default()
            } else {
                n.name.clone()
            },
            initializers: n
                .input
                .iter()
                .skip(1)
                .filter(|i| is_initializer(i))
                .cloned()
                .collect(),
        })
        .filter(|l| !l.initializers.is_empty())
        .collect()
}

/// A copy of a model with its top layers re-initialised.
#[derive(Debug, Clone)]
pub struct RandomizedModel {
    pub onnx: Vec<u8>,
    /// The layers that were re-initialised, top (output side) first.
    pub layers: Vec<WeightedLayer>,
}

/// Re-initialises the last `count` weighted layers of `onnx` (see the module comment for how).
pub fn randomize_top_layers(onnx: &[u8], count: usize, seed: u64) -> Result<RandomizedModel> {
    let mut model = graph::decode(onnx)?;
    let layers = layers_of(graph::graph(&model));
    ensure!(
        (1..=layers.len()).contains(&count),
        "cannot randomise the top {count} layers: the graph has {} weighted layers (Conv/Gemm/MatMul with initializers)",
        layers.len()
    );
    let chosen: Vec<WeightedLayer> = layers.iter().rev().take(count).cloned().collect();
    let g = model.graph.as_mut().expect("graph::decode checked it");
    for layer in &chosen {
        for name in &layer.initializers {
            let tensor = g
                .initializer
                .iter_mut()
                .find(|t| &t.name == name)
                .with_context(|| format!("initializer {name} of layer {} vanished", layer.node))?;
            redraw(tensor, SplitMix64::keyed(seed, name.as_bytes()))
                .with_context(|| format!("re-initialising {name} of layer {}", layer.node))?;
        }
    }
    Ok(RandomizedModel {
        onnx: graph::encode(&model),
        layers: chosen,
    })
}

/// Standard deviation of a standard normal truncated to [-2, 2]: √(1 − 4φ(2)/(Φ(2) − Φ(−2))).
const TRUNCATED_NORMAL_STD: f64 = 0.879_625_7;

fn redraw(tensor: &mut TensorProto, mut rng: SplitMix64) -> Result<()> {
    let values = tensor_f32(tensor)?.into_raw_vec_and_offset().0;
    let n = values.len().max(1) as f64;
    let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
    let std = (values
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    // A ±2σ truncated normal has standard deviation 0.8796σ; widen σ so the redrawn tensor keeps `std`.
    let sigma = std / TRUNCATED_NORMAL_STD;
    let fresh: Vec<f32> = values
        .iter()
        .map(|_| (mean + sigma * rng.next_truncated_normal()) as f32)
        .collect();
    if !tensor.raw_data.is_empty() {
        tensor.raw_data = fresh.iter().flat_map(|v| v.to_le_bytes()).collect();
    } else {
        tensor.float_data = fresh;
    }
    Ok(())
}

/// How much an explanation changed between the original and a randomised model.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MapChange {
    /// Spearman rank correlation between the two maps (1 = same ranking).
    pub spearman: Option<f64>,
    /// SSIM of the two maps, each scaled to [0, 1] by its own min and max (Adebayo et al. normalise
    /// before comparing; 1 = identical).
    pub ssim: f64,
}

/// Compares an explanation on the original model with the one on a randomised model.
pub fn map_change(original: ArrayView2<f32>, randomized: ArrayView2<f32>) -> Result<MapChange> {
    let a = min_max_unit(original);
    let b = min_max_unit(randomized);
    Ok(MapChange {
        spearman: spearman(original, randomized)?,
        ssim: ssim(a.view(), b.view(), 1.0)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::pb::{tensor_proto::DataType, ModelProto, NodeProto, OperatorSetIdProto};

    fn float_tensor(name: &str, values: &[f32], raw: bool) -> TensorProto {
        TensorProto {
            name: name.into(),
            dims: vec![values.len() as i64],
            data_type: DataType::Float as i32,
            raw_data: if raw {
                values.iter().flat_map(|v| v.to_le_bytes()).collect()
            } else {
                vec![]
            },
            float_data: if raw { vec![] } else { values.to_vec() },
            ..Default::default()
        }
    }

    fn node(op: &str, name: &str, inputs: &[&str]) -> NodeProto {
        NodeProto {
            op_type: op.into(),
            name: name.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![format!("{name}_out")],
            ..Default::default()
        }
    }

    /// Three weighted layers with a Relu in between, weights raw and as float_data.
    fn tiny_model() -> Vec<u8> {
        let weights: Vec<f32> = (0..400).map(|i| (i as f32 * 0.37).sin()).collect();
        let graph = GraphProto {
            node: vec![
                node("Conv", "first", &["x", "w1", "b1"]),
                node("Relu", "act", &["first_out"]),
                node("Conv", "second", &["act_out", "w2"]),
                node("Gemm", "head", &["second_out", "w3", "b3"]),
            ],
            initializer: vec![
                float_tensor("w1", &weights, true),
                float_tensor("b1", &weights[..10], false),
                float_tensor("w2", &weights, true),
                float_tensor("w3", &weights, false),
                float_tensor("b3", &weights[..10], true),
            ],
            output: vec![graph::value_info("head_out", graph::FLOAT, &[1, 10])],
            ..Default::default()
        };
        graph::encode(&ModelProto {
            ir_version: 7,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: 13,
            }],
            graph: Some(graph),
            ..Default::default()
        })
    }

    fn initializer(onnx: &[u8], name: &str) -> Vec<f32> {
        let model = graph::decode(onnx).unwrap();
        tensor_f32(
            graph::graph(&model)
                .initializer
                .iter()
                .find(|t| t.name == name)
                .unwrap(),
        )
        .unwrap()
        .into_raw_vec_and_offset()
        .0
    }

    #[test]
    fn finds_weighted_layers_in_graph_order() {
        let layers = weighted_layers(&tiny_model()).unwrap();
        let names: Vec<&str> = layers.iter().map(|l| l.node.as_str()).collect();
        assert_eq!(names, ["first", "second", "head"]);
        assert_eq!(layers[0].initializers, ["w1", "b1"]);
    }

    #[test]
    fn randomises_exactly_the_top_layers_keeping_mean_and_scale() {
        let onnx = tiny_model();
        let r = randomize_top_layers(&onnx, 2, 42).unwrap();
        assert_eq!(
            r.layers.iter().map(|l| l.node.as_str()).collect::<Vec<_>>(),
            ["head", "second"]
        );
        assert_eq!(initializer(&r.onnx, "w1"), initializer(&onnx, "w1"));
        assert_eq!(initializer(&r.onnx, "b1"), initializer(&onnx, "b1"));
        for name in ["w2", "w3"] {
            let (old, new) = (initializer(&onnx, name), initializer(&r.onnx, name));
            assert_eq!(old.len(), new.len());
            assert_ne!(old, new);
            let stats = |v: &[f32]| {
                let m = v.iter().sum::<f32>() / v.len() as f32;
                (
                    m,
                    (v.iter().map(|x| (x - m).powi(2)).sum::<f32>() / v.len() as f32).sqrt(),
                )
            };
            let ((m0, s0), (m1, s1)) = (stats(&old), stats(&new));
            // 400 draws: mean within a few standard errors (σ/20), std within ~10 %, nothing beyond the
            // truncation at ±2σ' with σ' = σ / 0.8796.
            assert!((m1 - m0).abs() < 0.2 * s0, "{name}: mean {m0} → {m1}");
            assert!(s1 > 0.9 * s0 && s1 < 1.1 * s0, "{name}: std {s0} → {s1}");
            assert!(new
                .iter()
                .all(|v| (v - m0).abs() <= 2.0 * s0 / 0.8796 + 1e-5));
        }
        // Cascading: the head's draw is the same when more layers are randomised.
        let deeper = randomize_top_layers(&onnx, 3, 42).unwrap();
        assert_eq!(initializer(&deeper.onnx, "w3"), initializer(&r.onnx, "w3"));
        assert_ne!(initializer(&deeper.onnx, "w1"), initializer(&onnx, "w1"));
        assert!(randomize_top_layers(&onnx, 4, 42).is_err());
        assert!(randomize_top_layers(b"not onnx at all", 1, 0).is_err());
    }

    #[test]
    fn map_change_is_perfect_for_identical_maps() {
        let a = ndarray::Array2::from_shape_fn((16, 16), |(r, c)| (r * c) as f32);
        let ch = map_change(a.view(), a.view()).unwrap();
        assert_eq!(ch.spearman, Some(1.0));
        assert!((ch.ssim - 1.0).abs() < 1e-12);
    }
}
