//! Histograms of pre-binned counts, drawn as share of paths, with a point
//! mass (paths that all have one value, e.g. the cap) as a bar of its own
//! on the same scale, statistic markers in the legend and reference lines
//! labelled where they are.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::layout::Rect;
use super::layout::*;
use super::plot::*;
use super::DrawResult;
use super::*;

/// Histogram of pre-binned counts, drawn as share of all paths (the bins
/// and the point mass together).
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
    /// Legend text of the bars (e.g. "paths below the cap, bins of
    /// $0.50B"); empty for no legend entry.
    pub bars_label: String,
    /// Paths that all have one value (not counted in `counts`), drawn as a
    /// darker bar just right of that value, with its share.
    pub point_mass: Option<PointMass>,
    /// Statistic markers (mean, median, p5, p95), drawn as vertical lines
    /// (solid black, solid vermillion, then dashed) named in the legend.
    pub markers: Vec<ReferenceLine>,
    /// Other labelled vertical lines (e.g. "cap $38B"), drawn dashed.
    pub reference_lines: Vec<ReferenceLine>,
}

/// Paths that all have exactly one value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PointMass {
    /// The value (e.g. the cap).
    pub value: f64,
    /// Paths with that value.
    pub count: u64,
    /// What the value is, e.g. "pay exactly the cap"; the share is added.
    pub label: String,
}

/// Draws a histogram of pre-binned counts.
pub fn histogram_chart(chart: &HistogramChart, style: &ChartStyle) -> Result<Rendered, ChartError> {
    let prepared = PreparedHistogram::new(chart)?;
    render(style, &prepared)
}

struct PreparedHistogram<'a> {
    chart: &'a HistogramChart,
    /// Share of all paths in each bin.
    shares: Vec<f64>,
    /// The point mass: its bar's x range and share.
    mass: Option<(f64, f64, f64)>,
    xs: AxisSpec,
    ys: AxisSpec,
}

/// A point mass this many times the highest bin leaves the bins too low
/// to read: they are drawn again, magnified, in an inset.
const INSET_RATIO: f64 = 8.0;

/// Marker styles for histogram statistics, in order (mean, median, p5,
/// p95, ...): distinct in colour and in dash.
const MARKER_STYLES: [(RGBColor, Dash); 5] = [
    (RGBColor(0, 0, 0), Dash::Solid),
    (RGBColor(213, 94, 0), Dash::Solid),
    (RGBColor(0, 130, 90), Dash::Dashed),
    (RGBColor(170, 70, 140), Dash::Dashed),
    (RGBColor(150, 110, 0), Dash::Dotted),
];

