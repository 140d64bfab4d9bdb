//! `glassbox report`: the library's report (analysis, then text and charts), or its text and charts
//! again from an earlier run's results.json.

use std::path::PathBuf;

use anyhow::{ensure, Result};
use clap::Args;

use glassbox::cam::CamMethod;

use crate::args::EngineArg;
use crate::bars::Bars;

#[derive(Args)]
pub struct ReportArgs {
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

pub async fn run(args: ReportArgs) -> Result<()> {
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
