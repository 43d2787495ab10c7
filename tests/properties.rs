//! Invariants of the accounting and the statistics, property-tested with
//! proptest over random valid scenarios, revenue paths and value sets.
//! Failing cases are kept in `proptest-regressions/properties.txt`
//! (committed) and replayed first on every run.
//!
//! Case counts are moderate (about 2,000 cases in all, a few seconds).

use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use revshare::contract::{settle_paths, Book, FlowChunk, FlowTerms};
use revshare::engine::{Engine, RunOptions};
use revshare::model::{Model, PathBuffer};
use revshare::scenario;
use revshare::statistics::StatAcc;
use revshare::summary::Summary;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/properties.txt",
        ))),
        ..ProptestConfig::default()
    }
}

/// Absolute slack for sums of up to a few hundred terms of size `scale`.
fn tol(scale: f64) -> f64 {
    1e-12 * (1.0 + scale.abs()) * 64.0
}

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

/// A revenue path: non-negative step revenues (zeros included), $B.
fn revenue_path() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(
        prop_oneof![1 => Just(0.0), 8 => 0.0..100.0f64, 1 => 0.0..1e6f64],
        1..80,
    )
}

/// Flow terms for a path of `n` steps.
fn terms(n: usize) -> impl Strategy<Value = FlowTerms> {
    (
        prop_oneof![1 => Just(0.0), 1 => Just(1.0), 6 => 0.0..=1.0f64],
        0..=n + 1,
        0..=n + 1,
        prop_oneof![1 => Just(f64::INFINITY), 1 => Just(0.0), 4 => 0.0..2000.0f64],
        prop_oneof![2 => Just(0.0), 1 => 0.0..500.0f64],
    )
        .prop_map(|(rate, a, b, cap, pbs)| FlowTerms {
            series: 0,
            rate,
            first_step: a.max(1),
            last_step: b,
            cap,
            paid_before_start: pbs,
            start_year: 2026.0,
            dt: 1.0 / 12.0,
        })
}

fn path_and_terms() -> impl Strategy<Value = (Vec<f64>, FlowTerms, f64)> {
    revenue_path().prop_flat_map(|rev| {
        let n = rev.len();
        (Just(rev), terms(n), -0.5..1.0f64)
    })
}

/// What one flow paid on one path.
struct Outcome {
    total: f64,
    npv: f64,
    hit_time: Option<f64>,
}

/// Settles one flow on one revenue path (a chunk of one path) at discount
/// rate `r`: its outcome, C(k) - C(0) for k = 0..=n, and the discount
/// factors.
fn run_settle(t: &FlowTerms, rev: &[f64], r: f64) -> (Outcome, Vec<f64>, Vec<f64>) {
    let disc: Vec<f64> = (1..=rev.len())
        .map(|k| (1.0 + r).powf(-(k as f64) * t.dt))
        .collect();
    let mut cum = vec![f64::NAN; rev.len() + 1];
    let mut st = FlowChunk::new(1);
    settle_paths(t, rev, &disc, &mut cum, 1, 1, &mut st);
    let o = Outcome {
        total: st.total[0],
        npv: st.npv[0],
        hit_time: st.hit_time(t, 0),
    };
    (o, cum, disc)
}

