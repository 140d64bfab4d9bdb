//! The report's charts as SVG (plotters' SVG backend): line charts of curves and grouped bar charts,
//! with real text (the viewer lays it out in its own sans-serif font), axis labels in sentence case,
//! a zero line when a range spans zero, and the legend beside the plot, never over the data.

use std::ops::Range;

use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Colours of the methods, fixed so every chart of the report uses the same one for a method.
pub const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),  // blue
    RGBColor(255, 127, 14),  // orange
    RGBColor(44, 160, 44),   // green
    RGBColor(214, 39, 40),   // red
    RGBColor(148, 103, 189), // purple
    RGBColor(140, 86, 75),   // brown
];

const FONT: &str = "sans-serif";
const PLOT_WIDTH: u32 = 640;
const LEGEND_WIDTH: u32 = 230;
const PANEL_HEIGHT: u32 = 340;

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// One named curve: `y[i]` at `x[i]`, in order of x.
#[derive(Debug, Clone)]
pub struct Curve {
    pub name: String,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
}

/// A line chart: curves over a shared x axis.
#[derive(Debug, Clone)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_range: Range<f64>,
    pub y_range: Range<f64>,
    pub curves: Vec<Curve>,
}

/// One bar per group (`None`: no value, marked "n/a").
#[derive(Debug, Clone)]
pub struct BarSeries {
    pub name: String,
    pub values: Vec<Option<f64>>,
}

/// A grouped bar chart: one group per label, one bar per series.
#[derive(Debug, Clone)]
pub struct BarChart {
    pub title: String,
    pub y_label: String,
    pub groups: Vec<String>,
    pub y_range: Range<f64>,
    pub series: Vec<BarSeries>,
}

/// A chart of either kind, so one figure can stack several.
#[derive(Debug, Clone)]
pub enum Chart {
    Line(LineChart),
    Bar(BarChart),
}

fn plot_error<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing a chart: {e:?}")
}

/// Height of the warning line over a chart of a model without real weights.
const BANNER_HEIGHT: u32 = 30;

/// The charts stacked top to bottom in one SVG document, under `banner` (the provenance warning of a
/// model without real weights) when there is one, so the chart cannot be shown without it.
pub fn svg(charts: &[Chart], banner: Option<&str>) -> Result<String> {
    let widest_groups = charts
        .iter()
        .map(|c| match c {
            Chart::Bar(b) => b.groups.len() * group_width(b),
            Chart::Line(_) => 0,
        })
        .max()
        .unwrap_or(0) as u32;
    let plot_width = PLOT_WIDTH.max(90 + widest_groups);
    let heights: Vec<u32> = charts
        .iter()
        .map(|c| match c {
            Chart::Bar(_) => PANEL_HEIGHT + 40,
            Chart::Line(_) => PANEL_HEIGHT,
        })
        .collect();
    let banner_height = if banner.is_some() { BANNER_HEIGHT } else { 0 };
    let size = (
        plot_width + LEGEND_WIDTH,
        banner_height + heights.iter().sum::<u32>().max(1),
    );
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let (top, mut rest) = root.split_vertically(banner_height);
        if let Some(text) = banner {
            top.draw(&Text::new(
                text.to_string(),
                (10, 8),
                (FONT, 15, FontStyle::Bold)
                    .into_font()
                    .color(&RGBColor(200, 0, 0)),
            ))
            .map_err(plot_error)?;
        }
        for (chart, &height) in charts.iter().zip(&heights) {
            let (panel, below) = rest.split_vertically(height);
            rest = below;
            let (plot, legend) = panel.split_horizontally(plot_width);
            match chart {
                Chart::Line(c) => {
                    line(&plot, c)?;
                    let names: Vec<&str> = c.curves.iter().map(|s| s.name.as_str()).collect();
                    draw_legend(&legend, &names)?;
                }
                Chart::Bar(c) => {
                    bars(&plot, c)?;
                    let names: Vec<&str> = c.series.iter().map(|s| s.name.as_str()).collect();
                    draw_legend(&legend, &names)?;
                }
            }
        }
        root.present().map_err(plot_error)?;
    }
    Ok(text)
}

/// Pixels per character of the group labels (12 px sans-serif).
const LABEL_CHAR_PX: usize = 7;

