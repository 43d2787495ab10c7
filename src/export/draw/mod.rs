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
//! One module per chart family ([`fan`](fan_chart), cumulative,
//! histogram, box, tornado, band line); the shared layout (text, labels,
//! legend, frame) and the axes live in two private modules beside them.
//! This layer imports nothing from the rest of the crate.
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

use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

mod band_line;
mod bars;
mod boxplot;
mod cumulative;
mod fan;
mod histogram;
mod layout;
mod plot;
mod tornado;

pub use band_line::{band_line_chart, BandLineChart, LineSeries};
pub use bars::{bar_chart, BarChart, BarGroup};
pub use boxplot::{box_chart, BoxChart, BoxStats};
pub use cumulative::{cumulative_chart, CumulativeChart, CurveSeries, XAxis};
pub use fan::{fan_chart, Band, FanChart, FanSeries};
pub use histogram::{histogram_chart, HistogramChart, PointMass};
pub use tornado::{tornado_chart, TornadoChart, TornadoRow};

use layout::Canvas;

const FONT_REGULAR: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
const FONT_BOLD: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans-Bold.ttf");

/// The font family written into SVG files: the bundled DejaVu Sans first
/// (installed on most Linux systems), then Verdana, whose widths are
/// close to it, so that a browser lays text out as the PNG has it.
const FAMILY: &str = "DejaVu Sans, Verdana, sans-serif";

/// Smallest accepted image width in pixels (below it the caption and the
/// legends leave too little room to read the plot).
pub const MIN_WIDTH: u32 = 640;
/// Smallest accepted image height in pixels.
pub const MIN_HEIGHT: u32 = 400;
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
/// the value and unit in it if wanted, e.g. "Cap $38B"), next to the line
/// where there is room, else in the legend.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReferenceLine {
    /// Position in data units of the axis it crosses.
    pub value: f64,
    /// Text drawn next to the line.
    pub label: String,
    /// Colour of the line and its label (e.g. the hue of the regime a cap
    /// belongs to); `None` for the neutral dark grey.
    pub hue: Option<Rgb>,
}

/// A labelled point drawn as a marker (e.g. a reported figure).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReferencePoint {
    /// x in data units.
    pub x: f64,
    /// y in data units.
    pub y: f64,
    /// Text drawn next to the marker (or in the legend where there is no
    /// room next to it).
    pub label: String,
}

/// Width in user units of `text` in an SVG this layer drew at `font_size`
/// (the `font-size` attribute), bold or not: with the position and anchor
/// of a `<text>` element it gives the box the text covers, for checks
/// that no two texts of a chart overlap.
pub fn svg_text_width(text: &str, font_size: f64, bold: bool) -> f64 {
    if ensure_fonts().is_err() || text.is_empty() {
        return 0.0;
    }
    // plotters writes font-size = pixel size / 1.24 into SVG files.
    layout::measure(text, font_size * SVG_FONT_SCALE, bold)
}

/// plotters' ratio of a text's pixel size to the SVG `font-size` it writes.
const SVG_FONT_SCALE: f64 = 1.24;

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
        register_font(FAMILY, FontStyle::Normal, FONT_REGULAR).is_ok()
            && register_font(FAMILY, FontStyle::Bold, FONT_BOLD).is_ok()
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
