//! Shared layout of every chart: pixel geometry, fonts and text, the
//! primitives (lines, dashes, boxes, dots), label placement that never
//! lets two labels overlap, and the frame (title, legend strip, caption).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontFamily, FontStyle, FontTransform, RGBAColor};

use super::{render_err, ChartError, ChartStyle, DrawResult, Rgb, FAMILY};

// ---------------------------------------------------------------------------
// Pixel geometry, text and primitive drawing
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Rect {
    pub(super) x0: i32,
    pub(super) y0: i32,
    pub(super) x1: i32,
    pub(super) y1: i32,
}

impl Rect {
    pub(super) fn new(x0: i32, y0: i32, x1: i32, y1: i32) -> Self {
        Self {
            x0: x0.min(x1),
            y0: y0.min(y1),
            x1: x0.max(x1),
            y1: y0.max(y1),
        }
    }
    pub(super) fn w(&self) -> i32 {
        self.x1 - self.x0
    }
    pub(super) fn h(&self) -> i32 {
        self.y1 - self.y0
    }
    pub(super) fn intersects(&self, o: &Rect) -> bool {
        self.x0 < o.x1 && o.x0 < self.x1 && self.y0 < o.y1 && o.y0 < self.y1
    }
    pub(super) fn inside(&self, o: &Rect) -> bool {
        self.x0 >= o.x0 && self.x1 <= o.x1 && self.y0 >= o.y0 && self.y1 <= o.y1
    }
    pub(super) fn contains(&self, p: (i32, i32)) -> bool {
        p.0 >= self.x0 && p.0 <= self.x1 && p.1 >= self.y0 && p.1 <= self.y1
    }
}

/// Font sizes and spacings scaled to the image size.
#[derive(Debug, Clone, Copy)]
pub(super) struct Metrics {
    pub(super) title: f64,
    pub(super) axis: f64,
    pub(super) tick: f64,
    pub(super) legend: f64,
    pub(super) caption: f64,
    pub(super) note: f64,
    pub(super) pad: i32,
    pub(super) line: u32,
}

impl Metrics {
    pub(super) fn new(w: u32, h: u32) -> Self {
        let s = (w as f64 / 1600.0).min(h as f64 / 1000.0);
        let px = |base: f64, min: f64| (base * s).max(min).round();
        Self {
            title: px(36.0, 14.0),
            axis: px(26.0, 11.0),
            tick: px(22.0, 10.0),
            legend: px(22.0, 10.0),
            caption: px(19.0, 9.0),
            note: px(21.0, 10.0),
            pad: (16.0 * s).max(5.0).round() as i32,
            line: (2.5 * s).max(1.0).round() as u32,
        }
    }
}

/// A drawing area plus the metrics and caption of the chart being drawn.
pub(super) struct Canvas<'a, DB: DrawingBackend> {
    pub(super) area: &'a DrawingArea<DB, Shift>,
    pub(super) m: Metrics,
    pub(super) width: i32,
    pub(super) height: i32,
    pub(super) caption: &'a str,
}

pub(super) const INK: RGBColor = RGBColor(33, 33, 33);
pub(super) const AXIS_GREY: RGBColor = RGBColor(90, 90, 90);
pub(super) const GRID_GREY: RGBColor = RGBColor(228, 228, 228);
pub(super) const CAPTION_GREY: RGBColor = RGBColor(95, 95, 95);
pub(super) const REF_GREY: RGBColor = RGBColor(70, 70, 70);

pub(super) fn rgb(c: Rgb) -> RGBColor {
    RGBColor(c.r, c.g, c.b)
}

/// `c` blended over white with opacity `a` (an opaque tint).
pub(super) fn tint(c: Rgb, a: f64) -> RGBColor {
    let f = |v: u8| (255.0 - (255.0 - v as f64) * a).round().clamp(0.0, 255.0) as u8;
    RGBColor(f(c.r), f(c.g), f(c.b))
}

