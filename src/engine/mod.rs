//! Where the pipeline meets: the one place in which path generation
//! ([`crate::model`]), accounting ([`crate::contract`]) and accumulation
//! ([`crate::statistics`]) are combined, and where the work is split across
//! threads.
//!
//! Determinism lives here. Paths are grouped in fixed batches of
//! [`BATCH_PATHS`]; path `b * BATCH_PATHS + i` (batch `b`, offset `i`)
//! draws its shocks from the counter-based [`Generator`] of the run's seed
//! at its global path index (see [`crate::random`]), so the stream does
//! not depend on batches, threads or shards at all. One worker
//! per thread (a rayon pool) claims batches one at a time and folds whole
//! batches into a [`Tally`] of its own; every worker but the first hands
//! its tally to the first every few hundred batches and at the end, over a
//! channel (see [`Engine::run`]): no lock in the run loop, and nothing
//! shared in the hot loop but the batch counter. Every merge is exact
//! (counts, min/max, exact sums of per-batch partials), so the result does
//! not depend on the thread count, on the order batches finish, or on how
//! the batches are sharded across machines.
//!
//! Speed lives here too. Within a batch, chunks of up to 128 paths are
//! simulated together in a step-major buffer (structure of arrays): the
//! shocks are drawn a row (one step, one series, one kind of draw, all
//! the chunk's paths) at a time, then every later stage runs as loops
//! over the chunk's paths, one row (one step of one quantity) at a time,
//! which vectorise; the per-step metrics are flushed into their
//! accumulators straight from those rows. The row loops have an AVX2 build
//! chosen at run time (`simd`), with identical results.

pub mod partial;
pub mod per_path;
pub mod precision;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Mutex, PoisonError};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::contract::{discount_factors, settle_paths, Book, FlowChunk, Net};
use crate::model::{Model, StepState};
use crate::random::{exp_slice, Generator};
use crate::scenario::{Sampling, Scenario};
use crate::simd::Aligned;
use crate::statistics::{Grouping, StatAcc};
use per_path::{PathColumns, PathSink};

/// Paths per batch. Part of the reproducibility contract: changing it
/// changes every result.
pub const BATCH_PATHS: u64 = 1024;

/// Paths simulated together as one chunk: their log run rates are laid out
/// step-major (structure of arrays), so that exponentials, revenue,
/// accounting and the flush of each metric into its accumulator run over
/// contiguous rows of paths (vectorised, each sketch hot in cache while it
/// takes a run of values).
const CHUNK: usize = 128;

/// The most values a chunk's buffers hold (4 MiB): scenarios with very many
/// steps simulate fewer paths per chunk so that memory stays bounded.
const CHUNK_VALUES: usize = 1 << 19;

/// The most per-step points recorded per quantity. Horizons with more steps
/// (e.g. daily steps over decades) record every `stride`-th step (and the
/// last), so that the per-step sketches stay bounded in memory.
pub const MAX_STEP_POINTS: usize = 1000;

/// Batches a worker other than the first runs into its own tally before it
/// hands that tally to the first (see [`Engine::run`]): 262,144 paths, few
/// enough that no bucket's count can need a second base-2^16 digit unless
/// it holds a quarter of the values, and many enough that the merges
/// (about 0.4 ms each, on the first worker, between its batches) cost well
/// under 1% of its time.
const FLUSH_BATCHES: u64 = 256;

/// Number of batches for a path count.
pub fn batch_count(paths: u64) -> u64 {
    paths.div_ceil(BATCH_PATHS)
}

/// Where each metric lives in a [`Tally`]'s flat list of accumulators.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// Number of series.
    pub(crate) series: usize,
    /// Number of calendar years.
    pub(crate) years: usize,
    /// Number of flows (over all regimes).
    pub flows: usize,
    /// Number of parties.
    pub(crate) parties: usize,
    /// Number of regimes.
    pub(crate) regimes: usize,
    /// The steps k whose per-step statistics are recorded: every step when
    /// n < [`MAX_STEP_POINTS`], else every `ceil(n / MAX_STEP_POINTS)`-th
    /// step and the last.
    recorded: Vec<usize>,
    /// Slot of step k among the recorded steps (`usize::MAX` if not recorded).
    slot_of_step: Vec<usize>,
    annual_revenue: usize,
    run_rate_end: usize,
    flow_total: usize,
    flow_npv: usize,
    flow_annual: usize,
    hit_time: usize,
    party: usize,
    comparison: usize,
    step_run_rate: usize,
    step_cumulative: usize,
    len: usize,
}

/// The four party metrics, in [`Layout::party`] order.
pub(crate) const PARTY_METRICS: [&str; 4] = ["paid", "received", "net", "net_npv"];

/// The two comparison metrics, in [`Layout::comparison`] order.
pub(crate) const COMPARISON_METRICS: [&str; 2] = ["delta_net", "delta_net_npv"];

impl Layout {
    fn new(series: usize, years: usize, book: &Book, steps: usize) -> Layout {
        let flows = book.flows.len();
        let parties = book.parties.len();
        let regimes = book.regimes.len();
        let mut at = 0;
        let mut take = |n: usize| {
            let start = at;
            at += n;
            start
        };
        let annual_revenue = take(series * years);
        let run_rate_end = take(series);
        let flow_total = take(flows);
        let flow_npv = take(flows);
        let flow_annual = take(flows * years);
        let hit_time = take(flows);
        let party = take(regimes * parties * 4);
        let comparison = take(regimes * parties * 2);
        let stride = steps.div_ceil(MAX_STEP_POINTS).max(1);
        let mut recorded: Vec<usize> = (0..=steps).step_by(stride).collect();
        if recorded.last() != Some(&steps) {
            recorded.push(steps);
        }
        let mut slot_of_step = vec![usize::MAX; steps + 1];
        for (j, &k) in recorded.iter().enumerate() {
            slot_of_step[k] = j;
        }
        let points = recorded.len();
        let step_run_rate = take(series * points);
        let step_cumulative = take(flows * points);
        Layout {
            series,
            years,
            flows,
            parties,
            regimes,
            recorded,
            slot_of_step,
            annual_revenue,
            run_rate_end,
            flow_total,
            flow_npv,
            flow_annual,
            hit_time,
            party,
            comparison,
            step_run_rate,
            step_cumulative,
            len: at,
        }
    }

