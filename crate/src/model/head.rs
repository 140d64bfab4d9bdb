//! The linear-head check: reads `logits = W·mean_hw(features) + b` from an ONNX graph by pattern
//! (GlobalAveragePool / ReduceMean / full-map AveragePool → reshapes → Gemm | MatMul(+Add) | 1×1 Conv)
//! and checks it against a forward pass. Grad-CAM's weights and AblationCAM's drops are exact only
//! for such a head.

use anyhow::{bail, ensure, Context, Result};
use ndarray::{Array1, Array2, ArrayD, ArrayView2, ArrayView4, Axis, Ix2, Ix4};
use tract_onnx::pb;

use crate::engine::graph;

/// The message every linear-head failure starts with.
pub const HEAD_ERROR: &str =
    "this graph's head is not global-average-pool + linear; Grad-CAM/AblationCAM need it";

/// `logits = weight · mean_hw(features) + bias`, read from the graph.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearHead {
    /// `[classes, channels]`.
    pub weight: Array2<f32>,
    /// `[classes]`.
    pub bias: Array1<f32>,
}

impl LinearHead {
    /// Reads the head between the `features` and `logits` outputs: GlobalAveragePool / ReduceMean(2,3) /
    /// full-map AveragePool → Flatten/Reshape/Squeeze → Gemm (either transB) | MatMul (+Add) | 1×1 Conv.
    pub fn from_onnx(onnx: &[u8], features: &str, logits: &str) -> Result<LinearHead> {
        let proto = graph::decode(onnx)?;
        Self::from_graph(graph::graph(&proto), features, logits)
    }

    /// As [`LinearHead::from_onnx`], on a decoded graph.
    pub fn from_graph(g: &pb::GraphProto, features: &str, logits: &str) -> Result<LinearHead> {
        let head = HeadReader { g };
        head.read(features, logits)
            .with_context(|| format!("{HEAD_ERROR} (reading `{features}` → `{logits}`)"))
    }

    /// Number of channels of the feature map.
    pub fn channels(&self) -> usize {
        self.weight.ncols()
    }

    /// `weight · mean_hw(features) + bias` for a batch of feature maps.
    pub fn apply(&self, features: ArrayView4<f32>) -> Array2<f32> {
        let (n, c, h, w) = features.dim();
        let pooled = features
            .to_shape((n, c, h * w))
            .expect("contiguous reshape")
            .mean_axis(Axis(2))
            .expect("h·w > 0");
        pooled.dot(&self.weight.t()) + &self.bias
    }

    /// Checks that the graph's logits equal the head applied to its features (relative tolerance
    /// `rel_tol` of the largest logit magnitude, at least 1).
    pub fn verify(
        &self,
        features: ArrayView4<f32>,
        logits: ArrayView2<f32>,
        rel_tol: f32,
    ) -> Result<()> {
        ensure!(
            features.dim().1 == self.channels() && logits.ncols() == self.weight.nrows(),
            "{HEAD_ERROR}: the head maps {} channels to {} classes but the graph gives features {:?} and logits {:?}",
            self.channels(),
            self.weight.nrows(),
            features.shape(),
            logits.shape()
        );
        let predicted = self.apply(features);
        let scale = logits.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        let max_diff = (&predicted - &logits)
            .iter()
            .fold(0.0f32, |m, v| m.max(v.abs()));
        ensure!(
            max_diff <= rel_tol * scale,
            "{HEAD_ERROR}: logits differ from W·mean_hw(features)+b by up to {max_diff:.3e} (largest logit {scale:.3e}, \
             tolerance {rel_tol:e} relative)"
        );
        Ok(())
    }
}

struct HeadReader<'a> {
    g: &'a pb::GraphProto,
}

/// Input `i` of `node`: the graph is untrusted, so a node with fewer inputs than its operator takes is an
/// error, not an index out of bounds.
fn input(node: &pb::NodeProto, i: usize) -> Result<&str> {
    node.input.get(i).map(String::as_str).with_context(|| {
        format!(
            "the {} node `{}` has {} inputs, input {i} is missing",
            node.op_type,
            node.name,
            node.input.len()
        )
    })
}

