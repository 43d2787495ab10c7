//! Export, the report: one self-contained HTML page per run (and per
//! batch, sweep and sensitivity analysis), the file people pass around.
//!
//! Like the other writers it returns text and does no I/O. The page holds
//! everything inline: CSS in a `<style>` element and the charts as inline
//! SVG, with no script, font, image or style sheet fetched from anywhere,
//! so it reads offline and prints to PDF from a browser (each section and
//! chart avoids page breaks inside it).
//!
//! A run's page ([`run_report`]) has, in order:
//!
//! 1. the headline answer in words (what the text summary says);
//! 2. key tables with their Monte Carlo errors: the standard error of
//!    every mean, and the 95% interval of every probability (both as
//!    summary.json gives them);
//! 3. every chart of the run (its caption is drawn inside it) and the file it
//!    was also written to;
//! 4. the inputs: every scenario parameter with its value and unit, the
//!    scenario's description and its sources (ids of `docs/sources.md`);
//! 5. the scenario's validation warnings;
//! 6. reproducibility: revshare version, seed, paths, threads, the SHA-256
//!    of the validated scenario and the command line.
//!
//! Every key figure sits in an element with `data-key` (its key in
//! `summary.json`) and `data-value` (the number at full precision), so a
//! test or a script can check the page against `summary.json`.

use std::fmt::Write as _;

use serde_json::Value;

use crate::engine::partial::scenario_hash;
use crate::export::charts::RenderedChart;
use crate::result::RunResult;
use crate::scenario::Scenario;
use crate::statistics::Stat;
use crate::summary::Summary;

/// What a report says about how it was made, beyond the result itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReportContext {
    /// The command line that produced the result, as typed (empty when
    /// unknown, e.g. a library caller).
    pub command_line: String,
}

/// [`crate::result::Distribution::share_positive`] of the change in party `p`'s net position under
/// regime `r` (NaN and [0, 1] when the result has no such comparison).
fn gain_share(result: &RunResult, r: &str, p: &str) -> (f64, [f64; 2]) {
    result
        .comparisons
        .iter()
        .find(|x| x.regime == r && x.party == p)
        .map_or((f64::NAN, [0.0, 1.0]), |x| x.delta_net.share_positive())
}

// ---------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------

/// `s` with `& < > " '` escaped for HTML text and attributes.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

/// A number with `d` decimals, a thousands separator and a true minus.
fn fixed(x: f64, d: usize) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    let s = format!("{:.*}", d, x.abs());
    let (int, frac) = s.split_at(s.find('.').unwrap_or(s.len()));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let zero = s.chars().all(|c| c == '0' || c == '.');
    let sign = if x < 0.0 && !zero { "\u{2212}" } else { "" };
    format!("{sign}{grouped}{frac}")
}

/// Money in $B with `d` decimals, e.g. "$37.81B", "−$4.9B".
fn money_d(x: f64, d: usize) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    let s = fixed(x.abs(), d);
    if x < 0.0 && s.chars().any(|c| c.is_ascii_digit() && c != '0') {
        format!("\u{2212}${s}B")
    } else {
        format!("${s}B")
    }
}

/// Money with about three significant digits (whole numbers without
/// decimals).
fn money(x: f64) -> String {
    let a = x.abs();
    let d = if (x - x.round()).abs() < 1e-9 || a >= 100.0 {
        0
    } else if a >= 10.0 {
        1
    } else {
        2
    };
    money_d(x, d)
}

/// Decimals that show a mean to the precision its standard error allows
/// (the error's first significant digit), within 0..=4.
fn decimals_for(se: f64) -> usize {
    if !(se.is_finite() && se > 0.0) {
        return 2;
    }
    (-se.log10().floor()).clamp(0.0, 4.0) as usize
}

/// A percentage with `d` decimals.
fn pct_d(p: f64, d: usize) -> String {
    if !p.is_finite() {
        return "–".into();
    }
    format!("{}%", fixed(100.0 * p, d))
}

/// A decimal calendar year as a month, e.g. 2029.21 → "Mar 2029".
fn month_of(t: f64) -> String {
    if t.is_finite() {
        super::charts::month_of(t)
    } else {
        "–".into()
    }
}

/// A table cell with a key figure: shown as `text`, with its summary.json
/// key and full-precision value as data attributes.
fn fig(key: &str, value: f64, text: &str) -> String {
    format!(
        "<td class=\"num\" data-key=\"{}\" data-value=\"{}\">{}</td>",
        escape(key),
        value,
        escape(text)
    )
}

/// A plain table cell.
fn td(text: &str) -> String {
    format!("<td>{}</td>", escape(text))
}

/// A numeric cell that is not a summary.json figure.
fn td_num(text: &str) -> String {
    format!("<td class=\"num\">{}</td>", escape(text))
}

