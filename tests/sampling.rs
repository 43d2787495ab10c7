//! The sampling methods (`simulation.sampling`, `--sampling`): antithetic
//! pairs mirror their draws, quasi-Monte Carlo and antithetic sampling
//! reduce the variance of a smooth figure by the factors docs/precision.md
//! states, every method's summary.json is the same bytes on any thread
//! count, shard split and instruction set, and path counts that do not
//! suit a method are rounded (command line) or refused (scenario files).
//!
//! Cost: 600 runs of 1,024 GBM paths and about 40 runs of the binary on
//! 8,192 paths (about 10 s in release on 2 cores).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use revshare::engine::{Engine, RunOptions};
use revshare::model::{Model, StepState};
use revshare::random::Generator;
use revshare::result::RunResult;
use revshare::scenario::{self, Sampling, Scenario};

const BIN: &str = env!("CARGO_BIN_EXE_revshare");

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn gbm(sampling: Sampling, paths: u64) -> Scenario {
    let sc = scenario::load(&root().join("tests/scenarios/gbm.json"))
        .unwrap()
        .scenario;
    sc.with_sampling(paths, 0, sampling).unwrap()
}

#[test]
fn antithetic_partners_read_their_pairs_draws_mirrored() {
    // base.json: jumps and correlated series; the shock rows of path
    // 2m + 1 are those of path 2m negated (the Cholesky product is
    // linear), its jumps those of the mirrored uniform and normal.
    let base = scenario::load(&root().join("scenarios/base.json"))
        .unwrap()
        .scenario;
    let anti = base.with_sampling(100, 3, Sampling::Antithetic).unwrap();
    let (m, plain) = (Model::new(&anti), Model::new(&base));
    let g = Generator::new(3);
    let (first, paths, stride) = (10u64, 16, 16);
    let mut state = StepState::new(&m, paths);
    let mut rows = vec![f64::NAN; m.shock_rows() * stride];
    m.draw_rows(&g, first, paths, &mut state, &mut rows, stride);
    let mut mc = vec![f64::NAN; plain.shock_rows() * stride];
    plain.draw_rows(&g, first, paths, &mut state, &mut mc, stride);
    let k = m.series.len();
    for step in 0..m.steps {
        for i in 0..k {
            for off in 0..2 {
                let r = (3 * (step * k + i) + off) * stride;
                for p in (0..paths).step_by(2) {
                    // Even paths keep their mc numbers; odd ones mirror them.
                    assert_eq!(rows[r + p].to_bits(), mc[r + p].to_bits());
                    assert_eq!(rows[r + p + 1].to_bits(), (-rows[r + p]).to_bits());
                }
            }
        }
    }
    // A path drawn alone (its partner outside the range) gets the same.
    let mut alone = vec![f64::NAN; m.shock_rows()];
    m.draw_rows(&g, first + 5, 1, &mut state, &mut alone, 1);
    for (row, &x) in alone.iter().enumerate() {
        let y = rows[row * stride + 5];
        // A series without jumps leaves its jump row as it was: only the
        // jump rows of series with jumps are compared.
        let series = base.series.values().nth(row / 3 % k).unwrap();
        if row % 3 != 2 || series.jumps.is_some() {
            assert_eq!(x.to_bits(), y.to_bits(), "row {row}");
        }
    }
}

/// The variance over seeds of the mean of the uncapped flow's total, at
/// 1,024 paths per seed.
fn variance_of_the_mean(sampling: Sampling) -> f64 {
    let sc = gbm(sampling, 1024);
    let engine = Engine::new(&sc).without_step_statistics();
    let means: Vec<f64> = (0..200)
        .map(|seed| {
            let opts = RunOptions {
                paths: 1024,
                seed,
                threads: 1,
                exact: false,
                shard: (0, 1),
            };
            let out = engine.run_quiet(&opts).unwrap();
            let r = RunResult::build(&engine, &out.tally, 1, 0.0).unwrap();
            r.summary.regimes["uncapped"].flows["f"].total.mean
        })
        .collect();
    let n = means.len() as f64;
    let m = means.iter().sum::<f64>() / n;
    means.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0)
}

#[test]
fn qmc_and_antithetic_reduce_the_variance_of_a_smooth_mean() {
    let mc = variance_of_the_mean(Sampling::Mc);
    let anti = variance_of_the_mean(Sampling::Antithetic);
    let qmc = variance_of_the_mean(Sampling::Qmc);
    println!(
        "variance reduction at 1,024 paths: antithetic {:.1}x, qmc {:.1}x",
        mc / anti,
        mc / qmc
    );
    // Each ratio of two variances over 200 seeds is good to about ±20%
    // (one standard deviation); the measured factors (about 5x and 45x at
    // these seeds) are well clear of the bounds.
    assert!(mc / anti >= 2.0, "antithetic: {}", mc / anti);
    assert!(mc / qmc >= 10.0, "qmc: {}", mc / qmc);
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("revshare-sampling-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn revshare(args: &[&str], simd: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("SLURM_ARRAY_TASK_COUNT")
        .env_remove("JOB_COMPLETION_INDEX");
    if let Some(v) = simd {
        cmd.env("REVSHARE_SIMD", v);
    }
    cmd.output().unwrap()
}

/// summary.json of a directory without the machine's fields.
fn figures(d: &Path) -> String {
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("summary.json")).unwrap()).unwrap();
    let run = v["run"].as_object_mut().unwrap();
    for k in ["threads", "elapsed_seconds", "paths_per_second"] {
        run.remove(k);
    }
    serde_json::to_string_pretty(&v).unwrap()
}

