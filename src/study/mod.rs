//! Across runs, step 3: the designs of parameter studies, as lists of
//! `--set PATH=VALUE` overrides applied to a scenario before validation
//! (so every grid point is validated exactly like a file).
//!
//! - A **sweep** is the cartesian grid of the values given for each
//!   parameter ([`Axis`], [`grid`]).
//! - A **sensitivity** analysis moves one parameter at a time down and up
//!   ([`Parameter`]): by a relative spread around its value
//!   ([`parameters`]), or to explicit bounds ([`parameters_from_ranges`]).
//!
//! Both are run with common random numbers: every point uses the same
//! seed, so the same paths are drawn. For contract parameters (rate, cap,
//! paid_before_start, windows, discount rate) and for the parameters that
//! only scale or shift the shocks (run rate, growth and volatility levels,
//! decays, correlations, jump mean and size), the random draws are
//! identical at every point and differences between points carry no
//! sampling noise from the draws themselves. Changing a jump rate from or to
//! 0, or the Student-t degrees of freedom, changes how many draws a path
//! consumes, so those points share the seed but not every draw.

pub mod compare;
pub mod decide;
pub mod metric;
pub mod problem;

use std::collections::BTreeMap;

use serde_json::Value;

use self::decide::sobol::Distribution;
use self::decide::Z95;
use crate::scenario::Scenario;

/// The largest number of grid points of a sweep.
pub(crate) const MAX_GRID_POINTS: usize = 10_000;

/// One swept parameter: a dotted scenario path and its values (as written,
/// parsed as JSON like `--set`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Axis {
    /// Dotted path, e.g. `regimes.amended.0.cap`.
    pub path: String,
    /// Values in sweep order.
    pub values: Vec<String>,
}

/// Parses `--values`: a comma-separated list (`20,38,50`) or a numeric
/// range `START:STOP:STEP` (inclusive of STOP when it falls on the grid,
/// e.g. `20:80:10`).
pub fn parse_values(spec: &str) -> Result<Vec<String>, String> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Err("--values is empty".into());
    }
    let parts: Vec<&str> = spec.split(':').collect();
    if parts.len() == 3 && !spec.contains(',') {
        let num = |s: &str| {
            s.trim()
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| format!("--values {spec}: {s:?} is not a number"))
        };
        let (a, b, step) = (num(parts[0])?, num(parts[1])?, num(parts[2])?);
        if step <= 0.0 || b < a {
            return Err(format!(
                "--values {spec}: expected START:STOP:STEP with STOP >= START and STEP > 0"
            ));
        }
        let n = ((b - a) / step + 1e-9).floor() as usize + 1;
        if n > MAX_GRID_POINTS {
            return Err(format!("--values {spec}: {n} values is too many"));
        }
        // Computed as a + i * step, rounded to 12 significant digits so
        // 0.1 steps print as 0.3, not 0.30000000000000004.
        return Ok((0..n)
            .map(|i| {
                let x = a + i as f64 * step;
                let r: f64 = format!("{x:.12e}").parse().unwrap_or(x);
                format!("{r}")
            })
            .collect());
    }
    let values: Vec<String> = spec.split(',').map(|v| v.trim().to_string()).collect();
    if values.iter().any(String::is_empty) {
        return Err(format!("--values {spec}: empty value in the list"));
    }
    Ok(values)
}

/// The cartesian grid of the axes: every combination of one value per
/// axis, the first axis varying slowest. Each point is a list of
/// `PATH=VALUE` overrides in axis order.
pub fn grid(axes: &[Axis]) -> Result<Vec<Vec<String>>, String> {
    let mut points: Vec<Vec<String>> = vec![Vec::new()];
    for a in axes {
        if a.values.is_empty() {
            return Err(format!("--param {}: no values", a.path));
        }
        let n = points.len().saturating_mul(a.values.len());
        if n > MAX_GRID_POINTS {
            return Err(format!(
                "the grid has more than {MAX_GRID_POINTS} points; sweep fewer values"
            ));
        }
        let mut next = Vec::with_capacity(n);
        for p in &points {
            for v in &a.values {
                let mut q = p.clone();
                q.push(format!("{}={v}", a.path));
                next.push(q);
            }
        }
        points = next;
    }
    Ok(points)
}

