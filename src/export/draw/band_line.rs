//! Line-with-band charts: a metric against a swept parameter with its
//! interval.

use plotters::prelude::*;

use super::layout::*;
use super::plot::*;
use super::DrawResult;
use super::*;

/// Line with a shaded band, e.g. a metric against a swept parameter.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BandLineChart {
    /// Title at the top.
    pub title: String,
    /// x-axis title with unit.
    pub x_label: String,
    /// y-axis title with unit.
    pub y_label: String,
    /// x values, non-decreasing.
    pub x: Vec<f64>,
    /// Central line, one value per x.
    pub center: Vec<f64>,
    /// Band lower edge, one value per x.
    pub lower: Vec<f64>,
    /// Band upper edge, one value per x.
    pub upper: Vec<f64>,
    /// Legend text of the line, e.g. "median".
    pub line_label: String,
    /// Legend text of the band, e.g. "90% band".
    pub band_label: String,
    /// Line colour; the band is a tint of it.
    pub hue: Rgb,
    /// Labelled horizontal lines at y values.
    pub horizontal_lines: Vec<ReferenceLine>,
}

/// Draws a line with a shaded band.
pub fn band_line_chart(chart: &BandLineChart, style: &ChartStyle) -> Result<Rendered, ChartError> {
    let prepared = PreparedBandLine::new(chart)?;
    render(style, &prepared)
}

struct PreparedBandLine<'a> {
    chart: &'a BandLineChart,
    xs: AxisSpec,
    ys: AxisSpec,
}

impl<'a> PreparedBandLine<'a> {
    fn new(chart: &'a BandLineChart) -> Result<Self, ChartError> {
        let n = chart.x.len();
        if n == 0 {
            return Err(ChartError::EmptyInput("band line chart x".into()));
        }
        check_len("center", chart.center.len(), n)?;
        check_len("lower", chart.lower.len(), n)?;
        check_len("upper", chart.upper.len(), n)?;
        check_non_decreasing("band line chart x", &chart.x)?;
        let (mut xe, mut ye) = (Extent::new(), Extent::new());
        for i in (0..n).filter(|&i| chart.x[i].is_finite()) {
            let line_ok = chart.center[i].is_finite();
            let band_ok = chart.lower[i].is_finite() && chart.upper[i].is_finite();
            if line_ok {
                ye.add(chart.center[i]);
            }
            if band_ok {
                ye.add(chart.lower[i]);
                ye.add(chart.upper[i]);
            }
            if line_ok || band_ok {
                xe.add(chart.x[i]);
            }
        }
        if xe.is_empty() || ye.is_empty() {
            return Err(ChartError::NoFiniteData("band line chart".into()));
        }
        for l in &chart.horizontal_lines {
            ye.add(l.value);
        }
        let mut xs = AxisSpec::numeric(AxisKind::Number, xe.pair());
        xs.pad = 0.0;
        xs.snap = false;
        let mut ys = AxisSpec::numeric(AxisKind::Number, ye.pair());
        ys.towards_zero = true;
        Ok(Self { chart, xs, ys })
    }
}

impl Drawable for PreparedBandLine<'_> {
    fn draw<DB: DrawingBackend>(&self, c: &Canvas<'_, DB>) -> DrawResult {
        let ch = self.chart;
        let band_fill = tint(ch.hue, 0.3);
        let mut group = Vec::new();
        if !ch.line_label.is_empty() {
            group.push(entry(Swatch::Line(rgb(ch.hue)), ch.line_label.clone()));
        }
        if !ch.band_label.is_empty() {
            group.push(entry(Swatch::Fill(band_fill), ch.band_label.clone()));
        }
        let area = c.frame(&ch.title, &vec![group])?;
        let p = c.layout(area, &self.xs, &self.ys, &ch.x_label, &ch.y_label);
        c.axes(&p, &ch.x_label, &ch.y_label, area)?;
        c.band(&p, &ch.x, &ch.lower, &ch.upper, band_fill.to_rgba())?;
        c.line(&p, &ch.x, &ch.center, rgb(ch.hue), c.m.line + 1, false)?;
        // Mark the sampled points when there are few of them.
        if ch.x.len() <= 25 {
            for (x, y) in ch.x.iter().zip(&ch.center) {
                if x.is_finite() && y.is_finite() {
                    c.dot(p.pt(*x, *y), (c.m.tick * 0.32) as i32, rgb(ch.hue), WHITE)?;
                }
            }
        }
        let mut placer = LabelPlacer::new(p.r);
        c.h_lines(&p, &ch.horizontal_lines, &mut placer)
    }
}
