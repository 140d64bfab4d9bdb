//! Every CAM method against pytorch-grad-cam 1.5.7 run on the same ONNX graphs (onnx2torch), from
//! `tests/fixtures/cam/` (made by `tests/reference/cam_reference.py`; semantics in SEMANTICS.md there),
//! starting from the same JPEG files: glassbox decodes and preprocesses each one, and its tensor must equal
//! the reference's (Pillow + torchvision/PIL) before any map is compared.
//!
//! The real MobileNet v2 runs on both engines: tract for every method, wonnx (lavapipe natively, a
//! few forward passes only) for the methods that need one pass. ScoreCAM needs 1280 passes per
//! image, so by default it runs on one MobileNet case; `GLASSBOX_CAM_FULL=1` runs it on all.
//! The random-weight ResNet-18 (every method) and ResNet-50 (Grad-CAM, AblationCAM; ScoreCAM's 2048
//! passes are an ignored test) cases read the graphs that
//! `python models/export.py --random-weights --seed 0 --models resnet18_imagenet1k_v1 resnet50_imagenet1k_v2
//! --batch 1 --out DIR` writes, from `GLASSBOX_RANDOM_MODELS=DIR` (scripts/test.sh makes them; under
//! `CI=true` a missing graph or one with another sha256 than the fixture's fails the test).

use crate::support;

use std::path::{Path, PathBuf};

use glassbox::cam::{self, CamMethod, CamOptions};
use glassbox::engine::EngineKind;
use glassbox::model::{Classifier, Model};
use glassbox::npy;
use glassbox::preprocess::{self, ImageLimits};
use glassbox::progress::Silent;
use ndarray::{Array, Array2, Array3, Axis, Dimension, Ix2, Ix3};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The README's bound on |ours − pytorch-grad-cam| for every final map (float32 fixtures), and for
/// AblationCAM against pytorch-grad-cam run in float64.
const TOLERANCE: f32 = 1e-5;

fn fixtures() -> PathBuf {
    support::repo_dir().join("tests/fixtures/cam")
}

fn index() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("index.json")).unwrap()).unwrap()
}

fn reference_method(name: &str) -> CamMethod {
    CamMethod::from_name(&name.replace("gradcam_plusplus", "gradcamplusplus")).unwrap()
}

fn read2(path: &Path) -> Array2<f32> {
    npy::read_f32(path)
        .unwrap()
        .into_dimensionality::<Ix2>()
        .unwrap()
}

