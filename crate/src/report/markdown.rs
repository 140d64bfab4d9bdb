//! Markdown helpers: tables and number formatting (the numbers themselves are the data's: `data`).

/// A Markdown table.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<S: ToString>(header: &[S]) -> Self {
        Table {
            header: header.iter().map(S::to_string).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let line = |cells: &[String]| {
            format!(
                "| {} |\n",
                cells
                    .iter()
                    .map(|c| c.replace('|', "\\|"))
                    .collect::<Vec<_>>()
                    .join(" | ")
            )
        };
        let mut s = line(&self.header);
        s.push_str(&format!("|{}\n", "---|".repeat(self.header.len())));
        for r in &self.rows {
            s.push_str(&line(r));
        }
        s
    }
}

/// A number with 3 decimals, or "n/a" when undefined.
pub fn num(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.3}"),
        _ => "n/a".into(),
    }
}

/// `n/d` as "n/d (p %)".
pub fn rate(n: usize, d: usize) -> String {
    if d == 0 {
        "n/a".into()
    } else {
        format!("{n}/{d} ({:.0} %)", 100.0 * n as f64 / d as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_renders_header_separator_and_escaped_cells() {
        let mut t = Table::new(&["a", "b"]);
        t.row(vec!["1".into(), "x|y".into()]);
        assert_eq!(t.render(), "| a | b |\n|---|---|\n| 1 | x\\|y |\n");
    }

    #[test]
    fn undefined_numbers_and_rates_read_n_a() {
        assert_eq!(num(None), "n/a");
        assert_eq!(rate(1, 4), "1/4 (25 %)");
    }
}
