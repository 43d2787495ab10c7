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

// ---------------------------------------------------------------------------
// Unbounded resources from small inputs, crafted partial files, sweeps
// that would mislabel their rows (issue 21, items 7-9).
// ---------------------------------------------------------------------------

/// Runs revshare with `args` in `cwd`, killing it after `secs` seconds
/// (then panicking: the point of these cases is that they end at once).
fn revshare_within(cwd: &Path, args: &[&std::ffi::OsStr], secs: u64) -> (Output, f64) {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let started = Instant::now();
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = started + Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?}: still running after {secs} s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let o = child.wait_with_output().unwrap();
    (o, started.elapsed().as_secs_f64())
}

fn os(s: &str) -> &std::ffi::OsStr {
    s.as_ref()
}

/// A scenario for the shard and merge cases: 3,000 paths (3 batches).
fn shard_scenario(dir: &Path) -> PathBuf {
    let text = extreme(
        "shards",
        2028,
        12,
        r#"{ "initial_run_rate": 20, "growth": { "initial": 0.3 }, "volatility": { "initial": 0.3 } }"#,
        "",
    )
    .replace("\"paths\": 1000", "\"paths\": 3000");
    let f = dir.join("shards.json");
    std::fs::write(&f, text).unwrap();
    f
}

/// The partial files of shards 0 and 1 of 2 of [`shard_scenario`].
fn two_partials(dir: &Path) -> Vec<PathBuf> {
    let sc = shard_scenario(dir);
    (0..2)
        .map(|i| {
            let out = dir.join(format!("shard-{i}"));
            let o = revshare(
                dir,
                &[
                    os("run"),
                    sc.as_os_str(),
                    os("--shard"),
                    os(&format!("{i}/2")),
                    os("--out"),
                    out.as_os_str(),
                    os("-q"),
                ],
            );
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            out.join("partial.bin")
        })
        .collect()
}

/// Runs `merge FILES --out DIR` and checks that it is refused cleanly
/// (exit 2, every fragment in the message, nothing written, no panic), in
/// at most 20 s.
fn assert_merge_refused(dir: &Path, files: &[&Path], fragments: &[&str]) {
    let out = dir.join("merged");
    let mut args = vec![os("merge")];
    args.extend(files.iter().map(|f| f.as_os_str()));
    args.extend([os("--out"), out.as_os_str(), os("-q")]);
    let (o, secs) = revshare_within(dir, &args, 20);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{files:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    for f in fragments {
        assert!(err.contains(f), "expected {f:?} in: {err}");
    }
    assert!(!out.exists());
    println!(
        "merge refused in {secs:.2} s: {}",
        err.lines().next().unwrap_or("")
    );
}

#[test]
fn merge_reads_no_more_than_a_partial_announces() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let parts = two_partials(dir);
    // A device that never ends: refused after its first line.
    if Path::new("/dev/zero").exists() {
        assert_merge_refused(
            dir,
            &[Path::new("/dev/zero"), &parts[1]],
            &["/dev/zero: not a revshare partial file"],
        );
    }
    // A real partial's first lines in front of 8 GiB (a sparse file):
    // refused from its size, unread.
    let bytes = std::fs::read(&parts[0]).unwrap();
    let huge = dir.join("huge.bin");
    std::fs::write(&huge, &bytes).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&huge)
        .unwrap()
        .set_len(8 << 30)
        .unwrap();
    assert_merge_refused(
        dir,
        &[&huge, &parts[1]],
        &[
            "huge.bin: corrupted:",
            "bytes after the end announced by its header",
        ],
    );
    // A header that announces 2^40 bytes, through a pipe (no size to
    // check): refused without reading them.
    let nl = bytes.iter().position(|&b| b == b'\n').unwrap();
    let nl2 = nl + 1 + bytes[nl + 1..].iter().position(|&b| b == b'\n').unwrap();
    let mut claim = bytes[..=nl2].to_vec();
    claim.extend_from_slice(&(1u64 << 40).to_le_bytes());
    let fifo = dir.join("pipe.bin");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&fifo) {
                let _ = f.write_all(&claim);
                // Then endless zeros, until the reader goes away.
                let zeros = vec![0u8; 1 << 16];
                while f.write_all(&zeros).is_ok() {}
            }
        })
    };
    assert_merge_refused(
        dir,
        &[&fifo, &parts[1]],
        &[
            "pipe.bin: corrupted:",
            "more than the 4294967296 a partial may have",
        ],
    );
    writer.join().unwrap();
}

