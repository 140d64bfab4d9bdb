//! Speed, measured as this project claims it: per image, per engine, at the batch each graph runs, and each
//! method as a multiple of the forward passes it makes. `glassbox bench` runs these and prints the table
//! README's benchmark section is written from.
//!
//! Timings on a shared 2-core machine are noisy, so a bench interleaves its subjects (round 1: every engine,
//! round 2: every engine, …) and reports the minimum and the median; comparisons are ratios within one run,
//! never absolute numbers across runs.

use std::path::{Path, PathBuf};

use anyhow::{ensure, Context, Result};
use serde::{Deserialize, Serialize};

use crate::cam::{CamMethod, CamOptions};
use crate::engine::EngineKind;
use crate::explain;
use crate::lime::LimeParams;
use crate::model::{Classifier, Model};
use crate::progress::{Progress, Silent};

/// What one bench run times.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Model manifests (or bare `.onnx` files), e.g. a graph at batch 1 and its batch-8 export.
    pub models: Vec<PathBuf>,
    /// Every graph runs on each of these engines.
    pub engines: Vec<EngineKind>,
    /// Interleaved rounds: every graph on every engine, then again.
    pub rounds: usize,
    /// Timed passes per graph, engine and round.
    pub passes: usize,
    /// The CAMs timed on `image`.
    pub cams: Vec<CamMethod>,
    /// LIME's samples when it is timed on `image`; 0: it is not.
    pub lime_samples: usize,
    /// The image the methods explain; `None` when no method is timed.
    pub image: Option<image::RgbImage>,
    /// The yardstick: a Python with onnxruntime, timing its own forward pass of each graph in the same
    /// rounds ([`YARDSTICK_ENGINE`]).
    pub ort_python: Option<PathBuf>,
    /// Threads of the CPU engines (the yardstick gets as many).
    pub threads: usize,
}

/// Every measurement of one bench run, in the order they were made (`glassbox bench --json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchRun {
    pub threads: usize,
    /// Per graph: each engine, then the yardstick when there is one.
    pub forward: Vec<ForwardTiming>,
    pub methods: Vec<MethodTiming>,
}

/// The engine name of the yardstick's timings: onnxruntime's own forward pass, run from Python.
pub const YARDSTICK_ENGINE: &str = "onnxruntime (Python)";

impl BenchRun {
    /// The yardstick's timing of `graph`, when the run had one.
    pub fn yardstick(&self, graph: &str) -> Option<&ForwardTiming> {
        self.forward
            .iter()
            .find(|t| t.graph == graph && t.engine == YARDSTICK_ENGINE)
    }
}

/// One graph on each engine, with its yardstick when there is one.
struct GraphTimings {
    engines: Vec<EngineTiming>,
    yardstick: Option<ForwardTiming>,
}

/// A graph loaded into one engine and its forward passes so far.
struct EngineTiming {
    classifier: Classifier,
    timing: ForwardTiming,
}

