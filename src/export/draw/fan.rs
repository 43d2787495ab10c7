//! Fan charts: median lines with nested quantile bands over calendar time
//! (revenue run rates, cumulative payments).

use plotters::prelude::*;

use super::layout::*;
use super::plot::*;
use super::DrawResult;
use super::*;

/// One equal-tail band of a fan series: `lower[i]..upper[i]` at `x[i]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Band {
    /// Legend text, e.g. "5–95%".
    pub label: String,
    /// Lower edge, one value per x.
    pub lower: Vec<f64>,
    /// Upper edge, one value per x.
    pub upper: Vec<f64>,
}

/// One fan: a median line and nested bands in one hue.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FanSeries {
    /// Series name shown in the legend (may be empty for a single series).
    pub label: String,
    /// Hue of the median line; bands are lighter tints of it.
    pub hue: Rgb,
    /// Median, one value per x.
    pub median: Vec<f64>,
    /// Nested bands in any order: the widest is drawn lightest, the
    /// narrowest darkest.
    pub bands: Vec<Band>,
}

/// Fan chart: median lines with nested bands over calendar time.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FanChart {
    /// Title at the top.
    pub title: String,
    /// x-axis title, e.g. "Calendar year".
    pub x_label: String,
    /// y-axis title with unit, e.g. "$B / year".
    pub y_label: String,
    /// Decimal calendar years, non-decreasing (2026.0, 2026.25, ...).
    pub x: Vec<f64>,
    /// One or more fans, all on `x`.
    pub series: Vec<FanSeries>,
    /// Markers with labels (e.g. reported figures).
    pub reference_points: Vec<ReferencePoint>,
    /// Labelled horizontal lines at y values (e.g. "Cap $38B").
    pub horizontal_lines: Vec<ReferenceLine>,
    /// Labelled vertical lines at x values (e.g. "end of accrual window").
    pub vertical_lines: Vec<ReferenceLine>,
}

/// Draws a fan chart.
pub fn fan_chart(chart: &FanChart, style: &ChartStyle) -> Result<Rendered, ChartError> {
    let prepared = PreparedFan::new(chart)?;
    render(style, &prepared)
}

struct PreparedFan<'a> {
    chart: &'a FanChart,
    /// Per series: band indices from widest to narrowest.
    band_order: Vec<Vec<usize>>,
    xs: AxisSpec,
    ys: AxisSpec,
}

/// Opacity of one band layer; nested layers add up towards the centre.
const BAND_ALPHA: f64 = 0.26;

fn layered_alpha(layers: usize) -> f64 {
    1.0 - (1.0 - BAND_ALPHA).powi(layers as i32)
}

impl<'a> PreparedFan<'a> {
    fn new(chart: &'a FanChart) -> Result<Self, ChartError> {
        let n = chart.x.len();
        if n == 0 {
            return Err(ChartError::EmptyInput("fan chart x".into()));
        }
        if chart.series.is_empty() {
            return Err(ChartError::EmptyInput("fan chart series".into()));
        }
        check_non_decreasing("fan chart x", &chart.x)?;
        let mut xe = Extent::new();
        xe.add_all(&chart.x);
        let mut ye = Extent::new();
        let mut band_order = Vec::new();
        for s in &chart.series {
            check_len(&format!("median of '{}'", s.label), s.median.len(), n)?;
            for (i, &x) in chart.x.iter().enumerate() {
                if x.is_finite() {
                    ye.add(s.median[i]);
                }
            }
            let mut widths = Vec::new();
            for (bi, b) in s.bands.iter().enumerate() {
                check_len(&format!("band '{}' lower", b.label), b.lower.len(), n)?;
                check_len(&format!("band '{}' upper", b.label), b.upper.len(), n)?;
                let (mut sum, mut cnt) = (0.0, 0usize);
                for i in 0..n {
                    if chart.x[i].is_finite() && b.lower[i].is_finite() && b.upper[i].is_finite() {
                        ye.add(b.lower[i]);
                        ye.add(b.upper[i]);
                        sum += (b.upper[i] - b.lower[i]).abs();
                        cnt += 1;
                    }
                }
                widths.push((bi, if cnt > 0 { sum / cnt as f64 } else { 0.0 }));
            }
            widths.sort_by(|a, b| b.1.total_cmp(&a.1));
            band_order.push(widths.into_iter().map(|(i, _)| i).collect());
        }
        if xe.is_empty() || ye.is_empty() {
            return Err(ChartError::NoFiniteData("fan chart".into()));
        }
        for p in &chart.reference_points {
            if p.x.is_finite() && p.y.is_finite() {
                xe.add(p.x);
                ye.add(p.y);
            }
        }
        for l in &chart.horizontal_lines {
            ye.add(l.value);
        }
        for l in &chart.vertical_lines {
            xe.add(l.value);
        }
        let mut xs = AxisSpec::numeric(AxisKind::Year, xe.pair());
        xs.pad = 0.0;
        xs.snap = false;
        if xe.0 == xe.1 {
            xs.snap = true;
        }
        let mut ys = AxisSpec::numeric(AxisKind::Number, ye.pair());
        ys.towards_zero = true;
        Ok(Self {
            chart,
            band_order,
            xs,
            ys,
        })
    }

