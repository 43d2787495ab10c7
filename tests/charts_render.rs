//! Renders every chart type (normal and degenerate inputs) and checks the
//! PNG decodes to the requested size with real content, and the SVG is
//! well-formed XML that contains the title.

use std::collections::HashSet;

use revshare::export::draw::*;

fn style() -> ChartStyle {
    ChartStyle {
        caption: "Scenario: test · 10,000 paths · seed 7 · bands 5–95%, 25–75%".into(),
        ..ChartStyle::default()
    }
}

/// Decodes the PNG, checks its size and returns (variance of luma, distinct colours).
fn png_stats(png_bytes: &[u8], w: u32, h: u32) -> (f64, usize) {
    let decoder = png::Decoder::new(png_bytes);
    let mut reader = decoder.read_info().expect("PNG header");
    let mut buf = vec![0u8; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("PNG frame");
    assert_eq!((info.width, info.height), (w, h), "PNG size");
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let px = &buf[..info.buffer_size()];
    let mut colours = HashSet::new();
    let (mut sum, mut sum2, mut n) = (0.0f64, 0.0f64, 0.0f64);
    for c in px.chunks_exact(3) {
        colours.insert((c[0], c[1], c[2]));
        let l = 0.299 * c[0] as f64 + 0.587 * c[1] as f64 + 0.114 * c[2] as f64;
        sum += l;
        sum2 += l * l;
        n += 1.0;
    }
    let mean = sum / n;
    (sum2 / n - mean * mean, colours.len())
}

fn check(r: &Rendered, st: &ChartStyle, title: &str) {
    let (var, colours) = png_stats(&r.png, st.width, st.height);
    assert!(var > 50.0, "{title}: luma variance too low ({var})");
    assert!(colours >= 8, "{title}: only {colours} distinct colours");
    let doc = roxmltree::Document::parse(&r.svg).expect("SVG is well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let texts: String = doc
        .descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(texts.contains(title), "SVG lacks title {title:?}");
}

fn fan(n: usize) -> FanChart {
    let x: Vec<f64> = (0..n).map(|i| 2026.0 + i as f64 * 0.25).collect();
    let median: Vec<f64> = x.iter().map(|t| 2.0 + (t - 2026.0) * 3.0).collect();
    let band = |label: &str, k: f64| Band {
        label: label.into(),
        lower: median.iter().map(|m| m - k).collect(),
        upper: median.iter().map(|m| m + k).collect(),
    };
    FanChart {
        title: "Fan & <test> \"chart\"".into(),
        x_label: "Calendar year".into(),
        y_label: "$B / year".into(),
        series: vec![FanSeries {
            label: "Base".into(),
            hue: PALETTE[0],
            bands: vec![band("25–75%", 0.5), band("5–95%", 1.5), band("10–90%", 1.0)],
            median,
        }],
        x,
        reference_points: vec![ReferencePoint {
            x: 2027.0,
            y: 6.0,
            label: "reported".into(),
        }],
        horizontal_lines: vec![ReferenceLine {
            value: 10.0,
            label: "Cap $38B".into(),
            hue: None,
        }],
        vertical_lines: vec![ReferenceLine {
            value: 2030.0,
            label: "end of accrual window".into(),
            hue: None,
        }],
        log_y: false,
    }
}

#[test]
fn fan_chart_renders() {
    let c = fan(21);
    let r = fan_chart(&c, &style()).unwrap();
    check(&r, &style(), &c.title);
}

#[test]
fn fan_chart_two_series_and_small_size() {
    let mut c = fan(21);
    let mut s2 = c.series[0].clone();
    s2.label = "Slow".into();
    s2.hue = PALETTE[1];
    for v in &mut s2.median {
        *v *= 0.5;
    }
    c.series.push(s2);
    let st = ChartStyle {
        width: 640,
        height: 400,
        caption: String::new(),
    };
    check(&fan_chart(&c, &st).unwrap(), &st, &c.title);
}

#[test]
fn fan_chart_degenerate_inputs() {
    // all values equal
    let mut c = fan(9);
    for s in &mut c.series {
        s.median.iter_mut().for_each(|v| *v = 4.0);
        for b in &mut s.bands {
            b.lower.iter_mut().for_each(|v| *v = 4.0);
            b.upper.iter_mut().for_each(|v| *v = 4.0);
        }
    }
    c.reference_points.clear();
    c.horizontal_lines.clear();
    c.vertical_lines.clear();
    check(&fan_chart(&c, &style()).unwrap(), &style(), &c.title);

    // a single x point
    let c1 = fan(1);
    check(&fan_chart(&c1, &style()).unwrap(), &style(), &c1.title);

    // NaN and infinities are skipped
    let mut c2 = fan(12);
    c2.series[0].median[3] = f64::NAN;
    c2.series[0].bands[0].upper[5] = f64::INFINITY;
    c2.x[7] = f64::NAN;
    c2.reference_points[0].y = f64::NAN;
    c2.horizontal_lines[0].value = f64::NEG_INFINITY;
    check(&fan_chart(&c2, &style()).unwrap(), &style(), &c2.title);

    // everything NaN: error, no panic
    let mut c3 = fan(5);
    c3.x.iter_mut().for_each(|v| *v = f64::NAN);
    assert!(matches!(
        fan_chart(&c3, &style()),
        Err(ChartError::NoFiniteData(_))
    ));

    // empty and inconsistent inputs
    let mut c4 = fan(5);
    c4.x.clear();
    assert!(matches!(
        fan_chart(&c4, &style()),
        Err(ChartError::EmptyInput(_))
    ));
    let mut c5 = fan(5);
    c5.series.clear();
    assert!(matches!(
        fan_chart(&c5, &style()),
        Err(ChartError::EmptyInput(_))
    ));
    let mut c6 = fan(5);
    c6.series[0].median.pop();
    assert!(matches!(
        fan_chart(&c6, &style()),
        Err(ChartError::InvalidInput(_))
    ));
    let mut c7 = fan(5);
    c7.x.reverse();
    assert!(matches!(
        fan_chart(&c7, &style()),
        Err(ChartError::InvalidInput(_))
    ));
}

#[test]
fn invalid_style_is_an_error() {
    for (w, h) in [(0, 0), (100, 1000), (1600, 10), (100_000, 1000)] {
        let st = ChartStyle {
            width: w,
            height: h,
            caption: String::new(),
        };
        let e = fan_chart(&fan(5), &st).unwrap_err();
        assert!(matches!(e, ChartError::InvalidStyle(_)));
        assert!(!e.to_string().is_empty());
    }
}

fn cumulative(n: usize) -> CumulativeChart {
    let x: Vec<f64> = (0..n).map(|i| 2026.0 + i as f64 / 12.0).collect();
    let y = x
        .iter()
        .map(|t| 0.9 / (1.0 + (-(t - 2028.0) * 2.0f64).exp()))
        .collect();
    CumulativeChart {
        title: "P(cap reached by date)".into(),
        x_label: "Calendar year".into(),
        y_label: "Probability".into(),
        series: vec![CurveSeries {
            label: "Base".into(),
            hue: PALETTE[0],
            x,
            y,
        }],
        step: true,
        annotation: vec!["P(never hit by 2030) = 12.3%".into()],
        vertical_lines: vec![ReferenceLine {
            value: 2030.0,
            label: "2030".into(),
            hue: None,
        }],
        x_axis: XAxis::Year,
    }
}

#[test]
fn cumulative_chart_renders() {
    let c = cumulative(61);
    let r = cumulative_chart(&c, &style()).unwrap();
    check(&r, &style(), &c.title);
    assert!(r.svg.contains("P(never hit by 2030) = 12.3%"));
    let mut lines = c.clone();
    lines.step = false;
    check(
        &cumulative_chart(&lines, &style()).unwrap(),
        &style(),
        &c.title,
    );
}

#[test]
fn cumulative_chart_degenerate_inputs() {
    let c1 = cumulative(1);
    check(
        &cumulative_chart(&c1, &style()).unwrap(),
        &style(),
        &c1.title,
    );
    let mut flat = cumulative(30);
    flat.series[0].y.iter_mut().for_each(|v| *v = 0.0);
    check(
        &cumulative_chart(&flat, &style()).unwrap(),
        &style(),
        &flat.title,
    );
    let mut nan = cumulative(30);
    nan.series[0].y[4] = f64::NAN;
    check(
        &cumulative_chart(&nan, &style()).unwrap(),
        &style(),
        &nan.title,
    );
    let mut all_nan = cumulative(30);
    all_nan.series[0].y.iter_mut().for_each(|v| *v = f64::NAN);
    assert!(matches!(
        cumulative_chart(&all_nan, &style()),
        Err(ChartError::NoFiniteData(_))
    ));
    let mut empty = cumulative(3);
    empty.series.clear();
    assert!(matches!(
        cumulative_chart(&empty, &style()),
        Err(ChartError::EmptyInput(_))
    ));
}

fn histogram() -> HistogramChart {
    let edges: Vec<f64> = (0..=40).map(|i| i as f64 * 2.5).collect();
    let counts = (0..40)
        .map(|i| (1000.0 * (-((i as f64 - 18.0) / 6.0).powi(2)).exp()) as u64)
        .collect();
    HistogramChart {
        title: "Total paid".into(),
        x_label: "Total paid, $B".into(),
        y_label: "Share of paths".into(),
        edges,
        counts,
        hue: PALETTE[0],
        bars_label: "paths, bins of $2.5B".into(),
        point_mass: None,
        markers: vec![
            ReferenceLine {
                value: 46.0,
                label: "mean".into(),
                hue: None,
            },
            ReferenceLine {
                value: 45.0,
                label: "median".into(),
                hue: None,
            },
            ReferenceLine {
                value: 20.0,
                label: "p5".into(),
                hue: None,
            },
            ReferenceLine {
                value: 70.0,
                label: "p95".into(),
                hue: None,
            },
        ],
        reference_lines: vec![
            ReferenceLine {
                value: 38.0,
                label: "cap $38B".into(),
                hue: None,
            },
            ReferenceLine {
                value: 135.0,
                label: "reported prior path $135B".into(),
                hue: None,
            },
        ],
    }
}

#[test]
fn histogram_renders() {
    let c = histogram();
    let r = histogram_chart(&c, &style()).unwrap();
    check(&r, &style(), &c.title);
    assert!(r.svg.contains("reported prior path $135B"));
}

#[test]
fn histogram_degenerate_inputs() {
    let mut zero = histogram();
    zero.counts.iter_mut().for_each(|c| *c = 0);
    check(
        &histogram_chart(&zero, &style()).unwrap(),
        &style(),
        &zero.title,
    );
    let one = HistogramChart {
        title: "One bin".into(),
        edges: vec![5.0, 6.0],
        counts: vec![10],
        ..HistogramChart::default()
    };
    check(
        &histogram_chart(&one, &style()).unwrap(),
        &style(),
        &one.title,
    );
    let mut nan_marker = histogram();
    nan_marker.markers[0].value = f64::NAN;
    check(
        &histogram_chart(&nan_marker, &style()).unwrap(),
        &style(),
        &nan_marker.title,
    );
    let mut bad = histogram();
    bad.edges[3] = f64::NAN;
    assert!(matches!(
        histogram_chart(&bad, &style()),
        Err(ChartError::InvalidInput(_))
    ));
    let mut mismatch = histogram();
    mismatch.counts.pop();
    assert!(matches!(
        histogram_chart(&mismatch, &style()),
        Err(ChartError::InvalidInput(_))
    ));
    let empty = HistogramChart::default();
    assert!(matches!(
        histogram_chart(&empty, &style()),
        Err(ChartError::EmptyInput(_))
    ));
}

fn boxes(n: usize) -> BoxChart {
    BoxChart {
        title: "By year".into(),
        x_label: "Calendar year".into(),
        y_label: "$B / year".into(),
        categories: (0..n)
            .map(|i| {
                let m = 3.0 + i as f64 * 2.0;
                BoxStats {
                    label: (2026 + i).to_string(),
                    p5: m * 0.5,
                    p25: m * 0.8,
                    p50: m,
                    p75: m * 1.2,
                    p95: m * 1.8,
                    hue: None,
                }
            })
            .collect(),
        hue: PALETTE[2],
        horizontal_lines: vec![ReferenceLine {
            value: 8.0,
            label: "Cap".into(),
            hue: None,
        }],
        y_range: None,
        hue_legend: Vec::new(),
    }
}

#[test]
fn box_chart_renders() {
    let c = boxes(6);
    check(&box_chart(&c, &style()).unwrap(), &style(), &c.title);
    let mut long = boxes(4);
    for (i, b) in long.categories.iter_mut().enumerate() {
        b.label = format!("Scenario number {i} with a rather long descriptive name");
    }
    check(&box_chart(&long, &style()).unwrap(), &style(), &long.title);
}

#[test]
fn box_chart_degenerate_inputs() {
    let one = boxes(1);
    check(&box_chart(&one, &style()).unwrap(), &style(), &one.title);
    let mut flat = boxes(3);
    for b in &mut flat.categories {
        (b.p5, b.p25, b.p50, b.p75, b.p95) = (0.0, 0.0, 0.0, 0.0, 0.0);
    }
    check(&box_chart(&flat, &style()).unwrap(), &style(), &flat.title);
    let mut nan = boxes(3);
    nan.categories[1].p50 = f64::NAN;
    check(&box_chart(&nan, &style()).unwrap(), &style(), &nan.title);
    let mut all_nan = boxes(2);
    all_nan
        .categories
        .iter_mut()
        .for_each(|b| b.p95 = f64::INFINITY);
    assert!(matches!(
        box_chart(&all_nan, &style()),
        Err(ChartError::NoFiniteData(_))
    ));
    assert!(matches!(
        box_chart(&boxes(0), &style()),
        Err(ChartError::EmptyInput(_))
    ));
}

fn tornado() -> TornadoChart {
    TornadoChart {
        title: "Sensitivity".into(),
        x_label: "Total paid, $B".into(),
        base_value: 30.0,
        base_label: "base".into(),
        low_label: "low".into(),
        high_label: "high".into(),
        rows: vec![
            TornadoRow {
                label: "growth".into(),
                low: 20.0,
                high: 38.0,
            },
            TornadoRow {
                label: "share rate".into(),
                low: 25.0,
                high: 35.0,
            },
            TornadoRow {
                label: "volatility".into(),
                low: 31.0,
                high: 29.0,
            },
        ],
    }
}

#[test]
fn tornado_chart_renders() {
    let c = tornado();
    check(&tornado_chart(&c, &style()).unwrap(), &style(), &c.title);
}

#[test]
fn tornado_chart_degenerate_inputs() {
    let mut flat = tornado();
    flat.rows.truncate(1);
    flat.rows[0].low = 30.0;
    flat.rows[0].high = 30.0;
    check(
        &tornado_chart(&flat, &style()).unwrap(),
        &style(),
        &flat.title,
    );
    let mut nan = tornado();
    nan.rows[1].high = f64::NAN;
    check(
        &tornado_chart(&nan, &style()).unwrap(),
        &style(),
        &nan.title,
    );
    let mut bad_base = tornado();
    bad_base.base_value = f64::NAN;
    assert!(matches!(
        tornado_chart(&bad_base, &style()),
        Err(ChartError::InvalidInput(_))
    ));
    let mut empty = tornado();
    empty.rows.clear();
    assert!(matches!(
        tornado_chart(&empty, &style()),
        Err(ChartError::EmptyInput(_))
    ));
}

fn band_line(n: usize) -> BandLineChart {
    let x: Vec<f64> = (0..n).map(|i| 0.1 + i as f64 * 0.05).collect();
    let center: Vec<f64> = x.iter().map(|g| 40.0 * g).collect();
    BandLineChart {
        title: "Metric vs growth".into(),
        x_label: "Growth".into(),
        y_label: "$B".into(),
        series: vec![LineSeries {
            label: String::new(),
            hue: PALETTE[0],
            lower: center.iter().map(|c| c * 0.8).collect(),
            upper: center.iter().map(|c| c * 1.2).collect(),
            x,
            center,
        }],
        line_label: "median".into(),
        band_label: "90% band".into(),
        horizontal_lines: vec![],
        log_x: false,
        y_limits: None,
    }
}

#[test]
fn band_line_chart_renders() {
    let c = band_line(9);
    check(&band_line_chart(&c, &style()).unwrap(), &style(), &c.title);
}

#[test]
fn band_line_chart_degenerate_inputs() {
    let one = band_line(1);
    check(
        &band_line_chart(&one, &style()).unwrap(),
        &style(),
        &one.title,
    );
    let mut nan = band_line(9);
    nan.series[0].lower[2] = f64::NAN;
    nan.series[0].center[5] = f64::INFINITY;
    check(
        &band_line_chart(&nan, &style()).unwrap(),
        &style(),
        &nan.title,
    );
    let mut neg_flat = band_line(4);
    let s0 = &mut neg_flat.series[0];
    for v in s0
        .center
        .iter_mut()
        .chain(&mut s0.lower)
        .chain(&mut s0.upper)
    {
        *v = -2.0;
    }
    check(
        &band_line_chart(&neg_flat, &style()).unwrap(),
        &style(),
        &neg_flat.title,
    );
    let mut mismatch = band_line(4);
    mismatch.series[0].upper.pop();
    assert!(matches!(
        band_line_chart(&mismatch, &style()),
        Err(ChartError::InvalidInput(_))
    ));
    assert!(matches!(
        band_line_chart(&band_line(0), &style()),
        Err(ChartError::EmptyInput(_))
    ));
}

#[test]
fn huge_and_tiny_values_do_not_panic() {
    let mut c = band_line(5);
    let s0 = &mut c.series[0];
    s0.center = vec![1e300, -1e300, 1e-300, 0.0, 5.0];
    s0.lower = s0.center.clone();
    s0.upper = s0.center.clone();
    let _ = band_line_chart(&c, &style());
    let mut t = tornado();
    t.rows[0].high = 1e308;
    t.rows[0].low = -1e308;
    let _ = tornado_chart(&t, &style());
}