fn marker_style(i: usize) -> LineStyle {
    let (colour, dash) = MARKER_STYLES[i % MARKER_STYLES.len()];
    LineStyle { colour, dash }
}

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
        let mass_count = chart
            .point_mass
            .as_ref()
            .filter(|m| m.value.is_finite())
            .map_or(0, |m| m.count);
        let total: f64 = chart.counts.iter().map(|&c| c as f64).sum::<f64>() + mass_count as f64;
        let share = |c: u64| if total > 0.0 { c as f64 / total } else { 0.0 };
        let shares: Vec<f64> = chart.counts.iter().map(|&c| share(c)).collect();
        let mut xe = Extent::new();
        xe.add_all(&chart.edges);
        for l in chart.markers.iter().chain(&chart.reference_lines) {
            xe.add(l.value);
        }
        let mass = chart
            .point_mass
            .as_ref()
            .filter(|m| m.value.is_finite() && m.count > 0)
            .map(|m| {
                // One bin wide (at least 2% of the axis), right of the value.
                let span = (xe.1 - xe.0).max(1e-9);
                let w = (chart.edges[1] - chart.edges[0]).max(0.02 * span);
                (m.value, m.value + w, share(m.count))
            });
        if let Some((_, x1, _)) = mass {
            xe.add(x1);
        }
        let max_share = shares
            .iter()
            .copied()
            .chain(mass.map(|m| m.2))
            .fold(0.0, f64::max);
        let top = if max_share > 0.0 {
            // headroom for the point mass's label, never past 100%
            (max_share * 1.12).min(1.0_f64.max(max_share))
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
            limits: None,
        };
        Ok(Self {
            chart,
            shares,
            mass,
            xs,
            ys,
        })
    }

    /// The inset that shows the bins magnified, when a point mass dwarfs
    /// them and the plot is large enough: in the top of the widest gap
    /// between the vertical lines (markers, reference lines, the point
    /// mass's bar), so that no line runs behind it.
    fn inset_rect(&self, p: &Plot, m: f64) -> Option<Rect> {
        let (x0, _, mass) = self.mass?;
        let max_bin = self.shares.iter().copied().fold(0.0, f64::max);
        if !(max_bin > 0.0 && mass > INSET_RATIO * max_bin) {
            return None;
        }
        let ch = self.chart;
        let mut xs: Vec<i32> = ch
            .markers
            .iter()
            .chain(&ch.reference_lines)
            .filter(|l| l.value.is_finite())
            .map(|l| p.px(l.value))
            .chain([p.r.x0, p.r.x1, p.px(x0)])
            .filter(|x| (p.r.x0..=p.r.x1).contains(x))
            .collect();
        xs.sort();
        let (a, b) = xs
            .windows(2)
            .map(|w| (w[0], w[1]))
            .max_by_key(|(a, b)| b - a)?;
        let pad = (m * 0.8) as i32;
        let r = Rect::new(
            a + pad,
            p.r.y0 + pad,
            b - pad,
            p.r.y0 + (p.r.h() as f64 * 0.58) as i32,
        );
        let wide = r.w() as f64 > (m * 16.0).max(0.3 * p.r.w() as f64);
        (wide && r.h() as f64 > m * 9.0).then_some(r)
    }

    /// Draws the bins again in `r`, on their own y scale.
    fn draw_inset<DB: DrawingBackend>(&self, c: &Canvas<'_, DB>, r: Rect) -> DrawResult {
        let ch = self.chart;
        c.fill_rect(r, WHITE.to_rgba())?;
        c.stroke_rect(r, AXIS_GREY, 1)?;
        let below: f64 = self.shares.iter().sum();
        let title = format!(
            "Zoom: the {}% of paths below the cap (same bins, y axis magnified)",
            fmt_fixed(100.0 * below, 1)
        );
        let px = c.m.note;
        let lines = c.wrap(&title, px, r.w() - c.m.pad);
        let lh = (px * 1.3) as i32;
        for (i, l) in lines.iter().enumerate() {
            c.text(
                l,
                (r.x0 + c.m.pad / 2, r.y0 + c.m.pad / 2 + lh * i as i32),
                px,
                false,
                INK,
                HPos::Left,
                VPos::Top,
            )?;
        }
        let inner = Rect::new(
            r.x0 + c.m.pad / 2,
            r.y0 + c.m.pad / 2 + lh * lines.len() as i32,
            r.x1 - c.m.pad / 2,
            r.y1 - c.m.pad / 4,
        );
        let max_bin = self.shares.iter().copied().fold(0.0, f64::max);
        let mut xs = AxisSpec::numeric(
            AxisKind::Number,
            (ch.edges[0], ch.edges[ch.edges.len() - 1]),
        );
        xs.pad = 0.01;
        xs.snap = false;
        let ys = AxisSpec {
            kind: AxisKind::Percent,
            lo: 0.0,
            hi: max_bin * 1.1,
            towards_zero: true,
            snap: true,
            pad: 0.0,
            limits: None,
        };
        let ip = c.layout(inner, &xs, &ys, "", "");
        c.axes(&ip, "", "", inner)?;
        let fill = tint(ch.hue, 0.75);
        let edge = shade(ch.hue, 0.2);
        for (i, &s) in self.shares.iter().enumerate() {
            if s <= 0.0 {
                continue;
            }
            let x0 = ip.px(ch.edges[i]);
            let x1 = ip.px(ch.edges[i + 1]);
            let b = Rect::new(x0, ip.py(s).min(ip.r.y1 - 1), x1.max(x0 + 1), ip.r.y1);
            c.fill_rect(b, fill.to_rgba())?;
            c.stroke_rect(b, edge, 1)?;
        }
        Ok(())
    }

    fn mass_colours(&self) -> (RGBColor, RGBColor) {
        (shade(self.chart.hue, 0.3), shade(self.chart.hue, 0.55))
    }

    fn legend(&self) -> Legend {
        let ch = self.chart;
        let mut first = Vec::new();
        if !ch.bars_label.is_empty() {
            first.push(entry(
                Swatch::Boxed(tint(ch.hue, 0.75), shade(ch.hue, 0.2)),
                ch.bars_label.clone(),
            ));
        }
        let markers: Vec<LegendEntry> = ch
            .markers
            .iter()
            .enumerate()
            .filter(|(_, l)| l.value.is_finite())
            .map(|(i, l)| entry(marker_style(i).swatch(), l.label.clone()))
            .collect();
        vec![first, markers]
    }

    /// The point mass's label: what it is and its share.
    fn mass_label(&self) -> Option<DirectLabel> {
        let m = self.chart.point_mass.as_ref()?;
        let (x0, x1, share) = self.mass?;
        let (fill, edge) = self.mass_colours();
        Some(DirectLabel {
            text: format!("{}: {}% of paths", m.label, fmt_fixed(100.0 * share, 1)),
            colour: edge,
            swatch: Swatch::Boxed(fill, edge),
            anchor: Anchor::Above((x0 + x1) / 2.0, share),
        })
    }
}

