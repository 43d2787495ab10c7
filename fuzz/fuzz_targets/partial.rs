//! Fuzz target: bytes → `engine::partial::Partial::decode`, the reader of
//! the shard files that `revshare merge` takes from other machines. Any
//! input must give `Ok` or a `FormatError`; never a panic, an abort or an
//! allocation beyond the input's size. A partial that decodes is merged
//! (`Merger`) and, when it is a whole run, summarised (`RunResult::build`),
//! as `revshare merge` does next.
//!
//! Random bytes almost never carry a valid SHA-256, which would stop every
//! input at the checksum. So when the first byte is odd, the rest is taken
//! as a file whose body length and checksum are recomputed first (a
//! crafted file, as an adversary would write it): the fuzzer then reaches
//! the header, the embedded scenario and the MessagePack tally. With an
//! even first byte, the rest is decoded as it is (damaged files).
#![no_main]

use libfuzzer_sys::fuzz_target;
use revshare::engine::partial::{Merger, Partial};
use sha2::{Digest, Sha256};

/// `file` with the 8-byte body length after its second line and the
/// trailing 32-byte checksum made right (unchanged if it has no second
/// line, or is shorter than its framing).
fn reframe(file: &[u8]) -> Vec<u8> {
    let mut out = file.to_vec();
    let Some(nl1) = out.iter().position(|&b| b == b'\n') else {
        return out;
    };
    let Some(nl2) = out[nl1 + 1..].iter().position(|&b| b == b'\n') else {
        return out;
    };
    let body_at = nl1 + 1 + nl2 + 1 + 8;
    if out.len() < body_at + 32 {
        return out;
    }
    let body_len = (out.len() - body_at - 32) as u64;
    out[body_at - 8..body_at].copy_from_slice(&body_len.to_le_bytes());
    let end = out.len() - 32;
    let sum = Sha256::digest(&out[..end]);
    out[end..].copy_from_slice(&sum);
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let bytes = if mode & 1 == 1 {
        reframe(rest)
    } else {
        rest.to_vec()
    };
    let Ok(p) = Partial::decode(&bytes) else {
        return;
    };
    // What `revshare merge` does with it: merge, and summarise a whole run.
    let whole = p.header.shard_count == 1;
    let steps = p.scenario.steps();
    let mut m = Merger::new();
    m.add("fuzz.bin", p);
    if let Ok(run) = m.finish() {
        if whole && steps <= 5_000 {
            let _ = revshare::result::RunResult::build(
                &run.engine,
                &run.tally,
                run.threads,
                run.elapsed_seconds,
            );
        }
    }
});
