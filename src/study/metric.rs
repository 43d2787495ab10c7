//! Across runs, step 1: one number (or one distribution) of a run's result,
//! named by its key in `summary.json`. Sweeps chart a metric against a
//! parameter; sensitivity analyses rank parameters by how much they move it.
//!
//! A metric key is the dotted path of a value in `summary.json` (MODEL.md
//! §6), e.g.
//!
//! - `regimes.amended.flows.openai_to_microsoft.cap_hit.probability`
//!   (a probability: its band is a binomial 90% interval);
//! - `regimes.amended.flows.openai_to_microsoft.total` (a `Stat`: its point
//!   value is the mean, its band p5–p95);
//! - `comparisons.amended.OpenAI.delta_net` (a `Stat`);
//! - `comparisons.amended.OpenAI.delta_net.p50` (one number of a `Stat`:
//!   its band is the 90% interval of the estimate, ± 1.645 standard
//!   errors; none for `min`, `max` and `se`, which have no standard error).
//!
//! Keys are resolved against the summary itself, so any key that exists
//! there works, and an unknown key is reported with the choices at the
//! level where it went wrong.
//!
//! # Standard errors
//!
//! Every value has a Monte Carlo standard error ([`MetricValue::se`]), which
//! the decision tools use as weights, stopping rules and intervals; how it
//! was found is [`MetricValue::se_method`]:
//!
//! - a mean (a `Stat`, or its `.mean`): `se` of the summary, sd / sqrt(N);
//! - a probability: the binomial sqrt(p (1 − p) / N);
//! - `.sd`: sd / sqrt(2 (N − 1)), exact for normal values (an
//!   approximation otherwise);
//! - a quantile `.pNN`: its distribution-free order-statistic 95% interval
//!   from the run's sketch (the `Stat`'s `quantile_ci95`), half its width
//!   over 1.96; 0 inside an atom (e.g. totals equal to a cap on most
//!   paths);
//! - `min`, `max`, `se` and plain numbers: no standard error (NaN).
//!
//! N is the number of values behind the figure: the paths, or for hit
//! times the paths that hit, recovered as (sd / se)².

use std::fmt;

use serde_json::Value;

use crate::scenario::Scenario;
use crate::statistics::{Stat, QUANTILES};
use crate::summary::Summary;

/// z for a two-sided 90% interval.
const Z90: f64 = 1.644_853_626_951_472_2;
/// z for a two-sided 95% interval.
const Z95: f64 = super::decide::Z95;

/// A metric key that does not name a number in the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricError {
    /// The key as given.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for MetricError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "metric `{}`: {}", self.key, self.message)
    }
}

impl std::error::Error for MetricError {}

/// A metric: a dotted key into `summary.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metric {
    key: String,
}

/// The value of a metric in one run.
// A handful of values live at a time (one per run of a study): the size of
// the `Stat` variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum MetricValue {
    /// A distribution over paths ($B or years).
    Stat(Stat),
    /// A share of paths, with the path count it was estimated from.
    Probability {
        /// The estimate.
        p: f64,
        /// Number of paths.
        n: u64,
    },
    /// A single number.
    Number(f64),
    /// One number of a distribution (`.mean`, `.sd`, `.p50`, …), with its
    /// standard error.
    Field {
        /// The number.
        value: f64,
        /// Its standard error (NaN if it has none, e.g. `min`).
        se: f64,
        /// How the standard error was found (see the module documentation).
        method: &'static str,
    },
}

impl MetricValue {
    /// The point value: the mean of a distribution, the probability, or the number.
    pub fn point(&self) -> f64 {
        match self {
            MetricValue::Stat(s) => s.mean,
            MetricValue::Probability { p, .. } => *p,
            MetricValue::Number(x) | MetricValue::Field { value: x, .. } => *x,
        }
    }

