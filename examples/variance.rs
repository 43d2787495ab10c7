//! How much each sampling method (`simulation.sampling`) reduces the
//! variance of the key figures, measured over repeated seeds rather than
//! read off the reported errors: for base.json and for the smooth GBM case
//! tests/scenarios/gbm.json, each method runs the same path count under
//! `SEEDS` seeds on one thread; the variance of each figure over the
//! seeds, against mc's, is the variance reduction factor at equal paths,
//! and times mc's CPU time over the method's, at equal CPU time.
//!
//! ```text
//! cargo run --release --example variance [PATHS] [SEEDS]   # 16384 100
//! ```
//!
//! Prints the markdown table of docs/precision.md. Each factor is a ratio
//! of two variances over SEEDS seeds: with 100 seeds it is good to about
//! ±20% (one standard deviation).

use std::time::Instant;

use revshare::engine::{Engine, RunOptions};
use revshare::result::RunResult;
use revshare::scenario::{self, Sampling};

/// The figures compared, per scenario: (label, summary.json key).
const BASE: [(&str, &str); 5] = [
    (
        "prior total mean",
        "regimes.prior.flows.openai_to_microsoft.total.mean",
    ),
    (
        "amended (capped) total mean",
        "regimes.amended.flows.openai_to_microsoft.total.mean",
    ),
    (
        "P(cap hit)",
        "regimes.amended.flows.openai_to_microsoft.cap_hit.probability",
    ),
    (
        "delta_net mean (OpenAI)",
        "comparisons.amended.OpenAI.delta_net.mean",
    ),
    (
        "delta_net p50 (OpenAI)",
        "comparisons.amended.OpenAI.delta_net.p50",
    ),
];

const GBM: [(&str, &str); 5] = [
    ("uncapped total mean", "regimes.uncapped.flows.f.total.mean"),
    ("capped total mean", "regimes.capped.flows.f.total.mean"),
    ("P(cap hit)", "regimes.capped.flows.f.cap_hit.probability"),
    ("delta_net mean (P)", "comparisons.capped.P.delta_net.mean"),
    ("delta_net p50 (P)", "comparisons.capped.P.delta_net.p50"),
];

/// Per figure, the variance over seeds; and the CPU seconds per run.
fn measure(
    file: &str,
    keys: &[(&str, &str)],
    sampling: Sampling,
    paths: u64,
    seeds: u64,
) -> (Vec<f64>, f64) {
    let sc = scenario::load(file.as_ref()).expect("scenario").scenario;
    let sc = sc
        .with_sampling(paths, 0, sampling)
        .expect("a power of two of paths suits every method");
    let engine = Engine::new(&sc).without_step_statistics();
    let mut values = vec![Vec::new(); keys.len()];
    let mut seconds = 0.0;
    for seed in 0..seeds {
        let opts = RunOptions {
            paths,
            seed: 1000 + seed,
            threads: 1,
            exact: false,
            shard: (0, 1),
        };
        let started = Instant::now();
        let out = engine.run_quiet(&opts).expect("run");
        seconds += started.elapsed().as_secs_f64();
        let r = RunResult::build(&engine, &out.tally, 1, 0.0).expect("finite");
        let v = serde_json::to_value(&r.summary).expect("serialises");
        for (i, (_, key)) in keys.iter().enumerate() {
            let x = key
                .split('.')
                .try_fold(&v, |v, k| v.get(k))
                .and_then(|x| x.as_f64())
                .unwrap_or_else(|| panic!("{key}"));
            values[i].push(x);
        }
    }
    let var = values
        .iter()
        .map(|xs| {
            let n = xs.len() as f64;
            let m = xs.iter().sum::<f64>() / n;
            xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0)
        })
        .collect();
    (var, seconds / seeds as f64)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let paths: u64 = args.next().map_or(16_384, |a| a.parse().expect("PATHS"));
    let seeds: u64 = args.next().map_or(100, |a| a.parse().expect("SEEDS"));
    let root = env!("CARGO_MANIFEST_DIR");
    println!("{paths} paths, {seeds} seeds, one thread\n");
    println!("| scenario | figure | mc sd | antithetic: equal paths | equal time | qmc: equal paths | equal time |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let mut times = Vec::new();
    for (name, file, keys) in [
        ("base", format!("{root}/scenarios/base.json"), &BASE[..]),
        ("gbm", format!("{root}/tests/scenarios/gbm.json"), &GBM[..]),
    ] {
        let (mc, t_mc) = measure(&file, keys, Sampling::Mc, paths, seeds);
        let (anti, t_anti) = measure(&file, keys, Sampling::Antithetic, paths, seeds);
        let (qmc, t_qmc) = measure(&file, keys, Sampling::Qmc, paths, seeds);
        times.push((name, t_mc, t_anti, t_qmc));
        for (i, (label, _)) in keys.iter().enumerate() {
            let f = |v: &[f64], t: f64| {
                let at_paths = mc[i] / v[i];
                let at_time = at_paths * t_mc / t;
                if at_paths.is_finite() {
                    format!("{at_paths:.1}x | {at_time:.1}x")
                } else {
                    "(no variance) | ".to_string()
                }
            };
            println!(
                "| {name} | {label} | {:.3e} | {} | {} |",
                mc[i].sqrt(),
                f(&anti, t_anti),
                f(&qmc, t_qmc)
            );
        }
    }
    println!("\nCPU time per run (ms): ");
    for (name, a, b, c) in times {
        println!(
            "- {name}: mc {:.1}, antithetic {:.1}, qmc {:.1}",
            1e3 * a,
            1e3 * b,
            1e3 * c
        );
    }
}
