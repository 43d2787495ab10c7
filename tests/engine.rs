//! Known answers for the core engine, through the library API: the GBM
//! special case against the lognormal closed form, the zero-volatility
//! path against a hand computation, the sketch against exact quantiles.

use std::path::Path;

use revshare::engine::{Engine, RunOptions};
use revshare::scenario::{parse, Scenario};
use revshare::statistics::SKETCH_RELATIVE_ACCURACY;
use revshare::summary::Summary;
use statrs::distribution::{ContinuousCDF, LogNormal};

fn scenario(text: &str) -> Scenario {
    parse(text, Path::new("test.json")).unwrap().scenario
}

fn run(sc: &Scenario, paths: u64, seed: u64, exact: bool) -> Summary {
    let engine = Engine::new(sc);
    let opts = RunOptions {
        paths,
        seed,
        threads: 2,
        exact,
        shard: (0, 1),
    };
    let out = engine.run_quiet(&opts).unwrap();
    Summary::build(&engine, &out.tally, out.threads, out.elapsed_seconds).unwrap()
}

const GBM: &str = r#"{
  "name": "gbm", "start_year": 2026, "end_year": 2029, "steps_per_year": 12,
  "series": { "s": { "initial_run_rate": 20,
    "growth": { "initial": 0.3, "long_run": 0.3, "reversion": 0.7, "volatility": 0 },
    "volatility": { "initial": 0.4, "long_run": 0.4, "decay": 1.0 } } },
  "baseline": "p",
  "regimes": { "p": [ { "name": "f", "payer": "A", "payee": "B", "series": "s",
                        "rate": 0.2, "from_year": 2026, "to_year": 2029 } ] }
}"#;

#[test]
fn gbm_final_run_rate_matches_the_lognormal() {
    let sc = scenario(GBM);
    let n = 200_000u64;
    let s = run(&sc, n, 11, false);
    let stat = &s.series["s"].run_rate_end;
    let (a0, mu, sigma, t) = (20.0f64, 0.3f64, 0.4f64, 4.0f64);
    let loc = a0.ln() + (mu - sigma * sigma / 2.0) * t;
    let scale = sigma * t.sqrt();
    let ln = LogNormal::new(loc, scale).unwrap();
    // Mean: E[A(T)] = A0 e^{mu T}; tolerance 4 standard errors, the SE
    // taken from the closed-form variance.
    let mean = a0 * (mu * t).exp();
    let var = mean * mean * ((sigma * sigma * t).exp() - 1.0);
    let se = (var / n as f64).sqrt();
    assert!(
        (stat.mean - mean).abs() < 4.0 * se,
        "mean {} vs {mean} (se {se})",
        stat.mean
    );
    // Quantiles: sampling error of the q-quantile is
    // sqrt(q(1-q)/n) / f(x_q); allow 4 of those plus the sketch's accuracy.
    for (q, got) in [(0.05, stat.p5), (0.5, stat.p50), (0.95, stat.p95)] {
        let x = ln.inverse_cdf(q);
        let z = (x.ln() - loc) / scale;
        let pdf = (-0.5 * z * z).exp() / (x * scale * (2.0 * std::f64::consts::PI).sqrt());
        let se_q = (q * (1.0 - q) / n as f64).sqrt() / pdf;
        let tol = 4.0 * se_q + SKETCH_RELATIVE_ACCURACY * x;
        assert!((got - x).abs() < tol, "p{q}: {got} vs {x} (tol {tol})");
    }
}

