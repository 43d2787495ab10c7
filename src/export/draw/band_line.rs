//! Line charts with intervals: a metric against a swept parameter. One
//! series draws its interval as a band; several (a sweep over two or more
//! parameters: a line per value of the others) draw it as bars at each
//! point, so that every point stays visible.

use plotters::prelude::*;

use super::layout::Rect;
use super::layout::*;
use super::plot::*;
use super::DrawResult;
use super::*;

/// Lines with intervals, e.g. a metric against a swept parameter.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BandLineChart {
    /// Title at the top.
    pub title: String,
    /// x-axis title with unit.
    pub x_label: String,
    /// y-axis title with unit.
    pub y_label: String,
    /// One line per series (e.g. per value of a second swept parameter).
    pub series: Vec<LineSeries>,
    /// Legend text of the line when there is one series, e.g. "median"
    /// (with several, each line is named by its series' label).
    pub line_label: String,
    /// Legend text of the interval, e.g. "90% band".
    pub band_label: String,
    /// Labelled horizontal lines at y values.
    pub horizontal_lines: Vec<ReferenceLine>,
    /// Draw the x axis on a log scale (points at x <= 0 are left out), e.g.
    /// path counts that double.
    pub log_x: bool,
    /// Values the y axis never goes beyond (e.g. `Some((0.0, 100.0))` for a
    /// probability in percent); `None` lets the data decide.
    pub y_limits: Option<(f64, f64)>,
}

/// One line of a [`BandLineChart`] and its interval.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LineSeries {
    /// Legend text (e.g. "growth.initial = 0.6").
    pub label: String,
    /// Line colour; the band is a tint of it.
    pub hue: Rgb,
    /// x values, non-decreasing.
    pub x: Vec<f64>,
    /// The line, one value per x.
    pub center: Vec<f64>,
    /// Interval lower end, one value per x.
    pub lower: Vec<f64>,
    /// Interval upper end, one value per x.
    pub upper: Vec<f64>,
}

/// Draws lines with their intervals.
pub fn band_line_chart(chart: &BandLineChart, style: &ChartStyle) -> Result<Rendered, ChartError> {
    let prepared = PreparedBandLine::new(chart)?;
    render(style, &prepared)
}

struct PreparedBandLine<'a> {
    /// The chart, with x values as log10 when `log_x`.
    chart: std::borrow::Cow<'a, BandLineChart>,
    xs: AxisSpec,
    ys: AxisSpec,
}

impl<'a> PreparedBandLine<'a> {
    fn new(chart: &'a BandLineChart) -> Result<Self, ChartError> {
        let chart = if chart.log_x {
            let mut c = chart.clone();
            for s in &mut c.series {
                s.x.iter_mut().for_each(|x| *x = log_or_nan(*x));
            }
            std::borrow::Cow::Owned(c)
        } else {
            std::borrow::Cow::Borrowed(chart)
        };
        if chart.series.iter().all(|s| s.x.is_empty()) {
            return Err(ChartError::EmptyInput("band line chart x".into()));
        }
        let (mut xe, mut ye) = (Extent::new(), Extent::new());
        for s in &chart.series {
            let n = s.x.len();
            check_len("center", s.center.len(), n)?;
            check_len("lower", s.lower.len(), n)?;
            check_len("upper", s.upper.len(), n)?;
            check_non_decreasing("band line chart x", &s.x)?;
            for i in (0..n).filter(|&i| s.x[i].is_finite()) {
                let line_ok = s.center[i].is_finite();
                let band_ok = s.lower[i].is_finite() && s.upper[i].is_finite();
                if line_ok {
                    ye.add(s.center[i]);
                }
                if band_ok {
                    ye.add(s.lower[i]);
                    ye.add(s.upper[i]);
                }
                if line_ok || band_ok {
                    xe.add(s.x[i]);
                }
            }
        }
        if xe.is_empty() || ye.is_empty() {
            return Err(ChartError::NoFiniteData("band line chart".into()));
        }
        for l in &chart.horizontal_lines {
            ye.add(l.value);
        }
        let kind = if chart.log_x {
            AxisKind::Log
        } else {
            AxisKind::Number
        };
        let mut xs = AxisSpec::numeric(kind, xe.pair());
        xs.pad = if chart.series.len() > 1 || chart.log_x {
            0.03
        } else {
            0.0
        };
        xs.snap = false;
        let mut ys = AxisSpec::numeric(AxisKind::Number, ye.pair());
        ys.towards_zero = true;
        ys.limits = chart.y_limits;
        Ok(Self { chart, xs, ys })
    }
}

impl Drawable for PreparedBandLine<'_> {
    fn draw<DB: DrawingBackend>(&self, c: &Canvas<'_, DB>) -> DrawResult {
        let ch: &BandLineChart = &self.chart;
        let multi = ch.series.len() > 1;
        let mut group = Vec::new();
        if multi {
            for s in &ch.series {
                group.push(entry(Swatch::Line(rgb(s.hue)), s.label.clone()));
            }
            if !ch.band_label.is_empty() {
                group.push(entry(
                    Swatch::Line(AXIS_GREY),
                    format!("bars: {}", ch.band_label),
                ));
            }
        } else if let Some(s) = ch.series.first() {
            if !ch.line_label.is_empty() {
                group.push(entry(Swatch::Line(rgb(s.hue)), ch.line_label.clone()));
            }
            if !ch.band_label.is_empty() {
                group.push(entry(Swatch::Fill(tint(s.hue, 0.3)), ch.band_label.clone()));
            }
        }
        let (styles, labels, hv) = h_lines(&ch.horizontal_lines);
        let plot_of = |area: Rect| c.layout(area, &self.xs, &self.ys, &ch.x_label, &ch.y_label);
        let lines = |p: &Plot| c.rule_boxes(p, &[], &hv);
        let none = |_: &Plot| Vec::new();
        let fitted = c.fit(&ch.title, &vec![group], &labels, &plot_of, &none, &lines);
        let p = &fitted.plot;
        let area = c.frame(&ch.title, &fitted.legend)?;
        c.axes(p, &ch.x_label, &ch.y_label, area)?;
        let dot_r = (c.m.tick * 0.32) as i32;
        let n_series = ch.series.len() as i32;
        for (k, s) in ch.series.iter().enumerate() {
            if !multi {
                c.band(p, &s.x, &s.lower, &s.upper, tint(s.hue, 0.3).to_rgba())?;
            }
            c.line(p, &s.x, &s.center, rgb(s.hue), c.m.line + 1, false)?;
            // Intervals of several lines: bars, each line's nudged a few
            // pixels sideways so that coinciding bars stay apart.
            let nudge = if multi {
                (k as i32 * 2 - (n_series - 1)) * (dot_r / 2 + 1)
            } else {
                0
            };
            for i in 0..s.x.len() {
                if !s.x[i].is_finite() {
                    continue;
                }
                let x = p.px(s.x[i]) + nudge;
                if multi && s.lower[i].is_finite() && s.upper[i].is_finite() {
                    let ends = (p.py(s.lower[i]), p.py(s.upper[i]));
                    c.whisker(x, ends, dot_r, shade(s.hue, 0.1))?;
                }
                // Mark every computed point when there are few of them.
                if s.center[i].is_finite() && (multi || s.x.len() <= 25) {
                    c.dot((x, p.py(s.center[i])), dot_r, rgb(s.hue), WHITE)?;
                }
            }
        }
        for (l, st) in ch.horizontal_lines.iter().zip(&styles) {
            c.h_rule(p, l.value, st)?;
        }
        c.draw_labels(&labels, &fitted.boxes)
    }
}