    /// Whether metric `m` is a per-step one ([`Layout::step_run_rate`] or
    /// [`Layout::step_cumulative`]).
    pub fn is_step_metric(&self, m: usize) -> bool {
        (self.step_run_rate..self.len).contains(&m)
    }

    /// Revenue of series `s` in year index `y`.
    pub(crate) fn annual_revenue(&self, s: usize, y: usize) -> usize {
        self.annual_revenue + s * self.years + y
    }
    /// Final run rate of series `s`.
    pub(crate) fn run_rate_end(&self, s: usize) -> usize {
        self.run_rate_end + s
    }
    /// Total of flow `f`.
    pub(crate) fn flow_total(&self, f: usize) -> usize {
        self.flow_total + f
    }
    /// NPV of flow `f`.
    pub(crate) fn flow_npv(&self, f: usize) -> usize {
        self.flow_npv + f
    }
    /// Payments of flow `f` in year index `y`.
    pub(crate) fn flow_annual(&self, f: usize, y: usize) -> usize {
        self.flow_annual + f * self.years + y
    }
    /// Cap-hit time of flow `f` (over paths that hit), recorded in years
    /// since the start so that the sketch's relative accuracy applies to the
    /// elapsed time, not to the calendar year.
    pub fn hit_time(&self, f: usize) -> usize {
        self.hit_time + f
    }

    /// Party metric `m` (see [`PARTY_METRICS`]) of party `p` in regime `r`.
    pub(crate) fn party(&self, r: usize, p: usize, m: usize) -> usize {
        self.party + (r * self.parties + p) * 4 + m
    }
    /// Comparison metric `m` (see [`COMPARISON_METRICS`]) of party `p`, regime `r` vs baseline.
    pub(crate) fn comparison(&self, r: usize, p: usize, m: usize) -> usize {
        self.comparison + (r * self.parties + p) * 2 + m
    }
    /// The steps k (in 0..=n, ascending) whose per-step statistics are
    /// recorded: all of them unless n exceeds [`MAX_STEP_POINTS`].
    pub(crate) fn recorded_steps(&self) -> &[usize] {
        &self.recorded
    }
    /// Run rate of series `s` at recorded step `k` (see [`Layout::recorded_steps`]).
    pub(crate) fn step_run_rate(&self, s: usize, k: usize) -> usize {
        self.step_run_rate + s * self.recorded.len() + self.slot(k)
    }
    /// Cumulative in-simulation payment of flow `f` at recorded step `k`.
    pub(crate) fn step_cumulative(&self, f: usize, k: usize) -> usize {
        self.step_cumulative + f * self.recorded.len() + self.slot(k)
    }
    fn slot(&self, k: usize) -> usize {
        let j = self.slot_of_step[k];
        debug_assert!(j != usize::MAX, "step {k} is not recorded");
        j
    }
    /// Number of accumulators.
    pub fn len(&self) -> usize {
        self.len
    }
}

/// Everything accumulated over a set of batches; mergeable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    /// Paths recorded.
    pub paths: u64,
    /// Seed of the run whose paths these are (what a summary reports as
    /// having run; tallies of different seeds never merge).
    pub seed: u64,
    /// One accumulator per metric (see `Layout`).
    pub stats: Vec<StatAcc>,
    /// Per flow: number of paths on which the cap was hit.
    pub hits: Vec<u64>,
    /// Per flow and year index: paths whose hit time falls in that year.
    pub(crate) hits_in_year: Vec<u64>,
    /// Cap hits by group, for the errors of the probabilities (empty under
    /// mc). Antithetic: per flow, the pairs on which both paths hit.
    /// QMC: per flow and replicate r (at `f * R + r`), the paths that hit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_hits: Vec<u64>,
    /// As `group_hits`, by the year index of the hit: antithetic, per flow
    /// and year, the pairs whose later hit falls in that year; QMC, per
    /// flow, year and replicate (at `(f * years + y) * R + r`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_hits_in_year: Vec<u64>,
}

/// The number of groups a tally keeps cap hits for per flow and year: 1
/// per pair statistic, R for R replicates.
fn hit_groups(grouping: Grouping) -> usize {
    match grouping {
        Grouping::Pairs => 1,
        Grouping::Replicates(r) => r as usize,
    }
}

impl Tally {
    fn new(
        layout: &Layout,
        shifts: &[f64],
        exact: bool,
        seed: u64,
        grouping: Option<Grouping>,
    ) -> Tally {
        // Every metric of summary.json is grouped; the per-step metrics
        // (steps.csv: means and quantiles, no errors) and the cap-hit
        // times (a mean over the paths that hit, fed one value at a time)
        // are not.
        let grouped = |m: usize| {
            let hit_time = (0..layout.flows).any(|f| layout.hit_time(f) == m);
            grouping.filter(|_| !layout.is_step_metric(m) && !hit_time)
        };
        let g = grouping.map_or(0, hit_groups);
        Tally {
            paths: 0,
            seed,
            stats: shifts
                .iter()
                .enumerate()
                .map(|(m, &s)| StatAcc::grouped(s, exact, grouped(m)))
                .collect(),
            hits: vec![0; layout.flows],
            hits_in_year: vec![0; layout.flows * layout.years],
            group_hits: vec![0; layout.flows * g],
            group_hits_in_year: vec![0; layout.flows * layout.years * g],
        }
    }

