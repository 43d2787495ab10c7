//! `revshare calibrate`: fits free scenario parameters (bounded) so that
//! summary figures meet their targets, by weighted least squares on common
//! random numbers (`study::decide::fit`). Where every target is a mean of
//! a series' annual revenue or end run rate (without Student-t tails), the
//! fit runs on the exact closed-form means (`study::decide::closed_form`)
//! and is then checked by a simulation; otherwise every evaluation is a
//! run at the scenario's one seed. Writes the calibrated scenario,
//! `calibration.json`, `calibration.csv` and charts of the fit; targets
//! that cannot be met are an error (exit code 3), not a silent bad fit.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use serde_json::json;

use super::common::{apply_paths_seed, cancel_flag, load_scenario, print_written};
use super::decide::{json_bytes, num, point_text, show, table_csv, target_se, EvalError, Figures};
use super::{coded, failure, invalid, OutputArgs, ScenarioArgs, EXIT_UNMET};
use revshare::export::charts::{chart_specs, file_part, ChartInput};
use revshare::export::draw::{fan_chart, ChartStyle, ReferencePoint};
use revshare::export::manager::OutputDir;
use revshare::export::xlsx::{self, Cell, Sheet};
use revshare::result::RunResult;
use revshare::scenario::Scenario;
use revshare::study::decide::fit::{self, Fit, FitError, FitOptions, Parameter, Target};
use revshare::study::decide::Z95;
use revshare::study::metric::{Metric, MetricValue};
use revshare::study::problem::{self, ClosedFormFigure, Variants};

/// Options of `revshare calibrate`.
#[derive(Args, Debug, Clone)]
pub struct CalibrateArgs {
    /// Scenario file.
    pub scenario: PathBuf,
    /// A summary.json figure and the value it should take, KEY=VALUE
    /// (repeatable), e.g. series.openai.annual_revenue.2028.mean=100; a
    /// distribution counts by its mean.
    #[arg(long = "target", required = true, value_name = "KEY=VALUE")]
    pub targets: Vec<String>,
    /// A parameter to fit, a scenario path with optional bounds, e.g.
    /// series.openai.growth.initial=0.3:1.5 (repeatable; default bounds in
    /// docs/decisions.md).
    #[arg(long = "free", required = true, value_name = "PATH[=LO:HI]")]
    pub free: Vec<String>,
    /// Fit on simulated figures even where every target has a closed form.
    #[arg(long)]
    pub simulate: bool,
    /// Most evaluations of the figures during the fit (each a run, or a
    /// closed-form computation).
    #[arg(long, default_value_t = 200, value_name = "N")]
    pub max_evaluations: usize,
    /// Paths, seed, threads and field overrides.
    #[command(flatten)]
    pub run: ScenarioArgs,
    /// Where and what to write (default folder: out/<name>-calibrate/;
    /// --xlsx writes calibration.xlsx).
    #[command(flatten)]
    pub output: OutputArgs,
}

/// The problem, checked.
struct Problem {
    targets: Vec<problem::TargetSpec>,
    metrics: Vec<Metric>,
    paths: Vec<String>,
    parameters: Vec<Parameter>,
}

