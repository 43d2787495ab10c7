//! Stage 6 of the pipeline: the one result of a run, [`RunResult`], built
//! once from the engine's finished tally. Every writer (summary.json, the
//! CSV tables, the workbook, the charts and the report) reads only this
//! type; none of them sees the engine's private layout of accumulators.
//!
//! What it holds:
//!
//! * [`RunResult::summary`]: the figures of `summary.json` (MODEL.md §6);
//! * [`RunResult::steps`]: per recorded step, each series' run rate and
//!   each flow's cumulative payment (mean and quantiles): `steps.csv` and
//!   the fan charts;
//! * [`RunResult::annual`]: per calendar year, each series' revenue and
//!   each flow's payments (full statistics): `annual.csv`;
//! * [`RunResult::flows`] and [`RunResult::comparisons`]: the per-path
//!   distributions behind the histograms and the cap-hit curves.
//!
//! Later additions (convergence traces, per-path exports) belong here too,
//! as further fields, so that writers keep one source.

use crate::engine::{Engine, Tally};
use crate::scenario::{Flow, Scenario};
use crate::statistics::{BinCounts, Histogram, Stat, StatAcc, QUANTILES};
use crate::summary::{NonFinite, Summary};

/// Quantile levels of every per-step column ([`StepColumn::quantiles`]):
/// 1, 5, 10, 25, 50, 75, 90, 95 and 99%.
pub const STEP_LEVELS: [f64; 9] = QUANTILES;

/// The whole result of one run (or of a merge of shards).
#[derive(Debug, Clone)]
pub struct RunResult {
    /// The figures of `summary.json`, the scenario that ran included.
    pub summary: Summary,
    /// Per-step statistics (empty when the engine skipped them, as sweeps do).
    pub steps: StepTable,
    /// Per-year statistics.
    pub annual: AnnualTable,
    /// Per flow (every regime), in the scenario's order: regimes by name,
    /// flows as listed.
    pub flows: Vec<FlowResult>,
    /// Per non-baseline regime and compared party.
    pub comparisons: Vec<ComparisonResult>,
    /// With `--precision`: the named figures at each check (convergence.csv).
    pub convergence: Vec<crate::engine::precision::Checkpoint>,
}

/// What a per-step column measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepQuantity {
    /// A series' annualised run rate A(k), $B/year.
    RunRate,
    /// A flow's payments made inside the simulation up to step k, $B.
    CumulativePayment,
}

impl StepQuantity {
    /// The name used in `steps.csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            StepQuantity::RunRate => "run_rate",
            StepQuantity::CumulativePayment => "cumulative_payment",
        }
    }

    /// The unit of the values.
    pub fn unit(self) -> &'static str {
        match self {
            StepQuantity::RunRate => "$B/year",
            StepQuantity::CumulativePayment => "$B",
        }
    }
}

/// Statistics of every recorded step.
#[derive(Debug, Clone, Default)]
pub struct StepTable {
    /// The recorded steps k (0..=n: every step when n is at most
    /// [`crate::engine::MAX_STEP_POINTS`], else every stride-th and the last).
    pub steps: Vec<usize>,
    /// Decimal calendar year at the end of each recorded step.
    pub times: Vec<f64>,
    /// One column per series (run rate) and per flow (cumulative payment).
    pub columns: Vec<StepColumn>,
}

/// One quantity over the recorded steps.
#[derive(Debug, Clone)]
pub struct StepColumn {
    /// What is measured.
    pub quantity: StepQuantity,
    /// The regime of a flow; empty for a series.
    pub regime: String,
    /// Series or flow name.
    pub name: String,
    /// Mean at each recorded step.
    pub mean: Vec<f64>,
    /// Quantiles at [`STEP_LEVELS`], one array per recorded step.
    pub quantiles: Vec<[f64; 9]>,
}

impl StepColumn {
    /// The quantile at `level` (one of [`STEP_LEVELS`]) over the recorded
    /// steps. Panics on another level: a programming error.
    pub fn band(&self, level: f64) -> Vec<f64> {
        let i = STEP_LEVELS
            .iter()
            .position(|&l| l == level)
            .expect("a level of STEP_LEVELS");
        self.quantiles.iter().map(|q| q[i]).collect()
    }
}

