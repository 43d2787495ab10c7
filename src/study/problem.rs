//! The decision tools' problems stated on a scenario (`calibrate`, `solve`,
//! `sensitivity --method sobol`): targets `KEY=VALUE` on summary figures,
//! free parameters `PATH[=LO:HI]` with their default bounds, variants of a
//! scenario with parameter values set (validated like a file), and the
//! figures that have a closed form. The numerics are in
//! [`crate::study::decide`], which knows nothing of scenarios.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::decide::closed_form::{self, ClosedFormError, Grid, JumpParams, SeriesParams};
use crate::scenario::{self, Scenario, ScenarioError};

/// A target: a summary figure and the value it should take.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetSpec {
    /// The metric key (a dotted summary.json key).
    pub key: String,
    /// The value.
    pub value: f64,
}

/// Parses `KEY=VALUE` (the value a finite number).
pub fn parse_target(spec: &str) -> Result<TargetSpec, String> {
    let (key, value) = spec
        .split_once('=')
        .ok_or_else(|| format!("--target {spec}: expected KEY=VALUE"))?;
    let key = key.trim();
    if key.is_empty() || key.split('.').any(str::is_empty) {
        return Err(format!(
            "--target {spec}: expected a dotted summary key such as \
             series.openai.annual_revenue.2028.mean"
        ));
    }
    let value = number(value).map_err(|e| format!("--target {spec}: {e}"))?;
    Ok(TargetSpec {
        key: key.to_string(),
        value,
    })
}

/// A free parameter: a scenario path and, optionally, its bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct FreeSpec {
    /// Dotted scenario path (flows by name or index).
    pub path: String,
    /// `LO:HI` if given.
    pub bounds: Option<(f64, f64)>,
}

/// Parses `PATH[=LO:HI]`.
pub fn parse_free(spec: &str) -> Result<FreeSpec, String> {
    let (path, bounds) = match spec.split_once('=') {
        Some((p, b)) => (
            p,
            Some(parse_interval(b).map_err(|e| format!("--free {spec}: {e}"))?),
        ),
        None => (spec, None),
    };
    let path = path.trim();
    if path.is_empty() || path.split('.').any(str::is_empty) {
        return Err(format!(
            "--free {spec}: expected PATH[=LO:HI], e.g. series.openai.growth.initial=0.3:1.5"
        ));
    }
    Ok(FreeSpec {
        path: path.to_string(),
        bounds,
    })
}

/// Parses `LO:HI`, two finite numbers with LO < HI.
pub fn parse_interval(spec: &str) -> Result<(f64, f64), String> {
    let (lo, hi) = spec
        .split_once(':')
        .ok_or_else(|| format!("expected LO:HI, got {spec:?}"))?;
    let (lo, hi) = (number(lo)?, number(hi)?);
    if lo >= hi {
        return Err(format!("expected LO < HI, got {lo}:{hi}"));
    }
    Ok((lo, hi))
}

fn number(s: &str) -> Result<f64, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
        .ok_or_else(|| format!("{:?} is not a finite number", s.trim()))
}

/// Fields that are counts, years or settings, not continuous parameters.
const DISCRETE: [&str; 7] = [
    "start_year",
    "end_year",
    "steps_per_year",
    "from_year",
    "to_year",
    "paths",
    "seed",
];

/// The default range of a parameter searched by `solve` or fitted by
/// `calibrate` when none is given, from its path and current value `c`:
///
/// - a flow's `rate`: [0, 1]; a correlation (`growth_correlation`,
///   `correlations.*.rho`): [−1, 1];
/// - a `cap`: [min(1, c/10), 10 c];
/// - a growth rate or jump mean (`growth.initial`, `growth.long_run`,
///   `jumps.mean`): [c − 1, c + 1];
/// - `discount_rate`: [−0.5, 1];
/// - any other positive parameter (run rates, volatilities, speeds,
///   `paid_before_start`, jump rates and sizes, degrees of freedom):
///   [c/10, 10 c];
/// - otherwise (a parameter at 0, or absent): no default, give LO:HI.
///
/// Years, step counts and simulation settings are refused.
pub fn default_bounds(path: &str, current: Option<f64>) -> Result<(f64, f64), String> {
    // 12 significant digits: 0.85 - 1 prints as -0.15, not -0.15000000000000002.
    let round = |x: f64| format!("{x:.11e}").parse::<f64>().unwrap_or(x);
    default_bounds_exact(path, current).map(|(lo, hi)| (round(lo), round(hi)))
}

