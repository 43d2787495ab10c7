//! Calibration: bounded weighted nonlinear least squares.
//!
//! Given parameters θ with box bounds l <= θ <= u and targets
//! (value t_i, weight w_i > 0, standard error se_i > 0), [`fit`] minimises
//!
//! ```text
//! cost(θ) = Σ_i ((f_i(θ) − t_i) / w_i)²
//! ```
//!
//! where one call of the caller's closure returns every figure f_i(θ) (one
//! Monte Carlo run gives them all).
//!
//! # Method
//!
//! Levenberg–Marquardt (Levenberg 1944; Marquardt 1963) with Marquardt's
//! diagonal scaling, kept in the box by projection: each step solves
//! (JᵀJ + λ diag(JᵀJ)) δ = −Jᵀr over the *free* parameters, those not at a
//! bound with the gradient pushing them out of the box (an active-set
//! rule, as in projected Newton methods, Bertsekas 1982), and the trial
//! point is projected onto the box. A trial that lowers the cost is
//! accepted and λ divided by 10; otherwise λ is multiplied by 10 and the
//! step retried. The Jacobian is a forward difference with the relative
//! step h_j = `relative_step` × max(|θ_j|, 10⁻³ (u_j − l_j)) (at most
//! half the box), taken towards the inside of the box. Everything is deterministic.
//!
//! It stops when every target is within `stop_se` of its standard errors
//! (finer precision is below the Monte Carlo noise), when the scaled
//! gradient vanishes (the cosine between the residual vector and each
//! free Jacobian column, as in MINPACK), when the step or the relative
//! cost reduction becomes negligible, when λ grows without any decrease of
//! the cost, or when the evaluation budget runs out.
//!
//! # Never a silent bad fit
//!
//! A target is *met* when |f_i(θ) − t_i| <= `unmet_se` × se_i (3 by
//! default). If the fit converged but leaves a target unmet, [`fit`]
//! returns [`FitError::Inconsistent`]: the best fit in the bounds, the
//! targets that cannot be met, and the parameters sitting at their bounds
//! (the ones whose bounds keep the targets out of reach). If the budget ran
//! out with a target unmet, it returns [`FitError::NotConverged`]. Like any
//! local method it finds a local minimum: an "inconsistent" verdict from a
//! poor starting point is worth checking from another.
//!
//! # References
//!
//! - K. Levenberg (1944), "A method for the solution of certain non-linear
//!   problems in least squares", *Quarterly of Applied Mathematics* 2(2),
//!   164–168.
//! - D. W. Marquardt (1963), "An algorithm for least-squares estimation of
//!   nonlinear parameters", *SIAM Journal on Applied Mathematics* 11(2),
//!   431–441.
//! - J. J. Moré (1978), "The Levenberg–Marquardt algorithm: implementation
//!   and theory", *Numerical Analysis*, Lecture Notes in Mathematics 630,
//!   105–116.
//! - D. P. Bertsekas (1982), "Projected Newton methods for optimization
//!   problems with simple constraints", *SIAM Journal on Control and
//!   Optimization* 20(2), 221–246.

use std::fmt;

/// One fitted parameter: name, starting value and bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    /// Name (e.g. a dotted scenario path).
    pub name: String,
    /// Starting value, inside the bounds.
    pub initial: f64,
    /// Lower bound (finite).
    pub lower: f64,
    /// Upper bound (finite, >= lower; equal bounds fix the parameter).
    pub upper: f64,
}

/// One target figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Name (e.g. the metric key).
    pub name: String,
    /// The value the figure should take.
    pub value: f64,
    /// w_i > 0: the residual is divided by it in the cost (often the
    /// standard error itself, or an accepted tolerance).
    pub weight: f64,
    /// se_i > 0: the standard error of the figure (its Monte Carlo
    /// standard error, combined in quadrature with any uncertainty of the
    /// target itself), which decides whether the target is met.
    pub se: f64,
}

/// Settings of [`fit`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitOptions {
    /// Most closure calls (default 200). A Jacobian costs one per free
    /// parameter.
    pub max_evaluations: usize,
    /// Relative step of the forward-difference Jacobian (default 1e-4).
    pub relative_step: f64,
    /// Scaled-gradient tolerance (default 1e-8).
    pub gradient_tol: f64,
    /// Relative step tolerance (default 1e-10).
    pub step_tol: f64,
    /// Relative cost-reduction tolerance (default 1e-12).
    pub cost_tol: f64,
    /// Stop once every |f_i − t_i| <= `stop_se` × se_i (default 0.1).
    pub stop_se: f64,
    /// A target is met when |f_i − t_i| <= `unmet_se` × se_i (default 3).
    pub unmet_se: f64,
}

