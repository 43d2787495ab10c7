//! Box charts: per category, a box p25–p75, whiskers p5–p95 and the
//! median (annual revenue, batch comparisons).

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::layout::Rect;
use super::layout::*;
use super::plot::*;
use super::DrawResult;
use super::*;

/// Five quantiles of one category of a box chart.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BoxStats {
    /// Category name under the box, e.g. "2027" or a scenario name.
    pub label: String,
    /// 5th percentile (lower whisker end).
    pub p5: f64,
    /// 25th percentile (box bottom).
    pub p25: f64,
    /// Median (line in the box).
    pub p50: f64,
    /// 75th percentile (box top).
    pub p75: f64,
    /// 95th percentile (upper whisker end).
    pub p95: f64,
}

/// Box chart: one box per category (whiskers p5–p95, box p25–p75, median).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BoxChart {
    /// Title at the top.
    pub title: String,
    /// x-axis title, e.g. "Calendar year" or "Scenario".
    pub x_label: String,
    /// y-axis title with unit.
    pub y_label: String,
    /// Categories in drawing order, left to right.
    pub categories: Vec<BoxStats>,
    /// Box colour.
    pub hue: Rgb,
    /// Labelled horizontal lines at y values.
    pub horizontal_lines: Vec<ReferenceLine>,
}

/// Draws a box chart.
pub fn box_chart(chart: &BoxChart, style: &ChartStyle) -> Result<Rendered, ChartError> {
    let prepared = PreparedBox::new(chart)?;
    render(style, &prepared)
}

struct PreparedBox<'a> {
    chart: &'a BoxChart,
    /// Sorted quantiles per category; None if any is non-finite.
    stats: Vec<Option<[f64; 5]>>,
    xs: AxisSpec,
    ys: AxisSpec,
}

impl<'a> PreparedBox<'a> {
    fn new(chart: &'a BoxChart) -> Result<Self, ChartError> {
        if chart.categories.is_empty() {
            return Err(ChartError::EmptyInput("box chart categories".into()));
        }
        let mut ye = Extent::new();
        let stats: Vec<Option<[f64; 5]>> = chart
            .categories
            .iter()
            .map(|b| {
                let mut q = [b.p5, b.p25, b.p50, b.p75, b.p95];
                if q.iter().all(|v| v.is_finite()) {
                    q.sort_by(f64::total_cmp);
                    ye.add_all(&q);
                    Some(q)
                } else {
                    None
                }
            })
            .collect();
        if ye.is_empty() {
            return Err(ChartError::NoFiniteData("box chart".into()));
        }
        for l in &chart.horizontal_lines {
            ye.add(l.value);
        }
        let names = chart.categories.iter().map(|b| b.label.clone()).collect();
        let xs = AxisSpec::numeric(AxisKind::Category(names), (0.0, 0.0));
        let mut ys = AxisSpec::numeric(AxisKind::Number, ye.pair());
        ys.towards_zero = true;
        Ok(Self {
            chart,
            stats,
            xs,
            ys,
        })
    }
}

impl Drawable for PreparedBox<'_> {
    fn draw<DB: DrawingBackend>(&self, c: &Canvas<'_, DB>) -> DrawResult {
        let ch = self.chart;
        let fill = tint(ch.hue, 0.35);
        let dark = shade(ch.hue, 0.35);
        let legend = vec![vec![
            entry(Swatch::Boxed(fill, dark), "25th–75th percentile"),
            entry(Swatch::Line(dark), "median"),
            entry(Swatch::Line(AXIS_GREY), "whiskers: 5th–95th percentile"),
        ]];
        let area = c.frame(&ch.title, &legend)?;
        let p = c.layout(area, &self.xs, &self.ys, &ch.x_label, &ch.y_label);
        c.axes(&p, &ch.x_label, &ch.y_label, area)?;
        let slot = p.x_unit();
        let half = (slot * 0.28).clamp(4.0, c.m.tick * 4.0) as i32;
        let cap = half / 2;
        let lw = c.m.line;
        for (i, q) in self.stats.iter().enumerate() {
            let xc = p.px(i as f64);
            let Some(q) = q else {
                c.text(
                    "n/a",
                    (xc, (p.r.y0 + p.r.y1) / 2),
                    c.m.note,
                    false,
                    CAPTION_GREY,
                    HPos::Center,
                    VPos::Center,
                )?;
                continue;
            };
            let [p5, p25, p50, p75, p95] = q.map(|v| p.py(v));
            c.path(vec![(xc, p95), (xc, p75)], AXIS_GREY, lw)?;
            c.path(vec![(xc, p25), (xc, p5)], AXIS_GREY, lw)?;
            c.path(vec![(xc - cap, p95), (xc + cap, p95)], AXIS_GREY, lw)?;
            c.path(vec![(xc - cap, p5), (xc + cap, p5)], AXIS_GREY, lw)?;
            let r = Rect::new(xc - half, p75, xc + half, p25.max(p75 + 2));
            c.fill_rect(r, fill.to_rgba())?;
            c.stroke_rect(r, dark, 2)?;
            c.path(vec![(xc - half, p50), (xc + half, p50)], dark, lw + 2)?;
        }
        let mut placer = LabelPlacer::new(p.r);
        c.h_lines(&p, &ch.horizontal_lines, &mut placer)
    }
}
