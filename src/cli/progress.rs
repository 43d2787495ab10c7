//! The CLI's progress observer: an indicatif bar on stderr, shown only on a
//! terminal and only once a run has lasted a second. The engine never
//! prints; it calls [`Progress::update`] through its `Control`.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar that appears only on a terminal and only once a run has
/// lasted a second.
pub struct Progress {
    total: u64,
    started: Instant,
    bar: Mutex<Option<ProgressBar>>,
    enabled: bool,
}

impl Progress {
    /// A bar for `total` units (paths).
    pub fn new(total: u64) -> Progress {
        Progress {
            total,
            started: Instant::now(),
            bar: Mutex::new(None),
            enabled: std::io::stderr().is_terminal(),
        }
    }

    /// Reports `done` units so far (callable from any thread).
    pub fn update(&self, done: u64) {
        if !self.enabled || self.started.elapsed() < Duration::from_secs(1) {
            return;
        }
        let Ok(mut guard) = self.bar.try_lock() else {
            return;
        };
        let bar = guard.get_or_insert_with(|| {
            let b = ProgressBar::with_draw_target(Some(self.total), ProgressDrawTarget::stderr());
            b.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} paths (eta {eta})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b
        });
        if done > bar.position() {
            bar.set_position(done);
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Ok(mut g) = self.bar.lock() {
            if let Some(b) = g.take() {
                b.finish_and_clear();
            }
        }
    }
}
