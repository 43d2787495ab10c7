//! `revshare solve`: the value of one scenario parameter at which a summary
//! figure reaches a target, by Brent's method on common random numbers
//! (`study::decide::solve`), after checking that the bracket holds a sign
//! change and that the figure is monotone on it; the interval of the
//! solved value from the figure's standard error and the local slope (delta
//! method). Writes `solve.json`, the solved scenario and a chart of the
//! figure against the parameter.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::json;

use super::common::{apply_paths_seed, cancel_flag, load_scenario, print_written};
use super::decide::{json_bytes, num, show, target_se, EvalError, Figures};
use super::{coded, failure, invalid, OutputArgs, ScenarioArgs, EXIT_UNMET};
use revshare::export::draw::{
    band_line_chart, BandLineChart, ChartStyle, LineSeries, ReferenceLine, PALETTE,
};
use revshare::export::xlsx::{self, Cell, Sheet};
use revshare::scenario::Scenario;
use revshare::study::decide::solve::{
    root_interval, solve, Root, RootInterval, SolveError, SolveOptions,
};
use revshare::study::decide::Z95;
use revshare::study::metric::{Metric, MetricValue};
use revshare::study::problem::{self, Variants};

/// Options of `revshare solve`.
#[derive(Args, Debug, Clone)]
pub struct SolveArgs {
    /// Scenario file.
    pub scenario: PathBuf,
    /// The scenario path to solve for, e.g. regimes.amended.openai_to_microsoft.cap.
    #[arg(long, value_name = "PATH")]
    pub param: String,
    /// The summary.json figure and the value it should reach, KEY=VALUE, e.g.
    /// regimes.amended.flows.openai_to_microsoft.cap_hit.probability_by_year.2029=0.5.
    #[arg(long, value_name = "KEY=VALUE")]
    pub target: String,
    /// The interval searched, LO:HI (default by the kind of parameter: a
    /// cap [min(1, cap/10), 10 x cap]; see docs/decisions.md).
    #[arg(long, value_name = "LO:HI", allow_hyphen_values = true)]
    pub bracket: Option<String>,
    /// Paths, seed, threads and field overrides.
    #[command(flatten)]
    pub run: ScenarioArgs,
    /// Where and what to write (default folder: out/<name>-solve/).
    #[command(flatten)]
    pub output: OutputArgs,
}

/// One evaluated point.
#[derive(Clone, Copy)]
struct Point {
    x: f64,
    value: f64,
    /// The figure's own standard error.
    se: f64,
    /// The standard error it is judged by (a probability's at the target).
    judge: f64,
    method: &'static str,
}

