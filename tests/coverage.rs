//! Coverage of the reported 95% intervals: over many seeds, the interval
//! of a figure with a closed-form answer must contain the exact value in
//! about 95% of runs (93–97% is asked for; with 1,000 seeds the binomial
//! standard deviation of the coverage is 0.7 points, so the band is ±2.9
//! of them around 95%).
//!
//! Figures: the GBM run rate's mean at the horizon (A0·e^{μT}), the mean of
//! an uncapped flow's total (rate × the exact mean revenue of its years,
//! `study::decide::closed_form`), and a cap-hit probability whose exact
//! value is the GBM probability that the run rate ends above a level
//! (a capped flow on a one-step-a-year series pays its cap iff the year's
//! revenue reaches it).
//!
//! Each sampling method (`simulation.sampling`) is checked: plain Monte
//! Carlo, antithetic pairs (errors from pair means) and randomised QMC
//! (errors from 16 replicates: a bootstrap-t interval of their means,
//! Wilson at the effective size for probabilities).
//!
//! Cost: 9 × 1,000 runs of 512 paths (about 15 s in release on 2 cores).

use std::path::Path;

use revshare::engine::{Engine, RunOptions};
use revshare::result::RunResult;
use revshare::scenario::{self, Sampling};
use revshare::study::decide::closed_form::{means, Grid, SeriesParams};
use statrs::distribution::{ContinuousCDF, Normal};

const SEEDS: u64 = 1000;
const PATHS: u64 = 512;

const METHODS: [Sampling; 3] = [Sampling::Mc, Sampling::Antithetic, Sampling::Qmc];

fn gbm(cap: Option<f64>, steps_per_year: u32, end_year: i32, sampling: Sampling) -> String {
    let cap = cap.map_or(String::new(), |c| format!(", \"cap\": {c}"));
    // qmc: 16 replicates of 32 points.
    let paths = PATHS;
    let sampling = sampling.as_str();
    format!(
        r#"{{
  "name": "gbm", "start_year": 2026, "end_year": {end_year}, "steps_per_year": {steps_per_year},
  "simulation": {{ "sampling": "{sampling}", "paths": {paths} }},
  "series": {{ "s": {{ "initial_run_rate": 10.0,
      "growth": {{ "initial": 0.2, "long_run": 0.2, "reversion": 0.0, "volatility": 0.0, "volatility_decay": 0.0 }},
      "volatility": {{ "initial": 0.4, "long_run": 0.4, "decay": 0.0 }},
      "growth_correlation": 0.0 }} }},
  "baseline": "only",
  "regimes": {{ "only": [ {{ "name": "f", "payer": "P", "payee": "Q", "series": "s",
      "rate": 0.2, "from_year": 2026, "to_year": {end_year}{cap} }} ] }}
}}"#
    )
}

/// The share of seeds whose interval, read by `interval`, holds `exact`.
fn coverage(text: &str, exact: f64, interval: impl Fn(&RunResult) -> [f64; 2]) -> f64 {
    let sc = scenario::parse(text, Path::new("gbm.json"))
        .unwrap()
        .scenario;
    let engine = Engine::new(&sc).without_step_statistics();
    let mut hits = 0;
    for seed in 0..SEEDS {
        let opts = RunOptions {
            paths: sc.simulation.paths,
            seed,
            threads: 1,
            exact: false,
            shard: (0, 1),
        };
        let out = engine.run_quiet(&opts).unwrap();
        let r = RunResult::build(&engine, &out.tally, out.threads, out.elapsed_seconds).unwrap();
        let [lo, hi] = interval(&r);
        hits += u32::from(lo <= exact && exact <= hi);
    }
    hits as f64 / SEEDS as f64
}

fn assert_band(name: &str, sampling: Sampling, c: f64) {
    let s = sampling.as_str();
    println!("{name} ({s}): coverage {:.1}%", 100.0 * c);
    assert!((0.93..=0.97).contains(&c), "{name} ({s}): coverage {c}");
}

#[test]
fn mean_intervals_cover_the_gbm_run_rate() {
    // E[A(T)] = A0 e^{mu T}, T = 3 years.
    let exact = 10.0 * (0.2f64 * 3.0).exp();
    for m in METHODS {
        let c = coverage(&gbm(None, 12, 2028, m), exact, |r| {
            r.summary.series["s"].run_rate_end.mean_ci95
        });
        assert_band("run rate mean", m, c);
    }
}

#[test]
fn mean_intervals_cover_an_uncapped_total() {
    let params = SeriesParams {
        initial_run_rate: 10.0,
        growth_initial: 0.2,
        growth_long_run: 0.2,
        growth_reversion: 0.0,
        growth_volatility: 0.0,
        growth_volatility_decay: 0.0,
        volatility_initial: 0.4,
        volatility_long_run: 0.4,
        volatility_decay: 0.0,
        growth_correlation: 0.0,
        jumps: None,
        tails_dof: None,
    };
    let grid = Grid {
        start_year: 2026,
        end_year: 2028,
        steps_per_year: 12,
    };
    let m = means(&params, &grid).unwrap();
    let exact: f64 = 0.2 * m.annual_revenue.iter().map(|(_, v)| v).sum::<f64>();
    for m in METHODS {
        let c = coverage(&gbm(None, 12, 2028, m), exact, |r| {
            r.summary.regimes["only"].flows["f"].total.mean_ci95
        });
        assert_band("uncapped total mean", m, c);
    }
}

#[test]
fn wilson_intervals_cover_a_cap_hit_probability() {
    // One step a year over one year: revenue R = (A0 + A1)/2, the flow
    // accrues 0.2 R, and the cap binds iff 0.2 (A0 + A1)/2 >= cap, i.e.
    // A1 >= 10 cap - A0 with ln A1 ~ N(ln A0 + (mu - sigma^2/2), sigma^2).
    let cap = 2.4;
    let level: f64 = 10.0 * cap - 10.0;
    let z = (level.ln() - (10f64.ln() + 0.2 - 0.08)) / 0.4;
    let exact = 1.0 - Normal::new(0.0, 1.0).unwrap().cdf(z);
    assert!(exact > 0.2 && exact < 0.8, "{exact}");
    for m in METHODS {
        let c = coverage(&gbm(Some(cap), 1, 2026, m), exact, |r| {
            r.summary.regimes["only"].flows["f"]
                .cap_hit
                .as_ref()
                .unwrap()
                .probability_ci95
        });
        assert_band("cap-hit probability", m, c);
    }
}
