//! compare on the real MobileNet v2 (TF-slim, real ImageNet weights) and the real object annotations:
//! the randomisation edits exactly the layers it names, Grad-CAM changes when the head is randomised,
//! the causal curves start and end where the model says, and the object masks line up.

use crate::support;

use glassbox::cam::{CamMethod, CamOptions};
use glassbox::compare::agreement::{count, spearman};
use glassbox::compare::faithfulness::{causal_curve, CausalConfig, CausalMode, ClassProbability};
use glassbox::compare::objects::{mask_from_index_image, mask_to_model_grid, QuokkaAnnotations};
use glassbox::compare::sanity::{map_change, randomize_top_layers, weighted_layers};
use glassbox::engine::EngineKind;
use glassbox::explain::explain_cams;
use glassbox::model::{Classifier, Model};
use glassbox::numerics::softmax_probability;
use glassbox::preprocess::{self, ImageLimits};
use glassbox::progress::Silent;
use ndarray::{Array3, Axis};

fn load(model: Model) -> Classifier {
    futures::executor::block_on(Classifier::load(model, EngineKind::Tract, None))
        .expect("load classifier")
}

fn mobilenet_v2() -> Model {
    Model::from_path(&support::manifest("mobilenet_v2_1.0_224")).expect("manifest")
}

#[test]
fn randomising_the_head_keeps_features_and_changes_logits_then_conv1_changes_features() {
    let model = mobilenet_v2();
    let layers = weighted_layers(&model.onnx).unwrap();
    // 52 convolutions of MobileNet v2 + the 1×1 logits convolution.
    assert_eq!(layers.len(), 53, "{:?}", layers.last());
    let image = preprocess::load(&support::sample_images()[0], &ImageLimits::default()).unwrap();
    let original = load(model.clone());
    let tensor = original.prepare(&image).tensor;
    let batch = tensor.insert_axis(Axis(0));
    let run =
        |c: &Classifier| futures::executor::block_on(c.forward(batch.view(), &Silent)).unwrap();
    let base = run(&original);

    let head = randomize_top_layers(&model.onnx, 1, 7).unwrap();
    let head_model = Model {
        onnx: head.onnx,
        ..model.clone()
    };
    let out = run(&load(head_model));
    assert_eq!(out.features, base.features, "only the head was randomised");
    let diff = (&out.logits - &base.logits)
        .mapv(f32::abs)
        .iter()
        .fold(0.0f32, |m, &v| m.max(v));
    assert!(diff > 1.0, "logits barely changed: {diff}");

    let two = randomize_top_layers(&model.onnx, 2, 7).unwrap();
    let out2 = run(&load(Model {
        onnx: two.onnx,
        ..model
    }));
    assert_ne!(out2.features, base.features);
    // The activations keep their scale (weights redrawn with the trained tensor's mean and std).
    let mean = |a: &ndarray::Array4<f32>| a.mean().unwrap();
    let ratio = mean(&out2.features) / mean(&base.features);
    assert!(
        ratio > 0.2 && ratio < 5.0,
        "feature scale changed by {ratio}"
    );
}

#[test]
fn gradcam_changes_when_the_head_is_randomised() {
    let model = mobilenet_v2();
    let image = preprocess::load(&support::sample_images()[0], &ImageLimits::default()).unwrap();
    let explain = |c: &Classifier, target: Option<usize>| {
        futures::executor::block_on(explain_cams(
            c,
            &image,
            &[CamMethod::GradCam],
            target,
            &CamOptions::default(),
            &Silent,
        ))
        .unwrap()
        .explained
    };
    let trained = explain(&load(model.clone()), None);
    let random = randomize_top_layers(&model.onnx, 1, 2018).unwrap();
    let randomized = explain(
        &load(Model {
            onnx: random.onnx,
            ..model
        }),
        Some(trained.target.class),
    );
    let (a, b) = (&trained.cams[0].map, &randomized.cams[0].map);
    let change = map_change(a.view(), b.view()).unwrap();
    eprintln!(
        "goldfish Grad-CAM trained vs random head: Spearman {:?}, SSIM {:.3}",
        change.spearman, change.ssim
    );
    assert!(change.spearman.unwrap() < 0.9, "{change:?}");
    assert!(change.ssim < 0.9, "{change:?}");
    // Control: the same model twice gives the same map.
    assert!((spearman(a.view(), a.view()).unwrap().unwrap() - 1.0).abs() < 1e-12);
}

