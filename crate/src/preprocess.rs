//! Image decoding and the model's preprocessing.
//!
//! Both reference pipelines (torchvision's `Resize(256)+CenterCrop(224)` on a PIL image, and the TF-slim
//! MobileNets' central crop + bilinear resize) first produce a small **uint8** RGB image, then normalise it.
//! We keep that split: [`model_view`] gives the uint8 image the model sees (LIME perturbs it, overlays
//! are drawn on it) and [`to_tensor`] normalises it into a CHW float tensor.
//!
//! Contract (owner: core-engine helper):
//! - `pub fn decode(bytes: &[u8], limits: &ImageLimits) -> Result<image::RgbImage, ImageError>`:
//!   any of JPEG/PNG/BMP/WebP, EXIF orientation applied, grey/CMYK/16-bit/alpha → RGB8, clear errors
//!   for corrupt/truncated data and for images over the pixel limit.
//! - `pub fn load(path: &Path, limits) -> Result<RgbImage>` (native only).
//! - `pub fn model_view(img: &RgbImage, spec: &crate::model::Preprocessing) -> RgbImage` (H×W of the model input).
//! - `pub fn to_tensor(view: &RgbImage, spec: &Preprocessing) -> ndarray::Array3<f32>` (3×H×W).
