//! Tests of the decision tools' numerical core (`revshare::study::decide`)
//! against known answers:
//!
//! * Sobol' indices of the Ishigami function (a = 7, b = 0.1, inputs
//!   uniform on [−π, π]) at N = 2^16 base samples (327,680 evaluations):
//!   every first-order and total index within 0.02 of the exact value
//!   (calibration, `-- --ignored calibrate`: over 50 other seeds the
//!   largest error of the 300 estimates was 0.0103, and 286 of the 300
//!   bootstrap 95% intervals covered the exact value; at N = 2^15 the
//!   largest error was 0.0223, too close to 0.02);
//! * the closed-form means of a series against a scalar simulator of the
//!   MODEL.md §2 recursion written here (4 standard errors): geometric
//!   Brownian motion (also against A0 e^{mu t} exactly), mean-reverting
//!   growth with correlation and decaying volatilities on a coarse grid
//!   (two steps a year, where the discrete-time mean differs from the
//!   continuous-time one), and Poisson jumps (calibration over 20 other
//!   seeds: of 120 z-scores per case, none beyond 4, largest 3.09, mean
//!   z within ±0.23);
//! * Brent's root finder on known functions, its typed errors, and the
//!   delta-method interval;
//! * the bounded Levenberg–Marquardt fit on a consistent problem with a
//!   known solution, a solution on a bound, and an inconsistent problem.
//!
//! Run with `cargo test --release --test decide`.

use std::convert::Infallible;
use std::f64::consts::PI;

use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;
use rand_xoshiro::Xoshiro256PlusPlus;
use revshare::study::decide::closed_form::{self, ClosedFormError, Grid, JumpParams, SeriesParams};
use revshare::study::decide::fit::{
    self, Bound, Convergence, FitError, FitOptions, Parameter, Target,
};
use revshare::study::decide::sobol::{Distribution, Input, Sobol, SobolError};
use revshare::study::decide::solve::{self, root_interval, SolveError, SolveOptions};

// ---------------------------------------------------------------------------
// Sobol'
// ---------------------------------------------------------------------------

const ISHIGAMI_A: f64 = 7.0;
const ISHIGAMI_B: f64 = 0.1;

fn ishigami(x: &[f64]) -> f64 {
    x[0].sin() + ISHIGAMI_A * x[1].sin().powi(2) + ISHIGAMI_B * x[2].powi(4) * x[0].sin()
}

/// Exact (S1, S2, S3) and (ST1, ST2, ST3) of the Ishigami function.
fn ishigami_exact() -> ([f64; 3], [f64; 3]) {
    let (a, b) = (ISHIGAMI_A, ISHIGAMI_B);
    let v1 = 0.5 * (1.0 + b * PI.powi(4) / 5.0).powi(2);
    let v2 = a * a / 8.0;
    let v13 = b * b * PI.powi(8) * (1.0 / 18.0 - 1.0 / 50.0);
    let v = v1 + v2 + v13;
    ([v1 / v, v2 / v, 0.0], [(v1 + v13) / v, v2 / v, v13 / v])
}

fn ishigami_inputs() -> Sobol {
    Sobol::new(vec![
        Input::uniform("x1", -PI, PI),
        Input::uniform("x2", -PI, PI),
        Input::uniform("x3", -PI, PI),
    ])
    .unwrap()
}

#[test]
fn ishigami_indices_match_published_values() {
    let (s, st) = ishigami_exact();
    // The published values (e.g. Saltelli et al. 2010, Marrel et al. 2009).
    let published = ([0.3139, 0.4424, 0.0], [0.5576, 0.4424, 0.2437]);
    for i in 0..3 {
        assert!((s[i] - published.0[i]).abs() < 1e-4);
        assert!((st[i] - published.1[i]).abs() < 1e-4);
    }

    let sobol = ishigami_inputs();
    let n = 1 << 16;
    assert_eq!(sobol.evaluations(n), 327_680);
    let indices = sobol.analyse(n, 2024, 500, ishigami).unwrap();
    let mut covered = 0;
    for (i, idx) in indices.iter().enumerate() {
        let (e1, et) = (idx.first.value - s[i], idx.total.value - st[i]);
        eprintln!(
            "{}: S = {:.4} [{:.4}, {:.4}] (error {:+.4}), ST = {:.4} [{:.4}, {:.4}] (error {:+.4})",
            idx.name,
            idx.first.value,
            idx.first.low,
            idx.first.high,
            e1,
            idx.total.value,
            idx.total.low,
            idx.total.high,
            et
        );
        assert!(e1.abs() < 0.02, "{}: S error {e1}", idx.name);
        assert!(et.abs() < 0.02, "{}: ST error {et}", idx.name);
        assert!(idx.first.low < idx.first.value && idx.first.value < idx.first.high);
        assert!(idx.total.low < idx.total.value && idx.total.value < idx.total.high);
        // 95% intervals: narrow at this N, and (nearly always) covering.
        assert!(idx.first.high - idx.first.low < 0.06);
        assert!(idx.total.high - idx.total.low < 0.06);
        covered += idx.first.contains(s[i]) as usize + idx.total.contains(st[i]) as usize;
    }
    assert!(
        covered >= 5,
        "only {covered} of 6 intervals cover the exact value"
    );
}

