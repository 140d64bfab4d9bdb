//! `glassbox bench`: forward passes and methods timed, printed as the tables README's benchmark section is
//! written from.

use std::path::{Path, PathBuf};

use anyhow::{ensure, Context, Result};
use clap::Args;

use glassbox::engine::EngineKind;
use glassbox::model::{Classifier, Model};
use glassbox::preprocess;

use crate::args::{image_limits, Methods};

#[derive(Args)]
pub struct BenchArgs {
    /// Model manifests (.json) or bare .onnx files to time; e.g. a graph at batch 1 and its batch-8 export.
    #[arg(
        long,
        num_args = 1..,
        default_values = ["models/mobilenet_v2_1.0_224.json", "models/mobilenet_v2_1.0_224_b8.json"]
    )]
    models: Vec<PathBuf>,
    /// Engines to time (default: the CPU engines available here: cpu, and onnxruntime when it loads;
    /// `webgpu` only when named).
    #[arg(long, value_delimiter = ',')]
    engines: Vec<String>,
    /// Interleaved rounds (every graph on every engine, then again).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Timed passes per graph, engine and round.
    #[arg(long, default_value_t = 3)]
    passes: usize,
    /// Methods to time on each graph and engine, as a multiple of their forward passes (CAM names and
    /// `lime`; empty: none). ScoreCAM on a 2048-channel ResNet-50 takes minutes.
    #[arg(long, value_delimiter = ',', default_value = "gradcam,lime")]
    methods: Vec<String>,
    /// LIME samples (the tutorial's 1000).
    #[arg(long, default_value_t = 1000)]
    lime_samples: usize,
    /// The image the methods explain (default: the goldfish of the shared data's ImageNet samples).
    #[arg(long)]
    image: Option<PathBuf>,
    /// The yardstick: onnxruntime's own forward pass through this Python (with onnxruntime installed),
    /// on the same graphs and threads, in the same rounds.
    #[arg(long)]
    ort_python: Option<PathBuf>,
    /// Also write every measurement as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Refuse images with more pixels than this (decompression bombs).
    #[arg(long, default_value_t = 64.0)]
    max_megapixels: f64,
}

/// Every measurement of one `glassbox bench` run (`--json`).
#[derive(serde::Serialize)]
struct BenchRun {
    threads: usize,
    forward: Vec<glassbox::bench::ForwardTiming>,
    methods: Vec<glassbox::bench::MethodTiming>,
}

/// The engines `bench` times: those named, or every CPU engine that loads here.
fn bench_engines(names: &[String]) -> Result<Vec<EngineKind>> {
    if names.is_empty() {
        let mut kinds = vec![EngineKind::Cpu];
        let fastest = glassbox::engine::fastest_cpu();
        eprintln!("bench: {}", fastest.reason);
        if fastest.kind != EngineKind::Cpu {
            kinds.push(fastest.kind);
        }
        return Ok(kinds);
    }
    names.iter().map(|n| n.trim().parse()).collect()
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

pub async fn run(args: BenchArgs, threads: usize) -> Result<()> {
    use glassbox::bench::{time_forward, time_methods, ForwardTiming};
    let kinds = bench_engines(&args.engines)?;
    let Methods { cams, lime } = Methods::parse(&args.methods)?;
    let image_path = args.image.clone().unwrap_or_else(|| {
        glassbox::model::shared_data_dir().join("imagenet-samples/n01443537_goldfish.JPEG")
    });
    // Read first, so a missing image stops the run before the timing; only the methods need it.
    let image = if cams.is_empty() && !lime {
        None
    } else {
        Some(preprocess::load(
            &image_path,
            &image_limits(args.max_megapixels),
        )?)
    };

    let passes = args.passes.max(1);
    let rounds = args.rounds.max(1);
    // One graph on each engine, and its onnxruntime-in-Python yardstick when asked for.
    struct Graph {
        engines: Vec<(Classifier, ForwardTiming)>,
        yardstick: Option<ForwardTiming>,
    }
    let timing = |classifier: &Classifier, engine: String| ForwardTiming {
        graph: classifier.model.manifest.name.clone(),
        engine,
        batch: classifier.engine.max_batch(),
        per_image_ms: Vec::new(),
    };
    let mut graphs = Vec::new();
    for path in &args.models {
        let model = Model::from_path(path)?;
        let mut engines = Vec::new();
        for &kind in &kinds {
            let classifier = Classifier::load(model.clone(), kind, None).await?;
            let t = timing(&classifier, classifier.engine.name());
            engines.push((classifier, t));
        }
        let yardstick = args
            .ort_python
            .as_ref()
            .map(|_| timing(&engines[0].0, "onnxruntime (Python)".to_string()));
        graphs.push(Graph { engines, yardstick });
    }
    for round in 0..rounds {
        eprintln!("bench: round {} of {rounds}", round + 1);
        for graph in &mut graphs {
            for (classifier, t) in &mut graph.engines {
                time_forward(classifier, passes, true, t).await?;
            }
            if let (Some(python), Some(t)) = (&args.ort_python, &mut graph.yardstick) {
                let onnx = &graph.engines[0].0.model.onnx;
                t.per_image_ms
                    .extend(ort_python_passes(python, onnx, passes, threads)?);
            }
        }
    }

    println!(
        "Forward pass per image, {threads} thread(s), {} rounds × {} passes (min / median ms):\n",
        rounds, passes
    );
    println!("| graph | batch | engine | per image (ms) | ÷ onnxruntime (Python) |");
    println!("|---|---|---|---|---|");
    for graph in &graphs {
        for t in graph.engines.iter().map(|(_, t)| t).chain(&graph.yardstick) {
            let ratio = graph.yardstick.as_ref().map_or("–".to_string(), |y| {
                format!(
                    "{:.2} / {:.2}",
                    t.min_ms() / y.min_ms(),
                    t.median_ms() / y.median_ms()
                )
            });
            println!(
                "| {} | {} | {} | {:.1} / {:.1} | {ratio} |",
                t.graph,
                t.batch,
                t.engine,
                t.min_ms(),
                t.median_ms()
            );
        }
    }

    let mut methods = Vec::new();
    if let Some(image) = &image {
        println!(
            "\nMethods on {} (wall time; × = time ÷ its passes at the median pass time):\n",
            image_path.display()
        );
        println!("| graph | engine | method | passes | seconds | × |");
        println!("|---|---|---|---|---|---|");
        for (classifier, timing) in graphs.iter().flat_map(|g| &g.engines) {
            let pass_ms = timing.median_ms() * timing.batch as f64;
            let samples = if lime { args.lime_samples } else { 0 };
            for m in time_methods(classifier, image, &cams, samples, pass_ms).await? {
                println!(
                    "| {} | {} | {} | {} | {:.3} | {:.2} |",
                    m.graph, m.engine, m.method, m.passes, m.seconds, m.per_pass_overhead
                );
                methods.push(m);
            }
        }
    }
    if let Some(path) = &args.json {
        let forward = graphs
            .iter()
            .flat_map(|g| g.engines.iter().map(|(_, t)| t).chain(&g.yardstick))
            .cloned()
            .collect();
        let run = BenchRun {
            threads,
            forward,
            methods,
        };
        std::fs::write(path, serde_json::to_string_pretty(&run)? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
