//! Runs every analysis of the report on one model and writes the Markdown, figures and JSON.

use std::path::{Path, PathBuf};

use anyhow::{ensure, Context, Result};
use image::RgbImage;
use ndarray::{Array2, Array3};
use serde::Serialize;
use web_time::Instant;

use super::chart::{self, Series};
use super::dissection;
use super::markdown::{mean, num, rate, Table};
use crate::cam::{CamMethod, CamOptions};
use crate::compare::agreement::{
    self, average_ranks, count, iou, pearson, pointing_game, top_k_mask, Agreement,
};
use crate::compare::clutter::edge_density;
use crate::compare::faithfulness::{
    causal_curve, mean_curve, CausalConfig, CausalCurve, CausalMode,
};
use crate::compare::objects::{mask_from_index_image, mask_to_model_grid, QuokkaAnnotations};
use crate::compare::sanity::{map_change, randomize_top_layers, MapChange, WeightedLayer};
use crate::engine::EngineKind;
use crate::explain::{explain_cams, lime_predictor, Prediction};
use crate::lime::{self, LimeExplanation, LimeParams, MaskOptions};
use crate::model::{Classifier, Model};
use crate::preprocess::{self, ImageLimits};
use crate::progress::Progress;
use crate::render;

/// The CAMs the report compares with LIME by default.
const CAMS: [CamMethod; 3] = [
    CamMethod::GradCam,
    CamMethod::AblationCam,
    CamMethod::ScoreCam,
];

fn cam_title(m: CamMethod) -> &'static str {
    match m {
        CamMethod::GradCam => "Grad-CAM",
        CamMethod::AblationCam => "AblationCAM",
        CamMethod::ScoreCam => "ScoreCAM",
        _ => m.name(),
    }
}

/// Everything the report needs to know.
#[derive(Debug, Clone)]
pub struct ReportConfig {
    /// The model manifest (`models/mobilenet_v2.json`).
    pub manifest: PathBuf,
    /// A sentence naming the model and where its weights come from, used in the text.
    pub model_description: String,
    /// The images of D2/D3 (the 10 ImageNet samples).
    pub images: Vec<PathBuf>,
    /// `shared/data` (labels, segmentation samples, quokka).
    pub shared_data: PathBuf,
    /// The dissection tables (`precomputed/dissect/`).
    pub dissect_dir: PathBuf,
    pub out_dir: PathBuf,
    pub engine: EngineKind,
    pub lime: LimeParams,
    pub causal: CausalConfig,
    /// Cascade of the sanity check: numbers of top weighted layers re-initialised, in order.
    pub cascade: Vec<usize>,
    /// How many of the images the sanity check re-explains (each stage costs a full LIME and ScoreCAM run).
    pub sanity_images: usize,
    pub sanity_seed: u64,
    /// Run the object-mask section (segmentation samples and the quokka).
    pub objects: bool,
    /// A `glassbox explain` output folder (`<dir>/<image stem>/`) whose CAM maps and LIME explanations are
    /// used instead of computing them again (checked to come from the same model).
    pub explained: Option<PathBuf>,
    /// A sentence about the run's scale (e.g. a quick run's cut), written at the top of every document.
    pub run_note: String,
    /// The CAMs compared with LIME (`CAMS` unless a quick run leaves ScoreCAM out).
    pub cams: Vec<CamMethod>,
}

impl ReportConfig {
    /// The standard report: the images in `shared_data/imagenet-samples`, LIME's tutorial settings with
    /// seed 0, RISE's deletion/insertion with 32 steps, and a 3-stage cascade on 3 images.
    pub fn standard(
        manifest: PathBuf,
        shared_data: PathBuf,
        dissect_dir: PathBuf,
        out_dir: PathBuf,
    ) -> Result<Self> {
        let dir = shared_data.join("imagenet-samples");
        let mut images: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot list the sample images in {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|e| {
                    e.eq_ignore_ascii_case("jpeg") || e.eq_ignore_ascii_case("jpg")
                })
            })
            .collect();
        images.sort();
        ensure!(!images.is_empty(), "no .JPEG images in {}", dir.display());
        Ok(ReportConfig {
            manifest,
            model_description: String::new(),
            images,
            shared_data,
            dissect_dir,
            out_dir,
            engine: EngineKind::Cpu,
            lime: LimeParams::default(),
            causal: CausalConfig::default(),
            cascade: vec![1, 2, 5],
            sanity_images: 3,
            sanity_seed: 2018,
            objects: true,
            explained: None,
            run_note: String::new(),
            cams: CAMS.to_vec(),
        })
    }
}

/// What [`write()`] produced.
#[derive(Debug, Clone, Serialize)]
pub struct ReportSummary {
    pub files: Vec<PathBuf>,
    pub seconds: f64,
}

/// One image explained by every method.
struct Analysed {
    name: String,
    file: String,
    expected: Option<usize>,
    top5: Vec<Prediction>,
    target: Prediction,
    view: RgbImage,
    tensor: Array3<f32>,
    /// CAM maps (H×W, [0, 1]) with their seconds.
    cams: Vec<(CamMethod, Array2<f32>, f64)>,
    lime: LimeExplanation,
    lime_seconds: f64,
    lime_mask: Array2<bool>,
    /// Each pixel carries its superpixel's LIME weight for the target class.
    lime_weights: Array2<f32>,
    /// Height and width of the feature map the CAMs read.
    feature_hw: (usize, usize),
}

