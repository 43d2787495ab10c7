//! The command line: parse → load and validate → run → export. It reads as
//! a table of contents; each step is a call into the library. Errors are
//! mapped to exit codes here and nowhere else.
//!
//! Exit codes: 0 success, 1 a run or write failed, 2 bad usage or an
//! invalid scenario, 130 interrupted by Ctrl-C.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::engine::{Control, Engine, RunError, RunOptions};
use crate::output;
use crate::scenario::{self, MAX_PATHS};
use crate::summary::Summary;

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
        and writes summary.json, steps.csv and annual.csv. Money is in $B."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Simulate a scenario and write its results.
    Run(RunArgs),
    /// Check scenario files without running them.
    Validate {
        /// Scenario files.
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
    },
}

/// Options of `revshare run`.
#[derive(Args, Debug, Clone)]
struct RunArgs {
    /// Scenario file (JSON, see MODEL.md).
    scenario: PathBuf,
    /// Number of paths (overrides simulation.paths).
    #[arg(long)]
    paths: Option<u64>,
    /// Seed (overrides simulation.seed).
    #[arg(long)]
    seed: Option<u64>,
    /// Worker threads (default: all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Output directory (default: out/<scenario name>/).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Keep every value and sort for exact quantiles (memory grows with paths).
    #[arg(long)]
    exact: bool,
    /// Override a scenario field: --set series.openai.growth.initial=0.6 (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    set: Vec<String>,
    /// Do not print the text summary on stdout.
    #[arg(long, short)]
    quiet: bool,
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
        Command::Run(args) => run(&args),
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

fn print_warnings(file: &Path, warnings: &[scenario::Violation]) {
    for w in warnings {
        eprintln!("warning: {}: {w}", file.display());
    }
}

/// The cancel flag raised by Ctrl-C (installed once per process).
fn cancel_flag() -> Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        // If a handler cannot be installed, Ctrl-C keeps its default
        // meaning (the process ends, and atomic writes leave no partial file).
        let _ = ctrlc::set_handler(move || f.store(true, Ordering::SeqCst));
        flag
    })
    .clone()
}

/// Checks before a long run that the results will have somewhere to go.
fn check_out_dir(out: &Path, explicit: bool) -> Result<(), String> {
    if out.exists() {
        if !out.is_dir() {
            return Err(format!(
                "output path {} exists and is not a directory",
                out.display()
            ));
        }
        let probe = out.join(format!(".revshare-probe-{}", std::process::id()));
        match std::fs::File::create(&probe) {
            Ok(_) => {
                let _ = std::fs::remove_file(&probe);
                Ok(())
            }
            Err(e) => Err(format!(
                "output directory {} is not writable: {e}",
                out.display()
            )),
        }
    } else if explicit {
        match out.parent() {
            Some(p) if !p.as_os_str().is_empty() && !p.is_dir() => Err(format!(
                "cannot create output directory {}: its parent {} does not exist",
                out.display(),
                p.display()
            )),
            _ => Ok(()),
        }
    } else {
        Ok(())
    }
}

fn run(args: &RunArgs) -> i32 {
    // 1. Load and validate.
    let loaded = match scenario::load_with_overrides(&args.scenario, &args.set) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_INVALID;
        }
    };
    print_warnings(&args.scenario, &loaded.warnings);
    let mut sc = loaded.scenario;
    if let Some(p) = args.paths {
        if p == 0 || p > MAX_PATHS {
            eprintln!("error: --paths must be in 1..={MAX_PATHS}, got {p}");
            return EXIT_INVALID;
        }
        sc.simulation.paths = p;
    }
    if let Some(s) = args.seed {
        sc.simulation.seed = s;
    }
    let explicit = args.out.is_some();
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("out").join(&sc.name));
    if let Err(e) = check_out_dir(&out, explicit) {
        eprintln!("error: {e}");
        return EXIT_FAILURE;
    }
    let engine = Engine::new(&sc);
    if args.exact {
        let bytes = engine.layout.len() as f64 * sc.simulation.paths as f64 * 8.0;
        if bytes > 16.0 * (1u64 << 30) as f64 {
            eprintln!(
                "error: --exact would keep {:.1} GiB of values for {} paths; use fewer paths",
                bytes / (1u64 << 30) as f64,
                sc.simulation.paths
            );
            return EXIT_INVALID;
        }
    }

    // 2. Run, with a progress bar on a terminal once a second has passed.
    let opts = RunOptions {
        paths: sc.simulation.paths,
        seed: sc.simulation.seed,
        threads: args.threads,
        exact: args.exact,
        shard: (0, 1),
    };
    let cancel = cancel_flag();
    let progress = Progress::new(sc.simulation.paths);
    let report = |done: u64| progress.update(done);
    let result = engine.run(
        &opts,
        &Control {
            progress: &report,
            cancel: &cancel,
        },
    );
    progress.finish();
    let out_run = match result {
        Ok(r) => r,
        Err(RunError::Cancelled) => {
            eprintln!("interrupted: no output written");
            return EXIT_INTERRUPTED;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FAILURE;
        }
    };

    // 3. Summarise and export.
    let summary = match Summary::build(
        &engine,
        &out_run.tally,
        out_run.threads,
        out_run.elapsed_seconds,
    ) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {}: {e}; no output written", args.scenario.display());
            return EXIT_FAILURE;
        }
    };
    if let Err(e) = std::fs::create_dir_all(&out) {
        eprintln!(
            "error: cannot create output directory {}: {e}",
            out.display()
        );
        return EXIT_FAILURE;
    }
    let files: [(&str, Vec<u8>); 3] = [
        ("steps.csv", output::steps_csv(&engine, &out_run.tally)),
        ("annual.csv", output::annual_csv(&engine, &out_run.tally)),
        // summary.json last: its presence means the run completed.
        ("summary.json", summary.to_json()),
    ];
    for (name, bytes) in &files {
        if cancel.load(Ordering::SeqCst) {
            eprintln!("interrupted while writing; complete files only");
            return EXIT_INTERRUPTED;
        }
        if let Err(e) = output::write_atomic(&out.join(name), bytes) {
            eprintln!("error: {e}");
            return EXIT_FAILURE;
        }
    }
    if !args.quiet {
        print!("{}", output::text_report(&summary));
        println!(
            "\nwrote {}/{{summary.json, steps.csv, annual.csv}}",
            out.display()
        );
    }
    0
}

/// A progress bar that appears only on a terminal and only once a run has
/// lasted a second.
struct Progress {
    total: u64,
    started: Instant,
    bar: Mutex<Option<ProgressBar>>,
    enabled: bool,
}

impl Progress {
    fn new(total: u64) -> Progress {
        Progress {
            total,
            started: Instant::now(),
            bar: Mutex::new(None),
            enabled: std::io::stderr().is_terminal(),
        }
    }

    fn update(&self, done: u64) {
        if !self.enabled || self.started.elapsed() < Duration::from_secs(1) {
            return;
        }
        let Ok(mut guard) = self.bar.try_lock() else {
            return;
        };
        let bar = guard.get_or_insert_with(|| {
            let b = ProgressBar::with_draw_target(Some(self.total), ProgressDrawTarget::stderr());
            b.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} paths ({per_sec}, eta {eta})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b
        });
        if done > bar.position() {
            bar.set_position(done);
        }
    }

    fn finish(&self) {
        if let Ok(mut g) = self.bar.lock() {
            if let Some(b) = g.take() {
                b.finish_and_clear();
            }
        }
    }
}
