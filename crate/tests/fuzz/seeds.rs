//! What each target's mutants start from (files of this repository and small inputs made here, never
//! `shared/data`, so CI and every machine fuzz the same corpus), the kind of structure-aware mutation it
//! gets, and the byte tokens of its format that the mutator inserts.

use std::io::Cursor;

use glassbox::engine::graph;
use image::{DynamicImage, ImageFormat, RgbImage};
use ndarray::{ArrayD, IxDyn};

use crate::targets::repo_dir;

/// Which structure-aware mutation a target's inputs get besides the byte-level ones.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Structure {
    Bytes,
    Json,
    Onnx,
}

pub struct Corpus {
    pub seeds: Vec<Vec<u8>>,
    pub structure: Structure,
    pub tokens: &'static [&'static [u8]],
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(repo_dir().join(rel)).unwrap_or_else(|e| panic!("seed {rel}: {e}"))
}

/// Files of a repository folder whose name ends with `suffix`, sorted.
fn files(rel: &str, suffix: &str) -> Vec<Vec<u8>> {
    let mut paths: Vec<_> = std::fs::read_dir(repo_dir().join(rel))
        .unwrap_or_else(|e| panic!("seed folder {rel}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| std::fs::read(p).unwrap())
        .filter(|b| !b.is_empty())
        .collect()
}

fn encode(img: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), format).unwrap();
    out
}

fn picture(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 7) as u8, (y * 13) as u8, ((x + y) * 3) as u8])
    })
}

fn made_jpegs() -> Vec<Vec<u8>> {
    vec![
        encode(picture(37, 23).into(), ImageFormat::Jpeg),
        encode(
            DynamicImage::ImageRgb8(picture(16, 16)).grayscale(),
            ImageFormat::Jpeg,
        ),
        // A very elongated picture: its resized shorter side makes a long image before the crop.
        encode(picture(2, 600).into(), ImageFormat::Jpeg),
    ]
}

fn made_pngs() -> Vec<Vec<u8>> {
    vec![
        encode(picture(37, 23).into(), ImageFormat::Png),
        encode(
            DynamicImage::ImageRgb8(picture(9, 5)).to_rgba8().into(),
            ImageFormat::Png,
        ),
        encode(picture(1, 3000).into(), ImageFormat::Png),
        encode(picture(3000, 1).into(), ImageFormat::Png),
    ]
}

const JPEG_TOKENS: &[&[u8]] = &[
    b"\xFF\xD8",
    b"\xFF\xD9",
    b"\xFF\xDA\x00\x08",
    b"\xFF\xC0\x00\x11\x08",
    b"\xFF\xC2",
    b"\xFF\xC4",
    b"\xFF\xDB\x00\x43\x00",
    b"\xFF\xDD\x00\x04\x00\x01",
    b"\xFF\xD0",
    b"\xFF\x00",
    b"\xFF\xFF\xFF",
    b"\xFF\xE1\xFF\xFFExif\x00\x00",
    b"\xFF\xE0\x00\x10JFIF\x00",
    b"\xFF\x01",
];
const PNG_TOKENS: &[&[u8]] = &[
    b"\x89PNG\r\n\x1a\n",
    b"\x00\x00\x00\x0dIHDR",
    b"IDAT",
    b"IEND\xAE\x42\x60\x82",
    b"eXIf",
    b"PLTE",
    b"tRNS",
    b"\xFF\xFF\xFF\xFF",
];
const IMAGE_TOKENS: &[&[u8]] = &[
    b"\xFF\xD9",
    b"\xFF\xC0\x00\x11\x08",
    b"\xFF\xDA\x00\x08",
    b"\xFF\xE1\xFF\xFFExif\x00\x00MM\x00\x2a",
    b"IDAT",
    b"IEND",
    b"\x00\x00\x00\x0dIHDR",
    b"BM",
    b"RIFF",
    b"WEBPVP8L",
];
const NPY_TOKENS: &[&[u8]] = &[
    b"\x93NUMPY\x01\x00",
    b"\x93NUMPY\x02\x00",
    b"'descr': '<f2', ",
    b"'descr': '>f4', ",
    b"'descr': '",
    b"'fortran_order': True, ",
    b"'shape': (), ",
    b"'shape': (0,), ",
    b"'shape': (4294967296, 4294967296), ",
    b"'shape': (18446744073709551615,), ",
    b"'shape': (",
    b"99999999999999999999",
    b", ",
    b"'",
    b"\xC3\xA9",
];
const JSON_TOKENS: &[&[u8]] = &[
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"null",
    b"-0",
    b"1e999",
    b"18446744073709551616",
    b"\\u0000",
    b"\\ud800",
    b"\"kind\": \"central_crop\"",
];
const CSV_TOKENS: &[&[u8]] = &[
    b",",
    b"\n",
    b"\r\n",
    b"layer,unit,description,similarity\n",
    b"18446744073709551616",
    b"-1",
    b"\"",
    b"\xEF\xBB\xBF",
];