    fn legend(&self) -> Legend {
        let mut legend = Vec::new();
        let multi = self.chart.series.len() > 1;
        for (s, order) in self.chart.series.iter().zip(&self.band_order) {
            let mut group = Vec::new();
            if multi || !s.label.is_empty() {
                group.push(entry(Swatch::Header, format!("{}:", s.label)));
            }
            group.push(entry(Swatch::Line(rgb(s.hue)), "median"));
            for (k, &bi) in order.iter().enumerate() {
                let fill = tint(s.hue, layered_alpha(k + 1));
                group.push(entry(Swatch::Fill(fill), s.bands[bi].label.clone()));
            }
            legend.push(group);
        }
        let mut refs = Vec::new();
        for p in &self.chart.reference_points {
            refs.push(entry(Swatch::Marker(INK), p.label.clone()));
        }
        for l in self
            .chart
            .horizontal_lines
            .iter()
            .chain(&self.chart.vertical_lines)
        {
            refs.push(entry(Swatch::Dashed(REF_GREY), l.label.clone()));
        }
        if !refs.is_empty() {
            legend.push(refs);
        }
        legend
    }
}

impl Drawable for PreparedFan<'_> {
    fn draw<DB: DrawingBackend>(&self, c: &Canvas<'_, DB>) -> DrawResult {
        let ch = self.chart;
        let area = c.frame(&ch.title, &self.legend())?;
        let p = c.layout(area, &self.xs, &self.ys, &ch.x_label, &ch.y_label);
        c.axes(&p, &ch.x_label, &ch.y_label, area)?;
        for (s, order) in ch.series.iter().zip(&self.band_order) {
            for &bi in order {
                let b = &s.bands[bi];
                let col = rgb(s.hue).mix(BAND_ALPHA);
                c.band(&p, &ch.x, &b.lower, &b.upper, col)?;
            }
        }
        for s in &ch.series {
            c.line(&p, &ch.x, &s.median, rgb(s.hue), c.m.line + 1, false)?;
        }
        let mut placer = LabelPlacer::new(p.r);
        c.h_lines(&p, &ch.horizontal_lines, &mut placer)?;
        let vl: Vec<_> = ch
            .vertical_lines
            .iter()
            .map(|l| (l.value, l.label.clone(), REF_GREY, true))
            .collect();
        c.v_lines(&p, &vl, &mut placer)?;
        let r = (c.m.tick * 0.4) as i32;
        for pt in ch
            .reference_points
            .iter()
            .filter(|q| q.x.is_finite() && q.y.is_finite())
        {
            let at = p.pt(pt.x, pt.y);
            c.dot(at, r, INK, WHITE)?;
            let (w, h) = c.label_box(&pt.label, c.m.note);
            let d = r + 4;
            let rect = placer.place(
                (w, h),
                &[
                    (at.0 + d, at.1 - h - d / 2),
                    (at.0 + d, at.1 + d / 2),
                    (at.0 - d - w, at.1 - h - d / 2),
                    (at.0 - d - w, at.1 + d / 2),
                    (at.0 - w / 2, at.1 - h - d),
                    (at.0 - w / 2, at.1 + d),
                ],
            );
            c.boxed_text(&pt.label, rect, c.m.note, INK)?;
        }
        Ok(())
    }
}
