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
use super::{invalid, RunArgs};
use revshare::engine::Engine;
use revshare::export;

/// Runs `revshare run`.
pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    // Ctrl-C from here on only raises the flag: nothing is written after it.
    let cancel = cancel_flag();
    // 1. Load and validate; open the output folder before any sampling.
    let sc = load_scenario(&args.scenario, &args.run.set, args.run.paths, args.run.seed)?;
    let mut out = args.output.open(Path::new("out").join(&sc.name), false)?;
    if args.exact {
        let metrics = Engine::new(&sc).layout.len();
        let bytes = metrics as f64 * sc.simulation.paths as f64 * 8.0;
        if bytes > 16.0 * (1u64 << 30) as f64 {
            return Err(invalid(format!(
                "--exact would keep {:.1} GiB of values for {} paths; use fewer paths",
                bytes / (1u64 << 30) as f64,
                sc.simulation.paths
            )));
        }
    }

    // 2. Run, with a progress bar on a terminal once a second has passed.
    let progress = Progress::new(sc.simulation.paths);
    let report = |done: u64| progress.update(done);
    let how = Simulate {
        threads: args.run.threads,
        exact: args.exact,
        progress: &report,
        cancel: &cancel,
        steps: true,
    };
    let result = simulate(&sc, &how);
    progress.finish();
    let result = result
        .map_err(|e| e.into_error())
        .with_context(|| args.scenario.display().to_string())?;

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
    let dir = out.path().to_owned();
    let written = out.commit()?;
    if !args.output.quiet {
        print!("{}", export::text_report(&result.summary));
        print_written(&dir, &written, "");
    }
    Ok(())
}