/// The Ishigami check over 50 other seeds: the largest error of any index
/// and the coverage of the 95% intervals (run by hand: `cargo test
/// --release --test decide -- --ignored --nocapture calibrate`).
#[test]
#[ignore]
fn calibrate_ishigami() {
    let (s, st) = ishigami_exact();
    let sobol = ishigami_inputs();
    let (mut worst, mut covered, mut total) = (0.0f64, 0, 0);
    for seed in 0..50 {
        let indices = sobol.analyse(1 << 16, seed, 200, ishigami).unwrap();
        for (i, idx) in indices.iter().enumerate() {
            worst = worst
                .max((idx.first.value - s[i]).abs())
                .max((idx.total.value - st[i]).abs());
            covered += idx.first.contains(s[i]) as usize + idx.total.contains(st[i]) as usize;
            total += 2;
        }
    }
    eprintln!("Ishigami, N = 2^16, 50 seeds: largest error {worst:.4}, coverage {covered}/{total}");
}

#[test]
fn sobol_design_layout_and_determinism() {
    let sobol = Sobol::new(vec![
        Input::uniform("u", 2.0, 3.0),
        Input::normal("n", 10.0, 2.0),
        Input::triangular("t", 0.0, 1.0, 4.0),
    ])
    .unwrap();
    let n = 4000;
    let d = sobol.design(n, 7).unwrap();
    assert_eq!(d.len(), n * 5);
    assert_eq!(d, sobol.design(n, 7).unwrap());
    assert_ne!(d, sobol.design(n, 8).unwrap());
    // A and B of a smaller design are prefixes of a larger one's.
    let small = sobol.design(10, 7).unwrap();
    assert_eq!(small[..10], d[..10]);
    assert_eq!(small[10..20], d[n..n + 10]);
    let (a, b) = (&d[..n], &d[n..2 * n]);
    for i in 0..3 {
        let ab = &d[(2 + i) * n..(3 + i) * n];
        for j in 0..n {
            for c in 0..3 {
                let want = if c == i { b[j][c] } else { a[j][c] };
                assert_eq!(ab[j][c], want);
            }
        }
    }
    // Sample moments of each input over A and B (2n points).
    let mean = |c: usize| d[..2 * n].iter().map(|p| p[c]).sum::<f64>() / (2 * n) as f64;
    let sd = |c: usize| {
        let m = mean(c);
        (d[..2 * n].iter().map(|p| (p[c] - m).powi(2)).sum::<f64>() / (2 * n) as f64).sqrt()
    };
    assert!(d[..2 * n].iter().all(|p| (2.0..=3.0).contains(&p[0])));
    assert!(d[..2 * n].iter().all(|p| (0.0..=4.0).contains(&p[2])));
    let checks = [
        (mean(0), 2.5, (1.0f64 / 12.0).sqrt()),
        (mean(1), 10.0, 2.0),
        (
            mean(2),
            5.0 / 3.0,
            (13.0f64 / 18.0).sqrt(), // (a² + b² + c² − ab − ac − bc) / 18
        ),
    ];
    for (got, want, sigma) in checks {
        assert!(
            (got - want).abs() < 4.0 * sigma / ((2 * n) as f64).sqrt(),
            "{got} vs {want}"
        );
    }
    assert!((sd(1) - 2.0).abs() < 0.1);
}

