//! The `glassbox` command line: a thin shell over the library. It parses arguments, shows progress
//! bars and writes files; every number comes from the same library calls the browser makes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, ensure, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use glassbox::cam::{CamMethod, CamOptions};
use glassbox::compare::lime_vs_cam::{self, CamMap, LimeMaps};
use glassbox::engine::EngineKind;
use glassbox::explain::{self, Explanation};
use glassbox::lime::{LimeExplanation, LimeParams, Stability, StabilityRun};
use glassbox::model::{Classifier, Model};
use glassbox::progress::Progress;
use glassbox::results::{
    AgreementSet, AgreementTable, CamRecord, ExplainedImage, ExplanationRecord, ImageAgreement,
    LimeRecord, MethodRecords, ModelIdentity,
};
use glassbox::{npy, preprocess, render};

#[derive(Parser)]
#[command(
    name = "glassbox",
    version,
    about = "Explain what image classifiers see: Grad-CAM family, LIME, CLIP-Dissect"
)]
struct Cli {
    /// Threads of the CPU engines (default: every core; results do not depend on it).
    #[arg(long, global = true)]
    threads: Option<std::num::NonZeroUsize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Classify images and explain the prediction with CAMs and LIME; writes .npy, .png and explanation.json.
    Explain(ExplainArgs),
    /// Write the full report (D1-D4 Markdown, figures, results.json): LIME vs CAMs, faithfulness, sanity check.
    Report(ReportArgs),
    /// Agreement of each CAM with LIME (IoU at three thresholds, Spearman, pointing game) for every image
    /// of `glassbox explain` output; writes agreement.json and prints a table.
    Compare(CompareArgs),
    /// Forward pass per image of each engine and graph (interleaved rounds, onnxruntime as the yardstick),
    /// and each method's cost against its passes.
    Bench(BenchArgs),
    /// CLIP-Dissect: label every unit of the job's layers with a concept (soft-WPMI); writes tables.
    Dissect(DissectArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum EngineArg {
    /// onnxruntime when its library is found (ORT_DYLIB_PATH, the export venv, the system), else tract.
    Auto,
    /// tract (built in).
    #[value(name = "cpu")]
    Tract,
    /// onnxruntime, loaded at run time.
    Onnxruntime,
    /// wonnx on a WebGPU/Vulkan/Metal adapter.
    Webgpu,
}

impl EngineArg {
    /// The engine to load; `auto` says on stderr which one it picked and why.
    fn resolve(self) -> EngineKind {
        match self {
            EngineArg::Auto => {
                let choice = glassbox::engine::fastest_cpu();
                eprintln!("engine (auto): {}", choice.reason);
                choice.kind
            }
            EngineArg::Tract => EngineKind::Tract,
            EngineArg::Onnxruntime => EngineKind::Onnxruntime,
            EngineArg::Webgpu => EngineKind::Webgpu,
        }
    }
}

#[derive(Args)]
struct ModelArgs {
    /// A model manifest (.json) or a bare .onnx (torchvision preprocessing, ImageNet labels).
    #[arg(long, default_value = "models/mobilenet_v2_1.0_224.json")]
    model: PathBuf,
    /// Inference engine.
    #[arg(long, value_enum, default_value = "auto")]
    engine: EngineArg,
    /// Images per engine call (graphs with a dynamic batch axis; LIME's prediction batches).
    #[arg(long)]
    batch: Option<usize>,
    /// Refuse images with more pixels than this (decompression bombs).
    #[arg(long, default_value_t = 64.0)]
    max_megapixels: f64,
    /// How images are cut to the model's input: `manifest` (the model's own transforms; ResNet-50 V2:
    /// Resize(232) + CenterCrop(224)) or `lime-tutorial` (Resize((256, 256)) + CenterCrop(224), lime's
    /// image tutorial, to reproduce its LIME exactly).
    #[arg(long, value_enum, default_value = "manifest")]
    view: ViewArg,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ViewArg {
    Manifest,
    LimeTutorial,
}

#[derive(Args)]
struct ExplainArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Output folder: one sub-folder per image.
    #[arg(long)]
    out: PathBuf,
    /// Comma-separated methods: gradcam, ablationcam, scorecam, gradcamplusplus, xgradcam, layercam,
    /// eigencam, hirescam, or `all`.
    #[arg(
        long,
        default_value = "gradcam,ablationcam,scorecam",
        value_delimiter = ','
    )]
    methods: Vec<String>,
    /// Class to explain (index into the logits); default: the top-1 class of each image.
    #[arg(long)]
    target: Option<usize>,
    /// LIME: perturbed samples (the tutorial's num_samples).
    #[arg(long, default_value_t = 1000)]
    samples: usize,
    /// LIME: seed of the perturbation masks (numpy RandomState stream, as lime draws it).
    #[arg(long, default_value_t = 0)]
    seed: u32,
    /// LIME: run this many seeds (seed, seed+1, ...) and report each superpixel's top-5 frequency and the
    /// masks' mean pairwise IoU.
    #[arg(long, default_value_t = 1)]
    seeds: u32,
    /// Weight of the image in the overlays (`show_cam_on_image`'s image_weight).
    #[arg(long, default_value_t = 0.5)]
    image_weight: f32,
    /// Turn each image the way its EXIF orientation tag says a viewer shows it (a photo of your own;
    /// recorded in explanation.json). Default: the pixels as stored, as Pillow, and so every Python reference
    /// (lime's and pytorch-grad-cam's tutorials, torchvision), reads them.
    #[arg(long)]
    upright: bool,
    /// Images to explain (JPEG, PNG, BMP, WebP).
    #[arg(required = true)]
    images: Vec<PathBuf>,
}