/// What an annual row measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnualQuantity {
    /// Revenue a series earned in the year, $B.
    Revenue,
    /// Payments of a flow in the year, $B.
    Payment,
}

impl AnnualQuantity {
    /// The name used in `annual.csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            AnnualQuantity::Revenue => "revenue",
            AnnualQuantity::Payment => "payment",
        }
    }
}

/// Statistics per calendar year.
#[derive(Debug, Clone, Default)]
pub struct AnnualTable {
    /// Rows by year, then series (by name), then flows (as in
    /// [`RunResult::flows`]).
    pub rows: Vec<AnnualRow>,
}

/// One quantity in one calendar year.
#[derive(Debug, Clone)]
pub struct AnnualRow {
    /// Calendar year.
    pub year: i32,
    /// What is measured.
    pub quantity: AnnualQuantity,
    /// The regime of a flow; empty for a series.
    pub regime: String,
    /// Series or flow name.
    pub name: String,
    /// Statistics over paths, $B.
    pub stat: Stat,
}

/// The distribution of one per-path value: quantiles at any level and
/// histograms, from the run's mergeable sketch (or the exact values with
/// `--exact`).
#[derive(Debug, Clone)]
pub struct Distribution(StatAcc);

impl Distribution {
    /// Share of the values above zero, with its Wilson 95% interval (NaN
    /// and [0, 1] when it holds no value): e.g. the paths on which a party
    /// gains.
    pub fn share_positive(&self) -> (f64, [f64; 2]) {
        let n = self.count();
        if n == 0 {
            return (f64::NAN, [0.0, 1.0]);
        }
        let b = self.bin_counts(&[f64::MIN_POSITIVE, f64::MAX]);
        let k = b.counts[0] + b.above;
        (k as f64 / n as f64, crate::statistics::wilson95(k, n))
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.0.count()
    }

    /// Smallest and largest value (`(+inf, -inf)` when empty).
    pub fn range(&self) -> (f64, f64) {
        self.0.range()
    }

    /// Quantiles at `levels` (each in [0, 1]).
    pub fn quantiles_at(&self, levels: &[f64]) -> Vec<f64> {
        self.0.quantiles_at(levels)
    }

    /// Values per bin for the strictly increasing `edges`.
    pub fn bin_counts(&self, edges: &[f64]) -> BinCounts {
        self.0.bin_counts(edges)
    }

    /// An equal-width histogram over `[lo, hi]` with at most `max_bins` bins.
    pub fn histogram(&self, lo: f64, hi: f64, max_bins: usize) -> Option<Histogram> {
        self.0.histogram(lo, hi, max_bins)
    }
}

/// One flow of one regime.
#[derive(Debug, Clone)]
pub struct FlowResult {
    /// Regime name.
    pub regime: String,
    /// The flow's terms as in the scenario.
    pub flow: Flow,
    /// Total paid inside the simulation per path, $B.
    pub total: Distribution,
    /// For capped flows: the hit time in years since the start, over the
    /// paths that reached the cap.
    pub hit_time: Distribution,
    /// Paths on which the cap was reached.
    pub hits: u64,
}

/// One party's change of net position under a regime against the baseline.
#[derive(Debug, Clone)]
pub struct ComparisonResult {
    /// The compared regime.
    pub regime: String,
    /// Party name.
    pub party: String,
    /// `delta_net` per path, $B.
    pub delta_net: Distribution,
}