/// Parses and checks the targets and free parameters against the scenario.
fn problem(args: &CalibrateArgs, variants: &Variants) -> anyhow::Result<Problem> {
    let mut targets = Vec::new();
    let mut metrics = Vec::new();
    for t in &args.targets {
        let spec = problem::parse_target(t).map_err(invalid)?;
        if targets
            .iter()
            .any(|x: &problem::TargetSpec| x.key == spec.key)
        {
            return Err(invalid(format!("--target {}: given twice", spec.key)));
        }
        metrics.push(Metric::new(&spec.key).map_err(|e| invalid(e.to_string()))?);
        targets.push(spec);
    }
    let mut paths = Vec::new();
    let mut parameters = Vec::new();
    for f in &args.free {
        let spec = problem::parse_free(f).map_err(invalid)?;
        if paths.contains(&spec.path) {
            return Err(invalid(format!("--free {}: given twice", spec.path)));
        }
        let current = variants
            .current(&spec.path)
            .map_err(|e| invalid(format!("--free {f}: {e}")))?;
        let (lower, upper) = match spec.bounds {
            Some(b) => b,
            None => problem::default_bounds(&spec.path, current)
                .map_err(|e| invalid(format!("--free {f}: {e}")))?,
        };
        let initial = current.map_or(0.5 * (lower + upper), |c| c.clamp(lower, upper));
        paths.push(spec.path.clone());
        parameters.push(Parameter {
            name: spec.path,
            initial,
            lower,
            upper,
        });
    }
    // Each bound must give a valid scenario (the others at their start).
    let start: Vec<f64> = parameters.iter().map(|p| p.initial).collect();
    variants
        .with(&paths, &start)
        .map_err(|e| invalid(format!("at the starting point: {e}")))?;
    for (i, p) in parameters.iter().enumerate() {
        for end in [p.lower, p.upper] {
            let mut x = start.clone();
            x[i] = end;
            variants.with(&paths, &x).map_err(|e| {
                invalid(format!(
                    "--free {}={}:{}: the scenario is invalid at {} = {end}: {e}",
                    p.name, p.lower, p.upper, p.name
                ))
            })?;
        }
    }
    Ok(Problem {
        targets,
        metrics,
        paths,
        parameters,
    })
}

/// One target at the fit, as reported.
struct Reported {
    key: String,
    target: f64,
    fitted: f64,
    se: f64,
    se_method: &'static str,
    exact: Option<f64>,
}

impl Reported {
    fn residual(&self) -> f64 {
        self.fitted - self.target
    }
    fn z(&self) -> f64 {
        self.residual() / self.se
    }
}

/// How the fit was computed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    ClosedForm,
    Simulation,
}

