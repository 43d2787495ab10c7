//! Shared by stages 2–5 of the pipeline: the run-time choice of the
//! instruction set for the loops that run across a chunk of paths (the
//! engine's row loops, [`crate::contract::settle_paths`] and
//! [`crate::statistics::StatAcc::add_slice`]). Those loops have a portable
//! build and, on x86-64, an AVX2 build; both give the same bytes (the
//! exponentials and random numbers have their own builds, see
//! [`crate::random`]). Also the cache-line-aligned
//! buffers those loops run over ([`Aligned`]).

use std::sync::OnceLock;

use crate::random::Level;

/// True if the AVX2 build of the row loops is used: the processor has
/// AVX2 and FMA and the environment variable `REVSHARE_SIMD` does not cap
/// the level at the portable build (`off` or `portable`; `avx2` caps the
/// random-number kernels at AVX2 and keeps this build; see
/// [`crate::random::Level::detect`]). A diagnostic switch: results are
/// identical either way, which the test suite checks.
pub fn avx2() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| Level::detect() != Level::Portable && Level::Avx2.supported())
}

/// A fixed-length `f64` buffer whose first element starts a 64-byte cache
/// line. The row loops read and write 32 bytes at a time from offsets that
/// are multiples of 32 bytes of their buffers; with only the allocator's
/// 16-byte alignment, half of those accesses may straddle two cache lines,
/// and whether they do depended on where malloc happened to place each
/// buffer (which is why the same engine code ran 1–3% slower per path in
/// the bench binary than in the CLI). The chunk's rows, flow states, step
/// state and positions are held in these.
#[derive(Debug)]
pub struct Aligned {
    v: Vec<f64>,
    at: usize,
    len: usize,
}

impl Aligned {
    /// `len` copies of `value`.
    pub fn new(len: usize, value: f64) -> Aligned {
        let v = vec![value; len + 7];
        // An `f64` pointer is 8-byte aligned, so a 64-byte boundary lies
        // within the first 8 elements.
        let at = v.as_ptr().align_offset(64).min(7);
        Aligned { v, at, len }
    }
}

impl std::ops::Deref for Aligned {
    type Target = [f64];
    #[inline]
    fn deref(&self) -> &[f64] {
        &self.v[self.at..self.at + self.len]
    }
}

impl std::ops::DerefMut for Aligned {
    #[inline]
    fn deref_mut(&mut self) -> &mut [f64] {
        &mut self.v[self.at..self.at + self.len]
    }
}

impl Default for Aligned {
    /// An empty buffer.
    fn default() -> Aligned {
        Aligned::new(0, 0.0)
    }
}

impl Clone for Aligned {
    /// A copy in a buffer aligned in its own right.
    fn clone(&self) -> Aligned {
        let mut a = Aligned::new(self.len, 0.0);
        a.copy_from_slice(self);
        a
    }
}

#[cfg(test)]
mod tests {
    use super::Aligned;

    #[test]
    fn aligned_buffers_start_a_cache_line_and_hold_their_values() {
        for len in [0, 1, 7, 128, 1000] {
            let mut a = Aligned::new(len, 2.5);
            assert_eq!(a.len(), len);
            assert!(a.iter().all(|&x| x == 2.5));
            assert_eq!(a.as_ptr() as usize % 64, 0);
            if len > 0 {
                a[len - 1] = 1.0;
            }
            let b = a.clone();
            assert_eq!(&b[..], &a[..]);
            assert_eq!(b.as_ptr() as usize % 64, 0);
        }
    }
}