/// `c` darkened towards black by factor `k` in [0, 1].
pub(super) fn shade(c: Rgb, k: f64) -> RGBColor {
    let f = |v: u8| (v as f64 * (1.0 - k)).round() as u8;
    RGBColor(f(c.r), f(c.g), f(c.b))
}

pub(super) fn font(px: f64, bold: bool) -> TextStyle<'static> {
    let st = if bold {
        FontStyle::Bold
    } else {
        FontStyle::Normal
    };
    TextStyle::from((FontFamily::Name(FAMILY), px, st).into_font())
}

/// Width in pixels of `text` at pixel size `px` in the bundled font (the
/// fonts must be registered).
pub(super) fn measure(text: &str, px: f64, bold: bool) -> f64 {
    font(px, bold)
        .font
        .box_size(text)
        .map(|(w, _)| w as f64)
        .unwrap_or(text.chars().count() as f64 * px * 0.6)
}

impl<'a, DB: DrawingBackend> Canvas<'a, DB> {
    pub(super) fn new(area: &'a DrawingArea<DB, Shift>, style: &'a ChartStyle) -> Self {
        Self {
            area,
            m: Metrics::new(style.width, style.height),
            width: style.width as i32,
            height: style.height as i32,
            caption: &style.caption,
        }
    }

