//! Shared by stages 2–5 of the pipeline; every `std::arch` intrinsic of
//! the crate lives here (the AVX2 settlement step of [`crate::contract`]
//! and the AVX2 lane loop of [`crate::statistics::StatAcc::add_slice`]; the
//! random-number kernels are plain Rust compiled per level). Also the
//! run-time choice of the
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
pub(crate) fn avx2() -> bool {
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
    pub(crate) fn new(len: usize, value: f64) -> Aligned {
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

/// The settlement step of [`crate::contract`] on four lanes in AVX2
/// registers (the generic step instantiated with `__m256d`).
#[cfg(target_arch = "x86_64")]
pub(crate) mod contract_avx2 {
    use std::arch::x86_64::*;

    use crate::contract::{Isa, Lanes, Rows, StepTerms};

    /// Proof that the processor runs AVX2: made only by [`Avx2::detect`].
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Avx2(());

    impl Avx2 {
        /// `Some` if the processor runs AVX2 and [`crate::simd::avx2`] says
        /// to use it.
        #[inline(always)]
        pub(crate) fn detect() -> Option<Avx2> {
            crate::simd::avx2().then_some(Avx2(()))
        }
    }

    /// Four `f64` lanes: made only through an [`Avx2`], so wherever one
    /// exists the processor runs AVX2, which makes the intrinsics below
    /// sound to call (each `unsafe` block relies on this). Inlined into
    /// [`settle_blocks`], they are compiled with AVX2 enabled.
    #[derive(Clone, Copy)]
    pub(crate) struct F64x4(__m256d);

    impl Isa<4> for Avx2 {
        type V = F64x4;
        #[inline(always)]
        fn splat(self, x: f64) -> F64x4 {
            // SAFETY: see `F64x4`.
            F64x4(unsafe { _mm256_set1_pd(x) })
        }
        #[inline(always)]
        fn load(self, x: &[f64; 4]) -> F64x4 {
            // SAFETY: see `F64x4`; `x` holds four values.
            F64x4(unsafe { _mm256_loadu_pd(x.as_ptr()) })
        }
        #[inline(always)]
        fn store(self, v: F64x4, x: &mut [f64; 4]) {
            // SAFETY: see `F64x4`; `x` holds four values.
            unsafe { _mm256_storeu_pd(x.as_mut_ptr(), v.0) }
        }
    }

    /// An `F64x4` method as the AVX2 intrinsic `$f` of its lanes.
    macro_rules! lanes {
        ($($name:ident: $f:expr;)*) => {
            $(
                #[inline(always)]
                fn $name(self, o: F64x4) -> F64x4 {
                    // SAFETY: see `F64x4`.
                    F64x4(unsafe { $f(self.0, o.0) })
                }
            )*
        };
    }

    impl Lanes for F64x4 {
        lanes! {
            add: _mm256_add_pd;
            sub: _mm256_sub_pd;
            mul: _mm256_mul_pd;
            and: _mm256_and_pd;
            or: _mm256_or_pd;
            lt: _mm256_cmp_pd::<_CMP_LT_OQ>;
            ge: _mm256_cmp_pd::<_CMP_GE_OQ>;
            gt: _mm256_cmp_pd::<_CMP_GT_OQ>;
        }
        #[inline(always)]
        fn unless(self, m: F64x4) -> F64x4 {
            // SAFETY: see `F64x4`.
            F64x4(unsafe { _mm256_andnot_pd(m.0, self.0) })
        }
    }

    /// [`super::settle_blocks`] four paths at a time, compiled with AVX2.
    #[target_feature(enable = "avx2")]
    pub(crate) fn settle_blocks<const CAPPED: bool>(
        isa: Avx2,
        s: &StepTerms,
        rows: &mut Rows,
    ) -> usize {
        crate::contract::settle_blocks::<4, Avx2, CAPPED>(isa, s, rows)
    }
}

/// The lane loop of [`crate::statistics::StatAcc::add_slice`] over whole chunks of four values
/// in AVX2 registers: per lane the same subtraction, additions and
/// comparisons (`minpd(x, low)` is `if x < low { x } else { low }`).
/// `acc` is the sums, sums of squares, lows and highs, updated in place.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(crate) fn stat_lanes_avx2(
    chunks: &mut std::slice::ChunksExact<'_, f64>,
    shift: f64,
    acc: [&mut [f64; crate::statistics::LANES]; 4],
) {
    use std::arch::x86_64::*;
    let [s1, s2, lows, highs] = acc;
    // SAFETY: each array holds crate::statistics::LANES = 4 values; each chunk has exactly 4.
    unsafe {
        let shift = _mm256_set1_pd(shift);
        let (mut a1, mut a2) = (_mm256_loadu_pd(s1.as_ptr()), _mm256_loadu_pd(s2.as_ptr()));
        let (mut lo, mut hi) = (
            _mm256_loadu_pd(lows.as_ptr()),
            _mm256_loadu_pd(highs.as_ptr()),
        );
        for c in chunks {
            let x = _mm256_loadu_pd(c.as_ptr());
            let d = _mm256_sub_pd(x, shift);
            a1 = _mm256_add_pd(a1, d);
            a2 = _mm256_add_pd(a2, _mm256_mul_pd(d, d));
            lo = _mm256_min_pd(x, lo);
            hi = _mm256_max_pd(x, hi);
        }
        _mm256_storeu_pd(s1.as_mut_ptr(), a1);
        _mm256_storeu_pd(s2.as_mut_ptr(), a2);
        _mm256_storeu_pd(lows.as_mut_ptr(), lo);
        _mm256_storeu_pd(highs.as_mut_ptr(), hi);
    }
}
