//! `glassbox explain`: each image through the library's explain calls, written as an explain folder
//! ([`SavedExplanation`]).

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use clap::Args;

use glassbox::cam::CamOptions;
use glassbox::explain;
use glassbox::lime::LimeParams;
use glassbox::model::Classifier;
use glassbox::preprocess;
use glassbox::results::{ExplanationSource, ModelIdentity, SavedExplanation};

use crate::args::{image_limits, Methods, ModelArgs};
use crate::bars::Bars;

#[derive(Args)]
pub struct ExplainArgs {
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

pub async fn run(args: ExplainArgs) -> Result<()> {
    let methods = Methods::parse(&args.methods)?;
    ensure!(args.seeds >= 1, "--seeds must be at least 1");
    let classifier = args.model.load_classifier().await?;
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
        let mut run = explain::explain_cams(
            &classifier,
            &image,
            &methods.cams,
            args.target,
            &options,
            &bars,
        )
        .await?;
        if methods.lime {
            let lime = explain::explain_lime_seeds(
                &classifier,
                &run.view,
                &lime_params,
                args.seeds,
                &bars,
            )
            .await?;
            let explained_classes = lime.explanation.top_labels.len();
            run.explained.lime = Some(lime);
            // LIME explains the top classes of the image as it is; the explained class must be one of them.
            run.explained.lime_maps().with_context(|| {
                format!(
                    "LIME explains the top {explained_classes} classes of the unperturbed image; the target \
                     class {} is not among them: choose one of those with --target",
                    run.explained.target.class,
                )
            })?;
        }
        let saved = SavedExplanation {
            dir: args.out.join(image_stem(path)?),
            source: source(&classifier, path, turned_upright),
            explained: run.explained,
        };
        saved.write(&run.view, args.image_weight)?;
        let top = &saved.explained.top5[0];
        eprintln!(
            "{}: {} ({:.1}%) → {}",
            path.display(),
            top.label,
            100.0 * top.probability,
            saved.dir.display()
        );
    }
    bars.finish();
    Ok(())
}

fn image_stem(path: &Path) -> Result<String> {
    match path.file_stem() {
        Some(stem) => Ok(stem.to_string_lossy().into_owned()),
        None => bail!("cannot name an output folder after {}", path.display()),
    }
}

/// The image file, the model and engine, and the view of an explanation of `image_path`.
fn source(
    classifier: &Classifier,
    image_path: &Path,
    turned_upright: Option<String>,
) -> ExplanationSource {
    let manifest = &classifier.model.manifest;
    ExplanationSource {
        image: image_path.display().to_string(),
        model: ModelIdentity {
            name: manifest.name.clone(),
            description: manifest.description.clone(),
            sha256: manifest.sha256.clone(),
        },
        engine: classifier.engine.name(),
        input_size: classifier.input_size(),
        view: classifier.preprocessing().describe(),
        turned_upright,
    }
}
