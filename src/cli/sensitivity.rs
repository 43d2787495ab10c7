//! `revshare sensitivity`: one-at-a-time sensitivity. The base scenario
//! and every parameter moved down and up (by a relative spread, or to the
//! bounds of a ranges file) are run with common random numbers; the change
//! in the chosen metric is ranked by swing and written as
//! `sensitivity.csv` and a tornado chart.

use std::path::{Path, PathBuf};

use clap::Args;

use super::common::{cancel_flag, load_scenario, print_written, simulate, RunFailure, Simulate};
use super::progress::Progress;
use super::sweep::check_metric;
use super::{failure, invalid, OutputArgs, ScenarioArgs};
use revshare::export::report;
use revshare::export::{self, xlsx};
use revshare::scenario::{self, Scenario};
use revshare::study::metric::Metric;
use revshare::study::{self, rank_swings, Parameter, Swing};

/// The default path count of a sensitivity analysis: modest, so the
/// 1 + 2 × (number of parameters) runs take seconds.
pub const DEFAULT_PATHS: u64 = 20_000;

/// Options of `revshare sensitivity`.
#[derive(Args, Debug, Clone)]
pub struct SensitivityArgs {
    /// Scenario file.
    pub scenario: PathBuf,
    /// The metric, a summary.json key; a distribution counts by its mean
    /// (default: comparisons.<first non-baseline regime>.OpenAI.delta_net).
    #[arg(long)]
    pub metric: Option<String>,
    /// Relative move of each parameter, down and up (0.2 = ±20%), in (0, 1).
    #[arg(long, default_value_t = 0.2)]
    pub spread: f64,
    /// JSON file { "PATH": [low, high], ... }: move only these parameters, to these values
    /// (sobol: draw them from these ranges; a range may be a distribution, see docs/decisions.md).
    #[arg(long)]
    pub ranges: Option<PathBuf>,
    /// tornado: one parameter at a time; sobol: first-order and total Sobol' indices over
    /// the ranges (default paths per run 2,000).
    #[arg(long, value_enum, default_value_t = Method::Tornado)]
    pub method: Method,
    /// sobol: base samples N (N x (parameters + 2) runs).
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub samples: usize,
    /// Paths, seed, threads and field overrides.
    #[command(flatten)]
    pub run: ScenarioArgs,
    /// Where and what to write (default folder: out/<name>-sensitivity/; with --method sobol,
    /// out/<name>-sobol/ and --xlsx writes sobol.xlsx).
    #[command(flatten)]
    pub output: OutputArgs,
}

/// The kind of sensitivity analysis.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// One parameter at a time, ranked by swing.
    Tornado,
    /// Variance-based global indices.
    Sobol,
}

