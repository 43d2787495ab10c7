//! Sharded runs through the real binary: `run --shard I/N` on every shard,
//! then `merge`, must reproduce the unsharded run byte for byte; `merge`
//! must refuse incomplete, mixed or damaged sets and write nothing.
//!
//! Cost: about 40 runs of 6000 paths or fewer, one of 60,000 and the
//! 64-shard rehearsal script (65,536 paths): about 10 s on 2 cores.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use revshare::engine::partial::{Partial, FILE_NAME};

const BIN: &str = env!("CARGO_BIN_EXE_revshare");
/// 6 batches, the last one short (6000 = 5 * 1024 + 880).
const PATHS: &str = "6000";

fn scenario(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name)
        .display()
        .to_string()
}

/// A fresh, empty directory for one test.
fn workdir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("revshare-shard-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs the binary with the scheduler variables cleared (the tests may
/// themselves run inside a Slurm job) plus `env`.
fn revshare_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("SLURM_ARRAY_TASK_COUNT")
        .env_remove("JOB_COMPLETION_INDEX");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the revshare binary runs")
}

fn revshare(args: &[&str]) -> Output {
    revshare_env(args, &[])
}

fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "revshare failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// Runs shard `i` of `n` into `dir/name` and returns its partial file.
fn shard(dir: &Path, name: &str, sc: &str, i: u64, n: u64, extra: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let spec = format!("{i}/{n}");
    let mut args = vec!["run", sc];
    if !extra.contains(&"--paths") {
        args.extend(["--paths", PATHS]);
    }
    args.extend(["--shard", &spec, "--out", out.to_str().unwrap(), "--quiet"]);
    args.extend_from_slice(extra);
    ok(revshare(&args));
    out.join(FILE_NAME)
}

/// summary.json without the fields that describe the machines
/// (run.threads, run.elapsed_seconds, run.paths_per_second).
fn without_timing(summary: &Path) -> String {
    let text = std::fs::read_to_string(summary).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| {
            ![
                "\"threads\":",
                "\"elapsed_seconds\":",
                "\"paths_per_second\":",
            ]
            .iter()
            .any(|k| l.trim_start().starts_with(k))
        })
        .collect();
    assert_eq!(text.lines().count(), kept.len() + 3, "three timing lines");
    kept.join("\n")
}

/// Every file below `dir` (charts included), as relative paths.
fn files_in(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut v = Vec::new();
    walk(dir, dir, &mut v);
    v.sort();
    v
}

fn header(partial: &Path) -> revshare::engine::partial::Header {
    Partial::decode(&std::fs::read(partial).unwrap())
        .unwrap()
        .header
}

