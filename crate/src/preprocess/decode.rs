//! Decoding as Pillow opens a file: format checks, the pixel limit (from the header, before any decoder),
//! truncation, libjpeg-turbo's JPEG pixels natively (the browser's in the page), EXIF orientation on request.

use std::io::Cursor;

use anyhow::{ensure, Context, Result};
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};

use super::jpeg::check_jpeg_complete;

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
            anyhow::bail!(
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
    let be32 = |i: usize| {
        bytes
            .get(i..i + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    match format {
        // Signature (8 bytes), then the IHDR chunk: length, "IHDR", width, height.
        ImageFormat::Png if bytes.get(12..16) == Some(b"IHDR") => Some((be32(16)?, be32(20)?)),
        ImageFormat::Jpeg => super::jpeg::frame_size(bytes),
        _ => None,
    }
}

/// Reads and decodes an image file.
#[cfg(not(target_arch = "wasm32"))]
pub fn load(path: &std::path::Path, limits: &ImageLimits) -> Result<RgbImage> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read the image {}", path.display()))?;
    decode_named(&bytes, &path.display().to_string(), limits)
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
