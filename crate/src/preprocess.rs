//! Image decoding and the model's preprocessing.
//!
//! Both reference pipelines (torchvision's `Resize(256)+CenterCrop(224)` on a PIL image, and the TF-slim
//! MobileNets' central crop + bilinear resize) first produce a small **uint8** RGB image, then normalise it.
//! We keep that split: [`model_view`] gives the uint8 image the model sees (LIME perturbs it, overlays
//! are drawn on it) and [`to_tensor`] normalises it into a CHW float tensor.
//!
//! Resizing reproduces Pillow's `Image.resize(..., BILINEAR)` (what torchvision does to PIL images):
//! a separable triangle filter whose support grows with the downscale factor (antialiasing), 22-bit
//! fixed-point weights, a horizontal pass then a vertical pass, each rounded to uint8.
//!
//! JPEG pixels come from libjpeg-turbo natively (the C library every reference here decodes with:
//! Pillow's wheels and Chromium bundle it), built from source by the `mozjpeg` crate, with Pillow's
//! settings: accurate integer IDCT, fancy upsampling, YCbCr→RGB in the library. Pure-Rust decoders are
//! not bit-exact with it (`zune-jpeg`, the `image` crate's, differed by up to 10 levels on the probe
//! images), and those levels reach every CAM. With the same decoder and Pillow's integer resize, the
//! model's view equals torchvision's to the level (`crate/tests/preprocess.rs`).

use std::io::Cursor;

use anyhow::{bail, ensure, Context, Result};
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};
use ndarray::Array3;
use serde::{Deserialize, Serialize};

/// Height and width in pixels (a model's input, a feature map; `results` and the report serialise it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Size {
    pub height: usize,
    pub width: usize,
}

/// One image ready for a model: the uint8 image the model sees ([`model_view`]) and its normalised
/// CHW tensor ([`to_tensor`]).
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The model's view, [`Preprocessing::input_size`] in size.
    pub view: RgbImage,
    /// `[3, H, W]`.
    pub tensor: Array3<f32>,
}

/// How a model wants its images prepared (a model manifest's `preprocessing`; see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Preprocessing {
    /// torchvision's `Resize(resize)` (shorter side, PIL bilinear with antialias) + `CenterCrop(crop)`,
    /// then `(u8/255 - mean) / std`. With `squash`, `Resize((resize, resize))`: both sides, the aspect
    /// ratio not kept (lime's image tutorial).
    Torchvision {
        resize: u32,
        crop: u32,
        mean: [f32; 3],
        std: [f32; 3],
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        squash: bool,
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
            squash: false,
        }
    }

    /// The view in torchvision's words (`Resize(232) + CenterCrop(224)`), for reports and records.
    pub fn describe(&self) -> String {
        match *self {
            Preprocessing::Torchvision {
                resize,
                crop,
                squash: false,
                ..
            } => format!("Resize({resize}) + CenterCrop({crop})"),
            Preprocessing::Torchvision {
                resize,
                crop,
                squash: true,
                ..
            } => format!("Resize(({resize}, {resize})) + CenterCrop({crop})"),
            Preprocessing::CentralCrop {
                central_fraction,
                size,
                ..
            } => format!("central crop {central_fraction} + resize to {size}×{size}"),
        }
    }

    /// The view of lime's image tutorial (`Resize((256, 256))` + `CenterCrop(224)`) for a torchvision model
    /// (its normalisation kept): `glassbox explain --view lime-tutorial` reproduces the tutorial's LIME.
    pub fn lime_tutorial(&self) -> anyhow::Result<Preprocessing> {
        match self {
            Preprocessing::Torchvision { mean, std, .. } => Ok(Preprocessing::Torchvision {
                resize: 256,
                crop: 224,
                mean: *mean,
                std: *std,
                squash: true,
            }),
            other => anyhow::bail!(
                "lime's tutorial view (Resize((256, 256)) + CenterCrop(224)) is for torchvision models; this \
                 model is prepared as {other:?}"
            ),
        }
    }

    /// Height and width of the model input.
    pub fn input_size(&self) -> Size {
        let side = match *self {
            Preprocessing::Torchvision { crop, .. } => crop as usize,
            Preprocessing::CentralCrop { size, .. } => size as usize,
        };
        Size {
            height: side,
            width: side,
        }
    }

    /// The largest `resize`, `crop` or `size`: far above any classifier's input (224–600 pixels), and small
    /// enough that the model's view (`crop`² or `size`² pixels) is never a memory bomb: a manifest or a
    /// dissection job is untrusted input too (a `size` of 4e9 would ask for 48 exabytes).
    pub const MAX_SIDE: u32 = 8192;

    /// Checks the parameters (positive sizes up to [`Self::MAX_SIDE`], a non-zero scale, finite numbers, ...).
    pub fn validate(&self) -> Result<()> {
        let side = |what: &str, v: u32| {
            ensure!(
                v > 0 && v <= Self::MAX_SIDE,
                "preprocessing: {what} must be between 1 and {}, got {v}",
                Self::MAX_SIDE
            );
            Ok(())
        };
        // JSON cannot say NaN, but 1e39 parses as an f32 infinity.
        let finite = |what: &str, values: &[f32]| {
            ensure!(
                values.iter().all(|v| v.is_finite()),
                "preprocessing: {what} must be finite numbers, got {values:?}"
            );
            Ok(())
        };
        match self {
            Preprocessing::Torchvision {
                resize,
                crop,
                mean,
                std,
                ..
            } => {
                side("resize", *resize)?;
                side("crop", *crop)?;
                finite("mean", mean)?;
                finite("std", std)?;
                ensure!(
                    std.iter().all(|s| *s > 0.0),
                    "preprocessing: std must be positive"
                );
            }
            Preprocessing::CentralCrop {
                central_fraction,
                size,
                offset,
                scale,
            } => {
                ensure!(
                    *central_fraction > 0.0 && *central_fraction <= 1.0,
                    "preprocessing: central_fraction must be in (0, 1], got {central_fraction}"
                );
                side("size", *size)?;
                finite("offset and scale", &[*offset, *scale])?;
                ensure!(*scale != 0.0, "preprocessing: scale must be non-zero");
            }
        }
        Ok(())
    }
}