/// One parameter of a sensitivity analysis: its path, base value, and the
/// low and high values it is moved to.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    /// Dotted scenario path, e.g. `series.openai.growth.initial`.
    pub path: String,
    /// Value in the scenario (NaN if the path is absent, e.g. a cap on an
    /// uncapped flow set through a ranges file).
    pub base: f64,
    /// Low setting.
    pub low: f64,
    /// High setting.
    pub high: f64,
}

/// Valid range and natural unit of one kind of parameter.
struct Rule {
    lo: f64,
    hi: f64,
    /// Size of a move from 0 is `spread * unit`; `None`: a parameter at 0
    /// is skipped.
    unit: Option<f64>,
}

const fn rule(lo: f64, hi: f64, unit: Option<f64>) -> Rule {
    Rule { lo, hi, unit }
}

const INF: f64 = f64::INFINITY;

/// Moves `base` down and up by `spread` (relative), clamped to the rule's
/// range; `None` if the parameter cannot move.
fn moved(path: &str, base: f64, spread: f64, r: &Rule) -> Option<Parameter> {
    let d = if base != 0.0 {
        base.abs() * spread
    } else {
        r.unit? * spread
    };
    let low = (base - d).clamp(r.lo, r.hi);
    let high = (base + d).clamp(r.lo, r.hi);
    if low == base && high == base {
        return None;
    }
    Some(Parameter {
        path: path.to_string(),
        base,
        low,
        high,
    })
}

/// Every numeric model and contract parameter of a scenario, moved down and
/// up by the relative `spread` (0.2 = ±20% of its value), clamped to its
/// valid range. A parameter at 0 has no relative scale: it moves by
/// `spread` × a natural unit (1 for correlations, jump rates, reversion and
/// decay speeds; 0.1 for growth rates, volatilities, jump mean and size,
/// flow rates and the discount rate; the cap for `paid_before_start`), or
/// is skipped where there is none (a cap of 0, `paid_before_start` of an
/// uncapped flow). Exclusive bounds are kept inside: run rates stay above
/// 0, Student-t degrees of freedom at 2.01 or more, the discount rate above
/// -0.99. Time-grid settings, years and the simulation settings are not
/// parameters.
pub fn parameters(sc: &Scenario, spread: f64) -> Vec<Parameter> {
    let mut out = Vec::new();
    let mut add = |path: String, base: f64, r: Rule| {
        if let Some(p) = moved(&path, base, spread, &r) {
            out.push(p);
        }
    };
    add(
        "discount_rate".into(),
        sc.discount_rate,
        rule(-0.99, INF, Some(0.1)),
    );
    for (name, s) in &sc.series {
        let p = |f: &str| format!("series.{name}.{f}");
        add(
            p("initial_run_rate"),
            s.initial_run_rate,
            rule(1e-9, INF, None),
        );
        add(
            p("growth.initial"),
            s.growth.initial,
            rule(-INF, INF, Some(0.1)),
        );
        add(
            p("growth.long_run"),
            s.growth.long_run,
            rule(-INF, INF, Some(0.1)),
        );
        add(
            p("growth.reversion"),
            s.growth.reversion,
            rule(0.0, INF, Some(1.0)),
        );
        add(
            p("growth.volatility"),
            s.growth.volatility,
            rule(0.0, INF, Some(0.1)),
        );
        add(
            p("growth.volatility_decay"),
            s.growth.volatility_decay,
            rule(0.0, INF, Some(1.0)),
        );
        add(
            p("volatility.initial"),
            s.volatility.initial,
            rule(0.0, INF, Some(0.1)),
        );
        add(
            p("volatility.long_run"),
            s.volatility.long_run,
            rule(0.0, INF, Some(0.1)),
        );
        add(
            p("volatility.decay"),
            s.volatility.decay,
            rule(0.0, INF, Some(1.0)),
        );
        add(
            p("growth_correlation"),
            s.growth_correlation,
            rule(-1.0, 1.0, Some(1.0)),
        );
        if let Some(j) = &s.jumps {
            add(p("jumps.rate"), j.rate, rule(0.0, 1000.0, Some(1.0)));
            add(p("jumps.mean"), j.mean, rule(-INF, INF, Some(0.1)));
            add(p("jumps.sd"), j.sd, rule(0.0, INF, Some(0.1)));
        }
        if let Some(t) = &s.tails {
            add(p("tails.dof"), t.dof, rule(2.01, INF, None));
        }
    }
    for (i, c) in sc.correlations.iter().enumerate() {
        add(
            format!("correlations.{i}.rho"),
            c.rho,
            rule(-1.0, 1.0, Some(1.0)),
        );
    }
    for (r, flows) in &sc.regimes {
        for (i, f) in flows.iter().enumerate() {
            let p = |x: &str| format!("regimes.{r}.{i}.{x}");
            add(p("rate"), f.rate, rule(0.0, 1.0, Some(0.1)));
            if let Some(cap) = f.cap {
                add(p("cap"), cap, rule(0.0, INF, None));
                add(
                    p("paid_before_start"),
                    f.paid_before_start,
                    rule(0.0, INF, Some(cap)),
                );
            }
        }
    }
    out
}

