//! Bad input never crashes and never passes silently: each case gives an error that names the problem
//! and what to do.

use crate::support;

use std::path::Path;

use futures::executor::block_on;
use glassbox::engine::{cpu::CpuEngine, Engine, EngineKind, Tensor};
use glassbox::model::{Manifest, Model};
use glassbox::preprocess::{decode, decode_named, ImageLimits};
use support::*;

fn message<T>(r: anyhow::Result<T>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => format!("{e:#}"),
    }
}

fn sample_jpeg() -> Vec<u8> {
    std::fs::read(&sample_images()[0]).unwrap()
}

#[test]
fn corrupt_image_names_the_file() {
    let mut bytes = sample_jpeg();
    // Keep the JPEG signature and header, scramble the entropy-coded data after it.
    for b in bytes[700..].iter_mut() {
        *b = b.wrapping_mul(31).wrapping_add(7);
    }
    let err = message(decode_named(&bytes, "holiday.jpg", &ImageLimits::default()));
    println!("{err}");
    assert!(err.contains("holiday.jpg"), "{err}");
    assert!(
        err.contains("corrupt") || err.contains("truncated"),
        "{err}"
    );
}

#[test]
fn truncated_jpeg_is_an_error_not_a_grey_image() {
    let bytes = sample_jpeg();
    let err = message(decode_named(
        &bytes[..bytes.len() / 2],
        "half.jpg",
        &ImageLimits::default(),
    ));
    println!("{err}");
    assert!(
        err.contains("half.jpg") && err.contains("truncated"),
        "{err}"
    );
}

#[test]
fn not_an_image_is_named_as_such() {
    let err = message(decode_named(
        b"just some text, not pixels",
        "notes.txt",
        &ImageLimits::default(),
    ));
    assert!(
        err.contains("notes.txt") && err.contains("not a recognised image"),
        "{err}"
    );
    let err = message(decode(&[], &ImageLimits::default()));
    assert!(err.contains("empty"), "{err}");
}

#[test]
fn images_over_the_pixel_limit_are_refused_before_decoding() {
    // A real JPEG (500×375 or so) with a limit below its size.
    let err = message(decode_named(
        &sample_jpeg(),
        "big.jpg",
        &ImageLimits { max_pixels: 50_000 },
    ));
    println!("{err}");
    assert!(
        err.contains("big.jpg") && err.contains("exceeds the limit"),
        "{err}"
    );

    // A 54-byte BMP header that claims 40000×40000 pixels: refused from the header alone.
    let mut bmp = vec![0u8; 54];
    bmp[0..2].copy_from_slice(b"BM");
    bmp[2..6].copy_from_slice(&u32::MAX.to_le_bytes()); // file size: only informative
    bmp[10..14].copy_from_slice(&54u32.to_le_bytes());
    bmp[14..18].copy_from_slice(&40u32.to_le_bytes());
    bmp[18..22].copy_from_slice(&40000i32.to_le_bytes());
    bmp[22..26].copy_from_slice(&40000i32.to_le_bytes());
    bmp[26..28].copy_from_slice(&1u16.to_le_bytes());
    bmp[28..30].copy_from_slice(&24u16.to_le_bytes());
    let err = message(decode_named(&bmp, "bomb.bmp", &ImageLimits::default()));
    println!("{err}");
    assert!(
        err.contains("bomb.bmp") && err.contains("1600000000 pixels"),
        "{err}"
    );
}

#[test]
fn a_file_that_is_not_onnx_is_refused() {
    for (what, bytes) in [
        ("jpeg", sample_jpeg()),
        ("text", b"name,score\ncat,1\n".to_vec()),
        ("empty", vec![]),
    ] {
        let err = message(Model::from_onnx_bytes(what, bytes.clone()));
        println!("{what}: {err}");
        assert!(err.contains("not an ONNX model"), "{what}: {err}");
        let err = message(CpuEngine::from_bytes(&bytes, None));
        assert!(err.contains("not an ONNX model"), "{what}: {err}");
    }
}

