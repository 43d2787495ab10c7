//! Stage 6 of the pipeline, Excel flavour: the results of one or more runs
//! as one workbook (rust_xlsxwriter). Like the other exporters it returns
//! bytes; the output manager ([`crate::export::manager`]) writes them.
//!
//! Sheets: `summary` (every statistic of summary.json: every field of each
//! distribution, the standard error and a 95% interval of each mean, each
//! probability with its binomial standard error and Wilson 95% interval,
//! one row per quantity, its summary.json key in the last column), `per
//! year` (annual revenue and payments, every statistic), `per step` (the
//! per-step percentiles of steps.csv), `inputs` (every scenario parameter
//! with its unit, the sources and display names) and `run` (paths, seed,
//! threads, timing, version). Batches and sweeps lead with a `comparison`
//! or `sweep` sheet (the [`compare::Table`]); a sensitivity analysis has
//! its ranked `sensitivity` sheet. Every sheet has a frozen, bold header
//! row, an autofilter and columns as wide as their contents; money is
//! formatted in $B, probabilities as percentages, counts and years as
//! integers. A workbook of several runs stacks their rows, the first
//! column naming the run.

use rust_xlsxwriter::{Format, FormatAlign, Workbook, XlsxError};

use crate::export::report::{parameter_unit, scenario_parameters};
use crate::export::QUANTILE_COLUMNS;
use crate::result::RunResult;
use crate::scenario::Scenario;
use crate::statistics::Stat;
use crate::study::compare::{self, Kind};
use crate::study::Swing;

/// Excel's last row index (1,048,576 rows).
const MAX_ROWS: usize = 1_048_576;

/// One cell of a sheet.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text.
    Text(String),
    /// An integer (years, steps, paths, seeds), shown without decimals.
    Int(i64),
    /// A plain number, shown with two decimals (the cell keeps every digit).
    Number(f64),
    /// Money in $B, shown with one decimal (the cell keeps every digit).
    Money(f64),
    /// A probability, shown as a percentage with two decimals.
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

/// The rows one run contributes to the summary, per-year, per-step, inputs
/// and run sheets. Built right after the run, so a batch need not keep
/// every run's statistics in memory.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunSheets {
    /// Rows of the `summary` sheet.
    pub summary: Vec<Vec<Cell>>,
    /// Rows of the `per year` sheet.
    pub annual: Vec<Vec<Cell>>,
    /// Rows of the `per step` sheet.
    pub steps: Vec<Vec<Cell>>,
    /// Rows of the `inputs` sheet.
    pub inputs: Vec<Vec<Cell>>,
    /// Rows of the `run` sheet.
    pub run: Vec<Vec<Cell>>,
}

/// Columns of the statistics of a distribution, in this order.
const STAT_COLUMNS: [&str; 14] = [
    "mean", "se", "sd", "min", "max", "p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99",
];

/// Columns of the 95% intervals of the quantiles (summary.json's
/// `quantile_ci95`), low then high for each of p1 … p99.
const QUANTILE_INTERVAL_COLUMNS: [&str; 18] = [
    "p1 95% low",
    "p1 95% high",
    "p5 95% low",
    "p5 95% high",
    "p10 95% low",
    "p10 95% high",
    "p25 95% low",
    "p25 95% high",
    "p50 95% low",
    "p50 95% high",
    "p75 95% low",
    "p75 95% high",
    "p90 95% low",
    "p90 95% high",
    "p95 95% low",
    "p95 95% high",
    "p99 95% low",
    "p99 95% high",
];

fn summary_headers() -> Vec<&'static str> {
    let mut h = vec!["run", "section", "regime", "name", "quantity", "unit"];
    h.extend(STAT_COLUMNS);
    h.extend(["mean 95% low", "mean 95% high"]);
    h.extend(QUANTILE_INTERVAL_COLUMNS);
    h.push("key");
    h
}

fn annual_headers() -> Vec<&'static str> {
    let mut h = vec!["run", "year", "quantity", "regime", "name", "unit"];
    h.extend(STAT_COLUMNS);
    h.push("key");
    h
}

