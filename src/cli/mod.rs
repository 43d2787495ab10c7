//! The command line: parse → load and validate → run → export. It reads as
//! a table of contents; each step is a call into the library. Errors are
//! mapped to exit codes here and nowhere else.
//!
//! Commands return `anyhow::Result`; an error carries its exit code as a
//! [`Coded`] error (failures without one exit with 1).
//!
//! Exit codes: 0 success, 1 a run or write failed, 2 bad usage or an
//! invalid scenario, 3 a goal was not met (`run --precision`: `--max-paths`
//! reached first, results written; `calibrate`: targets out of reach;
//! `solve`: no root in the bracket); stopped by a signal (nothing written,
//! the previous result kept): 130 Ctrl-C (SIGINT), 143 SIGTERM, 129 SIGHUP,
//! i.e. 128 + the signal's number, as a shell reports a process killed by it.

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use revshare::export::charts::ChartSize;
use revshare::export::manager::OutputDir;
use revshare::export::report::ReportContext;
use revshare::export::OutputOptions;
use revshare::scenario;

mod batch;
mod calibrate;
mod common;
mod decide;
mod figures;
mod progress;
mod run;
mod shard;

use shard::{parse_shard, MergeArgs, ShardSpec};
mod sensitivity;
mod sobol;
mod solve;
mod sweep;

/// Exit code for invalid input or usage.
pub const EXIT_INVALID: i32 = 2;
/// Exit code for a failed run or write.
pub const EXIT_FAILURE: i32 = 1;
/// Exit code of `run --precision` when `--max-paths` was reached before
/// every goal was met (the results are written).
pub const EXIT_PRECISION: i32 = 3;
/// Exit code when a decision tool's problem has no answer (the same code
/// as a precision goal not met): `calibrate`'s targets cannot be met in
/// the bounds, `solve`'s bracket holds no root or the figure is not
/// monotone on it. Nothing is written.
pub const EXIT_UNMET: i32 = EXIT_PRECISION;
/// Exit code after Ctrl-C (SIGINT).
pub const EXIT_INTERRUPTED: i32 = 130;
/// Exit code after SIGTERM (a batch system stopping the job).
pub const EXIT_TERMINATED: i32 = 143;
/// Exit code after SIGHUP (the terminal closed).
pub const EXIT_HANGUP: i32 = 129;

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
    /// Sensitivity of a metric: one parameter at a time (tornado, 20,000
    /// paths a run unless --paths is given) or global Sobol' indices.
    Sensitivity(sensitivity::SensitivityArgs),
    /// Fit scenario parameters so that summary figures meet targets
    /// (weighted least squares on common random numbers).
    Calibrate(calibrate::CalibrateArgs),
    /// Find the parameter value at which a summary figure reaches a target
    /// (Brent's method on common random numbers), with its interval.
    Solve(solve::SolveArgs),
    /// Check scenario files without running them.
    Validate {
        /// Scenario files.
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
    },
}

/// Output options shared by every command that writes results (`run`,
/// `merge`, `batch`, `sweep`, `sensitivity`, `calibrate`, `solve`): one
/// definition, passed to the one output manager (`calibrate` and `solve`
/// write no report.html, so `--no-report` and `--log-y` change nothing
/// there).
#[derive(Args, Debug, Clone)]
pub struct OutputArgs {
    /// Output directory (default: out/NAME/, NAME the scenario's name or the command's).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also write results.xlsx (every statistic, per-year and per-step sheets).
    #[arg(long)]
    pub xlsx: bool,
    /// Do not render the PNG and SVG charts into DIR/charts/ (nor into the report).
    #[arg(long)]
    pub no_charts: bool,
    /// Do not write report.html (the self-contained HTML report).
    #[arg(long)]
    pub no_report: bool,
    /// Chart image size in pixels, WIDTHxHEIGHT (at least 640x400).
    #[arg(long, value_name = "WxH", default_value = "1600x1000")]
    pub chart_size: ChartSize,
    /// Draw the fan charts (run rates, cumulative payments) on a log-scale y axis.
    #[arg(long)]
    pub log_y: bool,
    /// Write into a folder that holds files no revshare run wrote (they are kept).
    #[arg(long)]
    pub force: bool,
    /// Do not print the text summary on stdout.
    #[arg(long, short)]
    pub quiet: bool,
}

impl OutputArgs {
    /// What to write; the report records the command line as typed.
    pub fn options(&self) -> OutputOptions {
        OutputOptions {
            charts: !self.no_charts,
            chart_size: self.chart_size,
            log_y: self.log_y,
            xlsx: self.xlsx,
            report: !self.no_report,
            context: ReportContext {
                command_line: command_line(),
            },
        }
    }

    /// Opens the output folder (`--out`, else `default`) before any work:
    /// locked, checked writable, checked to be revshare's or `--force`d.
    /// The parents of the default folder are created; those of `--out`
    /// only with `create_parents` (shards write to fresh trees).
    pub fn open(&self, default: PathBuf, create_parents: bool) -> anyhow::Result<OutputDir> {
        let explicit = self.out.is_some();
        let dir = self.out.clone().unwrap_or(default);
        OutputDir::open(&dir, self.force, create_parents || !explicit)
            .map(|o| o.with_cancel(common::cancel_flag()))
            .map_err(|e| coded(EXIT_FAILURE, e.to_string()))
    }
}

