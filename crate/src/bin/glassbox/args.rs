//! Arguments more than one subcommand takes: the engine, the model and how images are cut to it, the
//! methods, the image size limit.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};

use glassbox::cam::CamMethod;
use glassbox::engine::EngineKind;
use glassbox::model::{Classifier, Model};
use glassbox::preprocess::ImageLimits;

#[derive(Clone, Copy, ValueEnum)]
pub enum EngineArg {
    /// onnxruntime when its library is found (ORT_DYLIB_PATH, the export venv, the system), else tract.
    Auto,
    /// tract (built in).
    #[value(name = "cpu")]
    Tract,
    /// onnxruntime, loaded at run time.
    Onnxruntime,
    /// wonnx on a WebGPU/Vulkan/Metal adapter.
    Webgpu,
}

impl EngineArg {
    /// The engine to load; `auto` says on stderr which one it picked and why.
    pub fn resolve(self) -> EngineKind {
        match self {
            EngineArg::Auto => {
                let choice = glassbox::engine::fastest_cpu();
                eprintln!("engine (auto): {}", choice.reason);
                choice.kind
            }
            EngineArg::Tract => EngineKind::Tract,
            EngineArg::Onnxruntime => EngineKind::Onnxruntime,
            EngineArg::Webgpu => EngineKind::Webgpu,
        }
    }
}

#[derive(Args)]
pub struct ModelArgs {
    /// A model manifest (.json) or a bare .onnx (torchvision preprocessing, ImageNet labels).
    #[arg(long, default_value = "models/mobilenet_v2_1.0_224.json")]
    pub model: PathBuf,
    /// Inference engine.
    #[arg(long, value_enum, default_value = "auto")]
    pub engine: EngineArg,
    /// Images per engine call (graphs with a dynamic batch axis; LIME's prediction batches).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Refuse images with more pixels than this (decompression bombs).
    #[arg(long, default_value_t = 64.0)]
    pub max_megapixels: f64,
    /// How images are cut to the model's input: `manifest` (the model's own transforms; ResNet-50 V2:
    /// Resize(232) + CenterCrop(224)) or `lime-tutorial` (Resize((256, 256)) + CenterCrop(224), lime's
    /// image tutorial, to reproduce its LIME exactly).
    #[arg(long, value_enum, default_value = "manifest")]
    pub view: ViewArg,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ViewArg {
    Manifest,
    LimeTutorial,
}

impl ModelArgs {
    /// The model in its engine, cut to the view asked for.
    pub async fn load_classifier(&self) -> Result<Classifier> {
        // Every error of `from_path` names the file it is about.
        let mut model = Model::from_path(&self.model)?;
        if self.view == ViewArg::LimeTutorial {
            model.manifest.preprocessing = model
                .manifest
                .preprocessing
                .lime_tutorial()
                .with_context(|| format!("--view lime-tutorial with {}", self.model.display()))?;
        }
        // The engine's and the head check's errors do not know the file: name it.
        Classifier::load(model, self.engine.resolve(), self.batch)
            .await
            .with_context(|| format!("loading {}", self.model.display()))
    }
}

/// The methods of `--methods`: the CAMs asked for, and whether LIME was.
pub struct Methods {
    pub cams: Vec<CamMethod>,
    pub lime: bool,
}

impl Methods {
    /// Method names (`gradcam`, …, `lime`, or `all`), as `--methods` takes them.
    pub fn parse(names: &[String]) -> Result<Methods> {
        if names.iter().any(|n| n.eq_ignore_ascii_case("all")) {
            return Ok(Methods {
                cams: CamMethod::ALL.to_vec(),
                lime: true,
            });
        }
        let lime = names.iter().any(|n| n.trim().eq_ignore_ascii_case("lime"));
        let cams = names
            .iter()
            .map(|n| n.trim())
            .filter(|n| !n.is_empty() && !n.eq_ignore_ascii_case("lime"))
            .map(CamMethod::from_name)
            .collect::<Result<_>>()?;
        Ok(Methods { cams, lime })
    }
}

/// `--max-megapixels` as the decoder's limit.
pub fn image_limits(max_megapixels: f64) -> ImageLimits {
    ImageLimits {
        max_pixels: (max_megapixels * 1e6) as u64,
    }
}
