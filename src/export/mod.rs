//! Stage 6 of the pipeline: exporters. Each one turns a [`RunResult`] into
//! bytes and does no I/O (after hyperfine's exporters); the output manager
//! ([`crate::export::manager::OutputDir`]) is the single place that touches the
//! disk, so an output folder holds one complete result or the previous one.

pub mod charts;
pub mod draw;
pub mod manager;
pub mod per_path;
pub mod report;
pub mod xlsx;

use std::fmt::Write as _;

use self::charts::{ChartOptions, ChartSize, ReportError};
use self::manager::{OutputDir, OutputError};
use self::report::ReportContext;
use crate::result::RunResult;
use crate::statistics::Stat;
use crate::study::compare::csv_number;
use crate::summary::Summary;

/// Column names of the quantiles in CSV files.
pub(crate) const QUANTILE_COLUMNS: [&str; 9] =
    ["p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99"];

/// What a run writes (the output flags shared by every command).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputOptions {
    /// Render the PNG and SVG charts into `charts/`.
    pub charts: bool,
    /// Chart image size.
    pub chart_size: ChartSize,
    /// Fan charts on a log-scale y axis.
    pub log_y: bool,
    /// Also write `results.xlsx`.
    pub xlsx: bool,
    /// Write `report.html` (the charts in it when they are drawn).
    pub report: bool,
    /// What the report says about how the result was made.
    pub context: ReportContext,
}

impl Default for OutputOptions {
    /// Charts at the default size and the report; no workbook.
    fn default() -> OutputOptions {
        OutputOptions {
            charts: true,
            chart_size: ChartSize::default(),
            log_y: false,
            xlsx: false,
            report: true,
            context: ReportContext::default(),
        }
    }
}

impl OutputOptions {
    /// The chart options these output options ask for.
    pub fn chart_options(&self) -> ChartOptions {
        ChartOptions { log_y: self.log_y }
    }
}

/// A result could not be turned into files or written.
#[derive(Debug)]
#[non_exhaustive]
pub enum ExportError {
    /// A chart could not be drawn.
    Chart(ReportError),
    /// The workbook could not be built (e.g. past Excel's limits).
    Xlsx(String),
    /// The output folder could not be used or written.
    Output(OutputError),
}

impl std::fmt::Display for ExportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExportError::Chart(e) => write!(f, "cannot draw {e}"),
            ExportError::Xlsx(e) => write!(f, "cannot build results.xlsx: {e}"),
            ExportError::Output(e) => e.fmt(f),
        }
    }
}

/// The message of every variant is complete, so no source is chained.
impl std::error::Error for ExportError {}

impl From<OutputError> for ExportError {
    fn from(e: OutputError) -> ExportError {
        ExportError::Output(e)
    }
}

/// Folder of the charts inside a run's output directory.
pub const CHARTS_DIR: &str = "charts";

/// Name of a result's report.
pub const REPORT: &str = "report.html";

/// The files of one run, as (relative name, bytes): the charts
/// (`charts/<name>.png` and `.svg`) unless `opts.charts` is off,
/// `steps.csv` (when the run recorded per-step statistics), `annual.csv`,
/// `results.xlsx` with `opts.xlsx`, `report.html` unless `opts.report` is
/// off, and `summary.json`. Charts are drawn in parallel on rayon's
/// current pool, once for their files and the report.
pub fn run_files(
    result: &RunResult,
    opts: &OutputOptions,
) -> Result<Vec<(String, Vec<u8>)>, ExportError> {
    let mut files = Vec::new();
    let drawn = if opts.charts {
        Some(
            charts::render_charts(result, opts.chart_size, &opts.chart_options())
                .map_err(ExportError::Chart)?,
        )
    } else {
        None
    };
    if opts.report {
        let html = report::run_report(result, drawn.as_deref(), &opts.context);
        files.push((REPORT.into(), html.into_bytes()));
    }
    for c in drawn.into_iter().flatten() {
        files.push((format!("{CHARTS_DIR}/{}.png", c.name), c.rendered.png));
        files.push((
            format!("{CHARTS_DIR}/{}.svg", c.name),
            c.rendered.svg.into_bytes(),
        ));
    }
    if !result.steps.columns.is_empty() {
        files.push(("steps.csv".into(), steps_csv(result)));
    }
    files.push(("annual.csv".into(), annual_csv(result)));
    if !result.convergence.is_empty() {
        files.push(("convergence.csv".into(), convergence_csv(result)));
    }
    if opts.xlsx {
        let label = result.scenario().name.clone();
        files.push(("results.xlsx".into(), workbook(&[(label, result)], &[])?));
    }
    files.push(("summary.json".into(), result.summary.to_json()));
    Ok(files)
}