#[test]
fn sobol_additive_model_and_errors() {
    // y = x1 + 2 x2 with x3 unused: S = ST = (1/5, 4/5, 0) for equal variances.
    let sobol = Sobol::new(vec![
        Input::normal("x1", 0.0, 1.0),
        Input::normal("x2", 0.0, 1.0),
        Input::normal("x3", 0.0, 1.0),
    ])
    .unwrap();
    let idx = sobol
        .analyse(1 << 13, 1, 200, |x| x[0] + 2.0 * x[1])
        .unwrap();
    for (i, want) in [0.2, 0.8, 0.0].into_iter().enumerate() {
        assert!((idx[i].first.value - want).abs() < 0.03, "{:?}", idx[i]);
        assert!((idx[i].total.value - want).abs() < 0.03, "{:?}", idx[i]);
    }
    assert_eq!(idx[2].total.value, 0.0);

    assert_eq!(Sobol::new(vec![]).unwrap_err(), SobolError::NoInputs);
    let bad = Sobol::new(vec![Input::uniform("x", 1.0, 1.0)]).unwrap_err();
    assert!(matches!(bad, SobolError::InvalidDistribution { ref input, .. } if input == "x"));
    assert!(Distribution::Triangular {
        lo: 0.0,
        mode: 2.0,
        hi: 1.0
    }
    .invalid()
    .is_some());
    assert!(Distribution::Normal { mean: 0.0, sd: 0.0 }
        .invalid()
        .is_some());
    assert!(matches!(
        sobol.design(1, 0),
        Err(SobolError::TooFewSamples { n: 1 })
    ));
    assert!(matches!(
        sobol.indices(&[0.0; 11], 0, 0),
        Err(SobolError::WrongLength {
            multiple_of: 5,
            got: 11
        })
    ));
    let mut y = vec![1.0; 10];
    assert_eq!(
        sobol.indices(&y, 0, 0).unwrap_err(),
        SobolError::ZeroVariance
    );
    y[3] = f64::NAN;
    assert_eq!(
        sobol.indices(&y, 0, 0).unwrap_err(),
        SobolError::NonFinite { row: 3 }
    );
    // Without bootstrap there is no interval.
    let y: Vec<f64> = (0..10).map(|i| i as f64).collect();
    let idx = sobol.indices(&y, 0, 0).unwrap();
    assert!(idx[0].first.low.is_nan() && !idx[0].first.contains(idx[0].first.value));
    assert!(SobolError::ZeroVariance
        .to_string()
        .contains("does not vary"));
}

// ---------------------------------------------------------------------------
// Closed-form means
// ---------------------------------------------------------------------------

/// (mean, standard error) of each calendar year's revenue and of A(n),
/// from a plain scalar simulation of the MODEL.md §2 recursion.
fn simulate(
    p: &SeriesParams,
    grid: &Grid,
    paths: usize,
    seed: u64,
) -> (Vec<(f64, f64)>, (f64, f64)) {
    let n = grid.steps();
    let spy = grid.steps_per_year as usize;
    let years = n / spy;
    let dt = grid.dt();
    let kappa = p.growth_reversion;
    let s_dt = if kappa > 0.0 {
        ((1.0 - (-2.0 * kappa * dt).exp()) / (2.0 * kappa)).sqrt()
    } else {
        dt.sqrt()
    };
    let rho = p.growth_correlation;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut sum = vec![0.0; years + 1];
    let mut sumsq = vec![0.0; years + 1];
    let mut year_rev = vec![0.0; years];
    for _ in 0..paths {
        year_rev.iter_mut().for_each(|v| *v = 0.0);
        let mut x = p.initial_run_rate.ln();
        let mut mu = p.growth_initial;
        let mut a_prev = p.initial_run_rate;
        for k in 1..=n {
            let t = (k - 1) as f64 * dt;
            let sigma = p.volatility_long_run
                + (p.volatility_initial - p.volatility_long_run) * (-p.volatility_decay * t).exp();
            let eta = p.growth_volatility * (-p.growth_volatility_decay * t).exp();
            let e1: f64 = rng.sample(StandardNormal);
            let z2: f64 = rng.sample(StandardNormal);
            let e2 = rho * e1 + (1.0 - rho * rho).sqrt() * z2;
            let mut jump = 0.0;
            if let Some(j) = p.jumps {
                // Poisson(lambda dt) by inversion.
                let u: f64 = rng.random();
                let l = j.rate * dt;
                let (mut count, mut pk, mut cdf) = (0, (-l).exp(), (-l).exp());
                while u > cdf {
                    count += 1;
                    pk *= l / count as f64;
                    cdf += pk;
                }
                for _ in 0..count {
                    let z: f64 = rng.sample(StandardNormal);
                    jump += j.mean + j.sd * z;
                }
            }
            let x_new = x + (mu - 0.5 * sigma * sigma) * dt + sigma * dt.sqrt() * e1 + jump;
            mu = p.growth_long_run
                + (mu - p.growth_long_run) * (-kappa * dt).exp()
                + eta * s_dt * e2;
            x = x_new;
            let a = x.exp();
            year_rev[(k - 1) / spy] += 0.5 * dt * (a_prev + a);
            a_prev = a;
        }
        for (y, v) in year_rev.iter().chain(std::iter::once(&a_prev)).enumerate() {
            sum[y] += v;
            sumsq[y] += v * v;
        }
    }
    let stats: Vec<(f64, f64)> = sum
        .iter()
        .zip(&sumsq)
        .map(|(s, q)| {
            let m = s / paths as f64;
            let var = (q / paths as f64 - m * m) * paths as f64 / (paths - 1) as f64;
            (m, (var / paths as f64).sqrt())
        })
        .collect();
    (stats[..years].to_vec(), stats[years])
}