/// A table with a header row; `rows` are rows of ready `<td>` cells.
fn table(class: &str, headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut o = format!("<table class=\"{class}\"><thead><tr>");
    for h in headers {
        let _ = write!(o, "<th>{}</th>", escape(h));
    }
    o.push_str("</tr></thead><tbody>\n");
    for r in rows {
        o.push_str("<tr>");
        for c in r {
            o.push_str(c);
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody></table>\n");
    o
}

/// Cells of a money statistic: mean ± se, sd, p5, p50, p95 (keys under
/// `key`).
fn stat_cells(key: &str, s: &Stat) -> Vec<String> {
    let d = decimals_for(s.se);
    vec![
        fig(&format!("{key}.mean"), s.mean, &money_d(s.mean, d)),
        fig(&format!("{key}.se"), s.se, &format!("± {}", fixed(s.se, d))),
        fig(&format!("{key}.sd"), s.sd, &fixed(s.sd, d.min(2))),
        fig(&format!("{key}.p5"), s.p5, &money(s.p5)),
        fig(&format!("{key}.p50"), s.p50, &money(s.p50)),
        fig(&format!("{key}.p95"), s.p95, &money(s.p95)),
    ]
}

const STAT_HEADERS: [&str; 6] = ["mean", "± se", "sd", "p5", "median", "p95"];

// ---------------------------------------------------------------------------
// Page frame
// ---------------------------------------------------------------------------

const CSS: &str = r#"
:root { --ink: #212121; --grey: #5f5f5f; --rule: #d8d8d8; --accent: #0072b2; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", Verdana, "Helvetica Neue", Arial, sans-serif; color: var(--ink);
       max-width: 1180px; margin: 0 auto; padding: 1.5rem 1.25rem 3rem; line-height: 1.45; font-size: 15px; }
h1 { font-size: 1.6rem; margin: 0 0 .3rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 .6rem; padding-bottom: .25rem; border-bottom: 2px solid var(--rule); }
h3 { font-size: 1.05rem; margin: 1.2rem 0 .4rem; }
p.lead { color: var(--grey); margin: 0 0 1rem; }
nav ol { columns: 2; margin: .5rem 0 0; padding-left: 1.3rem; }
ul.headline li { margin: .35rem 0; }
table { border-collapse: collapse; margin: .4rem 0 1rem; width: 100%; font-size: .88rem; }
th, td { padding: .28rem .5rem; border-bottom: 1px solid var(--rule); text-align: left; vertical-align: top; }
th { background: #f3f3f3; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
div.wide { overflow-x: auto; }
table.side-by-side { font-size: .8rem; }
table.side-by-side td:first-child { min-width: 15rem; }
table.inputs td:first-child { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .82rem; }
figure { margin: 1rem 0 1.6rem; }
figure svg { width: 100%; height: auto; display: block; border: 1px solid var(--rule); }
figcaption { color: var(--grey); font-size: .85rem; margin-top: .3rem; }
pre { background: #f6f6f6; padding: .7rem; overflow-x: auto; font-size: .8rem; white-space: pre-wrap; }
dl.repro { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
dl.repro dt { font-weight: 600; } dl.repro dd { margin: 0; word-break: break-all; }
code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .85em; }
.note { color: var(--grey); font-size: .88rem; }
.warn { color: #8a4b00; }
@media print {
  body { max-width: none; font-size: 11px; padding: 0; }
  nav { display: none; }
  figure, tr, dl.repro, ul.headline { break-inside: avoid; page-break-inside: avoid; }
  div.wide { overflow: visible; }
  h2, h3 { break-after: avoid; page-break-after: avoid; }
  a { color: inherit; text-decoration: none; }
}
"#;

/// A complete HTML page around `body`.
fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"revshare {}\">\n<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        env!("CARGO_PKG_VERSION"),
        escape(title)
    )
}

/// The headline section: one list item per sentence.
fn headline_section(lines: &[String]) -> String {
    let mut o =
        String::from("<section id=\"headline\">\n<h2>Headline</h2>\n<ul class=\"headline\">\n");
    for line in lines {
        let _ = writeln!(o, "<li>{}</li>", escape(line));
    }
    o.push_str("</ul>\n</section>\n");
    o
}

/// The charts as figures with inline SVG, or a note when none were drawn.
fn charts_section(charts: Option<&[RenderedChart]>) -> String {
    let mut o = String::from("<section id=\"charts\">\n<h2>Charts</h2>\n");
    match charts {
        None => o.push_str(
            "<p class=\"note\">The charts were not drawn for this run (<code>--no-charts</code>).</p>\n",
        ),
        Some(charts) => {
            for c in charts {
                let _ = write!(
                    o,
                    "<figure id=\"chart-{}\" class=\"chart\">\n<h3>{}</h3>\n{}\n<figcaption>Also in the run's folder as <code>charts/{}.png</code> and <code>.svg</code>.</figcaption>\n</figure>\n",
                    escape(&c.name),
                    escape(&c.title),
                    inline_svg(&c.rendered.svg),
                    escape(&c.name)
                );
            }
        }
    }
    o.push_str("</section>\n");
    o
}

/// An SVG document as an inline element: without an XML declaration, with
/// an accessible role.
fn inline_svg(svg: &str) -> String {
    let s = svg.trim_start();
    let s = match s.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map_or(s, |(_, r)| r.trim_start()),
        None => s,
    };
    s.replacen("<svg ", "<svg role=\"img\" ", 1)
}

// ---------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------

/// The unit of a scenario parameter, from its dotted path.
pub fn parameter_unit(path: &str) -> &'static str {
    let last = path.rsplit('.').next().unwrap_or(path);
    let in_series = path.starts_with("series.");
    match last {
        "start_year" | "end_year" | "from_year" | "to_year" => "calendar year",
        "year" => "decimal calendar year",
        "steps_per_year" => "steps per year",
        "discount_rate" => "per year (effective)",
        "paths" => "paths",
        "seed" => "",
        "initial_run_rate" => "$B/year",
        "cap" | "paid_before_start" => "$B",
        "rho" | "growth_correlation" => "correlation",
        "dof" => "degrees of freedom",
        "value" if path.starts_with("flow_references") => "$B",
        "value" if path.starts_with("references") => "$B/year",
        "rate" if path.starts_with("regimes.") => "share of revenue",
        "rate" if in_series => "jumps per year",
        "mean" | "sd" if in_series => "log revenue",
        "reversion" | "volatility_decay" | "decay" => "per year (speed)",
        "initial" | "long_run" if path.contains(".growth.") => "per year (continuous)",
        "initial" | "long_run" if path.contains(".volatility.") => "per √year",
        "volatility" if path.contains(".growth.") => "per year per √year",
        _ => "",
    }
}

/// Every leaf of a JSON value as (dotted path, value).
fn leaves(v: &Value, path: &str, out: &mut Vec<(String, Value)>) {
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    match v {
        Value::Object(m) => m.iter().for_each(|(k, x)| leaves(x, &join(k), out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| leaves(x, &join(&i.to_string()), out)),
        _ => out.push((path.to_string(), v.clone())),
    }
}

/// The scenario's parameters (every leaf of its validated form except the
/// description, sources and labels, which are shown apart), as (path,
/// value as text).
pub fn scenario_parameters(sc: &Scenario) -> Vec<(String, String)> {
    let mut v = sc.to_json_value();
    if let Some(m) = v.as_object_mut() {
        for k in ["description", "sources", "labels"] {
            m.remove(k);
        }
    }
    let mut out = Vec::new();
    leaves(&v, "", &mut out);
    out.into_iter()
        .map(|(p, x)| {
            let text = match x {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (p, text)
        })
        .collect()
}

/// The inputs section: description, parameters, sources, display names.
fn inputs_section(sc: &Scenario) -> String {
    let mut o = String::from("<section id=\"inputs\">\n<h2>Inputs</h2>\n");
    if !sc.description.is_empty() {
        let _ = writeln!(o, "<p>{}</p>", escape(&sc.description));
    }
    o.push_str("<h3>Sources</h3>\n");
    if sc.sources.is_empty() {
        o.push_str("<p class=\"note\">The scenario cites no sources.</p>\n");
    } else {
        o.push_str(
            "<p class=\"note\">Reported figures the scenario uses; each id is a heading of \
             <code>docs/sources.md</code> in the revshare repository.</p>\n<ul class=\"sources\">\n",
        );
        for s in &sc.sources {
            let _ = writeln!(
                o,
                "<li><code>{}</code>: {}</li>",
                escape(&s.id),
                escape(&s.citation)
            );
        }
        o.push_str("</ul>\n");
    }
    o.push_str("<h3>Parameters</h3>\n<p class=\"note\">Every parameter of the validated scenario (defaults filled in), by the path <code>--set</code> takes.</p>\n");
    let rows: Vec<Vec<String>> = scenario_parameters(sc)
        .iter()
        .map(|(p, v)| {
            vec![
                td(p),
                format!("<td class=\"num\">{}</td>", escape(v)),
                td(parameter_unit(p)),
            ]
        })
        .collect();
    o.push_str(&table("inputs", &["parameter", "value", "unit"], &rows));
    if !sc.labels.is_empty() {
        o.push_str("<h3>Display names</h3>\n");
        let mut rows = Vec::new();
        for (group, map) in [
            ("series", &sc.labels.series),
            ("flow", &sc.labels.flows),
            ("party", &sc.labels.parties),
            ("regime", &sc.labels.regimes),
        ] {
            for (k, v) in map {
                rows.push(vec![td(group), td(k), td(v)]);
            }
        }
        o.push_str(&table("labels", &["kind", "name", "shown as"], &rows));
    }
    o.push_str("</section>\n");
    o
}

/// The validation warnings of a scenario (validated again from its echo,
/// which gives the same warnings as its file).
pub fn scenario_warnings(sc: &Scenario) -> Vec<String> {
    match Scenario::from_json_value(&sc.to_json_value(), std::path::Path::new(&sc.name)) {
        Ok(l) => l.warnings.iter().map(|w| w.to_string()).collect(),
        Err(e) => vec![format!("the scenario no longer validates: {e}")],
    }
}

fn warnings_section(groups: &[(String, Vec<String>)]) -> String {
    let mut o = String::from("<section id=\"warnings\">\n<h2>Validation warnings</h2>\n");
    let any = groups.iter().any(|(_, w)| !w.is_empty());
    if !any {
        o.push_str("<p>None: the scenario passed validation without warnings.</p>\n");
    } else {
        o.push_str("<ul>\n");
        for (name, ws) in groups {
            for w in ws {
                if name.is_empty() {
                    let _ = writeln!(o, "<li class=\"warn\">{}</li>", escape(w));
                } else {
                    let _ = writeln!(o, "<li class=\"warn\">{}: {}</li>", escape(name), escape(w));
                }
            }
        }
        o.push_str("</ul>\n");
    }
    o.push_str("</section>\n");
    o
}

/// One line of a reproducibility block: a name, a value, and whether it
/// describes the invocation (command line, threads, timing) rather than
/// the result. Such lines carry `class="varies"`, so that two reports of
/// the same result (a run and the merge of its shards) compare equal once
/// they are left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReproLine {
    /// What the line gives.
    pub name: String,
    /// Its value.
    pub value: String,
    /// Whether it describes the invocation, not the result.
    pub varies: bool,
}

impl ReproLine {
    /// A line that describes the result.
    pub fn fixed(name: &str, value: impl Into<String>) -> ReproLine {
        ReproLine {
            name: name.into(),
            value: value.into(),
            varies: false,
        }
    }

    /// A line that describes the invocation.
    pub fn varies(name: &str, value: impl Into<String>) -> ReproLine {
        ReproLine {
            name: name.into(),
            value: value.into(),
            varies: true,
        }
    }
}

/// Reproducibility lines of one run.
fn repro_rows(s: &Summary) -> Vec<ReproLine> {
    vec![
        ReproLine::fixed("revshare version", s.run.version.clone()),
        ReproLine::fixed("seed", s.run.seed.to_string()),
        ReproLine::fixed("paths", super::charts::thousands(s.run.paths)),
        ReproLine::fixed("time steps per path", s.run.steps.to_string()),
        ReproLine::fixed(
            "sampling",
            match s.run.replicates {
                Some(r) => format!(
                    "{} ({r} independently scrambled Sobol sequences; errors from the spread of their means)",
                    s.run.sampling.as_str()
                ),
                None if s.run.sampling.is_mc() => "mc (plain Monte Carlo)".to_string(),
                None => format!(
                    "{} (paths in mirrored pairs; errors from the pair means)",
                    s.run.sampling.as_str()
                ),
            },
        ),
        ReproLine::varies(
            "threads",
            format!(
                "{} (the result does not depend on the thread count)",
                s.run.threads
            ),
        ),
        ReproLine::varies(
            "sampling time",
            format!(
                "{:.2} s ({} paths/s)",
                s.run.elapsed_seconds,
                fixed(s.run.paths_per_second, 0)
            ),
        ),
        ReproLine::fixed(
            "scenario SHA-256",
            format!(
                "{} (of the validated scenario as summary.json echoes it, compact JSON)",
                scenario_hash(&s.scenario)
            ),
        ),
    ]
}

fn repro_section(rows: &[ReproLine], ctx: &ReportContext, how: &str) -> String {
    let mut o = String::from(
        "<section id=\"reproducibility\">\n<h2>Reproducibility</h2>\n<dl class=\"repro\">\n",
    );
    let command = if ctx.command_line.is_empty() {
        "(not recorded)".to_string()
    } else {
        ctx.command_line.clone()
    };
    let _ = writeln!(
        o,
        "<dt>command line</dt><dd class=\"varies\"><code>{}</code></dd>",
        escape(&command)
    );
    for r in rows {
        let _ = writeln!(
            o,
            "<dt>{}</dt><dd{}>{}</dd>",
            escape(&r.name),
            if r.varies { " class=\"varies\"" } else { "" },
            escape(&r.value)
        );
    }
    let _ = writeln!(
        o,
        "</dl>\n<p class=\"note\">{}</p>\n</section>",
        escape(how)
    );
    o
}

// ---------------------------------------------------------------------------
// One run
// ---------------------------------------------------------------------------

/// The headline sentences of a run: caps, totals per regime, each party's
/// gain against the baseline.
fn headline(result: &RunResult) -> Vec<String> {
    let s = &result.summary;
    let sc = &s.scenario;
    let l = &sc.labels;
    let years = format!("{}–{}", sc.start_year, sc.end_year);
    let flow_label = |name: &str| l.flow(name).to_string();
    let mut out = Vec::new();
    for (r, reg) in &s.regimes {
        for (f, fl) in &reg.flows {
            let Some(h) = &fl.cap_hit else { continue };
            let cap = sc.regimes[r]
                .iter()
                .find(|x| &x.name == f)
                .and_then(|x| x.cap)
                .unwrap_or(f64::NAN);
            let [lo, hi] = h.probability_ci95;
            let when = match &h.time {
                Some(t) => format!(
                    "; on the paths where it binds, it is reached in {} at the median (5–95%: {} to {})",
                    month_of(t.p50),
                    month_of(t.p5),
                    month_of(t.p95)
                ),
                None => String::new(),
            };
            out.push(format!(
                "Under {}, the {} cap on {} binds on {} of paths (95% interval {}–{}){when}.",
                l.regime(r),
                money(cap),
                flow_label(f),
                pct_d(h.probability, 1),
                pct_d(lo, 1),
                pct_d(hi, 1)
            ));
        }
    }
    // Each flow's mean total in every regime that has it.
    let mut names: Vec<&String> = Vec::new();
    for reg in s.regimes.values() {
        for f in reg.flows.keys() {
            if !names.contains(&f) {
                names.push(f);
            }
        }
    }
    for f in names {
        let mut parts = Vec::new();
        let mut regimes: Vec<&String> = s.regimes.keys().collect();
        regimes.sort_by_key(|r| **r != sc.baseline);
        for r in regimes {
            if let Some(fl) = s.regimes[r].flows.get(f) {
                parts.push(format!(
                    "{} (± {}) under {}",
                    money(fl.total.mean),
                    fixed(fl.total.se, decimals_for(fl.total.se)),
                    l.regime(r)
                ));
            }
        }
        out.push(format!(
            "{} pays a mean {} in {years} (paid inside the simulation; ± one standard error).",
            flow_label(f),
            parts.join(" against ")
        ));
    }
    for (r, parties) in &s.comparisons {
        for (p, c) in parties {
            let d = &c.delta_net;
            let (gain, [glo, ghi]) = gain_share(result, r, p);
            out.push(format!(
                "{}'s net position under {} against {}: {} a mean {} per path (± {}; median {}, 90% of paths between {} and {}); it gains on {} of paths (95% interval {}–{}). In present value: mean {}.",
                l.party(p),
                l.regime(r),
                l.regime(&sc.baseline),
                if d.mean >= 0.0 { "up" } else { "down" },
                money(d.mean.abs()),
                fixed(d.se, decimals_for(d.se)),
                money(d.p50),
                money(d.p5),
                money(d.p95),
                pct_d(gain, 1),
                pct_d(glo, 1),
                pct_d(ghi, 1),
                money(c.delta_net_npv.mean)
            ));
        }
    }
    out
}

/// The key tables of a run, with Monte Carlo errors.
fn key_tables(result: &RunResult) -> String {
    let s = &result.summary;
    let sc = &s.scenario;
    let l = &sc.labels;
    let mut o = String::from("<section id=\"tables\">\n<h2>Key figures</h2>\n<p class=\"note\">Money in $B. ± is the Monte Carlo standard error of the mean (summary.json's <code>se</code>); probabilities come with their 95% interval (summary.json's <code>probability_ci95</code>). Quantiles are of the paths, not errors.</p>\n");

    // Caps.
    let mut rows = Vec::new();
    for (r, reg) in &s.regimes {
        for (f, fl) in &reg.flows {
            let Some(h) = &fl.cap_hit else { continue };
            let key = format!("regimes.{r}.flows.{f}.cap_hit");
            let [lo, hi] = h.probability_ci95;
            rows.push(vec![
                td(l.regime(r)),
                td(l.flow(f)),
                td("by the end of the horizon"),
                fig(
                    &format!("{key}.probability"),
                    h.probability,
                    &pct_d(h.probability, 2),
                ),
                td_num(&format!("{}–{}", pct_d(lo, 2), pct_d(hi, 2))),
            ]);
            for (y, p) in &h.probability_by_year {
                let [lo, hi] = h
                    .probability_by_year_ci95
                    .get(y)
                    .copied()
                    .unwrap_or([f64::NAN; 2]);
                rows.push(vec![
                    td(""),
                    td(""),
                    td(&format!("by 31 Dec {y}")),
                    fig(&format!("{key}.probability_by_year.{y}"), *p, &pct_d(*p, 2)),
                    td_num(&format!("{}–{}", pct_d(lo, 2), pct_d(hi, 2))),
                ]);
            }
            if let Some(t) = &h.time {
                rows.push(vec![
                    td(""),
                    td(""),
                    td("date reached (paths that reach it)"),
                    fig(
                        &format!("{key}.time.p50"),
                        t.p50,
                        &format!("median {}", month_of(t.p50)),
                    ),
                    td_num(&format!("5–95%: {} to {}", month_of(t.p5), month_of(t.p95))),
                ]);
            }
        }
    }
    if !rows.is_empty() {
        o.push_str("<h3>When caps bind</h3>\n");
        o.push_str(&table(
            "caps",
            &["regime", "flow", "reached", "P(reached)", "95% interval"],
            &rows,
        ));
    }

    // Flow totals.
    let mut rows = Vec::new();
    for (r, reg) in &s.regimes {
        for (f, fl) in &reg.flows {
            let key = format!("regimes.{r}.flows.{f}");
            let mut row = vec![td(l.regime(r)), td(l.flow(f))];
            row.extend(stat_cells(&format!("{key}.total"), &fl.total));
            let d = decimals_for(fl.npv.se);
            row.push(fig(
                &format!("{key}.npv.mean"),
                fl.npv.mean,
                &money_d(fl.npv.mean, d),
            ));
            row.push(fig(
                &format!("{key}.npv.se"),
                fl.npv.se,
                &format!("± {}", fixed(fl.npv.se, d)),
            ));
            rows.push(row);
        }
    }
    o.push_str(&format!(
        "<h3>Flow totals, {}–{}</h3>\n",
        sc.start_year, sc.end_year
    ));
    let mut h: Vec<&str> = vec!["regime", "flow"];
    h.extend(STAT_HEADERS);
    h.extend(["NPV mean", "± se"]);
    o.push_str(&table("totals", &h, &rows));

    // Comparisons.
    let mut rows = Vec::new();
    for (r, parties) in &s.comparisons {
        for (p, c) in parties {
            let key = format!("comparisons.{r}.{p}");
            let (gain, [lo, hi]) = gain_share(result, r, p);
            let mut row = vec![td(l.regime(r)), td(l.party(p))];
            row.extend(stat_cells(&format!("{key}.delta_net"), &c.delta_net));
            row.push(td_num(&format!(
                "{} ({}–{})",
                pct_d(gain, 1),
                pct_d(lo, 1),
                pct_d(hi, 1)
            )));
            let d = decimals_for(c.delta_net_npv.se);
            row.push(fig(
                &format!("{key}.delta_net_npv.mean"),
                c.delta_net_npv.mean,
                &money_d(c.delta_net_npv.mean, d),
            ));
            rows.push(row);
        }
    }
    if !rows.is_empty() {
        let _ = writeln!(
            o,
            "<h3>Change in net position against {} (per path)</h3>",
            escape(l.regime(&sc.baseline))
        );
        let mut h: Vec<&str> = vec!["regime", "party"];
        h.extend(STAT_HEADERS);
        h.extend(["P(gain > 0), 95% interval", "NPV mean"]);
        o.push_str(&table("comparisons", &h, &rows));
    }

    // Party positions.
    let mut rows = Vec::new();
    for (r, reg) in &s.regimes {
        for (p, ps) in &reg.parties {
            for (q, st) in [
                ("paid", &ps.paid),
                ("received", &ps.received),
                ("net", &ps.net),
                ("net_npv", &ps.net_npv),
            ] {
                let mut row = vec![td(l.regime(r)), td(l.party(p)), td(q)];
                row.extend(stat_cells(&format!("regimes.{r}.parties.{p}.{q}"), st));
                rows.push(row);
            }
        }
    }
    o.push_str("<h3>Each party's position</h3>\n");
    let mut h: Vec<&str> = vec!["regime", "party", "quantity"];
    h.extend(STAT_HEADERS);
    o.push_str(&table("parties", &h, &rows));

    // Revenue.
    let mut rows = Vec::new();
    for (name, ss) in &s.series {
        for (y, st) in &ss.annual_revenue {
            let mut row = vec![td(l.series(name)), td(&format!("revenue {y}"))];
            row.extend(stat_cells(&format!("series.{name}.annual_revenue.{y}"), st));
            rows.push(row);
        }
        let mut row = vec![td(l.series(name)), td("run rate at the end ($B/year)")];
        row.extend(stat_cells(
            &format!("series.{name}.run_rate_end"),
            &ss.run_rate_end,
        ));
        rows.push(row);
    }
    o.push_str("<h3>Revenue</h3>\n");
    let mut h: Vec<&str> = vec!["series", "quantity"];
    h.extend(STAT_HEADERS);
    o.push_str(&table("revenue", &h, &rows));
    o.push_str("</section>\n");
    o
}

/// `report.html` of one run. `charts` are the run's rendered charts (None
/// when they were not drawn).
pub fn run_report(
    result: &RunResult,
    charts: Option<&[RenderedChart]>,
    ctx: &ReportContext,
) -> String {
    let s = &result.summary;
    let sc = &s.scenario;
    let mut b = String::new();
    let _ = writeln!(
        b,
        "<header>\n<h1>revshare report: {}</h1>\n<p class=\"lead\">{} paths · seed {} · {}–{}, {} steps per year · revshare {}</p>",
        escape(&sc.name),
        super::charts::thousands(s.run.paths),
        s.run.seed,
        sc.start_year,
        sc.end_year,
        sc.steps_per_year,
        escape(&s.run.version)
    );
    b.push_str("<nav><strong>Contents</strong><ol><li><a href=\"#headline\">Headline</a></li><li><a href=\"#tables\">Key figures</a></li><li><a href=\"#charts\">Charts</a></li><li><a href=\"#inputs\">Inputs</a></li><li><a href=\"#warnings\">Validation warnings</a></li><li><a href=\"#reproducibility\">Reproducibility</a></li><li><a href=\"#text\">Text summary</a></li></ol></nav>\n</header>\n");
    b.push_str(&headline_section(&headline(result)));
    b.push_str(&key_tables(result));
    b.push_str(&charts_section(charts));
    b.push_str(&inputs_section(sc));
    b.push_str(&warnings_section(&[(String::new(), scenario_warnings(sc))]));
    b.push_str(&repro_section(
        &repro_rows(s),
        ctx,
        "The same scenario, path count and seed give the same summary.json, byte for byte, on any machine and thread count (only the timing fields differ).",
    ));
    // The text summary as a run prints it; its timing line describes the
    // invocation (see ReproLine).
    let text: Vec<String> = super::text_report(s)
        .lines()
        .map(|l| {
            if l.starts_with("sampled in ") {
                format!("<span class=\"varies\">{}</span>", escape(l))
            } else {
                escape(l)
            }
        })
        .collect();
    let _ = writeln!(
        b,
        "<section id=\"text\">\n<h2>Text summary</h2>\n<pre>{}</pre>\n</section>",
        text.join("\n")
    );
    page(&format!("revshare report: {}", sc.name), &b)
}

// ---------------------------------------------------------------------------
// Many runs
// ---------------------------------------------------------------------------

/// One scenario of a batch.
#[derive(Debug, Clone)]
pub struct BatchRun<'a> {
    /// The scenario file, as given.
    pub file: String,
    /// Its result.
    pub summary: &'a Summary,
    /// The link to its own report, relative to the batch report (e.g.
    /// `base/report.html`); None when it has none.
    pub report: Option<String>,
}

/// One row of the batch comparison: a label and the cell of each run.
fn batch_row(
    label: &str,
    runs: &[BatchRun],
    cell: &dyn Fn(&Summary) -> Option<String>,
) -> Vec<String> {
    let mut row = vec![td(label)];
    for r in runs {
        row.push(cell(r.summary).unwrap_or_else(|| td_num("–")));
    }
    row
}

/// `report.html` of a batch: the scenarios side by side (key figures with
/// their errors, the inputs that differ), the comparison charts, each
/// scenario's warnings, and a link to each run's own report.
pub fn batch_report(
    runs: &[BatchRun],
    charts: Option<&[RenderedChart]>,
    ctx: &ReportContext,
) -> String {
    let mut b = String::new();
    let _ = writeln!(
        b,
        "<header>\n<h1>revshare batch report: {} scenario{}</h1>\n<p class=\"lead\">revshare {}</p>",
        runs.len(),
        if runs.len() == 1 { "" } else { "s" },
        env!("CARGO_PKG_VERSION")
    );
    b.push_str("<nav><strong>Contents</strong><ol><li><a href=\"#side-by-side\">Side by side</a></li><li><a href=\"#charts\">Charts</a></li><li><a href=\"#differences\">Inputs that differ</a></li><li><a href=\"#warnings\">Validation warnings</a></li><li><a href=\"#reproducibility\">Reproducibility</a></li></ol></nav>\n</header>\n");

    // Side by side.
    let mut headers: Vec<String> = vec!["".into()];
    for r in runs {
        headers.push(r.summary.scenario.name.clone());
    }
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut link_row = vec![td("own report")];
    for r in runs {
        link_row.push(match &r.report {
            Some(href) => format!("<td><a href=\"{}\">{}</a></td>", escape(href), escape(href)),
            None => td("–"),
        });
    }
    rows.push(link_row);
    let mut file_row = vec![td("scenario file")];
    file_row.extend(runs.iter().map(|r| td(&r.file)));
    rows.push(file_row);
    rows.push(batch_row("paths · seed", runs, &|s| {
        Some(td_num(&format!(
            "{} · {}",
            super::charts::thousands(s.run.paths),
            s.run.seed
        )))
    }));
    // The union of capped flows, flow totals and comparisons.
    let mut capped: Vec<(String, String)> = Vec::new();
    let mut totals: Vec<(String, String)> = Vec::new();
    let mut compared: Vec<(String, String)> = Vec::new();
    for r in runs {
        let s = r.summary;
        let mut regimes: Vec<&String> = s.regimes.keys().collect();
        regimes.sort_by_key(|x| **x != s.scenario.baseline);
        for reg in regimes {
            for (f, fl) in &s.regimes[reg].flows {
                let k = (reg.clone(), f.clone());
                if fl.cap_hit.is_some() && !capped.contains(&k) {
                    capped.push(k.clone());
                }
                if !totals.contains(&k) {
                    totals.push(k);
                }
            }
        }
        for (reg, ps) in &s.comparisons {
            for p in ps.keys() {
                let k = (reg.clone(), p.clone());
                if !compared.contains(&k) {
                    compared.push(k);
                }
            }
        }
    }
    let labels = runs
        .first()
        .map(|r| r.summary.scenario.labels.clone())
        .unwrap_or_default();
    for (reg, f) in &capped {
        rows.push(batch_row(
            &format!("P(cap binds): {}, {}", labels.flow(f), labels.regime(reg)),
            runs,
            &|s| {
                let h = s.regimes.get(reg)?.flows.get(f)?.cap_hit.as_ref()?;
                let [lo, hi] = h.probability_ci95;
                Some(format!(
                    "<td class=\"num\" data-key=\"regimes.{}.flows.{}.cap_hit.probability\" data-value=\"{}\">{} <span class=\"note\">({}–{})</span></td>",
                    escape(reg),
                    escape(f),
                    h.probability,
                    pct_d(h.probability, 1),
                    pct_d(lo, 1),
                    pct_d(hi, 1)
                ))
            },
        ));
    }
    for (reg, f) in &totals {
        rows.push(batch_row(
            &format!("mean total, $B: {}, {}", labels.flow(f), labels.regime(reg)),
            runs,
            &|s| {
                let t = &s.regimes.get(reg)?.flows.get(f)?.total;
                let d = decimals_for(t.se);
                Some(format!(
                    "<td class=\"num\" data-key=\"regimes.{}.flows.{}.total.mean\" data-value=\"{}\">{} <span class=\"note\">± {}</span></td>",
                    escape(reg),
                    escape(f),
                    t.mean,
                    money_d(t.mean, d),
                    fixed(t.se, d)
                ))
            },
        ));
    }
    for (reg, p) in &compared {
        rows.push(batch_row(
            &format!(
                "{}'s change in net position, $B: {} (mean ± se; p5 to p95)",
                labels.party(p),
                labels.regime(reg)
            ),
            runs,
            &|s| {
                let d = &s.comparisons.get(reg)?.get(p)?.delta_net;
                let dd = decimals_for(d.se);
                Some(format!(
                    "<td class=\"num\" data-key=\"comparisons.{}.{}.delta_net.mean\" data-value=\"{}\">{} <span class=\"note\">± {}<br>{} to {}</span></td>",
                    escape(reg),
                    escape(p),
                    d.mean,
                    money_d(d.mean, dd),
                    fixed(d.se, dd),
                    money(d.p5),
                    money(d.p95)
                ))
            },
        ));
    }
    b.push_str("<section id=\"side-by-side\">\n<h2>Side by side</h2>\n<p class=\"note\">Money in $B; ± is the Monte Carlo standard error of the mean; probabilities with their 95% interval. Every figure is in comparison.csv and in each scenario's own report.</p>\n");
    let h: Vec<&str> = headers.iter().map(String::as_str).collect();
    b.push_str("<div class=\"wide\">\n");
    b.push_str(&table("side-by-side", &h, &rows));
    b.push_str("</div>\n");
    b.push_str("</section>\n");
    b.push_str(&charts_section(charts));

    // Inputs that differ.
    let params: Vec<Vec<(String, String)>> = runs
        .iter()
        .map(|r| scenario_parameters(&r.summary.scenario))
        .collect();
    let mut paths: Vec<String> = Vec::new();
    for ps in &params {
        for (p, _) in ps {
            if !paths.contains(p) {
                paths.push(p.clone());
            }
        }
    }
    let value = |i: usize, p: &str| {
        params[i]
            .iter()
            .find(|(q, _)| q == p)
            .map(|(_, v)| v.clone())
    };
    let mut rows = Vec::new();
    for p in paths.iter().filter(|p| p.as_str() != "name") {
        let vals: Vec<Option<String>> = (0..runs.len()).map(|i| value(i, p)).collect();
        if vals.windows(2).all(|w| w[0] == w[1]) {
            continue;
        }
        let mut row = vec![td(p), td(parameter_unit(p))];
        row.extend(vals.iter().map(|v| td_num(v.as_deref().unwrap_or("–"))));
        rows.push(row);
    }
    b.push_str("<section id=\"differences\">\n<h2>Inputs that differ</h2>\n");
    if rows.is_empty() {
        b.push_str("<p>The scenarios have the same parameters (only their names differ).</p>\n");
    } else {
        let mut h: Vec<&str> = vec!["parameter", "unit"];
        h.extend(headers.iter().skip(1).map(String::as_str));
        b.push_str(&table("inputs", &h, &rows));
    }
    b.push_str("<p class=\"note\">Every parameter and source of each scenario is in its own report.</p>\n</section>\n");
    let warnings: Vec<(String, Vec<String>)> = runs
        .iter()
        .map(|r| {
            (
                r.summary.scenario.name.clone(),
                scenario_warnings(&r.summary.scenario),
            )
        })
        .collect();
    b.push_str(&warnings_section(&warnings));
    let mut rows = vec![ReproLine::fixed(
        "revshare version",
        env!("CARGO_PKG_VERSION"),
    )];
    for r in runs {
        let s = r.summary;
        rows.push(ReproLine::fixed(
            &s.scenario.name,
            format!(
                "{} · seed {} · {} paths · scenario SHA-256 {}",
                r.file,
                s.run.seed,
                super::charts::thousands(s.run.paths),
                scenario_hash(&s.scenario)
            ),
        ));
        rows.push(ReproLine::varies(
            &format!("{}: threads, time", s.scenario.name),
            format!("{} threads, {:.2} s", s.run.threads, s.run.elapsed_seconds),
        ));
    }
    b.push_str(&repro_section(
        &rows,
        ctx,
        "Each scenario ran as `revshare run` runs it; its own report has its reproducibility block.",
    ));
    page("revshare batch report", &b)
}

/// A sweep or sensitivity analysis: its own table and charts around a base
/// scenario.
#[derive(Debug, Clone)]
pub struct StudyReport<'a> {
    /// Page title, e.g. "revshare sweep: base".
    pub title: String,
    /// The headline sentences.
    pub headline: Vec<String>,
    /// Heading of the table.
    pub table_title: String,
    /// Column headers of the table.
    pub headers: Vec<String>,
    /// Rows of the table, as text; a cell that parses as a number is
    /// aligned right.
    pub rows: Vec<Vec<String>>,
    /// The base scenario (its inputs, warnings and hash are shown).
    pub scenario: &'a Scenario,
    /// Reproducibility lines beyond the command line (paths, seed, ...).
    pub repro: Vec<ReproLine>,
}

