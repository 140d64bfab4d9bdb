//! Writes a report from its data: the Markdown documents (each with its HTML beside it), the SVG charts,
//! `results.json` and `dissection.json`. A pure function of [`ReportData`] and [`DissectionFindings`]
//! that reads no file, so `glassbox report --render-only results.json` rebuilds the text and charts of a
//! finished run in seconds.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::data::{DissectionFindings, ReportData};
use super::{dissection, figures, html, text};

/// The file of D1's findings, beside `results.json`.
pub const DISSECTION_JSON: &str = "dissection.json";

/// Writes every document, chart, `results.json` and `dissection.json` of `data` and `d1` into `out`;
/// returns the files written.
pub fn write(data: &ReportData, d1: &DissectionFindings, out: &Path) -> Result<Vec<PathBuf>> {
    let fig_dir = out.join("fig");
    std::fs::create_dir_all(&fig_dir)
        .with_context(|| format!("cannot create {}", fig_dir.display()))?;
    let mut files = Vec::new();
    let d1_section = dissection::section(d1, &fig_dir, data.run.warning.as_deref())?;
    files.extend(d1_section.figures.iter().cloned());
    for figure in figures::all(data)? {
        let path = fig_dir.join(&figure.file);
        write_file(&path, figure.svg.as_bytes())?;
        files.push(path);
    }
    for doc in text::documents(data, &d1_section.markdown, &d1_section.summary) {
        let path = out.join(doc.file);
        write_file(&path, doc.text.as_bytes())?;
        files.push(path);
        let path = out.join(html::file_name(doc.file));
        write_file(&path, html::of_markdown(&doc.text).as_bytes())?;
        files.push(path);
    }
    let path = out.join("results.json");
    write_file(&path, serde_json::to_string_pretty(data)?.as_bytes())?;
    files.push(path);
    let path = out.join(DISSECTION_JSON);
    write_file(&path, serde_json::to_string_pretty(d1)?.as_bytes())?;
    files.push(path);
    Ok(files)
}

/// Reads a report's `results.json` (as [`write()`] left it).
pub fn read(results_json: &Path) -> Result<ReportData> {
    let text = std::fs::read_to_string(results_json)
        .with_context(|| format!("cannot read {}", results_json.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not the results.json of a glassbox report (made by an older glassbox? run \
             `glassbox report` again)",
            results_json.display()
        )
    })
}

/// Reads a report's `dissection.json`; `None` when the report has none (it was made before D1's
/// findings were saved).
pub fn read_dissection(dissection_json: &Path) -> Result<Option<DissectionFindings>> {
    if !dissection_json.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(dissection_json)
        .with_context(|| format!("cannot read {}", dissection_json.display()))?;
    serde_json::from_str(&text)
        .map(Some)
        .with_context(|| format!("{} is not D1's findings", dissection_json.display()))
}

/// Renders the report of `results_json` again into `out` (its own folder when `None`). The pictures of
/// the maps and of the top probe images are not redrawn: they are copied when `out` is another folder.
/// A report without `dissection.json` has its D1 findings read from the tables `results.json` names,
/// once, and saved beside it.
pub fn render_only(results_json: &Path, out: Option<&Path>) -> Result<Vec<PathBuf>> {
    let data = read(results_json)?;
    let source = results_json.parent().unwrap_or(Path::new("."));
    let out = out.unwrap_or(source);
    let mut files = Vec::new();
    // The run's pictures, copied when rendering elsewhere; D1's are drawn again when read from the tables.
    let mut pictures = data.photos.clone();
    let d1 = match read_dissection(&source.join(DISSECTION_JSON))? {
        Some(d1) => {
            pictures.extend(d1.pictures());
            d1
        }
        None => {
            let fig_dir = out.join("fig");
            std::fs::create_dir_all(&fig_dir)
                .with_context(|| format!("cannot create {}", fig_dir.display()))?;
            let d1 = dissection::findings(&data.run.dissect_dir, &data.run.shared_data, &fig_dir)?;
            files.extend(d1.pictures().iter().map(|p| out.join(p)));
            d1
        }
    };
    if !same_folder(source, out) {
        for picture in &pictures {
            let (from, to) = (source.join(picture), out.join(picture));
            if let Some(dir) = to.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            std::fs::copy(&from, &to).with_context(|| {
                format!(
                    "cannot copy {} (one of the run's pictures) to {}",
                    from.display(),
                    to.display()
                )
            })?;
            files.push(to);
        }
    }
    files.extend(write(&data, &d1, out)?);
    Ok(files)
}

fn same_folder(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}