    /// Merges another tally of the same engine and seed.
    ///
    /// # Panics
    /// If the seeds differ.
    pub(crate) fn merge(&mut self, other: &Tally) {
        assert_eq!(
            self.seed, other.seed,
            "tallies of runs with different seeds do not merge"
        );
        self.paths += other.paths;
        for (a, b) in self.stats.iter_mut().zip(&other.stats) {
            a.merge(b);
        }
        for (a, b) in self.hits.iter_mut().zip(&other.hits) {
            *a += b;
        }
        for (a, b) in self.hits_in_year.iter_mut().zip(&other.hits_in_year) {
            *a += b;
        }
        for (a, b) in self.group_hits.iter_mut().zip(&other.group_hits) {
            *a += b;
        }
        for (a, b) in self
            .group_hits_in_year
            .iter_mut()
            .zip(&other.group_hits_in_year)
        {
            *a += b;
        }
    }

    /// Puts every accumulator in canonical form (see
    /// [`StatAcc::canonicalize`]): a tally then depends only on the paths
    /// it holds, not on which thread ran which batch or in what order the
    /// tallies were merged, so shard files of the same shard are
    /// byte-identical on any number of threads.
    pub(crate) fn canonicalize(&mut self) {
        for s in &mut self.stats {
            s.canonicalize();
        }
    }

    fn end_batch(&mut self) {
        for s in &mut self.stats {
            s.end_batch();
        }
    }

    /// Empties the tally for reuse (see [`StatAcc::clear`]).
    fn clear(&mut self) {
        self.paths = 0;
        self.stats.iter_mut().for_each(StatAcc::clear);
        self.hits.fill(0);
        self.hits_in_year.fill(0);
        self.group_hits.fill(0);
        self.group_hits_in_year.fill(0);
    }
}

/// Where a metric's row of values lives in a chunk's buffer.
#[derive(Debug, Clone, Copy)]
struct Row {
    /// Metric index (see [`Layout`]).
    metric: usize,
    /// Row index in [`Scratch::buf`] (each row holds one value per path).
    row: usize,
}

/// The rows of a chunk's buffer: log run rates / run rates
/// (`series * (n + 1)` rows); then the shocks (`3 * series * n` rows, see
/// [`Model::draw_rows`]), whose rows, once the log run rates are stepped,
/// are reused for revenue (`series * n`) and cumulative payments
/// (`flows * (n + 1)`); then one row per metric that is not one of those
/// (annual sums, NPVs, party and comparison metrics).
#[derive(Debug, Clone)]
struct Rows {
    revenue: usize,
    cumulative: usize,
    own: usize,
    /// Row of each metric in the `own` block (`usize::MAX` if it reads
    /// another block's row).
    own_of: Vec<usize>,
    count: usize,
    /// Every metric written on every path, with its row, in metric order.
    flush: Vec<Row>,
}

impl Rows {
    fn new(l: &Layout, book: &Book, n: usize, shock_rows: usize) -> Rows {
        let revenue = l.series * (n + 1);
        let cumulative = revenue + l.series * n;
        let own = revenue + shock_rows.max(l.series * n + l.flows * (n + 1));
        let mut own_of = vec![usize::MAX; l.len()];
        let mut flush = Vec::new();
        let mut next = own;
        let mut mine = |m: usize, flush: &mut Vec<Row>| {
            own_of[m] = next;
            flush.push(Row {
                metric: m,
                row: next,
            });
            next += 1;
        };
        for s in 0..l.series {
            for y in 0..l.years {
                mine(l.annual_revenue(s, y), &mut flush);
            }
            flush.push(Row {
                metric: l.run_rate_end(s),
                row: s * (n + 1) + n,
            });
            for &k in l.recorded_steps() {
                flush.push(Row {
                    metric: l.step_run_rate(s, k),
                    row: s * (n + 1) + k,
                });
            }
        }
        for f in 0..l.flows {
            flush.push(Row {
                metric: l.flow_total(f),
                row: cumulative + f * (n + 1) + n,
            });
            mine(l.flow_npv(f), &mut flush);
            for y in 0..l.years {
                mine(l.flow_annual(f, y), &mut flush);
            }
            for &k in l.recorded_steps() {
                flush.push(Row {
                    metric: l.step_cumulative(f, k),
                    row: cumulative + f * (n + 1) + k,
                });
            }
        }
        for r in 0..l.regimes {
            for &p in &book.regime_parties[r] {
                for m in 0..4 {
                    mine(l.party(r, p, m), &mut flush);
                }
            }
            for &p in &book.compared[r] {
                for m in 0..2 {
                    mine(l.comparison(r, p, m), &mut flush);
                }
            }
        }
        flush.sort_unstable_by_key(|r| r.metric);
        Rows {
            revenue,
            cumulative,
            own,
            own_of,
            count: next,
            flush,
        }
    }
}

/// A worker's tally handed to the first worker: the tally, whether it is
/// the worker's last, and where to send it back once merged.
type Handover = (Tally, bool, mpsc::Sender<Tally>);

/// A worker's channel to the first worker, which counts the workers' last
/// handovers to know when the run is complete: if a worker unwinds before
/// sending its last tally, dropping this sends an empty one, so that the
/// first worker does not wait forever (the panic then ends the run).
struct LastHandover<'a> {
    to: mpsc::Sender<Handover>,
    back: Option<mpsc::Sender<Tally>>,
    empty: &'a dyn Fn() -> Tally,
}

impl LastHandover<'_> {
    /// Sends the worker's last tally.
    fn send(&mut self, t: Tally) {
        if let Some(back) = self.back.take() {
            self.to
                .send((t, true, back))
                .expect("the first worker receives until every worker is done");
        }
    }
}

impl Drop for LastHandover<'_> {
    fn drop(&mut self) {
        if let Some(back) = self.back.take() {
            let _ = self.to.send(((self.empty)(), true, back));
        }
    }
}

