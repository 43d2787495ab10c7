//! Export, pictures: the charts of a run. Turns a finished
//! [`RunResult`] into the inputs of the drawing layer ([`super::draw`]) and
//! renders them. Every number drawn comes from the result: per-step
//! quantile bands from its step table, histogram bins and exceedance
//! curves from its per-path [`Distribution`]s, the cap-hit curve from the
//! hit-time distribution, the payment schedules from its annual table; the
//! drawing layer only draws. Rendering does no I/O; the output manager
//! ([`super::manager::OutputDir`]) writes the files.
//!
//! Titles, legends and axes use the scenario's display `labels` for
//! series, flows, parties and regimes (a name without one is shown as
//! written), and every axis names its unit.
//!
//! The charts of a run (file stems; each is written as `.png` and `.svg`):
//!
//! * `fan_revenue_<series>`: run-rate fan (5–95, 10–90, 25–75%, median),
//!   with the scenario's `references` overlaid;
//! * `fan_cumulative_<flow>`: cumulative payments of one flow in every
//!   regime that has it (5–95, 25–75%, medians), caps and accrual window;
//! * `cap_hit_<regime>_<flow>`: P(cap reached by date), for capped flows;
//! * `exceedance_total_<flow>`: P(total > x) of one flow in every regime
//!   that has it (a cap shows as the drop at the cap);
//! * `hist_total_<regime>_<flow>`: histogram of a flow's total; the paths
//!   that pay exactly a cap are a bar of their own, on the same scale;
//! * `hist_delta_net_<regime>_<party>`: each party's gain vs the baseline;
//! * `exceedance_delta_net_<regime>`: P(gain > x) of each compared party;
//! * `schedule_<regime>`: payments per calendar year of each flow (mean,
//!   p5–p95), the cash-flow profile of `annual.csv`;
//! * `annual_revenue_<series>`: per calendar year p5/p25/p50/p75/p95 boxes;
//! * `convergence_<key>` (runs with `--precision`): each named figure's
//!   estimate and 95% interval at every check, against paths on a log
//!   axis, with the tolerance asked for around the final estimate.
//!
//! Names are lowercased and every character other than `a-z 0-9 _ -` is
//! replaced by `_`, so any scenario name gives a safe file name.

use std::collections::BTreeSet;

use rayon::prelude::*;

use crate::export::draw::{
    self, Band, BandLineChart, BarChart, BarGroup, BoxChart, BoxStats, ChartError, ChartStyle,
    CumulativeChart, CurveSeries, FanChart, FanSeries, HistogramChart, LineSeries, PointMass,
    ReferenceLine, ReferencePoint, Rendered, Rgb, XAxis, PALETTE,
};
use crate::result::{AnnualQuantity, Distribution, RunResult, StepQuantity};
use crate::scenario::{Flow, Scenario};
use crate::statistics::Stat;
use crate::summary::Summary;

/// Default image width in pixels.
pub const DEFAULT_WIDTH: u32 = 1600;
/// Default image height in pixels.
pub const DEFAULT_HEIGHT: u32 = 1000;

/// Fan-chart quantile levels: 5, 10, 25, 50, 75, 90, 95%.
/// The sentence a run-rate fan chart's caption gains when it draws the
/// scenario's reference points (charts that draw other markers take it
/// out again).
pub const REFERENCE_POINTS_NOTE: &str =
    " Markers: the scenario's reference points (labels say what each is).";

const FAN_LEVELS: [f64; 7] = [0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95];
/// Most bins of a histogram.
const HIST_BINS: usize = 60;
/// Histogram x axes span these quantiles; paths outside are counted and
/// the share is stated in the caption.
const HIST_RANGE: (f64, f64) = (0.005, 0.995);
/// Points per year of the cap-hit curve (about every 3 days).
const CAP_HIT_POINTS_PER_YEAR: usize = 120;
/// Points of an exceedance curve.
const EXCEEDANCE_POINTS: usize = 400;
/// An uncapped exceedance curve ends at this quantile (the caption says so).
const EXCEEDANCE_TOP: f64 = 0.995;

/// Image size of every chart of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChartSize {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl Default for ChartSize {
    fn default() -> Self {
        ChartSize {
            width: DEFAULT_WIDTH,
            height: DEFAULT_HEIGHT,
        }
    }
}

impl std::str::FromStr for ChartSize {
    type Err = String;

    /// Parses `WxH` (e.g. `1600x1000`), within the drawing layer's limits.
    fn from_str(s: &str) -> Result<ChartSize, String> {
        let bad = || {
            format!(
                "expected WIDTHxHEIGHT in pixels, e.g. 1600x1000 (width {}..={}, height {}..={}), got {s:?}",
                draw::MIN_WIDTH,
                draw::MAX_SIDE,
                draw::MIN_HEIGHT,
                draw::MAX_SIDE
            )
        };
        let (w, h) = s.trim().split_once(['x', 'X', '×']).ok_or_else(bad)?;
        let w: u32 = w.trim().parse().map_err(|_| bad())?;
        let h: u32 = h.trim().parse().map_err(|_| bad())?;
        if !(draw::MIN_WIDTH..=draw::MAX_SIDE).contains(&w)
            || !(draw::MIN_HEIGHT..=draw::MAX_SIDE).contains(&h)
        {
            return Err(bad());
        }
        Ok(ChartSize {
            width: w,
            height: h,
        })
    }
}

/// What the charts show beyond the run itself (the chart options of the
/// command line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChartOptions {
    /// Fan charts on a log-scale y axis (`--log-y`).
    pub log_y: bool,
}

/// The input of one chart, for the drawing function of its kind.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ChartInput {
    /// A fan chart (revenue run rate, cumulative payments).
    Fan(FanChart),
    /// A probability-curve chart (cap-hit timing, exceedance curves).
    Cumulative(CumulativeChart),
    /// A histogram (totals, gains vs the baseline).
    Histogram(HistogramChart),
    /// A box chart (annual revenue).
    Box(BoxChart),
    /// A grouped bar chart (payment schedules).
    Bars(BarChart),
    /// Lines with intervals (convergence traces).
    BandLine(BandLineChart),
}

