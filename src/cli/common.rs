//! The steps every command that runs scenarios shares: load and validate
//! (with `--set`, `--paths`, `--seed`), simulate into a `RunResult`,
//! stage its files in the output manager, report what was written, and
//! the Ctrl-C flag.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::Context as _;

use super::{coded, invalid, print_warnings, EXIT_FAILURE, EXIT_INTERRUPTED};
use revshare::engine::{Control, Engine, RunError, RunOptions};
use revshare::export::manager::OutputDir;
use revshare::export::{self, OutputOptions};
use revshare::result::RunResult;
use revshare::scenario::{self, Scenario, MAX_PATHS};

/// The cancel flag raised by Ctrl-C (installed once per process).
pub fn cancel_flag() -> Arc<AtomicBool> {
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

/// Why a scenario produced no results.
#[derive(Debug)]
pub(crate) enum RunFailure {
    /// Ctrl-C: nothing was written.
    Cancelled,
    /// The run, the summary or a write failed (message ready to print).
    Failed(String),
}

impl RunFailure {
    /// The process exit code for this failure.
    pub(crate) fn exit_code(&self) -> i32 {
        match self {
            RunFailure::Cancelled => EXIT_INTERRUPTED,
            RunFailure::Failed(_) => EXIT_FAILURE,
        }
    }

    /// The failure as a command error with its exit code.
    pub(crate) fn into_error(self) -> anyhow::Error {
        coded(self.exit_code(), self.to_string())
    }
}

impl std::fmt::Display for RunFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunFailure::Cancelled => f.write_str("interrupted: no output written"),
            RunFailure::Failed(m) => f.write_str(m),
        }
    }
}

/// How to simulate: everything but the scenario (which carries the path
/// count and seed) and the output directory.
#[derive(Clone, Copy)]
pub(crate) struct Simulate<'a> {
    /// Worker threads (0: all cores).
    pub threads: usize,
    /// Keep every value for exact quantiles.
    pub exact: bool,
    /// Called with the paths done so far in this scenario.
    pub progress: &'a (dyn Fn(u64) + Sync),
    /// Raised by Ctrl-C.
    pub cancel: &'a AtomicBool,
    /// Record the per-step statistics (needed for steps.csv, the per-step
    /// sheet and the fan charts; summary.json does not depend on them).
    pub steps: bool,
}

/// Simulates a validated scenario with its `simulation.paths` and `seed`
/// and builds its result; writes nothing. Every command that runs scenarios
/// (run, batch, sweep, sensitivity) goes through here.
pub(crate) fn simulate(sc: &Scenario, how: &Simulate) -> Result<RunResult, RunFailure> {
    let mut engine = Engine::new(sc);
    if !how.steps {
        engine = engine.without_step_statistics();
    }
    let opts = RunOptions {
        paths: sc.simulation.paths,
        seed: sc.simulation.seed,
        threads: how.threads,
        exact: how.exact,
        shard: (0, 1),
    };
    let out = match engine.run(
        &opts,
        &Control {
            progress: how.progress,
            cancel: how.cancel,
        },
    ) {
        Ok(r) => r,
        Err(RunError::Cancelled) => return Err(RunFailure::Cancelled),
        Err(e) => return Err(RunFailure::Failed(e.to_string())),
    };
    let result = RunResult::build(&engine, &out.tally, out.threads, out.elapsed_seconds)
        .map_err(|e| RunFailure::Failed(format!("{}: {e}; no output written", sc.name)))?;
    if how.cancel.load(Ordering::SeqCst) {
        return Err(RunFailure::Cancelled);
    }
    Ok(result)
}

/// Draws and stages a run's files in `out` under `prefix`, charts drawn on
/// `threads` threads (0 = all cores).
pub(crate) fn stage_run(
    out: &mut OutputDir,
    prefix: &str,
    result: &RunResult,
    opts: &OutputOptions,
    threads: usize,
) -> anyhow::Result<()> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .context("cannot start chart threads")?;
    pool.install(|| export::write_run(out, prefix, result, opts))
        .map_err(|e| anyhow::anyhow!("{e}; no output written"))
}

/// Applies `--paths` and `--seed` to a validated scenario, which is
/// validated again with them.
pub(crate) fn apply_paths_seed(
    sc: &mut Scenario,
    paths: Option<u64>,
    seed: Option<u64>,
) -> Result<(), String> {
    if paths.is_none() && seed.is_none() {
        return Ok(());
    }
    if let Some(p) = paths {
        if p == 0 || p > MAX_PATHS {
            return Err(format!("--paths must be in 1..={MAX_PATHS}, got {p}"));
        }
    }
    *sc = sc
        .with_simulation(
            paths.unwrap_or(sc.simulation.paths),
            seed.unwrap_or(sc.simulation.seed),
        )
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Loads and validates a scenario with its `--set` overrides, prints its
/// warnings and applies `--paths`/`--seed`. The first step of every
/// command that runs one.
pub(crate) fn load_scenario(
    file: &Path,
    set: &[String],
    paths: Option<u64>,
    seed: Option<u64>,
) -> anyhow::Result<Scenario> {
    let loaded = scenario::load_with_overrides(file, set).map_err(|e| invalid(e.to_string()))?;
    print_warnings(file, &loaded.warnings);
    let mut sc = loaded.scenario;
    apply_paths_seed(&mut sc, paths, seed).map_err(invalid)?;
    Ok(sc)
}

/// Prints where the files went: the data files by name, the charts counted.
pub(crate) fn print_written(dir: &Path, written: &[PathBuf], lead: &str) {
    let names: Vec<String> = written
        .iter()
        .filter_map(|p| p.strip_prefix(dir).ok())
        .map(|p| p.display().to_string())
        .collect();
    let charts = names
        .iter()
        .filter(|n| n.starts_with(export::CHARTS_DIR) && n.ends_with(".png"))
        .count();
    let data: Vec<&str> = names
        .iter()
        .filter(|n| !n.starts_with(export::CHARTS_DIR))
        .map(|s| s.as_str())
        .collect();
    println!("\n{lead}wrote to {}/: {}", dir.display(), data.join(", "));
    if charts > 0 {
        println!(
            "and {charts} charts (PNG and SVG) to {}/",
            dir.join(export::CHARTS_DIR).display(),
        );
    }
}
