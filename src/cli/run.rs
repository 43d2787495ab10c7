//! `revshare run`: load → validate → simulate → summarise → write. The
//! pieces here are reused by the other commands that run scenarios.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use super::progress::Progress;
use super::{print_warnings, RunArgs, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_INVALID};
use crate::engine::{Control, Engine, RunError, RunOptions, Tally};
use crate::output;
use crate::report;
use crate::report::{ChartSize, RenderedChart};
use crate::scenario::{self, MAX_PATHS};
use crate::summary::Summary;

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

/// Runs `revshare run`; returns the exit code.
pub fn run(args: &RunArgs) -> i32 {
    // Ctrl-C from here on only raises the flag: nothing is written after it.
    let cancel = cancel_flag();
    if let Some(spec) = args.shard {
        return super::shard::run_shard(args, spec);
    }
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
    if cancel.load(Ordering::SeqCst) {
        eprintln!("interrupted: no output written");
        return EXIT_INTERRUPTED;
    }
    let started = Instant::now();
    let charts = if args.no_charts {
        Vec::new()
    } else {
        match render_charts(
            &engine,
            &out_run.tally,
            &summary,
            args.threads,
            args.chart_size,
        ) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}; no output written");
                return EXIT_FAILURE;
            }
        }
    };
    let render_seconds = started.elapsed().as_secs_f64();
    let written = match output::write_results(&out, &engine, &out_run.tally, &summary, &charts) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FAILURE;
        }
    };
    let chart_note = if charts.is_empty() {
        String::new()
    } else {
        format!(
            "rendered {} charts ({} files) into {}/ in {render_seconds:.2} s",
            charts.len(),
            2 * charts.len(),
            out.join(output::CHARTS_DIR).display(),
        )
    };
    if !args.quiet {
        print!("{}", output::text_report(&summary));
        let names: Vec<String> = written
            .iter()
            .filter_map(|p| p.strip_prefix(&out).ok())
            .map(|p| p.display().to_string())
            .collect();
        println!("\nwrote to {}/: {}", out.display(), names.join(", "));
        if !chart_note.is_empty() {
            println!("{}", chart_note.trim_start());
        }
    }
    0
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