impl RunResult {
    /// Builds the result of `engine`'s merged `tally` (which records the
    /// seed that ran and its path count), sampled on `threads` threads in
    /// `elapsed_seconds`.
    pub fn build(
        engine: &Engine,
        tally: &Tally,
        threads: usize,
        elapsed_seconds: f64,
    ) -> Result<RunResult, NonFinite> {
        let summary = Summary::build(engine, tally, threads, elapsed_seconds)?;
        let l = &engine.layout;
        let sc = &engine.scenario;
        let book = &engine.book;

        let mut steps = StepTable::default();
        if engine.records_step_statistics() {
            steps.steps = l.recorded_steps().to_vec();
            steps.times = steps
                .steps
                .iter()
                .map(|&k| sc.start_year as f64 + engine.model.time(k))
                .collect();
            let column = |quantity, regime: &str, name: &str, index: &dyn Fn(usize) -> usize| {
                let (mean, quantiles) = steps
                    .steps
                    .iter()
                    .map(|&k| {
                        let acc = &tally.stats[index(k)];
                        let q: [f64; 9] = acc
                            .quantiles_at(&STEP_LEVELS)
                            .try_into()
                            .expect("one quantile per level");
                        (acc.mean(), q)
                    })
                    .unzip();
                StepColumn {
                    quantity,
                    regime: regime.to_string(),
                    name: name.to_string(),
                    mean,
                    quantiles,
                }
            };
            for (s, name) in sc.series.keys().enumerate() {
                let col = column(StepQuantity::RunRate, "", name, &|k| l.step_run_rate(s, k));
                steps.columns.push(col);
            }
            for (f, flow) in book.flows.iter().enumerate() {
                let regime = &book.regimes[flow.regime];
                let col = column(StepQuantity::CumulativePayment, regime, &flow.name, &|k| {
                    l.step_cumulative(f, k)
                });
                steps.columns.push(col);
            }
        }

        let mut annual = AnnualTable::default();
        for y in 0..l.years {
            let year = sc.start_year + y as i32;
            for (s, name) in sc.series.keys().enumerate() {
                if let Some(stat) = tally.stats[l.annual_revenue(s, y)].finish() {
                    annual.rows.push(AnnualRow {
                        year,
                        quantity: AnnualQuantity::Revenue,
                        regime: String::new(),
                        name: name.clone(),
                        stat,
                    });
                }
            }
            for (f, flow) in book.flows.iter().enumerate() {
                if let Some(stat) = tally.stats[l.flow_annual(f, y)].finish() {
                    annual.rows.push(AnnualRow {
                        year,
                        quantity: AnnualQuantity::Payment,
                        regime: book.regimes[flow.regime].clone(),
                        name: flow.name.clone(),
                        stat,
                    });
                }
            }
        }

        let flows = book
            .flows
            .iter()
            .enumerate()
            .map(|(f, bf)| {
                let regime = book.regimes[bf.regime].clone();
                let flow = scenario_flow(sc, &regime, &bf.name).clone();
                FlowResult {
                    regime,
                    flow,
                    total: Distribution(tally.stats[l.flow_total(f)].clone()),
                    hit_time: Distribution(tally.stats[l.hit_time(f)].clone()),
                    hits: tally.hits[f],
                }
            })
            .collect();

        let mut comparisons = Vec::new();
        for (r, rname) in book.regimes.iter().enumerate() {
            if r == book.baseline {
                continue;
            }
            for &p in &book.compared[r] {
                comparisons.push(ComparisonResult {
                    regime: rname.clone(),
                    party: book.parties[p].clone(),
                    delta_net: Distribution(tally.stats[l.comparison(r, p, 0)].clone()),
                });
            }
        }
        Ok(RunResult {
            summary,
            steps,
            annual,
            flows,
            comparisons,
            convergence: Vec::new(),
        })
    }

    /// The scenario that ran (validated, with the paths and seed that ran).
    pub fn scenario(&self) -> &Scenario {
        &self.summary.scenario
    }

    /// Paths simulated.
    pub fn paths(&self) -> u64 {
        self.summary.run.paths
    }

    /// The flow `name` of `regime`, if the run has it.
    pub fn flow(&self, regime: &str, name: &str) -> Option<&FlowResult> {
        self.flows
            .iter()
            .find(|f| f.regime == regime && f.flow.name == name)
    }
}

/// The scenario's flow `name` in `regime` (the engine's book is built from
/// the same scenario, so it exists).
fn scenario_flow<'a>(sc: &'a Scenario, regime: &str, name: &str) -> &'a Flow {
    sc.regimes[regime]
        .iter()
        .find(|x| x.name == name)
        .expect("every book flow comes from the scenario")
}
