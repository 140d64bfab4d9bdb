//! `glassbox report` as the README's Results are made: `glassbox explain` writes the maps, `report
//! --explained` analyses them. On the real MobileNet v2 and one image with few LIME samples, every agreement
//! number in `results.json` is recomputed here from the written maps (`gradcam.npy`, `lime_mask.npy`, LIME's
//! weights and superpixels) with the `compare` functions, and the text names the model from its manifest.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support;

use glassbox::compare::agreement::{agreement, Agreement};
use glassbox::model::Manifest;
use glassbox::npy;
use ndarray::{Array2, Ix2};
use serde_json::Value;

fn glassbox(args: &[&std::ffi::OsStr]) {
    let run = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(args)
        .output()
        .expect("the glassbox binary runs");
    assert!(
        run.status.success(),
        "glassbox {args:?}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn map(path: &Path) -> Array2<f32> {
    npy::read_f32(path)
        .unwrap()
        .into_dimensionality::<Ix2>()
        .unwrap()
}

/// LIME's per-pixel weight for `class`: each pixel carries the surrogate weight of its superpixel (0 for a
/// superpixel the surrogate did not select), from explain's `explanation.json` and `lime_segments.npy`.
fn lime_pixel_weights(dir: &Path, lime: &Value, class: u64) -> Array2<f32> {
    let segments = npy::read::<i32>(&dir.join("lime_segments.npy"))
        .unwrap()
        .into_dimensionality::<Ix2>()
        .unwrap();
    let surrogate = lime["explanations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["label"] == class)
        .expect("LIME explained the target class");
    let mut per_segment = vec![0.0f64; lime["n_segments"].as_u64().unwrap() as usize];
    for pair in surrogate["weights"].as_array().unwrap() {
        per_segment[pair[0].as_u64().unwrap() as usize] = pair[1].as_f64().unwrap();
    }
    segments.mapv(|s| per_segment[s as usize] as f32)
}

#[test]
fn report_numbers_are_the_compare_functions_of_the_written_maps() {
    let manifest_path = support::manifest("mobilenet_v2_1.0_224");
    let manifest = Manifest::from_json(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    let image = support::sample_images()[0].clone(); // goldfish
    let stem = image.file_stem().unwrap().to_string_lossy().into_owned();
    let root = std::env::temp_dir().join(format!("glassbox-report-{}", std::process::id()));
    let (explained, out): (PathBuf, PathBuf) = (root.join("explained"), root.join("report"));
    glassbox(&[
        "explain".as_ref(),
        "--model".as_ref(),
        manifest_path.as_os_str(),
        "--methods".as_ref(),
        "gradcam,ablationcam,lime".as_ref(),
        "--samples".as_ref(),
        "40".as_ref(),
        "--out".as_ref(),
        explained.as_os_str(),
        image.as_os_str(),
    ]);
    let dissect = support::repo_dir().join("precomputed/dissect");
    glassbox(&[
        "report".as_ref(),
        "--model".as_ref(),
        manifest_path.as_os_str(),
        "--explained".as_ref(),
        explained.as_os_str(),
        "--images".as_ref(),
        image.as_os_str(),
        "--lime-samples".as_ref(),
        "40".as_ref(),
        "--cams".as_ref(),
        "gradcam,ablationcam".as_ref(),
        "--causal-step".as_ref(),
        (224 * 224 / 4).to_string().as_ref(),
        "--cascade".as_ref(),
        "--no-objects".as_ref(),
        "--dissect".as_ref(),
        dissect.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);

    let results = read_json(&out.join("results.json"));
    let images = results["images"].as_array().unwrap();
    assert_eq!(images.len(), 1, "one image was reported");
    let reported = &images[0];
    let dir = explained.join(&stem);
    let explanation = read_json(&dir.join("explanation.json"));
    let class = explanation["target"]["class"].as_u64().unwrap();
    let lime = &explanation["methods"]["lime"]["explanation"];
    let lime_mask = npy::read::<u8>(&dir.join("lime_mask.npy"))
        .unwrap()
        .into_dimensionality::<Ix2>()
        .unwrap()
        .mapv(|v| v > 0);
    let weights = lime_pixel_weights(&dir, lime, class);
    let agreements = reported["agreement"].as_array().unwrap();
    assert_eq!(agreements.len(), 2, "{agreements:?}");
    for (name, file) in [
        ("Grad-CAM", "gradcam.npy"),
        ("AblationCAM", "ablationcam.npy"),
    ] {
        let entry = agreements
            .iter()
            .find(|a| a[0] == name)
            .unwrap_or_else(|| panic!("results.json has no agreement for {name}"));
        let in_report: Agreement = serde_json::from_value(entry[1].clone()).unwrap();
        let recomputed = agreement(
            map(&dir.join(file)).view(),
            lime_mask.view(),
            weights.view(),
        )
        .unwrap();
        println!("{name}: report {in_report:?}\n  recomputed {recomputed:?}");
        // The same functions of the same maps: equal to the last bit (JSON keeps f64 exactly).
        assert_eq!(
            in_report.iou_same_count, recomputed.iou_same_count,
            "{name}"
        );
        assert_eq!(in_report.iou_top20, recomputed.iou_top20, "{name}");
        assert_eq!(in_report.iou_half, recomputed.iou_half, "{name}");
        assert_eq!(in_report.spearman, recomputed.spearman, "{name}");
        assert_eq!(in_report.pointing_hit, recomputed.pointing_hit, "{name}");
        for value in [
            recomputed.iou_same_count,
            recomputed.iou_top20,
            recomputed.iou_half,
        ] {
            let v = value.expect("the masks are not empty");
            assert!((0.0..=1.0).contains(&v), "{name}: IoU {v}");
        }
    }

    // The text names the model as its manifest does (name and description), and results.json agrees.
    let named = format!("{} ({})", manifest.name, manifest.description);
    assert_eq!(results["model"].as_str().unwrap(), named);
    for doc in ["results.md", "d2_lime.md", "d3_cams.md"] {
        let text = std::fs::read_to_string(out.join(doc)).unwrap();
        assert!(
            text.contains(&named),
            "{doc} does not name the model as its manifest: {named}"
        );
    }
    let _ = std::fs::remove_dir_all(&root);
}
