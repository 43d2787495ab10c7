//! "Validated means validated": every way to a `Scenario` goes through
//! validation (JSON values, a summary's echo, a shard file's embedded
//! scenario), and a summary reports the paths and seed that ran.
//!
//! Cost: three library runs of 2048 paths and two shard runs of 2048 paths
//! through the binary: well under a second on 2 cores (release).

use std::path::{Path, PathBuf};
use std::process::Command;

use revshare::engine::partial::{Partial, FILE_NAME};
use revshare::engine::{Engine, RunOptions, Tally};
use revshare::scenario::{self, Scenario};
use revshare::summary::Summary;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const BIN: &str = env!("CARGO_BIN_EXE_revshare");

fn base_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/base.json")
}

fn base() -> Scenario {
    scenario::load(&base_file()).unwrap().scenario
}

/// The library run of the crate documentation's example, with `paths` and
/// `seed` chosen by the caller.
fn library_run(sc: &Scenario, paths: u64, seed: u64) -> Summary {
    let engine = Engine::new(sc);
    let opts = RunOptions {
        paths,
        seed,
        threads: 1,
        exact: false,
        shard: (0, 1),
    };
    let out = engine.run_quiet(&opts).unwrap();
    Summary::build(&engine, &out.tally, out.threads, out.elapsed_seconds).unwrap()
}

#[test]
fn a_library_run_reports_the_seed_and_paths_that_ran() {
    let sc = base();
    let seed = sc.simulation.seed.wrapping_add(12_345);
    let paths = 2048;
    assert_ne!(paths, sc.simulation.paths);
    let s = library_run(&sc, paths, seed);
    assert_eq!(s.run.seed, seed);
    assert_eq!(s.run.paths, paths);
    // The echo agrees with `run`, and with the scenario everywhere else.
    assert_eq!(s.scenario.simulation.seed, seed);
    assert_eq!(s.scenario.simulation.paths, paths);
    assert_eq!(s.scenario, sc.with_simulation(paths, seed).unwrap());
    // The same run, asked for through the scenario, gives the same summary.
    let via_scenario = sc.with_simulation(paths, seed).unwrap();
    let t = library_run(&via_scenario, paths, seed);
    assert_eq!(
        without_timing(&t.to_json()),
        without_timing(&s.to_json()),
        "the options alone decide what runs"
    );
    // And a different seed really is a different run.
    let other = library_run(&sc, paths, sc.simulation.seed);
    assert_eq!(other.run.seed, sc.simulation.seed);
    assert_ne!(other.series, s.series);
}

fn without_timing(json: &[u8]) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_slice(json).unwrap();
    let run = v["run"].as_object_mut().unwrap();
    for k in ["threads", "elapsed_seconds", "paths_per_second"] {
        run.remove(k);
    }
    v
}

#[test]
fn json_values_are_validated_like_files() {
    let sc = base();
    let origin = Path::new("edited");
    // The JSON form reads back as the same scenario.
    let back = Scenario::from_json_value(&sc.to_json_value(), origin).unwrap();
    assert_eq!(back.scenario, sc);
    // An edit that breaks a rule is refused with its field path.
    let mut v = sc.to_json_value();
    v["regimes"]["amended"][0]["rate"] = 1.5.into();
    v["series"]["openai"]["volatility"]["initial"] = (-0.1).into();
    let e = Scenario::from_json_value(&v, origin)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("edited: invalid scenario (2 problems)"),
        "{e}"
    );
    assert!(
        e.contains("regimes.amended.0.rate: must be in [0, 1], got 1.5"),
        "{e}"
    );
    assert!(e.contains("series.openai.volatility.initial"), "{e}");
    // Unknown fields and wrong shapes too.
    let mut v = sc.to_json_value();
    v["series"]["openai"]["growth"]["speed"] = 1.into();
    let e = Scenario::from_json_value(&v, origin)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("series.openai.growth.speed: unknown field `speed`"),
        "{e}"
    );
    let mut v = sc.to_json_value();
    v["series"]["openai"]["growth"] = serde_json::json!([0.1, 0.2]);
    let e = Scenario::from_json_value(&v, origin)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("series.openai.growth: expected a JSON object"),
        "{e}"
    );
    let e = Scenario::from_json_value(&serde_json::json!(7), origin)
        .unwrap_err()
        .to_string();
    assert!(e.contains("expected an object"), "{e}");
    // with_simulation validates the new path count.
    let e = sc.with_simulation(0, 1).unwrap_err().to_string();
    assert!(e.contains("simulation.paths: must be in 1..="), "{e}");
    let s = sc.with_simulation(5000, 9).unwrap();
    assert_eq!((s.simulation.paths, s.simulation.seed), (5000, 9));
    assert_eq!(s.regimes, sc.regimes);
}