fn gbm(mu: f64, sigma: f64) -> SeriesParams {
    SeriesParams {
        initial_run_rate: 10.0,
        growth_initial: mu,
        growth_long_run: mu,
        growth_reversion: 0.5,
        growth_volatility: 0.0,
        growth_volatility_decay: 0.0,
        volatility_initial: sigma,
        volatility_long_run: sigma,
        volatility_decay: 0.0,
        growth_correlation: 0.0,
        jumps: None,
        tails_dof: None,
    }
}

fn mean_reverting() -> SeriesParams {
    SeriesParams {
        initial_run_rate: 20.0,
        growth_initial: 0.85,
        growth_long_run: 0.15,
        growth_reversion: 0.45,
        growth_volatility: 0.4,
        growth_volatility_decay: 0.2,
        volatility_initial: 0.35,
        volatility_long_run: 0.20,
        volatility_decay: 0.3,
        growth_correlation: 0.6,
        jumps: None,
        tails_dof: None,
    }
}

const GRID: Grid = Grid {
    start_year: 2026,
    end_year: 2030,
    steps_per_year: 12,
};

fn check_against_simulation(label: &str, p: &SeriesParams, grid: &Grid, paths: usize) {
    let means = closed_form::means(p, grid).unwrap();
    let (annual, end) = simulate(p, grid, paths, 11);
    assert_eq!(means.annual_revenue.len(), annual.len());
    let n = grid.steps();
    for ((year, exact), (mc, se)) in means.annual_revenue.iter().zip(&annual) {
        let z = (mc - exact) / se;
        eprintln!("{label} {year}: exact {exact:.5}, simulated {mc:.5} ± {se:.5} (z = {z:+.2})");
        assert!(z.abs() < 4.0, "{label} {year}: z = {z}");
    }
    let z = (end.0 - means.run_rate[n]) / end.1;
    eprintln!(
        "{label} A(n): exact {:.5}, simulated {:.5} (z = {z:+.2})",
        means.run_rate[n], end.0
    );
    assert!(z.abs() < 4.0, "{label} A(n): z = {z}");
}

/// Reruns the three simulation checks over 20 other seeds and prints the
/// spread of the z-scores (run by hand: `cargo test --release --test
/// decide -- --ignored --nocapture calibrate`).
#[test]
#[ignore]
fn calibrate_closed_form_checks() {
    let jumps = SeriesParams {
        jumps: Some(JumpParams {
            rate: 0.8,
            mean: -0.25,
            sd: 0.15,
        }),
        ..mean_reverting()
    };
    let coarse = Grid {
        steps_per_year: 2,
        ..GRID
    };
    let cases = [
        ("gbm", gbm(0.3, 0.4), GRID),
        ("mean-reverting", mean_reverting(), coarse),
        ("jumps", jumps, GRID),
    ];
    for (label, p, grid) in cases {
        let means = closed_form::means(&p, &grid).unwrap();
        let (mut zs, mut over) = (Vec::new(), 0);
        for seed in 100..120 {
            let (annual, end) = simulate(&p, &grid, 100_000, seed);
            for ((_, exact), (mc, se)) in means.annual_revenue.iter().zip(&annual) {
                zs.push((mc - exact) / se);
            }
            zs.push((end.0 - means.run_rate[grid.steps()]) / end.1);
        }
        over += zs.iter().filter(|z| z.abs() > 4.0).count();
        let mean_z = zs.iter().sum::<f64>() / zs.len() as f64;
        let max_z = zs.iter().fold(0.0f64, |m, z| m.max(z.abs()));
        eprintln!(
            "{label}: {} z-scores, mean {mean_z:+.3}, max |z| {max_z:.2}, {over} over 4",
            zs.len()
        );
    }
}

