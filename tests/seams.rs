//! The seams between the engine and its writers: every writer reads the
//! one [`RunResult`], every command offers the same outputs, and charts
//! draw only what the scenario declares.
//!
//! Cost: a few runs of 2,000–6,000 paths (about 3 s on 2 cores).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use revshare::engine::{Engine, RunOptions};
use revshare::export::charts::{chart_specs, ChartInput};
use revshare::result::{RunResult, StepQuantity};
use revshare::scenario;

const BIN: &str = env!("CARGO_BIN_EXE_revshare");

fn workdir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("revshare-seams-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
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

fn ok(o: Output) -> Output {
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn base() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/base.json")
        .display()
        .to_string()
}

/// Two series, one of them constant at 100, 365 steps a year for 6 years
/// (2,190 steps: only every third step and the last are recorded).
const DAILY: &str = r#"{
  "name": "daily",
  "start_year": 2026, "end_year": 2031, "steps_per_year": 365,
  "simulation": { "paths": 2000, "seed": 3 },
  "series": {
    "a": { "initial_run_rate": 10.0,
           "growth": { "initial": 0.3, "long_run": 0.1, "reversion": 0.5, "volatility": 0.1, "volatility_decay": 0.0 },
           "volatility": { "initial": 0.3, "long_run": 0.3, "decay": 0.0 },
           "growth_correlation": 0.0 },
    "b": { "initial_run_rate": 100.0,
           "growth": { "initial": 0.0, "long_run": 0.0, "reversion": 0.0, "volatility": 0.0, "volatility_decay": 0.0 },
           "volatility": { "initial": 0.0, "long_run": 0.0, "decay": 0.0 },
           "growth_correlation": 0.0 }
  },
  "baseline": "only",
  "regimes": { "only": [
    { "name": "share", "payer": "P", "payee": "Q", "series": "a", "rate": 0.1,
      "from_year": 2026, "to_year": 2031, "cap": 20.0 }
  ] }
}"#;

#[test]
fn steps_csv_rows_are_the_recorded_steps_at_any_horizon() {
    let d = workdir("daily");
    let sc = d.join("daily.json");
    std::fs::write(&sc, DAILY).unwrap();
    let out = d.join("out");
    ok(revshare(&[
        "run",
        &sc.display().to_string(),
        "--no-charts",
        "-q",
        "--out",
        &out.display().to_string(),
    ]));
    let csv = std::fs::read_to_string(out.join("steps.csv")).unwrap();
    let mut rows = csv.lines();
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    assert_eq!(
        &header[..7],
        ["quantity", "regime", "name", "unit", "step", "time", "mean"]
    );

    // The same run through the library: the table every writer reads.
    let loaded = scenario::parse(DAILY, Path::new("daily.json")).unwrap();
    let engine = Engine::new(&loaded.scenario);
    let opts = RunOptions {
        paths: 2000,
        seed: 3,
        threads: 1,
        exact: false,
        shard: (0, 1),
    };
    let run = engine.run_quiet(&opts).unwrap();
    let result = RunResult::build(&engine, &run.tally, run.threads, run.elapsed_seconds).unwrap();
    let t = &result.steps;
    assert!(
        t.steps.len() < 2191 && t.steps.len() > 700,
        "{}",
        t.steps.len()
    );
    assert_eq!(*t.steps.last().unwrap(), 2190, "the last step is recorded");

    let mut n = 0;
    let mut constant: Option<f64> = None;
    for row in rows {
        let f: Vec<&str> = row.split(',').collect();
        let col = t
            .columns
            .iter()
            .find(|c| c.quantity.as_str() == f[0] && c.regime == f[1] && c.name == f[2])
            .unwrap_or_else(|| panic!("no column for {row}"));
        let k: usize = f[4].parse().unwrap();
        let i = t
            .steps
            .iter()
            .position(|&s| s == k)
            .expect("a recorded step");
        let mean: f64 = f[6].parse().unwrap();
        assert_eq!(mean, col.mean[i], "{row}");
        for (j, q) in f[7..].iter().enumerate() {
            let q: f64 = q.parse().unwrap();
            assert_eq!(q, col.quantiles[i][j], "{row}");
        }
        if col.quantity == StepQuantity::RunRate && col.name == "b" {
            // A constant series stays constant on every row (exp(ln 100)
            // is 100 to the last bit or two).
            let v: Vec<f64> = f[6..].iter().map(|x| x.parse().unwrap()).collect();
            let first = *constant.get_or_insert(v[0]);
            assert!((first - 100.0).abs() < 1e-12, "{row}");
            assert!(v.iter().all(|&x| x == first), "{row}");
        }
        n += 1;
    }
    // Two series and one flow, each on every recorded step.
    assert_eq!(n, 3 * t.steps.len());
}

