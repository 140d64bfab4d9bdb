//! CLIP's image preprocessing (Pillow bicubic resize of the shorter side, centre crop, CLIP mean/std) against
//! openai/CLIP's own `_transform` (fixture by `tests/reference/clip_preprocess_reference.py`).

use crate::dissect_common;

use dissect_common::fixtures;
use glassbox::dissect::clip_image::{clip_tensor, clip_view};
use image::RgbImage;
use sha2::{Digest, Sha256};

/// The synthetic image of the reference script.
fn pattern(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let v = |c: u32| ((x * 7 + y * 13 + c * 50 + (x * y) % 31) % 256) as u8;
        image::Rgb([v(0), v(1), v(2)])
    })
}

#[test]
fn clip_preprocessing_matches_openai_clip() {
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("clip_preprocess.json")).unwrap())
            .unwrap();
    for case in meta["cases"].as_array().unwrap() {
        let (w, h) = (
            case["width"].as_u64().unwrap() as u32,
            case["height"].as_u64().unwrap() as u32,
        );
        let view = clip_view(&pattern(w, h), 224);
        assert_eq!(view.dimensions(), (224, 224));
        assert_eq!(
            hex::encode(Sha256::digest(view.as_raw())),
            case["view_sha256"].as_str().unwrap(),
            "{w}x{h}: uint8 view"
        );
        let tensor = clip_tensor(&view);
        for c in 0..3 {
            let sum: f64 = tensor
                .index_axis(ndarray::Axis(0), c)
                .iter()
                .map(|&v| f64::from(v))
                .sum();
            let expected = case["channel_sums"][c].as_f64().unwrap();
            assert!(
                (sum - expected).abs() < 1e-2,
                "{w}x{h} channel {c}: {sum} vs {expected}"
            );
            for (key, (y, x)) in [("tensor_0_0", (0, 0)), ("tensor_111_57", (111, 57))] {
                let expected = case[key][c].as_f64().unwrap() as f32;
                assert!(
                    (tensor[[c, y, x]] - expected).abs() < 1e-6,
                    "{w}x{h} {key}[{c}]"
                );
            }
        }
    }
}
