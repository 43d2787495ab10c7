//! Cumulative-probability charts: curves in percent over calendar time
//! (when a cap is reached).

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::layout::Rect;
use super::layout::*;
use super::plot::*;
use super::DrawResult;
use super::*;

/// One curve of a cumulative-probability chart.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CurveSeries {
    /// Legend text (may be empty for a single curve).
    pub label: String,
    /// Line colour.
    pub hue: Rgb,
    /// Decimal years, non-decreasing.
    pub x: Vec<f64>,
    /// Probabilities in [0, 1], one per x (drawn as percent).
    pub y: Vec<f64>,
}

/// Cumulative-probability chart (e.g. P(cap reached by year t)).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CumulativeChart {
    /// Title at the top.
    pub title: String,
    /// x-axis title, e.g. "Calendar year".
    pub x_label: String,
    /// y-axis title, e.g. "P(cap reached by year)".
    pub y_label: String,
    /// One or more curves.
    pub series: Vec<CurveSeries>,
    /// Draw as a right-continuous step function instead of straight segments.
    pub step: bool,
    /// Lines of an annotation box placed where it covers the least data,
    /// e.g. "P(never hit by 2030) = 12.3%". Empty for none.
    pub annotation: Vec<String>,
    /// Labelled vertical lines at x values.
    pub vertical_lines: Vec<ReferenceLine>,
}

/// Draws a cumulative-probability chart.
pub fn cumulative_chart(
    chart: &CumulativeChart,
    style: &ChartStyle,
) -> Result<Rendered, ChartError> {
    let prepared = PreparedCumulative::new(chart)?;
    render(style, &prepared)
}

struct PreparedCumulative<'a> {
    chart: &'a CumulativeChart,
    xs: AxisSpec,
    ys: AxisSpec,
}

impl<'a> PreparedCumulative<'a> {
    fn new(chart: &'a CumulativeChart) -> Result<Self, ChartError> {
        if chart.series.iter().all(|s| s.x.is_empty()) {
            return Err(ChartError::EmptyInput("cumulative chart series".into()));
        }
        let mut xe = Extent::new();
        let mut any = false;
        for s in &chart.series {
            check_len(&format!("y of '{}'", s.label), s.y.len(), s.x.len())?;
            check_non_decreasing(&format!("x of '{}'", s.label), &s.x)?;
            for (x, y) in s.x.iter().zip(&s.y) {
                if x.is_finite() && y.is_finite() {
                    xe.add(*x);
                    any = true;
                }
            }
        }
        if !any {
            return Err(ChartError::NoFiniteData("cumulative chart".into()));
        }
        for l in &chart.vertical_lines {
            xe.add(l.value);
        }
        let mut xs = AxisSpec::numeric(AxisKind::Year, xe.pair());
        xs.pad = 0.0;
        xs.snap = xe.0 == xe.1;
        let ys = AxisSpec {
            kind: AxisKind::Percent,
            lo: 0.0,
            hi: 1.0,
            towards_zero: false,
            snap: false,
            pad: 0.02,
        };
        Ok(Self { chart, xs, ys })
    }
}

