//! Model description (manifest), ONNX loading and validation, labels, and the linear-head check.
//!
//! The manifest is JSON, shared by `models/export.py`, the CLI and the site:
//! ```json
//! { "name": "mobilenet_v2_1.0_224",
//!   "description": "TF-slim MobileNet v2 1.0 224 (ImageNet), float graph from google-coral test_data",
//!   "onnx": "../../shared/data/models/mobilenet_onnx/mobilenet_v2_1.0_224_b8.onnx",
//!   "sha256": "80d3...",
//!   "input": { "name": "input", "shape": [8, 3, 224, 224] },
//!   "preprocessing": { "kind": "central_crop", "central_fraction": 0.875, "size": 224,
//!                      "offset": 128.0, "scale": 0.0078125 },
//!   "outputs": { "features": "features", "logits": "logits" },
//!   "labels": { "file": "../../shared/data/models/mobilenet_tflite_coral/imagenet_labels.txt",
//!               "background_offset": 1 } }
//! ```
//! - `onnx` and `labels.file` are relative to the manifest's folder. A path through a `shared/`
//!   folder (`../../shared/data/...`) is redirected to `$GLASSBOX_SHARED/data/...` when that
//!   variable is set (see [`shared_data_dir`]).
//! - `sha256` is optional; when present the ONNX bytes must match it.
//! - `input.shape` is `[N, 3, H, W]`; `null` for a dynamic batch axis.
//! - `preprocessing` is `central_crop` (x = (u8 - offset) * scale after a central square crop and a
//!   bilinear resize) or `torchvision` (`{ "kind": "torchvision", "resize": 256, "crop": 224,
//!   "mean": [0.485,0.456,0.406], "std": [0.229,0.224,0.225] }`); see [`crate::preprocess`].
//! - `labels.background_offset` counts leading non-ImageNet logits (MobileNets' "background" = 1):
//!   logit `k` is ImageNet class `k - background_offset`. Without `labels.file`, labels are the 1000
//!   torchvision ImageNet class names built into the crate, after `background_offset` "background"s
//!   (or `class 0`, `class 1`, ... when the graph does not have 1000 + offset logits).
//!
//! A bare `.onnx` gets a manifest inferred from the graph ([`Manifest::infer`]): torchvision
//! preprocessing, the 4-D output is `features`, the 2-D output is the logits, ImageNet labels.
//!
//! [`Classifier::load`] runs one forward pass and checks `logits == W·mean_hw(features) + b` with the
//! [`LinearHead`] read from the graph: Grad-CAM's weights and AblationCAM's drops are exact only then.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, ensure, Context, Result};
use ndarray::{Array1, Array2, Array3, Array4, ArrayD, ArrayView4, Axis, Ix2, Ix4};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tract_onnx::pb;

use crate::engine::{self, graph, Engine, EngineKind, Tensor};
use crate::progress::Progress;

/// The 1000 ImageNet class names in torchvision order
/// (`torchvision.models.ResNet50_Weights.IMAGENET1K_V2.meta["categories"]`, written by
/// `tests/reference/preprocess_reference.py`).
pub const IMAGENET_LABELS: &str = include_str!("imagenet_labels.txt");

/// The message every linear-head failure starts with.
pub const HEAD_ERROR: &str =
    "this graph's head is not global-average-pool + linear; Grad-CAM/AblationCAM need it";

/// How a model wants its images prepared (see [`crate::preprocess`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Preprocessing {
    /// torchvision's `Resize(resize)` (shorter side, PIL bilinear with antialias) + `CenterCrop(crop)`,
    /// then `(u8/255 - mean) / std`.
    Torchvision {
        resize: u32,
        crop: u32,
        mean: [f32; 3],
        std: [f32; 3],
    },
    /// TF-slim: central square crop of side `min(W,H)·central_fraction`, PIL bilinear resize to
    /// `size`², then `(u8 - offset) · scale`.
    CentralCrop {
        central_fraction: f32,
        size: u32,
        offset: f32,
        scale: f32,
    },
}

impl Preprocessing {
    /// torchvision's ImageNet recipe for a square input of side `crop`.
    pub fn imagenet_torchvision(crop: u32) -> Preprocessing {
        Preprocessing::Torchvision {
            // 256/224 is the ratio of torchvision's reference evaluation.
            resize: ((crop as f64) * 256.0 / 224.0).round() as u32,
            crop,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
        }
    }

