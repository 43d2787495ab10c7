//! Stage 6b of the pipeline, for runs split across machines: the partial
//! result of one shard, as written by `revshare run --shard I/N` and read
//! by `revshare merge`.
//!
//! A shard runs a contiguous range of the run's fixed batches
//! ([`crate::engine::shard_batches`]) and keeps its merged [`Tally`]. Because
//! every part of a tally merges exactly (counts, min/max, exact sums of
//! per-batch partials, sketch counts), merging the tallies of all shards
//! gives the tally of the unsharded run, bit for bit, whatever the order.
//!
//! # File format (version [`FORMAT_VERSION`])
//!
//! ```text
//! revshare-partial v3\n              magic and format version (text)
//! {"format":3,...}\n                 the Header, one line of JSON
//! <u64 little-endian>                length of the body in bytes
//! <body>                             MessagePack of {scenario, tally}
//! <32 bytes>                         SHA-256 of every byte before it
//! ```
//!
//! The body's `scenario` is the validated scenario's JSON text (as
//! `summary.json` echoes it); reading a file validates it again, exactly as
//! a scenario file is validated, so a partial never hands the engine a
//! scenario that validation would refuse.
//!
//! Reading ([`read`]) takes the magic line, the header and the body's
//! length first and reads no more than the length announced, checked
//! against the file's size and [`MAX_FILE_BYTES`] (so `merge /dev/zero` or
//! a huge file stops at once). A decoded tally's structure is checked
//! before anything uses it (`check`): the
//! checksum proves a file is as written, not that it was written by
//! revshare.
//!
//! The first two lines are text, so `head -2 partial.bin` shows what a file
//! holds. The body is binary because JSON cannot carry it exactly: the
//! min/max of an empty accumulator are ±infinity (JSON has no such
//! numbers), and the exact sums must come back bit for bit. The checksum
//! catches any corruption, and the length catches truncation.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufRead as _, Read as _};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::engine::{batch_count, shard_batches, Engine, Tally, BATCH_PATHS};
use crate::scenario::Scenario;

/// The version of the partial-file layout this build writes and reads
/// (2: sketch counts as base-2^16 digit levels, each over its own window;
/// 3: the scenario as validated JSON text, validated again on reading, and
/// the tally's seed).
pub const FORMAT_VERSION: u32 = 3;
/// The name of the partial file inside a shard's output directory.
pub const FILE_NAME: &str = "partial.bin";

const MAGIC: &str = "revshare-partial v";
/// The longest header line read (it holds a few numbers and names).
const MAX_HEADER_BYTES: usize = 64 * 1024;
const CHECKSUM_BYTES: usize = 32;
/// The largest partial file read (4 GiB; a shard of the base scenario is
/// about 1 MB, and the per-step statistics are bounded in number).
pub const MAX_FILE_BYTES: u64 = 4 << 30;

/// What a partial file says about itself: everything needed to check that
/// a set of partials belongs together, readable without the body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`FORMAT_VERSION`].
    pub format: u32,
    /// The revshare version that wrote the file.
    pub revshare_version: String,
    /// The scenario's name.
    pub scenario_name: String,
    /// [`scenario_hash`] of the validated scenario (with its path count and
    /// seed), hex.
    pub scenario_hash: String,
    /// Seed of the whole run.
    pub seed: u64,
    /// Path count of the whole run (all shards).
    pub paths: u64,
    /// This shard's index, 0-based.
    pub shard_index: u64,
    /// Number of shards of the run.
    pub shard_count: u64,
    /// First batch run by this shard.
    pub first_batch: u64,
    /// One past the last batch run by this shard.
    pub end_batch: u64,
    /// Paths run by this shard.
    pub shard_paths: u64,
    /// Worker threads the shard used.
    pub threads: usize,
    /// Wall time of the shard's sampling, seconds.
    pub elapsed_seconds: f64,
}