#[test]
fn merge_writes_a_workbook_and_a_shard_refuses_one() {
    let d = workdir("xlsx");
    let mut partials = Vec::new();
    for i in 0..2 {
        let dir = d.join(format!("s{i}"));
        ok(revshare(&[
            "run",
            &base(),
            "--paths",
            "4000",
            "-q",
            "--shard",
            &format!("{i}/2"),
            "--out",
            &dir.display().to_string(),
        ]));
        partials.push(dir.join("partial.bin").display().to_string());
    }
    let merged = d.join("merged");
    let mut args = vec!["merge", "--xlsx", "--no-charts", "-q", "--out"];
    let m = merged.display().to_string();
    args.push(&m);
    args.extend(partials.iter().map(|s| s.as_str()));
    ok(revshare(&args));
    assert!(merged.join("results.xlsx").is_file());
    assert!(merged.join("summary.json").is_file());

    let refused = revshare(&[
        "run",
        &base(),
        "--paths",
        "4000",
        "--shard",
        "0/2",
        "--xlsx",
        "--out",
        &d.join("s-xlsx").display().to_string(),
    ]);
    assert_eq!(refused.status.code(), Some(2));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("--xlsx") && err.contains("merge"), "{err}");
    assert!(!d.join("s-xlsx").exists());
}

/// Every fan chart's reference lines and points, as labels.
fn reference_labels(result: &RunResult) -> Vec<String> {
    let mut labels = Vec::new();
    for spec in chart_specs(result, &Default::default()) {
        match &spec.input {
            ChartInput::Fan(f) => {
                labels.extend(f.reference_points.iter().map(|p| p.label.clone()));
                labels.extend(f.horizontal_lines.iter().map(|l| l.label.clone()));
            }
            ChartInput::Histogram(h) => {
                labels.extend(h.reference_lines.iter().map(|l| l.label.clone()));
            }
            _ => {}
        }
    }
    labels
}

fn small_result(text: &str) -> RunResult {
    let loaded = scenario::parse(text, Path::new("base.json")).unwrap();
    let engine = Engine::new(&loaded.scenario);
    let opts = RunOptions {
        paths: 2000,
        seed: 1,
        threads: 1,
        exact: false,
        shard: (0, 1),
    };
    let run = engine.run_quiet(&opts).unwrap();
    RunResult::build(&engine, &run.tally, run.threads, run.elapsed_seconds).unwrap()
}

#[test]
fn charts_draw_only_the_references_the_scenario_declares() {
    let text = std::fs::read_to_string(base()).unwrap();
    let with = reference_labels(&small_result(&text));
    assert!(
        with.iter().any(|l| l.contains("reported prior path")),
        "base.json declares the $135B line: {with:?}"
    );
    // The same contract without its declared references: no reference
    // lines or points at all (caps are terms of the contract and "no
    // change" the zero of a gain, not references).
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let o = v.as_object_mut().unwrap();
    o.remove("references");
    o.remove("flow_references");
    let without = reference_labels(&small_result(&v.to_string()));
    assert!(
        without
            .iter()
            .all(|l| l.contains("cap") || l == "no change"),
        "undeclared references drawn: {without:?}"
    );
}
