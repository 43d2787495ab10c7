//! Runs split across machines: `revshare run --shard I/N` (one shard →
//! `partial.bin`) and `revshare merge` (all partials → the outputs of
//! `run`). The batch scheduler is the cluster's own (Slurm job arrays,
//! Kubernetes Indexed Jobs); `--shard auto/N` reads the index it assigns.
//!
//! Shard `I` of `N` runs the contiguous batches
//! [`revshare::engine::shard_batches`]`(batches, I, N)` of the run's fixed
//! batches of 1024 paths; the batch layout depends only on the path count,
//! so the merged result is the unsharded run's, bit for bit. The merged
//! summary's `run.threads` is the largest thread count of any shard and
//! `run.elapsed_seconds` the sum of the shards' sampling times.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;

use anyhow::Context as _;

use super::common::{cancel_flag, load_scenario, print_written, stage_run, RunFailure};
use super::progress::Progress;
use super::{invalid, OutputArgs, RunArgs};
use revshare::engine::partial::{self, Merger, Partial};
use revshare::engine::{batch_count, shard_batches, Control, Engine, RunError, RunOptions};
use revshare::export;
use revshare::result::RunResult;

/// The value of `--shard`: an explicit index, or one read from the
/// environment (`auto/N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardSpec {
    /// `I/N`: shard `index` (0-based) of `count`.
    Fixed {
        /// 0-based shard index.
        index: u64,
        /// Number of shards.
        count: u64,
    },
    /// `auto/N`: the index comes from `SLURM_ARRAY_TASK_ID` or
    /// `JOB_COMPLETION_INDEX`.
    Auto {
        /// Number of shards.
        count: u64,
    },
}

/// Parses `I/N` or `auto/N` (clap value parser of `--shard`).
pub fn parse_shard(s: &str) -> Result<ShardSpec, String> {
    let (i, n) = s
        .split_once('/')
        .ok_or_else(|| format!("expected I/N or auto/N (e.g. 0/64), got `{s}`"))?;
    let count: u64 = n
        .trim()
        .parse()
        .map_err(|_| format!("the shard count `{n}` is not a whole number"))?;
    if count == 0 {
        return Err("the shard count must be at least 1".into());
    }
    if i.trim() == "auto" {
        return Ok(ShardSpec::Auto { count });
    }
    let index: u64 = i
        .trim()
        .parse()
        .map_err(|_| format!("the shard index `{i}` is not a whole number or `auto`"))?;
    if index >= count {
        return Err(format!(
            "shard index {index} is out of range for {count} shards (indices are 0-based: 0..={})",
            count - 1
        ));
    }
    Ok(ShardSpec::Fixed { index, count })
}