#[test]
fn merged_shards_equal_the_unsharded_run() {
    let dir = workdir("equal");
    let sc = scenario("base.json");
    let full = dir.join("full");
    ok(revshare(&[
        "run",
        &sc,
        "--paths",
        PATHS,
        "--out",
        &s(&full),
        "--quiet",
    ]));
    // N = 6 over 6 batches: one batch each (more shards than batches are
    // refused, see tests/bad_input.rs).
    for n in [1u64, 3, 6] {
        let mut partials: Vec<PathBuf> = (0..n)
            .map(|i| shard(&dir, &format!("n{n}-{i}"), &sc, i, n, &[]))
            .collect();
        // The merge does not depend on the order of the files.
        partials.reverse();
        let merged = dir.join(format!("merged-{n}"));
        let mut args = vec!["merge".to_string()];
        args.extend(partials.iter().map(|p| s(p)));
        args.extend(["--out".into(), s(&merged), "--quiet".into()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(revshare(&args));

        assert_eq!(files_in(&merged), files_in(&full), "N = {n}: same files");
        assert_eq!(
            without_timing(&merged.join("summary.json")),
            without_timing(&full.join("summary.json")),
            "N = {n}: summary.json"
        );
        for f in files_in(&full).iter().filter(|f| *f != "summary.json") {
            // The report's lines marked `class="varies"` (command line,
            // threads, sampling time) describe the invocation, not the result.
            let read = |d: &Path| {
                let b = std::fs::read(d.join(f)).unwrap();
                if f.as_str() != "report.html" {
                    return b;
                }
                String::from_utf8(b)
                    .unwrap()
                    .lines()
                    .filter(|l| !l.contains("class=\"varies\""))
                    .collect::<Vec<_>>()
                    .join("\n")
                    .into_bytes()
            };
            assert!(read(&merged) == read(&full), "N = {n}: {f} differs");
        }
        // Timing: the largest thread count, the sum of the shards' times.
        let headers: Vec<_> = partials.iter().map(|p| header(p)).collect();
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(merged.join("summary.json")).unwrap()).unwrap();
        let threads = headers.iter().map(|h| h.threads).max().unwrap();
        assert_eq!(summary["run"]["threads"], threads as u64);
        let elapsed: f64 = headers.iter().map(|h| h.elapsed_seconds).sum();
        let reported = summary["run"]["elapsed_seconds"].as_f64().unwrap();
        assert!((reported - elapsed).abs() <= 1e-9 * elapsed.max(1.0));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn merge_refuses_bad_sets_and_writes_nothing() {
    let dir = workdir("refuse");
    let base = scenario("base.json");
    let p: Vec<PathBuf> = (0..3)
        .map(|i| shard(&dir, &format!("p{i}"), &base, i, 3, &[]))
        .collect();
    let other_seed = shard(&dir, "seed7", &base, 1, 3, &["--seed", "7"]);
    let other_paths = shard(&dir, "paths", &base, 1, 3, &["--paths", "7000"]);
    let other_scenario = shard(&dir, "bear", &scenario("bear.json"), 1, 3, &[]);
    let other_set = shard(
        &dir,
        "set",
        &base,
        1,
        3,
        &["--set", "series.openai.growth.initial=0.6"],
    );
    let copy = dir.join("copy-of-p1.bin");
    std::fs::copy(&p[1], &copy).unwrap();
    let bytes = std::fs::read(&p[2]).unwrap();
    let corrupted = dir.join("corrupted.bin");
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0x01;
    std::fs::write(&corrupted, flipped).unwrap();
    let truncated = dir.join("truncated.bin");
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    let empty = dir.join("empty.bin");
    std::fs::write(&empty, b"").unwrap();
    let not_partial = dir.join("summary.json");
    std::fs::write(&not_partial, b"{\"schema_version\": 1}\n").unwrap();

    let cases: Vec<(&str, Vec<&PathBuf>, Option<&PathBuf>, &str)> = vec![
        (
            "missing",
            vec![&p[0], &p[1]],
            None,
            "missing 1 of 3 shards (0-based): 2",
        ),
        (
            "duplicate",
            vec![&p[0], &p[1], &copy, &p[2]],
            Some(&copy),
            "shard 1/3 given 2 times",
        ),
        (
            "seed",
            vec![&p[0], &other_seed, &p[2]],
            Some(&other_seed),
            "seed 7",
        ),
        (
            "paths",
            vec![&p[0], &other_paths, &p[2]],
            Some(&other_paths),
            "7000 paths",
        ),
        (
            "scenario",
            vec![&p[0], &other_scenario, &p[2]],
            Some(&other_scenario),
            "scenario `bear`",
        ),
        (
            "override",
            vec![&p[0], &other_set, &p[2]],
            Some(&other_set),
            "--set overrides",
        ),
        (
            "corrupted",
            vec![&p[0], &p[1], &corrupted],
            Some(&corrupted),
            "corrupted: checksum mismatch",
        ),
        (
            "truncated",
            vec![&p[0], &p[1], &truncated],
            Some(&truncated),
            "truncated",
        ),
        (
            "empty",
            vec![&p[0], &p[1], &p[2], &empty],
            Some(&empty),
            "truncated",
        ),
        (
            "not a partial",
            vec![&not_partial, &p[0], &p[1], &p[2]],
            Some(&not_partial),
            "not a revshare partial file",
        ),
    ];
    for (what, files, named, message) in cases {
        let out = dir.join(format!("out-{}", what.replace(' ', "-")));
        let mut args = vec!["merge".to_string()];
        args.extend(files.iter().map(|f| s(f)));
        args.extend(["--out".into(), s(&out)]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let res = revshare(&args);
        let err = String::from_utf8_lossy(&res.stderr);
        assert_eq!(res.status.code(), Some(2), "{what}: {err}");
        assert!(
            err.contains(message),
            "{what}: expected `{message}` in:\n{err}"
        );
        if let Some(f) = named {
            assert!(
                err.contains(&s(f)),
                "{what}: expected {} named in:\n{err}",
                s(f)
            );
        }
        assert!(err.contains("no output written"), "{what}: {err}");
        assert!(!out.exists(), "{what}: {} was created", out.display());
    }
    // The duplicate names both copies.
    let out = dir.join("out-dup");
    let res = revshare(&[
        "merge",
        &s(&p[0]),
        &s(&p[1]),
        &s(&copy),
        &s(&p[2]),
        "--out",
        &s(&out),
    ]);
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(
        err.contains(&format!("{}, {}", s(&p[1]), s(&copy))),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn partials_round_trip_and_do_not_grow_with_the_path_count() {
    let dir = workdir("size");
    let sc = scenario("base.json");
    let small = shard(&dir, "small", &sc, 0, 1, &[]);
    let large = shard(&dir, "large", &sc, 0, 1, &["--paths", "60000"]);
    for (file, paths) in [(&small, 6000u64), (&large, 60_000)] {
        let bytes = std::fs::read(file).unwrap();
        let p = Partial::decode(&bytes).unwrap();
        assert_eq!(p.encode(), bytes, "re-encoding gives the same bytes");
        assert_eq!(
            (p.header.paths, p.header.shard_paths, p.tally.paths),
            (paths, paths, paths)
        );
        assert_eq!((p.header.shard_index, p.header.shard_count), (0, 1));
        assert_eq!(
            p.header.scenario_hash,
            revshare::engine::partial::scenario_hash(&p.scenario)
        );
    }
    let (a, b) = (
        std::fs::metadata(&small).unwrap().len(),
        std::fs::metadata(&large).unwrap().len(),
    );
    eprintln!("partial sizes: {a} bytes at 6000 paths, {b} bytes at 60000 paths");
    // Sketch windows widen a little as more paths reach the tails; the
    // size must not follow the 10x path count.
    assert!(b < a * 3 / 2, "{a} -> {b} bytes for 10x the paths");
    assert!(b < 2 << 20, "{b} bytes");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn shard_auto_reads_the_scheduler_index() {
    let dir = workdir("auto");
    let sc = scenario("base.json");
    let explicit = shard(&dir, "explicit", &sc, 1, 3, &[]);
    let run_auto = |name: &str, env: &[(&str, &str)]| {
        let out = dir.join(name);
        let res = revshare_env(
            &[
                "run",
                &sc,
                "--paths",
                PATHS,
                "--shard",
                "auto/3",
                "--out",
                &s(&out),
                "-q",
            ],
            env,
        );
        (res, out.join(FILE_NAME))
    };
    let expected = Partial::decode(&std::fs::read(&explicit).unwrap()).unwrap();
    for (name, env) in [
        (
            "slurm",
            vec![
                ("SLURM_ARRAY_TASK_ID", "1"),
                ("SLURM_ARRAY_TASK_COUNT", "3"),
            ],
        ),
        ("k8s", vec![("JOB_COMPLETION_INDEX", "1")]),
    ] {
        let (res, file) = run_auto(name, &env);
        let res = ok(res);
        assert!(res.stdout.is_empty());
        let got = Partial::decode(&std::fs::read(&file).unwrap()).unwrap();
        assert_eq!(got.header.shard_index, 1, "{name}");
        assert_eq!(got.tally, expected.tally, "{name}");
    }
    for (name, env, message) in [
        ("none", vec![], "neither is set"),
        (
            "range",
            vec![("JOB_COMPLETION_INDEX", "3")],
            "JOB_COMPLETION_INDEX=3 is out of range",
        ),
        (
            "count",
            vec![
                ("SLURM_ARRAY_TASK_ID", "1"),
                ("SLURM_ARRAY_TASK_COUNT", "4"),
            ],
            "SLURM_ARRAY_TASK_COUNT=4 but --shard auto/3",
        ),
    ] {
        let (res, file) = run_auto(name, &env);
        let err = String::from_utf8_lossy(&res.stderr);
        assert_eq!(res.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(message), "{name}: {err}");
        assert!(!file.exists(), "{name}");
    }
    let res = revshare(&["run", &sc, "--shard", "3/3", "-q"]);
    assert_eq!(res.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&res.stderr).contains("out of range"));
    let res = revshare(&["run", &sc, "--shard", "0/3", "--exact", "-q"]);
    assert_eq!(res.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&res.stderr).contains("--exact"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cluster_rehearsal_script_merges_64_shards_exactly() {
    let dir = workdir("simulate");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cluster/simulate.sh");
    let res = Command::new("bash")
        .arg(&script)
        .arg("slurm")
        .env("REVSHARE", BIN)
        .env("WORK", &dir)
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("SLURM_ARRAY_TASK_COUNT")
        .env_remove("JOB_COMPLETION_INDEX")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&res.stdout);
    assert!(
        res.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&res.stderr)
    );
    assert!(
        stdout.contains("OK: the merge of 64 shards equals the unsharded run"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
