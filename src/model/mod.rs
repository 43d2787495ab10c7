//! Stage 2 of the pipeline: path generation. A [`Model`] is compiled once
//! from a validated scenario (every per-step constant precomputed) and then
//! turns random numbers into revenue paths, one path at a time, into a
//! reusable [`PathBuffer`] (no allocation per path).
//!
//! The model never owns randomness: shocks come from a [`Shocks`] source
//! passed in, after rand's `sample(&self, rng)` pattern, so the model is
//! immutable and trivially shared between threads. [`RngShocks`] draws them
//! from a seeded generator; [`ZeroShocks`] gives the deterministic
//! "all shocks zero" path used as a numerical shift for the statistics.
//!
//! The mathematics is MODEL.md §2: log run rate with decaying volatility,
//! exact Ornstein–Uhlenbeck expected growth, growth/revenue shock
//! correlation, Poisson jumps, unit-variance Student-t tails, Cholesky
//! correlation between series, and trapezoid revenue per step.

use rand::Rng;
use rand_distr::{ChiSquared, Distribution, StandardNormal};

use crate::scenario::{self, Scenario};
use crate::simd::Aligned;

/// Replaces every `x` in `v` by e^x.
///
/// A pure-Rust exponential (so results do not depend on the platform's
/// maths library) written to vectorise: x = k ln2 + r with |r| <= ln2/2
/// (Cody–Waite split of ln2, so k ln2 is exact), e^r by its Taylor
/// polynomial of degree 13 (truncation error below 2^-60 relative), then
/// scaled by 2^k through the exponent bits. Every multiply-add is fused
/// (`f64::mul_add`, one rounding, the same result everywhere): a single
/// instruction in the engine's AVX2+FMA build and on aarch64, half the
/// operations of a separate multiply and add; elsewhere (x86-64 without
/// FMA, `REVSHARE_SIMD=off`) a call to the maths library's correctly
/// rounded `fma`, slower but with the same bits. Relative error within a few
/// units in the last place of `f64::exp` (checked in the tests). Arguments
/// outside [-708, 709] (never reached by run rates in practice) go through
/// `f64::exp`. Each element's result depends on that element alone (not on
/// the slice it came in), so paths give the same run rates whether their
/// exponentials are taken one path or one chunk of paths at a time.
#[inline(always)]
pub fn exp_in_place(v: &mut [f64]) {
    let in_range = v
        .iter()
        .fold(true, |ok, &x| ok & (-708.0..=709.0).contains(&x));
    if in_range {
        v.iter_mut().for_each(|x| *x = exp_core(*x));
    } else {
        v.iter_mut().for_each(|x| {
            *x = if (-708.0..=709.0).contains(x) {
                exp_core(*x)
            } else {
                x.exp()
            }
        });
    }
}

/// e^x for x in [-708, 709]; see [`exp_in_place`].
#[inline(always)]
fn exp_core(x: f64) -> f64 {
    const LOG2_E: f64 = std::f64::consts::LOG2_E;
    // ln2 split (fdlibm's) so that k * LN2_HI is exact for |k| < 2^11.
    const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);
    // Adding 1.5 * 2^52 rounds to the integer k, held in the low mantissa bits.
    const SHIFTER: f64 = 6_755_399_441_055_744.0;
    let t = x * LOG2_E + SHIFTER;
    let kf = t - SHIFTER;
    let k = t.to_bits() as i64 - SHIFTER.to_bits() as i64;
    let r = (-kf).mul_add(LN2_LO, (-kf).mul_add(LN2_HI, x));
    // e^r = sum r^j / j!, j = 0..=13, by Horner.
    let mut p: f64 = 1.0 / 6_227_020_800.0;
    p = p.mul_add(r, 1.0 / 479_001_600.0);
    p = p.mul_add(r, 1.0 / 39_916_800.0);
    p = p.mul_add(r, 1.0 / 3_628_800.0);
    p = p.mul_add(r, 1.0 / 362_880.0);
    p = p.mul_add(r, 1.0 / 40_320.0);
    p = p.mul_add(r, 1.0 / 5_040.0);
    p = p.mul_add(r, 1.0 / 720.0);
    p = p.mul_add(r, 1.0 / 120.0);
    p = p.mul_add(r, 1.0 / 24.0);
    p = p.mul_add(r, 1.0 / 6.0);
    p = p.mul_add(r, 0.5);
    p = p.mul_add(r, 1.0);
    p = p.mul_add(r, 1.0);
    p * f64::from_bits(((k + 1023) as u64) << 52)
}

