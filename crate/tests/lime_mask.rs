//! Boundaries and mask pictures against scikit-image's `find_boundaries(mode="outer")` and
//! `mark_boundaries` (fixtures: tests/reference/lime_reference.py boundaries).

use crate::lime_support;

use glassbox::lime::mask::{boundaries, mark_boundaries_rgba};
use lime_support::{fixtures, load_segments, load_view, read_npy};

fn expected(name: &str) -> Vec<u8> {
    read_npy::<u8>(&fixtures().join(format!("boundaries/{name}.npy")))
        .into_raw_vec_and_offset()
        .0
}

#[test]
fn boundaries_equal_skimage_outer_mode() {
    let stem = "n02098286_West_Highland_white_terrier";
    let segments = load_segments(stem);
    let ours: Vec<u8> = boundaries(segments.view())
        .iter()
        .map(|&b| b as u8)
        .collect();
    assert_eq!(ours, expected("segments_outer"), "segment map boundaries");

    let mask = segments.mapv(|s| [1, 4, 7, 12].contains(&s) as i32);
    let ours: Vec<u8> = boundaries(mask.view()).iter().map(|&b| b as u8).collect();
    let theirs = expected("mask_outer");
    assert!(theirs.contains(&1), "fixture mask has boundaries");
    assert_eq!(ours, theirs, "mask boundaries");

    // mark_boundaries(view / 255, mask) · 255 = our RGBA picture without its alpha channel.
    let rgba = mark_boundaries_rgba(load_view(stem).view(), mask.view());
    let rgb: Vec<u8> = rgba.chunks_exact(4).flat_map(|p| p[..3].to_vec()).collect();
    assert_eq!(rgb, expected("mask_marked"));
}