/// The partial result of one shard.
#[derive(Debug, Clone, PartialEq)]
pub struct Partial {
    /// Identification and checks.
    pub header: Header,
    /// The validated scenario (path count and seed of the whole run).
    pub scenario: Scenario,
    /// Everything the shard accumulated.
    pub tally: Tally,
}

#[derive(Serialize)]
struct BodyRef<'a> {
    /// The scenario's JSON text.
    scenario: &'a str,
    tally: &'a Tally,
}

#[derive(Deserialize)]
struct Body {
    /// The scenario's JSON text, validated on reading.
    scenario: String,
    tally: Tally,
}

/// The name validation messages give an embedded scenario.
const EMBEDDED: &str = "the partial's scenario";

/// Why a partial file cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatError {
    /// The file does not start with the partial-file magic.
    NotPartial,
    /// A format version this build does not read.
    Version(String),
    /// The file ends before its announced length.
    Truncated {
        /// Bytes in the file.
        len: u64,
        /// Bytes the file should have, if known.
        expected: Option<u64>,
    },
    /// The bytes do not match the checksum, or the content is inconsistent.
    Corrupted(String),
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::NotPartial => {
                write!(f, "not a revshare partial file (no `{MAGIC}N` first line)")
            }
            FormatError::Version(v) => {
                write!(
                    f,
                    "partial-file format version {v} is not supported (this revshare reads version {FORMAT_VERSION})"
                )?;
                if v.parse::<u32>().is_ok_and(|n| n < FORMAT_VERSION) {
                    write!(
                        f,
                        "; it was written by an older revshare: run its shard again with this one"
                    )?;
                }
                Ok(())
            }
            FormatError::Truncated {
                len,
                expected: Some(e),
            } => write!(f, "truncated: {len} bytes, expected {e}"),
            FormatError::Truncated {
                len,
                expected: None,
            } => write!(
                f,
                "truncated: the file ends after {len} bytes, inside its header"
            ),
            FormatError::Corrupted(why) => write!(f, "corrupted: {why}"),
        }
    }
}

impl std::error::Error for FormatError {}

/// SHA-256 (hex) of the scenario's canonical JSON (`serde_json::to_vec`:
/// fields in declaration order, maps sorted), identifying a scenario
/// together with its path count and seed.
pub fn scenario_hash(scenario: &Scenario) -> String {
    let bytes = serde_json::to_vec(scenario).expect("a scenario always serialises");
    hex(&Sha256::digest(&bytes))
}