/// A random valid one- or two-series scenario with a capped and an uncapped
/// flow on the first series, as JSON text.
fn scenario_text() -> impl Strategy<Value = String> {
    let series = (
        0.1..200.0f64, // A0
        -1.0..2.0f64,  // mu0
        -0.5..1.0f64,  // mu_bar
        0.0..2.0f64,   // kappa
        0.0..0.5f64,   // eta
        0.0..1.0f64,   // sigma0
        0.0..0.6f64,   // sigma_bar
        -1.0..=1.0f64, // rho
        prop::option::of((0.0..3.0f64, -0.5..0.5f64, 0.0..0.3f64)),
        prop::option::of(2.5..30.0f64),
    )
        .prop_map(|(a0, mu0, mub, kap, eta, s0, sb, rho, jumps, tails)| {
            let mut s = format!(
                r#"{{ "initial_run_rate": {a0}, "growth": {{ "initial": {mu0}, "long_run": {mub},
                   "reversion": {kap}, "volatility": {eta}, "volatility_decay": 0.1 }},
                   "volatility": {{ "initial": {s0}, "long_run": {sb}, "decay": 0.3 }},
                   "growth_correlation": {rho}"#
            );
            if let Some((l, m, sd)) = jumps {
                s += &format!(r#", "jumps": {{ "rate": {l}, "mean": {m}, "sd": {sd} }}"#);
            }
            if let Some(nu) = tails {
                s += &format!(r#", "tails": {{ "dof": {nu} }}"#);
            }
            s + " }"
        });
    (
        series.clone(),
        prop::option::of((series, -0.9..0.9f64)),
        prop::sample::select(vec![1u32, 4, 12, 52]),
        0..5i32,
        0.0..=1.0f64,
        0.0..300.0f64,
        0.0..50.0f64,
        0..3i32,
        -0.05..0.2f64,
        any::<u64>(),
    )
        .prop_map(
            |(s1, s2, spy, extra_years, rate, cap, pbs, skip, disc, seed)| {
                let end = 2026 + extra_years;
                let (second, corr) = match s2 {
                    Some((s, rho)) => (
                        format!(r#", "b": {s}"#),
                        format!(r#""correlations": [ {{ "a": "a", "b": "b", "rho": {rho} }} ],"#),
                    ),
                    None => (String::new(), String::new()),
                };
                let from = 2026 + skip.min(extra_years);
                format!(
                    r#"{{ "name": "p", "start_year": 2026, "end_year": {end}, "steps_per_year": {spy},
                       "discount_rate": {disc}, "simulation": {{ "paths": 300, "seed": {seed} }},
                       "series": {{ "a": {s1} {second} }}, {corr}
                       "baseline": "prior",
                       "regimes": {{
                         "prior": [ {{ "name": "f", "payer": "O", "payee": "M", "series": "a",
                                       "rate": {rate}, "from_year": {from}, "to_year": {end} }} ],
                         "amended": [ {{ "name": "f", "payer": "O", "payee": "M", "series": "a",
                                         "rate": {rate}, "from_year": {from}, "to_year": {end},
                                         "cap": {cap}, "paid_before_start": {pbs} }} ] }} }}"#
                )
            },
        )
}

fn load(text: &str) -> scenario::Scenario {
    scenario::parse(text, Path::new("prop.json"))
        .unwrap_or_else(|e| panic!("generated scenario invalid: {e}\n{text}"))
        .scenario
}

