//! The workbook is complete: `results.xlsx` of a run, read back with
//! calamine, holds every figure of its summary.json (every field of every
//! statistic, every probability, the run's metadata and the whole
//! scenario echo), each number equal to the JSON one; and `run`, `merge`,
//! `batch`, `sweep` and `sensitivity` all write a workbook with `--xlsx`.
//! Cost: a few small runs, a few seconds in release mode.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use calamine::{open_workbook, Data, Reader, Xlsx};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_revshare");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("revshare-workbook-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn ok(args: &[&str]) {
    let o = Command::new(BIN).args(args).output().expect("binary runs");
    assert!(
        o.status.success(),
        "revshare {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A sheet as rows of cells, the header row first.
fn sheet(path: &Path, name: &str) -> Vec<Vec<Data>> {
    let mut wb: Xlsx<_> = open_workbook(path).expect("a valid workbook");
    let range = wb.worksheet_range(name).expect("sheet exists");
    range.rows().map(|r| r.to_vec()).collect()
}

fn sheet_names(path: &Path) -> Vec<String> {
    let wb: Xlsx<_> = open_workbook(path).expect("a valid workbook");
    wb.sheet_names()
}

fn text(d: &Data) -> String {
    match d {
        Data::String(s) => s.clone(),
        Data::Empty => String::new(),
        other => format!("{other}"),
    }
}

fn number(d: &Data) -> Option<f64> {
    match d {
        Data::Float(x) => Some(*x),
        Data::Int(x) => Some(*x as f64),
        _ => None,
    }
}

/// Rows of a sheet keyed by the text of column `key` (one row per key),
/// each a map from header to cell.
fn keyed(rows: &[Vec<Data>], key: &str) -> BTreeMap<String, BTreeMap<String, Data>> {
    let headers: Vec<String> = rows[0].iter().map(text).collect();
    let k = headers.iter().position(|h| h == key).expect("key column");
    let mut out = BTreeMap::new();
    for r in &rows[1..] {
        let cells: BTreeMap<String, Data> =
            headers.iter().cloned().zip(r.iter().cloned()).collect();
        let name = text(&r[k]);
        if !name.is_empty() {
            assert!(
                out.insert(name.clone(), cells).is_none(),
                "two rows for {name}"
            );
        }
    }
    out
}

/// Every leaf of a JSON value as (dotted path, value).
fn leaves(v: &Value, path: &str, out: &mut Vec<(String, Value)>) {
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    match v {
        Value::Object(m) => m.iter().for_each(|(k, x)| leaves(x, &join(k), out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| leaves(x, &join(&i.to_string()), out)),
        _ => out.push((path.to_string(), v.clone())),
    }
}

/// The fields of a `Stat` in summary.json.
const STAT_FIELDS: [&str; 14] = [
    "mean", "se", "sd", "min", "max", "p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99",
];

/// The workbook row and column of an end of a 95% interval in
/// summary.json: `K.mean_ci95.0` is row K, column "mean 95% low";
/// `K.quantile_ci95.p5.1` is row K, "p5 95% high"; a probability's
/// `…probability_ci95.0` and `…probability_by_year_ci95.Y.0` are the
/// probability's row, "mean 95% low".
fn interval_cell(path: &str) -> Option<(String, String)> {
    let (rest, end) = path.rsplit_once('.')?;
    let end = match end {
        "0" => "low",
        "1" => "high",
        _ => return None,
    };
    if let Some(key) = rest.strip_suffix(".mean_ci95") {
        return Some((key.into(), format!("mean 95% {end}")));
    }
    if let Some(key) = rest.strip_suffix(".probability_ci95") {
        return Some((format!("{key}.probability"), format!("mean 95% {end}")));
    }
    let (head, last) = rest.rsplit_once('.')?;
    if let Some(key) = head.strip_suffix(".quantile_ci95") {
        return Some((key.into(), format!("{last} 95% {end}")));
    }
    if let Some(key) = head.strip_suffix(".probability_by_year_ci95") {
        return Some((
            format!("{key}.probability_by_year.{last}"),
            format!("mean 95% {end}"),
        ));
    }
    None
}

fn same(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

#[test]
fn every_figure_of_summary_json_is_in_the_workbook() {
    let out = tmp("run");
    let o = out.to_str().unwrap();
    ok(&[
        "run",
        "scenarios/base.json",
        "--paths",
        "3000",
        "--xlsx",
        "--no-charts",
        "--no-report",
        "--out",
        o,
        "-q",
    ]);
    let json: Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let book = out.join("results.xlsx");
    assert_eq!(
        sheet_names(&book),
        ["summary", "per year", "per step", "inputs", "run"]
    );
    let summary = keyed(&sheet(&book, "summary"), "key");
    let run: BTreeMap<String, Data> = sheet(&book, "run")[1..]
        .iter()
        .map(|r| (text(&r[1]), r[2].clone()))
        .collect();
    let inputs = keyed(&sheet(&book, "inputs"), "parameter");

    let mut all = Vec::new();
    leaves(&json, "", &mut all);
    let mut checked = 0;
    for (path, value) in &all {
        if let Some(p) = path.strip_prefix("scenario.") {
            // The scenario echo: the inputs sheet.
            let (row, col) = if let Some(i) = p.strip_prefix("sources.") {
                let (i, field) = i.split_once('.').unwrap();
                let col = if field == "id" { "value" } else { "note" };
                (format!("sources.{i}"), col)
            } else {
                (p.to_string(), "value")
            };
            let cells = inputs
                .get(&row)
                .unwrap_or_else(|| panic!("inputs sheet lacks {row}"));
            let cell = &cells[col];
            match value {
                Value::Number(n) => {
                    let want = n.as_f64().unwrap();
                    let got = number(cell).or_else(|| text(cell).parse().ok());
                    assert_eq!(got, Some(want), "{path}");
                }
                Value::String(s) => assert_eq!(&text(cell), s, "{path}"),
                other => panic!("{path}: unexpected {other:?}"),
            }
            checked += 1;
            continue;
        }
        if let Some(field) = path.strip_prefix("run.") {
            let cell = run
                .get(field)
                .unwrap_or_else(|| panic!("run sheet lacks {field}"));
            match value {
                Value::Number(n) => {
                    let got = number(cell).or_else(|| text(cell).parse().ok()).unwrap();
                    assert!(same(got, n.as_f64().unwrap()), "{path}: {got} vs {n}");
                }
                Value::String(s) => assert_eq!(&text(cell), s, "{path}"),
                other => panic!("{path}: unexpected {other:?}"),
            }
            checked += 1;
            continue;
        }
        if path == "schema_version" {
            assert_eq!(number(&run["schema_version"]), value.as_f64());
            checked += 1;
            continue;
        }
        // A statistic's field, or a probability (in the mean column).
        let want = value
            .as_f64()
            .unwrap_or_else(|| panic!("{path}: not a number"));
        let (key, col) = interval_cell(path).unwrap_or_else(|| match path.rsplit_once('.') {
            Some((key, field)) if STAT_FIELDS.contains(&field) => (key.to_string(), field.into()),
            _ => (path.clone(), "mean".into()),
        });
        let cells = summary
            .get(&key)
            .unwrap_or_else(|| panic!("summary sheet lacks {key}"));
        let got = number(&cells[col.as_str()]).unwrap_or_else(|| panic!("{path}: empty cell"));
        assert!(
            same(got, want),
            "{path}: workbook {got}, summary.json {want}"
        );
        checked += 1;
    }
    assert!(checked > 500, "only {checked} figures checked");

    // Probabilities come with their Wilson interval around them.
    let p = &summary["regimes.amended.flows.openai_to_microsoft.cap_hit.probability"];
    let (lo, mid, hi) = (
        number(&p["mean 95% low"]).unwrap(),
        number(&p["mean"]).unwrap(),
        number(&p["mean 95% high"]).unwrap(),
    );
    assert!(lo < mid && mid < hi && hi - lo < 0.05, "{lo} {mid} {hi}");
    // Annual revenue is in the per-year sheet too, keyed like summary.json.
    let per_year = keyed(&sheet(&book, "per year"), "key");
    let y = &per_year["series.openai.annual_revenue.2028"];
    assert_eq!(
        number(&y["mean"]),
        json["series"]["openai"]["annual_revenue"]["2028"]["mean"].as_f64()
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn every_command_writes_a_workbook() {
    let dir = tmp("commands");
    let d = |n: &str| dir.join(n).to_str().unwrap().to_string();
    let sc = root().join("scenarios/base.json");
    let sc = sc.to_str().unwrap();
    let fast = ["--paths", "2048", "--no-charts", "--no-report", "-q"];

    // merge: the workbook of the merged shards.
    for i in 0..2 {
        let mut a = vec!["run", sc, "--shard"];
        let spec = format!("{i}/2");
        a.push(&spec);
        let out = d(&format!("shard{i}"));
        a.extend(["--out", &out]);
        a.extend(fast);
        ok(&a);
    }
    let (p0, p1) = (
        dir.join("shard0/partial.bin"),
        dir.join("shard1/partial.bin"),
    );
    let merged = d("merged");
    ok(&[
        "merge",
        p0.to_str().unwrap(),
        p1.to_str().unwrap(),
        "--xlsx",
        "--no-charts",
        "--no-report",
        "--out",
        &merged,
        "-q",
    ]);
    let book = dir.join("merged/results.xlsx");
    assert!(sheet_names(&book).contains(&"inputs".to_string()));
    let json: Value =
        serde_json::from_slice(&std::fs::read(dir.join("merged/summary.json")).unwrap()).unwrap();
    let summary = keyed(&sheet(&book, "summary"), "key");
    assert_eq!(
        number(&summary["regimes.prior.flows.openai_to_microsoft.total"]["p95"]),
        json["regimes"]["prior"]["flows"]["openai_to_microsoft"]["total"]["p95"].as_f64()
    );

    // batch: comparison.xlsx and each scenario's results.xlsx.
    let bear = root().join("scenarios/bear.json");
    let batch = d("batch");
    let mut a = vec![
        "batch",
        sc,
        bear.to_str().unwrap(),
        "--xlsx",
        "--out",
        &batch,
    ];
    a.extend(fast);
    ok(&a);
    assert_eq!(
        sheet_names(&dir.join("batch/comparison.xlsx"))[0],
        "comparison"
    );
    for name in ["base", "bear"] {
        let book = dir.join("batch").join(name).join("results.xlsx");
        assert!(
            sheet_names(&book).contains(&"summary".to_string()),
            "{name}"
        );
    }

    // sweep: sweep.xlsx with the grid first.
    let sweep = d("sweep");
    let mut a = vec![
        "sweep",
        sc,
        "--param",
        "regimes.amended.0.cap",
        "--values",
        "30,40",
        "--xlsx",
        "--out",
        &sweep,
    ];
    a.extend(fast);
    ok(&a);
    let book = dir.join("sweep/sweep.xlsx");
    assert_eq!(sheet_names(&book)[0], "sweep");
    assert_eq!(sheet(&book, "sweep").len(), 3);

    // sensitivity: the ranked parameters and the inputs.
    let sens = d("sens");
    let mut a = vec!["sensitivity", sc, "--xlsx", "--out", &sens];
    a.extend(fast);
    ok(&a);
    let book = dir.join("sens/sensitivity.xlsx");
    assert_eq!(sheet_names(&book), ["sensitivity", "inputs"]);
    let rows = sheet(&book, "sensitivity");
    let csv = std::fs::read_to_string(dir.join("sens/sensitivity.csv")).unwrap();
    assert_eq!(rows.len(), csv.lines().count(), "one row per parameter");
    // The first-ranked parameter and its swing, as in sensitivity.csv.
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let book_col = |name: &str| rows[0].iter().position(|h| text(h) == name).unwrap();
    let first: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(
        text(&rows[1][book_col("parameter")]),
        first[col("parameter")]
    );
    let swing: f64 = first[col("swing")].parse().unwrap();
    let in_book = number(&rows[1][book_col("swing")]).unwrap();
    assert!(same(in_book, swing), "{in_book} vs {swing}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The run sheet of a qmc run with a stopping rule: the sampling method,
/// the replicates, why it stopped and each goal as reached, as in
/// summary.json's `run`.
#[test]
fn the_run_sheet_holds_sampling_and_precision() {
    let out = tmp("qmc");
    let o = out.to_str().unwrap();
    ok(&[
        "run",
        "scenarios/base.json",
        "--sampling",
        "qmc",
        "--precision",
        "regimes.prior.flows.openai_to_microsoft.total.mean=2%",
        "--xlsx",
        "--no-charts",
        "--no-report",
        "--out",
        o,
        "-q",
    ]);
    let json: Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let run: BTreeMap<String, Data> = sheet(&out.join("results.xlsx"), "run")[1..]
        .iter()
        .map(|r| (text(&r[1]), r[2].clone()))
        .collect();
    let mut all = Vec::new();
    leaves(&json["run"], "", &mut all);
    for k in [
        "sampling",
        "replicates",
        "stopped_by",
        "precision.0.half_width",
    ] {
        assert!(
            all.iter().any(|(p, _)| p == k),
            "summary.json run lacks {k}"
        );
    }
    for (field, value) in &all {
        let cell = run
            .get(field)
            .unwrap_or_else(|| panic!("run sheet lacks {field}"));
        let got = match value {
            Value::String(_) | Value::Bool(_) => text(cell),
            Value::Number(_) => number(cell)
                .map(|x| x.to_string())
                .unwrap_or_else(|| text(cell)),
            other => panic!("{field}: unexpected {other:?}"),
        };
        let want = match value {
            Value::String(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => {
                let x = n.as_f64().unwrap();
                if field == "seed" {
                    n.to_string()
                } else {
                    x.to_string()
                }
            }
            _ => unreachable!(),
        };
        assert_eq!(got, want, "{field}");
    }
    let _ = std::fs::remove_dir_all(&out);
}
