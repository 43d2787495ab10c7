//! The per-path CSV file (`run --per-path FILE.csv`): each path's own
//! figures, streamed to disk in path order while the run goes on, with
//! bounded memory, and put in place atomically when the run succeeds.
//!
//! The engine hands over each batch's rows as the batch completes (see
//! [`crate::engine::per_path`] for the columns); batches finish out of
//! order on several threads, so [`PerPathFile`] keeps the ones that arrive
//! early until those before them are written. A worker whose batch is more
//! than [`WINDOW`] batches ahead of the next one to write waits, so at most
//! that many batches (about 300 KB each for base.json) are ever held.
//!
//! The rows go to a hidden temporary file beside the target
//! (`.<name>.revshare-tmp-<pid>`); [`PerPathFile::commit`] syncs it and
//! renames it over the target. A failed or interrupted run removes the
//! temporary file and leaves any earlier file of that name as it was.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};

use crate::engine::per_path::PathSink;

/// The most batches held in memory ahead of the next one to write.
pub const WINDOW: u64 = 64;

/// Why the per-path file could not be written.
#[derive(Debug)]
pub struct PerPathError {
    /// The file concerned (the target, or its temporary file).
    pub path: PathBuf,
    /// What failed.
    pub error: std::io::Error,
}

impl std::fmt::Display for PerPathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.error)
    }
}

impl std::error::Error for PerPathError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

struct State {
    file: Option<BufWriter<File>>,
    /// The next batch to write.
    next: u64,
    /// Batches that arrived before `next`'s turn.
    early: BTreeMap<u64, Vec<u8>>,
    /// The first write error (later batches are dropped).
    error: Option<std::io::Error>,
    /// Rows written.
    bytes: u64,
}

/// A per-path CSV file being written (a [`PathSink`]).
pub struct PerPathFile {
    target: PathBuf,
    temp: PathBuf,
    state: Mutex<State>,
    turn: Condvar,
    /// Set with `state.error`, so that [`PathSink::error`], asked at every
    /// batch claim, need not wait for the lock a writer holds.
    failed: AtomicBool,
    committed: bool,
}

impl PerPathFile {
    /// Creates the temporary file beside `target` and writes `header`;
    /// rows are expected from batch `first_batch` on, consecutively.
    pub fn create(target: &Path, header: &str, first_batch: u64) -> Result<Self, PerPathError> {
        let name = target
            .file_name()
            .ok_or_else(|| PerPathError {
                path: target.to_owned(),
                error: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"),
            })?
            .to_string_lossy()
            .into_owned();
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        if target.is_dir() {
            return Err(PerPathError {
                path: target.to_owned(),
                error: std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a folder"),
            });
        }
        remove_stale_temps(&dir, &name);
        let temp = dir.join(format!(".{name}.revshare-tmp-{}", std::process::id()));
        let err = |error| PerPathError {
            path: temp.clone(),
            error,
        };
        let mut file = BufWriter::with_capacity(1 << 20, File::create(&temp).map_err(err)?);
        if let Err(e) = file.write_all(header.as_bytes()) {
            let _ = std::fs::remove_file(&temp);
            return Err(err(e));
        }
        Ok(PerPathFile {
            target: target.to_owned(),
            temp: temp.clone(),
            state: Mutex::new(State {
                file: Some(file),
                next: first_batch,
                early: BTreeMap::new(),
                error: None,
                bytes: header.len() as u64,
            }),
            turn: Condvar::new(),
            failed: AtomicBool::new(false),
            committed: false,
        })
    }