#[test]
fn closed_form_gbm_is_exact_and_matches_simulation() {
    let p = gbm(0.3, 0.4);
    let means = closed_form::means(&p, &GRID).unwrap();
    let dt = GRID.dt();
    assert_eq!(means.run_rate.len(), 61);
    assert_eq!(means.revenue.len(), 60);
    for (k, a) in means.run_rate.iter().enumerate() {
        let exact = 10.0 * (0.3 * k as f64 * dt).exp();
        assert!((a - exact).abs() < 1e-12 * exact, "step {k}");
        let t = k as f64 * dt;
        assert!((means.log_mean[k] - (10f64.ln() + (0.3 - 0.08) * t)).abs() < 1e-12);
        assert!((means.log_variance[k] - 0.16 * t).abs() < 1e-12);
    }
    let total: f64 = means.annual_revenue.iter().map(|(_, r)| r).sum();
    assert!((total - means.revenue.iter().sum::<f64>()).abs() < 1e-9);
    assert_eq!(means.annual_revenue[0].0, 2026);
    assert_eq!(means.annual_revenue[4].0, 2030);
    check_against_simulation("gbm", &p, &GRID, 200_000);
}

#[test]
fn closed_form_mean_reverting_correlated_coarse_grid() {
    let p = mean_reverting();
    let coarse = Grid {
        steps_per_year: 2,
        ..GRID
    };
    check_against_simulation("mean-reverting", &p, &coarse, 200_000);
    // On this grid the exact discrete-time mean differs visibly from the
    // fine-grid (near continuous-time) one: the test above would catch a
    // continuous-time formula.
    let fine = Grid {
        steps_per_year: 365,
        ..GRID
    };
    let a_coarse = *closed_form::means(&p, &coarse)
        .unwrap()
        .run_rate
        .last()
        .unwrap();
    let a_fine = *closed_form::means(&p, &fine)
        .unwrap()
        .run_rate
        .last()
        .unwrap();
    eprintln!("A(n): coarse {a_coarse:.4}, fine {a_fine:.4}");
    assert!((a_coarse - a_fine).abs() > 0.01 * a_fine);
    // Negative correlation and no reversion, monthly.
    let p2 = SeriesParams {
        growth_correlation: -0.7,
        growth_reversion: 0.0,
        growth_volatility: 0.2,
        ..p
    };
    check_against_simulation("no reversion", &p2, &GRID, 100_000);
}

#[test]
fn closed_form_with_jumps() {
    let p = SeriesParams {
        jumps: Some(JumpParams {
            rate: 0.8,
            mean: -0.25,
            sd: 0.15,
        }),
        ..mean_reverting()
    };
    check_against_simulation("jumps", &p, &GRID, 200_000);
    // The jumps' effect on the mean is exactly their MGF, step by step.
    let without = closed_form::means(&mean_reverting(), &GRID).unwrap();
    let with = closed_form::means(&p, &GRID).unwrap();
    let per_step = (0.8 / 12.0) * ((-0.25f64 + 0.5 * 0.15 * 0.15).exp() - 1.0);
    for k in 0..=60 {
        let ratio = with.run_rate[k] / without.run_rate[k];
        assert!((ratio.ln() - k as f64 * per_step).abs() < 1e-12);
    }
}

#[test]
fn closed_form_refuses_tails_and_bad_parameters() {
    let tails = SeriesParams {
        tails_dof: Some(5.0),
        ..gbm(0.1, 0.2)
    };
    assert_eq!(
        closed_form::means(&tails, &GRID).unwrap_err(),
        ClosedFormError::StudentTails
    );
    let bad = SeriesParams {
        initial_run_rate: -1.0,
        ..gbm(0.1, 0.2)
    };
    let err = closed_form::means(&bad, &GRID).unwrap_err();
    assert!(matches!(
        err,
        ClosedFormError::InvalidParameter {
            field: "initial_run_rate",
            ..
        }
    ));
    assert!(err.to_string().contains("initial_run_rate"));
    let bad = SeriesParams {
        growth_correlation: 1.5,
        ..gbm(0.1, 0.2)
    };
    assert!(closed_form::means(&bad, &GRID).is_err());
    let empty = Grid {
        end_year: 2025,
        ..GRID
    };
    assert_eq!(
        closed_form::means(&gbm(0.1, 0.2), &empty).unwrap_err(),
        ClosedFormError::EmptyGrid
    );
}

