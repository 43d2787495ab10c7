//! Histograms of pre-binned counts, drawn as share of paths, with
//! statistic markers and reference lines.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::layout::Rect;
use super::layout::*;
use super::plot::*;
use super::DrawResult;
use super::*;

/// Histogram of pre-binned counts, drawn as share of paths.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HistogramChart {
    /// Title at the top.
    pub title: String,
    /// x-axis title with unit, e.g. "Total paid to cap, $B".
    pub x_label: String,
    /// y-axis title, e.g. "Share of paths".
    pub y_label: String,
    /// Bin edges, strictly increasing; `counts.len() + 1` values.
    pub edges: Vec<f64>,
    /// Paths per bin.
    pub counts: Vec<u64>,
    /// Bar colour.
    pub hue: Rgb,
    /// Statistic markers (mean, median, p5, p95), drawn as coloured
    /// vertical lines with their labels.
    pub markers: Vec<ReferenceLine>,
    /// Other labelled vertical lines (e.g. "cap $38B"), drawn dashed grey.
    pub reference_lines: Vec<ReferenceLine>,
}

/// Draws a histogram of pre-binned counts.
pub fn histogram_chart(chart: &HistogramChart, style: &ChartStyle) -> Result<Rendered, ChartError> {
    let prepared = PreparedHistogram::new(chart)?;
    render(style, &prepared)
}

struct PreparedHistogram<'a> {
    chart: &'a HistogramChart,
    shares: Vec<f64>,
    xs: AxisSpec,
    ys: AxisSpec,
}

/// Marker colours for histogram statistics, in order.
const MARKER_COLOURS: [RGBColor; 5] = [
    RGBColor(0, 0, 0),
    RGBColor(213, 94, 0),
    RGBColor(0, 130, 90),
    RGBColor(170, 70, 140),
    RGBColor(150, 110, 0),
];

impl<'a> PreparedHistogram<'a> {
    fn new(chart: &'a HistogramChart) -> Result<Self, ChartError> {
        if chart.edges.len() < 2 || chart.counts.is_empty() {
            return Err(ChartError::EmptyInput("histogram bins".into()));
        }
        check_len("histogram edges", chart.edges.len(), chart.counts.len() + 1)?;
        if chart.edges.iter().any(|e| !e.is_finite()) {
            return Err(ChartError::InvalidInput(
                "histogram edges must be finite".into(),
            ));
        }
        if chart.edges.windows(2).any(|w| w[1] <= w[0]) {
            return Err(ChartError::InvalidInput(
                "histogram edges must be strictly increasing".into(),
            ));
        }
        let total: f64 = chart.counts.iter().map(|&c| c as f64).sum();
        let shares: Vec<f64> = chart
            .counts
            .iter()
            .map(|&c| if total > 0.0 { c as f64 / total } else { 0.0 })
            .collect();
        let mut xe = Extent::new();
        xe.add_all(&chart.edges);
        for l in chart.markers.iter().chain(&chart.reference_lines) {
            xe.add(l.value);
        }
        let max_share = shares.iter().copied().fold(0.0, f64::max);
        let top = if max_share > 0.0 {
            // headroom for the marker labels at the top
            max_share * 1.25
        } else {
            0.1
        };
        let mut xs = AxisSpec::numeric(AxisKind::Number, xe.pair());
        xs.pad = 0.01;
        xs.snap = false;
        let ys = AxisSpec {
            kind: AxisKind::Percent,
            lo: 0.0,
            hi: top,
            towards_zero: true,
            snap: true,
            pad: 0.0,
        };
        Ok(Self {
            chart,
            shares,
            xs,
            ys,
        })
    }
}

impl Drawable for PreparedHistogram<'_> {
    fn draw<DB: DrawingBackend>(&self, c: &Canvas<'_, DB>) -> DrawResult {
        let ch = self.chart;
        let area = c.frame(&ch.title, &Vec::new())?;
        let p = c.layout(area, &self.xs, &self.ys, &ch.x_label, &ch.y_label);
        c.axes(&p, &ch.x_label, &ch.y_label, area)?;
        let fill = tint(ch.hue, 0.75);
        let edge = shade(ch.hue, 0.2);
        let gap = if p.x_unit() * (ch.edges[1] - ch.edges[0]) > 6.0 {
            1
        } else {
            0
        };
        for (i, &s) in self.shares.iter().enumerate() {
            if s <= 0.0 {
                continue;
            }
            let x0 = p.px(ch.edges[i]);
            let x1 = p.px(ch.edges[i + 1]) - gap;
            let y0 = p.py(s).min(p.r.y1 - 1);
            let r = Rect::new(x0, y0, x1.max(x0 + 1), p.r.y1);
            c.fill_rect(r, fill.to_rgba())?;
            c.path(
                vec![(r.x0, r.y1), (r.x0, r.y0), (r.x1, r.y0), (r.x1, r.y1)],
                edge,
                1,
            )?;
        }
        if self.shares.iter().all(|&s| s <= 0.0) {
            c.text(
                "all bins are empty",
                ((p.r.x0 + p.r.x1) / 2, (p.r.y0 + p.r.y1) / 2),
                c.m.axis,
                false,
                CAPTION_GREY,
                HPos::Center,
                VPos::Center,
            )?;
        }
        let mut placer = LabelPlacer::new(p.r);
        let mut lines: Vec<(f64, String, RGBColor, bool)> = ch
            .markers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let col = MARKER_COLOURS[i % MARKER_COLOURS.len()];
                (l.value, l.label.clone(), col, false)
            })
            .collect();
        lines.extend(
            ch.reference_lines
                .iter()
                .map(|l| (l.value, l.label.clone(), REF_GREY, true)),
        );
        c.v_lines(&p, &lines, &mut placer)
    }
}
