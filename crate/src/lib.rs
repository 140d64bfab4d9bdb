//! glassbox: explain what image classifiers see.
//!
//! One data path serves the native CLI, the wasm bindings, benchmarks and tests:
//! image bytes → [`preprocess`] → [`engine::Engine`] → method ([`cam`], [`lime`]) → [`render`].
//! [`dissect`] labels neurons (CLIP-Dissect) and [`compare`] measures agreement and faithfulness.

pub mod bench;
pub mod cam;
pub mod compare;
pub mod dissect;
pub mod engine;
pub mod explain;
pub mod lime;
pub mod model;
pub mod npy;
pub mod preprocess;
pub mod progress;
pub mod render;
#[cfg(not(target_arch = "wasm32"))]
pub mod report;
#[cfg(target_arch = "wasm32")]
pub mod web;