/// Where a chunk's shocks come from.
#[derive(Clone, Copy)]
enum Draws<'a> {
    /// All shocks zero (no jumps, Student-t scale 1): the "expected
    /// growth" path whose metrics shift the moment sums.
    Zero,
    /// The generator's draws for the paths from this global index on.
    Paths(&'a Generator, u64),
    /// Rows copied from a small table of normals (the `rng_free` bench:
    /// the engine's cost without the random numbers).
    Table(&'a [f64]),
}

/// The source of a run's shocks.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// The run's [`Generator`].
    Generator,
    /// See [`Draws::Table`].
    Table(&'a [f64]),
}

/// Scratch space for one worker, reused for every chunk (no allocation per
/// path).
struct Scratch {
    state: StepState,
    flows: Vec<FlowChunk>,
    /// The chunk's positions (scratch of [`Book::nets_paths`]).
    positions: Aligned,
    /// The chunk's values, row-major: row `r` holds `buf[r * stride + p]`
    /// for the chunk's paths p (see [`Rows`]); every row starts a cache
    /// line (the stride is a multiple of 8 values).
    buf: Aligned,
    /// The batch's per-path rows, when a [`PathSink`] takes them.
    text: Vec<u8>,
}

/// A compiled scenario, ready to run.
#[derive(Debug, Clone)]
pub struct Engine {
    /// The validated scenario.
    pub(crate) scenario: Scenario,
    /// The compiled model.
    pub(crate) model: Model,
    /// The compiled contracts.
    pub(crate) book: Book,
    /// Metric layout.
    pub(crate) layout: Layout,
    discount: Vec<f64>,
    /// The chunk buffer's rows and the metrics read from them.
    rows: Rows,
    /// Paths per chunk: [`CHUNK`], or fewer when the scenario has so many
    /// metrics that the buffer would exceed [`CHUNK_VALUES`]. It depends
    /// only on the scenario (it fixes the order of the per-batch sums).
    chunk: usize,
    /// Row stride of the chunk buffer, in values (at least `chunk`).
    stride: usize,
    shifts: Vec<f64>,
    /// The columns of the per-path rows.
    per_path: PathColumns,
    /// Whether runs record the per-step statistics (see
    /// [`Engine::without_step_statistics`]).
    steps: bool,
    /// How the values of a run group for error estimates (from the
    /// scenario's sampling; `None` under mc).
    grouping: Option<Grouping>,
}

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Number of paths (the whole run, across shards).
    pub paths: u64,
    /// Seed.
    pub seed: u64,
    /// Worker threads (0 = all cores); never more than the batches to run.
    pub threads: usize,
    /// Keep every value for exact quantiles.
    pub exact: bool,
    /// Only this shard `(index, count)` of the batches; `(0, 1)` for all.
    pub shard: (u64, u64),
}

/// Why a run stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunError {
    /// The cancel flag was raised.
    Cancelled,
    /// The thread pool could not be built.
    Threads(String),
    /// The path count does not suit the sampling method
    /// ([`Sampling::check_paths`]).
    Paths(String),
    /// The per-path sink failed (see [`PathSink::error`]); the run
    /// stopped at the next batch.
    PerPath(String),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Cancelled => write!(f, "run cancelled"),
            RunError::Threads(e) => write!(f, "cannot start worker threads: {e}"),
            RunError::Paths(e) => write!(f, "{e}"),
            RunError::PerPath(e) => write!(f, "cannot write the per-path rows: {e}"),
        }
    }
}

impl std::error::Error for RunError {}

/// Progress observer and cancel flag, supplied by the caller (the CLI plugs
/// in its progress bar and Ctrl-C handler; the engine never prints).
pub struct Control<'a> {
    /// Called from worker threads after each batch with the number of paths
    /// done so far in this run.
    pub progress: &'a (dyn Fn(u64) + Sync),
    /// Raised to stop the run at the next batch boundary.
    pub cancel: &'a AtomicBool,
    /// Takes each batch's per-path rows (see [`per_path`]); `None` for
    /// none.
    pub per_path: Option<&'a dyn PathSink>,
}

/// The outcome of a run: the merged tally plus timing.
#[derive(Debug, Clone)]
pub struct RunOutput {
    /// Everything accumulated.
    pub tally: Tally,
    /// Threads used.
    pub threads: usize,
    /// Wall time of the sampling, seconds.
    pub elapsed_seconds: f64,
}

/// The batches `[first, end)` that shard `index` of `count` runs: a
/// contiguous, near-equal split of `0..batches` (the first `batches % count`
/// shards get one more).
pub fn shard_batches(batches: u64, index: u64, count: u64) -> (u64, u64) {
    let base = batches / count;
    let extra = batches % count;
    let first = index * base + index.min(extra);
    let len = base + u64::from(index < extra);
    (first, first + len)
}

impl Engine {
    /// The validated scenario it was compiled from.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The compiled revenue model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The compiled contracts.
    pub fn book(&self) -> &Book {
        &self.book
    }

    /// How many accumulators a tally of this engine holds: one per metric
    /// (a run with `exact` keeps every path's value of each).
    pub fn metric_count(&self) -> usize {
        self.layout.len()
    }

    /// Compiles a validated scenario.
    pub fn new(scenario: &Scenario) -> Engine {
        let model = Model::new(scenario);
        let book = Book::new(scenario, &model);
        let layout = Layout::new(model.series.len(), scenario.years(), &book, model.steps);
        let discount = discount_factors(&model, scenario.discount_rate);
        let rows = Rows::new(&layout, &book, model.steps, model.shock_rows());
        let sampling = scenario.simulation.sampling;
        // Chunks (and so batches and shards) hold whole groups of paths:
        // pairs, or one path of each QMC replicate.
        let group = sampling.group() as usize;
        let chunk = ((CHUNK_VALUES / rows.count.max(1)).clamp(1, CHUNK) / group * group).max(group);
        // Rows padded to an odd number of cache lines: the per-path pass
        // writes one value to every row, and rows a power of two apart
        // would all fall into the same few L1 sets.
        let stride = chunk.next_multiple_of(8) + 8;
        let per_path = PathColumns::new(&layout, &book, |m| {
            rows.flush
                .iter()
                .find(|r| r.metric == m)
                .expect("every per-path metric is written on every path")
                .row
        });
        let mut engine = Engine {
            scenario: scenario.clone(),
            model,
            book,
            layout,
            discount,
            rows,
            chunk,
            stride,
            shifts: Vec::new(),
            steps: true,
            per_path,
            grouping: match sampling {
                Sampling::Mc => None,
                Sampling::Antithetic => Some(Grouping::Pairs),
                Sampling::Qmc => Some(Grouping::Replicates(sampling.group() as u32)),
            },
        };
        // Shift every moment sum by the metric's value on the all-shocks-
        // zero path: cheap, deterministic and the same on every machine.
        let zeros = vec![0.0; engine.layout.len()];
        let mut zero = Tally::new(&engine.layout, &zeros, true, 0, None);
        let mut scratch = engine.scratch();
        engine.chunk(Draws::Zero, 1, &mut scratch, &mut zero);
        engine.shifts = zero
            .stats
            .iter()
            .map(|s| if s.count() > 0 { s.range().0 } else { 0.0 })
            .collect();
        engine
    }

