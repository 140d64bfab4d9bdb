//! Small raster charts (line charts, grouped bar charts) drawn straight into PNGs.
//!
//! Drawn straight on an `image::RgbImage` with a 3×5 bitmap font (upper case): no system fonts, no
//! native libraries, the same pixels on every machine and in the browser.

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

type Color = [u8; 3];
const BLACK: Color = [0, 0, 0];
const GREY: Color = [200, 200, 200];
const WHITE: Color = [255, 255, 255];

/// A 3×5 bitmap font (upper case, digits, common punctuation), each row 3 bits, left bit = 0b100.
fn glyph(c: char) -> [u8; 5] {
    match c.to_ascii_uppercase() {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 7, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 1, 1],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        'A' => [2, 5, 7, 5, 5],
        'B' => [6, 5, 6, 5, 6],
        'C' => [3, 4, 4, 4, 3],
        'D' => [6, 5, 5, 5, 6],
        'E' => [7, 4, 6, 4, 7],
        'F' => [7, 4, 6, 4, 4],
        'G' => [3, 4, 5, 5, 3],
        'H' => [5, 5, 7, 5, 5],
        'I' => [7, 2, 2, 2, 7],
        'J' => [1, 1, 1, 5, 2],
        'K' => [5, 5, 6, 5, 5],
        'L' => [4, 4, 4, 4, 7],
        'M' => [5, 7, 7, 5, 5],
        'N' => [6, 5, 5, 5, 5],
        'O' => [2, 5, 5, 5, 2],
        'P' => [6, 5, 6, 4, 4],
        'Q' => [2, 5, 5, 6, 3],
        'R' => [6, 5, 6, 5, 5],
        'S' => [3, 4, 2, 1, 6],
        'T' => [7, 2, 2, 2, 2],
        'U' => [5, 5, 5, 5, 7],
        'V' => [5, 5, 5, 5, 2],
        'W' => [5, 5, 7, 7, 5],
        'X' => [5, 5, 2, 5, 5],
        'Y' => [5, 5, 2, 2, 2],
        'Z' => [7, 1, 2, 4, 7],
        ' ' => [0, 0, 0, 0, 0],
        '.' => [0, 0, 0, 0, 2],
        ',' => [0, 0, 0, 2, 4],
        '-' => [0, 0, 7, 0, 0],
        '+' => [0, 2, 7, 2, 0],
        ':' => [0, 2, 0, 2, 0],
        '(' => [1, 2, 2, 2, 1],
        ')' => [4, 2, 2, 2, 4],
        '/' => [1, 1, 2, 4, 4],
        '=' => [0, 7, 0, 7, 0],
        '%' => [5, 1, 2, 4, 5],
        '_' => [0, 0, 0, 0, 7],
        '>' => [4, 2, 1, 2, 4],
        '<' => [1, 2, 4, 2, 1],
        '|' => [2, 2, 2, 2, 2],
        '\'' => [2, 2, 0, 0, 0],
        '!' => [2, 2, 2, 0, 2],
        _ => [7, 1, 2, 0, 2], // '?'
    }
}

/// Pixels per font pixel, and the advance of one character.
const SCALE: i32 = 2;
const ADVANCE: i32 = 4 * SCALE;
const TEXT_HEIGHT: i32 = 5 * SCALE;

/// Horizontal anchoring of text.
#[derive(Clone, Copy)]
enum Align {
    Left,
    Center,
    Right,
}

/// An RGB image with the few drawing primitives the charts need.
pub struct Canvas(pub RgbImage);

impl Canvas {
    pub fn new(width: u32, height: u32) -> Self {
        Canvas(RgbImage::from_pixel(width, height, Rgb(WHITE)))
    }

    fn put(&mut self, x: i32, y: i32, c: Color) {
        if x >= 0 && y >= 0 && (x as u32) < self.0.width() && (y as u32) < self.0.height() {
            self.0.put_pixel(x as u32, y as u32, Rgb(c));
        }
    }

    /// Text whose top edge is at `y` and whose anchor (left/centre/right) is at `x`.
    fn text(&mut self, s: &str, x: i32, y: i32, color: Color, align: Align) {
        let width = s.chars().count() as i32 * ADVANCE - SCALE;
        let x0 = match align {
            Align::Left => x,
            Align::Center => x - width / 2,
            Align::Right => x - width,
        };
        for (i, c) in s.chars().enumerate() {
            let rows = glyph(c);
            for (r, bits) in rows.iter().enumerate() {
                for col in 0..3 {
                    if bits & (4 >> col) != 0 {
                        let (px, py) =
                            (x0 + i as i32 * ADVANCE + col * SCALE, y + r as i32 * SCALE);
                        self.fill(px, py, SCALE, SCALE, color);
                    }
                }
            }
        }
    }

