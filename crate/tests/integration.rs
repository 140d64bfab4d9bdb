//! Every integration test in one binary. Each test file links tract, wgpu and wonnx; as separate binaries they
//! cost one link each and filled a CI disk. Run one group with e.g. `cargo test --test integration lime_e2e::`.

mod dissect_common;
mod lime_support;
mod support;

mod architecture;
mod bad_input;
mod cam_reference;
mod cli;
mod cli_mutants;
mod compare_real_model;
mod compare_reference;
mod dissect_clip_preprocess;
mod dissect_mobilenet;
mod dissect_published;
mod dissect_random_resnet_clip;
mod dissect_tokenizer;
mod dissect_wpmi;
mod engines;
mod fuzz_found;
mod lime_e2e;
mod lime_mask;
mod lime_quickshift;
mod lime_ridge;
mod lime_rng;
mod preprocess;
mod render_reference;
mod report;
