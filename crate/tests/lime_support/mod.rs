//! Shared helpers of the LIME integration tests: fixture paths and readers, the adjusted Rand index.

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

/// A fixture `.npy` whose element type is exactly `T` (the crate's reader, npyz underneath).
pub fn read_npy<T: glassbox::npy::NpyElement>(path: &Path) -> ndarray::ArrayD<T> {
    glassbox::npy::read(path).unwrap_or_else(|e| panic!("reading {}: {e:#}", path.display()))
}

pub fn load_view(stem: &str) -> ndarray::Array3<u8> {
    read_npy::<u8>(&fixtures().join(format!("views/{stem}.npy")))
        .into_dimensionality()
        .unwrap()
}

/// Quickshift's labels, stored as int16 to stay small.
pub fn load_segments(stem: &str) -> ndarray::Array2<i32> {
    read_npy::<i16>(&fixtures().join(format!("segments/{stem}.npy")))
        .mapv(i32::from)
        .into_dimensionality()
        .unwrap()
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
