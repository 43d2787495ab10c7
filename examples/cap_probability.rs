//! Loads a scenario, runs it, and prints the probability that each cap
//! binds by the end of each year.
//!
//! ```text
//! cargo run --release --example cap_probability -- scenarios/base.json 100000
//! ```

use revshare::engine::{Engine, RunOptions};
use revshare::scenario;
use revshare::summary::Summary;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let file = args.next().unwrap_or_else(|| "scenarios/base.json".into());
    let loaded = scenario::load(file.as_ref())?;
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    let sc = loaded.scenario;
    let paths = match args.next() {
        Some(p) => p.parse()?,
        None => sc.simulation.paths,
    };
    let engine = Engine::new(&sc);
    let opts = RunOptions {
        paths,
        seed: sc.simulation.seed,
        threads: 0,
        exact: false,
        shard: (0, 1),
    };
    let out = engine.run_quiet(&opts)?;
    let summary = Summary::build(&engine, &out.tally, out.threads, out.elapsed_seconds)?;

    println!("{} ({paths} paths, seed {})", sc.name, sc.simulation.seed);
    for (regime, r) in &summary.regimes {
        for (flow, f) in &r.flows {
            let Some(hit) = &f.cap_hit else { continue };
            println!("{regime}/{flow}: P(cap binds by the end of ...)");
            for (year, p) in &hit.probability_by_year {
                println!("  {year}: {:5.1}%", 100.0 * p);
            }
        }
    }
    Ok(())
}
