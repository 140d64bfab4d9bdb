//! Shared helpers of the LIME integration tests: fixture paths, a minimal `.npy` reader, the
//! adjusted Rand index.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// `tests/fixtures/lime/` of the repository.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/lime")
}

pub const STEMS: [&str; 10] = [
    "n01443537_goldfish",
    "n01491361_tiger_shark",
    "n01608432_kite",
    "n01616318_vulture",
    "n01677366_common_iguana",
    "n02007558_flamingo",
    "n02018207_American_coot",
    "n02098286_West_Highland_white_terrier",
    "n04037443_racer",
    "n07747607_orange",
];

/// A C-order `.npy` array: its dtype string, shape and raw little-endian bytes.
pub struct Npy {
    pub descr: String,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

pub fn read_npy(path: &Path) -> Npy {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    assert_eq!(
        &bytes[..6],
        b"\x93NUMPY",
        "{} is not an .npy file",
        path.display()
    );
    let (header_len, start) = if bytes[6] == 1 {
        (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
    } else {
        (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        )
    };
    let header = std::str::from_utf8(&bytes[start..start + header_len]).unwrap();
    assert!(
        header.contains("'fortran_order': False"),
        "only C-order fixtures"
    );
    let descr = header
        .split("'descr': '")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap()
        .to_string();
    let shape_text = header
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let shape = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    Npy {
        descr,
        shape,
        data: bytes[start + header_len..].to_vec(),
    }
}

impl Npy {
    pub fn to_i32(&self) -> Vec<i32> {
        match self.descr.as_str() {
            "<i2" => self
                .data
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]) as i32)
                .collect(),
            "<i4" => self
                .data
                .chunks_exact(4)
                .map(|b| i32::from_le_bytes(b.try_into().unwrap()))
                .collect(),
            "<i8" => self
                .data
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as i32)
                .collect(),
            d => panic!("unexpected integer dtype {d}"),
        }
    }
    pub fn to_u8(&self) -> Vec<u8> {
        assert!(
            self.descr == "|u1" || self.descr == "|b1",
            "unexpected dtype {}",
            self.descr
        );
        self.data.clone()
    }
    pub fn to_f32(&self) -> Vec<f32> {
        assert_eq!(self.descr, "<f4");
        self.data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect()
    }
}

pub fn load_view(stem: &str) -> ndarray::Array3<u8> {
    let npy = read_npy(&fixtures().join(format!("views/{stem}.npy")));
    ndarray::Array3::from_shape_vec((npy.shape[0], npy.shape[1], npy.shape[2]), npy.to_u8())
        .unwrap()
}

pub fn load_segments(stem: &str) -> ndarray::Array2<i32> {
    let npy = read_npy(&fixtures().join(format!("segments/{stem}.npy")));
    ndarray::Array2::from_shape_vec((npy.shape[0], npy.shape[1]), npy.to_i32()).unwrap()
}

/// Adjusted Rand index of two labelings (Hubert & Arabie), as scikit-learn's `adjusted_rand_score`.
pub fn adjusted_rand_index(a: &[i32], b: &[i32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let comb2 = |n: f64| n * (n - 1.0) / 2.0;
    let mut joint: HashMap<(i32, i32), f64> = HashMap::new();
    let mut rows: HashMap<i32, f64> = HashMap::new();
    let mut cols: HashMap<i32, f64> = HashMap::new();
    for (&x, &y) in a.iter().zip(b) {
        *joint.entry((x, y)).or_default() += 1.0;
        *rows.entry(x).or_default() += 1.0;
        *cols.entry(y).or_default() += 1.0;
    }
    let index: f64 = joint.values().map(|&n| comb2(n)).sum();
    let sum_rows: f64 = rows.values().map(|&n| comb2(n)).sum();
    let sum_cols: f64 = cols.values().map(|&n| comb2(n)).sum();
    let expected = sum_rows * sum_cols / comb2(a.len() as f64);
    let max_index = (sum_rows + sum_cols) / 2.0;
    if max_index == expected {
        return 1.0;
    }
    (index - expected) / (max_index - expected)
}

/// The crate's CPU engine (tract) on a static-shape ONNX graph: the LIME tests' real inference.
pub fn cpu_engine(path: &Path) -> glassbox::engine::cpu::CpuEngine {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    glassbox::engine::cpu::CpuEngine::from_bytes(&bytes, None)
        .unwrap_or_else(|e| panic!("loading {}: {e:#}", path.display()))
}