#[test]
fn zero_volatility_is_deterministic_and_matches_a_hand_computed_path() {
    let sc = scenario(
        r#"{
      "name": "det", "start_year": 2026, "end_year": 2027, "steps_per_year": 4,
      "discount_rate": 0.1,
      "series": { "s": { "initial_run_rate": 10,
        "growth": { "initial": 0.8, "long_run": 0.2, "reversion": 0.5, "volatility": 0 },
        "volatility": { "initial": 0 } } },
      "baseline": "prior",
      "regimes": {
        "prior": [ { "name": "f", "payer": "A", "payee": "B", "series": "s",
                     "rate": 0.2, "from_year": 2026, "to_year": 2027 } ],
        "amended": [ { "name": "f", "payer": "A", "payee": "B", "series": "s",
                       "rate": 0.2, "from_year": 2026, "to_year": 2027, "cap": 3.0 } ] } }"#,
    );
    let s = run(&sc, 3000, 5, false);
    // Hand computation of MODEL.md §2-3 with all shocks zero.
    let dt = 0.25;
    let (mut x, mut mu) = (10f64.ln(), 0.8f64);
    let mut a_prev = 10.0;
    let (mut total, mut npv, mut capped_total) = (0.0, 0.0, 0.0);
    let mut hit = None;
    let mut year_rev = [0.0; 2];
    for k in 1..=8 {
        x += mu * dt;
        mu = 0.2 + (mu - 0.2) * (-0.5 * dt).exp();
        let a = x.exp();
        let r = dt * (a_prev + a) / 2.0;
        year_rev[(k - 1) / 4] += r;
        let p = 0.2 * r;
        total += p;
        npv += p * 1.1f64.powf(-(k as f64) * dt);
        if hit.is_none() {
            if capped_total + p >= 3.0 {
                hit = Some(2026.0 + (k - 1) as f64 * dt + dt * (3.0 - capped_total) / p);
                capped_total = 3.0;
            } else {
                capped_total += p;
            }
        }
        a_prev = a;
    }
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
    let t = &s.regimes["prior"].flows["f"].total;
    assert!(close(t.mean, total), "{} vs {total}", t.mean);
    assert_eq!(t.sd, 0.0);
    assert!(close(t.p1, total) && close(t.p99, total));
    assert!(close(s.regimes["prior"].flows["f"].npv.mean, npv));
    let amended = &s.regimes["amended"].flows["f"];
    assert!(close(amended.total.mean, capped_total));
    let h = amended.cap_hit.as_ref().unwrap();
    assert_eq!(h.probability, 1.0);
    let ht = h.time.as_ref().unwrap();
    assert!(close(ht.mean, hit.unwrap()), "{} vs {:?}", ht.mean, hit);
    assert!(close(
        s.series["s"].annual_revenue["2026"].mean,
        year_rev[0]
    ));
    assert!(close(
        s.series["s"].annual_revenue["2027"].mean,
        year_rev[1]
    ));
    assert!(close(s.series["s"].run_rate_end.mean, a_prev));
    // B's gain from the amendment is minus A's.
    let d = &s.comparisons["amended"];
    assert!(close(d["A"].delta_net.mean, total - capped_total));
    assert!(close(d["B"].delta_net.mean, capped_total - total));
}

#[test]
fn sketch_quantiles_are_within_the_stated_accuracy_of_exact_ones() {
    let text = std::fs::read_to_string("scenarios/base.json").unwrap();
    let sc = parse(&text, Path::new("scenarios/base.json"))
        .unwrap()
        .scenario;
    let sketch = run(&sc, 20_000, 3, false);
    let exact = run(&sc, 20_000, 3, true);
    let a = serde_json::to_value(&sketch).unwrap();
    let b = serde_json::to_value(&exact).unwrap();
    let mut checked = 0;
    compare(&a["series"], &b["series"], &mut checked);
    compare(&a["regimes"], &b["regimes"], &mut checked);
    compare(&a["comparisons"], &b["comparisons"], &mut checked);
    assert!(checked > 300, "only {checked} quantiles compared");

    fn compare(a: &serde_json::Value, b: &serde_json::Value, checked: &mut usize) {
        if let (serde_json::Value::Object(x), serde_json::Value::Object(y)) = (a, b) {
            for (k, va) in x {
                let vb = &y[k];
                if k.ends_with("_ci95") {
                    // Intervals: checked in tests/statistics.rs.
                    continue;
                }
                if k.starts_with('p') && k[1..].parse::<u32>().is_ok() {
                    let (e, s) = (vb.as_f64().unwrap(), va.as_f64().unwrap());
                    // Allow the stated relative accuracy (plus rounding).
                    assert!(
                        (s - e).abs() <= SKETCH_RELATIVE_ACCURACY * e.abs() + 1e-12,
                        "{k}: sketch {s} vs exact {e}"
                    );
                    *checked += 1;
                } else if k == "mean" || k == "sd" || k == "min" || k == "max" {
                    // Everything but the quantiles is computed the same way.
                    assert_eq!(va, vb, "{k}");
                } else {
                    compare(va, vb, checked);
                }
            }
        }
    }
}
