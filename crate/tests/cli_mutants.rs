//! Mutants of real files through `glassbox explain`: JPEGs of `shared/data/imagenet-originals`, PNGs (those
//! originals re-encoded, and the quokka depth map), the tiny model's manifest and its ONNX graph, each
//! with bit flips, a truncation, a duplicated chunk, a size field set to 0 or 65535, or random junk
//! (seeded: the same mutants every run). Each run ends with exit status 0 and its explanation written (a
//! mutant that is still a valid file), or 1 with a message naming the file; never a panic (101), a
//! signal or a hang.

#[path = "fuzz/mutate.rs"]
mod mutate;

use std::ffi::OsStr;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::Duration;

use image::ImageFormat;
use mutate::Rng;

use crate::bad_input::{run_cli, tempfile_dir};
use crate::support;

/// Mutants per kind of file: 100 runs in all (about a quarter of a second each on the tiny model).
const JPEG_MUTANTS: usize = 40;
const PNG_MUTANTS: usize = 20;
const MANIFEST_MUTANTS: usize = 20;
const ONNX_MUTANTS: usize = 20;

/// Where a file states its picture's size: a JPEG's frame header (height, width: 2 bytes each) or a
/// PNG's IHDR (width, height: 4 bytes each). `(offset, field width)`.
fn size_field(bytes: &[u8]) -> Option<(usize, usize)> {
    if bytes.starts_with(b"\x89PNG") {
        return Some((16, 4));
    }
    let mut i = 2;
    while i + 9 < bytes.len() && bytes[i] == 0xFF {
        let marker = bytes[i + 1];
        if (0xC0..=0xCF).contains(&marker) && ![0xC4, 0xC8, 0xCC].contains(&marker) {
            return Some((i + 5, 2));
        }
        i += 2 + usize::from(u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]));
    }
    None
}

/// One of the mutations of `original`; returns what it did.
fn mutant(
    rng: &mut Rng,
    original: &[u8],
    structure: Option<fn(&mut Rng, &mut Vec<u8>)>,
) -> (Vec<u8>, String) {
    let mut data = original.to_vec();
    let len = data.len();
    let what = match rng.below(7) {
        0 => {
            let n = 1 + rng.below(8);
            for _ in 0..n {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            format!("{n} bit flips")
        }
        1 => {
            let cut = rng.below(len);
            data.truncate(cut);
            format!("truncated to {cut} bytes")
        }
        2 => {
            let start = rng.below(len);
            let end = (start + 1 + rng.below(512)).min(len);
            let to = rng.below(len);
            let chunk = data[start..end].to_vec();
            data.splice(to..to, chunk);
            format!("bytes {start}..{end} duplicated at {to}")
        }
        3 => match size_field(&data) {
            Some((at, width)) => {
                // Height or width (PNG: width or height), to 0 or 65535.
                let field = at + width * rng.below(2);
                let value: u32 = if rng.chance(2) { 0 } else { 65535 };
                let bytes = value.to_be_bytes();
                data[field..field + width].copy_from_slice(&bytes[4 - width..]);
                format!("size field at {field} set to {value}")
            }
            None => match structure {
                Some(mutate_structure) => {
                    mutate_structure(rng, &mut data);
                    "a field changed".to_string()
                }
                None => {
                    data.truncate(len / 2);
                    "truncated to half".to_string()
                }
            },
        },
        4 => {
            let start = rng.below(len);
            let end = (start + 1 + rng.below(256)).min(len);
            for b in &mut data[start..end] {
                *b = rng.next() as u8;
            }
            format!("random junk over bytes {start}..{end}")
        }
        5 => {
            // Junk after a valid signature.
            data.truncate(8);
            data.extend((0..1 + rng.below(4096)).map(|_| rng.next() as u8));
            "signature then random junk".to_string()
        }
        _ => match structure {
            Some(mutate_structure) => {
                mutate_structure(rng, &mut data);
                "a field changed".to_string()
            }
            None => {
                for _ in 0..4 {
                    mutate::mutate_bytes(rng, &mut data, &[], &[]);
                }
                "four of the fuzzer's byte mutations".to_string()
            }
        },
    };
    (data, what)
}

/// Runs `glassbox explain` on one mutant and checks how it ended.
fn explain(model: &Path, image: &Path, what: &str, mutated: &Path) {
    let out = tempfile_dir("glassbox-mutant-out");
    // The CPU engine (tract), the page's fallback engine and the one every machine has.
    let args: [&OsStr; 10] = [
        "explain".as_ref(),
        "--engine".as_ref(),
        "cpu".as_ref(),
        "--model".as_ref(),
        model.as_os_str(),
        "--methods".as_ref(),
        "gradcam".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        image.as_os_str(),
    ];
    let run = run_cli(&args, Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&run.stderr);
    let name = mutated.file_name().unwrap().to_string_lossy();
    let last = stderr.trim().lines().last().unwrap_or_default().to_string();
    println!("{name} ({what}): {:?} {last}", run.status.code());
    assert!(
        !stderr.contains("panicked"),
        "{name} ({what}): a panic\n{stderr}"
    );
    // run_cli sets RUST_BACKTRACE=1: an error formatted with its backtrace would show here.
    assert!(
        !stderr.contains("Stack backtrace"),
        "{name} ({what}): a backtrace in the message\n{stderr}"
    );
    match run.status.code() {
        Some(0) => {
            let stem = image.file_stem().unwrap();
            assert!(
                out.join(stem).join("explanation.json").is_file(),
                "{name} ({what}): exit 0 without an explanation\n{stderr}"
            );
        }
        Some(1) => assert!(
            stderr.contains(name.as_ref()),
            "{name} ({what}): the error does not name the file\n{stderr}"
        ),
        other => panic!("{name} ({what}): exit status {other:?} (a crash)\n{stderr}"),
    }
    let _ = std::fs::remove_dir_all(&out);
}

fn originals() -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(support::data_dir().join("imagenet-originals"))
        .expect("shared/data/imagenet-originals")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "JPEG"))
        .collect();
    v.sort();
    v
}