impl Drawable for PreparedHistogram<'_> {
    fn draw<DB: DrawingBackend>(&self, c: &Canvas<'_, DB>) -> DrawResult {
        let ch = self.chart;
        let ref_styles: Vec<LineStyle> = ch
            .reference_lines
            .iter()
            .map(|l| LineStyle::reference(l.hue))
            .collect();
        let mut labels: Vec<DirectLabel> = self.mass_label().into_iter().collect();
        labels.extend(
            ch.reference_lines
                .iter()
                .zip(&ref_styles)
                .map(|(l, st)| DirectLabel::of_line(l, st, Anchor::VLine(l.value))),
        );
        let plot_of = |area: Rect| c.layout(area, &self.xs, &self.ys, &ch.x_label, &ch.y_label);
        let mass_rect = |p: &Plot| {
            self.mass
                .map(|(x0, x1, s)| Rect::new(p.px(x0), p.py(s).min(p.r.y1 - 1), p.px(x1), p.r.y1))
        };
        let reserved = |p: &Plot| {
            mass_rect(p)
                .into_iter()
                .chain(self.inset_rect(p, c.m.tick))
                .collect()
        };
        let verticals: Vec<f64> = ch
            .markers
            .iter()
            .chain(&ch.reference_lines)
            .map(|l| l.value)
            .collect();
        let lines = |p: &Plot| c.rule_boxes(p, &verticals, &[]);
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
        if let Some(r) = mass_rect(p) {
            let (mfill, medge) = self.mass_colours();
            let r = Rect::new(r.x0 + gap, r.y0, r.x1.max(r.x0 + gap + 2), r.y1);
            c.fill_rect(r, mfill.to_rgba())?;
            c.stroke_rect(r, medge, 1)?;
        }
        if self.mass.is_none() && self.shares.iter().all(|&s| s <= 0.0) {
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
        for (i, l) in ch.markers.iter().enumerate() {
            c.v_rule(p, l.value, &marker_style(i))?;
        }
        for (l, st) in ch.reference_lines.iter().zip(&ref_styles) {
            c.v_rule(p, l.value, st)?;
        }
        if let Some(r) = self.inset_rect(p, c.m.tick) {
            self.draw_inset(c, r)?;
        }
        c.draw_labels(&labels, &fitted.boxes)
    }
}