fn default_bounds_exact(path: &str, current: Option<f64>) -> Result<(f64, f64), String> {
    let parts: Vec<&str> = path.split('.').collect();
    let last = *parts.last().unwrap_or(&"");
    if DISCRETE.contains(&last) || parts.first() == Some(&"simulation") {
        return Err(format!(
            "{path}: years, step counts and simulation settings are not continuous parameters"
        ));
    }
    let fixed = match (parts.first().copied(), last) {
        (Some("regimes"), "rate") => Some((0.0, 1.0)),
        (_, "growth_correlation" | "rho") => Some((-1.0, 1.0)),
        (_, "discount_rate") => Some((-0.5, 1.0)),
        _ => None,
    };
    if let Some(b) = fixed {
        return Ok(b);
    }
    let no_default = || {
        format!(
            "{path}: no default range for a parameter at {}; give one as PATH=LO:HI (--free) or --bracket LO:HI",
            current.map_or("no value".to_string(), |c| c.to_string())
        )
    };
    let c = current.ok_or_else(no_default)?;
    let growth = matches!(
        parts[..],
        [.., "growth", "initial" | "long_run"] | [.., "jumps", "mean"]
    );
    if growth {
        return Ok((c - 1.0, c + 1.0));
    }
    if c > 0.0 {
        let lo = if last == "cap" {
            (c / 10.0).min(1.0)
        } else {
            c / 10.0
        };
        Ok((lo, 10.0 * c))
    } else if c < 0.0 {
        Ok((10.0 * c, c / 10.0))
    } else {
        Err(no_default())
    }
}

/// A validated scenario whose parameters can be set by path: the base of
/// every point a decision tool evaluates.
#[derive(Debug, Clone)]
pub struct Variants {
    /// The scenario's JSON form with every default written out (so that
    /// moving `growth.initial` does not also move a defaulted
    /// `growth.long_run`).
    text: String,
    json: Value,
    origin: PathBuf,
}

impl Variants {
    /// The variants of `sc` (validated); `origin` names it in messages.
    pub fn new(sc: &Scenario, origin: &Path) -> Variants {
        let json = sc.to_json_value();
        Variants {
            text: json.to_string(),
            json,
            origin: origin.to_owned(),
        }
    }

    /// The numeric value at `path`: `Ok(None)` when only the last field is
    /// absent (e.g. the cap of an uncapped flow); an error for a path that
    /// cannot exist or a value that is not a number.
    pub fn current(&self, path: &str) -> Result<Option<f64>, String> {
        match scenario::value_at(&self.json, path)? {
            // An absent field must be one the format knows (an optional
            // one): setting it shows whether the typed stage accepts it.
            None => match self.with(&[path.to_string()], &[0.0]) {
                Err(ScenarioError::Syntax { message, .. }) => Err(format!(
                    "{path}: {}",
                    message.trim_start_matches("after --set: ")
                )),
                _ => Ok(None),
            },
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| format!("{path}: is not a numeric parameter (value {v})")),
        }
    }

    /// The scenario with `values` set at `paths` (in order), validated
    /// like a file.
    pub fn with(&self, paths: &[String], values: &[f64]) -> Result<Scenario, ScenarioError> {
        let overrides: Vec<String> = paths
            .iter()
            .zip(values)
            .map(|(p, v)| format!("{p}={}", json_number(*v)))
            .collect();
        scenario::parse_with_overrides(&self.text, &self.origin, &overrides).map(|l| l.scenario)
    }
}

/// A number as JSON text (non-finite values as a string, so that the
/// typed stage rejects them with the field's path).
fn json_number(v: f64) -> String {
    if v.is_finite() {
        // Rust's shortest round-trip form is valid JSON (no exponent
        // needed, digits only), e.g. 0.1, 38, 1e-7 -> 0.0000001.
        format!("{v}")
    } else {
        format!("\"{v}\"")
    }
}

