//! Stage 6 of the pipeline, Excel flavour: the results of one or more runs
//! as one workbook (rust_xlsxwriter). Like the other exporters it returns
//! bytes; the output manager ([`crate::export::manager`]) writes them.
//!
//! Sheets: `summary` (every statistic of summary.json, one row per
//! quantity), `per year` (annual revenue and payments), `per step` (the
//! per-step percentiles of steps.csv), and for batches and sweeps a
//! `comparison` or `sweep` sheet (the [`compare::Table`]). Every sheet has
//! a frozen, bold header row and an autofilter; money is formatted in $B to
//! one decimal, probabilities as percentages. A workbook of several runs
//! stacks their rows, the first column naming the run.

use rust_xlsxwriter::{Format, FormatAlign, Workbook, XlsxError};

use crate::export::QUANTILE_COLUMNS;
use crate::result::RunResult;
use crate::statistics::Stat;
use crate::study::compare::{self, Kind};

/// Excel's last row index (1,048,576 rows).
const MAX_ROWS: usize = 1_048_576;

/// One cell of a sheet.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text.
    Text(String),
    /// An integer (years, steps).
    Int(i64),
    /// A plain number, two decimals.
    Number(f64),
    /// Money in $B, one decimal.
    Money(f64),
    /// A probability, shown as a percentage.
    Probability(f64),
    /// Nothing.
    Empty,
}

/// One sheet: a name, a header row and rows of cells.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sheet {
    /// Sheet name (at most 31 characters).
    pub name: String,
    /// Column headers.
    pub headers: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<Cell>>,
}

impl Sheet {
    fn new(name: &str, headers: &[&str]) -> Sheet {
        Sheet {
            name: name.to_string(),
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }
}

/// The rows one run contributes to the summary, per-year and per-step
/// sheets. Built right after the run, so a batch need not keep every
/// run's statistics in memory.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunSheets {
    /// Rows of the `summary` sheet.
    pub summary: Vec<Vec<Cell>>,
    /// Rows of the `per year` sheet.
    pub annual: Vec<Vec<Cell>>,
    /// Rows of the `per step` sheet.
    pub steps: Vec<Vec<Cell>>,
}

const SUMMARY_HEADERS: [&str; 13] = [
    "run", "section", "regime", "name", "quantity", "unit", "mean", "sd", "p5", "p25", "p50",
    "p75", "p95",
];
const ANNUAL_HEADERS: [&str; 12] = [
    "run", "year", "quantity", "regime", "name", "unit", "mean", "sd", "p5", "p25", "p50", "p95",
];

fn text(s: &str) -> Cell {
    Cell::Text(s.to_string())
}

fn stat_cells(s: &Stat, money: bool) -> Vec<Cell> {
    let c = |x: f64| {
        if money {
            Cell::Money(x)
        } else {
            Cell::Number(x)
        }
    };
    vec![
        c(s.mean),
        c(s.sd),
        c(s.p5),
        c(s.p25),
        c(s.p50),
        c(s.p75),
        c(s.p95),
    ]
}

impl RunSheets {
    /// The rows of one run; `label` fills the first column (the scenario
    /// name, or a sweep's grid point).
    pub fn new(label: &str, result: &RunResult) -> RunSheets {
        let summary = &result.summary;
        let mut sheets = RunSheets::default();
        let row = |section: &str, regime: &str, name: &str, quantity: &str, unit: &str| {
            vec![
                text(label),
                text(section),
                text(regime),
                text(name),
                text(quantity),
                text(unit),
            ]
        };
        // Summary sheet.
        for (s, ss) in &summary.series {
            let mut r = row("series", "", s, "run_rate_end", "$B/year");
            r.extend(stat_cells(&ss.run_rate_end, true));
            sheets.summary.push(r);
        }
        for (rname, reg) in &summary.regimes {
            for (f, fl) in &reg.flows {
                for (q, st) in [("total", &fl.total), ("npv", &fl.npv)] {
                    let mut r = row("flow", rname, f, q, "$B");
                    r.extend(stat_cells(st, true));
                    sheets.summary.push(r);
                }
                if let Some(h) = &fl.cap_hit {
                    let mut r = row("cap", rname, f, "P(cap binds)", "probability");
                    r.push(Cell::Probability(h.probability));
                    sheets.summary.push(r);
                    for (y, p) in &h.probability_by_year {
                        let mut r = row(
                            "cap",
                            rname,
                            f,
                            &format!("P(hit by end {y})"),
                            "probability",
                        );
                        r.push(Cell::Probability(*p));
                        sheets.summary.push(r);
                    }
                    if let Some(t) = &h.time {
                        let mut r = row("cap", rname, f, "hit time (paths that hit)", "year");
                        r.extend(stat_cells(t, false));
                        sheets.summary.push(r);
                    }
                }
            }
            for (p, ps) in &reg.parties {
                for (q, st) in [
                    ("paid", &ps.paid),
                    ("received", &ps.received),
                    ("net", &ps.net),
                    ("net_npv", &ps.net_npv),
                ] {
                    let mut r = row("party", rname, p, q, "$B");
                    r.extend(stat_cells(st, true));
                    sheets.summary.push(r);
                }
            }
        }
        for (rname, parties) in &summary.comparisons {
            for (p, c) in parties {
                for (q, st) in [
                    ("delta_net", &c.delta_net),
                    ("delta_net_npv", &c.delta_net_npv),
                ] {
                    let mut r = row(
                        &format!("vs {}", summary.scenario.baseline),
                        rname,
                        p,
                        q,
                        "$B",
                    );
                    r.extend(stat_cells(st, true));
                    sheets.summary.push(r);
                }
            }
        }

        // Per-year sheet (the rows of annual.csv).
        for a in &result.annual.rows {
            let st = &a.stat;
            sheets.annual.push(vec![
                text(label),
                Cell::Int(a.year as i64),
                text(a.quantity.as_str()),
                text(&a.regime),
                text(&a.name),
                text("$B"),
                Cell::Money(st.mean),
                Cell::Money(st.sd),
                Cell::Money(st.p5),
                Cell::Money(st.p25),
                Cell::Money(st.p50),
                Cell::Money(st.p95),
            ]);
        }

        // Per-step sheet (the rows of steps.csv).
        let t = &result.steps;
        for col in &t.columns {
            for (i, (&k, &time)) in t.steps.iter().zip(&t.times).enumerate() {
                let mut r = vec![
                    text(label),
                    text(col.quantity.as_str()),
                    text(&col.regime),
                    text(&col.name),
                    text(col.quantity.unit()),
                    Cell::Int(k as i64),
                    Cell::Number(time),
                    Cell::Money(col.mean[i]),
                ];
                r.extend(col.quantiles[i].iter().map(|&x| Cell::Money(x)));
                sheets.steps.push(r);
            }
        }
        sheets
    }
}

