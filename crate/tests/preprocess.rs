//! Preprocessing parity with the Python references (tests/reference/preprocess_reference.py):
//! torchvision `Resize(256)+CenterCrop(224)` and the TF-slim central crop, on the 10 ImageNet samples and
//! on lossless synthetic images, all bit-exact; and JPEG decoding identical to Pillow's on the 1086 JPEGs
//! of `shared/data`, the 76 originals of every flavour included (tests/reference/pil_decode_reference.py).

use crate::support;

use std::path::{Path, PathBuf};

use glassbox::npy;
use glassbox::preprocess::Preprocessing;
use glassbox::preprocess::{self, decode_named, model_view, to_tensor, ImageLimits};
use image::RgbImage;
use ndarray::{Array3, ArrayD};
use sha2::{Digest, Sha256};

fn fixtures() -> PathBuf {
    support::repo_dir().join("tests/fixtures/preprocess")
}

fn torchvision() -> Preprocessing {
    Preprocessing::imagenet_torchvision(224)
}

fn central_crop() -> Preprocessing {
    Preprocessing::CentralCrop {
        central_fraction: 0.875,
        size: 224,
        offset: 128.0,
        scale: 1.0 / 128.0,
    }
}

fn load(path: &Path) -> RgbImage {
    preprocess::load(path, &ImageLimits::default()).unwrap()
}

fn as_array(img: &RgbImage) -> ArrayD<u8> {
    let (w, h) = img.dimensions();
    Array3::from_shape_vec((h as usize, w as usize, 3), img.as_raw().clone())
        .unwrap()
        .into_dyn()
}

/// (max |difference|, number of differing values).
fn compare(mine: &RgbImage, reference: &Path) -> (u8, usize) {
    let want = npy::read::<u8>(reference).unwrap();
    let got = as_array(mine);
    assert_eq!(got.shape(), want.shape(), "{}", reference.display());
    let diffs: Vec<u8> = got.iter().zip(&want).map(|(a, b)| a.abs_diff(*b)).collect();
    (
        diffs.iter().copied().max().unwrap(),
        diffs.iter().filter(|&&d| d > 0).count(),
    )
}

#[test]
fn views_of_the_imagenet_samples_equal_torchvision_and_pil() {
    let mut worst = (0u8, 0u8);
    for path in support::sample_images() {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let img = load(&path);
        let (tv, tv_n) = compare(
            &model_view(&img, &torchvision()),
            &fixtures().join(format!("{stem}.npy")),
        );
        let (cc, cc_n) = compare(
            &model_view(&img, &central_crop()),
            &fixtures().join(format!("{stem}_central_crop_224.npy")),
        );
        println!("{stem}: torchvision max diff {tv} ({tv_n} values differ), central crop max diff {cc} ({cc_n} differ)");
        worst = (worst.0.max(tv), worst.1.max(cc));
    }
    println!(
        "worst max per-pixel difference: torchvision {}, central crop {}",
        worst.0, worst.1
    );
    assert_eq!(
        worst,
        (0, 0),
        "max level difference (torchvision, central crop)"
    );
}

/// Every JPEG of the samples, the probe set and the originals decodes to Pillow's pixels, byte for byte
/// (compared by sha256 of the RGB bytes, which `pil_decode.json` records for each file); the EXIF-tagged
/// originals to Pillow's unrotated pixels.
#[test]
fn jpeg_pixels_equal_pillows_on_all_1086_images() {
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("pil_decode.json")).unwrap())
            .unwrap();
    let mut checked = 0;
    let mut rotated_tags = 0;
    let mut different = Vec::new();
    for (folder, images) in reference["sets"].as_object().unwrap() {
        for (name, want) in images.as_object().unwrap() {
            let path = support::data_dir().join(folder).join(name);
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(
                hex::encode(Sha256::digest(&bytes)),
                want["file_sha256"].as_str().unwrap(),
                "{}: not the file the reference decoded",
                path.display()
            );
            let img = decode_named(&bytes, name, &ImageLimits::default()).unwrap();
            assert_eq!(
                [img.width() as u64, img.height() as u64],
                [
                    want["width"].as_u64().unwrap(),
                    want["height"].as_u64().unwrap()
                ],
                "{folder}/{name}: size"
            );
            if hex::encode(Sha256::digest(img.as_raw())) != want["rgb_sha256"].as_str().unwrap() {
                different.push(format!("{folder}/{name}"));
            }
            if want["exif_orientation"].as_u64().is_some_and(|o| o > 1) {
                rotated_tags += 1;
            }
            checked += 1;
        }
    }
    println!(
        "{checked} JPEGs decoded; {} differ from Pillow",
        different.len()
    );
    assert_eq!(checked, 1086);
    // n02951585_can_opener.JPEG says "rotate 90°" (6): Pillow, and so glassbox, keep it sideways.
    assert_eq!(rotated_tags, 1, "the originals' EXIF rotation case");
    assert!(
        different.is_empty(),
        "{} JPEGs decode to other pixels than Pillow's, e.g. {:?}",
        different.len(),
        &different[..different.len().min(5)]
    );
}