/// Limits that protect decoding from hostile or accidental huge inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLimits {
    /// Largest accepted width × height (checked from the header, before decoding pixels).
    pub max_pixels: u64,
}

impl ImageLimits {
    /// 64 megapixels: a large camera photo fits, a decompression bomb does not.
    pub const DEFAULT_MAX_PIXELS: u64 = 64_000_000;
}

impl Default for ImageLimits {
    fn default() -> Self {
        ImageLimits {
            max_pixels: Self::DEFAULT_MAX_PIXELS,
        }
    }
}

/// Decodes JPEG/PNG/BMP/WebP bytes into RGB8 as Pillow's `Image.open(f).convert("RGB")` does, which is how
/// every reference this project is compared with (CLIP-Dissect's `ImageFolder`, lime's and pytorch-grad-cam's
/// tutorials, torchvision's accuracy) reads an image.
///
/// Grey, grey+alpha, RGBA, 16-bit and CMYK (JPEG) inputs become RGB8; alpha is dropped without
/// compositing, as `convert("RGB")` does. Like Pillow, the EXIF orientation tag is not applied: the pixels
/// are those stored (a photo tagged "rotate 90°" stays sideways). [`upright`] turns a user's own photo
/// upright where a caller asks for it.
pub fn decode(bytes: &[u8], limits: &ImageLimits) -> Result<RgbImage> {
    decode_named(bytes, "image", limits)
}

/// [`decode`], naming the image (file name) in every error.
pub fn decode_named(bytes: &[u8], name: &str, limits: &ImageLimits) -> Result<RgbImage> {
    decode_checked(bytes, name, limits, None)
}

/// [`decode_named`] for the browser build, with a JPEG's pixels already decoded by the browser:
/// Chromium's decoder is libjpeg-turbo too, and its `createImageBitmap` (colour-space conversion off)
/// gives Pillow's pixels exactly (measured on all 1086 JPEGs of the tests), which no pure-Rust
/// decoder does. The browser applies the EXIF orientation itself (`imageOrientation: "none"` is an
/// alias of `"from-image"` in today's spec): its pixels are turned back to the stored ones here, so the page
/// sees Pillow's pixels too. The file is still checked as every input is (header, size limit, truncation),
/// and `rgba` must have the upright size. The page sends pixels for YCbCr and greyscale JPEGs only
/// (`www/jpeg.js`); for other formats `rgba` is ignored.
pub fn decode_named_with_jpeg_pixels(
    bytes: &[u8],
    name: &str,
    limits: &ImageLimits,
    (width, height): (u32, u32),
    rgba: &[u8],
) -> Result<RgbImage> {
    ensure!(
        rgba.len() as u64 == u64::from(width) * u64::from(height) * 4,
        "{name}: {} bytes of decoded pixels for a {width}×{height} RGBA image",
        rgba.len()
    );
    let rgb: Vec<u8> = rgba
        .chunks_exact(4)
        .flat_map(|px| [px[0], px[1], px[2]])
        .collect();
    let pixels = RgbImage::from_raw(width, height, rgb).context("decoded pixels")?;
    decode_checked(bytes, name, limits, Some(pixels))
}

