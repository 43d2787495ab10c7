//! The command line: parse → load and validate → run → export. It reads as
//! a table of contents; each step is a call into the library. Errors are
//! mapped to exit codes here and nowhere else.
//!
//! Exit codes: 0 success, 1 a run or write failed, 2 bad usage or an
//! invalid scenario, 130 interrupted by Ctrl-C.

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::report::ChartSize;
use crate::scenario;

mod batch;
mod figures;
mod progress;
mod run;
mod shard;

pub use shard::{parse_shard, resolve_shard, MergeArgs, ShardSpec};
mod sensitivity;
mod sweep;

pub use progress::Progress;

/// Exit code for invalid input or usage.
pub const EXIT_INVALID: i32 = 2;
/// Exit code for a failed run or write.
pub const EXIT_FAILURE: i32 = 1;
/// Exit code after Ctrl-C.
pub const EXIT_INTERRUPTED: i32 = 130;

#[derive(Parser, Debug)]
#[command(
    name = "revshare",
    version,
    about = "Monte Carlo simulator for capped revenue-share contracts",
    long_about = "Monte Carlo simulator for capped revenue-share contracts.\n\n\
        Samples revenue paths (MODEL.md), applies every contract flow path by path \
        and writes summary.json, steps.csv, annual.csv and PNG/SVG charts. Money is in $B."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Simulate a scenario and write its results.
    Run(RunArgs),
    /// Merge the partial results of a sharded run (`run --shard`) into the
    /// outputs of `run`.
    Merge(MergeArgs),
    /// Run many scenarios and compare them side by side.
    Batch(batch::BatchArgs),
    /// Run a scenario over a grid of parameter values (common random numbers).
    Sweep(sweep::SweepArgs),
    /// One-at-a-time sensitivity of a metric to every numeric parameter.
    Sensitivity(sensitivity::SensitivityArgs),
    /// Check scenario files without running them.
    Validate {
        /// Scenario files.
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
    },
}

/// Options of `revshare run`.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Scenario file (JSON, see MODEL.md).
    pub scenario: PathBuf,
    /// Number of paths (overrides simulation.paths).
    #[arg(long)]
    pub paths: Option<u64>,
    /// Seed (overrides simulation.seed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Worker threads (default: all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Output directory (default: out/NAME/, NAME the scenario's name).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Keep every value and sort for exact quantiles (memory grows with paths).
    #[arg(long)]
    pub exact: bool,
    /// Override a scenario field: --set series.openai.growth.initial=0.6 (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    /// Also write results.xlsx (summary, per-year and per-step sheets).
    #[arg(long)]
    pub xlsx: bool,
    /// Do not print the text summary on stdout.
    #[arg(long, short)]
    pub quiet: bool,
    /// Run only shard I of N (0-based) and write DIR/partial.bin for
    /// `revshare merge`; `auto/N` takes I from SLURM_ARRAY_TASK_ID or
    /// JOB_COMPLETION_INDEX.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<ShardSpec>,
    /// Do not render the PNG and SVG charts into DIR/charts/ (DIR the output directory).
    #[arg(long)]
    pub no_charts: bool,
    /// Chart image size in pixels, WIDTHxHEIGHT.
    #[arg(long, value_name = "WxH", default_value = "1600x1000")]
    pub chart_size: ChartSize,
}

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_INVALID } else { 0 };
        }
    };
    match cli.command {
        Command::Validate { scenarios } => validate(&scenarios),
        Command::Run(args) => run::run(&args),
        Command::Merge(args) => shard::merge(&args),
        Command::Batch(args) => batch::run(&args),
        Command::Sweep(args) => sweep::run(&args),
        Command::Sensitivity(args) => sensitivity::run(&args),
    }
}

fn validate(files: &[PathBuf]) -> i32 {
    let mut code = 0;
    for f in files {
        match scenario::load(f) {
            Ok(l) => {
                print_warnings(f, &l.warnings);
                println!("{}: ok ({})", f.display(), l.scenario.name);
            }
            Err(e) => {
                eprintln!("error: {e}");
                code = EXIT_INVALID;
            }
        }
    }
    code
}

pub(crate) fn print_warnings(file: &Path, warnings: &[scenario::Violation]) {
    for w in warnings {
        eprintln!("warning: {}: {w}", file.display());
    }
}