/// Pixels a bar group needs: room for its bars, and for the longest word of its label (labels wrap at
/// word breaks, never inside a word).
fn group_width(c: &BarChart) -> usize {
    let longest_word = c
        .groups
        .iter()
        .flat_map(|g| g.split(['_', ' ', '-']))
        .map(|w| w.chars().count())
        .max()
        .unwrap_or(0);
    (c.series.len() * 16 + 28).max(longest_word * LABEL_CHAR_PX + 10)
}

/// Tick labels with no more decimals than they need (`3`, `0.5`, `0.25`).
fn tick(v: &f64) -> String {
    let text = format!("{v:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.into()
    }
}

fn line(area: &DrawingArea<SVGBackend, Shift>, c: &LineChart) -> Result<()> {
    let mut chart = ChartBuilder::on(area)
        .caption(&c.title, (FONT, 17))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(56)
        .build_cartesian_2d(c.x_range.clone(), c.y_range.clone())
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc(&c.x_label)
        .y_desc(&c.y_label)
        .x_labels(6)
        .y_labels(6)
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .light_line_style(WHITE)
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()
        .map_err(plot_error)?;
    for (i, curve) in c.curves.iter().enumerate() {
        let (lo, hi) = (c.y_range.start, c.y_range.end);
        chart
            .draw_series(LineSeries::new(
                curve
                    .x
                    .iter()
                    .zip(&curve.y)
                    .map(|(&x, &y)| (x, y.clamp(lo, hi))),
                color(i).stroke_width(2),
            ))
            .map_err(plot_error)?;
    }
    Ok(())
}

fn bars(area: &DrawingArea<SVGBackend, Shift>, c: &BarChart) -> Result<()> {
    let groups = c.groups.len().max(1) as f64;
    let (lo, hi) = (c.y_range.start, c.y_range.end);
    let mut chart = ChartBuilder::on(area)
        .caption(&c.title, (FONT, 17))
        .margin(12)
        .x_label_area_size(58)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..groups, lo..hi)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .x_label_formatter(&|_| String::new())
        .y_desc(&c.y_label)
        .y_labels(6)
        .y_label_formatter(&tick)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .light_line_style(WHITE)
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()
        .map_err(plot_error)?;
    let n = c.series.len().max(1) as f64;
    let bar = 0.8 / n;
    let baseline = 0.0f64.clamp(lo, hi);
    for (s, series) in c.series.iter().enumerate() {
        for (g, value) in series.values.iter().enumerate() {
            let x0 = g as f64 + 0.1 + s as f64 * bar;
            match value {
                Some(v) if v.is_finite() => {
                    let v = v.clamp(lo, hi);
                    chart
                        .draw_series(std::iter::once(Rectangle::new(
                            [(x0, baseline), (x0 + bar * 0.9, v)],
                            color(s).filled(),
                        )))
                        .map_err(plot_error)?;
                }
                _ => {
                    chart
                        .draw_series(std::iter::once(
                            EmptyElement::at((x0 + bar * 0.45, baseline))
                                + Text::new(
                                    "n/a",
                                    (-8, -14),
                                    (FONT, 10).into_font().color(&color(s)),
                                ),
                        ))
                        .map_err(plot_error)?;
                }
            }
        }
    }
    if lo < 0.0 && hi > 0.0 {
        chart
            .draw_series(LineSeries::new([(0.0, 0.0), (groups, 0.0)], BLACK))
            .map_err(plot_error)?;
    }
    // Group labels under the axis, wrapped at word breaks (image names are long).
    let label_style = (FONT, 12)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Top));
    let chars = (area.dim_in_pixel().0 as f64 / groups / 7.0)
        .floor()
        .max(4.0) as usize;
    for (g, label) in c.groups.iter().enumerate() {
        for (k, part) in wrap(label, chars).into_iter().take(3).enumerate() {
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((g as f64 + 0.5, lo))
                        + Text::new(part, (0, 6 + 14 * k as i32), label_style.clone()),
                ))
                .map_err(plot_error)?;
        }
    }
    Ok(())
}