const INPUT_HEADERS: [&str; 5] = ["run", "parameter", "value", "unit", "note"];
const RUN_HEADERS: [&str; 4] = ["run", "field", "value", "unit"];

fn text(s: &str) -> Cell {
    Cell::Text(s.to_string())
}

/// Every field of a statistic ([`STAT_COLUMNS`]), then the 95% interval
/// of its mean and those of its quantiles, as summary.json gives them.
fn stat_cells(s: &Stat, money: bool) -> Vec<Cell> {
    let c = |x: f64| value_cell(x, money);
    let mut v = stat_fields(s, money);
    v.extend(s.mean_ci95.map(c));
    v.extend(s.quantile_ci95.all().into_iter().flatten().map(c));
    v
}

/// The fields of a statistic alone ([`STAT_COLUMNS`]), without intervals.
fn stat_fields(s: &Stat, money: bool) -> Vec<Cell> {
    let c = |x: f64| value_cell(x, money);
    let mut v = vec![
        c(s.mean),
        Cell::Number(s.se),
        Cell::Number(s.sd),
        c(s.min),
        c(s.max),
    ];
    v.extend(s.quantiles().iter().map(|&q| c(q)));
    v
}

/// A value in $B (`money`) or a plain number.
fn value_cell(x: f64, money: bool) -> Cell {
    if money {
        Cell::Money(x)
    } else {
        Cell::Number(x)
    }
}

/// A probability from `n` independent paths: the value, its binomial
/// standard error (empty when the paths are not independent, under
/// antithetic or qmc sampling: the interval then carries the error), empty
/// distribution columns and its 95% interval as summary.json gives it.
fn probability_cells(p: f64, n: u64, independent: bool, ci95: [f64; 2]) -> Vec<Cell> {
    let se = if independent {
        Cell::Probability((p * (1.0 - p) / n.max(1) as f64).sqrt())
    } else {
        Cell::Empty
    };
    let mut v = vec![Cell::Probability(p), se];
    v.extend((2..STAT_COLUMNS.len()).map(|_| Cell::Empty));
    v.extend(ci95.map(Cell::Probability));
    v.extend(QUANTILE_INTERVAL_COLUMNS.iter().map(|_| Cell::Empty));
    v
}

