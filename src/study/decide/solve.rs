//! Solving figure(x) = target for one parameter x on a bracket [lo, hi]:
//! Brent's method (Brent 1973, ch. 4, the `zeroin` algorithm), which
//! combines inverse quadratic interpolation and secant steps with
//! bisection and never needs more than about the square of the bisection
//! count of evaluations (in practice far fewer; superlinear on smooth
//! functions).
//!
//! The function is typically a Monte Carlo figure minus its target, run
//! with common random numbers: deterministic in x, piecewise smooth, and
//! only monotone up to its noise. So before searching, [`solve`] checks
//! that the bracket holds a sign change and that the function is monotone
//! on it, within a tolerated `noise`, at a few interior points (which also
//! narrow the bracket for free), and fails with a typed [`SolveError`]
//! rather than returning one root of several. After the search,
//! [`root_interval`] turns the figure's standard error into an interval of
//! the solved value by the delta method: x ± 1.96 se / |slope|, the slope
//! by a central difference at the root.
//!
//! # References
//!
//! - R. P. Brent (1973), *Algorithms for Minimization without
//!   Derivatives*, Prentice-Hall, ch. 4 (reprinted by Dover, 2002).
//! - G. E. Forsythe, M. A. Malcolm, C. B. Moler (1977), *Computer Methods
//!   for Mathematical Computations*, Prentice-Hall, §7.2 (`zeroin`).

use std::fmt;

use super::{Estimate, Z95};

/// Settings of [`solve`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SolveOptions {
    /// Absolute tolerance on x: the search stops when the bracket around
    /// the root is narrower than about twice this. 0 (the default) means
    /// 1e-9 × (hi − lo).
    pub x_tol: f64,
    /// The search also stops when |f(x)| <= `f_tol` (default 0: only an
    /// exact zero).
    pub f_tol: f64,
    /// Most evaluations of the function, checks included (default 100).
    pub max_evaluations: usize,
    /// Equally spaced interior points at which monotonicity is checked
    /// (default 3).
    pub monotone_checks: usize,
    /// A step of f against its overall direction smaller than this is
    /// taken as noise, not as non-monotonicity (default 0). For a Monte
    /// Carlo figure under common random numbers a few times its standard
    /// error is a safe choice.
    pub noise: f64,
}

impl Default for SolveOptions {
    fn default() -> SolveOptions {
        SolveOptions {
            x_tol: 0.0,
            f_tol: 0.0,
            max_evaluations: 100,
            monotone_checks: 3,
            noise: 0.0,
        }
    }
}

/// A solved root.
#[derive(Debug, Clone, PartialEq)]
pub struct Root {
    /// The root: of the final bracket's ends, the one with the smaller |f|.
    pub x: f64,
    /// f(x).
    pub f: f64,
    /// The final bracket (a sign change lies in it).
    pub bracket: (f64, f64),
    /// The bracket searched, as given.
    pub search: (f64, f64),
    /// Evaluations of the function, checks included.
    pub evaluations: usize,
    /// The points of the monotonicity check (ends of the bracket
    /// included), as (x, f(x)) in increasing x.
    pub checked: Vec<(f64, f64)>,
}

/// The solved value with its interval from the figure's standard error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RootInterval {
    /// The root with x ± 1.96 se / |slope|.
    pub x: Estimate,
    /// The slope df/dx at the root (central difference).
    pub slope: f64,
}

/// Why a root could not be found.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SolveError<E> {
    /// `lo >= hi`, or an end is not finite.
    InvalidBracket {
        /// Lower end.
        lo: f64,
        /// Upper end.
        hi: f64,
    },
    /// f has the same sign at both ends: no root is bracketed (or an even
    /// number of them).
    NoSignChange {
        /// Lower end.
        lo: f64,
        /// Upper end.
        hi: f64,
        /// f(lo).
        f_lo: f64,
        /// f(hi).
        f_hi: f64,
    },
    /// f is not monotone on the bracket: it moves against its overall
    /// direction by more than the tolerated noise between two checked
    /// points, so a root found could be one of several.
    NotMonotone {
        /// The checked points (x, f(x)), ends included, in increasing x.
        points: Vec<(f64, f64)>,
    },
    /// f returned NaN or an infinity.
    NonFinite {
        /// The argument.
        x: f64,
        /// The value returned.
        value: f64,
    },
    /// The evaluation budget ran out before the tolerance was met.
    NotConverged {
        /// The best point so far.
        x: f64,
        /// f there.
        f: f64,
        /// The bracket reached.
        bracket: (f64, f64),
        /// Evaluations spent.
        evaluations: usize,
    },
    /// The slope at the root is zero or not finite: no interval.
    ZeroSlope {
        /// The root.
        x: f64,
        /// The difference step used.
        step: f64,
    },
    /// The function itself failed.
    Function(E),
}

