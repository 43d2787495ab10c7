//! The output manager: the one owner of an output folder. Every command
//! that produces results writes through it, so the folder always holds
//! exactly one complete result:
//!
//! 1. [`OutputDir::open`], before any sampling: takes an advisory lock on
//!    the folder (a second run into the same folder fails at once, naming
//!    the run that holds it), checks that the folder can be written, that
//!    it is new, empty or written by revshare (else `--force`), and removes
//!    what a killed run left behind;
//! 2. [`OutputDir::write`]: each file goes into a staging folder beside the
//!    target (`.<name>.revshare-staging-<pid>`), synced;
//! 3. [`OutputDir::commit`]: writes the manifest (`.revshare-manifest`,
//!    the files this run wrote), carries over the files in the folder that
//!    no revshare run wrote (hard links, so nothing is copied), then swaps
//!    the staging folder in for the old one with one atomic rename
//!    (`renameat2(RENAME_EXCHANGE)` on Linux) and removes the old one.
//!
//! A reader therefore sees the previous complete result or the new one,
//! never a mix, whatever happens in between (a kill, a full disk, a
//! signal): at worst a stale staging folder is left, which the next run
//! into the same folder removes.
//!
//! A cancel flag ([`OutputDir::with_cancel`], raised by the command line's
//! SIGINT, SIGTERM and SIGHUP handlers) is checked before each staged file
//! and, in [`OutputDir::commit`], up to the swap: once raised, nothing more
//! is written, the staging folder is removed and the previous result stays
//! as it was ([`OutputError::Cancelled`]). The swap itself is the point of
//! no return: a signal after it changes nothing.
//!
//! For tests, `REVSHARE_TEST_PAUSE_BEFORE_COMMIT_MS` makes
//! [`OutputDir::commit`] wait that many milliseconds (or until the cancel
//! flag is raised) with every file staged, so that a test can signal or
//! kill a process at that point, or start a second run into the folder. Files that an earlier run wrote and this
//! run does not (charts of another scenario, a workbook from a run with
//! `--xlsx`) are gone after the swap; files the user put there are kept.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The environment variable of the test pause in [`OutputDir::commit`]
/// (milliseconds; see the module docs).
pub(crate) const TEST_PAUSE_ENV: &str = "REVSHARE_TEST_PAUSE_BEFORE_COMMIT_MS";

/// Name of the manifest inside a result folder: one relative path per
/// line of every file the run wrote, after a first line
/// `revshare-manifest 1`.
pub(crate) const MANIFEST: &str = ".revshare-manifest";
const MANIFEST_HEADER: &str = "revshare-manifest 1";

/// Files that revshare versions before the manifest wrote: a folder
/// without a manifest that holds `summary.json` or `partial.bin` is taken
/// as such a result, and these are its files.
const LEGACY_FILES: [&str; 6] = [
    "summary.json",
    "steps.csv",
    "annual.csv",
    "results.xlsx",
    "partial.bin",
    "comparison.csv",
];

/// Why an output folder cannot be used or written.
#[derive(Debug)]
#[non_exhaustive]
pub enum OutputError {
    /// An I/O operation on `path` failed.
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// Another process holds the folder's lock.
    Busy {
        /// The output folder.
        dir: PathBuf,
        /// What the lock file says of its holder (e.g. `pid 1234`).
        holder: String,
    },
    /// The folder holds files that no revshare run wrote, and `--force`
    /// was not given.
    Foreign {
        /// The output folder.
        dir: PathBuf,
        /// A few of the files found.
        examples: Vec<String>,
    },
    /// The path exists and is not a folder.
    NotADirectory(PathBuf),
    /// The folder cannot be created or written (found before any work).
    Unusable {
        /// The output folder.
        dir: PathBuf,
        /// Why, ready to print.
        why: String,
    },
    /// A file name of the result is not a plain relative path.
    BadName(String),
    /// The cancel flag was raised before the swap: nothing was written,
    /// the previous result is untouched.
    Cancelled,
}

