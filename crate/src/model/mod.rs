//! A model: its description (manifest), ONNX loading and validation, labels, the linear-head check, and
//! the engine-bound [`Classifier`].
//!
//! - [`manifest`]: the JSON manifest, [`Model`] (manifest + ONNX bytes + labels, sha256 checked) and
//!   the provenance warning; the one manifest loader of the crate.
//! - [`head`]: reads `logits = W·mean_hw(features) + b` ([`LinearHead`]) from the ONNX graph.
//! - [`classifier`]: a [`Model`] loaded into an [`crate::engine::Engine`], its head verified.
//!
//! ## Manifest
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
//!   variable is set (see [`crate::files::shared_data_dir`]).
//! - `sha256` is optional; when present the ONNX bytes must match it.
//! - `input.shape` is `[N, 3, H, W]`; `null` for a dynamic batch axis.
//! - `preprocessing` is `central_crop` (x = (u8 - offset) * scale after a central square crop and a
//!   bilinear resize) or `torchvision` (`{ "kind": "torchvision", "resize": 256, "crop": 224,
//!   "mean": [0.485,0.456,0.406], "std": [0.229,0.224,0.225] }`); see [`crate::preprocess::Preprocessing`].
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

pub mod classifier;
pub mod head;
pub mod manifest;

pub use classifier::{Classifier, Forward};
pub use head::{LinearHead, HEAD_ERROR};
#[cfg(not(target_arch = "wasm32"))]
pub use manifest::ManifestFile;
pub use manifest::{
    format_dims, InputSpec, Labels, Manifest, Model, OutputSpec, IMAGENET_LABELS,
    TEST_MIRROR_BANNER,
};