/// Runs `revshare calibrate`.
pub fn run(args: &CalibrateArgs) -> anyhow::Result<()> {
    // 1. The scenario (as in the file, and with --paths/--seed for the
    //    fit), the targets and free parameters, all checked first.
    let file_sc = load_scenario(&args.scenario, &args.run.set, None, None, None)?;
    let mut sc = file_sc.clone();
    apply_paths_seed(&mut sc, args.run.paths, args.run.seed, args.run.sampling).map_err(invalid)?;
    let variants = Variants::new(&sc, &args.scenario);
    let pb = problem(args, &variants)?;
    let closed: Option<Vec<ClosedFormFigure>> = if args.simulate {
        None
    } else {
        pb.targets
            .iter()
            .map(|t| ClosedFormFigure::of(&t.key, &sc))
            .collect()
    };
    let mut out = args.output.open(
        Path::new("out").join(format!("{}-calibrate", sc.name)),
        false,
    )?;
    let dir = out.path().to_owned();

    // 2. The start: every figure and its standard error.
    let cancel = cancel_flag();
    let mut figures = Figures {
        variants: &variants,
        paths: &pb.paths,
        metrics: &pb.metrics,
        threads: args.run.threads,
        cancel: &cancel,
        runs: 0,
    };
    let start: Vec<f64> = pb.parameters.iter().map(|p| p.initial).collect();
    let (_, at_start) = figures.run(&start, false).map_err(EvalError::into_error)?;
    let mut targets = Vec::new();
    for (t, v) in pb.targets.iter().zip(&at_start) {
        if let Some(v) = v {
            if matches!(v, MetricValue::Number(_)) || v.se().is_nan() {
                return Err(invalid(format!(
                    "--target {}: this figure has no standard error; target a mean, \
                     a probability or a quantile",
                    t.key
                )));
            }
        }
        let se = target_se(v.as_ref(), t.value);
        targets.push(Target {
            name: t.key.clone(),
            value: t.value,
            weight: se,
            se,
        });
    }
    // Means are smooth in the parameters under common random numbers;
    // quantiles and probabilities move in steps of single paths, so their
    // derivatives need a wider difference step.
    let smooth = pb
        .targets
        .iter()
        .zip(&at_start)
        .all(|(t, v)| matches!(v, Some(MetricValue::Stat(_))) || t.key.ends_with(".mean"));
    let opts = FitOptions {
        max_evaluations: args.max_evaluations,
        relative_step: if smooth { 1e-4 } else { 1e-2 },
        ..FitOptions::default()
    };

    // 3. The fit: on the closed forms where every target has one (then
    //    checked by simulation), else on runs.
    let mut method = Method::Simulation;
    let mut fitted = match &closed {
        Some(cf) => {
            method = Method::ClosedForm;
            // Exact figures: fit well inside the noise of the check run.
            let opts = FitOptions {
                stop_se: 0.01,
                ..opts
            };
            let eval = |x: &[f64]| -> Result<Vec<f64>, EvalError> {
                let s = figures.scenario(x)?;
                Ok(cf.iter().map(|c| c.value(&s).unwrap_or(f64::NAN)).collect())
            };
            fit::fit(eval, &pb.parameters, &targets, &opts)
        }
        None => fit::fit(
            |x: &[f64]| figures.values(x),
            &pb.parameters,
            &targets,
            &opts,
        ),
    }
    .map_err(|e| fit_error(e, &pb))?;
    let (mut run, mut values) = figures
        .run(&fitted.values(), true)
        .map_err(EvalError::into_error)?;
    let mut reported = report(&pb, &targets, &values, &fitted, &closed, &variants);
    if method == Method::ClosedForm && reported.iter().any(|r| r.z().abs() > opts.unmet_se) {
        // The simulated figures at the exact fit stray past their noise
        // (rare): fit the simulation itself from there.
        method = Method::Simulation;
        let restart: Vec<Parameter> = pb
            .parameters
            .iter()
            .zip(fitted.values())
            .map(|(p, v)| Parameter {
                initial: v,
                ..p.clone()
            })
            .collect();
        fitted = fit::fit(|x: &[f64]| figures.values(x), &restart, &targets, &opts)
            .map_err(|e| fit_error(e, &pb))?;
        (run, values) = figures
            .run(&fitted.values(), true)
            .map_err(EvalError::into_error)?;
        reported = report(&pb, &targets, &values, &fitted, &None, &variants);
    }

    // 4. The calibrated scenario: the file's (its own paths and seed) with
    //    the fitted values, described.
    let calibrated = calibrated_scenario(args, &file_sc, &pb, &fitted, &reported, method, &sc)?;

    // 5. Export.
    let written = (|| -> anyhow::Result<Vec<PathBuf>> {
        let name = format!("{}-calibrated.json", sc.name);
        out.write(&name, &json_bytes(&calibrated.to_json_value()))?;
        let summary = calibration_json(&pb, &fitted, &reported, method, &sc, figures.runs);
        out.write("calibration.json", &json_bytes(&summary))?;
        let sheets = calibration_sheets(&pb, &fitted, &reported);
        let mut csv = table_csv(&sheets[0]);
        csv.extend_from_slice(b"\n");
        csv.extend_from_slice(&table_csv(&sheets[1]));
        out.write("calibration.csv", &csv)?;
        if args.output.xlsx {
            let bytes = xlsx::workbook_bytes(&sheets)
                .map_err(|e| anyhow::anyhow!("cannot build calibration.xlsx: {e}"))?;
            out.write("calibration.xlsx", &bytes)?;
        }
        if !args.output.no_charts {
            fit_charts(&mut out, &run, &reported, &args.output)?;
        }
        Ok(out.commit()?)
    })();
    let written = written.map_err(|e| failure(format!("{e:#}")))?;
    if !args.output.quiet {
        print_fit(&sc, &pb, &fitted, &reported, method, figures.runs);
        print_written(&dir, &written, "");
    }
    Ok(())
}

