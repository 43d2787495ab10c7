//! Faults around a run, through the real binary: output paths that cannot
//! be written (a file, a parent that is a file or missing, /proc), a full
//! disk (a 64 KiB tmpfs, when this process may mount one), Ctrl-C, SIGTERM
//! and SIGHUP in the middle of a long run and during the write phase,
//! `kill -9` during the write phase (at the staged point and at many
//! moments of a run), a folder that holds the user's files, and two runs
//! into one folder. Each must end with a clear message, a non-zero exit
//! code, and no partial or temporary file; a previous complete result in
//! the output directory must survive a failed rewrite untouched, and a
//! reader must only ever see one complete result.
//!
//! The write phase is widened with the output manager's test pause
//! (`REVSHARE_TEST_PAUSE_BEFORE_COMMIT_MS`: every file staged, the swap
//! not yet done).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_revshare");

/// A small, fast scenario (2 series, 2 regimes).
const SMALL: &str = r#"{
  "name": "small", "start_year": 2026, "end_year": 2027,
  "simulation": { "paths": 2000, "seed": 1 },
  "series": { "s": { "initial_run_rate": 10, "growth": { "initial": 0.1 },
                     "volatility": { "initial": 0.2 } } },
  "baseline": "prior",
  "regimes": {
    "prior": [ { "name": "f", "payer": "A", "payee": "B", "series": "s",
                 "rate": 0.2, "from_year": 2026, "to_year": 2027 } ],
    "amended": [ { "name": "f", "payer": "A", "payee": "B", "series": "s",
                   "rate": 0.2, "from_year": 2026, "to_year": 2027, "cap": 3 } ] }
}"#;

fn run(scenario: &Path, out: &Path, extra: &[&str]) -> Output {
    Command::new(BIN)
        .arg("run")
        .arg(scenario)
        .arg("--out")
        .arg(out)
        .arg("-q")
        .args(extra)
        .output()
        .expect("the revshare binary runs")
}

