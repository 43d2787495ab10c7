//! `revshare sweep`: the cartesian grid of parameter values → one run per
//! grid point with common random numbers (the same seed everywhere) →
//! `sweep.csv` (one row per point), a chart of the chosen metric against
//! the first parameter with its 90% band, and (with `--xlsx`) a workbook.

use std::path::{Path, PathBuf};

use clap::Args;

use super::common::{apply_paths_seed, cancel_flag, print_written, simulate, RunFailure, Simulate};
use super::progress::Progress;
use super::{failure, invalid, print_warnings, OutputArgs, ScenarioArgs};
use revshare::export;
use revshare::export::report;
use revshare::export::xlsx;
use revshare::scenario::{self, Scenario};
use revshare::study::compare::{self, KeyMetric, Kind};
use revshare::study::metric::{Metric, MetricValue};
use revshare::study::{self, Axis};

/// Options of `revshare sweep`.
#[derive(Args, Debug, Clone)]
pub struct SweepArgs {
    /// Scenario file.
    pub scenario: PathBuf,
    /// A dotted scenario path to sweep, e.g. regimes.amended.0.cap (repeatable; each needs a --values).
    #[arg(long = "param", required = true, value_name = "PATH")]
    pub params: Vec<String>,
    /// Values of the matching --param: a list 20,38,50 or a range START:STOP:STEP.
    #[arg(long = "values", required = true, value_name = "LIST")]
    pub values: Vec<String>,
    /// The metric to chart, a summary.json key (default: P(cap binds) of the first capped flow).
    #[arg(long)]
    pub metric: Option<String>,
    /// Paths, seed, threads and field overrides.
    #[command(flatten)]
    pub run: ScenarioArgs,
    /// Where and what to write (default folder: out/<name>-sweep/; --xlsx
    /// writes sweep.xlsx: sweep, summary, per-year and per-step sheets).
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Checks a metric against a one-path run of the scenario, so a typo is
/// reported before the long runs start.
pub(crate) fn check_metric(sc: &Scenario, metric: &Metric) -> Result<(), String> {
    let probe = sc
        .with_simulation(1, sc.simulation.seed)
        .map_err(|e| e.to_string())?;
    let never = std::sync::atomic::AtomicBool::new(false);
    let how = Simulate {
        threads: 1,
        exact: false,
        progress: &|_| {},
        cancel: &never,
        steps: false,
        per_path: None,
    };
    let run = simulate(&probe, &how).map_err(|e| e.to_string())?;
    metric
        .eval(&run.summary)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Refuses sweeps whose rows would be mislabelled: a parameter given twice
/// (the last value wins, so the row shows values that did not run),
/// `simulation.paths` (every point must run the same paths; give
/// `--paths`), and `simulation.seed` together with `--seed` (which
/// overrides it).
fn check_params(params: &[String], seed_given: bool) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    for p in params {
        let key = p.trim();
        if !seen.insert(key) {
            return Err(format!(
                "--param {key} is given twice; give each parameter once, with all its values \
                 in one --values"
            ));
        }
        if key == "simulation.paths" {
            return Err(
                "--param simulation.paths cannot be swept: every point runs the same paths \
                 (common random numbers); set the count with --paths"
                    .into(),
            );
        }
        if key == "simulation.seed" && seed_given {
            return Err(
                "--param simulation.seed cannot be combined with --seed, which would override \
                 every swept seed"
                    .into(),
            );
        }
    }
    Ok(())
}

/// Excel's rows per sheet, the header row included.
const EXCEL_MAX_ROWS: usize = 1_048_576;

/// Refuses, before any sampling, a sweep whose workbook would exceed
/// Excel's rows per sheet: the rows of each sheet for the first and the
/// last grid point (one path each) times the number of points (a grid of
/// 10,000 points used 5.5 GB before the workbook writer refused it).
fn check_workbook_rows(scenarios: &[Scenario]) -> Result<(), String> {
    let never = std::sync::atomic::AtomicBool::new(false);
    let how = Simulate {
        threads: 1,
        exact: false,
        progress: &|_| {},
        cancel: &never,
        steps: true,
        per_path: None,
    };
    let mut per_point = [0usize; 3];
    let ends = [scenarios.first(), scenarios.last()];
    for sc in ends.into_iter().flatten() {
        let probe = sc
            .with_simulation(1, sc.simulation.seed)
            .map_err(|e| e.to_string())?;
        let run = simulate(&probe, &how).map_err(|e| e.to_string())?;
        let rows = xlsx::RunSheets::new("", &run);
        for (n, r) in
            per_point
                .iter_mut()
                .zip([rows.summary.len(), rows.annual.len(), rows.steps.len()])
        {
            *n = (*n).max(r);
        }
    }
    for (sheet, n) in ["summary", "per year", "per step"].iter().zip(per_point) {
        let rows = n.saturating_mul(scenarios.len()).saturating_add(1);
        if rows > EXCEL_MAX_ROWS {
            return Err(format!(
                "--xlsx: the workbook's `{sheet}` sheet would have {rows} rows ({n} for each of \
                 {} points), beyond Excel's {EXCEL_MAX_ROWS}; sweep fewer points or leave out \
                 --xlsx (sweep.csv has one row per point)",
                scenarios.len()
            ));
        }
    }
    Ok(())
}

/// The columns a metric adds to a table: its point value and 90% band.
pub(crate) fn metric_columns(metric: &Metric, v: &MetricValue) -> Vec<KeyMetric> {
    let kind = match v {
        MetricValue::Probability { .. } => Kind::Probability,
        _ => Kind::Money,
    };
    let (lo, hi) = v.band90();
    let key = metric.key();
    vec![
        KeyMetric {
            column: format!("metric:{key}"),
            kind,
            value: v.point(),
        },
        KeyMetric {
            column: format!("metric:{key}:band90_low"),
            kind,
            value: lo,
        },
        KeyMetric {
            column: format!("metric:{key}:band90_high"),
            kind,
            value: hi,
        },
    ]
}

/// Runs `revshare sweep`.
pub fn run(args: &SweepArgs) -> anyhow::Result<()> {
    // 1. The base scenario, the grid and the metric, all checked first.
    let base = scenario::load_with_overrides(&args.scenario, &args.run.set)
        .map_err(|e| invalid(e.to_string()))?;
    print_warnings(&args.scenario, &base.warnings);
    if args.params.len() != args.values.len() {
        return Err(invalid(format!(
            "every --param needs its own --values (got {} --param and {} --values)",
            args.params.len(),
            args.values.len()
        )));
    }
    check_params(&args.params, args.run.seed.is_some()).map_err(invalid)?;
    let mut axes = Vec::new();
    for (p, v) in args.params.iter().zip(&args.values) {
        match study::parse_values(v) {
            Ok(values) => axes.push(Axis {
                path: p.trim().to_string(),
                values,
            }),
            Err(e) => {
                return Err(invalid(format!("--param {p}: {e}")));
            }
        }
    }
    let points = study::grid(&axes).map_err(|e| invalid(e.to_string()))?;
    let mut scenarios = Vec::new();
    let mut bad = false;
    for point in &points {
        let overrides: Vec<String> = args.run.set.iter().chain(point).cloned().collect();
        match scenario::load_with_overrides(&args.scenario, &overrides) {
            Ok(l) => {
                // Common random numbers: every point keeps the file's (or
                // --seed's) seed, unless simulation.seed itself is swept.
                let mut sc = l.scenario;
                apply_paths_seed(&mut sc, args.run.paths, args.run.seed, args.run.sampling)
                    .map_err(|e| invalid(e.to_string()))?;
                scenarios.push(sc);
            }
            Err(e) => {
                eprintln!("error: grid point {}: {e}", point.join(" "));
                bad = true;
            }
        }
    }
    if bad {
        return Err(invalid("some grid points are invalid (see above)"));
    }
    let metric = match &args.metric {
        Some(k) => Metric::new(k).map_err(|e| invalid(e.to_string()))?,
        None => Metric::default_for_sweep(&scenarios[0]),
    };
    check_metric(&scenarios[0], &metric).map_err(|e| invalid(e.to_string()))?;
    if args.output.xlsx {
        check_workbook_rows(&scenarios).map_err(invalid)?;
    }
    let mut out = args.output.open(
        Path::new("out").join(format!("{}-sweep", base.scenario.name)),
        false,
    )?;
    let dir = out.path().to_owned();

    // 2. Run every point.
    let cancel = cancel_flag();
    let total: u64 = scenarios.iter().map(|s| s.simulation.paths).sum();
    let progress = Progress::new(total);
    let mut offset = 0;
    let mut leading = vec!["point".to_string()];
    leading.extend(axes.iter().map(|a| a.path.clone()));
    let mut table = compare::Table {
        leading,
        ..Default::default()
    };
    let mut values: Vec<Option<MetricValue>> = Vec::new();
    let mut sheets = Vec::new();
    for (i, (sc, point)) in scenarios.iter().zip(&points).enumerate() {
        let report = |n: u64| progress.update(offset + n);
        let how = Simulate {
            threads: args.run.threads,
            exact: false,
            progress: &report,
            cancel: &cancel,
            // The per-step statistics are read only by the workbook's
            // per-step sheet.
            steps: args.output.xlsx,
            per_path: None,
        };
        let run = match simulate(sc, &how) {
            Ok(r) => r,
            Err(e) => {
                progress.finish();
                return Err(match e {
                    RunFailure::Cancelled => e.into_error(),
                    RunFailure::Failed(_) => {
                        failure(format!("grid point {}: {e}", point.join(" ")))
                    }
                });
            }
        };
        offset += sc.simulation.paths;
        let v = metric.eval(&run.summary).ok();
        let mut metrics = match &v {
            Some(v) => metric_columns(&metric, v),
            None => Vec::new(),
        };
        metrics.extend(compare::key_metrics(&run.summary));
        let mut lead = vec![(i + 1).to_string()];
        lead.extend(
            point
                .iter()
                .map(|o| o.split_once('=').map_or("", |x| x.1).to_string()),
        );
        table.push(lead, &metrics);
        values.push(v);
        if args.output.xlsx {
            let label = format!("{}: {}", i + 1, point.join(" "));
            sheets.push(xlsx::RunSheets::new(&label, &run));
        }
    }
    progress.finish();

    // 3. Export.
    let options = args.output.options();
    let written = (|| -> Result<Vec<PathBuf>, String> {
        out.write("sweep.csv", &table.to_csv())
            .map_err(|e| e.to_string())?;
        let charts = if args.output.no_charts {
            None
        } else {
            let charts: Vec<_> = super::figures::sweep_chart(
                args.output.chart_size,
                &scenarios[0],
                &axes,
                &metric,
                &values,
            )?
            .into_iter()
            .collect();
            super::figures::write_charts(&mut out, &charts)?;
            Some(charts)
        };
        if options.report {
            let html = sweep_report(&base.scenario, &scenarios, &axes, &points, &metric, &values)
                .map(|study| report::study_report(&study, charts.as_deref(), &options.context))
                .unwrap_or_default();
            out.write(export::REPORT, html.as_bytes())
                .map_err(|e| e.to_string())?;
        }
        if args.output.xlsx {
            let first = [xlsx::table_sheet("sweep", &table)];
            let bytes = xlsx::workbook_bytes(&xlsx::run_workbook(&sheets, &first))
                .map_err(|e| format!("cannot build sweep.xlsx: {e}"))?;
            out.write("sweep.xlsx", &bytes).map_err(|e| e.to_string())?;
        }
        out.commit().map_err(|e| e.to_string())
    })();
    let written = written.map_err(|e| failure(e.to_string()))?;
    if !args.output.quiet {
        println!(
            "sweep of {} ({} points, {} paths each, seed {}); metric {}",
            base.scenario.name,
            scenarios.len(),
            scenarios[0].simulation.paths,
            scenarios[0].simulation.seed,
            metric.key()
        );
        for ((_, point), v) in scenarios.iter().zip(&points).zip(&values) {
            let shown = match v {
                Some(v @ MetricValue::Probability { .. }) => {
                    let (lo, hi) = v.band90();
                    format!(
                        "{:.1}% (90% interval {:.1}%–{:.1}%)",
                        100.0 * v.point(),
                        100.0 * lo,
                        100.0 * hi
                    )
                }
                Some(v) if v.band90_label().is_empty() => format!("{:.2}", v.point()),
                Some(v) => {
                    let (lo, hi) = v.band90();
                    format!(
                        "{:.2}; {}: {:.2} to {:.2}",
                        v.point(),
                        v.band90_label(),
                        lo,
                        hi
                    )
                }
                None => "n/a at this point".into(),
            };
            println!("  {:<40} {shown}", point.join(" "));
        }
        print_written(&dir, &written, "");
    }
    Ok(())
}

/// The report of a sweep: one row per grid point with the metric, its
/// standard error and its 90% interval.
fn sweep_report<'a>(
    base: &'a Scenario,
    scenarios: &[Scenario],
    axes: &[Axis],
    points: &[Vec<String>],
    metric: &Metric,
    values: &[Option<MetricValue>],
) -> Option<report::StudyReport<'a>> {
    let first = scenarios.first()?;
    let probability = values
        .iter()
        .flatten()
        .any(|v| matches!(v, MetricValue::Probability { .. }));
    let show = |x: f64| {
        if probability {
            format!("{:.2}%", 100.0 * x)
        } else {
            format!("{x:.3}")
        }
    };
    let mut headers = vec!["point".to_string()];
    headers.extend(axes.iter().map(|a| a.path.clone()));
    headers.extend([
        // The table's title names the subject; the column the quantity.
        metric.quantity(base),
        "± se".into(),
        values
            .iter()
            .flatten()
            .next()
            .map_or("90% band", MetricValue::band90_label)
            .into(),
    ]);
    let mut rows = Vec::new();
    let mut seen: Vec<(f64, String)> = Vec::new();
    for (i, (point, v)) in points.iter().zip(values).enumerate() {
        let mut row = vec![(i + 1).to_string()];
        row.extend(
            point
                .iter()
                .map(|o| o.split_once('=').map_or("", |x| x.1).to_string()),
        );
        match v {
            Some(v) => {
                let (lo, hi) = v.band90();
                row.extend([
                    show(v.point()),
                    show(v.se()),
                    format!("{} to {}", show(lo), show(hi)),
                ]);
                seen.push((v.point(), point.join(" ")));
            }
            None => row.extend(["n/a".into(), String::new(), String::new()]),
        }
        rows.push(row);
    }
    let mut headline = vec![format!(
        "{} grid points of {} ({} paths each, seed {} at every point: common random numbers); metric {}.",
        points.len(),
        axes.iter()
            .map(|a| format!("{} ({} values)", a.path, a.values.len()))
            .collect::<Vec<_>>()
            .join(" × "),
        first.simulation.paths,
        first.simulation.seed,
        metric.key()
    )];
    let lo = seen.iter().min_by(|a, b| a.0.total_cmp(&b.0));
    let hi = seen.iter().max_by(|a, b| a.0.total_cmp(&b.0));
    if let (Some(lo), Some(hi)) = (lo, hi) {
        headline.push(format!(
            "The metric is lowest, {}, at {} and highest, {}, at {}.",
            show(lo.0),
            lo.1,
            show(hi.0),
            hi.1
        ));
    }
    Some(report::StudyReport {
        title: format!("revshare sweep: {}", base.name),
        headline,
        table_title: format!("{} at each grid point", metric.display(base)),
        headers,
        rows,
        scenario: base,
        repro: vec![
            report::ReproLine::fixed("paths per point", first.simulation.paths.to_string()),
            report::ReproLine::fixed("seed (every point)", first.simulation.seed.to_string()),
        ],
    })
}
