//! Axes and the plot area shared by every chart: ranges, ticks and number
//! formats, the data-to-pixel mapping, reference lines and the data
//! helpers (bands and lines broken at non-finite values).

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use plotters::style::RGBAColor;

use super::layout::Rect;
use super::layout::*;
use super::{ChartError, DrawResult, ReferenceLine, Rgb};

// ---------------------------------------------------------------------------
// Axes: ranges, ticks, number formats, layout
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub(super) enum AxisKind {
    /// Decimal calendar years: integer years when the span allows.
    Year,
    /// Plain numbers.
    Number,
    /// Fractions drawn as percent.
    Percent,
    /// log10 of positive numbers: ticks at 1, 2 and 5 times powers of
    /// ten, labelled with the numbers themselves.
    Log,
    /// Named slots at 0, 1, 2, ...
    Category(Vec<String>),
}

/// log10 of a positive value; NaN (not drawn) otherwise: values on a log
/// axis.
pub(super) fn log_or_nan(v: f64) -> f64 {
    if v > 0.0 {
        v.log10()
    } else {
        f64::NAN
    }
}

/// A chart's horizontal reference lines: their styles, their direct labels
/// and their values (for the boxes labels keep clear of).
pub(super) fn h_lines(lines: &[ReferenceLine]) -> (Vec<LineStyle>, Vec<DirectLabel>, Vec<f64>) {
    let styles: Vec<LineStyle> = lines.iter().map(|l| LineStyle::reference(l.hue)).collect();
    let labels = lines
        .iter()
        .zip(&styles)
        .map(|(l, st)| DirectLabel::of_line(l, st, Anchor::HLine(l.value)))
        .collect();
    let values = lines.iter().map(|l| l.value).collect();
    (styles, labels, values)
}

/// What an axis must show before ticks are chosen.
#[derive(Debug, Clone)]
pub(super) struct AxisSpec {
    pub(super) kind: AxisKind,
    pub(super) lo: f64,
    pub(super) hi: f64,
    /// Extend to 0 when the data are one-signed and not far from it.
    pub(super) towards_zero: bool,
    /// Round the range out to whole ticks.
    pub(super) snap: bool,
    /// Fractional padding added on each side before snapping.
    pub(super) pad: f64,
    /// Values the axis never goes beyond, padding and snapping included
    /// (e.g. 0 and 100 for a percentage).
    pub(super) limits: Option<(f64, f64)>,
}