/// Resolves a [`ShardSpec`] to `(index, count)`, reading the environment
/// through `env` for `auto/N`.
pub fn resolve_shard(
    spec: ShardSpec,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(u64, u64), String> {
    let count = match spec {
        ShardSpec::Fixed { index, count } => return Ok((index, count)),
        ShardSpec::Auto { count } => count,
    };
    let number = |var: &str, v: &str| -> Result<u64, String> {
        v.trim()
            .parse()
            .map_err(|_| format!("{var}=`{v}` is not a whole number"))
    };
    let (var, index, hint) = if let Some(v) = env("SLURM_ARRAY_TASK_ID") {
        let index = number("SLURM_ARRAY_TASK_ID", &v)?;
        if let Some(c) = env("SLURM_ARRAY_TASK_COUNT") {
            let c = number("SLURM_ARRAY_TASK_COUNT", &c)?;
            if c != count {
                return Err(format!(
                    "SLURM_ARRAY_TASK_COUNT={c} but --shard auto/{count}: submit the array \
                     with --array=0-{} or give --shard auto/{c}",
                    count - 1,
                ));
            }
        }
        (
            "SLURM_ARRAY_TASK_ID",
            index,
            format!("submit the array with --array=0-{}", count - 1),
        )
    } else if let Some(v) = env("JOB_COMPLETION_INDEX") {
        (
            "JOB_COMPLETION_INDEX",
            number("JOB_COMPLETION_INDEX", &v)?,
            format!("set the Job's completions to {count}"),
        )
    } else {
        return Err(format!(
            "--shard auto/{count} reads the shard index from SLURM_ARRAY_TASK_ID (Slurm job \
             arrays) or JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs), and neither is set; \
             give it explicitly with --shard I/{count}"
        ));
    };
    if index >= count {
        return Err(format!(
            "{var}={index} is out of range for {count} shards (indices are 0-based: 0..={}); {hint}",
            count - 1
        ));
    }
    Ok((index, count))
}

/// `revshare run --shard`: runs one shard and writes `DIR/partial.bin`.
pub fn run_shard(args: &RunArgs, spec: ShardSpec) -> anyhow::Result<()> {
    // 1. Which shard, of what.
    let (index, count) = resolve_shard(spec, &|k| std::env::var(k).ok()).map_err(invalid)?;
    if args.exact {
        return Err(invalid(
            "--exact cannot be combined with --shard (a partial keeps sketches, \
             whose size does not grow with the path count)",
        ));
    }
    if args.output.xlsx {
        return Err(invalid(
            "--xlsx cannot be combined with --shard: a shard writes only partial.bin; \
             give --xlsx to `revshare merge`, which writes the run's outputs",
        ));
    }
    let sc = load_scenario(
        &args.scenario,
        &args.run.set,
        args.run.paths,
        args.run.seed,
        args.run.sampling,
    )?;
    let paths = sc.simulation.paths;
    let batches = batch_count(paths);
    // Every shard runs at least one batch: more shards would be empty
    // jobs (and a count such as 2^64 - 1 is a typo).
    if count > batches {
        return Err(invalid(format!(
            "--shard {index}/{count}: {paths} paths make {batches} batch{} of 1024, so at most \
             {batches} shard{}; use --shard I/{batches} or fewer shards, or more --paths",
            if batches == 1 { "" } else { "es" },
            if batches == 1 { "" } else { "s" },
        )));
    }
    let (first, end) = shard_batches(batches, index, count);
    let shard_paths = partial::paths_in(paths, first, end);
    let mut out = args.output.open(
        Path::new("out")
            .join(&sc.name)
            .join(format!("shard-{index}-of-{count}")),
        // Shards usually write to a fresh tree (runs/x/shards/$I).
        true,
    )?;

    // 2. Run the shard's batches.
    let engine = Engine::new(&sc);
    let opts = RunOptions {
        paths,
        seed: sc.simulation.seed,
        threads: args.run.threads,
        exact: false,
        shard: (index, count),
    };
    let cancel = cancel_flag();
    let progress = Progress::new(shard_paths);
    let report = |done: u64| progress.update(done);
    let result = engine.run(
        &opts,
        &Control {
            progress: &report,
            cancel: &cancel,
            per_path: None,
        },
    );
    progress.finish();
    let run = match result {
        Ok(r) => r,
        Err(RunError::Cancelled) => return Err(RunFailure::Cancelled.into_error()),
        Err(e) => return Err(e.into()),
    };

    // 3. Write the partial.
    let bytes = Partial::new(
        &sc,
        run.tally,
        (index, count),
        run.threads,
        run.elapsed_seconds,
    )
    .encode();
    out.write(partial::FILE_NAME, &bytes)?;
    let file = out.path().join(partial::FILE_NAME);
    out.commit()?;
    if !args.output.quiet {
        println!(
            "revshare: {} shard {index}/{count}: batches {first}..{end} ({shard_paths} of {paths} \
             paths, seed {}), sampled in {:.2} s on {} thread{}",
            sc.name,
            sc.simulation.seed,
            run.elapsed_seconds,
            run.threads,
            if run.threads == 1 { "" } else { "s" },
        );
        println!("wrote {} ({} bytes)", file.display(), bytes.len());
    }
    Ok(())
}

/// Options of `revshare merge`.
#[derive(Args, Debug, Clone)]
pub struct MergeArgs {
    /// Partial files written by `revshare run --shard` (each shard exactly once).
    #[arg(required = true, value_name = "PARTIAL")]
    pub partials: Vec<PathBuf>,
    /// Where and what to write.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `revshare merge`: checks the partials, merges them and writes the
/// outputs of `run`. Nothing is written unless every check passes.
pub fn merge(args: &MergeArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut out = match &args.output.out {
        Some(d) => Some(args.output.open(d.clone(), false)?),
        None => None,
    };
    // 1. Read, check and merge each partial; collect every problem.
    let mut merger = Merger::new();
    for file in &args.partials {
        let name = file.display().to_string();
        // Header first, then only the announced bytes (`merge /dev/zero`).
        match partial::read(file) {
            Ok(p) => merger.add(&name, p),
            Err(e) => merger.fail(&name, &e),
        }
    }
    let m = merger.finish().map_err(|errors| {
        let all: Vec<String> = errors.iter().map(|e| format!("error: {e}")).collect();
        // The first "error: " is printed by the caller.
        invalid(format!(
            "{}\nmerge refused: no output written",
            all.join("\n").trim_start_matches("error: ")
        ))
    })?;

    // 2. Summarise and export, as `run` does.
    let result = RunResult::build(&m.engine, &m.tally, m.threads, m.elapsed_seconds)
        .context("no output written")?;
    let mut out = match out.take() {
        Some(o) => o,
        None => args
            .output
            .open(Path::new("out").join(&m.engine.scenario().name), false)?,
    };
    stage_run(&mut out, "", &result, &args.output.options(), 0)?;
    let dir = out.path().to_owned();
    let written = out.commit()?;
    if !args.output.quiet {
        print!("{}", export::text_report(&result.summary));
        print_written(
            &dir,
            &written,
            &format!(
                "merged {} shards in {:.2} s; ",
                m.header.shard_count,
                started.elapsed().as_secs_f64()
            ),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn parses_shard_specs() {
        assert_eq!(
            parse_shard("3/7"),
            Ok(ShardSpec::Fixed { index: 3, count: 7 })
        );
        assert_eq!(parse_shard("auto/64"), Ok(ShardSpec::Auto { count: 64 }));
        for bad in ["7/7", "3", "a/7", "1/0", "-1/4", "auto/x"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn resolves_the_index_from_the_scheduler() {
        let auto = ShardSpec::Auto { count: 64 };
        let slurm = env(&[
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_COUNT", "64"),
        ]);
        assert_eq!(resolve_shard(auto, &slurm), Ok((5, 64)));
        assert_eq!(
            resolve_shard(auto, &env(&[("JOB_COMPLETION_INDEX", "63")])),
            Ok((63, 64))
        );
        let e = resolve_shard(auto, &env(&[])).unwrap_err();
        assert!(e.contains("SLURM_ARRAY_TASK_ID") && e.contains("JOB_COMPLETION_INDEX"));
        let e = resolve_shard(auto, &env(&[("SLURM_ARRAY_TASK_ID", "64")])).unwrap_err();
        assert!(
            e.contains("out of range") && e.contains("--array=0-63"),
            "{e}"
        );
        let e = resolve_shard(
            auto,
            &env(&[
                ("SLURM_ARRAY_TASK_ID", "1"),
                ("SLURM_ARRAY_TASK_COUNT", "32"),
            ]),
        )
        .unwrap_err();
        assert!(e.contains("SLURM_ARRAY_TASK_COUNT=32"), "{e}");
        let e = resolve_shard(auto, &env(&[("JOB_COMPLETION_INDEX", "x")])).unwrap_err();
        assert!(e.contains("not a whole number"), "{e}");
    }
}
