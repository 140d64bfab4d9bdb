//! Small raster charts (line charts, grouped bar charts) drawn straight into PNGs.
//!
//! Drawn with `embedded-graphics` (primitives + built-in bitmap fonts) on an `image::RgbImage`: no
//! system fonts, no native libraries, the same pixels on every machine and in the browser. Text is ASCII.

use std::convert::Infallible;

use embedded_graphics::mono_font::ascii::{FONT_6X13, FONT_9X15_BOLD};
use embedded_graphics::mono_font::{MonoFont, MonoTextStyle};
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{Line, PrimitiveStyle, Rectangle};
use embedded_graphics::text::{Alignment, Baseline, Text, TextStyleBuilder};
use image::{Rgb, RgbImage};

/// Colours of the methods, fixed so every chart of the report uses the same one for a method.
pub const PALETTE: [[u8; 3]; 6] = [
    [31, 119, 180],  // blue
    [255, 127, 14],  // orange
    [44, 160, 44],   // green
    [214, 39, 40],   // red
    [148, 103, 189], // purple
    [140, 86, 75],   // brown
];

const BLACK: Rgb888 = Rgb888::new(0, 0, 0);
const GREY: Rgb888 = Rgb888::new(200, 200, 200);
const WHITE: Rgb888 = Rgb888::new(255, 255, 255);

/// An RGB image that embedded-graphics can draw on.
pub struct Canvas(pub RgbImage);

impl Canvas {
    pub fn new(width: u32, height: u32) -> Self {
        Canvas(RgbImage::from_pixel(width, height, Rgb([255, 255, 255])))
    }

    fn text(&mut self, s: &str, at: Point, font: &MonoFont, color: Rgb888, align: Alignment, baseline: Baseline) {
        let style = MonoTextStyle::new(font, color);
        let layout = TextStyleBuilder::new().alignment(align).baseline(baseline).build();
        let _ = Text::with_text_style(s, at, style, layout).draw(self);
    }

    fn line(&mut self, a: Point, b: Point, color: Rgb888, width: u32) {
        let _ = Line::new(a, b).into_styled(PrimitiveStyle::with_stroke(color, width)).draw(self);
    }

    fn fill(&mut self, top_left: Point, size: Size, color: Rgb888) {
        let _ = Rectangle::new(top_left, size).into_styled(PrimitiveStyle::with_fill(color)).draw(self);
    }
}

impl OriginDimensions for Canvas {
    fn size(&self) -> Size {
        Size::new(self.0.width(), self.0.height())
    }
}

impl DrawTarget for Canvas {
    type Color = Rgb888;
    type Error = Infallible;

    fn draw_iter<I: IntoIterator<Item = Pixel<Rgb888>>>(&mut self, pixels: I) -> Result<(), Infallible> {
        let (w, h) = self.0.dimensions();
        for Pixel(p, c) in pixels {
            if p.x >= 0 && p.y >= 0 && (p.x as u32) < w && (p.y as u32) < h {
                self.0.put_pixel(p.x as u32, p.y as u32, Rgb([c.r(), c.g(), c.b()]));
            }
        }
        Ok(())
    }
}

fn color(i: usize) -> Rgb888 {
    let [r, g, b] = PALETTE[i % PALETTE.len()];
    Rgb888::new(r, g, b)
}

/// One named series of a chart.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    /// (x, y) points for line charts; for bar charts only `y` of each group is used, in group order.
    pub points: Vec<(f64, f64)>,
}

/// Plot area geometry and axis mapping shared by both chart kinds.
struct Frame {
    left: i32,
    top: i32,
    width: i32,
    height: i32,
    x_range: (f64, f64),
    y_range: (f64, f64),
}

impl Frame {
    fn px(&self, x: f64, y: f64) -> Point {
        let fx = (x - self.x_range.0) / (self.x_range.1 - self.x_range.0);
        let fy = (y - self.y_range.0) / (self.y_range.1 - self.y_range.0);
        Point::new(
            self.left + (fx * self.width as f64).round() as i32,
            self.top + self.height - (fy * self.height as f64).round() as i32,
        )
    }

    /// Title, axis box, horizontal grid with y tick labels, and the axis labels.
    fn draw_axes(&self, canvas: &mut Canvas, title: &str, x_label: &str, y_label: &str, y_ticks: usize) {
        canvas.text(title, Point::new(canvas.0.width() as i32 / 2, 8), &FONT_9X15_BOLD, BLACK, Alignment::Center, Baseline::Top);
        for i in 0..=y_ticks {
            let y = self.y_range.0 + (self.y_range.1 - self.y_range.0) * i as f64 / y_ticks as f64;
            let p = self.px(self.x_range.0, y);
            canvas.line(p, Point::new(self.left + self.width, p.y), GREY, 1);
            canvas.text(&format_tick(y), Point::new(self.left - 6, p.y), &FONT_6X13, BLACK, Alignment::Right, Baseline::Middle);
        }
        let _ = Rectangle::new(Point::new(self.left, self.top), Size::new(self.width as u32 + 1, self.height as u32 + 1))
            .into_styled(PrimitiveStyle::with_stroke(BLACK, 1))
            .draw(canvas);
        canvas.text(y_label, Point::new(self.left, self.top - 6), &FONT_6X13, BLACK, Alignment::Left, Baseline::Bottom);
        let bottom = canvas.0.height() as i32 - 6;
        canvas.text(x_label, Point::new(self.left + self.width / 2, bottom), &FONT_6X13, BLACK, Alignment::Center, Baseline::Bottom);
    }

