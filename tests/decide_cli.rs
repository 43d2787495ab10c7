//! The decision tools from the command line (issue 19's acceptance):
//! `calibrate`, `solve` and `sensitivity --method sobol` on the shipped
//! base scenario, each checked by an independent run at another seed, and
//! their errors. Flows are addressed by name throughout.
//!
//! Cost: runs of 1,000–20,000 paths, about 10 s on 2 cores.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_revshare");

fn workdir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("revshare-decide-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn revshare(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "{}", text(&o));
    o
}

/// The command fails with `code` and its stderr holds every `needle`.
fn fails(o: Output, code: i32, needles: &[&str]) -> String {
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(code), "{}", text(&o));
    for n in needles {
        assert!(err.contains(n), "expected {n:?} in:\n{err}");
    }
    err
}

fn base() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/base.json")
        .display()
        .to_string()
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A summary.json value at a dotted key.
fn at<'a>(v: &'a Value, key: &str) -> &'a Value {
    key.split('.').fold(v, |v, k| &v[k])
}

/// Runs a scenario file and returns its summary.
fn run_summary(scenario: &str, out: &Path, extra: &[&str]) -> Value {
    let o = out.display().to_string();
    let mut args = vec!["run", scenario, "--no-charts", "-q", "--out", &o];
    args.extend_from_slice(extra);
    ok(revshare(&args));
    json(&out.join("summary.json"))
}

const TARGETS: [(&str, f64); 3] = [
    ("series.openai.annual_revenue.2026.mean", 30.0),
    ("series.openai.annual_revenue.2028.mean", 100.0),
    ("series.openai.annual_revenue.2030.mean", 280.0),
];