fn draw_legend(area: &DrawingArea<SVGBackend, Shift>, names: &[&str]) -> Result<()> {
    for (i, name) in names.iter().enumerate() {
        let y = 48 + 22 * i as i32;
        area.draw(&Rectangle::new(
            [(6, y - 6), (24, y + 6)],
            color(i).filled(),
        ))
        .map_err(plot_error)?;
        area.draw(&Text::new(
            name.to_string(),
            (30, y),
            (FONT, 13)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(plot_error)?;
    }
    Ok(())
}

/// Splits a label into lines of at most `width` characters, at '_', ' ' or '-' when possible.
fn wrap(label: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for word in label.split_inclusive(['_', ' ', '-']) {
        if !current.is_empty() && current.len() + word.len() > width {
            lines.push(current.trim_end_matches(['_', ' ']).to_string());
            current.clear();
        }
        current.push_str(word);
        while current.len() > width {
            let rest = current.split_off(width);
            lines.push(std::mem::replace(&mut current, rest));
        }
    }
    if !current.is_empty() {
        lines.push(current.trim_end_matches(['_', ' ']).to_string());
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(svg: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .filter_map(|t| {
                let body = t.split_once('>')?.1;
                Some(body.split_once("</text>")?.0.trim().to_string())
            })
            .collect()
    }

    #[test]
    fn a_line_chart_carries_its_words_as_text_and_each_curve_in_its_colour() {
        let svg = svg(
            &[Chart::Line(LineChart {
                title: "Deletion: goldfish".into(),
                x_label: "Fraction of pixels deleted".into(),
                y_label: "p(class)".into(),
                x_range: 0.0..1.0,
                y_range: 0.0..1.0,
                curves: vec![
                    Curve {
                        name: "Grad-CAM (AUC 0.120)".into(),
                        x: vec![0.0, 1.0],
                        y: vec![1.0, 0.0],
                    },
                    Curve {
                        name: "LIME (AUC 0.300)".into(),
                        x: vec![0.0, 0.5, 1.0],
                        y: vec![1.0, 0.6, 0.0],
                    },
                ],
            })],
            Some("TEST MIRROR — not the official weights"),
        )
        .unwrap();
        let words = texts(&svg);
        for w in [
            "TEST MIRROR — not the official weights",
            "Deletion: goldfish",
            "Fraction of pixels deleted",
            "p(class)",
            "Grad-CAM (AUC 0.120)",
            "LIME (AUC 0.300)",
        ] {
            assert!(words.iter().any(|t| t == w), "no text {w:?} in {words:?}");
        }
        assert!(
            svg.contains("#1F77B4") || svg.contains("rgb(31,119,180)") || svg.contains("#1f77b4")
        );
        assert!(svg.contains("polyline"), "curves are polylines");
    }

    #[test]
    fn bars_have_a_zero_line_names_under_them_and_n_a_for_missing_values() {
        let svg = svg(
            &[Chart::Bar(BarChart {
                title: "Spearman".into(),
                y_label: "Spearman ρ".into(),
                groups: vec!["West_Highland_white_terrier".into(), "kite".into()],
                y_range: -1.0..1.0,
                series: vec![BarSeries {
                    name: "Grad-CAM".into(),
                    values: vec![Some(-0.5), None],
                }],
            })],
            None,
        )
        .unwrap();
        let words = texts(&svg);
        assert!(words.iter().any(|t| t == "n/a"), "{words:?}");
        assert!(words.iter().any(|t| t == "kite"), "{words:?}");
        assert!(
            words.iter().any(|t| t == "West_Highland_white_terrier"),
            "{words:?}"
        );
        assert!(words.iter().any(|t| t == "0"), "a zero tick: {words:?}");
        assert!(words.iter().any(|t| t == "-0.5"), "{words:?}");
    }

    #[test]
    fn ticks_carry_only_the_decimals_they_need() {
        assert_eq!(tick(&3.0), "3");
        assert_eq!(tick(&0.5), "0.5");
        assert_eq!(tick(&0.25), "0.25");
        assert_eq!(tick(&-0.0), "0");
        assert_eq!(tick(&-1.0), "-1");
    }

    #[test]
    fn wrap_splits_long_names() {
        assert_eq!(
            wrap("West_Highland_white_terrier", 10),
            vec!["West", "Highland", "white", "terrier"]
        );
        assert_eq!(wrap("goldfish", 10), vec!["goldfish"]);
    }
}
