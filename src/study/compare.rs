//! Across runs, step 2: the key metrics of many runs lined up side by side
//! (batch comparisons and sweep grids). Like the other exporters it returns
//! bytes and does no I/O.
//!
//! Every column is named by its metric key (see [`crate::study::metric`]) plus a
//! statistic, e.g. `regimes.amended.flows.openai_to_microsoft.total.p50`,
//! so any column can be charted with `--metric`. Runs with different flows
//! or parties share one table: its columns are the union, in order of first
//! appearance, and a run without a column leaves the cell empty.

use std::fmt::Write as _;

use crate::statistics::Stat;
use crate::summary::Summary;

/// What a column holds, for number formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Money, $B.
    Money,
    /// A probability (share of paths).
    Probability,
    /// A decimal calendar year.
    Year,
}

/// One key metric of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyMetric {
    /// Column name: metric key plus statistic.
    pub column: String,
    /// Number format.
    pub kind: Kind,
    /// The value.
    pub value: f64,
}

fn push_stat(out: &mut Vec<KeyMetric>, key: &str, s: &Stat, which: &[&str]) {
    for w in which {
        let value = match *w {
            "mean" => s.mean,
            "p5" => s.p5,
            "p50" => s.p50,
            "p95" => s.p95,
            "sd" => s.sd,
            _ => continue,
        };
        out.push(KeyMetric {
            column: format!("{key}.{w}"),
            kind: Kind::Money,
            value,
        });
    }
}

/// The key metrics of one run, in a fixed order: per regime and flow
/// P(cap binds) (capped flows), the total's mean/p50/p5/p95 and the NPV's
/// mean; per regime and party the mean net NPV; per compared regime and
/// party the delta_net and delta_net_npv mean/p5/p95.
pub fn key_metrics(s: &Summary) -> Vec<KeyMetric> {
    let mut out = Vec::new();
    const FULL: [&str; 4] = ["mean", "p50", "p5", "p95"];
    const SHORT: [&str; 3] = ["mean", "p5", "p95"];
    for (r, reg) in &s.regimes {
        for (f, fl) in &reg.flows {
            let key = format!("regimes.{r}.flows.{f}");
            if let Some(h) = &fl.cap_hit {
                out.push(KeyMetric {
                    column: format!("{key}.cap_hit.probability"),
                    kind: Kind::Probability,
                    value: h.probability,
                });
                if let Some(t) = &h.time {
                    out.push(KeyMetric {
                        column: format!("{key}.cap_hit.time.p50"),
                        kind: Kind::Year,
                        value: t.p50,
                    });
                }
            }
            push_stat(&mut out, &format!("{key}.total"), &fl.total, &FULL);
            push_stat(&mut out, &format!("{key}.npv"), &fl.npv, &["mean"]);
        }
        for (p, party) in &reg.parties {
            push_stat(
                &mut out,
                &format!("regimes.{r}.parties.{p}.net_npv"),
                &party.net_npv,
                &["mean"],
            );
        }
    }
    for (r, parties) in &s.comparisons {
        for (p, c) in parties {
            let key = format!("comparisons.{r}.{p}");
            push_stat(&mut out, &format!("{key}.delta_net"), &c.delta_net, &SHORT);
            push_stat(
                &mut out,
                &format!("{key}.delta_net_npv"),
                &c.delta_net_npv,
                &SHORT,
            );
        }
    }
    out
}

/// Runs side by side: leading text columns (scenario, parameter values)
/// and the union of the runs' key metrics.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    /// Names of the leading text columns.
    pub leading: Vec<String>,
    /// Names and kinds of the metric columns.
    pub columns: Vec<(String, Kind)>,
    /// One row per run: its leading cells and its metric cells (None: the
    /// run has no such metric).
    pub rows: Vec<(Vec<String>, Vec<Option<f64>>)>,
}

impl Table {
    /// An empty table with these leading columns.
    pub fn new(leading: &[&str]) -> Table {
        Table {
            leading: leading.iter().map(|s| s.to_string()).collect(),
            ..Table::default()
        }
    }

    /// Adds a run: its leading cells and its metrics.
    pub fn push(&mut self, leading: Vec<String>, metrics: &[KeyMetric]) {
        let mut cells = vec![None; self.columns.len()];
        for m in metrics {
            match self.columns.iter().position(|(c, _)| *c == m.column) {
                Some(i) => cells[i] = Some(m.value),
                None => {
                    self.columns.push((m.column.clone(), m.kind));
                    cells.push(Some(m.value));
                }
            }
        }
        for (_, row) in &mut self.rows {
            row.resize(self.columns.len(), None);
        }
        self.rows.push((leading, cells));
    }

    /// The value of a column in a row.
    pub fn get(&self, row: usize, column: &str) -> Option<f64> {
        let i = self.columns.iter().position(|(c, _)| c == column)?;
        self.rows.get(row)?.1[i]
    }

