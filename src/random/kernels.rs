//! The row kernels, written once over lanes and compiled three times: in
//! functions with `#[target_feature(enable = "avx512f,...")]`, with
//! `#[target_feature(enable = "avx2,fma")]`, and with none. Every lane is
//! the scalar code of [`super::philox`] and [`super::math`]; without fused
//! multiply-adds the three builds give the same bits.
//!
//! A group is eight blocks, the counters of eight consecutive paths
//! `g .. g + 8` with `g` a multiple of 32 (normals) or 16 (uniforms); the
//! four normals of block `g + i` go to paths `g + i`, `g + 8 + i`,
//! `g + 16 + i`, `g + 24 + i` (the two uniforms to `g + i`, `g + 8 + i`),
//! so that each output of the eight lanes is eight consecutive paths: no
//! shuffling before the stores. The Philox rounds of the group run first,
//! into an aligned buffer of words, and the conversion to doubles after
//! them: two loops with fewer values live than one. Where registers allow,
//! two groups go through each loop side by side.

use super::level::Level;
use super::math::{box_muller, exp_block, exp_core, open_uniform};
use super::philox::philox_lane;

/// Blocks per group: the lanes of the layout.
pub(crate) const LANES: usize = 8;
/// Paths per group of normals (four per block).
pub(crate) const NORMAL_GROUP: usize = 4 * LANES;
/// Paths per group of uniforms (two per block).
pub(crate) const UNIFORM_GROUP: usize = 2 * LANES;

/// What a row's blocks share: the round keys and counter words 2 and 3.
#[derive(Clone, Debug)]
pub(crate) struct RowCtr {
    /// Round keys (widened).
    pub(crate) ks: [[u64; 2]; 10],
    /// Counter word 2 (the step).
    pub(crate) c2: u64,
    /// Counter word 3 (the tag).
    pub(crate) c3: u64,
}

/// The four output words of the eight blocks of a group, word-major, on
/// a cache line.
#[repr(C, align(64))]
struct Words([[u64; LANES]; 4]);

/// The blocks of the paths `g .. g + 8` (`g` a multiple of 8, so one high
/// counter word serves them all).
#[inline(always)]
fn blocks(rc: &RowCtr, g: u64) -> Words {
    let mut w = Words([[0; LANES]; 4]);
    let (lo, hi) = (g & 0xFFFF_FFFF, g >> 32);
    for i in 0..LANES {
        let x = philox_lane([lo + i as u64, hi, rc.c2, rc.c3], &rc.ks);
        for (j, &xj) in x.iter().enumerate() {
            w.0[j][i] = xj;
        }
    }
    w
}

/// One kind of output over groups of `G` paths: `run` fills the group of
/// paths `g .. g + G`, `run2` that group and the next, with the lanes of
/// the two interleaved in one loop (twice the independent chains of
/// operations side by side for the out-of-order core).
trait Group<const G: usize> {
    fn run(&self, g: u64, out: &mut [f64; G]);
    fn run2(&self, g: u64, out: &mut [[f64; G]; 2]);
}

/// Standard normals: Box–Muller on the word pairs `(x0, x1)` (paths
/// `g + i`, `g + 8 + i`) and `(x2, x3)` (paths `g + 16 + i`, `g + 24 + i`).
struct Normals<'a>(&'a RowCtr);
/// Open uniforms: one from each 64-bit word, `x0 | x1 << 32` (path
/// `g + i`) and `x2 | x3 << 32` (path `g + 8 + i`).
struct Uniforms<'a>(&'a RowCtr);

impl Group<NORMAL_GROUP> for Normals<'_> {
    #[inline(always)]
    fn run(&self, g: u64, out: &mut [f64; NORMAL_GROUP]) {
        let w = blocks(self.0, g);
        let [x0, x1, x2, x3] = &w.0;
        for i in 0..LANES {
            (out[i], out[LANES + i]) = box_muller(x0[i], x1[i]);
            (out[2 * LANES + i], out[3 * LANES + i]) = box_muller(x2[i], x3[i]);
        }
    }

    #[inline(always)]
    fn run2(&self, g: u64, out: &mut [[f64; NORMAL_GROUP]; 2]) {
        let w = blocks(self.0, g);
        let v = blocks(self.0, g.wrapping_add(NORMAL_GROUP as u64));
        let ([x0, x1, x2, x3], [y0, y1, y2, y3]) = (&w.0, &v.0);
        let [o, p] = out;
        for i in 0..LANES {
            (o[i], o[LANES + i]) = box_muller(x0[i], x1[i]);
            (o[2 * LANES + i], o[3 * LANES + i]) = box_muller(x2[i], x3[i]);
            (p[i], p[LANES + i]) = box_muller(y0[i], y1[i]);
            (p[2 * LANES + i], p[3 * LANES + i]) = box_muller(y2[i], y3[i]);
        }
    }
}