    /// The 90% band: p5–p95 of a distribution, the Wilson score 90%
    /// interval of a probability, the 90% interval (± 1.645 se) of one
    /// number of a distribution that has a standard error, or the number
    /// itself.
    pub fn band90(&self) -> (f64, f64) {
        match self {
            MetricValue::Stat(s) => (s.p5, s.p95),
            MetricValue::Probability { p, n } => wilson90(*p, *n),
            MetricValue::Field { value: x, se, .. } if se.is_finite() => {
                (x - Z90 * se, x + Z90 * se)
            }
            MetricValue::Number(x) | MetricValue::Field { value: x, .. } => (*x, *x),
        }
    }

    /// What [`MetricValue::band90`] is, in words for a legend or a column:
    /// "90% band (p5–p95 of paths)", "90% interval (Wilson)", "90% interval
    /// (± 1.645 se)", or "" when there is no band.
    pub fn band90_label(&self) -> &'static str {
        match self {
            MetricValue::Stat(_) => "90% band (p5–p95 of paths)",
            MetricValue::Probability { .. } => "90% interval (Wilson)",
            MetricValue::Field { se, .. } if se.is_finite() => "90% interval (± 1.645 se)",
            MetricValue::Number(_) | MetricValue::Field { .. } => "",
        }
    }

    /// The standard error of the point value (see the module
    /// documentation): 0 for a plain number, NaN for a figure of a
    /// distribution that has none (`min`, `max`).
    pub fn se(&self) -> f64 {
        match self {
            MetricValue::Stat(s) => s.se,
            MetricValue::Probability { p, n } => (p * (1.0 - p) / (*n).max(1) as f64).sqrt(),
            MetricValue::Number(_) => 0.0,
            MetricValue::Field { se, .. } => *se,
        }
    }

    /// How [`MetricValue::se`] was found, in words.
    pub fn se_method(&self) -> &'static str {
        match self {
            MetricValue::Stat(_) => SE_MEAN,
            MetricValue::Probability { .. } => "binomial sqrt(p (1 - p) / N)",
            MetricValue::Number(_) => "none (a plain number)",
            MetricValue::Field { method, .. } => method,
        }
    }
}

const SE_MEAN: &str = "sd / sqrt(N)";
const SE_ORDER: &str =
    "order-statistic 95% interval from the run's sketch (quantile_ci95), half-width / 1.96";

/// The number of values behind a statistic: (sd / se)², else `paths`.
fn count_of(stat: &Stat, paths: u64) -> f64 {
    if stat.se > 0.0 && stat.sd > 0.0 {
        ((stat.sd / stat.se).powi(2)).round().max(1.0)
    } else {
        paths.max(1) as f64
    }
}

/// A figure `field` of the statistic `stat` with its standard error.
fn stat_field(stat: &Stat, field: &str, value: f64, paths: u64) -> MetricValue {
    let n = count_of(stat, paths);
    let (se, method) = match field {
        "mean" => (stat.se, SE_MEAN),
        "sd" => (
            stat.sd / (2.0 * (n - 1.0)).max(1.0).sqrt(),
            "sd / sqrt(2 (N - 1)), exact for normal values",
        ),
        _ => match quantile_level(field) {
            Some(i) => {
                let [lo, hi] = stat.quantile_ci95.all()[i];
                ((hi - lo) / (2.0 * Z95), SE_ORDER)
            }
            None => (f64::NAN, "none"),
        },
    };
    MetricValue::Field { value, se, method }
}

/// The index in [`QUANTILES`] of a field `pNN`.
fn quantile_level(field: &str) -> Option<usize> {
    let pct: f64 = field.strip_prefix('p')?.parse().ok()?;
    QUANTILES
        .iter()
        .position(|&q| (q * 100.0 - pct).abs() < 1e-9)
}

/// The statistic a JSON object holds, if it is one.
fn as_stat(v: &Value) -> Option<Stat> {
    match v {
        Value::Object(map) if map.contains_key("mean") && map.contains_key("p95") => {
            serde_json::from_value::<Stat>(v.clone()).ok()
        }
        _ => None,
    }
}

/// The Wilson score 90% interval of a binomial proportion `p` from `n` trials.
pub(crate) fn wilson90(p: f64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let [lo, hi] = crate::statistics::wilson(p, n as f64, Z90);
    (lo, hi)
}