// ---------------------------------------------------------------------------
// Root finding
// ---------------------------------------------------------------------------

fn ok(f: impl Fn(f64) -> f64) -> impl FnMut(f64) -> Result<f64, Infallible> {
    move |x| Ok(f(x))
}

#[test]
fn brent_finds_known_roots() {
    let opts = SolveOptions {
        x_tol: 1e-12,
        ..SolveOptions::default()
    };
    // Brent's classic test: x^3 - 2x - 5.
    let r = solve::solve(ok(|x| x * x * x - 2.0 * x - 5.0), 2.0, 3.0, &opts).unwrap();
    assert!((r.x - 2.094_551_481_542_326_5).abs() < 1e-11, "{r:?}");
    assert!(r.evaluations <= 16, "{} evaluations", r.evaluations);
    assert!(r.bracket.0 <= r.x && r.x <= r.bracket.1);
    assert_eq!(r.checked.len(), 5);
    // Decreasing function.
    let r = solve::solve(ok(|x| 2.0 - x * x), 0.0, 2.0, &opts).unwrap();
    assert!((r.x - 2f64.sqrt()).abs() < 1e-11);
    // Steep and flat: exp(10 x) - 1e-3.
    let r = solve::solve(ok(|x| (10.0 * x).exp() - 1e-3), -5.0, 5.0, &opts).unwrap();
    assert!((r.x - 1e-3f64.ln() / 10.0).abs() < 1e-10);
    // A root exactly at an end.
    let r = solve::solve(ok(|x| x - 1.0), 1.0, 2.0, &SolveOptions::default()).unwrap();
    assert_eq!(r.x, 1.0);
    // A step function (a probability of N paths): converges to the step.
    let r = solve::solve(ok(|x| if x < 0.3 { -1.0 } else { 1.0 }), 0.0, 1.0, &opts).unwrap();
    assert!((r.x - 0.3).abs() < 1e-11);
    // Noisy but monotone within the tolerated noise.
    let noisy = |x: f64| x - 1.0 + 0.05 * (1000.0 * x).sin();
    let strict = solve::solve(
        ok(noisy),
        0.0,
        3.0,
        &SolveOptions {
            monotone_checks: 50,
            ..opts
        },
    );
    assert!(matches!(strict, Err(SolveError::NotMonotone { .. })));
    let r = solve::solve(
        ok(noisy),
        0.0,
        3.0,
        &SolveOptions {
            monotone_checks: 50,
            noise: 0.15,
            ..opts
        },
    )
    .unwrap();
    assert!((r.x - 1.0).abs() <= 0.05, "{r:?}");
}

#[test]
fn brent_typed_errors() {
    let opts = SolveOptions::default();
    let e = solve::solve(ok(|x| x - 5.0), 0.0, 1.0, &opts).unwrap_err();
    assert_eq!(
        e,
        SolveError::NoSignChange {
            lo: 0.0,
            hi: 1.0,
            f_lo: -5.0,
            f_hi: -4.0
        }
    );
    assert!(e.to_string().contains("no sign change"));
    // (x-1)(x-2)(x-3) on [0, 3.5]: a sign change, three roots.
    let cubic = |x: f64| (x - 1.0) * (x - 2.0) * (x - 3.0);
    let e = solve::solve(ok(cubic), 0.0, 3.5, &opts).unwrap_err();
    match &e {
        SolveError::NotMonotone { points } => assert_eq!(points.len(), 5),
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("not monotone"));
    assert!(matches!(
        solve::solve(ok(|x| x), 1.0, 1.0, &opts),
        Err(SolveError::InvalidBracket { .. })
    ));
    assert!(matches!(
        solve::solve(
            ok(|x| if x > 0.5 { f64::NAN } else { x - 0.7 }),
            0.0,
            1.0,
            &opts
        ),
        Err(SolveError::NonFinite { .. })
    ));
    let failing = |x: f64| {
        if x > 0.5 {
            Err("run failed")
        } else {
            Ok(x - 0.25)
        }
    };
    assert_eq!(
        solve::solve(failing, 0.0, 1.0, &opts).unwrap_err(),
        SolveError::Function("run failed")
    );
    let budget = SolveOptions {
        max_evaluations: 6,
        x_tol: 1e-15,
        ..opts
    };
    assert!(matches!(
        solve::solve(ok(|x: f64| x.powi(3) - 0.1), 0.0, 1.0, &budget),
        Err(SolveError::NotConverged { evaluations: 6, .. })
    ));
}

