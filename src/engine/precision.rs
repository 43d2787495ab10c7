//! The stopping rule: run until every named figure's 95% interval is
//! within its tolerance, checking only at fixed path counts.
//!
//! The checks happen at `FIRST_CHECK_BATCHES · 2^k` batches of
//! [`super::BATCH_PATHS`] paths (16,384, 32,768, 65,536, … paths), never
//! in between. Stage k runs exactly the batches `[B/2, B)` of a run of `B`
//! batches (the second of two shards of it), and the tallies are merged: the
//! result at each check is the unsharded run of that many paths, bit for
//! bit. The stopping point, and so the result, is therefore the same on
//! any thread count and shard split.
//!
//! A figure is named as for `--metric` (a summary.json key): a `.mean` or
//! a plain `Stat` uses `mean_ci95`, `.p5` … `.p99` use `quantile_ci95`, and
//! `.probability` and `.probability_by_year.<year>` their Wilson intervals.

use serde::Serialize;
use serde_json::Value;

use super::{Control, Engine, RunError, RunOptions, Tally, BATCH_PATHS};
use crate::summary::{NonFinite, Summary};

/// Batches of the first check (16,384 paths).
pub(crate) const FIRST_CHECK_BATCHES: u64 = 16;

/// One `--precision KEY=TOL`: the 95% half-width of `key` must be at most
/// `tolerance` (absolute), or `tolerance` times the estimate's magnitude
/// (`relative`, written with a `%` suffix).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Goal {
    /// The summary.json key of the figure.
    pub key: String,
    /// The tolerance (a fraction when `relative`).
    pub tolerance: f64,
    /// Whether the tolerance is relative to the estimate.
    pub relative: bool,
}

impl Goal {
    /// Parses `KEY=TOL` or `KEY=TOL%`.
    pub fn parse(s: &str) -> Result<Goal, String> {
        let (key, tol) = s
            .rsplit_once('=')
            .ok_or_else(|| format!("expected KEY=TOL or KEY=TOL%, got {s:?}"))?;
        let (num, relative) = match tol.trim().strip_suffix('%') {
            Some(n) => (n, true),
            None => (tol.trim(), false),
        };
        let v: f64 = num
            .trim()
            .parse()
            .map_err(|_| format!("{s:?}: the tolerance {tol:?} is not a number"))?;
        if !(v.is_finite() && v > 0.0) {
            return Err(format!("{s:?}: the tolerance must be > 0"));
        }
        Ok(Goal {
            key: key.trim().to_string(),
            tolerance: if relative { v / 100.0 } else { v },
            relative,
        })
    }

    /// The largest half-width allowed for an estimate.
    pub fn allowed(&self, estimate: f64) -> f64 {
        if self.relative {
            self.tolerance * estimate.abs()
        } else {
            self.tolerance
        }
    }
}

/// A figure with its 95% interval at one check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figure {
    /// The summary.json key.
    pub key: String,
    /// The estimate.
    pub estimate: f64,
    /// Lower end of the 95% interval.
    pub low: f64,
    /// Upper end of the 95% interval.
    pub high: f64,
}

impl Figure {
    /// Half the interval's width.
    pub fn half_width(&self) -> f64 {
        0.5 * (self.high - self.low)
    }
}

/// The figures at one check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Checkpoint {
    /// Paths simulated so far.
    pub paths: u64,
    /// The named figures.
    pub figures: Vec<Figure>,
}

/// Why a run with goals stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StoppedBy {
    /// Every goal was met.
    Precision,
    /// The path limit was reached first.
    MaxPaths,
}

impl StoppedBy {
    /// The name summary.json gives it in `run.stopped_by`.
    pub fn as_str(self) -> &'static str {
        match self {
            StoppedBy::Precision => "precision",
            StoppedBy::MaxPaths => "max_paths",
        }
    }
}

/// What a run with goals gives back.
#[derive(Debug, Clone)]
pub struct PrecisionRun {
    /// The merged tally (the unsharded run of `tally.paths` paths).
    pub tally: Tally,
    /// Every check, in order.
    pub trace: Vec<Checkpoint>,
    /// Why it stopped.
    pub stopped_by: StoppedBy,
    /// The most threads any stage used.
    pub threads: usize,
    /// Sampling time of all stages, seconds.
    pub elapsed_seconds: f64,
}

/// Why a run with goals failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum PrecisionError {
    /// The engine stopped (cancelled, threads).
    Run(RunError),
    /// A figure was not finite.
    NonFinite(NonFinite),
    /// A goal names no figure with an interval.
    UnknownKey(String),
}

impl std::fmt::Display for PrecisionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PrecisionError::Run(e) => e.fmt(f),
            PrecisionError::NonFinite(e) => e.fmt(f),
            PrecisionError::UnknownKey(k) => write!(
                f,
                "--precision {k}: not a figure with an interval (a Stat or its .mean or .p5…p99, \
                 a cap_hit .probability or .probability_by_year.<year>)"
            ),
        }
    }
}

impl std::error::Error for PrecisionError {}