/// The process's command line, each argument quoted for a POSIX shell
/// where it needs it, so that it can be pasted back.
pub fn command_line() -> String {
    std::env::args_os()
        .map(|a| {
            let a = a.to_string_lossy().into_owned();
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
            if plain {
                a
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The run options shared by every command that runs scenarios (`run`,
/// `batch`, `sweep`, `sensitivity`).
#[derive(Args, Debug, Clone)]
pub struct ScenarioArgs {
    /// Number of paths (overrides simulation.paths).
    #[arg(long)]
    pub paths: Option<u64>,
    /// Seed (overrides simulation.seed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Worker threads (default: all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Override a scenario field: --set series.openai.growth.initial=0.6 (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    /// Sampling of the shocks (overrides simulation.sampling): mc (plain
    /// Monte Carlo), antithetic (mirrored pairs; an even path count) or qmc
    /// (scrambled Sobol points in 16 replicates; a power of two of paths).
    /// Path counts that do not suit the method are rounded up, with a warning.
    #[arg(long, value_name = "METHOD", value_parser = scenario::Sampling::parse)]
    pub sampling: Option<scenario::Sampling>,
}

/// Options of `revshare run`.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Scenario file (JSON, see MODEL.md).
    pub scenario: PathBuf,
    /// Paths, seed, threads and field overrides.
    #[command(flatten)]
    pub run: ScenarioArgs,
    /// Keep every value and sort for exact quantiles (memory grows with paths).
    #[arg(long)]
    pub exact: bool,
    /// Run until this figure's 95% half-width is at most TOL (absolute, or
    /// relative with a % suffix); KEY as in --metric, e.g.
    /// comparisons.amended.OpenAI.delta_net.mean=0.5% (repeatable). Checks
    /// at 16,384 paths doubled; writes convergence.csv; exit code 3 if
    /// --max-paths comes first.
    #[arg(long = "precision", value_name = "KEY=TOL", conflicts_with_all = ["paths", "shard", "exact"])]
    pub precision: Vec<String>,
    /// Most paths of a run with --precision.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 16_777_216,
        requires = "precision"
    )]
    pub max_paths: u64,
    /// Run only shard I of N (0-based) and write DIR/partial.bin for
    /// `revshare merge`; `auto/N` takes I from SLURM_ARRAY_TASK_ID or
    /// JOB_COMPLETION_INDEX.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<ShardSpec>,
    /// Also write each path's own figures to FILE (CSV, streamed while the
    /// run goes on: flow totals and NPVs, cap-hit times, party nets and
    /// changes against the baseline, one row per path; about 320 MB per
    /// million paths of base.json).
    #[arg(long, value_name = "FILE", conflicts_with = "shard")]
    pub per_path: Option<PathBuf>,
    /// Where and what to write.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// An error that ends the process with `code`; its message is printed.
#[derive(Debug)]
pub struct Coded {
    /// The process exit code.
    pub code: i32,
    /// What to print.
    pub message: String,
}

impl std::fmt::Display for Coded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Coded {}

/// An error ending the process with `code`.
pub fn coded(code: i32, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Coded {
        code,
        message: message.into(),
    })
}

/// An error for invalid input or usage (exit code 2).
pub fn invalid(message: impl Into<String>) -> anyhow::Error {
    coded(EXIT_INVALID, message)
}

/// An error for a failed run or write (exit code 1).
pub fn failure(message: impl Into<String>) -> anyhow::Error {
    coded(EXIT_FAILURE, message)
}

/// Prints a command's error and returns its exit code: the code of a
/// [`Coded`] error in the chain, else [`EXIT_FAILURE`]; a command that
/// fails after a stopping signal (SIGINT, SIGTERM, SIGHUP) failed because
/// of it, and exits with that signal's code ([`EXIT_INTERRUPTED`],
/// [`EXIT_TERMINATED`], [`EXIT_HANGUP`]). A command that succeeds despite
/// a signal (it came after the result was swapped in) exits with 0.
fn report(result: anyhow::Result<()>) -> i32 {
    let Err(e) = result else { return 0 };
    if let Some(code) = common::interrupted_code() {
        // After SIGHUP the terminal may be gone: a failed write must not
        // turn the exit code into a panic's.
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "{}", common::interrupted_message());
        return code;
    }
    let code = e
        .chain()
        .find_map(|c| c.downcast_ref::<Coded>())
        .map_or(EXIT_FAILURE, |c| c.code);
    eprintln!("error: {}", escape_controls(&format!("{e:#}")));
    code
}

/// `s` with control characters other than newline and tab written as
/// escapes (`\u{1b}`), so that names and values from a scenario file
/// cannot move the cursor, clear or retitle a terminal.
pub(crate) fn escape_controls(s: &str) -> String {
    if !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
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
        Command::Run(args) => report(match args.shard {
            Some(spec) => shard::run_shard(&args, spec),
            None => run::run(&args),
        }),
        Command::Merge(args) => report(shard::merge(&args)),
        Command::Batch(args) => report(batch::run(&args)),
        Command::Sweep(args) => report(sweep::run(&args)),
        Command::Sensitivity(args) => report(sensitivity::run(&args)),
        Command::Calibrate(args) => report(calibrate::run(&args)),
        Command::Solve(args) => report(solve::run(&args)),
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
                eprintln!("error: {}", escape_controls(&e.to_string()));
                code = EXIT_INVALID;
            }
        }
    }
    code
}

pub(crate) fn print_warnings(file: &Path, warnings: &[scenario::Violation]) {
    for w in warnings {
        eprintln!(
            "warning: {}",
            escape_controls(&format!("{}: {w}", file.display()))
        );
    }
}