fn decode_checked(
    bytes: &[u8],
    name: &str,
    limits: &ImageLimits,
    jpeg_pixels: Option<RgbImage>,
) -> Result<RgbImage> {
    ensure!(!bytes.is_empty(), "{name}: the file is empty");
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .with_context(|| format!("{name}: cannot read the image header"))?;
    let format = reader.format().with_context(|| {
        format!("{name}: not a recognised image (the first bytes match no JPEG, PNG, BMP or WebP signature)")
    })?;
    ensure!(
        matches!(
            format,
            ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::Bmp | ImageFormat::WebP
        ),
        "{name}: {format:?} images are not supported; use JPEG, PNG, BMP or WebP"
    );
    if format == ImageFormat::Jpeg {
        // Before the header decoder: a cut file is reported as truncated, not as whatever header field
        // the cut happened to fall in.
        check_jpeg_complete(bytes).with_context(|| format!("{name}: corrupt JPEG"))?;
    }
    // PNG and JPEG sizes are read here, before any decoder: on wasm32 (a 32-bit usize) the `image` crate
    // fails a bomb's header with "Memory limit exceeded" instead of saying how big the picture claims to be.
    if let Some((w, h)) = declared_size(bytes, format) {
        check_pixel_limit(name, w, h, limits)?;
    }
    // The decoder's own allocation limit backs up the header check below (some headers lie).
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8).max(1 << 20));
    reader.limits(decoder_limits);
    let mut decoder = reader
        .into_decoder()
        .with_context(|| format!("{name}: corrupt or unsupported {format:?} header"))?;
    let (w, h) = decoder.dimensions();
    check_pixel_limit(name, w, h, limits)?;
    let orientation = decoder
        .orientation()
        .with_context(|| format!("{name}: unreadable EXIF orientation"))?;
    // JPEGs go to libjpeg, which converts YCbCr and greyscale to RGB itself, as Pillow asks it to; CMYK
    // (which Pillow converts in its own code) and the other formats are the `image` crate's.
    let libjpeg_converts = format == ImageFormat::Jpeg
        && matches!(
            decoder.color_type(),
            image::ColorType::Rgb8 | image::ColorType::L8
        );
    let from_libjpeg = match jpeg_pixels {
        Some(pixels) if libjpeg_converts => {
            // The browser has applied the EXIF orientation already: its pixels must have the upright size,
            // and the inverse orientation gives back the stored pixels.
            use image::metadata::Orientation::*;
            let upright = match orientation {
                Rotate90 | Rotate270 | Rotate90FlipH | Rotate270FlipH => (h, w),
                _ => (w, h),
            };
            ensure!(
                pixels.dimensions() == upright,
                "{name}: the browser decoded {}×{} pixels, the header says {}×{} upright",
                pixels.width(),
                pixels.height(),
                upright.0,
                upright.1
            );
            let mut stored = DynamicImage::ImageRgb8(pixels);
            stored.apply_orientation(inverse(orientation));
            return Ok(stored.into_rgb8());
        }
        _ if libjpeg_converts => {
            decode_jpeg_like_pil(bytes).with_context(|| format!("{name}: corrupt JPEG"))?
        }
        _ => None,
    };
    let img = match from_libjpeg {
        Some(pixels) => DynamicImage::ImageRgb8(pixels),
        None => DynamicImage::from_decoder(decoder)
            .with_context(|| format!("{name}: corrupt or truncated {format:?} data"))?,
    };
    Ok(img.into_rgb8())
}

/// The orientation that undoes `o` (the rotations by ±90° swap; the flips and transposes undo themselves).
fn inverse(o: image::metadata::Orientation) -> image::metadata::Orientation {
    use image::metadata::Orientation::*;
    match o {
        Rotate90 => Rotate270,
        Rotate270 => Rotate90,
        other => other,
    }
}

/// The EXIF orientation an image file declares (`NoTransforms` when it has none or is not a JPEG/WebP/PNG
/// with EXIF).
pub fn exif_orientation(bytes: &[u8]) -> Result<image::metadata::Orientation> {
    let mut decoder = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()?
        .into_decoder()
        .context("cannot read the image header")?;
    Ok(decoder.orientation()?)
}

