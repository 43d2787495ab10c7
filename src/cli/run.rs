//! `revshare run`: load → validate → simulate → summarise → write. The
//! pieces here are reused by the other commands that run scenarios.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use super::progress::Progress;
use super::{print_warnings, RunArgs, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_INVALID};
use crate::engine::{Control, Engine, RunError, RunOptions, Tally};
use crate::output;
use crate::report::{self, ChartSize, RenderedChart};
use crate::scenario::{self, Scenario, MAX_PATHS};
use crate::summary::Summary;
use crate::xlsx;

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

/// Checks before a long run that the results will have somewhere to go.
pub fn check_out_dir(out: &Path, explicit: bool) -> Result<(), String> {
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
                "cannot create output directory {}: its parent {} {}",
                out.display(),
                p.display(),
                if p.exists() {
                    "is not a directory"
                } else {
                    "does not exist"
                }
            )),
            _ => Ok(()),
        }
    } else {
        Ok(())
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
            RunFailure::Cancelled => EXIT_INTERRUPTED,
            RunFailure::Failed(_) => EXIT_FAILURE,
        }
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

/// One simulated scenario: the engine, its merged tally and the summary.
pub(crate) struct Simulated {
    /// The compiled scenario.
    pub engine: Engine,
    /// The merged statistics of every path.
    pub tally: Tally,
    /// The result type (summary.json).
    pub summary: Summary,
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
/// and summarises it; writes nothing. Every command that runs scenarios
/// (run, batch, sweep, sensitivity) goes through here.
pub(crate) fn simulate(sc: &Scenario, how: &Simulate) -> Result<Simulated, RunFailure> {
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
    let summary = Summary::build(&engine, &out.tally, out.threads, out.elapsed_seconds)
        .map_err(|e| RunFailure::Failed(format!("{}: {e}; no output written", sc.name)))?;
    if how.cancel.load(Ordering::SeqCst) {
        return Err(RunFailure::Cancelled);
    }
    Ok(Simulated {
        engine,
        tally: out.tally,
        summary,
    })
}

/// What to write besides the data files.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Extras {
    /// Render the charts at this size; `None` for `--no-charts`.
    pub charts: Option<ChartSize>,
    /// Also write `results.xlsx`.
    pub xlsx: bool,
}

/// Simulates a validated scenario and writes its results into `dir` as
/// `revshare run` does (charts, steps.csv, annual.csv, summary.json, and
/// with `xlsx` results.xlsx). Returns the run and the files written.
pub(crate) fn run_into(
    sc: &Scenario,
    dir: &Path,
    extras: Extras,
    how: &Simulate,
) -> Result<(Simulated, Vec<PathBuf>), RunFailure> {
    // steps.csv and the fan charts need the per-step statistics.
    let done = simulate(
        sc,
        &Simulate {
            steps: true,
            ..*how
        },
    )?;
    let charts = match extras.charts {
        Some(size) => render_charts(&done.engine, &done.tally, &done.summary, how.threads, size)
            .map_err(|e| RunFailure::Failed(format!("{e}; no output written")))?,
        None => Vec::new(),
    };
    let mut written = output::write_results(dir, &done.engine, &done.tally, &done.summary, &charts)
        .map_err(|e| RunFailure::Failed(e.to_string()))?;
    if extras.xlsx {
        let sheets = xlsx::RunSheets::new(&sc.name, &done.engine, &done.tally, &done.summary);
        let path = dir.join(RUN_WORKBOOK);
        xlsx::write_workbook(&path, &xlsx::run_workbook(&[sheets], &[]))
            .map_err(|e| RunFailure::Failed(e.to_string()))?;
        written.push(path);
    }
    Ok((done, written))
}

