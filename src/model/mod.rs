//! Stage 2 of the pipeline: path generation. A [`Model`] is compiled once
//! from a validated scenario (every per-step constant precomputed) and then
//! turns random numbers into revenue paths, one path at a time, into a
//! reusable [`PathBuffer`] (no allocation per path).
//!
//! The model never owns randomness: shocks come from a
//! [`crate::random::Generator`] passed in, a row of paths at a time
//! ([`Model::draw_rows`]): every draw is addressed by (seed, global path
//! index, step, series, kind), so the model is immutable, trivially shared
//! between threads, and any path can be regenerated alone
//! ([`Model::simulate`]).
//!
//! The mathematics is MODEL.md §2: log run rate with decaying volatility,
//! exact Ornstein–Uhlenbeck expected growth, growth/revenue shock
//! correlation, Poisson jumps, unit-variance Student-t tails, Cholesky
//! correlation between series, and trapezoid revenue per step.
//!
//! The sampling method (`simulation.sampling`) changes only which numbers
//! the shock rows hold ([`Model::draw_rows`]): plain draws (mc), mirrored
//! pairs (antithetic), or scrambled Sobol points through a Brownian bridge
//! ([`qmc`]).

pub mod qmc;

use rand_distr::{ChiSquared, Distribution};

use crate::random::{exp_slice, Generator, Kind, Row, MAX_SERIES};
use crate::scenario::{self, Sampling, Scenario, QMC_REPLICATES};
use crate::simd::Aligned;

/// Paths per block in the loops over a chunk's paths (the f64 lanes of an
/// AVX2 register).
const LANES: usize = 4;

