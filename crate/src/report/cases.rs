//! The object cases of the report, read from a job file (`precomputed/report/jobs/objects.json`): each an
//! image and masks of the object in it, so adding a case needs no code.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ndarray::Array2;
use serde::Deserialize;

use crate::compare::objects::{mask_from_index_image, QuokkaAnnotations};
use crate::preprocess::{self, ImageLimits};

/// The job file.
#[derive(Debug, Clone, Deserialize)]
struct ObjectsJob {
    cases: Vec<CaseSpec>,
}

#[derive(Debug, Clone, Deserialize)]
struct CaseSpec {
    name: String,
    /// Relative to the shared data folder.
    image: PathBuf,
    masks: Vec<MaskSpec>,
}

#[derive(Debug, Clone, Deserialize)]
struct MaskSpec {
    name: String,
    /// Where the mask comes from, written into the report.
    source: String,
    #[serde(flatten)]
    shape: MaskShape,
}

/// How a mask is drawn; files are relative to the shared data folder.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case")]
enum MaskShape {
    /// A label image (grey levels = class indices) and the classes that are the object.
    IndexImage { file: PathBuf, classes: Vec<u8> },
    /// The first polygon of imgaug-style annotations.
    Polygon { annotations: PathBuf },
    /// The first bounding box of imgaug-style annotations.
    BoundingBox { annotations: PathBuf },
}

/// An object case ready to run: the image and its masks at the photo's size.
pub struct ObjectCase {
    pub name: String,
    pub image: PathBuf,
    pub masks: Vec<ObjectMask>,
}

/// One mask of an object case.
pub struct ObjectMask {
    pub name: String,
    pub source: String,
    pub mask: Array2<bool>,
}

/// Reads the job file and draws every mask.
pub fn read(job: &Path, shared_data: &Path) -> Result<Vec<ObjectCase>> {
    let text = std::fs::read_to_string(job)
        .with_context(|| format!("cannot read the object cases {}", job.display()))?;
    let spec: ObjectsJob = serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: expected {{\"cases\": [{{\"name\", \"image\", \"masks\": [{{\"name\", \"source\", \
             \"index_image\" | \"polygon\" | \"bounding_box\"}}]}}]}}",
            job.display()
        )
    })?;
    spec.cases
        .into_iter()
        .map(|case| {
            let image = shared_data.join(&case.image);
            let (width, height) = image::image_dimensions(&image)
                .with_context(|| format!("cannot read {}", image.display()))?;
            let masks = case
                .masks
                .into_iter()
                .map(|m| {
                    let mask = draw(&m.shape, shared_data, width as usize, height as usize)
                        .with_context(|| format!("object case {}, mask {}", case.name, m.name))?;
                    Ok(ObjectMask {
                        name: m.name,
                        source: m.source,
                        mask,
                    })
                })
                .collect::<Result<_>>()?;
            Ok(ObjectCase {
                name: case.name,
                image,
                masks,
            })
        })
        .collect()
}

fn draw(shape: &MaskShape, shared: &Path, width: usize, height: usize) -> Result<Array2<bool>> {
    let annotations = |file: &Path| -> Result<QuokkaAnnotations> {
        let path = shared.join(file);
        QuokkaAnnotations::parse(
            &std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?,
        )
    };
    match shape {
        MaskShape::IndexImage { file, classes } => {
            let img = preprocess::load(&shared.join(file), &ImageLimits::default())?;
            mask_from_index_image(&img, classes)
                .with_context(|| format!("reading the mask {}", file.display()))
        }
        MaskShape::Polygon { annotations: file } => annotations(file)?.polygon_mask(width, height),
        MaskShape::BoundingBox { annotations: file } => annotations(file)?.box_mask(width, height),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_job_reads_every_case_with_masks_at_the_photo_size() {
        // The shared data folder is the project's test data: every test run has it.
        let shared = crate::files::shared_data_dir();
        let job =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../precomputed/report/jobs/objects.json");
        let cases = read(&job, &shared).unwrap();
        let names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["bird", "dog", "quokka"]);
        for case in &cases {
            let (w, h) = image::image_dimensions(&case.image).unwrap();
            for m in &case.masks {
                assert_eq!(m.mask.dim(), (h as usize, w as usize), "{}", m.name);
                let on = m.mask.iter().filter(|&&v| v).count();
                assert!(on > 0 && on < m.mask.len(), "{}: {on} pixels", m.name);
            }
        }
        assert_eq!(cases[2].masks.len(), 2, "quokka outline and box");
    }
}
