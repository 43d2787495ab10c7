//! Sweeps the amended cap from $20B to $80B and prints P(cap binds) for
//! each, with common random numbers: every cap sees the same paths (same
//! seed), so the probabilities differ only because the cap does.
//!
//! ```text
//! cargo run --release --example sweep_cap -- scenarios/base.json 20000
//! ```
//!
//! The CLI equivalent, with CSV and chart:
//! `revshare sweep scenarios/base.json --param regimes.amended.0.cap --values 20:80:5`.

use revshare::engine::{Engine, RunOptions};
use revshare::scenario;
use revshare::study::metric::{Metric, MetricValue};
use revshare::summary::Summary;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let file = args.next().unwrap_or_else(|| "scenarios/base.json".into());
    let paths: Option<u64> = args.next().map(|p| p.parse()).transpose()?;
    let text = std::fs::read_to_string(&file)?;

    println!("cap ($B)  P(cap binds)  90% interval");
    for cap in (20..=80).step_by(5) {
        // The same override `--set regimes.amended.0.cap=...` on the CLI.
        let set = [format!("regimes.amended.0.cap={cap}")];
        let mut sc = scenario::parse_with_overrides(&text, file.as_ref(), &set)?.scenario;
        if let Some(p) = paths {
            sc.simulation.paths = p;
        }
        let metric = Metric::default_for_sweep(&sc);
        let engine = Engine::new(&sc);
        let opts = RunOptions {
            paths: sc.simulation.paths,
            seed: sc.simulation.seed,
            threads: 0,
            exact: false,
            shard: (0, 1),
        };
        let out = engine.run_quiet(&opts)?;
        let summary = Summary::build(&engine, &out.tally, out.threads, out.elapsed_seconds)?;
        let v = metric.eval(&summary)?;
        if let MetricValue::Probability { p, .. } = v {
            let (lo, hi) = v.band90();
            println!(
                "{cap:>8}  {:>11.1}%  {:.1}%–{:.1}%",
                100.0 * p,
                100.0 * lo,
                100.0 * hi
            );
        }
    }
    Ok(())
}