/// `img` (decoded as stored, see [`decode`]) turned the way its EXIF orientation says a viewer shows it.
pub fn upright(img: RgbImage, orientation: image::metadata::Orientation) -> RgbImage {
    let mut img = DynamicImage::ImageRgb8(img);
    img.apply_orientation(orientation);
    img.into_rgb8()
}

/// In the browser build no C library is linked: JPEG pixels come from the browser
/// ([`decode_named_with_jpeg_pixels`]), else from the `image` crate (within a few levels of Pillow).
#[cfg(target_arch = "wasm32")]
fn decode_jpeg_like_pil(_bytes: &[u8]) -> Result<Option<RgbImage>> {
    Ok(None)
}

/// Decodes a YCbCr or greyscale JPEG with libjpeg-turbo as Pillow's `Image.open(f).convert("RGB")`
/// does (islow IDCT and fancy upsampling, libjpeg's defaults and Pillow's), so the pixels are identical.
#[cfg(not(target_arch = "wasm32"))]
fn decode_jpeg_like_pil(bytes: &[u8]) -> Result<Option<RgbImage>> {
    // libjpeg reports errors by unwinding out of its `error_exit` (the `mozjpeg` crate's error manager):
    // catch that here and turn libjpeg's message into an error.
    let decoded =
        std::panic::catch_unwind(|| -> std::io::Result<Option<(usize, usize, Vec<u8>)>> {
            let mut decompress = mozjpeg::Decompress::new_mem(bytes)?;
            if mozjpeg::ColorSpaceExt::num_components(&decompress.color_space()) == 4 {
                return Ok(None); // CMYK/YCCK: libjpeg has no RGB conversion for them, Pillow uses its own
            }
            decompress.dct_method(mozjpeg::DctMethod::IntegerSlow);
            decompress.do_fancy_upsampling(true);
            let mut started = decompress.rgb()?;
            let (width, height) = (started.width(), started.height());
            let pixels = started.read_scanlines::<u8>()?;
            started.finish()?;
            Ok(Some((width, height, pixels)))
        });
    let decoded = match decoded {
        Ok(result) => result.context("libjpeg could not decode the data")?,
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown error".into());
            // The crate words it "libjpeg fatal error: <libjpeg's message>".
            bail!(
                "libjpeg: {}",
                message.trim_start_matches("libjpeg fatal error: ")
            )
        }
    };
    let Some((width, height, pixels)) = decoded else {
        return Ok(None);
    };
    let size = |n: usize| u32::try_from(n).context("image dimension out of range");
    RgbImage::from_raw(size(width)?, size(height)?, pixels)
        .map(Some)
        .context("libjpeg returned fewer pixels than the header promised")
}

/// The error for an image larger than [`ImageLimits::max_pixels`], typed so that a front end can say it in
/// its own words (the browser page has no `--max-megapixels`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{name}: {width}×{height} = {} pixels ({:.1} megapixels) exceeds the limit of {max_pixels} pixels; \
     downscale the image first or raise the limit (--max-megapixels)",
    self.pixels(),
    self.megapixels()
)]
pub struct ImageTooLarge {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub max_pixels: u64,
}

impl ImageTooLarge {
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    pub fn megapixels(&self) -> f64 {
        self.pixels() as f64 / 1e6
    }
}

fn check_pixel_limit(name: &str, w: u32, h: u32, limits: &ImageLimits) -> Result<()> {
    ensure!(w > 0 && h > 0, "{name}: the image has zero size ({w}×{h})");
    if u64::from(w) * u64::from(h) > limits.max_pixels {
        return Err(ImageTooLarge {
            name: name.to_string(),
            width: w,
            height: h,
            max_pixels: limits.max_pixels,
        }
        .into());
    }
    Ok(())
}