    pub(super) fn text_w(&self, text: &str, px: f64, bold: bool) -> i32 {
        if text.is_empty() {
            return 0;
        }
        measure(text, px, bold).ceil() as i32
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn text(
        &self,
        text: &str,
        at: (i32, i32),
        px: f64,
        bold: bool,
        colour: RGBColor,
        h: HPos,
        v: VPos,
    ) -> DrawResult {
        if text.is_empty() {
            return Ok(());
        }
        let st = font(px, bold).color(&colour).pos(Pos::new(h, v));
        self.area
            .draw(&Text::new(text.to_string(), at, st))
            .map_err(render_err)
    }

    pub(super) fn text_vertical(
        &self,
        text: &str,
        at: (i32, i32),
        px: f64,
        colour: RGBColor,
    ) -> DrawResult {
        if text.is_empty() {
            return Ok(());
        }
        let st = font(px, false)
            .color(&colour)
            .transform(FontTransform::Rotate270)
            .pos(Pos::new(HPos::Center, VPos::Center));
        self.area
            .draw(&Text::new(text.to_string(), at, st))
            .map_err(render_err)
    }

    pub(super) fn path(&self, pts: Vec<(i32, i32)>, colour: RGBColor, width: u32) -> DrawResult {
        if pts.len() < 2 {
            return Ok(());
        }
        self.area
            .draw(&PathElement::new(pts, colour.stroke_width(width)))
            .map_err(render_err)
    }

    pub(super) fn dashed(
        &self,
        a: (i32, i32),
        b: (i32, i32),
        colour: RGBColor,
        width: u32,
        dash: i32,
    ) -> DrawResult {
        let (dx, dy) = ((b.0 - a.0) as f64, (b.1 - a.1) as f64);
        let len = (dx * dx + dy * dy).sqrt();
        if len < 1.0 {
            return Ok(());
        }
        let gap = (dash as f64 * 0.7).max(2.0);
        let mut t = 0.0;
        while t < len {
            let e = (t + dash as f64).min(len);
            let p = |s: f64| {
                (
                    a.0 + (dx * s / len).round() as i32,
                    a.1 + (dy * s / len).round() as i32,
                )
            };
            self.path(vec![p(t), p(e)], colour, width)?;
            t = e + gap;
        }
        Ok(())
    }

    /// A dotted line: short dashes, close together.
    pub(super) fn dotted(
        &self,
        a: (i32, i32),
        b: (i32, i32),
        colour: RGBColor,
        width: u32,
    ) -> DrawResult {
        self.dashed(a, b, colour, width, (width as i32 * 2).max(3))
    }

    pub(super) fn fill_rect(&self, r: Rect, colour: RGBAColor) -> DrawResult {
        self.area
            .draw(&Rectangle::new(
                [(r.x0, r.y0), (r.x1, r.y1)],
                colour.filled(),
            ))
            .map_err(render_err)
    }

    pub(super) fn stroke_rect(&self, r: Rect, colour: RGBColor, width: u32) -> DrawResult {
        self.area
            .draw(&Rectangle::new(
                [(r.x0, r.y0), (r.x1, r.y1)],
                colour.stroke_width(width),
            ))
            .map_err(render_err)
    }

    pub(super) fn polygon(&self, pts: Vec<(i32, i32)>, colour: RGBAColor) -> DrawResult {
        if pts.len() < 3 {
            return Ok(());
        }
        self.area
            .draw(&Polygon::new(pts, colour.filled()))
            .map_err(render_err)
    }

    pub(super) fn dot(
        &self,
        at: (i32, i32),
        r: i32,
        fill: RGBColor,
        outline: RGBColor,
    ) -> DrawResult {
        self.area
            .draw(&Circle::new(at, r, fill.filled()))
            .map_err(render_err)?;
        self.area
            .draw(&Circle::new(at, r, outline.stroke_width(2)))
            .map_err(render_err)
    }

    /// Text on a translucent white box; `r` is the box (from `label_box`).
    pub(super) fn boxed_text(&self, text: &str, r: Rect, px: f64, colour: RGBColor) -> DrawResult {
        self.fill_rect(r, WHITE.mix(0.85))?;
        let padx = (px * 0.3) as i32;
        self.text(
            text,
            (r.x0 + padx, (r.y0 + r.y1) / 2),
            px,
            false,
            colour,
            HPos::Left,
            VPos::Center,
        )
    }

    /// Size (w, h) of the box `boxed_text` draws.
    pub(super) fn label_box(&self, text: &str, px: f64) -> (i32, i32) {
        let padx = (px * 0.3) as i32;
        (
            self.text_w(text, px, false) + 2 * padx,
            (px * 1.35).round() as i32,
        )
    }

    /// Splits `text` into lines no wider than `max_w` (explicit `\n` kept).
    pub(super) fn wrap(&self, text: &str, px: f64, max_w: i32) -> Vec<String> {
        self.wrap_with(text, px, max_w, false)
    }

    /// [`Canvas::wrap`] for bold text.
    pub(super) fn wrap_bold(&self, text: &str, px: f64, max_w: i32) -> Vec<String> {
        self.wrap_with(text, px, max_w, true)
    }

    fn wrap_with(&self, text: &str, px: f64, max_w: i32, bold: bool) -> Vec<String> {
        let mut out = Vec::new();
        for para in text.split('\n') {
            let mut line = String::new();
            for word in para.split_whitespace() {
                let cand = if line.is_empty() {
                    word.to_string()
                } else {
                    format!("{line} {word}")
                };
                if !line.is_empty() && self.text_w(&cand, px, bold) > max_w {
                    out.push(std::mem::replace(&mut line, word.to_string()));
                } else {
                    line = cand;
                }
            }
            out.push(line);
        }
        out
    }
}

/// Places labels so that they neither overlap each other nor leave `bounds`.
pub(super) struct LabelPlacer {
    pub(super) bounds: Rect,
    pub(super) placed: Vec<Rect>,
}

impl LabelPlacer {
    pub(super) fn new(bounds: Rect) -> Self {
        Self {
            bounds,
            placed: Vec::new(),
        }
    }

    /// Reserves `r` (a box drawn by other means, e.g. an annotation) so
    /// that no label is placed over it.
    pub(super) fn reserve(&mut self, r: Rect) {
        self.placed.push(r);
    }