/// A target figure with a closed form ([`closed_form`]): the mean of a
/// series' revenue in a calendar year or of its run rate at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClosedFormFigure {
    /// `series.S.annual_revenue.YEAR.mean` (or the Stat itself).
    AnnualRevenue {
        /// Series name.
        series: String,
        /// Calendar year.
        year: i32,
    },
    /// `series.S.run_rate_end.mean` (or the Stat itself).
    RunRateEnd {
        /// Series name.
        series: String,
    },
}

impl ClosedFormFigure {
    /// The closed form of a metric key in `sc`, if it has one: a mean of
    /// annual revenue or of the end run rate of a series without
    /// Student-t tails.
    pub fn of(key: &str, sc: &Scenario) -> Option<ClosedFormFigure> {
        let parts: Vec<&str> = key.split('.').collect();
        let figure = match parts[..] {
            ["series", s, "annual_revenue", y] | ["series", s, "annual_revenue", y, "mean"] => {
                ClosedFormFigure::AnnualRevenue {
                    series: s.to_string(),
                    year: y.parse().ok()?,
                }
            }
            ["series", s, "run_rate_end"] | ["series", s, "run_rate_end", "mean"] => {
                ClosedFormFigure::RunRateEnd {
                    series: s.to_string(),
                }
            }
            _ => return None,
        };
        let series = match &figure {
            ClosedFormFigure::AnnualRevenue { series, .. }
            | ClosedFormFigure::RunRateEnd { series } => series,
        };
        let s = sc.series.get(series)?;
        if s.tails.is_some() {
            return None;
        }
        if let ClosedFormFigure::AnnualRevenue { year, .. } = figure {
            if year < sc.start_year || year > sc.end_year {
                return None;
            }
        }
        Some(figure)
    }

    /// The figure's exact value in `sc`.
    pub fn value(&self, sc: &Scenario) -> Result<f64, ClosedFormError> {
        let (name, year) = match self {
            ClosedFormFigure::AnnualRevenue { series, year } => (series, Some(*year)),
            ClosedFormFigure::RunRateEnd { series } => (series, None),
        };
        let (params, grid) = series_params(sc, name).ok_or(ClosedFormError::EmptyGrid)?;
        let m = closed_form::means(&params, &grid)?;
        Ok(match year {
            Some(y) => m
                .annual_revenue
                .iter()
                .find(|(yy, _)| *yy == y)
                .map_or(f64::NAN, |(_, v)| *v),
            None => *m.run_rate.last().expect("a grid has steps"),
        })
    }
}