    /// This engine, with runs that leave the per-step statistics (the run
    /// rate of each series and the cumulative payment of each flow at each
    /// recorded step) empty. They feed steps.csv, the per-step sheet and
    /// the fan charts, never summary.json: a run that writes none of those
    /// (a sweep without `--xlsx`, a sensitivity analysis) skips about a
    /// sixth of the work per path on base.json, and its summary is the
    /// same, bit for bit. (The per-step rows of steps.csv from such a run
    /// would read NaN: the CLI writes steps.csv only from full runs.)
    pub fn without_step_statistics(mut self) -> Engine {
        let l = &self.layout;
        self.rows.flush.retain(|r| !l.is_step_metric(r.metric));
        self.steps = false;
        self
    }

    /// The header line of the per-path rows a [`PathSink`] receives (see
    /// [`per_path`] for the columns).
    pub fn per_path_header(&self) -> String {
        self.per_path.header()
    }

    /// Whether runs record the per-step statistics (false after
    /// [`Engine::without_step_statistics`]).
    pub fn records_step_statistics(&self) -> bool {
        self.steps
    }

    fn scratch(&self) -> Scratch {
        Scratch {
            state: StepState::new(&self.model, self.chunk),
            flows: vec![FlowChunk::new(self.chunk); self.book.flows.len()],
            positions: Aligned::new(self.book.position_rows() * self.stride, 0.0),
            buf: Aligned::new(self.rows.count * self.stride, 0.0),
            text: Vec::new(),
        }
    }

    /// An empty tally for this engine, of a run with the scenario's seed.
    pub(crate) fn empty_tally(&self, exact: bool) -> Tally {
        self.tally_for(self.scenario.simulation.seed, exact)
    }

    /// An empty tally for this engine, of a run with seed `seed`.
    fn tally_for(&self, seed: u64, exact: bool) -> Tally {
        Tally::new(&self.layout, &self.shifts, exact, seed, self.grouping)
    }

    /// How the values of this engine's runs group for error estimates
    /// (`None`: independent paths, mc).
    pub fn grouping(&self) -> Option<Grouping> {
        self.grouping
    }

    /// Simulates, settles and records `paths` (at most `self.chunk`) paths
    /// whose shocks come from `draws`.
    ///
    /// The shocks are drawn a row at a time ([`Model::draw_rows`]) into a
    /// step-major buffer and the log run rates stepped across the chunk
    /// ([`Model::log_paths`]); everything after that runs row by row across
    /// the chunk's paths: exponentials ([`exp_slice`]), trapezoid revenue, annual sums, the
    /// flows' accounting, and finally each metric's row into its
    /// accumulator. Every path gets the same numbers, and every accumulator
    /// the same values in the same order, as one path at a time would give.
    ///
    /// On x86-64 processors with AVX2 and FMA the same code is compiled a
    /// second time with both enabled and chosen at run time (see
    /// [`crate::simd`]): twice the vector width for the row loops, and
    /// exactly the same results, because Rust never fuses or reorders
    /// floating-point operations on its own.
    fn chunk(&self, draws: Draws, paths: usize, sc: &mut Scratch, t: &mut Tally) {
        #[cfg(target_arch = "x86_64")]
        if crate::simd::avx2() {
            // SAFETY: the processor supports AVX2 and FMA (checked at run time).
            unsafe { self.chunk_avx2(draws, paths, sc, t) };
            return;
        }
        self.chunk_body(draws, paths, sc, t);
    }