impl Metric {
    /// A metric from its key (checked against a summary by [`Metric::eval`]).
    pub fn new(key: &str) -> Result<Metric, MetricError> {
        let key = key.trim();
        if key.is_empty() || key.split('.').any(str::is_empty) {
            return Err(MetricError {
                key: key.to_string(),
                message: "expected a dotted key such as \
                          comparisons.amended.OpenAI.delta_net"
                    .into(),
            });
        }
        Ok(Metric {
            key: key.to_string(),
        })
    }

    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The default metric of a sweep: P(cap binds) of the first capped
    /// flow (regimes in name order, flows in file order); without a cap,
    /// the sensitivity default.
    pub fn default_for_sweep(sc: &Scenario) -> Metric {
        for (r, flows) in &sc.regimes {
            if let Some(f) = flows.iter().find(|f| f.cap.is_some()) {
                return Metric {
                    key: format!("regimes.{r}.flows.{}.cap_hit.probability", f.name),
                };
            }
        }
        Metric::default_for_sensitivity(sc)
    }

    /// The default metric of a sensitivity analysis: the mean gain against
    /// the baseline of [`Metric::focal_party`], `comparisons.<first
    /// non-baseline regime>.<party>.delta_net`; with a single regime, the
    /// total of its first flow.
    pub fn default_for_sensitivity(sc: &Scenario) -> Metric {
        if let Some(r) = sc.regimes.keys().find(|r| **r != sc.baseline) {
            let party = Metric::focal_party(sc, r);
            if !party.is_empty() {
                return Metric {
                    key: format!("comparisons.{r}.{party}.delta_net"),
                };
            }
        }
        let (r, flows) = sc.regimes.iter().next().expect("a scenario has a regime");
        let flow = flows.first().map_or("", |f| f.name.as_str());
        Metric {
            key: format!("regimes.{r}.flows.{flow}.total"),
        }
    }

    /// The party a comparison of `regime` with the baseline is read for by
    /// default: the payer of the first capped flow of `regime` (the party
    /// whose payments the cap limits), else the first party in name order.
    /// Empty if the regimes have no flows.
    pub fn focal_party(sc: &Scenario, regime: &str) -> String {
        let flows = sc.regimes.get(regime).map_or(&[][..], |f| &f[..]);
        if let Some(f) = flows.iter().find(|f| f.cap.is_some()) {
            return f.payer.clone();
        }
        let mut parties: Vec<&String> = flows
            .iter()
            .chain(&sc.regimes[&sc.baseline])
            .flat_map(|f| [&f.payer, &f.payee])
            .collect();
        parties.sort();
        parties.first().map_or(String::new(), |p| p.to_string())
    }

    /// The metric's value in one run.
    pub fn eval(&self, summary: &Summary) -> Result<MetricValue, MetricError> {
        let root = serde_json::to_value(summary).expect("a summary always serialises");
        self.eval_value(&root, summary.run.paths)
    }

    /// The metric's value in a summary already turned into JSON.
    pub(crate) fn eval_value(&self, root: &Value, paths: u64) -> Result<MetricValue, MetricError> {
        let err = |message: String| MetricError {
            key: self.key.clone(),
            message,
        };
        let parts: Vec<&str> = self.key.split('.').collect();
        let mut cur = root;
        let mut parent_value = root;
        for (i, part) in parts.iter().enumerate() {
            let here = parts[..i].join(".");
            parent_value = cur;
            cur = match cur {
                Value::Object(map) => map.get(*part).ok_or_else(|| {
                    let choices: Vec<&str> = map.keys().map(String::as_str).collect();
                    err(format!(
                        "no `{part}` under `{}`; choices: {}",
                        if here.is_empty() { "(top)" } else { &here },
                        choices.join(", ")
                    ))
                })?,
                Value::Null => {
                    return Err(err(format!("`{here}` is null in this run")));
                }
                _ => return Err(err(format!("`{here}` is a number, not an object"))),
            };
        }
        let last = parts.last().copied().unwrap_or("");
        let parent = if parts.len() >= 2 {
            parts[parts.len() - 2]
        } else {
            ""
        };
        match cur {
            Value::Number(n) => {
                let x = n.as_f64().unwrap_or(f64::NAN);
                if last == "probability" || parent == "probability_by_year" {
                    Ok(MetricValue::Probability { p: x, n: paths })
                } else if let Some(stat) = as_stat(parent_value) {
                    Ok(stat_field(&stat, last, x, paths))
                } else {
                    Ok(MetricValue::Number(x))
                }
            }
            Value::Object(_) if as_stat(cur).is_some() => {
                Ok(MetricValue::Stat(as_stat(cur).expect("checked")))
            }
            Value::Null => Err(err(
                "is null in this run (e.g. a cap that is never hit)".into()
            )),
            Value::Object(map) => Err(err(format!(
                "names a group, not a number; go on with one of: {}",
                map.keys().cloned().collect::<Vec<_>>().join(", ")
            ))),
            _ => Err(err("is not a number".into())),
        }
    }