#[test]
fn root_interval_by_delta_method() {
    let f = |x: f64| 2.0 * x - 1.0;
    let r = solve::solve(ok(f), 0.0, 1.0, &SolveOptions::default()).unwrap();
    let ri = root_interval(ok(f), &r, 0.1, 1e-3).unwrap();
    assert!((ri.slope - 2.0).abs() < 1e-9);
    assert!((ri.x.value - 0.5).abs() < 1e-9);
    let half = 1.959_963_984_540_054 * 0.1 / 2.0;
    assert!((ri.x.high - ri.x.value - half).abs() < 1e-9);
    assert!((ri.x.value - ri.x.low - half).abs() < 1e-9);
    // At the bracket's end the difference is one-sided.
    let r = solve::solve(ok(|x| x * x - 1.0), 0.0, 1.0, &SolveOptions::default()).unwrap();
    let ri = root_interval(ok(|x| x * x - 1.0), &r, 0.01, 1e-4).unwrap();
    assert!((ri.slope - 2.0).abs() < 1e-3);
    // A flat function has no interval.
    let e = root_interval(ok(|x| (x - 0.5).signum()), &r, 0.1, 0.01).unwrap_err();
    assert!(matches!(e, SolveError::ZeroSlope { .. }));
}

// ---------------------------------------------------------------------------
// Fitting
// ---------------------------------------------------------------------------

fn target(name: &str, value: f64, se: f64) -> Target {
    Target {
        name: name.into(),
        value,
        weight: se,
        se,
    }
}

fn param(name: &str, initial: f64, lower: f64, upper: f64) -> Parameter {
    Parameter {
        name: name.into(),
        initial,
        lower,
        upper,
    }
}

/// Annual revenue of a run rate growing at g from a: a e^{g t}, t = 1..=5.
fn revenue_curve(theta: &[f64]) -> Result<Vec<f64>, Infallible> {
    Ok((1..=5)
        .map(|t| theta[0] * (theta[1] * t as f64).exp())
        .collect())
}

#[test]
fn fit_consistent_problem_recovers_known_solution() {
    let truth = [20.0, 0.5];
    let figures = revenue_curve(&truth).unwrap();
    let targets: Vec<Target> = figures
        .iter()
        .enumerate()
        .map(|(i, &v)| target(&format!("revenue_{}", 2026 + i), v, 1e-6 * v))
        .collect();
    let params = [param("a", 5.0, 1.0, 100.0), param("g", 0.0, -1.0, 2.0)];
    let fit = fit::fit(revenue_curve, &params, &targets, &FitOptions::default()).unwrap();
    eprintln!("{:?} after {} evaluations", fit.reason, fit.evaluations);
    assert!((fit.parameters[0].value - 20.0).abs() < 1e-5, "{fit:?}");
    assert!((fit.parameters[1].value - 0.5).abs() < 1e-7, "{fit:?}");
    assert!(fit.targets.iter().all(|t| t.met && t.z.abs() <= 0.1));
    assert!(fit.parameters.iter().all(|p| p.at_bound.is_none()));
    assert_eq!(fit.reason, Convergence::WithinNoise);
    assert!(fit.evaluations < 100);

    // Rosenbrock as least squares: r = (10 (y - x^2), 1 - x), minimum (1, 1).
    let rosen = |t: &[f64]| Ok::<_, Infallible>(vec![10.0 * (t[1] - t[0] * t[0]), 1.0 - t[0]]);
    let fit = fit::fit(
        rosen,
        &[param("x", -1.2, -2.0, 2.0), param("y", 1.0, -2.0, 2.0)],
        &[target("r1", 0.0, 1e-8), target("r2", 0.0, 1e-8)],
        &FitOptions::default(),
    )
    .unwrap();
    assert!((fit.values()[0] - 1.0).abs() < 1e-6 && (fit.values()[1] - 1.0).abs() < 1e-6);

    // Deterministic.
    let again = fit::fit(revenue_curve, &params, &targets, &FitOptions::default()).unwrap();
    let first = fit::fit(revenue_curve, &params, &targets, &FitOptions::default()).unwrap();
    assert_eq!(again, first);
}

