//! End-to-end sampler throughput, measured beside the random-number floor
//! in the same run so that their ratio means something.
//!
//! Groups (criterion throughput is in paths/s; ns per path-step is
//! 1e9 / (paths/s * steps), printed by the closing table):
//! * `base`: scenarios/base.json (2 series, 60 monthly steps, jumps, 3
//!   flows, every statistic) — `rng_floor` and `sampler` on 1 thread and
//!   on all threads;
//! * `gbm`: benches/gbm.json, a single geometric Brownian motion series;
//! * `annual`: scenarios/annual-steps.json (5 annual steps).
//!
//! After criterion, a closing table re-times floor and sampler alternately
//! (median of 5 rounds each) at the scenario's own path count
//! (`simulation.paths`, as `revshare run` runs it; 100,000 for all three)
//! and prints paths/s, ns per path-step, the
//! sampler/floor ratio and the 2-thread/1-thread scaling, for each scenario
//! and for base.json as sweeps and sensitivity analyses run it
//! (`base/sum`: summary statistics only, no per-step quantiles).

mod common;

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use revshare::engine::Engine;

/// Paths per measured iteration of the criterion groups (the closing
/// table runs each scenario's own path count).
const PATHS: u64 = 50_000;

const SCENARIOS: [(&str, &str); 3] = [
    ("base", "scenarios/base.json"),
    ("gbm", "benches/gbm.json"),
    ("annual", "scenarios/annual-steps.json"),
];

/// The engines of the closing table: every scenario as `revshare run` runs
/// it, then base.json as sweeps and sensitivity analyses run it (no
/// per-step statistics).
fn table_engines() -> Vec<(&'static str, Engine)> {
    let mut v: Vec<_> = SCENARIOS
        .iter()
        .map(|&(name, path)| (name, Engine::new(&common::scenario(path))))
        .collect();
    let lean = Engine::new(&common::scenario("scenarios/base.json")).without_step_statistics();
    v.push(("base/sum", lean));
    v
}

fn thread_counts() -> Vec<usize> {
    let all = common::all_threads();
    if all > 1 {
        vec![1, all]
    } else {
        vec![1]
    }
}

fn benches(c: &mut Criterion) {
    for (name, path) in SCENARIOS {
        let engine = Engine::new(&common::scenario(path));
        let mut g = c.benchmark_group(name);
        g.sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .throughput(Throughput::Elements(PATHS));
        for threads in thread_counts() {
            g.bench_with_input(BenchmarkId::new("rng_floor", threads), &threads, |b, &t| {
                b.iter(|| black_box(common::rng_floor(engine.model(), PATHS, t)))
            });
            g.bench_with_input(BenchmarkId::new("rng_free", threads), &threads, |b, &t| {
                b.iter(|| black_box(common::rng_free(&engine, PATHS, t)))
            });
            g.bench_with_input(BenchmarkId::new("sampler", threads), &threads, |b, &t| {
                b.iter(|| black_box(common::sampler(&engine, PATHS, t)))
            });
        }
        g.finish();
    }
}

/// The closing table: floor and sampler timed alternately.
fn ratios() {
    println!(
        "\n{:<8} {:>7} {:>7} {:>14} {:>14} {:>14} {:>9} {:>9} {:>14} {:>10}",
        "scenario",
        "threads",
        "paths",
        "floor paths/s",
        "free paths/s",
        "run paths/s",
        "run/floor",
        "run/free",
        "ns/path-step",
        "scaling"
    );
    for (name, engine) in table_engines() {
        let steps = engine.model().steps as f64;
        // As `revshare run SCENARIO` runs it: the scenario's path count.
        let paths = engine.scenario().simulation.paths;
        let mut one = None;
        for threads in thread_counts() {
            let (mut floor, mut free, mut run) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..5 {
                free.push(common::median_seconds(1, || {
                    black_box(common::rng_free(&engine, paths, threads));
                }));
                floor.push(common::median_seconds(1, || {
                    black_box(common::rng_floor(engine.model(), paths, threads));
                }));
                run.push(common::median_seconds(1, || {
                    black_box(common::sampler(&engine, paths, threads));
                }));
            }
            let med = |v: &mut Vec<f64>| {
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            };
            let floor_ps = paths as f64 / med(&mut floor);
            let run_ps = paths as f64 / med(&mut run);
            let free_ps = paths as f64 / med(&mut free);
            let base = *one.get_or_insert(run_ps);
            println!(
                "{:<8} {:>7} {:>7} {:>14.0} {:>14.0} {:>14.0} {:>8.1}% {:>8.1}% {:>14.2} {:>9.2}x",
                name,
                threads,
                paths,
                floor_ps,
                free_ps,
                run_ps,
                100.0 * run_ps / floor_ps,
                100.0 * run_ps / free_ps,
                1e9 / (run_ps * steps),
                run_ps / base
            );
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
    // Skip the table in criterion's smoke-test and listing modes.
    if !args.iter().any(|a| a == "--test" || a == "--list") {
        ratios();
    }
}
