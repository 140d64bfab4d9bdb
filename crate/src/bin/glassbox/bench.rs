//! `glassbox bench`: the library's bench run ([`glassbox::bench::run`]), printed as the tables README's
//! benchmark section is written from.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

use glassbox::bench::{BenchConfig, BenchRun};
use glassbox::engine::EngineKind;
use glassbox::preprocess;

use crate::args::{image_limits, Methods};
use crate::bars::Bars;

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

/// The engines `bench` times: those named, or every CPU engine that loads here.
fn bench_engines(names: &[String]) -> Result<Vec<EngineKind>> {
    if names.is_empty() {
        let mut kinds = vec![EngineKind::Tract];
        let fastest = glassbox::engine::fastest_cpu();
        eprintln!("bench: {}", fastest.reason);
        if fastest.kind != EngineKind::Tract {
            kinds.push(fastest.kind);
        }
        return Ok(kinds);
    }
    names.iter().map(|n| n.trim().parse()).collect()
}

pub async fn run(args: BenchArgs, threads: usize) -> Result<()> {
    let engines = bench_engines(&args.engines)?;
    let methods = Methods::parse(&args.methods)?;
    let image_path = args.image.clone().unwrap_or_else(|| {
        glassbox::files::shared_data_dir().join("imagenet-samples/n01443537_goldfish.JPEG")
    });
    // Read first, so a missing image stops the run before the timing; only the methods need it.
    let image = if methods.cams.is_empty() && !methods.lime {
        None
    } else {
        Some(preprocess::load(
            &image_path,
            &image_limits(args.max_megapixels),
        )?)
    };
    let config = BenchConfig {
        models: args.models,
        engines,
        rounds: args.rounds.max(1),
        passes: args.passes.max(1),
        cams: methods.cams,
        lime_samples: if methods.lime { args.lime_samples } else { 0 },
        image,
        ort_python: args.ort_python,
        threads,
    };
    let bars = Bars::new();
    let run = glassbox::bench::run(&config, &bars).await?;
    bars.finish();
    print_forward(&run, &config);
    if config.image.is_some() {
        print_methods(&run, &image_path);
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&run)? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// The forward passes per image, each beside the yardstick of its graph.
fn print_forward(run: &BenchRun, config: &BenchConfig) {
    println!(
        "Forward pass per image, {} thread(s), {} rounds × {} passes (min / median ms):\n",
        run.threads, config.rounds, config.passes
    );
    println!("| graph | batch | engine | per image (ms) | ÷ onnxruntime (Python) |");
    println!("|---|---|---|---|---|");
    for t in &run.forward {
        let ratio = run.yardstick(&t.graph).map_or("–".to_string(), |y| {
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

/// Each method's wall time against its passes.
fn print_methods(run: &BenchRun, image_path: &Path) {
    println!(
        "\nMethods on {} (wall time; × = time ÷ its passes at the median pass time):\n",
        image_path.display()
    );
    println!("| graph | engine | method | passes | seconds | × |");
    println!("|---|---|---|---|---|---|");
    for m in &run.methods {
        println!(
            "| {} | {} | {} | {} | {:.3} | {:.2} |",
            m.graph, m.engine, m.method, m.passes, m.seconds, m.per_pass_overhead
        );
    }
}
