//! Exact means of one revenue series (MODEL.md §2) without simulation:
//! E[A(t_k)] at every step, E[R(k)] per step and the expected revenue of
//! every calendar year, for a series without Student-t `tails`.
//!
//! # Mathematics
//!
//! Write x = ln A. Without jumps, the step recursion of MODEL.md §2
//!
//! ```text
//! x(k)  = x(k-1) + (mu(k-1) - sigma(t)^2/2) dt + sigma(t) sqrt(dt) e1
//! mu(k) = mu_bar + (mu(k-1) - mu_bar) phi + eta(t) s(dt) e2,
//! phi = exp(-kappa dt),  e2 = rho e1 + sqrt(1 - rho^2) z2,  t = t(k-1)
//! ```
//!
//! is linear in (x, mu) with Gaussian shocks independent of the past, so
//! (x(k), mu(k)) is exactly jointly Gaussian, and its moments follow the
//! recursion itself (the exact discrete-time law, not the continuous-time
//! limit; the two differ by O(dt)):
//!
//! ```text
//! E x(k)       = E x(k-1) + (E mu(k-1) - sigma^2/2) dt
//! E mu(k)      = mu_bar + (E mu(k-1) - mu_bar) phi
//! Var x(k)     = Var x(k-1) + 2 dt Cov(k-1) + dt^2 Var mu(k-1) + sigma^2 dt
//! Var mu(k)    = phi^2 Var mu(k-1) + eta^2 s(dt)^2
//! Cov(k)       = phi (Cov(k-1) + dt Var mu(k-1)) + rho sigma sqrt(dt) eta s(dt)
//! ```
//!
//! with Cov = Cov(x, mu), starting from the point mass
//! (ln A0, mu0). The jumps J(k) are independent of everything else, and a
//! compound Poisson sum with Normal(m, s²) sizes has
//! E[exp J(k)] = exp(λ dt (exp(m + s²/2) − 1)), E J(k) = λ dt m and
//! Var J(k) = λ dt (m² + s²). Hence
//!
//! ```text
//! E A(t_k) = exp(E x_G(k) + Var x_G(k) / 2) * exp(k λ dt (exp(m + s²/2) - 1))
//! E R(k)   = dt (E A(t_{k-1}) + E A(t_k)) / 2
//! ```
//!
//! where x_G is the Gaussian part, and the expected revenue of a calendar
//! year is the sum of E R(k) over its steps. In the geometric Brownian
//! motion case (constant sigma, eta0 = 0, mu0 = mu_bar, no jumps) this is
//! A0 exp(mu t_k), exactly.
//!
//! Student-t shocks have no moment generating function (E[exp(c T)] is
//! infinite for every c ≠ 0 and a t variable), so the simulated mean of
//! the run rate under `tails` is an estimate of a quantity that does not
//! exist; such a series is refused ([`ClosedFormError::StudentTails`]).
//!
//! The parameters come in as the plain [`SeriesParams`] and [`Grid`], so
//! this module does not depend on the scenario types.

use std::fmt;

/// The time grid (MODEL.md §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    /// First simulated calendar year (t = 0 on 1 January).
    pub start_year: i32,
    /// Last simulated calendar year, inclusive.
    pub end_year: i32,
    /// Steps per year, at least 1.
    pub steps_per_year: u32,
}

impl Grid {
    /// Number of steps n.
    pub fn steps(&self) -> usize {
        (self.end_year - self.start_year + 1).max(0) as usize * self.steps_per_year as usize
    }

    /// Step length dt in years.
    pub fn dt(&self) -> f64 {
        1.0 / self.steps_per_year as f64
    }
}

/// Jumps in log revenue (MODEL.md §2 `jumps`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JumpParams {
    /// `jumps.rate`: lambda >= 0 per year.
    pub rate: f64,
    /// `jumps.mean`: m.
    pub mean: f64,
    /// `jumps.sd`: s >= 0.
    pub sd: f64,
}

