//! The model manifest (see [the module docs](super) for its JSON schema) and [`Model`]: a manifest with
//! its ONNX bytes (sha256 checked) and one label per logit. [`ManifestFile`] is the crate's one reader
//! of manifest files (the CLI, the report and dissection jobs all load through it); its relative paths
//! honour `$GLASSBOX_SHARED` ([`resolve_relative`]).

#[cfg(not(target_arch = "wasm32"))]
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};
use tract_onnx::pb;

use crate::engine::graph;
#[cfg(not(target_arch = "wasm32"))]
use crate::files::resolve_relative;
use crate::files::sha256_hex;
use crate::preprocess::{Preprocessing, Size};

/// The 1000 ImageNet class names in torchvision order
/// (`torchvision.models.ResNet50_Weights.IMAGENET1K_V2.meta["categories"]`, written by
/// `tests/reference/preprocess_reference.py`).
pub const IMAGENET_LABELS: &str = include_str!("../imagenet_labels.txt");

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

impl Labels {
    /// The largest `background_offset` a manifest may give.
    pub const MAX_BACKGROUND_OFFSET: usize = 1000;
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

    /// Checks `onnx` against the manifest's `sha256`, when it has one: the one sha256 check of every
    /// model load.
    pub fn check_sha256(&self, onnx: &[u8]) -> Result<()> {
        if let Some(expected) = &self.sha256 {
            let actual = sha256_hex(onnx);
            ensure!(
                actual.eq_ignore_ascii_case(expected.trim()),
                "sha256 mismatch for `{}` (model `{}`): expected {expected}, got {actual}. The file is corrupt or a \
                 different version: fetch the right file again, or update `sha256` in the manifest if you changed \
                 the model on purpose",
                self.onnx,
                self.name
            );
        }
        Ok(())
    }

    /// Parses a manifest from JSON text.
    pub fn from_json(text: &str) -> Result<Manifest> {
        let m: Manifest = serde_json::from_str(text).context("invalid model manifest JSON")?;
        m.preprocessing.validate()?;
        // Each leading logit gets a "background" label: a huge offset would be a huge allocation.
        ensure!(
            m.labels.background_offset <= Labels::MAX_BACKGROUND_OFFSET,
            "labels.background_offset is {}; at most {} leading non-ImageNet logits are supported (TF-slim has 1)",
            m.labels.background_offset,
            Labels::MAX_BACKGROUND_OFFSET
        );
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

/// A manifest read from a `.json` file, with the file's path: the files it names are relative to it.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug, Clone)]
pub struct ManifestFile {
    pub manifest: Manifest,
    /// The `.json` file it was read from.
    pub path: PathBuf,
}

#[cfg(not(target_arch = "wasm32"))]
impl ManifestFile {
    /// Reads and parses a manifest file.
    pub fn read(path: &Path) -> Result<ManifestFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the manifest {}", path.display()))?;
        let manifest = Manifest::from_json(&text)
            .with_context(|| format!("in the manifest {}", path.display()))?;
        Ok(ManifestFile {
            manifest,
            path: path.to_path_buf(),
        })
    }

    /// A path named by the manifest, resolved ([`resolve_relative`] to the manifest's folder).
    pub fn resolve(&self, rel: &str) -> PathBuf {
        resolve_relative(self.path.parent().unwrap_or(Path::new(".")), Path::new(rel))
    }

    /// Where the ONNX file is.
    pub fn onnx_path(&self) -> PathBuf {
        self.resolve(&self.manifest.onnx)
    }

    /// The ONNX bytes, checked against the manifest's `sha256` ([`Manifest::check_sha256`]).
    pub fn read_onnx(&self) -> Result<Vec<u8>> {
        let onnx_path = self.onnx_path();
        let onnx = std::fs::read(&onnx_path).with_context(|| {
            format!(
                "cannot read the ONNX file {} named by the manifest {} (paths are relative to the manifest; \
                 set GLASSBOX_SHARED to the folder holding shared/data if it lives elsewhere)",
                onnx_path.display(),
                self.path.display()
            )
        })?;
        self.manifest
            .check_sha256(&onnx)
            .with_context(|| format!("in the manifest {}", self.path.display()))?;
        Ok(onnx)
    }

    /// The text of `labels.file`, when the manifest names one.
    pub fn read_labels(&self) -> Result<Option<String>> {
        let Some(file) = &self.manifest.labels.file else {
            return Ok(None);
        };
        let p = self.resolve(file);
        let text = std::fs::read_to_string(&p).with_context(|| {
            format!(
                "cannot read the labels file {} named by {}",
                p.display(),
                self.path.display()
            )
        })?;
        Ok(Some(text))
    }
}

/// A model ready to load into an engine: its manifest, ONNX bytes and one label per logit.
#[derive(Debug, Clone)]
pub struct Model {
    pub manifest: Manifest,
    pub onnx: Vec<u8>,
    pub labels: Vec<String>,
}

impl Model {
    /// Reads a manifest (`.json`, through [`ManifestFile`]) with the files it names, or a bare `.onnx`.
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
        let file = ManifestFile::read(path)?;
        let onnx = file.read_onnx()?;
        let labels_text = file.read_labels()?;
        Model::from_checked_bytes(file.manifest, onnx, labels_text.as_deref())
            .with_context(|| format!("loading {}", path.display()))
    }

    /// Builds a model from a manifest, the ONNX bytes and the text of `labels.file` (when it names one).
    pub fn from_bytes(
        manifest: Manifest,
        onnx: Vec<u8>,
        labels_text: Option<&str>,
    ) -> Result<Model> {
        manifest.check_sha256(&onnx)?;
        Model::from_checked_bytes(manifest, onnx, labels_text)
    }

    /// [`Model::from_bytes`] for bytes whose sha256 was already checked.
    fn from_checked_bytes(
        manifest: Manifest,
        onnx: Vec<u8>,
        labels_text: Option<&str>,
    ) -> Result<Model> {
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
    let Size {
        height: h,
        width: w,
    } = m.preprocessing.input_size();
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
    let classes = logits.dims.and_then(|d| d[1]);
    // The graph's own claim, before a label is made for each class (a declared 2^36 classes was 96 GB of
    // labels in the fuzz harness).
    if let Some(k) = classes {
        ensure!(
            k <= MAX_CLASSES,
            "the graph output `{}` declares {k} classes; at most {MAX_CLASSES} are supported",
            m.outputs.logits
        );
    }
    Ok(classes)
}

/// The most classes a model may have (ImageNet-21k has 21,843).
pub const MAX_CLASSES: usize = 100_000;