    /// [`Engine::chunk`] compiled with AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn chunk_avx2(&self, draws: Draws, paths: usize, sc: &mut Scratch, t: &mut Tally) {
        self.chunk_body(draws, paths, sc, t);
    }

    #[inline(always)]
    fn chunk_body(&self, draws: Draws, paths: usize, sc: &mut Scratch, t: &mut Tally) {
        let l = &self.layout;
        let n = self.model.steps;
        let spy = self.model.steps_per_year;
        let w = self.stride;
        let rows = &self.rows;
        let buf = &mut sc.buf;
        let half_dt = 0.5 * self.model.dt;
        t.paths += paths as u64;
        let (logs, rest) = buf.split_at_mut(rows.revenue * w);
        {
            let drawn = &mut rest[..(rows.own - rows.revenue) * w];
            match draws {
                Draws::Zero => drawn.fill(0.0),
                Draws::Table(table) => {
                    // Row r reads the table from offset 97 r (modulo the
                    // room left), as cheap as the rows' stores allow.
                    let room = table.len() - paths + 1;
                    for (r, row) in drawn.chunks_exact_mut(w).enumerate() {
                        let at = (97 * r) % room;
                        row[..paths].copy_from_slice(&table[at..at + paths]);
                    }
                }
                Draws::Paths(generator, first) => {
                    self.model
                        .draw_rows(generator, first, paths, &mut sc.state, drawn, w)
                }
            }
            self.model.log_paths(drawn, &mut sc.state, logs, w, paths);
        }
        // Run rates and revenue, row by row.
        let (revenue, rest) = rest.split_at_mut((rows.cumulative - rows.revenue) * w);
        let (cumulative, own) = rest.split_at_mut((rows.own - rows.cumulative) * w);
        for s in 0..l.series {
            let a = &mut logs[s * (n + 1) * w..(s + 1) * (n + 1) * w];
            for k in 0..=n {
                exp_slice(&mut a[k * w..k * w + paths]);
            }
            let rev = &mut revenue[s * n * w..(s + 1) * n * w];
            for k in 1..=n {
                let (prev, next) = (&a[(k - 1) * w..][..paths], &a[k * w..][..paths]);
                for ((r, x0), x1) in rev[(k - 1) * w..][..paths].iter_mut().zip(prev).zip(next) {
                    *r = half_dt * (x0 + x1);
                }
            }
            // Annual revenue: each path's steps of the year summed in order.
            for y in 0..l.years {
                let at = (rows.own_of[l.annual_revenue(s, y)] - rows.own) * w;
                let out = &mut own[at..at + paths];
                out.copy_from_slice(&rev[y * spy * w..][..paths]);
                for k in y * spy + 1..(y + 1) * spy {
                    for (o, r) in out.iter_mut().zip(&rev[k * w..][..paths]) {
                        *o += r;
                    }
                }
            }
        }
        // Accounting, flow by flow across the chunk's paths.
        let start = self.model.start_year as f64;
        for (f, flow) in self.book.flows.iter().enumerate() {
            let terms = &flow.terms;
            let rev = &revenue[terms.series * n * w..(terms.series + 1) * n * w];
            let cum = &mut cumulative[f * (n + 1) * w..(f + 1) * (n + 1) * w];
            let st = &mut sc.flows[f];
            settle_paths(terms, rev, &self.discount, cum, w, paths, st);
            let at = (rows.own_of[l.flow_npv(f)] - rows.own) * w;
            own[at..at + paths].copy_from_slice(&st.npv[..paths]);
            for y in 0..l.years {
                let at = (rows.own_of[l.flow_annual(f, y)] - rows.own) * w;
                let (hi, lo) = (
                    &cum[(y + 1) * spy * w..][..paths],
                    &cum[y * spy * w..][..paths],
                );
                for ((o, a), b) in own[at..at + paths].iter_mut().zip(hi).zip(lo) {
                    *o = a - b;
                }
            }
            // The year a hit falls in, by its time since the start.
            let year = |elapsed: f64| (elapsed.ceil() as usize).saturating_sub(1).min(l.years - 1);
            let grouped = !t.group_hits.is_empty();
            let replicates = match self.grouping {
                Some(Grouping::Replicates(r)) if grouped => Some(r as usize),
                _ => None,
            };
            for p in 0..paths {
                if let Some(h) = st.hit_time(terms, p) {
                    let elapsed = h - start;
                    let y = year(elapsed);
                    t.hits[f] += 1;
                    t.hits_in_year[f * l.years + y] += 1;
                    t.stats[l.hit_time(f)].add(elapsed);
                    if let Some(r) = replicates {
                        t.group_hits[f * r + p % r] += 1;
                        t.group_hits_in_year[(f * l.years + y) * r + p % r] += 1;
                    }
                }
            }
            if grouped && matches!(self.grouping, Some(Grouping::Pairs)) {
                for p in (0..paths).step_by(2) {
                    let pair = (st.hit_time(terms, p), st.hit_time(terms, p + 1));
                    if let (Some(a), Some(b)) = pair {
                        t.group_hits[f] += 1;
                        t.group_hits_in_year[f * l.years + year(a.max(b) - start)] += 1;
                    }
                }
            }
        }
        // Parties and comparisons, row by row across the paths.
        let own_row = |m: usize| rows.own_of[m] - rows.own;
        self.book.nets_paths(
            &sc.flows,
            paths,
            w,
            &mut sc.positions,
            own,
            |net| match net {
                Net::Party(r, q, m) => own_row(l.party(r, q, m)),
                Net::Comparison(r, q, m) => own_row(l.comparison(r, q, m)),
            },
        );
        // Every metric's row into its accumulator.
        for r in &rows.flush {
            t.stats[r.metric].add_slice(&buf[r.row * w..r.row * w + paths]);
        }
    }

    /// Runs one batch into `t`, and hands its per-path rows to `sink`.
    fn batch(
        &self,
        source: (Source, &Generator),
        b: u64,
        paths: u64,
        (sc, sink): (&mut Scratch, Option<&dyn PathSink>),
        t: &mut Tally,
    ) {
        let (source, generator) = source;
        let mut first = b * BATCH_PATHS;
        let mut left = BATCH_PATHS.min(paths - first) as usize;
        sc.text.clear();
        // Should this batch panic, the sink hears of it (workers waiting
        // for this batch's rows would otherwise wait forever).
        let guard = sink.map(|sink| per_path::Abandon { sink, batch: b });
        while left > 0 {
            let n = left.min(self.chunk);
            let draws = match source {
                Source::Generator => Draws::Paths(generator, first),
                Source::Table(table) => Draws::Table(table),
            };
            self.chunk(draws, n, sc, t);
            if sink.is_some() {
                self.per_path.write_chunk(
                    first,
                    n,
                    (&sc.buf, self.stride),
                    &sc.flows,
                    &self.book,
                    &mut sc.text,
                );
            }
            first += n as u64;
            left -= n;
        }
        t.end_batch();
        if let Some(guard) = guard {
            guard.deliver(&sc.text);
        }
    }

    /// Runs the paths of `opts` with no progress reporting and no way to
    /// cancel (for library users, examples, tests and benches).
    pub fn run_quiet(&self, opts: &RunOptions) -> Result<RunOutput, RunError> {
        let cancel = AtomicBool::new(false);
        self.run(
            opts,
            &Control {
                progress: &|_| {},
                cancel: &cancel,
                per_path: None,
            },
        )
    }

    /// Runs the paths of `opts` (or of its shard).
    pub fn run(&self, opts: &RunOptions, control: &Control) -> Result<RunOutput, RunError> {
        self.run_flushing(opts, control, FLUSH_BATCHES, Source::Generator)
    }

    /// [`Engine::run_quiet`] with every chunk's shock rows copied from
    /// `table` (at least [`Engine::chunk_paths`] normals, best a few
    /// thousand, which stay in L1) instead of drawn: the cost of
    /// everything that is not random numbers, the `rng_free` bench. The
    /// results are not a simulation of the scenario.
    ///
    /// # Panics
    /// If `table` is shorter than [`Engine::chunk_paths`].
    #[doc(hidden)]
    pub fn run_rng_free(&self, opts: &RunOptions, table: &[f64]) -> Result<RunOutput, RunError> {
        assert!(table.len() >= self.chunk, "table shorter than a chunk");
        let cancel = AtomicBool::new(false);
        let control = Control {
            progress: &|_| {},
            cancel: &cancel,
            per_path: None,
        };
        self.run_flushing(opts, &control, FLUSH_BATCHES, Source::Table(table))
    }

    /// Paths simulated together in one chunk.
    #[doc(hidden)]
    pub fn chunk_paths(&self) -> usize {
        self.chunk
    }

    /// [`Engine::run`], with workers handing their tally to the first
    /// every `flush` batches (tests use small values to exercise many
    /// merges in small runs).
    fn run_flushing(
        &self,
        opts: &RunOptions,
        control: &Control,
        flush: u64,
        source: Source,
    ) -> Result<RunOutput, RunError> {
        let started = Instant::now();
        self.scenario
            .simulation
            .sampling
            .check_paths(opts.paths)
            .map_err(RunError::Paths)?;
        let batches = batch_count(opts.paths);
        let (first, end) = shard_batches(batches, opts.shard.0, opts.shard.1);
        // No more workers than batches: a worker without a batch still
        // builds its scratch buffers and tally (--threads 10000 for 2,000
        // paths took 192 s and 1 GB).
        let work = usize::try_from(end - first).unwrap_or(usize::MAX).max(1);
        let threads = if opts.threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            opts.threads
        }
        .min(work);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| RunError::Threads(e.to_string()))?;
        let generator = Generator::new(opts.seed);
        let done = AtomicU64::new(0);
        // One worker per thread claims batches one at a time (one atomic
        // counter, touched once per batch of 1024 paths; batches cost about
        // the same, so this balances the load). Every merge is exact, so
        // which worker ran which batch does not matter.
        //
        // Each worker folds its batches into a tally of its own; nothing is
        // shared in the hot loop but the batch counter, and no worker ever
        // waits for another. The first worker's tally is the run's: every
        // other worker, every `flush` batches and at the end, hands its
        // tally over a channel to the first, which merges it between two
        // of its own batches, clears it (see [`StatAcc::clear`]) and sends
        // it back for reuse; the sender goes on meanwhile in its spare
        // tally (a fresh one if none has come back yet). Memory stays
        // nearly flat in the path count: a worker's windows follow the
        // range of its last few hundred thousand paths, not of the run's
        // rarest extremes, and its counts pass 2^16 only in buckets holding
        // a quarter of its values, so the digit levels above the first
        // (which grow with the path count) exist once, in the run's tally,
        // instead of in every worker's; and no tally has to be merged,
        // grown and copied at the end.
        let next = AtomicU64::new(first);
        // A failed per-path sink stops the run like the cancel flag.
        let sink_failed = || control.per_path.is_some_and(|s| s.error().is_some());
        let claim = || {
            let b = next.fetch_add(1, Ordering::Relaxed);
            (b < end && !control.cancel.load(Ordering::Relaxed) && !sink_failed()).then_some(b)
        };
        let report = |b: u64| {
            let n = BATCH_PATHS.min(opts.paths - b * BATCH_PATHS);
            let total = done.fetch_add(n, Ordering::Relaxed) + n;
            (control.progress)(total);
        };
        let (to_first, handed) = mpsc::channel::<Handover>();
        // The receiving end, taken once by the first worker (the only use
        // of the lock).
        let handed = Mutex::new(Some(handed));
        let tallies = pool.broadcast(|ctx| {
            let mut sc = self.scratch();
            if ctx.index() == 0 {
                let handed = handed
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take()
                    .expect("one first worker");
                let mut t = self.tally_for(opts.seed, opts.exact);
                // Merges a handed-over tally; true if it was its worker's last.
                let merge = |(mut other, last, back): Handover, t: &mut Tally| {
                    t.merge(&other);
                    other.clear();
                    // The worker may have finished: then the tally is dropped.
                    let _ = back.send(other);
                    last
                };
                let mut finished = 1;
                while let Some(b) = claim() {
                    self.batch(
                        (source, &generator),
                        b,
                        opts.paths,
                        (&mut sc, control.per_path),
                        &mut t,
                    );
                    report(b);
                    while let Ok(h) = handed.try_recv() {
                        finished += usize::from(merge(h, &mut t));
                    }
                }
                while finished < ctx.num_threads() {
                    let h = handed.recv().expect("workers send their last tally");
                    finished += usize::from(merge(h, &mut t));
                }
                return Some(t);
            }
            let (back, returned) = mpsc::channel::<Tally>();
            let empty = || self.tally_for(opts.seed, opts.exact);
            let mut last = LastHandover {
                to: to_first.clone(),
                back: Some(back.clone()),
                empty: &empty,
            };
            let mut own = empty();
            let mut batches = 0;
            while let Some(b) = claim() {
                self.batch(
                    (source, &generator),
                    b,
                    opts.paths,
                    (&mut sc, control.per_path),
                    &mut own,
                );
                report(b);
                batches += 1;
                if batches % flush == 0 {
                    let spare = returned.try_recv().unwrap_or_else(|_| empty());
                    let full = std::mem::replace(&mut own, spare);
                    last.to
                        .send((full, false, back.clone()))
                        .expect("the first worker receives until every worker is done");
                }
            }
            last.send(own);
            None
        });
        let mut tally = tallies
            .into_iter()
            .flatten()
            .next()
            .expect("the first worker returns the run's tally");
        tally.canonicalize();
        if control.cancel.load(Ordering::Relaxed) {
            return Err(RunError::Cancelled);
        }
        if let Some(e) = control.per_path.and_then(|s| s.error()) {
            return Err(RunError::PerPath(e));
        }
        Ok(RunOutput {
            tally,
            threads,
            elapsed_seconds: started.elapsed().as_secs_f64(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_every_batch_once() {
        for batches in [0u64, 1, 5, 64, 1000] {
            for count in [1u64, 3, 7, 64] {
                let mut next = 0;
                for i in 0..count {
                    let (a, b) = shard_batches(batches, i, count);
                    assert_eq!(a, next);
                    next = b;
                }
                assert_eq!(next, batches);
            }
        }
    }

    #[test]
    fn long_horizons_record_a_bounded_subset_of_steps() {
        use crate::scenario::parse;
        let text = |spy: u32, end: i32| {
            format!(
                r#"{{ "name": "l", "start_year": 2026, "end_year": {end}, "steps_per_year": {spy},
                  "series": {{ "s": {{ "initial_run_rate": 1, "growth": {{ "initial": 0 }},
                                      "volatility": {{ "initial": 0.1 }} }} }},
                  "baseline": "p",
                  "regimes": {{ "p": [ {{ "name": "f", "payer": "A", "payee": "B", "series": "s",
                    "rate": 0.1, "from_year": 2026, "to_year": {end} }} ] }} }}"#
            )
        };
        let layout = |spy, end| {
            let sc = parse(&text(spy, end), std::path::Path::new("l.json"))
                .unwrap()
                .scenario;
            Engine::new(&sc).layout
        };
        // Monthly over five years: every step.
        let l = layout(12, 2030);
        assert_eq!(l.recorded_steps(), (0..=60).collect::<Vec<_>>().as_slice());
        // Daily over 100 years: every 37th step and the last, at most
        // MAX_STEP_POINTS + 1 points, in consecutive slots.
        let l = layout(365, 2125);
        let steps = 365 * (2125 - 2026 + 1);
        let r = l.recorded_steps();
        assert!(r.len() <= MAX_STEP_POINTS + 1, "{}", r.len());
        assert_eq!(r[0], 0);
        assert_eq!(*r.last().unwrap(), steps);
        assert_eq!(r[1], steps.div_ceil(MAX_STEP_POINTS));
        for (j, &k) in r.iter().enumerate() {
            assert_eq!(l.step_run_rate(0, k), l.step_run_rate(0, 0) + j);
            assert_eq!(l.step_cumulative(0, k), l.step_cumulative(0, 0) + j);
        }
    }

    #[test]
    fn tallies_do_not_depend_on_the_thread_count_or_scheduling() {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/base.json");
        let sc = crate::scenario::load(&file).unwrap().scenario;
        let engine = Engine::new(&sc);
        let run = |threads, exact, flush| {
            let opts = RunOptions {
                paths: 20 * BATCH_PATHS + 77,
                seed: 5,
                threads,
                exact,
                shard: (0, 1),
            };
            let cancel = AtomicBool::new(false);
            let control = Control {
                progress: &|_| {},
                cancel: &cancel,
                per_path: None,
            };
            engine
                .run_flushing(&opts, &control, flush, Source::Generator)
                .unwrap()
                .tally
        };
        for exact in [false, true] {
            let one = run(1, exact, FLUSH_BATCHES);
            // Several multi-threaded runs: batches land on workers in a
            // different order each time; workers other than the first
            // merge their tally into the first's at the end, or every
            // batch or few batches (clearing it each time).
            for _ in 0..3 {
                for flush in [1, 3, FLUSH_BATCHES] {
                    assert!(run(2, exact, flush) == one, "exact = {exact}");
                    assert!(run(3, exact, flush) == one, "exact = {exact}");
                }
            }
        }
    }

    /// A run without the per-step statistics (sweeps, sensitivity analyses)
    /// gives the same summary.json, byte for byte, and leaves exactly the
    /// per-step accumulators empty.
    #[test]
    fn summaries_do_not_depend_on_the_per_step_statistics() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/base.json");
        let sc = crate::scenario::load(&path).unwrap().scenario;
        let opts = RunOptions {
            paths: 3000,
            seed: 7,
            threads: 2,
            exact: false,
            shard: (0, 1),
        };
        let full = Engine::new(&sc);
        let lean = Engine::new(&sc).without_step_statistics();
        assert!(full.records_step_statistics() && !lean.records_step_statistics());
        let a = full.run_quiet(&opts).unwrap().tally;
        let b = lean.run_quiet(&opts).unwrap().tally;
        // Fixed timing fields, so the JSON can be compared whole.
        let json = |e: &Engine, t| {
            crate::summary::Summary::build(e, t, 2, 1.0)
                .unwrap()
                .to_json()
        };
        assert_eq!(json(&full, &a), json(&lean, &b));
        let l = &full.layout;
        let mut step_metrics = 0;
        let hit_times = l.hit_time(0)..l.hit_time(0) + l.flows;
        for m in 0..l.len() {
            if l.is_step_metric(m) {
                step_metrics += 1;
                assert_eq!(a.stats[m].count(), 3000, "per-step metric {m}, full run");
                assert_eq!(b.stats[m].count(), 0, "per-step metric {m}, lean run");
            } else {
                // Every path, or none (a party outside a regime, the baseline's
                // comparisons), or the paths that hit the cap (hit times).
                let n = a.stats[m].count();
                assert!(
                    n == 3000 || n == 0 || hit_times.contains(&m),
                    "metric {m}: {n}"
                );
                assert_eq!(b.stats[m].count(), n, "metric {m}, lean run");
            }
        }
        // The run rates of 2 series and cumulative payments of 3 flows at 61 steps.
        assert_eq!(step_metrics, (2 + 3) * 61);
    }
}
