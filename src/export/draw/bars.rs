//! Grouped bar charts: per category (e.g. calendar year), one bar per
//! group (e.g. contract flow) with an interval whisker (payment schedules).

use plotters::prelude::*;

use super::layout::Rect;
use super::layout::*;
use super::plot::*;
use super::DrawResult;
use super::*;

/// Grouped bars with interval whiskers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BarChart {
    /// Title at the top.
    pub title: String,
    /// x-axis title, e.g. "Calendar year".
    pub x_label: String,
    /// y-axis title with unit.
    pub y_label: String,
    /// Category names, left to right.
    pub categories: Vec<String>,
    /// One bar per category in each group.
    pub groups: Vec<BarGroup>,
    /// Legend text of the whiskers, e.g. "whiskers: 5th–95th percentile";
    /// empty for none.
    pub interval_label: String,
    /// Labelled horizontal lines at y values.
    pub horizontal_lines: Vec<ReferenceLine>,
}

/// One group of bars (one per category).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BarGroup {
    /// Legend text.
    pub label: String,
    /// Bar colour.
    pub hue: Rgb,
    /// Bar height per category (NaN: no bar).
    pub values: Vec<f64>,
    /// Whisker lower end per category (NaN: no whisker).
    pub lower: Vec<f64>,
    /// Whisker upper end per category.
    pub upper: Vec<f64>,
}

/// Draws a grouped bar chart.
pub fn bar_chart(chart: &BarChart, style: &ChartStyle) -> Result<Rendered, ChartError> {
    let prepared = PreparedBars::new(chart)?;
    render(style, &prepared)
}

struct PreparedBars<'a> {
    chart: &'a BarChart,
    xs: AxisSpec,
    ys: AxisSpec,
}

impl<'a> PreparedBars<'a> {
    fn new(chart: &'a BarChart) -> Result<Self, ChartError> {
        let n = chart.categories.len();
        if n == 0 || chart.groups.is_empty() {
            return Err(ChartError::EmptyInput("bar chart categories".into()));
        }
        let mut ye = Extent::new();
        ye.add(0.0);
        let mut any = false;
        for g in &chart.groups {
            check_len(&format!("values of '{}'", g.label), g.values.len(), n)?;
            check_len(&format!("lower of '{}'", g.label), g.lower.len(), n)?;
            check_len(&format!("upper of '{}'", g.label), g.upper.len(), n)?;
            any |= g.values.iter().any(|v| v.is_finite());
            ye.add_all(&g.values);
            ye.add_all(&g.lower);
            ye.add_all(&g.upper);
        }
        if !any {
            return Err(ChartError::NoFiniteData("bar chart".into()));
        }
        for l in &chart.horizontal_lines {
            ye.add(l.value);
        }
        let xs = AxisSpec::numeric(AxisKind::Category(chart.categories.clone()), (0.0, 0.0));
        let mut ys = AxisSpec::numeric(AxisKind::Number, ye.pair());
        ys.towards_zero = true;
        Ok(Self { chart, xs, ys })
    }
}

impl Drawable for PreparedBars<'_> {
    fn draw<DB: DrawingBackend>(&self, c: &Canvas<'_, DB>) -> DrawResult {
        let ch = self.chart;
        let mut group: Vec<LegendEntry> = ch
            .groups
            .iter()
            .map(|g| {
                entry(
                    Swatch::Boxed(tint(g.hue, 0.6), shade(g.hue, 0.25)),
                    g.label.clone(),
                )
            })
            .collect();
        if !ch.interval_label.is_empty() {
            group.push(entry(Swatch::Line(INK), ch.interval_label.clone()));
        }
        let (styles, labels, hv) = h_lines(&ch.horizontal_lines);
        let plot_of = |area: Rect| c.layout(area, &self.xs, &self.ys, &ch.x_label, &ch.y_label);
        let lines = |p: &Plot| c.rule_boxes(p, &[], &hv);
        let none = |_: &Plot| Vec::new();
        let fitted = c.fit(&ch.title, &vec![group], &labels, &plot_of, &none, &lines);
        let p = &fitted.plot;
        let area = c.frame(&ch.title, &fitted.legend)?;
        c.axes(p, &ch.x_label, &ch.y_label, area)?;
        let groups = ch.groups.len() as f64;
        let slot = p.x_unit() * 0.8;
        let bar_w = (slot / groups).max(2.0);
        let zero = p.py(0.0_f64.clamp(p.y.lo, p.y.hi));
        for (gi, g) in ch.groups.iter().enumerate() {
            let fill = tint(g.hue, 0.6);
            let edge = shade(g.hue, 0.25);
            for i in 0..ch.categories.len() {
                let x0 = p.px(i as f64) as f64 - slot / 2.0 + gi as f64 * bar_w;
                let (x0, x1) = (x0.round() as i32, (x0 + bar_w).round() as i32 - 1);
                let xc = (x0 + x1) / 2;
                let v = g.values[i];
                if v.is_finite() {
                    let r = Rect::new(x0, p.py(v), x1.max(x0 + 1), zero);
                    c.fill_rect(r, fill.to_rgba())?;
                    c.stroke_rect(r, edge, 1)?;
                }
                let (lo, hi) = (g.lower[i], g.upper[i]);
                if lo.is_finite() && hi.is_finite() {
                    let cap = ((x1 - x0) / 4).max(2);
                    c.whisker(xc, (p.py(lo), p.py(hi)), cap, INK)?;
                }
            }
        }
        for (l, st) in ch.horizontal_lines.iter().zip(&styles) {
            c.h_rule(p, l.value, st)?;
        }
        c.draw_labels(&labels, &fitted.boxes)
    }
}