    /// (height, width) of the model input.
    pub fn input_hw(&self) -> (usize, usize) {
        match *self {
            Preprocessing::Torchvision { crop, .. } => (crop as usize, crop as usize),
            Preprocessing::CentralCrop { size, .. } => (size as usize, size as usize),
        }
    }

    fn validate(&self) -> Result<()> {
        match self {
            Preprocessing::Torchvision {
                resize, crop, std, ..
            } => {
                ensure!(
                    *resize > 0 && *crop > 0,
                    "preprocessing: resize and crop must be positive"
                );
                ensure!(
                    std.iter().all(|s| *s > 0.0),
                    "preprocessing: std must be positive"
                );
            }
            Preprocessing::CentralCrop {
                central_fraction,
                size,
                scale,
                ..
            } => {
                ensure!(
                    *central_fraction > 0.0 && *central_fraction <= 1.0,
                    "preprocessing: central_fraction must be in (0, 1], got {central_fraction}"
                );
                ensure!(
                    *size > 0 && *scale != 0.0,
                    "preprocessing: size and scale must be non-zero"
                );
            }
        }
        Ok(())
    }
}

/// The graph input a manifest describes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    pub name: String,
    /// `[N, 3, H, W]`, `None` (JSON `null`) for a dynamic batch axis.
    pub shape: Vec<Option<usize>>,
}

/// Names of the two outputs every explained graph has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// 4-D `[N, C, h, w]` feature map feeding the global average pool.
    pub features: String,
    /// 2-D `[N, classes]` pre-softmax scores.
    pub logits: String,
}

impl Default for OutputSpec {
    fn default() -> Self {
        OutputSpec {
            features: "features".into(),
            logits: "logits".into(),
        }
    }
}

/// Where class names come from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Labels {
    /// One name per logit, one per line (relative to the manifest). `None`: built-in ImageNet names.
    #[serde(default)]
    pub file: Option<String>,
    /// Leading non-ImageNet logits (1 for the TF-slim MobileNets' "background").
    #[serde(default)]
    pub background_offset: usize,
}

/// A model description (see the module docs for the JSON schema). Unknown top-level keys are
/// allowed (export scripts record provenance such as `"weights": "random"`); nested objects are strict
/// so that typos in meaningful fields are errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Path of the ONNX file, relative to the manifest.
    pub onnx: String,
    /// Expected sha256 of the ONNX bytes, lowercase hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub input: InputSpec,
    pub preprocessing: Preprocessing,
    #[serde(default)]
    pub outputs: OutputSpec,
    #[serde(default)]
    pub labels: Labels,
    /// Seeded random weights (`models/export.py --random-weights`): its outputs mean nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub random_weights: bool,
    /// Random weights in the official file formats (`scripts/reproduce.sh --test-mirror`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub test_mirror: bool,
}

/// What every output made from test-mirror weights says.
pub const TEST_MIRROR_BANNER: &str = "TEST MIRROR — not the official weights";

impl Manifest {
    /// The warning every result of this model must carry, if its weights are not real trained weights.
    pub fn provenance_warning(&self) -> Option<String> {
        if self.test_mirror {
            Some(format!(
                "{TEST_MIRROR_BANNER}: seeded random weights in the official file formats \
                 (scripts/reproduce.sh --test-mirror). Nothing here is a result of the real model; never commit it."
            ))
        } else if self.random_weights {
            Some(
                "RANDOM WEIGHTS (seeded, untrained): nothing here is a result of a trained model."
                    .to_string(),
            )
        } else {
            None
        }
    }

    /// Parses a manifest from JSON text.
    pub fn from_json(text: &str) -> Result<Manifest> {
        let m: Manifest = serde_json::from_str(text).context("invalid model manifest JSON")?;
        m.preprocessing.validate()?;
        Ok(m)
    }