/// Times every graph of `config` on every engine in interleaved rounds (the yardstick in the same rounds),
/// then each method on each graph and engine as a multiple of its passes.
pub async fn run(config: &BenchConfig, progress: &dyn Progress) -> Result<BenchRun> {
    let empty_timing = |classifier: &Classifier, engine: String| ForwardTiming {
        graph: classifier.model.manifest.name.clone(),
        engine,
        batch: classifier.engine.max_batch(),
        per_image_ms: Vec::new(),
    };
    let mut graphs = Vec::new();
    for path in &config.models {
        let model = Model::from_path(path)?;
        let mut engines = Vec::new();
        for &kind in &config.engines {
            let classifier = Classifier::load(model.clone(), kind, None).await?;
            let timing = empty_timing(&classifier, classifier.engine.name());
            engines.push(EngineTiming { classifier, timing });
        }
        let yardstick = match (&config.ort_python, engines.first()) {
            (Some(_), Some(first)) => Some(empty_timing(
                &first.classifier,
                YARDSTICK_ENGINE.to_string(),
            )),
            _ => None,
        };
        graphs.push(GraphTimings { engines, yardstick });
    }
    for round in 0..config.rounds {
        progress.stage(
            &format!("bench: round {} of {}", round + 1, config.rounds),
            graphs.len() as u64,
        );
        for graph in &mut graphs {
            for engine in &mut graph.engines {
                time_forward(&engine.classifier, config.passes, true, &mut engine.timing).await?;
            }
            if let (Some(python), Some(yardstick), Some(first)) = (
                &config.ort_python,
                &mut graph.yardstick,
                graph.engines.first(),
            ) {
                yardstick.per_image_ms.extend(ort_python_passes(
                    python,
                    &first.classifier.model.onnx,
                    config.passes,
                    config.threads,
                )?);
            }
            progress.advance(1);
        }
    }
    let mut methods = Vec::new();
    if let Some(image) = &config.image {
        for engine in graphs.iter().flat_map(|g| &g.engines) {
            let pass_ms = engine.timing.median_ms() * engine.timing.batch as f64;
            methods.extend(
                time_methods(
                    &engine.classifier,
                    image,
                    &config.cams,
                    config.lime_samples,
                    pass_ms,
                )
                .await?,
            );
        }
    }
    Ok(BenchRun {
        threads: config.threads,
        forward: graphs
            .into_iter()
            .flat_map(|g| g.engines.into_iter().map(|e| e.timing).chain(g.yardstick))
            .collect(),
        methods,
    })
}

/// onnxruntime's forward pass of `onnx` in Python: milliseconds per image of `passes` passes.
fn ort_python_passes(
    python: &Path,
    onnx: &[u8],
    passes: usize,
    threads: usize,
) -> Result<Vec<f64>> {
    let file = std::env::temp_dir().join(format!("glassbox-bench-{}.onnx", std::process::id()));
    std::fs::write(&file, onnx).with_context(|| format!("cannot write {}", file.display()))?;
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/reference/ort_forward_bench.py");
    let out = std::process::Command::new(python)
        .arg(&script)
        .arg(&file)
        .args([
            "--passes",
            &passes.to_string(),
            "--threads",
            &threads.to_string(),
        ])
        .output()
        .with_context(|| format!("running {}", python.display()));
    std::fs::remove_file(&file).ok();
    let out = out?;
    ensure!(
        out.status.success(),
        "the onnxruntime yardstick ({} {}) failed: {}",
        python.display(),
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).context("the onnxruntime yardstick's output")
}

/// Forward passes of one graph on one engine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForwardTiming {
    /// The model's name (manifest).
    pub graph: String,
    /// The engine's name with its version, e.g. `cpu (tract 0.23)`.
    pub engine: String,
    /// Images per pass (the graph's static batch, or the engine's planned batch of a dynamic one).
    pub batch: usize,
    /// Milliseconds per image of every timed pass (pass time ÷ `batch`), in the order they ran.
    pub per_image_ms: Vec<f64>,
}

impl ForwardTiming {
    pub fn min_ms(&self) -> f64 {
        self.per_image_ms
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min)
    }

    pub fn median_ms(&self) -> f64 {
        median(&self.per_image_ms)
    }
}

/// The median of `values` (the upper one of an even count); NaN when empty.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Times `passes` full-batch forward passes of `classifier` (after one untimed warm-up pass when `warm_up`),
/// appending milliseconds per image to `timing`.
pub async fn time_forward(
    classifier: &Classifier,
    passes: usize,
    warm_up: bool,
    timing: &mut ForwardTiming,
) -> Result<()> {
    let size = classifier.input_size();
    let batch = classifier.engine.max_batch();
    let input = ndarray::Array4::<f32>::zeros((batch, 3, size.height, size.width));
    if warm_up {
        classifier.forward(input.view(), &Silent).await?;
    }
    for _ in 0..passes {
        let started = web_time::Instant::now();
        classifier.forward(input.view(), &Silent).await?;
        timing
            .per_image_ms
            .push(started.elapsed().as_secs_f64() * 1e3 / batch as f64);
    }
    Ok(())
}

