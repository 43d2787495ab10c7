//! The row kernels, written once over lanes and compiled three times: in
//! functions with `#[target_feature(enable = "avx512f,...")]`, with
//! `#[target_feature(enable = "avx2,fma")]`, and with none. Every lane is
//! the scalar code of [`super::philox`] and [`super::math`]; without fused
//! multiply-adds the three builds give the same bits.
//!
//! A group of `N` blocks covers `P N` consecutive paths (`P` paths per
//! block: 4 normals, 2 uniforms). The Philox rounds of the group run first,
//! into an aligned buffer of words, and the conversion to doubles after
//! them: two loops with fewer values live than one, so that the round keys
//! stay in registers.

use super::level::Level;
use super::math::{box_muller, exp_core, open_uniform};
use super::philox::philox_lane;

const LO: u64 = 0xFFFF_FFFF;

/// What a row's blocks share: the round keys and counter words 2 and 3.
#[derive(Clone, Debug)]
pub(crate) struct RowCtr {
    /// Round keys (widened).
    pub ks: [[u64; 2]; 10],
    /// Counter word 2 (the step).
    pub c2: u64,
    /// Counter word 3 (the tag).
    pub c3: u64,
}

/// The four output words of `N` blocks, word-major, on a cache line.
#[repr(C, align(64))]
struct Words<const N: usize>([[u64; N]; 4]);

/// The blocks whose counters carry the paths `base + stride i`,
/// `i < N`, in `w`.
#[inline(always)]
fn blocks<const N: usize>(rc: &RowCtr, base: u64, stride: u64, w: &mut Words<N>) {
    let hi = base >> 32;
    let last = base.wrapping_add(stride * (N as u64 - 1));
    if last >> 32 == hi {
        // Common case: one high word for the whole group, which lets the
        // compiler fold the lane-invariant half of the first two rounds.
        let lo = base & LO;
        for i in 0..N {
            let x = philox_lane([lo + stride * i as u64, hi, rc.c2, rc.c3], &rc.ks);
            for (j, &xj) in x.iter().enumerate() {
                w.0[j][i] = xj;
            }
        }
    } else {
        for i in 0..N {
            let p = base.wrapping_add(stride * i as u64);
            let x = philox_lane([p & LO, p >> 32, rc.c2, rc.c3], &rc.ks);
            for (j, &xj) in x.iter().enumerate() {
                w.0[j][i] = xj;
            }
        }
    }
}

/// One kind of output over a group of `N` blocks: block `i` of the group
/// is the one of the paths `base + P i .. base + P (i + 1)` and fills
/// `out[i]`.
trait Group<const P: usize> {
    fn run<const N: usize>(&self, base: u64, out: &mut [[f64; P]; N]);
}

/// Standard normals, four per block: Box–Muller on the word pairs
/// `(x0, x1)` and `(x2, x3)`.
struct Normals<'a>(&'a RowCtr);
/// Open uniforms, two per block: one from each 64-bit word
/// `x0 | x1 << 32`, `x2 | x3 << 32`.
struct Uniforms<'a>(&'a RowCtr);

impl Group<4> for Normals<'_> {
    #[inline(always)]
    fn run<const N: usize>(&self, base: u64, out: &mut [[f64; 4]; N]) {
        let mut w = Words([[0; N]; 4]);
        blocks(self.0, base, 4, &mut w);
        let [x0, x1, x2, x3] = &w.0;
        for (i, o) in out.iter_mut().enumerate() {
            let (a, b) = box_muller(x0[i], x1[i]);
            let (c, d) = box_muller(x2[i], x3[i]);
            *o = [a, b, c, d];
        }
    }
}

impl Group<2> for Uniforms<'_> {
    #[inline(always)]
    fn run<const N: usize>(&self, base: u64, out: &mut [[f64; 2]; N]) {
        let mut w = Words([[0; N]; 4]);
        blocks(self.0, base, 2, &mut w);
        let [x0, x1, x2, x3] = &w.0;
        for (i, o) in out.iter_mut().enumerate() {
            *o = [
                open_uniform(x0[i] | x1[i] << 32),
                open_uniform(x2[i] | x3[i] << 32),
            ];
        }
    }
}