/// Checks every per-path invariant of one flow on one revenue path.
fn check_flow(t: &FlowTerms, rev: &[f64], r: f64) -> Result<(), TestCaseError> {
    let (o, cum, disc) = run_settle(t, rev, r);
    let n = rev.len();
    let scale = rev.iter().fold(0.0f64, |a, &b| a.max(b)) * n as f64;
    prop_assert_eq!(cum[0], 0.0);
    // The reported total is the sum of the step payments (C(n) - C(0)).
    prop_assert_eq!(o.total, cum[n]);
    let mut npv = 0.0;
    let mut hit_at = None;
    for k in 1..=n {
        let p = cum[k] - cum[k - 1];
        // Cumulative payments never decrease.
        prop_assert!(cum[k] >= cum[k - 1], "C decreases at step {}", k);
        // 0 <= p(k) <= rate * R(k).
        prop_assert!(p >= 0.0);
        prop_assert!(
            p <= t.rate * rev[k - 1] + tol(scale),
            "step {}: paid {} > rate x revenue {}",
            k,
            p,
            t.rate * rev[k - 1]
        );
        // Nothing outside the window.
        if k < t.first_step || k > t.last_step {
            prop_assert_eq!(p, 0.0, "paid outside the window at step {}", k);
        }
        // Never above the cap (or above what was paid before the start,
        // when that already exceeds it), nothing after it is hit.
        prop_assert!(
            t.paid_before_start + cum[k] <= t.cap.max(t.paid_before_start) + tol(t.cap.min(1e12)),
            "C({}) = {} above cap {}",
            k,
            t.paid_before_start + cum[k],
            t.cap
        );
        if let Some(h) = hit_at {
            prop_assert_eq!(p, 0.0, "paid at step {} after the cap hit at step {}", k, h);
        }
        if t.capped() && t.paid_before_start + cum[k] >= t.cap - tol(t.cap) && p > 0.0 {
            hit_at.get_or_insert(k);
        }
        npv += p * disc[k - 1];
    }
    prop_assert!(
        (o.npv - npv).abs() <= tol(scale) * 4.0,
        "npv {} vs {}",
        o.npv,
        npv
    );
    // A hit time lies within the horizon and only for capped flows.
    if let Some(h) = o.hit_time {
        prop_assert!(t.capped());
        prop_assert!(h >= t.start_year && h <= t.start_year + n as f64 * t.dt + 1e-9);
    }
    if t.paid_before_start >= t.cap {
        prop_assert_eq!(o.total, 0.0);
        prop_assert_eq!(o.hit_time, Some(t.start_year));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Accounting on arbitrary revenue paths
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(500))]

    #[test]
    fn payments_respect_rate_cap_and_window((rev, t, r) in path_and_terms()) {
        check_flow(&t, &rev, r)?;
    }

    #[test]
    fn scaling_revenue_and_cap_scales_payments(
        (rev, t, _r) in path_and_terms(),
        c in prop_oneof![Just(0.5), Just(2.0), Just(1024.0), 1e-3..1e3f64],
    ) {
        let (o, _, _) = run_settle(&t, &rev, 0.0);
        let scaled_rev: Vec<f64> = rev.iter().map(|x| x * c).collect();
        let st = FlowTerms { cap: t.cap * c, paid_before_start: t.paid_before_start * c, ..t.clone() };
        let (os, _, _) = run_settle(&st, &scaled_rev, 0.0);
        let scale = rev.iter().sum::<f64>() * c;
        prop_assert!(
            (os.total - c * o.total).abs() <= tol(scale) * 4.0,
            "c = {}: {} vs {}", c, os.total, c * o.total
        );
        if c.log2().fract() == 0.0 {
            // Powers of two scale every float exactly.
            prop_assert_eq!(os.total, c * o.total);
        }
    }

    #[test]
    fn payments_are_monotone_in_rate_and_cap(
        (rev, t, _r) in path_and_terms(),
        dr in 0.0..1.0f64,
        dc in prop_oneof![Just(f64::INFINITY), 0.0..1000.0f64],
    ) {
        let (o, cum, _) = run_settle(&t, &rev, 0.0);
        let scale = rev.iter().sum::<f64>();
        let higher_rate = FlowTerms { rate: (t.rate + dr).min(1.0), ..t.clone() };
        let (o2, cum2, _) = run_settle(&higher_rate, &rev, 0.0);
        prop_assert!(o2.total >= o.total - tol(scale), "rate up: {} < {}", o2.total, o.total);
        let higher_cap = FlowTerms { cap: t.cap + dc, ..t.clone() };
        let (o3, cum3, _) = run_settle(&higher_cap, &rev, 0.0);
        prop_assert!(o3.total >= o.total - tol(scale), "cap up: {} < {}", o3.total, o.total);
        // Step by step, too.
        for k in 0..cum.len() {
            prop_assert!(cum2[k] >= cum[k] - tol(scale));
            prop_assert!(cum3[k] >= cum[k] - tol(scale));
        }
    }
}

// ---------------------------------------------------------------------------
// Accounting on revenue paths generated by the model from random scenarios
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(150))]

    #[test]
    fn model_paths_satisfy_every_flow_invariant(text in scenario_text(), path_seed in any::<u64>()) {
        let sc = load(&text);
        let model = Model::new(&sc);
        let book = Book::new(&sc, &model);
        let mut buf = PathBuffer::new(&model);
        let generator = revshare::random::Generator::new(path_seed);
        for path in 0..4 {
            model.simulate(&generator, path, &mut buf);
            let rev = buf.revenue(0);
            prop_assert!(rev.iter().all(|x| x.is_finite() && *x >= 0.0));
            let mut totals = Vec::new();
            for f in &book.flows {
                check_flow(&f.terms, rev, sc.discount_rate)?;
                totals.push(run_settle(&f.terms, rev, sc.discount_rate).0.total);
            }
            // Regimes sorted: amended (capped) = flow 0, prior (uncapped) = flow 1;
            // they differ only by the cap, so the amended total is never larger.
            prop_assert!(book.flows[0].terms.capped() && !book.flows[1].terms.capped());
            prop_assert!(totals[0] <= totals[1], "amended {} > prior {}", totals[0], totals[1]);
        }
    }
}

// ---------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------