/// `report.html` of a sweep or a sensitivity analysis.
pub fn study_report(
    study: &StudyReport,
    charts: Option<&[RenderedChart]>,
    ctx: &ReportContext,
) -> String {
    let mut b = String::new();
    let _ = writeln!(
        b,
        "<header>\n<h1>{}</h1>\n<p class=\"lead\">revshare {}</p>",
        escape(&study.title),
        env!("CARGO_PKG_VERSION")
    );
    b.push_str("<nav><strong>Contents</strong><ol><li><a href=\"#headline\">Headline</a></li><li><a href=\"#tables\">Results</a></li><li><a href=\"#charts\">Charts</a></li><li><a href=\"#inputs\">Inputs</a></li><li><a href=\"#warnings\">Validation warnings</a></li><li><a href=\"#reproducibility\">Reproducibility</a></li></ol></nav>\n</header>\n");
    b.push_str(&headline_section(&study.headline));
    let _ = writeln!(
        b,
        "<section id=\"tables\">\n<h2>Results</h2>\n<h3>{}</h3>",
        escape(&study.table_title)
    );
    let rows: Vec<Vec<String>> = study
        .rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|c| {
                    let numeric = c
                        .trim_start_matches(['+', '\u{2212}', '-', '$'])
                        .chars()
                        .next()
                        .is_some_and(|ch| ch.is_ascii_digit());
                    if numeric {
                        td_num(c)
                    } else {
                        td(c)
                    }
                })
                .collect()
        })
        .collect();
    let h: Vec<&str> = study.headers.iter().map(String::as_str).collect();
    b.push_str(&table("study", &h, &rows));
    b.push_str("</section>\n");
    b.push_str(&charts_section(charts));
    b.push_str(&inputs_section(study.scenario));
    b.push_str(&warnings_section(&[(
        String::new(),
        scenario_warnings(study.scenario),
    )]));
    let mut repro = vec![ReproLine::fixed(
        "revshare version",
        env!("CARGO_PKG_VERSION"),
    )];
    repro.extend(study.repro.iter().cloned());
    repro.push(ReproLine::fixed(
        "base scenario SHA-256",
        scenario_hash(study.scenario),
    ));
    b.push_str(&repro_section(
        &repro,
        ctx,
        "Every run used the same seed (common random numbers), so differences between rows come from the parameters, not from sampling noise alone.",
    ));
    page(&study.title, &b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_numbers_read_well() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(money(37.81), "$37.8B");
        assert_eq!(money(38.0), "$38B");
        assert_eq!(money(-4.86), "\u{2212}$4.86B");
        assert_eq!(money_d(135.3456, 2), "$135.35B");
        assert_eq!(fixed(1234567.0, 0), "1,234,567");
        assert_eq!(decimals_for(0.0123), 2);
        assert_eq!(decimals_for(0.3), 1);
        assert_eq!(decimals_for(1.5), 0);
        assert_eq!(pct_d(0.9654, 1), "96.5%");
    }

    #[test]
    fn units_follow_the_path() {
        assert_eq!(parameter_unit("regimes.amended.0.cap"), "$B");
        assert_eq!(parameter_unit("series.openai.initial_run_rate"), "$B/year");
        assert_eq!(parameter_unit("series.openai.jumps.rate"), "jumps per year");
        assert_eq!(parameter_unit("regimes.prior.1.rate"), "share of revenue");
        assert_eq!(
            parameter_unit("series.openai.volatility.initial"),
            "per √year"
        );
    }

    #[test]
    fn an_xml_declaration_is_dropped_from_inline_svg() {
        assert_eq!(
            inline_svg("<?xml version=\"1.0\"?>\n<svg width=\"1\"></svg>"),
            "<svg role=\"img\" width=\"1\"></svg>"
        );
    }
}
