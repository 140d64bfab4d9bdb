//! D1: the dissection findings, read from the CSV tables that `glassbox dissect` leaves in `precomputed/`.
//!
//! The tables are read generically (header + rows), so the report follows whatever columns the dissection
//! writes: each table is shown (first rows), and every numeric column whose name mentions a similarity or
//! score gets a histogram. When there are no tables the section says so instead of inventing findings.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::chart::{self, Series};
use super::markdown::Table;

/// The D1 section and a short summary for `results.md`.
pub struct Section {
    pub markdown: String,
    pub summary: String,
    pub figures: Vec<PathBuf>,
}

/// One CSV table.
pub struct Csv {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Parses CSV with RFC 4180 quoting (quoted fields may hold commas, doubled quotes and newlines).
pub fn parse_csv(text: &str) -> Csv {
    let mut records: Vec<Vec<String>> = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, _) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, '\r') => {}
            (false, _) => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    let mut it = records
        .into_iter()
        .filter(|r| !(r.len() == 1 && r[0].is_empty()));
    let header = it.next().unwrap_or_default();
    Csv {
        header,
        rows: it.collect(),
    }
}

/// Counts of `values` in `bins` equal bins over [min, max].
pub fn histogram(values: &[f64], bins: usize) -> (f64, f64, Vec<usize>) {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut counts = vec![0; bins.max(1)];
    if values.is_empty() {
        return (0.0, 0.0, counts);
    }
    let width = if hi > lo {
        (hi - lo) / bins as f64
    } else {
        1.0
    };
    for &v in values {
        let b = (((v - lo) / width) as usize).min(bins - 1);
        counts[b] += 1;
    }
    (lo, hi, counts)
}

fn is_score_column(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["sim", "score", "wpmi", "iou", "similarity"]
        .iter()
        .any(|k| n.contains(k))
}

/// Builds D1 from the tables in `precomputed` (sorted by file name), drawing histograms into `fig_dir`.
pub fn section(precomputed: &Path, fig_dir: &Path) -> Result<Section> {
    let mut tables: Vec<PathBuf> = match std::fs::read_dir(precomputed) {
        Ok(dir) => dir
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")))
            .collect(),
        Err(_) => Vec::new(),
    };
    tables.sort();
    let mut md = String::from("# D1: Dissection findings (CLIP-Dissect)\n\n");
    if tables.is_empty() {
        let note = format!(
            "No dissection tables (`*.csv`) were found in `{}` when this report ran, so this run has no D1 findings. \
             Run `glassbox dissect` (which writes them there) and then `glassbox report` again.",
            precomputed.display()
        );
        md.push_str(&note);
        md.push('\n');
        return Ok(Section {
            markdown: md,
            summary: note,
            figures: Vec::new(),
        });
    }
    let mut figures = Vec::new();
    let mut summary = Vec::new();
    for path in &tables {
        let name = path
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let csv = parse_csv(&text);
        md.push_str(&format!(
            "## `{}` ({} rows)\n\n",
            path.file_name().unwrap_or_default().to_string_lossy(),
            csv.rows.len()
        ));
        summary.push(format!("`{name}`: {} rows", csv.rows.len()));
        let mut t = Table::new(&csv.header);
        for r in csv.rows.iter().take(20) {
            t.row(r.clone());
        }
        md.push_str(&t.render());
        if csv.rows.len() > 20 {
            md.push_str(&format!("\n(first 20 of {} rows)\n", csv.rows.len()));
        }
        for (k, column) in csv.header.iter().enumerate() {
            if !is_score_column(column) {
                continue;
            }
            let values: Vec<f64> = csv
                .rows
                .iter()
                .filter_map(|r| r.get(k)?.trim().parse::<f64>().ok())
                .collect();
            if values.len() < 2 {
                continue;
            }
            let (lo, hi, counts) = histogram(&values, 20);
            let groups: Vec<String> = (0..counts.len())
                .map(|b| format!("{:.2}", lo + (hi - lo) * b as f64 / counts.len() as f64))
                .collect();
            let top = *counts.iter().max().unwrap_or(&1) as f64;
            let series = [Series {
                name: column.clone(),
                points: counts
                    .iter()
                    .enumerate()
                    .map(|(b, &c)| (b as f64, c as f64))
                    .collect(),
            }];
            let img = chart::bar_chart(
                &format!("{name}: histogram of {column} (n={})", values.len()),
                "count",
                &groups,
                (0.0, top * 1.1),
                &series,
            );
            let fig = fig_dir.join(format!("d1_{name}_{column}.png").replace(' ', "_"));
            std::fs::write(&fig, crate::render::png_rgb(&img)?)
                .with_context(|| format!("cannot write {}", fig.display()))?;
            md.push_str(&format!(
                "\n![{column}](fig/{})\n",
                fig.file_name().unwrap_or_default().to_string_lossy()
            ));
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            md.push_str(&format!(
                "\n`{column}`: n = {}, min {lo:.4}, mean {mean:.4}, max {hi:.4}.\n",
                values.len()
            ));
            figures.push(fig);
        }
        md.push('\n');
    }
    Ok(Section {
        markdown: md,
        summary: format!(
            "Tables read from `{}`: {}. See [D1](d1_dissection.md).",
            precomputed.display(),
            summary.join(", ")
        ),
        figures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_quotes_commas_and_crlf() {
        let c =
            parse_csv("unit,concept,similarity\r\n1,\"dog, pet\",0.5\n2,\"say \"\"hi\"\"\",0.25\n");
        assert_eq!(c.header, vec!["unit", "concept", "similarity"]);
        assert_eq!(
            c.rows,
            vec![
                vec!["1", "dog, pet", "0.5"],
                vec!["2", "say \"hi\"", "0.25"]
            ]
        );
    }

    #[test]
    fn histogram_bins_cover_min_to_max() {
        let (lo, hi, counts) = histogram(&[0.0, 0.1, 0.5, 1.0], 2);
        assert_eq!((lo, hi), (0.0, 1.0));
        assert_eq!(counts, vec![2, 2]);
    }
}