/// Width and height as a PNG's IHDR or a JPEG's frame header (SOFn) states them; `None` for other formats
/// or a header too short to say (the decoder then reports it). Public for the fuzz harness
/// (`crate/tests/fuzz`), which feeds it mutated headers.
pub fn declared_size(bytes: &[u8], format: ImageFormat) -> Option<(u32, u32)> {
    let be16 = |i: usize| {
        bytes
            .get(i..i + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    let be32 = |i: usize| {
        bytes
            .get(i..i + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    match format {
        // Signature (8 bytes), then the IHDR chunk: length, "IHDR", width, height.
        ImageFormat::Png if bytes.get(12..16) == Some(b"IHDR") => Some((be32(16)?, be32(20)?)),
        ImageFormat::Jpeg => {
            let mut i = 2;
            while bytes.get(i) == Some(&0xFF) {
                let marker = *bytes.get(i + 1)?;
                // SOF0-SOF15 except DHT (C4), JPG (C8) and DAC (CC): length, precision, height, width.
                if (0xC0..=0xCF).contains(&marker) && ![0xC4, 0xC8, 0xCC].contains(&marker) {
                    return Some((u32::from(be16(i + 7)?), u32::from(be16(i + 5)?)));
                }
                i += 2 + usize::from(be16(i + 2)?);
            }
            None
        }
        _ => None,
    }
}

/// JPEG decoders conceal truncation (they fill the missing rows with grey), which would silently
/// explain a broken picture. So we walk the marker segments and entropy-coded scans up to the
/// end-of-image marker, which a complete file has (anything after it, such as an embedded video, is
/// ignored; thumbnails inside APP segments are skipped with their segment). Public for the fuzz harness.
pub fn check_jpeg_complete(bytes: &[u8]) -> Result<()> {
    const TRUNCATED: &str = "the file is truncated (it ends before the end-of-image marker); re-download or re-export it";
    let mut i = 2; // after SOI (FF D8), which format detection checked
    loop {
        // A marker: one or more 0xFF fill bytes, then the marker code.
        ensure!(i < bytes.len() && bytes[i] == 0xFF, TRUNCATED);
        while i < bytes.len() && bytes[i] == 0xFF {
            i += 1;
        }
        let marker = *bytes.get(i).context(TRUNCATED)?;
        i += 1;
        match marker {
            0xD9 => return Ok(()),
            0x01 | 0xD0..=0xD7 => continue, // stand-alone markers without a length
            _ => {}
        }
        let len = bytes
            .get(i..i + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
            .context(TRUNCATED)?;
        ensure!(len >= 2, "invalid marker segment length {len}");
        i += len;
        ensure!(i <= bytes.len(), TRUNCATED);
        if marker == 0xDA {
            // Entropy-coded data runs to the next marker other than stuffing (FF 00) and restarts (FF D0-D7).
            loop {
                ensure!(i + 1 < bytes.len(), TRUNCATED);
                if bytes[i] == 0xFF
                    && bytes[i + 1] != 0x00
                    && !(0xD0..=0xD7).contains(&bytes[i + 1])
                {
                    break;
                }
                i += 1;
            }
        }
    }
}

/// Reads and decodes an image file.
#[cfg(not(target_arch = "wasm32"))]
pub fn load(path: &std::path::Path, limits: &ImageLimits) -> Result<RgbImage> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read the image {}", path.display()))?;
    decode_named(&bytes, &path.display().to_string(), limits)
}

/// The uint8 image the model sees, [`Preprocessing::input_size`] in size.
pub fn model_view(img: &RgbImage, spec: &Preprocessing) -> RgbImage {
    match *spec {
        Preprocessing::Torchvision {
            resize,
            crop,
            squash: false,
            ..
        } => resize_shorter_side_and_center_crop(img, resize, crop, crop, Filter::Bilinear),
        // lime's tutorial: Resize((256, 256)) squashes the whole picture, then CenterCrop.
        Preprocessing::Torchvision {
            resize,
            crop,
            squash: true,
            ..
        } => center_crop(
            &self::resize(img, resize, resize, Filter::Bilinear),
            crop,
            crop,
        ),
        Preprocessing::CentralCrop {
            central_fraction,
            size,
            ..
        } => {
            let (x, y, w, h) = central_crop_box(img.width(), img.height(), central_fraction);
            let cropped = image::imageops::crop_imm(img, x, y, w, h).to_image();
            resize(&cropped, size, size, Filter::Bilinear)
        }
    }
}

/// The central crop `(left, top, width, height)` of the TF-slim MobileNet references
/// (mobilenet_onnx/SOURCES.md): PIL `img.crop((l, t, l + s, t + s))` with `s = min(W, H) · fraction`
/// and `l = (W - s) / 2`, `t = (H - s) / 2` as floats; PIL rounds each box coordinate with Python's
/// `round` (halves to even), so the crop can be one pixel off square. This reproduces the reference
/// top-1 and top-1 probabilities (to 4 decimals) on all 11 reference images.
fn central_crop_box(w: u32, h: u32, fraction: f32) -> (u32, u32, u32, u32) {
    let side = w.min(h) as f64 * fraction as f64;
    let (l, t) = ((w as f64 - side) / 2.0, (h as f64 - side) / 2.0);
    let (x0, y0) = (round_half_even(l) as u32, round_half_even(t) as u32);
    let (x1, y1) = (
        round_half_even(l + side) as u32,
        round_half_even(t + side) as u32,
    );
    (x0, y0, (x1 - x0).max(1), (y1 - y0).max(1))
}

/// torchvision `Resize(size)` with an int: the shorter side becomes `size`, the longer side
/// `int(size · long / short)`, with Pillow's `filter`.
pub fn resize_shorter_side(img: &RgbImage, size: u32, filter: Filter) -> RgbImage {
    let (nw, nh) = shorter_side_size(img.dimensions(), size);
    resize(img, nw, nh, filter)
}

/// The size `Resize(size)` gives a `(w, h)` picture (the long side saturates at `u32::MAX`).
fn shorter_side_size((w, h): (u32, u32), size: u32) -> (u32, u32) {
    let (short, long) = if w <= h { (w, h) } else { (h, w) };
    let new_long = ((size as f64) * (long as f64) / (short as f64)) as u32;
    if w <= h {
        (size, new_long)
    } else {
        (new_long, size)
    }
}

/// `center_crop(&resize_shorter_side(img, size, filter), ch, cw)`, pixel for pixel, computing only the pixels
/// the crop keeps. The resized picture of a very elongated image is enormous: a 1×1,000,000 PNG of a few
/// kilobytes becomes 256×256,000,000 pixels under `Resize(256)` (a 196 GB buffer; the fuzz harness found the
/// smaller cases), while the crop never holds more than `ch × cw`.
pub fn resize_shorter_side_and_center_crop(
    img: &RgbImage,
    size: u32,
    ch: u32,
    cw: u32,
    filter: Filter,
) -> RgbImage {
    let (nw, nh) = shorter_side_size(img.dimensions(), size);
    // Per axis, as `center_crop`: the window of the resized picture the crop keeps, and where it lands in
    // the crop (a picture smaller than the crop is zero-padded around).
    let axis = |n: u32, c: u32| {
        if c > n {
            (0..n, (c - n) / 2)
        } else {
            let start = round_half_even((n - c) as f64 / 2.0) as u32;
            (start..start + c, 0)
        }
    };
    let ((xs, left), (ys, top)) = (axis(nw, cw), axis(nh, ch));
    let window = resize_window(img, (nw, nh), xs, ys, filter);
    if window.dimensions() == (cw, ch) {
        return window;
    }
    let mut canvas = RgbImage::new(cw, ch);
    image::imageops::replace(&mut canvas, &window, i64::from(left), i64::from(top));
    canvas
}

/// torchvision `CenterCrop((ch, cw))` on a PIL image: zero-pads when the image is smaller, then crops at
/// `int(round((H - ch) / 2))` (Python's round: halves go to the even neighbour).
pub fn center_crop(img: &RgbImage, ch: u32, cw: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let padded;
    let img = if cw > w || ch > h {
        let left = if cw > w { (cw - w) / 2 } else { 0 };
        let top = if ch > h { (ch - h) / 2 } else { 0 };
        let right = if cw > w { (cw - w).div_ceil(2) } else { 0 };
        let bottom = if ch > h { (ch - h).div_ceil(2) } else { 0 };
        let mut canvas = RgbImage::new(w + left + right, h + top + bottom);
        image::imageops::replace(&mut canvas, img, left as i64, top as i64);
        padded = canvas;
        &padded
    } else {
        img
    };
    let (w, h) = img.dimensions();
    let top = round_half_even((h - ch) as f64 / 2.0) as u32;
    let left = round_half_even((w - cw) as f64 / 2.0) as u32;
    image::imageops::crop_imm(img, left, top, cw, ch).to_image()
}

fn round_half_even(x: f64) -> f64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
        r - x.signum()
    } else {
        r
    }
}

/// Pillow's resampling filters, as `Image.resize` uses them (`ImagingResample`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// `Image.BILINEAR`: the triangle, support 1 (torchvision's default for PIL images).
    Bilinear,
    /// `Image.BICUBIC`: Keys' cubic with a = −0.5, support 2 (CLIP's preprocessing).
    Bicubic,
}

impl Filter {
    fn support(self) -> f64 {
        match self {
            Filter::Bilinear => 1.0,
            Filter::Bicubic => 2.0,
        }
    }

    fn weight(self, x: f64) -> f64 {
        let x = x.abs();
        match self {
            Filter::Bilinear if x < 1.0 => 1.0 - x,
            Filter::Bicubic => {
                const A: f64 = -0.5;
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
            Filter::Bilinear => 0.0,
        }
    }
}

/// Fractional bits of Pillow's fixed-point resampling weights (`32 - 8 - 2`).
const PRECISION_BITS: u32 = 22;

/// One output sample's source window and fixed-point weights.
struct Taps {
    start: usize,
    weights: Vec<i32>,
}

/// Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc`: the filter widened by the scale factor when
/// shrinking (antialiasing), weights normalised to sum 1, then rounded to 22-bit fixed point.
/// Only the output samples in `outputs` (a window of the output) are computed.
fn taps(
    filter: Filter,
    in_size: usize,
    out_size: usize,
    outputs: std::ops::Range<usize>,
) -> Vec<Taps> {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filter.support() * filterscale;
    let ss = 1.0 / filterscale;
    outputs
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            // `(int)` in C truncates toward zero; both bounds are then clamped to the image.
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64)
                .min(in_size as i64)
                .max(xmin as i64) as usize;
            let raw: Vec<f64> = (xmin..xmax)
                .map(|x| filter.weight((x as f64 - center + 0.5) * ss))
                .collect();
            let total: f64 = raw.iter().sum();
            let weights = raw
                .iter()
                .map(|&w| {
                    let w = if total != 0.0 { w / total } else { w };
                    let v = w * (1u32 << PRECISION_BITS) as f64;
                    (if v < 0.0 { v - 0.5 } else { v + 0.5 }) as i32
                })
                .collect();
            Taps {
                start: xmin,
                weights,
            }
        })
        .collect()
}