impl std::fmt::Display for OutputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutputError::Io { path, source } => {
                write!(f, "cannot write {}: {source}", path.display())
            }
            OutputError::Busy { dir, holder } => write!(
                f,
                "output folder {} is in use by another revshare run ({holder}); \
                 wait for it to finish or choose another --out",
                dir.display()
            ),
            OutputError::Foreign { dir, examples } => write!(
                f,
                "output folder {} holds files that no revshare run wrote ({}); \
                 choose a new or empty folder, or pass --force to write into it \
                 (revshare then keeps the files it did not write)",
                dir.display(),
                examples.join(", ")
            ),
            OutputError::NotADirectory(p) => {
                write!(
                    f,
                    "output path {} exists and is not a directory",
                    p.display()
                )
            }
            OutputError::BadName(n) => write!(f, "not a relative file name: {n}"),
            OutputError::Unusable { why, .. } => f.write_str(why),
            OutputError::Cancelled => f.write_str("interrupted: no output written"),
        }
    }
}

/// The message of every variant is complete (it includes the I/O error),
/// so no source is chained.
impl std::error::Error for OutputError {}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OutputError + '_ {
    move |source| OutputError::Io {
        path: path.to_owned(),
        source,
    }
}

/// An output folder opened for one new result (see the module docs).
/// Dropped without [`OutputDir::commit`], it removes its staging folder and
/// leaves the folder as it was.
#[derive(Debug)]
pub struct OutputDir {
    dir: PathBuf,
    staging: PathBuf,
    written: BTreeSet<String>,
    _lock: Option<File>,
    done: bool,
    cancel: Option<Arc<AtomicBool>>,
}

