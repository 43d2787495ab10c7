//! Charts of real CLI runs: every chart file exists, decodes as a PNG of the
//! requested size with real content, and its SVG is XML holding the title;
//! degenerate scenarios render; bad sizes are usage errors; the binary needs
//! no system font library. And the charts cannot mislead: the paths that
//! pay exactly a cap are drawn as a bar of their own on the shared scale;
//! a two-parameter sweep draws every grid point; no two texts of any chart
//! of a base run (default and smallest size) and of a batch run overlap
//! (boxes from each SVG `<text>`: position, anchor, size and the bundled
//! font's widths). Cost: about 15 small runs, several seconds in release
//! mode.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_revshare");

/// A fresh, empty directory under the system temp dir.
fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("revshare-charts-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("binary runs")
}

fn run_ok(args: &[&str]) {
    let o = run(args);
    assert!(
        o.status.success(),
        "revshare {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Decodes a PNG file, checks its size and returns (luma variance,
/// distinct colours).
fn png_stats(path: &Path, w: u32, h: u32) -> (f64, usize) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = png::Decoder::new(&bytes[..])
        .read_info()
        .expect("PNG header");
    let mut buf = vec![0u8; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("PNG frame");
    assert_eq!((info.width, info.height), (w, h), "{}", path.display());
    let px = &buf[..info.buffer_size()];
    let channels = info.color_type.samples();
    let mut colours = HashSet::new();
    let (mut s1, mut s2, mut n) = (0.0f64, 0.0f64, 0.0f64);
    for c in px.chunks_exact(channels) {
        let (r, g, b) = if channels >= 3 {
            (c[0], c[1], c[2])
        } else {
            (c[0], c[0], c[0])
        };
        colours.insert((r, g, b));
        let l = 0.299 * r as f64 + 0.587 * g as f64 + 0.114 * b as f64;
        s1 += l;
        s2 += l * l;
        n += 1.0;
    }
    let mean = s1 / n;
    (s2 / n - mean * mean, colours.len())
}

/// All text of an SVG file (it must parse as XML).
fn svg_text(path: &Path) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc = roxmltree::Document::parse(&s)
        .unwrap_or_else(|e| panic!("{} is not XML: {e}", path.display()));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter_map(|n| n.text())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Checks one chart's PNG and SVG; returns the SVG's text.
fn check_chart(dir: &Path, stem: &str, w: u32, h: u32, title: &str) -> String {
    let (var, colours) = png_stats(&dir.join(format!("{stem}.png")), w, h);
    // A blank image has variance 0 and one colour; text and bands on white
    // give hundreds.
    assert!(var > 50.0, "{stem}: luma variance {var}");
    assert!(colours >= 8, "{stem}: {colours} colours");
    let text = svg_text(&dir.join(format!("{stem}.svg")));
    assert!(text.contains(title), "{stem}.svg lacks title {title:?}");
    text
}

fn stems(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn base_run_renders_every_chart() {
    let out = temp_dir("base");
    let o = out.to_str().unwrap();
    run_ok(&[
        "run",
        "scenarios/base.json",
        "--paths",
        "3000",
        "--out",
        o,
        "-q",
    ]);
    let dir = out.join("charts");
    let expected: [(&str, &str); 17] = [
        ("fan_revenue_openai", "OpenAI revenue: annualised run rate"),
        (
            "fan_revenue_azure_openai",
            "Azure OpenAI resale revenue: annualised run rate",
        ),
        (
            "fan_cumulative_openai_to_microsoft",
            "Cumulative payments: OpenAI → Microsoft revenue share",
        ),
        (
            "fan_cumulative_microsoft_to_openai",
            "Cumulative payments: Microsoft → OpenAI revenue share",
        ),
        (
            "cap_hit_amended_openai_to_microsoft",
            "When is the $38B cap on OpenAI → Microsoft revenue share reached? (April 2026 amendment)",
        ),
        (
            "exceedance_total_openai_to_microsoft",
            "How likely is each total? OpenAI → Microsoft revenue share 2026–2030",
        ),
        (
            "exceedance_total_microsoft_to_openai",
            "How likely is each total? Microsoft → OpenAI revenue share 2026–2030",
        ),
        (
            "hist_total_amended_openai_to_microsoft",
            "Total paid 2026–2030: OpenAI → Microsoft revenue share (April 2026 amendment)",
        ),
        (
            "hist_total_prior_openai_to_microsoft",
            "Total paid 2026–2030: OpenAI → Microsoft revenue share (prior terms)",
        ),
        (
            "hist_total_prior_microsoft_to_openai",
            "Total paid 2026–2030: Microsoft → OpenAI revenue share (prior terms)",
        ),
        (
            "hist_delta_net_amended_openai",
            "OpenAI: net gain under April 2026 amendment vs prior terms",
        ),
        (
            "hist_delta_net_amended_microsoft",
            "Microsoft: net gain under April 2026 amendment vs prior terms",
        ),
        (
            "exceedance_delta_net_amended",
            "How likely is each gain? April 2026 amendment against prior terms",
        ),
        (
            "schedule_prior",
            "Payment schedule per calendar year: prior terms",
        ),
        (
            "schedule_amended",
            "Payment schedule per calendar year: April 2026 amendment",
        ),
        (
            "annual_revenue_openai",
            "OpenAI revenue: revenue earned per calendar year",
        ),
        (
            "annual_revenue_azure_openai",
            "Azure OpenAI resale revenue: revenue earned per calendar year",
        ),
    ];
    let mut want: Vec<String> = expected
        .iter()
        .flat_map(|(s, _)| [format!("{s}.png"), format!("{s}.svg")])
        .collect();
    want.sort();
    assert_eq!(stems(&dir), want);
    let mut texts = std::collections::HashMap::new();
    for (stem, title) in expected {
        texts.insert(stem, check_chart(&dir, stem, 1600, 1000, title));
    }
    // Captions name the scenario, path count and seed.
    for t in texts.values() {
        assert!(t.contains("Scenario base") && t.contains("3,000 paths") && t.contains("seed 42"));
    }
    // References overlaid on the revenue fan; caps, the reported prior path
    // and the accrual window labelled.
    assert!(texts["fan_revenue_openai"].contains("2028 revenue $100B, projected (mid-year)"));
    let cum = &texts["fan_cumulative_openai_to_microsoft"];
    assert!(cum.contains("April 2026 amendment cap $38B"), "{cum}");
    assert!(cum.contains("reported prior path ≈ $135B"));
    assert!(cum.contains("accrual window ends 31 Dec 2030"));
    assert!(
        texts["cap_hit_amended_openai_to_microsoft"].contains("P(never reached by 31 Dec 2030) = ")
    );
    assert!(texts["hist_total_prior_openai_to_microsoft"].contains("reported prior path ≈ $135B"));
    assert!(texts["hist_total_amended_openai_to_microsoft"].contains("pay exactly the $38B cap: "));
    for m in ["mean ", "median ", "p5 ", "p95 "] {
        assert!(texts["hist_delta_net_amended_openai"].contains(m), "{m}");
    }
    // No temporary files left behind by the atomic writes.
    assert!(stems(&dir).iter().all(|f| !f.contains(".tmp-")));
    let _ = std::fs::remove_dir_all(&out);
}

const SMALL: &str = r#"{
  "name": "small",
  "description": "Chart test scenario",
  "start_year": 2026,
  "end_year": 2028,
  "steps_per_year": 12,
  "simulation": { "paths": 400, "seed": 7 },
  "series": {
    "rev": {
      "initial_run_rate": 10.0,
      "growth": { "initial": 0.3, "long_run": 0.1, "reversion": 0.5, "volatility": 0.1, "volatility_decay": 0.0 },
      "volatility": { "initial": 0.3, "long_run": 0.2, "decay": 0.2 },
      "growth_correlation": 0.0
    }
  },
  "baseline": "prior",
  "regimes": {
    "prior": [ { "name": "share", "payer": "A", "payee": "B", "series": "rev", "rate": 0.2, "from_year": 2026, "to_year": 2028 } ],
    "amended": [ { "name": "share", "payer": "A", "payee": "B", "series": "rev", "rate": 0.2, "from_year": 2026, "to_year": 2027, "cap": 3.0 } ]
  },
  "references": [ { "series": "rev", "year": 2027.5, "value": 14.0, "label": "plan 2027" } ]
}"#;

const SMALL_CHARTS: [&str; 12] = [
    "annual_revenue_rev",
    "cap_hit_amended_share",
    "exceedance_delta_net_amended",
    "exceedance_total_share",
    "fan_cumulative_share",
    "fan_revenue_rev",
    "hist_delta_net_amended_a",
    "hist_delta_net_amended_b",
    "hist_total_amended_share",
    "hist_total_prior_share",
    "schedule_amended",
    "schedule_prior",
];

#[test]
fn degenerate_scenarios_render() {
    let root = temp_dir("degenerate");
    let file = root.join("small.json");
    std::fs::write(&file, SMALL).unwrap();
    let f = file.to_str().unwrap();
    let zero_vol = [
        "--set",
        "series.rev.volatility.initial=0",
        "--set",
        "series.rev.volatility.long_run=0",
        "--set",
        "series.rev.growth.volatility=0",
    ];
    let cases: Vec<(&str, Vec<&str>)> = vec![
        // Every path the same: bands collapse to lines, histograms to one bar.
        ("zero_volatility", zero_vol.to_vec()),
        // The cap is never reached.
        ("cap_never_hit", vec!["--set", "regimes.amended.0.cap=1e6"]),
        // The cap is reached at the start on every path.
        (
            "cap_hit_at_start",
            vec!["--set", "regimes.amended.0.paid_before_start=3"],
        ),
        // The cap is reached on every path, and every path is the same.
        (
            "cap_always_hit",
            [&zero_vol[..], &["--set", "regimes.amended.0.cap=0.5"]].concat(),
        ),
        ("single_path", vec!["--paths", "1"]),
        ("one_step_per_year", vec!["--set", "steps_per_year=1"]),
        (
            "one_step_single_path",
            vec!["--set", "steps_per_year=1", "--paths", "1"],
        ),
    ];
    for (name, extra) in cases {
        let out = root.join(name);
        let mut args = vec![
            "run",
            f,
            "-q",
            "--chart-size",
            "640x400",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(extra);
        run_ok(&args);
        let dir = out.join("charts");
        assert_eq!(stems(&dir).len(), 2 * SMALL_CHARTS.len(), "{name}");
        for stem in SMALL_CHARTS {
            let (var, colours) = png_stats(&dir.join(format!("{stem}.png")), 640, 400);
            assert!(var > 20.0 && colours >= 4, "{name}/{stem}: {var} {colours}");
            svg_text(&dir.join(format!("{stem}.svg")));
        }
        let cap = svg_text(&dir.join("cap_hit_amended_share.svg"));
        let never = match name {
            "cap_never_hit" => Some("= 100.0%"),
            "cap_hit_at_start" | "cap_always_hit" => Some("= 0.0%"),
            _ => None,
        };
        if let Some(p) = never {
            assert!(
                cap.contains(&format!("P(never reached by 31 Dec 2027) {p}")),
                "{name}: {cap}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn chart_options_are_checked() {
    let root = temp_dir("options");
    let file = root.join("small.json");
    std::fs::write(&file, SMALL).unwrap();
    let f = file.to_str().unwrap();
    for bad in ["10x10", "1600", "widexhigh", "99999x1000", "320x200"] {
        let o = run(&["run", f, "-q", "--chart-size", bad, "--out", "unused"]);
        assert_eq!(o.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("WIDTHxHEIGHT"), "{bad}: {err}");
    }
    assert!(!Path::new("unused").exists());
    let out = root.join("none");
    run_ok(&[
        "run",
        f,
        "-q",
        "--no-charts",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(out.join("summary.json").exists());
    assert!(!out.join("charts").exists());
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn binary_needs_no_system_font_library() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let Ok(o) = Command::new("ldd").arg(BIN).output() else {
        eprintln!("ldd not available: skipped");
        return;
    };
    let libs = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() || libs.contains("not a dynamic"),
        "ldd failed"
    );
    for lib in ["fontconfig", "freetype"] {
        assert!(!libs.contains(lib), "binary links {lib}:\n{libs}");
    }
}

/// The box (x0, y0, x1, y1) of every `<text>` of an SVG chart, with its
/// text: width from the bundled font at the element's size, height one
/// em, placed by its anchor, baseline shift and rotation.
fn text_boxes(svg: &str) -> Vec<((f64, f64, f64, f64), String)> {
    let doc = roxmltree::Document::parse(svg).expect("SVG is XML");
    let mut out = Vec::new();
    for n in doc.descendants().filter(|n| n.has_tag_name("text")) {
        let text = n.text().unwrap_or("").trim().to_string();
        if text.is_empty() {
            continue;
        }
        let num = |a: &str| n.attribute(a).and_then(|v| v.parse::<f64>().ok());
        let (x, y, em) = (
            num("x").unwrap(),
            num("y").unwrap(),
            num("font-size").unwrap(),
        );
        let bold = n.attribute("font-weight") == Some("bold");
        let w = revshare::export::draw::svg_text_width(&text, em, bold);
        let (l, r) = match n.attribute("text-anchor") {
            Some("middle") => (-w / 2.0, w / 2.0),
            Some("end") => (-w, 0.0),
            _ => (0.0, w),
        };
        let (t, b) = match n.attribute("dy") {
            Some("0.76em") => (0.0, em),
            Some("-0.5ex") => (-em, 0.0),
            _ => (-em / 2.0, em / 2.0),
        };
        let rotated = n
            .attribute("transform")
            .is_some_and(|t| t.starts_with("rotate(270") || t.starts_with("rotate(90"));
        let bx = if rotated {
            // Turned a quarter: the run of the text is vertical.
            (x + t, y - r, x + b, y - l)
        } else {
            (x + l, y + t, x + r, y + b)
        };
        out.push((bx, text));
    }
    out
}

/// The straight reference lines of an SVG chart: vertical or horizontal
/// lines (solid, or dashed as runs of segments) of one colour that span at
/// least a fifth of the image, grid lines aside, as thin boxes.
fn rules(svg: &str) -> Vec<((f64, f64, f64, f64), String)> {
    let doc = roxmltree::Document::parse(svg).expect("SVG is XML");
    let root = doc.root_element();
    let size = |a: &str| {
        root.attribute(a)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap()
    };
    let (w, h) = (size("width"), size("height"));
    // (vertical?, position, colour) -> segments along the line
    let mut segs: std::collections::BTreeMap<(bool, i64, String), Vec<(f64, f64)>> =
        std::collections::BTreeMap::new();
    for n in doc.descendants().filter(|n| n.has_tag_name("polyline")) {
        let colour = n.attribute("stroke").unwrap_or("").to_string();
        if colour == "#E4E4E4" {
            continue;
        }
        let pts: Vec<(f64, f64)> = n
            .attribute("points")
            .unwrap_or("")
            .split_whitespace()
            .filter_map(|p| {
                let (x, y) = p.split_once(',')?;
                Some((x.parse().ok()?, y.parse().ok()?))
            })
            .collect();
        if pts.len() != 2 {
            continue;
        }
        let ((x0, y0), (x1, y1)) = (pts[0], pts[1]);
        let (vertical, pos, a, b) = if (x0 - x1).abs() < 0.5 {
            (true, x0, y0.min(y1), y0.max(y1))
        } else if (y0 - y1).abs() < 0.5 {
            (false, y0, x0.min(x1), x0.max(x1))
        } else {
            continue;
        };
        segs.entry((vertical, pos.round() as i64, colour))
            .or_default()
            .push((a, b));
    }
    // Dashes of one line follow each other closely; a tick mark far from
    // a line at the same position is not part of it.
    let mut out = Vec::new();
    for ((vertical, pos, colour), mut v) in segs {
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut runs: Vec<(f64, f64)> = Vec::new();
        for (a, b) in v {
            match runs.last_mut() {
                Some(r) if a - r.1 <= 25.0 => r.1 = r.1.max(b),
                _ => runs.push((a, b)),
            }
        }
        let span = if vertical { h } else { w };
        for (a, b) in runs.into_iter().filter(|(a, b)| b - a >= 0.2 * span) {
            let p = pos as f64;
            let bx = if vertical {
                (p - 1.0, a, p + 1.0, b)
            } else {
                (a, p - 1.0, b, p + 1.0)
            };
            let kind = if vertical { "vertical" } else { "horizontal" };
            out.push((bx, format!("{kind} line at {pos} ({colour})")));
        }
    }
    out
}

/// Texts of one SVG whose boxes overlap another text or a reference line
/// (by more than half a unit each way, for rounding).
fn overlaps(svg: &str) -> Vec<String> {
    let boxes = text_boxes(svg);
    let lines = rules(svg);
    let hit = |a: (f64, f64, f64, f64), b: (f64, f64, f64, f64)| {
        a.2.min(b.2) - a.0.max(b.0) > 0.5 && a.3.min(b.3) - a.1.max(b.1) > 0.5
    };
    let mut bad = Vec::new();
    for i in 0..boxes.len() {
        for j in i + 1..boxes.len() {
            if hit(boxes[i].0, boxes[j].0) {
                bad.push(format!("{:?} and {:?}", boxes[i].1, boxes[j].1));
            }
        }
        for l in &lines {
            if hit(boxes[i].0, l.0) {
                bad.push(format!("{:?} crossed by the {}", boxes[i].1, l.1));
            }
        }
    }
    bad
}

/// Every SVG file below `dir`.
fn svgs_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(svgs_below(&p));
        } else if p.extension().is_some_and(|x| x == "svg") {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn the_paths_that_pay_the_cap_are_a_bar_on_the_shared_scale() {
    let out = temp_dir("point-mass");
    run_ok(&[
        "run",
        "scenarios/base.json",
        "--paths",
        "4000",
        "--no-report",
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let p = summary["regimes"]["amended"]["flows"]["openai_to_microsoft"]["cap_hit"]["probability"]
        .as_f64()
        .unwrap();
    assert!(p > 0.5, "the base cap binds on most paths: {p}");
    let svg =
        std::fs::read_to_string(out.join("charts/hist_total_amended_openai_to_microsoft.svg"))
            .unwrap();
    // Its share, as summary.json has it.
    let label = format!("pay exactly the $38B cap: {:.1}% of paths", 100.0 * p);
    assert!(svg.contains(&label), "no {label:?} in the chart");
    // The y axis reaches 100% (the scale holds the point mass), and the
    // point mass is a bar taller than half of the image: drawn, and on the
    // same scale as the bins (which are all under 1% of paths here).
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let texts: Vec<&str> = doc
        .descendants()
        .filter_map(|n| n.text())
        .map(str::trim)
        .collect();
    assert!(
        texts.contains(&"100%"),
        "the y axis stops short of the point mass"
    );
    let height: f64 = doc
        .root_element()
        .attribute("height")
        .unwrap()
        .parse()
        .unwrap();
    // The bar's fill: the amended regime's hue (the first of the palette)
    // shaded darker, as the drawing layer draws a point mass.
    let hue = revshare::export::draw::PALETTE[0];
    let fill = format!(
        "#{:02X}{:02X}{:02X}",
        (hue.r as f64 * 0.7).round() as u8,
        (hue.g as f64 * 0.7).round() as u8,
        (hue.b as f64 * 0.7).round() as u8
    );
    let tallest = doc
        .descendants()
        .filter(|n| n.has_tag_name("rect") && n.attribute("fill") == Some(fill.as_str()))
        .filter_map(|n| n.attribute("height").and_then(|h| h.parse::<f64>().ok()))
        .fold(0.0, f64::max);
    assert!(
        tallest > 0.4 * height,
        "the point-mass bar ({fill}) is {tallest} high in a {height} image"
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_two_parameter_sweep_draws_every_point() {
    let out = temp_dir("sweep2");
    run_ok(&[
        "sweep",
        "scenarios/base.json",
        "--param",
        "regimes.amended.0.cap",
        "--values",
        "20,38,50",
        "--param",
        "series.openai.growth.initial",
        "--values",
        "0.6,0.85,1.1",
        "--paths",
        "1000",
        "--no-report",
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    let svg = std::fs::read_to_string(out.join("sweep.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    // One marker per grid point (each a filled disc and its outline).
    let mut centres: Vec<(String, String)> = doc
        .descendants()
        .filter(|n| n.has_tag_name("circle"))
        .map(|n| {
            (
                n.attribute("cx").unwrap().to_string(),
                n.attribute("cy").unwrap().to_string(),
            )
        })
        .collect();
    centres.sort();
    centres.dedup();
    assert_eq!(centres.len(), 9, "markers drawn: {centres:?}");
    // A line per value of the second parameter, named in the legend, and
    // the caption says every point is drawn.
    for v in ["0.6", "0.85", "1.1"] {
        assert!(
            svg.contains(&format!("series.openai.growth.initial = {v}")),
            "{v}"
        );
    }
    assert!(svg.contains("Every one of the 9 grid points is drawn"));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn no_two_texts_of_a_chart_overlap() {
    let root = temp_dir("overlap");
    let base = root.join("base");
    let small = root.join("small");
    let batch = root.join("batch");
    let b = base.to_str().unwrap();
    run_ok(&[
        "run",
        "scenarios/base.json",
        "--paths",
        "3000",
        "--out",
        b,
        "-q",
    ]);
    let sm = small.to_str().unwrap();
    run_ok(&[
        "run",
        "scenarios/base.json",
        "--paths",
        "3000",
        "--chart-size",
        "640x400",
        "--out",
        sm,
        "-q",
    ]);
    let bt = batch.to_str().unwrap();
    run_ok(&["batch", "scenarios", "--paths", "2000", "--out", bt, "-q"]);
    let mut files = svgs_below(&base);
    files.extend(svgs_below(&small));
    files.extend(svgs_below(&batch));
    assert!(files.len() > 100, "{} charts", files.len());
    let mut bad = Vec::new();
    for f in &files {
        let svg = std::fs::read_to_string(f).unwrap();
        assert!(!text_boxes(&svg).is_empty(), "{}: no text", f.display());
        for o in overlaps(&svg) {
            bad.push(format!("{}: {o}", f.strip_prefix(&root).unwrap().display()));
        }
    }
    assert!(
        bad.is_empty(),
        "{} overlapping texts:\n{}",
        bad.len(),
        bad.join("\n")
    );
    let _ = std::fs::remove_dir_all(&root);
}

/// Sweep and sensitivity charts: `--chart-size` is honoured (it was
/// accepted and ignored), titles and axes name the metric with the
/// scenario's display names instead of its raw key, and a probability's
/// axis never runs past 100%.
#[test]
fn study_charts_take_the_size_the_names_and_a_bounded_probability_axis() {
    let root = temp_dir("study-charts");
    let sweep = root.join("sweep");
    let tornado = root.join("tornado");
    run_ok(&[
        "sweep",
        "scenarios/base.json",
        "--param",
        "regimes.amended.0.cap",
        "--values",
        "10,20,30",
        "--paths",
        "2000",
        "--chart-size",
        "800x500",
        "--no-report",
        "--out",
        sweep.to_str().unwrap(),
        "-q",
    ]);
    // P(cap reached) is near 100% at a $10B cap: the padded range would
    // reach past 100%; the axis stops there.
    let text = check_chart(
        &sweep,
        "sweep",
        800,
        500,
        "P(cap reached): OpenAI → Microsoft revenue share (April 2026 amendment)",
    );
    assert!(!text.contains("openai_to_microsoft cap_hit"), "{text}");
    let ticks: Vec<f64> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
    let top = ticks
        .iter()
        .copied()
        .filter(|t| *t < 1000.0)
        .fold(0.0, f64::max);
    assert!((98.0..=100.0).contains(&top), "y ticks {ticks:?}");
    run_ok(&[
        "sensitivity",
        "scenarios/base.json",
        "--paths",
        "1000",
        "--metric",
        "comparisons.amended.OpenAI.delta_net.p50",
        "--chart-size",
        "800x500",
        "--no-report",
        "--out",
        tornado.to_str().unwrap(),
        "-q",
    ]);
    // 25 rows need more than 500 pixels: taller, never narrower.
    let (w, h) = png::Decoder::new(&std::fs::read(tornado.join("tornado.png")).unwrap()[..])
        .read_info()
        .map(|r| (r.info().width, r.info().height))
        .unwrap();
    assert_eq!(w, 800);
    assert!(h > 500, "height {h}");
    let text = check_chart(
        &tornado,
        "tornado",
        w,
        h,
        "Sensitivity of median of change in net position: OpenAI, April 2026 amendment vs prior terms",
    );
    // A quantile is its own estimate, not a mean over paths.
    assert!(!text.contains("mean over paths"), "{text}");
    let _ = std::fs::remove_dir_all(&root);
}

/// The exceedance chart's "gains on X% of paths" is the report's share of
/// paths with a change above zero; when every path gains it said 0.0%
/// (its curve had no range below zero to read the share from).
#[test]
fn the_gain_share_of_a_party_that_gains_on_every_path_is_100_percent() {
    let out = temp_dir("all-gain");
    run_ok(&[
        "run",
        "scenarios/base.json",
        "--paths",
        "2000",
        "--set",
        "regimes.prior.1.rate=0",
        "--set",
        "regimes.amended.0.cap=1",
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    let svg = svg_text(&out.join("charts/exceedance_delta_net_amended.svg"));
    assert!(svg.contains("OpenAI: gains on 100.0% of paths"), "{svg}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("it gains on 100.0% of paths"));
    let _ = std::fs::remove_dir_all(&out);
}