#[test]
fn mutants_of_real_files_are_explained_or_refused_with_the_file_named() {
    let dir = tempfile_dir("glassbox-mutants");
    let corpus = support::repo_dir().join("tests/fixtures/bad-inputs");
    let model = corpus.join("tiny_model.json");
    let mut rng = Rng::new(23);

    let jpegs: Vec<Vec<u8>> = originals()
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert!(
        jpegs.len() >= 70,
        "imagenet-originals holds {} JPEGs",
        jpegs.len()
    );
    // PNGs: a few originals re-encoded (a third of their size, to keep the runs quick), and a real PNG.
    let mut pngs =
        vec![
            std::fs::read(support::data_dir().join("quokka-imgaug/quokka_depth_map_halfres.png"))
                .unwrap(),
        ];
    for original in jpegs.iter().step_by(19) {
        let img = image::load_from_memory(original)
            .unwrap()
            .thumbnail(160, 160);
        let mut png = Vec::new();
        img.write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        pngs.push(png);
    }
    for (i, (pool, count, ext)) in [(&jpegs, JPEG_MUTANTS, "jpg"), (&pngs, PNG_MUTANTS, "png")]
        .into_iter()
        .enumerate()
    {
        for n in 0..count {
            let original = rng.pick(pool);
            let (bytes, what) = mutant(&mut rng, original, None);
            let path = dir.join(format!("mutant-{i}-{n:03}.{ext}"));
            std::fs::write(&path, bytes).unwrap();
            explain(&model, &path, &what, &path);
        }
    }

    // The model files: a mutated manifest beside the real graph, a mutated graph as a bare .onnx.
    let image = dir.join("picture.jpg");
    std::fs::write(&image, &jpegs[0]).unwrap();
    std::fs::copy(corpus.join("tiny_model.onnx"), dir.join("tiny_model.onnx")).unwrap();
    let manifest = std::fs::read(&model).unwrap();
    for n in 0..MANIFEST_MUTANTS {
        let (bytes, what) = mutant(&mut rng, &manifest, Some(mutate::mutate_json));
        let path = dir.join(format!("mutant-{n:03}.json"));
        std::fs::write(&path, bytes).unwrap();
        explain(&path, &image, &what, &path);
    }
    let onnx = std::fs::read(corpus.join("tiny_model.onnx")).unwrap();
    for n in 0..ONNX_MUTANTS {
        let (bytes, what) = mutant(&mut rng, &onnx, Some(mutate::mutate_onnx));
        let path = dir.join(format!("mutant-{n:03}.onnx"));
        std::fs::write(&path, bytes).unwrap();
        explain(&path, &image, &what, &path);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
