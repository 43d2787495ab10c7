//! The real binary, end to end: outputs, determinism across thread counts
//! and seeds, validation errors.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_revshare"))
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("revshare-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// summary.json without the fields that describe the machine, not the result.
fn result_part(path: &Path) -> String {
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path.join("summary.json")).unwrap()).unwrap();
    let run = v["run"].as_object_mut().unwrap();
    for k in ["threads", "elapsed_seconds", "paths_per_second"] {
        assert!(run.remove(k).is_some(), "run.{k} missing");
    }
    serde_json::to_string_pretty(&v).unwrap()
}

fn run_base(out: &Path, extra: &[&str]) -> std::process::Output {
    let o = bin()
        .args(["run", "scenarios/base.json", "--paths", "5000", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o
}

#[test]
fn run_writes_the_three_files_and_prints_a_summary() {
    let d = tmpdir("e2e");
    let o = run_base(&d, &["--seed", "1"]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("binds on"), "{stdout}");
    assert!(stdout.contains("OpenAI net gain"), "{stdout}");
    for f in ["summary.json", "steps.csv", "annual.csv"] {
        assert!(d.join(f).is_file(), "{f} missing");
    }
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["schema_version"], 1);
    assert_eq!(s["run"]["paths"], 5000);
    assert_eq!(s["run"]["seed"], 1);
    assert_eq!(s["run"]["steps"], 60);
    let hit = &s["regimes"]["amended"]["flows"]["openai_to_microsoft"]["cap_hit"];
    let p = hit["probability"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&p));
    assert_eq!(hit["probability_by_year"]["2030"].as_f64().unwrap(), p);
    // The prior regime is uncapped: no cap_hit key.
    assert!(s["regimes"]["prior"]["flows"]["openai_to_microsoft"]
        .get("cap_hit")
        .is_none());
    for k in ["mean", "sd", "se", "min", "max", "p1", "p50", "p99"] {
        assert!(s["series"]["openai"]["run_rate_end"][k].is_number(), "{k}");
    }
    let steps = std::fs::read_to_string(d.join("steps.csv")).unwrap();
    assert!(steps.starts_with("quantity,regime,name,unit,step,time,mean,p1,"));
    // 2 series x 61 + 3 flows x 61 rows, plus the header.
    assert_eq!(steps.lines().count(), 1 + 5 * 61);
    let annual = std::fs::read_to_string(d.join("annual.csv")).unwrap();
    assert_eq!(annual.lines().count(), 1 + 5 * (2 + 3));
    // No temporary files left behind.
    for e in std::fs::read_dir(&d).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().to_string();
        assert!(
            !name.starts_with('.') || name == ".revshare-manifest",
            "left {name}"
        );
    }
}

#[test]
fn a_rerun_into_the_same_folder_leaves_only_its_own_files() {
    let d = tmpdir("rerun");
    // First run: charts and a workbook.
    run_base(&d, &["-q", "--xlsx"]);
    assert!(d.join("results.xlsx").is_file());
    assert!(d.join("charts").join("fan_revenue_openai.png").is_file());
    // The user's own file in the folder.
    let notes = d.join("charts").join("notes.txt");
    std::fs::write(&notes, b"mine").unwrap();
    // Second run with another cap, no workbook, no charts.
    run_base(
        &d,
        &["-q", "--no-charts", "--set", "regimes.amended.0.cap=50"],
    );
    assert!(
        !d.join("results.xlsx").exists(),
        "the first run's workbook stayed"
    );
    assert!(
        !d.join("charts").join("fan_revenue_openai.png").exists(),
        "the first run's charts stayed"
    );
    assert_eq!(
        std::fs::read(&notes).unwrap(),
        b"mine",
        "a user's file was lost"
    );
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["scenario"]["regimes"]["amended"][0]["cap"], 50.0);
    let manifest = std::fs::read_to_string(d.join(".revshare-manifest")).unwrap();
    assert!(manifest.contains("summary.json") && !manifest.contains("results.xlsx"));
}

#[test]
fn a_folder_of_foreign_files_needs_force_and_keeps_them() {
    let d = tmpdir("foreign");
    let mine = d.join("charts").join("architecture.png");
    std::fs::create_dir_all(mine.parent().unwrap()).unwrap();
    std::fs::write(&mine, b"x").unwrap();
    let o = bin()
        .args([
            "run",
            "scenarios/base.json",
            "--paths",
            "2000",
            "-q",
            "--out",
        ])
        .arg(&d)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--force") && err.contains("architecture.png"),
        "{err}"
    );
    assert!(!d.join("summary.json").exists());
    run_base(&d, &["-q", "--force"]);
    assert_eq!(std::fs::read(&mine).unwrap(), b"x");
    assert!(d.join("charts").join("fan_revenue_openai.png").is_file());
}

#[test]
fn summary_is_byte_identical_across_thread_counts_and_runs() {
    let mut parts = Vec::new();
    for t in ["1", "2", "8", "2"] {
        let d = tmpdir(&format!("threads{t}-{}", parts.len()));
        run_base(&d, &["--threads", t, "--seed", "7", "-q"]);
        parts.push(result_part(&d));
    }
    for p in &parts[1..] {
        assert!(*p == parts[0], "summary.json differs between thread counts");
    }
    let d = tmpdir("seed8");
    run_base(&d, &["--seed", "8", "-q"]);
    assert_ne!(
        result_part(&d),
        parts[0],
        "different seeds gave the same result"
    );
}

#[test]
fn validate_reports_every_problem_with_field_paths() {
    let d = tmpdir("validate");
    let bad = d.join("bad.json");
    let text = std::fs::read_to_string("scenarios/base.json")
        .unwrap()
        .replace("\"initial_run_rate\": 20.0", "\"initial_run_rate\": -20.0")
        .replace("\"baseline\": \"prior\"", "\"baseline\": \"nope\"");
    std::fs::write(&bad, text).unwrap();
    let o = bin().arg("validate").arg(&bad).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.json"), "{err}");
    assert!(
        err.contains("series.openai.initial_run_rate: must be > 0"),
        "{err}"
    );
    assert!(err.contains("baseline: \"nope\" is not a regime"), "{err}");
    // A run of the same file writes nothing.
    let out = d.join("out");
    let o = bin()
        .arg("run")
        .arg(&bad)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(!out.exists());
    // Syntax errors give line and column.
    std::fs::write(&bad, "{\n  \"name\": \"x\",\n  ]").unwrap();
    let o = bin().arg("validate").arg(&bad).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.json:3:3"), "{err}");
}

#[test]
fn a_closed_stdout_ends_the_program_quietly() {
    // `revshare validate ... | head`: the reader goes away before the
    // program prints. It must not panic (exit 101, "panicked at").
    let mut child = bin()
        .args(["validate", "scenarios/base.json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_ne!(o.status.code(), Some(101), "{err}");
}

#[test]
fn every_shipped_scenario_validates() {
    let mut n = 0;
    for e in std::fs::read_dir("scenarios").unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            let o = bin().arg("validate").arg(&p).output().unwrap();
            assert!(
                o.status.success(),
                "{}: {}",
                p.display(),
                String::from_utf8_lossy(&o.stderr)
            );
            n += 1;
        }
    }
    assert!(n >= 2);
}