impl Default for FitOptions {
    fn default() -> FitOptions {
        FitOptions {
            max_evaluations: 200,
            relative_step: 1e-4,
            gradient_tol: 1e-8,
            step_tol: 1e-10,
            cost_tol: 1e-12,
            stop_se: 0.1,
            unmet_se: 3.0,
        }
    }
}

/// Why the iteration stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Convergence {
    /// Every target within `stop_se` standard errors.
    WithinNoise,
    /// The scaled gradient over the free parameters vanished (including
    /// the case where every parameter is held at a bound).
    Gradient,
    /// The step became negligible.
    Step,
    /// The relative cost reduction became negligible.
    Cost,
    /// λ grew without the cost decreasing: no descent left at the
    /// Jacobian's accuracy (a minimum, up to the difference step).
    NoProgress,
    /// The evaluation budget ran out.
    MaxEvaluations,
}

impl fmt::Display for Convergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Convergence::WithinNoise => {
                "every target within the stopping fraction of its standard error"
            }
            Convergence::Gradient => "gradient vanished",
            Convergence::Step => "step negligible",
            Convergence::Cost => "cost reduction negligible",
            Convergence::NoProgress => "no further descent",
            Convergence::MaxEvaluations => "evaluation budget exhausted",
        })
    }
}

/// Which bound a parameter sits at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// At its lower bound.
    Lower,
    /// At its upper bound.
    Upper,
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Bound::Lower => "lower",
            Bound::Upper => "upper",
        })
    }
}

/// A parameter's fitted value.
#[derive(Debug, Clone, PartialEq)]
pub struct FittedParameter {
    /// Name.
    pub name: String,
    /// Fitted value.
    pub value: f64,
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
    /// The bound it sits at, if any.
    pub at_bound: Option<Bound>,
}

/// A target at the fitted parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct FittedTarget {
    /// Name.
    pub name: String,
    /// The target value t_i.
    pub target: f64,
    /// The fitted figure f_i(θ).
    pub fitted: f64,
    /// f_i(θ) − t_i.
    pub residual: f64,
    /// (f_i(θ) − t_i) / w_i.
    pub weighted: f64,
    /// (f_i(θ) − t_i) / se_i: the residual in standard errors.
    pub z: f64,
    /// |z| <= `unmet_se`.
    pub met: bool,
}

/// The result of a fit.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// Fitted parameters, in the order given.
    pub parameters: Vec<FittedParameter>,
    /// Targets at the fit, in the order given.
    pub targets: Vec<FittedTarget>,
    /// Σ weighted².
    pub cost: f64,
    /// Why the iteration stopped.
    pub reason: Convergence,
    /// Closure calls.
    pub evaluations: usize,
    /// Accepted steps.
    pub iterations: usize,
}

impl Fit {
    /// The fitted values, in parameter order.
    pub fn values(&self) -> Vec<f64> {
        self.parameters.iter().map(|p| p.value).collect()
    }
}

/// The best fit in the bounds leaves targets unmet.
#[derive(Debug, Clone, PartialEq)]
pub struct Inconsistent {
    /// The best fit found.
    pub fit: Fit,
    /// The targets not met (|z| > `unmet_se`).
    pub unmet: Vec<String>,
    /// The parameters at a bound, with which.
    pub at_bounds: Vec<(String, Bound)>,
}

/// Why a fit failed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FitError<E> {
    /// The problem is malformed (no parameters or targets, bounds,
    /// starting values, weights or standard errors out of range).
    InvalidProblem {
        /// What is wrong.
        reason: String,
    },
    /// The closure returned the wrong number of figures.
    WrongLength {
        /// The number of targets.
        expected: usize,
        /// The number returned.
        got: usize,
    },
    /// The closure returned NaN or an infinity at the starting point or
    /// while differencing.
    NonFinite {
        /// The figure's target name.
        target: String,
        /// The parameters.
        parameters: Vec<f64>,
    },
    /// The closure failed.
    Function(E),
    /// The fit converged, but targets remain out of reach in the bounds.
    Inconsistent(Box<Inconsistent>),
    /// The budget ran out with targets unmet; the best fit so far.
    NotConverged(Box<Fit>),
}