/// Paths per block in the loops over a chunk's paths (the f64 lanes of an
/// AVX2 register).
const LANES: usize = 4;

/// e = L z in place, for the lower Cholesky factor `l` (row-major k x k):
/// from the last row up (row i reads z[..=i]), each row's dot product
/// summed left to right.
#[inline(always)]
fn cholesky_in_place(l: &[f64], z: &mut [f64]) {
    let k = z.len();
    for i in (0..k).rev() {
        let row = &l[i * k..=i * k + i];
        let mut acc = row[0] * z[0];
        for j in 1..=i {
            acc += row[j] * z[j];
        }
        z[i] = acc;
    }
}

/// The source of the shocks that drive a path.
pub trait Shocks {
    /// A standard normal draw.
    fn normal(&mut self) -> f64;
    /// A uniform draw in [0, 1).
    fn uniform(&mut self) -> f64;
    /// The Student-t divisor sqrt(W / (nu - 2)) with W ~ `chi` = chi-squared(nu).
    fn tail_scale(&mut self, chi: &ChiSquared<f64>, nu_minus_2: f64) -> f64;
}

/// Shocks drawn from a random number generator.
pub struct RngShocks<'a, R: Rng + ?Sized>(pub &'a mut R);

impl<R: Rng + ?Sized> Shocks for RngShocks<'_, R> {
    #[inline(always)]
    fn normal(&mut self) -> f64 {
        StandardNormal.sample(self.0)
    }
    #[inline(always)]
    fn uniform(&mut self) -> f64 {
        // 53 random bits: a uniform on [0, 1) with spacing 2^-53.
        (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    #[inline(always)]
    fn tail_scale(&mut self, chi: &ChiSquared<f64>, nu_minus_2: f64) -> f64 {
        (chi.sample(self.0) / nu_minus_2).sqrt()
    }
}

/// All shocks zero: normals are 0, no jumps, Student-t scale 1. Gives the
/// "expected-growth" path used to shift the moment sums.
pub struct ZeroShocks;

impl Shocks for ZeroShocks {
    fn normal(&mut self) -> f64 {
        0.0
    }
    fn uniform(&mut self) -> f64 {
        0.0
    }
    fn tail_scale(&mut self, _chi: &ChiSquared<f64>, _nu_minus_2: f64) -> f64 {
        1.0
    }
}

/// Poisson jumps in log revenue, compiled for one step length.
#[derive(Debug, Clone)]
struct JumpModel {
    /// Cumulative Poisson(lambda dt) probabilities P(N <= j).
    cdf: Vec<f64>,
    mean: f64,
    sd: f64,
}

impl JumpModel {
    fn new(j: &scenario::Jumps, dt: f64) -> Option<JumpModel> {
        if j.rate <= 0.0 {
            return None;
        }
        let l = j.rate * dt;
        // Enough terms that the tail beyond is below 1e-17.
        let max = (l + 12.0 * l.sqrt() + 30.0).ceil() as usize;
        let mut cdf = Vec::with_capacity(max);
        let mut p = (-l).exp();
        let mut c = 0.0;
        for i in 0..max {
            c += p;
            cdf.push(c.min(1.0));
            p *= l / (i as f64 + 1.0);
        }
        // Inversion never runs past the table.
        if let Some(last) = cdf.last_mut() {
            *last = 1.0;
        }
        Some(JumpModel {
            cdf,
            mean: j.mean,
            sd: j.sd,
        })
    }

    /// The step's total jump in log revenue: the count by inversion of one
    /// uniform, then (only if jumps occur) one normal for their total size;
    /// `None` without jumps.
    #[inline(always)]
    fn draw<S: Shocks>(&self, shocks: &mut S) -> Option<f64> {
        let count = self.count(shocks.uniform());
        (count > 0).then(|| {
            let c = count as f64;
            c * self.mean + self.sd * c.sqrt() * shocks.normal()
        })
    }

    /// Number of jumps in a step, by inversion of one uniform.
    #[inline(always)]
    fn count(&self, u: f64) -> usize {
        if u < self.cdf[0] {
            return 0;
        }
        let last = self.cdf.len() - 1;
        let mut n = 1;
        while n < last && u >= self.cdf[n] {
            n += 1;
        }
        n
    }
}

/// One series, compiled: constants per step and the shock structure.
#[derive(Debug, Clone)]
pub struct SeriesModel {
    /// Series name.
    pub name: String,
    x0: f64,
    mu0: f64,
    mu_bar: f64,
    decay: f64,
    rho: f64,
    rho_c: f64,
    /// Per step k (index k-1): -sigma(t)^2/2 * dt.
    drift: Vec<f64>,
    /// Per step: sigma(t) * sqrt(dt).
    vol: Vec<f64>,
    /// Per step: eta(t) * s(dt).
    growth_vol: Vec<f64>,
    jumps: Option<JumpModel>,
    tails: Option<(ChiSquared<f64>, f64)>,
}

/// A compiled model: everything needed to generate paths.
#[derive(Debug, Clone)]
pub struct Model {
    /// Number of steps n.
    pub steps: usize,
    /// Steps per year.
    pub steps_per_year: usize,
    /// Step length in years.
    pub dt: f64,
    /// First calendar year.
    pub start_year: i32,
    /// The series, in name order.
    pub series: Vec<SeriesModel>,
    /// Lower Cholesky factor of the shock correlation matrix (row-major k x k),
    /// or `None` when the series are uncorrelated.
    chol: Option<Vec<f64>>,
    /// Whether the Cholesky product is taken while drawing (needed when a
    /// series has Student-t tails, whose scale divides the correlated
    /// shock) rather than afterwards across a chunk's paths.
    chol_in_draw: bool,
}

/// Revenue paths of all series for one Monte Carlo path.
#[derive(Debug, Clone)]
pub struct PathBuffer {
    steps: usize,
    /// Run rates A(0..=n) per series, series-major.
    run_rate: Vec<f64>,
    /// Revenue R(1..=n) per series (index k-1), series-major.
    revenue: Vec<f64>,
    /// The path's shocks (see [`Model::draw_path`]).
    shocks: Vec<f64>,
    state: StepState,
}

/// Scratch space for generating paths (reused for every chunk: no
/// allocation per path): the correlated normals of one step, and the
/// expected growth mu of every series on every path of a chunk.
#[derive(Debug, Clone)]
pub struct StepState {
    z: Vec<f64>,
    /// mu of series i on path p at `mu[i * paths + p]`.
    mu: Aligned,
    /// `paths` zeros: the jumps of a series without jumps.
    zeros: Aligned,
    paths: usize,
}

impl StepState {
    /// Scratch for `model`'s series and chunks of up to `paths` paths.
    pub fn new(model: &Model, paths: usize) -> StepState {
        let k = model.series.len();
        StepState {
            z: vec![0.0; k],
            mu: Aligned::new(k * paths, 0.0),
            zeros: Aligned::new(paths, 0.0),
            paths,
        }
    }
}

impl PathBuffer {
    /// A buffer for `model`'s series and steps.
    pub fn new(model: &Model) -> PathBuffer {
        let k = model.series.len();
        PathBuffer {
            steps: model.steps,
            run_rate: vec![0.0; k * (model.steps + 1)],
            revenue: vec![0.0; k * model.steps],
            shocks: vec![0.0; model.shock_rows()],
            state: StepState::new(model, 1),
        }
    }

    /// Run rates A(0..=n) of series `s` ($B/year).
    #[inline]
    pub fn run_rate(&self, s: usize) -> &[f64] {
        let n1 = self.steps + 1;
        &self.run_rate[s * n1..(s + 1) * n1]
    }

    /// Revenue R(k) of series `s` for k = 1..=n at index k-1 ($B).
    #[inline]
    pub fn revenue(&self, s: usize) -> &[f64] {
        &self.revenue[s * self.steps..(s + 1) * self.steps]
    }

    /// Mutable access for tests and custom generators: (run rates, revenue)
    /// of series `s`.
    pub fn series_mut(&mut self, s: usize) -> (&mut [f64], &mut [f64]) {
        let n = self.steps;
        (
            &mut self.run_rate[s * (n + 1)..(s + 1) * (n + 1)],
            &mut self.revenue[s * n..(s + 1) * n],
        )
    }
}

impl Model {
    /// Compiles a validated scenario.
    pub fn new(sc: &Scenario) -> Model {
        let steps = sc.steps();
        let dt = sc.dt();
        let sqrt_dt = dt.sqrt();
        let series: Vec<SeriesModel> = sc
            .series
            .iter()
            .map(|(name, s)| {
                let g = &s.growth;
                let v = &s.volatility;
                let s_dt = if g.reversion > 0.0 {
                    (-(-2.0 * g.reversion * dt).exp_m1() / (2.0 * g.reversion)).sqrt()
                } else {
                    sqrt_dt
                };
                let mut drift = Vec::with_capacity(steps);
                let mut vol = Vec::with_capacity(steps);
                let mut growth_vol = Vec::with_capacity(steps);
                for k in 1..=steps {
                    let t = (k - 1) as f64 * dt;
                    let sigma = v.long_run + (v.initial - v.long_run) * (-v.decay * t).exp();
                    drift.push(-0.5 * sigma * sigma * dt);
                    vol.push(sigma * sqrt_dt);
                    growth_vol.push(g.volatility * (-g.volatility_decay * t).exp() * s_dt);
                }
                let rho = s.growth_correlation;
                SeriesModel {
                    name: name.clone(),
                    x0: s.initial_run_rate.ln(),
                    mu0: g.initial,
                    mu_bar: g.long_run,
                    decay: (-g.reversion * dt).exp(),
                    rho,
                    rho_c: (1.0 - rho * rho).max(0.0).sqrt(),
                    drift,
                    vol,
                    growth_vol,
                    jumps: s.jumps.as_ref().and_then(|j| JumpModel::new(j, dt)),
                    tails: s.tails.map(|t| {
                        (
                            ChiSquared::new(t.dof).expect("validated: dof > 2"),
                            t.dof - 2.0,
                        )
                    }),
                }
            })
            .collect();
        let names: Vec<&String> = sc.series.keys().collect();
        let chol = if sc.correlations.iter().all(|c| c.rho == 0.0) {
            None
        } else {
            let m = scenario::correlation_matrix(&names, &sc.correlations)
                .expect("validated: known series");
            let l = scenario::cholesky(&m).expect("validated: positive definite");
            Some(l.into_iter().flatten().collect())
        };
        Model {
            steps,
            steps_per_year: sc.steps_per_year as usize,
            dt,
            start_year: sc.start_year,
            chol_in_draw: chol.is_some() && series.iter().any(|s| s.tails.is_some()),
            series,
            chol,
        }
    }

    /// Generates one path of every series into `buf`.
    ///
    /// Three passes, the same the engine runs over a whole chunk of paths
    /// at once: [`Model::draw_path`] draws the shocks, [`Model::log_paths`]
    /// steps the log run rates (cheap multiply-adds), then the exponentials
    /// are taken, which are independent of each other and run at the `exp`
    /// throughput rather than its latency.
    #[inline]
    pub fn simulate<S: Shocks>(&self, shocks: &mut S, buf: &mut PathBuffer) {
        let k = self.series.len();
        let n = self.steps;
        let half_dt = 0.5 * self.dt;
        let PathBuffer {
            run_rate,
            revenue,
            shocks: drawn,
            state,
            ..
        } = buf;
        self.clear_jumps(drawn, 1, 1);
        self.draw_path(shocks, state, drawn, 1);
        self.log_paths(drawn, state, run_rate, 1, 1);
        for i in 0..k {
            let a = &mut run_rate[i * (n + 1)..(i + 1) * (n + 1)];
            exp_in_place(a);
            for (r, w) in revenue[i * n..(i + 1) * n].iter_mut().zip(a.windows(2)) {
                *r = half_dt * (w[0] + w[1]);
            }
        }
    }

    /// Rows of shocks per path: three per series and step (see
    /// [`Model::draw_path`]).
    pub fn shock_rows(&self) -> usize {
        3 * self.series.len() * self.steps
    }

    /// Draws one path's shocks, in the order of the reproducibility
    /// contract, and writes for step `j` (0-based) and series `i`, at row
    /// `r = 3 * (j * series + i)`: the revenue shock at `out[r * stride]`,
    /// the growth shock's independent normal z2 at `out[(r + 1) * stride]`
    /// and, for a series with jumps, the step's total jump in log revenue
    /// at `out[(r + 2) * stride]`. The jump is only written in the steps
    /// where jumps occur: [`Model::clear_jumps`] must have zeroed the jump
    /// rows first. (A series without jumps has its jump row left as it is;
    /// [`Model::log_paths`] reads zeros instead. The draw loop is bound by
    /// its instruction count, like the floor's: every store and operation
    /// saved there counts.)
    ///
    /// The revenue shock written is the independent normal z_i when the
    /// series are correlated and none has tails: [`Model::log_paths`] then
    /// takes the Cholesky product e = L z across the chunk's paths, where
    /// it vectorises (taken here, per path, it cost more than a tenth of
    /// the drawing). Otherwise it is e1 itself: (L z)_i, divided by the
    /// Student-t scale under tails.
    ///
    /// Draw order per step: one standard normal per series for the revenue
    /// shocks, then per series in name order: the growth shock's normal,
    /// the jump uniform and (if jumps occur) one normal for their total
    /// size, and the chi-squared draw for tails.
    ///
    /// With `stride` = the row length of a chunk and `out` starting at a
    /// path's column, a chunk of paths lands step-major (structure of
    /// arrays) for [`Model::log_paths`].
    ///
    /// # Panics
    /// If `out` is shorter than `(shock_rows - 1) * stride + 1`.
    #[inline]
    pub fn draw_path<S: Shocks>(
        &self,
        shocks: &mut S,
        state: &mut StepState,
        out: &mut [f64],
        stride: usize,
    ) {
        let k = self.series.len();
        if self.steps == 0 || k == 0 {
            return;
        }
        let out = &mut out[..(self.shock_rows() - 1) * stride + 1];
        if self.chol_in_draw {
            return self.draw_path_correlated(shocks, &mut state.z, out, stride);
        }
        for step in 0..self.steps {
            let at = 3 * step * k * stride;
            for i in 0..k {
                out[at + 3 * i * stride] = shocks.normal();
            }
            for (i, s) in self.series.iter().enumerate() {
                let r = at + 3 * i * stride;
                out[r + stride] = shocks.normal();
                if let Some(j) = &s.jumps {
                    // The row holds zeros (`clear_jumps`): only steps with
                    // jumps are written, a few in a hundred.
                    if let Some(jump) = j.draw(shocks) {
                        out[r + 2 * stride] = jump;
                    }
                }
                if let Some((chi, nu_minus_2)) = &s.tails {
                    out[r] /= shocks.tail_scale(chi, *nu_minus_2);
                }
            }
        }
    }

    /// Zeroes the jump rows of the series with jumps for `paths` paths (row
    /// stride `stride`), before [`Model::draw_path`] draws them.
    #[inline(always)]
    pub fn clear_jumps(&self, shocks: &mut [f64], stride: usize, paths: usize) {
        let k = self.series.len();
        for (i, s) in self.series.iter().enumerate() {
            if s.jumps.is_some() {
                for step in 0..self.steps {
                    let r = 3 * (step * k + i) + 2;
                    shocks[r * stride..][..paths].fill(0.0);
                }
            }
        }
    }

    /// [`Model::draw_path`] when the Cholesky product must be taken while
    /// drawing (correlated series, one of them with tails); `z` holds one
    /// step's normals (the [`StepState`]'s, one per series).
    #[inline(never)]
    fn draw_path_correlated<S: Shocks>(
        &self,
        shocks: &mut S,
        z: &mut [f64],
        out: &mut [f64],
        stride: usize,
    ) {
        let k = self.series.len();
        for step in 0..self.steps {
            for zi in z.iter_mut() {
                *zi = shocks.normal();
            }
            if let Some(l) = &self.chol {
                cholesky_in_place(l, z);
            }
            for (i, s) in self.series.iter().enumerate() {
                let mut e1 = z[i];
                let z2 = shocks.normal();
                let jump = s.jumps.as_ref().and_then(|j| j.draw(shocks)).unwrap_or(0.0);
                if let Some((chi, nu_minus_2)) = &s.tails {
                    e1 /= shocks.tail_scale(chi, *nu_minus_2);
                }
                let r = 3 * (step * k + i);
                out[r * stride] = e1;
                out[(r + 1) * stride] = z2;
                out[(r + 2) * stride] = jump;
            }
        }
    }

    /// Takes the Cholesky product e = L z of every step of `paths` paths
    /// that [`Model::draw_path`] left uncorrelated, in place in the shock
    /// rows (no-op when the series are uncorrelated or it was taken while
    /// drawing). Each path gets exactly the operations
    /// [`cholesky_in_place`] gives it alone.
    #[inline(always)]
    fn correlate_paths(&self, shocks: &mut [f64], stride: usize, paths: usize) {
        let Some(l) = &self.chol else { return };
        if self.chol_in_draw {
            return;
        }
        let k = self.series.len();
        for step in 0..self.steps {
            let rows = &mut shocks[3 * step * k * stride..][..3 * (k - 1) * stride + paths];
            if k == 2 {
                // The common case, as loops across the paths (the same
                // products and sums as `cholesky_in_place`).
                let (z0, rest) = rows.split_at_mut(3 * stride);
                let z1 = &mut rest[..paths];
                for (a, b) in z0[..paths].iter_mut().zip(z1.iter_mut()) {
                    *b = l[2] * *a + l[3] * *b;
                    *a *= l[0];
                }
                continue;
            }
            for p in 0..paths {
                for i in (0..k).rev() {
                    let row = &l[i * k..=i * k + i];
                    let mut acc = row[0] * rows[p];
                    for (j, &lij) in row.iter().enumerate().skip(1) {
                        acc += lij * rows[3 * j * stride + p];
                    }
                    rows[3 * i * stride + p] = acc;
                }
            }
        }
    }

    /// Steps the log run rates of `paths` paths whose shocks
    /// [`Model::draw_path`] wrote to `shocks` (row stride `stride`), and
    /// writes `ln A(k)` of series `i` on path `p` to
    /// `logs[(i * (n + 1) + k) * stride + p]`, k = 0..=n. Each step is one
    /// loop over the paths (vectorisable); every path gets the same
    /// operations in the same order as on its own.
    ///
    /// # Panics
    /// If a buffer is too short, or `paths` exceeds `stride` or the paths
    /// `state` was made for.
    #[inline(always)]
    pub fn log_paths(
        &self,
        shocks: &mut [f64],
        state: &mut StepState,
        logs: &mut [f64],
        stride: usize,
        paths: usize,
    ) {
        let k = self.series.len();
        let n = self.steps;
        let dt = self.dt;
        assert!(paths <= stride && paths <= state.paths);
        // Two correlated series (the common case): the second series'
        // shock L[1][0] z0 + L[1][1] z1 is taken as it is read, and the
        // first's, L[0][0] z0, is z0 itself, since a correlation matrix has
        // L[0][0] = 1 (x * 1.0 is x, bit for bit). That saves a pass that
        // rewrites the shock rows.
        let fold = match &self.chol {
            Some(l) if k == 2 && !self.chol_in_draw && l[0] == 1.0 => Some((l[2], l[3])),
            _ => None,
        };
        if fold.is_none() {
            self.correlate_paths(shocks, stride, paths);
        }
        for (i, s) in self.series.iter().enumerate() {
            let mu = &mut state.mu[i * state.paths..][..paths];
            let zeros = &state.zeros[..paths];
            mu.fill(s.mu0);
            let series = &mut logs[i * (n + 1) * stride..(i + 1) * (n + 1) * stride];
            series[..paths].fill(s.x0);
            for step in 0..n {
                let r = 3 * (step * k + i);
                let e1 = &shocks[r * stride..][..paths];
                let z2 = &shocks[(r + 1) * stride..][..paths];
                let jump = match s.jumps {
                    Some(_) => &shocks[(r + 2) * stride..][..paths],
                    None => zeros,
                };
                let (drift, vol, gv) = (s.drift[step], s.vol[step], s.growth_vol[step]);
                let (before, after) = series.split_at_mut((step + 1) * stride);
                let x = &before[step * stride..][..paths];
                let next = &mut after[..paths];
                // Blocks of LANES paths through local arrays: every load of
                // a block comes before its stores, so the compiler
                // vectorises without run-time aliasing checks.
                let step_one = |e1: f64, z2: f64, jump: f64, x: f64, m: f64| {
                    let e2 = s.rho * e1 + s.rho_c * z2;
                    (
                        x + (m * dt + drift + vol * e1 + jump),
                        s.mu_bar + (m - s.mu_bar) * s.decay + gv * e2,
                    )
                };
                let whole = paths - paths % LANES;
                let blocks = next[..whole]
                    .chunks_exact_mut(LANES)
                    .zip(mu[..whole].chunks_exact_mut(LANES))
                    .zip(x.chunks_exact(LANES))
                    .zip(e1.chunks_exact(LANES))
                    .zip(z2.chunks_exact(LANES))
                    .zip(jump.chunks_exact(LANES));
                if let (1, Some((l2, l3))) = (i, fold) {
                    let z0 = &shocks[3 * step * k * stride..][..paths];
                    let blocks = blocks.zip(z0.chunks_exact(LANES));
                    for ((((((next, mu), x), e1), z2), jump), z0) in blocks {
                        let (mut xs, mut ms) = ([0.0; LANES], [0.0; LANES]);
                        for q in 0..LANES {
                            let e = l2 * z0[q] + l3 * e1[q];
                            (xs[q], ms[q]) = step_one(e, z2[q], jump[q], x[q], mu[q]);
                        }
                        next.copy_from_slice(&xs);
                        mu.copy_from_slice(&ms);
                    }
                    for p in whole..paths {
                        let e = l2 * z0[p] + l3 * e1[p];
                        (next[p], mu[p]) = step_one(e, z2[p], jump[p], x[p], mu[p]);
                    }
                    continue;
                }
                for (((((next, mu), x), e1), z2), jump) in blocks {
                    let (mut xs, mut ms) = ([0.0; LANES], [0.0; LANES]);
                    for q in 0..LANES {
                        (xs[q], ms[q]) = step_one(e1[q], z2[q], jump[q], x[q], mu[q]);
                    }
                    next.copy_from_slice(&xs);
                    mu.copy_from_slice(&ms);
                }
                for p in whole..paths {
                    (next[p], mu[p]) = step_one(e1[p], z2[p], jump[p], x[p], mu[p]);
                }
            }
        }
    }

    /// Draws exactly the random numbers one call of [`Model::simulate`]
    /// draws (same generator calls, same distributions, same order and
    /// count, the jump count included since it decides whether a jump size
    /// is drawn) and does nothing else with them: the random-number floor
    /// that the sampler is benchmarked against. Returns the XOR of the
    /// draws' bits so that the compiler cannot drop them.
    #[inline]
    pub fn draw_shocks<S: Shocks>(&self, shocks: &mut S) -> u64 {
        let mut acc = 0u64;
        for _ in 0..self.steps {
            for _ in 0..self.series.len() {
                acc ^= shocks.normal().to_bits();
            }
            for s in &self.series {
                acc ^= shocks.normal().to_bits();
                if let Some(j) = &s.jumps {
                    let u = shocks.uniform();
                    acc ^= u.to_bits();
                    if j.count(u) > 0 {
                        acc ^= shocks.normal().to_bits();
                    }
                }
                if let Some((chi, nu_minus_2)) = &s.tails {
                    acc ^= shocks.tail_scale(chi, *nu_minus_2).to_bits();
                }
            }
        }
        acc
    }

    /// Calendar year of step k (1-based).
    #[inline]
    pub fn year_of_step(&self, k: usize) -> i32 {
        self.start_year + ((k - 1) / self.steps_per_year) as i32
    }

    /// Time t(k) = k * dt in years since the start.
    #[inline]
    pub fn time(&self, k: usize) -> f64 {
        k as f64 * self.dt
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse;
    use std::path::Path;

    fn deterministic() -> Scenario {
        parse(
            r#"{ "name": "d", "start_year": 2026, "end_year": 2027, "steps_per_year": 4,
                 "series": { "s": { "initial_run_rate": 10,
                   "growth": { "initial": 0.8, "long_run": 0.2, "reversion": 0.5 },
                   "volatility": { "initial": 0 } } },
                 "baseline": "p", "regimes": { "p": [] } }"#,
            Path::new("d.json"),
        )
        .unwrap()
        .scenario
    }

    #[test]
    fn zero_volatility_follows_the_ou_mean_exactly() {
        let sc = deterministic();
        let m = Model::new(&sc);
        let mut buf = PathBuffer::new(&m);
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::from_seed_u64(1);
        m.simulate(&mut RngShocks(&mut rng), &mut buf);
        // Hand computation: mu(k) = 0.2 + 0.6 e^{-0.5 k dt}; x(k) = x(k-1) + mu(k-1) dt.
        let dt = 0.25;
        let mut x = 10f64.ln();
        let mut mu = 0.8;
        let a = buf.run_rate(0);
        for (k, &ak) in a.iter().enumerate().skip(1) {
            x += mu * dt;
            mu = 0.2 + (mu - 0.2) * (-0.5 * dt).exp();
            assert!((ak - x.exp()).abs() < 1e-12 * ak, "step {k}");
        }
        // Trapezoid revenue.
        let r = buf.revenue(0);
        assert!((r[0] - dt * (a[0] + a[1]) / 2.0).abs() < 1e-12);
    }

    trait FromSeedU64 {
        fn from_seed_u64(s: u64) -> Self;
    }
    impl FromSeedU64 for rand_xoshiro::Xoshiro256PlusPlus {
        fn from_seed_u64(s: u64) -> Self {
            rand::SeedableRng::seed_from_u64(s)
        }
    }

    #[test]
    fn exp_matches_the_system_exp_to_a_few_ulp() {
        let xs: Vec<f64> = (-700_000..=700_000)
            .map(|i| i as f64 * 1.0e-3 + 1.0e-7 * (i % 7) as f64)
            .chain([0.0, -0.0, 1e-300, 708.9, -707.9, 709.0, -708.0])
            .collect();
        let mut ys = xs.clone();
        exp_in_place(&mut ys);
        let worst = xs
            .iter()
            .zip(&ys)
            .map(|(x, y)| ((y - x.exp()) / x.exp()).abs())
            .fold(0.0, f64::max);
        assert!(worst < 4.0 * f64::EPSILON, "worst relative error {worst:e}");
        // Outside the fast range: the system exp, overflow and NaN included.
        let mut v = [710.0, -800.0, 1.0, f64::NAN];
        exp_in_place(&mut v);
        assert_eq!(v[0], 710f64.exp());
        assert_eq!(v[1], 0.0);
        assert_eq!(v[2], exp_core(1.0));
        assert!(v[3].is_nan());
    }

    #[test]
    fn draw_shocks_consumes_the_generator_exactly_as_simulate() {
        use rand::{Rng, SeedableRng};
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/base.json");
        let m = Model::new(&crate::scenario::load(&file).unwrap().scenario);
        let mut buf = PathBuffer::new(&m);
        let mut a = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(9);
        let mut b = a.clone();
        for _ in 0..200 {
            m.simulate(&mut RngShocks(&mut a), &mut buf);
            m.draw_shocks(&mut RngShocks(&mut b));
        }
        assert_eq!(a.next_u64(), b.next_u64());
    }

    /// Log run rates of `paths` paths drawn from `seed` as the engine lays
    /// them out (row stride `stride`).
    fn chunk_logs(m: &Model, seed: u64, paths: usize, stride: usize) -> Vec<f64> {
        use rand::SeedableRng;
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut state = StepState::new(m, paths);
        let mut shocks = vec![f64::NAN; m.shock_rows() * stride];
        m.clear_jumps(&mut shocks, stride, paths);
        for p in 0..paths {
            m.draw_path(
                &mut RngShocks(&mut rng),
                &mut state,
                &mut shocks[p..],
                stride,
            );
        }
        let mut logs = vec![f64::NAN; m.series.len() * (m.steps + 1) * stride];
        m.log_paths(&mut shocks, &mut state, &mut logs, stride, paths);
        logs
    }

    #[test]
    fn correlating_a_chunk_equals_correlating_each_path_as_it_is_drawn() {
        // base.json: two correlated series, no tails, so the Cholesky
        // product is taken across the chunk; forcing it into the draw loop
        // (as under tails) must give the same bits on every path.
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/base.json");
        let m = Model::new(&crate::scenario::load(&file).unwrap().scenario);
        assert!(m.chol.is_some() && !m.chol_in_draw);
        let mut forced = m.clone();
        forced.chol_in_draw = true;
        for (paths, stride) in [(1, 1), (7, 9), (13, 16)] {
            let a = chunk_logs(&m, 5, paths, stride);
            let b = chunk_logs(&forced, 5, paths, stride);
            for (i, (x, y)) in a.iter().zip(&b).enumerate() {
                if i % stride < paths {
                    assert_eq!(x.to_bits(), y.to_bits(), "value {i} ({paths} paths)");
                }
            }
        }
    }

    #[test]
    fn poisson_inversion_matches_probabilities() {
        let j = JumpModel::new(
            &scenario::Jumps {
                rate: 2.0,
                mean: 0.0,
                sd: 0.0,
            },
            0.5,
        )
        .unwrap();
        let p0 = (-1.0f64).exp();
        assert_eq!(j.count(0.0), 0);
        assert_eq!(j.count(p0 - 1e-12), 0);
        assert_eq!(j.count(p0 + 1e-12), 1);
        assert!(j.count(0.999_999_999_999_999_9) < j.cdf.len());
        assert!(j.count(1.0) < j.cdf.len());
    }
}
