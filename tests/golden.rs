//! Golden file: summary.json of `scenarios/base.json` at seed 42 and 20,000
//! paths, compared exactly (every digit) with the committed
//! `tests/golden/base-summary.json`, the machine-dependent fields
//! `run.threads`, `run.elapsed_seconds` and `run.paths_per_second` removed.
//! Run on 1 and 2 threads: the result must not depend on the thread count.
//!
//! Any change to the numbers must be deliberate: regenerate with
//! `REVSHARE_BLESS=1 cargo test --release --test golden` and explain the
//! change in CHANGELOG.md.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_revshare");
const PATHS: &str = "20000";
const SEED: &str = "42";

fn golden_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/base-summary.json")
}

/// summary.json of the golden run on `threads` threads, timing removed,
/// pretty-printed with a final newline.
fn normalised_summary(threads: &str) -> String {
    normalised_summary_with(threads, None)
}

/// As [`normalised_summary`], with `REVSHARE_SIMD` set to `simd` if given.
fn normalised_summary_with(threads: &str, simd: Option<&str>) -> String {
    summary_of("scenarios/base.json", PATHS, threads, simd)
}

/// summary.json (timing removed) of `scenario` (relative to the crate) at
/// seed 42.
fn summary_of(scenario: &str, paths: &str, threads: &str, simd: Option<&str>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join(scenario);
    let mut cmd = Command::new(BIN);
    if let Some(v) = simd {
        cmd.env("REVSHARE_SIMD", v);
    }
    let o = cmd
        .arg("run")
        .arg(&scenario)
        .args([
            "--paths",
            paths,
            "--seed",
            SEED,
            "--threads",
            threads,
            "-q",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("summary.json")).unwrap()).unwrap();
    let run = v["run"].as_object_mut().unwrap();
    for key in ["threads", "elapsed_seconds", "paths_per_second"] {
        assert!(run.remove(key).is_some(), "run.{key} missing");
    }
    let mut s = serde_json::to_string_pretty(&v).unwrap();
    s.push('\n');
    s
}

#[test]
fn base_summary_matches_the_golden_file() {
    let got = normalised_summary("2");
    if std::env::var_os("REVSHARE_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(golden_path(), &got).unwrap();
        println!("blessed {}", golden_path().display());
        return;
    }
    let want = std::fs::read_to_string(golden_path()).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; create it with REVSHARE_BLESS=1 cargo test --release --test golden",
            golden_path().display()
        )
    });
    if got != want {
        let diff: Vec<String> = got
            .lines()
            .zip(want.lines())
            .enumerate()
            .filter(|(_, (g, w))| g != w)
            .take(20)
            .map(|(i, (g, w))| format!("line {}:\n  golden: {w}\n  now:    {g}", i + 1))
            .collect();
        panic!(
            "summary.json differs from {} ({} vs {} lines); first differences:\n{}\n\
             If the change is intended: REVSHARE_BLESS=1 cargo test --release --test golden, \
             and explain it in CHANGELOG.md.",
            golden_path().display(),
            got.lines().count(),
            want.lines().count(),
            diff.join("\n")
        );
    }
}

#[test]
fn golden_run_does_not_depend_on_the_thread_count() {
    assert!(normalised_summary("1") == normalised_summary("2"));
}

/// The engine's row loops and random-number kernels have AVX-512, AVX2
/// and portable builds chosen at run time; `REVSHARE_SIMD=off` and
/// `REVSHARE_SIMD=avx2` must give the same bytes as the best level (on a
/// machine without those levels the runs take the same build and the
/// test holds trivially).
#[test]
fn golden_run_does_not_depend_on_the_instruction_set() {
    let best = normalised_summary_with("2", None);
    assert!(normalised_summary_with("2", Some("off")) == best);
    assert!(normalised_summary_with("2", Some("avx2")) == best);
    // Every shipped scenario (tails, jumps, windows, caps hit before the
    // start, annual steps), on fewer paths.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    for e in std::fs::read_dir(dir).unwrap() {
        let name = format!("scenarios/{}", e.unwrap().file_name().to_string_lossy());
        let best = summary_of(&name, "3000", "2", None);
        assert!(
            summary_of(&name, "3000", "2", Some("off")) == best,
            "{name}"
        );
        assert!(
            summary_of(&name, "3000", "2", Some("avx2")) == best,
            "{name}"
        );
    }
}
