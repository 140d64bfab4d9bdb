//! The colormap and the CAM resize against OpenCV (`tests/reference/render_reference.py`).

use crate::support;

use glassbox::{cam, npy, render};
use ndarray::Ix2;

fn fixture(name: &str) -> std::path::PathBuf {
    support::repo_dir().join("tests/fixtures/render").join(name)
}

#[test]
fn jet_is_within_one_level_of_opencv() {
    let reference = npy::read::<u8>(&fixture("jet_cv2.npy")).unwrap();
    let ours = render::jet_lut();
    let mut worst = 0i32;
    for (i, entry) in ours.iter().enumerate() {
        for c in 0..3 {
            worst = worst.max((entry[c] as i32 - reference[[i, c]] as i32).abs());
        }
    }
    eprintln!("max |ours - cv2 COLORMAP_JET| = {worst} levels");
    assert!(worst <= 1, "JET differs from OpenCV by {worst} levels");
}

#[test]
fn cam_resize_equals_cv2_inter_linear() {
    let src = npy::read_f32(&fixture("resize_src.npy"))
        .unwrap()
        .into_dimensionality::<Ix2>()
        .unwrap();
    let expected = npy::read_f32(&fixture("resize_224.npy"))
        .unwrap()
        .into_dimensionality::<Ix2>()
        .unwrap();
    let ours = cam::resize_bilinear_cv2(src.view(), 224, 224);
    let diff = ours
        .iter()
        .zip(expected.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    eprintln!("max |ours - cv2.resize| = {diff:.2e}");
    assert!(diff < 1e-6, "resize differs from cv2 by {diff}");
}
