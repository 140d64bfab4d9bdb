//! The report: the four deliverables as Markdown with SVG charts and pictures, every number computed by
//! this code in the run the text describes.
//!
//! - D1 `d1_dissection.md`: CLIP-Dissect findings from the tables in `precomputed/dissect/` ([`dissection`]),
//!   and `dissection.json`: the findings, as [`DissectionFindings`].
//! - D2 `d2_lime.md`: LIME on the sample images.
//! - D3 `d3_cams.md`: Grad-CAM, AblationCAM and ScoreCAM on the same images, with their agreement with LIME,
//!   faithfulness (RISE deletion/insertion), object masks and the randomisation sanity check.
//! - D4 `d4_insights.md`: differences and insights, as sentences built from the numbers.
//! - `results.md`: the headline tables and figures with relative links (the README links to it), and
//!   `results.json`: every number, as [`ReportData`].
//! - beside each `.md`, its `.html` (`html`): what the site's report page shows.
//!
//! Two steps: [`analyse`] runs the models into [`ReportData`] and reads D1's tables into
//! [`DissectionFindings`] (drawing only the pictures of the maps and of top probe images); [`output`]
//! turns them into the documents and charts, reading no file, and can run alone on a saved
//! `results.json` and `dissection.json` ([`output::render_only`]). [`write()`] is both; `glassbox
//! report` is a thin shell.

pub mod analyse;
mod cases;
pub mod chart;
pub mod data;
pub mod dissection;
mod figures;
mod html;
mod markdown;
pub mod output;
mod panels;
mod text;

pub use analyse::{write, ReportConfig, ReportSummary};
pub use data::{DissectionFindings, ReportData};
