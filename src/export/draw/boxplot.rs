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
    /// Colour of this box; `None` for the chart's hue.
    pub hue: Option<Rgb>,
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
    /// The y range to show, when the caller chose one (e.g. a robust range
    /// that one extreme category would otherwise stretch): whiskers and
    /// boxes beyond it end at the edge in an arrow, with their value
    /// written there. `None`: everything fits.
    pub y_range: Option<(f64, f64)>,
    /// Extra legend entries naming the boxes' hues (e.g. the regimes).
    pub hue_legend: Vec<(String, Rgb)>,
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
        let clipped = chart
            .y_range
            .filter(|(lo, hi)| lo.is_finite() && hi.is_finite() && hi > lo);
        if let Some((lo, hi)) = clipped {
            ye = Extent::new();
            ye.add(lo);
            ye.add(hi);
        }
        for l in &chart.horizontal_lines {
            ye.add(l.value);
        }
        let names = chart.categories.iter().map(|b| b.label.clone()).collect();
        let xs = AxisSpec::numeric(AxisKind::Category(names), (0.0, 0.0));
        let mut ys = AxisSpec::numeric(AxisKind::Number, ye.pair());
        ys.towards_zero = clipped.is_none();
        if clipped.is_some() {
            ys.pad = 0.0;
        }
        Ok(Self {
            chart,
            stats,
            xs,
            ys,
        })
    }

    /// Values beyond the plot's y range, with their anchors: (category,
    /// edge value, label).
    fn off_scale(&self, p: &Plot) -> Vec<(usize, f64, String)> {
        let mut out = Vec::new();
        for (i, q) in self.stats.iter().enumerate() {
            let Some([p5, _, _, _, p95]) = q else {
                continue;
            };
            if *p5 < p.y.lo {
                out.push((i, p.y.lo, format!("p5 = {} (off scale)", fmt_sig(*p5))));
            }
            if *p95 > p.y.hi {
                out.push((i, p.y.hi, format!("p95 = {} (off scale)", fmt_sig(*p95))));
            }
        }
        out
    }
}

impl Drawable for PreparedBox<'_> {
    fn draw<DB: DrawingBackend>(&self, c: &Canvas<'_, DB>) -> DrawResult {
        let ch = self.chart;
        // With boxes in several hues, the key to the box is neutral.
        let key_hue = if ch.hue_legend.is_empty() {
            ch.hue
        } else {
            Rgb::new(120, 120, 120)
        };
        let fill = tint(key_hue, 0.35);
        let dark = shade(key_hue, 0.35);
        let mut legend = vec![vec![
            entry(Swatch::Boxed(fill, dark), "25th–75th percentile"),
            entry(Swatch::Line(dark), "median"),
            entry(Swatch::Line(AXIS_GREY), "whiskers: 5th–95th percentile"),
        ]];
        if !ch.hue_legend.is_empty() {
            legend.push(
                ch.hue_legend
                    .iter()
                    .map(|(l, h)| entry(Swatch::Boxed(tint(*h, 0.35), shade(*h, 0.35)), l.clone()))
                    .collect(),
            );
        }
        let (styles, mut labels, hv) = h_lines(&ch.horizontal_lines);
        let plot_of = |area: Rect| c.layout(area, &self.xs, &self.ys, &ch.x_label, &ch.y_label);
        // The off-scale values depend on the plot's range, which the
        // legend does not change (only its height): take them from a
        // first layout.
        let probe = plot_of(c.frame_rect(&ch.title, &legend));
        let off = self.off_scale(&probe);
        for (i, edge, text) in &off {
            labels.push(DirectLabel {
                text: text.clone(),
                colour: INK,
                swatch: Swatch::Marker(INK),
                anchor: Anchor::Point(*i as f64, *edge),
            });
        }
        // Labels stay off the reference lines and the whiskers.
        let lines = |p: &Plot| {
            let mut out = c.rule_boxes(p, &[], &hv);
            for (i, q) in self.stats.iter().enumerate() {
                let Some(q) = q else { continue };
                let x = p.px(i as f64);
                let (a, b) = (
                    p.py(q[0].clamp(p.y.lo, p.y.hi)),
                    p.py(q[4].clamp(p.y.lo, p.y.hi)),
                );
                out.push(Rect::new(x - 3, b - 3, x + 3, a + 3));
            }
            out
        };
        let no_reserved = |_: &Plot| Vec::new();
        let mut fitted = c.fit(&ch.title, &legend, &labels, &plot_of, &no_reserved, &lines);
        // A value label that went into the legend names its category.
        for (k, (i, _, text)) in off.iter().enumerate() {
            let idx = ch.horizontal_lines.len() + k;
            if fitted.boxes[idx].is_none() {
                if let Some(group) = fitted.legend.last_mut() {
                    for e in group.iter_mut().filter(|e| &e.label == text) {
                        e.label = format!("{}: {text}", ch.categories[*i].label);
                    }
                }
            }
        }
        let p = &fitted.plot;
        let area = c.frame(&ch.title, &fitted.legend)?;
        c.axes(p, &ch.x_label, &ch.y_label, area)?;
        let slot = p.x_unit();
        let half = (slot * 0.28).clamp(4.0, c.m.tick * 4.0) as i32;
        let cap = half / 2;
        let lw = c.m.line;
        let clamp = |v: f64| v.clamp(p.y.lo, p.y.hi);
        let arrow = (c.m.tick * 0.45) as i32;
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
            let hue = ch.categories[i].hue.unwrap_or(ch.hue);
            let (fill, dark) = (tint(hue, 0.35), shade(hue, 0.35));
            let [p5, p25, p50, p75, p95] = q.map(|v| p.py(clamp(v)));
            c.path(vec![(xc, p95), (xc, p75)], AXIS_GREY, lw)?;
            c.path(vec![(xc, p25), (xc, p5)], AXIS_GREY, lw)?;
            if q[3] >= p.y.lo && q[1] <= p.y.hi {
                let r = Rect::new(xc - half, p75, xc + half, p25.max(p75 + 2));
                c.fill_rect(r, fill.to_rgba())?;
                c.stroke_rect(r, dark, 2)?;
                if q[2] >= p.y.lo && q[2] <= p.y.hi {
                    c.path(vec![(xc - half, p50), (xc + half, p50)], dark, lw + 2)?;
                }
            }
            for (v, y, up) in [(q[4], p95, true), (q[0], p5, false)] {
                if (up && v > p.y.hi) || (!up && v < p.y.lo) {
                    // Off scale: an arrow head at the edge instead of a cap.
                    let tip = if up { y + 1 } else { y - 1 };
                    let base = if up { tip + 2 * arrow } else { tip - 2 * arrow };
                    c.polygon(
                        vec![(xc, tip), (xc - arrow, base), (xc + arrow, base)],
                        INK.to_rgba(),
                    )?;
                } else {
                    c.path(vec![(xc - cap, y), (xc + cap, y)], AXIS_GREY, lw)?;
                }
            }
        }
        for (l, st) in ch.horizontal_lines.iter().zip(&styles) {
            c.h_rule(p, l.value, st)?;
        }
        c.draw_labels(&labels, &fitted.boxes)
    }
}
