//! Axes and the plot area shared by every chart: ranges, ticks and number
//! formats, the data-to-pixel mapping, reference lines and the data
//! helpers (bands and lines broken at non-finite values).

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use plotters::style::RGBAColor;

use super::layout::Rect;
use super::layout::*;
use super::{ChartError, DrawResult, ReferenceLine};

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
    /// Named slots at 0, 1, 2, ...
    Category(Vec<String>),
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
        self.text(
            x_title,
            ((p.r.x0 + p.r.x1) / 2, x_title_y),
            m.axis,
            false,
            INK,
            HPos::Center,
            VPos::Top,
        )?;
        self.text_vertical(
            y_title,
            (area.x0 + (m.axis * 0.6) as i32, (p.r.y0 + p.r.y1) / 2),
            m.axis,
            INK,
        )
    }

    /// Horizontal reference lines with labels at the right end.
    pub(super) fn h_lines(
        &self,
        p: &Plot,
        lines: &[ReferenceLine],
        placer: &mut LabelPlacer,
    ) -> DrawResult {
        for l in lines.iter().filter(|l| l.value.is_finite()) {
            let y = p.py(l.value);
            self.dashed((p.r.x0, y), (p.r.x1, y), REF_GREY, self.m.line, 14)?;
            let (w, h) = self.label_box(&l.label, self.m.note);
            let x = p.r.x1 - w - self.m.pad / 2;
            let r = placer.place(
                (w, h),
                &[(x, y - h - 3), (x, y + 3), (p.r.x0 + 8, y - h - 3)],
            );
            self.boxed_text(&l.label, r, self.m.note, REF_GREY)?;
        }
        Ok(())
    }

    /// Vertical reference lines with labels near the top.
    pub(super) fn v_lines(
        &self,
        p: &Plot,
        lines: &[(f64, String, RGBColor, bool)],
        placer: &mut LabelPlacer,
    ) -> DrawResult {
        for (v, label, colour, dashed) in lines.iter().filter(|l| l.0.is_finite()) {
            let x = p.px(*v);
            if *dashed {
                self.dashed((x, p.r.y0), (x, p.r.y1), *colour, self.m.line, 14)?;
            } else {
                self.path(vec![(x, p.r.y0), (x, p.r.y1)], *colour, self.m.line)?;
            }
            let (w, h) = self.label_box(label, self.m.note);
            let mut cands = Vec::new();
            for k in 0..8 {
                let y = p.r.y0 + 4 + k * (h + 2);
                cands.push((x + 4, y));
                cands.push((x - w - 4, y));
            }
            let r = placer.place((w, h), &cands);
            self.boxed_text(label, r, self.m.note, *colour)?;
        }
        Ok(())
    }
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
