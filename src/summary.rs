//! Stage 5 of the pipeline: the one result type, [`Summary`], that every
//! exporter and outside tool reads (`summary.json`, schema_version 1, keys
//! exactly as MODEL.md §6). Built from an [`Engine`]'s merged [`Tally`];
//! computes nothing new, only names and finishes the accumulators.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::{Engine, Tally, COMPARISON_METRICS};
use crate::scenario::Scenario;
use crate::statistics::{wilson95, Stat};

/// The version of the summary.json layout.
pub const SCHEMA_VERSION: u32 = 1;

/// The whole result of a run (MODEL.md §6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The validated scenario with defaults filled in (and the path count
    /// and seed actually used).
    pub scenario: Scenario,
    /// How the run went. `threads`, `elapsed_seconds` and
    /// `paths_per_second` describe the machine, not the result.
    pub run: RunInfo,
    /// Per revenue series.
    pub series: BTreeMap<String, SeriesSummary>,
    /// Per regime.
    pub regimes: BTreeMap<String, RegimeSummary>,
    /// Per non-baseline regime, per party: the change against the baseline.
    pub comparisons: BTreeMap<String, BTreeMap<String, Comparison>>,
}

/// Run metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Paths simulated.
    pub paths: u64,
    /// Seed.
    pub seed: u64,
    /// Worker threads used.
    pub threads: usize,
    /// Time steps per path.
    pub steps: usize,
    /// Wall time of the sampling, seconds.
    pub elapsed_seconds: f64,
    /// Paths per second of wall time.
    pub paths_per_second: f64,
    /// revshare version.
    pub version: String,
    /// With `--precision`: why the run stopped (`precision` or `max_paths`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_by: Option<String>,
    /// With `--precision`: each goal and the half-width reached.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub precision: Vec<PrecisionReached>,
}

/// One `--precision` goal at the end of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrecisionReached {
    /// The figure's summary.json key.
    pub key: String,
    /// The tolerance asked for (a fraction of the estimate when `relative`).
    pub tolerance: f64,
    /// Whether the tolerance is relative.
    pub relative: bool,
    /// The estimate.
    pub estimate: f64,
    /// The 95% half-width reached.
    pub half_width: f64,
    /// Whether the half-width is within the tolerance.
    pub met: bool,
}

/// Statistics of one revenue series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesSummary {
    /// Revenue earned in each calendar year, $B (keys are years).
    pub annual_revenue: BTreeMap<String, Stat>,
    /// Run rate A(n) at the end of the horizon, $B/year.
    pub run_rate_end: Stat,
}

/// Statistics of one regime.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegimeSummary {
    /// Per flow.
    pub flows: BTreeMap<String, FlowSummary>,
    /// Per party of the regime.
    pub parties: BTreeMap<String, PartySummary>,
}

/// Statistics of one flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowSummary {
    /// Payments inside the simulation, $B.
    pub total: Stat,
    /// Their present value at t = 0, $B.
    pub npv: Stat,
    /// Only for capped flows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap_hit: Option<CapHit>,
}

/// When a cap binds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapHit {
    /// Share of paths on which the cap is hit within the horizon.
    pub probability: f64,
    /// P(hit by 31 December of the year), keys are years.
    pub probability_by_year: BTreeMap<String, f64>,
    /// Hit time (decimal calendar year) over the paths that hit; null if none did.
    pub time: Option<Stat>,
    /// Wilson 95% confidence interval of `probability`.
    pub probability_ci95: [f64; 2],
    /// Wilson 95% confidence intervals of `probability_by_year`.
    pub probability_by_year_ci95: BTreeMap<String, [f64; 2]>,
}

/// One party's position in one regime, $B.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartySummary {
    /// Paid as payer.
    pub paid: Stat,
    /// Received as payee.
    pub received: Stat,
    /// received - paid.
    pub net: Stat,
    /// NPV of received - NPV of paid.
    pub net_npv: Stat,
}

/// One party's change against the baseline, computed path by path, $B.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// net(regime) - net(baseline).
    pub delta_net: Stat,
    /// net_npv(regime) - net_npv(baseline).
    pub delta_net_npv: Stat,
}

/// A summary could not be built.
#[derive(Debug, Clone, PartialEq)]
pub struct NonFinite {
    /// The summary key whose value is not finite.
    pub key: String,
}

impl std::fmt::Display for NonFinite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "numerical overflow: {} is not finite (revenue grows beyond the range of \
             floating point numbers; lower growth, volatility or the horizon)",
            self.key
        )
    }
}

impl std::error::Error for NonFinite {}