#[inline]
fn clip8(acc: i32) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Pillow's `Image.resize((w, h), filter)` for RGB8 images, bit for bit: a horizontal pass into an 8-bit
/// intermediate over only the rows the vertical pass reads, then the vertical pass (Pillow's order).
pub fn resize(img: &RgbImage, out_w: u32, out_h: u32, filter: Filter) -> RgbImage {
    resize_window(img, (out_w, out_h), 0..out_w, 0..out_h, filter)
}

/// The pixels `xs × ys` of `resize(img, out_w, out_h, filter)`, bit for bit, at the cost of the window
/// alone: each output pixel depends only on its own taps.
fn resize_window(
    img: &RgbImage,
    (out_w, out_h): (u32, u32),
    xs: std::ops::Range<u32>,
    ys: std::ops::Range<u32>,
    filter: Filter,
) -> RgbImage {
    let (w, h) = img.dimensions();
    let (win_w, win_h) = (xs.len() as u32, ys.len() as u32);
    if (w, h) == (out_w, out_h) {
        return image::imageops::crop_imm(img, xs.start, ys.start, win_w, win_h).to_image();
    }
    let (w, h, ow, oh) = (w as usize, h as usize, out_w as usize, out_h as usize);
    let xs = xs.start as usize..xs.end as usize;
    let ys = ys.start as usize..ys.end as usize;
    let vert = taps(filter, h, oh, ys.clone());
    let src = img.as_raw();
    let round = 1i32 << (PRECISION_BITS - 1);
    let tmp_w = xs.len();

    // The source rows the vertical pass reads (all of the window's rows when there is none).
    let rows = if oh != h {
        let first = vert.first().map_or(0, |t| t.start);
        first..vert.last().map_or(0, |t| t.start + t.weights.len())
    } else {
        ys.clone()
    };
    let mut tmp = vec![0u8; rows.len() * tmp_w * 3];
    if ow != w {
        let horiz = taps(filter, w, ow, xs.clone());
        for (ty, y) in rows.clone().enumerate() {
            let row = &src[y * w * 3..(y + 1) * w * 3];
            for (x, taps) in horiz.iter().enumerate() {
                for c in 0..3 {
                    let mut acc = round;
                    for (k, &wt) in taps.weights.iter().enumerate() {
                        acc += row[(taps.start + k) * 3 + c] as i32 * wt;
                    }
                    tmp[(ty * tmp_w + x) * 3 + c] = clip8(acc);
                }
            }
        }
    } else {
        // No horizontal pass: the window's columns as they are.
        for (ty, y) in rows.clone().enumerate() {
            tmp[ty * tmp_w * 3..(ty + 1) * tmp_w * 3]
                .copy_from_slice(&src[(y * w + xs.start) * 3..(y * w + xs.end) * 3]);
        }
    }
    if oh == h {
        return RgbImage::from_raw(win_w, win_h, tmp).expect("buffer sized to the window");
    }
    let mut out = vec![0u8; tmp_w * ys.len() * 3];
    for (y, taps) in vert.iter().enumerate() {
        let start = taps.start - rows.start;
        for i in 0..tmp_w * 3 {
            let mut acc = round;
            for (k, &wt) in taps.weights.iter().enumerate() {
                acc += tmp[(start + k) * tmp_w * 3 + i] as i32 * wt;
            }
            out[y * tmp_w * 3 + i] = clip8(acc);
        }
    }
    RgbImage::from_raw(win_w, win_h, out).expect("buffer sized to the window")
}