    /// The file's final path.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Writes what is left, syncs and renames the file over the target;
    /// returns the bytes written. Fails if a batch is missing (the run did
    /// not complete) or a write failed.
    pub fn commit(mut self) -> Result<u64, PerPathError> {
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        let temp = self.temp.clone();
        let err = |error| PerPathError {
            path: temp.clone(),
            error,
        };
        if let Some(e) = state.error.take() {
            return Err(err(e));
        }
        if let Some((b, _)) = state.early.first_key_value() {
            let e = format!(
                "batch {} never arrived (rows from batch {b} on are held)",
                state.next
            );
            return Err(err(std::io::Error::other(e)));
        }
        let file = state.file.take().expect("open until committed");
        let file = file.into_inner().map_err(|e| err(e.into_error()))?;
        file.sync_all().map_err(err)?;
        drop(file);
        std::fs::rename(&self.temp, &self.target).map_err(|error| PerPathError {
            path: self.target.clone(),
            error,
        })?;
        if let Some(dir) = self.target.parent().filter(|d| !d.as_os_str().is_empty()) {
            // The rename is durable once the folder is synced.
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        self.committed = true;
        Ok(state.bytes)
    }
}

impl PathSink for PerPathFile {
    fn batch(&self, batch: u64, rows: &[u8]) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        // Wait while too far ahead: the batches before this one are being
        // run by other workers, which never wait for a later batch, so the
        // wait always ends (or the file has failed: then nothing is kept).
        while batch >= s.next + WINDOW && s.error.is_none() {
            s = self.turn.wait(s).unwrap_or_else(PoisonError::into_inner);
        }
        if s.error.is_some() {
            return;
        }
        if batch != s.next {
            s.early.insert(batch, rows.to_vec());
            return;
        }
        let write = |s: &mut State, rows: &[u8]| {
            if s.error.is_none() {
                let file = s.file.as_mut().expect("open until committed");
                match file.write_all(rows) {
                    Ok(()) => s.bytes += rows.len() as u64,
                    Err(e) => {
                        s.error = Some(e);
                        self.failed.store(true, Ordering::Release);
                    }
                }
            }
            s.next += 1;
        };
        write(&mut s, rows);
        // Nothing more is kept once a write has failed.
        if s.error.is_some() {
            s.early.clear();
        }
        while let Some(rows) = {
            let next = s.next;
            s.early.remove(&next)
        } {
            write(&mut s, &rows);
        }
        drop(s);
        self.turn.notify_all();
    }

    fn abandon(&self, batch: u64) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if s.error.is_none() {
            s.error = Some(std::io::Error::other(format!(
                "batch {batch} failed before its rows were written"
            )));
            self.failed.store(true, Ordering::Release);
        }
        s.early.clear();
        drop(s);
        self.turn.notify_all();
    }

    fn error(&self) -> Option<String> {
        if !self.failed.load(Ordering::Acquire) {
            return None;
        }
        let s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.error
            .as_ref()
            .map(|e| format!("{}: {e}", self.temp.display()))
    }
}

/// Removes temporary files of earlier runs for `name` in `dir` whose
/// process is gone (a run killed with SIGKILL cannot remove its own).
fn remove_stale_temps(dir: &Path, name: &str) {
    // Without /proc there is no telling a live process from a dead one.
    if !Path::new("/proc/self").exists() {
        return;
    }
    let prefix = format!(".{name}.revshare-tmp-");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let file = e.file_name();
        let Some(pid) = file
            .to_str()
            .and_then(|f| f.strip_prefix(&prefix))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

impl Drop for PerPathFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_arriving_out_of_order_are_written_in_order() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("paths.csv");
        let f = PerPathFile::create(&target, "path,x\n", 3).unwrap();
        for b in [5u64, 3, 4, 7, 6] {
            f.batch(b, format!("{b},{b}\n").as_bytes());
        }
        let bytes = f.commit().unwrap();
        let text = std::fs::read_to_string(&target).unwrap();
        assert_eq!(text, "path,x\n3,3\n4,4\n5,5\n6,6\n7,7\n");
        assert_eq!(bytes, text.len() as u64);
        // Only the target is left.
        let names: Vec<_> = std::fs::read_dir(d.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn a_missing_batch_fails_the_commit_and_leaves_the_old_file() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("paths.csv");
        std::fs::write(&target, "old").unwrap();
        let f = PerPathFile::create(&target, "path\n", 0).unwrap();
        f.batch(1, b"1\n");
        let e = f.commit().unwrap_err();
        assert!(e.to_string().contains("batch 0 never arrived"), "{e}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "old");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_dropped_file_leaves_nothing() {
        let d = tempfile::tempdir().unwrap();
        let f = PerPathFile::create(&d.path().join("p.csv"), "path\n", 0).unwrap();
        f.batch(0, b"0\n");
        drop(f);
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
    }
}