fn max_abs_diff<D: Dimension>(a: &Array<f32, D>, b: &Array<f32, D>) -> f32 {
    assert_eq!(a.dim(), b.dim());
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The model's input made by glassbox from the case's JPEG file (decode, view, normalise), checked equal
/// to the reference's tensor (`input.npy`, from Pillow's decode and torchvision/PIL preprocessing), so
/// the CAMs below are compared from the same input bytes.
fn input_from_jpeg(classifier: &Classifier, case: &Value, dir: &Path) -> Array3<f32> {
    let reference: Array3<f32> = npy::read_f32(&dir.join("input.npy"))
        .unwrap()
        .into_dimensionality::<Ix3>()
        .unwrap();
    let jpeg = support::data_dir()
        .join("imagenet-samples")
        .join(case["image"].as_str().unwrap());
    let img = preprocess::load(&jpeg, &ImageLimits::default()).unwrap();
    let spec = classifier.preprocessing();
    let view = match case["input_preprocessing"]["crop_box_ltrb"].as_array() {
        // The MobileNet cases crop an integer box (cam_reference.py), one pixel off the float box of
        // glassbox's TF-slim view: crop that box, then Pillow's bilinear resize, as the reference does.
        Some(ltrb) => {
            let [l, t, r, b] = [0, 1, 2, 3].map(|i| ltrb[i].as_u64().unwrap() as u32);
            let crop = image::imageops::crop_imm(&img, l, t, r - l, b - t).to_image();
            let size = classifier.input_size();
            preprocess::resize(
                &crop,
                size.width as u32,
                size.height as u32,
                preprocess::Filter::Bilinear,
            )
        }
        // The ResNet cases: torchvision's Resize(n) + CenterCrop, n as the reference ran it (256; the
        // ResNet-50 V2 manifest itself says 232, its weights' transforms).
        None => {
            let mut spec = spec.clone();
            if let (preprocess::Preprocessing::Torchvision { resize, .. }, Some(n)) =
                (&mut spec, case["input_preprocessing"]["resize"].as_u64())
            {
                *resize = n as u32;
            }
            preprocess::model_view(&img, &spec)
        }
    };
    let ours = preprocess::to_tensor(&view, spec);
    // torchvision normalises as (v / 255 - mean) / std and glassbox in one step: an ulp or so apart.
    let diff = max_abs_diff(&ours, &reference);
    eprintln!(
        "{}: input from the JPEG vs the reference's: max |diff| = {diff:.1e}",
        case["dir"]
    );
    assert!(diff <= 1e-6, "{}: input differs by {diff}", case["dir"]);
    ours
}

/// Checks every method of one fixture case on `classifier`; returns the worst difference.
fn check_case(classifier: &Classifier, case: &Value, methods: &[CamMethod]) -> f32 {
    let dir = fixtures().join(case["dir"].as_str().unwrap());
    let input = input_from_jpeg(classifier, case, &dir);
    let batch = input.clone().insert_axis(Axis(0));
    let forward = pollster::block_on(classifier.forward(batch.view(), &Silent)).unwrap();
    let target = case["target"].as_u64().unwrap() as usize;
    let logits = forward.logits.row(0);
    let argmax = logits
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .unwrap()
        .0;
    assert_eq!(
        argmax, target,
        "{}: our top-1 differs from the reference's",
        case["dir"]
    );
    let options = CamOptions::default();
    let mut worst = 0.0f32;
    for &method in methods {
        let name = case["methods"]
            .as_object()
            .unwrap()
            .keys()
            .find(|k| !k.ends_with("_float64") && reference_method(k) == method)
            .unwrap_or_else(|| panic!("no reference for {}", method.name()))
            .clone();
        let expected = read2(&dir.join(case["methods"][&name]["cam"].as_str().unwrap()));
        let ours = pollster::block_on(cam::explain(
            classifier,
            input.view(),
            &forward,
            target,
            method,
            &options,
            &Silent,
        ))
        .unwrap();
        let map = if method == CamMethod::EigenCam {
            // An SVD's sign is arbitrary; pytorch-grad-cam keeps whatever LAPACK returned (recorded in
            // index.json), so align our raw map's sign to the reference's before post-processing.
            let reference_raw = read2(&dir.join(case["methods"][&name]["raw"].as_str().unwrap()));
            let dot: f32 = ours
                .raw
                .iter()
                .zip(reference_raw.iter())
                .map(|(a, b)| a * b)
                .sum();
            let raw = if dot < 0.0 {
                ours.raw.mapv(|v| -v)
            } else {
                ours.raw.clone()
            };
            cam::postprocess(raw.view(), 224, 224)
        } else {
            ours.map.clone()
        };
        let diff = max_abs_diff(&map, &expected);
        eprintln!(
            "{} {:>16}: max |ours - pytorch-grad-cam| = {diff:.2e}",
            case["dir"],
            method.name()
        );
        let tolerance = if method == CamMethod::AblationCam {
            let float64 = &case["methods"]["ablationcam_float64"]["cam"];
            let float64 =
                read2(&dir.join(float64.as_str().expect("an ablationcam_float64 reference")));
            let diff64 = max_abs_diff(&map, &float64);
            eprintln!(
                "{} {:>16}: max |ours - pytorch-grad-cam in float64| = {diff64:.2e}",
                case["dir"],
                method.name()
            );
            assert!(
                diff64 <= TOLERANCE,
                "{} ablationcam: max abs difference to the float64 reference {diff64} > {TOLERANCE}",
                case["dir"]
            );
            // pytorch-grad-cam's float32 run evaluates each ablated logit `y_k` in a float32 forward pass
            // and divides `y − y_k` by `y`, so its map is off its own float64 run by a measured amount
            // (up to ~9e-5); glassbox computes the drop through the linear head in f64. Against the float32
            // run the bound is therefore that error plus TOLERANCE (the triangle inequality).
            let reference_error = max_abs_diff(&expected, &float64);
            eprintln!(
                "{} {:>16}: max |pytorch-grad-cam float32 - float64| = {reference_error:.2e}",
                case["dir"],
                method.name()
            );
            reference_error + TOLERANCE
        } else {
            TOLERANCE
        };
        assert!(
            diff <= tolerance,
            "{} {}: max abs difference {diff} > {tolerance}",
            case["dir"],
            method.name()
        );
        worst = worst.max(diff);
    }
    worst
}

fn mobilenet(kind: EngineKind) -> Classifier {
    let model = Model::from_path(&support::manifest("mobilenet_v2_1.0_224")).unwrap();
    pollster::block_on(Classifier::load(model, kind, None)).unwrap()
}

fn mobilenet_cases() -> Vec<Value> {
    index()["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["model"] == "mobilenet_v2_1.0_224")
        .cloned()
        .collect()
}

const ONE_PASS: [CamMethod; 7] = [
    CamMethod::GradCam,
    CamMethod::AblationCam,
    CamMethod::GradCamPlusPlus,
    CamMethod::XGradCam,
    CamMethod::LayerCam,
    CamMethod::EigenCam,
    CamMethod::HiResCam,
];

/// Every MobileNet v2 case on the engine `kind`: the one-pass CAMs, and ScoreCAM on the goldfish (on every
/// image with GLASSBOX_CAM_FULL=1).
fn check_mobilenet_cases(kind: EngineKind) {
    let classifier = mobilenet(kind);
    let full = std::env::var("GLASSBOX_CAM_FULL").is_ok_and(|v| v == "1");
    for (i, case) in mobilenet_cases().iter().enumerate() {
        let mut methods = ONE_PASS.to_vec();
        if full || case["dir"].as_str().unwrap().ends_with("goldfish") {
            methods.push(CamMethod::ScoreCam);
        }
        let worst = check_case(&classifier, case, &methods);
        eprintln!("{kind} case {i}: worst {worst:.2e}");
    }
}

#[test]
fn mobilenet_v2_cams_equal_pytorch_grad_cam_on_the_cpu_engine() {
    check_mobilenet_cases(EngineKind::Tract);
}

#[cfg(feature = "onnxruntime")]
#[test]
fn mobilenet_v2_cams_equal_pytorch_grad_cam_on_the_onnxruntime_engine() {
    if support::onnxruntime_available("onnxruntime CAM parity") {
        check_mobilenet_cases(EngineKind::Onnxruntime);
    }
}

#[cfg(feature = "webgpu")]
#[test]
fn mobilenet_v2_cams_equal_pytorch_grad_cam_on_the_webgpu_engine() {
    if !support::webgpu_available("webgpu CAM parity") {
        return;
    }
    let classifier = mobilenet(EngineKind::Webgpu);
    // One case: on lavapipe each wonnx pass takes seconds.
    let case = &mobilenet_cases()[0];
    check_case(&classifier, case, &ONE_PASS);
}

/// The seeded random-weight graph of a fixture model (`resnet18_random_seed0`, ...) from
/// `GLASSBOX_RANDOM_MODELS`, checked to be the very graph the fixture was made on; `None` (with the reason
/// printed) where it is missing outside CI.
fn random_resnet(model_key: &str, file: &str, kind: EngineKind) -> Option<Classifier> {
    let test = format!("{model_key} CAM parity");
    let Some(folder) = std::env::var_os("GLASSBOX_RANDOM_MODELS") else {
        support::skip_unless_ci(
            &test,
            "GLASSBOX_RANDOM_MODELS is not set to the folder of `python models/export.py --random-weights \
             --seed 0 --models resnet18_imagenet1k_v1 resnet50_imagenet1k_v2 --batch 1 --out DIR` \
             (scripts/test.sh makes it)",
        );
        return None;
    };
    let expected_sha = index()["models"][model_key]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let path = PathBuf::from(folder).join(file);
    let Ok(bytes) = std::fs::read(&path) else {
        support::skip_unless_ci(&test, &format!("{} does not exist", path.display()));
        return None;
    };
    let sha = hex::encode(Sha256::digest(&bytes));
    if sha != expected_sha {
        support::skip_unless_ci(
            &test,
            &format!(
                "{} has sha256 {sha}, the fixture was made on {expected_sha} (export.py's seeded init or \
                 the pinned torch/onnx of models/requirements.txt changed: rerun tests/reference/cam_reference.py)",
                path.display()
            ),
        );
        return None;
    }
    let model = Model::from_onnx_bytes(model_key, bytes).unwrap();
    Some(pollster::block_on(Classifier::load(model, kind, Some(16))).unwrap())
}

fn random_resnet_cases(model_key: &str) -> Vec<Value> {
    let cases: Vec<Value> = index()["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["model"] == model_key)
        .cloned()
        .collect();
    assert!(!cases.is_empty(), "no fixture case for {model_key}");
    cases
}

#[test]
fn random_resnet18_cams_equal_pytorch_grad_cam() {
    let Some(classifier) = random_resnet(
        "resnet18_random_seed0",
        "resnet18_imagenet1k_v1_b1.onnx",
        EngineKind::Tract,
    ) else {
        return;
    };
    let mut methods = ONE_PASS.to_vec();
    methods.push(CamMethod::ScoreCam);
    for case in random_resnet_cases("resnet18_random_seed0") {
        check_case(&classifier, &case, &methods);
    }
}

#[test]
fn random_resnet50_gradcam_and_ablationcam_equal_pytorch_grad_cam() {
    let Some(classifier) = random_resnet(
        "resnet50_random_seed0",
        "resnet50_imagenet1k_v2_b1.onnx",
        EngineKind::Tract,
    ) else {
        return;
    };
    for case in random_resnet_cases("resnet50_random_seed0") {
        check_case(
            &classifier,
            &case,
            &[CamMethod::GradCam, CamMethod::AblationCam],
        );
    }
}

/// The mission's model topology on the engine `--engine auto` picks where onnxruntime is present; ScoreCAM
/// too, since on onnxruntime its 2048 passes take minutes rather than the ignored tract test's 6.5.
#[cfg(feature = "onnxruntime")]
#[test]
fn random_resnet50_cams_equal_pytorch_grad_cam_on_the_onnxruntime_engine() {
    if !support::onnxruntime_available("ResNet-50 onnxruntime CAM parity") {
        return;
    }
    let Some(classifier) = random_resnet(
        "resnet50_random_seed0",
        "resnet50_imagenet1k_v2_b1.onnx",
        EngineKind::Onnxruntime,
    ) else {
        return;
    };
    for case in random_resnet_cases("resnet50_random_seed0") {
        check_case(
            &classifier,
            &case,
            &[
                CamMethod::GradCam,
                CamMethod::AblationCam,
                CamMethod::ScoreCam,
            ],
        );
    }
}

#[test]
#[ignore = "2048 ResNet-50 forward passes (~6.5 min on 2 cores); GLASSBOX_RANDOM_MODELS=DIR cargo test --test \
            integration random_resnet50_scorecam -- --ignored"]
fn random_resnet50_scorecam_equals_pytorch_grad_cam() {
    let classifier = random_resnet(
        "resnet50_random_seed0",
        "resnet50_imagenet1k_v2_b1.onnx",
        EngineKind::Tract,
    )
    .expect("set GLASSBOX_RANDOM_MODELS to the folder of the seeded random exports");
    for case in random_resnet_cases("resnet50_random_seed0") {
        check_case(&classifier, &case, &[CamMethod::ScoreCam]);
    }
}
