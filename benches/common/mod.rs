//! Shared pieces of the benches: scenario loading, the end-to-end sampler
//! run and the random-number floor, both split over threads exactly as
//! `revshare run` splits them (fixed batches with their own generators,
//! folded by rayon).

#![allow(dead_code)]

use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;
use revshare::engine::{batch_count, Engine, RunOptions, BATCH_PATHS};
use revshare::export;
use revshare::model::{Model, StepState};
use revshare::random::Generator;
use revshare::result::RunResult;
use revshare::scenario::{self, Scenario};

/// Loads a scenario relative to the crate root.
pub fn scenario(rel: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    scenario::load(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .scenario
}

/// Worker threads of "all threads".
pub fn all_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// End to end as `revshare run` does it, files aside: simulate, settle and
/// accumulate every statistic (per-step quantiles included, unless the
/// engine is [`Engine::without_step_statistics`], as in sweeps), then build
/// the summary and the CSV bytes. Returns something to keep the result
/// alive.
pub fn sampler(engine: &Engine, paths: u64, threads: usize) -> usize {
    let opts = RunOptions {
        paths,
        seed: 42,
        threads,
        exact: false,
        shard: (0, 1),
    };
    let out = engine.run_quiet(&opts).expect("run");
    result_bytes(engine, &out)
}

/// Builds the result of a run and its data files, as `revshare run` does
/// (files aside); returns their total size to keep them alive.
fn result_bytes(engine: &Engine, out: &revshare::engine::RunOutput) -> usize {
    let result = RunResult::build(engine, &out.tally, out.threads, out.elapsed_seconds)
        .expect("finite results");
    // steps.csv only when the run recorded per-step statistics (a sweep
    // or sensitivity run writes none).
    let steps = if engine.records_step_statistics() {
        export::steps_csv(&result)
    } else {
        Vec::new()
    };
    let annual = export::annual_csv(&result);
    result.summary.to_json().len() + steps.len() + annual.len()
}

/// Paths per chunk in [`rng_floor`], as in the engine.
const CHUNK: usize = 128;

/// The random-number floor: exactly the draws that `sampler` makes (same
/// paths, same [`Generator`] rows and substreams, see
/// [`Model::draw_rows`], chunks of 128 paths into a buffer of the engine's
/// shape) on the same number of threads, and nothing else.
pub fn rng_floor(model: &Model, paths: u64, threads: usize) -> u64 {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    let batches = batch_count(paths);
    let min_len = (batches / (threads as u64 * 8)).max(1) as usize;
    let generator = Generator::new(42);
    let stride = CHUNK + 8;
    pool.install(|| {
        (0..batches as usize)
            .into_par_iter()
            .with_min_len(min_len)
            .map_init(
                || {
                    (
                        StepState::new(model, CHUNK),
                        vec![0.0; model.shock_rows() * stride],
                    )
                },
                |(state, buf), b| {
                    let b = b as u64;
                    let mut first = b * BATCH_PATHS;
                    let end = paths.min(first + BATCH_PATHS);
                    let mut acc = 0u64;
                    while first < end {
                        let n = (end - first).min(CHUNK as u64) as usize;
                        model.draw_rows(&generator, first, n, state, buf, stride);
                        acc ^= buf[n - 1].to_bits() ^ buf[buf.len() - stride].to_bits();
                        first += n as u64;
                    }
                    acc
                },
            )
            .reduce(|| 0, |a, b| a ^ b)
    })
}

/// The `rng_free` bound: `sampler` with every chunk's shock rows copied
/// from a table of 4,096 normals (32 KiB, drawn once) instead of drawn
/// (see `Engine::run_rng_free`): everything the engine does that is not
/// random numbers.
pub fn rng_free(engine: &Engine, paths: u64, threads: usize) -> usize {
    use revshare::random::{Kind, Row};
    let mut table = vec![0.0; 4096];
    Generator::new(7).fill_normals(Row::new(0, 0, Kind::RevenueShock), 0, &mut table);
    let opts = RunOptions {
        paths,
        seed: 42,
        threads,
        exact: false,
        shard: (0, 1),
    };
    let out = engine.run_rng_free(&opts, &table).expect("run");
    result_bytes(engine, &out)
}

/// Median wall time in seconds of `rounds` calls of `f`.
pub fn median_seconds(rounds: usize, mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..rounds)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}