    /// A short label for charts and tables (the key without the leading
    /// `regimes.` / `comparisons.` and `.flows.`).
    pub fn label(&self) -> String {
        self.key
            .replace("regimes.", "")
            .replace(".flows.", " ")
            .replace("comparisons.", "")
            .replace('.', " ")
    }

    /// The metric in words for titles (first letter capitalised), with the
    /// scenario's display names (`labels`) for series, flows, parties and
    /// regimes: "{quantity}: {subject}", e.g. "P(cap reached): OpenAI →
    /// Microsoft revenue share (April 2026 amendment)" or "Median of change
    /// in net position: OpenAI, April 2026 amendment vs prior terms". Keys
    /// of other shapes fall back to [`Metric::label`].
    pub fn display(&self, sc: &Scenario) -> String {
        capitalise(&self.display_inline(sc))
    }

    /// [`Metric::display`] as it reads inside a sentence, without the
    /// capital: "Sensitivity of median of change in net position: …".
    pub fn display_inline(&self, sc: &Scenario) -> String {
        match self.describe(sc) {
            Some((quantity, subject)) => format!("{quantity}: {subject}"),
            None => self.label(),
        }
    }

    /// True when the key names one number of a distribution (`.mean`,
    /// `.p50`, `.sd`, …) rather than the distribution itself.
    pub fn is_stat_field(&self) -> bool {
        self.key
            .rsplit_once('.')
            .is_some_and(|(_, last)| stat_field_words(last).is_some())
    }

    /// The quantity alone, for an axis whose chart's title names the
    /// subject: "P(cap reached)", "Median of change in net position".
    pub fn quantity(&self, sc: &Scenario) -> String {
        match self.describe(sc) {
            Some((quantity, _)) => capitalise(&quantity),
            None => self.label(),
        }
    }

    /// (quantity, subject) in words, or `None` for a key of another shape.
    fn describe(&self, sc: &Scenario) -> Option<(String, String)> {
        let l = &sc.labels;
        let parts: Vec<&str> = self.key.split('.').collect();
        // A trailing field of a Stat: "mean of …", "median of …".
        let (parts, field) = match parts.split_last() {
            Some((last, rest)) if !rest.is_empty() && stat_field_words(last).is_some() => {
                (rest.to_vec(), stat_field_words(last))
            }
            _ => (parts, None),
        };
        let (quantity, subject) = match parts.as_slice() {
            ["regimes", r, "flows", f, what @ ..] => {
                let quantity = match what {
                    ["total"] => "total paid".to_string(),
                    ["npv"] => "NPV of payments".to_string(),
                    ["cap_hit", "probability"] => "P(cap reached)".to_string(),
                    ["cap_hit", "probability_by_year", y] => {
                        format!("P(cap reached by end of {y})")
                    }
                    ["cap_hit", "time"] => "date the cap is reached".to_string(),
                    _ => return None,
                };
                (quantity, format!("{} ({})", l.flow(f), l.regime(r)))
            }
            ["regimes", r, "parties", p, what] => {
                let quantity = match *what {
                    "paid" => "paid",
                    "received" => "received",
                    "net" => "net position",
                    "net_npv" => "net position (NPV)",
                    _ => return None,
                };
                (
                    quantity.to_string(),
                    format!("{} ({})", l.party(p), l.regime(r)),
                )
            }
            ["comparisons", r, p, what] => {
                let quantity = match *what {
                    "delta_net" => "change in net position",
                    "delta_net_npv" => "change in net position (NPV)",
                    _ => return None,
                };
                let subject = format!(
                    "{}, {} vs {}",
                    l.party(p),
                    l.regime(r),
                    l.regime(&sc.baseline)
                );
                (quantity.to_string(), subject)
            }
            ["series", s, "annual_revenue", y] => {
                (format!("revenue in {y}"), l.series(s).to_string())
            }
            ["series", s, "run_rate_end"] => {
                ("run rate at the end".to_string(), l.series(s).to_string())
            }
            _ => return None,
        };
        let quantity = match field {
            Some(words) => format!("{words} of {quantity}"),
            None => quantity,
        };
        Some((quantity, subject))
    }
}