impl OutputDir {
    /// Opens `dir` for a new result (created at commit if absent). Its
    /// parent must exist unless `create_parents`. `force` allows a folder
    /// that holds files no revshare run wrote (they are kept).
    pub fn open(dir: &Path, force: bool, create_parents: bool) -> Result<OutputDir, OutputError> {
        if dir.exists() && !dir.is_dir() {
            return Err(OutputError::NotADirectory(dir.to_owned()));
        }
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| n != "." && n != "..")
            .ok_or_else(|| OutputError::BadName(dir.display().to_string()))?;
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let cannot_create = |why: String| OutputError::Unusable {
            dir: dir.to_owned(),
            why: format!("cannot create output directory {}: {why}", dir.display()),
        };
        if create_parents {
            fs::create_dir_all(&parent).map_err(|e| {
                cannot_create(format!(
                    "cannot create its parent {}: {e}",
                    parent.display()
                ))
            })?;
        } else if !parent.is_dir() {
            return Err(cannot_create(format!(
                "its parent {} {}",
                parent.display(),
                if parent.exists() {
                    "is not a directory"
                } else {
                    "does not exist"
                }
            )));
        }
        if dir.is_dir() {
            if let Err(e) = probe_writable(dir) {
                return Err(OutputError::Unusable {
                    dir: dir.to_owned(),
                    why: format!("output directory {} is not writable: {e}", dir.display()),
                });
            }
        }
        let lock = lock(&parent.join(format!(".{name}.revshare-lock")), dir)?;
        // With the lock held no other run uses these: leftovers of a killed run.
        remove_leftovers(&parent, &name);
        remove_probes(dir);
        // A folder a revshare run wrote (it has a manifest, or is a result
        // of a version before manifests) may hold the user's files too;
        // any other non-empty folder needs --force.
        if dir.is_dir() && !force && !dir.join(MANIFEST).is_file() {
            let foreign = foreign_files(dir)?;
            let mut all = Vec::new();
            list_files(dir, "", &mut all).map_err(io(dir))?;
            if !foreign.is_empty() && foreign.len() == all.len() {
                return Err(OutputError::Foreign {
                    dir: dir.to_owned(),
                    examples: foreign.into_iter().take(3).collect(),
                });
            }
        }
        let staging = parent.join(format!(".{name}.revshare-staging-{}", std::process::id()));
        fs::create_dir(&staging).map_err(io(&staging))?;
        Ok(OutputDir {
            dir: dir.to_owned(),
            staging,
            written: BTreeSet::new(),
            _lock: lock,
            done: false,
            cancel: None,
        })
    }

    /// Stops writing once `flag` is raised (see the module docs): every
    /// later [`OutputDir::write`], and [`OutputDir::commit`] up to the
    /// swap, fail with [`OutputError::Cancelled`].
    pub fn with_cancel(mut self, flag: Arc<AtomicBool>) -> OutputDir {
        self.cancel = Some(flag);
        self
    }

    fn check_cancel(&self) -> Result<(), OutputError> {
        match &self.cancel {
            Some(f) if f.load(Ordering::SeqCst) => Err(OutputError::Cancelled),
            _ => Ok(()),
        }
    }

    /// The test pause before the swap (see the module docs).
    fn test_pause(&self) {
        let Some(ms) = std::env::var(TEST_PAUSE_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
        else {
            return;
        };
        let until = Instant::now() + Duration::from_millis(ms);
        while Instant::now() < until && self.check_cancel().is_ok() {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The folder the result goes to.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Stages `bytes` as the file `name` (a relative path such as
    /// `charts/fan.png`), written and synced.
    pub fn write(&mut self, name: &str, bytes: &[u8]) -> Result<(), OutputError> {
        self.check_cancel()?;
        let rel = Path::new(name);
        if name.is_empty()
            || name == MANIFEST
            || !rel
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
        {
            return Err(OutputError::BadName(name.to_string()));
        }
        let path = self.staging.join(rel);
        if let Some(p) = path.parent() {
            fs::create_dir_all(p).map_err(io(p))?;
        }
        let target = self.dir.join(rel);
        write_synced(&path, bytes).map_err(|source| OutputError::Io {
            path: target,
            source,
        })?;
        self.written.insert(name.to_string());
        Ok(())
    }

    /// Makes the staged files the folder's content (see the module docs)
    /// and returns their final paths.
    pub fn commit(mut self) -> Result<Vec<PathBuf>, OutputError> {
        self.test_pause();
        self.check_cancel()?;
        let mut manifest = format!("{MANIFEST_HEADER}\n");
        for n in &self.written {
            manifest.push_str(n);
            manifest.push('\n');
        }
        let mpath = self.staging.join(MANIFEST);
        write_synced(&mpath, manifest.as_bytes()).map_err(io(&mpath))?;
        if self.dir.is_dir() {
            for rel in foreign_files(&self.dir)? {
                if self.written.contains(&rel) {
                    continue;
                }
                let to = self.staging.join(&rel);
                if let Some(p) = to.parent() {
                    fs::create_dir_all(p).map_err(io(p))?;
                }
                let from = self.dir.join(&rel);
                if fs::hard_link(&from, &to).is_err() {
                    fs::copy(&from, &to).map_err(io(&from))?;
                }
            }
            sync_tree(&self.staging);
            // The last moment a signal can keep the previous result.
            self.check_cancel()?;
            exchange(&self.staging, &self.dir)?;
            // The staging path now holds the previous result.
            let _ = fs::remove_dir_all(&self.staging);
        } else {
            sync_tree(&self.staging);
            self.check_cancel()?;
            fs::rename(&self.staging, &self.dir).map_err(io(&self.dir))?;
        }
        self.done = true;
        if let Some(p) = self.dir.parent() {
            if let Ok(d) = File::open(if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }) {
                let _ = d.sync_all();
            }
        }
        Ok(self.written.iter().map(|n| self.dir.join(n)).collect())
    }
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

/// Writes, flushes and syncs a new file.
fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    f.write_all(bytes)?;
    f.flush()?;
    f.sync_all()
}

/// Syncs every folder of a staged tree, so that the names are durable
/// before the swap.
fn sync_tree(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                sync_tree(&e.path());
            }
        }
    }
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// The files under `dir` (relative paths) that no revshare run wrote: not
/// in its manifest (or, without one, not a file of a legacy result).
fn foreign_files(dir: &Path) -> Result<Vec<String>, OutputError> {
    let mut all = Vec::new();
    list_files(dir, "", &mut all).map_err(io(dir))?;
    let ours: BTreeSet<String> = match fs::read_to_string(dir.join(MANIFEST)) {
        Ok(m) if m.starts_with(MANIFEST_HEADER) => m.lines().skip(1).map(String::from).collect(),
        _ => {
            let legacy = all
                .iter()
                .any(|f| f == "summary.json" || f == "partial.bin");
            if legacy {
                all.iter()
                    .filter(|f| {
                        LEGACY_FILES.contains(&f.as_str())
                            || (f.starts_with("charts/")
                                && (f.ends_with(".png") || f.ends_with(".svg")))
                            || f.ends_with("/summary.json")
                    })
                    .cloned()
                    .collect()
            } else {
                BTreeSet::new()
            }
        }
    };
    Ok(all
        .into_iter()
        .filter(|f| f != MANIFEST && !ours.contains(f) && !f.starts_with(PROBE))
        .collect())
}