/// e = L z in place for one step of `paths` paths, for the lower Cholesky
/// factor `l` (row-major k x k): series i's shocks are the row at
/// `rows[3 * i * stride..]`. Per path, from the last series up (series i
/// reads z[..=i]), each dot product summed left to right; two series as
/// loops across the paths with the same products and sums.
#[inline(always)]
fn correlate_step(l: &[f64], k: usize, rows: &mut [f64], stride: usize, paths: usize) {
    let rows = &mut rows[..3 * (k - 1) * stride + paths];
    if k == 2 {
        let (z0, rest) = rows.split_at_mut(3 * stride);
        let z1 = &mut rest[..paths];
        for (a, b) in z0[..paths].iter_mut().zip(z1.iter_mut()) {
            *b = l[2] * *a + l[3] * *b;
            *a *= l[0];
        }
        return;
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

    /// The total jump in log revenue of `count > 0` jumps, given one
    /// standard normal `z` for their total size.
    #[inline(always)]
    fn size(&self, count: usize, z: f64) -> f64 {
        let c = count as f64;
        c * self.mean + self.sd * c.sqrt() * z
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
    pub(crate) steps_per_year: usize,
    /// Step length in years.
    pub(crate) dt: f64,
    /// First calendar year.
    pub(crate) start_year: i32,
    /// The series, in name order.
    pub series: Vec<SeriesModel>,
    /// Lower Cholesky factor of the shock correlation matrix (row-major k x k),
    /// or `None` when the series are uncorrelated.
    chol: Option<Vec<f64>>,
    /// Whether the Cholesky product is taken while drawing (needed when a
    /// series has Student-t tails, whose scale divides the correlated
    /// shock) rather than afterwards across a chunk's paths.
    chol_in_draw: bool,
    /// How the shocks are sampled.
    pub sampling: Sampling,
    /// Under qmc: the bridges and their Sobol dimensions.
    qmc: Option<QmcPlan>,
}

/// Which normals quasi-Monte Carlo drives, and how.
#[derive(Debug, Clone)]
struct QmcPlan {
    /// The (series, shock) pairs driven through a bridge, in the order of
    /// their dimensions: every series' revenue shock, then the growth
    /// shocks of the series whose growth volatility is not zero (the
    /// others' growth normals are multiplied by 0 and stay pseudo-random).
    bridged: Vec<(usize, Kind)>,
    /// The bridge over the steps.
    bridge: qmc::Bridge,
}

impl QmcPlan {
    /// Whether the normal row of (series, kind) is filled by the bridge.
    fn fills(&self, series: usize, kind: Kind) -> bool {
        self.bridged.contains(&(series, kind))
    }
}

/// Revenue paths of all series for one Monte Carlo path.
#[derive(Debug, Clone)]
pub struct PathBuffer {
    steps: usize,
    /// Run rates A(0..=n) per series, series-major.
    run_rate: Vec<f64>,
    /// Revenue R(1..=n) per series (index k-1), series-major.
    revenue: Vec<f64>,
    /// The path's shocks (see [`Model::draw_rows`]).
    shocks: Vec<f64>,
    state: StepState,
}

/// Scratch space for generating paths (reused for every chunk: no
/// allocation per path): the expected growth mu of every series on every
/// path of a chunk, and under qmc the bridge inputs.
#[derive(Debug, Clone)]
pub struct StepState {
    /// mu of series i on path p at `mu[i * paths + p]`.
    mu: Aligned,
    /// `paths` zeros: the jumps of a series without jumps.
    zeros: Aligned,
    paths: usize,
    /// Under qmc: the bridge inputs of one (series, shock), one row of
    /// `paths` per step (empty otherwise).
    xi: Vec<f64>,
}

impl StepState {
    /// Scratch for `model`'s series and chunks of up to `paths` paths.
    pub fn new(model: &Model, paths: usize) -> StepState {
        let k = model.series.len();
        StepState {
            mu: Aligned::new(k * paths, 0.0),
            zeros: Aligned::new(paths, 0.0),
            paths,
            xi: if model.qmc.is_some() {
                vec![0.0; model.steps * paths]
            } else {
                Vec::new()
            },
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
}

impl Model {
    /// Compiles a validated scenario.
    pub fn new(sc: &Scenario) -> Model {
        let steps = sc.steps();
        let dt = sc.dt();
        let sqrt_dt = dt.sqrt();
        let series: Vec<SeriesModel> = sc
            .series
            .values()
            .map(|s| {
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
        let sampling = sc.simulation.sampling;
        let qmc = (sampling == Sampling::Qmc).then(|| {
            let revenue = (0..series.len()).map(|i| (i, Kind::RevenueShock));
            let growth = series
                .iter()
                .enumerate()
                .filter(|(_, s)| s.growth_vol.iter().any(|&g| g != 0.0))
                .map(|(i, _)| (i, Kind::GrowthShock));
            QmcPlan {
                bridged: revenue.chain(growth).collect(),
                bridge: qmc::Bridge::new(steps),
            }
        });
        Model {
            steps,
            steps_per_year: sc.steps_per_year as usize,
            dt,
            start_year: sc.start_year,
            chol_in_draw: chol.is_some() && series.iter().any(|s| s.tails.is_some()),
            series,
            chol,
            sampling,
            qmc,
        }
    }

    /// The path whose draws path `path` reads, and whether it mirrors
    /// them: under antithetic sampling path 2m + 1 mirrors path 2m; every
    /// other path reads its own.
    #[inline(always)]
    fn source(&self, path: u64) -> (u64, bool) {
        if self.sampling == Sampling::Antithetic && path & 1 == 1 {
            (path - 1, true)
        } else {
            (path, false)
        }
    }

    /// Antithetic partners: every odd path of `first..first + out.len()`
    /// gets `mirror` of its even partner's draw (from `out` when the
    /// partner is in the range, else `alone(first - 1)`): the normal
    /// negated, or the uniform u -> 1 - u (exact for the generator's
    /// uniforms, odd multiples of 2^-53).
    fn mirror_partners(
        first: u64,
        out: &mut [f64],
        alone: impl Fn(u64) -> f64,
        mirror: impl Fn(f64) -> f64,
    ) {
        // The first odd path of the range, then every second one.
        for p in (usize::from(first & 1 == 0)..out.len()).step_by(2) {
            out[p] = mirror(if p > 0 { out[p - 1] } else { alone(first - 1) });
        }
    }

    /// Under qmc, fills the bridged normal rows (see [`QmcPlan`]) of the
    /// paths `first..first + paths`: path p is point p / R of replicate
    /// p mod R (R = [`QMC_REPLICATES`]); input j of bridge b is Sobol
    /// dimension `j * B + b` (B bridges), Owen-scrambled with the seed of
    /// (replicate, dimension), through the inverse normal CDF; inputs at
    /// dimensions from [`qmc::MAX_DIMS`] on are the pseudo-random normals
    /// of row (j, series, kind). The bridge turns the n inputs into the n
    /// steps' normals.
    #[allow(clippy::too_many_arguments)]
    fn qmc_normals(
        &self,
        plan: &QmcPlan,
        generator: &Generator,
        first: u64,
        paths: usize,
        state: &mut StepState,
        out: &mut [f64],
        stride: usize,
    ) {
        let n = self.steps;
        let k = self.series.len();
        let bridges = plan.bridged.len();
        // splitmix(seed), the part of every scramble seed that depends on
        // the run alone (see qmc::scramble_seed).
        let run_key = qmc::scramble_key(generator.seed());
        let mut seeds = [0u32; QMC_REPLICATES as usize];
        let xi = &mut state.xi[..n * paths];
        for (b, &(i, kind)) in plan.bridged.iter().enumerate() {
            for j in 0..n {
                let d = j * bridges + b;
                let row = &mut xi[j * paths..(j + 1) * paths];
                if d >= qmc::MAX_DIMS {
                    generator.fill_normals(Row::new(j as u32, i as u16, kind), first, row);
                    continue;
                }
                for (r, s) in seeds.iter_mut().enumerate() {
                    *s = qmc::scramble_seed_of(run_key, r as u64, d);
                }
                qmc::scrambled_uniforms(d, &seeds, first, row);
                qmc::inverse_normal_in_place(row);
            }
            // The bridge: W(m) into the row of step m - 1, then increments.
            let off = match kind {
                Kind::GrowthShock => 1,
                _ => 0,
            };
            let at = |step: usize| (3 * (step * k + i) + off) * stride;
            for (j, node) in plan.bridge.nodes.iter().enumerate() {
                let xi_j = &xi[j * paths..(j + 1) * paths];
                let m = at(node.m - 1);
                if j == 0 {
                    for (p, &x) in xi_j.iter().enumerate() {
                        out[m + p] = node.sd * x;
                    }
                    continue;
                }
                let r = at(node.r - 1);
                if node.l == 0 {
                    for (p, &x) in xi_j.iter().enumerate() {
                        out[m + p] = node.wr * out[r + p] + node.sd * x;
                    }
                } else {
                    let l = at(node.l - 1);
                    for (p, &x) in xi_j.iter().enumerate() {
                        out[m + p] = node.wl * out[l + p] + node.wr * out[r + p] + node.sd * x;
                    }
                }
            }
            for step in (1..n).rev() {
                let (hi, lo) = (at(step), at(step - 1));
                for p in 0..paths {
                    out[hi + p] -= out[lo + p];
                }
            }
        }
    }

    /// Generates path `path` (its global index in the run: batch * 1024 +
    /// offset) of every series into `buf`, with exactly the numbers the
    /// engine gives that path (same draws, same operations).
    ///
    /// Three passes, the same the engine runs over a whole chunk of paths
    /// at once: [`Model::draw_rows`] draws the shocks, `log_paths`
    /// steps the log run rates (cheap multiply-adds), then the exponentials
    /// are taken ([`exp_slice`]).
    #[inline]
    pub fn simulate(&self, generator: &Generator, path: u64, buf: &mut PathBuffer) {
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
        self.draw_rows(generator, path, 1, state, drawn, 1);
        self.log_paths(drawn, state, run_rate, 1, 1);
        for i in 0..k {
            let a = &mut run_rate[i * (n + 1)..(i + 1) * (n + 1)];
            exp_slice(a);
            for (r, w) in revenue[i * n..(i + 1) * n].iter_mut().zip(a.windows(2)) {
                *r = half_dt * (w[0] + w[1]);
            }
        }
    }

    /// Rows of shocks per path: three per series and step (see
    /// [`Model::draw_rows`]).
    pub fn shock_rows(&self) -> usize {
        3 * self.series.len() * self.steps
    }

    /// Draws the shocks of the paths `first..first + paths` (global path
    /// indices) a row at a time and writes, for step `j` (0-based) and
    /// series `i`, at row `r = 3 * (j * series + i)` (row stride `stride`,
    /// path `first + p` in column `p`): the revenue shock in row `r`, the
    /// growth shock's independent normal z2 in row `r + 1` and, for a
    /// series with jumps, the step's total jump in log revenue in row
    /// `r + 2` (a series without jumps has its jump row left as it is;
    /// `log_paths` reads zeros instead).
    ///
    /// The draws (see [`crate::random`] for the stream):
    /// - z_i: the normal row (step j, series i, [`Kind::RevenueShock`]);
    /// - z2: the normal row (j, i, [`Kind::GrowthShock`]);
    /// - the jump count N: Poisson(lambda dt) by inversion of the uniform
    ///   row (j, i, [`Kind::JumpCount`]); for paths with N > 0 the total
    ///   size N m + s sqrt(N) Z with Z the first normal of the path's
    ///   substream (path, j, i, [`Kind::JumpSize`]);
    /// - under Student-t tails, the revenue shock divided by
    ///   sqrt(W / (nu - 2)), W ~ chi-squared(nu) drawn by `rand_distr`
    ///   from the substream (path, j, i, [`Kind::Gamma`]).
    ///
    /// The revenue shock written is the independent normal z_i when the
    /// series are correlated and none has tails: `log_paths` then
    /// takes the Cholesky product e = L z across the chunk's paths.
    /// Otherwise it is e1 itself: (L z)_i (taken here, row by row, before
    /// the tails' division), divided by the Student-t scale under tails.
    ///
    /// That is plain Monte Carlo ([`Sampling::Mc`]). The other methods
    /// change only which numbers fill the rows:
    /// - [`Sampling::Antithetic`]: path 2m + 1 reads path 2m's numbers and
    ///   mirrors them: normals negated (z_i, z2, the jump-size Z), the
    ///   jump-count uniform u -> 1 - u; under tails the pair shares path
    ///   2m's chi-squared W (the partner's Student-t shock is the exact
    ///   negative). Path 2m's numbers are its mc numbers.
    /// - [`Sampling::Qmc`]: the z_i and (where the growth volatility is
    ///   not zero) z2 rows come from scrambled Sobol points through a
    ///   Brownian bridge (see [`qmc`] and `Model::qmc_normals`); the jumps
    ///   and the chi-squared draws of tails keep their pseudo-random
    ///   substreams, as mc.
    ///
    /// # Panics
    /// If `out` is too short, `paths > stride`, `paths` exceeds the paths
    /// `state` was made for (when the Cholesky product is taken here, or
    /// under qmc), or there are [`MAX_SERIES`] series or more.
    pub fn draw_rows(
        &self,
        generator: &Generator,
        first: u64,
        paths: usize,
        state: &mut StepState,
        out: &mut [f64],
        stride: usize,
    ) {
        let k = self.series.len();
        if self.steps == 0 || k == 0 || paths == 0 {
            return;
        }
        assert!(paths <= stride && k < usize::from(MAX_SERIES));
        let antithetic = self.sampling == Sampling::Antithetic;
        if let Some(plan) = &self.qmc {
            self.qmc_normals(plan, generator, first, paths, state, out, stride);
        }
        for step in 0..self.steps {
            let j = step as u32;
            let at = 3 * step * k * stride;
            for (i, s) in self.series.iter().enumerate() {
                let si = i as u16;
                let r = at + 3 * i * stride;
                let row = |kind| Row::new(j, si, kind);
                for (kind, off) in [(Kind::RevenueShock, 0), (Kind::GrowthShock, 1)] {
                    if self.qmc.as_ref().is_some_and(|q| q.fills(i, kind)) {
                        continue;
                    }
                    let normals = &mut out[r + off * stride..][..paths];
                    generator.fill_normals(row(kind), first, normals);
                    if antithetic {
                        Self::mirror_partners(
                            first,
                            normals,
                            |q| generator.normal(row(kind), q),
                            |z| -z,
                        );
                    }
                }
                if let Some(jm) = &s.jumps {
                    let jumps = &mut out[r + 2 * stride..][..paths];
                    generator.fill_uniforms(row(Kind::JumpCount), first, jumps);
                    if antithetic {
                        Self::mirror_partners(
                            first,
                            jumps,
                            |q| generator.uniform(row(Kind::JumpCount), q),
                            |u| 1.0 - u,
                        );
                    }
                    for (p, x) in jumps.iter_mut().enumerate() {
                        let count = jm.count(*x);
                        *x = if count > 0 {
                            let (path, mirrored) = self.source(first + p as u64);
                            let z = generator
                                .substream(path, j, si, Kind::JumpSize)
                                .next_normal();
                            jm.size(count, if mirrored { -z } else { z })
                        } else {
                            0.0
                        };
                    }
                }
            }
            if self.chol_in_draw {
                let l = self.chol.as_ref().expect("chol_in_draw implies chol");
                correlate_step(l, k, &mut out[at..], stride, paths);
            }
            for (i, s) in self.series.iter().enumerate() {
                if let Some((chi, nu_minus_2)) = &s.tails {
                    let e1 = &mut out[at + 3 * i * stride..][..paths];
                    let mut scale = 1.0;
                    for (p, e) in e1.iter_mut().enumerate() {
                        // Antithetic partners share the chi-squared draw:
                        // the partner's Student-t shock is exactly the
                        // negated one. A mirrored path whose partner came
                        // just before it reuses the partner's divisor.
                        let (path, mirrored) = self.source(first + p as u64);
                        if !mirrored || p == 0 {
                            let mut rng = generator.substream(path, j, i as u16, Kind::Gamma);
                            scale = (chi.sample(&mut rng) / nu_minus_2).sqrt();
                        }
                        *e /= scale;
                    }
                }
            }
        }
    }

    /// Takes the Cholesky product e = L z of every step of `paths` paths
    /// that [`Model::draw_rows`] left uncorrelated, in place in the shock
    /// rows (no-op when the series are uncorrelated or it was taken while
    /// drawing), step by step with [`correlate_step`], the same product
    /// [`Model::draw_rows`] takes while drawing.
    #[inline(always)]
    fn correlate_paths(&self, shocks: &mut [f64], stride: usize, paths: usize) {
        let Some(l) = &self.chol else { return };
        if self.chol_in_draw {
            return;
        }
        let k = self.series.len();
        for step in 0..self.steps {
            correlate_step(l, k, &mut shocks[3 * step * k * stride..], stride, paths);
        }
    }

    /// Steps the log run rates of `paths` paths whose shocks
    /// [`Model::draw_rows`] wrote to `shocks` (row stride `stride`), and
    /// writes `ln A(k)` of series `i` on path `p` to
    /// `logs[(i * (n + 1) + k) * stride + p]`, k = 0..=n. Each step is one
    /// loop over the paths (vectorisable); every path gets the same
    /// operations in the same order as on its own.
    ///
    /// # Panics
    /// If a buffer is too short, or `paths` exceeds `stride` or the paths
    /// `state` was made for.
    #[inline(always)]
    pub(crate) fn log_paths(
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

    /// Time t(k) = k * dt in years since the start.
    #[inline]
    pub(crate) fn time(&self, k: usize) -> f64 {
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
        m.simulate(&Generator::new(1), 0, &mut buf);
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

    /// Log run rates of the paths `first..first + paths` drawn from
    /// `seed` as the engine lays them out (row stride `stride`).
    fn chunk_logs(m: &Model, seed: u64, first: u64, paths: usize, stride: usize) -> Vec<f64> {
        let generator = Generator::new(seed);
        let mut state = StepState::new(m, paths);
        let mut shocks = vec![f64::NAN; m.shock_rows() * stride];
        m.draw_rows(&generator, first, paths, &mut state, &mut shocks, stride);
        let mut logs = vec![f64::NAN; m.series.len() * (m.steps + 1) * stride];
        m.log_paths(&mut shocks, &mut state, &mut logs, stride, paths);
        logs
    }

    fn base_model() -> Model {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/base.json");
        Model::new(&crate::scenario::load(&file).unwrap().scenario)
    }

    #[test]
    fn a_path_drawn_alone_equals_its_column_in_any_chunk() {
        // Every draw is addressed by the global path index: a path's log
        // run rates do not depend on which chunk (or batch, thread or
        // shard) drew it.
        let mut m = base_model();
        for forced in [false, true] {
            m.chol_in_draw = forced;
            let (first, paths, stride) = (1000, 45, 48);
            let chunk = chunk_logs(&m, 3, first, paths, stride);
            let rows = m.series.len() * (m.steps + 1);
            for p in [0, 1, 7, 8, 23, 31, 44] {
                let alone = chunk_logs(&m, 3, first + p as u64, 1, 1);
                for r in 0..rows {
                    assert_eq!(
                        alone[r].to_bits(),
                        chunk[r * stride + p].to_bits(),
                        "path {p}, row {r}"
                    );
                }
            }
        }
    }

    #[test]
    fn correlating_a_chunk_equals_correlating_each_path_as_it_is_drawn() {
        // base.json: two correlated series, no tails, so the Cholesky
        // product is taken across the chunk; forcing it into the draw loop
        // (as under tails) must give the same bits on every path.
        let m = base_model();
        assert!(m.chol.is_some() && !m.chol_in_draw);
        let mut forced = m.clone();
        forced.chol_in_draw = true;
        for (paths, stride) in [(1, 1), (7, 9), (13, 16)] {
            let a = chunk_logs(&m, 5, 0, paths, stride);
            let b = chunk_logs(&forced, 5, 0, paths, stride);
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
