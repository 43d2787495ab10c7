//! Real CLI runs of `batch`, `sweep`, `sensitivity` and `--xlsx`, on the
//! shipped scenarios and small path counts (2,000). Cost: about 10–20 s of
//! release-mode CPU in all.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use calamine::{open_workbook, Data, Reader, Xlsx};

const BIN: &str = env!("CARGO_BIN_EXE_revshare");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("revshare-batch-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn revshare(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Parses a CSV written by revshare (no quoted commas in these files).
fn csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let t = std::fs::read_to_string(path).unwrap();
    let mut lines = t.lines();
    let header = lines.next().unwrap().split(',').map(String::from).collect();
    let rows = lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    (header, rows)
}

fn col(header: &[String], name: &str) -> usize {
    header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name} in {header:?}"))
}

fn summary(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn batch_runs_every_valid_scenario_and_reports_the_invalid_one() {
    let dir = tmp("scen");
    let shipped: Vec<PathBuf> = std::fs::read_dir(root().join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    for p in &shipped {
        std::fs::copy(p, dir.join(p.file_name().unwrap())).unwrap();
    }
    let bad = std::fs::read_to_string(root().join("scenarios/base.json"))
        .unwrap()
        .replace("\"name\": \"base\"", "\"name\": \"broken\"")
        .replace("\"rate\": 0.2", "\"rate\": 1.5");
    assert!(bad.contains("1.5"));
    std::fs::write(dir.join("aaa-broken.json"), bad).unwrap();
    let out = tmp("batch-out");
    let o = revshare(&[
        "batch",
        dir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--paths",
        "2000",
    ]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("aaa-broken.json"), "{err}");
    assert!(
        err.contains("regimes.prior.0.rate: must be in [0, 1]"),
        "{err}"
    );

    let (header, rows) = csv(&out.join("comparison.csv"));
    assert_eq!(rows.len(), shipped.len(), "one row per valid scenario");
    let names: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert!(!names.contains(&"broken"));
    assert!(names.contains(&"base") && names.contains(&"stress"));
    let p = col(
        &header,
        "regimes.amended.flows.openai_to_microsoft.cap_hit.probability",
    );
    let d = col(&header, "comparisons.amended.OpenAI.delta_net.mean");
    for r in &rows {
        // Each row agrees with that scenario's own summary.json.
        let s = summary(&out.join(&r[0]).join("summary.json"));
        let prob = s["regimes"]["amended"]["flows"]["openai_to_microsoft"]["cap_hit"]
            ["probability"]
            .as_f64()
            .unwrap();
        // serde_json's default float parsing may differ in the last bit.
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1.0);
        assert!(close(r[p].parse::<f64>().unwrap(), prob), "{}", r[0]);
        let delta = s["comparisons"]["amended"]["OpenAI"]["delta_net"]["mean"]
            .as_f64()
            .unwrap();
        assert!(close(r[d].parse::<f64>().unwrap(), delta), "{}", r[0]);
        assert_eq!(s["run"]["paths"], 2000);
    }
    let md = std::fs::read_to_string(out.join("comparison.md")).unwrap();
    assert_eq!(md.lines().count(), 2 + shipped.len(), "{md}");
    for f in ["comparison.png", "comparison.svg", "comparison-delta.png"] {
        assert!(std::fs::metadata(out.join(f)).unwrap().len() > 1000, "{f}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn set_applies_validates_and_rejects_unknown_paths() {
    let base = root().join("scenarios/base.json");
    let bear = root().join("scenarios/bear.json");
    let (b, r) = (base.to_str().unwrap(), bear.to_str().unwrap());
    let out = tmp("set");
    let o = out.to_str().unwrap();
    let ok = revshare(&[
        "batch",
        b,
        r,
        "--out",
        o,
        "--paths",
        "2000",
        "-q",
        "--set",
        "regimes.amended.0.cap=50",
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    for name in ["base", "bear"] {
        let s = summary(&out.join(name).join("summary.json"));
        assert_eq!(s["scenario"]["regimes"]["amended"][0]["cap"], 50.0);
    }
    // Validated like the file: every scenario fails, exit 2, field path named.
    let bad = revshare(&[
        "batch",
        b,
        r,
        "--out",
        o,
        "--paths",
        "2000",
        "--set",
        "regimes.amended.0.rate=2",
    ]);
    let err = text(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2), "{err}");
    assert_eq!(
        err.matches("regimes.amended.0.rate: must be in [0, 1]")
            .count(),
        2,
        "{err}"
    );
    assert!(err.contains("no valid scenario"), "{err}");
    // Unknown paths: a misspelt field, a missing key, an index out of range.
    for (set, want) in [
        ("regimes.amended.0.caps=1", "unknown field `caps`"),
        ("series.nope.growth.initial=1", "series.nope: no such field"),
        ("regimes.amended.5.cap=1", "out of range"),
    ] {
        let o2 = revshare(&["batch", b, "--out", o, "--paths", "2000", "--set", set]);
        let err = text(&o2.stderr);
        assert_eq!(o2.status.code(), Some(2), "{set}: {err}");
        assert!(err.contains(want), "{set}: {err}");
        assert!(
            err.contains("--set") || err.contains("after --set"),
            "{err}"
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn sweeps_use_common_random_numbers() {
    let base = root().join("scenarios/base.json");
    let b = base.to_str().unwrap();
    let out = tmp("sweep-cap");
    let o = revshare(&[
        "sweep",
        b,
        "--param",
        "regimes.amended.0.cap",
        "--values",
        "20:80:10",
        "--paths",
        "2000",
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let (h, rows) = csv(&out.join("sweep.csv"));
    assert_eq!(rows.len(), 7);
    let p = col(
        &h,
        "regimes.amended.flows.openai_to_microsoft.cap_hit.probability",
    );
    let probs: Vec<f64> = rows.iter().map(|r| r[p].parse().unwrap()).collect();
    // Same paths at every cap: a path that hits a higher cap hits every lower one.
    for w in probs.windows(2) {
        assert!(w[1] <= w[0], "P(cap binds) rose with the cap: {probs:?}");
    }
    assert!(probs[0] > probs[6], "{probs:?}");
    // The default metric is that probability, with its band.
    let m = col(
        &h,
        "metric:regimes.amended.flows.openai_to_microsoft.cap_hit.probability",
    );
    assert_eq!(rows[3][m], rows[3][p]);
    assert!(std::fs::metadata(out.join("sweep.png")).unwrap().len() > 1000);

    // A grid point is exactly `run --set` at that point (same seed, same paths).
    let single = tmp("sweep-single");
    let r = revshare(&[
        "run",
        b,
        "--paths",
        "2000",
        "--set",
        "regimes.amended.0.cap=50",
        "--out",
        single.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(r.status.code(), Some(0));
    let s = summary(&single.join("summary.json"));
    let run_p = s["regimes"]["amended"]["flows"]["openai_to_microsoft"]["cap_hit"]["probability"]
        .as_f64()
        .unwrap();
    assert!((probs[3] - run_p).abs() < 1e-15, "{} vs {run_p}", probs[3]);

    // Totals are monotone in the rate, on every path, so in every quantile.
    let out2 = tmp("sweep-rate");
    let o = revshare(&[
        "sweep",
        b,
        "--param",
        "regimes.prior.0.rate",
        "--values",
        "0.1,0.15,0.2,0.3",
        "--param",
        "regimes.amended.0.cap",
        "--values",
        "30,60",
        "--metric",
        "regimes.prior.flows.openai_to_microsoft.total",
        "--paths",
        "2000",
        "--out",
        out2.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let (h, rows) = csv(&out2.join("sweep.csv"));
    assert_eq!(rows.len(), 8, "a 4 x 2 grid");
    for stat in ["mean", "p5", "p50", "p95"] {
        let c = col(
            &h,
            &format!("regimes.prior.flows.openai_to_microsoft.total.{stat}"),
        );
        // Rows with the same cap (every other row) as the rate rises.
        for start in 0..2 {
            let v: Vec<f64> = rows
                .iter()
                .skip(start)
                .step_by(2)
                .map(|r| r[c].parse().unwrap())
                .collect();
            for w in v.windows(2) {
                assert!(w[1] > w[0], "{stat} not increasing in the rate: {v:?}");
            }
        }
    }
    // The mean is linear in the rate: total(0.3) = 3 x total(0.1) on the same paths.
    let c = col(&h, "regimes.prior.flows.openai_to_microsoft.total.mean");
    let (t1, t3): (f64, f64) = (rows[0][c].parse().unwrap(), rows[6][c].parse().unwrap());
    assert!((t3 / t1 - 3.0).abs() < 1e-9, "{t1} {t3}");

    // An unknown metric is rejected before the runs, with the choices.
    let bad = revshare(&[
        "sweep",
        b,
        "--param",
        "regimes.amended.0.cap",
        "--values",
        "30",
        "--metric",
        "regimes.amended.flows.nope.total",
        "--paths",
        "2000",
        "--out",
        out2.to_str().unwrap(),
    ]);
    let err = text(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no `nope`") && err.contains("openai_to_microsoft"),
        "{err}"
    );
    for d in [out, out2, single] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn sensitivity_ranks_a_zero_effect_parameter_last_with_exactly_zero() {
    let dir = tmp("sens");
    let mut sc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root().join("scenarios/base.json")).unwrap())
            .unwrap();
    // A flow whose window lies after the horizon: it can never pay.
    sc["regimes"]["amended"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "name": "late", "payer": "OpenAI", "payee": "Microsoft", "series": "openai",
            "rate": 0.1, "from_year": 2040, "to_year": 2041
        }));
    let file = dir.join("late.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&sc).unwrap()).unwrap();
    let out = dir.join("out");
    let o = revshare(&[
        "sensitivity",
        file.to_str().unwrap(),
        "--paths",
        "2000",
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let (h, rows) = csv(&out.join("sensitivity.csv"));
    let (param, swing) = (col(&h, "parameter"), col(&h, "swing"));
    let swings: Vec<f64> = rows.iter().map(|r| r[swing].parse().unwrap()).collect();
    let late = rows
        .iter()
        .position(|r| r[param] == "regimes.amended.1.rate")
        .expect("the late flow's rate is a parameter");
    assert_eq!(swings[late], 0.0, "exactly zero effect");
    assert_eq!(rows[late][col(&h, "delta_low")], "0");
    assert_eq!(rows[late][col(&h, "delta_high")], "0");
    // Ranked by swing: only zero-effect parameters at or after it, and the
    // largest effects first.
    assert!(swings[late..].iter().all(|s| *s == 0.0), "{swings:?}");
    assert!(swings.windows(2).all(|w| w[0] >= w[1]), "{swings:?}");
    assert!(swings[0] > 1.0, "{swings:?}");
    assert_eq!(*swings.last().unwrap(), 0.0);
    // The default metric is OpenAI's mean gain against the baseline.
    assert_eq!(
        rows[0][col(&h, "metric")],
        "comparisons.amended.OpenAI.delta_net"
    );
    assert!(std::fs::metadata(out.join("tornado.png")).unwrap().len() > 1000);
    let _ = std::fs::remove_dir_all(&dir);
}

fn sheet(path: &Path, name: &str) -> Vec<Vec<Data>> {
    let mut wb: Xlsx<_> = open_workbook(path).expect("a valid workbook");
    let range = wb.worksheet_range(name).expect("sheet exists");
    range.rows().map(|r| r.to_vec()).collect()
}

fn s(d: &Data) -> String {
    match d {
        Data::String(s) => s.clone(),
        other => format!("{other}"),
    }
}

fn f(d: &Data) -> f64 {
    match d {
        Data::Float(x) => *x,
        Data::Int(x) => *x as f64,
        other => panic!("not a number: {other:?}"),
    }
}

#[test]
fn xlsx_workbooks_read_back() {
    let base = root().join("scenarios/base.json");
    let b = base.to_str().unwrap();
    let out = tmp("xlsx-run");
    let o = revshare(&[
        "run",
        b,
        "--paths",
        "2000",
        "--xlsx",
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let path = out.join("results.xlsx");
    let wb: Xlsx<_> = open_workbook(&path).expect("a valid workbook");
    assert_eq!(
        wb.sheet_names(),
        ["summary", "per year", "per step", "inputs", "run"]
    );
    let js = summary(&out.join("summary.json"));
    let rows = sheet(&path, "summary");
    assert_eq!(s(&rows[0][0]), "run");
    let prob = rows
        .iter()
        .find(|r| s(&r[4]) == "P(cap binds)" && s(&r[2]) == "amended")
        .expect("a P(cap binds) row");
    let want = js["regimes"]["amended"]["flows"]["openai_to_microsoft"]["cap_hit"]["probability"]
        .as_f64()
        .unwrap();
    assert!((f(&prob[6]) - want).abs() < 1e-15);
    let total = rows
        .iter()
        .find(|r| s(&r[2]) == "prior" && s(&r[3]) == "openai_to_microsoft" && s(&r[4]) == "total")
        .unwrap();
    let mean = js["regimes"]["prior"]["flows"]["openai_to_microsoft"]["total"]["mean"]
        .as_f64()
        .unwrap();
    assert!((f(&total[6]) - mean).abs() <= 1e-12 * mean);
    // Per year: 5 years x (2 series + 3 flows); per step: (60 + 1) x 5.
    assert_eq!(sheet(&path, "per year").len(), 1 + 5 * 5);
    assert_eq!(sheet(&path, "per step").len(), 1 + 61 * 5);

    // A batch workbook leads with the comparison sheet, one row per scenario.
    let bear = root().join("scenarios/bear.json");
    let out2 = tmp("xlsx-batch");
    let o = revshare(&[
        "batch",
        b,
        bear.to_str().unwrap(),
        "--paths",
        "2000",
        "--xlsx",
        "--out",
        out2.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let path = out2.join("comparison.xlsx");
    let wb: Xlsx<_> = open_workbook(&path).unwrap();
    assert_eq!(
        wb.sheet_names(),
        [
            "comparison",
            "summary",
            "per year",
            "per step",
            "inputs",
            "run"
        ]
    );
    let cmp = sheet(&path, "comparison");
    assert_eq!(cmp.len(), 3);
    assert_eq!(s(&cmp[1][0]), "base");
    assert_eq!(s(&cmp[2][0]), "bear");
    let (h, rows) = csv(&out2.join("comparison.csv"));
    let c = col(&h, "comparisons.amended.OpenAI.delta_net.mean");
    assert_eq!(f(&cmp[2][c]), rows[1][c].parse::<f64>().unwrap());
    for d in [out, out2] {
        let _ = std::fs::remove_dir_all(d);
    }
}