/// A multi-line message on one line (`a:\n  b` becomes `a: b`).
fn one_line(msg: &str) -> String {
    msg.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why a partial file could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReadError {
    /// The file could not be opened or read.
    Io(std::io::Error),
    /// Its bytes are not a valid partial.
    Format(FormatError),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "cannot read: {e}"),
            ReadError::Format(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ReadError {}

/// Reads and decodes the partial file `path` in bounded memory: the magic
/// line, the header line and the body's length first (each bounded), then
/// only as many bytes as announced, which must match the size of a
/// regular file and be at most [`MAX_FILE_BYTES`]; then
/// [`Partial::decode`]. Devices and pipes are read up to the announced
/// length and one byte more.
pub fn read(path: &Path) -> Result<Partial, ReadError> {
    let file = std::fs::File::open(path).map_err(ReadError::Io)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if meta.is_dir() {
        return Err(ReadError::Io(std::io::Error::other("is a directory")));
    }
    let size = meta.is_file().then_some(meta.len());
    let mut r = std::io::BufReader::new(file);
    let mut buf = Vec::new();
    let io = ReadError::Io;
    // Line 1, then line 2, each up to its bound.
    (&mut r).take(64).read_until(b'\n', &mut buf).map_err(io)?;
    if buf.last() == Some(&b'\n') {
        (&mut r)
            .take(MAX_HEADER_BYTES as u64)
            .read_until(b'\n', &mut buf)
            .map_err(io)?;
        if buf.last() == Some(&b'\n') {
            (&mut r).take(8).read_to_end(&mut buf).map_err(io)?;
        }
    }
    // The prefix alone says whether this is a partial and how long it is.
    let expected = layout(&buf).map_err(ReadError::Format)?.expected;
    let corrupted = |why: String| ReadError::Format(FormatError::Corrupted(why));
    if let Some(len) = size {
        if len < expected {
            return Err(ReadError::Format(FormatError::Truncated {
                len,
                expected: Some(expected),
            }));
        }
        if len > expected {
            return Err(corrupted(format!(
                "{} bytes after the end announced by its header",
                len - expected
            )));
        }
    }
    if expected > MAX_FILE_BYTES {
        return Err(corrupted(format!(
            "its header announces {expected} bytes, more than the {MAX_FILE_BYTES} a partial may have"
        )));
    }
    if size.is_some() {
        let want = usize::try_from(expected).map_err(|_| corrupted("too large".into()))?;
        buf.try_reserve_exact(want.saturating_sub(buf.len()))
            .map_err(|e| ReadError::Io(std::io::Error::other(e.to_string())))?;
    }
    // One byte more than announced: decode reports bytes after the end.
    r.take(expected + 1 - buf.len() as u64)
        .read_to_end(&mut buf)
        .map_err(io)?;
    Partial::decode(&buf).map_err(ReadError::Format)
}

/// Where the parts of a partial file lie, as its first bytes say.
struct Frame {
    /// The header line (JSON), without its newline.
    header: std::ops::Range<usize>,
    /// Where the body starts (after its 8-byte length).
    body_at: usize,
    /// The file's whole length as its header announces it.
    expected: u64,
}

/// From the first bytes of a file: checks the magic line, the version and
/// the header line, and says where its parts lie ([`Frame`]).
fn layout(bytes: &[u8]) -> Result<Frame, FormatError> {
    let len = bytes.len() as u64;
    let truncated = |expected| FormatError::Truncated { len, expected };
    let first_nl = bytes.iter().take(64).position(|&b| b == b'\n');
    let line1 = &bytes[..first_nl.unwrap_or(bytes.len().min(64))];
    if !line1.starts_with(MAGIC.as_bytes()) {
        if MAGIC.as_bytes().starts_with(line1) {
            return Err(truncated(None));
        }
        return Err(FormatError::NotPartial);
    }
    let Some(first_nl) = first_nl else {
        return Err(if bytes.len() < 64 {
            truncated(None)
        } else {
            FormatError::NotPartial
        });
    };
    let version = String::from_utf8_lossy(&line1[MAGIC.len()..]).into_owned();
    if version != FORMAT_VERSION.to_string() {
        return Err(FormatError::Version(version));
    }
    let rest = &bytes[first_nl + 1..];
    let Some(header_len) = rest.iter().take(MAX_HEADER_BYTES).position(|&b| b == b'\n') else {
        return Err(if rest.len() < MAX_HEADER_BYTES {
            truncated(None)
        } else {
            FormatError::Corrupted("no end to the header line".into())
        });
    };
    let body_at = first_nl + 1 + header_len + 1 + 8;
    if bytes.len() < body_at {
        return Err(truncated(None));
    }
    let body_len = u64::from_le_bytes(bytes[body_at - 8..body_at].try_into().expect("8 bytes"));
    let expected = (body_at as u64)
        .checked_add(body_len)
        .and_then(|x| x.checked_add(CHECKSUM_BYTES as u64))
        .ok_or_else(|| FormatError::Corrupted(format!("impossible body length {body_len}")))?;
    Ok(Frame {
        header: first_nl + 1..first_nl + 1 + header_len,
        body_at,
        expected,
    })
}

/// Paths in batches `[first, end)` of a run of `paths` paths.
pub fn paths_in(paths: u64, first: u64, end: u64) -> u64 {
    if first >= end {
        return 0;
    }
    (end * BATCH_PATHS).min(paths) - first * BATCH_PATHS
}

impl Partial {
    /// The partial of shard `(index, count)` of a run of `scenario` (whose
    /// `simulation` holds the run's path count and seed).
    pub fn new(
        scenario: &Scenario,
        tally: Tally,
        (index, count): (u64, u64),
        threads: usize,
        elapsed_seconds: f64,
    ) -> Partial {
        let paths = scenario.simulation.paths;
        let (first, end) = shard_batches(batch_count(paths), index, count);
        Partial {
            header: Header {
                format: FORMAT_VERSION,
                revshare_version: env!("CARGO_PKG_VERSION").to_string(),
                scenario_name: scenario.name.clone(),
                scenario_hash: scenario_hash(scenario),
                seed: scenario.simulation.seed,
                paths,
                shard_index: index,
                shard_count: count,
                first_batch: first,
                end_batch: end,
                shard_paths: paths_in(paths, first, end),
                threads,
                elapsed_seconds,
            },
            scenario: scenario.clone(),
            tally,
        }
    }

    /// The file's bytes (see the module documentation).
    pub fn encode(&self) -> Vec<u8> {
        let header = serde_json::to_string(&self.header).expect("a header always serialises");
        let scenario = serde_json::to_string(&self.scenario).expect("a scenario always serialises");
        let body = rmp_serde::to_vec_named(&BodyRef {
            scenario: &scenario,
            tally: &self.tally,
        })
        .expect("a tally always serialises");
        let mut out = Vec::with_capacity(header.len() + body.len() + 96);
        out.extend_from_slice(format!("{MAGIC}{FORMAT_VERSION}\n").as_bytes());
        out.extend_from_slice(header.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(&body);
        let sum = Sha256::digest(&out);
        out.extend_from_slice(&sum);
        out
    }

    /// Reads a partial file's bytes, checking the magic, version, length,
    /// checksum and the consistency of header, scenario and tally.
    pub fn decode(bytes: &[u8]) -> Result<Partial, FormatError> {
        let len = bytes.len() as u64;
        let truncated = |expected| FormatError::Truncated { len, expected };
        let corrupted = |why: String| FormatError::Corrupted(why);
        // Line 1: magic and version; line 2: the header; then the body's
        // length.
        let Frame {
            header,
            body_at,
            expected,
        } = layout(bytes)?;
        let body_len = expected - body_at as u64 - CHECKSUM_BYTES as u64;
        if len < expected {
            return Err(truncated(Some(expected)));
        }
        if len > expected {
            return Err(corrupted(format!(
                "{} bytes after the end announced by its header",
                len - expected
            )));
        }
        let body_end = body_at + body_len as usize;
        if Sha256::digest(&bytes[..body_end]).as_slice() != &bytes[body_end..] {
            return Err(corrupted("checksum mismatch".into()));
        }
        // The bytes are as written; now check that they make sense.
        let header: Header = serde_json::from_slice(&bytes[header])
            .map_err(|e| corrupted(format!("unreadable header: {e}")))?;
        let body: Body = rmp_serde::from_slice(&bytes[body_at..body_end])
            .map_err(|e| corrupted(format!("unreadable body: {e}")))?;
        // The scenario is validated like a file before anything trusts it.
        let scenario = crate::scenario::parse(&body.scenario, EMBEDDED.as_ref())
            .map_err(|e| corrupted(format!("invalid scenario: {}", one_line(&e.to_string()))))?
            .scenario;
        let partial = Partial {
            header,
            scenario,
            tally: body.tally,
        };
        partial.check().map_err(corrupted)?;
        Ok(partial)
    }

    /// Checks that header, scenario and tally agree with one another.
    fn check(&self) -> Result<(), String> {
        let h = &self.header;
        let sim = &self.scenario.simulation;
        if h.format != FORMAT_VERSION {
            return Err(format!("header says format {}", h.format));
        }
        if h.shard_count == 0 || h.shard_index >= h.shard_count {
            return Err(format!("shard {}/{}", h.shard_index, h.shard_count));
        }
        let batches = batch_count(h.paths);
        if h.shard_count > batches {
            return Err(format!(
                "{} shards for {} paths ({batches} batches)",
                h.shard_count, h.paths
            ));
        }
        if scenario_hash(&self.scenario) != h.scenario_hash {
            return Err("the scenario does not match its hash".into());
        }
        if sim.paths != h.paths || sim.seed != h.seed || self.scenario.name != h.scenario_name {
            return Err("the header does not match the scenario".into());
        }
        if self.tally.seed != h.seed {
            return Err(format!(
                "a tally of seed {} in a run of seed {}",
                self.tally.seed, h.seed
            ));
        }
        let (first, end) = shard_batches(batch_count(h.paths), h.shard_index, h.shard_count);
        if (first, end) != (h.first_batch, h.end_batch) {
            return Err(format!(
                "batches {}..{} for shard {}/{} of {} paths (expected {first}..{end})",
                h.first_batch, h.end_batch, h.shard_index, h.shard_count, h.paths
            ));
        }
        let n = paths_in(h.paths, first, end);
        if h.shard_paths != n || self.tally.paths != n {
            return Err(format!(
                "{} paths recorded for a shard of {n} paths",
                self.tally.paths
            ));
        }
        check_tally(&self.tally)
    }
}

/// Merges the partials of one sharded run: checks that they belong
/// together (same revshare version, scenario, seed, path count and shard
/// count), that each tally fits its scenario and that every shard is given
/// exactly once. Every problem is collected, so one merge attempt reports
/// them all.
#[derive(Debug, Default)]
pub struct Merger {
    merged: Option<MergedRun>,
    /// The file the others are checked against.
    reference: Option<String>,
    by_shard: BTreeMap<u64, Vec<String>>,
    errors: Vec<String>,
}

/// The merged result of a sharded run.
#[derive(Debug)]
pub struct MergedRun {
    /// The header of the first partial (run-wide fields are common to all).
    pub header: Header,
    /// The compiled scenario.
    pub engine: Engine,
    /// The merged tally of every path.
    pub tally: Tally,
    /// The largest thread count of any shard.
    pub threads: usize,
    /// The sum of the shards' sampling times, seconds.
    pub elapsed_seconds: f64,
}

impl Merger {
    /// An empty merge.
    pub fn new() -> Merger {
        Merger::default()
    }

    /// Adds the partial read from `name` (a file name, for messages).
    pub fn add(&mut self, name: &str, partial: Partial) {
        let h = &partial.header;
        match &mut self.merged {
            None => {
                let ours = env!("CARGO_PKG_VERSION");
                if h.revshare_version != ours {
                    self.errors.push(format!(
                        "{name}: written by revshare {}, but this is revshare {ours}; \
                         run the shards and the merge with the same version",
                        h.revshare_version
                    ));
                    return;
                }
                let engine = Engine::new(&partial.scenario);
                let mut tally = engine.empty_tally(false);
                if !fits(&partial.tally, &tally) {
                    self.errors.push(format!(
                        "{name}: corrupted: the tally does not fit its scenario"
                    ));
                    return;
                }
                tally.merge(&partial.tally);
                self.by_shard.insert(h.shard_index, vec![name.to_string()]);
                self.reference = Some(name.to_string());
                self.merged = Some(MergedRun {
                    header: partial.header.clone(),
                    engine,
                    tally,
                    threads: h.threads,
                    elapsed_seconds: h.elapsed_seconds,
                });
            }
            Some(m) => {
                if let Some(why) = mismatch(&m.header, h) {
                    let reference = self.reference.as_deref().unwrap_or("the first partial");
                    self.errors
                        .push(format!("{name}: {}", why.replace("{ref}", reference)));
                    return;
                }
                if !fits(&partial.tally, &m.tally) {
                    self.errors.push(format!(
                        "{name}: corrupted: the tally does not fit its scenario"
                    ));
                    return;
                }
                m.tally.merge(&partial.tally);
                m.threads = m.threads.max(h.threads);
                m.elapsed_seconds += h.elapsed_seconds;
                self.by_shard
                    .entry(h.shard_index)
                    .or_default()
                    .push(name.to_string());
            }
        }
    }

    /// Records a partial that could not be read.
    pub fn fail(&mut self, name: &str, why: &dyn std::fmt::Display) {
        self.errors.push(format!("{name}: {why}"));
    }

    /// The merged run, or every problem found (none merged: nothing given).
    pub fn finish(mut self) -> Result<MergedRun, Vec<String>> {
        if let Some(m) = &self.merged {
            let n = m.header.shard_count;
            // The gaps between the shards given (not a list of every
            // missing index: a count may be large).
            let mut gaps = Vec::new();
            let mut next = 0;
            for &i in self.by_shard.keys().chain(std::iter::once(&n)) {
                if i > next {
                    gaps.push((next, i - 1));
                }
                next = i + 1;
            }
            if !gaps.is_empty() {
                let missing: u64 = gaps.iter().map(|(a, b)| b - a + 1).sum();
                self.errors.push(format!(
                    "missing {missing} of {n} shard{} (0-based): {}",
                    if n == 1 { "" } else { "s" },
                    ranges(&gaps)
                ));
            }
            for (i, files) in self.by_shard.iter().filter(|(_, f)| f.len() > 1) {
                self.errors.push(format!(
                    "shard {i}/{n} given {} times: {}",
                    files.len(),
                    files.join(", ")
                ));
            }
        }
        match self.merged {
            Some(m) if self.errors.is_empty() => Ok(m),
            _ if self.errors.is_empty() => Err(vec!["no partial given".into()]),
            _ => Err(self.errors),
        }
    }
}

/// Why `other` cannot be merged with `reference`, if it cannot (`{ref}`
/// stands for the reference's file name).
fn mismatch(reference: &Header, other: &Header) -> Option<String> {
    let (r, o) = (reference, other);
    if o.revshare_version != r.revshare_version {
        Some(format!(
            "written by revshare {}, but {{ref}} by revshare {}",
            o.revshare_version, r.revshare_version
        ))
    } else if o.paths != r.paths {
        Some(format!(
            "a run of {} paths, but {{ref}} of {} paths",
            o.paths, r.paths
        ))
    } else if o.seed != r.seed {
        Some(format!("seed {}, but {{ref}} has seed {}", o.seed, r.seed))
    } else if o.shard_count != r.shard_count {
        Some(format!(
            "split into {} shards, but {{ref}} into {}",
            o.shard_count, r.shard_count
        ))
    } else if o.scenario_hash != r.scenario_hash {
        Some(format!(
            "scenario `{}` (hash {}), but {{ref}} has scenario `{}` (hash {}); \
             every shard must run the same scenario file with the same --set overrides",
            o.scenario_name,
            &o.scenario_hash[..12.min(o.scenario_hash.len())],
            r.scenario_name,
            &r.scenario_hash[..12.min(r.scenario_hash.len())]
        ))
    } else {
        None
    }
}

/// Sorted inclusive ranges as text: `0, 2-5, 9` (the first 20, then a
/// count of the others).
fn ranges(gaps: &[(u64, u64)]) -> String {
    const SHOWN: usize = 20;
    let mut parts: Vec<String> = gaps
        .iter()
        .take(SHOWN)
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect();
    if gaps.len() > SHOWN {
        parts.push(format!("and {} more ranges", gaps.len() - SHOWN));
    }
    parts.join(", ")
}

/// Checks the structure of a decoded tally before anything merges or
/// summarises it: every accumulator ([`crate::statistics::StatAcc::check`],
/// no kept values: shards refuse `--exact`), cap hits at most the paths,
/// and hits by year at most the hits of their flow.
fn check_tally(t: &Tally) -> Result<(), String> {
    for (i, s) in t.stats.iter().enumerate() {
        s.check(t.paths)
            .map_err(|e| format!("accumulator {i}: {e}"))?;
        if s.keeps_values() {
            return Err(format!("accumulator {i} keeps every value (--exact)"));
        }
    }
    if t.hits.iter().any(|&h| h > t.paths) {
        return Err("more cap hits than paths".into());
    }
    let years = if t.hits.is_empty() {
        0
    } else {
        t.hits_in_year.len() / t.hits.len()
    };
    if years * t.hits.len() != t.hits_in_year.len() {
        return Err("cap hits by year do not match the flows".into());
    }
    for (f, &h) in t.hits.iter().enumerate() {
        let by_year = &t.hits_in_year[f * years..(f + 1) * years];
        let sum = by_year.iter().try_fold(0u64, |a, &b| a.checked_add(b));
        if sum.is_none_or(|s| s > h) {
            return Err(format!("flow {f}: more hits by year than hits"));
        }
    }
    // Grouped hit counts (antithetic, qmc): each at most the paths, and
    // as many by year as in all (their shape is checked by `fits`).
    if t.group_hits.iter().any(|&h| h > t.paths)
        || t.group_hits_in_year.iter().any(|&h| h > t.paths)
    {
        return Err("more grouped cap hits than paths".into());
    }
    Ok(())
}

/// True if `t` has the shape of `like` (same metrics, flows and years,
/// the same grouping of every accumulator and of the cap hits) and the
/// same shifts (the values of the all-shocks-zero path that the
/// moments are taken around; exact merges need the same).
fn fits(t: &Tally, like: &Tally) -> bool {
    t.stats.len() == like.stats.len()
        && t.hits.len() == like.hits.len()
        && t.hits_in_year.len() == like.hits_in_year.len()
        && t.group_hits.len() == like.group_hits.len()
        && t.group_hits_in_year.len() == like.group_hits_in_year.len()
        && t.stats.iter().zip(&like.stats).all(|(a, b)| {
            a.shift().to_bits() == b.shift().to_bits() && a.grouping() == b.grouping()
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn ranges_compress_runs() {
        assert_eq!(super::ranges(&[(0, 0), (2, 5), (9, 9)]), "0, 2-5, 9");
        assert_eq!(super::ranges(&[(7, 7)]), "7");
        let many: Vec<(u64, u64)> = (0..25).map(|i| (2 * i, 2 * i)).collect();
        assert!(super::ranges(&many).ends_with("38, and 5 more ranges"));
    }

    use super::*;
    use crate::engine::{Engine, RunOptions};

    fn partial(paths: u64, shard: (u64, u64)) -> Partial {
        let sc = crate::scenario::load("scenarios/base.json".as_ref())
            .unwrap()
            .scenario;
        let sc = sc.with_simulation(paths, sc.simulation.seed).unwrap();
        let engine = Engine::new(&sc);
        let opts = RunOptions {
            paths,
            seed: sc.simulation.seed,
            threads: 1,
            exact: false,
            shard,
        };
        let out = engine.run_quiet(&opts).unwrap();
        Partial::new(&sc, out.tally, shard, 1, 0.5)
    }

    #[test]
    fn round_trips_bit_for_bit() {
        // 3000 paths in 3 batches over 3 shards; in the first, an
        // accumulator without values, whose min/max are ±infinity (no
        // shard is empty: more shards than batches are refused).
        for i in 0..3 {
            let mut p = partial(3000, (i, 3));
            if i == 0 {
                let shift = p.tally.stats[0].shift();
                p.tally.stats[0] = crate::statistics::StatAcc::new(shift, false);
            }
            let bytes = p.encode();
            let back = Partial::decode(&bytes).unwrap();
            assert_eq!(back, p);
            assert_eq!(back.encode(), bytes);
        }
    }

    #[test]
    fn refuses_damaged_bytes() {
        let bytes = partial(2000, (1, 2)).encode();
        for cut in [0, 5, 30, 200, bytes.len() / 2, bytes.len() - 1] {
            let e = Partial::decode(&bytes[..cut]).unwrap_err();
            assert!(matches!(e, FormatError::Truncated { .. }), "cut {cut}: {e}");
        }
        let mut flipped = bytes.clone();
        let at = bytes.len() / 2;
        flipped[at] ^= 0x10;
        assert_eq!(
            Partial::decode(&flipped).unwrap_err(),
            FormatError::Corrupted("checksum mismatch".into())
        );
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            Partial::decode(&longer).unwrap_err(),
            FormatError::Corrupted(_)
        ));
        assert_eq!(
            Partial::decode(b"{\"schema_version\": 1}").unwrap_err(),
            FormatError::NotPartial
        );
        for (v, digit) in [("1", b'1'), ("2", b'2'), ("4", b'4')] {
            let mut other = bytes.clone();
            other[MAGIC.len()] = digit;
            let e = Partial::decode(&other).unwrap_err();
            assert_eq!(e, FormatError::Version(v.into()));
            assert_eq!(
                e.to_string().contains("older revshare"),
                v.parse::<u32>().unwrap() < FORMAT_VERSION,
                "{v}: {e}"
            );
        }
    }

    /// The bytes of `p` with its body's scenario text replaced by `edit`'s
    /// result, length and checksum made right again (a deliberate edit,
    /// not corruption).
    fn with_scenario_text(p: &Partial, edit: impl Fn(&str) -> String) -> Vec<u8> {
        let scenario = edit(&serde_json::to_string(&p.scenario).unwrap());
        let body = rmp_serde::to_vec_named(&BodyRef {
            scenario: &scenario,
            tally: &p.tally,
        })
        .unwrap();
        let mut out = format!("{MAGIC}{FORMAT_VERSION}\n").into_bytes();
        out.extend_from_slice(serde_json::to_string(&p.header).unwrap().as_bytes());
        out.push(b'\n');
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(&body);
        let sum = Sha256::digest(&out);
        out.extend_from_slice(&sum);
        out
    }

    #[test]
    fn the_embedded_scenario_is_validated_on_reading() {
        let p = partial(2000, (0, 2));
        // Unchanged text: reads back.
        assert_eq!(
            Partial::decode(&with_scenario_text(&p, str::to_string)).unwrap(),
            p
        );
        // A rate above 1 with a valid checksum: refused by validation, with
        // its field path.
        let bad = with_scenario_text(&p, |t| {
            let mut v: serde_json::Value = serde_json::from_str(t).unwrap();
            v["regimes"]["amended"][0]["rate"] = 1.5.into();
            v.to_string()
        });
        let e = Partial::decode(&bad).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, FormatError::Corrupted(_)), "{msg}");
        assert!(msg.contains("invalid scenario"), "{msg}");
        assert!(
            msg.contains("regimes.amended.0.rate: must be in [0, 1], got 1.5"),
            "{msg}"
        );
        assert!(!msg.contains('\n'), "{msg}");
        // Not JSON, unknown fields, a missing baseline: all refused.
        for edit in [
            |_: &str| "not json".to_string(),
            |t: &str| t.replacen('{', "{\"extra\":1,", 1),
            |t: &str| t.replace("\"baseline\":\"prior\"", "\"baseline\":\"nope\""),
        ] {
            let e = Partial::decode(&with_scenario_text(&p, edit)).unwrap_err();
            assert!(
                matches!(&e, FormatError::Corrupted(m) if m.starts_with("invalid scenario: ")),
                "{e}"
            );
        }
        // A valid scenario other than the one hashed: refused by the hash.
        let other = with_scenario_text(&p, |t| t.replacen("\"rate\":0.2", "\"rate\":0.25", 1));
        assert_eq!(
            Partial::decode(&other).unwrap_err(),
            FormatError::Corrupted("the scenario does not match its hash".into())
        );
    }

    #[test]
    fn paths_in_counts_the_last_short_batch() {
        assert_eq!(paths_in(3000, 0, 3), 3000);
        assert_eq!(paths_in(3000, 2, 3), 3000 - 2048);
        assert_eq!(paths_in(3000, 3, 3), 0);
        assert_eq!(paths_in(4096, 1, 3), 2048);
    }
}