/// One series' parameters, field for field MODEL.md §2 (the JSON path of
/// each field is in its documentation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeriesParams {
    /// `initial_run_rate`: A0 > 0, $B/year.
    pub initial_run_rate: f64,
    /// `growth.initial`: mu0.
    pub growth_initial: f64,
    /// `growth.long_run`: mu_bar.
    pub growth_long_run: f64,
    /// `growth.reversion`: kappa >= 0.
    pub growth_reversion: f64,
    /// `growth.volatility`: eta0 >= 0.
    pub growth_volatility: f64,
    /// `growth.volatility_decay`: kappa_eta >= 0.
    pub growth_volatility_decay: f64,
    /// `volatility.initial`: sigma0 >= 0.
    pub volatility_initial: f64,
    /// `volatility.long_run`: sigma_bar >= 0.
    pub volatility_long_run: f64,
    /// `volatility.decay`: kappa_sigma >= 0.
    pub volatility_decay: f64,
    /// `growth_correlation`: rho in [-1, 1].
    pub growth_correlation: f64,
    /// `jumps`, if any.
    pub jumps: Option<JumpParams>,
    /// `tails.dof`, if any: refused (see the module documentation).
    pub tails_dof: Option<f64>,
}

/// The exact means on the grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Means {
    /// E[A(t_k)] for k = 0..=n ($B/year); `run_rate[0]` = A0 and
    /// `run_rate[n]` is the mean of summary.json's `run_rate_end`.
    pub run_rate: Vec<f64>,
    /// E[ln A(t_k)], k = 0..=n (jumps included).
    pub log_mean: Vec<f64>,
    /// Var[ln A(t_k)], k = 0..=n (jumps included).
    pub log_variance: Vec<f64>,
    /// E[mu(t_k)], k = 0..=n.
    pub growth_mean: Vec<f64>,
    /// E[R(k)] for steps k = 1..=n at index k − 1 ($B).
    pub revenue: Vec<f64>,
    /// (calendar year, expected revenue earned in it), in year order: the
    /// mean of summary.json's `annual_revenue.<year>`.
    pub annual_revenue: Vec<(i32, f64)>,
}

/// Why the means cannot be computed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClosedFormError {
    /// The series has Student-t tails: the mean of A does not exist.
    StudentTails,
    /// A parameter is out of its range (or not finite).
    InvalidParameter {
        /// The field's JSON path, e.g. `growth.reversion`.
        field: &'static str,
        /// Its value.
        value: f64,
        /// The range it must lie in.
        expected: &'static str,
    },
    /// The grid has no steps (end year before start year, or 0 steps per year).
    EmptyGrid,
}

impl fmt::Display for ClosedFormError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClosedFormError::StudentTails => write!(
                f,
                "no closed-form mean with Student-t tails: E[exp(t)] is infinite"
            ),
            ClosedFormError::InvalidParameter {
                field,
                value,
                expected,
            } => write!(f, "{field} = {value}: expected {expected}"),
            ClosedFormError::EmptyGrid => write!(f, "the time grid has no steps"),
        }
    }
}

impl std::error::Error for ClosedFormError {}

impl SeriesParams {
    /// Checks every field's range (the same ranges as scenario validation).
    pub(crate) fn validate(&self) -> Result<(), ClosedFormError> {
        if self.tails_dof.is_some() {
            return Err(ClosedFormError::StudentTails);
        }
        let check = |field: &'static str, value: f64, ok: bool, expected: &'static str| {
            if value.is_finite() && ok {
                Ok(())
            } else {
                Err(ClosedFormError::InvalidParameter {
                    field,
                    value,
                    expected,
                })
            }
        };
        let a0 = self.initial_run_rate;
        check("initial_run_rate", a0, a0 > 0.0, "> 0")?;
        check(
            "growth.initial",
            self.growth_initial,
            true,
            "a finite number",
        )?;
        check(
            "growth.long_run",
            self.growth_long_run,
            true,
            "a finite number",
        )?;
        let nonneg = |field, v: f64| check(field, v, v >= 0.0, ">= 0");
        nonneg("growth.reversion", self.growth_reversion)?;
        nonneg("growth.volatility", self.growth_volatility)?;
        nonneg("growth.volatility_decay", self.growth_volatility_decay)?;
        nonneg("volatility.initial", self.volatility_initial)?;
        nonneg("volatility.long_run", self.volatility_long_run)?;
        nonneg("volatility.decay", self.volatility_decay)?;
        let rho = self.growth_correlation;
        check("growth_correlation", rho, rho.abs() <= 1.0, "in [-1, 1]")?;
        if let Some(j) = self.jumps {
            nonneg("jumps.rate", j.rate)?;
            check("jumps.mean", j.mean, true, "a finite number")?;
            nonneg("jumps.sd", j.sd)?;
        }
        Ok(())
    }
}

