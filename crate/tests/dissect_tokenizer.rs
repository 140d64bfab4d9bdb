//! The Rust CLIP tokenizer against openai/CLIP's `simple_tokenizer.py` on every line of every CLIP-Dissect concept
//! set. Reference ids: `tests/reference/tokenizer_reference.py` → `tests/fixtures/dissect/tokens_*.txt.gz`.

use crate::dissect_common;
use crate::support;

use std::io::Read;

use dissect_common::{fixtures, require};
use glassbox::dissect::tokenizer::{ClipTokenizer, CONTEXT_LENGTH};
use sha2::{Digest, Sha256};

fn tokenizer() -> ClipTokenizer {
    ClipTokenizer::from_path(&require(
        support::data_dir().join("clip/bpe_simple_vocab_16e6.txt.gz"),
    ))
    .unwrap()
}

fn reference_summary() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(fixtures().join("tokens.json")).unwrap()).unwrap()
}

fn reference_ids(set: &str) -> Vec<Vec<u32>> {
    let gz = std::fs::read(fixtures().join(format!("tokens_{set}.txt.gz"))).unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut text)
        .unwrap();
    text.lines()
        .map(|l| l.split_whitespace().map(|t| t.parse().unwrap()).collect())
        .collect()
}

fn tokenize_sha256(tok: &ClipTokenizer, lines: &[String]) -> String {
    let matrix = tok.tokenize(lines);
    assert_eq!(matrix.ncols(), CONTEXT_LENGTH);
    let bytes: Vec<u8> = matrix
        .iter()
        .flat_map(|&v| (v as i32).to_le_bytes())
        .collect();
    hex::encode(Sha256::digest(&bytes))
}

#[test]
fn every_concept_line_matches_clip() {
    let tok = tokenizer();
    let summary = reference_summary();
    for set in ["20k", "10k", "3k", "broden_labels_clean", "imagenet_labels"] {
        let text = std::fs::read_to_string(require(
            support::data_dir().join(format!("concepts/{set}.txt")),
        ))
        .unwrap();
        let lines: Vec<String> = text
            .split('\n')
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        let expected = reference_ids(set);
        assert_eq!(lines.len(), expected.len(), "{set}: line count");
        let mismatches: Vec<_> = lines
            .iter()
            .zip(&expected)
            .filter(|(line, ids)| tok.encode(line) != **ids)
            .map(|(line, ids)| format!("{line:?}: rust {:?} clip {ids:?}", tok.encode(line)))
            .collect();
        assert!(
            mismatches.is_empty(),
            "{set}: {} lines differ, e.g. {:?}",
            mismatches.len(),
            &mismatches[..3.min(mismatches.len())]
        );
        let sha = summary["sets"][set]["sha256_tokenize_int32"]
            .as_str()
            .unwrap();
        assert_eq!(
            tokenize_sha256(&tok, &lines),
            sha,
            "{set}: padded [N,77] matrix"
        );
    }
}

#[test]
fn edge_cases_match_clip() {
    let tok = tokenizer();
    let summary = reference_summary();
    let extra = summary["extra"].as_array().unwrap();
    let mut texts = Vec::new();
    for case in extra {
        let text = case["text"].as_str().unwrap().to_string();
        let ids: Vec<u32> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(tok.encode(&text), ids, "{text:?}");
        texts.push(text);
    }
    // Includes texts longer than 77 tokens: truncation keeps 76 and puts EOT last.
    assert_eq!(
        tokenize_sha256(&tok, &texts),
        summary["extra_sha256_tokenize_int32"].as_str().unwrap()
    );
}
