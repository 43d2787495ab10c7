//! `revshare run`: load → validate → open the output folder → simulate →
//! build the result → stage its files → swap them in. A sharded run
//! (`--shard`) is `super::shard`'s.

use std::path::Path;
use std::sync::atomic::Ordering;

use anyhow::Context as _;

use super::common::{
    cancel_flag, load_scenario, print_written, simulate, stage_run, RunFailure, Simulate,
};
use super::progress::Progress;
use super::{coded, failure, invalid, RunArgs, EXIT_PRECISION};
use revshare::engine::per_path::PathSink;
use revshare::engine::precision::{run_until, Goal, PrecisionError, StoppedBy};
use revshare::engine::{Control, Engine, RunError};
use revshare::export;
use revshare::export::per_path::PerPathFile;
use revshare::result::RunResult;
use revshare::scenario::Scenario;
use revshare::summary::PrecisionReached;

/// Runs `revshare run`.
pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    // Ctrl-C from here on only raises the flag: nothing is written after it.
    let cancel = cancel_flag();
    // 1. Load and validate; open the output folder before any sampling.
    let sc = load_scenario(
        &args.scenario,
        &args.run.set,
        args.run.paths,
        args.run.seed,
        args.run.sampling,
    )?;
    let mut out = args.output.open(Path::new("out").join(&sc.name), false)?;
    if args.exact {
        let metrics = Engine::new(&sc).metric_count();
        let bytes = metrics as f64 * sc.simulation.paths as f64 * 8.0;
        if bytes > 16.0 * (1u64 << 30) as f64 {
            return Err(invalid(format!(
                "--exact would keep {:.1} GiB of values for {} paths; use fewer paths",
                bytes / (1u64 << 30) as f64,
                sc.simulation.paths
            )));
        }
    }

    // The per-path file, opened (as a temporary file beside it) before
    // any sampling, so that a path that cannot be written fails at once.
    let per_path = match &args.per_path {
        Some(file) if inside(file, out.path()) => {
            return Err(invalid(format!(
                "--per-path {}: the file must not be inside the output folder {} \
                 (which holds exactly one run's files); name a path outside it",
                file.display(),
                out.path().display()
            )))
        }
        Some(file) => Some(
            PerPathFile::create(file, &Engine::new(&sc).per_path_header(), 0)
                .map_err(|e| failure(format!("cannot write the --per-path file: {e}")))?,
        ),
        None => None,
    };

    // 2. Run, with a progress bar on a terminal once a second has passed.
    let progress = Progress::new(sc.simulation.paths);
    let report = |done: u64| progress.update(done);
    let how = Simulate {
        threads: args.run.threads,
        exact: args.exact,
        progress: &report,
        cancel: &cancel,
        steps: true,
        per_path: per_path.as_ref().map(|f| f as &dyn PathSink),
    };
    let (result, stopped) = if args.precision.is_empty() {
        let result = simulate(&sc, &how);
        progress.finish();
        let result = result
            .map_err(|e| e.into_error())
            .with_context(|| args.scenario.display().to_string())?;
        (result, None)
    } else {
        let done = run_to_precision(&sc, args, &how);
        progress.finish();
        let (result, stopped) = done?;
        (result, Some(stopped))
    };

    // 3. Export through the output manager.
    stage_run(
        &mut out,
        "",
        &result,
        &args.output.options(),
        args.run.threads,
    )?;
    if cancel.load(Ordering::SeqCst) {
        return Err(RunFailure::Cancelled.into_error());
    }
    // The per-path file first: if it cannot be completed, the previous
    // result stays in the output folder.
    let per_path = match per_path {
        Some(f) => {
            let target = f.target().to_owned();
            let bytes = f
                .commit()
                .map_err(|e| failure(format!("cannot write the --per-path file: {e}")))?;
            Some((target, bytes))
        }
        None => None,
    };
    let dir = out.path().to_owned();
    let written = out.commit()?;
    if !args.output.quiet {
        print!("{}", export::text_report(&result.summary));
        print_written(&dir, &written, "");
        if let Some((file, bytes)) = per_path {
            println!(
                "per-path rows: {} ({:.1} MB)",
                file.display(),
                bytes as f64 / 1e6
            );
        }
    }
    if stopped == Some(StoppedBy::MaxPaths) {
        let unmet: Vec<&str> = result
            .summary
            .run
            .precision
            .iter()
            .filter(|p| !p.met)
            .map(|p| p.key.as_str())
            .collect();
        return Err(coded(
            EXIT_PRECISION,
            format!(
                "--max-paths {} reached before the precision asked for: {} (results written)",
                result.summary.run.paths,
                unmet.join(", ")
            ),
        ));
    }
    Ok(())
}

/// Whether `file` lies inside the folder `dir` (both made absolute; the
/// folder need not exist yet).
fn inside(file: &Path, dir: &Path) -> bool {
    match (std::path::absolute(file), std::path::absolute(dir)) {
        (Ok(f), Ok(d)) => {
            let canon = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
            let parent = f.parent().map(canon).unwrap_or_default();
            parent.starts_with(canon(&d))
        }
        _ => false,
    }
}

/// `run --precision`: runs in doubling stages until every goal is met or
/// `--max-paths` is reached, and builds the result with its convergence
/// trace and `run.stopped_by`.
fn run_to_precision(
    sc: &Scenario,
    args: &RunArgs,
    how: &Simulate,
) -> anyhow::Result<(RunResult, StoppedBy)> {
    let goals = args
        .precision
        .iter()
        .map(|g| Goal::parse(g))
        .collect::<Result<Vec<Goal>, String>>()
        .map_err(invalid)?;
    if let Some(g) = goals
        .iter()
        .enumerate()
        .find(|(i, g)| goals[..*i].iter().any(|h| h.key == g.key))
        .map(|(_, g)| g)
    {
        return Err(invalid(format!(
            "--precision names {} twice; give each figure one tolerance",
            g.key
        )));
    }
    let engine = Engine::new(sc);
    let control = Control {
        progress: how.progress,
        cancel: how.cancel,
        per_path: how.per_path,
    };
    let max = args.max_paths.min(sc.simulation.sampling.max_paths());
    let run = run_until(
        &engine,
        sc.simulation.seed,
        how.threads,
        &goals,
        max,
        &control,
    )
    .map_err(|e| match e {
        PrecisionError::Run(RunError::Cancelled) => RunFailure::Cancelled.into_error(),
        e @ PrecisionError::UnknownKey(_) => invalid(e.to_string()),
        e => failure(e.to_string()),
    })?;
    let mut result = RunResult::build(&engine, &run.tally, run.threads, run.elapsed_seconds)
        .map_err(|e| failure(format!("{e}; no output written")))?;
    let last = run.trace.last().expect("at least one check");
    result.summary.run.stopped_by = Some(run.stopped_by.as_str().to_string());
    result.summary.run.precision = goals
        .iter()
        .zip(&last.figures)
        .map(|(g, f)| PrecisionReached {
            key: g.key.clone(),
            tolerance: g.tolerance,
            relative: g.relative,
            estimate: f.estimate,
            half_width: f.half_width(),
            met: f.half_width() <= g.allowed(f.estimate),
        })
        .collect();
    result.convergence = run.trace;
    Ok((result, run.stopped_by))
}
