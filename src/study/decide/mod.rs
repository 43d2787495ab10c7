//! The numerical core of the decision tools: pure functions, no I/O, no
//! dependence on the scenario format, so that the command-line tools built
//! on them can change without touching the mathematics.
//!
//! - [`sobol`]: variance-based global sensitivity (Sobol' first-order and
//!   total indices by the Saltelli 2010 and Jansen 1999 estimators, with
//!   bootstrap intervals), for an expensive model evaluated by the caller
//!   in batches;
//! - [`closed_form`]: the exact discrete-time means of the run rate, the
//!   revenue per step and the annual revenue of one series (MODEL.md §2,
//!   without Student-t tails), for checking runs and for calibration
//!   without simulation;
//! - [`solve`]: a bracketing root finder (Brent 1973) with typed errors for
//!   a bracket without a sign change or a non-monotone function, and the
//!   interval of the solved value implied by the figure's standard error;
//! - [`fit`]: bounded weighted nonlinear least squares
//!   (Levenberg–Marquardt with projection onto the box) that reports
//!   targets it cannot meet instead of returning a silent bad fit.
//!
//! The Monte Carlo figures these tools are applied to are functions of the
//! parameters through a whole run with common random numbers (the same
//! seed at every point), so they are deterministic and piecewise smooth in
//! the parameters, with a known standard error. Every tool here is
//! deterministic: the same inputs (and seed, where there is one) give the
//! same bits.

pub mod closed_form;
pub mod fit;
pub mod sobol;
pub mod solve;

/// A point estimate with a two-sided 95% interval.
///
/// `low` and `high` are NaN where no interval was asked for (a Sobol'
/// analysis with no bootstrap resamples).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// The point estimate.
    pub value: f64,
    /// Lower end of the 95% interval.
    pub low: f64,
    /// Upper end of the 95% interval.
    pub high: f64,
}

impl Estimate {
    /// Whether `x` lies in `[low, high]` (false when there is no interval).
    pub fn contains(&self, x: f64) -> bool {
        self.low <= x && x <= self.high
    }
}

/// The standard normal quantile of 0.975: half-width of a two-sided 95%
/// interval in standard errors.
pub const Z95: f64 = 1.959_963_984_540_054;