    /// The table as CSV (RFC 4180 quoting; numbers in full precision,
    /// empty cells for metrics a run does not have).
    pub fn to_csv(&self) -> Vec<u8> {
        let mut out = String::new();
        let header: Vec<String> = self
            .leading
            .iter()
            .chain(self.columns.iter().map(|(c, _)| c))
            .map(|c| csv_field(c))
            .collect();
        out.push_str(&header.join(","));
        out.push('\n');
        for (lead, cells) in &self.rows {
            let mut fields: Vec<String> = lead.iter().map(|c| csv_field(c)).collect();
            fields.extend(cells.iter().map(|c| c.map_or(String::new(), csv_number)));
            out.push_str(&fields.join(","));
            out.push('\n');
        }
        out.into_bytes()
    }
}

/// A number for a CSV file: the shortest text that reads back as the same
/// `f64`, positional (`1234.5`, `0.001`) for magnitudes in `[1e-7, 1e16)`
/// and in exponent form (`1.5e300`, `2e-308`) outside, where positional
/// text would run to hundreds of digits; non-finite values as Rust writes
/// them (`NaN`, `inf`).
pub fn csv_number(x: f64) -> String {
    let a = x.abs();
    if x != 0.0 && x.is_finite() && !(1e-7..1e16).contains(&a) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// One CSV field, quoted when it holds a comma, a quote or a line break.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// $B to one decimal; beyond a million $B (a stress scenario's extreme
/// paths) in scientific notation, so the table stays readable.
fn money(x: f64) -> String {
    if x.abs() >= 1e6 {
        format!("{x:.2e}")
    } else {
        format!("{x:.1}")
    }
}

fn add_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x)
    }
}

/// The readable comparison: one row per run, the key columns only:
/// P(cap binds) of every capped flow; the total of every capped flow's
/// stream in each regime, "mean [p5, p95]"; each compared party's
/// delta_net "mean [p5, p95]" and mean delta_net_npv. $B to one decimal.
pub fn comparison_md(runs: &[(String, &Summary)]) -> String {
    // Columns, in order of first appearance over the runs.
    let mut capped: Vec<(String, String)> = Vec::new();
    let mut streams: Vec<String> = Vec::new();
    let mut regimes: Vec<String> = Vec::new();
    let mut compared: Vec<(String, String)> = Vec::new();
    for (_, s) in runs {
        // The baseline first, then the other regimes in name order.
        add_unique(&mut regimes, s.scenario.baseline.clone());
        for (r, reg) in &s.regimes {
            add_unique(&mut regimes, r.clone());
            for (f, fl) in &reg.flows {
                if fl.cap_hit.is_some() {
                    add_unique(&mut capped, (r.clone(), f.clone()));
                    add_unique(&mut streams, f.clone());
                }
            }
        }
        for (r, parties) in &s.comparisons {
            for p in parties.keys() {
                add_unique(&mut compared, (r.clone(), p.clone()));
            }
        }
    }
    let mut header = vec!["scenario".to_string()];
    for (r, f) in &capped {
        header.push(format!("P(cap binds) {r} {f}"));
    }
    for f in &streams {
        for r in &regimes {
            header.push(format!("{f} total {r}, $B"));
        }
    }
    for (r, p) in &compared {
        header.push(format!("{p} Δnet {r}, $B"));
        header.push(format!("{p} ΔNPV {r}, $B"));
    }
    let band = |s: &Stat| format!("{} [{}, {}]", money(s.mean), money(s.p5), money(s.p95));
    let mut o = String::new();
    let _ = writeln!(o, "| {} |", header.join(" | "));
    let seps: Vec<&str> = header
        .iter()
        .enumerate()
        .map(|(i, _)| if i == 0 { "---" } else { "---:" })
        .collect();
    let _ = writeln!(o, "| {} |", seps.join(" | "));
    for (name, s) in runs {
        let mut cells = vec![name.clone()];
        for (r, f) in &capped {
            cells.push(
                s.regimes
                    .get(r)
                    .and_then(|x| x.flows.get(f))
                    .and_then(|x| x.cap_hit.as_ref())
                    .map_or("–".into(), |h| format!("{:.1}%", 100.0 * h.probability)),
            );
        }
        for f in &streams {
            for r in &regimes {
                cells.push(
                    s.regimes
                        .get(r)
                        .and_then(|x| x.flows.get(f))
                        .map_or("–".into(), |x| band(&x.total)),
                );
            }
        }
        for (r, p) in &compared {
            match s.comparisons.get(r).and_then(|x| x.get(p)) {
                Some(c) => {
                    cells.push(band(&c.delta_net));
                    cells.push(money(c.delta_net_npv.mean));
                }
                None => cells.extend(["–".to_string(), "–".to_string()]),
            }
        }
        let _ = writeln!(o, "| {} |", cells.join(" | "));
    }
    o
}