/// Runs `scenario` with `sampling` on 8,192 paths and returns its figures.
fn run(scenario: &str, sampling: &str, extra: &[&str], simd: Option<&str>, name: &str) -> String {
    let d = tmp(name);
    let file = root().join(scenario).display().to_string();
    let out = d.display().to_string();
    let mut args = vec![
        "run",
        &file,
        "--sampling",
        sampling,
        "--paths",
        "8192",
        "--seed",
        "11",
        "--no-charts",
        "-q",
        "--out",
        &out,
    ];
    args.extend_from_slice(extra);
    let o = revshare(&args, simd);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let f = figures(&d);
    let _ = std::fs::remove_dir_all(&d);
    f
}

#[test]
fn every_method_gives_the_same_bytes_on_any_threads_shards_and_instruction_set() {
    // base.json (jumps, correlated series) and stress.json (Student-t
    // tails, whose Cholesky product is taken while drawing).
    for scenario in ["scenarios/base.json", "scenarios/stress.json"] {
        for sampling in ["antithetic", "qmc"] {
            let tag = format!("{}-{sampling}", scenario.len());
            let one = run(scenario, sampling, &["--threads", "1"], None, &tag);
            assert!(one.contains(&format!("\"sampling\": \"{sampling}\"")));
            for threads in ["2", "8"] {
                let other = run(scenario, sampling, &["--threads", threads], None, &tag);
                assert!(
                    one == other,
                    "{scenario} {sampling}: {threads} threads differ"
                );
            }
            for simd in ["off", "avx2"] {
                let other = run(scenario, sampling, &["--threads", "2"], Some(simd), &tag);
                assert!(
                    one == other,
                    "{scenario} {sampling}: REVSHARE_SIMD={simd} differs"
                );
            }
            // Three shards (3, 3 and 2 batches), merged.
            let file = root().join(scenario).display().to_string();
            let mut partials = Vec::new();
            for i in 0..3 {
                let d = tmp(&format!("{tag}-shard{i}"));
                let shard = format!("{i}/3");
                let out = d.display().to_string();
                let o = revshare(
                    &[
                        "run",
                        &file,
                        "--sampling",
                        sampling,
                        "--paths",
                        "8192",
                        "--seed",
                        "11",
                        "--shard",
                        &shard,
                        "-q",
                        "--out",
                        &out,
                    ],
                    None,
                );
                assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
                partials.push(d.join("partial.bin").display().to_string());
            }
            let merged = tmp(&format!("{tag}-merged"));
            let m = merged.display().to_string();
            let mut args = vec!["merge", "--no-charts", "-q", "--out", m.as_str()];
            args.extend(partials.iter().map(|s| s.as_str()));
            let o = revshare(&args, None);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            assert!(
                one == figures(&merged),
                "{scenario} {sampling}: the merged shards differ"
            );
        }
    }
}

#[test]
fn path_counts_are_rounded_on_the_command_line_and_refused_in_files() {
    // --sampling qmc with 1,000 paths: 1,024, with a warning.
    let d = tmp("round");
    let file = root()
        .join("tests/scenarios/gbm.json")
        .display()
        .to_string();
    let out = d.display().to_string();
    let o = revshare(
        &[
            "run",
            &file,
            "--sampling",
            "qmc",
            "--paths",
            "1000",
            "--no-charts",
            "-q",
            "--out",
            &out,
        ],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("1000 paths rounded up to 1024"), "{err}");
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["run"]["paths"], 1024);
    assert_eq!(s["run"]["sampling"], "qmc");
    assert_eq!(s["run"]["replicates"], 16);
    assert_eq!(s["scenario"]["simulation"]["sampling"], "qmc");
    // A file asking for qmc on 1,000 paths, or antithetic on an odd
    // count, is refused with the field and the counts that would do.
    let text = std::fs::read_to_string(root().join("tests/scenarios/gbm.json")).unwrap();
    for (sampling, paths, says) in [("qmc", 1000, "use 1024"), ("antithetic", 999, "use 1000")] {
        let bad = text.replace(
            "\"paths\": 65536",
            &format!("\"paths\": {paths}, \"sampling\": \"{sampling}\""),
        );
        let e = scenario::parse(&bad, Path::new("bad.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("simulation.paths") && e.contains(says), "{e}");
    }
    let bad = text.replace("\"seed\": 7", "\"seed\": 7, \"sampling\": \"sobol\"");
    let e = scenario::parse(&bad, Path::new("bad.json"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("simulation.sampling"), "{e}");
    // Plain Monte Carlo summaries carry no sampling field.
    let o = revshare(
        &[
            "run",
            &file,
            "--paths",
            "1000",
            "--no-charts",
            "-q",
            "--out",
            &out,
        ],
        None,
    );
    assert!(o.status.success());
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("summary.json")).unwrap()).unwrap();
    assert!(s["run"].get("sampling").is_none() && s["run"].get("replicates").is_none());
    assert!(s["scenario"]["simulation"].get("sampling").is_none());
}
