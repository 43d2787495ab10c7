//! Tornado charts: a metric at each parameter's low and high setting
//! around its base value (sensitivity analyses).

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::layout::Rect;
use super::layout::*;
use super::plot::*;
use super::DrawResult;
use super::*;

/// One parameter of a tornado chart.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TornadoRow {
    /// Parameter name, shown left of the bars.
    pub label: String,
    /// Output value with the parameter at its low setting.
    pub low: f64,
    /// Output value with the parameter at its high setting.
    pub high: f64,
}

/// Tornado chart: output sensitivity to each parameter around a base value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TornadoChart {
    /// Title at the top.
    pub title: String,
    /// x-axis title with unit of the output.
    pub x_label: String,
    /// Output value with every parameter at its base setting.
    pub base_value: f64,
    /// Legend text for the base line, e.g. "base case".
    pub base_label: String,
    /// Legend text for the low-setting bars, e.g. "parameter low".
    pub low_label: String,
    /// Legend text for the high-setting bars, e.g. "parameter high".
    pub high_label: String,
    /// Rows drawn top to bottom in the given order.
    pub rows: Vec<TornadoRow>,
}

/// Draws a tornado chart.
pub fn tornado_chart(chart: &TornadoChart, style: &ChartStyle) -> Result<Rendered, ChartError> {
    let prepared = PreparedTornado::new(chart)?;
    render(style, &prepared)
}

struct PreparedTornado<'a> {
    chart: &'a TornadoChart,
    xs: AxisSpec,
    ys: AxisSpec,
}

const LOW_COLOUR: Rgb = Rgb::new(0, 114, 178);
const HIGH_COLOUR: Rgb = Rgb::new(213, 94, 0);

impl<'a> PreparedTornado<'a> {
    fn new(chart: &'a TornadoChart) -> Result<Self, ChartError> {
        if chart.rows.is_empty() {
            return Err(ChartError::EmptyInput("tornado rows".into()));
        }
        if !chart.base_value.is_finite() {
            return Err(ChartError::InvalidInput(
                "tornado base value must be finite".into(),
            ));
        }
        let mut xe = Extent::new();
        xe.add(chart.base_value);
        let mut any = false;
        for r in &chart.rows {
            any |= r.low.is_finite() || r.high.is_finite();
            xe.add(r.low);
            xe.add(r.high);
        }
        if !any {
            return Err(ChartError::NoFiniteData("tornado rows".into()));
        }
        // Room for the value labels at the bar ends.
        let (lo, hi) = padded_range(xe.0, xe.1, &AxisKind::Number);
        let extra = (hi - lo) * 0.12;
        let mut xs = AxisSpec::numeric(AxisKind::Number, (lo - extra, hi + extra));
        xs.pad = 0.0;
        // Rows top to bottom: category 0 is drawn at the bottom, so reverse.
        let names = chart.rows.iter().rev().map(|r| r.label.clone()).collect();
        let ys = AxisSpec::numeric(AxisKind::Category(names), (0.0, 0.0));
        Ok(Self { chart, xs, ys })
    }
}

impl Drawable for PreparedTornado<'_> {
    fn draw<DB: DrawingBackend>(&self, c: &Canvas<'_, DB>) -> DrawResult {
        let ch = self.chart;
        let lo_c = tint(LOW_COLOUR, 0.8);
        let hi_c = tint(HIGH_COLOUR, 0.8);
        let base_text = if ch.base_label.is_empty() {
            format!("base {}", fmt_sig(ch.base_value))
        } else {
            format!("{} ({})", ch.base_label, fmt_sig(ch.base_value))
        };
        let legend = vec![vec![
            entry(Swatch::Fill(lo_c), non_empty(&ch.low_label, "low setting")),
            entry(
                Swatch::Fill(hi_c),
                non_empty(&ch.high_label, "high setting"),
            ),
            entry(Swatch::Line(INK), base_text),
        ]];
        let area = c.frame(&ch.title, &legend)?;
        let p = c.layout(area, &self.xs, &self.ys, &ch.x_label, "");
        c.axes(&p, &ch.x_label, "", area)?;
        let n = ch.rows.len();
        let half = ((p.y_unit() * 0.3).max(2.0) as i32).min((c.m.tick * 2.0) as i32);
        let base_x = p.px(ch.base_value);
        let px = c.m.note;
        for (i, row) in ch.rows.iter().enumerate() {
            let yc = p.py((n - 1 - i) as f64);
            let sides = [(row.low, lo_c, "low"), (row.high, hi_c, "high")];
            let finite: Vec<(f64, RGBColor, &str)> = sides
                .into_iter()
                .filter(|(v, _, _)| v.is_finite())
                .collect();
            // The longer bar first, so that a shorter one on the same side
            // stays visible (drawn narrower on top of it).
            let mut by_len = finite.clone();
            by_len.sort_by(|a, b| {
                (b.0 - ch.base_value)
                    .abs()
                    .total_cmp(&(a.0 - ch.base_value).abs())
            });
            for (k, (v, col, _)) in by_len.iter().enumerate() {
                let x = p.px(*v);
                let hh = if k > 0 && (by_len[0].0 >= ch.base_value) == (*v >= ch.base_value) {
                    (half * 3 / 5).max(1)
                } else {
                    half
                };
                let r = Rect::new(base_x, yc - hh, x, yc + hh);
                if r.w() > 0 {
                    c.fill_rect(r, col.to_rgba())?;
                }
            }
            // One label per side of the base line: both values when both
            // settings move the metric the same way.
            for right in [true, false] {
                let on_side: Vec<&(f64, RGBColor, &str)> = finite
                    .iter()
                    .filter(|(v, _, _)| (*v >= ch.base_value) == right)
                    .collect();
                let Some(far) = on_side.iter().max_by(|a, b| {
                    (a.0 - ch.base_value)
                        .abs()
                        .total_cmp(&(b.0 - ch.base_value).abs())
                }) else {
                    continue;
                };
                let text = if on_side.len() == 2 {
                    on_side
                        .iter()
                        .map(|(v, _, name)| format!("{name} {}", fmt_sig(*v)))
                        .collect::<Vec<_>>()
                        .join(", ")
                } else {
                    fmt_sig(far.0)
                };
                let x = p.px(far.0);
                let w = c.text_w(&text, px, false);
                // Outside the bar's end if it fits in the plot, else inside.
                let (hpos, at) = if right {
                    if x + 6 + w <= p.r.x1 {
                        (HPos::Left, x + 6)
                    } else {
                        (HPos::Right, x - 6)
                    }
                } else if x - 6 - w >= p.r.x0 {
                    (HPos::Right, x - 6)
                } else {
                    (HPos::Left, x + 6)
                };
                c.text(&text, (at, yc), px, false, INK, hpos, VPos::Center)?;
            }
        }
        c.path(vec![(base_x, p.r.y0), (base_x, p.r.y1)], INK, c.m.line)
    }
}

fn non_empty(s: &str, fallback: &str) -> String {
    if s.is_empty() {
        fallback.to_string()
    } else {
        s.to_string()
    }
}
