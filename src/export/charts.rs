//! Export, pictures: the charts of a run. Turns a finished
//! [`RunResult`] into the inputs of the drawing layer ([`super::draw`]) and
//! renders them. Every number drawn comes from the result: per-step
//! quantile bands from its step table, histogram bins from its per-path
//! [`Distribution`]s, the cap-hit curve from the hit-time distribution;
//! the drawing layer only draws. Rendering does no I/O; the output manager
//! ([`super::manager::OutputDir`]) writes the files.
//!
//! The charts of a run (file stems; each is written as `.png` and `.svg`):
//!
//! * `fan_revenue_<series>`: run-rate fan (5–95, 10–90, 25–75%, median),
//!   with the scenario's `references` overlaid;
//! * `fan_cumulative_<flow>`: cumulative payments of one flow in every
//!   regime that has it (5–95, 25–75%, medians), caps and accrual window;
//! * `cap_hit_<regime>_<flow>`: P(cap reached by date), for capped flows;
//! * `hist_total_<regime>_<flow>` and `hist_delta_net_<regime>_<party>`:
//!   histograms of flow totals and of each party's gain vs the baseline;
//! * `annual_revenue_<series>`: per calendar year p5/p25/p50/p75/p95 boxes.
//!
//! Names are lowercased and every character other than `a-z 0-9 _ -` is
//! replaced by `_`, so any scenario name gives a safe file name.

use std::collections::BTreeSet;

use rayon::prelude::*;

use crate::export::draw::{
    self, Band, BoxChart, BoxStats, ChartError, ChartStyle, CumulativeChart, CurveSeries, FanChart,
    FanSeries, HistogramChart, ReferenceLine, ReferencePoint, Rendered, Rgb, PALETTE,
};
use crate::result::{Distribution, RunResult, StepQuantity};
use crate::scenario::{Flow, Scenario};
use crate::statistics::Stat;
use crate::summary::Summary;

/// Default image width in pixels.
pub const DEFAULT_WIDTH: u32 = 1600;
/// Default image height in pixels.
pub const DEFAULT_HEIGHT: u32 = 1000;

/// Fan-chart quantile levels: 5, 10, 25, 50, 75, 90, 95%.
const FAN_LEVELS: [f64; 7] = [0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95];
/// Most bins of a histogram.
const HIST_BINS: usize = 60;
/// Histogram x axes span these quantiles; paths outside are counted and
/// the share is stated in the caption.
const HIST_RANGE: (f64, f64) = (0.005, 0.995);
/// Points per year of the cap-hit curve (about every 3 days).
const CAP_HIT_POINTS_PER_YEAR: usize = 120;

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

/// The input of one chart, for the drawing function of its kind.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ChartInput {
    /// A fan chart (revenue run rate, cumulative payments).
    Fan(FanChart),
    /// A cumulative-probability chart (cap-hit timing).
    Cumulative(CumulativeChart),
    /// A histogram (totals, gains vs the baseline).
    Histogram(HistogramChart),
    /// A box chart (annual revenue).
    Box(BoxChart),
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
        }
    }
}