    /// A line `width` pixels thick (Bresenham, with a square pen).
    fn line(&mut self, (x0, y0): (i32, i32), (x1, y1): (i32, i32), color: Color, width: i32) {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        let half = (width - 1) / 2;
        loop {
            self.fill(x - half, y - half, width, width, color);
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    fn fill(&mut self, x: i32, y: i32, w: i32, h: i32, color: Color) {
        for yy in y..y + h {
            for xx in x..x + w {
                self.put(xx, yy, color);
            }
        }
    }

    fn outline(&mut self, x: i32, y: i32, w: i32, h: i32, color: Color) {
        self.line((x, y), (x + w, y), color, 1);
        self.line((x + w, y), (x + w, y + h), color, 1);
        self.line((x + w, y + h), (x, y + h), color, 1);
        self.line((x, y + h), (x, y), color, 1);
    }
}

fn color(i: usize) -> Color {
    PALETTE[i % PALETTE.len()]
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
    fn px(&self, x: f64, y: f64) -> (i32, i32) {
        let fx = (x - self.x_range.0) / (self.x_range.1 - self.x_range.0);
        let fy = (y - self.y_range.0) / (self.y_range.1 - self.y_range.0);
        (
            self.left + (fx * self.width as f64).round() as i32,
            self.top + self.height - (fy * self.height as f64).round() as i32,
        )
    }

    /// Title, axis box, horizontal grid with y tick labels, and the axis labels.
    fn draw_axes(
        &self,
        canvas: &mut Canvas,
        title: &str,
        x_label: &str,
        y_label: &str,
        y_ticks: usize,
    ) {
        let centre = canvas.0.width() as i32 / 2;
        canvas.text(title, centre, 10, BLACK, Align::Center);
        for i in 0..=y_ticks {
            let y = self.y_range.0 + (self.y_range.1 - self.y_range.0) * i as f64 / y_ticks as f64;
            let (x0, py) = self.px(self.x_range.0, y);
            canvas.line((x0, py), (self.left + self.width, py), GREY, 1);
            canvas.text(
                &format_tick(y),
                self.left - 6,
                py - TEXT_HEIGHT / 2,
                BLACK,
                Align::Right,
            );
        }
        canvas.outline(self.left, self.top, self.width, self.height, BLACK);
        canvas.text(
            y_label,
            self.left,
            self.top - TEXT_HEIGHT - 6,
            BLACK,
            Align::Left,
        );
        let bottom = canvas.0.height() as i32 - TEXT_HEIGHT - 8;
        canvas.text(
            x_label,
            self.left + self.width / 2,
            bottom,
            BLACK,
            Align::Center,
        );
    }

    fn draw_legend(&self, canvas: &mut Canvas, names: &[&str]) {
        let longest = names.iter().map(|n| n.chars().count()).max().unwrap_or(0) as i32;
        let box_w = 30 + longest * ADVANCE + 8;
        let x0 = self.left + self.width - box_w - 6;
        let y0 = self.top + 6;
        canvas.fill(x0, y0, box_w, names.len() as i32 * 16 + 6, WHITE);
        for (i, name) in names.iter().enumerate() {
            let y = y0 + 11 + 16 * i as i32;
            canvas.fill(x0 + 6, y - 5, 18, 10, color(i));
            canvas.text(name, x0 + 30, y - TEXT_HEIGHT / 2, BLACK, Align::Left);
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

fn frame(
    canvas_w: u32,
    canvas_h: u32,
    x_range: (f64, f64),
    y_range: (f64, f64),
    bottom_margin: i32,
) -> Frame {
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
pub fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    x_range: (f64, f64),
    y_range: (f64, f64),
    series: &[Series],
) -> RgbImage {
    let mut canvas = Canvas::new(WIDTH, HEIGHT);
    let f = frame(WIDTH, HEIGHT, x_range, y_range, 48);
    f.draw_axes(&mut canvas, title, x_label, y_label, 5);
    for i in 0..=5 {
        let x = x_range.0 + (x_range.1 - x_range.0) * i as f64 / 5.0;
        let (px, py) = f.px(x, y_range.0);
        canvas.line((px, py), (px, py + 4), BLACK, 1);
        canvas.text(&format_tick(x), px, py + 8, BLACK, Align::Center);
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
pub fn bar_chart(
    title: &str,
    y_label: &str,
    groups: &[String],
    y_range: (f64, f64),
    series: &[Series],
) -> RgbImage {
    let width = WIDTH.max(120 + groups.len() as u32 * (series.len() as u32 * 14 + 24));
    let mut canvas = Canvas::new(width, HEIGHT + 40);
    let f = frame(
        width,
        HEIGHT + 40,
        (0.0, groups.len().max(1) as f64),
        y_range,
        88,
    );
    f.draw_axes(&mut canvas, title, "", y_label, 5);
    let group_w = f.width as f64 / groups.len().max(1) as f64;
    let bar_w = ((group_w - 12.0) / series.len().max(1) as f64).max(2.0);
    let zero = f.px(0.0, 0.0f64.clamp(y_range.0, y_range.1)).1;
    for (g, label) in groups.iter().enumerate() {
        let gx = f.left as f64 + g as f64 * group_w + 6.0;
        for (s, ser) in series.iter().enumerate() {
            let x = (gx + s as f64 * bar_w).round() as i32;
            let Some(&(_, v)) = ser.points.get(g) else {
                continue;
            };
            if v.is_nan() {
                let (cx, cy) = (x + bar_w as i32 / 2, zero - 4);
                canvas.line((cx - 3, cy - 3), (cx + 3, cy + 3), color(s), 1);
                canvas.line((cx - 3, cy + 3), (cx + 3, cy - 3), color(s), 1);
                continue;
            }
            let y = f.px(0.0, v.clamp(y_range.0, y_range.1)).1;
            let (top, h) = if y < zero {
                (y, zero - y)
            } else {
                (zero, y - zero)
            };
            canvas.fill(x, top, (bar_w as i32 - 1).max(1), h.max(1), color(s));
        }
        // Group labels, two lines when long (image names).
        let cx = (gx + group_w / 2.0 - 6.0).round() as i32;
        let base = f.top + f.height + 6;
        let max_chars = (group_w / ADVANCE as f64).floor().max(3.0) as usize;
        for (line, chunk) in wrap(label, max_chars).iter().take(3).enumerate() {
            canvas.text(
                chunk,
                cx,
                base + (TEXT_HEIGHT + 4) * line as i32,
                BLACK,
                Align::Center,
            );
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
        canvas.text(
            caption,
            (x + panel.width() / 2) as i32,
            (CAPTION as i32 - TEXT_HEIGHT) / 2,
            BLACK,
            Align::Center,
        );
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
            Series {
                name: "up".into(),
                points: vec![(0.0, 0.0), (1.0, 1.0)],
            },
            Series {
                name: "down".into(),
                points: vec![(0.0, 1.0), (1.0, 0.0)],
            },
        ];
        let img = line_chart("t", "x", "y", (0.0, 1.0), (0.0, 1.0), &s);
        assert!(has_colour(&img, PALETTE[0]) > 500);
        assert!(has_colour(&img, PALETTE[1]) > 500);
        assert_eq!(has_colour(&img, PALETTE[2]), 0);
    }

    #[test]
    fn bar_heights_are_proportional_to_values() {
        let groups = vec!["a".to_string(), "b".to_string()];
        let s = vec![Series {
            name: "v".into(),
            points: vec![(0.0, 0.25), (1.0, 1.0)],
        }];
        // y up to 2 keeps the taller bar clear of the legend in the top-right corner.
        let img = bar_chart("t", "y", &groups, (0.0, 2.0), &s);
        // The tallest blue column in each half is that half's bar (the legend swatch is far shorter).
        let half = img.width() / 2;
        let tallest = |range: std::ops::Range<u32>| {
            range
                .map(|x| {
                    (0..img.height())
                        .filter(|&y| img.get_pixel(x, y).0 == PALETTE[0])
                        .count()
                })
                .max()
                .unwrap_or(0) as f64
        };
        let (left, right) = (tallest(0..half), tallest(half..img.width()));
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
        assert_eq!(
            wrap("West_Highland_white_terrier", 10),
            vec!["West", "Highland", "white", "terrier"]
        );
        assert_eq!(wrap("goldfish", 10), vec!["goldfish"]);
    }
}