/// The sheet of a [`compare::Table`] (a batch comparison or a sweep grid).
pub fn table_sheet(name: &str, table: &compare::Table) -> Sheet {
    let mut sheet = Sheet {
        name: name.to_string(),
        headers: table
            .leading
            .iter()
            .chain(table.columns.iter().map(|(c, _)| c))
            .cloned()
            .collect(),
        rows: Vec::new(),
    };
    for (lead, cells) in &table.rows {
        let mut r: Vec<Cell> = lead
            .iter()
            .map(|s| match s.parse::<f64>() {
                Ok(x) if x.is_finite() => Cell::Number(x),
                _ => text(s),
            })
            .collect();
        for ((_, kind), v) in table.columns.iter().zip(cells) {
            r.push(match (v, kind) {
                (None, _) => Cell::Empty,
                (Some(x), Kind::Money) => Cell::Money(*x),
                (Some(x), Kind::Probability) => Cell::Probability(*x),
                (Some(x), Kind::Year) => Cell::Number(*x),
            });
        }
        sheet.rows.push(r);
    }
    sheet
}

/// The sheets of a workbook: `first` (e.g. the comparison) before the
/// summary, per-year and per-step sheets of `runs`.
pub fn run_workbook(runs: &[RunSheets], first: &[Sheet]) -> Vec<Sheet> {
    let mut sheets: Vec<Sheet> = first.to_vec();
    let mut summary = Sheet::new("summary", &SUMMARY_HEADERS);
    let mut annual = Sheet::new("per year", &ANNUAL_HEADERS);
    let mut step_headers = vec![
        "run", "quantity", "regime", "name", "unit", "step", "time", "mean",
    ];
    step_headers.extend(QUANTILE_COLUMNS);
    let mut steps = Sheet::new("per step", &step_headers);
    for r in runs {
        summary.rows.extend(r.summary.iter().cloned());
        annual.rows.extend(r.annual.iter().cloned());
        steps.rows.extend(r.steps.iter().cloned());
    }
    sheets.extend([summary, annual, steps]);
    sheets
}

/// The workbook's bytes (.xlsx).
pub fn workbook_bytes(sheets: &[Sheet]) -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold().set_align(FormatAlign::Center);
    let money = Format::new().set_num_format("\"$\"#,##0.0\"B\";-\"$\"#,##0.0\"B\"");
    let prob = Format::new().set_num_format("0.0%");
    let number = Format::new().set_num_format("0.00");
    for sheet in sheets {
        if sheet.rows.len() + 1 > MAX_ROWS {
            return Err(XlsxError::RowColumnLimitError);
        }
        let ws = wb.add_worksheet();
        ws.set_name(&sheet.name)?;
        for (c, h) in sheet.headers.iter().enumerate() {
            ws.write_string_with_format(0, c as u16, h, &bold)?;
            let width = (h.chars().count() as f64 + 2.0).clamp(9.0, 40.0);
            ws.set_column_width(c as u16, width)?;
        }
        for (i, row) in sheet.rows.iter().enumerate() {
            let r = (i + 1) as u32;
            for (c, cell) in row.iter().enumerate() {
                let c = c as u16;
                match cell {
                    Cell::Text(s) => {
                        ws.write_string(r, c, s)?;
                    }
                    Cell::Int(x) => {
                        ws.write_number(r, c, *x as f64)?;
                    }
                    Cell::Number(x) if x.is_finite() => {
                        ws.write_number_with_format(r, c, *x, &number)?;
                    }
                    Cell::Money(x) if x.is_finite() => {
                        ws.write_number_with_format(r, c, *x, &money)?;
                    }
                    Cell::Probability(x) if x.is_finite() => {
                        ws.write_number_with_format(r, c, *x, &prob)?;
                    }
                    // Excel has no NaN or infinity: leave the cell empty.
                    Cell::Number(_) | Cell::Money(_) | Cell::Probability(_) | Cell::Empty => {}
                }
            }
        }
        ws.set_freeze_panes(1, 0)?;
        if !sheet.headers.is_empty() {
            let last_row = sheet.rows.len() as u32;
            ws.autofilter(0, 0, last_row, (sheet.headers.len() - 1) as u16)?;
        }
    }
    wb.save_to_buffer()
}
