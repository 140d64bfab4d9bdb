//! CLIP-Dissect: label every neuron of a layer with the concept whose presence best explains the probe images that
//! activate it most (Oikarinen & Weng, ICLR 2023; github.com/Trustworthy-ML-Lab/CLIP-dissect).
//!
//! - [`tokenizer`]: CLIP's BPE tokenizer (concept texts → ids for the CLIP text encoder).
//! - [`wpmi`]: `soft_wpmi`, CLIP-Dissect's default similarity, computed streaming.
//! - [`probe`]: the probe folder, pooled layer activations.
//! - [`cache`]: on-disk cache of activations and image embeddings.

pub mod cache;
pub mod probe;
pub mod tokenizer;
pub mod wpmi;
