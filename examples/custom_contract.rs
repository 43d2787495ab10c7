//! Builds a contract in code — a third regime, `custom`, with a $50B cap
//! and a 15% rate instead of the amendment's ~$38B and 20% — validates
//! it like a file, runs it with the base scenario's revenue model and
//! compares all three regimes against the prior, uncapped one.
//!
//! ```text
//! cargo run --release --example custom_contract -- scenarios/base.json 20000
//! ```

use revshare::engine::{Engine, RunOptions};
use revshare::scenario::{self, Flow};
use revshare::summary::Summary;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let file = args.next().unwrap_or_else(|| "scenarios/base.json".into());
    let mut sc = scenario::load(file.as_ref())?.scenario;
    if let Some(p) = args.next() {
        sc.simulation.paths = p.parse()?;
    }

    // The new contract: the amended stream with a different cap and rate.
    let custom = Flow {
        name: "openai_to_microsoft".into(),
        payer: "OpenAI".into(),
        payee: "Microsoft".into(),
        series: "openai".into(),
        rate: 0.15,
        from_year: sc.start_year,
        to_year: sc.end_year,
        cap: Some(50.0),
        paid_before_start: 0.0,
    };
    sc.regimes.insert("custom".into(), vec![custom]);
    // Validate the edited scenario exactly as a file would be.
    let sc = scenario::parse(&serde_json::to_string(&sc)?, "custom_contract".as_ref())?.scenario;

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

    println!(
        "{}: {} paths, seed {}; OpenAI → Microsoft payments 2026-2030, $B",
        sc.name, sc.simulation.paths, sc.simulation.seed
    );
    println!(
        "{:<9} {:>6} {:>6} {:>8} {:>8} {:>8} {:>12} {:>14}",
        "regime", "rate", "cap", "P(binds)", "mean", "p95", "OpenAI gain", "gain NPV"
    );
    for (name, flows) in &sc.regimes {
        let f = flows
            .iter()
            .find(|f| f.name == "openai_to_microsoft")
            .unwrap();
        let fs = &summary.regimes[name].flows[&f.name];
        let binds = fs
            .cap_hit
            .as_ref()
            .map_or("-".into(), |h| format!("{:.1}%", 100.0 * h.probability));
        let (gain, npv) =
            summary
                .comparisons
                .get(name)
                .map_or(("(baseline)".into(), String::new()), |c| {
                    let c = &c["OpenAI"];
                    (
                        format!("{:+.1}", c.delta_net.mean),
                        format!("{:+.1}", c.delta_net_npv.mean),
                    )
                });
        println!(
            "{:<9} {:>6.2} {:>6} {:>8} {:>8.1} {:>8.1} {:>12} {:>14}",
            name,
            f.rate,
            f.cap.map_or("none".into(), |c| format!("{c}")),
            binds,
            fs.total.mean,
            fs.total.p95,
            gain,
            npv
        );
    }
    Ok(())
}
