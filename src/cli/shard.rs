//! Runs split across machines: `revshare run --shard I/N` (one shard →
//! `partial.bin`) and `revshare merge` (all partials → the outputs of
//! `run`). The batch scheduler is the cluster's own (Slurm job arrays,
//! Kubernetes Indexed Jobs); `--shard auto/N` reads the index it assigns.
//!
//! Shard `I` of `N` runs the contiguous batches
//! [`crate::engine::shard_batches`]`(batches, I, N)` of the run's fixed
//! batches of 1024 paths; the batch layout depends only on the path count,
//! so the merged result is the unsharded run's, bit for bit. The merged
//! summary's `run.threads` is the largest thread count of any shard and
//! `run.elapsed_seconds` the sum of the shards' sampling times.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;

use super::progress::Progress;
use super::run::{cancel_flag, check_out_dir, load_scenario, render_charts};
use super::{RunArgs, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_INVALID};
use crate::engine::{batch_count, shard_batches, Control, Engine, RunError, RunOptions};
use crate::output;
use crate::partial::{self, Header, Partial};
use crate::report::ChartSize;

use crate::summary::Summary;

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
pub fn run_shard(args: &RunArgs, spec: ShardSpec) -> i32 {
    // 1. Which shard, of what.
    let (index, count) = match resolve_shard(spec, &|k| std::env::var(k).ok()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_INVALID;
        }
    };
    if args.exact {
        eprintln!(
            "error: --exact cannot be combined with --shard (a partial keeps sketches, \
             whose size does not grow with the path count)"
        );
        return EXIT_INVALID;
    }
    let sc = match load_scenario(&args.scenario, &args.set, args.paths, args.seed) {
        Ok(sc) => sc,
        Err(code) => return code,
    };
    let paths = sc.simulation.paths;
    let (first, end) = shard_batches(batch_count(paths), index, count);
    let shard_paths = partial::paths_in(paths, first, end);
    if first == end {
        eprintln!(
            "warning: shard {index}/{count} has no batches to run ({paths} paths make {} \
             batches of 1024); it writes an empty partial",
            batch_count(paths)
        );
    }
    let out = args.out.clone().unwrap_or_else(|| {
        Path::new("out")
            .join(&sc.name)
            .join(format!("shard-{index}-of-{count}"))
    });
    // Shards usually write to a fresh tree (runs/x/shards/$I): create it,
    // parents too, and find out now whether it is writable.
    if let Err(e) = std::fs::create_dir_all(&out) {
        eprintln!(
            "error: cannot create output directory {}: {e}",
            out.display()
        );
        return EXIT_FAILURE;
    }
    if let Err(e) = check_out_dir(&out, true) {
        eprintln!("error: {e}");
        return EXIT_FAILURE;
    }

    // 2. Run the shard's batches.
    let engine = Engine::new(&sc);
    let opts = RunOptions {
        paths,
        seed: sc.simulation.seed,
        threads: args.threads,
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
        },
    );
    progress.finish();
    let run = match result {
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

    // 3. Write the partial.
    let bytes = Partial::new(
        &sc,
        run.tally,
        (index, count),
        run.threads,
        run.elapsed_seconds,
    )
    .encode();
    let file = out.join(partial::FILE_NAME);
    if let Err(e) = output::write_atomic(&file, &bytes) {
        eprintln!("error: {e}");
        return EXIT_FAILURE;
    }
    if !args.quiet {
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
    0
}

/// Options of `revshare merge`.
#[derive(Args, Debug, Clone)]
pub struct MergeArgs {
    /// Partial files written by `revshare run --shard` (each shard exactly once).
    #[arg(required = true, value_name = "PARTIAL")]
    pub partials: Vec<PathBuf>,
    /// Output directory (default: out/NAME/, NAME the scenario's name).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Do not print the text summary on stdout.
    #[arg(long, short)]
    pub quiet: bool,
    /// Do not render the PNG and SVG charts into DIR/charts/ (DIR the output directory).
    #[arg(long)]
    pub no_charts: bool,
    /// Chart image size in pixels, WIDTHxHEIGHT.
    #[arg(long, value_name = "WxH", default_value = "1600x1000")]
    pub chart_size: ChartSize,
}

/// Why `other` cannot be merged with `reference`, if it cannot.
fn mismatch(reference: &Header, other: &Header) -> Option<String> {
    let (r, o) = (reference, other);
    if o.revshare_version != r.revshare_version {
        Some(format!(
            "written by revshare {}, but {{ref}} by revshare {}",
            o.revshare_version, r.revshare_version
        ))
    } else if o.paths != r.paths {
        Some(format!(
            "a run of {} paths, but {{ref}} of {} paths",
            o.paths, r.paths
        ))
    } else if o.seed != r.seed {
        Some(format!("seed {}, but {{ref}} has seed {}", o.seed, r.seed))
    } else if o.shard_count != r.shard_count {
        Some(format!(
            "split into {} shards, but {{ref}} into {}",
            o.shard_count, r.shard_count
        ))
    } else if o.scenario_hash != r.scenario_hash {
        Some(format!(
            "scenario `{}` (hash {}), but {{ref}} has scenario `{}` (hash {}); \
             every shard must run the same scenario file with the same --set overrides",
            o.scenario_name,
            &o.scenario_hash[..12],
            r.scenario_name,
            &r.scenario_hash[..12]
        ))
    } else {
        None
    }
}

/// Compresses sorted indices into ranges: `0, 2-5, 9`.
fn ranges(indices: &[u64]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < indices.len() {
        let mut j = i;
        while j + 1 < indices.len() && indices[j + 1] == indices[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            indices[i].to_string()
        } else {
            format!("{}-{}", indices[i], indices[j])
        });
        i = j + 1;
    }
    parts.join(", ")
}

