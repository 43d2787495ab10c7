//! Stage 5 of the pipeline: the one result type, [`Summary`], that every
//! exporter and outside tool reads (`summary.json`, schema_version 1, keys
//! exactly as MODEL.md §6). Built from an [`Engine`]'s merged [`Tally`];
//! computes nothing new, only names and finishes the accumulators.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::{Engine, Tally, COMPARISON_METRICS};
use crate::scenario::{Sampling, Scenario};
use crate::statistics::{group_quantile, replicate_se, wilson95, wilson_effective, Grouping, Stat};

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
    /// How the shocks were sampled (absent for plain Monte Carlo, `mc`).
    #[serde(default, skip_serializing_if = "Sampling::is_mc")]
    pub sampling: Sampling,
    /// Under qmc: the independent scramblings whose spread gives the
    /// errors (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicates: Option<u64>,
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
    /// Wilson 95% confidence interval of `probability` (under antithetic
    /// or qmc sampling, at the effective sample size of the pair or
    /// replicate standard error: see [`probability_ci95`]).
    pub probability_ci95: [f64; 2],
    /// Wilson 95% confidence intervals of `probability_by_year` (as
    /// `probability_ci95`).
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

/// The 95% interval of a probability estimated by `k` of `n` paths.
/// Under mc (`grouping` `None`): Wilson's interval (`statistics::wilson95`).
/// Otherwise the standard error comes from the groups, `groups` holding
/// the tally's counts for this probability (see
/// [`Tally::group_hits`]), and the interval is Wilson's at the effective
/// sample size of that error ([`wilson_effective`]):
/// - pairs: with `b = groups[0]` the pairs on which both paths count, the
///   pair means y (0, 1/2 or 1) of M = n/2 pairs have sum k/2 and sum of
///   squares (k + 2b)/4; z = 1.96; where the effective size is undefined
///   (k = 0 or n), M trials (conservative: the variance of a pair mean
///   is at most that of one path);
/// - replicates: the spread of the replicate proportions, Student's t
///   with R − 1 degrees of freedom; where undefined, n trials.
pub fn probability_ci95(grouping: Option<Grouping>, k: u64, n: u64, groups: &[u64]) -> [f64; 2] {
    let z = group_quantile(grouping);
    let p = k as f64 / n as f64;
    match grouping {
        None => wilson95(k, n),
        Some(Grouping::Pairs) => {
            let m = (n / 2) as f64;
            let both = groups.first().copied().unwrap_or(0) as f64;
            let (sy, syy) = (k as f64 / 2.0, (k as f64 + 2.0 * both) / 4.0);
            let se = if m > 1.0 {
                ((syy - sy * (sy / m)).max(0.0) / (m - 1.0) / m).sqrt()
            } else {
                0.0
            };
            wilson_effective(p, se, z, m)
        }
        Some(Grouping::Replicates(r)) => {
            let per = (n / u64::from(r)) as f64;
            let props: Vec<f64> = groups.iter().map(|&h| h as f64 / per).collect();
            wilson_effective(p, replicate_se(&props), z, n as f64)
        }
    }
}

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
                    let grouping = engine.grouping();
                    let g = match grouping {
                        Some(Grouping::Replicates(r)) => r as usize,
                        Some(Grouping::Pairs) => 1,
                        None => 0,
                    };
                    let mut by_year = BTreeMap::new();
                    let mut by_year_ci = BTreeMap::new();
                    let mut cum = 0;
                    let mut cum_groups = vec![0u64; g];
                    for y in 0..l.years {
                        cum += tally.hits_in_year[f * l.years + y];
                        for (c, h) in cum_groups.iter_mut().zip(
                            tally
                                .group_hits_in_year
                                .get((f * l.years + y) * g..(f * l.years + y + 1) * g)
                                .unwrap_or(&[]),
                        ) {
                            *c += h;
                        }
                        let year = (sc.start_year + y as i32).to_string();
                        by_year.insert(year.clone(), cum as f64 / n);
                        by_year_ci.insert(
                            year,
                            probability_ci95(grouping, cum, tally.paths, &cum_groups),
                        );
                    }
                    let groups = tally.group_hits.get(f * g..(f + 1) * g).unwrap_or(&[]);
                    Some(CapHit {
                        probability: tally.hits[f] as f64 / n,
                        probability_by_year: by_year,
                        // Recorded as years since the start (see Layout::hit_time).
                        time: tally.stats[l.hit_time(f)]
                            .finish()
                            .map(|s| s.offset(sc.start_year as f64)),
                        probability_ci95: probability_ci95(
                            grouping,
                            tally.hits[f],
                            tally.paths,
                            groups,
                        ),
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
        // and the echo's `simulation` must agree with `run` (the sampling
        // is the engine's, which is the scenario's). An empty run
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
                sampling: sc.simulation.sampling,
                replicates: match engine.grouping() {
                    Some(Grouping::Replicates(r)) => Some(u64::from(r)),
                    _ => None,
                },
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