/// Fills `out` with the values of paths `first..first + out.len()`: whole
/// groups of `N` blocks where they fit, single blocks (through a small
/// buffer) at either end.
#[inline(always)]
fn drive<const P: usize, const N: usize, G: Group<P>>(g: &G, first: u64, out: &mut [f64]) {
    let n = out.len();
    let p = P as u64;
    let mut base = first - first % p;
    let mut pos = 0;
    // A first block that starts before `first`.
    let skip = (first - base) as usize;
    if skip > 0 && n > 0 {
        let mut t = [[0.0; P]; 1];
        g.run::<1>(base, &mut t);
        let take = (P - skip).min(n);
        out[..take].copy_from_slice(&t[0][skip..skip + take]);
        pos = take;
        base = base.wrapping_add(p);
    }
    while n - pos >= P * N {
        let (blocks, _) = out[pos..pos + P * N].as_chunks_mut::<P>();
        let blocks: &mut [[f64; P]; N] = blocks.try_into().expect("P N values are N blocks");
        g.run::<N>(base, blocks);
        pos += P * N;
        base = base.wrapping_add(p * N as u64);
    }
    while pos < n {
        let mut t = [[0.0; P]; 1];
        g.run::<1>(base, &mut t);
        let take = (n - pos).min(P);
        out[pos..pos + take].copy_from_slice(&t[0][..take]);
        pos += take;
        base = base.wrapping_add(p);
    }
}

/// e^x over a slice, `N` values at a time.
#[inline(always)]
fn exp_lanes<const N: usize>(v: &mut [f64]) {
    let (chunks, rest) = v.as_chunks_mut::<N>();
    for c in chunks {
        for x in c.iter_mut() {
            *x = exp_core(*x);
        }
    }
    for x in rest {
        *x = exp_core(*x);
    }
}

/// Blocks per group in each build.
const N_PORTABLE: usize = 4;
#[cfg(target_arch = "x86_64")]
const N_AVX2: usize = 4;
#[cfg(target_arch = "x86_64")]
const N_AVX512: usize = 8;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::*;

    #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw")]
    pub(super) fn normals_avx512(rc: &RowCtr, first: u64, out: &mut [f64]) {
        drive::<4, N_AVX512, _>(&Normals(rc), first, out)
    }
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn normals_avx2(rc: &RowCtr, first: u64, out: &mut [f64]) {
        drive::<4, N_AVX2, _>(&Normals(rc), first, out)
    }
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw")]
    pub(super) fn uniforms_avx512(rc: &RowCtr, first: u64, out: &mut [f64]) {
        drive::<2, N_AVX512, _>(&Uniforms(rc), first, out)
    }
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn uniforms_avx2(rc: &RowCtr, first: u64, out: &mut [f64]) {
        drive::<2, N_AVX2, _>(&Uniforms(rc), first, out)
    }
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw")]
    pub(super) fn exp_avx512(v: &mut [f64]) {
        exp_lanes::<16>(v)
    }
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn exp_avx2(v: &mut [f64]) {
        exp_lanes::<8>(v)
    }
}

// The callers below were given a level that `Generator` (or
// `exp_slice_at`) checked with `Level::supported`, which is what the
// target features of the x86 builds require.

/// Standard normals of paths `first..` at `level` (which must be supported).
pub(crate) fn normals(level: Level, rc: &RowCtr, first: u64, out: &mut [f64]) {
    debug_assert!(level.supported());
    match level {
        // SAFETY: the processor has AVX-512 F/DQ/VL/BW (level supported).
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { x86::normals_avx512(rc, first, out) },
        // SAFETY: the processor has AVX2 and FMA (level supported).
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { x86::normals_avx2(rc, first, out) },
        _ => drive::<4, N_PORTABLE, _>(&Normals(rc), first, out),
    }
}

/// Open uniforms of paths `first..` at `level` (which must be supported).
pub(crate) fn uniforms(level: Level, rc: &RowCtr, first: u64, out: &mut [f64]) {
    debug_assert!(level.supported());
    match level {
        // SAFETY: as in `normals`.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { x86::uniforms_avx512(rc, first, out) },
        // SAFETY: as in `normals`.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { x86::uniforms_avx2(rc, first, out) },
        _ => drive::<2, N_PORTABLE, _>(&Uniforms(rc), first, out),
    }
}

/// e^x in place at `level` (which must be supported).
pub(crate) fn exp(level: Level, v: &mut [f64]) {
    debug_assert!(level.supported());
    match level {
        // SAFETY: as in `normals`.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { x86::exp_avx512(v) },
        // SAFETY: as in `normals`.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { x86::exp_avx2(v) },
        _ => exp_lanes::<N_PORTABLE>(v),
    }
}