/// A failed fit as a command error: targets out of reach are exit code 3
/// with the best fit and the parameters at their bounds.
fn fit_error(e: FitError<EvalError>, pb: &Problem) -> anyhow::Error {
    match e {
        FitError::Function(e) => e.into_error(),
        FitError::InvalidProblem { .. } => invalid(e.to_string()),
        FitError::Inconsistent(ref inc) => {
            let best = point_text(&pb.paths, &inc.fit.values());
            coded(
                EXIT_UNMET,
                format!(
                    "{e}\nbest fit in the bounds: {best}\n\
                     no output written; widen the bounds (--free PATH=LO:HI), free more \
                     parameters or revise the targets (a local fit: another start, \
                     via --set, may do better)"
                ),
            )
        }
        FitError::NotConverged(ref fit) => {
            let best = point_text(&pb.paths, &fit.values());
            coded(
                EXIT_UNMET,
                format!("{e}\nbest so far: {best}\nno output written; raise --max-evaluations"),
            )
        }
        other => failure(other.to_string()),
    }
}

/// The targets at the fit: the simulated figures (with their standard
/// errors from the run at the fit) and, for a closed-form fit, the exact
/// values.
fn report(
    pb: &Problem,
    targets: &[Target],
    values: &[Option<MetricValue>],
    fitted: &Fit,
    closed: &Option<Vec<ClosedFormFigure>>,
    variants: &Variants,
) -> Vec<Reported> {
    let at_fit = closed
        .as_ref()
        .and_then(|_| variants.with(&pb.paths, &fitted.values()).ok());
    targets
        .iter()
        .zip(values)
        .enumerate()
        .map(|(i, (t, v))| Reported {
            key: t.name.clone(),
            target: t.value,
            fitted: v.as_ref().map_or(f64::NAN, MetricValue::point),
            se: target_se(v.as_ref(), t.value),
            se_method: match v {
                Some(MetricValue::Probability { .. }) => {
                    "binomial sqrt(p (1 - p) / N) at the target"
                }
                Some(v) => v.se_method(),
                None => "none (the figure is null)",
            },
            exact: match (closed, &at_fit) {
                (Some(cf), Some(s)) => cf[i].value(s).ok(),
                _ => None,
            },
        })
        .collect()
}

fn method_text(m: Method) -> &'static str {
    match m {
        Method::ClosedForm => {
            "closed-form means (exact, MODEL.md section 2), checked by a simulation at the fit"
        }
        Method::Simulation => "simulated figures on common random numbers",
    }
}

fn calibrated_scenario(
    args: &CalibrateArgs,
    file_sc: &Scenario,
    pb: &Problem,
    fitted: &Fit,
    reported: &[Reported],
    method: Method,
    sc: &Scenario,
) -> anyhow::Result<Scenario> {
    let with = Variants::new(file_sc, &args.scenario)
        .with(&pb.paths, &fitted.values())
        .map_err(|e| failure(format!("the calibrated scenario does not validate: {e}")))?;
    let params: Vec<String> = fitted
        .parameters
        .iter()
        .zip(&pb.parameters)
        .map(|(p, s)| format!("{} = {} (was {})", p.name, p.value, s.initial))
        .collect();
    let targets: Vec<String> = reported
        .iter()
        .map(|r| {
            format!(
                "{} = {} (target {}, se {}{})",
                r.key,
                show(r.fitted),
                r.target,
                show(r.se),
                r.exact
                    .map_or(String::new(), |x| format!(", exact mean {}", show(x)))
            )
        })
        .collect();
    let description = format!(
        "Calibrated by revshare calibrate from {} (scenario {}): fitted {} to the targets {}; \
         by weighted least squares on {} ({} paths, seed {}). {}",
        args.scenario.display(),
        file_sc.name,
        params.join(", "),
        targets.join(", "),
        method_text(method),
        sc.simulation.paths,
        sc.simulation.seed,
        file_sc.description
    );
    let mut v = with.to_json_value();
    v["name"] = json!(format!("{}-calibrated", file_sc.name));
    v["description"] = json!(description);
    Scenario::from_json_value(&v, &args.scenario)
        .map(|l| l.scenario)
        .map_err(|e| failure(format!("the calibrated scenario does not validate: {e}")))
}