#[test]
fn fit_solution_on_a_bound_is_met() {
    // f = (x, y), targets (1.5, 0.5), x in [0, 1]: the best x is its upper
    // bound, 2.5 standard errors from its target: met, at a bound.
    let f = |t: &[f64]| Ok::<_, Infallible>(vec![t[0], t[1]]);
    let fit = fit::fit(
        f,
        &[param("x", 0.2, 0.0, 1.0), param("y", 0.0, 0.0, 1.0)],
        &[target("fx", 1.5, 0.2), target("fy", 0.5, 1e-3)],
        &FitOptions::default(),
    )
    .unwrap();
    assert_eq!(fit.parameters[0].at_bound, Some(Bound::Upper));
    assert_eq!(fit.parameters[1].at_bound, None);
    assert!(fit.targets.iter().all(|t| t.met));
    assert!((fit.targets[0].z + 2.5).abs() < 1e-9 && (fit.values()[1] - 0.5).abs() < 1e-4);
}

#[test]
fn fit_inconsistent_targets_are_reported() {
    // f = (x, x + y) with x, y in [0, 1]; targets 0.5 and 5: the second is
    // out of reach, and pulling towards it drags x off its own target.
    let f = |t: &[f64]| Ok::<_, Infallible>(vec![t[0], t[0] + t[1]]);
    let err = fit::fit(
        f,
        &[param("x", 0.5, 0.0, 1.0), param("y", 0.5, 0.0, 1.0)],
        &[target("level", 0.5, 0.01), target("sum", 5.0, 0.01)],
        &FitOptions::default(),
    )
    .unwrap_err();
    let FitError::Inconsistent(inc) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(inc.unmet, vec!["level".to_string(), "sum".to_string()]);
    assert_eq!(
        inc.at_bounds,
        vec![
            ("x".to_string(), Bound::Upper),
            ("y".to_string(), Bound::Upper)
        ]
    );
    assert_eq!(inc.fit.values(), vec![1.0, 1.0]);
    assert!((inc.fit.targets[1].z + 300.0).abs() < 1e-9);
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(
        msg.contains("inconsistent targets") && msg.contains("sum") && msg.contains("y (upper)")
    );

    // Over-determined and contradictory without any bound active:
    // f = (x, x) with targets 0.4 and 0.6, se 0.01: the best fit 0.5 is
    // 10 standard errors from each.
    let f = |t: &[f64]| Ok::<_, Infallible>(vec![t[0], t[0]]);
    let err = fit::fit(
        f,
        &[param("x", 0.1, 0.0, 1.0)],
        &[target("a", 0.4, 0.01), target("b", 0.6, 0.01)],
        &FitOptions::default(),
    )
    .unwrap_err();
    let FitError::Inconsistent(inc) = &err else {
        panic!("{err:?}")
    };
    assert!((inc.fit.values()[0] - 0.5).abs() < 1e-6);
    assert!(inc.at_bounds.is_empty());
    assert_eq!(inc.unmet.len(), 2);
}

#[test]
fn fit_invalid_problems_and_failures() {
    let f = |t: &[f64]| Ok::<_, Infallible>(vec![t[0]]);
    let e = fit::fit(
        f,
        &[param("x", 2.0, 0.0, 1.0)],
        &[target("t", 0.5, 0.1)],
        &FitOptions::default(),
    );
    assert!(matches!(e, Err(FitError::InvalidProblem { .. })));
    let e = fit::fit(
        f,
        &[param("x", 0.5, 0.0, 1.0)],
        &[target("t", 0.5, 0.0)],
        &FitOptions::default(),
    );
    assert!(matches!(e, Err(FitError::InvalidProblem { .. })));
    let two = |t: &[f64]| Ok::<_, Infallible>(vec![t[0], t[0]]);
    let e = fit::fit(
        two,
        &[param("x", 0.5, 0.0, 1.0)],
        &[target("t", 0.5, 0.1)],
        &FitOptions::default(),
    );
    assert!(matches!(
        e,
        Err(FitError::WrongLength {
            expected: 1,
            got: 2
        })
    ));
    let failing = |_: &[f64]| Err::<Vec<f64>, _>("engine failed");
    let e = fit::fit(
        failing,
        &[param("x", 0.5, 0.0, 1.0)],
        &[target("t", 0.5, 0.1)],
        &FitOptions::default(),
    );
    assert_eq!(e.unwrap_err(), FitError::Function("engine failed"));
    let e = fit::fit(
        revenue_curve,
        &[param("a", 5.0, 1.0, 100.0), param("g", 0.0, -1.0, 2.0)],
        &[1.0, 2.0, 3.0, 4.0, 5.0].map(|v| target("r", 10.0 * v, 1e-9)),
        &FitOptions {
            max_evaluations: 5,
            ..FitOptions::default()
        },
    );
    assert!(matches!(e, Err(FitError::NotConverged(_))));
}