/// Runs `revshare solve`.
pub fn run(args: &SolveArgs) -> anyhow::Result<()> {
    // 1. Scenario, parameter, bracket and target, all checked first.
    let file_sc = load_scenario(&args.scenario, &args.run.set, None, None, None)?;
    let mut sc = file_sc.clone();
    apply_paths_seed(&mut sc, args.run.paths, args.run.seed, args.run.sampling).map_err(invalid)?;
    let variants = Variants::new(&sc, &args.scenario);
    let target = problem::parse_target(&args.target).map_err(invalid)?;
    let metric = Metric::new(&target.key).map_err(|e| invalid(e.to_string()))?;
    let param = args.param.trim().to_string();
    let current = variants
        .current(&param)
        .map_err(|e| invalid(format!("--param {e}")))?;
    let (lo, hi) = match &args.bracket {
        Some(b) => problem::parse_interval(b).map_err(|e| invalid(format!("--bracket {e}")))?,
        None => {
            problem::default_bounds(&param, current).map_err(|e| invalid(format!("--param {e}")))?
        }
    };
    let paths = vec![param.clone()];
    for end in [lo, hi] {
        variants.with(&paths, &[end]).map_err(|e| {
            invalid(format!(
                "--bracket {lo}:{hi}: the scenario is invalid at {param} = {end}: {e}"
            ))
        })?;
    }
    let mut out = args
        .output
        .open(Path::new("out").join(format!("{}-solve", sc.name)), false)?;
    let dir = out.path().to_owned();

    // 2. A first run inside the bracket: the metric exists, and its
    //    standard error sets the noise the monotonicity check tolerates.
    let cancel = cancel_flag();
    let metrics = [metric.clone()];
    let figures = RefCell::new(Figures {
        variants: &variants,
        paths: &paths,
        metrics: &metrics,
        threads: args.run.threads,
        cancel: &cancel,
        runs: 0,
    });
    let points: RefCell<Vec<Point>> = RefCell::new(Vec::new());
    let eval = |x: f64| -> Result<f64, EvalError> {
        if let Some(p) = points.borrow().iter().find(|p| p.x == x) {
            return Ok(p.value - target.value);
        }
        let (_, values) = figures.borrow_mut().run(&[x], false)?;
        let v = values[0].as_ref();
        let value = v.map_or(f64::NAN, MetricValue::point);
        if let Some(v) = v {
            if matches!(v, MetricValue::Number(_)) || v.se().is_nan() {
                return Err(EvalError::Metric(format!(
                    "--target {}: this figure has no standard error; target a mean, a \
                     probability or a quantile",
                    target.key
                )));
            }
        }
        // The judging se of a probability is the binomial se at the target
        // (see target_se); each point is drawn with its own.
        let se = v.map_or(f64::NAN, MetricValue::se);
        let method = match v {
            Some(MetricValue::Probability { .. }) => "binomial sqrt(p (1 - p) / N) at the target",
            Some(v) => v.se_method(),
            None => "none (the figure is null)",
        };
        points.borrow_mut().push(Point {
            x,
            value,
            se,
            judge: target_se(v, target.value),
            method,
        });
        Ok(value - target.value)
    };
    let first = current
        .filter(|c| (lo..=hi).contains(c))
        .unwrap_or(0.5 * (lo + hi));
    eval(first).map_err(EvalError::into_error)?;
    let se_ref = points.borrow()[0].judge;

    // 3. Brent on the bracket, then the interval.
    let opts = SolveOptions {
        x_tol: 1e-6 * (hi - lo),
        f_tol: 0.05 * se_ref,
        noise: 3.0 * se_ref,
        ..SolveOptions::default()
    };
    let root = solve(eval, lo, hi, &opts).map_err(|e| solve_error(e, &param, &target.key))?;
    let at_root = *points
        .borrow()
        .iter()
        .find(|p| p.x == root.x)
        .expect("the root was evaluated");
    let found = interval(&root, at_root.judge, eval, lo, hi)
        .map_err(|e| solve_error(e, &param, &target.key))?;
    let (interval, slope) = (found.x, found.slope);

    // 4. The solved scenario (the file's paths and seed) and export.
    let solved = {
        let mut v = Variants::new(&file_sc, &args.scenario)
            .with(&paths, &[root.x])
            .map_err(|e| failure(format!("the solved scenario does not validate: {e}")))?
            .to_json_value();
        v["name"] = json!(format!("{}-solved", file_sc.name));
        v["description"] = json!(format!(
            "Solved by revshare solve from {} (scenario {}): {param} = {} (95% interval {} to {}) \
             so that {} = {} (reached {} ± {} se; {} paths, seed {}, common random numbers). {}",
            args.scenario.display(),
            file_sc.name,
            root.x,
            interval.low,
            interval.high,
            target.key,
            target.value,
            show(at_root.value),
            show(at_root.judge),
            sc.simulation.paths,
            sc.simulation.seed,
            file_sc.description
        ));
        Scenario::from_json_value(&v, &args.scenario)
            .map_err(|e| failure(format!("the solved scenario does not validate: {e}")))?
            .scenario
    };
    let runs = figures.borrow().runs;
    let mut evaluated = points.borrow().clone();
    evaluated.sort_by(|a, b| a.x.total_cmp(&b.x));
    evaluated.dedup_by(|a, b| a.x == b.x);
    let summary = json!({
        "param": param,
        "value": num(root.x),
        "interval": [num(interval.low), num(interval.high)],
        "metric": target.key,
        "target": num(target.value),
        "achieved": num(at_root.value),
        "se": num(at_root.judge),
        "se_method": at_root.method,
        "slope": num(slope),
        "bracket": [num(lo), num(hi)],
        "final_bracket": [num(root.bracket.0), num(root.bracket.1)],
        "scenario": sc.name,
        "paths": sc.simulation.paths,
        "seed": sc.simulation.seed,
        "runs": runs,
        "evaluated": evaluated.iter().map(|p| json!({
            "x": num(p.x), "value": num(p.value), "se": num(p.se)
        })).collect::<Vec<_>>(),
    });
    let written = (|| -> anyhow::Result<Vec<PathBuf>> {
        out.write("solve.json", &json_bytes(&summary))?;
        out.write(
            &format!("{}-solved.json", file_sc.name),
            &json_bytes(&solved.to_json_value()),
        )?;
        if args.output.xlsx {
            let bytes = xlsx::workbook_bytes(&solve_sheets(&summary, &evaluated))
                .map_err(|e| anyhow::anyhow!("cannot build solve.xlsx: {e}"))?;
            out.write("solve.xlsx", &bytes)?;
        }
        if !args.output.no_charts {
            let chart = BandLineChart {
                title: format!("Solving {} = {}", metric.display_inline(&sc), target.value),
                x_label: param.clone(),
                y_label: metric.quantity(&sc),
                series: vec![LineSeries {
                    label: "figure at each evaluated value".into(),
                    hue: PALETTE[0],
                    x: evaluated.iter().map(|p| p.x).collect(),
                    center: evaluated.iter().map(|p| p.value).collect(),
                    lower: evaluated.iter().map(|p| p.value - Z95 * p.se).collect(),
                    upper: evaluated.iter().map(|p| p.value + Z95 * p.se).collect(),
                }],
                line_label: "figure at each evaluated value".into(),
                band_label: "± 1.96 se".into(),
                horizontal_lines: vec![ReferenceLine {
                    value: target.value,
                    label: format!("target {}", target.value),
                    hue: None,
                }],
                log_x: false,
                y_limits: None,
            };
            let style = ChartStyle {
                width: args.output.chart_size.width,
                height: args.output.chart_size.height,
                caption: format!(
                    "{}: {} paths per run, common random numbers (seed {}). Solved {param} = {} \
                     (95% interval {} to {}); points: every value the search evaluated.",
                    sc.name,
                    sc.simulation.paths,
                    sc.simulation.seed,
                    show(root.x),
                    show(interval.low),
                    show(interval.high)
                ),
            };
            let r =
                band_line_chart(&chart, &style).map_err(|e| anyhow::anyhow!("chart solve: {e}"))?;
            super::figures::write_pair(&mut out, "solve", &r)?;
        }
        Ok(out.commit()?)
    })();
    let written = written.map_err(|e| failure(format!("{e:#}")))?;
    if !args.output.quiet {
        println!(
            "solve {} ({} paths, seed {}): {} = {} at {param} = {}",
            sc.name,
            sc.simulation.paths,
            sc.simulation.seed,
            target.key,
            target.value,
            show(root.x)
        );
        println!(
            "  95% interval {} to {} (figure {} ± {} se, slope {} per unit); {} runs",
            show(interval.low),
            show(interval.high),
            show(at_root.value),
            show(at_root.judge),
            show(slope),
            runs
        );
        print_written(&dir, &written, "");
    }
    Ok(())
}