    /// The manifest a bare `.onnx` gets: the single input, the 4-D output as features, the 2-D output as
    /// logits, torchvision ImageNet preprocessing sized to the input, built-in ImageNet labels
    /// (a 1001-class graph is taken to have a leading background class).
    pub fn infer(name: &str, onnx: &[u8]) -> Result<Manifest> {
        let proto = graph::decode(onnx)?;
        let g = graph::graph(&proto);
        let input = graph::single_input(g)?;
        let dims = input.dims.clone().unwrap_or_default();
        ensure!(
            dims.len() == 4 && dims[1] == Some(3),
            "the graph input `{}` has shape {dims:?}; an image classifier takes [N, 3, H, W]",
            input.name
        );
        let (h, w) = match (dims[2], dims[3]) {
            (Some(h), Some(w)) if h == w => (h, w),
            _ => bail!(
                "the graph input `{}` has shape {dims:?}: bare .onnx files need a static square H×W; \
                 write a manifest (models/*.json) to describe other inputs",
                input.name
            ),
        };
        let outputs = graph::outputs(g);
        let features = pick_output(
            &outputs,
            4,
            "features",
            "the last convolutional feature map [N, C, h, w]",
        )?;
        let logits = pick_output(&outputs, 2, "logits", "the class scores [N, classes]")?;
        let classes = outputs
            .iter()
            .find(|o| o.name == logits)
            .and_then(|o| o.dims.clone())
            .and_then(|d| d[1]);
        Ok(Manifest {
            name: name.to_string(),
            description: format!("{name} (bare ONNX, preprocessing assumed: torchvision ImageNet)"),
            onnx: format!("{name}.onnx"),
            sha256: None,
            input: InputSpec {
                name: input.name,
                shape: vec![dims[0], Some(3), Some(h), Some(w)],
            },
            preprocessing: Preprocessing::imagenet_torchvision(h as u32),
            outputs: OutputSpec { features, logits },
            labels: Labels {
                file: None,
                background_offset: usize::from(classes == Some(1001)),
            },
            random_weights: false,
            test_mirror: false,
        })
    }
}

fn pick_output(outputs: &[graph::ValueSig], rank: usize, role: &str, what: &str) -> Result<String> {
    let candidates: Vec<_> = outputs.iter().filter(|o| o.rank() == Some(rank)).collect();
    match candidates.as_slice() {
        [one] => Ok(one.name.clone()),
        [] => bail!(
            "the graph has no {rank}-D output for `{role}` ({what}); outputs are {}. \
             Export the model with the feature map as an extra output (see models/export.py)",
            describe_outputs(outputs)
        ),
        many => many.iter().find(|o| o.name == role).map(|o| o.name.clone()).with_context(|| {
            format!(
                "the graph has several {rank}-D outputs ({}); name the `{role}` output `{role}` or write a manifest",
                many.iter().map(|o| o.name.as_str()).collect::<Vec<_>>().join(", ")
            )
        }),
    }
}