/// Normalises a model view into a CHW f32 tensor: torchvision `(u8/255 - mean) / std`, or TF-slim
/// `(u8 - offset) · scale`, each computed in the reference's order of operations.
pub fn to_tensor(view: &RgbImage, spec: &Preprocessing) -> Array3<f32> {
    let (w, h) = view.dimensions();
    let normalise: Box<dyn Fn(usize, u8) -> f32> = match *spec {
        Preprocessing::Torchvision { mean, std, .. } => {
            Box::new(move |c, v| (v as f32 / 255.0 - mean[c]) / std[c])
        }
        Preprocessing::CentralCrop { offset, scale, .. } => {
            Box::new(move |_, v| (v as f32 - offset) * scale)
        }
    };
    // A lookup table per channel: 256 values instead of one division per pixel.
    let table: Vec<[f32; 256]> = (0..3)
        .map(|c| std::array::from_fn(|v| normalise(c, v as u8)))
        .collect();
    let mut t = Array3::zeros((3, h as usize, w as usize));
    for (x, y, p) in view.enumerate_pixels() {
        for c in 0..3 {
            t[[c, y as usize, x as usize]] = table[c][p[c] as usize];
        }
    }
    t
}

/// The model's view of a decoded image and its normalised CHW tensor.
pub fn prepare(img: &RgbImage, spec: &Preprocessing) -> Prepared {
    let view = model_view(img, spec);
    let tensor = to_tensor(&view, spec);
    Prepared { view, tensor }
}

