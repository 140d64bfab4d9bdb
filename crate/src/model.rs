//! Model description (manifest), ONNX loading and validation, labels, and the linear-head check.
//!
//! Contract (owner: core-engine helper). The manifest is JSON, shared by `models/export.py`, the CLI and
//! the site:
//! ```json
//! { "name": "mobilenet_v2_1.0_224",
//!   "description": "TF-slim MobileNet v2 1.0 224 (ImageNet), float graph from google-coral test_data",
//!   "onnx": "../../shared/data/models/mobilenet_onnx/mobilenet_v2_1.0_224_b8.onnx",   // relative to the manifest
//!   "sha256": "80d3...",                       // optional; checked when present
//!   "input": { "name": "input", "shape": [8, 3, 224, 224] },
//!   "preprocessing": { "kind": "central_crop", "central_fraction": 0.875, "size": 224,
//!                      "offset": 128.0, "scale": 0.0078125 },   // x = (u8 - offset) * scale
//!   // or { "kind": "torchvision", "resize": 256, "crop": 224,
//!   //      "mean": [0.485,0.456,0.406], "std": [0.229,0.224,0.225] }
//!   "outputs": { "features": "features", "logits": "logits" },
//!   "labels": { "file": "imagenet_labels_1001.txt", "background_offset": 1 } }
//! ```
//! A bare `.onnx`: torchvision preprocessing, the 4-D output is `features`, the 2-D output is the logits,
//! ImageNet's 1000 classes.
//!
//! Public API:
//! - `Manifest`, `Preprocessing`, `Labels` (serde).
//! - `ModelSource::{from_path(path) (native), from_bytes(manifest, onnx_bytes)}` → `Model { manifest, onnx: Vec<u8>, labels: Vec<String> }`.
//! - `LinearHead { weight: Array2<f32> /*[classes, channels]*/, bias: Array1<f32> }` read from the graph
//!   (GlobalAveragePool/ReduceMean → Flatten/Reshape → Gemm/MatMul+Add/1×1 Conv), verified numerically.
//! - `Classifier { model, engine: Box<dyn Engine>, head: LinearHead }` with
//!   `async fn load(model, EngineKind, batch) -> Result<Classifier>` (checks the head on one forward pass),
//!   `async fn forward(&self, batch: ArrayView4<f32>, progress) -> Result<Forward { features: Array4<f32>, logits: Array2<f32> }>`
//!   (chunks any batch size through the engine), `fn input_hw() -> (usize, usize)`, `fn label(k) -> &str`.