/// The exact discrete-time means of the series on the grid (see the
/// module documentation).
pub fn means(series: &SeriesParams, grid: &Grid) -> Result<Means, ClosedFormError> {
    series.validate()?;
    let n = grid.steps();
    if n == 0 {
        return Err(ClosedFormError::EmptyGrid);
    }
    let dt = grid.dt();
    let sqrt_dt = dt.sqrt();
    let kappa = series.growth_reversion;
    let phi = (-kappa * dt).exp();
    // s(dt), computed as the model does.
    let s_dt = if kappa > 0.0 {
        (-(-2.0 * kappa * dt).exp_m1() / (2.0 * kappa)).sqrt()
    } else {
        sqrt_dt
    };
    let rho = series.growth_correlation;
    let mu_bar = series.growth_long_run;
    // Per-step jump moments: E[exp J] (as a log), E J, Var J.
    let (jump_log_mgf, jump_mean, jump_var) = match series.jumps {
        Some(j) => {
            let ldt = j.rate * dt;
            (
                ldt * (j.mean + 0.5 * j.sd * j.sd).exp_m1(),
                ldt * j.mean,
                ldt * (j.mean * j.mean + j.sd * j.sd),
            )
        }
        None => (0.0, 0.0, 0.0),
    };

    // Gaussian part.
    let (mut mx, mut vx) = (series.initial_run_rate.ln(), 0.0);
    let (mut mm, mut vm) = (series.growth_initial, 0.0);
    let mut cov = 0.0;

    let mut run_rate = Vec::with_capacity(n + 1);
    let mut log_mean = Vec::with_capacity(n + 1);
    let mut log_variance = Vec::with_capacity(n + 1);
    let mut growth_mean = Vec::with_capacity(n + 1);
    run_rate.push(series.initial_run_rate);
    log_mean.push(mx);
    log_variance.push(0.0);
    growth_mean.push(mm);
    for k in 1..=n {
        let t = (k - 1) as f64 * dt;
        let sigma = series.volatility_long_run
            + (series.volatility_initial - series.volatility_long_run)
                * (-series.volatility_decay * t).exp();
        let eta = series.growth_volatility * (-series.growth_volatility_decay * t).exp();
        let g = eta * s_dt; // sd of the growth shock
        let v = sigma * sqrt_dt; // sd of the revenue shock
        let mx_new = mx + (mm - 0.5 * sigma * sigma) * dt;
        let mm_new = mu_bar + (mm - mu_bar) * phi;
        let vx_new = vx + 2.0 * dt * cov + dt * dt * vm + v * v;
        let vm_new = phi * phi * vm + g * g;
        let cov_new = phi * (cov + dt * vm) + rho * v * g;
        (mx, mm, vx, vm, cov) = (mx_new, mm_new, vx_new, vm_new, cov_new);
        let kf = k as f64;
        run_rate.push((mx + 0.5 * vx + kf * jump_log_mgf).exp());
        log_mean.push(mx + kf * jump_mean);
        log_variance.push(vx + kf * jump_var);
        growth_mean.push(mm);
    }
    let revenue: Vec<f64> = run_rate
        .windows(2)
        .map(|w| 0.5 * dt * (w[0] + w[1]))
        .collect();
    let per_year = grid.steps_per_year as usize;
    let annual_revenue = revenue
        .chunks(per_year)
        .enumerate()
        .map(|(y, c)| (grid.start_year + y as i32, c.iter().sum()))
        .collect();
    Ok(Means {
        run_rate,
        log_mean,
        log_variance,
        growth_mean,
        revenue,
        annual_revenue,
    })
}