fn values() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(
        prop_oneof![
            4 => -1e3..1e3f64,
            2 => 0.0..1e9f64,
            1 => Just(0.0),
            1 => Just(38.0),
            1 => -1e-300..1e-300f64,
            1 => prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO,
        ],
        1..3000,
    )
}

fn check_order(s: &revshare::statistics::Stat) -> Result<(), TestCaseError> {
    let q = s.quantiles();
    prop_assert!(s.min <= q[0], "min {} > p1 {}", s.min, q[0]);
    for w in q.windows(2) {
        prop_assert!(w[0] <= w[1], "quantiles out of order: {:?}", q);
    }
    prop_assert!(q[8] <= s.max, "p99 {} > max {}", q[8], s.max);
    prop_assert!(
        s.min <= s.mean && s.mean <= s.max,
        "mean {} outside [{}, {}]",
        s.mean,
        s.min,
        s.max
    );
    prop_assert!(s.sd >= 0.0 && s.se >= 0.0);
    Ok(())
}

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn stat_quantiles_are_ordered_and_bracket_the_mean(
        xs in values(),
        shift in prop_oneof![Just(0.0), -1e3..1e3f64],
        split in 0.0..1.0f64,
        exact in any::<bool>(),
    ) {
        // Moments are summed around the shift; overflow of x^2 aside
        // (values up to f64::MAX are drawn), the order must hold.
        let cut = (xs.len() as f64 * split) as usize;
        let mut a = StatAcc::new(shift, exact);
        a.add_slice(&xs[..cut]);
        a.end_batch();
        let mut b = StatAcc::new(shift, exact);
        for &x in &xs[cut..] {
            b.add(x);
        }
        b.end_batch();
        a.merge(&b);
        let s = a.finish().unwrap();
        prop_assert_eq!(a.count(), xs.len() as u64);
        if s.is_finite() {
            check_order(&s)?;
            let lo = xs.iter().cloned().fold(f64::INFINITY, f64::min);
            let hi = xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            prop_assert_eq!(s.min, lo);
            prop_assert_eq!(s.max, hi);
        } else {
            // Only sums of squares beyond f64 may overflow: min/max stay exact.
            prop_assert!(s.min.is_finite() && s.max.is_finite());
        }
    }
}

// ---------------------------------------------------------------------------
// Whole runs: summary.json round trip
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(24))]

    #[test]
    fn summary_json_round_trips_and_stats_are_ordered(text in scenario_text(), exact in any::<bool>()) {
        let sc = load(&text);
        let engine = Engine::new(&sc);
        let opts = RunOptions {
            paths: sc.simulation.paths,
            seed: sc.simulation.seed,
            threads: 1,
            exact,
            shard: (0, 1),
        };
        let out = engine.run_quiet(&opts)
            .unwrap();
        let summary = match Summary::build(&engine, &out.tally, 1, 0.5) {
            Ok(s) => s,
            // Extreme random parameters may overflow: refused, never written.
            Err(e) => {
                prop_assert!(e.to_string().contains("not finite"));
                return Ok(());
            }
        };
        let bytes = summary.to_json();
        let back: Summary = serde_json::from_slice(&bytes).unwrap();
        prop_assert_eq!(&back, &summary);
        prop_assert_eq!(back.to_json(), bytes);
        // Every Stat in the file is ordered.
        for s in summary.series.values() {
            check_order(&s.run_rate_end)?;
            for st in s.annual_revenue.values() {
                check_order(st)?;
            }
        }
        for r in summary.regimes.values() {
            for f in r.flows.values() {
                check_order(&f.total)?;
                check_order(&f.npv)?;
                if let Some(t) = f.cap_hit.as_ref().and_then(|h| h.time.as_ref()) {
                    check_order(t)?;
                }
            }
            for p in r.parties.values() {
                for st in [&p.paid, &p.received, &p.net, &p.net_npv] {
                    check_order(st)?;
                }
            }
        }
        // The amended total never exceeds the prior total, path by path, so
        // Microsoft's delta_net is never positive.
        let d = &summary.comparisons["amended"]["M"].delta_net;
        prop_assert!(d.max <= 0.0, "amended paid more than prior on some path: {:?}", d);
        let a = &summary.regimes["amended"].flows["f"].total;
        let p = &summary.regimes["prior"].flows["f"].total;
        prop_assert!(a.mean <= p.mean + tol(p.mean) && a.max <= p.max);
    }
}