/// Renders every chart of a run on `threads` threads (0 = all cores),
/// ready for [`output::write_results`].
pub fn render_charts(
    engine: &Engine,
    tally: &Tally,
    summary: &Summary,
    threads: usize,
    size: ChartSize,
) -> Result<Vec<RenderedChart>, String> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| format!("cannot start chart threads: {e}"))?;
    pool.install(|| report::render_charts(engine, tally, summary, size))
        .map_err(|e| e.to_string())
}

/// The workbook `--xlsx` writes next to a run's other files.
pub(crate) const RUN_WORKBOOK: &str = "results.xlsx";

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
/// warnings and applies `--paths`/`--seed`; on failure prints the error and
/// returns the exit code. The first step of every command that runs one.
pub(crate) fn load_scenario(
    file: &Path,
    set: &[String],
    paths: Option<u64>,
    seed: Option<u64>,
) -> Result<Scenario, i32> {
    let loaded = scenario::load_with_overrides(file, set).map_err(|e| {
        eprintln!("error: {e}");
        EXIT_INVALID
    })?;
    print_warnings(file, &loaded.warnings);
    let mut sc = loaded.scenario;
    apply_paths_seed(&mut sc, paths, seed).map_err(|e| {
        eprintln!("error: {e}");
        EXIT_INVALID
    })?;
    Ok(sc)
}

/// Runs `revshare run`; returns the exit code.
pub fn run(args: &RunArgs) -> i32 {
    // Ctrl-C from here on only raises the flag: nothing is written after it.
    let cancel = cancel_flag();
    if let Some(spec) = args.shard {
        return super::shard::run_shard(args, spec);
    }
    // 1. Load and validate.
    let sc = match load_scenario(&args.scenario, &args.set, args.paths, args.seed) {
        Ok(sc) => sc,
        Err(code) => return code,
    };
    let explicit = args.out.is_some();
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("out").join(&sc.name));
    if let Err(e) = check_out_dir(&out, explicit) {
        eprintln!("error: {e}");
        return EXIT_FAILURE;
    }
    if args.exact {
        let metrics = Engine::new(&sc).layout.len();
        let bytes = metrics as f64 * sc.simulation.paths as f64 * 8.0;
        if bytes > 16.0 * (1u64 << 30) as f64 {
            eprintln!(
                "error: --exact would keep {:.1} GiB of values for {} paths; use fewer paths",
                bytes / (1u64 << 30) as f64,
                sc.simulation.paths
            );
            return EXIT_INVALID;
        }
    }

    // 2. Run, with a progress bar on a terminal once a second has passed,
    //    and 3. summarise and export.
    let progress = Progress::new(sc.simulation.paths);
    let report = |done: u64| progress.update(done);
    let how = Simulate {
        threads: args.threads,
        exact: args.exact,
        progress: &report,
        cancel: &cancel,
        steps: true,
    };
    let extras = Extras {
        charts: (!args.no_charts).then_some(args.chart_size),
        xlsx: args.xlsx,
    };
    let result = run_into(&sc, &out, extras, &how);
    progress.finish();
    let (done, written) = match result {
        Ok(r) => r,
        Err(e) => {
            match e {
                RunFailure::Cancelled => eprintln!("{e}"),
                RunFailure::Failed(_) => eprintln!("error: {}: {e}", args.scenario.display()),
            }
            return e.exit_code();
        }
    };
    if !args.quiet {
        print!("{}", output::text_report(&done.summary));
        let names: Vec<String> = written
            .iter()
            .filter_map(|p| p.strip_prefix(&out).ok())
            .map(|p| p.display().to_string())
            .collect();
        let charts = names.iter().filter(|n| n.ends_with(".png")).count();
        let data: Vec<&String> = names
            .iter()
            .filter(|n| !n.starts_with(output::CHARTS_DIR))
            .collect();
        println!(
            "\nwrote to {}/: {}",
            out.display(),
            data.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        if charts > 0 {
            println!(
                "and {charts} charts (PNG and SVG) to {}/",
                out.join(output::CHARTS_DIR).display(),
            );
        }
    }
    0
}