/// `text` with its first letter in upper case.
fn capitalise(text: &str) -> String {
    let mut c = text.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Words for one field of a `Stat` in a metric's display name, or `None`
/// if `field` is not one.
fn stat_field_words(field: &str) -> Option<&'static str> {
    Some(match field {
        "mean" => "mean",
        "sd" => "sd",
        "se" => "standard error",
        "min" => "minimum",
        "max" => "maximum",
        "p1" => "p1",
        "p5" => "p5",
        "p10" => "p10",
        "p25" => "p25",
        "p50" => "median",
        "p75" => "p75",
        "p90" => "p90",
        "p95" => "p95",
        "p99" => "p99",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> Value {
        // A normal(100, 10) sample of N = 10,000: se 0.1, quantiles exact;
        // the median's order-statistic interval 100 ± 1.96 × 0.1253.
        let z = [
            -2.326_348, -1.644_854, -1.281_552, -0.674_490, 0.0, 0.674_490, 1.281_552, 1.644_854,
            2.326_348,
        ];
        let q: Vec<f64> = z.iter().map(|z| 100.0 + 10.0 * z).collect();
        let h = 1.96 * 0.125_331;
        let ci = |x: f64| [x - h, x + h];
        serde_json::json!({ "s": {
            "mean": 100.0, "sd": 10.0, "se": 0.1, "min": 60.0, "max": 140.0,
            "p1": q[0], "p5": q[1], "p10": q[2], "p25": q[3], "p50": q[4],
            "p75": q[5], "p90": q[6], "p95": q[7], "p99": q[8],
            "mean_ci95": [99.804, 100.196],
            "quantile_ci95": {
                "p1": ci(q[0]), "p5": ci(q[1]), "p10": ci(q[2]), "p25": ci(q[3]), "p50": ci(q[4]),
                "p75": ci(q[5]), "p90": ci(q[6]), "p95": ci(q[7]), "p99": ci(q[8])
            }
        }, "probability": 0.2 })
    }

    fn eval(key: &str) -> MetricValue {
        Metric::new(key)
            .unwrap()
            .eval_value(&root(), 10_000)
            .unwrap()
    }

    #[test]
    fn every_figure_has_its_standard_error() {
        assert_eq!(eval("s.mean").se(), 0.1);
        assert_eq!(eval("s.mean").point(), 100.0);
        assert_eq!(eval("s").se(), 0.1);
        assert!((eval("probability").se() - 0.004).abs() < 1e-12);
        let sd = eval("s.sd").se();
        assert!(
            (sd - 10.0 / (2.0f64 * 9_999.0).sqrt()).abs() < 1e-12,
            "{sd}"
        );
        // The median: half the order-statistic interval over 1.96.
        let m = eval("s.p50");
        assert!((m.se() - 0.125_331).abs() < 1e-5, "{}", m.se());
        assert!(m.se_method().starts_with("order-statistic"));
        assert!(eval("s.min").se().is_nan());
    }
}