impl AxisSpec {
    pub(super) fn numeric(kind: AxisKind, (lo, hi): (f64, f64)) -> Self {
        Self {
            kind,
            lo,
            hi,
            towards_zero: false,
            snap: true,
            pad: 0.04,
            limits: None,
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Axis {
    pub(super) lo: f64,
    pub(super) hi: f64,
    pub(super) ticks: Vec<f64>,
    pub(super) labels: Vec<String>,
    pub(super) category: bool,
}

/// `lo..hi` widened so that it has a positive, finite span.
pub(super) fn padded_range(lo: f64, hi: f64, kind: &AxisKind) -> (f64, f64) {
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
    let span = hi - lo;
    let scale = lo.abs().max(hi.abs());
    if span > scale * 1e-9 && span > 1e-12 {
        return (lo, hi);
    }
    let half = match kind {
        AxisKind::Year => 0.5,
        AxisKind::Percent => 0.05,
        _ if scale > 0.0 => scale * 0.1,
        _ => 1.0,
    };
    (lo - half, hi + half)
}

pub(super) fn nice_step(raw: f64, year: bool) -> f64 {
    let raw = raw.max(1e-300);
    let p = 10f64.powf(raw.log10().floor());
    let mantissas: &[f64] = if year {
        &[1.0, 2.0, 5.0, 10.0]
    } else {
        &[1.0, 2.0, 2.5, 5.0, 10.0]
    };
    let f = raw / p;
    let m = mantissas
        .iter()
        .copied()
        .find(|&m| f <= m * (1.0 + 1e-9))
        .unwrap_or(10.0);
    let step = m * p;
    if year && step < 1.0 {
        // quarters, halves, whole years
        [0.25, 0.5, 1.0]
            .into_iter()
            .find(|&s| s >= step * (1.0 - 1e-9))
            .unwrap_or(1.0)
    } else {
        step
    }
}

pub(super) fn step_decimals(step: f64) -> usize {
    (0..8)
        .find(|&d| {
            let v = step * 10f64.powi(d as i32);
            (v - v.round()).abs() < 1e-6 * v.abs().max(1.0)
        })
        .unwrap_or(8)
}

/// Number with fixed decimals, thousands separators and a true minus sign.
pub(super) fn fmt_fixed(v: f64, decimals: usize) -> String {
    let s = format!("{:.*}", decimals, v.abs());
    let (int, frac) = match s.find('.') {
        Some(i) => (&s[..i], &s[i..]),
        None => (&s[..], ""),
    };
    let mut grouped = String::new();
    if int.len() > 4 {
        for (i, ch) in int.chars().enumerate() {
            if i > 0 && (int.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(ch);
        }
    } else {
        grouped.push_str(int);
    }
    let zero = s.chars().all(|c| c == '0' || c == '.');
    let sign = if v < 0.0 && !zero { "\u{2212}" } else { "" };
    format!("{sign}{grouped}{frac}")
}

/// Number with about three significant digits (for value labels).
pub(super) fn fmt_sig(v: f64) -> String {
    let a = v.abs();
    let d = if a >= 100.0 || a == 0.0 {
        0
    } else if a >= 10.0 {
        1
    } else if a >= 1.0 {
        2
    } else {
        (2.0 - a.log10().floor()).clamp(2.0, 6.0) as usize
    };
    fmt_fixed(v, d)
}

pub(super) fn build_axis(spec: &AxisSpec, max_ticks: usize) -> Axis {
    if let AxisKind::Category(names) = &spec.kind {
        let n = names.len().max(1);
        return Axis {
            lo: -0.5,
            hi: n as f64 - 0.5,
            ticks: (0..names.len()).map(|i| i as f64).collect(),
            labels: names.clone(),
            category: true,
        };
    }
    if spec.kind == AxisKind::Log {
        return log_axis(spec, max_ticks);
    }
    let (mut lo, mut hi) = padded_range(spec.lo, spec.hi, &spec.kind);
    if spec.towards_zero && spec.lo == spec.hi {
        // one value: show it against zero rather than against itself
        (lo, hi) = if spec.lo > 0.0 {
            (0.0, spec.lo * 1.25)
        } else if spec.lo < 0.0 {
            (spec.lo * 1.25, 0.0)
        } else {
            (0.0, 1.0)
        };
    }
    if spec.towards_zero {
        if lo > 0.0 && lo < 0.4 * hi {
            lo = 0.0;
        } else if hi < 0.0 && hi > 0.4 * lo {
            hi = 0.0;
        }
    }
    let span = hi - lo;
    lo -= span * spec.pad;
    hi += span * spec.pad;
    if spec.towards_zero && spec.lo >= 0.0 && lo < 0.0 {
        lo = 0.0;
    }
    if spec.towards_zero && spec.hi <= 0.0 && hi > 0.0 && lo < 0.0 {
        hi = 0.0;
    }
    if !(hi - lo > 0.0 && (hi - lo).is_finite()) {
        // last resort against a collapsed or overflowing range
        (lo, hi) = if lo.is_finite() {
            (lo, lo + 1.0)
        } else {
            (0.0, 1.0)
        };
    }
    let year = spec.kind == AxisKind::Year;
    let mut step = nice_step((hi - lo) / max_ticks.max(1) as f64, year);
    if year {
        // whole years once the span allows two labels, else half years
        step = step.max(if hi - lo >= 2.0 { 1.0 } else { 0.5 });
    }
    if spec.snap {
        lo = (lo / step + 1e-9).floor() * step;
        hi = (hi / step - 1e-9).ceil() * step;
    }
    if let Some((min, max)) = spec.limits {
        lo = lo.max(min);
        hi = hi.min(max);
    }
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    let ticks: Vec<f64> = (first..=last.max(first)).map(|k| k as f64 * step).collect();
    let d = step_decimals(step);
    let labels = ticks
        .iter()
        .map(|&t| match spec.kind {
            AxisKind::Percent => format!("{}%", fmt_fixed(t * 100.0, step_decimals(step * 100.0))),
            AxisKind::Year if t.fract() == 0.0 => fmt_fixed(t, 0).replace(',', ""),
            AxisKind::Year => fmt_fixed(t, d).replace(',', ""),
            _ => fmt_fixed(t, d),
        })
        .collect();
    Axis {
        lo,
        hi,
        ticks,
        labels,
        category: false,
    }
}

/// A log axis over `spec.lo..spec.hi` (already log10 values): the range
/// widened to the nearest 1-2-5 values outside it, ticks at the 1-2-5
/// values inside (only the powers of ten when they are too many).
fn log_axis(spec: &AxisSpec, max_ticks: usize) -> Axis {
    let (lo, hi) = padded_range(spec.lo, spec.hi, &AxisKind::Log);
    let (lo, hi) = if hi - lo < 0.3 {
        ((lo + hi) / 2.0 - 0.15, (lo + hi) / 2.0 + 0.15)
    } else {
        (lo, hi)
    };
    let candidates = |mantissas: &[f64]| -> Vec<f64> {
        let (k0, k1) = (lo.floor() as i32 - 1, hi.ceil() as i32 + 1);
        (k0..=k1)
            .flat_map(|k| mantissas.iter().map(move |m| (m * 10f64.powi(k)).log10()))
            .collect()
    };
    let fine = candidates(&[1.0, 2.0, 5.0]);
    let below = fine
        .iter()
        .copied()
        .filter(|&t| t <= lo + 1e-9)
        .fold(lo, f64::min);
    let lo = fine
        .iter()
        .copied()
        .filter(|&t| t <= lo + 1e-9)
        .fold(below, f64::max);
    let above = fine
        .iter()
        .copied()
        .filter(|&t| t >= hi - 1e-9)
        .fold(hi, f64::max);
    let hi = fine
        .iter()
        .copied()
        .filter(|&t| t >= hi - 1e-9)
        .fold(above, f64::min);
    let inside = |v: &Vec<f64>| -> Vec<f64> {
        v.iter()
            .copied()
            .filter(|&t| t >= lo - 1e-9 && t <= hi + 1e-9)
            .collect()
    };
    let mut ticks = inside(&fine);
    if ticks.len() > max_ticks.max(2) {
        ticks = inside(&candidates(&[1.0]));
    }
    while ticks.len() > max_ticks.max(2) {
        ticks = ticks.iter().copied().step_by(2).collect();
    }
    let labels = ticks
        .iter()
        .map(|&t| {
            let v = 10f64.powf(t);
            let d = if v >= 1.0 - 1e-9 {
                0
            } else {
                (-(v.log10().floor()) as usize).min(8)
            };
            fmt_fixed(v, d)
        })
        .collect();
    Axis {
        lo,
        hi,
        ticks,
        labels,
        category: false,
    }
}

/// Plot rectangle plus the data-to-pixel mapping of both axes.
#[derive(Debug, Clone)]
pub(super) struct Plot {
    pub(super) r: Rect,
    pub(super) x: Axis,
    pub(super) y: Axis,
    /// Wrapped x tick labels (categories may take several lines).
    pub(super) x_lines: Vec<Vec<String>>,
    pub(super) x_label_px: f64,
    pub(super) y_label_px: f64,
}

impl Plot {
    pub(super) fn px(&self, v: f64) -> i32 {
        let t = (v - self.x.lo) / (self.x.hi - self.x.lo);
        (self.r.x0 as f64 + t.clamp(-1.0, 2.0) * self.r.w() as f64).round() as i32
    }
    pub(super) fn py(&self, v: f64) -> i32 {
        let t = (v - self.y.lo) / (self.y.hi - self.y.lo);
        (self.r.y1 as f64 - t.clamp(-1.0, 2.0) * self.r.h() as f64).round() as i32
    }
    pub(super) fn pt(&self, x: f64, y: f64) -> (i32, i32) {
        (self.px(x), self.py(y))
    }
    /// Pixel width of one x unit.
    pub(super) fn x_unit(&self) -> f64 {
        self.r.w() as f64 / (self.x.hi - self.x.lo)
    }
    /// Pixel height of one y unit.
    pub(super) fn y_unit(&self) -> f64 {
        self.r.h() as f64 / (self.y.hi - self.y.lo)
    }
}

impl<DB: DrawingBackend> Canvas<'_, DB> {
    /// Chooses ticks for both axes so that labels fit, and the plot
    /// rectangle inside `area` leaving room for tick labels and titles.
    pub(super) fn layout(
        &self,
        area: Rect,
        xs: &AxisSpec,
        ys: &AxisSpec,
        x_title: &str,
        y_title: &str,
    ) -> Plot {
        let m = self.m;
        let tick_len = (m.tick * 0.35) as i32;
        let tick_h = (m.tick * 1.25) as i32;
        let title_h = if x_title.is_empty() {
            0
        } else {
            (m.axis * 1.4) as i32
        };
        let y_title_w = if y_title.is_empty() {
            0
        } else {
            (m.axis * 1.5) as i32
        };
        let mut x_lines_n = 1;
        let mut plot = None;
        // Two passes: category labels may wrap, which changes the height.
        for _ in 0..2 {
            let bottom = area.y1 - tick_len - tick_h * x_lines_n - title_h - m.pad / 2;
            let top = area.y0 + m.pad / 2;
            let plot_h = (bottom - top).max(20);
            let y_max_ticks = ((plot_h as f64) / (m.tick * 2.6)).floor().clamp(2.0, 12.0) as usize;
            let (y_axis, y_px) = self.fit_y_axis(ys, y_max_ticks, (area.w() as f64) * 0.4);
            let label_w = y_axis
                .labels
                .iter()
                .map(|l| self.text_w(l, y_px, false))
                .max()
                .unwrap_or(0);
            let left = area.x0 + y_title_w + label_w + tick_len + m.pad / 2;
            // half of the last x label may stick out to the right
            let right = area.x1 - (m.tick * 1.6) as i32;
            let plot_w = (right - left).max(20);
            let (x_axis, x_lines, x_px) = self.fit_x_axis(xs, plot_w);
            let n_lines = x_lines.iter().map(|l| l.len()).max().unwrap_or(1).max(1) as i32;
            plot = Some(Plot {
                r: Rect::new(left, top, left + plot_w, top + plot_h),
                x: x_axis,
                y: y_axis,
                x_lines,
                x_label_px: x_px,
                y_label_px: y_px,
            });
            if n_lines == x_lines_n {
                break;
            }
            x_lines_n = n_lines;
        }
        plot.unwrap_or_else(|| unreachable!("layout loop runs at least once"))
    }

    pub(super) fn fit_y_axis(&self, ys: &AxisSpec, max_ticks: usize, max_w: f64) -> (Axis, f64) {
        let axis = build_axis(ys, max_ticks);
        if !axis.category {
            return (axis, self.m.tick);
        }
        // Category labels on y (tornado rows): shrink until they fit.
        let mut px = self.m.tick;
        let widest = |px: f64| {
            axis.labels
                .iter()
                .map(|l| self.text_w(l, px, false))
                .max()
                .unwrap_or(0)
        };
        while px > 9.0 && widest(px) as f64 > max_w {
            px -= 1.0;
        }
        (axis, px)
    }

    pub(super) fn fit_x_axis(&self, xs: &AxisSpec, plot_w: i32) -> (Axis, Vec<Vec<String>>, f64) {
        let gap = (self.m.tick * 1.5) as i32;
        if let AxisKind::Category(names) = &xs.kind {
            let axis = build_axis(xs, 0);
            let slot = plot_w / names.len().max(1) as i32 - gap / 2;
            let mut px = self.m.tick;
            loop {
                let lines: Vec<Vec<String>> = names
                    .iter()
                    .map(|n| self.wrap(n, px, slot.max(10)))
                    .collect();
                let fits = lines
                    .iter()
                    .flatten()
                    .all(|l| self.text_w(l, px, false) <= slot)
                    && lines.iter().all(|l| l.len() <= 3);
                if fits || px <= 9.0 {
                    return (axis, lines, px);
                }
                px -= 1.0;
            }
        }
        let mut max_ticks = ((plot_w as f64) / (self.m.tick * 4.0)).clamp(2.0, 14.0) as usize;
        loop {
            let axis = build_axis(xs, max_ticks);
            let widest = axis
                .labels
                .iter()
                .map(|l| self.text_w(l, self.m.tick, false))
                .max()
                .unwrap_or(0);
            let n = axis.ticks.len().max(1) as i32;
            let spacing = if n > 1 { plot_w / (n - 1) } else { plot_w };
            if spacing >= widest + gap || max_ticks <= 2 {
                let lines = axis.labels.iter().map(|l| vec![l.clone()]).collect();
                return (axis, lines, self.m.tick);
            }
            max_ticks -= 1;
        }
    }

    /// Grid, axis lines, ticks, tick labels and axis titles.
    pub(super) fn axes(&self, p: &Plot, x_title: &str, y_title: &str, area: Rect) -> DrawResult {
        let m = self.m;
        let tick_len = (m.tick * 0.35) as i32;
        if !p.y.category {
            for &t in &p.y.ticks {
                let y = p.py(t);
                self.path(vec![(p.r.x0, y), (p.r.x1, y)], GRID_GREY, 1)?;
            }
        }
        if !p.x.category {
            for &t in &p.x.ticks {
                let x = p.px(t);
                self.path(vec![(x, p.r.y0), (x, p.r.y1)], GRID_GREY, 1)?;
            }
        }
        self.path(
            vec![(p.r.x0, p.r.y0), (p.r.x0, p.r.y1), (p.r.x1, p.r.y1)],
            AXIS_GREY,
            2,
        )?;
        for (i, &t) in p.y.ticks.iter().enumerate() {
            let y = p.py(t);
            self.path(vec![(p.r.x0 - tick_len, y), (p.r.x0, y)], AXIS_GREY, 2)?;
            self.text(
                &p.y.labels[i],
                (p.r.x0 - tick_len - m.pad / 3, y),
                p.y_label_px,
                false,
                INK,
                HPos::Right,
                VPos::Center,
            )?;
        }
        let lh = (p.x_label_px * 1.2) as i32;
        for (i, &t) in p.x.ticks.iter().enumerate() {
            let x = p.px(t);
            self.path(vec![(x, p.r.y1), (x, p.r.y1 + tick_len)], AXIS_GREY, 2)?;
            for (k, line) in p.x_lines[i].iter().enumerate() {
                self.text(
                    line,
                    (x, p.r.y1 + tick_len + m.pad / 4 + k as i32 * lh),
                    p.x_label_px,
                    false,
                    INK,
                    HPos::Center,
                    VPos::Top,
                )?;
            }
        }
        let n_lines = p.x_lines.iter().map(|l| l.len()).max().unwrap_or(1) as i32;
        let x_title_y = p.r.y1 + tick_len + m.pad / 4 + n_lines * lh + (m.axis * 0.3) as i32;
        // A long axis title is set smaller (down to the tick size) rather
        // than run past the chart's edge.
        self.text(
            x_title,
            ((p.r.x0 + p.r.x1) / 2, x_title_y),
            self.fit_px(x_title, m.axis, self.width - 2 * m.pad),
            false,
            INK,
            HPos::Center,
            VPos::Top,
        )?;
        self.text_vertical(
            y_title,
            (area.x0 + (m.axis * 0.6) as i32, (p.r.y0 + p.r.y1) / 2),
            self.fit_px(y_title, m.axis, area.h()),
            INK,
        )
    }

    /// The largest size from `px` down to the tick size at which `text`
    /// (regular weight) is at most `usable` pixels long.
    fn fit_px(&self, text: &str, px: f64, usable: i32) -> f64 {
        let mut px = px;
        while px > self.m.tick && self.text_w(text, px, false) > usable {
            px -= 1.0;
        }
        px.max(self.m.tick)
    }

    /// An interval as a vertical whisker at `x` from y `a` to `b`, with
    /// caps `cap` pixels to each side.
    pub(super) fn whisker(
        &self,
        x: i32,
        (a, b): (i32, i32),
        cap: i32,
        colour: RGBColor,
    ) -> DrawResult {
        self.path(vec![(x, a), (x, b)], colour, self.m.line)?;
        self.path(vec![(x - cap, a), (x + cap, a)], colour, self.m.line)?;
        self.path(vec![(x - cap, b), (x + cap, b)], colour, self.m.line)
    }

    /// A horizontal reference line across the plot.
    pub(super) fn h_rule(&self, p: &Plot, y: f64, style: &LineStyle) -> DrawResult {
        if !y.is_finite() {
            return Ok(());
        }
        let y = p.py(y);
        self.styled((p.r.x0, y), (p.r.x1, y), style)
    }

    /// A vertical reference line across the plot.
    pub(super) fn v_rule(&self, p: &Plot, x: f64, style: &LineStyle) -> DrawResult {
        if !x.is_finite() {
            return Ok(());
        }
        let x = p.px(x);
        self.styled((x, p.r.y0), (x, p.r.y1), style)
    }

    /// A segment in `style`.
    pub(super) fn styled(&self, a: (i32, i32), b: (i32, i32), style: &LineStyle) -> DrawResult {
        let w = self.m.line;
        match style.dash {
            Dash::Solid => self.path(vec![a, b], style.colour, w),
            Dash::Dashed => self.dashed(a, b, style.colour, w, (self.m.tick * 0.6) as i32),
            Dash::Dotted => self.dotted(a, b, style.colour, w),
        }
    }

    /// Candidate top-left corners of a label of `size` next to `anchor`,
    /// best first.
    fn candidates(&self, p: &Plot, anchor: Anchor, (w, h): (i32, i32)) -> Vec<(i32, i32)> {
        let pad = self.m.pad;
        match anchor {
            Anchor::HLine(v) => {
                let y = p.py(v);
                let (xr, xl, xm) = (
                    p.r.x1 - w - pad / 2,
                    p.r.x0 + pad / 2,
                    (p.r.x0 + p.r.x1 - w) / 2,
                );
                vec![
                    (xr, y - h - 3),
                    (xr, y + 3),
                    (xl, y - h - 3),
                    (xl, y + 3),
                    (xm, y - h - 3),
                    (xm, y + 3),
                ]
            }
            Anchor::VLine(v) => {
                let x = p.px(v);
                let mut c = Vec::new();
                for k in 0..10 {
                    let y = p.r.y0 + 4 + k * (h + 2);
                    c.push((x + 5, y));
                    c.push((x - w - 5, y));
                }
                c
            }
            Anchor::Point(x, y) => {
                let (x, y) = p.pt(x, y);
                let d = (self.m.tick * 0.4) as i32 + 4;
                vec![
                    (x + d, y - h - d / 2),
                    (x + d, y + d / 2),
                    (x - d - w, y - h - d / 2),
                    (x - d - w, y + d / 2),
                    (x - w / 2, y - h - d),
                    (x - w / 2, y + d),
                ]
            }
            Anchor::Above(x, y) => {
                let (x, y) = p.pt(x, y);
                vec![
                    (x - w / 2, y - h - 4),
                    (x - w - 4, y - h - 4),
                    (x + 4, y - h - 4),
                    (x - w - 6, y + 4),
                ]
            }
        }
    }

    /// Lays out a chart whose labels sit next to what they name: the frame
    /// with `legend`, the plot (`plot_of` the free area), and a box for
    /// every label that finds a free place, away from `reserved` boxes and
    /// from the thin `lines` (reference lines, whiskers). A label that finds
    /// none goes into the legend instead (with its swatch), and the layout
    /// is redone, so no text ever covers another text or a line.
    pub(super) fn fit(
        &self,
        title: &str,
        legend: &Legend,
        labels: &[DirectLabel],
        plot_of: &dyn Fn(Rect) -> Plot,
        reserved: &dyn Fn(&Plot) -> Vec<Rect>,
        lines: &dyn Fn(&Plot) -> Vec<Rect>,
    ) -> Fitted {
        let mut in_legend = vec![false; labels.len()];
        loop {
            let mut full = legend.clone();
            let moved: Vec<LegendEntry> = labels
                .iter()
                .zip(&in_legend)
                .filter(|(_, &m)| m)
                .map(|(l, _)| entry(l.swatch.clone(), l.text.clone()))
                .collect();
            if !moved.is_empty() {
                full.push(moved);
            }
            let area = self.frame_rect(title, &full);
            let plot = plot_of(area);
            let mut placer = LabelPlacer::new(plot.r);
            for r in reserved(&plot) {
                placer.reserve(r);
            }
            let thin = lines(&plot);
            let mut boxes = Vec::with_capacity(labels.len());
            let mut missing = false;
            for (l, &moved) in labels.iter().zip(&in_legend) {
                if moved || l.text.is_empty() || !l.anchor.is_finite() {
                    boxes.push(None);
                    continue;
                }
                let size = self.label_box(&l.text, self.m.note);
                let cands = self.candidates(&plot, l.anchor, size);
                let b = placer.try_place(size, &cands, &thin);
                missing |= b.is_none();
                boxes.push(b);
            }
            if !missing {
                return Fitted {
                    legend: full,
                    plot,
                    boxes,
                };
            }
            for (m, b) in in_legend.iter_mut().zip(&boxes) {
                if b.is_none() {
                    *m = true;
                }
            }
        }
    }

    /// Draws the labels that [`Canvas::fit`] placed.
    pub(super) fn draw_labels(&self, labels: &[DirectLabel], boxes: &[Option<Rect>]) -> DrawResult {
        for (l, b) in labels.iter().zip(boxes) {
            if let Some(r) = b {
                self.boxed_text(&l.text, *r, self.m.note, l.colour)?;
            }
        }
        Ok(())
    }

    /// Thin boxes along the vertical and horizontal `rules` (data values),
    /// for [`Canvas::fit`]'s `lines`.
    pub(super) fn rule_boxes(&self, p: &Plot, verticals: &[f64], horizontals: &[f64]) -> Vec<Rect> {
        let mut out = Vec::new();
        for &v in verticals.iter().filter(|v| v.is_finite()) {
            let x = p.px(v);
            out.push(Rect::new(x - 2, p.r.y0, x + 2, p.r.y1));
        }
        for &v in horizontals.iter().filter(|v| v.is_finite()) {
            let y = p.py(v);
            out.push(Rect::new(p.r.x0, y - 2, p.r.x1, y + 2));
        }
        out
    }
}

/// Solid, dashed or dotted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dash {
    Solid,
    Dashed,
    Dotted,
}

/// How a reference line is drawn.
#[derive(Debug, Clone, Copy)]
pub(super) struct LineStyle {
    pub(super) colour: RGBColor,
    pub(super) dash: Dash,
}

impl LineStyle {
    /// A reference line: dashed in its hue, else in dark grey.
    pub(super) fn reference(hue: Option<Rgb>) -> Self {
        LineStyle {
            colour: hue.map_or(REF_GREY, |h| shade(h, 0.25)),
            dash: Dash::Dashed,
        }
    }

    /// The legend swatch of a line in this style.
    pub(super) fn swatch(&self) -> Swatch {
        match self.dash {
            Dash::Solid => Swatch::Line(self.colour),
            Dash::Dashed => Swatch::Dashed(self.colour),
            Dash::Dotted => Swatch::Dotted(self.colour),
        }
    }
}

/// Where a label sits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Anchor {
    /// Along a horizontal line at this y (data units).
    HLine(f64),
    /// Along a vertical line at this x.
    VLine(f64),
    /// Next to the point (x, y).
    Point(f64, f64),
    /// Centred above the point (x, y), e.g. a bar's top.
    Above(f64, f64),
}

impl Anchor {
    fn is_finite(&self) -> bool {
        match *self {
            Anchor::HLine(v) | Anchor::VLine(v) => v.is_finite(),
            Anchor::Point(x, y) | Anchor::Above(x, y) => x.is_finite() && y.is_finite(),
        }
    }
}

/// A label drawn next to what it names, or in the legend when there is no
/// free place there.
#[derive(Debug, Clone)]
pub(super) struct DirectLabel {
    pub(super) text: String,
    pub(super) colour: RGBColor,
    /// How the legend shows it if it moves there.
    pub(super) swatch: Swatch,
    pub(super) anchor: Anchor,
}

impl DirectLabel {
    /// The label of a reference line drawn in `style`.
    pub(super) fn of_line(l: &ReferenceLine, style: &LineStyle, anchor: Anchor) -> Self {
        DirectLabel {
            text: l.label.clone(),
            colour: style.colour,
            swatch: style.swatch(),
            anchor,
        }
    }
}

/// The result of [`Canvas::fit`].
pub(super) struct Fitted {
    /// The legend to draw (with the labels that moved into it).
    pub(super) legend: Legend,
    /// The plot.
    pub(super) plot: Plot,
    /// Each label's box; None when it is in the legend (or empty).
    pub(super) boxes: Vec<Option<Rect>>,
}

// ---------------------------------------------------------------------------
// Data helpers
// ---------------------------------------------------------------------------

pub(super) fn check_len(what: &str, got: usize, want: usize) -> DrawResult {
    if got != want {
        return Err(ChartError::InvalidInput(format!(
            "{what} has {got} values, expected {want}"
        )));
    }
    Ok(())
}

pub(super) fn check_non_decreasing(what: &str, x: &[f64]) -> DrawResult {
    let mut prev = f64::NEG_INFINITY;
    for &v in x.iter().filter(|v| v.is_finite()) {
        if v < prev {
            return Err(ChartError::InvalidInput(format!(
                "{what} must be non-decreasing"
            )));
        }
        prev = v;
    }
    Ok(())
}

/// Running (min, max) of finite values.
#[derive(Debug, Clone, Copy)]
pub(super) struct Extent(pub(super) f64, pub(super) f64);

impl Extent {
    pub(super) fn new() -> Self {
        Extent(f64::INFINITY, f64::NEG_INFINITY)
    }
    pub(super) fn add(&mut self, v: f64) {
        if v.is_finite() {
            self.0 = self.0.min(v);
            self.1 = self.1.max(v);
        }
    }
    pub(super) fn add_all(&mut self, vs: &[f64]) {
        for &v in vs {
            self.add(v);
        }
    }
    pub(super) fn is_empty(&self) -> bool {
        self.0 > self.1
    }
    pub(super) fn pair(&self) -> (f64, f64) {
        (self.0, self.1)
    }
}

/// Maximal runs of indices where `ok(i)` holds.
pub(super) fn runs(n: usize, ok: impl Fn(usize) -> bool) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for i in 0..n {
        if ok(i) {
            cur.push(i);
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

impl<DB: DrawingBackend> Canvas<'_, DB> {
    /// Filled band between `lo` and `hi` over `x`, broken at non-finite
    /// values; a lone point becomes a short bar.
    pub(super) fn band(
        &self,
        p: &Plot,
        x: &[f64],
        lo: &[f64],
        hi: &[f64],
        c: RGBAColor,
    ) -> DrawResult {
        let ok = |i: usize| x[i].is_finite() && lo[i].is_finite() && hi[i].is_finite();
        for run in runs(x.len(), ok) {
            if run.len() == 1 {
                let i = run[0];
                let half = (self.m.tick * 0.6) as i32;
                let (a, b) = (p.py(lo[i].min(hi[i])), p.py(lo[i].max(hi[i])));
                let xc = p.px(x[i]);
                self.fill_rect(Rect::new(xc - half, a, xc + half, b.min(a - 1)), c)?;
                continue;
            }
            let mut pts: Vec<(i32, i32)> =
                run.iter().map(|&i| p.pt(x[i], hi[i].max(lo[i]))).collect();
            pts.extend(run.iter().rev().map(|&i| p.pt(x[i], lo[i].min(hi[i]))));
            self.polygon(pts, c)?;
        }
        Ok(())
    }

    /// Polyline over finite points (optionally as steps); a lone point
    /// becomes a short horizontal tick.
    pub(super) fn line(
        &self,
        p: &Plot,
        x: &[f64],
        y: &[f64],
        c: RGBColor,
        width: u32,
        step: bool,
    ) -> DrawResult {
        let ok = |i: usize| x[i].is_finite() && y[i].is_finite();
        for run in runs(x.len(), ok) {
            if run.len() == 1 {
                let (px, py) = p.pt(x[run[0]], y[run[0]]);
                let half = (self.m.tick * 0.8) as i32;
                self.path(vec![(px - half, py), (px + half, py)], c, width)?;
                self.dot((px, py), (self.m.tick * 0.3) as i32, c, WHITE)?;
                continue;
            }
            let mut pts = Vec::with_capacity(run.len() * 2);
            for (k, &i) in run.iter().enumerate() {
                let pt = p.pt(x[i], y[i]);
                if step && k > 0 {
                    let prev: (i32, i32) = pts[pts.len() - 1];
                    pts.push((pt.0, prev.1));
                }
                pts.push(pt);
            }
            self.path(pts, c, width)?;
        }
        Ok(())
    }
}
