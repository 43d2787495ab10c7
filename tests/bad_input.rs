//! Bad input through the real binary: every file in `tests/bad_scenarios/`
//! (with the fragments its `.expected` file lists, one per line), plus cases
//! made on the fly (a 100 MB file, a missing file, a directory, a device
//! that never ends, an unreadable file). Each must exit non-zero with a
//! message that names the file, never panic, and write nothing.
//!
//! Also values that are valid but extreme: they must run to completion with
//! finite numbers in summary.json, or stop with the overflow error and
//! write nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_revshare");

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_scenarios")
}

fn revshare(cwd: &Path, args: &[&std::ffi::OsStr]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("the revshare binary runs")
}

/// Files below `dir`, recursively (to prove nothing was written).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.push(p.clone());
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Runs `validate FILE` and `run FILE --out DIR` in an empty working
/// directory and checks the common contract; returns stderr of `run`.
/// `name` is the part of the path that the message must show.
fn check_rejected(file: &Path, name: &str, fragments: &[String]) -> Result<String, String> {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let mut problems = Vec::new();
    let v = revshare(work.path(), &["validate".as_ref(), file.as_os_str()]);
    let r = revshare(
        work.path(),
        &[
            "run".as_ref(),
            file.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
            "--quiet".as_ref(),
        ],
    );
    for (cmd, o) in [("validate", &v), ("run", &r)] {
        let err = String::from_utf8_lossy(&o.stderr);
        let code = o.status.code();
        if code == Some(0) || code.is_none() || code == Some(101) {
            problems.push(format!("{cmd}: exit {code:?}"));
        }
        if err.contains("panicked at") || err.contains("RUST_BACKTRACE") {
            problems.push(format!("{cmd}: panicked: {err}"));
        }
        if !err.contains(name) {
            problems.push(format!("{cmd}: message does not name {name}: {err}"));
        }
        for f in fragments {
            if !err.contains(f.as_str()) {
                problems.push(format!("{cmd}: message lacks {f:?}: {err}"));
            }
        }
    }
    let left = files_under(work.path());
    if !left.is_empty() {
        problems.push(format!("files left behind: {left:?}"));
    }
    if problems.is_empty() {
        Ok(String::from_utf8_lossy(&r.stderr).into_owned())
    } else {
        Err(format!("{}:\n  {}", file.display(), problems.join("\n  ")))
    }
}

#[test]
fn every_bad_scenario_is_rejected_clearly() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 80, "corpus has only {} files", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let expected = case.with_extension("expected");
        let fragments: Vec<String> = std::fs::read_to_string(&expected)
            .unwrap_or_else(|e| panic!("{}: {e}", expected.display()))
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        assert!(!fragments.is_empty(), "{} is empty", expected.display());
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        if let Err(e) = check_rejected(case, &name, &fragments) {
            failures.push(e);
        }
    }
    println!(
        "bad scenarios: {} tried, {} rejected clearly",
        cases.len(),
        cases.len() - failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_100_mb_file_is_refused_unread() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("huge.json");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    w.write_all(b"{\"name\": \"t\", \"description\": \"")
        .unwrap();
    let block = vec![b'x'; 1 << 20];
    for _ in 0..100 {
        w.write_all(&block).unwrap();
    }
    w.write_all(b"\"}\n").unwrap();
    drop(w);
    check_rejected(&file, "huge.json", &["file is too large".into()]).unwrap();
}

#[test]
fn a_device_that_never_ends_is_refused() {
    // /dev/zero reports length 0; reading it must still stop at the limit.
    if !Path::new("/dev/zero").exists() {
        println!("note: no /dev/zero here; skipped");
        return;
    }
    check_rejected(
        Path::new("/dev/zero"),
        "/dev/zero",
        &["file is too large".into()],
    )
    .unwrap();
}

#[test]
fn a_missing_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nowhere.json");
    check_rejected(
        &file,
        "nowhere.json",
        &["cannot read scenario".into(), "No such file".into()],
    )
    .unwrap();
}

#[test]
fn a_directory_is_not_a_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("scenarios.json");
    std::fs::create_dir(&sub).unwrap();
    check_rejected(&sub, "scenarios.json", &["is a directory".into()]).unwrap();
}

