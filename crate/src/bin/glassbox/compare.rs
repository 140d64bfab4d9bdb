//! `glassbox compare`: each CAM of an explain folder against LIME, printed as a table and written as
//! `agreement.json`.

use std::path::PathBuf;

use anyhow::{ensure, Context, Result};
use clap::Args;

use glassbox::compare::lime_vs_cam;
use glassbox::results::{AgreementTable, ImageAgreement, SavedExplanation};

#[derive(Args)]
pub struct CompareArgs {
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

/// The images of a compare run, each with its CAMs and the LIME explanation they meet, and the folder
/// `agreement.json` goes to by default.
struct CompareInputs {
    images: Vec<SavedExplanation>,
    folder: PathBuf,
}

fn compare_inputs(args: &CompareArgs) -> Result<CompareInputs> {
    if let Some(dir) = &args.explained {
        return Ok(CompareInputs {
            images: SavedExplanation::read_folder(dir)?,
            folder: dir.clone(),
        });
    }
    let (lime_dir, cam_dir) = (
        args.lime
            .as_ref()
            .context("--lime is required without --explained")?,
        args.cam
            .as_ref()
            .context("--cam is required without --explained")?,
    );
    let lime_images = SavedExplanation::read_folder(lime_dir)?;
    let mut merged = Vec::new();
    for mut image in SavedExplanation::read_folder(cam_dir)? {
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
            with_lime.source.model.sha256 == image.source.model.sha256
                && with_lime.explained.target.class == image.explained.target.class,
            "{} and {} differ in model or explained class: they cannot be compared",
            image.dir.display(),
            with_lime.dir.display()
        );
        image.explained.lime = with_lime.explained.lime.clone();
        merged.push(image);
    }
    Ok(CompareInputs {
        images: merged,
        folder: cam_dir.clone(),
    })
}

pub fn run(args: CompareArgs) -> Result<()> {
    let inputs = compare_inputs(&args)?;
    let mut table = AgreementTable {
        threshold: args.threshold,
        images: Vec::new(),
    };
    for image in &inputs.images {
        table.images.push(ImageAgreement {
            image: image
                .dir
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            target: image.explained.target.clone(),
            agreement: image.agreement(args.threshold)?,
        });
    }
    print_table(&table);
    let out = args
        .out
        .unwrap_or_else(|| inputs.folder.join("agreement.json"));
    std::fs::write(&out, serde_json::to_string_pretty(&table)? + "\n")
        .with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

/// The table as Markdown on stdout, a row per image and CAM.
fn print_table(table: &AgreementTable) {
    let t = table.threshold;
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
}
