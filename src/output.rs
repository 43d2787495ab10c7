//! Stage 6 of the pipeline: exporters. Each one turns the result into
//! bytes and does no I/O (after hyperfine's exporters); [`write_atomic`]
//! is the single place that touches the disk, so every output file is
//! either the complete new version or absent/the previous one.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::engine::{Engine, Tally};
use crate::report::RenderedChart;
use crate::statistics::{Stat, QUANTILES};
use crate::summary::Summary;

/// Column names of the quantiles in CSV files.
pub const QUANTILE_COLUMNS: [&str; 9] =
    ["p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99"];

/// An output file could not be written.
#[derive(Debug)]
pub struct WriteError {
    /// The file concerned.
    pub path: PathBuf,
    /// What failed.
    pub source: std::io::Error,
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot write {}: {}", self.path.display(), self.source)
    }
}

impl std::error::Error for WriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same
/// directory, flushed and synced, then renamed over the target. On any
/// error the temporary file is removed and the target is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let err = |source| WriteError {
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| err(std::io::Error::other("not a file name")))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.flush()?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(e));
    }
    // Make the rename itself durable where the platform allows it.
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Writes the results of a run into `dir` (created if needed):
/// `steps.csv`, `annual.csv` and, last, `summary.json`, whose presence
/// means the run completed. Returns the files written.
pub fn write_results(
    dir: &Path,
    engine: &Engine,
    tally: &Tally,
    summary: &Summary,
) -> Result<Vec<PathBuf>, WriteError> {
    std::fs::create_dir_all(dir).map_err(|source| WriteError {
        path: dir.to_owned(),
        source,
    })?;
    let files: [(&str, Vec<u8>); 3] = [
        ("steps.csv", steps_csv(engine, tally)),
        ("annual.csv", annual_csv(engine, tally)),
        ("summary.json", summary.to_json()),
    ];
    let mut written = Vec::new();
    for (name, bytes) in files {
        let path = dir.join(name);
        write_atomic(&path, &bytes)?;
        written.push(path);
    }
    Ok(written)
}

/// Folder of the charts inside a run's output directory.
pub const CHARTS_DIR: &str = "charts";

/// Writes rendered charts into `dir/charts/` (created if needed), each as
/// `<name>.png` and `<name>.svg`, atomically. Returns the files written.
/// Reusable by every command that produces a run's results.
pub fn write_charts(dir: &Path, charts: &[RenderedChart]) -> Result<Vec<PathBuf>, WriteError> {
    let dir = dir.join(CHARTS_DIR);
    std::fs::create_dir_all(&dir).map_err(|source| WriteError {
        path: dir.clone(),
        source,
    })?;
    let mut written = Vec::with_capacity(2 * charts.len());
    for c in charts {
        let png = dir.join(format!("{}.png", c.name));
        write_atomic(&png, &c.rendered.png)?;
        written.push(png);
        let svg = dir.join(format!("{}.svg", c.name));
        write_atomic(&svg, c.rendered.svg.as_bytes())?;
        written.push(svg);
    }
    Ok(written)
}

fn stat_cells(out: &mut String, s: &Stat) {
    for x in [s.mean, s.sd, s.se, s.min, s.max]
        .iter()
        .chain(s.quantiles().iter())
    {
        let _ = write!(out, ",{x}");
    }
    out.push('\n');
}

const STAT_HEADER: &str = "mean,sd,se,min,max,p1,p5,p10,p25,p50,p75,p90,p95,p99";

/// `steps.csv`: per step k = 0..=n the run rate of each series ($B/year)
/// and the cumulative in-simulation payment of each flow in each regime
/// ($B), with mean and quantiles. `time` is the decimal calendar year at
/// the end of the step.
pub fn steps_csv(engine: &Engine, tally: &Tally) -> Vec<u8> {
    let l = &engine.layout;
    let m = &engine.model;
    let mut out = String::from("quantity,regime,name,unit,step,time,mean");
    for c in QUANTILE_COLUMNS {
        out.push(',');
        out.push_str(c);
    }
    out.push('\n');
    let row =
        |out: &mut String, q: &str, regime: &str, name: &str, unit: &str, k: usize, i: usize| {
            let acc = &tally.stats[i];
            let time = m.start_year as f64 + m.time(k);
            let _ = write!(out, "{q},{regime},{name},{unit},{k},{time},{}", acc.mean());
            for x in acc.quantiles_at(&QUANTILES) {
                let _ = write!(out, ",{x}");
            }
            out.push('\n');
        };
    for (s, name) in engine.scenario.series.keys().enumerate() {
        for k in 0..=m.steps {
            row(
                &mut out,
                "run_rate",
                "",
                name,
                "$B/year",
                k,
                l.step_run_rate(s, k),
            );
        }
    }
    for (f, flow) in engine.book.flows.iter().enumerate() {
        let regime = &engine.book.regimes[flow.regime];
        for k in 0..=m.steps {
            row(
                &mut out,
                "cumulative_payment",
                regime,
                &flow.name,
                "$B",
                k,
                l.step_cumulative(f, k),
            );
        }
    }
    out.into_bytes()
}

/// `annual.csv`: per calendar year, each series' revenue and each flow's
/// payments in each regime, $B, with the full statistics.
pub fn annual_csv(engine: &Engine, tally: &Tally) -> Vec<u8> {
    let l = &engine.layout;
    let sc = &engine.scenario;
    let mut out = format!("year,quantity,regime,name,unit,{STAT_HEADER}\n");
    for y in 0..l.years {
        let year = sc.start_year + y as i32;
        for (s, name) in sc.series.keys().enumerate() {
            if let Some(st) = tally.stats[l.annual_revenue(s, y)].finish() {
                let _ = write!(out, "{year},revenue,,{name},$B");
                stat_cells(&mut out, &st);
            }
        }
        for (f, flow) in engine.book.flows.iter().enumerate() {
            if let Some(st) = tally.stats[l.flow_annual(f, y)].finish() {
                let regime = &engine.book.regimes[flow.regime];
                let _ = write!(out, "{year},payment,{regime},{},$B", flow.name);
                stat_cells(&mut out, &st);
            }
        }
    }
    out.into_bytes()
}

/// The one-screen text summary printed at the end of a run.
pub fn text_report(summary: &Summary) -> String {
    let sc = &summary.scenario;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "revshare: {} ({} paths, seed {}, {}-{}, {} steps/year)",
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
        "{:<12} {:<24} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "regime", "flow total ($B)", "mean", "p5", "p50", "p95", "npv mean"
    );
    for (r, reg) in &summary.regimes {
        for (f, fl) in &reg.flows {
            let t = &fl.total;
            let _ = writeln!(
                o,
                "{:<12} {:<24} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
                r, f, t.mean, t.p5, t.p50, t.p95, fl.npv.mean
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
                    "cap ${cap}B on {r}/{f}: binds on {:.1}% of paths",
                    100.0 * h.probability
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
