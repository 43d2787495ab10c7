//! The reporter's drawing layer: it turns already-computed bands, bins and
//! quantiles into PNG and SVG; it computes no statistics.
//!
//! Every chart is a plain input struct plus a [`ChartStyle`]; each drawing
//! function returns a [`Rendered`] pair (encoded PNG bytes and an SVG string)
//! and does no file I/O, so the caller decides where and how files are
//! written.
//!
//! Text is drawn with the bundled DejaVu Sans font (see
//! `assets/fonts/LICENSE`), registered once with plotters' `ab_glyph`
//! renderer, so no system font library is needed.
//!
//! Input rules, shared by every chart:
//! - empty inputs (no x values, no series, no bins, no rows) give
//!   [`ChartError::EmptyInput`];
//! - vectors that must line up but differ in length, or x values that go
//!   backwards, give [`ChartError::InvalidInput`];
//! - a non-finite value (NaN or ±inf) is skipped where a point can be left
//!   out (lines and bands break at it, a marker is not drawn); if nothing
//!   drawable remains the result is [`ChartError::NoFiniteData`];
//! - collapsed data (all values equal, one x point, one category, all
//!   counts zero) still draws a readable chart: ranges are padded.

use std::fmt;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{register_font, FontFamily, FontStyle, FontTransform, RGBAColor};

const FONT_REGULAR: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const FONT_BOLD: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

/// Smallest accepted image width in pixels.
pub const MIN_WIDTH: u32 = 320;
/// Smallest accepted image height in pixels.
pub const MIN_HEIGHT: u32 = 200;
/// Largest accepted image width or height in pixels.
pub const MAX_SIDE: u32 = 8192;

// ---------------------------------------------------------------------------
// Public API: style, output, errors, colours
// ---------------------------------------------------------------------------

/// Size and caption of one chart image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartStyle {
    /// Image width in pixels (PNG) and user units (SVG).
    pub width: u32,
    /// Image height in pixels (PNG) and user units (SVG).
    pub height: u32,
    /// Small grey text at the bottom of the image (scenario, paths, seed,
    /// band definitions); `\n` starts a new line, long lines are wrapped.
    /// Empty for none.
    pub caption: String,
}

impl Default for ChartStyle {
    fn default() -> Self {
        Self {
            width: 1600,
            height: 1000,
            caption: String::new(),
        }
    }
}

/// One chart drawn twice: as an encoded PNG file and as an SVG document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The complete PNG file (8-bit RGB), ready to be written as is.
    pub png: Vec<u8>,
    /// The complete SVG document.
    pub svg: String,
}

/// Why a chart could not be drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChartError {
    /// A required input (named) holds nothing.
    EmptyInput(String),
    /// Inputs are inconsistent (lengths differ, x values go backwards, ...).
    InvalidInput(String),
    /// Every value that would be drawn is NaN or infinite.
    NoFiniteData(String),
    /// The image size is outside the accepted range.
    InvalidStyle(String),
    /// The drawing backend or the PNG encoder failed.
    Render(String),
}

impl fmt::Display for ChartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChartError::EmptyInput(what) => write!(f, "chart input is empty: {what}"),
            ChartError::InvalidInput(what) => write!(f, "invalid chart input: {what}"),
            ChartError::NoFiniteData(what) => write!(f, "no finite values to draw: {what}"),
            ChartError::InvalidStyle(what) => write!(f, "invalid chart style: {what}"),
            ChartError::Render(what) => write!(f, "chart rendering failed: {what}"),
        }
    }
}

impl std::error::Error for ChartError {}

/// An opaque 8-bit RGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rgb {
    /// Red, 0–255.
    pub r: u8,
    /// Green, 0–255.
    pub g: u8,
    /// Blue, 0–255.
    pub b: u8,
}

impl Rgb {
    /// A colour from its red, green and blue components.
    pub const fn new(r: u8, g: u8, b: u8) -> Self {
        Self { r, g, b }
    }
}

impl Default for Rgb {
    fn default() -> Self {
        PALETTE[0]
    }
}

/// Colour-blind-safe hues (Okabe–Ito) for series: blue, vermillion, bluish
/// green, reddish purple, orange, sky blue.
pub const PALETTE: [Rgb; 6] = [
    Rgb::new(0, 114, 178),
    Rgb::new(213, 94, 0),
    Rgb::new(0, 158, 115),
    Rgb::new(204, 121, 167),
    Rgb::new(230, 159, 0),
    Rgb::new(86, 180, 233),
];

