//! `revshare sensitivity`: one-at-a-time sensitivity. The base scenario
//! and every parameter moved down and up (by a relative spread, or to the
//! bounds of a ranges file) are run with common random numbers; the change
//! in the chosen metric is ranked by swing and written as
//! `sensitivity.csv` and a tornado chart.

use std::path::{Path, PathBuf};

use clap::Args;

use super::progress::Progress;
use super::run::{cancel_flag, load_scenario, simulate, RunFailure, Simulate};
use super::sweep::check_metric;
use super::{OutputArgs, EXIT_FAILURE, EXIT_INVALID};
use revshare::export::report;
use revshare::export::{self, xlsx};
use revshare::scenario::{self, Scenario};
use revshare::study::compare::csv_field;
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
    /// JSON file { "PATH": [low, high], ... }: move only these parameters, to these values.
    #[arg(long)]
    pub ranges: Option<PathBuf>,
    /// Number of paths per run (default 20,000).
    #[arg(long)]
    pub paths: Option<u64>,
    /// Seed used by every run (overrides simulation.seed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Worker threads (default: all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Override a field of the base scenario (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    /// Where and what to write (default folder: out/<name>-sensitivity/).
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Runs `revshare sensitivity`; returns the exit code.
pub fn run(args: &SensitivityArgs) -> i32 {
    // 1. Base scenario, parameters, metric: all checked before any long run.
    let paths = Some(args.paths.unwrap_or(DEFAULT_PATHS));
    let base = match load_scenario(&args.scenario, &args.set, paths, args.seed) {
        Ok(sc) => sc,
        Err(e) => {
            eprintln!("error: {e:#}");
            return EXIT_INVALID;
        }
    };
    if !(args.spread > 0.0 && args.spread < 1.0) {
        eprintln!("error: --spread must be in (0, 1), got {}", args.spread);
        return EXIT_INVALID;
    }
    // Parameters move in the validated scenario (every default written
    // out), so moving growth.initial does not also move a defaulted
    // growth.long_run.
    let base_json = serde_json::to_value(&base).expect("a scenario serialises");
    let base_text = base_json.to_string();
    let params = match &args.ranges {
        None => study::parameters(&base, args.spread),
        Some(f) => match std::fs::read_to_string(f)
            .map_err(|e| e.to_string())
            .and_then(|t| study::parameters_from_ranges(&base_json, &t))
        {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: {}: {e}", f.display());
                return EXIT_INVALID;
            }
        },
    };
    let metric = match &args.metric {
        Some(k) => match Metric::new(k) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_INVALID;
            }
        },
        None => Metric::default_for_sensitivity(&base),
    };
    if let Err(e) = check_metric(&base, &metric) {
        eprintln!("error: {e}");
        return EXIT_INVALID;
    }
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
            for e in bad {
                eprintln!("error: ranges: {e}");
            }
            return EXIT_INVALID;
        }
    }
    let mut out = match args.output.open(
        Path::new("out").join(format!("{}-sensitivity", base.name)),
        false,
    ) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FAILURE;
        }
    };
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
            threads: args.threads,
            exact: false,
            progress: &report,
            cancel: &cancel,
            // Only the metric is read: no per-step statistics.
            steps: false,
        };
        let run = simulate(sc, &how)?;
        offset += sc.simulation.paths;
        // A metric that vanishes at one setting (e.g. no cap hit) counts as NaN.
        Ok(metric.eval(&run.summary).map_or(f64::NAN, |v| v.point()))
    };
    let fail = |e: RunFailure| {
        match &e {
            RunFailure::Cancelled => eprintln!("{e}"),
            RunFailure::Failed(_) => eprintln!("error: {e}"),
        }
        e.exit_code()
    };
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
    let csv = sensitivity_csv(&metric, base_value, &rows);
    let options = args.output.options();
    let spread = args.ranges.is_none().then_some(args.spread);
    let written = (|| -> anyhow::Result<Vec<PathBuf>> {
        out.write("sensitivity.csv", &csv)?;
        let charts = if args.output.no_charts {
            None
        } else {
            let charts: Vec<_> = super::figures::tornado(&base, &metric, base_value, &rows, spread)
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
            let sheets = [
                xlsx::sensitivity_sheet(metric.key(), base_value, &rows),
                xlsx::inputs_sheet(&[(base.name.clone(), &base)]),
            ];
            let bytes = xlsx::workbook_bytes(&sheets)
                .map_err(|e| anyhow::anyhow!("cannot build sensitivity.xlsx: {e}"))?;
            out.write("sensitivity.xlsx", &bytes)?;
        }
        Ok(out.commit()?)
    })();
    let written = match written {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FAILURE;
        }
    };
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
        let names: Vec<String> = written
            .iter()
            .filter_map(|p| p.strip_prefix(&dir).ok())
            .map(|p| p.display().to_string())
            .collect();
        println!("wrote to {}/: {}", dir.display(), names.join(", "));
    }
    0
}

fn sensitivity_csv(metric: &Metric, base_value: f64, rows: &[Swing]) -> Vec<u8> {
    let mut o = String::from(
        "rank,parameter,base_value,low_value,high_value,metric,metric_base,metric_low,\
         metric_high,delta_low,delta_high,swing,note\n",
    );
    let num = |x: f64| {
        if x.is_finite() {
            format!("{x}")
        } else {
            String::new()
        }
    };
    for (k, r) in rows.iter().enumerate() {
        o.push_str(
            &[
                (k + 1).to_string(),
                csv_field(&r.param.path),
                num(r.param.base),
                num(r.param.low),
                num(r.param.high),
                csv_field(metric.key()),
                num(base_value),
                num(r.metric_low),
                num(r.metric_high),
                num(r.metric_low - base_value),
                num(r.metric_high - base_value),
                num(r.swing),
                csv_field(&r.note),
            ]
            .join(","),
        );
        o.push('\n');
    }
    o.into_bytes()
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