/// The closed-form parameters of series `name` of `sc`, and the grid.
pub(crate) fn series_params(sc: &Scenario, name: &str) -> Option<(SeriesParams, Grid)> {
    let s = sc.series.get(name)?;
    Some((
        SeriesParams {
            initial_run_rate: s.initial_run_rate,
            growth_initial: s.growth.initial,
            growth_long_run: s.growth.long_run,
            growth_reversion: s.growth.reversion,
            growth_volatility: s.growth.volatility,
            growth_volatility_decay: s.growth.volatility_decay,
            volatility_initial: s.volatility.initial,
            volatility_long_run: s.volatility.long_run,
            volatility_decay: s.volatility.decay,
            growth_correlation: s.growth_correlation,
            jumps: s.jumps.map(|j| JumpParams {
                rate: j.rate,
                mean: j.mean,
                sd: j.sd,
            }),
            tails_dof: s.tails.map(|t| t.dof),
        },
        Grid {
            start_year: sc.start_year,
            end_year: sc.end_year,
            steps_per_year: sc.steps_per_year,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_frees_and_intervals_parse() {
        let t = parse_target("series.openai.annual_revenue.2028.mean=100").unwrap();
        assert_eq!(
            (t.key.as_str(), t.value),
            ("series.openai.annual_revenue.2028.mean", 100.0)
        );
        assert!(parse_target("x.y").unwrap_err().contains("KEY=VALUE"));
        assert!(parse_target("x..y=1").is_err());
        assert!(parse_target("x=abc")
            .unwrap_err()
            .contains("not a finite number"));
        let f = parse_free("series.openai.growth.initial=0.3:1.5").unwrap();
        assert_eq!(f.bounds, Some((0.3, 1.5)));
        assert_eq!(parse_free("a.b").unwrap().bounds, None);
        assert!(parse_free("a.b=2:1").unwrap_err().contains("LO < HI"));
        assert!(parse_free("=1:2").is_err());
        assert_eq!(parse_interval(" -1 : 2.5").unwrap(), (-1.0, 2.5));
    }

    #[test]
    fn default_bounds_follow_the_kind_of_parameter() {
        let b = |p: &str, c: Option<f64>| default_bounds(p, c);
        assert_eq!(
            b("regimes.amended.openai_to_microsoft.cap", Some(38.0)).unwrap(),
            (1.0, 380.0)
        );
        assert_eq!(b("regimes.a.f.rate", Some(0.2)).unwrap(), (0.0, 1.0));
        assert_eq!(b("correlations.0.rho", Some(0.5)).unwrap(), (-1.0, 1.0));
        assert_eq!(
            b("series.s.growth.initial", Some(0.85)).unwrap(),
            (-0.15, 1.85)
        );
        assert_eq!(
            b("series.s.initial_run_rate", Some(20.0)).unwrap(),
            (2.0, 200.0)
        );
        assert!(b("regimes.a.f.cap", None).unwrap_err().contains("LO:HI"));
        assert!(b("series.s.volatility.decay", Some(0.0)).is_err());
        assert!(b("regimes.a.f.to_year", Some(2030.0))
            .unwrap_err()
            .contains("not continuous"));
    }

    const SC: &str = r#"{
      "name": "t", "start_year": 2026, "end_year": 2027, "steps_per_year": 4,
      "series": { "s": { "initial_run_rate": 10, "growth": { "initial": 0.1 },
                         "volatility": { "initial": 0.2 } },
                  "t": { "initial_run_rate": 10, "growth": { "initial": 0.1 },
                         "volatility": { "initial": 0.2 }, "tails": { "dof": 4 } } },
      "baseline": "prior",
      "regimes": { "prior": [ { "name": "f", "payer": "A", "payee": "B", "series": "s",
                                "rate": 0.2, "from_year": 2026, "to_year": 2027 } ] }
    }"#;

    #[test]
    fn variants_set_values_by_path_and_validate() {
        let sc = scenario::parse(SC, Path::new("t.json")).unwrap().scenario;
        let v = Variants::new(&sc, Path::new("t.json"));
        assert_eq!(v.current("regimes.prior.f.rate").unwrap(), Some(0.2));
        assert_eq!(v.current("regimes.prior.f.cap").unwrap(), None);
        assert!(v.current("regimes.prior.g.rate").is_err());
        let e = v.current("series.s.growth.initia").unwrap_err();
        assert!(e.contains("unknown field `initia`"), "{e}");
        let paths = vec![
            "regimes.prior.f.cap".to_string(),
            "series.s.growth.initial".to_string(),
        ];
        let w = v.with(&paths, &[12.5, 0.3]).unwrap();
        assert_eq!(w.regimes["prior"][0].cap, Some(12.5));
        assert_eq!(w.series["s"].growth.initial, 0.3);
        // The defaulted long-run growth stays where validation put it.
        assert_eq!(w.series["s"].growth.long_run, 0.1);
        let e = v.with(&paths[..1], &[-1.0]).unwrap_err().to_string();
        assert!(e.contains("regimes.prior.0.cap"), "{e}");
        assert!(v.with(&paths[..1], &[f64::NAN]).is_err());
    }

    #[test]
    fn closed_forms_of_means_of_series_without_tails() {
        let sc = scenario::parse(SC, Path::new("t.json")).unwrap().scenario;
        let of = |k: &str| ClosedFormFigure::of(k, &sc);
        assert!(of("series.s.annual_revenue.2026.mean").is_some());
        assert!(of("series.s.annual_revenue.2027").is_some());
        assert!(of("series.s.run_rate_end.mean").is_some());
        assert!(of("series.s.annual_revenue.2028.mean").is_none());
        assert!(of("series.s.annual_revenue.2026.p50").is_none());
        assert!(of("series.t.annual_revenue.2026.mean").is_none());
        assert!(of("regimes.prior.flows.f.total.mean").is_none());
        // Constant growth without volatility of growth: E A(t) = A0 e^{mu t}.
        let end = of("series.s.run_rate_end.mean")
            .unwrap()
            .value(&sc)
            .unwrap();
        assert!((end - 10.0 * (0.2f64).exp()).abs() < 1e-9, "{end}");
    }
}