impl Drawable for PreparedCumulative<'_> {
    fn draw<DB: DrawingBackend>(&self, c: &Canvas<'_, DB>) -> DrawResult {
        let ch = self.chart;
        let labelled: Vec<LegendEntry> = ch
            .series
            .iter()
            .filter(|s| !s.label.is_empty())
            .map(|s| entry(Swatch::Line(rgb(s.hue)), s.label.clone()))
            .collect();
        let legend = if ch.series.len() > 1 || !labelled.is_empty() {
            vec![labelled]
        } else {
            Vec::new()
        };
        let area = c.frame(&ch.title, &legend)?;
        let mut p = c.layout(area, &self.xs, &self.ys, &ch.x_label, &ch.y_label);
        // Ticks every 10% (or 20% when short) and never outside 0–100%.
        let step: f64 = if p.r.h() as f64 > c.m.tick * 20.0 {
            0.1
        } else {
            0.2
        };
        p.y.ticks = (0..=((1.0 / step).round() as i32))
            .map(|k| k as f64 * step)
            .collect();
        p.y.labels =
            p.y.ticks
                .iter()
                .map(|t| format!("{}%", fmt_fixed(t * 100.0, 0)))
                .collect();
        c.axes(&p, &ch.x_label, &ch.y_label, area)?;
        for s in &ch.series {
            c.line(&p, &s.x, &s.y, rgb(s.hue), c.m.line + 1, ch.step)?;
        }
        let mut placer = LabelPlacer::new(p.r);
        let vl: Vec<_> = ch
            .vertical_lines
            .iter()
            .map(|l| (l.value, l.label.clone(), REF_GREY, true))
            .collect();
        c.v_lines(&p, &vl, &mut placer)?;
        let lines: Vec<&String> = ch.annotation.iter().filter(|l| !l.is_empty()).collect();
        if !lines.is_empty() {
            let px = c.m.legend;
            let lh = (px * 1.4) as i32;
            let padb = (px * 0.6) as i32;
            let w = lines
                .iter()
                .map(|l| c.text_w(l, px, false))
                .max()
                .unwrap_or(0)
                + 2 * padb;
            let h = lh * lines.len() as i32 + 2 * padb - (px * 0.4) as i32;
            let mut curves: Vec<Vec<(i32, i32)>> = Vec::new();
            for s in &ch.series {
                let ok = |i: usize| s.x[i].is_finite() && s.y[i].is_finite();
                for run in runs(s.x.len(), ok) {
                    curves.push(run.iter().map(|&i| p.pt(s.x[i], s.y[i])).collect());
                }
            }
            for l in ch.vertical_lines.iter().filter(|l| l.value.is_finite()) {
                let x = p.px(l.value);
                curves.push(vec![(x, p.r.y0), (x, p.r.y1)]);
            }
            let r = best_corner(&p, (w, h), c.m.pad, &curves, &placer.placed);
            c.fill_rect(r, WHITE.mix(0.92))?;
            c.stroke_rect(r, AXIS_GREY, 1)?;
            for (i, l) in lines.iter().enumerate() {
                c.text(
                    l,
                    (r.x0 + padb, r.y0 + padb + lh * i as i32 + (px * 0.5) as i32),
                    px,
                    false,
                    INK,
                    HPos::Left,
                    VPos::Center,
                )?;
            }
        }
        Ok(())
    }
}

/// The plot corner (or edge middle) whose box covers the fewest curve
/// points, sampled densely along each polyline.
fn best_corner(
    p: &Plot,
    (w, h): (i32, i32),
    pad: i32,
    curves: &[Vec<(i32, i32)>],
    avoid: &[Rect],
) -> Rect {
    let r = p.r;
    let (xl, xr) = (r.x0 + pad, r.x1 - pad - w);
    let (yt, yb) = (r.y0 + pad, r.y1 - pad - h);
    let xm = (r.x0 + r.x1 - w) / 2;
    let ym = (r.y0 + r.y1 - h) / 2;
    let cands = [
        (xl, yt),
        (xr, yb),
        (xr, yt),
        (xl, yb),
        (xm, yt),
        (xm, yb),
        (xl, ym),
        (xr, ym),
    ];
    let mut samples = Vec::new();
    for wnd in curves.iter().flat_map(|c| c.windows(2)) {
        let (a, b) = (wnd[0], wnd[1]);
        // horizontal then vertical leg covers both line and step drawing
        for (s, e) in [(a, (b.0, a.1)), ((b.0, a.1), b)] {
            let n = ((e.0 - s.0).abs() + (e.1 - s.1).abs()) / 4 + 1;
            for k in 0..=n {
                samples.push((s.0 + (e.0 - s.0) * k / n, s.1 + (e.1 - s.1) * k / n));
            }
        }
    }
    samples.extend(curves.iter().flatten());
    let score = |c: &(i32, i32)| {
        let b = Rect::new(c.0 - 6, c.1 - 6, c.0 + w + 6, c.1 + h + 6);
        let hits = samples.iter().filter(|&&q| b.contains(q)).count();
        let blocked = avoid.iter().filter(|o| o.intersects(&b)).count();
        hits + 1000 * blocked
    };
    let best = cands
        .iter()
        .min_by_key(|c| score(c))
        .copied()
        .unwrap_or((xl, yt));
    Rect::new(best.0, best.1, best.0 + w, best.1 + h)
}