/// The path counts at which a run with `max_paths` checks its goals: 16,384
/// paths doubled while at most `max_paths` (at least one check).
pub(crate) fn check_points(max_paths: u64) -> Vec<u64> {
    let mut out = vec![FIRST_CHECK_BATCHES * BATCH_PATHS];
    while let Some(next) = out.last().and_then(|p| p.checked_mul(2)) {
        if next > max_paths {
            break;
        }
        out.push(next);
    }
    out
}

/// The 95% interval of `key` in a summary turned into JSON.
pub(crate) fn interval95(root: &Value, key: &str) -> Option<Figure> {
    let parts: Vec<&str> = key.split('.').collect();
    let get = |path: &[&str]| path.iter().try_fold(root, |v, k| v.get(*k));
    let pair =
        |v: &Value| -> Option<(f64, f64)> { Some((v.get(0)?.as_f64()?, v.get(1)?.as_f64()?)) };
    let fig = |estimate: f64, (low, high): (f64, f64)| Figure {
        key: key.to_string(),
        estimate,
        low,
        high,
    };
    let target = get(&parts)?;
    let (last, parent) = parts.split_last()?;
    // A whole Stat: its mean.
    if target.is_object() {
        return Some(fig(
            target.get("mean")?.as_f64()?,
            pair(target.get("mean_ci95")?)?,
        ));
    }
    let estimate = target.as_f64()?;
    let up = get(parent)?;
    if *last == "mean" {
        return Some(fig(estimate, pair(up.get("mean_ci95")?)?));
    }
    if *last == "probability" {
        return Some(fig(estimate, pair(up.get("probability_ci95")?)?));
    }
    if last.starts_with('p') && up.get("quantile_ci95").is_some() {
        return Some(fig(estimate, pair(up.get("quantile_ci95")?.get(*last)?)?));
    }
    let (by_year, grand) = parent.split_last()?;
    if *by_year == "probability_by_year" {
        let g = get(grand)?;
        return Some(fig(
            estimate,
            pair(g.get("probability_by_year_ci95")?.get(*last)?)?,
        ));
    }
    None
}

/// Runs `engine` with `seed` until every goal is met at a check, or
/// `max_paths` is reached (see the module docs). `progress` is told the
/// paths done overall.
pub fn run_until(
    engine: &Engine,
    seed: u64,
    threads: usize,
    goals: &[Goal],
    max_paths: u64,
    control: &Control,
) -> Result<PrecisionRun, PrecisionError> {
    let points = check_points(max_paths);
    let mut tally: Option<Tally> = None;
    let mut trace = Vec::new();
    let (mut used, mut elapsed) = (0usize, 0.0);
    let mut done = 0u64;
    let mut stopped_by = StoppedBy::MaxPaths;
    for (k, &paths) in points.iter().enumerate() {
        // The first stage runs every batch; later ones the second half.
        let opts = RunOptions {
            paths,
            seed,
            threads,
            exact: false,
            shard: if k == 0 { (0, 1) } else { (1, 2) },
        };
        let before = done;
        let progress = |n: u64| (control.progress)(before + n);
        let out = engine
            .run(
                &opts,
                &Control {
                    progress: &progress,
                    cancel: control.cancel,
                    per_path: control.per_path,
                },
            )
            .map_err(PrecisionError::Run)?;
        used = used.max(out.threads);
        elapsed += out.elapsed_seconds;
        let merged = match tally.take() {
            None => out.tally,
            Some(mut t) => {
                t.merge(&out.tally);
                t.canonicalize();
                t
            }
        };
        done = merged.paths;
        let summary =
            Summary::build(engine, &merged, used, elapsed).map_err(PrecisionError::NonFinite)?;
        let root = serde_json::to_value(&summary).expect("a summary always serialises");
        let figures = goals
            .iter()
            .map(|g| {
                interval95(&root, &g.key).ok_or_else(|| PrecisionError::UnknownKey(g.key.clone()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let met = goals
            .iter()
            .zip(&figures)
            .all(|(g, f)| f.half_width() <= g.allowed(f.estimate));
        trace.push(Checkpoint { paths, figures });
        tally = Some(merged);
        if met {
            stopped_by = StoppedBy::Precision;
            break;
        }
    }
    Ok(PrecisionRun {
        tally: tally.expect("at least one check"),
        trace,
        stopped_by,
        threads: used,
        elapsed_seconds: elapsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goals_parse_absolute_and_relative() {
        let g = Goal::parse("a.b.mean=0.5%").unwrap();
        assert_eq!(
            (g.key.as_str(), g.tolerance, g.relative),
            ("a.b.mean", 0.005, true)
        );
        let g = Goal::parse("x.probability=0.001").unwrap();
        assert_eq!((g.tolerance, g.relative), (0.001, false));
        assert!(Goal::parse("x").is_err());
        assert!(Goal::parse("x=0").is_err());
        assert!(Goal::parse("x=abc").is_err());
    }

    #[test]
    fn check_points_double_from_16384() {
        assert_eq!(check_points(100_000), vec![16_384, 32_768, 65_536]);
        assert_eq!(check_points(1), vec![16_384]);
    }
}