impl Summary {
    /// Builds the summary of a merged tally.
    pub fn build(
        engine: &Engine,
        tally: &Tally,
        threads: usize,
        elapsed_seconds: f64,
    ) -> Result<Summary, NonFinite> {
        let sc = &engine.scenario;
        let l = &engine.layout;
        let book = &engine.book;
        let stat = |i: usize, key: &dyn Fn() -> String| -> Result<Stat, NonFinite> {
            match tally.stats[i].finish() {
                Some(s) if s.is_finite() => Ok(s),
                _ => Err(NonFinite { key: key() }),
            }
        };
        let mut series = BTreeMap::new();
        for (s, name) in sc.series.keys().enumerate() {
            let mut annual = BTreeMap::new();
            for y in 0..l.years {
                let year = sc.start_year + y as i32;
                annual.insert(
                    year.to_string(),
                    stat(l.annual_revenue(s, y), &|| {
                        format!("series.{name}.annual_revenue.{year}")
                    })?,
                );
            }
            series.insert(
                name.clone(),
                SeriesSummary {
                    annual_revenue: annual,
                    run_rate_end: stat(l.run_rate_end(s), &|| {
                        format!("series.{name}.run_rate_end")
                    })?,
                },
            );
        }
        let mut regimes = BTreeMap::new();
        for (r, rname) in book.regimes.iter().enumerate() {
            let mut flows = BTreeMap::new();
            for (f, flow) in book.flows.iter().enumerate().filter(|(_, f)| f.regime == r) {
                let key = format!("regimes.{rname}.flows.{}", flow.name);
                let cap_hit = if flow.terms.capped() {
                    let n = tally.paths as f64;
                    let mut by_year = BTreeMap::new();
                    let mut by_year_ci = BTreeMap::new();
                    let mut cum = 0;
                    for y in 0..l.years {
                        cum += tally.hits_in_year[f * l.years + y];
                        let year = (sc.start_year + y as i32).to_string();
                        by_year.insert(year.clone(), cum as f64 / n);
                        by_year_ci.insert(year, wilson95(cum, tally.paths));
                    }
                    Some(CapHit {
                        probability: tally.hits[f] as f64 / n,
                        probability_by_year: by_year,
                        // Recorded as years since the start (see Layout::hit_time).
                        time: tally.stats[l.hit_time(f)]
                            .finish()
                            .map(|s| s.offset(sc.start_year as f64)),
                        probability_ci95: wilson95(tally.hits[f], tally.paths),
                        probability_by_year_ci95: by_year_ci,
                    })
                } else {
                    None
                };
                flows.insert(
                    flow.name.clone(),
                    FlowSummary {
                        total: stat(l.flow_total(f), &|| format!("{key}.total"))?,
                        npv: stat(l.flow_npv(f), &|| format!("{key}.npv"))?,
                        cap_hit,
                    },
                );
            }
            let mut parties = BTreeMap::new();
            for &p in &book.regime_parties[r] {
                let pname = &book.parties[p];
                let key = |m: &str| format!("regimes.{rname}.parties.{pname}.{m}");
                parties.insert(
                    pname.clone(),
                    PartySummary {
                        paid: stat(l.party(r, p, 0), &|| key("paid"))?,
                        received: stat(l.party(r, p, 1), &|| key("received"))?,
                        net: stat(l.party(r, p, 2), &|| key("net"))?,
                        net_npv: stat(l.party(r, p, 3), &|| key("net_npv"))?,
                    },
                );
            }
            regimes.insert(rname.clone(), RegimeSummary { flows, parties });
        }
        let mut comparisons = BTreeMap::new();
        for (r, rname) in book.regimes.iter().enumerate() {
            if r == book.baseline {
                continue;
            }
            let mut per_party = BTreeMap::new();
            for &p in &book.compared[r] {
                let pname = &book.parties[p];
                let key =
                    |m: usize| format!("comparisons.{rname}.{pname}.{}", COMPARISON_METRICS[m]);
                per_party.insert(
                    pname.clone(),
                    Comparison {
                        delta_net: stat(l.comparison(r, p, 0), &|| key(0))?,
                        delta_net_npv: stat(l.comparison(r, p, 1), &|| key(1))?,
                    },
                );
            }
            comparisons.insert(rname.clone(), per_party);
        }
        // What ran, not what the scenario file asked for: the run's options
        // may differ from `simulation` (library callers choose their own),
        // and the echo's `simulation` must agree with `run`. An empty run
        // has failed above (its statistics are empty); more than MAX_PATHS
        // paths cannot have run.
        let scenario = sc
            .with_simulation(tally.paths, tally.seed)
            .unwrap_or_else(|e| panic!("the paths and seed that ran validate: {e}"));
        Ok(Summary {
            schema_version: SCHEMA_VERSION,
            run: RunInfo {
                paths: tally.paths,
                seed: tally.seed,
                threads,
                steps: engine.model.steps,
                elapsed_seconds,
                paths_per_second: if elapsed_seconds > 0.0 {
                    tally.paths as f64 / elapsed_seconds
                } else {
                    0.0
                },
                version: env!("CARGO_PKG_VERSION").to_string(),
                stopped_by: None,
                precision: Vec::new(),
            },
            scenario,
            series,
            regimes,
            comparisons,
        })
    }

    /// summary.json bytes: pretty-printed, keys in a fixed order, so the
    /// same result always gives the same bytes.
    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("a summary always serialises");
        v.push(b'\n');
        v
    }
}
