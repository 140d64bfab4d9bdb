//! The `glassbox` command line: a thin shell over the library. It parses arguments, shows progress
//! bars and writes files; every number comes from the same library calls the browser makes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, ensure, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use glassbox::cam::{CamMethod, CamOptions};
use glassbox::engine::EngineKind;
use glassbox::explain::{self, Explanation};
use glassbox::lime::{LimeExplanation, LimeParams, Stability};
use glassbox::model::{Classifier, Model};
use glassbox::progress::Progress;
use glassbox::{npy, preprocess, render};

#[derive(Parser)]
#[command(
    name = "glassbox",
    version,
    about = "Explain what image classifiers see: Grad-CAM family, LIME, CLIP-Dissect"
)]
struct Cli {
    /// Threads for the CPU engine's matrix products (default: every core; results do not depend on it).
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
    /// Cost of each method as a multiple of one forward pass (ratios measured in one run).
    Bench(BenchArgs),
    /// CLIP-Dissect: label every unit of the job's layers with a concept (soft-WPMI); writes tables.
    Dissect(DissectArgs),
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
    #[arg(long, default_value = "models/mobilenet_v2_1.0_224.json")]
    model: PathBuf,
    /// Inference engine: tract on the CPU, or wonnx on a WebGPU/Vulkan/Metal adapter.
    #[arg(long, value_enum, default_value = "cpu")]
    engine: EngineArg,
    /// Images per engine call (graphs with a dynamic batch axis; LIME's prediction batches).
    #[arg(long)]
    batch: Option<usize>,
    /// Refuse images with more pixels than this (decompression bombs).
    #[arg(long, default_value_t = 64.0)]
    max_megapixels: f64,
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
    glassbox::engine::cpu::set_threads(threads);
    let result = match cli.command {
        Command::Explain(args) => pollster::block_on(explain_command(args)),
        Command::Report(args) => pollster::block_on(report_command(args)),
        Command::Dissect(args) => pollster::block_on(dissect_command(args)),
        Command::Bench(args) => pollster::block_on(bench_command(args)),
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
    let model = Model::from_path(&args.model)?;
    Classifier::load(model, args.engine.into(), args.batch).await
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
    let limits = image_limits(&args.model);
    for path in &args.images {
        let image = preprocess::load(path, &limits)?;
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
                let (mut runs, stability) = explain::lime_stability(
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

fn image_limits(args: &ModelArgs) -> preprocess::ImageLimits {
    preprocess::ImageLimits {
        max_pixels: (args.max_megapixels * 1e6) as u64,
    }
}

fn write_explanation(
    dir: &Path,
    image_path: &Path,
    classifier: &Classifier,
    explanation: &Explanation,
    lime: Option<&LimeOutput>,
    image_weight: f32,
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut methods = serde_json::Map::new();
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
        methods.insert(name.to_string(), json!({ "seconds": timed.seconds }));
    }
    if let Some(lime) = lime {
        let lime_explanation = &lime.explanation;
        npy::write(
            &dir.join("lime_segments.npy"),
            &lime_explanation.segments.view().into_dyn(),
        )?;
        let target = explanation.target.class;
        let mask = lime_explanation.mask_for(target).with_context(|| {
            format!(
                "LIME explains the top {} classes of the unperturbed image, {:?}; the target class {target} \
                 is not among them: choose one of those with --target",
                lime_explanation.top_labels.len(),
                lime_explanation.top_labels
            )
        })?;
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
        methods.insert(
            "lime".to_string(),
            json!({
                "seconds": lime.seconds,
                "explanation": lime_explanation,
                "stability": lime.stability,
            }),
        );
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
    std::fs::write(&path, serde_json::to_string_pretty(&summary)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

// ---- `glassbox report` ----

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
    #[arg(long, default_value = "precomputed/dissect")]
    dissect: PathBuf,
    /// Output folder (Markdown, fig/, results.json).
    #[arg(long, default_value = "precomputed/report")]
    out: PathBuf,
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
    /// Skip the object-mask section.
    #[arg(long)]
    no_objects: bool,
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
    let shared = args
        .shared
        .clone()
        .unwrap_or_else(glassbox::model::shared_data_dir);
    let mut config =
        glassbox::report::ReportConfig::standard(args.model, shared, args.dissect, args.out)?;
    config.engine = args.engine.into();
    config.lime.num_samples = args.lime_samples;
    config.causal.step = args.causal_step;
    config.cascade = args.cascade;
    config.sanity_images = args.sanity_images;
    config.objects = !args.no_objects;
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
    #[arg(long = "job", required = true)]
    jobs: Vec<PathBuf>,
    /// Where the per-layer tables and summary.json go.
    #[arg(long, default_value = "precomputed/dissect")]
    out: PathBuf,
    /// Recompute activations even when the on-disk cache has them.
    #[arg(long)]
    no_cache: bool,
}

async fn dissect_command(args: DissectArgs) -> Result<()> {
    use glassbox::dissect::job::{run_job, write_tables, DissectJob};
    let bars = Bars::new();
    let mut tables = Vec::new();
    for path in &args.jobs {
        let mut job = DissectJob::from_file(path)?;
        if args.no_cache {
            job.cache_dir = None;
        }
        let run = run_job(&job, &bars).await?;
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
    #[command(flatten)]
    model: ModelArgs,
    /// The image to explain.
    #[arg(
        long,
        default_value = "../shared/data/imagenet-samples/n01443537_goldfish.JPEG"
    )]
    image: PathBuf,
    /// Timed repetitions of the forward pass (the median is used).
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Methods to time (CAM names and `lime`); ScoreCAM on a 2048-channel ResNet-50 takes a while.
    #[arg(
        long,
        default_value = "gradcam,ablationcam,scorecam,lime",
        value_delimiter = ','
    )]
    methods: Vec<String>,
    /// LIME samples.
    #[arg(long, default_value_t = 1000)]
    lime_samples: usize,
    /// Also time onnxruntime's forward pass of the same ONNX with this Python (needs onnxruntime).
    #[arg(long)]
    ort_python: Option<PathBuf>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn time_forwards(classifier: &Classifier, images: usize, repeats: usize) -> Result<f64> {
    let (h, w) = classifier.input_hw();
    let batch = ndarray::Array4::<f32>::zeros((images, 3, h, w));
    let mut times = Vec::with_capacity(repeats);
    for _ in 0..repeats.max(1) {
        let started = web_time::Instant::now();
        classifier
            .forward(batch.view(), &glassbox::progress::Silent)
            .await?;
        times.push(started.elapsed().as_secs_f64());
    }
    Ok(median(times))
}

async fn bench_command(args: BenchArgs) -> Result<()> {
    use glassbox::progress::Silent;
    let classifier = load_classifier(&args.model).await?;
    let image = preprocess::load(&args.image, &image_limits(&args.model))?;
    let one = time_forwards(&classifier, 1, args.repeats).await?;
    println!(
        "model {} on {}",
        classifier.model.manifest.name,
        classifier.engine.name()
    );
    println!(
        "forward pass (1 image, median of {}): {:.1} ms",
        args.repeats,
        one * 1e3
    );
    let (methods, with_lime) = parse_methods(&args.methods)?;
    let options = CamOptions::default();
    for method in methods {
        let started = web_time::Instant::now();
        let explanation =
            explain::explain_cams(&classifier, &image, &[method], None, &options, &Silent).await?;
        let total = started.elapsed().as_secs_f64();
        if method == CamMethod::ScoreCam {
            let channels = explanation.forward.features.shape()[1];
            let chunk = time_forwards(&classifier, options.score_batch, 1).await?;
            let passes = chunk * channels.div_ceil(options.score_batch) as f64 + one;
            println!(
                "{:>12}: {:.2} s = {:.3}× its {channels} batched passes + 1 forward ({:.2} s)",
                method.name(),
                total,
                total / passes,
                passes
            );
        } else {
            println!(
                "{:>12}: {:.1} ms = {:.3}× one forward pass",
                method.name(),
                total * 1e3,
                total / one
            );
        }
    }
    if with_lime {
        ensure!(args.lime_samples > 0, "--lime-samples must be at least 1");
        let params = LimeParams {
            num_samples: args.lime_samples,
            batch_size: args
                .model
                .batch
                .unwrap_or_else(|| classifier.engine.max_batch()),
            ..LimeParams::default()
        };
        let (view, _) = classifier.prepare(&image);
        let started = web_time::Instant::now();
        let lime = explain::explain_lime(&classifier, &view, &params, &Silent).await?;
        let total = started.elapsed().as_secs_f64();
        let chunk = time_forwards(&classifier, params.batch_size, 1).await?;
        let passes = chunk * args.lime_samples.div_ceil(params.batch_size) as f64;
        let t = &lime.timing;
        println!(
            "        lime: {:.2} s = {:.3}× its {} forward passes at batch {} ({:.2} s); segmentation {:.0} ms \
             ({:.2}× one forward pass), perturbation {:.0} ms, inference {:.0} ms, regression {:.0} ms",
            total,
            total / passes,
            args.lime_samples,
            params.batch_size,
            passes,
            t.segmentation_ms,
            t.segmentation_ms / 1e3 / one,
            t.perturbation_ms,
            t.inference_ms,
            t.regression_ms
        );
    }
    if let Some(python) = &args.ort_python {
        let onnx = std::env::temp_dir().join("glassbox-bench.onnx");
        std::fs::write(&onnx, &classifier.model.onnx)?;
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/reference/ort_forward_bench.py");
        let out = std::process::Command::new(python)
            .arg(&script)
            .arg(&onnx)
            .arg(args.repeats.to_string())
            .output()
            .with_context(|| format!("running {}", python.display()))?;
        ensure!(
            out.status.success(),
            "onnxruntime bench failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ort: f64 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .context("onnxruntime bench output")?;
        println!(
            "onnxruntime forward: {:.1} ms; tract / onnxruntime = {:.2}×",
            ort * 1e3,
            one / ort
        );
    }
    Ok(())
}