/// One entry of a ranges file: the parameter with the two settings a
/// tornado moves it to, and the distribution a Sobol' analysis draws it
/// from.
#[derive(Debug, Clone, PartialEq)]
pub struct Range {
    /// Path, base value, low and high settings.
    pub param: Parameter,
    /// The distribution of the parameter in a global analysis.
    pub distribution: Distribution,
}

/// The entries of a ranges file, in file order: an object whose keys are
/// scenario paths (flows by name or index) and whose values are
///
/// - `[low, high]`: uniform on [low, high] (the tornado's two settings);
/// - `{"dist": "uniform", "low": L, "high": H}`: the same;
/// - `{"dist": "normal", "mean": M, "sd": S}`: normal; the tornado's
///   settings are M ∓ 1.96 S, the ends of its central 95%;
/// - `{"dist": "triangular", "low": L, "mode": C, "high": H}`: triangular;
///   the tornado's settings are L and H.
///
/// The base value is read from the validated scenario (`sc_json`, the
/// scenario serialised as in summary.json); NaN when only the last field
/// is absent (e.g. the cap of an uncapped flow).
pub fn ranges_from_file(sc_json: &Value, text: &str) -> Result<Vec<Range>, String> {
    // serde_json keeps object order only with preserve_order; read the
    // pairs in file order through a map-as-sequence visitor instead.
    let entries: Vec<(String, Value)> = parse_ordered_pairs(text)?;
    let mut out = Vec::new();
    for (path, spec) in entries {
        let distribution = range_distribution(&spec).map_err(|e| format!("{path}: {e}"))?;
        if let Some(reason) = distribution.invalid() {
            return Err(format!("{path}: {reason}"));
        }
        let base = match crate::scenario::value_at(sc_json, &path)? {
            Some(v) => v.as_f64().ok_or_else(|| {
                format!("{path}: is not a numeric parameter of the scenario (value {v})")
            })?,
            None => f64::NAN,
        };
        let (low, high) = match distribution {
            Distribution::Uniform { lo, hi } | Distribution::Triangular { lo, hi, .. } => (lo, hi),
            Distribution::Normal { mean, sd } => (mean - Z95 * sd, mean + Z95 * sd),
        };
        out.push(Range {
            param: Parameter {
                path,
                base,
                low,
                high,
            },
            distribution,
        });
    }
    if out.is_empty() {
        return Err("the ranges file names no parameter".into());
    }
    Ok(out)
}

/// The parameters of a ranges file (see [`ranges_from_file`]), in file
/// order, with their tornado settings.
pub fn parameters_from_ranges(sc_json: &Value, text: &str) -> Result<Vec<Parameter>, String> {
    Ok(ranges_from_file(sc_json, text)?
        .into_iter()
        .map(|r| r.param)
        .collect())
}

