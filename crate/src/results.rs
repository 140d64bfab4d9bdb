//! Typed results shared by the CLI's files, the browser and the report: which method made a map, what
//! `glassbox explain` records per image (`explanation.json`), and the agreement of CAMs with LIME that
//! `explain`, `glassbox compare`, the explain page and the report all compute with
//! [`compare::lime_vs_cam`](crate::compare::lime_vs_cam), whose [`AgreementSet`] they all record.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cam::CamMethod;
pub use crate::compare::lime_vs_cam::{AgreementSet, CamAgreement};
use crate::explain::Prediction;
use crate::lime::{LimeExplanation, Stability};
pub use crate::preprocess::Size;

/// The method behind a map: one of the CAMs, or LIME. Serialised as the method's name (`"gradcam"`,
/// `"lime"`), the names the CLI takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Method {
    Cam(CamMethod),
    Lime,
}

impl Method {
    /// The name the CLI takes and the files carry.
    pub fn name(self) -> &'static str {
        match self {
            Method::Cam(m) => m.name(),
            Method::Lime => "lime",
        }
    }

    /// The name people write (`Grad-CAM`, `LIME`), for tables and legends.
    pub fn title(self) -> &'static str {
        match self {
            Method::Cam(CamMethod::GradCam) => "Grad-CAM",
            Method::Cam(CamMethod::AblationCam) => "AblationCAM",
            Method::Cam(CamMethod::ScoreCam) => "ScoreCAM",
            Method::Cam(CamMethod::GradCamPlusPlus) => "Grad-CAM++",
            Method::Cam(CamMethod::XGradCam) => "XGrad-CAM",
            Method::Cam(CamMethod::LayerCam) => "LayerCAM",
            Method::Cam(CamMethod::EigenCam) => "EigenCAM",
            Method::Cam(CamMethod::HiResCam) => "HiResCAM",
            Method::Lime => "LIME",
        }
    }
}

impl From<Method> for String {
    fn from(m: Method) -> String {
        m.name().to_string()
    }
}

impl TryFrom<String> for Method {
    type Error = anyhow::Error;
    fn try_from(name: String) -> anyhow::Result<Method> {
        if name == "lime" {
            Ok(Method::Lime)
        } else {
            CamMethod::from_name(&name).map(Method::Cam)
        }
    }
}

/// The model that made an explanation, enough to tell whether two files come from the same one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelIdentity {
    pub name: String,
    pub description: String,
    pub sha256: Option<String>,
}

/// `explanation.json`: what `glassbox explain` found for one image. The maps themselves are in the
/// folder's `.npy` files (`<cam>.npy`, `lime_segments.npy`, `lime_mask.npy`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExplanationRecord {
    pub image: String,
    pub model: ModelIdentity,
    pub engine: String,
    pub input_size: Size,
    /// How the image was cut to the input (`Resize(232) + CenterCrop(224)`); empty in older files.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub view: String,
    pub top5: Vec<Prediction>,
    /// The explained class.
    pub target: Prediction,
    /// Seconds of the first forward pass, which every method shares.
    pub forward_seconds: f64,
    pub methods: MethodRecords,
    /// Each CAM against LIME, when LIME and CAMs ran together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreement: Option<AgreementSet>,
    /// The EXIF orientation applied before explaining (`glassbox explain --upright`); absent: the pixels as
    /// stored, as Pillow reads them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turned_upright: Option<String>,
}

/// The methods of one explanation: `{"gradcam": {...}, ..., "lime": {...}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MethodRecords {
    #[serde(flatten)]
    pub cams: BTreeMap<CamMethod, CamRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lime: Option<LimeRecord>,
}

/// One CAM of an explanation (its map is `<method>.npy`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CamRecord {
    pub seconds: f64,
}

/// LIME's explanation of one image: every superpixel's weight per explained class (the superpixels are
/// `lime_segments.npy`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LimeRecord {
    pub seconds: f64,
    pub explanation: LimeExplanation,
    /// The spread over seeds, when several ran.
    pub stability: Option<Stability>,
}

/// `glassbox compare`'s output: the agreement of every image of an explain folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgreementTable {
    pub threshold: f32,
    pub images: Vec<ImageAgreement>,
}

/// One image of [`AgreementTable`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageAgreement {
    /// The explain sub-folder (the image's file stem).
    pub image: String,
    pub target: Prediction,
    pub agreement: AgreementSet,
}

/// One image of a `glassbox explain` output folder, read back: its record, its CAM maps and its LIME
/// explanation with the superpixels.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug, Clone)]
pub struct ExplainedImage {
    pub dir: std::path::PathBuf,
    pub record: ExplanationRecord,
    pub cams: Vec<LoadedCam>,
    pub lime: Option<LimeExplanation>,
}

/// A CAM map read from `<method>.npy`.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug, Clone)]
pub struct LoadedCam {
    pub method: CamMethod,
    pub map: ndarray::Array2<f32>,
    pub seconds: f64,
}