#[test]
fn views_of_lossless_images_are_bit_exact() {
    for name in [
        "synthetic_small_rgb",
        "synthetic_wide_grey",
        "synthetic_rgba",
        "synthetic_palette",
    ] {
        let img = load(&fixtures().join(format!("{name}.png")));
        for (spec, suffix) in [
            (torchvision(), "torchvision"),
            (central_crop(), "central_crop_224"),
        ] {
            let (max, n) = compare(
                &model_view(&img, &spec),
                &fixtures().join(format!("{name}_{suffix}.npy")),
            );
            println!("{name} {suffix}: max diff {max}, {n} values differ");
            assert_eq!(max, 0, "{name} {suffix}");
        }
    }
}

/// Decoding keeps the stored pixels, as Pillow; `upright` turns a user's photo the way a viewer shows it.
#[test]
fn exif_orientation_is_applied_only_on_request() {
    let path = fixtures().join("exif_rotate6.jpg");
    assert_eq!(
        load(&path).dimensions(),
        (64, 48),
        "stored as 64×48, as Pillow opens it"
    );
    let orientation = preprocess::exif_orientation(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(orientation, image::metadata::Orientation::Rotate90);
    let img = preprocess::upright(load(&path), orientation);
    assert_eq!(
        img.dimensions(),
        (48, 64),
        "orientation 6 turns the 64×48 picture upright"
    );
    let want = npy::read::<u8>(&fixtures().join("exif_rotate6.npy")).unwrap();
    let mean_diff = |candidate: &RgbImage| {
        let got = as_array(candidate);
        got.iter()
            .zip(&want)
            .map(|(a, b)| a.abs_diff(*b) as f64)
            .sum::<f64>()
            / want.len() as f64
    };
    let (max, _) = compare(&img, &fixtures().join("exif_rotate6.npy"));
    let upright = mean_diff(&img);
    let upside_down = mean_diff(&image::imageops::rotate180(&img));
    println!("exif_rotate6 vs PIL exif_transpose: max diff {max}, mean {upright:.3}; rotated 180°: mean {upside_down:.1}");
    // JPEG decoders differ by a few levels at this tiny image's sharp colour edges.
    assert!(max <= 6 && upright < 0.5, "max {max}, mean {upright}");
    assert!(
        upside_down > 20.0,
        "the test picture must tell orientations apart"
    );
}

#[test]
fn sixteen_bit_grey_becomes_rounded_rgb8() {
    let img = load(&fixtures().join("grey16.png"));
    let (max, _) = compare(&img, &fixtures().join("grey16.npy"));
    assert!(max <= 1, "{max}");
}

#[test]
fn cmyk_jpeg_becomes_rgb() {
    let img = load(&fixtures().join("cmyk.jpg"));
    let want = npy::read::<u8>(&fixtures().join("cmyk.npy")).unwrap();
    // Block centres (away from JPEG ringing at colour edges).
    for (r, c) in [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)] {
        let (y, x) = (r * 16 + 8, c * 16 + 8);
        let got = img.get_pixel(x as u32, y as u32).0;
        let expected = [want[[y, x, 0]], want[[y, x, 1]], want[[y, x, 2]]];
        let diff = got
            .iter()
            .zip(expected)
            .map(|(a, b)| a.abs_diff(b))
            .max()
            .unwrap();
        println!("cmyk block ({r},{c}): got {got:?}, expected {expected:?}");
        assert!(
            diff <= 8,
            "block ({r},{c}): got {got:?}, expected {expected:?}"
        );
    }
}

