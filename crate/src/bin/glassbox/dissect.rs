//! `glassbox dissect`: the library's CLIP-Dissect jobs, their tables written; or a probe folder listed in
//! the order a dissection reads it.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use glassbox::dissect::job::{run_job, write_tables, DissectJob};
use glassbox::preprocess;

use crate::args::EngineArg;
use crate::bars::Bars;

#[derive(Args)]
pub struct DissectArgs {
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

pub async fn run(args: DissectArgs) -> Result<()> {
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
    bars.finish();
    let summary = args.out.join("summary.json");
    std::fs::write(
        &summary,
        serde_json::to_string_pretty(&glassbox::dissect::tables::summarize(&tables))? + "\n",
    )
    .with_context(|| format!("cannot write {}", summary.display()))?;
    eprintln!("wrote {}", summary.display());
    Ok(())
}