/// A labelled value on one axis: a horizontal or vertical reference line,
/// or a statistic marker on a histogram. The label is drawn as given (put
/// the value and unit in it if wanted, e.g. "Cap $38B").
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReferenceLine {
    /// Position in data units of the axis it crosses.
    pub value: f64,
    /// Text drawn next to the line.
    pub label: String,
}

/// A labelled point drawn as a marker (e.g. a reported figure).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReferencePoint {
    /// x in data units.
    pub x: f64,
    /// y in data units.
    pub y: f64,
    /// Text drawn next to the marker and in the legend.
    pub label: String,
}

// ---------------------------------------------------------------------------
// Public API: chart inputs and drawing functions
// ---------------------------------------------------------------------------

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
}

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
}

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

/// Line with a shaded band, e.g. a metric against a swept parameter.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BandLineChart {
    /// Title at the top.
    pub title: String,
    /// x-axis title with unit.
    pub x_label: String,
    /// y-axis title with unit.
    pub y_label: String,
    /// x values, non-decreasing.
    pub x: Vec<f64>,
    /// Central line, one value per x.
    pub center: Vec<f64>,
    /// Band lower edge, one value per x.
    pub lower: Vec<f64>,
    /// Band upper edge, one value per x.
    pub upper: Vec<f64>,
    /// Legend text of the line, e.g. "median".
    pub line_label: String,
    /// Legend text of the band, e.g. "90% band".
    pub band_label: String,
    /// Line colour; the band is a tint of it.
    pub hue: Rgb,
    /// Labelled horizontal lines at y values.
    pub horizontal_lines: Vec<ReferenceLine>,
}

/// Draws a fan chart.
pub fn fan_chart(chart: &FanChart, style: &ChartStyle) -> Result<Rendered, ChartError> {
    let prepared = PreparedFan::new(chart)?;
    render(style, &prepared)
}

/// Draws a cumulative-probability chart.
pub fn cumulative_chart(
    chart: &CumulativeChart,
    style: &ChartStyle,
) -> Result<Rendered, ChartError> {
    let prepared = PreparedCumulative::new(chart)?;
    render(style, &prepared)
}

/// Draws a histogram of pre-binned counts.
pub fn histogram_chart(chart: &HistogramChart, style: &ChartStyle) -> Result<Rendered, ChartError> {
    let prepared = PreparedHistogram::new(chart)?;
    render(style, &prepared)
}

/// Draws a box chart.
pub fn box_chart(chart: &BoxChart, style: &ChartStyle) -> Result<Rendered, ChartError> {
    let prepared = PreparedBox::new(chart)?;
    render(style, &prepared)
}

/// Draws a tornado chart.
pub fn tornado_chart(chart: &TornadoChart, style: &ChartStyle) -> Result<Rendered, ChartError> {
    let prepared = PreparedTornado::new(chart)?;
    render(style, &prepared)
}

/// Draws a line with a shaded band.
pub fn band_line_chart(chart: &BandLineChart, style: &ChartStyle) -> Result<Rendered, ChartError> {
    let prepared = PreparedBandLine::new(chart)?;
    render(style, &prepared)
}

// ---------------------------------------------------------------------------
// Rendering driver
// ---------------------------------------------------------------------------

type DrawResult = Result<(), ChartError>;

/// A validated chart that can draw itself on any plotters backend.
trait Drawable {
    fn draw<DB: DrawingBackend>(&self, c: &Canvas<'_, DB>) -> DrawResult;
}

fn render<D: Drawable>(style: &ChartStyle, chart: &D) -> Result<Rendered, ChartError> {
    check_style(style)?;
    ensure_fonts()?;
    let (w, h) = (style.width, style.height);

    let mut rgb = vec![255u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        let canvas = Canvas::new(&root, style);
        chart.draw(&canvas)?;
        root.present().map_err(render_err)?;
    }
    let png = encode_png(&rgb, w, h)?;

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        let canvas = Canvas::new(&root, style);
        chart.draw(&canvas)?;
        root.present().map_err(render_err)?;
    }
    Ok(Rendered { png, svg })
}

fn check_style(style: &ChartStyle) -> DrawResult {
    let ok = |v: u32, min: u32| (min..=MAX_SIDE).contains(&v);
    if !ok(style.width, MIN_WIDTH) || !ok(style.height, MIN_HEIGHT) {
        return Err(ChartError::InvalidStyle(format!(
            "size {}x{} outside {MIN_WIDTH}..={MAX_SIDE} x {MIN_HEIGHT}..={MAX_SIDE}",
            style.width, style.height
        )));
    }
    Ok(())
}

fn ensure_fonts() -> DrawResult {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        let family = FontFamily::SansSerif.as_str();
        register_font(family, FontStyle::Normal, FONT_REGULAR).is_ok()
            && register_font(family, FontStyle::Bold, FONT_BOLD).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(ChartError::Render(
            "bundled DejaVu Sans font did not parse".into(),
        ))
    }
}

fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>, ChartError> {
    let mut out = Vec::with_capacity(rgb.len() / 8);
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Fast);
        let mut writer = enc.write_header().map_err(render_err)?;
        writer.write_image_data(rgb).map_err(render_err)?;
        writer.finish().map_err(render_err)?;
    }
    Ok(out)
}

fn render_err<E: fmt::Display>(e: E) -> ChartError {
    ChartError::Render(e.to_string())
}

// ---------------------------------------------------------------------------
// Pixel geometry, text and primitive drawing
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
struct Rect {
    x0: i32,
    y0: i32,
    x1: i32,
    y1: i32,
}

impl Rect {
    fn new(x0: i32, y0: i32, x1: i32, y1: i32) -> Self {
        Self {
            x0: x0.min(x1),
            y0: y0.min(y1),
            x1: x0.max(x1),
            y1: y0.max(y1),
        }
    }
    fn w(&self) -> i32 {
        self.x1 - self.x0
    }
    fn h(&self) -> i32 {
        self.y1 - self.y0
    }
    fn intersects(&self, o: &Rect) -> bool {
        self.x0 < o.x1 && o.x0 < self.x1 && self.y0 < o.y1 && o.y0 < self.y1
    }
    fn inside(&self, o: &Rect) -> bool {
        self.x0 >= o.x0 && self.x1 <= o.x1 && self.y0 >= o.y0 && self.y1 <= o.y1
    }
    fn contains(&self, p: (i32, i32)) -> bool {
        p.0 >= self.x0 && p.0 <= self.x1 && p.1 >= self.y0 && p.1 <= self.y1
    }
}

/// Font sizes and spacings scaled to the image size.
#[derive(Debug, Clone, Copy)]
struct Metrics {
    title: f64,
    axis: f64,
    tick: f64,
    legend: f64,
    caption: f64,
    note: f64,
    pad: i32,
    line: u32,
}

impl Metrics {
    fn new(w: u32, h: u32) -> Self {
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
struct Canvas<'a, DB: DrawingBackend> {
    area: &'a DrawingArea<DB, Shift>,
    m: Metrics,
    width: i32,
    height: i32,
    caption: &'a str,
}

const INK: RGBColor = RGBColor(33, 33, 33);
const AXIS_GREY: RGBColor = RGBColor(90, 90, 90);
const GRID_GREY: RGBColor = RGBColor(228, 228, 228);
const CAPTION_GREY: RGBColor = RGBColor(95, 95, 95);
const REF_GREY: RGBColor = RGBColor(70, 70, 70);

fn rgb(c: Rgb) -> RGBColor {
    RGBColor(c.r, c.g, c.b)
}

/// `c` blended over white with opacity `a` (an opaque tint).
fn tint(c: Rgb, a: f64) -> RGBColor {
    let f = |v: u8| (255.0 - (255.0 - v as f64) * a).round().clamp(0.0, 255.0) as u8;
    RGBColor(f(c.r), f(c.g), f(c.b))
}

/// `c` darkened towards black by factor `k` in [0, 1].
fn shade(c: Rgb, k: f64) -> RGBColor {
    let f = |v: u8| (v as f64 * (1.0 - k)).round() as u8;
    RGBColor(f(c.r), f(c.g), f(c.b))
}

fn font(px: f64, bold: bool) -> TextStyle<'static> {
    let st = if bold {
        FontStyle::Bold
    } else {
        FontStyle::Normal
    };
    TextStyle::from((FontFamily::SansSerif, px, st).into_font())
}

impl<'a, DB: DrawingBackend> Canvas<'a, DB> {
    fn new(area: &'a DrawingArea<DB, Shift>, style: &'a ChartStyle) -> Self {
        Self {
            area,
            m: Metrics::new(style.width, style.height),
            width: style.width as i32,
            height: style.height as i32,
            caption: &style.caption,
        }
    }

    fn text_w(&self, text: &str, px: f64, bold: bool) -> i32 {
        if text.is_empty() {
            return 0;
        }
        self.area
            .estimate_text_size(text, &font(px, bold))
            .map(|(w, _)| w as i32)
            .unwrap_or((text.chars().count() as f64 * px * 0.6) as i32)
    }