#[test]
fn an_unreadable_file_is_reported() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret.json");
    std::fs::copy(corpus_dir().join("rate-above-one.json"), &file).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::File::open(&file).is_ok() {
        // Root (CAP_DAC_OVERRIDE) reads files whatever their mode.
        println!("note: running with the right to read mode-000 files (root?); unreadable-file case skipped");
        return;
    }
    check_rejected(
        &file,
        "secret.json",
        &["cannot read scenario".into(), "Permission denied".into()],
    )
    .unwrap();
}

#[test]
fn a_bad_override_is_rejected_clearly() {
    let work = tempfile::tempdir().unwrap();
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/base.json");
    for (set, fragment) in [
        (
            "regimes.prior.0.rate=2",
            "regimes.prior.0.rate: must be in [0, 1], got 2",
        ),
        ("series.nope.growth.initial=1", "series.nope: no such field"),
        ("regimes.prior.9.rate=0.1", "index 9 out of range"),
        ("regimes.prior.0.caps=1", "unknown field `caps`"),
        ("simulation.paths=0", "simulation.paths: must be in 1..="),
        ("simulation.paths=-1", "simulation.paths"),
        (
            "series.openai.growth=[1,2]",
            "series.openai.growth: expected a JSON object",
        ),
        ("start_year", "expected PATH=VALUE"),
        ("=3", "empty PATH"),
    ] {
        let out = work.path().join("out");
        let o = revshare(
            work.path(),
            &[
                "run".as_ref(),
                base.as_os_str(),
                "--set".as_ref(),
                set.as_ref(),
                "--out".as_ref(),
                out.as_os_str(),
                "-q".as_ref(),
            ],
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "--set {set}: {err}");
        assert!(err.contains("base.json"), "--set {set}: {err}");
        assert!(err.contains(fragment), "--set {set}: {err}");
        assert!(!err.contains("panicked"), "--set {set}: {err}");
        assert!(files_under(work.path()).is_empty(), "--set {set}");
    }
}

// ---------------------------------------------------------------------------
// Valid but extreme values.
// ---------------------------------------------------------------------------

/// A one-series scenario with a capped flow; `series` is the series body.
fn extreme(name: &str, end_year: u32, steps: u32, series: &str, extra: &str) -> String {
    format!(
        r#"{{ "name": "{name}", "start_year": 2026, "end_year": {end_year},
             "steps_per_year": {steps}, "simulation": {{ "paths": 1000, "seed": 7 }} {extra},
             "series": {{ "s": {series} }}, "baseline": "prior",
             "regimes": {{
               "prior": [ {{ "name": "f", "payer": "A", "payee": "B", "series": "s",
                             "rate": 0.2, "from_year": 2026, "to_year": {end_year} }} ],
               "amended": [ {{ "name": "f", "payer": "A", "payee": "B", "series": "s",
                               "rate": 0.2, "from_year": 2026, "to_year": {end_year}, "cap": 38 }} ] }} }}"#
    )
}

/// Every number in `v` is finite (serde_json writes NaN and infinities as
/// `null`), and `null` appears only as a cap-hit time of a cap never hit.
fn assert_all_finite(v: &serde_json::Value, path: &str) {
    match v {
        serde_json::Value::Null => assert!(path.ends_with(".time"), "null at {path}"),
        serde_json::Value::Number(n) => {
            assert!(n.as_f64().is_some_and(f64::is_finite), "{path}: {n}")
        }
        serde_json::Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| assert_all_finite(x, &format!("{path}.{i}"))),
        serde_json::Value::Object(m) => m
            .iter()
            .for_each(|(k, x)| assert_all_finite(x, &format!("{path}.{k}"))),
        _ => {}
    }
}

