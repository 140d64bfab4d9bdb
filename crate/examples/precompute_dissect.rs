//! Writes the dissection tables in `precomputed/dissect/` from what is here: MobileNet v1 0.75 (pretrained ImageNet)
//! labelled by MobileNet v2 as classifier concept matcher (NOT CLIP) over the 1000 probe images; with `--job FILE`
//! any other job (JSON, see `glassbox::dissect::job::DissectJob`), e.g. ResNet18 + CLIP graphs from
//! `models/export.py`.
//!
//! It prints probe images per second for the target's activations and for the matcher's image embedding: with
//! `--no-cache` every image is decoded and run again (a benchmark), otherwise a temp-folder cache is reused.
//!
//! `cargo run --release --example precompute_dissect -- [--job job.json]... [--out precomputed/dissect] [--no-cache]`

use std::path::PathBuf;

use anyhow::{Context, Result};
use glassbox::dissect::job::{run_job, write_tables, DissectJob};
use glassbox::dissect::tables::summarize;
use glassbox::progress::Progress;

#[path = "../tests/dissect_common/mod.rs"]
mod dissect_common;

struct Stderr;
impl Progress for Stderr {
    fn stage(&self, name: &str, total: u64) {
        eprintln!("{name}: {total}");
    }
}

fn main() -> Result<()> {
    let mut jobs = Vec::new();
    let mut out = dissect_common::repo_root().join("precomputed/dissect");
    let mut use_cache = true;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--job" => {
                let path = PathBuf::from(args.next().context("--job needs a file")?);
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                jobs.push(
                    serde_json::from_str::<DissectJob>(&text)
                        .with_context(|| format!("parsing {}", path.display()))?,
                );
            }
            "--no-cache" => use_cache = false,
            "--out" => out = PathBuf::from(args.next().context("--out needs a folder")?),
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    if jobs.is_empty() {
        jobs.push(dissect_common::mobilenet_job(
            None,
            Some(std::env::temp_dir().join("glassbox-dissect-mobilenet-cache")),
        ));
    }
    if !use_cache {
        jobs.iter_mut().for_each(|j| j.cache_dir = None);
    }
    let mut tables = Vec::new();
    for job in &jobs {
        let run = pollster::block_on(run_job(job, &Stderr))?;
        let t = &run.timings;
        eprintln!(
            "{}: {} images processed (0 = all from cache), decode {:.1}s, target activations {}, matcher \
             image embedding {}, soft_wpmi {:.1}s",
            job.target.name,
            t.images_processed,
            t.decode_s,
            t.rate(t.target_s),
            t.rate(t.matcher_s),
            t.wpmi_s
        );
        for path in write_tables(&run.tables, &out)? {
            eprintln!("wrote {}", path.display());
        }
        tables.extend(run.tables);
    }
    let summary = out.join("summary.json");
    std::fs::write(
        &summary,
        serde_json::to_string_pretty(&summarize(&tables))? + "\n",
    )?;
    eprintln!("wrote {}", summary.display());
    Ok(())
}