fn calibration_json(
    pb: &Problem,
    fitted: &Fit,
    reported: &[Reported],
    method: Method,
    sc: &Scenario,
    runs: usize,
) -> serde_json::Value {
    let mut targets = serde_json::Map::new();
    for r in reported {
        let mut t = json!({
            "target": num(r.target),
            "fitted": num(r.fitted),
            "se": num(r.se),
            "residual": num(r.residual()),
            "z": num(r.z()),
            "se_method": r.se_method,
        });
        if let Some(x) = r.exact {
            t["exact"] = num(x);
        }
        targets.insert(r.key.clone(), t);
    }
    let mut parameters = serde_json::Map::new();
    let mut bounds = serde_json::Map::new();
    let mut initial = serde_json::Map::new();
    let mut at_bound = serde_json::Map::new();
    for (p, s) in fitted.parameters.iter().zip(&pb.parameters) {
        parameters.insert(p.name.clone(), num(p.value));
        bounds.insert(p.name.clone(), json!([num(p.lower), num(p.upper)]));
        initial.insert(p.name.clone(), num(s.initial));
        at_bound.insert(
            p.name.clone(),
            p.at_bound
                .map_or(serde_json::Value::Null, |b| json!(b.to_string())),
        );
    }
    json!({
        "scenario": sc.name,
        "paths": sc.simulation.paths,
        "seed": sc.simulation.seed,
        "method": method_text(method),
        "targets": targets,
        "parameters": parameters,
        "initial": initial,
        "bounds": bounds,
        "at_bound": at_bound,
        "cost": num(fitted.cost),
        "stopped": fitted.reason.to_string(),
        "evaluations": fitted.evaluations,
        "iterations": fitted.iterations,
        "runs": runs,
    })
}

/// The targets and the parameters as two sheets (calibration.csv holds
/// both tables, one after the other).
fn calibration_sheets(pb: &Problem, fitted: &Fit, reported: &[Reported]) -> Vec<Sheet> {
    let n = Cell::Number;
    let targets = Sheet {
        name: "targets".into(),
        headers: [
            "target",
            "value",
            "fitted",
            "se",
            "residual",
            "z",
            "exact",
            "se_method",
        ]
        .iter()
        .map(|h| h.to_string())
        .collect(),
        rows: reported
            .iter()
            .map(|r| {
                vec![
                    Cell::Text(r.key.clone()),
                    n(r.target),
                    n(r.fitted),
                    n(r.se),
                    n(r.residual()),
                    n(r.z()),
                    r.exact.map_or(Cell::Empty, n),
                    Cell::Text(r.se_method.to_string()),
                ]
            })
            .collect(),
    };
    let parameters = Sheet {
        name: "parameters".into(),
        headers: [
            "parameter",
            "value",
            "initial",
            "lower",
            "upper",
            "at_bound",
        ]
        .iter()
        .map(|h| h.to_string())
        .collect(),
        rows: fitted
            .parameters
            .iter()
            .zip(&pb.parameters)
            .map(|(p, s)| {
                vec![
                    Cell::Text(p.name.clone()),
                    n(p.value),
                    n(s.initial),
                    n(p.lower),
                    n(p.upper),
                    Cell::Text(p.at_bound.map_or(String::new(), |b| b.to_string())),
                ]
            })
            .collect(),
    };
    vec![targets, parameters]
}