/// One method's wall time on one image, against the forward passes it made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MethodTiming {
    pub graph: String,
    pub engine: String,
    /// `gradcam`, `scorecam`, `lime`, …
    pub method: String,
    pub seconds: f64,
    /// Forward passes (engine calls) the method made.
    pub passes: usize,
    /// `seconds` ÷ (`passes` × the median time of one pass): 1.0 means the method costs exactly its passes.
    pub per_pass_overhead: f64,
}

/// Engine calls a method makes on one image: 1 for the one-pass CAMs, 1 + ⌈channels ÷ batch⌉ for
/// ScoreCAM (the forward, then its masked batches), ⌈samples ÷ batch⌉ for LIME.
pub fn method_passes(
    method: Option<CamMethod>,
    channels: usize,
    batch: usize,
    lime_samples: usize,
) -> usize {
    match method {
        Some(CamMethod::ScoreCam) => 1 + channels.div_ceil(batch),
        Some(_) => 1,
        None => lime_samples.div_ceil(batch),
    }
}

/// Times each CAM in `cams`, and LIME with `lime_samples` samples when that is not zero, on `image`;
/// `pass_ms` is the median time of one full-batch pass of this classifier (from [`time_forward`]).
pub async fn time_methods(
    classifier: &Classifier,
    image: &image::RgbImage,
    cams: &[CamMethod],
    lime_samples: usize,
    pass_ms: f64,
) -> Result<Vec<MethodTiming>> {
    let batch = classifier.engine.max_batch();
    let options = CamOptions::default();
    let mut timings = Vec::new();
    let record = |method: &str, seconds: f64, passes: usize| MethodTiming {
        graph: classifier.model.manifest.name.clone(),
        engine: classifier.engine.name(),
        method: method.to_string(),
        seconds,
        passes,
        per_pass_overhead: seconds * 1e3 / (passes as f64 * pass_ms),
    };
    for &method in cams {
        let started = web_time::Instant::now();
        let run =
            explain::explain_cams(classifier, image, &[method], None, &options, &Silent).await?;
        let seconds = started.elapsed().as_secs_f64();
        let channels = run.forward.features.shape()[1];
        timings.push(record(
            method.name(),
            seconds,
            method_passes(Some(method), channels, batch, 0),
        ));
    }
    if lime_samples > 0 {
        let params = LimeParams {
            num_samples: lime_samples,
            batch_size: batch,
            ..LimeParams::default()
        };
        let view = classifier.prepare(image).view;
        let started = web_time::Instant::now();
        explain::explain_lime(classifier, &view, &params, &Silent).await?;
        let seconds = started.elapsed().as_secs_f64();
        timings.push(record(
            "lime",
            seconds,
            method_passes(None, 0, batch, lime_samples),
        ));
    }
    Ok(timings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_minimum_of_the_passes() {
        let t = ForwardTiming {
            graph: "g".into(),
            engine: "e".into(),
            batch: 8,
            per_image_ms: vec![5.0, 1.0, 3.0, 2.0],
        };
        assert_eq!(t.min_ms(), 1.0);
        assert_eq!(t.median_ms(), 3.0);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn passes_of_each_method() {
        // ResNet-50 ScoreCAM at batch 8: the forward, then 2048 masked images in 256 batches.
        assert_eq!(method_passes(Some(CamMethod::ScoreCam), 2048, 8, 0), 257);
        assert_eq!(method_passes(Some(CamMethod::GradCam), 2048, 8, 0), 1);
        // LIME's 1000 samples at batch 1 and 8.
        assert_eq!(method_passes(None, 0, 1, 1000), 1000);
        assert_eq!(method_passes(None, 0, 8, 1000), 125);
    }
}
