//! The `glassbox` command line: a thin shell over the library, one file per subcommand. It parses
//! arguments, shows progress bars, calls the library and prints or writes what it returns; every number
//! comes from the same library calls the browser makes.

mod args;
mod bars;
mod bench;
mod compare;
mod dissect;
mod explain;
mod report;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "glassbox",
    version,
    about = "Explain what image classifiers see: Grad-CAM family, LIME, CLIP-Dissect"
)]
struct Cli {
    /// Threads of the CPU engines (default: every core; results do not depend on it).
    #[arg(long, global = true)]
    threads: Option<std::num::NonZeroUsize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Classify images and explain the prediction with CAMs and LIME; writes .npy, .png and explanation.json.
    Explain(explain::ExplainArgs),
    /// Write the full report (D1-D4 Markdown, figures, results.json): LIME vs CAMs, faithfulness, sanity check.
    Report(report::ReportArgs),
    /// Agreement of each CAM with LIME (IoU at three thresholds, Spearman, pointing game) for every image
    /// of `glassbox explain` output; writes agreement.json and prints a table.
    Compare(compare::CompareArgs),
    /// Forward pass per image of each engine and graph (interleaved rounds, onnxruntime as the yardstick),
    /// and each method's cost against its passes.
    Bench(bench::BenchArgs),
    /// CLIP-Dissect: label every unit of the job's layers with a concept (soft-WPMI); writes tables.
    Dissect(dissect::DissectArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let threads = cli
        .threads
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, |n| n.get());
    glassbox::engine::set_threads(threads);
    let result = match cli.command {
        Command::Explain(args) => pollster::block_on(explain::run(args)),
        Command::Report(args) => pollster::block_on(report::run(args)),
        Command::Compare(args) => compare::run(args),
        Command::Dissect(args) => pollster::block_on(dissect::run(args)),
        Command::Bench(args) => pollster::block_on(bench::run(args, threads)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