#[cfg(not(target_arch = "wasm32"))]
impl ExplainedImage {
    /// Reads `dir/explanation.json`, the CAM maps it lists and, when LIME ran, `lime_segments.npy`.
    pub fn read(dir: &std::path::Path) -> anyhow::Result<ExplainedImage> {
        use anyhow::Context;
        let json_path = dir.join("explanation.json");
        let text = std::fs::read_to_string(&json_path).with_context(|| {
            format!(
                "cannot read {} (is {} a `glassbox explain` output folder of one image?)",
                json_path.display(),
                dir.display()
            )
        })?;
        let record: ExplanationRecord = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not an explanation written by this glassbox",
                json_path.display()
            )
        })?;
        let mut cams = Vec::new();
        for (&method, cam) in &record.methods.cams {
            let path = dir.join(format!("{}.npy", method.name()));
            let map = crate::npy::read_f32(&path)?
                .into_dimensionality()
                .with_context(|| format!("{} is not a 2-D map", path.display()))?;
            cams.push(LoadedCam {
                method,
                map,
                seconds: cam.seconds,
            });
        }
        let lime = match &record.methods.lime {
            Some(recorded) => {
                let mut lime = recorded.explanation.clone();
                let path = dir.join("lime_segments.npy");
                lime.segments = crate::npy::read::<i32>(&path)?
                    .into_dimensionality()
                    .with_context(|| format!("{} is not a 2-D label image", path.display()))?;
                if let Some(&top) = lime.top_labels.first() {
                    lime.top_mask = lime
                        .mask_for(top)
                        .context("LIME's top label has no surrogate")?;
                }
                Some(lime)
            }
            None => None,
        };
        Ok(ExplainedImage {
            dir: dir.to_path_buf(),
            record,
            cams,
            lime,
        })
    }

    /// Every image of an explain output folder (`<folder>/<image stem>/explanation.json`), by name.
    pub fn read_folder(folder: &std::path::Path) -> anyhow::Result<Vec<ExplainedImage>> {
        use anyhow::Context;
        let mut dirs: Vec<std::path::PathBuf> = std::fs::read_dir(folder)
            .with_context(|| format!("cannot list {}", folder.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("explanation.json").is_file())
            .collect();
        dirs.sort();
        anyhow::ensure!(
            !dirs.is_empty(),
            "{} holds no `glassbox explain` output (no <image>/explanation.json)",
            folder.display()
        );
        dirs.iter().map(|d| ExplainedImage::read(d)).collect()
    }

    /// The CAMs of this image against its LIME explanation of the explained class.
    pub fn agreement(&self, threshold: f32) -> anyhow::Result<AgreementSet> {
        use crate::compare::lime_vs_cam::{compare, CamMap, LimeMaps};
        use anyhow::Context;
        let lime = self.lime.as_ref().with_context(|| {
            format!(
                "{} has no LIME explanation: run `glassbox explain` with lime among --methods",
                self.dir.display()
            )
        })?;
        anyhow::ensure!(
            !self.cams.is_empty(),
            "{} has no CAM: run `glassbox explain` with a CAM among --methods",
            self.dir.display()
        );
        let maps: Vec<CamMap> = self
            .cams
            .iter()
            .map(|c| CamMap {
                method: c.method,
                map: c.map.view(),
            })
            .collect();
        let lime = LimeMaps::of(lime, self.record.target.class)
            .with_context(|| format!("{}", self.dir.display()))?;
        compare(&maps, &lime, threshold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_written_as_their_cli_names_and_read_back() {
        let all: Vec<Method> = CamMethod::ALL
            .into_iter()
            .map(Method::Cam)
            .chain([Method::Lime])
            .collect();
        let json = serde_json::to_string(&all).unwrap();
        assert!(
            json.starts_with(r#"["gradcam","ablationcam","scorecam""#),
            "{json}"
        );
        assert!(json.ends_with(r#""lime"]"#), "{json}");
        let back: Vec<Method> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, all);
        assert!(serde_json::from_str::<Method>(r#""LIME""#).is_err());
        assert!(serde_json::from_str::<Method>(r#""nonsense""#).is_err());
    }

    #[test]
    fn the_site_titles_every_method_as_rust_does() {
        // www/methods.js is the site's one list of titles; this keeps it equal to `Method::title`.
        let site = include_str!("../../www/methods.js");
        for method in CamMethod::ALL
            .into_iter()
            .map(Method::Cam)
            .chain([Method::Lime])
        {
            let entry = format!("{}: '{}'", method.name(), method.title());
            assert!(site.contains(&entry), "www/methods.js lacks `{entry}`");
        }
    }

    #[test]
    fn cam_records_sit_beside_lime_in_one_object() {
        let json = r#"{"gradcam": {"seconds": 0.5}, "scorecam": {"seconds": 2.0}}"#;
        let records: MethodRecords = serde_json::from_str(json).unwrap();
        assert_eq!(records.cams.len(), 2);
        assert_eq!(records.cams[&CamMethod::ScoreCam].seconds, 2.0);
        assert!(records.lime.is_none());
        let again = serde_json::to_value(&records).unwrap();
        assert_eq!(
            again,
            serde_json::from_str::<serde_json::Value>(json).unwrap()
        );
    }
}