fn list_files(dir: &Path, prefix: &str, out: &mut Vec<String>) -> std::io::Result<()> {
    for e in fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        if e.file_type()?.is_dir() {
            list_files(&e.path(), &rel, out)?;
        } else {
            out.push(rel);
        }
    }
    Ok(())
}

/// The prefix of the file that checks that an output folder can be
/// written, where the platform cannot check without a name.
const PROBE: &str = ".revshare-probe-";

/// Checks that a file can be created in `dir` without leaving a name a
/// reader could see: an unnamed `O_TMPFILE` file on Linux; elsewhere, or
/// on file systems without it, a named probe removed at once (one left by
/// a run killed in between is removed by the next run, and never carried
/// into a result).
fn probe_writable(dir: &Path) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        match fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_TMPFILE)
            .open(dir)
        {
            Ok(_) => return Ok(()),
            // No O_TMPFILE here (an old kernel, or a file system without
            // it): the named probe says.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EOPNOTSUPP) | Some(libc::EISDIR) | Some(libc::EINVAL)
                ) => {}
            Err(e) => return Err(e),
        }
    }
    let probe = dir.join(format!("{PROBE}{}", std::process::id()));
    File::create(&probe)?;
    let _ = fs::remove_file(&probe);
    Ok(())
}

/// Removes named probes that killed runs left in `dir`.
fn remove_probes(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(PROBE) {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

/// Removes staging folders and swapped-out results of earlier runs into
/// `parent/name` (their process died before it could).
fn remove_leftovers(parent: &Path, name: &str) {
    let stage = format!(".{name}.revshare-staging-");
    if let Ok(entries) = fs::read_dir(parent) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&stage) {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
}

/// Swaps two folders atomically where the platform can.
fn exchange(a: &Path, b: &Path) -> Result<(), OutputError> {
    #[cfg(target_os = "linux")]
    {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let ca = CString::new(a.as_os_str().as_bytes()).map_err(|_| bad(a))?;
        let cb = CString::new(b.as_os_str().as_bytes()).map_err(|_| bad(b))?;
        // SAFETY: two valid NUL-terminated paths; renameat2 only reads them.
        let r = unsafe {
            libc::syscall(
                libc::SYS_renameat2,
                libc::AT_FDCWD,
                ca.as_ptr(),
                libc::AT_FDCWD,
                cb.as_ptr(),
                libc::RENAME_EXCHANGE,
            )
        };
        if r == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        // Filesystems without RENAME_EXCHANGE fall back to two renames.
        if !matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS)) {
            return Err(OutputError::Io {
                path: b.to_owned(),
                source: e,
            });
        }
    }
    // Two renames: the old result is moved aside, then the new one in; a
    // crash in between leaves the old result under a name that starts with
    // the staging name of this process, which the next run removes.
    let mut aside = a.as_os_str().to_owned();
    aside.push(".old");
    let aside = PathBuf::from(aside);
    fs::rename(b, &aside).map_err(io(b))?;
    if let Err(e) = fs::rename(a, b) {
        let _ = fs::rename(&aside, b);
        return Err(OutputError::Io {
            path: b.to_owned(),
            source: e,
        });
    }
    fs::rename(&aside, a).map_err(io(a))
}

#[cfg(target_os = "linux")]
fn bad(p: &Path) -> OutputError {
    OutputError::BadName(p.display().to_string())
}

