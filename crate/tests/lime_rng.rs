//! NumPy's generators reproduced bit for bit: the values in tests/fixtures/lime/rng.json were printed
//! by NumPy itself (tests/reference/lime_reference.py rng).

use crate::lime_support;

use glassbox::lime::rng::{Mt19937, Pcg64, SeedSequence};
use glassbox::lime::sample::sample_matrix;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn reference() -> Value {
    let text = std::fs::read_to_string(lime_support::fixtures().join("rng.json"))
        .expect("rng.json fixture");
    serde_json::from_str(&text).unwrap()
}

fn u64s(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

#[test]
fn mt19937_matches_random_state() {
    let r = reference();
    let mut mt = Mt19937::new(5);
    let ours: Vec<u64> = (0..8).map(|_| mt.next_u32() as u64).collect();
    assert_eq!(ours, u64s(&r["mt19937_seed5_first_u32"]));

    let mut mt = Mt19937::new(123);
    let ours: Vec<u64> = (0..5).map(|_| mt.randint(0, 1000) as u64).collect();
    assert_eq!(ours, u64s(&r["mt19937_seed123_randint_0_1000_x5"]));
    for expected in r["mt19937_seed123_then_random_sample_x3"]
        .as_array()
        .unwrap()
    {
        assert_eq!(mt.random_sample(), expected.as_f64().unwrap());
    }
}

#[test]
fn lime_mask_stream_is_identical_to_numpy() {
    // Same seed → same masks as `lime` on every platform: the whole 1000×50 matrix is checked by hash.
    let r = reference();
    for (seed, expected) in r["lime_streams"].as_object().unwrap() {
        let mut mt = Mt19937::new(seed.parse().unwrap());
        assert_eq!(
            mt.randint(0, 1000) as u64,
            expected["segmentation_seed"].as_u64().unwrap()
        );
        let bits = mt.random_bits(1000 * 50);
        let first: Vec<u64> = bits[..64].iter().map(|&b| b as u64).collect();
        assert_eq!(first, u64s(&expected["first_64_bits"]), "seed {seed}");
        assert_eq!(
            hex::encode(Sha256::digest(&bits)),
            expected["sha256_1000x50"].as_str().unwrap()
        );
    }
    // The sample matrix is that stream row by row, first row forced to ones.
    let mut mt = Mt19937::new(0);
    mt.randint(0, 1000);
    let data = sample_matrix(&mut mt, 1000, 50);
    assert!(data.row(0).iter().all(|&v| v == 1));
    let mut mt = Mt19937::new(0);
    mt.randint(0, 1000);
    let bits = mt.random_bits(1000 * 50);
    assert_eq!(data.as_slice().unwrap()[50..], bits[50..]);
}

#[test]
fn seed_sequence_and_pcg64_match_default_rng() {
    let r = reference();
    let ours: Vec<u64> = SeedSequence::new(42)
        .generate_u32(8)
        .into_iter()
        .map(u64::from)
        .collect();
    assert_eq!(ours, u64s(&r["seedsequence42_u32x8"]));
    let ours: Vec<u64> = SeedSequence::new((1 << 40) + 3)
        .generate_u32(4)
        .into_iter()
        .map(u64::from)
        .collect();
    assert_eq!(ours, u64s(&r["seedsequence_2pow40_plus_3_u32x4"]));

    let mut pcg = Pcg64::from_seed(42);
    let ours: Vec<u64> = (0..4).map(|_| pcg.next_u64()).collect();
    assert_eq!(ours, u64s(&r["pcg64_seed42_u64x4"]));

    let mut pcg = Pcg64::from_seed(42);
    for expected in r["default_rng42_random_x4"].as_array().unwrap() {
        assert_eq!(pcg.next_f64(), expected.as_f64().unwrap());
    }
    // Quickshift's whole tie-breaking noise field for a 224×224 view.
    let mut pcg = Pcg64::from_seed(42);
    let mut hasher = Sha256::new();
    for _ in 0..224 * 224 {
        hasher.update(pcg.next_f64().to_le_bytes());
    }
    assert_eq!(
        hex::encode(hasher.finalize()),
        r["default_rng42_random_224x224_sha256"].as_str().unwrap()
    );
}

#[test]
fn standard_normal_matches_generator_to_table_precision() {
    // Same stream (every draw consumed alike) and values within the ziggurat tables' precision.
    let r = reference();
    let mut pcg = Pcg64::from_seed(42);
    let ziggurat = glassbox::lime::rng::NormalZiggurat::new();
    let mut worst: f64 = 0.0;
    for expected in r["default_rng42_standard_normal_x2000"].as_array().unwrap() {
        let e = expected.as_f64().unwrap();
        let ours = ziggurat.sample(&mut pcg);
        let rel = (ours - e).abs() / e.abs().max(1e-300);
        assert!(rel < 1e-8, "ours {ours} vs numpy {e}");
        worst = worst.max(rel);
    }
    println!("2000 standard normals: worst relative difference to NumPy {worst:.2e}");
}
