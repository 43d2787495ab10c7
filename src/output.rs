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
    stage(path, bytes)?.commit()
}

/// A file written and synced under a temporary name in its target's
/// directory, not yet renamed into place. Dropped uncommitted, the
/// temporary file is removed.
struct Staged {
    tmp: PathBuf,
    path: PathBuf,
    dir: PathBuf,
    done: bool,
}

/// Writes `bytes` next to `path` under a temporary name, flushed and synced.
fn stage(path: &Path, bytes: &[u8]) -> Result<Staged, WriteError> {
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
    let staged = Staged {
        tmp,
        path: path.to_owned(),
        dir,
        done: false,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&staged.tmp)
        .map_err(err)?;
    let written = f
        .write_all(bytes)
        .and_then(|_| f.flush())
        .and_then(|_| f.sync_all());
    drop(f);
    if let Err(e) = written {
        // Dropping `staged` removes the partial temporary file.
        return Err(err(e));
    }
    Ok(staged)
}

impl Staged {
    /// Renames the temporary file over the target and syncs the directory.
    fn commit(mut self) -> Result<(), WriteError> {
        std::fs::rename(&self.tmp, &self.path).map_err(|source| WriteError {
            path: self.path.clone(),
            source,
        })?;
        self.done = true;
        // Make the rename itself durable where the platform allows it.
        if let Ok(d) = std::fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Folder of the charts inside a run's output directory.
pub const CHARTS_DIR: &str = "charts";

/// Writes the results of a run into `dir` (created if needed): the charts
/// (`charts/<name>.png` and `.svg`), `steps.csv`, `annual.csv` and, last,
/// `summary.json`, whose presence means the run completed. Returns the
/// files written.
///
/// Every file is first written and synced under a temporary name; only
/// when all of them are on disk are they renamed into place, summary.json
/// last. A full disk or any other write error therefore changes none of
/// the files of a previous run in `dir` and leaves no temporary file.
pub fn write_results(
    dir: &Path,
    engine: &Engine,
    tally: &Tally,
    summary: &Summary,
    charts: &[RenderedChart],
) -> Result<Vec<PathBuf>, WriteError> {
    let mkdir = |d: &Path| {
        std::fs::create_dir_all(d).map_err(|source| WriteError {
            path: d.to_owned(),
            source,
        })
    };
    mkdir(dir)?;
    let chart_dir = dir.join(CHARTS_DIR);
    let new_chart_dir = !charts.is_empty() && !chart_dir.is_dir();
    if !charts.is_empty() {
        mkdir(&chart_dir)?;
    }
    let staged = (|| {
        let mut staged = Vec::new();
        for c in charts {
            staged.push(stage(
                &chart_dir.join(format!("{}.png", c.name)),
                &c.rendered.png,
            )?);
            staged.push(stage(
                &chart_dir.join(format!("{}.svg", c.name)),
                c.rendered.svg.as_bytes(),
            )?);
        }
        let files: [(&str, Vec<u8>); 3] = [
            ("steps.csv", steps_csv(engine, tally)),
            ("annual.csv", annual_csv(engine, tally)),
            ("summary.json", summary.to_json()),
        ];
        for (name, bytes) in &files {
            staged.push(stage(&dir.join(name), bytes)?);
        }
        Ok(staged)
    })();
    let staged = match staged {
        Ok(s) => s,
        Err(e) => {
            // Nothing was renamed; a chart folder made for this run goes too.
            if new_chart_dir {
                let _ = std::fs::remove_dir(&chart_dir);
            }
            return Err(e);
        }
    };
    let mut written = Vec::new();
    for s in staged {
        let path = s.path.clone();
        s.commit()?;
        written.push(path);
    }
    if !charts.is_empty() {
        remove_stale_charts(&chart_dir, &written);
    }
    Ok(written)
}

/// Removes the PNG and SVG files in a chart folder that this run did not
/// write (charts of an earlier run of a scenario with other series or flow
/// names), so the folder never shows charts that disagree with summary.json.
fn remove_stale_charts(chart_dir: &Path, written: &[PathBuf]) {
    let Ok(entries) = std::fs::read_dir(chart_dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let chart = path.extension().is_some_and(|x| x == "png" || x == "svg");
        if chart && path.is_file() && !written.contains(&path) {
            let _ = std::fs::remove_file(&path);
        }
    }
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

/// `steps.csv`: per step k = 0..=n (every recorded step: all of them
/// unless n exceeds [`crate::engine::MAX_STEP_POINTS`]) the run rate of each series ($B/year)
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
        for &k in l.recorded_steps() {
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
