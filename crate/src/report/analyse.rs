//! The report's analysis: runs the model on every image and case, and returns [`ReportData`]. It also
//! draws the pictures only a run can draw (the maps over the model's view); the text and charts are
//! [`render`](super::render)ed from the data, after every section, so a long run leaves a usable
//! report behind.

use std::path::{Path, PathBuf};

use anyhow::{ensure, Context, Result};
use image::RgbImage;
use ndarray::{Array2, Array3, ArrayView2};
use serde::Serialize;
use web_time::Instant;

use super::cases::{self, ObjectCase};
use super::data::{
    CamSummary, Faithfulness, ImageResult, LimeSummary, Method, ObjectHit, ObjectResult,
    RandomizedPrediction, ReportData, RunInfo, SanityChange, SanityStage,
};
use super::panels;
use crate::cam::{CamMethod, CamOptions};
use crate::compare::agreement::{count, pointing_game, top_k_mask};
use crate::compare::clutter::edge_density;
use crate::compare::faithfulness::{causal_curve, CausalConfig, CausalMode};
use crate::compare::lime_vs_cam::{self, CamMap, LimeMaps};
use crate::compare::objects::mask_to_model_grid;
use crate::compare::sanity::{map_change, randomize_top_layers};
use crate::engine::EngineKind;
use crate::explain::{explain_cams, lime_predictor, Prediction};
use crate::lime::{self, LimeExplanation, LimeParams};
use crate::model::{Classifier, Model};
use crate::numerics::iou;
use crate::preprocess::{self, ImageLimits, ModelInput};
use crate::progress::Progress;
use crate::results::{ExplainedImage, Size};

/// The CAMs the report compares with LIME by default.
pub const CAMS: [CamMethod; 3] = [
    CamMethod::GradCam,
    CamMethod::AblationCam,
    CamMethod::ScoreCam,
];

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
    /// The object cases' job file (`precomputed/report/jobs/objects.json`); `None` skips the section.
    pub objects: Option<PathBuf>,
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
    /// seed 0, RISE's deletion/insertion with 32 steps, a 3-stage cascade on 3 images, and the object
    /// cases of `objects_job`.
    pub fn standard(
        manifest: PathBuf,
        shared_data: PathBuf,
        dissect_dir: PathBuf,
        out_dir: PathBuf,
        objects_job: PathBuf,
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
            objects: Some(objects_job),
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

/// One image explained by every method, with the pixels the pictures and the later sections need.
struct Analysed {
    name: String,
    file: String,
    target: Prediction,
    top5: Vec<Prediction>,
    view: RgbImage,
    tensor: Array3<f32>,
    /// CAM maps (H×W, [0, 1]) with their seconds.
    cams: Vec<TimedMap>,
    lime: LimeExplanation,
    lime_seconds: Option<f64>,
    lime_maps: LimeMaps,
    /// Height and width of the feature map the CAMs read.
    features: Size,
}

/// A CAM's map and the seconds it took.
struct TimedMap {
    method: CamMethod,
    map: Array2<f32>,
    seconds: f64,
}

/// A map of any method, borrowed.
struct MethodMap<'a> {
    method: Method,
    map: ArrayView2<'a, f32>,
}

impl Analysed {
    /// Every method's map: the CAMs, then LIME's per-pixel weight.
    fn maps(&self) -> Vec<MethodMap<'_>> {
        let mut maps: Vec<MethodMap> = self
            .cams
            .iter()
            .map(|c| MethodMap {
                method: Method::Cam(c.method),
                map: c.map.view(),
            })
            .collect();
        maps.push(MethodMap {
            method: Method::Lime,
            map: self.lime_maps.weights.view(),
        });
        maps
    }

    fn cam_maps(&self) -> Vec<CamMap<'_>> {
        self.cams
            .iter()
            .map(|c| CamMap {
                method: c.method,
                map: c.map.view(),
            })
            .collect()
    }
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

/// `n01443537_goldfish.JPEG` → `goldfish`; other names lose only their extension.
pub fn short_name(file: &str) -> String {
    let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
    match stem.split_once('_') {
        Some((id, rest)) if id.starts_with('n') && id[1..].chars().all(|c| c.is_ascii_digit()) => {
            rest.to_string()
        }
        _ => stem.to_string(),
    }
}

fn feature_size(explanation: &crate::explain::Explanation) -> Size {
    let shape = explanation.forward.features.shape();
    Size {
        height: shape[2],
        width: shape[3],
    }
}

