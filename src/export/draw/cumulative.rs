//! Probability curves in percent: over calendar time (when a cap is
//! reached) or over an amount (exceedance curves, P(X > x)).

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
    /// x values (decimal years or amounts, see [`XAxis`]), non-decreasing.
    pub x: Vec<f64>,
    /// Probabilities in [0, 1], one per x (drawn as percent).
    pub y: Vec<f64>,
}

/// What the x axis of a [`CumulativeChart`] shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum XAxis {
    /// Decimal calendar years (ticks at whole years).
    #[default]
    Year,
    /// Plain amounts (e.g. $B), for exceedance curves.
    Amount,
}

/// Probability-curve chart (e.g. P(cap reached by year t), or P(X > x)).
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
    /// What x is.
    pub x_axis: XAxis,
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
        let mut xs = match chart.x_axis {
            XAxis::Year => {
                let mut xs = AxisSpec::numeric(AxisKind::Year, xe.pair());
                xs.pad = 0.0;
                xs.snap = xe.0 == xe.1;
                xs
            }
            XAxis::Amount => {
                let mut xs = AxisSpec::numeric(AxisKind::Number, xe.pair());
                xs.towards_zero = true;
                xs
            }
        };
        if chart.x_axis == XAxis::Amount {
            xs.pad = 0.02;
        }
        let ys = AxisSpec {
            kind: AxisKind::Percent,
            lo: 0.0,
            hi: 1.0,
            towards_zero: false,
            snap: false,
            pad: 0.02,
            limits: None,
        };
        Ok(Self { chart, xs, ys })
    }
}

impl PreparedCumulative<'_> {
    /// The plot with percent ticks every 10% (or 20% when short), never
    /// outside 0–100%.
    fn plot<DB: DrawingBackend>(&self, c: &Canvas<'_, DB>, area: Rect) -> Plot {
        let ch = self.chart;
        let mut p = c.layout(area, &self.xs, &self.ys, &ch.x_label, &ch.y_label);
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
        p
    }

    /// The annotation's lines and the box they need.
    fn annotation<DB: DrawingBackend>(&self, c: &Canvas<'_, DB>) -> (Vec<String>, (i32, i32)) {
        let lines: Vec<String> = self
            .chart
            .annotation
            .iter()
            .filter(|l| !l.is_empty())
            .cloned()
            .collect();
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
        (lines, (w, h))
    }

    /// Where the annotation box goes: the corner covering the fewest curve
    /// points among those that no vertical line crosses; None if every
    /// corner is crossed (the annotation then goes into the legend).
    fn annotation_box(&self, p: &Plot, size: (i32, i32), pad: i32) -> Option<Rect> {
        let ch = self.chart;
        let mut curves: Vec<Vec<(i32, i32)>> = Vec::new();
        for s in &ch.series {
            let ok = |i: usize| s.x[i].is_finite() && s.y[i].is_finite();
            for run in runs(s.x.len(), ok) {
                curves.push(run.iter().map(|&i| p.pt(s.x[i], s.y[i])).collect());
            }
        }
        let rules: Vec<Rect> = ch
            .vertical_lines
            .iter()
            .filter(|l| l.value.is_finite())
            .map(|l| {
                let x = p.px(l.value);
                Rect::new(x - 3, p.r.y0, x + 3, p.r.y1)
            })
            .collect();
        best_corner(p, size, pad, &curves, &rules)
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
        let styles: Vec<LineStyle> = ch
            .vertical_lines
            .iter()
            .map(|l| LineStyle::reference(l.hue))
            .collect();
        let labels: Vec<DirectLabel> = ch
            .vertical_lines
            .iter()
            .zip(&styles)
            .map(|(l, st)| DirectLabel::of_line(l, st, Anchor::VLine(l.value)))
            .collect();
        let (notes, size) = self.annotation(c);
        let plot_of = |area: Rect| self.plot(c, area);
        // Without a free corner the notes go under the legend (the plot
        // only shrinks by that, so no corner frees up).
        let probe = plot_of(c.frame_rect(&ch.title, &legend));
        let boxed = !notes.is_empty() && self.annotation_box(&probe, size, c.m.pad).is_some();
        let mut legend = legend;
        if !notes.is_empty() && !boxed {
            legend.push(
                notes
                    .iter()
                    .map(|n| entry(Swatch::Text, n.clone()))
                    .collect(),
            );
        }
        let reserved = |p: &Plot| {
            if boxed {
                self.annotation_box(p, size, c.m.pad).into_iter().collect()
            } else {
                Vec::new()
            }
        };
        let vv: Vec<f64> = ch.vertical_lines.iter().map(|l| l.value).collect();
        let lines = |p: &Plot| c.rule_boxes(p, &vv, &[]);
        let fitted = c.fit(&ch.title, &legend, &labels, &plot_of, &reserved, &lines);
        let p = &fitted.plot;
        let area = c.frame(&ch.title, &fitted.legend)?;
        c.axes(p, &ch.x_label, &ch.y_label, area)?;
        for s in &ch.series {
            c.line(p, &s.x, &s.y, rgb(s.hue), c.m.line + 1, ch.step)?;
        }
        for (l, st) in ch.vertical_lines.iter().zip(&styles) {
            c.v_rule(p, l.value, st)?;
        }
        if let Some(r) = self.annotation_box(p, size, c.m.pad).filter(|_| boxed) {
            let px = c.m.legend;
            let lh = (px * 1.4) as i32;
            let padb = (px * 0.6) as i32;
            c.fill_rect(r, WHITE.mix(0.92))?;
            c.stroke_rect(r, AXIS_GREY, 1)?;
            for (i, l) in notes.iter().enumerate() {
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
        c.draw_labels(&labels, &fitted.boxes)
    }
}

/// The plot corner (or edge middle) whose box covers the fewest curve
/// points, sampled densely along each polyline, among those that meet no
/// box of `avoid` (None if all do).
fn best_corner(
    p: &Plot,
    (w, h): (i32, i32),
    pad: i32,
    curves: &[Vec<(i32, i32)>],
    avoid: &[Rect],
) -> Option<Rect> {
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
        samples.iter().filter(|&&q| b.contains(q)).count()
    };
    let free = |c: &&(i32, i32)| {
        let b = Rect::new(c.0, c.1, c.0 + w, c.1 + h);
        !avoid.iter().any(|o| o.intersects(&b)) && b.inside(&r)
    };
    let best = cands
        .iter()
        .filter(free)
        .min_by_key(|c| score(c))
        .copied()?;
    Some(Rect::new(best.0, best.1, best.0 + w, best.1 + h))
}