/// A rendered chart: its file stem and the PNG and SVG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedChart {
    /// File stem (see [`ChartSpec::name`]).
    pub name: String,
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
) -> Result<Vec<RenderedChart>, ReportError> {
    chart_specs(result)
        .par_iter()
        .map(|spec| {
            spec.render(size)
                .map(|rendered| RenderedChart {
                    name: spec.name.clone(),
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
pub fn chart_specs(result: &RunResult) -> Vec<ChartSpec> {
    let r = Reporter::new(result);
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
    for f in 0..flows {
        specs.push(r.total_histogram(f));
    }
    for (reg, parties) in &summary.comparisons {
        for party in parties.keys() {
            if let Some(spec) = r.delta_histogram(reg, party) {
                specs.push(spec);
            }
        }
    }
    for s in 0..series {
        specs.push(r.annual_boxes(s));
    }
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
fn thousands(n: u64) -> String {
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
fn month_of(t: f64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let y = t.floor();
    let m = (((t - y) * 12.0).floor() as usize).min(11);
    format!("{} {}", MONTHS[m], y as i64)
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
    /// "base · 100,000 paths · seed 42".
    run_line: String,
}

impl<'a> Reporter<'a> {
    fn new(result: &'a RunResult) -> Reporter<'a> {
        let sc = result.scenario();
        Reporter {
            result,
            summary: &result.summary,
            run_line: format!(
                "Scenario {} · {} paths · seed {} · {}–{}, {} steps/year",
                sc.name,
                thousands(result.paths()),
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
            })
            .collect()
    }

    /// The cap that is still payable inside the simulation, and its label.
    fn cap_line(&self, f: usize, with_regime: bool) -> Option<ReferenceLine> {
        let flow = self.flow(f);
        let cap = flow.cap?;
        let regime = if with_regime {
            format!("{} cap", self.regime_name(f))
        } else {
            "cap".to_string()
        };
        let pbs = flow.paid_before_start;
        Some(if pbs > 0.0 {
            ReferenceLine {
                value: (cap - pbs).max(0.0),
                label: format!(
                    "{regime} {} − {} paid before {} = {} left",
                    money(cap),
                    money(pbs),
                    self.sc().start_year,
                    money((cap - pbs).max(0.0))
                ),
            }
        } else {
            ReferenceLine {
                value: cap,
                label: format!("{regime} {}", money(cap)),
            }
        })
    }

    // -- charts -------------------------------------------------------------

    fn revenue_fan(&self, s: usize) -> ChartSpec {
        let name = self.sc().series.keys().nth(s).expect("a series index");
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
            " Markers: the scenario's reference points (labels say what each is)."
        };
        ChartSpec {
            name: format!("fan_revenue_{}", file_part(name)),
            caption: format!(
                "{}.\nBands: equal-tail 5–95%, 10–90% and 25–75% of paths at each date; line: median. \
                 Run rate = revenue annualised at that instant ($B/year).{refs_note}",
                self.run_line
            ),
            input: ChartInput::Fan(FanChart {
                title: format!("{name}: annualised revenue run rate"),
                x_label: "Calendar year".into(),
                y_label: "Run rate, $B/year".into(),
                x: self.times(),
                series: vec![FanSeries {
                    label: name.clone(),
                    hue: PALETTE[s % PALETTE.len()],
                    median: q[3].clone(),
                    bands: vec![band("5–95%", 0, 6), band("10–90%", 1, 5), band("25–75%", 2, 4)],
                }],
                reference_points,
                horizontal_lines: Vec::new(),
                vertical_lines: Vec::new(),
            }),
        }
    }

    fn cumulative_fan(&self, flow_name: &str) -> ChartSpec {
        let sc = self.sc();
        let start = sc.start_year;
        // The baseline first, so that the other regimes are drawn on top.
        let mut flows: Vec<usize> = (0..self.result.flows.len())
            .filter(|&f| self.flow(f).name == flow_name)
            .collect();
        flows.sort_by_key(|&f| self.regime_name(f) != sc.baseline);
        let several = flows.len() > 1;
        let levels = [0.05, 0.25, 0.50, 0.75, 0.95];
        let mut series = Vec::new();
        let mut horizontal_lines = Vec::new();
        let mut windows = BTreeSet::new();
        for &f in &flows {
            let regime = self.regime_name(f);
            let q = self.step_bands(&levels, StepQuantity::CumulativePayment, regime, flow_name);
            series.push(FanSeries {
                label: regime.to_string(),
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
                });
            }
            vertical_lines.push(ReferenceLine {
                value: (to + 1) as f64,
                label: format!("accrual window ends 31 Dec {to}"),
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
                Some(format!("{regime} {}", money(t.mean)))
            })
            .collect();
        let mut means_note = format!(" Mean totals: {}.", means.join(", "));
        let absent: Vec<&str> = sc
            .regimes
            .keys()
            .filter(|r| !flows.iter().any(|&f| self.regime_name(f) == r.as_str()))
            .map(|r| r.as_str())
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
        ChartSpec {
            name: format!("fan_cumulative_{}", file_part(flow_name)),
            caption: format!(
                "{}.\nBands: equal-tail 5–95% and 25–75% of paths at each date; lines: medians. \
                 Cumulative = payments made inside the simulation, from 1 Jan {start} (as in steps.csv).{means_note}{pbs_note}",
                self.run_line
            ),
            input: ChartInput::Fan(FanChart {
                title: format!(
                    "Cumulative payments {} → {}: {flow_name}",
                    first.payer, first.payee
                ),
                x_label: "Calendar year".into(),
                y_label: format!("Paid since 1 Jan {start}, $B"),
                x: self.times(),
                series,
                reference_points: Vec::new(),
                horizontal_lines,
                vertical_lines,
            }),
        }
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
            });
        }
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
                    "When is the {} cap on {} reached? ({regime})",
                    money(flow.cap.unwrap_or(f64::NAN)),
                    flow.name
                ),
                x_label: "Calendar year".into(),
                y_label: "P(cap reached by date)".into(),
                series: vec![CurveSeries {
                    label: format!("{regime}: P(reached by date)"),
                    hue: self.hue_of_regime(regime),
                    x,
                    y,
                }],
                step: false,
                annotation,
                vertical_lines,
            }),
        }
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
            None => (vec![0.0, 1.0], vec![0], 0),
        };
        let paths = acc.count().max(1) as f64;
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
        if let (Some(a), Some(last)) = (&atom, counts.last_mut()) {
            // The atom's paths sit in the last bin (closed at the cap).
            *last -= a.count.min(*last);
            range_note.push_str(&format!(
                "; the {:.1}% of paths that pay exactly the cap are not drawn as a bar (the bars show the others)",
                100.0 * a.count as f64 / paths
            ));
        }
        let width = edges.get(1).zip(edges.first()).map_or(0.0, |(b, a)| b - a);
        let markers = match stat {
            Some(s) => vec![
                ReferenceLine {
                    value: s.mean,
                    label: format!("mean {}", money(s.mean)),
                },
                ReferenceLine {
                    value: s.p50,
                    label: format!("median {}", money(s.p50)),
                },
                ReferenceLine {
                    value: s.p5,
                    label: format!("p5 {}", money(s.p5)),
                },
                ReferenceLine {
                    value: s.p95,
                    label: format!("p95 {}", money(s.p95)),
                },
            ],
            None => Vec::new(),
        };
        ChartSpec {
            name,
            caption: format!(
                "{}.\nBars: share of {} in bins of {} ({} bins); {range_note}. Markers: mean, median, 5th and 95th percentile.",
                self.run_line,
                if atom.is_some() { "the paths below the cap" } else { "paths" },
                money(width),
                counts.len()
            ),
            input: ChartInput::Histogram(HistogramChart {
                title,
                x_label,
                y_label: if atom.is_some() {
                    "Share of the paths that stay below the cap".into()
                } else {
                    "Share of paths".into()
                },
                edges,
                counts,
                hue,
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
            l.label = format!(
                "{}: reached on {:.1}% of paths",
                l.label,
                100.0 * hits as f64 / self.result.paths().max(1) as f64
            );
            // Leave the bar when every path pays the cap: nothing else to show.
            let paths = self.result.flows[f].total.count();
            atom = (hits > 0 && hits < paths).then_some(Atom {
                value: l.value,
                count: hits,
            });
            lines.push(l);
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
        self.histogram(
            format!("hist_total_{}_{}", file_part(regime), file_part(&flow.name)),
            format!(
                "Total {} → {} payments, {}–{}: {} ({regime})",
                flow.payer, flow.payee, flow.from_year, flow.to_year, flow.name
            ),
            format!(
                "Total paid inside the simulation ({}–{}), $B",
                self.sc().start_year,
                self.sc().end_year
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
        Some(self.histogram(
            format!("hist_delta_net_{}_{}", file_part(regime), file_part(party)),
            format!("{party}: net gain under {regime} vs {baseline}"),
            format!("Change in net position per path ({regime} − {baseline}), $B"),
            delta,
            stat,
            PALETTE[2],
            vec![ReferenceLine {
                value: 0.0,
                label: "no change".into(),
            }],
            None,
        ))
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
                title: format!("{name}: revenue earned per calendar year"),
                x_label: "Calendar year".into(),
                y_label: "Revenue in year, $B".into(),
                categories,
                hue: PALETTE[s % PALETTE.len()],
                horizontal_lines: Vec::new(),
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