/// solve.xlsx: the result (the fields of solve.json) and every evaluated
/// point.
fn solve_sheets(summary: &serde_json::Value, evaluated: &[Point]) -> Vec<Sheet> {
    let field = |k: &str| match &summary[k] {
        serde_json::Value::Number(n) => Cell::Number(n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(s) => Cell::Text(s.clone()),
        serde_json::Value::Array(a) => Cell::Text(
            a.iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(" to "),
        ),
        _ => Cell::Empty,
    };
    let keys = [
        "param",
        "value",
        "interval",
        "metric",
        "target",
        "achieved",
        "se",
        "se_method",
        "slope",
        "bracket",
        "paths",
        "seed",
        "runs",
    ];
    let result = Sheet {
        name: "solve".into(),
        headers: vec!["field".into(), "value".into()],
        rows: keys
            .iter()
            .map(|k| vec![Cell::Text(k.to_string()), field(k)])
            .collect(),
    };
    let points = Sheet {
        name: "evaluated".into(),
        headers: ["x", "figure", "se"]
            .iter()
            .map(|h| h.to_string())
            .collect(),
        rows: evaluated
            .iter()
            .map(|p| vec![Cell::Number(p.x), Cell::Number(p.value), Cell::Number(p.se)])
            .collect(),
    };
    vec![result, points]
}

/// The interval of the root by the delta method, with the difference step
/// chosen from the slope so that the figure moves by a few standard errors
/// across it (a probability moves in steps of single paths): a first step
/// from the secant of the checked points around the root, then once more
/// from the slope found.
fn interval<F>(
    root: &Root,
    se: f64,
    mut f: F,
    lo: f64,
    hi: f64,
) -> Result<RootInterval, SolveError<EvalError>>
where
    F: FnMut(f64) -> Result<f64, EvalError>,
{
    let around = root
        .checked
        .windows(2)
        .find(|w| w[0].0 <= root.x && root.x <= w[1].0)
        .map_or((lo, hi), |w| (w[0].0, w[1].0));
    let secant = {
        let (a, b) = around;
        let (fa, fb) = (
            f(a).map_err(SolveError::Function)?,
            f(b).map_err(SolveError::Function)?,
        );
        ((fb - fa) / (b - a)).abs()
    };
    let floor = 1e-4 * (hi - lo);
    let mut step = if secant > 0.0 {
        (2.0 * Z95 * se / secant).max(floor)
    } else {
        0.05 * (hi - lo)
    };
    let mut result = root_interval(&mut f, root, se, step)?;
    for _ in 0..2 {
        let half = 0.5 * (result.x.high - result.x.low);
        let next = (2.0 * half).max(floor);
        if (next - step).abs() <= 0.25 * step {
            break;
        }
        step = next;
        result = root_interval(&mut f, root, se, step)?;
    }
    Ok(result)
}

/// A failed search as a command error: no root or not monotone is exit
/// code 3, with what was seen.
fn solve_error(e: SolveError<EvalError>, param: &str, key: &str) -> anyhow::Error {
    match e {
        SolveError::Function(e) => e.into_error(),
        SolveError::InvalidBracket { .. } => invalid(format!("--bracket: {e}")),
        SolveError::NoSignChange { lo, hi, f_lo, f_hi } => coded(
            EXIT_UNMET,
            format!(
                "the bracket holds no root: {key} minus its target is {} at {param} = {lo} and {} \
                 at {param} = {hi} (the same sign); widen or move --bracket LO:HI",
                show(f_lo),
                show(f_hi)
            ),
        ),
        SolveError::NotMonotone { ref points } => {
            let seen: Vec<String> = points
                .iter()
                .map(|(x, y)| format!("{param} = {} gives {}", show(*x), show(*y)))
                .collect();
            coded(
                EXIT_UNMET,
                format!(
                    "{key} is not monotone in {param} on the bracket (figure minus target: {}); \
                     narrow --bracket LO:HI to one side of the turning point",
                    seen.join("; ")
                ),
            )
        }
        other => coded(EXIT_UNMET, format!("{param}: {other}")),
    }
}