fn describe_outputs(outputs: &[graph::ValueSig]) -> String {
    outputs
        .iter()
        .map(|o| match &o.dims {
            Some(d) => format!("`{}` {}", o.name, format_dims(d)),
            None => format!("`{}` (no shape)", o.name),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `[1, 3, 224, 224]`, with `?` for unknown dimensions.
pub fn format_dims(dims: &[Option<usize>]) -> String {
    let parts: Vec<String> = dims
        .iter()
        .map(|d| d.map_or("?".into(), |v| v.to_string()))
        .collect();
    format!("[{}]", parts.join(", "))
}

/// `shared/data`: `$GLASSBOX_SHARED` (the `shared` folder, or its `data` folder itself), else
/// `../shared/data` next to the repository this crate was built from.
pub fn shared_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("GLASSBOX_SHARED") {
        let dir = PathBuf::from(dir);
        return if dir.join("data").is_dir() {
            dir.join("data")
        } else {
            dir
        };
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data")
}

/// Resolves a manifest-relative path; `…/shared/data/rest` honours `$GLASSBOX_SHARED`.
#[cfg(not(target_arch = "wasm32"))]
fn resolve_relative(base: &Path, rel: &str) -> PathBuf {
    let rel_path = Path::new(rel);
    if std::env::var_os("GLASSBOX_SHARED").is_some() {
        let parts: Vec<_> = rel_path.components().collect();
        if let Some(i) = parts
            .windows(2)
            .position(|w| w[0].as_os_str() == "shared" && w[1].as_os_str() == "data")
        {
            let rest: PathBuf = parts[i + 2..].iter().collect();
            return shared_data_dir().join(rest);
        }
    }
    base.join(rel_path)
}

/// A model ready to load into an engine: its manifest, ONNX bytes and one label per logit.
#[derive(Debug, Clone)]
pub struct Model {
    pub manifest: Manifest,
    pub onnx: Vec<u8>,
    pub labels: Vec<String>,
}

impl Model {
    /// Reads a manifest (`.json`) with the files it names, or a bare `.onnx`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_path(path: &Path) -> Result<Model> {
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        if !is_json {
            let onnx = std::fs::read(path)
                .with_context(|| format!("cannot read the model file {}", path.display()))?;
            let name = path
                .file_stem()
                .map_or("model".into(), |s| s.to_string_lossy().into_owned());
            return Model::from_onnx_bytes(&name, onnx)
                .with_context(|| format!("loading {}", path.display()));
        }
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the manifest {}", path.display()))?;
        let manifest = Manifest::from_json(&text)
            .with_context(|| format!("in the manifest {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let onnx_path = resolve_relative(base, &manifest.onnx);
        let onnx = std::fs::read(&onnx_path).with_context(|| {
            format!(
                "cannot read the ONNX file {} named by the manifest {} (paths are relative to the manifest; \
                 set GLASSBOX_SHARED to the folder holding shared/data if it lives elsewhere)",
                onnx_path.display(),
                path.display()
            )
        })?;
        let labels_text = match &manifest.labels.file {
            Some(f) => {
                let p = resolve_relative(base, f);
                Some(std::fs::read_to_string(&p).with_context(|| {
                    format!(
                        "cannot read the labels file {} named by {}",
                        p.display(),
                        path.display()
                    )
                })?)
            }
            None => None,
        };
        Model::from_bytes(manifest, onnx, labels_text.as_deref())
            .with_context(|| format!("loading {}", path.display()))
    }

    /// Builds a model from a manifest, the ONNX bytes and the text of `labels.file` (when it names one).
    pub fn from_bytes(
        manifest: Manifest,
        onnx: Vec<u8>,
        labels_text: Option<&str>,
    ) -> Result<Model> {
        if let Some(expected) = &manifest.sha256 {
            let actual = hex::encode(Sha256::digest(&onnx));
            ensure!(
                actual.eq_ignore_ascii_case(expected.trim()),
                "sha256 mismatch for `{}` (model `{}`): expected {expected}, got {actual}. The file is corrupt or a \
                 different version: fetch the right file again, or update `sha256` in the manifest if you changed \
                 the model on purpose",
                manifest.onnx,
                manifest.name
            );
        }
        let proto = graph::decode(&onnx)?;
        let classes = validate_signature(&manifest, graph::graph(&proto))?;
        let labels = match labels_text {
            Some(text) => parse_labels(text),
            None => {
                ensure!(
                    manifest.labels.file.is_none(),
                    "the manifest names the labels file `{}` but its text was not given",
                    manifest.labels.file.as_deref().unwrap_or_default()
                );
                let offset = manifest.labels.background_offset;
                match classes {
                    // Not an ImageNet head: number the classes rather than mislabel them.
                    Some(k) if k != 1000 + offset => (0..k).map(|i| format!("class {i}")).collect(),
                    _ => {
                        let mut l: Vec<String> = vec!["background".to_string(); offset];
                        l.extend(parse_labels(IMAGENET_LABELS));
                        l
                    }
                }
            }
        };
        if let Some(k) = classes {
            ensure!(
                labels.len() == k,
                "model `{}` has {k} logits but {} labels (file {:?}, background_offset {}); one label per logit is needed",
                manifest.name,
                labels.len(),
                manifest.labels.file,
                manifest.labels.background_offset
            );
        }
        Ok(Model {
            manifest,
            onnx,
            labels,
        })
    }

    /// A bare ONNX file: the manifest is inferred from the graph ([`Manifest::infer`]).
    pub fn from_onnx_bytes(name: &str, onnx: Vec<u8>) -> Result<Model> {
        let manifest = Manifest::infer(name, &onnx)?;
        Model::from_bytes(manifest, onnx, None)
    }

    /// Number of logits.
    pub fn num_classes(&self) -> usize {
        self.labels.len()
    }
}

fn parse_labels(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Checks the manifest against the graph; returns the number of classes when the graph declares it.
fn validate_signature(m: &Manifest, g: &pb::GraphProto) -> Result<Option<usize>> {
    let input = graph::single_input(g)?;
    ensure!(
        input.name == m.input.name,
        "the manifest's input `{}` is not the graph's input `{}`",
        m.input.name,
        input.name
    );
    if let Some(dims) = &input.dims {
        ensure!(
            dims.len() == m.input.shape.len()
                && dims
                    .iter()
                    .zip(&m.input.shape)
                    .all(|(g, s)| g == s || g.is_none()),
            "the manifest's input shape {:?} does not match the graph's {:?}",
            m.input.shape,
            dims
        );
    }
    let (h, w) = m.preprocessing.input_hw();
    ensure!(
        m.input.shape.len() == 4
            && m.input.shape[1] == Some(3)
            && m.input.shape[2] == Some(h)
            && m.input.shape[3] == Some(w),
        "the manifest's input shape {:?} is not [N, 3, {h}, {w}] as its preprocessing makes",
        m.input.shape
    );
    let outputs = graph::outputs(g);
    let find = |name: &str, rank: usize, what: &str| -> Result<graph::ValueSig> {
        let o = outputs.iter().find(|o| o.name == name).with_context(|| {
            format!(
                "the graph has no output `{name}` ({what}); its outputs are {}",
                describe_outputs(&outputs)
            )
        })?;
        ensure!(
            o.rank().is_none_or(|r| r == rank),
            "the graph output `{name}` should be {rank}-D ({what}) but has shape {:?}",
            o.dims
        );
        Ok(o.clone())
    };
    find(&m.outputs.features, 4, "the feature map [N, C, h, w]")?;
    let logits = find(&m.outputs.logits, 2, "the class scores [N, classes]")?;
    Ok(logits.dims.and_then(|d| d[1]))
}

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
        logits: ndarray::ArrayView2<f32>,
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

    /// Walks back through ops that only reshape `[N, C, 1, 1]` ↔ `[N, C]`.
    fn skip_reshapes(&self, tensor: &str) -> String {
        let mut tensor = tensor.to_string();
        while let Ok(node) = self.producer(&tensor) {
            match node.op_type.as_str() {
                "Flatten" | "Reshape" | "Squeeze" | "Unsqueeze" | "Identity" | "Dropout" => {
                    tensor = node.input[0].clone()
                }
                _ => break,
            }
        }
        tensor
    }

    fn read(&self, features: &str, logits: &str) -> Result<LinearHead> {
        let last = self.producer(&self.skip_reshapes(logits))?;
        let (pooled, weight, bias) = match last.op_type.as_str() {
            "Gemm" => self.gemm(last)?,
            "MatMul" => self.matmul(last, None)?,
            "Add" => {
                let (other, bias_name) = self.split_add(last)?;
                let node = self.producer(&self.skip_reshapes(other))?;
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
        self.check_pool(&self.skip_reshapes(pooled), features)?;
        ensure!(
            bias.len() == weight.nrows(),
            "bias has {} entries for {} classes",
            bias.len(),
            weight.nrows()
        );
        Ok(LinearHead { weight, bias })
    }

    fn split_add(&self, add: &'a pb::NodeProto) -> Result<(&'a str, &'a str)> {
        let [a, b] = [add.input[0].as_str(), add.input[1].as_str()];
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
            .init(&node.input[1])?
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
        Ok((node.input[0].as_str(), weight, bias))
    }

    fn matmul(
        &self,
        node: &'a pb::NodeProto,
        bias: Option<&str>,
    ) -> Result<(&'a str, Array2<f32>, Array1<f32>)> {
        let b = self
            .init(&node.input[1])?
            .into_dimensionality::<Ix2>()
            .context("MatMul weight is not 2-D")?;
        let weight = b.reversed_axes().as_standard_layout().to_owned();
        let bias = self.bias_vector(bias, weight.nrows(), 1.0)?;
        Ok((node.input[0].as_str(), weight, bias))
    }

    fn conv1x1(&self, node: &'a pb::NodeProto) -> Result<(&'a str, Array2<f32>, Array1<f32>)> {
        let w = self
            .init(&node.input[1])?
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
        Ok((node.input[0].as_str(), weight, bias))
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
                    Some(s) => pads_zero && kernel.len() == 2 && kernel[0] as usize == s[2] && kernel[1] as usize == s[3],
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
        ensure!(
            pool.input[0] == features,
            "the global average pool reads `{}`, not the `{features}` output",
            pool.input[0]
        );
        Ok(())
    }
}

/// Features and logits of one batch.
#[derive(Debug, Clone)]
pub struct Forward {
    /// `[N, C, h, w]`.
    pub features: Array4<f32>,
    /// `[N, classes]`.
    pub logits: Array2<f32>,
}

/// A model loaded into an engine, with its verified linear head.
pub struct Classifier {
    pub model: Model,
    pub engine: Box<dyn Engine>,
    pub head: LinearHead,
    features_index: usize,
    logits_index: usize,
}

impl Classifier {
    /// Loads `model` into an engine of `kind` (`batch` sizes dynamic-batch graphs) and verifies its head.
    pub async fn load(model: Model, kind: EngineKind, batch: Option<usize>) -> Result<Classifier> {
        let engine = engine::create(kind, &model.onnx, batch)
            .await
            .with_context(|| {
                format!(
                    "loading model `{}` into the {kind} engine",
                    model.manifest.name
                )
            })?;
        Classifier::with_engine(model, engine).await
    }

    /// Wraps an already created engine; reads the head from the graph and checks it on one forward pass.
    pub async fn with_engine(model: Model, engine: Box<dyn Engine>) -> Result<Classifier> {
        let m = &model.manifest;
        let index_of = |name: &str| {
            engine
                .output_names()
                .iter()
                .position(|o| o == name)
                .ok_or_else(|| {
                    anyhow!(
                        "the engine has no output `{name}` (outputs: {:?})",
                        engine.output_names()
                    )
                })
        };
        let features_index = index_of(&m.outputs.features)?;
        let logits_index = index_of(&m.outputs.logits)?;
        let head = LinearHead::from_onnx(&model.onnx, &m.outputs.features, &m.outputs.logits)?;
        let c = Classifier {
            model,
            engine,
            head,
            features_index,
            logits_index,
        };
        let probe = c.probe_input();
        let out = c
            .forward(probe.view(), &crate::progress::Silent)
            .await
            .context("the head-check forward pass failed")?;
        ensure!(
            out.features.iter().any(|&v| v != 0.0),
            "{HEAD_ERROR}: the feature map is all zeros on the check input, so the head cannot be verified"
        );
        c.head
            .verify(out.features.view(), out.logits.view(), 1e-3)?;
        Ok(c)
    }

    /// A deterministic, image-like input (smooth colour gradients and stripes) for the head check.
    fn probe_input(&self) -> Array4<f32> {
        let (h, w) = self.input_hw();
        Array4::from_shape_fn((1, 3, h, w), |(_, c, y, x)| {
            let (fy, fx) = (y as f32 / h as f32, x as f32 / w as f32);
            let stripes = (fx * 9.0 + fy * 5.0 + c as f32).sin() * 0.6;
            (fx - fy) * (c as f32 - 1.0) + stripes
        })
    }

    /// Runs any number of images (chunked through the engine) and returns features and logits.
    pub async fn forward(
        &self,
        batch: ArrayView4<'_, f32>,
        progress: &dyn Progress,
    ) -> Result<Forward> {
        let input = Tensor::F32(batch.to_owned().into_dyn());
        let mut outputs = engine::run_all(self.engine.as_ref(), &input, progress).await?;
        let logits = std::mem::take(&mut outputs[self.logits_index])
            .into_dimensionality::<Ix2>()
            .context("the logits output is not 2-D")?;
        let features = std::mem::take(&mut outputs[self.features_index])
            .into_dimensionality::<Ix4>()
            .context("the features output is not 4-D")?;
        Ok(Forward { features, logits })
    }

    /// Position of the features output in [`Engine::run`]'s results (for [`engine::run_chunked`] users).
    pub fn features_index(&self) -> usize {
        self.features_index
    }

    /// Position of the logits output in [`Engine::run`]'s results.
    pub fn logits_index(&self) -> usize {
        self.logits_index
    }

    /// (height, width) of the model input.
    pub fn input_hw(&self) -> (usize, usize) {
        self.model.manifest.preprocessing.input_hw()
    }

    /// How images are prepared for this model.
    pub fn preprocessing(&self) -> &Preprocessing {
        &self.model.manifest.preprocessing
    }

    /// Number of logits.
    pub fn num_classes(&self) -> usize {
        self.model.num_classes()
    }

    /// Name of logit `k` ("?" when out of range).
    pub fn label(&self, k: usize) -> &str {
        self.model.labels.get(k).map_or("?", String::as_str)
    }

    /// The uint8 image the model sees and its normalised CHW tensor.
    pub fn prepare(&self, img: &image::RgbImage) -> (image::RgbImage, Array3<f32>) {
        let view = crate::preprocess::model_view(img, self.preprocessing());
        let tensor = crate::preprocess::to_tensor(&view, self.preprocessing());
        (view, tensor)
    }
}