impl<E: fmt::Display> fmt::Display for FitError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unmet = |f: &mut fmt::Formatter<'_>, fit: &Fit| -> fmt::Result {
            for t in fit.targets.iter().filter(|t| !t.met) {
                write!(
                    f,
                    "; {}: fitted {} against {} ({:+.1} standard errors)",
                    t.name, t.fitted, t.target, t.z
                )?;
            }
            Ok(())
        };
        match self {
            FitError::InvalidProblem { reason } => write!(f, "invalid fit: {reason}"),
            FitError::WrongLength { expected, got } => {
                write!(f, "the model returned {got} figures for {expected} targets")
            }
            FitError::NonFinite { target, parameters } => write!(
                f,
                "figure {target} is not a finite number at parameters {parameters:?}"
            ),
            FitError::Function(e) => write!(f, "{e}"),
            FitError::Inconsistent(inc) => {
                write!(
                    f,
                    "inconsistent targets: no parameters within the bounds meet {}",
                    inc.unmet.join(", ")
                )?;
                unmet(f, &inc.fit)?;
                if inc.at_bounds.is_empty() {
                    write!(f, "; no parameter is at a bound")
                } else {
                    write!(f, "; at their bounds:")?;
                    for (name, b) in &inc.at_bounds {
                        write!(f, " {name} ({b})")?;
                    }
                    Ok(())
                }
            }
            FitError::NotConverged(fit) => {
                write!(
                    f,
                    "no convergence in {} evaluations, targets unmet",
                    fit.evaluations
                )?;
                unmet(f, fit)
            }
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for FitError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FitError::Function(e) => Some(e),
            _ => None,
        }
    }
}

/// The problem being solved: closure, bounds, targets, counter.
struct Problem<'a, F> {
    f: F,
    lower: Vec<f64>,
    upper: Vec<f64>,
    targets: &'a [Target],
    evaluations: usize,
}

impl<F> Problem<'_, F> {
    /// The raw figures at θ, checked for length; `Ok(None)` when one is
    /// not finite.
    fn figures<E>(&mut self, theta: &[f64]) -> Result<Option<Vec<f64>>, FitError<E>>
    where
        F: FnMut(&[f64]) -> Result<Vec<f64>, E>,
    {
        self.evaluations += 1;
        let y = (self.f)(theta).map_err(FitError::Function)?;
        if y.len() != self.targets.len() {
            return Err(FitError::WrongLength {
                expected: self.targets.len(),
                got: y.len(),
            });
        }
        Ok(y.iter().all(|v| v.is_finite()).then_some(y))
    }

    /// Figures at θ that must be finite.
    fn figures_finite<E>(&mut self, theta: &[f64]) -> Result<Vec<f64>, FitError<E>>
    where
        F: FnMut(&[f64]) -> Result<Vec<f64>, E>,
    {
        self.evaluations += 1;
        let y = (self.f)(theta).map_err(FitError::Function)?;
        if y.len() != self.targets.len() {
            return Err(FitError::WrongLength {
                expected: self.targets.len(),
                got: y.len(),
            });
        }
        if let Some(i) = y.iter().position(|v| !v.is_finite()) {
            return Err(FitError::NonFinite {
                target: self.targets[i].name.clone(),
                parameters: theta.to_vec(),
            });
        }
        Ok(y)
    }

    fn weighted(&self, y: &[f64]) -> Vec<f64> {
        y.iter()
            .zip(self.targets)
            .map(|(v, t)| (v - t.value) / t.weight)
            .collect()
    }

    fn project(&self, theta: &mut [f64]) {
        for ((x, l), u) in theta.iter_mut().zip(&self.lower).zip(&self.upper) {
            *x = x.clamp(*l, *u);
        }
    }

    fn within(&self, y: &[f64], k: f64) -> bool {
        y.iter()
            .zip(self.targets)
            .all(|(v, t)| (v - t.value).abs() <= k * t.se)
    }
}

fn sum_sq(r: &[f64]) -> f64 {
    r.iter().map(|v| v * v).sum()
}

