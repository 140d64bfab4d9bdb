//! How far two explanations agree, and how faithful each one is to the model.
//!
//! - [`agreement`]: masks from saliency maps (same pixel count, top fraction, fixed threshold), IoU,
//!   Spearman rank correlation with average ranks for ties, the pointing game, SSIM.
//! - [`faithfulness`]: the causal deletion/insertion metrics of RISE (Petsiuk et al. 2018) and their AUC.
//! - [`sanity`]: cascading randomisation of a model's top layers (Adebayo et al. 2018), done by editing
//!   the ONNX initializers, so an explanation can be checked to depend on the learned weights.
//! - [`objects`]: object masks (segmentation bitmaps, polygons, boxes) mapped onto the model's input grid,
//!   to ask whether an explanation lands on the object.
//! - [`lime_vs_cam`]: LIME's mask and per-pixel weights for a class, and every CAM's agreement with them.
//! - [`clutter`]: edge density, a measure of how cluttered an image is.
//!
//! Every map here is a 2-D array on the model's input grid (H×W), larger = more important.

pub mod agreement;
pub mod clutter;
pub mod faithfulness;
pub mod lime_vs_cam;
pub mod objects;
pub mod sanity;