/// `.npy` files of every element type and order the reader knows, made here.
fn made_npys() -> Vec<Vec<u8>> {
    use glassbox::npy::to_bytes;
    let a = ArrayD::from_shape_fn(IxDyn(&[2, 3, 4]), |i| {
        (i[0] * 12 + i[1] * 4 + i[2]) as f32 - 7.5
    });
    let mut seeds = vec![
        to_bytes(&a.view()),
        to_bytes(&a.mapv(f64::from).view()),
        to_bytes(&a.mapv(|v| (v + 8.0) as u8).view()),
        to_bytes(&a.mapv(|v| v as i32).view()),
        to_bytes(&a.mapv(|v| v as i64).view()),
        to_bytes(&ArrayD::from_elem(IxDyn(&[]), 3i64).view()),
        to_bytes(&ArrayD::<f32>::zeros(IxDyn(&[0])).view()),
    ];
    // Handmade: float16 in Fortran order, and a version-2 header (a 4-byte header length).
    let header = "{'descr': '<f2', 'fortran_order': True, 'shape': (2, 2), }";
    let mut f16 = b"\x93NUMPY\x01\x00".to_vec();
    f16.extend_from_slice(&(header.len() as u16).to_le_bytes());
    f16.extend_from_slice(header.as_bytes());
    f16.extend_from_slice(&[0x00, 0x3c, 0x00, 0xc0, 0x55, 0x35, 0xff, 0x7b]);
    seeds.push(f16);
    let header = "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }\n";
    let mut v2 = b"\x93NUMPY\x02\x00".to_vec();
    v2.extend_from_slice(&(header.len() as u32).to_le_bytes());
    v2.extend_from_slice(header.as_bytes());
    v2.extend_from_slice(&[1, 2, 3]);
    seeds.push(v2);
    seeds
}

/// The tiny classifier with its head rewritten in the other forms the head reader accepts.
fn head_variants(tiny: &[u8]) -> Vec<Vec<u8>> {
    let edit = |f: &dyn Fn(&mut tract_onnx::pb::GraphProto)| {
        let mut model = graph::decode(tiny).unwrap();
        f(model.graph.as_mut().unwrap());
        graph::encode(&model)
    };
    let node = |g: &mut tract_onnx::pb::GraphProto, op: &str| {
        g.node
            .iter()
            .position(|n| n.op_type == op)
            .unwrap_or_else(|| panic!("tiny model has {op}"))
    };
    vec![
        // Gemm(flat, W, b) → MatMul(flat, W) + Add(b).
        edit(&|g| {
            let i = node(g, "Gemm");
            let gemm = g.node[i].clone();
            let mut matmul = gemm.clone();
            matmul.op_type = "MatMul".into();
            matmul.input.truncate(2);
            matmul.output = vec!["product".into()];
            matmul.attribute.clear();
            let mut add = gemm.clone();
            add.op_type = "Add".into();
            add.input = vec!["product".into(), gemm.input[2].clone()];
            add.attribute.clear();
            g.node.splice(i..=i, [matmul, add]);
        }),
        // GlobalAveragePool → ReduceMean over axes 2 and 3.
        edit(&|g| {
            let i = node(g, "GlobalAveragePool");
            g.node[i].op_type = "ReduceMean".into();
            g.node[i].attribute.push(tract_onnx::pb::AttributeProto {
                name: "axes".into(),
                r#type: 7,
                ints: vec![2, -1],
                ..Default::default()
            });
        }),
        // GlobalAveragePool → a 32×32 AveragePool.
        edit(&|g| {
            let i = node(g, "GlobalAveragePool");
            g.node[i].op_type = "AveragePool".into();
            g.node[i].attribute.push(tract_onnx::pb::AttributeProto {
                name: "kernel_shape".into(),
                r#type: 7,
                ints: vec![32, 32],
                ..Default::default()
            });
        }),
    ]
}

/// The corpus of the target `name` (one of `targets::TARGETS`).
pub fn corpus(name: &str) -> Corpus {
    let (seeds, structure, tokens) = match name {
        "jpeg_markers" => {
            let mut s = files("tests/fixtures/bad-inputs", ".jpg");
            s.extend(made_jpegs());
            (s, Structure::Bytes, JPEG_TOKENS)
        }
        "png_header" => {
            let mut s = files("tests/fixtures/bad-inputs", ".png");
            s.extend(made_pngs());
            (s, Structure::Bytes, PNG_TOKENS)
        }
        "image_decode" => {
            let mut s = files("tests/fixtures/bad-inputs", ".jpg");
            s.extend(files("tests/fixtures/bad-inputs", ".png"));
            s.extend(made_jpegs());
            s.extend(made_pngs());
            s.push(encode(picture(13, 7).into(), ImageFormat::Bmp));
            s.push(encode(picture(13, 7).into(), ImageFormat::WebP));
            (s, Structure::Bytes, IMAGE_TOKENS)
        }
        "npy" => (made_npys(), Structure::Bytes, NPY_TOKENS),
        "onnx_graph" => {
            let tiny = read("tests/fixtures/bad-inputs/tiny_model.onnx");
            let mut s = head_variants(&tiny);
            s.push(tiny);
            s.push(read("tests/fixtures/bad-inputs/no_4d_output.onnx"));
            (s, Structure::Onnx, &[][..])
        }
        "manifest" => {
            let mut s = files("models", ".json");
            s.retain(|b| b.starts_with(b"{") && b.windows(15).any(|w| w == b"\"preprocessing\""));
            s.extend(files("tests/fixtures/bad-inputs", ".json"));
            (s, Structure::Json, JSON_TOKENS)
        }
        "dissect_job" => (files("precomputed/dissect/jobs", ".json"), Structure::Json, JSON_TOKENS),
        "published_csv" => (
            vec![
                b"layer,unit,description,similarity\nlayer2,0,sky,0.1\nlayer2,1,grass,0.12\nlayer3,0,sky,0.2\n".to_vec(),
                b"layer,unit,description,similarity\r\nlayer4,511,dog,0.3\r\n\r\n".to_vec(),
            ],
            Structure::Bytes,
            CSV_TOKENS,
        ),
        other => panic!("no corpus for the fuzz target {other}"),
    };
    assert!(!seeds.is_empty(), "{name}: no seeds");
    Corpus {
        seeds,
        structure,
        tokens,
    }
}