/// Solves the symmetric positive definite system `a x = b` (n × n, row
/// major) by Cholesky; `None` when `a` is not positive definite.
fn cholesky_solve(a: &[f64], b: &[f64]) -> Option<Vec<f64>> {
    let n = b.len();
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s = a[i * n + j] - (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum::<f64>();
            if i == j {
                if s.is_nan() || s <= 0.0 {
                    return None;
                }
                l[i * n + i] = s.sqrt();
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    }
    let mut y = vec![0.0; n];
    for i in 0..n {
        y[i] = (b[i] - (0..i).map(|k| l[i * n + k] * y[k]).sum::<f64>()) / l[i * n + i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        x[i] = (y[i] - (i + 1..n).map(|k| l[k * n + i] * x[k]).sum::<f64>()) / l[i * n + i];
    }
    Some(x)
}

fn validate<E>(
    parameters: &[Parameter],
    targets: &[Target],
    opts: &FitOptions,
) -> Result<(), FitError<E>> {
    let bad = |reason: String| Err(FitError::InvalidProblem { reason });
    if parameters.is_empty() {
        return bad("no parameters to fit".into());
    }
    if targets.is_empty() {
        return bad("no targets to fit".into());
    }
    for p in parameters {
        if !(p.lower.is_finite() && p.upper.is_finite() && p.lower <= p.upper) {
            return bad(format!(
                "parameter {}: bounds [{}, {}] must be finite with lower <= upper",
                p.name, p.lower, p.upper
            ));
        }
        if !(p.lower <= p.initial && p.initial <= p.upper) {
            return bad(format!(
                "parameter {}: starting value {} outside its bounds [{}, {}]",
                p.name, p.initial, p.lower, p.upper
            ));
        }
    }
    for t in targets {
        if !t.value.is_finite() {
            return bad(format!(
                "target {}: value {} is not finite",
                t.name, t.value
            ));
        }
        if !(t.weight.is_finite() && t.weight > 0.0) {
            return bad(format!(
                "target {}: weight {} must be > 0",
                t.name, t.weight
            ));
        }
        if !(t.se.is_finite() && t.se > 0.0) {
            return bad(format!(
                "target {}: standard error {} must be > 0",
                t.name, t.se
            ));
        }
    }
    let positive = [
        ("relative_step", opts.relative_step),
        ("unmet_se", opts.unmet_se),
    ];
    for (name, v) in positive {
        if !(v.is_finite() && v > 0.0) {
            return bad(format!("option {name} = {v} must be > 0"));
        }
    }
    Ok(())
}

/// Fits `parameters` to `targets`; `f` maps a parameter vector (in the
/// order of `parameters`) to every figure (in the order of `targets`).
/// See the module documentation for the method and the outcomes.
pub fn fit<F, E>(
    f: F,
    parameters: &[Parameter],
    targets: &[Target],
    opts: &FitOptions,
) -> Result<Fit, FitError<E>>
where
    F: FnMut(&[f64]) -> Result<Vec<f64>, E>,
{
    validate(parameters, targets, opts)?;
    let n = parameters.len();
    let m = targets.len();
    let mut pb = Problem {
        f,
        lower: parameters.iter().map(|p| p.lower).collect(),
        upper: parameters.iter().map(|p| p.upper).collect(),
        targets,
        evaluations: 0,
    };
    let mut theta: Vec<f64> = parameters.iter().map(|p| p.initial).collect();
    let mut y = pb.figures_finite(&theta)?;
    let mut r = pb.weighted(&y);
    let mut cost = sum_sq(&r);
    let mut lambda: Option<f64> = None;
    let mut iterations = 0;
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();

    let reason = 'outer: loop {
        if pb.within(&y, opts.stop_se) {
            break Convergence::WithinNoise;
        }
        let movable: Vec<usize> = (0..n).filter(|&j| pb.lower[j] < pb.upper[j]).collect();
        if pb.evaluations + movable.len() > opts.max_evaluations {
            break Convergence::MaxEvaluations;
        }
        // Forward-difference Jacobian of the weighted residuals, m × n,
        // column major (zero columns for fixed parameters).
        let mut jac = vec![0.0; n * m];
        for &j in &movable {
            let (l, u) = (pb.lower[j], pb.upper[j]);
            // At most half the box, so one of the two directions fits.
            let mut h =
                (opts.relative_step * theta[j].abs().max(1e-3 * (u - l))).min(0.5 * (u - l));
            if theta[j] + h > u {
                h = -h;
            }
            let mut probe = theta.clone();
            probe[j] += h;
            let step = probe[j] - theta[j];
            let yj = pb.figures_finite(&probe)?;
            for i in 0..m {
                jac[j * m + i] = (yj[i] - y[i]) / targets[i].weight / step;
            }
        }
        let col = |j: usize| &jac[j * m..(j + 1) * m];
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let g: Vec<f64> = (0..n).map(|j| dot(col(j), &r)).collect();
        // Free parameters: movable, and not at a bound with the descent
        // direction -g pointing out of the box.
        let free: Vec<usize> = movable
            .iter()
            .copied()
            .filter(|&j| {
                !((theta[j] <= pb.lower[j] && g[j] > 0.0)
                    || (theta[j] >= pb.upper[j] && g[j] < 0.0))
            })
            .collect();
        let rn = norm(&r);
        let stationary = free.iter().all(|&j| {
            let cn = norm(col(j));
            cn == 0.0 || g[j].abs() <= opts.gradient_tol * rn * cn
        });
        if stationary {
            break Convergence::Gradient;
        }
        let nf = free.len();
        let mut a = vec![0.0; nf * nf];
        for (p, &jp) in free.iter().enumerate() {
            for (q, &jq) in free.iter().enumerate() {
                a[p * nf + q] = dot(col(jp), col(jq));
            }
        }
        let max_diag = (0..nf).map(|p| a[p * nf + p]).fold(0.0, f64::max);
        let floor = 1e-12 * max_diag;
        let diag: Vec<f64> = (0..nf).map(|p| a[p * nf + p].max(floor)).collect();
        let mut lam = lambda.unwrap_or(1e-3);
        let rhs: Vec<f64> = free.iter().map(|&j| -g[j]).collect();
        loop {
            let mut damped = a.clone();
            for p in 0..nf {
                damped[p * nf + p] += lam * diag[p];
            }
            let Some(delta) = cholesky_solve(&damped, &rhs) else {
                lam *= 10.0;
                if lam > 1e16 {
                    break 'outer Convergence::NoProgress;
                }
                continue;
            };
            let mut trial = theta.clone();
            for (p, &j) in free.iter().enumerate() {
                trial[j] += delta[p];
            }
            pb.project(&mut trial);
            let moved: Vec<f64> = trial.iter().zip(&theta).map(|(a, b)| a - b).collect();
            let small_step = norm(&moved) <= opts.step_tol * (norm(&theta) + opts.step_tol);
            if small_step {
                break 'outer Convergence::Step;
            }
            if pb.evaluations >= opts.max_evaluations {
                break 'outer Convergence::MaxEvaluations;
            }
            let accepted = match pb.figures(&trial)? {
                Some(yt) => {
                    let rt = pb.weighted(&yt);
                    let ct = sum_sq(&rt);
                    (ct < cost).then_some((yt, rt, ct))
                }
                None => None,
            };
            match accepted {
                Some((yt, rt, ct)) => {
                    let reduction = (cost - ct) / cost;
                    theta = trial;
                    (y, r, cost) = (yt, rt, ct);
                    iterations += 1;
                    lambda = Some((lam / 10.0).max(1e-12));
                    if reduction <= opts.cost_tol {
                        break 'outer Convergence::Cost;
                    }
                    continue 'outer;
                }
                None => {
                    lam *= 10.0;
                    if lam > 1e16 {
                        break 'outer Convergence::NoProgress;
                    }
                }
            }
        }
    };

    let fit = summarise(&pb, parameters, &theta, &y, cost, reason, iterations, opts);
    if fit.targets.iter().all(|t| t.met) {
        return Ok(fit);
    }
    if reason == Convergence::MaxEvaluations {
        return Err(FitError::NotConverged(Box::new(fit)));
    }
    let unmet = fit
        .targets
        .iter()
        .filter(|t| !t.met)
        .map(|t| t.name.clone())
        .collect();
    let at_bounds = fit
        .parameters
        .iter()
        .filter_map(|p| p.at_bound.map(|b| (p.name.clone(), b)))
        .collect();
    Err(FitError::Inconsistent(Box::new(Inconsistent {
        fit,
        unmet,
        at_bounds,
    })))
}

#[allow(clippy::too_many_arguments)]
fn summarise<F>(
    pb: &Problem<'_, F>,
    parameters: &[Parameter],
    theta: &[f64],
    y: &[f64],
    cost: f64,
    reason: Convergence,
    iterations: usize,
    opts: &FitOptions,
) -> Fit {
    let params = parameters
        .iter()
        .zip(theta)
        .map(|(p, &v)| {
            let tol = 1e-12 * (p.upper - p.lower);
            let at_bound = if p.lower == p.upper {
                None
            } else if v <= p.lower + tol {
                Some(Bound::Lower)
            } else if v >= p.upper - tol {
                Some(Bound::Upper)
            } else {
                None
            };
            FittedParameter {
                name: p.name.clone(),
                value: v,
                lower: p.lower,
                upper: p.upper,
                at_bound,
            }
        })
        .collect();
    let targets = pb
        .targets
        .iter()
        .zip(y)
        .map(|(t, &v)| {
            let residual = v - t.value;
            let z = residual / t.se;
            FittedTarget {
                name: t.name.clone(),
                target: t.value,
                fitted: v,
                residual,
                weighted: residual / t.weight,
                z,
                met: z.abs() <= opts.unmet_se,
            }
        })
        .collect();
    Fit {
        parameters: params,
        targets,
        cost,
        reason,
        evaluations: pb.evaluations,
        iterations,
    }
}
