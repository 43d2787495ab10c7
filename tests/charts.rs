//! Charts of real CLI runs: every chart file exists, decodes as a PNG of the
//! requested size with real content, and its SVG is XML holding the title;
//! degenerate scenarios render; bad sizes are usage errors; the binary needs
//! no system font library. Cost: about 10 small runs, a few seconds in
//! release mode.

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
    let expected: [(&str, &str); 12] = [
        ("fan_revenue_openai", "openai: annualised revenue run rate"),
        (
            "fan_revenue_azure_openai",
            "azure_openai: annualised revenue run rate",
        ),
        (
            "fan_cumulative_openai_to_microsoft",
            "Cumulative payments OpenAI → Microsoft: openai_to_microsoft",
        ),
        (
            "fan_cumulative_microsoft_to_openai",
            "Cumulative payments Microsoft → OpenAI: microsoft_to_openai",
        ),
        (
            "cap_hit_amended_openai_to_microsoft",
            "When is the $38B cap on openai_to_microsoft reached? (amended)",
        ),
        (
            "hist_total_amended_openai_to_microsoft",
            "Total OpenAI → Microsoft payments, 2026–2030: openai_to_microsoft (amended)",
        ),
        (
            "hist_total_prior_openai_to_microsoft",
            "Total OpenAI → Microsoft payments, 2026–2030: openai_to_microsoft (prior)",
        ),
        (
            "hist_total_prior_microsoft_to_openai",
            "Total Microsoft → OpenAI payments, 2026–2030: microsoft_to_openai (prior)",
        ),
        (
            "hist_delta_net_amended_openai",
            "OpenAI: net gain under amended vs prior",
        ),
        (
            "hist_delta_net_amended_microsoft",
            "Microsoft: net gain under amended vs prior",
        ),
        (
            "annual_revenue_openai",
            "openai: revenue earned per calendar year",
        ),
        (
            "annual_revenue_azure_openai",
            "azure_openai: revenue earned per calendar year",
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
    assert!(cum.contains("amended cap $38B"), "{cum}");
    assert!(cum.contains("reported prior path ≈ $135B"));
    assert!(cum.contains("accrual window ends 31 Dec 2030"));
    assert!(
        texts["cap_hit_amended_openai_to_microsoft"].contains("P(never reached by 31 Dec 2030) = ")
    );
    assert!(texts["hist_total_prior_openai_to_microsoft"].contains("reported prior path ≈ $135B"));
    assert!(texts["hist_total_amended_openai_to_microsoft"].contains("cap $38B: reached on"));
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

const SMALL_CHARTS: [&str; 8] = [
    "annual_revenue_rev",
    "cap_hit_amended_share",
    "fan_cumulative_share",
    "fan_revenue_rev",
    "hist_delta_net_amended_a",
    "hist_delta_net_amended_b",
    "hist_total_amended_share",
    "hist_total_prior_share",
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
    for bad in ["10x10", "1600", "widexhigh", "99999x1000"] {
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