impl Analysed {
    /// (method title, map) for all four methods; LIME's map is its per-pixel weight.
    fn maps(&self) -> Vec<(&'static str, &Array2<f32>)> {
        let mut v: Vec<(&'static str, &Array2<f32>)> = self
            .cams
            .iter()
            .map(|(m, map, _)| (cam_title(*m), map))
            .collect();
        v.push(("LIME", &self.lime_weights));
        v
    }
}

/// LIME's `get_image_and_mask(label, positive_only=True, num_features=5, hide_rest=False)` as a boolean
/// mask, and the per-pixel weight map, for `label`.
fn lime_mask_and_weights(
    lime: &LimeExplanation,
    view: &RgbImage,
    label: usize,
    mask_features: usize,
) -> Result<(Array2<bool>, Array2<f32>)> {
    let local = lime
        .for_label(label)
        .with_context(|| format!("LIME did not explain class {label}"))?;
    let options = MaskOptions {
        num_features: mask_features,
        ..MaskOptions::default()
    };
    let (_, mask) = lime::image_and_mask(
        lime::rgb_array(view).view(),
        lime.segments.view(),
        local,
        &options,
    )?;
    let dense = lime.dense_weights(label).expect("label checked above");
    let weights = lime.segments.mapv(|s| dense[s as usize] as f32);
    Ok((mask.mapv(|v| v > 0), weights))
}

/// One image from a `glassbox explain` output folder: its CAM maps and LIME explanation as explain wrote
/// them. Only the forward pass runs again (for the view, the tensor and the feature-map size), and it must
/// give the target explain recorded, from a model with the same sha256.
async fn analyse_explained(
    classifier: &Classifier,
    image: &RgbImage,
    file: &str,
    expected: Option<usize>,
    explained: &Path,
    methods: Methods<'_>,
    progress: &dyn Progress,
) -> Result<Analysed> {
    let stem = Path::new(file)
        .file_stem()
        .map_or_else(|| file.to_string(), |s| s.to_string_lossy().into_owned());
    let dir = explained.join(&stem);
    let json_path = dir.join("explanation.json");
    let text = std::fs::read_to_string(&json_path).with_context(|| {
        format!(
            "cannot read {} (run `glassbox explain` with LIME and the CAMs into {} first)",
            json_path.display(),
            explained.display()
        )
    })?;
    let recorded: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", json_path.display()))?;
    let model_sha = classifier.model.manifest.sha256.as_deref();
    ensure!(
        recorded["model"]["sha256"].as_str() == model_sha,
        "{} was made with the model {} (sha256 {}), not with this report's model (sha256 {})",
        json_path.display(),
        recorded["model"]["name"],
        recorded["model"]["sha256"],
        model_sha.unwrap_or("unknown")
    );
    let explanation = explain_cams(
        classifier,
        image,
        &[],
        None,
        &CamOptions::default(),
        progress,
    )
    .await?;
    let target: Prediction = serde_json::from_value(recorded["target"].clone())
        .with_context(|| format!("{}: no target", json_path.display()))?;
    ensure!(
        target.class == explanation.target.class,
        "{}: explain's target class {} is not the model's top-1 class {} now",
        json_path.display(),
        target.class,
        explanation.target.class
    );
    let recorded_methods = &recorded["methods"];
    let mut cams = Vec::new();
    for &method in methods.cams {
        let path = dir.join(format!("{}.npy", method.name()));
        let map = crate::npy::read_f32(&path)?
            .into_dimensionality::<ndarray::Ix2>()
            .with_context(|| format!("{} is not a 2-D map", path.display()))?;
        let seconds = recorded_methods[method.name()]["seconds"]
            .as_f64()
            .with_context(|| {
                format!(
                    "{}: no {} (run explain with --methods all)",
                    json_path.display(),
                    method.name()
                )
            })?;
        cams.push((method, map, seconds));
    }
    let mut lime: LimeExplanation = serde_json::from_value(
        recorded_methods["lime"]["explanation"].clone(),
    )
    .with_context(|| {
        format!(
            "{}: no LIME explanation (run explain with lime)",
            json_path.display()
        )
    })?;
    let segments_path = dir.join("lime_segments.npy");
    lime.segments = crate::npy::read::<i32>(&segments_path)?
        .into_dimensionality()
        .with_context(|| format!("{} is not a 2-D label image", segments_path.display()))?;
    let top = *lime.top_labels.first().context("LIME explained no label")?;
    lime.top_mask = lime
        .mask_for(top)
        .context("LIME's top label has no surrogate")?;
    let lime_seconds = recorded_methods["lime"]["seconds"]
        .as_f64()
        .unwrap_or(f64::NAN);
    let (lime_mask, lime_weights) = lime_mask_and_weights(
        &lime,
        &explanation.view,
        target.class,
        methods.lime.mask_features,
    )?;
    Ok(Analysed {
        name: short_name(file),
        file: file.to_string(),
        expected,
        top5: explanation.top5.clone(),
        target,
        tensor: classifier.prepare(image).1,
        feature_hw: (
            explanation.forward.features.shape()[2],
            explanation.forward.features.shape()[3],
        ),
        view: explanation.view,
        cams,
        lime,
        lime_seconds,
        lime_mask,
        lime_weights,
    })
}

/// Which methods explain an image: these CAMs and LIME with these parameters.
#[derive(Clone, Copy)]
struct Methods<'a> {
    cams: &'a [CamMethod],
    lime: &'a LimeParams,
}

impl ReportConfig {
    fn methods(&self) -> Methods<'_> {
        Methods {
            cams: &self.cams,
            lime: &self.lime,
        }
    }
}

/// The logit index of the image's true class from its file name (`n01443537_goldfish.JPEG`).
fn expected_class(file: &str, wnids: &[String], background_offset: usize) -> Option<usize> {
    let wnid = file.split('_').next()?;
    wnids
        .iter()
        .position(|w| w == wnid)
        .map(|i| i + background_offset)
}

fn short_name(file: &str) -> String {
    let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
    match stem.split_once('_') {
        Some((id, rest)) if id.starts_with('n') && id[1..].chars().all(|c| c.is_ascii_digit()) => {
            rest.to_string()
        }
        _ => stem.to_string(),
    }
}

async fn analyse(
    classifier: &Classifier,
    image: &RgbImage,
    file: &str,
    expected: Option<usize>,
    target: Option<usize>,
    methods: Methods<'_>,
    progress: &dyn Progress,
) -> Result<Analysed> {
    let (cam_methods, lime_params) = (methods.cams, methods.lime);
    let explanation = explain_cams(
        classifier,
        image,
        cam_methods,
        target,
        &CamOptions::default(),
        progress,
    )
    .await
    .with_context(|| format!("CAMs of {file}"))?;
    let target = explanation.target.clone();
    let (view, tensor) = classifier.prepare(image);
    let started = Instant::now();
    let predictor = lime_predictor(classifier);
    let lime_result = lime::explain(&predictor, &lime::rgb_array(&view), lime_params, progress)
        .await
        .with_context(|| format!("LIME of {file}"))?;
    let lime_seconds = started.elapsed().as_secs_f64();
    let (lime_mask, lime_weights) =
        lime_mask_and_weights(&lime_result, &view, target.class, lime_params.mask_features)?;
    Ok(Analysed {
        name: short_name(file),
        file: file.to_string(),
        expected,
        top5: explanation.top5.clone(),
        target,
        view,
        tensor,
        cams: explanation
            .cams
            .iter()
            .map(|c| (c.cam.method, c.cam.map.clone(), c.seconds))
            .collect(),
        lime: lime_result,
        lime_seconds,
        lime_mask,
        lime_weights,
        feature_hw: (
            explanation.forward.features.shape()[2],
            explanation.forward.features.shape()[3],
        ),
    })
}

#[derive(Serialize)]
struct ImageNumbers {
    image: String,
    target: Prediction,
    expected_class: Option<usize>,
    top5: Vec<Prediction>,
    lime_segments: usize,
    lime_mask_pixels: usize,
    /// Share of edge pixels of the model's view (`compare::clutter`), a clutter measure.
    edge_density: f64,
    agreement: Vec<(String, Agreement)>,
    /// (method, deletion curve, insertion curve)
    faithfulness: Vec<(String, CausalCurve, CausalCurve)>,
    seconds: Vec<(String, f64)>,
}

#[derive(Serialize)]
struct ObjectNumbers {
    case: String,
    mask_source: String,
    target: Prediction,
    object_pixels: usize,
    /// (method, pointing hit, IoU of the top-|object| pixels with the object, share of the map's mass on the object)
    methods: Vec<(String, bool, Option<f64>, f64)>,
    lime_mask_iou: Option<f64>,
}

#[derive(Serialize)]
struct SanityNumbers {
    stage: usize,
    layers: Vec<WeightedLayer>,
    /// (image, method, change, top-1 class of the randomised model)
    changes: Vec<(String, String, MapChange)>,
    randomized_top1: Vec<(String, Prediction)>,
}