/// One chart of a run, ready to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartSpec {
    /// File stem, e.g. `fan_revenue_openai` (safe as a file name).
    pub name: String,
    /// Caption line: scenario, paths, seed, what the bands and bars mean.
    pub caption: String,
    /// What to draw.
    pub input: ChartInput,
}

impl ChartSpec {
    /// The chart's title.
    pub fn title(&self) -> &str {
        match &self.input {
            ChartInput::Fan(c) => &c.title,
            ChartInput::Cumulative(c) => &c.title,
            ChartInput::Histogram(c) => &c.title,
            ChartInput::Box(c) => &c.title,
            ChartInput::Bars(c) => &c.title,
            ChartInput::BandLine(c) => &c.title,
        }
    }

    /// Draws the chart at `size`.
    pub fn render(&self, size: ChartSize) -> Result<Rendered, ChartError> {
        let style = ChartStyle {
            width: size.width,
            height: size.height,
            caption: self.caption.clone(),
        };
        match &self.input {
            ChartInput::Fan(c) => draw::fan_chart(c, &style),
            ChartInput::Cumulative(c) => draw::cumulative_chart(c, &style),
            ChartInput::Histogram(c) => draw::histogram_chart(c, &style),
            ChartInput::Box(c) => draw::box_chart(c, &style),
            ChartInput::Bars(c) => draw::bar_chart(c, &style),
            ChartInput::BandLine(c) => draw::band_line_chart(c, &style),
        }
    }
}

/// A rendered chart: its file stem, title, caption and the PNG and SVG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedChart {
    /// File stem (see [`ChartSpec::name`]).
    pub name: String,
    /// The chart's title (as drawn).
    pub title: String,
    /// The chart's caption (as drawn).
    pub caption: String,
    /// The drawing.
    pub rendered: Rendered,
}

/// A chart could not be drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportError {
    /// File stem of the chart.
    pub chart: String,
    /// What the drawing layer said.
    pub source: ChartError,
}

impl std::fmt::Display for ReportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "chart {}: {}", self.chart, self.source)
    }
}

impl std::error::Error for ReportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Builds and draws every chart of a run (in parallel on rayon's current
/// pool). Stops at the first chart that cannot be drawn.
pub fn render_charts(
    result: &RunResult,
    size: ChartSize,
    opts: &ChartOptions,
) -> Result<Vec<RenderedChart>, ReportError> {
    chart_specs(result, opts)
        .par_iter()
        .map(|spec| {
            spec.render(size)
                .map(|rendered| RenderedChart {
                    name: spec.name.clone(),
                    title: spec.title().to_string(),
                    caption: spec.caption.clone(),
                    rendered,
                })
                .map_err(|source| ReportError {
                    chart: spec.name.clone(),
                    source,
                })
        })
        .collect()
}

/// The charts of a run, in a fixed order (see the module docs).
pub fn chart_specs(result: &RunResult, opts: &ChartOptions) -> Vec<ChartSpec> {
    let r = Reporter::new(result, *opts);
    let summary = &result.summary;
    let series = result.scenario().series.len();
    let flows = result.flows.len();
    let mut specs = Vec::new();
    for s in 0..series {
        specs.push(r.revenue_fan(s));
    }
    for name in r.flow_names() {
        specs.push(r.cumulative_fan(&name));
    }
    for f in 0..flows {
        if r.flow(f).cap.is_some() {
            specs.push(r.cap_hit(f));
        }
    }
    for name in r.flow_names() {
        specs.extend(r.total_exceedance(&name));
    }
    for f in 0..flows {
        specs.push(r.total_histogram(f));
    }
    for (reg, parties) in &summary.comparisons {
        for party in parties.keys() {
            if let Some(spec) = r.delta_histogram(reg, party) {
                specs.push(spec);
            }
        }
        specs.extend(r.delta_exceedance(reg));
    }
    for reg in result.scenario().regimes.keys() {
        specs.extend(r.schedule(reg));
    }
    for s in 0..series {
        specs.push(r.annual_boxes(s));
    }
    specs.extend(r.convergence());
    // Distinct names after sanitising (two names may differ only in case).
    let mut seen = BTreeSet::new();
    for spec in &mut specs {
        let mut name = spec.name.clone();
        let mut i = 2;
        while !seen.insert(name.clone()) {
            name = format!("{}_{i}", spec.name);
            i += 1;
        }
        spec.name = name;
    }
    specs
}

/// `name` made safe for a file name: lowercase ASCII letters, digits, `_`
/// and `-`; anything else becomes `_`.
pub fn file_part(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '_' | '-' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '_',
        })
        .collect();
    if s.is_empty() {
        "_".into()
    } else {
        s
    }
}

/// Money in $B for labels: whole numbers without decimals, a true minus.
fn money(x: f64) -> String {
    let digits = if (x - x.round()).abs() < 1e-9 {
        0
    } else if x.abs() >= 10.0 {
        1
    } else {
        2
    };
    let s = format!("${:.*}B", digits, x.abs());
    if x < 0.0 && s != "$0B" {
        format!("\u{2212}{s}")
    } else {
        s
    }
}

/// A number with a thousands separator (path counts).
pub(crate) fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A decimal calendar year as a month, e.g. 2029.21 → "Mar 2029".
pub(crate) fn month_of(t: f64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let y = t.floor();
    let m = (((t - y) * 12.0).floor() as usize).min(11);
    format!("{} {}", MONTHS[m], y as i64)
}

/// A percentage with one decimal, e.g. "96.5%".
fn pct(p: f64) -> String {
    format!("{:.1}%", 100.0 * p)
}

/// Paths that all have one value (the paths that pay exactly a cap).
struct Atom {
    /// The value, the upper end of the histogram's axis.
    value: f64,
    /// Paths.
    count: u64,
}

/// What the chart builders share: the run and a few derived facts.
struct Reporter<'a> {
    result: &'a RunResult,
    summary: &'a Summary,
    opts: ChartOptions,
    /// "Scenario base · 100,000 paths · seed 42 · …".
    run_line: String,
}

