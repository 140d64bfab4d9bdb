//! `glassbox report` as the README's Results are made: `glassbox explain` writes the maps, `report
//! --explained` analyses them. On the real MobileNet v2 and one image with few LIME samples, every agreement
//! number in `results.json` is recomputed here from the written maps (`gradcam.npy`, `lime_mask.npy`, LIME's
//! weights and superpixels) with the `compare` functions, `glassbox compare` on the explain folder gives the
//! same numbers, the text names the model from its manifest, and `report --render-only` rebuilds the same
//! documents and charts from `results.json` alone.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support;

use glassbox::compare::agreement::agreement;
use glassbox::model::Manifest;
use glassbox::npy;
use glassbox::report::ReportData;
use glassbox::results::{AgreementTable, ExplanationRecord};
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

    let results: ReportData =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(results.images.len(), 1, "one image was reported");
    let reported = &results.images[0];
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
    assert_eq!(reported.cams.len(), 2, "{:?}", reported.cams);

    // `glassbox compare` on the same explain folder, and the agreement explain itself recorded.
    let compared_path = root.join("agreement.json");
    glassbox(&[
        "compare".as_ref(),
        "--explained".as_ref(),
        explained.as_os_str(),
        "--out".as_ref(),
        compared_path.as_os_str(),
    ]);
    let compared: AgreementTable =
        serde_json::from_str(&std::fs::read_to_string(&compared_path).unwrap()).unwrap();
    assert_eq!(compared.images.len(), 1);
    assert_eq!(compared.images[0].image, stem);
    // The same from two folders (--lime and --cam: here one explain run serves as both).
    let split_path = root.join("agreement_split.json");
    glassbox(&[
        "compare".as_ref(),
        "--lime".as_ref(),
        explained.as_os_str(),
        "--cam".as_ref(),
        explained.as_os_str(),
        "--out".as_ref(),
        split_path.as_os_str(),
    ]);
    let split: AgreementTable =
        serde_json::from_str(&std::fs::read_to_string(&split_path).unwrap()).unwrap();
    assert_eq!(split.images[0].agreement, compared.images[0].agreement);
    let record: ExplanationRecord =
        serde_json::from_str(&std::fs::read_to_string(dir.join("explanation.json")).unwrap())
            .unwrap();
    let recorded = record
        .agreement
        .expect("explain with LIME and CAMs records their agreement");
    assert_eq!(
        recorded, compared.images[0].agreement,
        "explain's and compare's agreement"
    );

    for cam in &reported.cams {
        let file = format!("{}.npy", cam.method.name());
        let in_report = &cam.agreement;
        let recomputed = agreement(
            map(&dir.join(&file)).view(),
            lime_mask.view(),
            weights.view(),
        )
        .unwrap();
        println!("{file}: report {in_report:?}\n  recomputed {recomputed:?}");
        // The same functions of the same maps: equal to the last bit (JSON keeps f64 exactly).
        assert_eq!(
            in_report.iou_same_count, recomputed.iou_same_count,
            "{file}"
        );
        assert_eq!(in_report.iou_top20, recomputed.iou_top20, "{file}");
        assert_eq!(in_report.iou_half, recomputed.iou_half, "{file}");
        assert_eq!(in_report.spearman, recomputed.spearman, "{file}");
        assert_eq!(in_report.pointing_hit, recomputed.pointing_hit, "{file}");
        let by_compare = compared.images[0]
            .agreement
            .cams
            .iter()
            .find(|c| c.method == cam.method)
            .unwrap_or_else(|| panic!("compare has no {file}"));
        assert_eq!(
            &by_compare.agreement, in_report,
            "compare and the report on {file}"
        );
        // At the default threshold (0.5), compare's threshold IoU is the report's "CAM ≥ 0.5" IoU.
        assert_eq!(by_compare.iou_at_threshold, in_report.iou_half, "{file}");
        for value in [
            recomputed.iou_same_count,
            recomputed.iou_top20,
            recomputed.iou_half,
        ] {
            let v = value.expect("the masks are not empty");
            assert!((0.0..=1.0).contains(&v), "{file}: IoU {v}");
        }
    }

    // The text names the model as its manifest does (name and description), and results.json agrees.
    let named = format!("{} ({})", manifest.name, manifest.description);
    assert_eq!(results.run.model, named);
    for doc in ["results.md", "d2_lime.md", "d3_cams.md"] {
        let text = std::fs::read_to_string(out.join(doc)).unwrap();
        assert!(
            text.contains(&named),
            "{doc} does not name the model as its manifest: {named}"
        );
    }

    // Rendering again from results.json alone, elsewhere: the same bytes for every document and chart,
    // and the run's pictures copied along.
    let rendered = root.join("rendered");
    let started = std::time::Instant::now();
    glassbox(&[
        "report".as_ref(),
        "--render-only".as_ref(),
        out.join("results.json").as_os_str(),
        "--out".as_ref(),
        rendered.as_os_str(),
    ]);
    println!("render-only: {:.1} s", started.elapsed().as_secs_f64());
    let mut compared_files = 0;
    for sub in ["", "fig"] {
        for entry in std::fs::read_dir(out.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                continue;
            }
            let again = rendered.join(sub).join(path.file_name().unwrap());
            assert_eq!(
                std::fs::read(&path).unwrap(),
                std::fs::read(&again).unwrap_or_else(|e| panic!("{}: {e}", again.display())),
                "{} differs when rendered again",
                path.display()
            );
            compared_files += 1;
        }
    }
    let charts = std::fs::read_dir(rendered.join("fig"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "svg")
        })
        .count();
    assert!(charts >= 3, "{charts} SVG charts");
    assert!(compared_files >= 10, "{compared_files} files compared");
    let _ = std::fs::remove_dir_all(&root);
}

/// The committed report is what this code renders from the committed `results.json`: rendered again into a
/// temporary folder, every document and chart is byte-equal to the committed one. (Its paths, the
/// dissection tables and the shared data, are relative to the repository, where the report was made.)
#[test]
fn the_committed_report_is_rendered_from_its_results_json() {
    let repo = support::repo_dir();
    let committed = repo.join("precomputed/report");
    let out = std::env::temp_dir().join(format!("glassbox-committed-{}", std::process::id()));
    let started = std::time::Instant::now();
    let run = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .current_dir(&repo)
        .args([
            "report",
            "--render-only",
            "precomputed/report/results.json",
            "--out",
        ])
        .arg(&out)
        .output()
        .expect("the glassbox binary runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    println!(
        "render-only of the committed report: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut compared = Vec::new();
    for sub in ["", "fig"] {
        for entry in std::fs::read_dir(committed.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            let keep = path
                .extension()
                .is_some_and(|e| e == "md" || e == "html" || e == "svg" || e == "json");
            if !keep {
                continue;
            }
            let name = path.file_name().unwrap();
            let again = out.join(sub).join(name);
            assert!(
                std::fs::read(&path).unwrap() == std::fs::read(&again).unwrap_or_default(),
                "{} is not what this code renders from results.json: run `glassbox report --render-only \
                 precomputed/report/results.json` (or the whole report) and commit the result",
                path.display()
            );
            compared.push(name.to_string_lossy().into_owned());
        }
    }
    compared.sort();
    println!("byte-equal: {compared:?}");
    for doc in [
        "results.md",
        "d1_dissection.md",
        "d2_lime.md",
        "d3_cams.md",
        "d4_insights.md",
        "results.json",
        "agreement.svg",
    ] {
        assert!(compared.iter().any(|c| c == doc), "{doc} was not compared");
    }
    let _ = std::fs::remove_dir_all(&out);
}