    #[allow(clippy::too_many_arguments)]
    fn text(
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

    fn text_vertical(&self, text: &str, at: (i32, i32), px: f64, colour: RGBColor) -> DrawResult {
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

    fn path(&self, pts: Vec<(i32, i32)>, colour: RGBColor, width: u32) -> DrawResult {
        if pts.len() < 2 {
            return Ok(());
        }
        self.area
            .draw(&PathElement::new(pts, colour.stroke_width(width)))
            .map_err(render_err)
    }

    fn dashed(
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

    fn fill_rect(&self, r: Rect, colour: RGBAColor) -> DrawResult {
        self.area
            .draw(&Rectangle::new(
                [(r.x0, r.y0), (r.x1, r.y1)],
                colour.filled(),
            ))
            .map_err(render_err)
    }

    fn stroke_rect(&self, r: Rect, colour: RGBColor, width: u32) -> DrawResult {
        self.area
            .draw(&Rectangle::new(
                [(r.x0, r.y0), (r.x1, r.y1)],
                colour.stroke_width(width),
            ))
            .map_err(render_err)
    }

    fn polygon(&self, pts: Vec<(i32, i32)>, colour: RGBAColor) -> DrawResult {
        if pts.len() < 3 {
            return Ok(());
        }
        self.area
            .draw(&Polygon::new(pts, colour.filled()))
            .map_err(render_err)
    }

    fn dot(&self, at: (i32, i32), r: i32, fill: RGBColor, outline: RGBColor) -> DrawResult {
        self.area
            .draw(&Circle::new(at, r, fill.filled()))
            .map_err(render_err)?;
        self.area
            .draw(&Circle::new(at, r, outline.stroke_width(2)))
            .map_err(render_err)
    }

    /// Text on a translucent white box; `r` is the box (from `label_box`).
    fn boxed_text(&self, text: &str, r: Rect, px: f64, colour: RGBColor) -> DrawResult {
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
    fn label_box(&self, text: &str, px: f64) -> (i32, i32) {
        let padx = (px * 0.3) as i32;
        (
            self.text_w(text, px, false) + 2 * padx,
            (px * 1.35).round() as i32,
        )
    }

    /// Splits `text` into lines no wider than `max_w` (explicit `\n` kept).
    fn wrap(&self, text: &str, px: f64, max_w: i32) -> Vec<String> {
        let mut out = Vec::new();
        for para in text.split('\n') {
            let mut line = String::new();
            for word in para.split_whitespace() {
                let cand = if line.is_empty() {
                    word.to_string()
                } else {
                    format!("{line} {word}")
                };
                if !line.is_empty() && self.text_w(&cand, px, false) > max_w {
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
struct LabelPlacer {
    bounds: Rect,
    placed: Vec<Rect>,
}

impl LabelPlacer {
    fn new(bounds: Rect) -> Self {
        Self {
            bounds,
            placed: Vec::new(),
        }
    }

    /// Picks the first candidate top-left corner whose box is free; then
    /// the candidates shifted up or down by whole label heights (nearest
    /// first), so that labels of nearby points stack instead of covering
    /// each other; falls back to the first candidate moved inside the
    /// bounds.
    fn place(&mut self, size: (i32, i32), candidates: &[(i32, i32)]) -> Rect {
        let mk = |p: (i32, i32)| Rect::new(p.0, p.1, p.0 + size.0, p.1 + size.1);
        let step = size.1 + 2;
        let shifted = (0..=12i32)
            .flat_map(|k| if k == 0 { vec![0] } else { vec![-k, k] })
            .flat_map(|k| candidates.iter().map(move |&(x, y)| (x, y + k * step)));
        let free = shifted
            .map(mk)
            .find(|r| r.inside(&self.bounds) && !self.placed.iter().any(|o| o.intersects(r)));
        let r = free.unwrap_or_else(|| {
            let p = candidates
                .first()
                .copied()
                .unwrap_or((self.bounds.x0, self.bounds.y0));
            let x = p.0.min(self.bounds.x1 - size.0).max(self.bounds.x0);
            let y = p.1.min(self.bounds.y1 - size.1).max(self.bounds.y0);
            mk((x, y))
        });
        self.placed.push(r);
        r
    }
}

// ---------------------------------------------------------------------------
// Frame: title, legend strip, caption
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Swatch {
    /// Filled square.
    Fill(RGBColor),
    /// Filled square with an outline.
    Boxed(RGBColor, RGBColor),
    /// Solid line.
    Line(RGBColor),
    /// Dashed line.
    Dashed(RGBColor),
    /// Round marker.
    Marker(RGBColor),
    /// Bold group header, no swatch.
    Header,
}

#[derive(Debug, Clone)]
struct LegendEntry {
    swatch: Swatch,
    label: String,
}

fn entry(swatch: Swatch, label: impl Into<String>) -> LegendEntry {
    LegendEntry {
        swatch,
        label: label.into(),
    }
}

/// Legend groups: each group starts a new row and wraps if too wide.
type Legend = Vec<Vec<LegendEntry>>;

impl<DB: DrawingBackend> Canvas<'_, DB> {
    /// Draws background, title, legend rows and caption; returns the free
    /// rectangle left for the plot (axes included).
    fn frame(&self, title: &str, legend: &Legend) -> Result<Rect, ChartError> {
        let m = self.m;
        self.area.fill(&WHITE).map_err(render_err)?;
        let usable = self.width - 2 * m.pad;
        let mut y = m.pad;

        if !title.is_empty() {
            let mut px = m.title;
            while px > m.tick && self.text_w(title, px, true) > usable {
                px -= 1.0;
            }
            for line in self.wrap(title, px, usable) {
                self.text(
                    &line,
                    (self.width / 2, y),
                    px,
                    true,
                    INK,
                    HPos::Center,
                    VPos::Top,
                )?;
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
                self.draw_entry(e, x, y + row_h / 2)?;
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
            for (i, line) in lines.iter().enumerate() {
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

    fn swatch_w(&self) -> i32 {
        (self.m.legend * 2.2) as i32
    }

    fn entry_w(&self, e: &LegendEntry) -> i32 {
        let gap = (self.m.legend * 0.4) as i32;
        let spacing = (self.m.legend * 1.3) as i32;
        match e.swatch {
            Swatch::Header => self.text_w(&e.label, self.m.legend, true) + gap * 2,
            _ => self.swatch_w() + gap + self.text_w(&e.label, self.m.legend, false) + spacing,
        }
    }

    fn legend_rows(&self, legend: &Legend, max_w: i32) -> Vec<Vec<LegendEntry>> {
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

    fn draw_entry(&self, e: &LegendEntry, x: i32, cy: i32) -> DrawResult {
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
            Swatch::Fill(c) => self.fill_rect(sq, c.to_rgba())?,
            Swatch::Boxed(f, o) => {
                self.fill_rect(sq, f.to_rgba())?;
                self.stroke_rect(sq, *o, 2)?;
            }
            Swatch::Line(c) => self.path(vec![(x, cy), (x + sw, cy)], *c, m.line + 1)?,
            Swatch::Dashed(c) => self.dashed((x, cy), (x + sw, cy), *c, m.line, sw / 4)?,
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

// ---------------------------------------------------------------------------
// Axes: ranges, ticks, number formats, layout
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum AxisKind {
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
struct AxisSpec {
    kind: AxisKind,
    lo: f64,
    hi: f64,
    /// Extend to 0 when the data are one-signed and not far from it.
    towards_zero: bool,
    /// Round the range out to whole ticks.
    snap: bool,
    /// Fractional padding added on each side before snapping.
    pad: f64,
}

impl AxisSpec {
    fn numeric(kind: AxisKind, (lo, hi): (f64, f64)) -> Self {
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
struct Axis {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
    labels: Vec<String>,
    category: bool,
}

/// `lo..hi` widened so that it has a positive, finite span.
fn padded_range(lo: f64, hi: f64, kind: &AxisKind) -> (f64, f64) {
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

fn nice_step(raw: f64, year: bool) -> f64 {
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

fn step_decimals(step: f64) -> usize {
    (0..8)
        .find(|&d| {
            let v = step * 10f64.powi(d as i32);
            (v - v.round()).abs() < 1e-6 * v.abs().max(1.0)
        })
        .unwrap_or(8)
}

/// Number with fixed decimals, thousands separators and a true minus sign.
fn fmt_fixed(v: f64, decimals: usize) -> String {
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
fn fmt_sig(v: f64) -> String {
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

fn build_axis(spec: &AxisSpec, max_ticks: usize) -> Axis {
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
struct Plot {
    r: Rect,
    x: Axis,
    y: Axis,
    /// Wrapped x tick labels (categories may take several lines).
    x_lines: Vec<Vec<String>>,
    x_label_px: f64,
    y_label_px: f64,
}

impl Plot {
    fn px(&self, v: f64) -> i32 {
        let t = (v - self.x.lo) / (self.x.hi - self.x.lo);
        (self.r.x0 as f64 + t.clamp(-1.0, 2.0) * self.r.w() as f64).round() as i32
    }
    fn py(&self, v: f64) -> i32 {
        let t = (v - self.y.lo) / (self.y.hi - self.y.lo);
        (self.r.y1 as f64 - t.clamp(-1.0, 2.0) * self.r.h() as f64).round() as i32
    }
    fn pt(&self, x: f64, y: f64) -> (i32, i32) {
        (self.px(x), self.py(y))
    }
    /// Pixel width of one x unit.
    fn x_unit(&self) -> f64 {
        self.r.w() as f64 / (self.x.hi - self.x.lo)
    }
    /// Pixel height of one y unit.
    fn y_unit(&self) -> f64 {
        self.r.h() as f64 / (self.y.hi - self.y.lo)
    }
}

impl<DB: DrawingBackend> Canvas<'_, DB> {
    /// Chooses ticks for both axes so that labels fit, and the plot
    /// rectangle inside `area` leaving room for tick labels and titles.
    fn layout(
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

    fn fit_y_axis(&self, ys: &AxisSpec, max_ticks: usize, max_w: f64) -> (Axis, f64) {
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

    fn fit_x_axis(&self, xs: &AxisSpec, plot_w: i32) -> (Axis, Vec<Vec<String>>, f64) {
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
    fn axes(&self, p: &Plot, x_title: &str, y_title: &str, area: Rect) -> DrawResult {
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
    fn h_lines(&self, p: &Plot, lines: &[ReferenceLine], placer: &mut LabelPlacer) -> DrawResult {
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
    fn v_lines(
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

fn check_len(what: &str, got: usize, want: usize) -> DrawResult {
    if got != want {
        return Err(ChartError::InvalidInput(format!(
            "{what} has {got} values, expected {want}"
        )));
    }
    Ok(())
}

fn check_non_decreasing(what: &str, x: &[f64]) -> DrawResult {
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
struct Extent(f64, f64);

impl Extent {
    fn new() -> Self {
        Extent(f64::INFINITY, f64::NEG_INFINITY)
    }
    fn add(&mut self, v: f64) {
        if v.is_finite() {
            self.0 = self.0.min(v);
            self.1 = self.1.max(v);
        }
    }
    fn add_all(&mut self, vs: &[f64]) {
        for &v in vs {
            self.add(v);
        }
    }
    fn is_empty(&self) -> bool {
        self.0 > self.1
    }
    fn pair(&self) -> (f64, f64) {
        (self.0, self.1)
    }
}

/// Maximal runs of indices where `ok(i)` holds.
fn runs(n: usize, ok: impl Fn(usize) -> bool) -> Vec<Vec<usize>> {
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
    fn band(&self, p: &Plot, x: &[f64], lo: &[f64], hi: &[f64], c: RGBAColor) -> DrawResult {
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
    fn line(
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

// ---------------------------------------------------------------------------
// 1. Fan chart
// ---------------------------------------------------------------------------

struct PreparedFan<'a> {
    chart: &'a FanChart,
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

impl<'a> PreparedFan<'a> {
    fn new(chart: &'a FanChart) -> Result<Self, ChartError> {
        let n = chart.x.len();
        if n == 0 {
            return Err(ChartError::EmptyInput("fan chart x".into()));
        }
        if chart.series.is_empty() {
            return Err(ChartError::EmptyInput("fan chart series".into()));
        }
        check_non_decreasing("fan chart x", &chart.x)?;
        let mut xe = Extent::new();
        xe.add_all(&chart.x);
        let mut ye = Extent::new();
        let mut band_order = Vec::new();
        for s in &chart.series {
            check_len(&format!("median of '{}'", s.label), s.median.len(), n)?;
            for (i, &x) in chart.x.iter().enumerate() {
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
                    if chart.x[i].is_finite() && b.lower[i].is_finite() && b.upper[i].is_finite() {
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
        for p in &chart.reference_points {
            if p.x.is_finite() && p.y.is_finite() {
                xe.add(p.x);
                ye.add(p.y);
            }
        }
        for l in &chart.horizontal_lines {
            ye.add(l.value);
        }
        for l in &chart.vertical_lines {
            xe.add(l.value);
        }
        let mut xs = AxisSpec::numeric(AxisKind::Year, xe.pair());
        xs.pad = 0.0;
        xs.snap = false;
        if xe.0 == xe.1 {
            xs.snap = true;
        }
        let mut ys = AxisSpec::numeric(AxisKind::Number, ye.pair());
        ys.towards_zero = true;
        Ok(Self {
            chart,
            band_order,
            xs,
            ys,
        })
    }

    fn legend(&self) -> Legend {
        let mut legend = Vec::new();
        let multi = self.chart.series.len() > 1;
        for (s, order) in self.chart.series.iter().zip(&self.band_order) {
            let mut group = Vec::new();
            if multi || !s.label.is_empty() {
                group.push(entry(Swatch::Header, format!("{}:", s.label)));
            }
            group.push(entry(Swatch::Line(rgb(s.hue)), "median"));
            for (k, &bi) in order.iter().enumerate() {
                let fill = tint(s.hue, layered_alpha(k + 1));
                group.push(entry(Swatch::Fill(fill), s.bands[bi].label.clone()));
            }
            legend.push(group);
        }
        let mut refs = Vec::new();
        for p in &self.chart.reference_points {
            refs.push(entry(Swatch::Marker(INK), p.label.clone()));
        }
        for l in self
            .chart
            .horizontal_lines
            .iter()
            .chain(&self.chart.vertical_lines)
        {
            refs.push(entry(Swatch::Dashed(REF_GREY), l.label.clone()));
        }
        if !refs.is_empty() {
            legend.push(refs);
        }
        legend
    }
}

impl Drawable for PreparedFan<'_> {
    fn draw<DB: DrawingBackend>(&self, c: &Canvas<'_, DB>) -> DrawResult {
        let ch = self.chart;
        let area = c.frame(&ch.title, &self.legend())?;
        let p = c.layout(area, &self.xs, &self.ys, &ch.x_label, &ch.y_label);
        c.axes(&p, &ch.x_label, &ch.y_label, area)?;
        for (s, order) in ch.series.iter().zip(&self.band_order) {
            for &bi in order {
                let b = &s.bands[bi];
                let col = rgb(s.hue).mix(BAND_ALPHA);
                c.band(&p, &ch.x, &b.lower, &b.upper, col)?;
            }
        }
        for s in &ch.series {
            c.line(&p, &ch.x, &s.median, rgb(s.hue), c.m.line + 1, false)?;
        }
        let mut placer = LabelPlacer::new(p.r);
        c.h_lines(&p, &ch.horizontal_lines, &mut placer)?;
        let vl: Vec<_> = ch
            .vertical_lines
            .iter()
            .map(|l| (l.value, l.label.clone(), REF_GREY, true))
            .collect();
        c.v_lines(&p, &vl, &mut placer)?;
        let r = (c.m.tick * 0.4) as i32;
        for pt in ch
            .reference_points
            .iter()
            .filter(|q| q.x.is_finite() && q.y.is_finite())
        {
            let at = p.pt(pt.x, pt.y);
            c.dot(at, r, INK, WHITE)?;
            let (w, h) = c.label_box(&pt.label, c.m.note);
            let d = r + 4;
            let rect = placer.place(
                (w, h),
                &[
                    (at.0 + d, at.1 - h - d / 2),
                    (at.0 + d, at.1 + d / 2),
                    (at.0 - d - w, at.1 - h - d / 2),
                    (at.0 - d - w, at.1 + d / 2),
                    (at.0 - w / 2, at.1 - h - d),
                    (at.0 - w / 2, at.1 + d),
                ],
            );
            c.boxed_text(&pt.label, rect, c.m.note, INK)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// 2. Cumulative-probability chart
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// 3. Histogram
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// 4. Box chart
// ---------------------------------------------------------------------------

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
        for l in &chart.horizontal_lines {
            ye.add(l.value);
        }
        let names = chart.categories.iter().map(|b| b.label.clone()).collect();
        let xs = AxisSpec::numeric(AxisKind::Category(names), (0.0, 0.0));
        let mut ys = AxisSpec::numeric(AxisKind::Number, ye.pair());
        ys.towards_zero = true;
        Ok(Self {
            chart,
            stats,
            xs,
            ys,
        })
    }
}

impl Drawable for PreparedBox<'_> {
    fn draw<DB: DrawingBackend>(&self, c: &Canvas<'_, DB>) -> DrawResult {
        let ch = self.chart;
        let fill = tint(ch.hue, 0.35);
        let dark = shade(ch.hue, 0.35);
        let legend = vec![vec![
            entry(Swatch::Boxed(fill, dark), "25th–75th percentile"),
            entry(Swatch::Line(dark), "median"),
            entry(Swatch::Line(AXIS_GREY), "whiskers: 5th–95th percentile"),
        ]];
        let area = c.frame(&ch.title, &legend)?;
        let p = c.layout(area, &self.xs, &self.ys, &ch.x_label, &ch.y_label);
        c.axes(&p, &ch.x_label, &ch.y_label, area)?;
        let slot = p.x_unit();
        let half = (slot * 0.28).clamp(4.0, c.m.tick * 4.0) as i32;
        let cap = half / 2;
        let lw = c.m.line;
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
            let [p5, p25, p50, p75, p95] = q.map(|v| p.py(v));
            c.path(vec![(xc, p95), (xc, p75)], AXIS_GREY, lw)?;
            c.path(vec![(xc, p25), (xc, p5)], AXIS_GREY, lw)?;
            c.path(vec![(xc - cap, p95), (xc + cap, p95)], AXIS_GREY, lw)?;
            c.path(vec![(xc - cap, p5), (xc + cap, p5)], AXIS_GREY, lw)?;
            let r = Rect::new(xc - half, p75, xc + half, p25.max(p75 + 2));
            c.fill_rect(r, fill.to_rgba())?;
            c.stroke_rect(r, dark, 2)?;
            c.path(vec![(xc - half, p50), (xc + half, p50)], dark, lw + 2)?;
        }
        let mut placer = LabelPlacer::new(p.r);
        c.h_lines(&p, &ch.horizontal_lines, &mut placer)
    }
}

// ---------------------------------------------------------------------------
// 5. Tornado chart
// ---------------------------------------------------------------------------

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
            for (v, col) in [(row.low, lo_c), (row.high, hi_c)] {
                if !v.is_finite() {
                    continue;
                }
                let x = p.px(v);
                let r = Rect::new(base_x, yc - half, x, yc + half);
                if r.w() > 0 {
                    c.fill_rect(r, col.to_rgba())?;
                }
                let (hpos, dx) = if v >= ch.base_value {
                    (HPos::Left, 6)
                } else {
                    (HPos::Right, -6)
                };
                c.text(
                    &fmt_sig(v),
                    (x + dx, yc),
                    px,
                    false,
                    INK,
                    hpos,
                    VPos::Center,
                )?;
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

// ---------------------------------------------------------------------------
// 6. Line with band
// ---------------------------------------------------------------------------

struct PreparedBandLine<'a> {
    chart: &'a BandLineChart,
    xs: AxisSpec,
    ys: AxisSpec,
}

impl<'a> PreparedBandLine<'a> {
    fn new(chart: &'a BandLineChart) -> Result<Self, ChartError> {
        let n = chart.x.len();
        if n == 0 {
            return Err(ChartError::EmptyInput("band line chart x".into()));
        }
        check_len("center", chart.center.len(), n)?;
        check_len("lower", chart.lower.len(), n)?;
        check_len("upper", chart.upper.len(), n)?;
        check_non_decreasing("band line chart x", &chart.x)?;
        let (mut xe, mut ye) = (Extent::new(), Extent::new());
        for i in (0..n).filter(|&i| chart.x[i].is_finite()) {
            let line_ok = chart.center[i].is_finite();
            let band_ok = chart.lower[i].is_finite() && chart.upper[i].is_finite();
            if line_ok {
                ye.add(chart.center[i]);
            }
            if band_ok {
                ye.add(chart.lower[i]);
                ye.add(chart.upper[i]);
            }
            if line_ok || band_ok {
                xe.add(chart.x[i]);
            }
        }
        if xe.is_empty() || ye.is_empty() {
            return Err(ChartError::NoFiniteData("band line chart".into()));
        }
        for l in &chart.horizontal_lines {
            ye.add(l.value);
        }
        let mut xs = AxisSpec::numeric(AxisKind::Number, xe.pair());
        xs.pad = 0.0;
        xs.snap = false;
        let mut ys = AxisSpec::numeric(AxisKind::Number, ye.pair());
        ys.towards_zero = true;
        Ok(Self { chart, xs, ys })
    }
}

impl Drawable for PreparedBandLine<'_> {
    fn draw<DB: DrawingBackend>(&self, c: &Canvas<'_, DB>) -> DrawResult {
        let ch = self.chart;
        let band_fill = tint(ch.hue, 0.3);
        let mut group = Vec::new();
        if !ch.line_label.is_empty() {
            group.push(entry(Swatch::Line(rgb(ch.hue)), ch.line_label.clone()));
        }
        if !ch.band_label.is_empty() {
            group.push(entry(Swatch::Fill(band_fill), ch.band_label.clone()));
        }
        let area = c.frame(&ch.title, &vec![group])?;
        let p = c.layout(area, &self.xs, &self.ys, &ch.x_label, &ch.y_label);
        c.axes(&p, &ch.x_label, &ch.y_label, area)?;
        c.band(&p, &ch.x, &ch.lower, &ch.upper, band_fill.to_rgba())?;
        c.line(&p, &ch.x, &ch.center, rgb(ch.hue), c.m.line + 1, false)?;
        // Mark the sampled points when there are few of them.
        if ch.x.len() <= 25 {
            for (x, y) in ch.x.iter().zip(&ch.center) {
                if x.is_finite() && y.is_finite() {
                    c.dot(p.pt(*x, *y), (c.m.tick * 0.32) as i32, rgb(ch.hue), WHITE)?;
                }
            }
        }
        let mut placer = LabelPlacer::new(p.r);
        c.h_lines(&p, &ch.horizontal_lines, &mut placer)
    }
}