#[test]
fn tensors_are_chw_and_normalised_as_the_references() {
    let img = load(&support::sample_images()[0]);
    let view = model_view(&img, &torchvision());
    let t = to_tensor(&view, &torchvision());
    assert_eq!(t.dim(), (3, 224, 224));
    let (mean, std) = ([0.485f64, 0.456, 0.406], [0.229f64, 0.224, 0.225]);
    for (x, y) in [(0u32, 0u32), (5, 7), (223, 100), (17, 223)] {
        let p = view.get_pixel(x, y);
        for c in 0..3 {
            let want = (p[c] as f64 / 255.0 - mean[c]) / std[c];
            assert!((t[[c, y as usize, x as usize]] as f64 - want).abs() < 1e-6);
        }
    }
    let view = model_view(&img, &central_crop());
    let t = to_tensor(&view, &central_crop());
    let p = view.get_pixel(9, 4);
    for c in 0..3 {
        assert_eq!(
            t[[c, 4, 9]],
            (p[c] as f32 - 128.0) / 128.0,
            "exact for dyadic scales"
        );
    }
}

/// The fused resize-and-crop (what `model_view` and CLIP's view use) equals resizing the whole picture and then
/// cropping it, pixel for pixel, for both filters, in every case: down- and upscaling, crops smaller than the
/// resized picture and crops that pad it, odd margins (Python's round), one axis resized not at all.
#[test]
fn resize_and_crop_computes_only_the_crop_and_equals_the_two_steps() {
    use preprocess::Filter;
    let picture = |w, h| {
        RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([
                (x * 37 % 256) as u8,
                (y * 11 % 256) as u8,
                ((x ^ y) % 256) as u8,
            ])
        })
    };
    for (w, h) in [
        (300, 7),
        (7, 300),
        (64, 48),
        (48, 64),
        (33, 33),
        (1, 90),
        (90, 1),
        (5, 3),
        (256, 300),
    ] {
        let img = picture(w, h);
        for filter in [Filter::Bilinear, Filter::Bicubic] {
            for (size, ch, cw) in [
                (37, 32, 32),
                (256, 224, 224),
                (20, 32, 25),
                (7, 7, 9),
                (48, 48, 48),
                (64, 10, 31),
            ] {
                let two_steps = preprocess::center_crop(
                    &preprocess::resize_shorter_side(&img, size, filter),
                    ch,
                    cw,
                );
                let fused =
                    preprocess::resize_shorter_side_and_center_crop(&img, size, ch, cw, filter);
                assert!(
                    fused == two_steps,
                    "{w}×{h}, Resize({size}), CenterCrop({ch}, {cw}), {filter:?}"
                );
            }
        }
    }
    // A 1×1,000,000 picture (the fuzz harness's elongated case, at its worst): Resize(256) alone would be
    // 256×256,000,000 pixels; the crop costs its own 224×224.
    let strip = RgbImage::from_fn(1, 1_000_000, |_, y| image::Rgb([(y % 251) as u8, 0, 9]));
    let view = model_view(&strip, &torchvision());
    assert_eq!(view.dimensions(), (224, 224));
    let clip = glassbox::dissect::clip_image::clip_view(&strip, 224);
    assert_eq!(clip.dimensions(), (224, 224));
}

#[test]
fn resize_handles_identity_and_extreme_aspect_ratios() {
    let img = RgbImage::from_fn(300, 7, |x, y| {
        image::Rgb([(x % 256) as u8, (y * 30) as u8, 128])
    });
    assert_eq!(
        preprocess::resize(&img, 300, 7, preprocess::Filter::Bilinear),
        img
    );
    // Shorter side 7 → 256: the long side becomes int(256 · 300 / 7) = 10971.
    let resized = preprocess::resize_shorter_side(&img, 256, preprocess::Filter::Bilinear);
    assert_eq!(resized.dimensions(), (10971, 256));
    let view = model_view(&img, &torchvision());
    assert_eq!(view.dimensions(), (224, 224));
    // A tiny image is zero-padded by CenterCrop exactly as torchvision pads.
    let tiny = RgbImage::from_pixel(3, 2, image::Rgb([200, 100, 50]));
    let padded = preprocess::center_crop(&tiny, 6, 5);
    assert_eq!(padded.dimensions(), (5, 6));
    assert_eq!(padded.get_pixel(0, 0).0, [0, 0, 0]);
    assert_eq!(padded.get_pixel(1, 2).0, [200, 100, 50]);
}

#[test]
fn decode_reports_the_name_of_a_bad_file() {
    let err = decode_named(
        b"\x89PNG\r\n\x1a\nbroken",
        "broken.png",
        &ImageLimits::default(),
    )
    .unwrap_err();
    assert!(format!("{err:#}").contains("broken.png"));
}