/// Takes the advisory lock `path` for the output folder `dir`; `None` where
/// the platform has no `flock`.
fn lock(path: &Path, dir: &Path) -> Result<Option<File>, OutputError> {
    #[cfg(unix)]
    {
        use std::io::{Read as _, Seek as _};
        use std::os::unix::io::AsRawFd;
        let mut f = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| OutputError::Unusable {
                dir: dir.to_owned(),
                why: format!(
                    "cannot create output directory {}: cannot create its lock file {}: {e}",
                    dir.display(),
                    path.display()
                ),
            })?;
        // SAFETY: a valid open descriptor.
        let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if r != 0 {
            let mut holder = String::new();
            let _ = f.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(OutputError::Busy {
                dir: dir.to_owned(),
                holder: if holder.is_empty() {
                    "unknown process".into()
                } else {
                    holder.to_string()
                },
            });
        }
        let _ = f.set_len(0);
        let _ = f.rewind();
        let _ = write!(f, "pid {}", std::process::id());
        let _ = f.flush();
        Ok(Some(f))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, dir);
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(p: &Path) -> String {
        fs::read_to_string(p).unwrap()
    }

    #[test]
    fn a_rerun_leaves_only_its_own_files_and_keeps_foreign_ones() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("out");
        let mut o = OutputDir::open(&d, false, true).unwrap();
        o.write("summary.json", b"1").unwrap();
        o.write("charts/a.png", b"a").unwrap();
        o.commit().unwrap();
        fs::write(d.join("notes.txt"), "mine").unwrap();
        let mut o = OutputDir::open(&d, false, true).unwrap();
        o.write("summary.json", b"2").unwrap();
        o.commit().unwrap();
        assert_eq!(read(&d.join("summary.json")), "2");
        assert!(!d.join("charts/a.png").exists());
        assert_eq!(read(&d.join("notes.txt")), "mine");
        let leftovers: Vec<_> = fs::read_dir(t.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("staging"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn a_foreign_folder_needs_force_and_keeps_its_files() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("proj");
        fs::create_dir_all(d.join("charts")).unwrap();
        fs::write(d.join("charts/architecture.png"), "x").unwrap();
        let e = OutputDir::open(&d, false, true).unwrap_err();
        assert!(e.to_string().contains("--force"), "{e}");
        let mut o = OutputDir::open(&d, true, true).unwrap();
        o.write("charts/fan.png", b"f").unwrap();
        o.commit().unwrap();
        assert_eq!(read(&d.join("charts/architecture.png")), "x");
        assert_eq!(read(&d.join("charts/fan.png")), "f");
        // The next run needs no --force: the foreign file is known to be kept.
        let mut o = OutputDir::open(&d, true, true).unwrap();
        o.write("summary.json", b"s").unwrap();
        o.commit().unwrap();
        assert!(!d.join("charts/fan.png").exists());
        assert_eq!(read(&d.join("charts/architecture.png")), "x");
    }

    #[test]
    fn an_uncommitted_result_changes_nothing() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("out");
        let mut o = OutputDir::open(&d, false, true).unwrap();
        o.write("summary.json", b"1").unwrap();
        o.commit().unwrap();
        let mut o = OutputDir::open(&d, false, true).unwrap();
        o.write("summary.json", b"2").unwrap();
        drop(o);
        assert_eq!(read(&d.join("summary.json")), "1");
        assert_eq!(
            fs::read_dir(t.path()).unwrap().count(),
            2,
            "out and its lock"
        );
    }

    #[test]
    fn a_second_run_into_a_locked_folder_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("out");
        let _first = OutputDir::open(&d, false, true).unwrap();
        let e = OutputDir::open(&d, false, true).unwrap_err();
        assert!(
            matches!(e, OutputError::Busy { .. }),
            "{e}: expected the lock to be held"
        );
        assert!(e
            .to_string()
            .contains(&format!("pid {}", std::process::id())));
    }

    #[test]
    fn a_probe_left_by_a_killed_run_is_removed_not_carried_over() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("out");
        let mut o = OutputDir::open(&d, false, true).unwrap();
        o.write("summary.json", b"1").unwrap();
        o.commit().unwrap();
        let probe = d.join(format!("{PROBE}4242"));
        fs::write(&probe, "").unwrap();
        let mut o = OutputDir::open(&d, false, true).unwrap();
        assert!(!probe.exists(), "removed when the folder is opened");
        fs::write(&probe, "").unwrap();
        o.write("summary.json", b"2").unwrap();
        o.commit().unwrap();
        assert!(!probe.exists(), "carried into the new result");
        assert_eq!(
            fs::read_dir(&d).unwrap().count(),
            2,
            "summary.json and the manifest"
        );
    }

    #[test]
    fn names_must_be_relative() {
        let t = tempfile::tempdir().unwrap();
        let mut o = OutputDir::open(&t.path().join("out"), false, true).unwrap();
        for bad in ["", "../x", "/etc/x", MANIFEST] {
            assert!(o.write(bad, b"").is_err(), "{bad}");
        }
    }
}