impl RunSheets {
    /// The rows of one run; `label` fills the first column (the scenario
    /// name, or a sweep's grid point).
    pub fn new(label: &str, result: &RunResult) -> RunSheets {
        let summary = &result.summary;
        let n = summary.run.paths;
        let iid = summary.run.sampling.is_mc();
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
        let mut push = |mut r: Vec<Cell>, cells: Vec<Cell>, key: String| {
            r.extend(cells);
            r.push(Cell::Text(key));
            sheets.summary.push(r);
        };
        // Summary sheet: every statistic of summary.json.
        for (s, ss) in &summary.series {
            push(
                row("series", "", s, "run_rate_end", "$B/year"),
                stat_cells(&ss.run_rate_end, true),
                format!("series.{s}.run_rate_end"),
            );
            for (y, st) in &ss.annual_revenue {
                push(
                    row("series", "", s, &format!("annual_revenue {y}"), "$B"),
                    stat_cells(st, true),
                    format!("series.{s}.annual_revenue.{y}"),
                );
            }
        }
        for (rname, reg) in &summary.regimes {
            for (f, fl) in &reg.flows {
                let key = format!("regimes.{rname}.flows.{f}");
                for (q, st) in [("total", &fl.total), ("npv", &fl.npv)] {
                    push(
                        row("flow", rname, f, q, "$B"),
                        stat_cells(st, true),
                        format!("{key}.{q}"),
                    );
                }
                if let Some(h) = &fl.cap_hit {
                    push(
                        row("cap", rname, f, "P(cap binds)", "probability"),
                        probability_cells(h.probability, n, iid, h.probability_ci95),
                        format!("{key}.cap_hit.probability"),
                    );
                    for (y, p) in &h.probability_by_year {
                        let ci = h
                            .probability_by_year_ci95
                            .get(y)
                            .copied()
                            .unwrap_or([f64::NAN; 2]);
                        push(
                            row(
                                "cap",
                                rname,
                                f,
                                &format!("P(hit by end {y})"),
                                "probability",
                            ),
                            probability_cells(*p, n, iid, ci),
                            format!("{key}.cap_hit.probability_by_year.{y}"),
                        );
                    }
                    if let Some(t) = &h.time {
                        push(
                            row(
                                "cap",
                                rname,
                                f,
                                "hit time (paths that hit)",
                                "calendar year",
                            ),
                            stat_cells(t, false),
                            format!("{key}.cap_hit.time"),
                        );
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
                    push(
                        row("party", rname, p, q, "$B"),
                        stat_cells(st, true),
                        format!("regimes.{rname}.parties.{p}.{q}"),
                    );
                }
            }
        }
        for (rname, parties) in &summary.comparisons {
            for (p, c) in parties {
                for (q, st) in [
                    ("delta_net", &c.delta_net),
                    ("delta_net_npv", &c.delta_net_npv),
                ] {
                    push(
                        row(
                            &format!("vs {}", summary.scenario.baseline),
                            rname,
                            p,
                            q,
                            "$B",
                        ),
                        stat_cells(st, true),
                        format!("comparisons.{rname}.{p}.{q}"),
                    );
                }
            }
        }

        // Per-year sheet (the rows of annual.csv, every statistic).
        for a in &result.annual.rows {
            let mut r = vec![
                text(label),
                Cell::Int(a.year as i64),
                text(a.quantity.as_str()),
                text(&a.regime),
                text(&a.name),
                text("$B"),
            ];
            r.extend(stat_fields(&a.stat, true));
            r.push(Cell::Text(match a.quantity {
                crate::result::AnnualQuantity::Revenue => {
                    format!("series.{}.annual_revenue.{}", a.name, a.year)
                }
                crate::result::AnnualQuantity::Payment => String::new(),
            }));
            sheets.annual.push(r);
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

        sheets.inputs = input_rows(label, &summary.scenario);

        // Run sheet.
        let ri = &summary.run;
        let run_row = |field: &str, value: Cell, unit: &str| {
            vec![text(label), text(field), value, text(unit)]
        };
        sheets.run = vec![
            run_row("paths", Cell::Int(ri.paths as i64), "paths"),
            run_row("seed", Cell::Text(ri.seed.to_string()), ""),
            run_row("steps", Cell::Int(ri.steps as i64), "time steps per path"),
            run_row("threads", Cell::Int(ri.threads as i64), "worker threads"),
            run_row(
                "elapsed_seconds",
                Cell::Number(ri.elapsed_seconds),
                "seconds",
            ),
            run_row(
                "paths_per_second",
                Cell::Number(ri.paths_per_second),
                "paths per second",
            ),
            run_row("version", Cell::Text(ri.version.clone()), "revshare"),
            run_row(
                "schema_version",
                Cell::Int(summary.schema_version as i64),
                "summary.json",
            ),
            run_row(
                "sampling",
                Cell::Text(ri.sampling.as_str().into()),
                "mc, antithetic or qmc",
            ),
        ];
        if let Some(r) = ri.replicates {
            sheets.run.push(run_row(
                "replicates",
                Cell::Int(r as i64),
                "independent scramblings (qmc)",
            ));
        }
        if let Some(by) = &ri.stopped_by {
            sheets
                .run
                .push(run_row("stopped_by", Cell::Text(by.clone()), "--precision"));
        }
        for (i, p) in ri.precision.iter().enumerate() {
            let f = |name: &str| format!("precision.{i}.{name}");
            sheets.run.extend([
                run_row(&f("key"), Cell::Text(p.key.clone()), "summary.json key"),
                run_row(
                    &f("tolerance"),
                    Cell::Number(p.tolerance),
                    if p.relative {
                        "fraction of the estimate"
                    } else {
                        "absolute"
                    },
                ),
                run_row(&f("relative"), Cell::Text(p.relative.to_string()), ""),
                run_row(&f("estimate"), Cell::Number(p.estimate), ""),
                run_row(
                    &f("half_width"),
                    Cell::Number(p.half_width),
                    "95% half-width",
                ),
                run_row(&f("met"), Cell::Text(p.met.to_string()), ""),
            ]);
        }
        sheets
    }
}

/// The `inputs` rows of one scenario: every parameter with its unit, then
/// its sources and display names.
fn input_rows(label: &str, sc: &Scenario) -> Vec<Vec<Cell>> {
    let mut rows = Vec::new();
    for (p, v) in scenario_parameters(sc) {
        let value = if p.ends_with("seed") {
            // Text, so that Excel keeps every digit of a 64-bit seed.
            Cell::Text(v.clone())
        } else if let Ok(i) = v.parse::<i64>() {
            Cell::Int(i)
        } else {
            match v.parse::<f64>() {
                Ok(x) if x.is_finite() => Cell::Number(x),
                _ => Cell::Text(v.clone()),
            }
        };
        rows.push(vec![
            text(label),
            text(&p),
            value,
            text(parameter_unit(&p)),
            Cell::Empty,
        ]);
    }
    for (i, s) in sc.sources.iter().enumerate() {
        rows.push(vec![
            text(label),
            Cell::Text(format!("sources.{i}")),
            text(&s.id),
            text("docs/sources.md id"),
            text(&s.citation),
        ]);
    }
    for (group, map) in [
        ("series", &sc.labels.series),
        ("flows", &sc.labels.flows),
        ("parties", &sc.labels.parties),
        ("regimes", &sc.labels.regimes),
    ] {
        for (k, v) in map {
            rows.push(vec![
                text(label),
                Cell::Text(format!("labels.{group}.{k}")),
                text(v),
                text("display name"),
                Cell::Empty,
            ]);
        }
    }
    rows.push(vec![
        text(label),
        text("description"),
        text(&sc.description),
        Cell::Empty,
        Cell::Empty,
    ]);
    rows
}

/// An `inputs` sheet of labelled scenarios.
pub fn inputs_sheet(scenarios: &[(String, &Scenario)]) -> Sheet {
    let mut sheet = Sheet::new("inputs", &INPUT_HEADERS);
    for (label, sc) in scenarios {
        sheet.rows.extend(input_rows(label, sc));
    }
    sheet
}

/// The `sensitivity` sheet: the parameters ranked by the swing of the
/// metric `metric` around `base_value`.
pub fn sensitivity_sheet(metric: &str, base_value: f64, rows: &[Swing]) -> Sheet {
    let mut sheet = Sheet::new(
        "sensitivity",
        &[
            "rank",
            "parameter",
            "unit",
            "base_value",
            "low_value",
            "high_value",
            "metric",
            "metric_base",
            "metric_low",
            "metric_high",
            "delta_low",
            "delta_high",
            "swing",
            "note",
        ],
    );
    for (k, r) in rows.iter().enumerate() {
        sheet.rows.push(vec![
            Cell::Int(k as i64 + 1),
            text(&r.param.path),
            text(parameter_unit(&r.param.path)),
            Cell::Number(r.param.base),
            Cell::Number(r.param.low),
            Cell::Number(r.param.high),
            text(metric),
            Cell::Number(base_value),
            Cell::Number(r.metric_low),
            Cell::Number(r.metric_high),
            Cell::Number(r.metric_low - base_value),
            Cell::Number(r.metric_high - base_value),
            Cell::Number(r.swing),
            text(&r.note),
        ]);
    }
    sheet
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
            .zip(&table.leading)
            .map(|(s, h)| match s.parse::<f64>() {
                // Counts (paths, points) as integers; a seed as text, so
                // that Excel keeps every digit.
                _ if h == "seed" => text(s),
                Ok(x)
                    if x.is_finite() && x.fract() == 0.0 && !s.contains('.') && x.abs() < 1e15 =>
                {
                    Cell::Int(x as i64)
                }
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
/// summary, per-year, per-step, inputs and run sheets of `runs`.
pub fn run_workbook(runs: &[RunSheets], first: &[Sheet]) -> Vec<Sheet> {
    let mut sheets: Vec<Sheet> = first.to_vec();
    let mut summary = Sheet::new("summary", &summary_headers());
    let mut annual = Sheet::new("per year", &annual_headers());
    let mut step_headers = vec![
        "run", "quantity", "regime", "name", "unit", "step", "time", "mean",
    ];
    step_headers.extend(QUANTILE_COLUMNS);
    let mut steps = Sheet::new("per step", &step_headers);
    let mut inputs = Sheet::new("inputs", &INPUT_HEADERS);
    let mut run = Sheet::new("run", &RUN_HEADERS);
    for r in runs {
        summary.rows.extend(r.summary.iter().cloned());
        annual.rows.extend(r.annual.iter().cloned());
        steps.rows.extend(r.steps.iter().cloned());
        inputs.rows.extend(r.inputs.iter().cloned());
        run.rows.extend(r.run.iter().cloned());
    }
    sheets.extend([summary, annual, steps, inputs, run]);
    sheets
}

/// Width in characters a cell needs as displayed.
fn shown_width(cell: &Cell) -> usize {
    match cell {
        Cell::Text(s) => s.chars().count(),
        Cell::Int(x) => x.to_string().len() + x.to_string().len() / 3,
        Cell::Number(x) | Cell::Money(x) => {
            let digits = if x.is_finite() {
                (x.abs().max(1.0).log10().floor() as usize) + 1
            } else {
                1
            };
            digits + digits / 3 + 5
        }
        Cell::Probability(_) => 8,
        Cell::Empty => 0,
    }
}

/// The workbook's bytes (.xlsx).
pub fn workbook_bytes(sheets: &[Sheet]) -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold().set_align(FormatAlign::Center);
    let money = Format::new().set_num_format("\"$\"#,##0.0\"B\";-\"$\"#,##0.0\"B\"");
    let prob = Format::new().set_num_format("0.00%");
    let number = Format::new().set_num_format("#,##0.00");
    let int = Format::new().set_num_format("0");
    let count = Format::new().set_num_format("#,##0");
    for sheet in sheets {
        if sheet.rows.len() + 1 > MAX_ROWS {
            return Err(XlsxError::RowColumnLimitError);
        }
        let ws = wb.add_worksheet();
        ws.set_name(&sheet.name)?;
        let mut widths: Vec<usize> = sheet
            .headers
            .iter()
            .map(|h| h.chars().count() + 2)
            .collect();
        for (c, h) in sheet.headers.iter().enumerate() {
            ws.write_string_with_format(0, c as u16, h, &bold)?;
        }
        for (i, row) in sheet.rows.iter().enumerate() {
            let r = (i + 1) as u32;
            for (c, cell) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(c) {
                    *w = (*w).max(shown_width(cell) + 2);
                }
                let col = c as u16;
                let header = sheet.headers.get(c).map_or("", String::as_str);
                match cell {
                    Cell::Text(s) => {
                        ws.write_string(r, col, s)?;
                    }
                    Cell::Int(x) => {
                        // Years and steps plain; counts with a separator.
                        let f = if header == "year" || header == "step" || header == "rank" {
                            &int
                        } else {
                            &count
                        };
                        ws.write_number_with_format(r, col, *x as f64, f)?;
                    }
                    Cell::Number(x) if x.is_finite() => {
                        ws.write_number_with_format(r, col, *x, &number)?;
                    }
                    Cell::Money(x) if x.is_finite() => {
                        ws.write_number_with_format(r, col, *x, &money)?;
                    }
                    Cell::Probability(x) if x.is_finite() => {
                        ws.write_number_with_format(r, col, *x, &prob)?;
                    }
                    // Excel has no NaN or infinity: leave the cell empty.
                    Cell::Number(_) | Cell::Money(_) | Cell::Probability(_) | Cell::Empty => {}
                }
            }
        }
        for (c, w) in widths.iter().enumerate() {
            ws.set_column_width(c as u16, (*w as f64).clamp(8.0, 60.0))?;
        }
        ws.set_freeze_panes(1, 0)?;
        if !sheet.headers.is_empty() {
            let last_row = sheet.rows.len() as u32;
            ws.autofilter(0, 0, last_row, (sheet.headers.len() - 1) as u16)?;
        }
    }
    wb.save_to_buffer()
}