impl<'a> Reporter<'a> {
    fn new(result: &'a RunResult, opts: ChartOptions) -> Reporter<'a> {
        let sc = result.scenario();
        Reporter {
            result,
            summary: &result.summary,
            opts,
            run_line: format!(
                "Scenario {} · {} paths{} · seed {} · {}–{}, {} steps/year",
                sc.name,
                thousands(result.paths()),
                match result.summary.run.replicates {
                    Some(r) => format!(" (qmc, {r} replicates)"),
                    None if result.summary.run.sampling.is_mc() => String::new(),
                    None => format!(" ({} pairs)", result.summary.run.sampling.as_str()),
                },
                result.summary.run.seed,
                sc.start_year,
                sc.end_year,
                sc.steps_per_year
            ),
        }
    }

    fn sc(&self) -> &'a Scenario {
        self.result.scenario()
    }

    /// Display name of a regime.
    fn regime_label(&self, regime: &'a str) -> &'a str {
        self.sc().labels.regime(regime)
    }

    /// Display name of a party.
    fn party_label(&self, party: &'a str) -> &'a str {
        self.sc().labels.party(party)
    }

    /// Display name of a flow: its label, else "payer → payee (name)".
    fn flow_label(&self, flow: &Flow) -> String {
        match self.sc().labels.flows.get(&flow.name) {
            Some(l) => l.clone(),
            None => format!(
                "{} → {} ({})",
                self.party_label(&flow.payer),
                self.party_label(&flow.payee),
                flow.name
            ),
        }
    }

    /// Calendar time at the end of each recorded step.
    fn times(&self) -> Vec<f64> {
        self.result.steps.times.clone()
    }

    /// The scenario's flow behind result flow `f`.
    fn flow(&self, f: usize) -> &'a Flow {
        &self.result.flows[f].flow
    }

    fn regime_name(&self, f: usize) -> &'a str {
        &self.result.flows[f].regime
    }

    /// Index of a regime in name order (for its colour).
    fn regime_index(&self, regime: &str) -> usize {
        self.sc()
            .regimes
            .keys()
            .position(|r| r == regime)
            .unwrap_or(0)
    }

    fn hue_of_regime(&self, regime: &str) -> Rgb {
        PALETTE[self.regime_index(regime) % PALETTE.len()]
    }