/// Stages the files of one run ([`run_files`]) in `out` under `prefix`
/// (empty, or a sub-folder such as `runs/base`).
pub fn write_run(
    out: &mut OutputDir,
    prefix: &str,
    result: &RunResult,
    opts: &OutputOptions,
) -> Result<(), ExportError> {
    for (name, bytes) in run_files(result, opts)? {
        let name = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        out.write(&name, &bytes)?;
    }
    Ok(())
}

/// `results.xlsx` of several runs (each labelled), after the sheets `first`
/// (a comparison or sweep table).
pub fn workbook(
    runs: &[(String, &RunResult)],
    first: &[xlsx::Sheet],
) -> Result<Vec<u8>, ExportError> {
    let sheets: Vec<xlsx::RunSheets> = runs
        .iter()
        .map(|(label, r)| xlsx::RunSheets::new(label, r))
        .collect();
    xlsx::workbook_bytes(&xlsx::run_workbook(&sheets, first))
        .map_err(|e| ExportError::Xlsx(e.to_string()))
}

fn stat_cells(out: &mut String, s: &Stat) {
    for x in [s.mean, s.sd, s.se, s.min, s.max]
        .iter()
        .chain(s.quantiles().iter())
    {
        let _ = write!(out, ",{}", csv_number(*x));
    }
    out.push('\n');
}

const STAT_HEADER: &str = "mean,sd,se,min,max,p1,p5,p10,p25,p50,p75,p90,p95,p99";

/// `steps.csv`: per recorded step k (every step unless n exceeds
/// [`crate::engine::MAX_STEP_POINTS`]) the run rate of each series
/// ($B/year) and the cumulative in-simulation payment of each flow in each
/// regime ($B), with mean and quantiles. `time` is the decimal calendar
/// year at the end of the step.
pub fn steps_csv(result: &RunResult) -> Vec<u8> {
    let t = &result.steps;
    let mut out = String::from("quantity,regime,name,unit,step,time,mean");
    for c in QUANTILE_COLUMNS {
        out.push(',');
        out.push_str(c);
    }
    out.push('\n');
    for col in &t.columns {
        let (q, unit) = (col.quantity.as_str(), col.quantity.unit());
        for (i, (&k, &time)) in t.steps.iter().zip(&t.times).enumerate() {
            let _ = write!(
                out,
                "{q},{},{},{unit},{k},{time},{}",
                col.regime,
                col.name,
                csv_number(col.mean[i])
            );
            for x in col.quantiles[i] {
                let _ = write!(out, ",{}", csv_number(x));
            }
            out.push('\n');
        }
    }
    out.into_bytes()
}

/// `convergence.csv` (runs with `--precision`): at each check, each named
/// figure's estimate and 95% interval (`paths,key,estimate,low,high,half_width`).
pub fn convergence_csv(result: &RunResult) -> Vec<u8> {
    let mut out = String::from("paths,key,estimate,low,high,half_width\n");
    for c in &result.convergence {
        for f in &c.figures {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{}",
                c.paths,
                f.key,
                f.estimate,
                f.low,
                f.high,
                f.half_width()
            );
        }
    }
    out.into_bytes()
}

/// `annual.csv`: per calendar year, each series' revenue and each flow's
/// payments in each regime, $B, with the full statistics.
pub fn annual_csv(result: &RunResult) -> Vec<u8> {
    let mut out = format!("year,quantity,regime,name,unit,{STAT_HEADER}\n");
    for r in &result.annual.rows {
        let _ = write!(
            out,
            "{},{},{},{},$B",
            r.year,
            r.quantity.as_str(),
            r.regime,
            r.name
        );
        stat_cells(&mut out, &r.stat);
    }
    out.into_bytes()
}

