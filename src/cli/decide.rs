//! What the decision tools (`calibrate`, `solve`, `sensitivity --method
//! sobol`) share: the summary figures of a scenario variant, run with
//! common random numbers (the scenario's one seed at every point), with
//! their standard errors; the exit codes of their failures; their tables
//! as CSV and workbook sheets.

use std::sync::atomic::AtomicBool;

use super::common::{simulate, RunFailure, Simulate};
use super::{coded, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_INVALID};
use revshare::export::xlsx::{Cell, Sheet};
use revshare::result::RunResult;
use revshare::scenario::Scenario;
use revshare::study::compare::{csv_field, csv_number};
use revshare::study::metric::{Metric, MetricValue};
use revshare::study::problem::Variants;

/// Why a point could not be evaluated.
#[derive(Debug)]
pub(crate) enum EvalError {
    /// The scenario is invalid at the point (the bounds reach past a
    /// field's valid range).
    Invalid(String),
    /// The run failed or was interrupted.
    Run(RunFailure),
    /// A metric key names nothing in the summary.
    Metric(String),
}

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EvalError::Invalid(m) | EvalError::Metric(m) => f.write_str(m),
            EvalError::Run(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for EvalError {}

impl EvalError {
    /// The error as a command error with its exit code.
    pub(crate) fn into_error(self) -> anyhow::Error {
        let code = match &self {
            EvalError::Invalid(_) | EvalError::Metric(_) => EXIT_INVALID,
            EvalError::Run(RunFailure::Cancelled) => EXIT_INTERRUPTED,
            EvalError::Run(RunFailure::Failed(_)) => EXIT_FAILURE,
        };
        coded(code, self.to_string())
    }
}

/// `path=value, …` of one point, for messages.
pub(crate) fn point_text(paths: &[String], x: &[f64]) -> String {
    paths
        .iter()
        .zip(x)
        .map(|(p, v)| format!("{p}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The figures of the variants of one scenario, all on its seed.
pub(crate) struct Figures<'a> {
    /// The base scenario's variants.
    pub variants: &'a Variants,
    /// The parameter paths, in the order of a point's values.
    pub paths: &'a [String],
    /// The figures, in target order.
    pub metrics: &'a [Metric],
    /// Worker threads of each run.
    pub threads: usize,
    /// Raised by Ctrl-C.
    pub cancel: &'a AtomicBool,
    /// Runs so far.
    pub runs: usize,
}

impl Figures<'_> {
    /// The scenario at a point, validated.
    pub fn scenario(&self, x: &[f64]) -> Result<Scenario, EvalError> {
        self.variants.with(self.paths, x).map_err(|e| {
            EvalError::Invalid(format!(
                "the scenario is invalid at {}: {}",
                point_text(self.paths, x),
                e.to_string().replace('\n', " ")
            ))
        })
    }

    /// Runs the scenario at `x` (with the per-step statistics if `steps`)
    /// and evaluates every metric; a metric that is null in this run (a
    /// cap never hit) is `None`.
    pub fn run(
        &mut self,
        x: &[f64],
        steps: bool,
    ) -> Result<(RunResult, Vec<Option<MetricValue>>), EvalError> {
        let sc = self.scenario(x)?;
        let how = Simulate {
            threads: self.threads,
            exact: false,
            progress: &|_| {},
            cancel: self.cancel,
            steps,
            per_path: None,
        };
        self.runs += 1;
        let run = simulate(&sc, &how).map_err(EvalError::Run)?;
        let values = eval_all(self.metrics, &run)?;
        Ok((run, values))
    }

    /// The point values of every metric at `x` (NaN where null).
    pub fn values(&mut self, x: &[f64]) -> Result<Vec<f64>, EvalError> {
        Ok(self
            .run(x, false)?
            .1
            .iter()
            .map(|v| v.as_ref().map_or(f64::NAN, MetricValue::point))
            .collect())
    }
}

/// Every metric in one run; a key that names nothing is an error, one that
/// is null in this run (e.g. the hit time of a cap never hit) is `None`.
pub(crate) fn eval_all(
    metrics: &[Metric],
    run: &RunResult,
) -> Result<Vec<Option<MetricValue>>, EvalError> {
    metrics
        .iter()
        .map(|m| match m.eval(&run.summary) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.message.contains("null in this run") => Ok(None),
            Err(e) => Err(EvalError::Metric(e.to_string())),
        })
        .collect()
}

/// The standard error a target is judged and weighted by: the figure's own
/// (see `study::metric`), for a probability the binomial se at the target
/// value (where the fit or root will be; a probability of 0 or 1 at the
/// start has none), and 1 where the figure has none that is positive.
pub(crate) fn target_se(v: Option<&MetricValue>, target: f64) -> f64 {
    let se = match v {
        Some(MetricValue::Probability { p, n }) => {
            let n = (*n).max(1) as f64;
            let at = if target > 0.0 && target < 1.0 {
                target
            } else {
                *p
            };
            (at * (1.0 - at) / n).sqrt().max(1.0 / n)
        }
        Some(v) => v.se(),
        None => f64::NAN,
    };
    if se.is_finite() && se > 0.0 {
        se
    } else {
        1.0
    }
}

/// A table written both as CSV (numbers in full precision, non-finite
/// values empty) and as a workbook sheet.
pub(crate) fn table_csv(sheet: &Sheet) -> Vec<u8> {
    let mut o = sheet.headers.join(",");
    o.push('\n');
    for row in &sheet.rows {
        let cells: Vec<String> = row
            .iter()
            .map(|c| match c {
                Cell::Int(i) => i.to_string(),
                Cell::Number(x) | Cell::Money(x) | Cell::Probability(x) if x.is_finite() => {
                    csv_number(*x)
                }
                Cell::Text(t) => csv_field(t),
                _ => String::new(),
            })
            .collect();
        o.push_str(&cells.join(","));
        o.push('\n');
    }
    o.into_bytes()
}

/// A JSON number, or null for NaN and infinities.
pub(crate) fn num(x: f64) -> serde_json::Value {
    serde_json::Number::from_f64(x).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// Pretty JSON bytes with a final newline.
pub(crate) fn json_bytes(v: &serde_json::Value) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(v).expect("JSON values serialise");
    b.push(b'\n');
    b
}

/// A figure for text output: 4 significant digits (no exponent).
pub(crate) fn show(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".into();
    }
    if x == 0.0 {
        return "0".into();
    }
    let magnitude = x.abs().log10().floor() as i32;
    let decimals = (3 - magnitude).clamp(0, 9) as usize;
    format!("{x:.decimals$}")
}