    /// The first candidate top-left corner whose box is inside the bounds
    /// and free of every placed box and of `avoid`; then the candidates
    /// shifted up or down by whole label heights (nearest first), so that
    /// labels of nearby points stack instead of covering each other. None
    /// when no candidate is free: the caller then shows the label
    /// elsewhere (in the legend) instead of over another one.
    pub(super) fn try_place(
        &mut self,
        size: (i32, i32),
        candidates: &[(i32, i32)],
        avoid: &[Rect],
    ) -> Option<Rect> {
        let mk = |p: (i32, i32)| Rect::new(p.0, p.1, p.0 + size.0, p.1 + size.1);
        let step = size.1 + 2;
        let shifted = (0..=12i32)
            .flat_map(|k| if k == 0 { vec![0] } else { vec![-k, k] })
            .flat_map(|k| candidates.iter().map(move |&(x, y)| (x, y + k * step)));
        let free = shifted.map(mk).find(|r| {
            r.inside(&self.bounds)
                && !self.placed.iter().any(|o| o.intersects(r))
                && !avoid.iter().any(|o| o.intersects(r))
        })?;
        self.placed.push(free);
        Some(free)
    }
}

// ---------------------------------------------------------------------------
// Frame: title, legend strip, caption
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub(super) enum Swatch {
    /// Filled square.
    Fill(RGBColor),
    /// Filled square with an outline.
    Boxed(RGBColor, RGBColor),
    /// Solid line.
    Line(RGBColor),
    /// Dashed line.
    Dashed(RGBColor),
    /// Dotted line.
    Dotted(RGBColor),
    /// Round marker.
    Marker(RGBColor),
    /// Bold group header, no swatch.
    Header,
    /// Plain text, no swatch (e.g. a note moved out of the plot).
    Text,
}

#[derive(Debug, Clone)]
pub(super) struct LegendEntry {
    pub(super) swatch: Swatch,
    pub(super) label: String,
}

pub(super) fn entry(swatch: Swatch, label: impl Into<String>) -> LegendEntry {
    LegendEntry {
        swatch,
        label: label.into(),
    }
}

/// Legend groups: each group starts a new row and wraps if too wide.
pub(super) type Legend = Vec<Vec<LegendEntry>>;

impl<DB: DrawingBackend> Canvas<'_, DB> {
    /// Draws background, title, legend rows and caption; returns the free
    /// rectangle left for the plot (axes included).
    pub(super) fn frame(&self, title: &str, legend: &Legend) -> Result<Rect, ChartError> {
        self.frame_impl(title, legend, true)
    }

    /// The rectangle [`Canvas::frame`] would leave for the plot, drawing
    /// nothing (to try a layout before committing to it).
    pub(super) fn frame_rect(&self, title: &str, legend: &Legend) -> Rect {
        self.frame_impl(title, legend, false)
            .unwrap_or_else(|_| unreachable!("measuring draws nothing"))
    }

    fn frame_impl(&self, title: &str, legend: &Legend, draw: bool) -> Result<Rect, ChartError> {
        let m = self.m;
        if draw {
            self.area.fill(&WHITE).map_err(render_err)?;
        }
        let usable = self.width - 2 * m.pad;
        let mut y = m.pad;

        if !title.is_empty() {
            let mut px = m.title;
            while px > m.tick && self.text_w(title, px, true) > usable {
                px -= 1.0;
            }
            for line in self.wrap_bold(title, px, usable) {
                if draw {
                    self.text(
                        &line,
                        (self.width / 2, y),
                        px,
                        true,
                        INK,
                        HPos::Center,
                        VPos::Top,
                    )?;
                }
                y += (px * 1.3) as i32;
            }
            y += m.pad / 2;
        }

        let rows = self.legend_rows(legend, usable);
        let row_h = (m.legend * 1.6) as i32;
        for row in &rows {
            let total: i32 = row.iter().map(|e| self.entry_w(e)).sum();
            let mut x = (self.width - total) / 2;
            for e in row {
                if draw {
                    self.draw_entry(e, x, y + row_h / 2)?;
                }
                x += self.entry_w(e);
            }
            y += row_h;
        }
        if !rows.is_empty() {
            y += m.pad / 2;
        }

        let mut bottom = self.height - m.pad;
        if !self.caption.trim().is_empty() {
            let lines = self.wrap(self.caption, m.caption, usable);
            let lh = (m.caption * 1.3) as i32;
            bottom -= lh * lines.len() as i32;
            for (i, line) in lines.iter().enumerate().filter(|_| draw) {
                self.text(
                    line,
                    (m.pad, bottom + lh * i as i32 + lh / 2),
                    m.caption,
                    false,
                    CAPTION_GREY,
                    HPos::Left,
                    VPos::Center,
                )?;
            }
            bottom -= m.pad / 2;
        }
        Ok(Rect::new(m.pad, y, self.width - m.pad, bottom.max(y + 10)))
    }

