//! Typed results shared by the CLI's files, the browser and the report: which method made a map, one
//! image explained ([`ExplainedImage`]: its prediction, each CAM's map, LIME's explanation), what
//! `glassbox explain` writes of it per image (`explanation.json` beside the maps, [`SavedExplanation`]
//! writes and reads the folder), and the agreement of CAMs with LIME that `explain`, `glassbox compare`,
//! the explain page and the report all compute with [`compare::lime_vs_cam`](crate::compare::lime_vs_cam),
//! whose [`AgreementSet`] they all record.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::cam::CamMethod;
use crate::compare::lime_vs_cam::{self, CamMap, LimeMaps};
pub use crate::compare::lime_vs_cam::{AgreementSet, CamAgreement};
use crate::lime::{LimeExplanation, LimeFit, Stability};
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

/// A class with its softmax probability.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Prediction {
    pub class: usize,
    pub label: String,
    pub probability: f32,
}

/// One image explained: what the model predicted, the class explained, each CAM's map and LIME's
/// explanation. `glassbox explain` computes it ([`crate::explain`]) and writes it ([`SavedExplanation`]),
/// `glassbox compare` and the report read it back, and the report and the page compare its maps; each
/// consumer that needs more (the pixels, the forward pass, a session's earlier results) keeps that beside it.
#[derive(Debug, Clone)]
pub struct ExplainedImage {
    /// The five most probable classes, most probable first.
    pub top5: Vec<Prediction>,
    /// The explained class.
    pub target: Prediction,
    /// Seconds of the first forward pass, which every method shares.
    pub forward_seconds: f64,
    /// Each CAM of `target`, in the order they were asked for (read back: in `CamMethod` order).
    pub cams: Vec<ExplainedCam>,
    /// LIME's explanation, when it ran.
    pub lime: Option<ExplainedLime>,
}

/// A CAM's map of the explained class: H×W on the model's input grid, normalised to [0, 1].
#[derive(Debug, Clone)]
pub struct ExplainedCam {
    pub method: CamMethod,
    pub map: Array2<f32>,
    /// Seconds it took (the shared first forward pass excluded).
    pub seconds: f64,
}

/// LIME's explanation of an image (every superpixel's weight for each of its top classes), with its
/// seconds and, when several seeds ran, how stable its answer is.
#[derive(Debug, Clone)]
pub struct ExplainedLime {
    /// The first seed's explanation.
    pub explanation: LimeExplanation,
    /// Seconds per seed.
    pub seconds: f64,
    /// The spread over seeds, when several ran.
    pub stability: Option<Stability>,
}

impl ExplainedCam {
    /// The map as the agreement with LIME reads it.
    pub fn as_cam_map(&self) -> CamMap<'_> {
        CamMap {
            method: self.method,
            map: self.map.view(),
        }
    }
}