fn small(dir: &Path) -> PathBuf {
    let f = dir.join("small.json");
    std::fs::write(&f, SMALL).unwrap();
    f
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn assert_failed(o: &Output, fragments: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for f in fragments {
        assert!(err.contains(f), "expected {f:?} in: {err}");
    }
}

#[test]
fn output_path_that_is_a_file() {
    let d = tempfile::tempdir().unwrap();
    let sc = small(d.path());
    let file = d.path().join("results");
    std::fs::write(&file, "keep me").unwrap();
    assert_failed(
        &run(&sc, &file, &[]),
        &["output path", "results", "exists and is not a directory"],
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
    // A device in place of the directory.
    if Path::new("/dev/full").exists() {
        assert_failed(
            &run(&sc, Path::new("/dev/full"), &[]),
            &["/dev/full", "is not a directory"],
        );
    }
}

#[test]
fn output_parent_that_is_a_file_or_missing() {
    let d = tempfile::tempdir().unwrap();
    let sc = small(d.path());
    let file = d.path().join("plain");
    std::fs::write(&file, "x").unwrap();
    assert_failed(
        &run(&sc, &file.join("out"), &[]),
        &[
            "cannot create output directory",
            "plain",
            "is not a directory",
        ],
    );
    assert_failed(
        &run(&sc, &d.path().join("missing/out"), &[]),
        &[
            "cannot create output directory",
            "missing",
            "does not exist",
        ],
    );
    assert_eq!(listing(d.path()), vec!["plain", "small.json"]);
}

#[test]
fn output_directory_that_cannot_be_written() {
    let d = tempfile::tempdir().unwrap();
    let sc = small(d.path());
    // /proc refuses new entries even to root.
    assert_failed(
        &run(&sc, Path::new("/proc/revshare-out"), &[]),
        &["/proc/revshare-out"],
    );
    assert_failed(
        &run(&sc, Path::new("/proc/self"), &[]),
        &["/proc/self", "not writable"],
    );
    // A read-only directory, where permissions apply (not to root).
    use std::os::unix::fs::PermissionsExt;
    let ro = d.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    if std::fs::File::create(ro.join("probe")).is_ok() {
        println!("note: a mode-555 directory is writable here (root?); that case skipped");
    } else {
        assert_failed(&run(&sc, &ro, &[]), &["not writable", "Permission denied"]);
        assert!(listing(&ro).is_empty());
    }
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A tmpfs of a few KiB, unmounted on drop.
struct TinyDisk(PathBuf);

impl TinyDisk {
    fn mount(dir: &Path, size: &str) -> Option<TinyDisk> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| TinyDisk(dir.to_owned()))
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn full_disk_leaves_no_partial_file_and_keeps_the_previous_result() {
    let d = tempfile::tempdir().unwrap();
    let sc = small(d.path());
    let mnt = d.path().join("disk");
    std::fs::create_dir(&mnt).unwrap();
    let Some(_disk) = TinyDisk::mount(&mnt, "160k") else {
        println!("note: cannot mount a tmpfs here (not root?); full-disk case skipped");
        return;
    };
    // 1. A result too big for the disk: nothing at all is left.
    let big = d.path().join("big.json");
    std::fs::write(
        &big,
        SMALL
            .replace(
                "\"end_year\": 2027",
                "\"end_year\": 2040, \"steps_per_year\": 52",
            )
            .replace("\"to_year\": 2027", "\"to_year\": 2040"),
    )
    .unwrap();
    let out = mnt.join("out");
    // (Charts and the report are left out: the tiny disk is sized for the
    // data files; they go through the same staged write.)
    assert_failed(
        &run(&big, &out, &["--no-charts", "--no-report"]),
        &["cannot write", "No space left on device"],
    );
    assert!(listing(&out).is_empty(), "left: {:?}", listing(&out));

    // 2. A complete previous result, then the disk fills: the rewrite
    //    fails and the previous files stay exactly as they were.
    let o = run(&sc, &out, &["--no-charts", "--no-report"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let before: Vec<(String, Vec<u8>)> = listing(&out)
        .into_iter()
        .map(|n| {
            let b = std::fs::read(out.join(&n)).unwrap();
            (n, b)
        })
        .collect();
    assert_eq!(before.len(), 4, "three files and the manifest: {before:?}");
    // Fill all but about 4 KiB.
    let free = {
        let o = Command::new("df")
            .args(["-k", "--output=avail"])
            .arg(&mnt)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse::<usize>().ok())
            .unwrap_or(0)
    };
    let filler = vec![0u8; free.saturating_sub(4) * 1024];
    let _ = std::fs::write(mnt.join("filler"), &filler);
    assert_failed(
        &run(&sc, &out, &["--seed", "2", "--no-charts", "--no-report"]),
        &["cannot write", "No space left on device"],
    );
    let after: Vec<(String, Vec<u8>)> = listing(&out)
        .into_iter()
        .map(|n| {
            let b = std::fs::read(out.join(&n)).unwrap();
            (n, b)
        })
        .collect();
    assert!(
        before == after,
        "previous result changed or temporary files left: {:?}",
        listing(&out)
    );
}

#[test]
fn ctrl_c_stops_promptly_without_output() {
    let d = tempfile::tempdir().unwrap();
    let sc = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/base.json");
    let out = d.path().join("out");
    let mut child = Command::new(BIN)
        .arg("run")
        .arg(&sc)
        .args(["--paths", "1000000000", "--out"])
        .arg(&out)
        .arg("-q")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Let it get well into sampling.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(child.try_wait().unwrap().is_none(), "the run ended early");
    let sent = Instant::now();
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    // Generous bound: the machine may be busy; measured values are printed.
    let deadline = sent + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running 10 s after SIGINT");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let latency = sent.elapsed();
    let mut err = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    println!("SIGINT to exit: {:.0} ms", latency.as_secs_f64() * 1e3);
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted: no output written"), "{err}");
    assert!(
        !out.exists(),
        "output written after Ctrl-C: {:?}",
        listing(&out)
    );
}

// ---------------------------------------------------------------------------
// Signals, kills and concurrent runs (issue 21, items 2-5)
// ---------------------------------------------------------------------------

const PAUSE: &str = "REVSHARE_TEST_PAUSE_BEFORE_COMMIT_MS";

/// Starts `revshare run SCENARIO --out OUT -q EXTRA...` with `env`.
fn spawn(scenario: &Path, out: &Path, extra: &[&str], env: &[(&str, &str)]) -> Child {
    Command::new(BIN)
        .arg("run")
        .arg(scenario)
        .arg("--out")
        .arg(out)
        .arg("-q")
        .args(extra)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the revshare binary starts")
}

/// Waits for `child` at most `secs` seconds (killing it then); returns its
/// status and stderr.
fn finish(mut child: Child, secs: u64) -> (ExitStatus, String) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running after {secs} s");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut err = String::new();
    use std::io::Read;
    if let Some(mut e) = child.stderr.take() {
        e.read_to_string(&mut err).unwrap();
    }
    (status, err)
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success(), "kill -{sig}");
}

/// Every file under `dir` (relative path → bytes), with the timing fields
/// of summary.json (which differ between runs of one seed) removed.
/// A report with the contents of its `class="varies"` elements (the
/// command line, thread count and timings) blanked: what must not differ
/// between two runs of the same seed.
fn without_varying(html: &[u8]) -> Vec<u8> {
    let mut s = String::from_utf8(html.to_vec()).expect("report.html is UTF-8");
    let mut from = 0;
    while let Some(at) = s[from..].find("class=\"varies\">") {
        let open = from + at;
        let start = open + "class=\"varies\">".len();
        // The element's tag name, to find its matching close.
        let tag_at = s[..open].rfind('<').expect("an opening tag");
        let tag: String = s[tag_at + 1..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        let close = format!("</{tag}>");
        let end = start + s[start..].find(&close).expect("a closing tag");
        s.replace_range(start..end, "");
        from = start;
    }
    s.into_bytes()
}

fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let name = format!("{prefix}{}", e.file_name().to_string_lossy());
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                walk(&e.path(), &format!("{name}/"), out);
            } else if ft.is_symlink() {
                let target = std::fs::read_link(e.path()).unwrap();
                out.insert(name, format!("-> {}", target.display()).into_bytes());
            } else {
                let mut bytes = std::fs::read(e.path()).unwrap();
                if name.ends_with("summary.json") {
                    let mut v: serde_json::Value = serde_json::from_slice(&bytes)
                        .unwrap_or_else(|e| panic!("{name} is not complete JSON: {e}"));
                    if let Some(run) = v.get_mut("run").and_then(|r| r.as_object_mut()) {
                        for k in ["elapsed_seconds", "paths_per_second", "threads"] {
                            run.remove(k);
                        }
                    }
                    bytes = serde_json::to_vec(&v).unwrap();
                } else if name.ends_with("report.html") {
                    bytes = without_varying(&bytes);
                }
                out.insert(name, bytes);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, "", &mut out);
    out
}

/// Names in `parent` that belong to a run in progress or killed: staging
/// folders and the old result moved aside.
fn staging_in(parent: &Path) -> Vec<String> {
    listing(parent)
        .into_iter()
        .filter(|n| n.contains("revshare-staging") || n.contains("revshare-probe"))
        .collect()
}

/// Waits until the run `child` into `out` has staged every file named in
/// `expected` (it then waits in the test pause before the swap).
fn wait_until_staged(child: &mut Child, out: &Path, expected: &[&str]) {
    let parent = out.parent().unwrap();
    let name = out.file_name().unwrap().to_string_lossy();
    let staging = parent.join(format!(".{name}.revshare-staging-{}", child.id()));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !expected.iter().all(|f| staging.join(f).is_file()) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before staging its files"
        );
        assert!(Instant::now() < deadline, "nothing staged in 60 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Let the last file's write finish.
    std::thread::sleep(Duration::from_millis(100));
}

const DATA: [&str; 3] = ["summary.json", "steps.csv", "annual.csv"];

#[test]
fn sigterm_and_sighup_stop_sampling_like_ctrl_c() {
    let d = tempfile::tempdir().unwrap();
    let sc = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/base.json");
    for (sig, code, name) in [("TERM", 143, "SIGTERM"), ("HUP", 129, "SIGHUP")] {
        let out = d.path().join(format!("out-{sig}"));
        let child = spawn(&sc, &out, &["--paths", "1000000000"], &[]);
        std::thread::sleep(Duration::from_millis(1500));
        let sent = Instant::now();
        signal(&child, sig);
        let (status, err) = finish(child, 10);
        println!(
            "SIG{sig} to exit: {:.0} ms",
            sent.elapsed().as_secs_f64() * 1e3
        );
        assert_eq!(status.code(), Some(code), "SIG{sig}: {err}");
        assert!(
            err.contains(&format!("interrupted by {name}: no output written")),
            "{err}"
        );
        assert!(
            !err.contains("error:") && !err.contains("panicked"),
            "{err}"
        );
        assert!(!out.exists(), "output written after SIG{sig}");
    }
    assert!(staging_in(d.path()).is_empty(), "{:?}", listing(d.path()));
}

#[test]
fn a_signal_during_the_write_phase_keeps_the_previous_result() {
    let d = tempfile::tempdir().unwrap();
    let sc = small(d.path());
    let out = d.path().join("out");
    let o = run(&sc, &out, &["--no-charts", "--seed", "1"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let before = snapshot(&out);
    for (sig, code) in [("TERM", 143), ("HUP", 129), ("INT", 130)] {
        let mut child = spawn(
            &sc,
            &out,
            &["--no-charts", "--seed", "2"],
            &[(PAUSE, "30000")],
        );
        wait_until_staged(&mut child, &out, &DATA);
        let sent = Instant::now();
        signal(&child, sig);
        let (status, err) = finish(child, 20);
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "SIG{sig} waited for the pause"
        );
        assert_eq!(status.code(), Some(code), "SIG{sig}: {err}");
        assert!(err.contains("no output written"), "{err}");
        assert!(
            snapshot(&out) == before,
            "SIG{sig} changed the previous result"
        );
        assert!(
            staging_in(d.path()).is_empty(),
            "SIG{sig} left {:?}",
            listing(d.path())
        );
    }
}

#[test]
fn kill_9_during_the_write_phase_keeps_the_previous_result_and_is_cleaned_up() {
    let d = tempfile::tempdir().unwrap();
    let sc = small(d.path());
    let out = d.path().join("out");
    let o = run(&sc, &out, &["--no-charts", "--seed", "1"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let before = snapshot(&out);
    let mut child = spawn(
        &sc,
        &out,
        &["--no-charts", "--seed", "2"],
        &[(PAUSE, "30000")],
    );
    wait_until_staged(&mut child, &out, &DATA);
    signal(&child, "KILL");
    let (status, _) = finish(child, 10);
    assert_eq!(status.code(), None, "killed by a signal");
    assert!(
        snapshot(&out) == before,
        "kill -9 changed the previous result"
    );
    let left = staging_in(d.path());
    assert_eq!(left.len(), 1, "the killed run's staging: {left:?}");
    // The next run removes what the killed one left and writes a whole result.
    let o = run(&sc, &out, &["--no-charts", "--seed", "3"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(staging_in(d.path()).is_empty(), "{:?}", listing(d.path()));
    let after = snapshot(&out);
    let manifest = String::from_utf8(after[".revshare-manifest"].clone()).unwrap();
    let listed: Vec<&str> = manifest.lines().skip(1).collect();
    let present: Vec<&str> = after
        .keys()
        .map(String::as_str)
        .filter(|k| *k != ".revshare-manifest")
        .collect();
    assert_eq!(listed, present);
    let s: serde_json::Value = serde_json::from_slice(&after["summary.json"]).unwrap();
    assert_eq!(s["run"]["seed"], 3);
}

/// kill -9 at many moments of runs that replace one complete result with
/// another (charts included, so the write phase holds dozens of files):
/// after each kill the folder is exactly one of the two results.
#[test]
fn kill_9_at_any_moment_leaves_one_complete_result() {
    let d = tempfile::tempdir().unwrap();
    let sc = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/base.json");
    let args = |seed: &'static str| vec!["--paths", "3000", "--seed", seed];
    // The two complete results.
    let mut results = Vec::new();
    for seed in ["1", "2"] {
        let dir = d.path().join(format!("ref-{seed}"));
        let o = run(&sc, &dir, &args(seed));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        results.push(snapshot(&dir));
    }
    assert!(results[0].len() > 20, "charts expected");
    // How long a whole run takes here.
    let out = d.path().join("out");
    let started = Instant::now();
    assert!(run(&sc, &out, &args("1")).status.success());
    let whole = started.elapsed();
    let mut current = 0;
    let (mut old, mut new) = (0, 0);
    let trials = 30;
    for t in 0..trials {
        let next = 1 - current;
        let child = spawn(&sc, &out, &args(["1", "2"][next]), &[]);
        // From the start to well past the end of a typical run (a killed
        // run's staging, removed by the next, slows the next a little).
        let delay = whole.mul_f64(2.0 * t as f64 / trials as f64);
        std::thread::sleep(delay);
        signal(&child, "KILL");
        let _ = finish(child, 30);
        let seen = snapshot(&out);
        if seen == results[current] {
            old += 1;
        } else if seen == results[next] {
            new += 1;
            current = next;
        } else {
            let names: Vec<&String> = seen.keys().collect();
            panic!("trial {t} (kill after {delay:?}): a mix of two runs: {names:?}");
        }
    }
    println!(
        "kill -9 at {trials} moments of a {:.0} ms run: {old} left the previous result, {new} the new one",
        whole.as_secs_f64() * 1e3
    );
    // The next complete run cleans up after the killed ones.
    assert!(run(&sc, &out, &args("1")).status.success());
    assert!(staging_in(d.path()).is_empty(), "{:?}", listing(d.path()));
    assert!(snapshot(&out) == results[0]);
}

#[test]
fn a_second_run_into_the_same_folder_fails_at_once_naming_the_first() {
    let d = tempfile::tempdir().unwrap();
    let sc = small(d.path());
    let out = d.path().join("out");
    let mut first = spawn(
        &sc,
        &out,
        &["--no-charts", "--seed", "5"],
        &[(PAUSE, "3000")],
    );
    wait_until_staged(&mut first, &out, &DATA);
    let started = Instant::now();
    let second = run(&sc, &out, &["--no-charts", "--seed", "6"]);
    let took = started.elapsed();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(
        err.contains("in use by another revshare run")
            && err.contains(&format!("pid {}", first.id())),
        "{err}"
    );
    assert!(
        took < Duration::from_secs(2),
        "the second run took {took:?}"
    );
    let (status, err) = finish(first, 30);
    assert!(status.success(), "{err}");
    let s = snapshot(&out);
    let names: Vec<&str> = s.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            ".revshare-manifest",
            "annual.csv",
            "report.html",
            "steps.csv",
            "summary.json"
        ]
    );
    let v: serde_json::Value = serde_json::from_slice(&s["summary.json"]).unwrap();
    assert_eq!(v["run"]["seed"], 5, "the first run's result");
    assert!(staging_in(d.path()).is_empty(), "{:?}", listing(d.path()));
}

#[test]
fn a_folder_of_the_users_files_is_refused_then_kept_with_force() {
    let d = tempfile::tempdir().unwrap();
    let sc = small(d.path());
    let proj = d.path().join("proj");
    std::fs::create_dir_all(proj.join("charts")).unwrap();
    std::fs::create_dir_all(proj.join("data/raw")).unwrap();
    std::fs::write(proj.join("charts/architecture.png"), "x").unwrap();
    std::fs::write(proj.join("data/raw/input.csv"), "a,b\n").unwrap();
    std::os::unix::fs::symlink("data/raw", proj.join("latest")).unwrap();
    let theirs = snapshot(&proj);
    // Refused, nothing touched.
    let o = run(&sc, &proj, &["--no-charts"]);
    assert_failed(&o, &["holds files that no revshare run wrote", "--force"]);
    assert!(snapshot(&proj) == theirs);
    assert!(staging_in(d.path()).is_empty());
    // With --force: our files beside theirs, theirs byte for byte (the
    // link still a link).
    let o = run(&sc, &proj, &["--no-charts", "--force"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let after = snapshot(&proj);
    for (k, v) in &theirs {
        assert_eq!(after.get(k), Some(v), "{k} changed");
    }
    assert!(std::fs::symlink_metadata(proj.join("latest"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(after.contains_key("summary.json"));
    // A rerun needs no --force (the manifest says which files are ours),
    // replaces ours and keeps theirs.
    let o = run(&sc, &proj, &["--seed", "9"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let again = snapshot(&proj);
    for (k, v) in &theirs {
        assert_eq!(again.get(k), Some(v), "{k} changed");
    }
    assert!(again.keys().any(|k| k.starts_with("charts/")
        && k.ends_with(".png")
        && k != "charts/architecture.png"));
    // An empty folder and a new one need no --force.
    let empty = d.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert!(run(&sc, &empty, &["--no-charts"]).status.success());
}