impl<'a> HeadReader<'a> {
    fn producer(&self, tensor: &str) -> Result<&'a pb::NodeProto> {
        self.g
            .node
            .iter()
            .find(|n| n.output.iter().any(|o| o == tensor))
            .with_context(|| {
                format!("no node produces `{tensor}` (it is a graph input or initializer)")
            })
    }

    fn init(&self, name: &str) -> Result<ArrayD<f32>> {
        let t = graph::initializer(self.g, name)
            .with_context(|| format!("`{name}` is computed, not a stored weight (initializer)"))?;
        graph::tensor_f32(t)
    }

    /// Walks back through ops that only reshape `[N, C, 1, 1]` ↔ `[N, C]`. A walk longer than the graph has
    /// nodes is going round a cycle (a node reading its own output), which only a broken graph has.
    fn skip_reshapes(&self, tensor: &str) -> Result<String> {
        let mut tensor = tensor.to_string();
        for _ in 0..=self.g.node.len() {
            let Ok(node) = self.producer(&tensor) else {
                return Ok(tensor);
            };
            match node.op_type.as_str() {
                "Flatten" | "Reshape" | "Squeeze" | "Unsqueeze" | "Identity" | "Dropout" => {
                    tensor = input(node, 0)?.to_string()
                }
                _ => return Ok(tensor),
            }
        }
        bail!("the graph has a cycle through `{tensor}`")
    }

    fn read(&self, features: &str, logits: &str) -> Result<LinearHead> {
        let last = self.producer(&self.skip_reshapes(logits)?)?;
        let (pooled, weight, bias) = match last.op_type.as_str() {
            "Gemm" => self.gemm(last)?,
            "MatMul" => self.matmul(last, None)?,
            "Add" => {
                let (other, bias_name) = self.split_add(last)?;
                let node = self.producer(&self.skip_reshapes(other)?)?;
                match node.op_type.as_str() {
                    "MatMul" => self.matmul(node, Some(bias_name))?,
                    op => bail!("the bias Add follows a {op} node, not a MatMul"),
                }
            }
            "Conv" => self.conv1x1(last)?,
            "Softmax" | "LogSoftmax" | "Sigmoid" => {
                bail!(
                    "`{logits}` is {} of the scores; export the pre-softmax logits",
                    last.op_type
                )
            }
            op => bail!("`{logits}` comes from a {op} node, not Gemm, MatMul(+Add) or a 1×1 Conv"),
        };
        self.check_pool(&self.skip_reshapes(pooled)?, features)?;
        ensure!(
            bias.len() == weight.nrows(),
            "bias has {} entries for {} classes",
            bias.len(),
            weight.nrows()
        );
        Ok(LinearHead { weight, bias })
    }

    fn split_add(&self, add: &'a pb::NodeProto) -> Result<(&'a str, &'a str)> {
        let [a, b] = [input(add, 0)?, input(add, 1)?];
        if graph::initializer(self.g, b).is_some() {
            Ok((a, b))
        } else if graph::initializer(self.g, a).is_some() {
            Ok((b, a))
        } else {
            bail!("neither input of the final Add is a stored bias")
        }
    }

    fn bias_vector(&self, name: Option<&str>, classes: usize, scale: f32) -> Result<Array1<f32>> {
        match name.filter(|n| !n.is_empty()) {
            None => Ok(Array1::zeros(classes)),
            Some(n) => {
                let b = self.init(n)?;
                let flat: Vec<f32> = b.iter().map(|v| v * scale).collect();
                match flat.len() {
                    1 => Ok(Array1::from_elem(classes, flat[0])),
                    k if k == classes => Ok(Array1::from(flat)),
                    k => bail!("bias `{n}` has {k} values for {classes} classes"),
                }
            }
        }
    }

    fn gemm(&self, node: &'a pb::NodeProto) -> Result<(&'a str, Array2<f32>, Array1<f32>)> {
        ensure!(
            graph::attr_int(node, "transA", 0) == 0,
            "the Gemm transposes its input (transA=1)"
        );
        let alpha = graph::attribute(node, "alpha").map_or(1.0, |a| a.f);
        let beta = graph::attribute(node, "beta").map_or(1.0, |a| a.f);
        let b = self
            .init(input(node, 1)?)?
            .into_dimensionality::<Ix2>()
            .context("Gemm weight is not 2-D")?;
        // ONNX Gemm: Y = alpha·A·B' + beta·C with B' = Bᵀ when transB=1; our weight is [classes, channels].
        let weight = if graph::attr_int(node, "transB", 0) == 1 {
            b
        } else {
            b.reversed_axes()
        };
        let weight = weight.as_standard_layout().mapv(|v| v * alpha);
        let bias = self.bias_vector(node.input.get(2).map(String::as_str), weight.nrows(), beta)?;
        Ok((input(node, 0)?, weight, bias))
    }

    fn matmul(
        &self,
        node: &'a pb::NodeProto,
        bias: Option<&str>,
    ) -> Result<(&'a str, Array2<f32>, Array1<f32>)> {
        let b = self
            .init(input(node, 1)?)?
            .into_dimensionality::<Ix2>()
            .context("MatMul weight is not 2-D")?;
        let weight = b.reversed_axes().as_standard_layout().to_owned();
        let bias = self.bias_vector(bias, weight.nrows(), 1.0)?;
        Ok((input(node, 0)?, weight, bias))
    }

    fn conv1x1(&self, node: &'a pb::NodeProto) -> Result<(&'a str, Array2<f32>, Array1<f32>)> {
        let w = self
            .init(input(node, 1)?)?
            .into_dimensionality::<Ix4>()
            .context("Conv weight is not 4-D")?;
        let (k, c, kh, kw) = w.dim();
        ensure!(
            kh == 1 && kw == 1,
            "the final Conv has a {kh}×{kw} kernel, not 1×1"
        );
        ensure!(
            graph::attr_int(node, "group", 1) == 1,
            "the final Conv is grouped"
        );
        ensure!(
            graph::attr_ints(node, "pads").is_none_or(|p| p.iter().all(|&v| v == 0)),
            "the final 1×1 Conv pads its input"
        );
        let weight = w.into_shape_with_order((k, c)).context("1×1 Conv weight")?;
        let bias = self.bias_vector(node.input.get(2).map(String::as_str), k, 1.0)?;
        Ok((input(node, 0)?, weight, bias))
    }

    fn check_pool(&self, pooled: &str, features: &str) -> Result<()> {
        let pool = self.producer(pooled)?;
        let ok = match pool.op_type.as_str() {
            "GlobalAveragePool" => true,
            "ReduceMean" => {
                let axes = match graph::attr_ints(pool, "axes") {
                    Some(a) => a.to_vec(),
                    None => match pool.input.get(1).filter(|s| !s.is_empty()) {
                        Some(name) => graph::tensor_i64(
                            graph::initializer(self.g, name)
                                .context("ReduceMean axes are computed, not stored")?,
                        )?,
                        None => bail!("ReduceMean without axes averages over every axis"),
                    },
                };
                let mut axes: Vec<i64> = axes
                    .iter()
                    .map(|&a| if a < 0 { a + 4 } else { a })
                    .collect();
                axes.sort_unstable();
                ensure!(
                    axes == [2, 3],
                    "ReduceMean averages over axes {axes:?}, not the spatial axes [2, 3]"
                );
                true
            }
            "AveragePool" => {
                let f = graph::outputs(self.g)
                    .into_iter()
                    .find(|o| o.name == features)
                    .and_then(|o| o.static_shape());
                let kernel = graph::attr_ints(pool, "kernel_shape").unwrap_or_default();
                let pads_zero =
                    graph::attr_ints(pool, "pads").is_none_or(|p| p.iter().all(|&v| v == 0));
                match f {
                    Some(s) => pads_zero && s.len() == 4 && kernel.len() == 2 && kernel[0] as usize == s[2] && kernel[1] as usize == s[3],
                    None => bail!("an AveragePool head needs a static `{features}` shape to check it covers the whole map"),
                }
            }
            op => {
                bail!("the linear layer's input comes from a {op} node, not a global average pool")
            }
        };
        ensure!(
            ok,
            "the {} does not average the whole feature map",
            pool.op_type
        );
        let read = input(pool, 0)?;
        ensure!(
            read == features,
            "the global average pool reads `{read}`, not the `{features}` output"
        );
        Ok(())
    }
}
