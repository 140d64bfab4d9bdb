//! The fuzz targets: each feeds one input to a parser of untrusted bytes that glassbox wrote itself, and
//! the code right behind it. A target returns whether the input was accepted (for the statistics);
//! an error is a fine answer, a panic, a hang or a runaway allocation is not (the driver checks those).
//!
//! Shared by the fuzz driver (`main.rs`) and the replay of every input that once failed
//! (`crate/tests/fuzz_found.rs`, part of the integration tests).

use std::path::{Path, PathBuf};

use glassbox::dissect::job::DissectJob;
use glassbox::dissect::published::PublishedLabels;
use glassbox::engine::graph;
use glassbox::model::{head::LinearHead, Manifest, Model};
use glassbox::preprocess::{self, ImageLimits, Preprocessing};
use image::{ImageFormat, RgbImage};

/// One fuzz target: a name (also its folder under `tests/fixtures/fuzz-found/`) and the code it runs.
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]) -> bool,
}

pub const TARGETS: &[Target] = &[
    Target {
        name: "jpeg_markers",
        run: jpeg_markers,
    },
    Target {
        name: "png_header",
        run: png_header,
    },
    Target {
        name: "image_decode",
        run: image_decode,
    },
    Target {
        name: "npy",
        run: npy,
    },
    Target {
        name: "onnx_graph",
        run: onnx_graph,
    },
    Target {
        name: "manifest",
        run: manifest,
    },
    Target {
        name: "dissect_job",
        run: dissect_job,
    },
    Target {
        name: "published_csv",
        run: published_csv,
    },
];

/// `tests/fixtures/fuzz-found/<target>/`: every input that once failed a target.
pub fn found_dir(target: &str) -> PathBuf {
    repo_dir().join("tests/fixtures/fuzz-found").join(target)
}

/// The repository root.
pub fn repo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The inputs kept in `found_dir(target)`, sorted by name.
pub fn found_inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(found_dir(target))
        .map(|dir| dir.map(|e| e.expect("readable folder").path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.is_file() && p.file_name().is_some_and(|n| n != "README.md"));
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("readable fuzz-found input");
            (p, bytes)
        })
        .collect()
}

/// The JPEG marker walks: the frame-size read and the end-of-image check.
fn jpeg_markers(bytes: &[u8]) -> bool {
    let size = preprocess::declared_size(bytes, ImageFormat::Jpeg);
    let complete = preprocess::check_jpeg_complete(bytes).is_ok();
    size.is_some() && complete
}

/// The PNG header read (IHDR's width and height).
fn png_header(bytes: &[u8]) -> bool {
    preprocess::declared_size(bytes, ImageFormat::Png).is_some()
}

/// The tiny model's preprocessing (`tests/fixtures/bad-inputs/tiny_model.json`) and a TF-slim one.
fn small_preprocessings() -> [Preprocessing; 2] {
    [
        Preprocessing::Torchvision {
            resize: 37,
            crop: 32,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
            squash: false,
        },
        Preprocessing::CentralCrop {
            central_fraction: 0.875,
            size: 32,
            offset: 127.5,
            scale: 1.0 / 127.5,
        },
    ]
}

/// Everything between the file's bytes and the model's input: format detection, the header checks and
/// size limit, the decoders' glue (libjpeg's error unwinding, EXIF orientation, colour conversion), then
/// resize and crop. The pixel limit is 1 megapixel so that one input decodes in milliseconds.
fn image_decode(bytes: &[u8]) -> bool {
    let limits = ImageLimits {
        max_pixels: 1 << 20,
    };
    let Ok(img) = preprocess::decode_named(bytes, "fuzz", &limits) else {
        return false;
    };
    for spec in small_preprocessings() {
        let prepared = preprocess::prepare(&img, &spec);
        assert_eq!(prepared.view.dimensions(), (32, 32));
    }
    let clip = glassbox::dissect::clip_image::clip_view(&img, 24);
    assert_eq!(clip.dimensions(), (24, 24));
    true
}

/// The `.npy` reader, as every element type.
fn npy(bytes: &[u8]) -> bool {
    use glassbox::npy::{from_bytes, from_bytes_f32};
    let as_f32 = from_bytes_f32(bytes);
    let _ = from_bytes::<f32>(bytes);
    let _ = from_bytes::<f64>(bytes);
    let _ = from_bytes::<u8>(bytes);
    let _ = from_bytes::<i32>(bytes);
    let _ = from_bytes::<i64>(bytes);
    as_f32.is_ok()
}

/// ONNX reading: the protobuf decode and sanity check, the signature, every initializer, the manifest
/// inferred for a bare `.onnx`, the linear-head check, and an edit (re-encoding) that must decode again.
fn onnx_graph(bytes: &[u8]) -> bool {
    let Ok(model) = graph::decode(bytes) else {
        return false;
    };
    let g = graph::graph(&model);
    if let Ok(input) = graph::single_input(g) {
        let _ = graph::concrete_input_shape(&input, Some(8));
        let _ = graph::concrete_input_shape(&input, None);
    }
    for output in graph::outputs(g) {
        let _ = output.static_shape();
    }
    for t in &g.initializer {
        let _ = graph::tensor_f32(t);
        let _ = graph::tensor_i64(t);
    }
    let _ = LinearHead::from_graph(g, "features", "logits");
    let _ = Manifest::infer("fuzz", bytes);
    let accepted = Model::from_onnx_bytes("fuzz", bytes.to_vec()).is_ok();
    let again = graph::encode(&model);
    graph::decode(&again).expect("a decoded model re-encodes to a decodable one");
    accepted
}

/// The tiny valid classifier every manifest input is paired with (a 32×32 input, 10 classes).
fn tiny_onnx() -> &'static [u8] {
    static TINY: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    TINY.get_or_init(|| {
        std::fs::read(repo_dir().join("tests/fixtures/bad-inputs/tiny_model.onnx"))
            .expect("tests/fixtures/bad-inputs/tiny_model.onnx")
    })
}

/// A model manifest: parsing and validation, then the model built from it with the tiny graph (its sha256
/// left out, or every mutant would stop there; the labels file, when named, has 10 lines), then its
/// preprocessing on a small picture.
fn manifest(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    let Ok(mut m) = Manifest::from_json(&text) else {
        return false;
    };
    m.sha256 = None;
    let labels = m
        .labels
        .file
        .as_ref()
        .map(|_| (0..10).map(|i| format!("label {i}\n")).collect::<String>());
    let Ok(model) = Model::from_bytes(m, tiny_onnx().to_vec(), labels.as_deref()) else {
        return false;
    };
    let img = RgbImage::from_fn(40, 30, |x, y| image::Rgb([x as u8 * 6, y as u8 * 8, 77]));
    let prepared = preprocess::prepare(&img, &model.manifest.preprocessing);
    let size = model.manifest.preprocessing.input_size();
    assert_eq!(
        prepared.view.dimensions(),
        (size.width as u32, size.height as u32)
    );
    true
}

/// A dissection job file (paths resolved against a folder that need not exist: nothing is read).
fn dissect_job(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    DissectJob::from_json(&text, Path::new("/nonexistent/jobs")).is_ok()
}

/// CLIP-Dissect's published-label CSV.
fn published_csv(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    PublishedLabels::from_csv("fuzz.csv", &text).is_ok()
}
