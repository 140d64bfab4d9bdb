//! Writes a report from its data: the Markdown documents (each with its HTML beside it), the SVG charts
//! and `results.json`. A pure function of [`ReportData`] (plus D1's tables), so `glassbox report --render-only results.json`
//! rebuilds the text and charts of a finished run in seconds.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::data::ReportData;
use super::{dissection, figures, html, text};

/// Writes every document, chart and `results.json` of `data` into `out`; returns the files written.
pub fn write(data: &ReportData, out: &Path) -> Result<Vec<PathBuf>> {
    let fig_dir = out.join("fig");
    std::fs::create_dir_all(&fig_dir)
        .with_context(|| format!("cannot create {}", fig_dir.display()))?;
    let mut files = Vec::new();
    let d1 = dissection::section(
        &data.run.dissect_dir,
        &data.run.shared_data,
        &fig_dir,
        data.run.warning.as_deref(),
    )?;
    files.extend(d1.figures.iter().cloned());
    for figure in figures::all(data)? {
        let path = fig_dir.join(&figure.file);
        write_file(&path, figure.svg.as_bytes())?;
        files.push(path);
    }
    for doc in text::documents(data, &d1.markdown, &d1.summary) {
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

/// Renders the report of `results_json` again into `out` (its own folder when `None`). The pictures of
/// the maps are not redrawn: they are copied when `out` is another folder.
pub fn render_only(results_json: &Path, out: Option<&Path>) -> Result<Vec<PathBuf>> {
    let data = read(results_json)?;
    let source = results_json.parent().unwrap_or(Path::new("."));
    let out = out.unwrap_or(source);
    let mut files = Vec::new();
    if !same_folder(source, out) {
        for photo in &data.photos {
            let (from, to) = (source.join(photo), out.join(photo));
            if let Some(dir) = to.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            std::fs::copy(&from, &to).with_context(|| {
                format!(
                    "cannot copy {} (results.json lists it among the run's pictures) to {}",
                    from.display(),
                    to.display()
                )
            })?;
            files.push(to);
        }
    }
    files.extend(write(&data, out)?);
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
