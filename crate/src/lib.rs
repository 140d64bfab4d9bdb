//! glassbox: explain what image classifiers see.
//!
//! One data path serves the native CLI, the wasm bindings, benchmarks and tests:
//! image bytes → [`preprocess`] → [`engine::Engine`] → method ([`cam`], [`lime`]) → [`render`].
//! [`dissect`] labels neurons (CLIP-Dissect) and [`compare`] measures agreement and faithfulness.
//! [`model`] loads manifests and ONNX graphs; [`numerics`] (softmax, min-max, IoU) and [`rng`] (the
//! seeded generator outside LIME's NumPy ports) are shared by all of them, and [`files`] (sha256, the
//! shared-data folder) by every module that reads files. [`results`] holds the typed files the CLI,
//! the page and the report share; the (native) `report` module analyses a model into `ReportData` and
//! renders it. `ARCHITECTURE.md` has the module map and its dependency rules.

#[cfg(not(target_arch = "wasm32"))]
pub mod bench;
pub mod cam;
pub mod compare;
pub mod dissect;
pub mod engine;
pub mod explain;
pub mod files;
pub mod lime;
pub mod model;
pub mod npy;
pub mod numerics;
pub mod preprocess;
pub mod progress;
pub mod render;
#[cfg(not(target_arch = "wasm32"))]
pub mod report;
pub mod results;
pub mod rng;
#[cfg(target_arch = "wasm32")]
pub mod web;