/// The half-width of a mean's 95% interval with two significant digits
/// (e.g. `0.023`, `1.4`).
fn half_width(s: &Stat) -> String {
    let h = 0.5 * (s.mean_ci95[1] - s.mean_ci95[0]);
    if !(h.is_finite() && h > 0.0) {
        return "0".into();
    }
    let digits = (1 - h.log10().floor() as i32).max(0) as usize;
    format!("{h:.digits$}")
}

/// The one-screen text summary printed at the end of a run.
pub fn text_report(summary: &Summary) -> String {
    let sc = &summary.scenario;
    let mut o = String::new();
    let sampling = match summary.run.replicates {
        Some(r) => format!(", qmc: {r} scrambled Sobol replicates"),
        None if summary.run.sampling.is_mc() => String::new(),
        None => format!(", {} pairs", summary.run.sampling.as_str()),
    };
    let _ = writeln!(
        o,
        "revshare: {} ({} paths{sampling}, seed {}, {}-{}, {} steps/year)",
        sc.name, summary.run.paths, summary.run.seed, sc.start_year, sc.end_year, sc.steps_per_year
    );
    let _ = writeln!(
        o,
        "sampled in {:.2} s on {} thread{} ({:.0} paths/s)",
        summary.run.elapsed_seconds,
        summary.run.threads,
        if summary.run.threads == 1 { "" } else { "s" },
        summary.run.paths_per_second
    );
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "{:<12} {:<24} {:>15} {:>9} {:>9} {:>9} {:>9}",
        "regime", "flow total ($B)", "mean ± 95% CI", "p5", "p50", "p95", "npv mean"
    );
    for (r, reg) in &summary.regimes {
        for (f, fl) in &reg.flows {
            let t = &fl.total;
            let _ = writeln!(
                o,
                "{:<12} {:<24} {:>15} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
                r,
                f,
                format!("{:.1} ± {}", t.mean, half_width(t)),
                t.p5,
                t.p50,
                t.p95,
                fl.npv.mean
            );
        }
    }
    for (r, reg) in &summary.regimes {
        for (f, fl) in &reg.flows {
            if let Some(h) = &fl.cap_hit {
                let cap = sc.regimes[r]
                    .iter()
                    .find(|x| &x.name == f)
                    .and_then(|x| x.cap)
                    .unwrap_or(f64::NAN);
                let _ = writeln!(o);
                let _ = writeln!(
                    o,
                    "cap ${cap}B on {r}/{f}: binds on {:.1}% of paths (95% CI {:.1}–{:.1}%)",
                    100.0 * h.probability,
                    100.0 * h.probability_ci95[0],
                    100.0 * h.probability_ci95[1]
                );
                let by: Vec<String> = h
                    .probability_by_year
                    .iter()
                    .map(|(y, p)| format!("{y} {:.1}%", 100.0 * p))
                    .collect();
                let _ = writeln!(o, "  hit by end of: {}", by.join(", "));
                if let Some(t) = &h.time {
                    let _ = writeln!(
                        o,
                        "  hit time (paths that hit): median {:.2}, p5 {:.2}, p95 {:.2}",
                        t.p50, t.p5, t.p95
                    );
                }
            }
        }
    }
    for (r, parties) in &summary.comparisons {
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "{r} vs {} (per path, $B)    {:>9} {:>9} {:>9} {:>9} {:>12}",
            sc.baseline, "mean", "p5", "p50", "p95", "npv mean"
        );
        for (p, c) in parties {
            let d = &c.delta_net;
            let _ = writeln!(
                o,
                "  {:<30} {:>+9.1} {:>+9.1} {:>+9.1} {:>+9.1} {:>+12.1}",
                format!("{p} net gain"),
                d.mean,
                d.p5,
                d.p50,
                d.p95,
                c.delta_net_npv.mean
            );
        }
    }
    o
}