/// The distribution of one entry of a ranges file.
fn range_distribution(spec: &Value) -> Result<Distribution, String> {
    const FORMS: &str =
        "expected [low, high], {\"dist\": \"uniform\", \"low\": .., \"high\": ..}, \
                         {\"dist\": \"normal\", \"mean\": .., \"sd\": ..} or \
                         {\"dist\": \"triangular\", \"low\": .., \"mode\": .., \"high\": ..}";
    match spec {
        Value::Array(items) => {
            let bounds: Vec<f64> = items.iter().filter_map(Value::as_f64).collect();
            if items.len() != 2 || bounds.len() != 2 || bounds.iter().any(|x| !x.is_finite()) {
                return Err(format!(
                    "expected [low, high] with two finite numbers, got {spec}"
                ));
            }
            if bounds[0] == bounds[1] {
                return Err(format!("low and high are equal ({})", bounds[0]));
            }
            Ok(Distribution::Uniform {
                lo: bounds[0].min(bounds[1]),
                hi: bounds[0].max(bounds[1]),
            })
        }
        Value::Object(map) => {
            let dist = map
                .get("dist")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("no \"dist\"; {FORMS}"))?;
            let fields: &[&str] = match dist {
                "uniform" => &["low", "high"],
                "normal" => &["mean", "sd"],
                "triangular" => &["low", "mode", "high"],
                other => return Err(format!("unknown dist \"{other}\"; {FORMS}")),
            };
            if let Some(k) = map
                .keys()
                .find(|k| k.as_str() != "dist" && !fields.contains(&k.as_str()))
            {
                return Err(format!(
                    "unknown field \"{k}\" of a {dist} range (fields: {})",
                    fields.join(", ")
                ));
            }
            let num = |k: &str| {
                map.get(k)
                    .and_then(Value::as_f64)
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| format!("a {dist} range needs a finite number \"{k}\""))
            };
            Ok(match dist {
                "uniform" => Distribution::Uniform {
                    lo: num("low")?,
                    hi: num("high")?,
                },
                "normal" => Distribution::Normal {
                    mean: num("mean")?,
                    sd: num("sd")?,
                },
                _ => Distribution::Triangular {
                    lo: num("low")?,
                    mode: num("mode")?,
                    hi: num("high")?,
                },
            })
        }
        _ => Err(format!("{FORMS}, got {spec}")),
    }
}