/// Runs the whole report and writes it into `config.out_dir`.
pub async fn write(config: &ReportConfig, progress: &dyn Progress) -> Result<ReportSummary> {
    let started = Instant::now();
    let out = &config.out_dir;
    let fig_dir = out.join("fig");
    std::fs::create_dir_all(&fig_dir)
        .with_context(|| format!("cannot create {}", fig_dir.display()))?;
    let mut files = Vec::new();

    let model = Model::from_path(&config.manifest)?;
    let model_text = if config.model_description.is_empty() {
        format!("{} ({})", model.manifest.name, model.manifest.description)
    } else {
        config.model_description.clone()
    };
    let warning = model.manifest.provenance_warning();
    let classifier = Classifier::load(model.clone(), config.engine, None).await?;
    // LIME's batches sized to the engine's (a static batch-8 graph would pad a batch of 10 to 16).
    let config = &ReportConfig {
        lime: LimeParams {
            batch_size: classifier.engine.max_batch(),
            ..config.lime.clone()
        },
        ..config.clone()
    };
    let engine_name = classifier.engine.name();
    let background_offset = model.manifest.labels.background_offset;
    let wnids: Vec<String> =
        std::fs::read_to_string(config.shared_data.join("labels/imagenet_wnids.txt"))
            .map(|t| t.lines().map(str::to_string).collect())
            .unwrap_or_default();

    // D2 + D3: every method on every image.
    let limits = ImageLimits::default();
    let mut analysed = Vec::new();
    for path in &config.images {
        let file = path.file_name().map_or_else(
            || path.display().to_string(),
            |f| f.to_string_lossy().into_owned(),
        );
        progress.stage(&format!("explaining {file}"), 1);
        let image = preprocess::load(path, &limits)?;
        let expected = expected_class(&file, &wnids, background_offset);
        let a = match &config.explained {
            Some(dir) => {
                analyse_explained(
                    &classifier,
                    &image,
                    &file,
                    expected,
                    dir,
                    config.methods(),
                    progress,
                )
                .await?
            }
            None => {
                analyse(
                    &classifier,
                    &image,
                    &file,
                    expected,
                    None,
                    config.methods(),
                    progress,
                )
                .await?
            }
        };
        analysed.push(a);
    }

    // Agreement and faithfulness per image.
    let mut numbers = Vec::new();
    for a in &analysed {
        let mut agreements = Vec::new();
        for (m, map, _) in &a.cams {
            agreements.push((
                cam_title(*m).to_string(),
                agreement::agreement(map.view(), a.lime_mask.view(), a.lime_weights.view())?,
            ));
        }
        let mut curves = Vec::new();
        for (method, map) in a.maps() {
            let del = causal_curve(
                &classifier,
                a.tensor.view(),
                map.view(),
                a.target.class,
                CausalMode::Deletion,
                &config.causal,
                progress,
            )
            .await?;
            let ins = causal_curve(
                &classifier,
                a.tensor.view(),
                map.view(),
                a.target.class,
                CausalMode::Insertion,
                &config.causal,
                progress,
            )
            .await?;
            curves.push((method.to_string(), del, ins));
        }
        let mut seconds: Vec<(String, f64)> = a
            .cams
            .iter()
            .map(|(m, _, s)| (cam_title(*m).to_string(), *s))
            .collect();
        seconds.push(("LIME".into(), a.lime_seconds));
        numbers.push(ImageNumbers {
            image: a.file.clone(),
            target: a.target.clone(),
            expected_class: a.expected,
            top5: a.top5.clone(),
            lime_segments: a.lime.n_segments,
            lime_mask_pixels: count(a.lime_mask.view()),
            edge_density: edge_density(&a.view),
            agreement: agreements,
            faithfulness: curves,
            seconds,
        });
    }

    // Figures per image: the methods side by side, and the causal curves.
    for a in &analysed {
        let path = fig_dir.join(format!("{}_methods.png", a.name));
        save(&methods_strip(a)?, &path)?;
        files.push(path);
    }
    for n in &numbers {
        let name = short_name(&n.image);
        let path = fig_dir.join(format!("{name}_faithfulness.png"));
        save(
            &faithfulness_chart(&name, &n.target.label, &n.faithfulness),
            &path,
        )?;
        files.push(path);
    }

    // Agreement order: mean over the CAMs of the same-pixel-count IoU, most agreement first.
    let mut order: Vec<usize> = (0..numbers.len()).collect();
    let agreement_score = |n: &ImageNumbers| {
        mean(n.agreement.iter().map(|(_, a)| a.iou_same_count)).unwrap_or(f64::NEG_INFINITY)
    };
    order.sort_by(|&x, &y| agreement_score(&numbers[y]).total_cmp(&agreement_score(&numbers[x])));
    let agreement_png = fig_dir.join("agreement.png");
    save(&agreement_chart(&numbers, &order), &agreement_png)?;
    files.push(agreement_png);
    let mean_curves_png = fig_dir.join("faithfulness_mean.png");
    save(&mean_faithfulness_chart(&numbers), &mean_curves_png)?;
    files.push(mean_curves_png);

    // Written now and again after each later section, so a long run leaves a usable report behind.
    let sanity_count = config.sanity_images.min(analysed.len());
    let docs = Documents {
        config,
        warning: warning.as_deref(),
        model_text: &model_text,
        engine_name: &engine_name,
        sanity_count,
        geometry: Geometry {
            input_hw: classifier.input_hw(),
            feature_hw: analysed.first().map_or((0, 0), |a| a.feature_hw),
        },
    };
    docs.write(&analysed, &numbers, &order, &[], &[])?;

    // Objects: does the explanation fall on the object?
    let mut objects = Vec::new();
    if config.objects {
        for case in object_cases(&config.shared_data)? {
            progress.stage(&format!("object case {}", case.name), 1);
            let image = preprocess::load(&case.image, &limits)?;
            let a = analyse(
                &classifier,
                &image,
                &case.name,
                None,
                None,
                config.methods(),
                progress,
            )
            .await?;
            for (mask_name, source, photo_mask) in &case.masks {
                let mask = mask_to_model_grid(photo_mask.view(), |img| {
                    preprocess::model_view(img, classifier.preprocessing())
                })?;
                let object_pixels = count(mask.view());
                let mut methods = Vec::new();
                for (method, map) in a.maps() {
                    let hit = pointing_game(map.view(), mask.view(), 0.0)?;
                    let top = top_k_mask(map.view(), object_pixels);
                    let share = mass_share(map.view(), mask.view());
                    methods.push((
                        method.to_string(),
                        hit,
                        iou(top.view(), mask.view())?,
                        share,
                    ));
                }
                let path = fig_dir.join(format!("object_{mask_name}.png"));
                save(&object_strip(&a, &mask)?, &path)?;
                files.push(path);
                objects.push(ObjectNumbers {
                    case: mask_name.clone(),
                    mask_source: source.clone(),
                    target: a.target.clone(),
                    object_pixels,
                    methods,
                    lime_mask_iou: iou(a.lime_mask.view(), mask.view())?,
                });
            }
        }
    }

    docs.write(&analysed, &numbers, &order, &objects, &[])?;

    // Sanity check: cascading randomisation.
    let mut sanity = Vec::new();
    for &stage in &config.cascade {
        progress.stage(&format!("sanity check: top {stage} layers randomised"), 1);
        let randomized = randomize_top_layers(&model.onnx, stage, config.sanity_seed)?;
        let random_model = Model {
            manifest: model.manifest.clone(),
            onnx: randomized.onnx.clone(),
            labels: model.labels.clone(),
        };
        let random_classifier = Classifier::load(random_model, config.engine, None)
            .await
            .with_context(|| format!("loading the model with its top {stage} layers randomised"))?;
        // LIME explains only its top labels; explaining all of them lets us read the original class.
        let lime_all = LimeParams {
            top_labels: random_classifier.num_classes(),
            ..config.lime.clone()
        };
        let mut changes = Vec::new();
        let mut randomized_top1 = Vec::new();
        let mut rows = Vec::new();
        for (a, path) in analysed.iter().zip(&config.images).take(sanity_count) {
            let image = preprocess::load(path, &limits)?;
            let r = analyse(
                &random_classifier,
                &image,
                &a.file,
                a.expected,
                Some(a.target.class),
                Methods {
                    cams: &config.cams,
                    lime: &lime_all,
                },
                progress,
            )
            .await?;
            randomized_top1.push((a.file.clone(), r.top5[0].clone()));
            for ((method, original), (_, random)) in a.maps().into_iter().zip(r.maps()) {
                changes.push((
                    a.file.clone(),
                    method.to_string(),
                    map_change(original.view(), random.view())?,
                ));
            }
            rows.push(r);
        }
        let path = fig_dir.join(format!("sanity_stage{stage}.png"));
        save(
            &sanity_grid(&analysed[..sanity_count], &rows, stage)?,
            &path,
        )?;
        files.push(path);
        sanity.push(SanityNumbers {
            stage,
            layers: randomized.layers,
            changes,
            randomized_top1,
        });
        save(&sanity_chart(&sanity), &fig_dir.join("sanity.png"))?;
        docs.write(&analysed, &numbers, &order, &objects, &sanity)?;
    }
    if !sanity.is_empty() {
        files.push(fig_dir.join("sanity.png"));
    }

    files.extend(docs.write(&analysed, &numbers, &order, &objects, &sanity)?);
    Ok(ReportSummary {
        files,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Writes the Markdown and JSON documents from whatever sections are done.
struct Documents<'a> {
    config: &'a ReportConfig,
    /// The model's provenance warning (test mirror, random weights), stamped on every document and caption.
    warning: Option<&'a str>,
    model_text: &'a str,
    engine_name: &'a str,
    sanity_count: usize,
    geometry: Geometry,
}

/// The model's input size and the size of the feature map the CAMs read.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    input_hw: (usize, usize),
    feature_hw: (usize, usize),
}

impl Documents<'_> {
    fn write(
        &self,
        analysed: &[Analysed],
        numbers: &[ImageNumbers],
        order: &[usize],
        objects: &[ObjectNumbers],
        sanity: &[SanityNumbers],
    ) -> Result<Vec<PathBuf>> {
        let (config, out) = (self.config, &self.config.out_dir);
        let fig_dir = out.join("fig");
        let mut files = Vec::new();
        let d1 = dissection::section(&config.dissect_dir, &config.shared_data, &fig_dir)?;
        files.extend(d1.figures.iter().cloned());
        let setup = setup_text(
            config,
            self.model_text,
            self.engine_name,
            self.sanity_count,
            &self.geometry,
        );
        let note = reading_note(config.lime.num_samples, &self.geometry);
        let d2 = d2_text(analysed, numbers, &setup);
        let d3 = d3_text(analysed, numbers, order, objects, sanity, &setup);
        let d4 = d4_text(numbers, objects, sanity, self.model_text, &note);
        let results = results_text(numbers, order, objects, sanity, &setup, &d1.summary, &note);
        for (name, text) in [
            ("d1_dissection.md", d1.markdown.clone()),
            ("d2_lime.md", d2),
            ("d3_cams.md", d3),
            ("d4_insights.md", d4),
            ("results.md", results),
        ] {
            let path = out.join(name);
            std::fs::write(&path, stamp(&text, self.warning, &config.run_note))
                .with_context(|| format!("cannot write {}", path.display()))?;
            files.push(path);
        }
        let json = serde_json::json!({
            "warning": self.warning,
            "run_note": config.run_note,
            "explained": config.explained,
            "model": self.model_text,
            "engine": self.engine_name,
            "lime": config.lime,
            "causal": config.causal,
            "cascade": config.cascade,
            "sanity_seed": config.sanity_seed,
            "images": numbers,
            "objects": objects,
            "sanity": sanity,
        });
        let path = out.join("results.json");
        std::fs::write(&path, serde_json::to_string_pretty(&json)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        files.push(path);
        Ok(files)
    }
}

/// A document with the run note under its title and, for models without real weights, the warning under
/// the title and in every figure caption (so no figure can be quoted without it).
fn stamp(text: &str, warning: Option<&str>, run_note: &str) -> String {
    let (title, body) = text.split_once('\n').unwrap_or((text, ""));
    let mut head = String::new();
    if let Some(w) = warning {
        head.push_str(&format!("\n> **{w}**\n"));
    }
    if !run_note.is_empty() {
        head.push_str(&format!("\n> {run_note}\n"));
    }
    let body = match warning {
        Some(w) => body.replace("![", &format!("![{w}: ")),
        None => body.to_string(),
    };
    format!("{title}\n{head}{body}")
}

fn save(img: &RgbImage, path: &Path) -> Result<()> {
    std::fs::write(path, render::png_rgb(img)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Share of a map's (non-negative part's) mass inside the mask: the "energy-based pointing game".
fn mass_share(map: ndarray::ArrayView2<f32>, mask: ndarray::ArrayView2<bool>) -> f64 {
    let (mut inside, mut total) = (0.0f64, 0.0f64);
    for (&v, &m) in map.iter().zip(mask.iter()) {
        let v = v.max(0.0) as f64;
        total += v;
        if m {
            inside += v;
        }
    }
    if total > 0.0 {
        inside / total
    } else {
        0.0
    }
}

/// A [-max|w|, max|w|] LIME weight map shown on [0, 1] (0.5 = zero weight) for the JET overlay.
fn lime_display(weights: &Array2<f32>) -> Array2<f32> {
    let m = weights
        .iter()
        .fold(0.0f32, |m, v| m.max(v.abs()))
        .max(f32::MIN_POSITIVE);
    weights.mapv(|v| 0.5 + 0.5 * v / m)
}

/// Outlines a mask in yellow on a copy of the view.
fn outline(view: &RgbImage, mask: &Array2<bool>) -> RgbImage {
    let mut img = view.clone();
    let (h, w) = mask.dim();
    for y in 0..h {
        for x in 0..w {
            if !mask[(y, x)] {
                continue;
            }
            let edge = [(0i64, 1i64), (1, 0), (0, -1), (-1, 0)]
                .iter()
                .any(|&(dy, dx)| {
                    let (yy, xx) = (y as i64 + dy, x as i64 + dx);
                    yy < 0
                        || xx < 0
                        || yy >= h as i64
                        || xx >= w as i64
                        || !mask[(yy as usize, xx as usize)]
                });
            if edge {
                img.put_pixel(x as u32, y as u32, image::Rgb([255, 255, 0]));
            }
        }
    }
    img
}

/// One panel per CAM, each drawn over `base` (the view, or the view with an outline).
fn cam_panels(a: &Analysed, base: &RgbImage) -> Result<Vec<(String, RgbImage)>> {
    a.cams
        .iter()
        .map(|(m, map, _)| {
            Ok((
                cam_title(*m).into(),
                render::overlay(base, map.view(), 0.5)?,
            ))
        })
        .collect()
}

fn lime_weights_panel(a: &Analysed) -> Result<(String, RgbImage)> {
    Ok((
        "LIME weights".into(),
        render::overlay(&a.view, lime_display(&a.lime_weights).view(), 0.5)?,
    ))
}

fn methods_strip(a: &Analysed) -> Result<RgbImage> {
    let mut panels = vec![
        (
            format!("{} -> {}", a.name, truncate(&a.target.label, 18)),
            a.view.clone(),
        ),
        ("LIME top-5 mask".into(), outline(&a.view, &a.lime_mask)),
        lime_weights_panel(a)?,
    ];
    panels.extend(cam_panels(a, &a.view)?);
    Ok(chart::strip(&panels))
}

fn object_strip(a: &Analysed, mask: &Array2<bool>) -> Result<RgbImage> {
    let mut panels = vec![
        (format!("{}: object mask", a.name), outline(&a.view, mask)),
        ("LIME top-5 mask".into(), outline(&a.view, &a.lime_mask)),
    ];
    panels.extend(cam_panels(a, &outline(&a.view, mask))?);
    Ok(chart::strip(&panels))
}

fn sanity_grid(original: &[Analysed], randomized: &[Analysed], stage: usize) -> Result<RgbImage> {
    let mut rows = Vec::new();
    for (o, r) in original.iter().zip(randomized) {
        for (label, a) in [
            ("trained".to_string(), o),
            (format!("top {stage} random"), r),
        ] {
            let mut panels = vec![
                (format!("{} {label}", o.name), a.view.clone()),
                lime_weights_panel(a)?,
            ];
            panels.extend(cam_panels(a, &a.view)?);
            rows.push(chart::strip(&panels));
        }
    }
    Ok(chart::stack(&rows))
}

fn truncate(s: &str, n: usize) -> String {
    let first = s.split(',').next().unwrap_or(s).trim();
    if first.chars().count() <= n {
        first.to_string()
    } else {
        first.chars().take(n).collect()
    }
}

fn faithfulness_chart(
    name: &str,
    label: &str,
    curves: &[(String, CausalCurve, CausalCurve)],
) -> RgbImage {
    let series = |mode: usize| -> Vec<Series> {
        curves
            .iter()
            .map(|(m, d, i)| {
                let c = if mode == 0 { d } else { i };
                Series {
                    name: format!("{m} AUC {:.3}", c.auc),
                    points: c
                        .fractions
                        .iter()
                        .copied()
                        .zip(c.scores.iter().copied())
                        .collect(),
                }
            })
            .collect()
    };
    let label = truncate(label, 24);
    let del = chart::line_chart(
        &format!("Deletion: {name} (class {label})"),
        "fraction of pixels deleted (most important first)",
        "p(class)",
        (0.0, 1.0),
        (0.0, 1.0),
        &series(0),
    );
    let ins = chart::line_chart(
        &format!("Insertion: {name} (class {label})"),
        "fraction of pixels inserted (most important first)",
        "p(class)",
        (0.0, 1.0),
        (0.0, 1.0),
        &series(1),
    );
    chart::stack(&[del, ins])
}

fn mean_faithfulness_chart(numbers: &[ImageNumbers]) -> RgbImage {
    let methods: Vec<String> = numbers
        .first()
        .map(|n| n.faithfulness.iter().map(|(m, _, _)| m.clone()).collect())
        .unwrap_or_default();
    let make = |mode: usize| -> Vec<Series> {
        methods
            .iter()
            .enumerate()
            .filter_map(|(k, m)| {
                let curves: Vec<&CausalCurve> = numbers
                    .iter()
                    .map(|n| {
                        if mode == 0 {
                            &n.faithfulness[k].1
                        } else {
                            &n.faithfulness[k].2
                        }
                    })
                    .collect();
                let (xs, ys) = mean_curve(&curves)?;
                let aucs = mean(curves.iter().map(|c| Some(c.auc))).unwrap_or(f64::NAN);
                Some(Series {
                    name: format!("{m} mean AUC {aucs:.3}"),
                    points: xs.into_iter().zip(ys).collect(),
                })
            })
            .collect()
    };
    let n = numbers.len();
    let del = chart::line_chart(
        &format!("Deletion, mean over {n} images"),
        "fraction of pixels deleted",
        "p(class)",
        (0.0, 1.0),
        (0.0, 1.0),
        &make(0),
    );
    let ins = chart::line_chart(
        &format!("Insertion, mean over {n} images"),
        "fraction of pixels inserted",
        "p(class)",
        (0.0, 1.0),
        (0.0, 1.0),
        &make(1),
    );
    chart::stack(&[del, ins])
}

fn agreement_chart(numbers: &[ImageNumbers], order: &[usize]) -> RgbImage {
    let groups: Vec<String> = order
        .iter()
        .map(|&i| short_name(&numbers[i].image))
        .collect();
    let methods: Vec<String> = numbers
        .first()
        .map(|n| n.agreement.iter().map(|(m, _)| m.clone()).collect())
        .unwrap_or_default();
    let build = |pick: &dyn Fn(&Agreement) -> Option<f64>| -> Vec<Series> {
        methods
            .iter()
            .enumerate()
            .map(|(k, m)| Series {
                name: m.clone(),
                points: order
                    .iter()
                    .enumerate()
                    .map(|(g, &i)| {
                        (
                            g as f64,
                            pick(&numbers[i].agreement[k].1).unwrap_or(f64::NAN),
                        )
                    })
                    .collect(),
            })
            .collect()
    };
    let iou = chart::bar_chart(
        "IoU of CAM top pixels (same count as LIME mask) with the LIME top-5 mask",
        "IoU",
        &groups,
        (0.0, 1.0),
        &build(&|a: &Agreement| a.iou_same_count),
    );
    let rho = chart::bar_chart(
        "Spearman rank correlation of CAM and per-pixel LIME weight",
        "Spearman rho",
        &groups,
        (-1.0, 1.0),
        &build(&|a: &Agreement| a.spearman),
    );
    chart::stack(&[iou, rho])
}

fn sanity_chart(sanity: &[SanityNumbers]) -> RgbImage {
    let methods: Vec<String> = {
        let mut m: Vec<String> = Vec::new();
        for (_, method, _) in &sanity[0].changes {
            if !m.contains(method) {
                m.push(method.clone());
            }
        }
        m
    };
    let groups: Vec<String> = sanity
        .iter()
        .map(|s| format!("top {} layers", s.stage))
        .collect();
    let build = |pick: &dyn Fn(&MapChange) -> Option<f64>| -> Vec<Series> {
        methods
            .iter()
            .map(|m| Series {
                name: m.clone(),
                points: sanity
                    .iter()
                    .enumerate()
                    .map(|(g, s)| {
                        (
                            g as f64,
                            mean(
                                s.changes
                                    .iter()
                                    .filter(|(_, mm, _)| mm == m)
                                    .map(|(_, _, c)| pick(c)),
                            )
                            .unwrap_or(f64::NAN),
                        )
                    })
                    .collect(),
            })
            .collect()
    };
    let rho = chart::bar_chart(
        "Sanity check: Spearman(trained map, randomised map), mean over images",
        "Spearman rho",
        &groups,
        (-1.0, 1.0),
        &build(&|c: &MapChange| c.spearman),
    );
    let ssim = chart::bar_chart(
        "Sanity check: SSIM(trained map, randomised map), mean over images",
        "SSIM",
        &groups,
        (-1.0, 1.0),
        &build(&|c: &MapChange| Some(c.ssim)),
    );
    chart::stack(&[rho, ssim])
}

/// An object-mask case: an image and the masks of its object drawn on it: (name, source, mask).
struct ObjectCase {
    name: String,
    image: PathBuf,
    masks: Vec<(String, String, Array2<bool>)>,
}

fn object_cases(shared: &Path) -> Result<Vec<ObjectCase>> {
    let seg = shared.join("segmentation-samples-coral");
    let limits = ImageLimits::default();
    let index_mask = |file: &str, classes: &[u8]| -> Result<Array2<bool>> {
        let img = preprocess::load(&seg.join(file), &limits)?;
        mask_from_index_image(&img, classes).with_context(|| format!("reading the mask {file}"))
    };
    let quokka_dir = shared.join("quokka-imgaug");
    let quokka_image = quokka_dir.join("quokka.jpg");
    let (qw, qh) = image::image_dimensions(&quokka_image)
        .with_context(|| format!("cannot read {}", quokka_image.display()))?;
    let annotations = QuokkaAnnotations::parse(
        &std::fs::read_to_string(quokka_dir.join("quokka_annotations.json"))
            .context("cannot read quokka_annotations.json")?,
    )?;
    Ok(vec![
        ObjectCase {
            name: "bird".into(),
            image: seg.join("bird_segmentation.bmp"),
            masks: vec![(
                "bird".into(),
                "DeepLab v3 PASCAL mask, class 3 (bird) (model-predicted, Coral test data)".into(),
                index_mask("bird_segmentation_mask.bmp", &[3])?,
            )],
        },
        ObjectCase {
            name: "dog".into(),
            image: seg.join("dog_segmentation_256.bmp"),
            masks: vec![(
                "dog".into(),
                "Oxford-IIIT-style trimap, value 0 = pet (likely model-predicted, Coral test data)"
                    .into(),
                index_mask("dog_segmentation_mask_256.bmp", &[0])?,
            )],
        },
        ObjectCase {
            name: "quokka".into(),
            image: quokka_image,
            masks: vec![
                (
                    "quokka".into(),
                    "human outline polygon (imgaug), rasterised".into(),
                    annotations.polygon_mask(qw as usize, qh as usize)?,
                ),
                (
                    "quokka_box".into(),
                    "human bounding box (imgaug)".into(),
                    annotations.box_mask(qw as usize, qh as usize)?,
                ),
            ],
        },
    ])
}

fn setup_text(
    config: &ReportConfig,
    model_text: &str,
    engine: &str,
    sanity_count: usize,
    geometry: &Geometry,
) -> String {
    let l = &config.lime;
    let (h, w) = geometry.input_hw;
    format!(
        "Model: **{model_text}**, run on the `{engine}` engine. Every number below was computed by `glassbox report` in \
         this run.\n\n\
         - CAMs: pytorch-grad-cam semantics at the last convolutional layer (`features`), target = the model's top-1 class, \
         maps upsampled to the {h}×{w} model input and min-max normalised to [0, 1].\n\
         - LIME: {} samples, batch {}, seed {}, top {} labels, kernel width {}, quickshift superpixels; the LIME mask is \
         `get_image_and_mask(top-1 class, positive_only=True, num_features={}, hide_rest=False)`; the LIME map gives every \
         pixel its superpixel's weight.\n\
         - Faithfulness: RISE deletion (substrate 0 in the normalised input) and insertion (substrate: 11×11 Gaussian blur, \
         σ = 5), {} pixels per step, score = softmax probability of the top-1 class, AUC by the trapezoid rule over the \
         fraction of pixels; ties in a map are ordered randomly (seed {}).\n\
         - Sanity check: cascading re-initialisation of the top {:?} weighted layers (seed {}), on the first {sanity_count} \
         images.\n",
        l.num_samples,
        l.batch_size,
        l.seed,
        l.top_labels,
        l.kernel_width,
        l.mask_features,
        config.causal.step,
        config.causal.seed,
        config.cascade,
        config.sanity_seed,
    )
}

fn prediction_cell(n: &ImageNumbers) -> String {
    let mark = match n.expected_class {
        Some(e) if e == n.target.class => " (correct)",
        Some(_) => " (wrong)",
        None => "",
    };
    format!(
        "{} p={:.3}{mark}",
        truncate(&n.target.label, 28),
        n.target.probability
    )
}

fn d2_text(analysed: &[Analysed], numbers: &[ImageNumbers], setup: &str) -> String {
    let mut s = String::from("# D2: LIME on the sample images\n\n");
    s.push_str(setup);
    s.push('\n');
    let mut t = Table::new(&[
        "image",
        "top-1 (explained)",
        "superpixels",
        "mask pixels",
        "surrogate R²",
        "local pred",
        "seconds",
    ]);
    for (a, n) in analysed.iter().zip(numbers) {
        let local = a.lime.for_label(a.target.class);
        t.row(vec![
            a.name.clone(),
            prediction_cell(n),
            a.lime.n_segments.to_string(),
            n.lime_mask_pixels.to_string(),
            num(local.map(|l| l.score)),
            num(local.map(|l| l.local_pred)),
            format!("{:.1}", a.lime_seconds),
        ]);
    }
    s.push_str(&t.render());
    s.push_str("\nEach figure: the model's view, the LIME top-5 mask (yellow outline), the LIME weight map (JET, 0.5 = zero \
                weight, red = for the class, blue = against), then the three CAMs.\n\n");
    for a in analysed {
        s.push_str(&format!("![{0}](fig/{0}_methods.png)\n\n", a.name));
    }
    s
}

fn agreement_table(numbers: &[ImageNumbers], order: &[usize]) -> String {
    let mut t = Table::new(&[
        "image",
        "top-1",
        "method",
        "IoU same count",
        "IoU top 20 %",
        "IoU ≥ 0.5",
        "Spearman",
        "pointing",
    ]);
    for &i in order {
        let n = &numbers[i];
        for (m, a) in &n.agreement {
            t.row(vec![
                short_name(&n.image),
                truncate(&n.target.label, 20),
                m.clone(),
                num(a.iou_same_count),
                num(a.iou_top20),
                num(a.iou_half),
                num(a.spearman),
                if a.pointing_hit { "hit" } else { "miss" }.into(),
            ]);
        }
    }
    t.render()
}

fn faithfulness_table(numbers: &[ImageNumbers]) -> String {
    let methods: Vec<String> = numbers
        .first()
        .map(|n| n.faithfulness.iter().map(|(m, _, _)| m.clone()).collect())
        .unwrap_or_default();
    let mut header = vec!["image".to_string()];
    for m in &methods {
        header.push(format!("{m} del ↓"));
        header.push(format!("{m} ins ↑"));
    }
    let mut t = Table::new(&header);
    for n in numbers {
        let mut row = vec![short_name(&n.image)];
        for (_, d, i) in &n.faithfulness {
            row.push(format!("{:.3}", d.auc));
            row.push(format!("{:.3}", i.auc));
        }
        t.row(row);
    }
    let mut row = vec!["**mean**".to_string()];
    for k in 0..methods.len() {
        row.push(format!(
            "**{}**",
            num(mean(numbers.iter().map(|n| Some(n.faithfulness[k].1.auc))))
        ));
        row.push(format!(
            "**{}**",
            num(mean(numbers.iter().map(|n| Some(n.faithfulness[k].2.auc))))
        ));
    }
    t.row(row);
    t.render()
}

fn objects_table(objects: &[ObjectNumbers]) -> String {
    let mut t = Table::new(&[
        "case",
        "mask",
        "top-1",
        "method",
        "pointing",
        "IoU top-|object|",
        "mass on object",
    ]);
    for o in objects {
        for (m, hit, iou, share) in &o.methods {
            t.row(vec![
                o.case.clone(),
                format!("{} px", o.object_pixels),
                truncate(&o.target.label, 18),
                m.clone(),
                if *hit { "hit" } else { "miss" }.into(),
                num(*iou),
                format!("{share:.3}"),
            ]);
        }
    }
    let mut s = t.render();
    let methods: Vec<String> = objects
        .first()
        .map(|o| o.methods.iter().map(|m| m.0.clone()).collect())
        .unwrap_or_default();
    let mut summary = Table::new(&[
        "method",
        "pointing-game hit rate",
        "mean IoU with object",
        "mean mass on object",
    ]);
    for (k, m) in methods.iter().enumerate() {
        let hits = objects.iter().filter(|o| o.methods[k].1).count();
        summary.row(vec![
            m.clone(),
            rate(hits, objects.len()),
            num(mean(objects.iter().map(|o| o.methods[k].2))),
            num(mean(objects.iter().map(|o| Some(o.methods[k].3)))),
        ]);
    }
    s.push('\n');
    s.push_str(&summary.render());
    s.push_str("\nLIME's own top-5 mask vs the object: ");
    s.push_str(
        &objects
            .iter()
            .map(|o| format!("{} IoU {}", o.case, num(o.lime_mask_iou)))
            .collect::<Vec<_>>()
            .join(", "),
    );
    s.push_str(".\n");
    s
}

fn sanity_table(sanity: &[SanityNumbers]) -> String {
    let mut s = String::new();
    let mut t = Table::new(&[
        "stage",
        "layers re-initialised",
        "method",
        "mean Spearman",
        "mean SSIM",
        "per image (rho / SSIM)",
    ]);
    for st in sanity {
        let layers = st
            .layers
            .iter()
            .map(|l| l.node.clone())
            .collect::<Vec<_>>()
            .join(", ");
        let mut methods: Vec<&String> = Vec::new();
        for (_, m, _) in &st.changes {
            if !methods.contains(&m) {
                methods.push(m);
            }
        }
        for m in methods {
            let per: Vec<&(String, String, MapChange)> =
                st.changes.iter().filter(|c| &c.1 == m).collect();
            t.row(vec![
                format!("top {}", st.stage),
                layers.clone(),
                m.clone(),
                num(mean(per.iter().map(|c| c.2.spearman))),
                num(mean(per.iter().map(|c| Some(c.2.ssim)))),
                per.iter()
                    .map(|c| {
                        format!(
                            "{}: {} / {:.2}",
                            short_name(&c.0),
                            num(c.2.spearman),
                            c.2.ssim
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            ]);
        }
    }
    s.push_str(&t.render());
    for st in sanity {
        s.push_str(&format!(
            "\nTop-1 of the model with the top {} layers randomised: {}.",
            st.stage,
            st.randomized_top1
                .iter()
                .map(|(f, p)| format!(
                    "{} → {} (p={:.3})",
                    short_name(f),
                    truncate(&p.label, 20),
                    p.probability
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    s.push('\n');
    s
}

fn d3_text(
    analysed: &[Analysed],
    numbers: &[ImageNumbers],
    order: &[usize],
    objects: &[ObjectNumbers],
    sanity: &[SanityNumbers],
    setup: &str,
) -> String {
    let mut s = String::from("# D3: Grad-CAM, AblationCAM and ScoreCAM, compared with LIME\n\n");
    s.push_str(setup);
    let mut t = Table::new(&[
        "image",
        "top-1 (explained)",
        "Grad-CAM s",
        "AblationCAM s",
        "ScoreCAM s",
        "LIME s",
    ]);
    for n in numbers {
        let mut row = vec![short_name(&n.image), prediction_cell(n)];
        row.extend(n.seconds.iter().map(|(_, sec)| format!("{sec:.2}")));
        t.row(row);
    }
    s.push_str("\n## Predictions and run time\n\n");
    s.push_str(&t.render());
    s.push_str("\n## Agreement with LIME (images from most to least agreement)\n\n");
    s.push_str("Agreement = the mean over the three CAMs of the IoU between the CAM's top pixels (as many as the LIME mask has) \
                and the LIME top-5 mask. Also: IoU with the CAM's top 20 % and with CAM ≥ 0.5, Spearman rank correlation between \
                the CAM and the per-pixel LIME weight (average ranks for ties), and whether the CAM's maximum lies in the LIME mask.\n\n");
    s.push_str(&agreement_table(numbers, order));
    s.push_str("\n![agreement](fig/agreement.png)\n\n");
    s.push_str("## Faithfulness (RISE deletion ↓ and insertion ↑ AUC)\n\n");
    s.push_str(&faithfulness_table(numbers));
    s.push_str("\n![mean curves](fig/faithfulness_mean.png)\n\n");
    for a in analysed {
        s.push_str(&format!(
            "![{0} curves](fig/{0}_faithfulness.png)\n\n",
            a.name
        ));
    }
    if !objects.is_empty() {
        s.push_str("## Does the explanation land on the object?\n\n");
        s.push_str("Masks mapped onto the model's input grid by the same crop and resize as the image. Pointing: the map's \
                    maximum lies on the object (no tolerance). IoU top-|object|: the map's top pixels, as many as the object \
                    has, against the object. Mass on object: share of the map's non-negative mass on the object.\n\n");
        s.push_str(&objects_table(objects));
        for o in objects {
            s.push_str(&format!("\n![{0}](fig/object_{0}.png)\n", o.case));
        }
        s.push('\n');
    }
    if !sanity.is_empty() {
        s.push_str("## Sanity check (cascading randomisation, Adebayo et al. 2018)\n\n");
        s.push_str("Spearman and SSIM between the map on the trained model and on the model with its top layers re-initialised \
                    (same image, same class). Values near 1 would mean the explanation ignores the weights it claims to explain.\n\n");
        s.push_str(&sanity_table(sanity));
        s.push_str("\n![sanity](fig/sanity.png)\n\n");
        for st in sanity {
            s.push_str(&format!(
                "![stage {0}](fig/sanity_stage{0}.png)\n\n",
                st.stage
            ));
        }
    }
    s
}

/// D4: differences and insights, every sentence built from the numbers of this run.
fn d4_text(
    numbers: &[ImageNumbers],
    objects: &[ObjectNumbers],
    sanity: &[SanityNumbers],
    model_text: &str,
    reading_note: &str,
) -> String {
    let mut s = format!("# D4: Differences and insights\n\nAll statements are about **{model_text}** on the images of this run.\n\n");
    s.push_str(&insights(numbers, objects, sanity));
    s.push_str(reading_note);
    s
}

/// How to read the comparison, with this run's geometry (input size, CAM resolution, LIME samples).
fn reading_note(lime_samples: usize, geometry: &Geometry) -> String {
    let (h, w) = geometry.input_hw;
    let (fh, fw) = geometry.feature_hw;
    format!(
        "\nHow to read these: LIME sees the model only through {lime_samples} perturbed copies with superpixels switched to \
         black, so its mask follows superpixel boundaries and the class evidence that survives occlusion; the CAMs read the \
         last {fh}×{fw} feature map of the {h}×{w} input, so they are smooth blobs at {}-pixel resolution. Same-count IoU is \
         therefore capped well below 1 even when both point at the same object. Deletion AUC rewards maps whose top pixels \
         destroy the class fastest; with a zero (grey) substrate it also rewards maps that create out-of-distribution \
         patches, so read it next to insertion.\n",
        h / fh.max(1)
    )
}

/// "Simple vs cluttered", answered from two clutter measures of the images that ran (edge density and
/// LIME's superpixel count), never from which images they are. `ranked`: most agreement first.
fn clutter_insight(
    ranked: &[&ImageNumbers],
    score: &dyn Fn(&ImageNumbers) -> Option<f64>,
) -> String {
    let scored: Vec<&ImageNumbers> = ranked
        .iter()
        .copied()
        .filter(|n| score(n).is_some())
        .collect();
    if scored.len() < 3 {
        return format!(
            "- **Simple vs cluttered.** Not answered: {} image(s) with an agreement score; a correlation needs at \
             least 3.\n",
            scored.len()
        );
    }
    let agreement: Vec<f64> = scored.iter().filter_map(|n| score(n)).collect();
    let rho = |clutter: Vec<f64>| pearson(&average_ranks(&clutter), &average_ranks(&agreement));
    let by_edges = rho(scored.iter().map(|n| n.edge_density).collect());
    let by_segments = rho(scored.iter().map(|n| n.lime_segments as f64).collect());
    let rank = |n: &ImageNumbers| scored.iter().position(|m| m.image == n.image).unwrap_or(0) + 1;
    let edge_order =
        |a: &&&ImageNumbers, b: &&&ImageNumbers| a.edge_density.total_cmp(&b.edge_density);
    let most = scored.iter().max_by(edge_order).expect("at least 3 images");
    let least = scored.iter().min_by(edge_order).expect("at least 3 images");
    let verdict = match by_edges {
        Some(r) if r <= -0.3 => "agreement tends to fall as clutter rises",
        Some(r) if r >= 0.3 => "agreement tends to rise with clutter",
        Some(_) => "no clear relation between clutter and agreement",
        None => "no relation can be measured (a constant measure)",
    };
    format!(
        "- **Simple vs cluttered.** Clutter measured two ways, the share of edge pixels and LIME's superpixel count: \
         Spearman correlation with the agreement (mean same-count IoU) {} and {} over {} images, so on these images \
         {verdict} (a tendency from {} images, not a test). Most cluttered by edges: {} ({:.1}% edge pixels, rank {} of \
         {} by agreement); least: {} ({:.1}%, rank {}).\n",
        num(by_edges),
        num(by_segments),
        scored.len(),
        scored.len(),
        short_name(&most.image),
        100.0 * most.edge_density,
        rank(most),
        scored.len(),
        short_name(&least.image),
        100.0 * least.edge_density,
        rank(least),
    )
}

/// The insight bullets, built from the numbers.
fn insights(
    numbers: &[ImageNumbers],
    objects: &[ObjectNumbers],
    sanity: &[SanityNumbers],
) -> String {
    let mut s = String::new();
    // Agreement extremes.
    let score = |n: &ImageNumbers| mean(n.agreement.iter().map(|(_, a)| a.iou_same_count));
    let mut ranked: Vec<&ImageNumbers> = numbers.iter().collect();
    ranked.sort_by(|a, b| {
        score(b)
            .unwrap_or(f64::NEG_INFINITY)
            .total_cmp(&score(a).unwrap_or(f64::NEG_INFINITY))
    });
    if let (Some(best), Some(worst)) = (ranked.first(), ranked.last()) {
        s.push_str(&format!(
            "- **Where LIME and the CAMs agree.** Highest agreement: {} (mean same-count IoU {}, Spearman {}); lowest: {} \
             (IoU {}, Spearman {}). Over all images the mean same-count IoU is {} and the mean Spearman {}.\n",
            short_name(&best.image),
            num(score(best)),
            num(mean(best.agreement.iter().map(|(_, a)| a.spearman))),
            short_name(&worst.image),
            num(score(worst)),
            num(mean(worst.agreement.iter().map(|(_, a)| a.spearman))),
            num(mean(numbers.iter().map(score))),
            num(mean(numbers.iter().flat_map(|n| n.agreement.iter().map(|(_, a)| a.spearman)))),
        ));
        s.push_str(&clutter_insight(&ranked, &score));
    }
    // Pointing agreement per CAM.
    if let Some(first) = numbers.first() {
        for (k, (m, _)) in first.agreement.iter().enumerate() {
            let hits = numbers
                .iter()
                .filter(|n| n.agreement[k].1.pointing_hit)
                .count();
            s.push_str(&format!(
                "- {m}'s maximum falls inside the LIME mask on {}.\n",
                rate(hits, numbers.len())
            ));
        }
    }
    // Faithfulness winners.
    if let Some(first) = numbers.first() {
        let methods: Vec<&String> = first.faithfulness.iter().map(|(m, _, _)| m).collect();
        let del: Vec<f64> = (0..methods.len())
            .map(|k| {
                mean(numbers.iter().map(|n| Some(n.faithfulness[k].1.auc))).unwrap_or(f64::NAN)
            })
            .collect();
        let ins: Vec<f64> = (0..methods.len())
            .map(|k| {
                mean(numbers.iter().map(|n| Some(n.faithfulness[k].2.auc))).unwrap_or(f64::NAN)
            })
            .collect();
        let best_del = (0..methods.len())
            .min_by(|&a, &b| del[a].total_cmp(&del[b]))
            .unwrap_or(0);
        let best_ins = (0..methods.len())
            .max_by(|&a, &b| ins[a].total_cmp(&ins[b]))
            .unwrap_or(0);
        let wins = |k: usize, mode: usize| {
            numbers
                .iter()
                .filter(|n| {
                    let aucs: Vec<f64> = n
                        .faithfulness
                        .iter()
                        .map(|(_, d, i)| if mode == 0 { d.auc } else { i.auc })
                        .collect();
                    let best = if mode == 0 {
                        aucs.iter().copied().fold(f64::INFINITY, f64::min)
                    } else {
                        aucs.iter().copied().fold(f64::NEG_INFINITY, f64::max)
                    };
                    aucs[k] == best
                })
                .count()
        };
        s.push_str(&format!(
            "- **Faithfulness.** Lowest mean deletion AUC: {} ({:.3}; best on {} images); highest mean insertion AUC: {} \
             ({:.3}; best on {} images). Mean deletion / insertion AUC per method: {}.\n",
            methods[best_del],
            del[best_del],
            wins(best_del, 0),
            methods[best_ins],
            ins[best_ins],
            wins(best_ins, 1),
            methods.iter().zip(del.iter().zip(&ins)).map(|(m, (d, i))| format!("{m} {d:.3} / {i:.3}")).collect::<Vec<_>>().join(", ")
        ));
    }
    // Objects.
    if let Some(first) = objects.first() {
        let parts: Vec<String> = first
            .methods
            .iter()
            .enumerate()
            .map(|(k, (m, _, _, _))| {
                let hits = objects.iter().filter(|o| o.methods[k].1).count();
                format!(
                    "{m} {} hits, mean IoU {}",
                    rate(hits, objects.len()),
                    num(mean(objects.iter().map(|o| o.methods[k].2)))
                )
            })
            .collect();
        s.push_str(&format!(
            "- **On the object** ({} cases): {}.\n",
            objects.len(),
            parts.join("; ")
        ));
    }
    // Sanity.
    for st in sanity {
        let mut methods: Vec<&String> = Vec::new();
        for (_, m, _) in &st.changes {
            if !methods.contains(&m) {
                methods.push(m);
            }
        }
        let parts: Vec<String> = methods
            .iter()
            .map(|m| {
                let per: Vec<&MapChange> = st
                    .changes
                    .iter()
                    .filter(|c| &c.1 == *m)
                    .map(|c| &c.2)
                    .collect();
                format!(
                    "{m} Spearman {} / SSIM {}",
                    num(mean(per.iter().map(|c| c.spearman))),
                    num(mean(per.iter().map(|c| Some(c.ssim))))
                )
            })
            .collect();
        s.push_str(&format!(
            "- **Sanity, top {} layers re-initialised**: {}.\n",
            st.stage,
            parts.join("; ")
        ));
    }
    s
}

fn results_text(
    numbers: &[ImageNumbers],
    order: &[usize],
    objects: &[ObjectNumbers],
    sanity: &[SanityNumbers],
    setup: &str,
    d1_summary: &str,
    reading_note: &str,
) -> String {
    // `setup` names the model and its weights.
    let mut s = String::from("# Results\n\n");
    s.push_str(setup);
    s.push_str("\nDeliverables: [D1 dissection](d1_dissection.md) · [D2 LIME](d2_lime.md) · [D3 CAMs vs LIME](d3_cams.md) · \
                [D4 insights](d4_insights.md) · [all numbers (JSON)](results.json)\n\n");
    s.push_str(&format!("## D1: dissection\n\n{d1_summary}\n\n"));
    s.push_str("## Agreement of the CAMs with LIME\n\n");
    let mut t = Table::new(&[
        "image",
        "top-1",
        "mean IoU same count",
        "mean Spearman",
        "pointing hits",
    ]);
    for &i in order {
        let n = &numbers[i];
        t.row(vec![
            short_name(&n.image),
            prediction_cell(n),
            num(mean(n.agreement.iter().map(|(_, a)| a.iou_same_count))),
            num(mean(n.agreement.iter().map(|(_, a)| a.spearman))),
            format!(
                "{}/{}",
                n.agreement.iter().filter(|(_, a)| a.pointing_hit).count(),
                n.agreement.len()
            ),
        ]);
    }
    s.push_str(&t.render());
    s.push_str("\n![agreement](fig/agreement.png)\n\n## Faithfulness\n\n");
    s.push_str(&faithfulness_table(numbers));
    s.push_str("\n![mean curves](fig/faithfulness_mean.png)\n\n");
    if !objects.is_empty() {
        s.push_str("## Explanations vs object masks\n\n");
        s.push_str(&objects_table(objects));
        s.push('\n');
    }
    if !sanity.is_empty() {
        s.push_str("## Sanity check\n\n");
        s.push_str(&sanity_table(sanity));
        s.push_str("\n![sanity](fig/sanity.png)\n\n");
    }
    s.push_str("## Insights\n\n");
    s.push_str(&insights(numbers, objects, sanity));
    s.push_str(reading_note);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_and_expected_classes_come_from_imagenet_file_names() {
        assert_eq!(short_name("n01443537_goldfish.JPEG"), "goldfish");
        assert_eq!(
            short_name("n02098286_West_Highland_white_terrier.JPEG"),
            "West_Highland_white_terrier"
        );
        assert_eq!(short_name("quokka.jpg"), "quokka");
        let wnids = vec!["n01440764".to_string(), "n01443537".to_string()];
        assert_eq!(
            expected_class("n01443537_goldfish.JPEG", &wnids, 1),
            Some(2)
        );
        assert_eq!(expected_class("cat.bmp", &wnids, 1), None);
    }

    #[test]
    fn mass_share_counts_only_the_mask() {
        let map = ndarray::array![[1.0f32, 3.0], [0.0, -5.0]];
        let mask = ndarray::array![[false, true], [true, true]];
        assert!((mass_share(map.view(), mask.view()) - 0.75).abs() < 1e-12);
    }
}