/// Where a target is drawn: the fan chart it belongs on and the x there.
fn placement(key: &str, sc: &Scenario) -> Option<(String, f64)> {
    let parts: Vec<&str> = key.split('.').collect();
    let end = (sc.end_year + 1) as f64;
    match parts[..] {
        ["series", s, "annual_revenue", y, ..] => Some((
            format!("fan_revenue_{}", file_part(s)),
            y.parse::<f64>().ok()? + 0.5,
        )),
        ["series", s, "run_rate_end", ..] => Some((format!("fan_revenue_{}", file_part(s)), end)),
        ["regimes", _, "flows", f, "total", ..] => {
            Some((format!("fan_cumulative_{}", file_part(f)), end))
        }
        _ => None,
    }
}

/// The fan charts of the run at the fit that targets belong on, with the
/// targets drawn as markers: `fit_revenue_<series>` and
/// `fit_cumulative_<flow>` (PNG and SVG).
fn fit_charts(
    out: &mut OutputDir,
    run: &RunResult,
    reported: &[Reported],
    output: &OutputArgs,
) -> anyhow::Result<()> {
    let sc = run.scenario();
    for spec in chart_specs(run, &Default::default()) {
        let ChartInput::Fan(mut fan) = spec.input else {
            continue;
        };
        let points: Vec<ReferencePoint> = reported
            .iter()
            .filter_map(|r| {
                let (chart, x) = placement(&r.key, sc)?;
                (chart == spec.name).then(|| ReferencePoint {
                    x,
                    y: r.target,
                    label: format!(
                        "{}: target {}, fitted {} ± {}",
                        r.key
                            .split('.')
                            .skip(2)
                            .collect::<Vec<_>>()
                            .join(" ")
                            .replace('_', " "),
                        r.target,
                        show(r.fitted),
                        show(Z95 * r.se)
                    ),
                })
            })
            .collect();
        if points.is_empty() {
            continue;
        }
        fan.reference_points = points;
        fan.title = format!("Calibrated: {}", fan.title);
        let caption = format!(
            "{}\nMarkers: the calibration targets (annual figures at mid-year, end-of-horizon \
             figures at the end), with the fitted figure ± 1.96 se.",
            // The scenario's own reference points are replaced by the targets.
            spec.caption
                .replace(revshare::export::charts::REFERENCE_POINTS_NOTE, "")
        );
        let style = ChartStyle {
            width: output.chart_size.width,
            height: output.chart_size.height,
            caption,
        };
        let r = fan_chart(&fan, &style).with_context(|| format!("chart {}", spec.name))?;
        let stem = spec.name.replacen("fan_", "fit_", 1);
        super::figures::write_pair(out, &stem, &r)?;
    }
    Ok(())
}

fn print_fit(
    sc: &Scenario,
    pb: &Problem,
    fitted: &Fit,
    reported: &[Reported],
    method: Method,
    runs: usize,
) {
    println!(
        "calibration of {} ({} paths, seed {}): {}; {} evaluations, {} runs; stopped: {}",
        sc.name,
        sc.simulation.paths,
        sc.simulation.seed,
        method_text(method),
        fitted.evaluations,
        runs,
        fitted.reason
    );
    println!(
        "{:<56} {:>12} {:>12} {:>10} {:>8}",
        "target", "value", "fitted", "se", "z"
    );
    for r in reported {
        println!(
            "{:<56} {:>12} {:>12} {:>10} {:>+8.2}",
            r.key,
            show(r.target),
            show(r.fitted),
            show(r.se),
            r.z()
        );
    }
    println!(
        "{:<56} {:>12} {:>12} {:>25}",
        "parameter", "fitted", "initial", "bounds"
    );
    for (p, s) in fitted.parameters.iter().zip(&pb.parameters) {
        println!(
            "{:<56} {:>12} {:>12} {:>25}{}",
            p.name,
            show(p.value),
            show(s.initial),
            format!("[{}, {}]", show(p.lower), show(p.upper)),
            p.at_bound
                .map_or(String::new(), |b| format!(" at its {b} bound"))
        );
    }
}