/// Runs `revshare sensitivity`.
pub fn run(args: &SensitivityArgs) -> anyhow::Result<()> {
    if args.method == Method::Sobol {
        return super::sobol::run(args);
    }
    // 1. Base scenario, parameters, metric: all checked before any long run.
    let paths = Some(args.run.paths.unwrap_or(DEFAULT_PATHS));
    let base = load_scenario(
        &args.scenario,
        &args.run.set,
        paths,
        args.run.seed,
        args.run.sampling,
    )
    .map_err(|e| invalid(format!("{e:#}")))?;
    if !(args.spread > 0.0 && args.spread < 1.0) {
        return Err(invalid(format!(
            "--spread must be in (0, 1), got {}",
            args.spread
        )));
    }
    // Parameters move in the validated scenario (every default written
    // out), so moving growth.initial does not also move a defaulted
    // growth.long_run.
    let base_json = serde_json::to_value(&base).expect("a scenario serialises");
    let base_text = base_json.to_string();
    let params = match &args.ranges {
        None => study::parameters(&base, args.spread),
        Some(f) => std::fs::read_to_string(f)
            .map_err(|e| e.to_string())
            .and_then(|t| study::parameters_from_ranges(&base_json, &t))
            .map_err(|e| invalid(format!("{}: {e}", f.display())))?,
    };
    let metric = match &args.metric {
        Some(k) => Metric::new(k).map_err(|e| invalid(e.to_string()))?,
        None => Metric::default_for_sensitivity(&base),
    };
    check_metric(&base, &metric).map_err(|e| invalid(e.to_string()))?;
    // Each side of each parameter, validated like a file.
    let side = |p: &Parameter, v: f64| -> Result<Scenario, String> {
        let o = format!("{}={}", p.path, v);
        scenario::parse_with_overrides(&base_text, &args.scenario, std::slice::from_ref(&o))
            .map(|l| l.scenario)
            .map_err(|e| e.to_string().replace('\n', " "))
    };
    let mut runs: Vec<(usize, bool, Result<Scenario, String>)> = Vec::new();
    for (i, p) in params.iter().enumerate() {
        runs.push((i, false, side(p, p.low)));
        runs.push((i, true, side(p, p.high)));
    }
    if args.ranges.is_some() {
        let bad: Vec<&String> = runs.iter().filter_map(|r| r.2.as_ref().err()).collect();
        if !bad.is_empty() {
            let all: Vec<String> = bad.iter().map(|e| format!("ranges: {e}")).collect();
            return Err(invalid(all.join("\nerror: ")));
        }
    }
    let mut out = args.output.open(
        Path::new("out").join(format!("{}-sensitivity", base.name)),
        false,
    )?;
    let dir = out.path().to_owned();

    // 2. Run the base and every side, all on the same seed.
    let cancel = cancel_flag();
    let n_runs = 1 + runs.iter().filter(|r| r.2.is_ok()).count() as u64;
    let progress = Progress::new(n_runs * base.simulation.paths);
    let mut offset = 0;
    let mut evaluate = |sc: &Scenario| -> Result<f64, RunFailure> {
        let start = offset;
        let report = |n: u64| progress.update(start + n);
        let how = Simulate {
            threads: args.run.threads,
            exact: false,
            progress: &report,
            cancel: &cancel,
            // Only the metric is read: no per-step statistics.
            steps: false,
            per_path: None,
        };
        let run = simulate(sc, &how)?;
        offset += sc.simulation.paths;
        // A metric that vanishes at one setting (e.g. no cap hit) counts as NaN.
        Ok(metric.eval(&run.summary).map_or(f64::NAN, |v| v.point()))
    };
    let fail = |e: RunFailure| Err(e.into_error());
    let base_value = match evaluate(&base) {
        Ok(v) => v,
        Err(e) => {
            progress.finish();
            return fail(e);
        }
    };
    let mut rows: Vec<Swing> = params
        .iter()
        .map(|p| Swing::new(p.clone(), base_value))
        .collect();
    for (i, high, sc) in &runs {
        let value = match sc {
            Ok(sc) => match evaluate(sc) {
                Ok(v) => v,
                Err(RunFailure::Failed(m)) => {
                    rows[*i].note.push_str(&format!(
                        "{} run failed: {m}; ",
                        if *high { "high" } else { "low" }
                    ));
                    continue;
                }
                Err(e) => {
                    progress.finish();
                    return fail(e);
                }
            },
            Err(m) => {
                rows[*i].note.push_str(&format!(
                    "{} setting invalid, not run: {m}; ",
                    if *high { "high" } else { "low" }
                ));
                continue;
            }
        };
        if *high {
            rows[*i].metric_high = value;
        } else {
            rows[*i].metric_low = value;
        }
    }
    progress.finish();
    rank_swings(base_value, &mut rows);

    // 3. Export.
    let sheet = xlsx::sensitivity_sheet(metric.key(), base_value, &rows);
    let csv = super::decide::table_csv(&sheet);
    let options = args.output.options();
    let spread = args.ranges.is_none().then_some(args.spread);
    let written = (|| -> anyhow::Result<Vec<PathBuf>> {
        out.write("sensitivity.csv", &csv)?;
        let charts = if args.output.no_charts {
            None
        } else {
            let charts: Vec<_> = super::figures::tornado(
                args.output.chart_size,
                &base,
                &metric,
                base_value,
                &rows,
                spread,
            )
            .map_err(anyhow::Error::msg)?
            .into_iter()
            .collect();
            super::figures::write_charts(&mut out, &charts).map_err(anyhow::Error::msg)?;
            Some(charts)
        };
        if options.report {
            let study = sensitivity_report(&base, &metric, base_value, &rows, spread, n_runs);
            let html = report::study_report(&study, charts.as_deref(), &options.context);
            out.write(export::REPORT, html.as_bytes())?;
        }
        if args.output.xlsx {
            let sheets = [sheet, xlsx::inputs_sheet(&[(base.name.clone(), &base)])];
            let bytes = xlsx::workbook_bytes(&sheets)
                .map_err(|e| anyhow::anyhow!("cannot build sensitivity.xlsx: {e}"))?;
            out.write("sensitivity.xlsx", &bytes)?;
        }
        Ok(out.commit()?)
    })();
    let written = written.map_err(|e| failure(e.to_string()))?;
    if !args.output.quiet {
        println!(
            "sensitivity of {} ({} parameters, {} runs of {} paths, seed {}): metric {} = {:.3} at base",
            base.name,
            rows.len(),
            n_runs,
            base.simulation.paths,
            base.simulation.seed,
            metric.key(),
            base_value
        );
        println!(
            "{:>4} {:<60} {:>10} {:>10} {:>10}",
            "rank", "parameter (low → high)", "Δ at low", "Δ at high", "swing"
        );
        for (k, r) in rows.iter().enumerate() {
            println!(
                "{:>4} {:<60} {:>+10.3} {:>+10.3} {:>10.3} {}",
                k + 1,
                format!(
                    "{} ({:.4} → {:.4})",
                    r.param.path, r.param.low, r.param.high
                ),
                r.metric_low - base_value,
                r.metric_high - base_value,
                r.swing,
                r.note
            );
        }
        print_written(&dir, &written, "");
    }
    Ok(())
}

