//! The report's charts, each a pure function of [`ReportData`] returning an SVG document.

use anyhow::Result;

use super::chart::{self, BarChart, BarSeries, Chart, Curve, LineChart};
use super::data::{mean, Faithfulness, ImageResult, Method, ReportData};
use super::text::truncate;
use crate::compare::agreement::Agreement;
use crate::compare::faithfulness::{mean_curve, CausalCurve};
use crate::compare::sanity::MapChange;

/// A chart file of the report: its name in `fig/` and its SVG text.
#[derive(Debug, Clone)]
pub struct Figure {
    pub file: String,
    pub svg: String,
}

/// Every chart of the report.
pub fn all(data: &ReportData) -> Result<Vec<Figure>> {
    let banner = data.run.warning.as_deref();
    let mut figures = Vec::new();
    for image in &data.images {
        figures.push(Figure {
            file: format!("{}_faithfulness.svg", image.name),
            svg: image_faithfulness(image, banner)?,
        });
    }
    if !data.images.is_empty() {
        figures.push(Figure {
            file: "agreement.svg".into(),
            svg: agreement(data, banner)?,
        });
        figures.push(Figure {
            file: "faithfulness_mean.svg".into(),
            svg: mean_faithfulness(data, banner)?,
        });
    }
    if !data.sanity.is_empty() {
        figures.push(Figure {
            file: "sanity.svg".into(),
            svg: sanity(data, banner)?,
        });
    }
    Ok(figures)
}

/// Deletion above insertion, one curve per map.
fn causal_pair(
    titles: [String; 2],
    x_labels: [&str; 2],
    deletion: Vec<Curve>,
    insertion: Vec<Curve>,
    banner: Option<&str>,
) -> Result<String> {
    let [del_title, ins_title] = titles;
    let panel = |title: String, x_label: &str, curves: Vec<Curve>| {
        Chart::Line(LineChart {
            title,
            x_label: x_label.into(),
            y_label: "Probability of the class".into(),
            x_range: 0.0..1.0,
            y_range: 0.0..1.0,
            curves,
        })
    };
    chart::svg(
        &[
            panel(del_title, x_labels[0], deletion),
            panel(ins_title, x_labels[1], insertion),
        ],
        banner,
    )
}

fn image_faithfulness(image: &ImageResult, banner: Option<&str>) -> Result<String> {
    let curves = |pick: fn(&Faithfulness) -> &CausalCurve| -> Vec<Curve> {
        image
            .faithfulness
            .iter()
            .map(|f| {
                let c = pick(f);
                Curve {
                    name: format!("{} (AUC {:.3})", f.method.title(), c.auc),
                    x: c.fractions.clone(),
                    y: c.scores.clone(),
                }
            })
            .collect()
    };
    let label = truncate(&image.target.label, 28);
    causal_pair(
        [
            format!("Deletion: {} (class {label})", image.name),
            format!("Insertion: {} (class {label})", image.name),
        ],
        [
            "Fraction of pixels deleted, most important first",
            "Fraction of pixels inserted, most important first",
        ],
        curves(|f| &f.deletion),
        curves(|f| &f.insertion),
        banner,
    )
}

fn mean_faithfulness(data: &ReportData, banner: Option<&str>) -> Result<String> {
    let methods = data.faithfulness_methods();
    let curves = |pick: fn(&Faithfulness) -> &CausalCurve, deletion: bool| -> Vec<Curve> {
        methods
            .iter()
            .filter_map(|&m| {
                let per_image: Vec<&CausalCurve> = data
                    .images
                    .iter()
                    .flat_map(|i| i.faithfulness.iter().filter(|f| f.method == m).map(pick))
                    .collect();
                let mean = mean_curve(&per_image)?;
                let aucs = data.mean_aucs(m);
                let auc = if deletion {
                    aucs.deletion
                } else {
                    aucs.insertion
                };
                Some(Curve {
                    name: format!("{} (mean AUC {:.3})", m.title(), auc.unwrap_or(f64::NAN)),
                    x: mean.fractions,
                    y: mean.scores,
                })
            })
            .collect()
    };
    let n = data.images.len();
    causal_pair(
        [
            format!("Deletion, mean over {n} images"),
            format!("Insertion, mean over {n} images"),
        ],
        ["Fraction of pixels deleted", "Fraction of pixels inserted"],
        curves(|f| &f.deletion, true),
        curves(|f| &f.insertion, false),
        banner,
    )
}

fn agreement(data: &ReportData, banner: Option<&str>) -> Result<String> {
    let order = data.agreement_order();
    let groups: Vec<String> = order.iter().map(|&i| data.images[i].name.clone()).collect();
    let series = |pick: fn(&Agreement) -> Option<f64>| -> Vec<BarSeries> {
        data.run
            .cams
            .iter()
            .map(|&m| BarSeries {
                name: Method::Cam(m).title().into(),
                values: order
                    .iter()
                    .map(|&i| {
                        data.images[i]
                            .cams
                            .iter()
                            .find(|c| c.method == m)
                            .and_then(|c| pick(&c.agreement))
                    })
                    .collect(),
            })
            .collect()
    };
    chart::svg(&[
        Chart::Bar(BarChart {
            title: "IoU of the CAM's top pixels with the LIME top-5 mask (as many pixels as the mask)".into(),
            y_label: "IoU".into(),
            groups: groups.clone(),
            y_range: 0.0..1.0,
            series: series(|a| a.iou_same_count),
        }),
        Chart::Bar(BarChart {
            title: "Spearman correlation of the CAM with the per-pixel LIME weight".into(),
            y_label: "Spearman ρ".into(),
            groups,
            y_range: -1.0..1.0,
            series: series(|a| a.spearman),
        }),
    ], banner)
}

fn sanity(data: &ReportData, banner: Option<&str>) -> Result<String> {
    let methods = data.sanity[0].methods();
    let groups: Vec<String> = data
        .sanity
        .iter()
        .map(|s| format!("top {} layers", s.stage))
        .collect();
    let series = |pick: fn(&MapChange) -> Option<f64>| -> Vec<BarSeries> {
        methods
            .iter()
            .map(|&m| BarSeries {
                name: m.title().into(),
                values: data
                    .sanity
                    .iter()
                    .map(|stage| mean(stage.changes_of(m).map(|c| pick(&c.change))))
                    .collect(),
            })
            .collect()
    };
    chart::svg(
        &[
            Chart::Bar(BarChart {
                title:
                    "Spearman correlation of the trained and the randomised map, mean over images"
                        .into(),
                y_label: "Spearman ρ".into(),
                groups: groups.clone(),
                y_range: -1.0..1.0,
                series: series(|c| c.spearman),
            }),
            Chart::Bar(BarChart {
                title: "SSIM of the trained and the randomised map, mean over images".into(),
                y_label: "SSIM".into(),
                groups,
                y_range: -1.0..1.0,
                series: series(|c| Some(c.ssim)),
            }),
        ],
        banner,
    )
}