#[test]
fn a_graph_without_a_4d_output_is_refused() {
    let onnx = edit_onnx(&mobilenet_onnx("mobilenet_v1_0.25_128_b1"), |g| {
        g.output.retain(|o| o.name != "features")
    });
    let err = message(Model::from_onnx_bytes("logits_only", onnx.clone()));
    println!("{err}");
    assert!(
        err.contains("no 4-D output") && err.contains("features"),
        "{err}"
    );

    // With a manifest naming `features`, the error names the missing output and lists the real ones.
    let text = std::fs::read_to_string(manifest("mobilenet_v1_0.25_128")).unwrap();
    let mut m = Manifest::from_json(&text).unwrap();
    m.sha256 = None;
    m.labels.file = None;
    let err = message(Model::from_bytes(m, onnx, None));
    println!("{err}");
    assert!(
        err.contains("no output `features`") && err.contains("`logits`"),
        "{err}"
    );
}

#[test]
fn a_sha256_mismatch_names_both_digests_and_the_fix() {
    let text = std::fs::read_to_string(manifest("mobilenet_v1_0.25_128")).unwrap();
    let mut m = Manifest::from_json(&text).unwrap();
    let expected = m.sha256.clone().unwrap();
    // The batch-8 file in place of the batch-1 file the manifest pins.
    let onnx = mobilenet_onnx("mobilenet_v1_0.25_128_b8");
    m.labels.file = None;
    let err = message(Model::from_bytes(m, onnx, None));
    println!("{err}");
    assert!(err.contains("sha256 mismatch"), "{err}");
    assert!(err.contains(&expected), "{err}");
    assert!(
        err.contains("699e763a91ec71c6bbdd0ff784cf99236395d0e584e9f01c2459cbcf30f6c67c"),
        "{err}"
    );
    assert!(err.contains("fetch the right file"), "{err}");
}

#[test]
fn manifests_with_errors_are_refused() {
    let err = message(Manifest::from_json("{ \"name\": \"x\" }"));
    assert!(err.contains("invalid model manifest"), "{err}");
    let text = std::fs::read_to_string(manifest("mobilenet_v1_0.25_128")).unwrap();
    let typo = text.replace("\"central_fraction\"", "\"central_fracton\"");
    assert!(message(Manifest::from_json(&typo)).contains("central_fracton"));
    let bad = text.replace("0.875", "1.5");
    assert!(message(Manifest::from_json(&bad)).contains("central_fraction must be in (0, 1]"));
    let missing = std::env::temp_dir().join("glassbox_missing_manifest.json");
    std::fs::write(&missing, text.replace("mobilenet_onnx/", "nowhere/")).unwrap();
    let err = message(Model::from_path(&missing));
    assert!(
        err.contains("cannot read the ONNX file") && err.contains("GLASSBOX_SHARED"),
        "{err}"
    );
}

#[test]
fn wrong_input_shapes_and_types_are_refused_by_the_engine() {
    let engine = CpuEngine::from_bytes(&mobilenet_onnx("mobilenet_v1_0.25_128_b1"), None).unwrap();
    let wrong_size = Tensor::F32(ndarray::ArrayD::zeros(ndarray::IxDyn(&[1, 3, 224, 224])));
    let err = message(block_on(engine.run(&wrong_size)));
    assert!(
        err.contains("does not fit the graph's input [1, 3, 128, 128]"),
        "{err}"
    );
    let too_many = Tensor::F32(ndarray::ArrayD::zeros(ndarray::IxDyn(&[2, 3, 128, 128])));
    let err = message(block_on(engine.run(&too_many)));
    assert!(err.contains("run_chunked"), "{err}");
    let ints = Tensor::I64(ndarray::ArrayD::zeros(ndarray::IxDyn(&[1, 3, 128, 128])));
    assert!(message(block_on(engine.run(&ints))).contains("expects f32"));
    assert!(message("tpu".parse::<EngineKind>()).contains("unknown engine"));
}

/// The bad-input corpus (`tests/fixtures/bad-inputs/corpus.json`, made by `tests/reference/make_bad_inputs.py`).
fn corpus() -> (std::path::PathBuf, serde_json::Value) {
    let dir = support::repo_dir().join("tests/fixtures/bad-inputs");
    let text = std::fs::read_to_string(dir.join("corpus.json")).unwrap();
    (dir, serde_json::from_str(&text).unwrap())
}