impl<E: fmt::Display> fmt::Display for SolveError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SolveError::InvalidBracket { lo, hi } => {
                write!(f, "invalid bracket [{lo}, {hi}]: need finite lo < hi")
            }
            SolveError::NoSignChange { lo, hi, f_lo, f_hi } => write!(
                f,
                "no sign change on [{lo}, {hi}]: f({lo}) = {f_lo}, f({hi}) = {f_hi}; \
                 the target is not reached inside the bracket"
            ),
            SolveError::NotMonotone { points } => {
                write!(f, "the function is not monotone on the bracket:")?;
                for (x, y) in points {
                    write!(f, " f({x}) = {y};")?;
                }
                write!(f, " narrow the bracket or raise the tolerated noise")
            }
            SolveError::NonFinite { x, value } => {
                write!(f, "the function returned {value} at {x}")
            }
            SolveError::NotConverged {
                x,
                f: fx,
                bracket,
                evaluations,
            } => write!(
                f,
                "no convergence in {evaluations} evaluations: best f({x}) = {fx}, \
                 bracket [{}, {}]",
                bracket.0, bracket.1
            ),
            SolveError::ZeroSlope { x, step } => write!(
                f,
                "the slope at the root {x} is zero over the step {step}: no interval"
            ),
            SolveError::Function(e) => write!(f, "{e}"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for SolveError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SolveError::Function(e) => Some(e),
            _ => None,
        }
    }
}

/// Counts evaluations and rejects non-finite values.
struct Counted<F> {
    f: F,
    evaluations: usize,
}

impl<F> Counted<F> {
    fn eval<E>(&mut self, x: f64) -> Result<f64, SolveError<E>>
    where
        F: FnMut(f64) -> Result<f64, E>,
    {
        self.evaluations += 1;
        let value = (self.f)(x).map_err(SolveError::Function)?;
        if value.is_finite() {
            Ok(value)
        } else {
            Err(SolveError::NonFinite { x, value })
        }
    }
}