#[test]
fn a_summary_echo_is_validated_on_reading() {
    let s = library_run(&base(), 2048, 1);
    let mut v: serde_json::Value = serde_json::from_slice(&s.to_json()).unwrap();
    let back: Summary = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(back, s);
    v["scenario"]["regimes"]["amended"][0]["rate"] = 1.5.into();
    let e = serde_json::from_value::<Summary>(v)
        .unwrap_err()
        .to_string();
    assert!(e.contains("invalid scenario"), "{e}");
    assert!(
        e.contains("regimes.amended.0.rate: must be in [0, 1], got 1.5"),
        "{e}"
    );
}

/// A partial file's parts (see the `partial` module documentation).
struct Parts {
    magic: Vec<u8>,
    header: Vec<u8>,
    body: Body,
}

#[derive(Serialize, Deserialize)]
struct Body {
    scenario: String,
    tally: Tally,
}

fn split(bytes: &[u8]) -> Parts {
    let nl1 = bytes.iter().position(|&b| b == b'\n').unwrap();
    let nl2 = nl1 + 1 + bytes[nl1 + 1..].iter().position(|&b| b == b'\n').unwrap();
    let len = u64::from_le_bytes(bytes[nl2 + 1..nl2 + 9].try_into().unwrap()) as usize;
    let body = &bytes[nl2 + 9..nl2 + 9 + len];
    Parts {
        magic: bytes[..=nl1].to_vec(),
        header: bytes[nl1 + 1..=nl2].to_vec(),
        body: rmp_serde::from_slice(body).unwrap(),
    }
}

/// The file's bytes again, with a length and checksum that match.
fn join(p: &Parts) -> Vec<u8> {
    let body = rmp_serde::to_vec_named(&p.body).unwrap();
    let mut out = p.magic.clone();
    out.extend_from_slice(&p.header);
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&body);
    let sum = Sha256::digest(&out);
    out.extend_from_slice(&sum);
    out
}

fn revshare(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("SLURM_ARRAY_TASK_COUNT")
        .env_remove("JOB_COMPLETION_INDEX")
        .output()
        .unwrap()
}

#[test]
fn a_tampered_shard_scenario_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let mut partials = Vec::new();
    for i in 0..2 {
        let out = dir.path().join(format!("shard{i}"));
        let spec = format!("{i}/2");
        let o = revshare(&[
            "run".as_ref(),
            base_file().as_os_str(),
            "--paths".as_ref(),
            "2048".as_ref(),
            "--shard".as_ref(),
            spec.as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
            "-q".as_ref(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        partials.push(out.join(FILE_NAME));
    }
    let bytes = std::fs::read(&partials[1]).unwrap();
    let good = Partial::decode(&bytes).unwrap();
    // Re-encoding the untouched parts gives the same file.
    let mut parts = split(&bytes);
    assert_eq!(join(&parts), bytes);

    // A negative volatility, checksum made right: a clear format error.
    let mut v: serde_json::Value = serde_json::from_str(&parts.body.scenario).unwrap();
    v["series"]["openai"]["volatility"]["initial"] = (-0.5).into();
    parts.body.scenario = v.to_string();
    let tampered = join(&parts);
    let e = Partial::decode(&tampered).unwrap_err().to_string();
    assert!(e.starts_with("corrupted: invalid scenario: "), "{e}");
    assert!(
        e.contains("series.openai.volatility.initial: must be >= 0, got -0.5"),
        "{e}"
    );

    // Through `merge`: refused, no panic, nothing written.
    std::fs::write(&partials[1], &tampered).unwrap();
    let merged = dir.path().join("merged");
    let o = revshare(&[
        "merge".as_ref(),
        partials[0].as_os_str(),
        partials[1].as_os_str(),
        "--out".as_ref(),
        merged.as_os_str(),
        "--no-charts".as_ref(),
        "-q".as_ref(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("invalid scenario"), "{err}");
    assert!(err.contains("series.openai.volatility.initial"), "{err}");
    assert!(!merged.join("summary.json").exists());

    // The untouched file still merges.
    std::fs::write(&partials[1], &bytes).unwrap();
    let o = revshare(&[
        "merge".as_ref(),
        partials[0].as_os_str(),
        partials[1].as_os_str(),
        "--out".as_ref(),
        merged.as_os_str(),
        "--no-charts".as_ref(),
        "-q".as_ref(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(good.tally.seed, good.scenario.simulation.seed);
}