/// The partials merged so far, with the first one as reference.
struct Merged {
    file: PathBuf,
    header: Header,
    engine: Engine,
    tally: crate::engine::Tally,
    threads: usize,
    elapsed_seconds: f64,
    by_shard: BTreeMap<u64, Vec<PathBuf>>,
}

/// `revshare merge`: checks the partials, merges them and writes the
/// outputs of `run`. Nothing is written unless every check passes.
pub fn merge(args: &MergeArgs) -> i32 {
    let started = Instant::now();
    if let Some(out) = &args.out {
        if let Err(e) = check_out_dir(out, true) {
            eprintln!("error: {e}");
            return EXIT_FAILURE;
        }
    }
    // 1. Read, check and merge each partial; collect every problem.
    let mut errors: Vec<String> = Vec::new();
    let mut merged: Option<Merged> = None;
    for file in &args.partials {
        let name = file.display();
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => {
                errors.push(format!("{name}: cannot read: {e}"));
                continue;
            }
        };
        let p = match Partial::decode(&bytes) {
            Ok(p) => p,
            Err(e) => {
                errors.push(format!("{name}: {e}"));
                continue;
            }
        };
        drop(bytes);
        let h = &p.header;
        match &mut merged {
            None => {
                let ours = env!("CARGO_PKG_VERSION");
                if h.revshare_version != ours {
                    errors.push(format!(
                        "{name}: written by revshare {}, but this is revshare {ours}; \
                         run the shards and the merge with the same version",
                        h.revshare_version
                    ));
                    continue;
                }
                let engine = Engine::new(&p.scenario);
                let mut tally = engine.empty_tally(false);
                if !fits(&p.tally, &tally) {
                    errors.push(format!(
                        "{name}: corrupted: the tally does not fit its scenario"
                    ));
                    continue;
                }
                tally.merge(&p.tally);
                merged = Some(Merged {
                    file: file.clone(),
                    header: p.header.clone(),
                    engine,
                    tally,
                    threads: h.threads,
                    elapsed_seconds: h.elapsed_seconds,
                    by_shard: BTreeMap::from([(h.shard_index, vec![file.clone()])]),
                });
            }
            Some(m) => {
                if let Some(why) = mismatch(&m.header, h) {
                    let why = why.replace("{ref}", &m.file.display().to_string());
                    errors.push(format!("{name}: {why}"));
                    continue;
                }
                if !fits(&p.tally, &m.tally) {
                    errors.push(format!(
                        "{name}: corrupted: the tally does not fit its scenario"
                    ));
                    continue;
                }
                m.tally.merge(&p.tally);
                m.threads = m.threads.max(h.threads);
                m.elapsed_seconds += h.elapsed_seconds;
                m.by_shard
                    .entry(h.shard_index)
                    .or_default()
                    .push(file.clone());
            }
        }
    }
    // 2. Every shard exactly once.
    if let Some(m) = &merged {
        let n = m.header.shard_count;
        let missing: Vec<u64> = (0..n).filter(|i| !m.by_shard.contains_key(i)).collect();
        if !missing.is_empty() {
            errors.push(format!(
                "missing {} of {n} shard{} (0-based): {}",
                missing.len(),
                if n == 1 { "" } else { "s" },
                ranges(&missing)
            ));
        }
        for (i, files) in m.by_shard.iter().filter(|(_, f)| f.len() > 1) {
            let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
            errors.push(format!(
                "shard {i}/{n} given {} times: {}",
                files.len(),
                names.join(", ")
            ));
        }
    }
    let m = match merged {
        Some(m) if errors.is_empty() => m,
        _ => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            if errors.is_empty() {
                eprintln!("error: no partial given");
            }
            eprintln!("merge refused: no output written");
            return EXIT_INVALID;
        }
    };

    // 3. Summarise and export, as `run` does.
    let summary = match Summary::build(&m.engine, &m.tally, m.threads, m.elapsed_seconds) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}; no output written");
            return EXIT_FAILURE;
        }
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("out").join(&m.engine.scenario.name));
    if args.out.is_none() {
        if let Err(e) = check_out_dir(&out, false) {
            eprintln!("error: {e}");
            return EXIT_FAILURE;
        }
    }
    let charts = if args.no_charts {
        Vec::new()
    } else {
        match render_charts(&m.engine, &m.tally, &summary, 0, args.chart_size) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}; no output written");
                return EXIT_FAILURE;
            }
        }
    };
    let written = match output::write_results(&out, &m.engine, &m.tally, &summary, &charts) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FAILURE;
        }
    };
    if !args.quiet {
        print!("{}", output::text_report(&summary));
        let names: Vec<String> = written
            .iter()
            .filter_map(|p| p.strip_prefix(&out).ok())
            .map(|p| p.display().to_string())
            .collect();
        println!(
            "\nmerged {} shards in {:.2} s; wrote to {}/: {}",
            m.header.shard_count,
            started.elapsed().as_secs_f64(),
            out.display(),
            names.join(", ")
        );
    }
    0
}

/// True if `t` has the shape of `like` (same metrics, flows and years).
fn fits(t: &crate::engine::Tally, like: &crate::engine::Tally) -> bool {
    t.stats.len() == like.stats.len()
        && t.hits.len() == like.hits.len()
        && t.hits_in_year.len() == like.hits_in_year.len()
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

    #[test]
    fn ranges_compress_runs() {
        assert_eq!(ranges(&[0, 2, 3, 4, 5, 9]), "0, 2-5, 9");
        assert_eq!(ranges(&[7]), "7");
    }
}