/// A root of `f` on `[lo, hi]` by Brent's method, after checking the
/// sign change and monotonicity (see the module documentation).
pub fn solve<F, E>(f: F, lo: f64, hi: f64, opts: &SolveOptions) -> Result<Root, SolveError<E>>
where
    F: FnMut(f64) -> Result<f64, E>,
{
    if !(lo.is_finite() && hi.is_finite()) || lo >= hi {
        return Err(SolveError::InvalidBracket { lo, hi });
    }
    let mut f = Counted { f, evaluations: 0 };
    let f_lo = f.eval(lo)?;
    let f_hi = f.eval(hi)?;
    if f_lo.signum() == f_hi.signum() && f_lo != 0.0 && f_hi != 0.0 {
        return Err(SolveError::NoSignChange { lo, hi, f_lo, f_hi });
    }

    // Monotonicity check on interior points.
    let m = opts.monotone_checks;
    let mut checked = Vec::with_capacity(m + 2);
    checked.push((lo, f_lo));
    for i in 1..=m {
        let x = lo + (hi - lo) * i as f64 / (m + 1) as f64;
        checked.push((x, f.eval(x)?));
    }
    checked.push((hi, f_hi));
    let direction = (f_hi - f_lo).signum();
    if checked
        .windows(2)
        .any(|w| direction * (w[1].1 - w[0].1) < -opts.noise)
    {
        return Err(SolveError::NotMonotone { points: checked });
    }

    let done = |x: f64, fx: f64, bracket: (f64, f64), evaluations: usize, checked| Root {
        x,
        f: fx,
        bracket,
        search: (lo, hi),
        evaluations,
        checked,
    };
    // An exact zero among the checked points, else the first sign change.
    if let Some(&(x, fx)) = checked.iter().find(|p| p.1 == 0.0) {
        let evaluations = f.evaluations;
        return Ok(done(x, fx, (x, x), evaluations, checked));
    }
    let w = checked
        .windows(2)
        .position(|w| w[0].1.signum() != w[1].1.signum())
        .expect("the ends differ in sign");
    let ((mut a, mut fa), (mut b, mut fb)) = (checked[w], checked[w + 1]);

    // Brent's zeroin (Forsythe, Malcolm and Moler 1977, §7.2).
    let x_tol = if opts.x_tol > 0.0 {
        opts.x_tol
    } else {
        1e-9 * (hi - lo)
    };
    let (mut c, mut fc) = (a, fa);
    let mut d = b - a;
    let mut e = d;
    loop {
        if (fb > 0.0) == (fc > 0.0) {
            (c, fc) = (a, fa);
            d = b - a;
            e = d;
        }
        if fc.abs() < fb.abs() {
            (a, fa) = (b, fb);
            (b, fb) = (c, fc);
            (c, fc) = (a, fa);
        }
        let tol = 2.0 * f64::EPSILON * b.abs() + 0.5 * x_tol;
        let xm = 0.5 * (c - b);
        let bracket = (b.min(c), b.max(c));
        if xm.abs() <= tol || fb == 0.0 || fb.abs() <= opts.f_tol {
            let evaluations = f.evaluations;
            return Ok(done(b, fb, bracket, evaluations, checked));
        }
        if f.evaluations >= opts.max_evaluations {
            return Err(SolveError::NotConverged {
                x: b,
                f: fb,
                bracket,
                evaluations: f.evaluations,
            });
        }
        if e.abs() >= tol && fa.abs() > fb.abs() {
            // Interpolate: secant when a == c, else inverse quadratic.
            let s = fb / fa;
            let (mut p, mut q);
            if a == c {
                p = 2.0 * xm * s;
                q = 1.0 - s;
            } else {
                let qq = fa / fc;
                let r = fb / fc;
                p = s * (2.0 * xm * qq * (qq - r) - (b - a) * (r - 1.0));
                q = (qq - 1.0) * (r - 1.0) * (s - 1.0);
            }
            if p > 0.0 {
                q = -q;
            } else {
                p = -p;
            }
            if 2.0 * p < (3.0 * xm * q - (tol * q).abs()).min((e * q).abs()) {
                e = d;
                d = p / q;
            } else {
                d = xm;
                e = d;
            }
        } else {
            d = xm;
            e = d;
        }
        (a, fa) = (b, fb);
        b += if d.abs() > tol { d } else { tol.copysign(xm) };
        fb = f.eval(b)?;
    }
}

/// The interval of the solved value implied by the standard error `se` of
/// the figure at the root: x ± 1.96 se / |slope| (delta method), the slope
/// by the central difference (f(x + h) − f(x − h)) / 2h with `h = step`,
/// each point kept inside the searched bracket (one-sided at its ends).
///
/// Under common random numbers the difference is free of most sampling
/// noise, but a Monte Carlo figure can still be locally flat or stepped at
/// the scale of one path (a probability moves in steps of 1/N): choose
/// `step` so that f moves by well over its noise across it (for example a
/// few times the interval half-width expected).
pub fn root_interval<F, E>(
    mut f: F,
    root: &Root,
    se: f64,
    step: f64,
) -> Result<RootInterval, SolveError<E>>
where
    F: FnMut(f64) -> Result<f64, E>,
{
    if step.is_nan() || step <= 0.0 {
        return Err(SolveError::ZeroSlope { x: root.x, step });
    }
    let (lo, hi) = root.search;
    let (x0, x1) = ((root.x - step).max(lo), (root.x + step).min(hi));
    let mut eval = |x: f64| {
        let value = f(x).map_err(SolveError::Function)?;
        if value.is_finite() {
            Ok(value)
        } else {
            Err(SolveError::NonFinite { x, value })
        }
    };
    let slope = (eval(x1)? - eval(x0)?) / (x1 - x0);
    if !slope.is_finite() || slope == 0.0 {
        return Err(SolveError::ZeroSlope { x: root.x, step });
    }
    let half = Z95 * se / slope.abs();
    Ok(RootInterval {
        x: Estimate {
            value: root.x,
            low: root.x - half,
            high: root.x + half,
        },
        slope,
    })
}