    /// Flow names in order of first appearance.
    fn flow_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for f in &self.result.flows {
            if !names.contains(&f.flow.name) {
                names.push(f.flow.name.clone());
            }
        }
        names
    }

    /// The result flows named `name`, the baseline's first.
    fn flows_named(&self, name: &str) -> Vec<usize> {
        let mut flows: Vec<usize> = (0..self.result.flows.len())
            .filter(|&f| self.flow(f).name == name)
            .collect();
        flows.sort_by_key(|&f| self.regime_name(f) != self.sc().baseline);
        flows
    }

    /// Per-step quantiles at `levels` of one step column, one vector per level.
    fn step_bands(
        &self,
        levels: &[f64],
        quantity: StepQuantity,
        regime: &str,
        name: &str,
    ) -> Vec<Vec<f64>> {
        match self
            .result
            .steps
            .columns
            .iter()
            .find(|c| c.quantity == quantity && c.regime == regime && c.name == name)
        {
            Some(c) => levels.iter().map(|&l| c.band(l)).collect(),
            None => vec![Vec::new(); levels.len()],
        }
    }

    /// The scenario's reference values of flow `f`'s total.
    fn flow_references(&self, f: usize) -> Vec<ReferenceLine> {
        let (regime, flow) = (self.regime_name(f), &self.flow(f).name);
        self.sc()
            .flow_references
            .iter()
            .filter(|r| r.regime == regime && &r.flow == flow)
            .map(|r| ReferenceLine {
                value: r.value,
                label: r.label.clone(),
                hue: None,
            })
            .collect()
    }

    /// The cap that is still payable inside the simulation, and its label
    /// (in the regime's hue).
    fn cap_line(&self, f: usize, with_regime: bool) -> Option<ReferenceLine> {
        let flow = self.flow(f);
        let cap = flow.cap?;
        let regime = self.regime_name(f);
        let name = if with_regime {
            format!("{} cap", self.regime_label(regime))
        } else {
            "cap".to_string()
        };
        let pbs = flow.paid_before_start;
        let hue = Some(self.hue_of_regime(regime));
        Some(if pbs > 0.0 {
            ReferenceLine {
                value: (cap - pbs).max(0.0),
                label: format!(
                    "{name} {} − {} paid before {} = {} left",
                    money(cap),
                    money(pbs),
                    self.sc().start_year,
                    money((cap - pbs).max(0.0))
                ),
                hue,
            }
        } else {
            ReferenceLine {
                value: cap,
                label: format!("{name} {}", money(cap)),
                hue,
            }
        })
    }

    /// P(X > x) of `acc` on a grid from its smallest value to `hi`: x and
    /// the share of the `n` paths above each x.
    fn exceedance(acc: &Distribution, hi: f64, n: u64) -> (Vec<f64>, Vec<f64>) {
        let lo = acc.range().0;
        let n = n.max(1) as f64;
        if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
            let v = if lo.is_finite() { lo } else { 0.0 };
            return (vec![v - 1.0, v, v], vec![1.0, 1.0, 0.0]);
        }
        let edges: Vec<f64> = (0..=EXCEEDANCE_POINTS)
            .map(|i| lo + (hi - lo) * i as f64 / EXCEEDANCE_POINTS as f64)
            .collect();
        let bins = acc.bin_counts(&edges);
        // Paths at or above each edge: those in its bin and every later one.
        let mut above = bins.above;
        let mut y = vec![0.0; edges.len()];
        y[edges.len() - 1] = above as f64 / n;
        for i in (0..bins.counts.len()).rev() {
            above += bins.counts[i];
            y[i] = above as f64 / n;
        }
        (edges, y)
    }

    // -- charts -------------------------------------------------------------

    fn revenue_fan(&self, s: usize) -> ChartSpec {
        let name = self.sc().series.keys().nth(s).expect("a series index");
        let label = self.sc().labels.series(name);
        let q = self.step_bands(&FAN_LEVELS, StepQuantity::RunRate, "", name);
        let band = |label: &str, lo: usize, hi: usize| Band {
            label: label.into(),
            lower: q[lo].clone(),
            upper: q[hi].clone(),
        };
        let reference_points: Vec<ReferencePoint> = self
            .sc()
            .references
            .iter()
            .filter(|r| &r.series == name)
            .map(|r| ReferencePoint {
                x: r.year,
                y: r.value,
                label: r.label.clone(),
            })
            .collect();
        let refs_note = if reference_points.is_empty() {
            ""
        } else {
            REFERENCE_POINTS_NOTE
        };
        let log_note = if self.opts.log_y {
            " Log scale: equal steps are equal growth factors."
        } else {
            ""
        };
        ChartSpec {
            name: format!("fan_revenue_{}", file_part(name)),
            caption: format!(
                "{}.\nBands: equal-tail 5–95%, 10–90% and 25–75% of paths at each date; line: median. \
                 Run rate = revenue annualised at that instant ($B/year).{refs_note}{log_note}",
                self.run_line
            ),
            input: ChartInput::Fan(FanChart {
                title: format!("{label}: annualised run rate"),
                x_label: "Calendar year".into(),
                y_label: format!(
                    "Run rate, $B/year{}",
                    if self.opts.log_y { " (log scale)" } else { "" }
                ),
                x: self.times(),
                series: vec![FanSeries {
                    label: String::new(),
                    hue: PALETTE[s % PALETTE.len()],
                    median: q[3].clone(),
                    bands: vec![band("5–95%", 0, 6), band("10–90%", 1, 5), band("25–75%", 2, 4)],
                }],
                reference_points,
                horizontal_lines: Vec::new(),
                vertical_lines: Vec::new(),
                log_y: self.opts.log_y,
            }),
        }
    }

    fn cumulative_fan(&self, flow_name: &str) -> ChartSpec {
        let sc = self.sc();
        let start = sc.start_year;
        // The baseline first, so that the other regimes are drawn on top.
        let flows = self.flows_named(flow_name);
        let several = flows.len() > 1;
        let levels = [0.05, 0.25, 0.50, 0.75, 0.95];
        let mut series = Vec::new();
        let mut horizontal_lines = Vec::new();
        let mut windows = BTreeSet::new();
        for &f in &flows {
            let regime = self.regime_name(f);
            let q = self.step_bands(&levels, StepQuantity::CumulativePayment, regime, flow_name);
            series.push(FanSeries {
                label: self.regime_label(regime).to_string(),
                hue: self.hue_of_regime(regime),
                median: q[2].clone(),
                bands: vec![
                    Band {
                        label: "5–95%".into(),
                        lower: q[0].clone(),
                        upper: q[4].clone(),
                    },
                    Band {
                        label: "25–75%".into(),
                        lower: q[1].clone(),
                        upper: q[3].clone(),
                    },
                ],
            });
            if let Some(line) = self.cap_line(f, several) {
                horizontal_lines.push(line);
            }
            horizontal_lines.extend(self.flow_references(f));
            let flow = self.flow(f);
            windows.insert((flow.from_year, flow.to_year));
        }
        let mut vertical_lines = Vec::new();
        for &(from, to) in &windows {
            if from > start {
                vertical_lines.push(ReferenceLine {
                    value: from as f64,
                    label: format!("accrual starts 1 Jan {from}"),
                    hue: None,
                });
            }
            vertical_lines.push(ReferenceLine {
                value: (to + 1) as f64,
                label: format!("accrual window ends 31 Dec {to}"),
                hue: None,
            });
        }
        let first = self.flow(flows[0]);
        let means: Vec<String> = flows
            .iter()
            .filter_map(|&f| {
                let regime = self.regime_name(f);
                let t = &self
                    .summary
                    .regimes
                    .get(regime)?
                    .flows
                    .get(flow_name)?
                    .total;
                Some(format!("{} {}", self.regime_label(regime), money(t.mean)))
            })
            .collect();
        let mut means_note = format!(" Mean totals: {}.", means.join(", "));
        let absent: Vec<&str> = sc
            .regimes
            .keys()
            .filter(|r| !flows.iter().any(|&f| self.regime_name(f) == r.as_str()))
            .map(|r| self.regime_label(r))
            .collect();
        if !absent.is_empty() {
            means_note.push_str(&format!(
                " No such flow under {} (nothing paid).",
                absent.join(", ")
            ));
        }
        let pbs_note = if flows.iter().any(|&f| self.flow(f).paid_before_start > 0.0) {
            " A cap is drawn net of payments made before the start, which count toward it."
        } else {
            ""
        };
        let log_note = if self.opts.log_y {
            " Log scale: zero payments (before the first) are not drawn."
        } else {
            ""
        };
        ChartSpec {
            name: format!("fan_cumulative_{}", file_part(flow_name)),
            caption: format!(
                "{}.\nBands: equal-tail 5–95% and 25–75% of paths at each date, outlined where they overlap; lines: medians. \
                 Cumulative = payments made inside the simulation, from 1 Jan {start} (as in steps.csv).{means_note}{pbs_note}{log_note}",
                self.run_line
            ),
            input: ChartInput::Fan(FanChart {
                title: format!("Cumulative payments: {}", self.flow_label(first)),
                x_label: "Calendar year".into(),
                y_label: format!(
                    "Paid since 1 Jan {start}, $B{}",
                    if self.opts.log_y { " (log scale)" } else { "" }
                ),
                x: self.times(),
                series,
                reference_points: Vec::new(),
                horizontal_lines,
                vertical_lines,
                log_y: self.opts.log_y,
            }),
        }
    }

    /// One chart per figure named by `--precision`: its estimate and 95%
    /// interval at each check, paths on a log axis; none without checks.
    fn convergence(&self) -> Vec<ChartSpec> {
        let trace = &self.result.convergence;
        let Some(first) = trace.first() else {
            return Vec::new();
        };
        let run = &self.summary.run;
        let stopped = match run.stopped_by.as_deref() {
            Some("precision") => "stopped when every tolerance was met",
            Some("max_paths") => "stopped at --max-paths before every tolerance was met",
            _ => "stopped",
        };
        (0..first.figures.len())
            .map(|i| {
                let key = &first.figures[i].key;
                let at = |f: fn(&crate::engine::precision::Figure) -> f64| -> Vec<f64> {
                    trace.iter().map(|c| f(&c.figures[i])).collect()
                };
                let unit = if key.contains("probability") {
                    "probability"
                } else if key.contains("cap_hit.time") {
                    "calendar year"
                } else if key.contains("run_rate") {
                    "$B/year"
                } else {
                    "$B"
                };
                let mut horizontal_lines = Vec::new();
                let mut tolerance = String::new();
                if let Some(goal) = run.precision.iter().find(|g| &g.key == key) {
                    let allowed = if goal.relative {
                        goal.tolerance * goal.estimate.abs()
                    } else {
                        goal.tolerance
                    };
                    // Six significant digits: 0.45% reads 0.45, not
                    // 0.45000000000000007.
                    let short =
                        |x: f64| format!("{}", format!("{x:.6e}").parse::<f64>().unwrap_or(x));
                    tolerance = if goal.relative {
                        format!(
                            "; dashed: final estimate ± {}%",
                            short(100.0 * goal.tolerance)
                        )
                    } else {
                        format!("; dashed: final estimate ± {}", short(goal.tolerance))
                    };
                    for (sign, label) in [(-1.0, "− tolerance"), (1.0, "+ tolerance")] {
                        horizontal_lines.push(ReferenceLine {
                            value: goal.estimate + sign * allowed,
                            label: label.into(),
                            hue: None,
                        });
                    }
                }
                ChartSpec {
                    name: format!("convergence_{}", file_part(key)),
                    caption: format!(
                        "{} · each point is a check of --precision (16,384 paths, doubled); \
                         band: the 95% interval of the estimate{tolerance}; {stopped} at {} paths",
                        self.run_line,
                        thousands(run.paths)
                    ),
                    input: ChartInput::BandLine(BandLineChart {
                        title: format!(
                            "Convergence of {}",
                            crate::study::metric::Metric::new(key)
                                .map_or_else(|_| key.clone(), |m| m.display_inline(self.sc()))
                        ),
                        x_label: "paths (log scale)".into(),
                        y_label: format!("estimate, {unit}"),
                        series: vec![LineSeries {
                            label: key.clone(),
                            hue: PALETTE[0],
                            x: trace.iter().map(|c| c.paths as f64).collect(),
                            center: at(|f| f.estimate),
                            lower: at(|f| f.low),
                            upper: at(|f| f.high),
                        }],
                        line_label: "estimate".into(),
                        band_label: "95% interval".into(),
                        horizontal_lines,
                        log_x: true,
                        y_limits: key.contains("probability").then_some((0.0, 1.0)),
                    }),
                }
            })
            .collect()
    }

    fn cap_hit(&self, f: usize) -> ChartSpec {
        let flow = self.flow(f);
        let regime = self.regime_name(f);
        let sc = self.sc();
        let start = sc.start_year as f64;
        let years = sc.years();
        let n = self.result.paths().max(1) as f64;
        let hits = self.result.flows[f].hits;
        // The hit-time accumulator holds years since the start, for the
        // paths that hit; its bins give the CDF (no finer than the sketch's
        // buckets near the horizon, so the curve has no artificial steps).
        let acc = &self.result.flows[f].hit_time;
        let (edges, bins) = match acc.histogram(0.0, years as f64, years * CAP_HIT_POINTS_PER_YEAR)
        {
            Some(h) => (h.edges, h.bins),
            None => (
                vec![0.0, years as f64],
                acc.bin_counts(&[0.0, years as f64]),
            ),
        };
        let grid_days = 365.25 * (edges[1] - edges[0]);
        let mut x = vec![start];
        // Caps already reached at the start (hit time 0) count from t = 0.
        let at_start = acc.bin_counts(&[-1.0, 0.0]).counts[0];
        let mut y = vec![at_start as f64 / n];
        let mut cum = bins.below;
        for (i, c) in bins.counts.iter().enumerate() {
            cum += c;
            x.push(start + edges[i + 1]);
            y.push(cum as f64 / n);
        }
        // The grid ends at the horizon; the curve's last point is P(hit).
        if let Some(last) = y.last_mut() {
            *last = hits as f64 / n;
        }
        let never = 1.0 - hits as f64 / n;
        let cap = flow.cap.unwrap_or(f64::NAN);
        let cap_desc = if flow.paid_before_start > 0.0 {
            format!(
                "the {} left of the {} cap after {} paid before {}",
                money((cap - flow.paid_before_start).max(0.0)),
                money(cap),
                money(flow.paid_before_start),
                sc.start_year
            )
        } else {
            format!("the {} cap", money(cap))
        };
        let mut annotation = vec![
            format!(
                "P(never reached by 31 Dec {}) = {:.1}%",
                flow.to_year.min(sc.end_year),
                100.0 * never
            ),
            format!(
                "reached on {} of {} paths",
                thousands(hits),
                thousands(self.result.paths())
            ),
        ];
        if let Some(t) = self
            .summary
            .regimes
            .get(regime)
            .and_then(|r| r.flows.get(&flow.name))
            .and_then(|fl| fl.cap_hit.as_ref())
            .and_then(|h| h.time.as_ref())
        {
            annotation.push(format!(
                "median date when reached: {} (p5 {}, p95 {})",
                month_of(t.p50),
                month_of(t.p5),
                month_of(t.p95)
            ));
        }
        let mut vertical_lines = Vec::new();
        if flow.to_year < sc.end_year {
            vertical_lines.push(ReferenceLine {
                value: (flow.to_year + 1) as f64,
                label: format!("accrual window ends 31 Dec {}", flow.to_year),
                hue: None,
            });
        }
        let regime_label = self.regime_label(regime);
        ChartSpec {
            name: format!(
                "cap_hit_{}_{}",
                file_part(regime),
                file_part(&flow.name)
            ),
            caption: format!(
                "{}.\nCurve: share of all paths whose cumulative payments have reached {cap_desc} by each date; \
                 hit dates interpolated within the step, read from the hit-time distribution on a {:.0}-day grid.",
                self.run_line, grid_days
            ),
            input: ChartInput::Cumulative(CumulativeChart {
                title: format!(
                    "When is the {} cap on {} reached? ({regime_label})",
                    money(cap),
                    self.flow_label(flow)
                ),
                x_label: "Calendar year".into(),
                y_label: "Paths that reached the cap by the date, %".into(),
                series: vec![CurveSeries {
                    label: format!("{regime_label}: P(reached by date)"),
                    hue: self.hue_of_regime(regime),
                    x,
                    y,
                }],
                step: false,
                annotation,
                vertical_lines,
                x_axis: XAxis::Year,
            }),
        }
    }

    /// P(total > x) of flow `flow_name` in every regime that has it.
    fn total_exceedance(&self, flow_name: &str) -> Option<ChartSpec> {
        let flows = self.flows_named(flow_name);
        let n = self.result.paths();
        // One x range for every curve: to the largest cap (and a little
        // beyond), or to the top quantile of the uncapped totals.
        let mut hi = f64::NEG_INFINITY;
        let mut tail_note = false;
        for &f in &flows {
            let acc = &self.result.flows[f].total;
            let top = match self.cap_line(f, false) {
                Some(c) => c.value.max(acc.range().1),
                None => {
                    tail_note = true;
                    acc.quantiles_at(&[EXCEEDANCE_TOP])[0]
                }
            };
            hi = hi.max(top);
        }
        if !hi.is_finite() {
            return None;
        }
        let hi = hi * 1.02 + 1e-9;
        let mut series = Vec::new();
        let mut annotation = Vec::new();
        let mut vertical_lines = Vec::new();
        for &f in &flows {
            let regime = self.regime_name(f);
            let (x, y) = Self::exceedance(&self.result.flows[f].total, hi, n);
            series.push(CurveSeries {
                label: self.regime_label(regime).to_string(),
                hue: self.hue_of_regime(regime),
                x,
                y,
            });
            // Drawn in the regime's hue, as cap_line gives it.
            if let Some(c) = self.cap_line(f, flows.len() > 1) {
                let hits = self.result.flows[f].hits;
                annotation.push(format!(
                    "{}: {} of paths pay exactly the cap (the drop at {})",
                    self.regime_label(regime),
                    pct(hits as f64 / n.max(1) as f64),
                    money(c.value)
                ));
                vertical_lines.push(c);
            }
            for mut r in self.flow_references(f) {
                r.label = format!("{} ({})", r.label, self.regime_label(regime));
                vertical_lines.push(r);
            }
        }
        let first = self.flow(flows[0]);
        let sc = self.sc();
        Some(ChartSpec {
            name: format!("exceedance_total_{}", file_part(flow_name)),
            caption: format!(
                "{}.\nCurve: share of paths whose total paid inside the simulation exceeds each amount (1 − the cumulative distribution), \
                 read from the per-path distribution.{}",
                self.run_line,
                if tail_note {
                    format!(
                        " The x axis ends at the p{:.1} of the uncapped totals; the curve goes on to the largest path.",
                        100.0 * EXCEEDANCE_TOP
                    )
                } else {
                    String::new()
                }
            ),
            input: ChartInput::Cumulative(CumulativeChart {
                title: format!(
                    "How likely is each total? {} {}–{}",
                    self.flow_label(first),
                    sc.start_year,
                    sc.end_year
                ),
                x_label: format!("Total paid {}–{}, $B", sc.start_year, sc.end_year),
                y_label: "Paths paying more than the amount, %".into(),
                series,
                step: false,
                annotation,
                vertical_lines,
                x_axis: XAxis::Amount,
            }),
        })
    }

    /// P(gain > x) of every compared party under `regime`.
    fn delta_exceedance(&self, regime: &str) -> Option<ChartSpec> {
        let comps: Vec<_> = self
            .result
            .comparisons
            .iter()
            .filter(|c| c.regime == regime)
            .collect();
        if comps.is_empty() {
            return None;
        }
        let n = self.result.paths();
        let mut hi = f64::NEG_INFINITY;
        for c in &comps {
            hi = hi.max(c.delta_net.quantiles_at(&[EXCEEDANCE_TOP])[0]);
        }
        if !hi.is_finite() {
            return None;
        }
        let lo = comps
            .iter()
            .map(|c| c.delta_net.quantiles_at(&[1.0 - EXCEEDANCE_TOP])[0])
            .fold(f64::INFINITY, f64::min);
        let pad = 0.02 * (hi - lo).abs().max(1.0);
        let baseline = &self.sc().baseline;
        let mut series = Vec::new();
        let mut annotation = Vec::new();
        for (k, c) in comps.iter().enumerate() {
            let (x, y) = Self::exceedance(&c.delta_net, hi + pad, n);
            // Start the axis at the common lower quantile, not at the
            // most extreme path.
            let keep: Vec<usize> = (0..x.len()).filter(|&i| x[i] >= lo - pad).collect();
            let (x, y): (Vec<f64>, Vec<f64>) = keep.iter().map(|&i| (x[i], y[i])).unzip();
            let gain = self
                .summary
                .comparisons
                .get(regime)
                .and_then(|m| m.get(&c.party))
                // The report's figure: paths with a change above zero.
                .map(|_| c.delta_net.share_positive().0);
            if let Some(p) = gain {
                annotation.push(format!(
                    "{}: gains on {} of paths",
                    self.party_label(&c.party),
                    pct(p)
                ));
            }
            series.push(CurveSeries {
                label: self.party_label(&c.party).to_string(),
                hue: PALETTE[(k + 2) % PALETTE.len()],
                x,
                y,
            });
        }
        let rl = self.regime_label(regime);
        let bl = self.regime_label(baseline);
        Some(ChartSpec {
            name: format!("exceedance_delta_net_{}", file_part(regime)),
            caption: format!(
                "{}.\nCurve: share of paths on which the party's net position under {rl} exceeds its net position under {bl} \
                 by more than each amount (path by path). The x axis spans p{:.1}–p{:.1} of the changes.",
                self.run_line,
                100.0 * (1.0 - EXCEEDANCE_TOP),
                100.0 * EXCEEDANCE_TOP
            ),
            input: ChartInput::Cumulative(CumulativeChart {
                title: format!("How likely is each gain? {rl} against {bl}"),
                x_label: format!("Change in net position per path ({rl} − {bl}), $B"),
                y_label: "Paths gaining more than the amount, %".into(),
                series,
                step: false,
                annotation,
                vertical_lines: vec![ReferenceLine {
                    value: 0.0,
                    label: "no change".into(),
                    hue: None,
                }],
                x_axis: XAxis::Amount,
            }),
        })
    }

    /// A histogram of accumulator `acc` with `stat`'s markers.
    #[allow(clippy::too_many_arguments)]
    fn histogram(
        &self,
        name: String,
        title: String,
        x_label: String,
        acc: &Distribution,
        stat: Option<&Stat>,
        hue: Rgb,
        reference_lines: Vec<ReferenceLine>,
        atom: Option<Atom>,
    ) -> ChartSpec {
        let q = acc.quantiles_at(&[HIST_RANGE.0, HIST_RANGE.1]);
        let (mut lo, mut hi) = (q[0], q[1]);
        let window = |v: f64| (0.05 * v.abs()).max(0.5);
        let mut collapsed = false;
        if let Some(a) = &atom {
            // The atom (e.g. the cap) is the largest value: end the axis there.
            // Below it the values are bounded (a capped total lies in
            // [0, cap]), so the axis can start at the smallest one.
            hi = a.value;
            lo = acc.range().0;
            if lo >= hi || lo.is_nan() {
                lo = hi - window(hi);
            }
        } else if (hi - lo).partial_cmp(&(1e-9 * lo.abs().max(hi.abs()).max(1.0)))
            != Some(std::cmp::Ordering::Greater)
        {
            // Every path (but a few) has the same value: a narrow window
            // around it.
            collapsed = true;
            let v = if lo.is_finite() { lo } else { 0.0 };
            lo = v - window(v);
            hi = v + window(v);
        }
        let hist = acc.histogram(lo, hi, HIST_BINS);
        let (edges, mut counts, outside) = match hist {
            Some(h) => (h.edges, h.bins.counts, h.bins.below + h.bins.above),
            None => (vec![lo, hi], vec![0], 0),
        };
        let paths = acc.count().max(1) as f64;
        let mut point_mass = None;
        let mut range_note = if collapsed {
            "the values do not vary: the x axis is a window around them".to_string()
        } else {
            format!(
                "x axis spans {} ({:.1}% of paths lie outside it)",
                if atom.is_some() {
                    "the smallest value to the cap"
                } else {
                    "p0.5–p99.5"
                },
                100.0 * outside as f64 / paths
            )
        };
        let width = edges.get(1).zip(edges.first()).map_or(0.0, |(b, a)| b - a);
        if let Some(a) = &atom {
            // The atom's paths sit in the last bin (closed at the cap):
            // they are drawn as a bar of their own.
            if let Some(last) = counts.last_mut() {
                *last -= a.count.min(*last);
            }
            let below: u64 = counts.iter().sum();
            range_note.push_str(&format!(
                "; the {} of paths that pay exactly the cap are the dark bar right of it, the {} below the cap the light bars, all on one scale",
                pct(a.count as f64 / paths),
                pct(below as f64 / paths)
            ));
            point_mass = Some(PointMass {
                value: a.value,
                count: a.count,
                label: format!("pay exactly the {} cap", money(a.value)),
            });
        }
        let markers = match stat {
            Some(s) => vec![
                ReferenceLine {
                    value: s.mean,
                    label: format!("mean {}", money(s.mean)),
                    hue: None,
                },
                ReferenceLine {
                    value: s.p50,
                    label: format!("median {}", money(s.p50)),
                    hue: None,
                },
                ReferenceLine {
                    value: s.p5,
                    label: format!("p5 {}", money(s.p5)),
                    hue: None,
                },
                ReferenceLine {
                    value: s.p95,
                    label: format!("p95 {}", money(s.p95)),
                    hue: None,
                },
            ],
            None => Vec::new(),
        };
        let bars_label = if atom.is_some() {
            format!("below the cap, bins of {}", money(width))
        } else {
            format!("paths, bins of {}", money(width))
        };
        ChartSpec {
            name,
            caption: format!(
                "{}.\nBars: share of all paths in bins of {} ({} bins); {range_note}. Lines: mean, median, 5th and 95th percentile (named in the legend).",
                self.run_line,
                money(width),
                counts.len()
            ),
            input: ChartInput::Histogram(HistogramChart {
                title,
                x_label,
                y_label: "Share of paths, %".into(),
                edges,
                counts,
                hue,
                bars_label,
                point_mass,
                markers,
                reference_lines,
            }),
        }
    }

    fn total_histogram(&self, f: usize) -> ChartSpec {
        let flow = self.flow(f);
        let regime = self.regime_name(f);
        let mut lines = Vec::new();
        let mut atom = None;
        if let Some(mut l) = self.cap_line(f, false) {
            let hits = self.result.flows[f].hits;
            atom = (hits > 0).then_some(Atom {
                value: l.value,
                count: hits,
            });
            // The point mass's bar names the cap; a line only when no
            // path reaches it.
            if atom.is_none() {
                l.label = format!("{}: reached on no path", l.label);
                lines.push(l);
            }
        } else {
            // An uncapped flow whose namesake elsewhere is capped: show
            // that cap for comparison.
            for g in
                (0..self.result.flows.len()).filter(|&g| g != f && self.flow(g).name == flow.name)
            {
                if let Some(mut l) = self.cap_line(g, true) {
                    l.label = format!("{} (for comparison)", l.label);
                    lines.push(l);
                }
            }
        }
        lines.extend(self.flow_references(f));
        let stat = self
            .summary
            .regimes
            .get(regime)
            .and_then(|r| r.flows.get(&flow.name))
            .map(|x| &x.total);
        let sc = self.sc();
        self.histogram(
            format!("hist_total_{}_{}", file_part(regime), file_part(&flow.name)),
            format!(
                "Total paid {}–{}: {} ({})",
                flow.from_year,
                flow.to_year,
                self.flow_label(flow),
                self.regime_label(regime)
            ),
            format!(
                "Total paid inside the simulation ({}–{}), $B",
                sc.start_year, sc.end_year
            ),
            &self.result.flows[f].total,
            stat,
            self.hue_of_regime(regime),
            lines,
            atom,
        )
    }

    fn delta_histogram(&self, regime: &str, party: &str) -> Option<ChartSpec> {
        let delta = &self
            .result
            .comparisons
            .iter()
            .find(|c| c.regime == regime && c.party == party)?
            .delta_net;
        let baseline = &self.sc().baseline;
        let stat = self
            .summary
            .comparisons
            .get(regime)
            .and_then(|c| c.get(party))
            .map(|c| &c.delta_net);
        let (rl, bl, pl) = (
            self.sc().labels.regime(regime),
            self.sc().labels.regime(baseline),
            self.sc().labels.party(party),
        );
        Some(self.histogram(
            format!("hist_delta_net_{}_{}", file_part(regime), file_part(party)),
            format!("{pl}: net gain under {rl} vs {bl}"),
            format!("Change in net position per path ({rl} − {bl}), $B"),
            delta,
            stat,
            PALETTE[2],
            vec![ReferenceLine {
                value: 0.0,
                label: "no change".into(),
                hue: None,
            }],
            None,
        ))
    }

    /// Payments per calendar year of every flow of `regime`: mean bars with
    /// p5–p95 whiskers.
    fn schedule(&self, regime: &str) -> Option<ChartSpec> {
        let flows = self.sc().regimes.get(regime)?;
        if flows.is_empty() {
            return None;
        }
        let rows: Vec<_> = self
            .result
            .annual
            .rows
            .iter()
            .filter(|r| r.quantity == AnnualQuantity::Payment && r.regime == regime)
            .collect();
        let mut years: Vec<i32> = rows.iter().map(|r| r.year).collect();
        years.dedup();
        if years.is_empty() {
            return None;
        }
        let groups = flows
            .iter()
            .enumerate()
            .map(|(k, flow)| {
                let at = |y: i32| rows.iter().find(|r| r.year == y && r.name == flow.name);
                let get = |y: i32, f: &dyn Fn(&Stat) -> f64| at(y).map_or(f64::NAN, |r| f(&r.stat));
                BarGroup {
                    label: self.flow_label(flow),
                    hue: PALETTE[(k + self.regime_index(regime)) % PALETTE.len()],
                    values: years.iter().map(|&y| get(y, &|s| s.mean)).collect(),
                    lower: years.iter().map(|&y| get(y, &|s| s.p5)).collect(),
                    upper: years.iter().map(|&y| get(y, &|s| s.p95)).collect(),
                }
            })
            .collect();
        let rl = self.regime_label(regime);
        Some(ChartSpec {
            name: format!("schedule_{}", file_part(regime)),
            caption: format!(
                "{}.\nBars: mean payment of each flow in each calendar year (as in annual.csv); whiskers: 5th–95th percentile of paths. \
                 Payments inside the simulation only.",
                self.run_line
            ),
            input: ChartInput::Bars(BarChart {
                title: format!("Payment schedule per calendar year: {rl}"),
                x_label: "Calendar year".into(),
                y_label: "Paid in the year, $B".into(),
                categories: years.iter().map(|y| y.to_string()).collect(),
                groups,
                interval_label: "whiskers: 5th–95th percentile".into(),
                horizontal_lines: Vec::new(),
            }),
        })
    }

    fn annual_boxes(&self, s: usize) -> ChartSpec {
        let name = self.sc().series.keys().nth(s).expect("a series index");
        let categories = self
            .summary
            .series
            .get(name)
            .map(|x| {
                x.annual_revenue
                    .iter()
                    .map(|(year, st)| BoxStats {
                        label: year.clone(),
                        p5: st.p5,
                        p25: st.p25,
                        p50: st.p50,
                        p75: st.p75,
                        p95: st.p95,
                        hue: None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        ChartSpec {
            name: format!("annual_revenue_{}", file_part(name)),
            caption: format!(
                "{}.\nBox: 25–75% of paths; whiskers: 5–95%; line: median of the revenue earned in each calendar year.",
                self.run_line
            ),
            input: ChartInput::Box(BoxChart {
                title: format!(
                    "{}: revenue earned per calendar year",
                    self.sc().labels.series(name)
                ),
                x_label: "Calendar year".into(),
                y_label: "Revenue in the year, $B".into(),
                categories,
                hue: PALETTE[s % PALETTE.len()],
                horizontal_lines: Vec::new(),
                y_range: None,
                hue_legend: Vec::new(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_parts_are_safe() {
        assert_eq!(file_part("OpenAI"), "openai");
        assert_eq!(file_part("a/b c.d"), "a_b_c_d");
        assert_eq!(file_part("../x"), "___x");
        assert_eq!(file_part(""), "_");
    }

    #[test]
    fn chart_sizes_parse_and_reject() {
        assert_eq!(
            "1600x1000".parse::<ChartSize>(),
            Ok(ChartSize {
                width: 1600,
                height: 1000
            })
        );
        assert_eq!("800X500".parse::<ChartSize>().map(|s| s.width), Ok(800));
        for bad in [
            "",
            "1600",
            "x",
            "0x0",
            "1600x-1",
            "100x100",
            "99999x1000",
            "axb",
        ] {
            assert!(bad.parse::<ChartSize>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn labels_read_well() {
        assert_eq!(money(38.0), "$38B");
        assert_eq!(money(-5.25), "\u{2212}$5.25B");
        assert_eq!(money(135.04), "$135.0B");
        assert_eq!(thousands(100_000), "100,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(month_of(2029.21), "Mar 2029");
        assert_eq!(month_of(2030.999), "Dec 2030");
    }
}