fn parse_ordered_pairs(text: &str) -> Result<Vec<(String, Value)>, String> {
    use serde::de::{Deserializer, MapAccess, Visitor};
    struct Pairs;
    impl<'de> Visitor<'de> for Pairs {
        type Value = Vec<(String, Value)>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object {\"PATH\": [low, high], ...}")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut seen = BTreeMap::new();
            let mut out = Vec::new();
            while let Some((k, v)) = map.next_entry::<String, Value>()? {
                if seen.insert(k.clone(), ()).is_some() {
                    return Err(serde::de::Error::custom(format!("duplicate key `{k}`")));
                }
                out.push((k, v));
            }
            Ok(out)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let pairs = (&mut de)
        .deserialize_map(Pairs)
        .map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(pairs)
}

/// One parameter of a one-at-a-time sensitivity analysis, with the
/// metric at its low and high setting.
#[derive(Debug, Clone, PartialEq)]
pub struct Swing {
    /// The parameter and its two settings.
    pub param: Parameter,
    /// The metric with the parameter at its low setting.
    pub metric_low: f64,
    /// The metric with the parameter at its high setting.
    pub metric_high: f64,
    /// max − min of the metric over the base, low and high settings (NaN
    /// if any run gave no value).
    pub swing: f64,
    /// Why a setting has no value (invalid or failed), empty otherwise.
    pub note: String,
}

impl Swing {
    /// A parameter not yet run: both settings at the base value.
    pub fn new(param: Parameter, base_value: f64) -> Swing {
        Swing {
            param,
            metric_low: base_value,
            metric_high: base_value,
            swing: 0.0,
            note: String::new(),
        }
    }
}

/// Computes each parameter's swing around `base_value` and sorts them:
/// largest swing first, ties in parameter order, NaN last.
pub fn rank_swings(base_value: f64, rows: &mut [Swing]) {
    for r in rows.iter_mut() {
        let vals = [base_value, r.metric_low, r.metric_high];
        let max = vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let min = vals.iter().cloned().fold(f64::INFINITY, f64::min);
        r.swing = if vals.iter().all(|v| v.is_finite()) {
            max - min
        } else {
            f64::NAN
        };
        r.note = r.note.trim_end_matches("; ").to_string();
    }
    rows.sort_by(|a, b| match (a.swing.is_nan(), b.swing.is_nan()) {
        (false, false) => b.swing.total_cmp(&a.swing),
        (x, y) => x.cmp(&y),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_lists_and_ranges() {
        assert_eq!(parse_values("20, 38,50").unwrap(), ["20", "38", "50"]);
        assert_eq!(parse_values("20:80:20").unwrap(), ["20", "40", "60", "80"]);
        assert_eq!(parse_values("0.1:0.3:0.1").unwrap(), ["0.1", "0.2", "0.3"]);
        assert!(parse_values("1:0:1").is_err());
        assert!(parse_values("1,,2").is_err());
    }

    #[test]
    fn grid_is_cartesian_first_axis_slowest() {
        let g = grid(&[
            Axis {
                path: "a".into(),
                values: vec!["1".into(), "2".into()],
            },
            Axis {
                path: "b".into(),
                values: vec!["x".into(), "y".into(), "z".into()],
            },
        ])
        .unwrap();
        assert_eq!(g.len(), 6);
        assert_eq!(g[0], ["a=1", "b=x"]);
        assert_eq!(g[5], ["a=2", "b=z"]);
    }

    #[test]
    fn moves_are_clamped_and_zero_uses_the_unit() {
        let r = rule(-1.0, 1.0, Some(1.0));
        let p = moved("rho", 0.9, 0.2, &r).unwrap();
        assert!((p.low - 0.72).abs() < 1e-12 && p.high == 1.0);
        let p = moved("rho", 0.0, 0.2, &r).unwrap();
        assert_eq!((p.low, p.high), (-0.2, 0.2));
        assert!(moved("cap", 0.0, 0.2, &rule(0.0, INF, None)).is_none());
    }

    #[test]
    fn ranges_keep_file_order_and_read_the_base() {
        let sc = serde_json::json!({ "discount_rate": 0.1, "series": { "s": { "x": 2.0 } } });
        let p = parameters_from_ranges(
            &sc,
            r#"{ "series.s.x": [3, 1], "discount_rate": [0.05, 0.15] }"#,
        )
        .unwrap();
        assert_eq!(p[0].path, "series.s.x");
        assert_eq!((p[0].base, p[0].low, p[0].high), (2.0, 1.0, 3.0));
        assert_eq!(p[1].path, "discount_rate");
        assert!(parameters_from_ranges(&sc, r#"{ "discount_rate": [1] }"#).is_err());
        assert!(parameters_from_ranges(&sc, r#"{ "series": [1, 2] }"#).is_err());
    }

    #[test]
    fn ranges_are_distributions_and_flows_have_names() {
        let sc = serde_json::json!({
            "discount_rate": 0.1,
            "regimes": { "r": [ { "name": "f", "rate": 0.2 } ] }
        });
        let r = ranges_from_file(
            &sc,
            r#"{ "regimes.r.f.rate": [0.1, 0.3],
                 "discount_rate": { "dist": "normal", "mean": 0.1, "sd": 0.01 },
                 "regimes.r.0.cap": { "dist": "triangular", "low": 10, "mode": 20, "high": 40 } }"#,
        )
        .unwrap();
        assert_eq!(r[0].param.base, 0.2);
        assert_eq!(
            r[0].distribution,
            Distribution::Uniform { lo: 0.1, hi: 0.3 }
        );
        assert_eq!(
            r[1].distribution,
            Distribution::Normal {
                mean: 0.1,
                sd: 0.01
            }
        );
        assert!((r[1].param.low - (0.1 - Z95 * 0.01)).abs() < 1e-15);
        assert!(r[2].param.base.is_nan());
        assert_eq!((r[2].param.low, r[2].param.high), (10.0, 40.0));
        let e = |text: &str| ranges_from_file(&sc, text).unwrap_err();
        assert!(e(r#"{ "regimes.r.g.rate": [0, 1] }"#).contains("has no flow named `g`"));
        assert!(
            e(r#"{ "discount_rate": { "dist": "normal", "mean": 0, "sd": -1 } }"#)
                .contains("sd > 0")
        );
        assert!(e(r#"{ "discount_rate": { "dist": "beta" } }"#).contains("unknown dist"));
        assert!(
            e(r#"{ "discount_rate": { "dist": "uniform", "low": 0, "hi": 1 } }"#)
                .contains("unknown field \"hi\"")
        );
        assert!(e(r#"{ "discount_rate": [0.1, 0.1] }"#).contains("equal"));
    }
}