/// Decodes, prepares and normalises one image.
pub fn prepare_bytes(
    bytes: &[u8],
    name: &str,
    spec: &Preprocessing,
    limits: &ImageLimits,
) -> Result<Prepared> {
    let img = decode_named(bytes, name, limits)?;
    Ok(prepare(&img, spec))
}

/// Stacks CHW tensors into an NCHW batch (all must have the same shape).
pub fn stack(tensors: &[Array3<f32>]) -> Result<ndarray::Array4<f32>> {
    if tensors.is_empty() {
        bail!("no images to stack");
    }
    let views: Vec<_> = tensors.iter().map(|t| t.view()).collect();
    ndarray::stack(ndarray::Axis(0), &views)
        .context("images of different sizes cannot share a batch")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_size_is_the_header_size_of_png_and_jpeg() {
        let img = RgbImage::from_fn(37, 23, |x, y| image::Rgb([x as u8 * 6, y as u8 * 11, 90]));
        for format in [ImageFormat::Png, ImageFormat::Jpeg] {
            let mut bytes = Vec::new();
            img.write_to(&mut Cursor::new(&mut bytes), format).unwrap();
            assert_eq!(declared_size(&bytes, format), Some((37, 23)), "{format:?}");
            // Cut inside the header: no size, and no panic.
            assert_eq!(declared_size(&bytes[..14], format), None, "{format:?}");
        }
        assert_eq!(declared_size(b"BM", ImageFormat::Bmp), None);
    }

    #[test]
    fn an_image_over_the_limit_is_a_typed_error_naming_its_size() {
        let img = RgbImage::from_pixel(40, 30, image::Rgb([1, 2, 3]));
        let mut bytes = Vec::new();
        img.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
            .unwrap();
        let limits = ImageLimits { max_pixels: 1000 };
        let err = decode_named(&bytes, "big.png", &limits).unwrap_err();
        let too_large = err
            .downcast_ref::<ImageTooLarge>()
            .expect("an ImageTooLarge error");
        assert_eq!(
            too_large,
            &ImageTooLarge {
                name: "big.png".into(),
                width: 40,
                height: 30,
                max_pixels: 1000
            }
        );
        assert_eq!(too_large.pixels(), 1200);
        assert!(format!("{err:#}")
            .contains("big.png: 40×30 = 1200 pixels (0.0 megapixels) exceeds the limit"));
        assert!(decode_named(&bytes, "big.png", &ImageLimits { max_pixels: 1200 }).is_ok());
    }
}
