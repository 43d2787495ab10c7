//! `run --per-path FILE.csv`: one row per path, in path order, the same
//! bytes on any thread count, every column's mean equal to summary.json's,
//! and nothing left behind by a run that fails.
//!
//! Cost: four runs of 3,000–20,000 paths (about 2 s on 2 cores).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_revshare");

fn workdir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("revshare-perpath-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn base() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/base.json")
}

fn run(dir: &Path, name: &str, extra: &[&str]) -> Output {
    let mut args: Vec<String> = vec![
        "run".into(),
        base().to_string_lossy().into(),
        "--no-charts".into(),
        "--no-report".into(),
        "-q".into(),
        "--out".into(),
        dir.join(name).to_string_lossy().into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    Command::new(BIN).args(&args).output().unwrap()
}

/// Looks up a summary.json key such as `regimes.amended.flows.f.total`.
fn at<'a>(v: &'a Value, key: &str) -> &'a Value {
    key.split('.').fold(v, |v, k| &v[k])
}

#[test]
fn rows_are_the_paths_in_order_and_their_means_are_the_summarys() {
    let d = workdir("means");
    let paths = 20_000;
    let csv = |t: &str| d.join(format!("paths-{t}.csv"));
    for t in ["1", "2"] {
        let file = csv(t);
        let o = run(
            &d,
            &format!("out-{t}"),
            &[
                "--paths",
                &paths.to_string(),
                "--threads",
                t,
                "--per-path",
                file.to_str().unwrap(),
            ],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let one = std::fs::read(csv("1")).unwrap();
    assert!(
        one == std::fs::read(csv("2")).unwrap(),
        "1 and 2 threads differ"
    );
    let text = String::from_utf8(one).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header[0], "path");
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), paths);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r.len(), header.len(), "row {i}");
        assert_eq!(r[0], i.to_string(), "rows in path order");
    }
    let summary: Value =
        serde_json::from_slice(&std::fs::read(d.join("out-1/summary.json")).unwrap()).unwrap();
    let mut hit_columns = 0;
    for (c, name) in header.iter().enumerate().skip(1) {
        let values: Vec<f64> = rows
            .iter()
            .filter(|r| !r[c].is_empty())
            .map(|r| r[c].parse().unwrap())
            .collect();
        if let Some(flow) = name.strip_suffix(".cap_hit.time") {
            // Empty where the cap is not reached: as many values as hits.
            let p = at(&summary, &format!("{flow}.cap_hit.probability"))
                .as_f64()
                .unwrap();
            assert_eq!(values.len(), (p * paths as f64).round() as usize, "{name}");
            let mean = at(&summary, &format!("{name}.mean")).as_f64().unwrap();
            let got = values.iter().sum::<f64>() / values.len() as f64;
            assert!(
                (got - mean).abs() <= 1e-9 * mean.abs(),
                "{name}: {got} vs {mean}"
            );
            hit_columns += 1;
            continue;
        }
        assert_eq!(values.len(), paths, "{name}: a value on every path");
        let mean = at(&summary, &format!("{name}.mean"))
            .as_f64()
            .unwrap_or_else(|| panic!("{name} is not a summary.json key"));
        let got = values.iter().sum::<f64>() / paths as f64;
        assert!(
            (got - mean).abs() <= 1e-9 * mean.abs().max(1.0),
            "{name}: {got} vs {mean}"
        );
    }
    assert_eq!(hit_columns, 1, "base.json has one capped flow");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_run_that_fails_leaves_the_previous_file_and_nothing_else() {
    let d = workdir("fails");
    let file = d.join("paths.csv");
    std::fs::write(&file, "previous\n").unwrap();
    // The output folder's parent is a file: the run fails before sampling.
    std::fs::write(d.join("blocker"), "").unwrap();
    let o = Command::new(BIN)
        .args([
            "run",
            base().to_str().unwrap(),
            "--paths",
            "3000",
            "-q",
            "--out",
            d.join("blocker/out").to_str().unwrap(),
            "--per-path",
            file.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "previous\n");
    // A --per-path file in a folder that does not exist: refused before
    // sampling, naming the file.
    let missing = d.join("no/such/paths.csv");
    let o = run(
        &d,
        "out",
        &["--paths", "3000", "--per-path", missing.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--per-path") && err.contains("paths.csv"),
        "{err}"
    );
    assert!(!d.join("out/summary.json").exists());
    let mut left: Vec<String> = std::fs::read_dir(&d)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with(".out") && n != "out")
        .collect();
    left.sort();
    assert_eq!(left, ["blocker", "paths.csv"], "no temporary file left");
    let _ = std::fs::remove_dir_all(&d);
}

/// Under antithetic sampling, on 1 and 3 threads: the same bytes; and a
/// per-path file inside the output folder, or a folder as the file, is
/// refused before sampling.
#[test]
fn other_samplings_thread_counts_and_bad_targets() {
    let d = workdir("others");
    let csv = |t: &str| d.join(format!("anti-{t}.csv"));
    for t in ["1", "3"] {
        let file = csv(t);
        let o = run(
            &d,
            &format!("out-{t}"),
            &[
                "--paths",
                "5000",
                "--sampling",
                "antithetic",
                "--threads",
                t,
                "--per-path",
                file.to_str().unwrap(),
            ],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let one = std::fs::read(csv("1")).unwrap();
    assert!(
        one == std::fs::read(csv("3")).unwrap(),
        "1 and 3 threads differ"
    );
    assert_eq!(one.iter().filter(|&&b| b == b'\n').count(), 5001);

    let inside = d.join("out-1/paths.csv");
    let o = run(
        &d,
        "out-1",
        &["--paths", "2000", "--per-path", inside.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("must not be inside the output folder"),
        "{err}"
    );
    assert!(!inside.exists());

    let o = run(
        &d,
        "out-1",
        &["--paths", "2000", "--per-path", d.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("is a folder"), "{err}");
    let _ = std::fs::remove_dir_all(&d);
}