/// indicatif bars behind the library's `Progress` trait.
struct Bars {
    bar: ProgressBar,
    started: web_time::Instant,
}

impl Bars {
    fn new() -> Bars {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>28} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        Bars {
            bar,
            started: web_time::Instant::now(),
        }
    }
}

impl Progress for Bars {
    fn stage(&self, name: &str, total: u64) {
        // indicatif draws nothing when stderr is not a terminal (CI, nohup, a pipe): a line per stage
        // keeps an hour-long run's log readable there.
        if self.bar.is_hidden() {
            eprintln!(
                "[{:>8.1} s] {name} ({total})",
                self.started.elapsed().as_secs_f64()
            );
        }
        self.bar.set_prefix(name.to_string());
        self.bar.set_length(total);
        self.bar.set_position(0);
        self.bar.reset_elapsed();
    }
    fn advance(&self, n: u64) {
        self.bar.inc(n);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let threads = cli
        .threads
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, |n| n.get());
    glassbox::engine::set_threads(threads);
    let result = match cli.command {
        Command::Explain(args) => pollster::block_on(explain_command(args)),
        Command::Report(args) => pollster::block_on(report_command(args)),
        Command::Compare(args) => compare_command(args),
        Command::Dissect(args) => pollster::block_on(dissect_command(args)),
        Command::Bench(args) => pollster::block_on(bench_command(args, threads)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The CAM methods asked for, and whether LIME was.
fn parse_methods(names: &[String]) -> Result<(Vec<CamMethod>, bool)> {
    if names.iter().any(|n| n.eq_ignore_ascii_case("all")) {
        return Ok((CamMethod::ALL.to_vec(), true));
    }
    let lime = names.iter().any(|n| n.trim().eq_ignore_ascii_case("lime"));
    let cams = names
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty() && !n.eq_ignore_ascii_case("lime"))
        .map(CamMethod::from_name)
        .collect::<Result<_>>()?;
    Ok((cams, lime))
}

async fn load_classifier(args: &ModelArgs) -> Result<Classifier> {
    // Every error of `from_path` names the file it is about.
    let mut model = Model::from_path(&args.model)?;
    if args.view == ViewArg::LimeTutorial {
        model.manifest.preprocessing = model
            .manifest
            .preprocessing
            .lime_tutorial()
            .with_context(|| format!("--view lime-tutorial with {}", args.model.display()))?;
    }
    // The engine's and the head check's errors do not know the file: name it.
    Classifier::load(model, args.engine.resolve(), args.batch)
        .await
        .with_context(|| format!("loading {}", args.model.display()))
}

async fn explain_command(args: ExplainArgs) -> Result<()> {
    let (methods, with_lime) = parse_methods(&args.methods)?;
    ensure!(args.seeds >= 1, "--seeds must be at least 1");
    let classifier = load_classifier(&args.model).await?;
    eprintln!(
        "model {} on {}",
        classifier.model.manifest.name,
        classifier.engine.name()
    );
    let bars = Bars::new();
    let options = CamOptions::default();
    let lime_params = LimeParams {
        num_samples: args.samples,
        seed: args.seed,
        batch_size: args
            .model
            .batch
            .unwrap_or_else(|| classifier.engine.max_batch()),
        ..LimeParams::default()
    };
    let limits = image_limits(args.model.max_megapixels);
    for path in &args.images {
        let mut image = preprocess::load(path, &limits)?;
        let mut turned_upright = None;
        if args.upright {
            let orientation = preprocess::exif_orientation(&std::fs::read(path)?)
                .with_context(|| format!("{}: EXIF orientation", path.display()))?;
            if orientation != image::metadata::Orientation::NoTransforms {
                image = preprocess::upright(image, orientation);
                turned_upright = Some(format!("{orientation:?}"));
            }
        }
        let explanation =
            explain::explain_cams(&classifier, &image, &methods, args.target, &options, &bars)
                .await?;
        let dir = args.out.join(image_stem(path)?);
        let lime = if with_lime {
            let seeds: Vec<u32> = (0..args.seeds).map(|i| args.seed + i).collect();
            let started = web_time::Instant::now();
            // One seed is plain LIME; several also measure how stable its answer is.
            let (explanation, stability) = if seeds.len() == 1 {
                let lime =
                    explain::explain_lime(&classifier, &explanation.view, &lime_params, &bars)
                        .await?;
                (lime, None)
            } else {
                let StabilityRun {
                    mut runs,
                    stability,
                } = explain::lime_stability(
                    &classifier,
                    &explanation.view,
                    &lime_params,
                    &seeds,
                    &bars,
                )
                .await?;
                (runs.swap_remove(0), Some(stability))
            };
            Some(LimeOutput {
                explanation,
                stability,
                seconds: started.elapsed().as_secs_f64() / seeds.len() as f64,
            })
        } else {
            None
        };
        write_explanation(
            &dir,
            path,
            &classifier,
            &explanation,
            lime.as_ref(),
            args.image_weight,
            turned_upright,
        )?;
        eprintln!(
            "{}: {} ({:.1}%) → {}",
            path.display(),
            explanation.top5[0].label,
            100.0 * explanation.top5[0].probability,
            dir.display()
        );
    }
    bars.bar.finish_and_clear();
    Ok(())
}

fn image_stem(path: &Path) -> Result<String> {
    match path.file_stem() {
        Some(stem) => Ok(stem.to_string_lossy().into_owned()),
        None => bail!("cannot name an output folder after {}", path.display()),
    }
}

/// LIME's result for one image: the first seed's explanation, and the spread over seeds when asked.
struct LimeOutput {
    explanation: LimeExplanation,
    stability: Option<Stability>,
    seconds: f64,
}

fn image_limits(max_megapixels: f64) -> preprocess::ImageLimits {
    preprocess::ImageLimits {
        max_pixels: (max_megapixels * 1e6) as u64,
    }
}

fn write_explanation(
    dir: &Path,
    image_path: &Path,
    classifier: &Classifier,
    explanation: &Explanation,
    lime: Option<&LimeOutput>,
    image_weight: f32,
    turned_upright: Option<String>,
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut methods = MethodRecords {
        cams: Default::default(),
        lime: None,
    };
    for timed in &explanation.cams {
        let name = timed.cam.method.name();
        npy::write(
            &dir.join(format!("{name}.npy")),
            &timed.cam.map.view().into_dyn(),
        )?;
        let overlay = render::overlay(&explanation.view, timed.cam.map.view(), image_weight)?;
        let png = dir.join(format!("{name}.png"));
        std::fs::write(&png, render::png_rgb(&overlay)?)
            .with_context(|| format!("cannot write {}", png.display()))?;
        methods.cams.insert(
            timed.cam.method,
            CamRecord {
                seconds: timed.seconds,
            },
        );
    }
    let mut agreement = None;
    if let Some(lime) = lime {
        let lime_explanation = &lime.explanation;
        npy::write(
            &dir.join("lime_segments.npy"),
            &lime_explanation.segments.view().into_dyn(),
        )?;
        let target = explanation.target.class;
        let maps = LimeMaps::of(lime_explanation, target).with_context(|| {
            format!(
                "LIME explains the top {} classes of the unperturbed image; the target class {target} \
                 is not among them: choose one of those with --target",
                lime_explanation.top_labels.len(),
            )
        })?;
        let mask = maps.mask.mapv(u8::from);
        npy::write(&dir.join("lime_mask.npy"), &mask.view().into_dyn())?;
        let view = glassbox::lime::rgb_array(&explanation.view);
        let (h, w, _) = view.dim();
        let rgba = image::RgbaImage::from_raw(
            w as u32,
            h as u32,
            glassbox::lime::mark_boundaries_rgba(view.view(), mask.mapv(i32::from).view()),
        )
        .context("LIME overlay has the wrong size")?;
        let png = dir.join("lime.png");
        std::fs::write(&png, render::png_rgba(&rgba)?)
            .with_context(|| format!("cannot write {}", png.display()))?;
        if !explanation.cams.is_empty() {
            let cams: Vec<CamMap> = explanation
                .cams
                .iter()
                .map(|c| CamMap {
                    method: c.cam.method,
                    map: c.cam.map.view(),
                })
                .collect();
            agreement = Some(lime_vs_cam::compare(
                &cams,
                &maps,
                lime_vs_cam::DEFAULT_THRESHOLD,
            )?);
        }
        methods.lime = Some(LimeRecord {
            seconds: lime.seconds,
            explanation: lime_explanation.clone(),
            stability: lime.stability.clone(),
        });
    }
    let manifest = &classifier.model.manifest;
    let record = ExplanationRecord {
        image: image_path.display().to_string(),
        model: ModelIdentity {
            name: manifest.name.clone(),
            description: manifest.description.clone(),
            sha256: manifest.sha256.clone(),
        },
        engine: classifier.engine.name(),
        input_size: classifier.input_size(),
        view: classifier.preprocessing().describe(),
        top5: explanation.top5.clone(),
        target: explanation.target.clone(),
        forward_seconds: explanation.forward_seconds,
        methods,
        agreement,
        turned_upright,
    };
    let path = dir.join("explanation.json");
    std::fs::write(&path, serde_json::to_string_pretty(&record)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

// ---- `glassbox compare` ----

#[derive(Args)]
struct CompareArgs {
    /// A `glassbox explain` output folder with LIME and CAMs for each image (`<dir>/<image>/`).
    #[arg(long, conflicts_with_all = ["lime", "cam"], required_unless_present_all = ["lime", "cam"])]
    explained: Option<PathBuf>,
    /// An explain output folder with LIME for each image (with --cam: the CAMs come from another run).
    #[arg(long, requires = "cam")]
    lime: Option<PathBuf>,
    /// An explain output folder with the CAMs of the same images, model and classes as --lime's.
    #[arg(long, requires = "lime")]
    cam: Option<PathBuf>,
    /// The CAM threshold of the third IoU (CAM ≥ threshold, maps normalised to [0, 1]).
    #[arg(long, default_value_t = lime_vs_cam::DEFAULT_THRESHOLD)]
    threshold: f32,
    /// Where the JSON goes (default: agreement.json in the --explained or --cam folder).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// The images of the compare run: each with its CAMs and the LIME explanation they meet.
fn compare_inputs(args: &CompareArgs) -> Result<(Vec<ExplainedImage>, PathBuf)> {
    if let Some(dir) = &args.explained {
        return Ok((ExplainedImage::read_folder(dir)?, dir.clone()));
    }
    let (lime_dir, cam_dir) = (
        args.lime
            .as_ref()
            .context("--lime is required without --explained")?,
        args.cam
            .as_ref()
            .context("--cam is required without --explained")?,
    );
    let lime_images = ExplainedImage::read_folder(lime_dir)?;
    let mut merged = Vec::new();
    for mut image in ExplainedImage::read_folder(cam_dir)? {
        let stem = image.dir.file_name().map(|n| n.to_os_string());
        let with_lime = lime_images
            .iter()
            .find(|l| l.dir.file_name().map(|n| n.to_os_string()) == stem)
            .with_context(|| {
                format!(
                    "{} has no LIME counterpart in {}",
                    image.dir.display(),
                    lime_dir.display()
                )
            })?;
        ensure!(
            with_lime.record.model.sha256 == image.record.model.sha256
                && with_lime.record.target.class == image.record.target.class,
            "{} and {} differ in model or explained class: they cannot be compared",
            image.dir.display(),
            with_lime.dir.display()
        );
        image.lime = with_lime.lime.clone();
        merged.push(image);
    }
    Ok((merged, cam_dir.clone()))
}

fn compare_command(args: CompareArgs) -> Result<()> {
    let (images, folder) = compare_inputs(&args)?;
    let mut table = AgreementTable {
        threshold: args.threshold,
        images: Vec::new(),
    };
    for image in &images {
        let agreement: AgreementSet = image.agreement(args.threshold)?;
        table.images.push(ImageAgreement {
            image: image
                .dir
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            target: image.record.target.clone(),
            agreement,
        });
    }
    let t = args.threshold;
    println!(
        "| image | class | CAM | IoU same count | IoU top 20 % | IoU ≥ {t} | Spearman | pointing |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let num = |v: Option<f64>| v.map_or_else(|| "n/a".to_string(), |v| format!("{v:.3}"));
    for image in &table.images {
        let partial = if image.agreement.lime_partial {
            " (partial LIME)"
        } else {
            ""
        };
        for cam in &image.agreement.cams {
            let a = &cam.agreement;
            println!(
                "| {}{partial} | {} | {} | {} | {} | {} | {} | {} |",
                image.image,
                image.target.label,
                cam.method.name(),
                num(a.iou_same_count),
                num(a.iou_top20),
                num(cam.iou_at_threshold),
                num(a.spearman),
                if a.pointing_hit { "hit" } else { "miss" }
            );
        }
    }
    let out = args.out.unwrap_or_else(|| folder.join("agreement.json"));
    std::fs::write(&out, serde_json::to_string_pretty(&table)? + "\n")
        .with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

// ---- `glassbox report` ----

#[derive(Args)]
struct ReportArgs {
    /// The model manifest the report explains.
    #[arg(long, default_value = "models/mobilenet_v2_1.0_224.json")]
    model: PathBuf,
    /// Inference engine.
    #[arg(long, value_enum, default_value = "auto")]
    engine: EngineArg,
    /// The shared data folder (default: $GLASSBOX_SHARED/data or ../shared/data).
    #[arg(long)]
    shared: Option<PathBuf>,
    /// Folder of the dissection tables (D1).
    #[arg(long, default_value = "precomputed/dissect")]
    dissect: PathBuf,
    /// Output folder (Markdown, fig/, results.json) [default: precomputed/report].
    #[arg(long)]
    out: Option<PathBuf>,
    /// LIME perturbation samples per image.
    #[arg(long, default_value_t = 1000)]
    lime_samples: usize,
    /// Pixels changed per deletion/insertion step.
    #[arg(long, default_value_t = 224 * 7)]
    causal_step: usize,
    /// Numbers of top layers re-initialised by the sanity check, in cascade order (`--cascade` with no
    /// value: skip the sanity check).
    #[arg(long, value_delimiter = ',', num_args = 0.., default_value = "1,2,5")]
    cascade: Vec<usize>,
    /// Images the sanity check re-explains.
    #[arg(long, default_value_t = 3)]
    sanity_images: usize,
    /// Only the first N images (default: all).
    #[arg(long)]
    limit: Option<usize>,
    /// The object cases (image, masks of the object; paths relative to the shared data folder).
    #[arg(long, default_value = "precomputed/report/jobs/objects.json")]
    objects: PathBuf,
    /// Skip the object-mask section.
    #[arg(long)]
    no_objects: bool,
    /// Only write the documents and charts again from this results.json of an earlier run (seconds, no
    /// model runs); into --out when given, else next to it.
    #[arg(long, value_name = "RESULTS_JSON")]
    render_only: Option<PathBuf>,
    /// The sentence naming the model and its weights in the text (default: the manifest's name and description).
    #[arg(long)]
    model_description: Option<String>,
    /// The images of D2/D3 (default: every JPEG in <shared>/imagenet-samples).
    #[arg(long, num_args = 1..)]
    images: Vec<PathBuf>,
    /// A `glassbox explain --methods all` output folder for these images and this model: its maps are used
    /// instead of computing the CAMs and LIME again.
    #[arg(long)]
    explained: Option<PathBuf>,
    /// A sentence about this run (e.g. what a quick run cut), written at the top of every document.
    #[arg(long, default_value = "")]
    run_note: String,
    /// The CAMs compared with LIME.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "gradcam,ablationcam,scorecam"
    )]
    cams: Vec<String>,
}

async fn report_command(args: ReportArgs) -> Result<()> {
    if let Some(results) = &args.render_only {
        let started = web_time::Instant::now();
        let files = glassbox::report::output::render_only(results, args.out.as_deref())?;
        println!(
            "report rendered again from {}: {} files in {:.1} s",
            results.display(),
            files.len(),
            started.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    let shared = args
        .shared
        .clone()
        .unwrap_or_else(glassbox::files::shared_data_dir);
    let mut config = glassbox::report::ReportConfig::standard(
        args.model,
        shared,
        args.dissect,
        args.out
            .unwrap_or_else(|| PathBuf::from("precomputed/report")),
        args.objects,
    )?;
    config.engine = args.engine.resolve();
    config.lime.num_samples = args.lime_samples;
    config.causal.step = args.causal_step;
    config.cascade = args.cascade;
    config.sanity_images = args.sanity_images;
    if args.no_objects {
        config.objects = None;
    }
    config.model_description = args.model_description.unwrap_or_default();
    config.explained = args.explained;
    config.run_note = args.run_note;
    config.cams = args
        .cams
        .iter()
        .map(|name| CamMethod::from_name(name.trim()))
        .collect::<Result<_>>()?;
    ensure!(!config.cams.is_empty(), "--cams needs at least one CAM");
    if !args.images.is_empty() {
        config.images = args.images;
    }
    if let Some(n) = args.limit {
        config.images.truncate(n);
    }
    let summary = glassbox::report::write(&config, &Bars::new()).await?;
    println!(
        "report: {} files in {:.0} s, start at {}",
        summary.files.len(),
        summary.seconds,
        config.out_dir.join("results.md").display()
    );
    Ok(())
}

#[derive(Args)]
struct DissectArgs {
    /// Dissection jobs (JSON `DissectJob`: target model and layers, probe folder, concept set, matcher;
    /// relative paths are relative to the job file), e.g. precomputed/dissect/jobs/*.json.
    #[arg(long = "job", required_unless_present = "list_probe")]
    jobs: Vec<PathBuf>,
    /// Only print the images of this probe folder, one per line, in the order a dissection reads them
    /// (torchvision ImageFolder's), after `--probe-every`.
    #[arg(long, value_name = "DIR", conflicts_with = "jobs")]
    list_probe: Option<PathBuf>,
    /// With --list-probe: every k-th image only.
    #[arg(long, value_name = "K", requires = "list_probe")]
    probe_every: Option<usize>,
    /// With --list-probe: decode each image and print `id<TAB>width<TAB>height<TAB>sha256` of its RGB
    /// pixels (what models/check_decoding.py compares with Pillow's).
    #[arg(long, requires = "list_probe")]
    pixels: bool,
    /// Where the per-layer tables and summary.json go.
    #[arg(long, default_value = "precomputed/dissect")]
    out: PathBuf,
    /// Recompute activations even when the on-disk cache has them.
    #[arg(long)]
    no_cache: bool,
    /// Inference engine of the target model and of CLIP.
    #[arg(long, value_enum, default_value = "auto")]
    engine: EngineArg,
}

async fn dissect_command(args: DissectArgs) -> Result<()> {
    use glassbox::dissect::job::{run_job, write_tables, DissectJob};
    if let Some(dir) = &args.list_probe {
        let mut probe = glassbox::dissect::probe::ProbeSet::from_dir(dir)?;
        if let Some(k) = args.probe_every {
            probe = probe.every(k)?;
        }
        let limits = preprocess::ImageLimits::default();
        for (i, image) in probe.images.iter().enumerate() {
            if args.pixels {
                let rgb = preprocess::load(&probe.path(i), &limits)?;
                let sha = glassbox::files::sha256_hex(rgb.as_raw());
                println!("{}\t{}\t{}\t{sha}", image.id, rgb.width(), rgb.height());
            } else {
                println!("{}", image.id);
            }
        }
        return Ok(());
    }
    let bars = Bars::new();
    let mut tables = Vec::new();
    let engine = args.engine.resolve();
    for path in &args.jobs {
        let mut job = DissectJob::from_file(path)?;
        if args.no_cache {
            job.cache_dir = None;
        }
        let run = run_job(&job, engine, &bars).await?;
        let t = &run.timings;
        eprintln!(
            "{}: {} images, target activations {}, matcher image embedding {}, soft_wpmi {:.1}s",
            job.target.name,
            t.images_processed,
            t.rate(t.target_s),
            t.rate(t.matcher_s),
            t.wpmi_s
        );
        for written in write_tables(&run.tables, &args.out)? {
            eprintln!("wrote {}", written.display());
        }
        tables.extend(run.tables);
    }
    bars.bar.finish_and_clear();
    let summary = args.out.join("summary.json");
    std::fs::write(
        &summary,
        serde_json::to_string_pretty(&glassbox::dissect::tables::summarize(&tables))? + "\n",
    )
    .with_context(|| format!("cannot write {}", summary.display()))?;
    eprintln!("wrote {}", summary.display());
    Ok(())
}

#[derive(Args)]
struct BenchArgs {
    /// Model manifests (.json) or bare .onnx files to time; e.g. a graph at batch 1 and its batch-8 export.
    #[arg(
        long,
        num_args = 1..,
        default_values = ["models/mobilenet_v2_1.0_224.json", "models/mobilenet_v2_1.0_224_b8.json"]
    )]
    models: Vec<PathBuf>,
    /// Engines to time (default: the CPU engines available here: cpu, and onnxruntime when it loads;
    /// `webgpu` only when named).
    #[arg(long, value_delimiter = ',')]
    engines: Vec<String>,
    /// Interleaved rounds (every graph on every engine, then again).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Timed passes per graph, engine and round.
    #[arg(long, default_value_t = 3)]
    passes: usize,
    /// Methods to time on each graph and engine, as a multiple of their forward passes (CAM names and
    /// `lime`; empty: none). ScoreCAM on a 2048-channel ResNet-50 takes minutes.
    #[arg(long, value_delimiter = ',', default_value = "gradcam,lime")]
    methods: Vec<String>,
    /// LIME samples (the tutorial's 1000).
    #[arg(long, default_value_t = 1000)]
    lime_samples: usize,
    /// The image the methods explain (default: the goldfish of the shared data's ImageNet samples).
    #[arg(long)]
    image: Option<PathBuf>,
    /// The yardstick: onnxruntime's own forward pass through this Python (with onnxruntime installed),
    /// on the same graphs and threads, in the same rounds.
    #[arg(long)]
    ort_python: Option<PathBuf>,
    /// Also write every measurement as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Refuse images with more pixels than this (decompression bombs).
    #[arg(long, default_value_t = 64.0)]
    max_megapixels: f64,
}

/// Every measurement of one `glassbox bench` run (`--json`).
#[derive(serde::Serialize)]
struct BenchRun {
    threads: usize,
    forward: Vec<glassbox::bench::ForwardTiming>,
    methods: Vec<glassbox::bench::MethodTiming>,
}

/// The engines `bench` times: those named, or every CPU engine that loads here.
fn bench_engines(names: &[String]) -> Result<Vec<EngineKind>> {
    if names.is_empty() {
        let mut kinds = vec![EngineKind::Tract];
        let fastest = glassbox::engine::fastest_cpu();
        eprintln!("bench: {}", fastest.reason);
        if fastest.kind != EngineKind::Tract {
            kinds.push(fastest.kind);
        }
        return Ok(kinds);
    }
    names.iter().map(|n| n.trim().parse()).collect()
}

/// onnxruntime's forward pass of `onnx` in Python: milliseconds per image of `passes` passes.
fn ort_python_passes(
    python: &Path,
    onnx: &[u8],
    passes: usize,
    threads: usize,
) -> Result<Vec<f64>> {
    let file = std::env::temp_dir().join(format!("glassbox-bench-{}.onnx", std::process::id()));
    std::fs::write(&file, onnx).with_context(|| format!("cannot write {}", file.display()))?;
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/reference/ort_forward_bench.py");
    let out = std::process::Command::new(python)
        .arg(&script)
        .arg(&file)
        .args([
            "--passes",
            &passes.to_string(),
            "--threads",
            &threads.to_string(),
        ])
        .output()
        .with_context(|| format!("running {}", python.display()));
    std::fs::remove_file(&file).ok();
    let out = out?;
    ensure!(
        out.status.success(),
        "the onnxruntime yardstick ({} {}) failed: {}",
        python.display(),
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).context("the onnxruntime yardstick's output")
}

async fn bench_command(args: BenchArgs, threads: usize) -> Result<()> {
    use glassbox::bench::{time_forward, time_methods, ForwardTiming};
    let kinds = bench_engines(&args.engines)?;
    let (cams, lime) = parse_methods(&args.methods)?;
    let image_path = args.image.clone().unwrap_or_else(|| {
        glassbox::files::shared_data_dir().join("imagenet-samples/n01443537_goldfish.JPEG")
    });
    // Read first, so a missing image stops the run before the timing; only the methods need it.
    let image = if cams.is_empty() && !lime {
        None
    } else {
        Some(preprocess::load(
            &image_path,
            &image_limits(args.max_megapixels),
        )?)
    };

    let passes = args.passes.max(1);
    let rounds = args.rounds.max(1);
    // One graph on each engine, and its onnxruntime-in-Python yardstick when asked for.
    struct Graph {
        engines: Vec<(Classifier, ForwardTiming)>,
        yardstick: Option<ForwardTiming>,
    }
    let timing = |classifier: &Classifier, engine: String| ForwardTiming {
        graph: classifier.model.manifest.name.clone(),
        engine,
        batch: classifier.engine.max_batch(),
        per_image_ms: Vec::new(),
    };
    let mut graphs = Vec::new();
    for path in &args.models {
        let model = Model::from_path(path)?;
        let mut engines = Vec::new();
        for &kind in &kinds {
            let classifier = Classifier::load(model.clone(), kind, None).await?;
            let t = timing(&classifier, classifier.engine.name());
            engines.push((classifier, t));
        }
        let yardstick = args
            .ort_python
            .as_ref()
            .map(|_| timing(&engines[0].0, "onnxruntime (Python)".to_string()));
        graphs.push(Graph { engines, yardstick });
    }
    for round in 0..rounds {
        eprintln!("bench: round {} of {rounds}", round + 1);
        for graph in &mut graphs {
            for (classifier, t) in &mut graph.engines {
                time_forward(classifier, passes, true, t).await?;
            }
            if let (Some(python), Some(t)) = (&args.ort_python, &mut graph.yardstick) {
                let onnx = &graph.engines[0].0.model.onnx;
                t.per_image_ms
                    .extend(ort_python_passes(python, onnx, passes, threads)?);
            }
        }
    }

    println!(
        "Forward pass per image, {threads} thread(s), {} rounds × {} passes (min / median ms):\n",
        rounds, passes
    );
    println!("| graph | batch | engine | per image (ms) | ÷ onnxruntime (Python) |");
    println!("|---|---|---|---|---|");
    for graph in &graphs {
        for t in graph.engines.iter().map(|(_, t)| t).chain(&graph.yardstick) {
            let ratio = graph.yardstick.as_ref().map_or("–".to_string(), |y| {
                format!(
                    "{:.2} / {:.2}",
                    t.min_ms() / y.min_ms(),
                    t.median_ms() / y.median_ms()
                )
            });
            println!(
                "| {} | {} | {} | {:.1} / {:.1} | {ratio} |",
                t.graph,
                t.batch,
                t.engine,
                t.min_ms(),
                t.median_ms()
            );
        }
    }

    let mut methods = Vec::new();
    if let Some(image) = &image {
        println!(
            "\nMethods on {} (wall time; × = time ÷ its passes at the median pass time):\n",
            image_path.display()
        );
        println!("| graph | engine | method | passes | seconds | × |");
        println!("|---|---|---|---|---|---|");
        for (classifier, timing) in graphs.iter().flat_map(|g| &g.engines) {
            let pass_ms = timing.median_ms() * timing.batch as f64;
            let samples = if lime { args.lime_samples } else { 0 };
            for m in time_methods(classifier, image, &cams, samples, pass_ms).await? {
                println!(
                    "| {} | {} | {} | {} | {:.3} | {:.2} |",
                    m.graph, m.engine, m.method, m.passes, m.seconds, m.per_pass_overhead
                );
                methods.push(m);
            }
        }
    }
    if let Some(path) = &args.json {
        let forward = graphs
            .iter()
            .flat_map(|g| g.engines.iter().map(|(_, t)| t).chain(&g.yardstick))
            .cloned()
            .collect();
        let run = BenchRun {
            threads,
            forward,
            methods,
        };
        std::fs::write(path, serde_json::to_string_pretty(&run)? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