    fn draw_legend(&self, canvas: &mut Canvas, names: &[&str]) {
        let longest = names.iter().map(|n| n.len()).max().unwrap_or(0) as i32;
        let box_w = 30 + longest * 6 + 8;
        let x0 = self.left + self.width - box_w - 6;
        let y0 = self.top + 6;
        canvas.fill(Point::new(x0, y0), Size::new(box_w as u32, (names.len() * 16 + 6) as u32), WHITE);
        for (i, name) in names.iter().enumerate() {
            let y = y0 + 11 + 16 * i as i32;
            canvas.fill(Point::new(x0 + 6, y - 5), Size::new(18, 10), color(i));
            canvas.text(name, Point::new(x0 + 30, y), &FONT_6X13, BLACK, Alignment::Left, Baseline::Middle);
        }
    }
}

fn format_tick(v: f64) -> String {
    if v.abs() >= 10.0 || v == v.round() {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

const WIDTH: u32 = 760;
const HEIGHT: u32 = 420;

fn frame(canvas_w: u32, canvas_h: u32, x_range: (f64, f64), y_range: (f64, f64), bottom_margin: i32) -> Frame {
    let (left, top, right) = (64, 48, 16);
    Frame {
        left,
        top,
        width: canvas_w as i32 - left - right,
        height: canvas_h as i32 - top - bottom_margin,
        x_range,
        y_range,
    }
}

/// Curves over a shared x axis (e.g. deletion/insertion scores over the fraction of pixels).
pub fn line_chart(title: &str, x_label: &str, y_label: &str, x_range: (f64, f64), y_range: (f64, f64), series: &[Series]) -> RgbImage {
    let mut canvas = Canvas::new(WIDTH, HEIGHT);
    let f = frame(WIDTH, HEIGHT, x_range, y_range, 48);
    f.draw_axes(&mut canvas, title, x_label, y_label, 5);
    for i in 0..=5 {
        let x = x_range.0 + (x_range.1 - x_range.0) * i as f64 / 5.0;
        let p = f.px(x, y_range.0);
        canvas.line(p, Point::new(p.x, p.y + 4), BLACK, 1);
        canvas.text(&format_tick(x), Point::new(p.x, p.y + 6), &FONT_6X13, BLACK, Alignment::Center, Baseline::Top);
    }
    for (i, s) in series.iter().enumerate() {
        let clamp = |(x, y): (f64, f64)| f.px(x, y.clamp(y_range.0, y_range.1));
        for pair in s.points.windows(2) {
            canvas.line(clamp(pair[0]), clamp(pair[1]), color(i), 2);
        }
    }
    let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
    f.draw_legend(&mut canvas, &names);
    canvas.0
}

/// Grouped bars: one group per label, one bar per series (value `series[s].points[g].1`). Missing values
/// (NaN) leave a gap marked with a small cross.
pub fn bar_chart(title: &str, y_label: &str, groups: &[String], y_range: (f64, f64), series: &[Series]) -> RgbImage {
    let width = WIDTH.max(120 + groups.len() as u32 * (series.len() as u32 * 14 + 24));
    let mut canvas = Canvas::new(width, HEIGHT + 40);
    let f = frame(width, HEIGHT + 40, (0.0, groups.len().max(1) as f64), y_range, 88);
    f.draw_axes(&mut canvas, title, "", y_label, 5);
    let group_w = f.width as f64 / groups.len().max(1) as f64;
    let bar_w = ((group_w - 12.0) / series.len().max(1) as f64).max(2.0);
    let zero = f.px(0.0, 0.0f64.clamp(y_range.0, y_range.1)).y;
    for (g, label) in groups.iter().enumerate() {
        let gx = f.left as f64 + g as f64 * group_w + 6.0;
        for (s, ser) in series.iter().enumerate() {
            let x = (gx + s as f64 * bar_w).round() as i32;
            let Some(&(_, v)) = ser.points.get(g) else { continue };
            if v.is_nan() {
                let c = Point::new(x + bar_w as i32 / 2, zero - 4);
                canvas.line(c + Point::new(-3, -3), c + Point::new(3, 3), color(s), 1);
                canvas.line(c + Point::new(-3, 3), c + Point::new(3, -3), color(s), 1);
                continue;
            }
            let y = f.px(0.0, v.clamp(y_range.0, y_range.1)).y;
            let (top, h) = if y < zero { (y, zero - y) } else { (zero, y - zero) };
            canvas.fill(Point::new(x, top), Size::new((bar_w as u32).saturating_sub(1).max(1), h.max(1) as u32), color(s));
        }
        // Group labels, two lines when long (image names).
        let cx = (gx + group_w / 2.0 - 6.0).round() as i32;
        let base = f.top + f.height + 6;
        let max_chars = (group_w / 6.0).floor().max(3.0) as usize;
        for (line, chunk) in wrap(label, max_chars).iter().take(3).enumerate() {
            canvas.text(chunk, Point::new(cx, base + 13 * line as i32), &FONT_6X13, BLACK, Alignment::Center, Baseline::Top);
        }
    }
    let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
    f.draw_legend(&mut canvas, &names);
    canvas.0
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

/// Pictures side by side, each with a caption above it; panels keep their own size, top-aligned.
pub fn strip(panels: &[(String, RgbImage)]) -> RgbImage {
    const GAP: u32 = 6;
    const CAPTION: u32 = 20;
    let width = panels.iter().map(|(_, p)| p.width() + GAP).sum::<u32>() + GAP;
    let height = panels.iter().map(|(_, p)| p.height()).max().unwrap_or(0) + CAPTION + GAP;
    let mut canvas = Canvas::new(width.max(1), height.max(1));
    let mut x = GAP;
    for (caption, panel) in panels {
        image::imageops::replace(&mut canvas.0, panel, x as i64, CAPTION as i64);
        let centre = Point::new((x + panel.width() / 2) as i32, CAPTION as i32 / 2);
        canvas.text(caption, centre, &FONT_6X13, BLACK, Alignment::Center, Baseline::Middle);
        x += panel.width() + GAP;
    }
    canvas.0
}

/// Pictures stacked top to bottom, left-aligned, on white.
pub fn stack(rows: &[RgbImage]) -> RgbImage {
    let width = rows.iter().map(|r| r.width()).max().unwrap_or(1);
    let height = rows.iter().map(|r| r.height()).sum::<u32>().max(1);
    let mut canvas = Canvas::new(width, height);
    let mut y = 0;
    for r in rows {
        image::imageops::replace(&mut canvas.0, r, 0, y as i64);
        y += r.height();
    }
    canvas.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has_colour(img: &RgbImage, c: [u8; 3]) -> usize {
        img.pixels().filter(|p| p.0 == c).count()
    }

    #[test]
    fn line_chart_draws_each_series_in_its_colour() {
        let s = vec![
            Series { name: "up".into(), points: vec![(0.0, 0.0), (1.0, 1.0)] },
            Series { name: "down".into(), points: vec![(0.0, 1.0), (1.0, 0.0)] },
        ];
        let img = line_chart("t", "x", "y", (0.0, 1.0), (0.0, 1.0), &s);
        assert!(has_colour(&img, PALETTE[0]) > 500);
        assert!(has_colour(&img, PALETTE[1]) > 500);
        assert_eq!(has_colour(&img, PALETTE[2]), 0);
    }

    #[test]
    fn bar_heights_are_proportional_to_values() {
        let groups = vec!["a".to_string(), "b".to_string()];
        let s = vec![Series { name: "v".into(), points: vec![(0.0, 0.25), (1.0, 1.0)] }];
        let img = bar_chart("t", "y", &groups, (0.0, 1.0), &s);
        // Count blue pixels per half of the image (legend swatch sits in the right half).
        let half = img.width() / 2;
        let count = |range: std::ops::Range<u32>| {
            range.flat_map(|x| (0..img.height()).map(move |y| (x, y))).filter(|&(x, y)| img.get_pixel(x, y).0 == PALETTE[0]).count()
        };
        let (left, right) = (count(0..half) as f64, count(half..img.width()) as f64 - 18.0 * 10.0);
        assert!((right / left - 4.0).abs() < 0.2, "{left} {right}");
    }

    #[test]
    fn strip_and_stack_place_panels_without_overlap() {
        let red = RgbImage::from_pixel(10, 8, Rgb([255, 0, 0]));
        let green = RgbImage::from_pixel(12, 8, Rgb([0, 255, 0]));
        let s = strip(&[("r".into(), red.clone()), ("g".into(), green.clone())]);
        assert_eq!(has_colour(&s, [255, 0, 0]), 80);
        assert_eq!(has_colour(&s, [0, 255, 0]), 96);
        let st = stack(&[s.clone(), s.clone()]);
        assert_eq!(st.height(), 2 * s.height());
        assert_eq!(has_colour(&st, [255, 0, 0]), 160);
    }

    #[test]
    fn wrap_splits_long_names() {
        assert_eq!(wrap("West_Highland_white_terrier", 10), vec!["West", "Highland", "white", "terrier"]);
        assert_eq!(wrap("goldfish", 10), vec!["goldfish"]);
    }
}
