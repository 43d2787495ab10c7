//! Fan charts: median lines with nested quantile bands over calendar time
//! (revenue run rates, cumulative payments).

use plotters::prelude::*;

use super::layout::Rect;
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
///
/// With one series the bands are translucent layers of its hue; with
/// several, each band is an opaque tint (the colour of its legend swatch)
/// drawn in series order, and every band's edges are outlined on top, so
/// a later series never changes the colour of an earlier one and no band
/// is hidden.
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
    /// Draw the y axis on a log scale (values at or below zero are left
    /// out), for growth that spans orders of magnitude.
    pub log_y: bool,
}

/// Draws a fan chart.
pub fn fan_chart(chart: &FanChart, style: &ChartStyle) -> Result<Rendered, ChartError> {
    let prepared = PreparedFan::new(chart)?;
    render(style, &prepared)
}

struct PreparedFan {
    /// The chart, with y values as log10 when `log_y`.
    chart: FanChart,
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

impl PreparedFan {
    fn new(input: &FanChart) -> Result<Self, ChartError> {
        let mut chart = input.clone();
        if chart.log_y {
            let logs = |v: &mut Vec<f64>| v.iter_mut().for_each(|y| *y = log_or_nan(*y));
            for s in &mut chart.series {
                logs(&mut s.median);
                for b in &mut s.bands {
                    logs(&mut b.lower);
                    logs(&mut b.upper);
                }
            }
            for p in &mut chart.reference_points {
                p.y = log_or_nan(p.y);
            }
            for l in &mut chart.horizontal_lines {
                l.value = log_or_nan(l.value);
            }
        }
        let chart_ref = &chart;
        let n = chart_ref.x.len();
        if n == 0 {
            return Err(ChartError::EmptyInput("fan chart x".into()));
        }
        if chart_ref.series.is_empty() {
            return Err(ChartError::EmptyInput("fan chart series".into()));
        }
        check_non_decreasing("fan chart x", &chart_ref.x)?;
        let mut xe = Extent::new();
        xe.add_all(&chart_ref.x);
        let mut ye = Extent::new();
        let mut band_order = Vec::new();
        for s in &chart_ref.series {
            check_len(&format!("median of '{}'", s.label), s.median.len(), n)?;
            for (i, &x) in chart_ref.x.iter().enumerate() {
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
                    if chart_ref.x[i].is_finite()
                        && b.lower[i].is_finite()
                        && b.upper[i].is_finite()
                    {
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
        for p in &chart_ref.reference_points {
            if p.x.is_finite() && p.y.is_finite() {
                xe.add(p.x);
                ye.add(p.y);
            }
        }
        for l in &chart_ref.horizontal_lines {
            ye.add(l.value);
        }
        for l in &chart_ref.vertical_lines {
            xe.add(l.value);
        }
        let mut xs = AxisSpec::numeric(AxisKind::Year, xe.pair());
        xs.pad = 0.0;
        xs.snap = false;
        if xe.0 == xe.1 {
            xs.snap = true;
        }
        let ys = if chart.log_y {
            let mut ys = AxisSpec::numeric(AxisKind::Log, ye.pair());
            ys.pad = 0.0;
            ys
        } else {
            let mut ys = AxisSpec::numeric(AxisKind::Number, ye.pair());
            ys.towards_zero = true;
            ys
        };
        Ok(Self {
            chart,
            band_order,
            xs,
            ys,
        })
    }

    fn layered(&self) -> bool {
        self.chart.series.len() > 1
    }

    /// The fill of band layer `k` (0 = widest) of series `s`, as drawn.
    fn band_fill(&self, s: &FanSeries, k: usize, layers: usize) -> RGBColor {
        if self.layered() {
            // Opaque, from light to the colour the single-series layers reach.
            tint(s.hue, layered_alpha(k + 1).min(layered_alpha(layers)))
        } else {
            tint(s.hue, layered_alpha(k + 1))
        }
    }

    fn legend(&self) -> Legend {
        let mut legend = Vec::new();
        let multi = self.layered();
        for (s, order) in self.chart.series.iter().zip(&self.band_order) {
            let mut group = Vec::new();
            if multi || !s.label.is_empty() {
                group.push(entry(Swatch::Header, format!("{}:", s.label)));
            }
            group.push(entry(Swatch::Line(rgb(s.hue)), "median"));
            for (k, &bi) in order.iter().enumerate() {
                let fill = self.band_fill(s, k, order.len());
                let swatch = if multi {
                    Swatch::Boxed(fill, shade(s.hue, 0.1))
                } else {
                    Swatch::Fill(fill)
                };
                group.push(entry(swatch, s.bands[bi].label.clone()));
            }
            legend.push(group);
        }
        legend
    }

    /// Labels of the reference lines and points, each in its style.
    fn labels(&self) -> (Vec<DirectLabel>, Vec<LineStyle>, Vec<LineStyle>) {
        let ch = &self.chart;
        let h_styles: Vec<LineStyle> = ch
            .horizontal_lines
            .iter()
            .map(|l| LineStyle::reference(l.hue))
            .collect();
        let v_styles: Vec<LineStyle> = ch
            .vertical_lines
            .iter()
            .map(|l| LineStyle {
                colour: l.hue.map_or(REF_GREY, |h| shade(h, 0.25)),
                dash: Dash::Dotted,
            })
            .collect();
        let mut labels = Vec::new();
        for (l, st) in ch.horizontal_lines.iter().zip(&h_styles) {
            labels.push(DirectLabel::of_line(l, st, Anchor::HLine(l.value)));
        }
        for (l, st) in ch.vertical_lines.iter().zip(&v_styles) {
            labels.push(DirectLabel::of_line(l, st, Anchor::VLine(l.value)));
        }
        for pt in &ch.reference_points {
            labels.push(DirectLabel {
                text: pt.label.clone(),
                colour: INK,
                swatch: Swatch::Marker(INK),
                anchor: Anchor::Point(pt.x, pt.y),
            });
        }
        (labels, h_styles, v_styles)
    }
}

impl Drawable for PreparedFan {
    fn draw<DB: DrawingBackend>(&self, c: &Canvas<'_, DB>) -> DrawResult {
        let ch = &self.chart;
        let (labels, h_styles, v_styles) = self.labels();
        let dot_r = (c.m.tick * 0.4) as i32;
        let points: Vec<(f64, f64)> = ch
            .reference_points
            .iter()
            .filter(|q| q.x.is_finite() && q.y.is_finite())
            .map(|q| (q.x, q.y))
            .collect();
        let plot_of = |area: Rect| c.layout(area, &self.xs, &self.ys, &ch.x_label, &ch.y_label);
        // The markers themselves are never covered by a label.
        let reserved = |p: &Plot| {
            points
                .iter()
                .map(|&(x, y)| {
                    let (px, py) = p.pt(x, y);
                    Rect::new(
                        px - dot_r - 1,
                        py - dot_r - 1,
                        px + dot_r + 1,
                        py + dot_r + 1,
                    )
                })
                .collect()
        };
        let hv: Vec<f64> = ch.horizontal_lines.iter().map(|l| l.value).collect();
        let vv: Vec<f64> = ch.vertical_lines.iter().map(|l| l.value).collect();
        let lines = |p: &Plot| c.rule_boxes(p, &vv, &hv);
        let fitted = c.fit(
            &ch.title,
            &self.legend(),
            &labels,
            &plot_of,
            &reserved,
            &lines,
        );
        let p = &fitted.plot;
        let area = c.frame(&ch.title, &fitted.legend)?;
        c.axes(p, &ch.x_label, &ch.y_label, area)?;
        for (s, order) in ch.series.iter().zip(&self.band_order) {
            for (k, &bi) in order.iter().enumerate() {
                let b = &s.bands[bi];
                let col = if self.layered() {
                    self.band_fill(s, k, order.len()).to_rgba()
                } else {
                    rgb(s.hue).mix(BAND_ALPHA)
                };
                c.band(p, &ch.x, &b.lower, &b.upper, col)?;
            }
        }
        if self.layered() {
            // Every band's edges on top of all fills: a band that a later
            // series covers stays visible as its outline.
            for s in &ch.series {
                for b in &s.bands {
                    c.line(p, &ch.x, &b.lower, shade(s.hue, 0.1), 1, false)?;
                    c.line(p, &ch.x, &b.upper, shade(s.hue, 0.1), 1, false)?;
                }
            }
        }
        for s in &ch.series {
            c.line(p, &ch.x, &s.median, rgb(s.hue), c.m.line + 1, false)?;
        }
        for (l, st) in ch.horizontal_lines.iter().zip(&h_styles) {
            c.h_rule(p, l.value, st)?;
        }
        for (l, st) in ch.vertical_lines.iter().zip(&v_styles) {
            c.v_rule(p, l.value, st)?;
        }
        for &(x, y) in &points {
            c.dot(p.pt(x, y), dot_r, INK, WHITE)?;
        }
        c.draw_labels(&labels, &fitted.boxes)
    }
}
