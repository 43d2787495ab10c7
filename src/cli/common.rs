//! The steps every command that runs scenarios shares: load and validate
//! (with `--set`, `--paths`, `--seed`), simulate into a `RunResult`,
//! stage its files in the output manager, report what was written, and
//! the cancel flag raised by Ctrl-C, SIGTERM and SIGHUP.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::Context as _;

use super::{coded, invalid, print_warnings, EXIT_FAILURE, EXIT_INTERRUPTED};
use revshare::engine::{Control, Engine, RunError, RunOptions};
use revshare::export::manager::OutputDir;
use revshare::export::{self, OutputOptions};
use revshare::result::RunResult;
use revshare::scenario::{self, Sampling, Scenario, MAX_PATHS};

/// The cancel flag raised by Ctrl-C (SIGINT), SIGTERM (how Slurm and
/// Kubernetes stop a job) and SIGHUP (a closed terminal); the handlers are
/// installed once per process, by the first call. The run stops at the
/// next batch, the output manager writes nothing more and removes its
/// staging folder, and the process exits with [`interrupted_code`].
pub fn cancel_flag() -> Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        signals::install(&flag);
        flag
    })
    .clone()
}

/// The exit code after a stopping signal: 128 + its number (130 for
/// SIGINT, 143 for SIGTERM, 129 for SIGHUP), or `None` if none came.
pub fn interrupted_code() -> Option<i32> {
    signals::received().map(signals::exit_code)
}

/// The message for a run stopped by a signal.
pub fn interrupted_message() -> String {
    match signals::received() {
        Some(s) if signals::exit_code(s) != EXIT_INTERRUPTED => {
            format!("interrupted by {}: no output written", signals::name(s))
        }
        _ => "interrupted: no output written".into(),
    }
}

#[cfg(unix)]
mod signals {
    use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, Ordering};
    use std::sync::Arc;

    /// The first stopping signal received (0: none).
    static RECEIVED: AtomicI32 = AtomicI32::new(0);
    /// The cancel flag (kept alive by `cancel_flag`'s static for the
    /// life of the process).
    static FLAG: AtomicPtr<AtomicBool> = AtomicPtr::new(std::ptr::null_mut());

    /// The handler: only atomic stores, which are async-signal-safe.
    extern "C" fn on_signal(sig: libc::c_int) {
        let _ = RECEIVED.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
        let flag = FLAG.load(Ordering::SeqCst);
        if !flag.is_null() {
            // SAFETY: the flag lives in a static Arc that is never dropped.
            unsafe { (*flag).store(true, Ordering::SeqCst) };
        }
    }

    pub(super) fn install(flag: &Arc<AtomicBool>) {
        FLAG.store(Arc::as_ptr(flag).cast_mut(), Ordering::SeqCst);
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: a zeroed sigaction with a valid handler and an empty
            // mask; SA_RESTART so that interrupted reads and writes resume.
            // If it fails, the signal keeps its default meaning (the
            // process ends, and the output manager's staging leaves the
            // previous result whole).
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(sig, &action, std::ptr::null_mut());
            }
        }
    }

    pub(super) fn received() -> Option<i32> {
        match RECEIVED.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }

    pub(super) fn exit_code(sig: i32) -> i32 {
        use crate::cli::{EXIT_HANGUP, EXIT_INTERRUPTED, EXIT_TERMINATED};
        match sig {
            libc::SIGINT => EXIT_INTERRUPTED,
            libc::SIGTERM => EXIT_TERMINATED,
            libc::SIGHUP => EXIT_HANGUP,
            s => 128 + s,
        }
    }

    pub(super) fn name(sig: i32) -> &'static str {
        match sig {
            libc::SIGINT => "SIGINT",
            libc::SIGTERM => "SIGTERM",
            libc::SIGHUP => "SIGHUP",
            _ => "a signal",
        }
    }
}

#[cfg(not(unix))]
mod signals {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    static RECEIVED: AtomicBool = AtomicBool::new(false);

    pub(super) fn install(flag: &Arc<AtomicBool>) {
        let f = flag.clone();
        // Ctrl-C (and, with ctrlc's defaults, Ctrl-Break) only.
        let _ = ctrlc::set_handler(move || {
            RECEIVED.store(true, Ordering::SeqCst);
            f.store(true, Ordering::SeqCst);
        });
    }

    pub(super) fn received() -> Option<i32> {
        RECEIVED.load(Ordering::SeqCst).then_some(2)
    }

    pub(super) fn exit_code(_: i32) -> i32 {
        crate::cli::EXIT_INTERRUPTED
    }

    pub(super) fn name(_: i32) -> &'static str {
        "Ctrl-C"
    }
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
            RunFailure::Cancelled => interrupted_code().unwrap_or(EXIT_INTERRUPTED),
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
            RunFailure::Cancelled => f.write_str(&interrupted_message()),
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
    /// Takes each path's own figures (`run --per-path`).
    pub per_path: Option<&'a dyn revshare::engine::per_path::PathSink>,
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
            per_path: how.per_path,
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
    // More chart threads than cores only costs memory (--threads 10000).
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(if threads == 0 {
            cores
        } else {
            threads.min(cores)
        })
        .build()
        .context("cannot start chart threads")?;
    pool.install(|| export::write_run(out, prefix, result, opts))
        .map_err(|e| anyhow::anyhow!("{e}; no output written"))
}

/// Applies `--paths`, `--seed` and `--sampling` to a validated scenario,
/// which is validated again with them. A path count that does not suit
/// the sampling (odd for antithetic, not a power of two for qmc) is
/// rounded up ([`Sampling::round_paths`]), with a warning.
pub(crate) fn apply_paths_seed(
    sc: &mut Scenario,
    paths: Option<u64>,
    seed: Option<u64>,
    sampling: Option<Sampling>,
) -> Result<(), String> {
    if paths.is_none() && seed.is_none() && sampling.is_none() {
        return Ok(());
    }
    if let Some(p) = paths {
        if p == 0 || p > MAX_PATHS {
            return Err(format!("--paths must be in 1..={MAX_PATHS}, got {p}"));
        }
    }
    let sampling = sampling.unwrap_or(sc.simulation.sampling);
    let asked = paths.unwrap_or(sc.simulation.paths);
    let rounded = sampling.round_paths(asked);
    if rounded < asked {
        return Err(format!(
            "{asked} paths: {} sampling takes at most {} paths",
            sampling.as_str(),
            sampling.max_paths()
        ));
    }
    if rounded != asked {
        eprintln!(
            "warning: {}: {asked} paths rounded up to {rounded} ({} sampling: {})",
            sc.name,
            sampling.as_str(),
            match sampling {
                Sampling::Qmc => "a power of two, each replicate a whole Sobol net",
                _ => "whole antithetic pairs",
            }
        );
    }
    *sc = sc
        .with_sampling(rounded, seed.unwrap_or(sc.simulation.seed), sampling)
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
    sampling: Option<Sampling>,
) -> anyhow::Result<Scenario> {
    let loaded = scenario::load_with_overrides(file, set).map_err(|e| invalid(e.to_string()))?;
    print_warnings(file, &loaded.warnings);
    let mut sc = loaded.scenario;
    apply_paths_seed(&mut sc, paths, seed, sampling).map_err(invalid)?;
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
