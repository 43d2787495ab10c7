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
//!   no band).
//!
//! Keys are resolved against the summary itself, so any key that exists
//! there works, and an unknown key is reported with the choices at the
//! level where it went wrong.

use std::fmt;

use serde_json::Value;

use crate::scenario::Scenario;
use crate::statistics::Stat;
use crate::summary::Summary;

/// z for a two-sided 90% interval.
const Z90: f64 = 1.644_853_626_951_472_2;

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
}

impl MetricValue {
    /// The point value: the mean of a distribution, the probability, or the number.
    pub fn point(&self) -> f64 {
        match self {
            MetricValue::Stat(s) => s.mean,
            MetricValue::Probability { p, .. } => *p,
            MetricValue::Number(x) => *x,
        }
    }

    /// The 90% band: p5–p95 of a distribution, the Wilson score 90%
    /// interval of a probability, or the number itself.
    pub fn band90(&self) -> (f64, f64) {
        match self {
            MetricValue::Stat(s) => (s.p5, s.p95),
            MetricValue::Probability { p, n } => wilson90(*p, *n),
            MetricValue::Number(x) => (*x, *x),
        }
    }

    /// The standard error of the point value (0 for a plain number).
    pub fn se(&self) -> f64 {
        match self {
            MetricValue::Stat(s) => s.se,
            MetricValue::Probability { p, n } => (p * (1.0 - p) / (*n).max(1) as f64).sqrt(),
            MetricValue::Number(_) => 0.0,
        }
    }
}

/// The Wilson score 90% interval of a binomial proportion `p` from `n` trials.
pub fn wilson90(p: f64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let n = n as f64;
    let z2 = Z90 * Z90;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = Z90 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
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
    pub fn eval_value(&self, root: &Value, paths: u64) -> Result<MetricValue, MetricError> {
        let err = |message: String| MetricError {
            key: self.key.clone(),
            message,
        };
        let parts: Vec<&str> = self.key.split('.').collect();
        let mut cur = root;
        for (i, part) in parts.iter().enumerate() {
            let here = parts[..i].join(".");
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
                } else {
                    Ok(MetricValue::Number(x))
                }
            }
            Value::Object(map) if map.contains_key("mean") && map.contains_key("p95") => {
                serde_json::from_value::<Stat>(cur.clone())
                    .map(MetricValue::Stat)
                    .map_err(|e| err(format!("not a statistic: {e}")))
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
}