impl Group<UNIFORM_GROUP> for Uniforms<'_> {
    #[inline(always)]
    fn run(&self, g: u64, out: &mut [f64; UNIFORM_GROUP]) {
        let w = blocks(self.0, g);
        let [x0, x1, x2, x3] = &w.0;
        for i in 0..LANES {
            out[i] = open_uniform(x0[i] | x1[i] << 32);
            out[LANES + i] = open_uniform(x2[i] | x3[i] << 32);
        }
    }

    #[inline(always)]
    fn run2(&self, g: u64, out: &mut [[f64; UNIFORM_GROUP]; 2]) {
        let w = blocks(self.0, g);
        let v = blocks(self.0, g.wrapping_add(UNIFORM_GROUP as u64));
        let ([x0, x1, x2, x3], [y0, y1, y2, y3]) = (&w.0, &v.0);
        let [o, p] = out;
        for i in 0..LANES {
            o[i] = open_uniform(x0[i] | x1[i] << 32);
            o[LANES + i] = open_uniform(x2[i] | x3[i] << 32);
            p[i] = open_uniform(y0[i] | y1[i] << 32);
            p[LANES + i] = open_uniform(y2[i] | y3[i] << 32);
        }
    }
}

/// Fills `out` with the values of paths `first..first + out.len()`: whole
/// groups straight into `out` (two at a time if `PAIRS`), a partial group
/// at either end through a buffer.
#[inline(always)]
fn drive<const G: usize, const PAIRS: bool, T: Group<G>>(t: &T, first: u64, out: &mut [f64]) {
    let n = out.len();
    let mut g = first - first % G as u64;
    let mut pos = 0;
    let mut buf = [0.0; G];
    let skip = (first - g) as usize;
    if skip > 0 && n > 0 {
        t.run(g, &mut buf);
        let take = (G - skip).min(n);
        out[..take].copy_from_slice(&buf[skip..skip + take]);
        pos = take;
        g = g.wrapping_add(G as u64);
    }
    let (groups, _) = out[pos..].as_chunks_mut::<G>();
    let groups = if PAIRS {
        let (pairs, rest) = groups.as_chunks_mut::<2>();
        for pair in pairs {
            t.run2(g, pair);
            pos += 2 * G;
            g = g.wrapping_add(2 * G as u64);
        }
        rest
    } else {
        groups
    };
    for chunk in groups {
        t.run(g, chunk);
        pos += G;
        g = g.wrapping_add(G as u64);
    }
    if pos < n {
        t.run(g, &mut buf);
        out[pos..].copy_from_slice(&buf[..n - pos]);
    }
}

/// e^x over a slice, `N` values at a time, their chains interleaved
/// ([`exp_block`]). `N` per build measured with `benches/normals.rs`
/// (ns per value, before: one value's chain after the other): AVX-512
/// 16 (1.38 -> 1.24; 32 lets LLVM spill and serialise the chains again),
/// AVX2 32 (2.41 -> 2.12; 8: 2.26), portable 8.
#[inline(always)]
fn exp_lanes<const N: usize>(v: &mut [f64]) {
    let (chunks, rest) = v.as_chunks_mut::<N>();
    for c in chunks {
        exp_block(c);
    }
    for x in rest {
        *x = exp_core(*x);
    }
}

/// Whether a build runs two groups per loop iteration (measured with
/// `benches/normals.rs`): on AVX-512, whose 32 registers hold both, yes;
/// on AVX2, whose 16 do not, only for the uniforms (no Box–Muller).
#[cfg(target_arch = "x86_64")]
const PAIRS_AVX512: bool = true;
#[cfg(target_arch = "x86_64")]
const NORMAL_PAIRS_AVX2: bool = false;
#[cfg(target_arch = "x86_64")]
const UNIFORM_PAIRS_AVX2: bool = true;
const PAIRS_PORTABLE: bool = false;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::*;

    #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw")]
    pub(super) fn normals_avx512(rc: &RowCtr, first: u64, out: &mut [f64]) {
        drive::<NORMAL_GROUP, PAIRS_AVX512, _>(&Normals(rc), first, out)
    }
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn normals_avx2(rc: &RowCtr, first: u64, out: &mut [f64]) {
        drive::<NORMAL_GROUP, NORMAL_PAIRS_AVX2, _>(&Normals(rc), first, out)
    }
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw")]
    pub(super) fn uniforms_avx512(rc: &RowCtr, first: u64, out: &mut [f64]) {
        drive::<UNIFORM_GROUP, PAIRS_AVX512, _>(&Uniforms(rc), first, out)
    }
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn uniforms_avx2(rc: &RowCtr, first: u64, out: &mut [f64]) {
        drive::<UNIFORM_GROUP, UNIFORM_PAIRS_AVX2, _>(&Uniforms(rc), first, out)
    }
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw")]
    pub(super) fn exp_avx512(v: &mut [f64]) {
        exp_lanes::<16>(v)
    }
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn exp_avx2(v: &mut [f64]) {
        exp_lanes::<32>(v)
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
        _ => drive::<NORMAL_GROUP, PAIRS_PORTABLE, _>(&Normals(rc), first, out),
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
        _ => drive::<UNIFORM_GROUP, PAIRS_PORTABLE, _>(&Uniforms(rc), first, out),
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
        _ => exp_lanes::<8>(v),
    }
}