/// One image from a `glassbox explain` output folder: its CAM maps and LIME explanation as explain wrote
/// them. Only the forward pass runs again (for the view, the tensor and the feature-map size), and it must
/// give the target explain recorded, from a model with the same sha256.
async fn analyse_explained(
    classifier: &Classifier,
    image: &RgbImage,
    file: &str,
    explained: &Path,
    methods: Methods<'_>,
    progress: &dyn Progress,
) -> Result<Analysed> {
    let stem = Path::new(file)
        .file_stem()
        .map_or_else(|| file.to_string(), |s| s.to_string_lossy().into_owned());
    let dir = explained.join(&stem);
    let recorded = ExplainedImage::read(&dir).with_context(|| {
        format!(
            "run `glassbox explain` with LIME and the CAMs into {} first",
            explained.display()
        )
    })?;
    let json_path = dir.join("explanation.json");
    let model_sha = classifier.model.manifest.sha256.as_deref();
    ensure!(
        recorded.record.model.sha256.as_deref() == model_sha,
        "{} was made with the model {} (sha256 {}), not with this report's model (sha256 {})",
        json_path.display(),
        recorded.record.model.name,
        recorded.record.model.sha256.as_deref().unwrap_or("unknown"),
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
    let target = recorded.record.target.clone();
    ensure!(
        target.class == explanation.target.class,
        "{}: explain's target class {} is not the model's top-1 class {} now",
        json_path.display(),
        target.class,
        explanation.target.class
    );
    let mut cams = Vec::new();
    for &method in methods.cams {
        let cam = recorded
            .cams
            .iter()
            .find(|c| c.method == method)
            .with_context(|| {
                format!(
                    "{}: no {} (run explain with --methods all)",
                    json_path.display(),
                    method.name()
                )
            })?;
        cams.push(TimedMap {
            method,
            map: cam.map.clone(),
            seconds: cam.seconds,
        });
    }
    let lime = recorded.lime.clone().with_context(|| {
        format!(
            "{}: no LIME explanation (run explain with lime)",
            json_path.display()
        )
    })?;
    let lime_maps = LimeMaps::of(&lime, target.class)?;
    Ok(Analysed {
        name: short_name(file),
        file: file.to_string(),
        top5: explanation.top5.clone(),
        target,
        tensor: classifier.prepare(image).tensor,
        features: feature_size(&explanation),
        view: explanation.view,
        cams,
        lime,
        lime_seconds: recorded.record.methods.lime.map(|l| l.seconds),
        lime_maps,
    })
}

async fn analyse(
    classifier: &Classifier,
    image: &RgbImage,
    file: &str,
    target: Option<usize>,
    methods: Methods<'_>,
    progress: &dyn Progress,
) -> Result<Analysed> {
    let explanation = explain_cams(
        classifier,
        image,
        methods.cams,
        target,
        &CamOptions::default(),
        progress,
    )
    .await
    .with_context(|| format!("CAMs of {file}"))?;
    let target = explanation.target.clone();
    let ModelInput { view, tensor } = classifier.prepare(image);
    let started = Instant::now();
    let predictor = lime_predictor(classifier);
    let lime = lime::explain(&predictor, &lime::rgb_array(&view), methods.lime, progress)
        .await
        .with_context(|| format!("LIME of {file}"))?;
    let lime_seconds = started.elapsed().as_secs_f64();
    let lime_maps = LimeMaps::of(&lime, target.class)?;
    Ok(Analysed {
        name: short_name(file),
        file: file.to_string(),
        top5: explanation.top5.clone(),
        target,
        features: feature_size(&explanation),
        view,
        tensor,
        cams: explanation
            .cams
            .iter()
            .map(|c| TimedMap {
                method: c.cam.method,
                map: c.cam.map.clone(),
                seconds: c.seconds,
            })
            .collect(),
        lime,
        lime_seconds: Some(lime_seconds),
        lime_maps,
    })
}

/// The numbers of one analysed image: agreement with LIME and every map's faithfulness.
async fn image_result(
    classifier: &Classifier,
    a: &Analysed,
    expected_class: Option<usize>,
    causal: &CausalConfig,
    progress: &dyn Progress,
) -> Result<ImageResult> {
    let agreement =
        lime_vs_cam::compare(&a.cam_maps(), &a.lime_maps, lime_vs_cam::DEFAULT_THRESHOLD)?;
    let mut faithfulness = Vec::new();
    for m in a.maps() {
        let curve = |mode| {
            causal_curve(
                classifier,
                a.tensor.view(),
                m.map,
                a.target.class,
                mode,
                causal,
                progress,
            )
        };
        let deletion = curve(CausalMode::Deletion).await?;
        let insertion = curve(CausalMode::Insertion).await?;
        faithfulness.push(Faithfulness {
            method: m.method,
            deletion,
            insertion,
        });
    }
    let local = a.lime.for_label(a.target.class);
    Ok(ImageResult {
        image: a.file.clone(),
        name: a.name.clone(),
        target: a.target.clone(),
        expected_class,
        top5: a.top5.clone(),
        edge_density: edge_density(&a.view),
        lime: LimeSummary {
            superpixels: a.lime.n_segments,
            mask_pixels: count(a.lime_maps.mask.view()),
            surrogate_r2: local.map(|l| l.score),
            local_prediction: local.map(|l| l.local_pred),
            seconds: a.lime_seconds,
        },
        cams: a
            .cams
            .iter()
            .zip(agreement.cams)
            .map(|(c, agreement)| CamSummary {
                method: c.method,
                seconds: c.seconds,
                agreement: agreement.agreement,
            })
            .collect(),
        faithfulness,
    })
}

/// Runs the whole report and writes it into `config.out_dir`.
pub async fn write(config: &ReportConfig, progress: &dyn Progress) -> Result<ReportSummary> {
    let started = Instant::now();
    let out = &config.out_dir;
    let fig_dir = out.join("fig");
    std::fs::create_dir_all(&fig_dir)
        .with_context(|| format!("cannot create {}", fig_dir.display()))?;

    let model = Model::from_path(&config.manifest)?;
    let classifier = Classifier::load(model.clone(), config.engine, None).await?;
    // LIME's batches sized to the engine's (a static batch-8 graph would pad a batch of 10 to 16).
    let config = &ReportConfig {
        lime: LimeParams {
            batch_size: classifier.engine.max_batch(),
            ..config.lime.clone()
        },
        ..config.clone()
    };
    let background_offset = model.manifest.labels.background_offset;
    let wnids: Vec<String> =
        std::fs::read_to_string(config.shared_data.join("labels/imagenet_wnids.txt"))
            .map(|t| t.lines().map(str::to_string).collect())
            .unwrap_or_default();
    let mut data = ReportData {
        run: RunInfo {
            model: if config.model_description.is_empty() {
                format!("{} ({})", model.manifest.name, model.manifest.description)
            } else {
                config.model_description.clone()
            },
            warning: model.manifest.provenance_warning(),
            run_note: config.run_note.clone(),
            engine: classifier.engine.name(),
            explained: config.explained.clone(),
            cams: config.cams.clone(),
            lime: config.lime.clone(),
            causal: config.causal,
            cascade: config.cascade.clone(),
            sanity_seed: config.sanity_seed,
            sanity_images: config.sanity_images.min(config.images.len()),
            view: classifier.preprocessing().describe(),
            input: classifier.input_size(),
            features: Size {
                height: 0,
                width: 0,
            },
            dissect_dir: config.dissect_dir.clone(),
            shared_data: config.shared_data.clone(),
        },
        images: Vec::new(),
        objects: Vec::new(),
        sanity: Vec::new(),
        photos: Vec::new(),
    };
    let save_photo = |data: &mut ReportData, img: &RgbImage, name: String| -> Result<()> {
        let path = fig_dir.join(&name);
        std::fs::write(&path, crate::render::png_rgb(img)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        data.photos.push(format!("fig/{name}"));
        Ok(())
    };

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
        let a = match &config.explained {
            Some(dir) => {
                analyse_explained(&classifier, &image, &file, dir, config.methods(), progress)
                    .await?
            }
            None => analyse(&classifier, &image, &file, None, config.methods(), progress).await?,
        };
        let expected = expected_class(&file, &wnids, background_offset);
        data.run.features = a.features;
        data.images
            .push(image_result(&classifier, &a, expected, &config.causal, progress).await?);
        save_photo(
            &mut data,
            &methods_strip(&a)?,
            format!("{}_methods.png", a.name),
        )?;
        analysed.push(a);
    }
    // Rendered after every section (so a long run leaves a usable report behind); the last one's files
    // are the report's.
    let mut files = super::render::write(&data, out)?;

    // Objects: does the explanation fall on the object?
    if let Some(job) = &config.objects {
        for case in cases::read(job, &config.shared_data)? {
            progress.stage(&format!("object case {}", case.name), 1);
            object_results(&classifier, &case, config, &mut data, &save_photo, progress).await?;
        }
        files = super::render::write(&data, out)?;
    }

    // Sanity check: cascading randomisation.
    let sanity_count = data.run.sanity_images;
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
                Some(a.target.class),
                Methods {
                    cams: &config.cams,
                    lime: &lime_all,
                },
                progress,
            )
            .await?;
            randomized_top1.push(RandomizedPrediction {
                image: a.file.clone(),
                prediction: r.top5[0].clone(),
            });
            for (original, random) in a.maps().into_iter().zip(r.maps()) {
                changes.push(SanityChange {
                    image: a.file.clone(),
                    method: original.method,
                    change: map_change(original.map, random.map)?,
                });
            }
            rows.push(r);
        }
        save_photo(
            &mut data,
            &sanity_grid(&analysed[..sanity_count], &rows)?,
            format!("sanity_stage{stage}.png"),
        )?;
        data.sanity.push(SanityStage {
            stage,
            layers: randomized.layers,
            changes,
            randomized_top1,
        });
        files = super::render::write(&data, out)?;
    }

    Ok(ReportSummary {
        files,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Every mask of one object case against every map of its image.
async fn object_results(
    classifier: &Classifier,
    case: &ObjectCase,
    config: &ReportConfig,
    data: &mut ReportData,
    save_photo: &dyn Fn(&mut ReportData, &RgbImage, String) -> Result<()>,
    progress: &dyn Progress,
) -> Result<()> {
    let image = preprocess::load(&case.image, &ImageLimits::default())?;
    let a = analyse(
        classifier,
        &image,
        &case.name,
        None,
        config.methods(),
        progress,
    )
    .await?;
    for object in &case.masks {
        let mask = mask_to_model_grid(object.mask.view(), |img| {
            preprocess::model_view(img, classifier.preprocessing())
        })?;
        let object_pixels = count(mask.view());
        let mut methods = Vec::new();
        for m in a.maps() {
            let top = top_k_mask(m.map, object_pixels);
            methods.push(ObjectHit {
                method: m.method,
                pointing_hit: pointing_game(m.map, mask.view(), 0.0)?,
                iou_top_object: iou(top.view(), mask.view())?,
                mass_on_object: mass_share(m.map, mask.view()),
            });
        }
        save_photo(
            data,
            &object_strip(&a, &mask)?,
            format!("object_{}.png", object.name),
        )?;
        data.objects.push(ObjectResult {
            case: object.name.clone(),
            mask_source: object.source.clone(),
            target: a.target.clone(),
            object_pixels,
            methods,
            lime_mask_iou: iou(a.lime_maps.mask.view(), mask.view())?,
        });
    }
    Ok(())
}

/// Share of a map's (non-negative part's) mass inside the mask: the "energy-based pointing game".
fn mass_share(map: ArrayView2<f32>, mask: ArrayView2<bool>) -> f64 {
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

/// One panel per CAM, each drawn over `base` (the view, or the view with an outline).
fn cam_panels(a: &Analysed, base: &RgbImage) -> Result<Vec<RgbImage>> {
    a.cams
        .iter()
        .map(|c| panels::heat(base, c.map.view()))
        .collect()
}

/// The view, the LIME mask, LIME's weights, then the CAMs (the caption in D2 names them).
fn methods_strip(a: &Analysed) -> Result<RgbImage> {
    let mut row = vec![
        a.view.clone(),
        panels::outline(&a.view, &a.lime_maps.mask),
        panels::lime_weights(&a.view, &a.lime_maps.weights)?,
    ];
    row.extend(cam_panels(a, &a.view)?);
    Ok(panels::strip(&row))
}

/// The object mask, the LIME mask, then the CAMs with the object outlined.
fn object_strip(a: &Analysed, mask: &Array2<bool>) -> Result<RgbImage> {
    let mut row = vec![
        panels::outline(&a.view, mask),
        panels::outline(&a.view, &a.lime_maps.mask),
    ];
    row.extend(cam_panels(a, &panels::outline(&a.view, mask))?);
    Ok(panels::strip(&row))
}

/// Two rows per image, trained then randomised: the view, LIME's weights, the CAMs.
fn sanity_grid(original: &[Analysed], randomized: &[Analysed]) -> Result<RgbImage> {
    let mut rows = Vec::new();
    for (o, r) in original.iter().zip(randomized) {
        for a in [o, r] {
            let mut row = vec![
                a.view.clone(),
                panels::lime_weights(&a.view, &a.lime_maps.weights)?,
            ];
            row.extend(cam_panels(a, &a.view)?);
            rows.push(panels::strip(&row));
        }
    }
    Ok(panels::stack(&rows))
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
