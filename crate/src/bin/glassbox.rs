//! The `glassbox` command line: a thin shell over the library. It parses arguments, shows progress
//! bars and writes files; every number comes from the same library calls the browser makes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use glassbox::cam::{CamMethod, CamOptions};
use glassbox::engine::EngineKind;
use glassbox::explain::{self, Explanation};
use glassbox::model::{Classifier, Model};
use glassbox::progress::Progress;
use glassbox::{npy, preprocess, render};

#[derive(Parser)]
#[command(name = "glassbox", version, about = "Explain what image classifiers see: Grad-CAM family, LIME, CLIP-Dissect")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Classify images and explain the prediction with CAMs and LIME; writes .npy, .png and explanation.json.
    Explain(ExplainArgs),
    /// Write the full report (D1-D4 Markdown, figures, results.json): LIME vs CAMs, faithfulness, sanity check.
    Report(ReportArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum EngineArg {
    Cpu,
    Webgpu,
}

impl From<EngineArg> for EngineKind {
    fn from(e: EngineArg) -> Self {
        match e {
            EngineArg::Cpu => EngineKind::Cpu,
            EngineArg::Webgpu => EngineKind::Webgpu,
        }
    }
}

#[derive(Args)]
struct ModelArgs {
    /// A model manifest (.json) or a bare .onnx (torchvision preprocessing, ImageNet labels).
    #[arg(long, default_value = "models/mobilenet_v2.json")]
    model: PathBuf,
    /// Inference engine: tract on the CPU, or wonnx on a WebGPU/Vulkan/Metal adapter.
    #[arg(long, value_enum, default_value = "cpu")]
    engine: EngineArg,
    /// Images per engine call for graphs with a dynamic batch axis.
    #[arg(long)]
    batch: Option<usize>,
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
    #[arg(long, default_value = "gradcam,ablationcam,scorecam", value_delimiter = ',')]
    methods: Vec<String>,
    /// Class to explain (index into the logits); default: the top-1 class of each image.
    #[arg(long)]
    target: Option<usize>,
    /// Weight of the image in the overlays (`show_cam_on_image`'s image_weight).
    #[arg(long, default_value_t = 0.5)]
    image_weight: f32,
    /// Images to explain (JPEG, PNG, BMP, WebP).
    #[arg(required = true)]
    images: Vec<PathBuf>,
}

/// indicatif bars behind the library's `Progress` trait.
struct Bars {
    bar: ProgressBar,
}

impl Bars {
    fn new() -> Bars {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{prefix:>28} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        Bars { bar }
    }
}

impl Progress for Bars {
    fn stage(&self, name: &str, total: u64) {
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
    let result = match cli.command {
        Command::Explain(args) => pollster::block_on(explain_command(args)),
        Command::Report(args) => pollster::block_on(report_command(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn parse_methods(names: &[String]) -> Result<Vec<CamMethod>> {
    if names.iter().any(|n| n.eq_ignore_ascii_case("all")) {
        return Ok(CamMethod::ALL.to_vec());
    }
    names.iter().filter(|n| !n.trim().is_empty()).map(|n| CamMethod::from_name(n)).collect()
}

async fn load_classifier(args: &ModelArgs) -> Result<Classifier> {
    let model = Model::from_path(&args.model).with_context(|| format!("loading the model {}", args.model.display()))?;
    Classifier::load(model, args.engine.into(), args.batch).await
}

async fn explain_command(args: ExplainArgs) -> Result<()> {
    let methods = parse_methods(&args.methods)?;
    let classifier = load_classifier(&args.model).await?;
    eprintln!("model {} on {}", classifier.model.manifest.name, classifier.engine.name());
    let bars = Bars::new();
    let options = CamOptions::default();
    for path in &args.images {
        let image = preprocess::load(path, &preprocess::ImageLimits::default())?;
        let explanation =
            explain::explain_cams(&classifier, &image, &methods, args.target, &options, &bars).await?;
        let dir = args.out.join(image_stem(path)?);
        write_explanation(&dir, path, &classifier, &explanation, args.image_weight)?;
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

fn write_explanation(
    dir: &Path,
    image_path: &Path,
    classifier: &Classifier,
    explanation: &Explanation,
    image_weight: f32,
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut methods = serde_json::Map::new();
    for timed in &explanation.cams {
        let name = timed.cam.method.name();
        npy::write_f32(&dir.join(format!("{name}.npy")), &timed.cam.map.view().into_dyn())?;
        let overlay = render::overlay(&explanation.view, timed.cam.map.view(), image_weight)?;
        let png = dir.join(format!("{name}.png"));
        std::fs::write(&png, render::png_rgb(&overlay)?).with_context(|| format!("cannot write {}", png.display()))?;
        methods.insert(name.to_string(), json!({ "seconds": timed.seconds }));
    }
    let manifest = &classifier.model.manifest;
    let summary = json!({
        "image": image_path.display().to_string(),
        "model": { "name": manifest.name, "description": manifest.description, "sha256": manifest.sha256 },
        "engine": classifier.engine.name(),
        "input_size": classifier.input_hw(),
        "top5": explanation.top5,
        "target": explanation.target,
        "forward_seconds": explanation.forward_seconds,
        "methods": methods,
    });
    let path = dir.join("explanation.json");
    std::fs::write(&path, serde_json::to_string_pretty(&summary)?).with_context(|| format!("cannot write {}", path.display()))
}

// ---- `glassbox report` (owner: compare helper) ----

#[derive(Args)]
struct ReportArgs {
    /// The model manifest the report explains.
    #[arg(long, default_value = "models/mobilenet_v2_1.0_224.json")]
    model: PathBuf,
    /// Inference engine.
    #[arg(long, value_enum, default_value = "cpu")]
    engine: EngineArg,
    /// The shared data folder (default: $GLASSBOX_SHARED/data or ../shared/data).
    #[arg(long)]
    shared: Option<PathBuf>,
    /// Folder of the dissection tables (D1).
    #[arg(long, default_value = "precomputed")]
    precomputed: PathBuf,
    /// Output folder (Markdown, fig/, results.json).
    #[arg(long, default_value = "report")]
    out: PathBuf,
    /// LIME perturbation samples per image.
    #[arg(long, default_value_t = 1000)]
    lime_samples: usize,
    /// Pixels changed per deletion/insertion step.
    #[arg(long, default_value_t = 224 * 7)]
    causal_step: usize,
    /// Numbers of top layers re-initialised by the sanity check, in cascade order (empty: skip it).
    #[arg(long, value_delimiter = ',', default_value = "1,2,5")]
    cascade: Vec<usize>,
    /// Images the sanity check re-explains.
    #[arg(long, default_value_t = 3)]
    sanity_images: usize,
    /// Only the first N images (default: all).
    #[arg(long)]
    limit: Option<usize>,
    /// Skip the object-mask section.
    #[arg(long)]
    no_objects: bool,
    /// The sentence naming the model and its weights in the text.
    #[arg(long, default_value = "MobileNet v2 1.0 224 (TF-slim, real ImageNet weights, float graph from the Coral uint8 model)")]
    model_description: String,
}

async fn report_command(args: ReportArgs) -> Result<()> {
    let shared = args.shared.clone().unwrap_or_else(glassbox::model::shared_data_dir);
    let mut config = glassbox::report::ReportConfig::standard(args.model, shared, args.precomputed, args.out)?;
    config.engine = args.engine.into();
    config.lime.num_samples = args.lime_samples;
    config.causal.step = args.causal_step;
    config.cascade = args.cascade;
    config.sanity_images = args.sanity_images;
    config.objects = !args.no_objects;
    config.model_description = args.model_description;
    if let Some(n) = args.limit {
        config.images.truncate(n);
    }
    let summary = glassbox::report::write(&config, &Bars::new()).await?;
    println!("report: {} files in {:.0} s, start at {}", summary.files.len(), summary.seconds, config.out_dir.join("results.md").display());
    Ok(())
}