#[test]
fn extreme_but_valid_values_finish_finite_or_stop_clearly() {
    let cases = [
        extreme(
            "vol5",
            2030,
            12,
            r#"{ "initial_run_rate": 20, "growth": { "initial": 0.5 }, "volatility": { "initial": 5 } }"#,
            "",
        ),
        extreme(
            "growth3",
            2030,
            12,
            r#"{ "initial_run_rate": 20, "growth": { "initial": 3 }, "volatility": { "initial": 0.3 } }"#,
            "",
        ),
        extreme(
            "daily",
            2027,
            365,
            r#"{ "initial_run_rate": 20, "growth": { "initial": 0.5, "long_run": 0.1, "reversion": 1, "volatility": 0.3 }, "volatility": { "initial": 0.4, "long_run": 0.2, "decay": 0.5 }, "growth_correlation": 0.5, "jumps": { "rate": 1, "mean": -0.2, "sd": 0.1 }, "tails": { "dof": 3 } }"#,
            "",
        ),
        extreme(
            "tiny",
            2030,
            12,
            r#"{ "initial_run_rate": 1e-9, "growth": { "initial": 0.5 }, "volatility": { "initial": 0.3 } }"#,
            "",
        ),
        extreme(
            "all-at-once",
            2027,
            365,
            r#"{ "initial_run_rate": 1e-9, "growth": { "initial": 3, "volatility": 2 }, "volatility": { "initial": 5 }, "tails": { "dof": 2.001 } }"#,
            "",
        ),
        extreme(
            "underflow",
            2225,
            1,
            r#"{ "initial_run_rate": 1e-9, "growth": { "initial": -3 }, "volatility": { "initial": 5 } }"#,
            "",
        ),
        extreme(
            "huge-start",
            2030,
            12,
            r#"{ "initial_run_rate": 1e300, "growth": { "initial": 0.1 }, "volatility": { "initial": 0.3 } }"#,
            "",
        ),
        extreme(
            "overflow",
            2225,
            1,
            r#"{ "initial_run_rate": 20, "growth": { "initial": 4 }, "volatility": { "initial": 0.3 } }"#,
            "",
        ),
        extreme(
            "jump-storm",
            2030,
            12,
            r#"{ "initial_run_rate": 20, "growth": { "initial": 0 }, "volatility": { "initial": 0.3 }, "jumps": { "rate": 1000, "mean": 5, "sd": 3 } }"#,
            "",
        ),
        extreme(
            "deep-discount",
            2030,
            4,
            r#"{ "initial_run_rate": 20, "growth": { "initial": 0.3 }, "volatility": { "initial": 0.3 } }"#,
            r#", "discount_rate": 1e6"#,
        ),
        extreme(
            "negative-discount",
            2225,
            1,
            r#"{ "initial_run_rate": 20, "growth": { "initial": 0.3 }, "volatility": { "initial": 0.3 } }"#,
            r#", "discount_rate": -0.999"#,
        ),
    ];
    let work = tempfile::tempdir().unwrap();
    let (mut finished, mut stopped) = (Vec::new(), Vec::new());
    for text in &cases {
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        let name = v["name"].as_str().unwrap().to_string();
        let file = work.path().join(format!("{name}.json"));
        std::fs::write(&file, text).unwrap();
        let out = work.path().join(format!("out-{name}"));
        let o = revshare(
            work.path(),
            &[
                "run".as_ref(),
                file.as_os_str(),
                "--out".as_ref(),
                out.as_os_str(),
                "-q".as_ref(),
            ],
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "{name}: {err}");
        match o.status.code() {
            Some(0) => {
                let s: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap())
                        .unwrap();
                assert_all_finite(&s, &name);
                // The typed reader accepts it too.
                let _: revshare::summary::Summary = serde_json::from_value(s).unwrap();
                finished.push(name);
            }
            Some(1) => {
                assert!(err.contains("numerical overflow"), "{name}: {err}");
                assert!(err.contains(&format!("{name}.json")), "{name}: {err}");
                assert!(!out.exists(), "{name}: output written after an error");
                stopped.push(name);
            }
            c => panic!("{name}: exit {c:?}: {err}"),
        }
    }
    println!(
        "extreme values: finished finite {finished:?}; stopped with a clear error {stopped:?}"
    );
    // The overflow case must really overflow, and the plain ones must run.
    assert!(stopped.contains(&"overflow".to_string()));
    for n in ["vol5", "growth3", "daily", "tiny", "underflow"] {
        assert!(finished.contains(&n.to_string()), "{n} did not finish");
    }
}