/// Runs the `glassbox` binary; a run that has not ended after `deadline` is killed and fails the test
/// (bad input must never hang). Its output goes to files, not pipes: a full pipe would block the child and
/// look like a hang.
pub(crate) fn run_cli(
    args: &[&std::ffi::OsStr],
    deadline: std::time::Duration,
) -> std::process::Output {
    use std::process::{Command, Stdio};
    let logs = tempfile_dir("glassbox-bad-logs");
    let (stdout, stderr) = (logs.join("stdout"), logs.join("stderr"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(args)
        // Backtraces captured, as on a developer's machine: no error message may carry one.
        .env("RUST_BACKTRACE", "1")
        .stdout(Stdio::from(std::fs::File::create(&stdout).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&stderr).unwrap()))
        .spawn()
        .expect("the glassbox binary runs");
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > deadline {
            child.kill().unwrap();
            panic!("glassbox {args:?} still runs after {deadline:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let output = std::process::Output {
        status,
        stdout: std::fs::read(&stdout).unwrap(),
        stderr: std::fs::read(&stderr).unwrap(),
    };
    let _ = std::fs::remove_dir_all(&logs);
    output
}

/// A fresh folder under the system temp dir, unique to this process and call.
pub(crate) fn tempfile_dir(prefix: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("{prefix}-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Checks one CLI run against its corpus entry: `error` entries exit non-zero (not by a signal: no crash)
/// with the entry's message and the file's name in stderr; `ok` entries succeed and write `explained`.
fn check_outcome(entry: &serde_json::Value, run: &std::process::Output, explained: &Path) {
    let file = entry["file"].as_str().unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    println!(
        "{file}: {:?}\n  {}",
        run.status,
        stderr.trim().replace('\n', "\n  ")
    );
    if entry["outcome"] == "ok" {
        assert!(run.status.success(), "{file}: expected success\n{stderr}");
        assert!(
            explained.is_file(),
            "{file}: {} was not written",
            explained.display()
        );
    } else {
        assert_eq!(
            run.status.code(),
            Some(1),
            "{file}: expected exit status 1\n{stderr}"
        );
        let message = entry["message"].as_str().unwrap();
        assert!(
            stderr.contains(message),
            "{file}: the error does not say {message:?}\n{stderr}"
        );
        assert!(
            stderr.contains(file),
            "{file}: the error does not name the file\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{file}: a panic\n{stderr}");
    }
}

/// `glassbox explain --methods gradcam` of `image` with `model` (one of them the corpus entry's file), checked
/// against the entry's listed outcome.
fn explain_corpus_entry(entry: &serde_json::Value, model: &Path, image: &Path) {
    let file = entry["file"].as_str().unwrap();
    let out = std::env::temp_dir().join(format!("glassbox-bad-{}-{file}", std::process::id()));
    let args = [
        "explain".as_ref(),
        "--model".as_ref(),
        model.as_os_str(),
        "--methods".as_ref(),
        "gradcam".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        image.as_os_str(),
    ];
    let run = run_cli(&args, std::time::Duration::from_secs(120));
    let stem = image.file_stem().unwrap();
    check_outcome(entry, &run, &out.join(stem).join("explanation.json"));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn every_corpus_image_gets_its_listed_outcome_from_the_cli() {
    let (dir, corpus) = corpus();
    let model = manifest("mobilenet_v1_0.25_128");
    for entry in corpus["images"].as_array().unwrap() {
        explain_corpus_entry(entry, &model, &dir.join(entry["file"].as_str().unwrap()));
    }
}

#[test]
fn every_corpus_model_gets_its_listed_outcome_from_the_cli() {
    let (dir, corpus) = corpus();
    let image = sample_images()[0].clone();
    for entry in corpus["models"].as_array().unwrap() {
        explain_corpus_entry(entry, &dir.join(entry["file"].as_str().unwrap()), &image);
    }
}

/// README's reliability section lists every corpus file with the message it gets.
#[test]
fn the_readme_lists_the_corpus_with_its_messages() {
    let (_, corpus) = corpus();
    let readme = std::fs::read_to_string(support::repo_dir().join("README.md")).unwrap();
    let section = readme
        .split("\n## Reliability")
        .nth(1)
        .expect("README.md has a `## Reliability` section")
        .split("\n## ")
        .next()
        .unwrap();
    for entry in corpus["images"]
        .as_array()
        .unwrap()
        .iter()
        .chain(corpus["models"].as_array().unwrap())
    {
        let file = entry["file"].as_str().unwrap();
        let row = section
            .lines()
            .find(|l| l.starts_with(&format!("| `{file}`")))
            .unwrap_or_else(|| panic!("README's reliability table has no row for `{file}`"));
        let said = entry["message"].as_str().unwrap_or("explained");
        assert!(
            row.contains(said),
            "README's row for `{file}` does not say {said:?}: {row}"
        );
    }
}