#[test]
fn causal_curves_start_at_the_model_probability_and_end_at_the_substrate() {
    let classifier = load(mobilenet_v2());
    let image = preprocess::load(&support::sample_images()[0], &ImageLimits::default()).unwrap();
    let e = futures::executor::block_on(explain_cams(
        &classifier,
        &image,
        &[CamMethod::GradCam],
        None,
        &CamOptions::default(),
        &Silent,
    ))
    .unwrap();
    let tensor = classifier.prepare(&image).tensor;
    let class = e.explained.target.class;
    let config = CausalConfig {
        step: 224 * 28,
        batch: 4,
        seed: 0,
    };
    let run = |mode| {
        futures::executor::block_on(causal_curve(
            &classifier,
            tensor.view(),
            e.explained.cams[0].map.view(),
            class,
            mode,
            &config,
            &Silent,
        ))
        .unwrap()
    };
    let del = run(CausalMode::Deletion);
    let ins = run(CausalMode::Insertion);
    assert_eq!(del.scores.len(), 9);
    let p = softmax_probability(e.forward.logits.row(0), class) as f64;
    assert!((del.scores[0] - p).abs() < 1e-5, "{} vs {p}", del.scores[0]);
    assert!((ins.scores[8] - p).abs() < 1e-5);
    let zeros = Array3::<f32>::zeros(tensor.raw_dim()).insert_axis(Axis(0));
    let p0 = futures::executor::block_on(classifier.class_probability(zeros.view(), class)).unwrap()
        [0] as f64;
    assert!((del.scores[8] - p0).abs() < 1e-5);
    eprintln!(
        "goldfish Grad-CAM: deletion AUC {:.3}, insertion AUC {:.3}, p = {p:.3}",
        del.auc, ins.auc
    );
}

#[test]
fn object_masks_map_onto_the_model_grid() {
    let data = support::data_dir();
    let limits = ImageLimits::default();
    let spec = mobilenet_v2().manifest.preprocessing;
    let seg = data.join("segmentation-samples-coral");
    let bird = mask_from_index_image(
        &preprocess::load(&seg.join("bird_segmentation_mask.bmp"), &limits).unwrap(),
        &[3],
    )
    .unwrap();
    // SOURCES.md: 51,377 bird pixels.
    assert_eq!(count(bird.view()), 51_377);
    let on_grid = mask_to_model_grid(bird.view(), |i| preprocess::model_view(i, &spec)).unwrap();
    assert_eq!(on_grid.dim(), (224, 224));
    // The central crop keeps 0.875² of the image: the bird's share of the view is its share of the crop.
    let share = count(on_grid.view()) as f64 / (224.0 * 224.0);
    assert!(
        share > 0.15 && share < 0.35,
        "bird covers {share} of the view"
    );

    let q = data.join("quokka-imgaug");
    let ann = QuokkaAnnotations::parse(
        &std::fs::read_to_string(q.join("quokka_annotations.json")).unwrap(),
    )
    .unwrap();
    let polygon = ann.polygon_mask(960, 643).unwrap();
    let bbox = ann.box_mask(960, 643).unwrap();
    // The human outline lies inside the human box (up to a sliver: the annotator drew the two
    // separately, and a few outline points sit a pixel or two past the box) and fills a good part of it.
    let outside = polygon
        .iter()
        .zip(bbox.iter())
        .filter(|(&p, &b)| p && !b)
        .count();
    assert!(
        (outside as f64) < 0.005 * count(polygon.view()) as f64,
        "{outside} outline pixels outside the box"
    );
    let fill = count(polygon.view()) as f64 / count(bbox.view()) as f64;
    assert!(fill > 0.5 && fill < 0.95, "polygon fills {fill} of its box");
}