/// The report of a sensitivity analysis: the parameters ranked by swing.
fn sensitivity_report<'a>(
    base: &'a Scenario,
    metric: &Metric,
    base_value: f64,
    rows: &[Swing],
    spread: Option<f64>,
    n_runs: u64,
) -> report::StudyReport<'a> {
    let num = |x: f64| {
        if x.is_finite() {
            format!("{x:.4}")
        } else {
            "n/a".into()
        }
    };
    let signed = |x: f64| {
        if x.is_finite() {
            format!("{x:+.4}").replace('-', "\u{2212}")
        } else {
            "n/a".into()
        }
    };
    let mut headline = vec![format!(
        "{} at the base setting: {} ({} runs of {} paths, seed {} in every run: common random numbers; {}).",
        metric.key(),
        num(base_value),
        n_runs,
        base.simulation.paths,
        base.simulation.seed,
        match spread {
            Some(s) => format!("each parameter moved by ±{:.0}%, clamped to its range", 100.0 * s),
            None => "each parameter moved to the bounds of the ranges file".into(),
        }
    )];
    let top: Vec<String> = rows
        .iter()
        .filter(|r| r.swing.is_finite())
        .take(3)
        .map(|r| format!("{} (swing {})", r.param.path, num(r.swing)))
        .collect();
    if !top.is_empty() {
        headline.push(format!("The metric moves most with {}.", top.join(", ")));
    }
    let table = rows
        .iter()
        .enumerate()
        .map(|(k, r)| {
            vec![
                (k + 1).to_string(),
                r.param.path.clone(),
                format!("{} → {}", num(r.param.low), num(r.param.high)),
                num(r.metric_low),
                num(r.metric_high),
                signed(r.metric_low - base_value),
                signed(r.metric_high - base_value),
                num(r.swing),
                r.note.clone(),
            ]
        })
        .collect();
    report::StudyReport {
        title: format!("revshare sensitivity: {}", base.name),
        headline,
        table_title: format!("Parameters ranked by the swing of {}", metric.key()),
        headers: [
            "rank",
            "parameter",
            "low → high",
            "metric at low",
            "metric at high",
            "Δ at low",
            "Δ at high",
            "swing",
            "note",
        ]
        .map(String::from)
        .to_vec(),
        rows: table,
        scenario: base,
        repro: vec![
            report::ReproLine::fixed("paths per run", base.simulation.paths.to_string()),
            report::ReproLine::fixed("seed (every run)", base.simulation.seed.to_string()),
            report::ReproLine::fixed("runs", n_runs.to_string()),
        ],
    }
}