/// Checks every statistic in `v` (an object with `mean`, `sd`, `min` and
/// `max`) for consistency: values that differ have a positive standard
/// deviation no larger than their range, and the mean and quantiles lie
/// in `[min, max]`, the quantiles in order.
fn assert_consistent_stats(v: &serde_json::Value, path: &str, checked: &mut usize) {
    match v {
        serde_json::Value::Object(m) => {
            let f = |k: &str| m.get(k).and_then(serde_json::Value::as_f64);
            if let (Some(mean), Some(sd), Some(min), Some(max)) =
                (f("mean"), f("sd"), f("min"), f("max"))
            {
                *checked += 1;
                assert!(min <= max, "{path}: min {min} > max {max}");
                if min < max && m.contains_key("p50") {
                    assert!(sd > 0.0, "{path}: sd {sd} with min {min} < max {max}");
                }
                assert!(sd <= max - min, "{path}: sd {sd} beyond the range");
                assert!(min <= mean && mean <= max, "{path}: mean {mean}");
                let q: Vec<f64> = ["p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99"]
                    .iter()
                    .filter_map(|k| f(k))
                    .collect();
                assert!(
                    q.windows(2).all(|w| w[0] <= w[1]),
                    "{path}: quantiles {q:?}"
                );
                assert!(q.iter().all(|&x| min <= x && x <= max), "{path}: {q:?}");
            }
            m.iter()
                .for_each(|(k, x)| assert_consistent_stats(x, &format!("{path}.{k}"), checked));
        }
        serde_json::Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| assert_consistent_stats(x, &format!("{path}.{i}"), checked)),
        _ => {}
    }
}

/// Issue 21, item 1: run rates near the ends of the floating-point range
/// (1e300, 1e-300, a subnormal; 1.8 growth a year for 200 years) gave a
/// standard deviation of 0 with min < max. They must finish with finite,
/// consistent statistics.
#[test]
fn extreme_magnitudes_keep_their_spread() {
    let cases = [
        extreme(
            "start-1e300",
            2030,
            12,
            r#"{ "initial_run_rate": 1e300, "growth": { "initial": 0.1 }, "volatility": { "initial": 0.3 } }"#,
            "",
        ),
        extreme(
            "start-1e-300",
            2030,
            12,
            r#"{ "initial_run_rate": 1e-300, "growth": { "initial": 0.1 }, "volatility": { "initial": 0.3 } }"#,
            "",
        ),
        extreme(
            "start-subnormal",
            2030,
            12,
            r#"{ "initial_run_rate": 4e-315, "growth": { "initial": 0.1 }, "volatility": { "initial": 0.3 } }"#,
            "",
        ),
        extreme(
            "growth-1_8-for-200-years",
            2225,
            1,
            r#"{ "initial_run_rate": 20, "growth": { "initial": 1.8 }, "volatility": { "initial": 0.3 } }"#,
            "",
        ),
    ];
    let work = tempfile::tempdir().unwrap();
    for text in &cases {
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        let name = v["name"].as_str().unwrap().to_string();
        let file = work.path().join(format!("{name}.json"));
        std::fs::write(&file, text).unwrap();
        let out = work.path().join(format!("out-{name}"));
        let o = revshare(
            work.path(),
            &[
                "run".as_ref(),
                file.as_os_str(),
                "--out".as_ref(),
                out.as_os_str(),
                "-q".as_ref(),
                "--no-charts".as_ref(),
            ],
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{name}: {err}");
        let s: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
        assert_all_finite(&s, &name);
        let mut checked = 0;
        assert_consistent_stats(&s, &name, &mut checked);
        assert!(checked > 10, "{name}: only {checked} statistics");
        // The run rate at the end spreads: its sd is of the order of its mean.
        let rr = &s["series"]["s"]["run_rate_end"];
        let (mean, sd) = (rr["mean"].as_f64().unwrap(), rr["sd"].as_f64().unwrap());
        assert!(
            sd > mean * 1e-3 && sd < mean * 1e3,
            "{name}: mean {mean} sd {sd}"
        );
    }
}
