//! `run --precision`: the stopping rule checks only at fixed path counts,
//! so it stops at the same count with the same summary.json on any thread
//! count, and that summary is the plain (or sharded) run of that many paths.
//!
//! Each sampling method (mc, antithetic, qmc) is checked.
//!
//! Cost: a few runs of up to 65,536 paths per method (about 10 s on 2 cores).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_revshare");
const DELTA: &str = "comparisons.amended.OpenAI.delta_net.mean";
const HIT: &str = "regimes.amended.flows.openai_to_microsoft.cap_hit.probability";

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("revshare-prec-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn revshare(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("SLURM_ARRAY_TASK_COUNT")
        .env_remove("JOB_COMPLETION_INDEX")
        .output()
        .unwrap()
}

fn base() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/base.json")
        .display()
        .to_string()
}

fn summary(d: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(d.join("summary.json")).unwrap()).unwrap()
}

/// summary.json without the machine's fields and the stopping rule's own.
fn figures(d: &Path) -> serde_json::Value {
    let mut v = summary(d);
    let run = v["run"].as_object_mut().unwrap();
    for k in [
        "threads",
        "elapsed_seconds",
        "paths_per_second",
        "stopped_by",
        "precision",
    ] {
        run.remove(k);
    }
    v
}

fn precise(out: &Path, threads: &str, sampling: &str) -> Output {
    revshare(&[
        "run",
        &base(),
        "--sampling",
        sampling,
        "--precision",
        &format!("{DELTA}=1%"),
        "--precision",
        &format!("{HIT}=0.002"),
        "--threads",
        threads,
        "--no-charts",
        "-q",
        "--out",
        &out.display().to_string(),
    ])
}

#[test]
fn precision_stops_at_the_same_count_on_any_thread_count_and_equals_a_plain_run() {
    stops_alike("mc");
}

/// The same for the other sampling methods: their half-widths come from
/// pair or replicate means, and every check is a power of two of paths
/// (whole pairs, whole Sobol nets per replicate).
#[test]
fn precision_stops_alike_under_antithetic_and_qmc_sampling() {
    stops_alike("antithetic");
    stops_alike("qmc");
}

fn stops_alike(sampling: &str) {
    let (a, b) = (
        dir(&format!("{sampling}-t1")),
        dir(&format!("{sampling}-t2")),
    );
    for (d, t) in [(&a, "1"), (&b, "2")] {
        let o = precise(d, t, sampling);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert_eq!(figures(&a), figures(&b), "1 and 2 threads differ");
    let s = summary(&a);
    assert_eq!(s["run"]["stopped_by"], "precision");
    if sampling != "mc" {
        assert_eq!(s["run"]["sampling"], sampling);
    }
    let paths = s["run"]["paths"].as_u64().unwrap();
    assert!(paths.is_power_of_two() && paths >= 16_384, "{paths}");
    for p in s["run"]["precision"].as_array().unwrap() {
        let (hw, est, tol) = (
            p["half_width"].as_f64().unwrap(),
            p["estimate"].as_f64().unwrap(),
            p["tolerance"].as_f64().unwrap(),
        );
        let allowed = if p["relative"].as_bool().unwrap() {
            tol * est.abs()
        } else {
            tol
        };
        assert!(hw <= allowed, "{p}");
        assert_eq!(p["met"], true);
    }
    // The trace: every check, both figures, the last one met.
    let csv = std::fs::read_to_string(a.join("convergence.csv")).unwrap();
    assert!(csv.lines().count() >= 3, "{csv}");
    assert!(csv.lines().last().unwrap().starts_with(&paths.to_string()));

    // The same figures as a plain run of that many paths, and as that run
    // split into two shards and merged.
    let plain = dir(&format!("{sampling}-plain"));
    let n = paths.to_string();
    let o = revshare(&[
        "run",
        &base(),
        "--sampling",
        sampling,
        "--paths",
        &n,
        "--no-charts",
        "-q",
        "--out",
        &plain.display().to_string(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        figures(&a),
        figures(&plain),
        "the precision run is not the plain run"
    );
    let mut partials = Vec::new();
    for i in 0..2 {
        let d = dir(&format!("{sampling}-shard{i}"));
        let o = revshare(&[
            "run",
            &base(),
            "--sampling",
            sampling,
            "--paths",
            &n,
            "--shard",
            &format!("{i}/2"),
            "-q",
            "--out",
            &d.display().to_string(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        partials.push(d.join("partial.bin").display().to_string());
    }
    let merged = dir(&format!("{sampling}-merged"));
    let m = merged.display().to_string();
    let mut args = vec!["merge", "--no-charts", "-q", "--out", m.as_str()];
    args.extend(partials.iter().map(|s| s.as_str()));
    let o = revshare(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(figures(&a), figures(&merged), "the sharded run differs");
}

#[test]
fn max_paths_first_writes_the_result_and_exits_3() {
    let d = dir("max");
    let o = revshare(&[
        "run",
        &base(),
        "--precision",
        &format!("{DELTA}=0.0001"),
        "--max-paths",
        "40000",
        "--no-charts",
        "-q",
        "--out",
        &d.display().to_string(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--max-paths") && err.contains(DELTA), "{err}");
    let s = summary(&d);
    assert_eq!(s["run"]["stopped_by"], "max_paths");
    assert_eq!(s["run"]["paths"], 32_768);
    assert_eq!(s["run"]["precision"][0]["met"], false);
}

/// The convergence chart: one per named figure, every check drawn against
/// paths on a log axis (ticks at 1, 2, 5 times powers of ten), the
/// tolerance around the final estimate.
#[test]
fn a_convergence_chart_per_figure_draws_every_check_on_a_log_axis() {
    let d = dir("chart");
    let o = revshare(&[
        "run",
        &base(),
        "--precision",
        &format!("{DELTA}=0.0001"),
        "--precision",
        &format!("{HIT}=0.5%"),
        "--max-paths",
        "70000",
        "--no-report",
        "--chart-size",
        "800x500",
        "-q",
        "--out",
        &d.display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(3));
    let csv = std::fs::read_to_string(d.join("convergence.csv")).unwrap();
    for key in [DELTA, HIT] {
        let name = key.to_lowercase().replace('.', "_");
        let svg = std::fs::read_to_string(d.join(format!("charts/convergence_{name}.svg")))
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        // Three checks (16,384, 32,768, 65,536 paths): three dots, and the
        // log axis labels the powers of ten around them.
        let checks = csv.lines().filter(|l| l.contains(key)).count();
        assert_eq!(checks, 3, "{csv}");
        let centres: std::collections::BTreeSet<&str> = svg
            .split("<circle")
            .skip(1)
            .map(|c| &c[..c.find(" r=").unwrap()])
            .collect();
        assert_eq!(centres.len(), checks, "{key}: one dot per check");
        let texts: Vec<&str> = svg
            .split("<text")
            .skip(1)
            .map(|t| t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()].trim())
            .collect();
        for tick in ["20,000", "50,000"] {
            assert!(texts.contains(&tick), "{key}: no tick {tick} in {texts:?}");
        }
        assert!(svg.contains("paths (log scale)"));
        assert!(svg.contains("tolerance"));
    }
}

#[test]
fn an_unknown_figure_is_refused_and_nothing_is_written() {
    let d = dir("bad");
    let o = revshare(&[
        "run",
        &base(),
        "--precision",
        "series.nope.mean=1",
        "-q",
        "--out",
        &d.display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("series.nope.mean"));
    assert!(!d.exists());
}