    pub(super) fn swatch_w(&self) -> i32 {
        (self.m.legend * 2.2) as i32
    }

    pub(super) fn entry_w(&self, e: &LegendEntry) -> i32 {
        let gap = (self.m.legend * 0.4) as i32;
        let spacing = (self.m.legend * 1.3) as i32;
        match e.swatch {
            Swatch::Header => self.text_w(&e.label, self.m.legend, true) + gap * 2,
            Swatch::Text => {
                self.text_w(&e.label, self.m.legend, false) + (self.m.legend * 1.3) as i32
            }
            _ => self.swatch_w() + gap + self.text_w(&e.label, self.m.legend, false) + spacing,
        }
    }

    pub(super) fn legend_rows(&self, legend: &Legend, max_w: i32) -> Vec<Vec<LegendEntry>> {
        let mut rows = Vec::new();
        for group in legend.iter().filter(|g| !g.is_empty()) {
            let mut row: Vec<LegendEntry> = Vec::new();
            let mut w = 0;
            for e in group {
                let ew = self.entry_w(e);
                if !row.is_empty() && w + ew > max_w {
                    rows.push(std::mem::take(&mut row));
                    w = 0;
                }
                w += ew;
                row.push(e.clone());
            }
            rows.push(row);
        }
        rows
    }

    pub(super) fn draw_entry(&self, e: &LegendEntry, x: i32, cy: i32) -> DrawResult {
        let m = self.m;
        let sw = self.swatch_w();
        let sh = (m.legend * 0.8) as i32;
        let gap = (m.legend * 0.4) as i32;
        let sq = Rect::new(x, cy - sh / 2, x + sw, cy + sh / 2);
        match &e.swatch {
            Swatch::Header => {
                return self.text(
                    &e.label,
                    (x, cy),
                    m.legend,
                    true,
                    INK,
                    HPos::Left,
                    VPos::Center,
                );
            }
            Swatch::Text => {
                return self.text(
                    &e.label,
                    (x, cy),
                    m.legend,
                    false,
                    INK,
                    HPos::Left,
                    VPos::Center,
                );
            }
            Swatch::Fill(c) => self.fill_rect(sq, c.to_rgba())?,
            Swatch::Boxed(f, o) => {
                self.fill_rect(sq, f.to_rgba())?;
                self.stroke_rect(sq, *o, 2)?;
            }
            Swatch::Line(c) => self.path(vec![(x, cy), (x + sw, cy)], *c, m.line + 1)?,
            Swatch::Dashed(c) => self.dashed((x, cy), (x + sw, cy), *c, m.line, sw / 4)?,
            Swatch::Dotted(c) => self.dotted((x, cy), (x + sw, cy), *c, m.line)?,
            Swatch::Marker(c) => self.dot((x + sw / 2, cy), (m.legend * 0.4) as i32, *c, WHITE)?,
        }
        self.text(
            &e.label,
            (x + sw + gap, cy),
            m.legend,
            false,
            INK,
            HPos::Left,
            VPos::Center,
        )
    }
}