/// Rewrites the first MessagePack integer after the key `key` in `bytes`
/// with the value `v` (as an int64).
fn patch_msgpack_int(bytes: &[u8], key: &str, v: i64) -> Option<Vec<u8>> {
    let mut pat = vec![0xa0 | key.len() as u8];
    pat.extend_from_slice(key.as_bytes());
    let at = bytes.windows(pat.len()).position(|w| w == pat.as_slice())? + pat.len();
    let width = match bytes[at] {
        0x00..=0x7f | 0xe0..=0xff => 1,
        0xcc | 0xd0 => 2,
        0xcd | 0xd1 => 3,
        0xce | 0xd2 => 5,
        0xcf | 0xd3 => 9,
        _ => return None,
    };
    let mut out = bytes[..at].to_vec();
    out.push(0xd3);
    out.extend_from_slice(&v.to_be_bytes());
    out.extend_from_slice(&bytes[at + width..]);
    Some(out)
}

#[test]
fn crafted_partials_with_valid_checksums_are_refused() {
    use revshare::engine::partial::Partial;
    use revshare::statistics::StatAcc;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let parts = two_partials(dir);
    let good = Partial::decode(&std::fs::read(&parts[0]).unwrap()).unwrap();
    let write = |name: &str, p: &Partial| {
        let f = dir.join(name);
        std::fs::write(&f, p.encode()).unwrap();
        f
    };
    // Sketch windows moved far out of the keys of finite values: an index
    // out of bounds (a panic, exit 101) or a window of terabytes (an abort).
    for (name, offset) in [
        ("offset-near-max.bin", i64::MAX - 3),
        ("offset-2tb.bin", -(1i64 << 40)),
    ] {
        let mut p = good.clone();
        let mut patched = 0;
        for s in &mut p.tally.stats {
            let bytes = rmp_serde::to_vec_named(&*s).unwrap();
            let bad = patch_msgpack_int(&bytes, "offset", offset).unwrap();
            *s = rmp_serde::from_slice::<StatAcc>(&bad).unwrap();
            patched += 1;
        }
        assert!(patched > 0);
        let f = write(name, &p);
        assert_merge_refused(
            dir,
            &[&f, &parts[1]],
            &[
                &format!("{name}: corrupted: accumulator 0: sketch: a bucket window"),
                "outside the keys of finite values",
            ],
        );
    }
    // Counts beyond the paths.
    let mut p = good.clone();
    let bytes = rmp_serde::to_vec_named(&p.tally.stats[0]).unwrap();
    p.tally.stats[0] =
        rmp_serde::from_slice(&patch_msgpack_int(&bytes, "count", 1 << 40).unwrap()).unwrap();
    let f = write("count.bin", &p);
    assert_merge_refused(
        dir,
        &[&f, &parts[1]],
        &[
            "count.bin: corrupted: accumulator 0:",
            "values in a tally of 2048 paths",
        ],
    );
    let mut p = good.clone();
    if let Some(h) = p.tally.hits.first_mut() {
        *h = u64::MAX;
        let f = write("hits.bin", &p);
        assert_merge_refused(dir, &[&f, &parts[1]], &["more cap hits than paths"]);
    }
    // A shard count far beyond the batches (its merge listed every
    // missing shard).
    let mut p = good.clone();
    p.header.shard_count = u64::MAX;
    let f = write("count-max.bin", &p);
    assert_merge_refused(
        dir,
        &[&f],
        &[
            "count-max.bin: corrupted:",
            "18446744073709551615 shards for 3000 paths (3 batches)",
        ],
    );
    // The unaltered partials still merge.
    let out = dir.join("ok");
    let o = revshare(
        dir,
        &[
            os("merge"),
            parts[0].as_os_str(),
            parts[1].as_os_str(),
            os("--out"),
            out.as_os_str(),
            os("-q"),
            os("--no-charts"),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn shard_counts_are_bounded_by_the_batches() {
    let work = tempfile::tempdir().unwrap();
    let sc = shard_scenario(work.path());
    for spec in ["0/18446744073709551615", "3/4"] {
        let out = work.path().join("out");
        let (o, _) = revshare_within(
            work.path(),
            &[
                os("run"),
                sc.as_os_str(),
                os("--shard"),
                os(spec),
                os("--out"),
                out.as_os_str(),
            ],
            20,
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{spec}: {err}");
        assert!(
            err.contains("3000 paths make 3 batches of 1024, so at most 3 shards"),
            "{spec}: {err}"
        );
        assert!(
            files_under(work.path()).len() == 1,
            "{spec}: wrote something"
        );
    }
}

#[test]
fn threads_are_clamped_to_the_work() {
    let work = tempfile::tempdir().unwrap();
    let sc = shard_scenario(work.path());
    let out = work.path().join("out");
    let (o, secs) = revshare_within(
        work.path(),
        &[
            os("run"),
            sc.as_os_str(),
            os("--paths"),
            os("2000"),
            os("--threads"),
            os("10000"),
            os("--out"),
            out.as_os_str(),
            os("-q"),
        ],
        60,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["run"]["threads"], 2, "2,000 paths are 2 batches");
    println!("--threads 10000 for 2,000 paths: {secs:.2} s");
}

#[test]
fn sweeps_that_would_mislabel_or_overflow_excel_are_refused_first() {
    let work = tempfile::tempdir().unwrap();
    let sc = shard_scenario(work.path());
    let out = work.path().join("out");
    let sweep = |extra: &[&str]| {
        let mut args = vec![os("sweep"), sc.as_os_str()];
        args.extend(extra.iter().map(|a| os(a)));
        args.extend([os("--out"), out.as_os_str(), os("-q")]);
        revshare_within(work.path(), &args, 30)
    };
    for (extra, fragment) in [
        (
            vec![
                "--param",
                "regimes.amended.0.cap",
                "--values",
                "20,30",
                "--param",
                "regimes.amended.0.cap",
                "--values",
                "40,50",
            ],
            "--param regimes.amended.0.cap is given twice",
        ),
        (
            vec!["--param", "simulation.paths", "--values", "1000,2000"],
            "--param simulation.paths cannot be swept",
        ),
        (
            vec![
                "--param",
                "simulation.seed",
                "--values",
                "1,2",
                "--seed",
                "3",
            ],
            "cannot be combined with --seed",
        ),
        (
            // 10,000 points of 3 years of monthly steps: the per-step
            // sheet alone would need millions of rows.
            vec![
                "--param",
                "regimes.amended.0.cap",
                "--values",
                "1:10000:1",
                "--xlsx",
                "--paths",
                "1000",
            ],
            "beyond Excel's 1048576",
        ),
    ] {
        let (o, secs) = sweep(&extra);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(fragment), "{extra:?}: {err}");
        assert!(!out.exists(), "{extra:?}: wrote output");
        println!("{:?}: refused in {secs:.2} s", extra.join(" "));
    }
}

#[test]
fn csv_numbers_are_compact_at_extreme_magnitudes() {
    let work = tempfile::tempdir().unwrap();
    let text = extreme(
        "huge-csv",
        2027,
        4,
        r#"{ "initial_run_rate": 1e300, "growth": { "initial": 0.1 }, "volatility": { "initial": 0.3 } }"#,
        "",
    );
    let file = work.path().join("huge-csv.json");
    std::fs::write(&file, text).unwrap();
    let out = work.path().join("out");
    let o = revshare(
        work.path(),
        &[
            os("run"),
            file.as_os_str(),
            os("--out"),
            out.as_os_str(),
            os("-q"),
            os("--no-charts"),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for csv in ["steps.csv", "annual.csv"] {
        let text = std::fs::read_to_string(out.join(csv)).unwrap();
        let longest = text.split([',', '\n']).map(str::len).max().unwrap();
        assert!(longest <= 32, "{csv}: a field of {longest} characters");
        // Every number still parses.
        for field in text.lines().skip(1).flat_map(|l| l.split(',')) {
            if field.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
                assert!(field.parse::<f64>().is_ok(), "{csv}: {field}");
            }
        }
    }
}