#[test]
fn calibrate_base_to_the_reported_projections() {
    // The company's projections (docs/sources.md: proj-2026-30b,
    // proj-2028-100b, proj-2030-280b) as targets of the mean annual revenue,
    // the three growth parameters free.
    let d = workdir("calibrate");
    let out = d.join("out");
    let targets: Vec<String> = TARGETS.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let base = base();
    let mut args = vec![
        "calibrate",
        base.as_str(),
        "--paths",
        "20000",
        "--seed",
        "42",
    ];
    for t in &targets {
        args.extend(["--target", t]);
    }
    let o = out.display().to_string();
    args.extend([
        "--free",
        "series.openai.growth.initial",
        "--free",
        "series.openai.growth.long_run=0:1",
        "--free",
        "series.openai.growth.reversion",
        "--out",
        &o,
    ]);
    let printed = text(&ok(revshare(&args)));
    assert!(printed.contains("closed-form means"), "{printed}");
    for f in [
        "base-calibrated.json",
        "calibration.json",
        "calibration.csv",
        "fit_revenue_openai.png",
        "fit_revenue_openai.svg",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let cal = json(&out.join("calibration.json"));
    for (key, target) in TARGETS {
        let t = &cal["targets"][key];
        assert_eq!(t["target"].as_f64(), Some(target));
        for field in ["fitted", "se", "residual"] {
            assert!(t[field].is_number(), "{key}.{field}: {t}");
        }
        // The exact mean is on target; the simulated figure within noise.
        assert!((t["exact"].as_f64().unwrap() - target).abs() < 0.05 * t["se"].as_f64().unwrap());
        assert!(t["z"].as_f64().unwrap().abs() < 3.0, "{key}: {t}");
    }
    for p in [
        "series.openai.growth.initial",
        "series.openai.growth.long_run",
        "series.openai.growth.reversion",
    ] {
        assert!(cal["parameters"][p].is_number(), "{p}: {cal}");
    }

    // The calibrated scenario validates, says what was fitted to what, and
    // keeps the file's simulation settings.
    let file = out.join("base-calibrated.json").display().to_string();
    let v = text(&ok(revshare(&["validate", &file])));
    assert!(v.contains("ok (base-calibrated)"), "{v}");
    let sc = json(&out.join("base-calibrated.json"));
    let desc = sc["description"].as_str().unwrap();
    assert!(desc.contains("series.openai.growth.initial = "), "{desc}");
    assert!(
        desc.contains("series.openai.annual_revenue.2030.mean"),
        "{desc}"
    );
    assert_eq!(sc["simulation"]["paths"], 100_000);
    assert_eq!(
        sc["series"]["openai"]["growth"]["initial"].as_f64(),
        cal["parameters"]["series.openai.growth.initial"].as_f64()
    );

    // Acceptance: a run at another seed meets every target within its
    // stated error plus the fit residual (4 standard errors of each run).
    let check = run_summary(
        &file,
        &d.join("check"),
        &["--paths", "20000", "--seed", "7"],
    );
    for (key, target) in TARGETS {
        let t = &cal["targets"][key];
        let (residual, se) = (t["residual"].as_f64().unwrap(), t["se"].as_f64().unwrap());
        let stat = at(&check, key.trim_end_matches(".mean"));
        let (got, se_check) = (stat["mean"].as_f64().unwrap(), stat["se"].as_f64().unwrap());
        let allowed = residual.abs() + 4.0 * se.hypot(se_check);
        assert!(
            (got - target).abs() <= allowed,
            "{key}: {got} at seed 7 against {target} (allowed {allowed})"
        );
    }
}

#[test]
fn calibrate_by_simulation_meets_a_quantile_target() {
    let d = workdir("quantile");
    let out = d.join("out").display().to_string();
    let o = ok(revshare(&[
        "calibrate",
        &base(),
        "--target",
        "series.openai.annual_revenue.2028.p50=80",
        "--free",
        "series.openai.growth.initial=0.3:1.5",
        "--paths",
        "5000",
        "--out",
        &out,
        "--no-charts",
        "--xlsx",
    ]));
    assert!(text(&o).contains("simulated figures"), "{}", text(&o));
    let cal = json(&Path::new(&out).join("calibration.json"));
    let t = &cal["targets"]["series.openai.annual_revenue.2028.p50"];
    assert!(t["z"].as_f64().unwrap().abs() <= 3.0, "{t}");
    assert!(
        t["se_method"]
            .as_str()
            .unwrap()
            .starts_with("order-statistic"),
        "{t}"
    );
    assert!(Path::new(&out).join("calibration.xlsx").is_file());
}

#[test]
fn calibrate_reports_inconsistent_targets() {
    // Growth held in [0.5, 1.0] cannot bring 2030 revenue to $1,000B while
    // 2026 stays at $30B.
    let d = workdir("inconsistent");
    let out = d.join("out");
    let o = out.display().to_string();
    let err = fails(
        revshare(&[
            "calibrate",
            &base(),
            "--target",
            "series.openai.annual_revenue.2026.mean=30",
            "--target",
            "series.openai.annual_revenue.2030.mean=1000",
            "--free",
            "series.openai.growth.initial=0.5:1.0",
            "--paths",
            "2000",
            "--out",
            &o,
        ]),
        3,
        &[
            "inconsistent targets",
            "series.openai.annual_revenue.2030.mean",
            "series.openai.growth.initial (upper)",
            "no output written",
        ],
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(!out.join("calibration.json").exists());
}

#[test]
fn calibrate_and_solve_check_their_inputs() {
    let d = workdir("inputs");
    let out = d.join("out").display().to_string();
    let base = base();
    let cal = |extra: &[&str]| {
        let mut a = vec!["calibrate", base.as_str(), "--paths", "500", "--out", &out];
        a.extend_from_slice(extra);
        revshare(&a)
    };
    let t = "series.openai.annual_revenue.2026.mean=30";
    fails(
        cal(&["--target", t, "--free", "series.openai.growth.initia"]),
        2,
        &[
            "--free series.openai.growth.initia",
            "unknown field `initia`",
            "initial",
        ],
    );
    fails(
        cal(&["--target", t, "--free", "regimes.amended.nope.cap"]),
        2,
        &[
            "regime `amended` has no flow named `nope`",
            "openai_to_microsoft (0)",
        ],
    );
    fails(
        cal(&["--target", t, "--free", "series.openai.growthh.initial"]),
        2,
        &["series.openai.growthh: no such field (fields here: "],
    );
    fails(
        cal(&[
            "--target",
            t,
            "--free",
            "series.openai.growth_correlation=-2:0.5",
        ]),
        2,
        &[
            "invalid at series.openai.growth_correlation = -2",
            "must be in [-1, 1]",
        ],
    );
    fails(
        cal(&[
            "--target",
            "series.openai.annual_revenue.2026.nope=1",
            "--free",
            "discount_rate",
        ]),
        2,
        &["no `nope`", "choices: "],
    );
    fails(
        cal(&[
            "--target",
            "series.openai.annual_revenue.2026.max=1",
            "--free",
            "discount_rate",
        ]),
        2,
        &["has no standard error"],
    );
    fails(
        cal(&["--target", "x", "--free", "discount_rate"]),
        2,
        &["KEY=VALUE"],
    );
    // A broken scenario file: the same message as `validate`.
    let bad = d.join("bad.json");
    std::fs::write(&bad, "{\n  \"name\": \"t\",\n  oops }").unwrap();
    let bad = bad.display().to_string();
    let expected = text(&revshare(&["validate", &bad]));
    let line = expected
        .lines()
        .find(|l| l.contains("bad.json:3:3"))
        .unwrap()
        .to_string();
    fails(
        revshare(&[
            "solve",
            &bad,
            "--param",
            "discount_rate",
            "--target",
            "x.y=1",
        ]),
        2,
        &[&line],
    );
    fails(
        revshare(&["calibrate", &bad, "--target", t, "--free", "discount_rate"]),
        2,
        &[&line],
    );
    let solve = |extra: &[&str]| {
        let mut a = vec!["solve", base.as_str(), "--paths", "2000", "--out", &out];
        a.extend_from_slice(extra);
        revshare(&a)
    };
    let p2029 = "regimes.amended.flows.openai_to_microsoft.cap_hit.probability_by_year.2029=0.5";
    fails(
        solve(&[
            "--param",
            "regimes.amended.openai_to_microsoft.cap",
            "--target",
            p2029,
            "--bracket",
            "-5:10",
        ]),
        2,
        &["invalid at regimes.amended.openai_to_microsoft.cap = -5"],
    );
    fails(
        solve(&[
            "--param",
            "regimes.amended.openai_to_microsoft.to_year",
            "--target",
            p2029,
        ]),
        2,
        &["not continuous parameters"],
    );
    // No root in the bracket: exit code 3, with the figure at both ends.
    fails(
        solve(&[
            "--param",
            "regimes.amended.openai_to_microsoft.cap",
            "--target",
            p2029,
            "--bracket",
            "200:300",
        ]),
        3,
        &[
            "the bracket holds no root",
            "at regimes.amended.openai_to_microsoft.cap = 200",
        ],
    );
}

#[test]
fn solve_the_cap_for_even_odds_of_binding_by_2029() {
    let d = workdir("solve");
    let out = d.join("out");
    let o = out.display().to_string();
    let key = "regimes.amended.flows.openai_to_microsoft.cap_hit.probability_by_year.2029";
    let target = format!("{key}=0.5");
    let printed = text(&ok(revshare(&[
        "solve",
        &base(),
        "--param",
        "regimes.amended.openai_to_microsoft.cap",
        "--target",
        &target,
        "--paths",
        "20000",
        "--xlsx",
        "--out",
        &o,
    ])));
    assert!(printed.contains("95% interval"), "{printed}");
    let s = json(&out.join("solve.json"));
    assert_eq!(s["param"], "regimes.amended.openai_to_microsoft.cap");
    assert_eq!(s["target"].as_f64(), Some(0.5));
    let value = s["value"].as_f64().unwrap();
    let (low, high) = (
        s["interval"][0].as_f64().unwrap(),
        s["interval"][1].as_f64().unwrap(),
    );
    let se = s["se"].as_f64().unwrap();
    assert!(low < value && value < high, "{s}");
    // The cap that binds by 2029 on half the paths is above the $38B one
    // (which binds by 2029 on most paths), and the default bracket holds it.
    assert!(value > 38.0 && value < 380.0, "{s}");
    assert!(
        (s["achieved"].as_f64().unwrap() - 0.5).abs() < 2.0 * se,
        "{s}"
    );
    for f in ["base-solved.json", "solve.png", "solve.svg", "solve.xlsx"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let solved = json(&out.join("base-solved.json"));
    assert_eq!(solved["regimes"]["amended"][0]["cap"].as_f64(), Some(value));

    // Acceptance: at another seed the probability lies within the solved
    // interval's image, 0.5 ± 1.96 se, widened by the check run's own
    // error.
    let set = format!("regimes.amended.openai_to_microsoft.cap={value}");
    let check = run_summary(
        &base(),
        &d.join("check"),
        &["--paths", "20000", "--seed", "7", "--set", &set],
    );
    let p = at(&check, key).as_f64().unwrap();
    let se_check = (p * (1.0 - p) / 20_000.0).sqrt();
    let allowed = 1.96 * se.hypot(se_check);
    assert!(
        (p - 0.5).abs() <= allowed,
        "P(hit by 2029) = {p} at seed 7 with cap {value} (interval {low} to {high}, allowed ±{allowed})"
    );
    // The same check in the parameter's units: the cap that gives p at
    // seed 7, by the local slope, lies in the interval widened alike.
    let slope = s["slope"].as_f64().unwrap();
    let implied = value + (p - 0.5) / slope;
    let widen = 1.96 * se_check / slope.abs();
    assert!(
        implied >= low - widen && implied <= high + widen,
        "{implied} outside [{low}, {high}] ± {widen}"
    );
}

#[test]
fn sobol_indices_on_base() {
    let d = workdir("sobol");
    let ranges = d.join("ranges.json");
    std::fs::write(
        &ranges,
        r#"{
  "series.openai.growth.initial": [0.6, 1.1],
  "series.openai.growth.long_run": [0.25, 0.55],
  "series.openai.jumps.mean": { "dist": "normal", "mean": -0.2, "sd": 0.05 },
  "regimes.amended.openai_to_microsoft.cap": { "dist": "triangular", "low": 30, "mode": 38, "high": 50 }
}"#,
    )
    .unwrap();
    let out = d.join("out");
    let o = out.display().to_string();
    let r = ranges.display().to_string();
    let printed = text(&ok(revshare(&[
        "sensitivity",
        &base(),
        "--method",
        "sobol",
        "--ranges",
        &r,
        "--samples",
        "64",
        "--paths",
        "1000",
        "--xlsx",
        "--out",
        &o,
    ])));
    assert!(
        printed.contains("Sobol' indices of comparisons.amended.OpenAI.delta_net"),
        "{printed}"
    );
    for f in [
        "sobol.csv",
        "sobol.json",
        "sobol.png",
        "sobol.svg",
        "sobol.xlsx",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let s = json(&out.join("sobol.json"));
    assert_eq!(s["evaluations"], 64 * 6);
    let params = s["parameters"].as_object().unwrap();
    assert_eq!(params.len(), 4);
    let (mut sum, mut err) = (0.0, 0.0);
    for (path, ix) in params {
        for kind in ["first_order", "total"] {
            let e = &ix[kind];
            let (v, lo, hi) = (
                e["value"].as_f64().unwrap(),
                e["low"].as_f64().unwrap(),
                e["high"].as_f64().unwrap(),
            );
            assert!(lo <= v && v <= hi, "{path} {kind}: {e}");
            assert!(v > -0.5 && v < 1.5, "{path} {kind}: {e}");
        }
        sum += ix["first_order"]["value"].as_f64().unwrap();
        err += 0.5
            * (ix["first_order"]["high"].as_f64().unwrap()
                - ix["first_order"]["low"].as_f64().unwrap());
    }
    // Acceptance: the first-order indices sum to at most 1 + their error.
    assert!(sum <= 1.0 + err, "sum {sum} > 1 + {err}");
    assert!((s["first_order_sum"]["value"].as_f64().unwrap() - sum).abs() < 1e-9);
    // Growth drives the saving: the initial growth rate ranks first.
    assert_eq!(s["ranking"][0], "series.openai.growth.initial");
    let csv = std::fs::read_to_string(out.join("sobol.csv")).unwrap();
    assert!(
        csv.starts_with("rank,parameter,distribution,metric,first_order,"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 5);

    // Ranges that reach invalid values are refused before any run.
    std::fs::write(
        &ranges,
        r#"{ "series.openai.volatility.initial": { "dist": "normal", "mean": 0.1, "sd": 0.2 } }"#,
    )
    .unwrap();
    fails(
        revshare(&[
            "sensitivity",
            &base(),
            "--method",
            "sobol",
            "--ranges",
            &r,
            "--samples",
            "64",
            "--out",
            &o,
        ]),
        2,
        &[
            "invalid at the design point",
            "series.openai.volatility.initial",
        ],
    );
    std::fs::write(&ranges, r#"{ "regimes.amended.nope.cap": [30, 50] }"#).unwrap();
    fails(
        revshare(&[
            "sensitivity",
            &base(),
            "--method",
            "sobol",
            "--ranges",
            &r,
            "--out",
            &o,
        ]),
        2,
        &["ranges.json", "has no flow named `nope`"],
    );
}

#[test]
fn flows_by_name_in_set_and_sweep() {
    let d = workdir("names");
    let s = run_summary(
        &base(),
        &d.join("run"),
        &[
            "--paths",
            "1000",
            "--set",
            "regimes.amended.openai_to_microsoft.cap=50",
        ],
    );
    assert_eq!(
        s["scenario"]["regimes"]["amended"][0]["cap"].as_f64(),
        Some(50.0)
    );
    let o = d.join("sweep").display().to_string();
    ok(revshare(&[
        "sweep",
        &base(),
        "--param",
        "regimes.amended.openai_to_microsoft.cap",
        "--values",
        "30,50",
        "--paths",
        "1000",
        "--no-charts",
        "-q",
        "--out",
        &o,
    ]));
    fails(
        revshare(&[
            "run",
            &base(),
            "--paths",
            "100",
            "--set",
            "regimes.prior.openai_to_msft.rate=0.1",
        ]),
        2,
        &[
            "regime `prior` has no flow named `openai_to_msft`",
            "microsoft_to_openai (1)",
        ],
    );
}
