//! The report: the four deliverables as Markdown with PNG figures, every number computed by this code
//! in the run the text describes.
//!
//! - D1 `d1_dissection.md`: CLIP-Dissect findings from the tables in `precomputed/dissect/` ([`dissection`]).
//! - D2 `d2_lime.md`: LIME on the sample images.
//! - D3 `d3_cams.md`: Grad-CAM, AblationCAM and ScoreCAM on the same images, with their agreement with LIME,
//!   faithfulness (RISE deletion/insertion), object masks and the randomisation sanity check.
//! - D4 `d4_insights.md`: differences and insights, as sentences built from the numbers.
//! - `results.md`: the headline tables and figures with relative links (the README links to it), and
//!   `results.json`: every number.
//!
//! [`write()`] runs it all from one call; `glassbox report` is a thin shell over it.

pub mod chart;
pub mod dissection;
mod markdown;
mod run;

pub use run::{write, ReportConfig, ReportSummary};
