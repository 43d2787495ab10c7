//! Per-path rows: each path's own figures (flow totals and present values,
//! cap-hit times, party nets, changes against the baseline) as CSV text,
//! handed batch by batch to a [`PathSink`] while the run goes on.
//!
//! The engine formats a batch's rows into its worker's scratch buffer and
//! hands them over with the batch index; batches reach the sink in any
//! order (a writer that wants the rows in path order puts them back in
//! order, see `export::per_path`). Nothing is kept after a batch is handed
//! over, so memory does not grow with the path count.
//!
//! The columns, in order: `path` (the path's global index), then for each
//! regime (in name order): each flow's `total` and `npv` ($B) and, for a
//! capped flow, `cap_hit.time` (decimal calendar year; empty where the cap
//! is not reached); each party's `net` and `net_npv` ($B); and for each
//! party compared with the baseline its `delta_net` and `delta_net_npv`
//! ($B). Each column is named by its summary.json key (for example
//! `regimes.amended.flows.openai_to_microsoft.total`), so the mean of a
//! column is the `mean` of that key. Numbers are written in Rust's
//! shortest round-trip form: reading them back gives the exact values the
//! engine accumulated.

use std::io::Write as _;

use super::{Layout, COMPARISON_METRICS, PARTY_METRICS};
use crate::contract::{Book, FlowChunk};

/// Receives the per-path rows of each batch as it completes.
pub trait PathSink: Sync {
    /// Called from worker threads, once per batch, with the batch index
    /// (its paths are `batch * BATCH_PATHS ..`) and the CSV rows of its
    /// paths in path order (each ends with a newline; no header). Batches
    /// arrive in any order; a sink may block to bound what it buffers.
    fn batch(&self, batch: u64, rows: &[u8]);

    /// Called instead of [`PathSink::batch`] when the worker running
    /// `batch` panicked: its rows will never come (a sink that waits for
    /// them must stop waiting).
    fn abandon(&self, batch: u64) {
        let _ = batch;
    }

    /// Why the sink cannot take more rows (a write failed), if it cannot:
    /// the engine then claims no further batch and the run fails with
    /// [`super::RunError::PerPath`].
    fn error(&self) -> Option<String> {
        None
    }
}

/// Hands a batch's rows to its sink, or, dropped without delivering (the
/// batch panicked), tells the sink the batch is abandoned.
pub(crate) struct Abandon<'a> {
    pub(crate) sink: &'a dyn PathSink,
    pub(crate) batch: u64,
}

impl Abandon<'_> {
    /// Delivers the batch's rows.
    pub(crate) fn deliver(self, rows: &[u8]) {
        self.sink.batch(self.batch, rows);
        std::mem::forget(self);
    }
}

impl Drop for Abandon<'_> {
    fn drop(&mut self) {
        self.sink.abandon(self.batch);
    }
}

/// Where a column's value comes from.
#[derive(Debug, Clone, Copy)]
enum Source {
    /// A row of the chunk buffer (a metric's).
    Row(usize),
    /// The cap-hit time of a flow.
    HitTime(usize),
}

/// The columns of the per-path rows of one engine.
#[derive(Debug, Clone)]
pub(crate) struct PathColumns {
    names: Vec<String>,
    sources: Vec<Source>,
}

impl PathColumns {
    /// The columns of `book`'s flows, parties and comparisons;
    /// `row_of(metric)` gives the chunk buffer's row of a metric
    /// (`buf[row * stride + p]`).
    pub(crate) fn new(l: &Layout, book: &Book, row_of: impl Fn(usize) -> usize) -> PathColumns {
        let mut names = Vec::new();
        let mut sources = Vec::new();
        for (r, regime) in book.regimes.iter().enumerate() {
            for (f, flow) in book.flows.iter().enumerate() {
                if flow.regime != r {
                    continue;
                }
                let key = format!("regimes.{regime}.flows.{}", flow.name);
                names.push(format!("{key}.total"));
                sources.push(Source::Row(row_of(l.flow_total(f))));
                names.push(format!("{key}.npv"));
                sources.push(Source::Row(row_of(l.flow_npv(f))));
                if flow.terms.capped() {
                    names.push(format!("{key}.cap_hit.time"));
                    sources.push(Source::HitTime(f));
                }
            }
            for &q in &book.regime_parties[r] {
                // The nets: every party metric but paid and received.
                for (m, metric) in PARTY_METRICS.iter().enumerate().skip(2) {
                    names.push(format!(
                        "regimes.{regime}.parties.{}.{metric}",
                        book.parties[q]
                    ));
                    sources.push(Source::Row(row_of(l.party(r, q, m))));
                }
            }
            for &q in &book.compared[r] {
                for (m, metric) in COMPARISON_METRICS.iter().enumerate() {
                    names.push(format!("comparisons.{regime}.{}.{metric}", book.parties[q]));
                    sources.push(Source::Row(row_of(l.comparison(r, q, m))));
                }
            }
        }
        PathColumns { names, sources }
    }

    /// The header line (with its newline).
    pub(crate) fn header(&self) -> String {
        let mut h = String::from("path");
        for n in &self.names {
            h.push(',');
            h.push_str(n);
        }
        h.push('\n');
        h
    }

    /// Appends the rows of a chunk's `paths` paths, the first being global
    /// path `first`, to `out`, from the chunk buffer `buf` (row stride
    /// `stride`) and the chunk's settled `flows`.
    pub(crate) fn write_chunk(
        &self,
        first: u64,
        paths: usize,
        (buf, stride): (&[f64], usize),
        flows: &[FlowChunk],
        book: &Book,
        out: &mut Vec<u8>,
    ) {
        for p in 0..paths {
            // Writing to a Vec cannot fail.
            let _ = write!(out, "{}", first + p as u64);
            for s in &self.sources {
                out.push(b',');
                let x = match *s {
                    Source::Row(r) => Some(buf[r * stride + p]),
                    Source::HitTime(f) => flows[f].hit_time(&book.flows[f].terms, p),
                };
                if let Some(x) = x {
                    let _ = write!(out, "{x}");
                }
            }
            out.push(b'\n');
        }
    }
}