impl ExplainedImage {
    /// Every CAM's map, in order, as the agreement with LIME reads them.
    pub fn cam_maps(&self) -> Vec<CamMap<'_>> {
        self.cams.iter().map(ExplainedCam::as_cam_map).collect()
    }

    /// LIME's mask and per-pixel weights of the explained class; an error when LIME did not run or did not
    /// explain that class (it explains the top classes of the unperturbed image).
    pub fn lime_maps(&self) -> Result<LimeMaps> {
        let lime = self
            .lime
            .as_ref()
            .context("LIME did not explain this image")?;
        LimeMaps::of(&lime.explanation, self.target.class)
    }

    /// Every CAM against LIME's explanation of the explained class, with the third IoU at `threshold`.
    pub fn agreement(&self, threshold: f32) -> Result<AgreementSet> {
        lime_vs_cam::compare(&self.cam_maps(), &self.lime_maps()?, threshold)
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
/// folder's `.npy` files (`<cam>.npy`, `lime_segments.npy`, `lime_mask.npy`); [`SavedExplanation`] writes
/// and reads the two together.
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
    pub explanation: LimeFit,
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

/// Where an explanation comes from: the image file, the model and engine, and how the image was cut to
/// the model's input (what `explanation.json` records beside the [`ExplainedImage`]).
#[derive(Debug, Clone)]
pub struct ExplanationSource {
    /// The image file as given.
    pub image: String,
    pub model: ModelIdentity,
    pub engine: String,
    pub input_size: Size,
    /// How the image was cut to the input (`Resize(232) + CenterCrop(224)`); empty in older files.
    pub view: String,
    /// The EXIF orientation applied before explaining, if any.
    pub turned_upright: Option<String>,
}

/// One image of a `glassbox explain` output folder (`<folder>/<image stem>/`): the [`ExplainedImage`],
/// where it comes from, and the folder. [`SavedExplanation::write`] writes what
/// [`SavedExplanation::read`] reads: `explanation.json`, `<cam>.npy` and `.png` per CAM, and with LIME
/// `lime_segments.npy` (int32), `lime_mask.npy` (uint8, the explained class's top superpixels) and
/// `lime.png`.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug, Clone)]
pub struct SavedExplanation {
    pub dir: std::path::PathBuf,
    pub source: ExplanationSource,
    pub explained: ExplainedImage,
}

#[cfg(not(target_arch = "wasm32"))]
impl SavedExplanation {
    /// Writes the folder; `view` is the image the model saw (the overlays are drawn on it with
    /// `show_cam_on_image`'s `image_weight`). With LIME and CAMs together, `explanation.json` records their
    /// agreement at [`lime_vs_cam::DEFAULT_THRESHOLD`].
    pub fn write(&self, view: &image::RgbImage, image_weight: f32) -> Result<()> {
        use crate::{npy, render};
        let dir = &self.dir;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let write_png = |name: &str, png: Vec<u8>| {
            let path = dir.join(name);
            std::fs::write(&path, png).with_context(|| format!("cannot write {}", path.display()))
        };
        let explained = &self.explained;
        let mut methods = MethodRecords {
            cams: BTreeMap::new(),
            lime: None,
        };
        for cam in &explained.cams {
            let name = cam.method.name();
            npy::write(&dir.join(format!("{name}.npy")), &cam.map.view().into_dyn())?;
            let overlay = render::overlay(view, cam.map.view(), image_weight)?;
            write_png(&format!("{name}.png"), render::png_rgb(&overlay)?)?;
            methods.cams.insert(
                cam.method,
                CamRecord {
                    seconds: cam.seconds,
                },
            );
        }
        let mut agreement = None;
        if let Some(lime) = &explained.lime {
            npy::write(
                &dir.join("lime_segments.npy"),
                &lime.explanation.segments.view().into_dyn(),
            )?;
            let maps = explained.lime_maps()?;
            let mask = maps.mask.mapv(u8::from);
            npy::write(&dir.join("lime_mask.npy"), &mask.view().into_dyn())?;
            let pixels = crate::lime::rgb_array(view);
            let (h, w, _) = pixels.dim();
            let rgba = image::RgbaImage::from_raw(
                w as u32,
                h as u32,
                crate::lime::mark_boundaries_rgba(pixels.view(), mask.mapv(i32::from).view()),
            )
            .context("LIME overlay has the wrong size")?;
            write_png("lime.png", render::png_rgba(&rgba)?)?;
            if !explained.cams.is_empty() {
                agreement = Some(lime_vs_cam::compare(
                    &explained.cam_maps(),
                    &maps,
                    lime_vs_cam::DEFAULT_THRESHOLD,
                )?);
            }
            methods.lime = Some(LimeRecord {
                seconds: lime.seconds,
                explanation: lime.explanation.fit(),
                stability: lime.stability.clone(),
            });
        }
        let source = &self.source;
        let record = ExplanationRecord {
            image: source.image.clone(),
            model: source.model.clone(),
            engine: source.engine.clone(),
            input_size: source.input_size,
            view: source.view.clone(),
            top5: explained.top5.clone(),
            target: explained.target.clone(),
            forward_seconds: explained.forward_seconds,
            methods,
            agreement,
            turned_upright: source.turned_upright.clone(),
        };
        let path = dir.join("explanation.json");
        std::fs::write(&path, serde_json::to_string_pretty(&record)?)
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// Reads `dir/explanation.json`, the CAM maps it lists and, when LIME ran, `lime_segments.npy`.
    pub fn read(dir: &std::path::Path) -> Result<SavedExplanation> {
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
            cams.push(ExplainedCam {
                method,
                map,
                seconds: cam.seconds,
            });
        }
        let lime = match record.methods.lime {
            Some(recorded) => {
                let path = dir.join("lime_segments.npy");
                let segments = crate::npy::read::<i32>(&path)?
                    .into_dimensionality()
                    .with_context(|| format!("{} is not a 2-D label image", path.display()))?;
                let explanation = LimeExplanation::from_fit(recorded.explanation, segments)
                    .with_context(|| format!("{} and {}", json_path.display(), path.display()))?;
                Some(ExplainedLime {
                    explanation,
                    seconds: recorded.seconds,
                    stability: recorded.stability,
                })
            }
            None => None,
        };
        Ok(SavedExplanation {
            dir: dir.to_path_buf(),
            source: ExplanationSource {
                image: record.image,
                model: record.model,
                engine: record.engine,
                input_size: record.input_size,
                view: record.view,
                turned_upright: record.turned_upright,
            },
            explained: ExplainedImage {
                top5: record.top5,
                target: record.target,
                forward_seconds: record.forward_seconds,
                cams,
                lime,
            },
        })
    }

    /// Every image of an explain output folder (`<folder>/<image stem>/explanation.json`), by name.
    pub fn read_folder(folder: &std::path::Path) -> Result<Vec<SavedExplanation>> {
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
        dirs.iter().map(|d| SavedExplanation::read(d)).collect()
    }

    /// The CAMs of this image against its LIME explanation of the explained class; an error that says
    /// which `glassbox explain` run is missing when the folder lacks either.
    pub fn agreement(&self, threshold: f32) -> Result<AgreementSet> {
        anyhow::ensure!(
            self.explained.lime.is_some(),
            "{} has no LIME explanation: run `glassbox explain` with lime among --methods",
            self.dir.display()
        );
        anyhow::ensure!(
            !self.explained.cams.is_empty(),
            "{} has no CAM: run `glassbox explain` with a CAM among --methods",
            self.dir.display()
        );
        self.explained
            .agreement(threshold)
            .with_context(|| format!("{}", self.dir.display()))
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
