//! The pieces of randomised quasi-Monte Carlo (`simulation.sampling =
//! "qmc"`): Sobol points with the Joe–Kuo direction numbers, Owen
//! scrambling (in its hash-based form), an inverse normal CDF with the
//! same bits on every machine, and the Brownian-bridge plan that hands the
//! first Sobol coordinates to the most important normals.
//!
//! # Points
//!
//! **Sobol.** Coordinate `d` (0-based) of point `i` is the XOR of the
//! 32-bit direction numbers `v_d[k]` over the set bits `k` of `i` (natural
//! order; every prefix of `2^m` points is the same net as in Gray-code
//! order). Coordinate 0 is van der Corput's (`v[k] = 2^(31 - k)`);
//! coordinates 1..[`MAX_DIMS`] use the Joe–Kuo `new-joe-kuo-6.21201`
//! primitive polynomials and initial numbers (Joe and Kuo 2008), whose
//! first 4,096 dimensions are embedded (`assets/sobol/new-joe-kuo-6.4096`,
//! the file's first 4,096 lines with runs of blanks collapsed). 32-bit
//! numbers give 2^32 points per replicate.
//!
//! **Owen scrambling.** Each (replicate r, coordinate d) has its own
//! 32-bit scramble seed [`scramble_seed`], derived from the run's seed by
//! SplitMix64. A coordinate `x` is scrambled as Burley (2020, "Practical
//! hash-based Owen scrambling", JCGT 9(4)) does: bits reversed, the
//! Laine–Karras hash (`x += seed; x ^= x * c` for four even constants),
//! reversed back. Every bit is then flipped by a function of the seed and
//! of the more significant bits only: a nested (Owen) scramble, so each
//! scrambled point is uniform on the 2^-32 grid and every 2^m-point prefix
//! stays a (t, m, s)-net. The uniform of the scrambled word `y` is the
//! centre of its cell, `(y + 0.5) 2^-32`.
//!
//! **Normals.** [`inverse_normal`] is Wichura's AS241 (PPND16, relative
//! accuracy about 1e-16), with the logarithm of [`crate::random::math::ln`]
//! and IEEE square roots and divisions: the same bits on every machine and
//! SIMD level.
//!
//! **Brownian bridge.** The n standard normals of one (series, shock)
//! over the steps are the increments of a Brownian path W on 0..n built
//! by [`Bridge`]: W(n) from the first input, then midpoints level by level
//! (W(m) given W(l) and W(r) is normal with mean interpolated and variance
//! (m − l)(r − m)/(r − l)). The increments are exactly independent
//! standard normals, so the model is unchanged; what changes is which
//! input drives what: input 0 (the terminal value) moves every step, and
//! gets a Sobol coordinate ahead of all the later inputs.

use std::sync::OnceLock;

/// Sobol dimensions available (van der Corput and 4,095 Joe–Kuo ones).
/// Inputs beyond them are padded with the run's pseudo-random normals.
pub const MAX_DIMS: usize = 4096;

/// Bits of a Sobol coordinate.
const BITS: usize = 32;

/// The embedded direction-number file (see the module docs).
const JOE_KUO: &str = include_str!("../../assets/sobol/new-joe-kuo-6.4096");

/// Direction numbers `v_d[k]`, `k = 0..32`, of every dimension.
fn directions() -> &'static [[u32; BITS]] {
    static TABLE: OnceLock<Vec<[u32; BITS]>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = Vec::with_capacity(MAX_DIMS);
        table.push(std::array::from_fn(|k| 1u32 << (31 - k)));
        for line in JOE_KUO.lines().skip(1) {
            let nums: Vec<u32> = line
                .split_whitespace()
                .map(|w| w.parse().expect("the embedded Joe-Kuo file holds integers"))
                .collect();
            let (s, a, m) = (nums[1] as usize, nums[2], &nums[3..]);
            assert_eq!(m.len(), s, "Joe-Kuo line {line:?}");
            let mut v = [0u32; BITS];
            for k in 0..BITS.min(s) {
                v[k] = m[k] << (31 - k);
            }
            for k in s..BITS {
                let mut x = v[k - s] ^ (v[k - s] >> s);
                for j in 1..s {
                    if (a >> (s - 1 - j)) & 1 == 1 {
                        x ^= v[k - j];
                    }
                }
                v[k] = x;
            }
            table.push(v);
        }
        assert_eq!(table.len(), MAX_DIMS);
        table
    })
}

/// Coordinate `d` of Sobol point `i` (unscrambled), as a 32-bit fraction.
///
/// # Panics
/// If `d >= MAX_DIMS`.
#[inline]
pub fn sobol(d: usize, i: u32) -> u32 {
    let v = &directions()[d];
    let mut x = 0;
    let mut bits = i;
    while bits != 0 {
        let k = bits.trailing_zeros() as usize;
        x ^= v[k];
        bits &= bits - 1;
    }
    x
}

/// Owen scrambling of one coordinate with a seed (Burley 2020: reversed
/// bits through the Laine–Karras hash).
#[inline(always)]
pub fn scramble(x: u32, seed: u32) -> u32 {
    scramble_reversed(x.reverse_bits(), seed)
}

/// [`scramble`] of the coordinate whose reversed bits are `y`.
#[inline(always)]
fn scramble_reversed(mut y: u32, seed: u32) -> u32 {
    y = y.wrapping_add(seed);
    y ^= y.wrapping_mul(0x6c50_b47c);
    y ^= y.wrapping_mul(0xb82f_1e52);
    y ^= y.wrapping_mul(0xc7af_e638);
    y ^= y.wrapping_mul(0x8d22_f6e6);
    y.reverse_bits()
}

/// The uniforms `uniform_of(scramble(sobol(d, path / R), seeds[path % R]))`
/// of the paths `first..first + out.len()` (R replicates, point `path /
/// R` of replicate `path % R`): the same bits, computed faster. Each point
/// is found from the previous one by XOR (point i + 1 flips bits 0..=t of
/// i, t the trailing zeros of i + 1, so its coordinate is the previous one
/// XOR the prefix XOR of `v[0..=t]`: the same integer as [`sobol`]), its
/// bits are reversed once for all R replicates, and the R scrambles of a
/// whole point run as one fixed-length loop that vectorises (AVX-512 and
/// AVX2 builds chosen at run time; integer operations and one exact
/// conversion, so every build gives the same bits).
///
/// # Panics
/// If `d >= MAX_DIMS` or a point index exceeds `u32::MAX`.
pub fn scrambled_uniforms<const R: usize>(d: usize, seeds: &[u32; R], first: u64, out: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    match crate::random::Level::detect() {
        // SAFETY: the processor supports the level (checked at run time).
        crate::random::Level::Avx512 => {
            return unsafe { scrambled_uniforms_avx512(d, seeds, first, out) }
        }
        // SAFETY: as above.
        crate::random::Level::Avx2 => {
            return unsafe { scrambled_uniforms_avx2(d, seeds, first, out) }
        }
        _ => {}
    }
    scrambled_uniforms_body(d, seeds, first, out);
}

/// [`scrambled_uniforms`] compiled with AVX-512.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw")]
fn scrambled_uniforms_avx512<const R: usize>(
    d: usize,
    seeds: &[u32; R],
    first: u64,
    out: &mut [f64],
) {
    scrambled_uniforms_body(d, seeds, first, out);
}

/// [`scrambled_uniforms`] compiled with AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn scrambled_uniforms_avx2<const R: usize>(
    d: usize,
    seeds: &[u32; R],
    first: u64,
    out: &mut [f64],
) {
    scrambled_uniforms_body(d, seeds, first, out);
}

#[inline(always)]
fn scrambled_uniforms_body<const R: usize>(
    d: usize,
    seeds: &[u32; R],
    first: u64,
    out: &mut [f64],
) {
    if out.is_empty() {
        return;
    }
    let v = &directions()[d];
    // prefix[t] = v[0] ^ ... ^ v[t].
    let mut prefix = [0u32; BITS];
    let mut acc = 0;
    for (p, &vk) in prefix.iter_mut().zip(v) {
        acc ^= vk;
        *p = acc;
    }
    let reps = R as u64;
    let point_of = |path: u64| {
        u32::try_from(path / reps).expect("validated: at most 2^32 points per replicate")
    };
    let mut point = point_of(first);
    let mut x = sobol(d, point);
    let mut path = first;
    let mut rest = &mut out[..];
    loop {
        let rx = x.reverse_bits();
        let r0 = (path % reps) as usize;
        let take = (R - r0).min(rest.len());
        let (here, next) = rest.split_at_mut(take);
        if take == R {
            let here: &mut [f64; R] = here.try_into().expect("R values");
            for (u, &s) in here.iter_mut().zip(seeds) {
                *u = uniform_of(scramble_reversed(rx, s));
            }
        } else {
            for (u, &s) in here.iter_mut().zip(&seeds[r0..]) {
                *u = uniform_of(scramble_reversed(rx, s));
            }
        }
        rest = next;
        if rest.is_empty() {
            return;
        }
        path += take as u64;
        point = point_of(path);
        x ^= prefix[point.trailing_zeros() as usize];
    }
}

/// SplitMix64's output function: the first output of rand_xoshiro's
/// `SplitMix64` seeded with `z`.
#[inline]
fn splitmix(z: u64) -> u64 {
    rand::Rng::next_u64(&mut <rand_xoshiro::SplitMix64 as rand::SeedableRng>::seed_from_u64(z))
}

/// The scramble seed of replicate `r`, coordinate `d` of a run with seed
/// `seed`: the low 32 bits of `splitmix(splitmix(seed) ^ (r << 32 | d))`.
#[inline]
pub fn scramble_seed(seed: u64, r: u64, d: usize) -> u32 {
    scramble_seed_of(scramble_key(seed), r, d)
}

/// `splitmix(seed)`: the part of [`scramble_seed`] that depends on the run
/// alone, computed once per run's rows rather than once per seed.
#[inline]
pub(crate) fn scramble_key(seed: u64) -> u64 {
    splitmix(seed)
}

/// [`scramble_seed`] from the run's [`scramble_key`].
#[inline]
pub(crate) fn scramble_seed_of(key: u64, r: u64, d: usize) -> u32 {
    splitmix(key ^ (r << 32 | d as u64)) as u32
}

/// The uniform at the centre of a 32-bit cell: `(y + 0.5) 2^-32`.
#[inline(always)]
pub fn uniform_of(y: u32) -> f64 {
    (f64::from(y) + 0.5) * (1.0 / 4_294_967_296.0)
}

/// The standard normal quantile of `p` in (0, 1): Wichura's AS241
/// (PPND16).
#[inline]
pub fn inverse_normal(p: f64) -> f64 {
    let q = p - 0.5;
    if q.abs() <= 0.425 {
        central(q)
    } else {
        tail(p, q)
    }
}

/// [`inverse_normal`] of every value of `v` in place, the same bits: the
/// central branch is taken for blocks of values without a branch (so the
/// loop vectorises and no misprediction costs); the indices of the values
/// in the tails are collected on the way, and the tails are taken for
/// blocks of those, again without a branch (both of AS241's tail
/// polynomials, the logarithm's core for a normal double: the operations
/// of [`inverse_normal`] on each value; the rare value whose tail
/// probability is not a normal double, 0, 1 or NaN goes through
/// [`inverse_normal`] itself). Compiled a second time with AVX-512 and a
/// third with AVX2 and chosen at run time (see [`crate::random::Level`];
/// Rust never fuses or reorders the operations, so the bits are the same).
pub fn inverse_normal_in_place(v: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    {
        if crate::random::Level::detect() == crate::random::Level::Avx512 {
            // SAFETY: the processor supports AVX-512 (checked at run time).
            unsafe { inverse_normal_avx512(v) };
            return;
        }
        if crate::simd::avx2() {
            // SAFETY: the processor supports AVX2 and FMA (checked at run time).
            unsafe { inverse_normal_avx2(v) };
            return;
        }
    }
    inverse_normal_body(v);
}

/// [`inverse_normal_in_place`] compiled with AVX-512.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw")]
fn inverse_normal_avx512(v: &mut [f64]) {
    inverse_normal_body(v);
}

/// [`inverse_normal_in_place`] compiled with AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn inverse_normal_avx2(v: &mut [f64]) {
    inverse_normal_body(v);
}

/// Values per block of the central branch in [`inverse_normal_body`]:
/// several vectors, so that their Horner chains interleave (at most 64:
/// one bit per value of a mask).
const BLOCK: usize = 64;

/// Values per block of the tails.
const TAILS: usize = 16;

#[inline(always)]
fn inverse_normal_body(v: &mut [f64]) {
    // The values in the tails not yet taken: index in `v` and probability.
    let mut at = [0usize; TAILS + BLOCK];
    let mut tp = [0.25f64; TAILS + BLOCK];
    let mut pending = 0;
    let mut start = 0;
    while start < v.len() {
        let len = (v.len() - start).min(BLOCK);
        let mut p = [0.5; BLOCK];
        if len == BLOCK {
            p.copy_from_slice(&v[start..start + BLOCK]);
        } else {
            p[..len].copy_from_slice(&v[start..start + len]);
        }
        let mut z = [0.0; BLOCK];
        for (z, &p) in z.iter_mut().zip(&p) {
            *z = central(p - 0.5);
        }
        if len == BLOCK {
            v[start..start + BLOCK].copy_from_slice(&z);
        } else {
            v[start..start + len].copy_from_slice(&z[..len]);
        }
        // Bit i: value i is in a tail (padding lanes are not: 0.5).
        let mut mask = 0u64;
        for (i, &p) in p.iter().enumerate() {
            let central = (p - 0.5).abs() <= 0.425;
            mask |= u64::from(!central) << i;
        }
        while mask != 0 {
            let i = mask.trailing_zeros() as usize;
            at[pending] = start + i;
            tp[pending] = p[i];
            pending += 1;
            mask &= mask - 1;
        }
        while pending >= TAILS {
            let t = tails(tp[..TAILS].try_into().expect("TAILS values"));
            for (&i, &t) in at[..TAILS].iter().zip(&t) {
                v[i] = t;
            }
            at.copy_within(TAILS..pending, 0);
            tp.copy_within(TAILS..pending, 0);
            pending -= TAILS;
        }
        start += len;
    }
    if pending > 0 {
        tp[pending..TAILS].fill(0.25);
        let t = tails(tp[..TAILS].try_into().expect("TAILS values"));
        for (&i, &t) in at[..pending].iter().zip(&t) {
            v[i] = t;
        }
    }
}

/// [`tail`] of a block of probabilities without a branch: the polynomial
/// for `r <= 5` in every lane (a lane whose tail probability is not a
/// normal double or whose `r` exceeds 5, probabilities below about
/// 1.4e-11, comes from [`tail`] itself).
#[inline(always)]
fn tails(p: &[f64; TAILS]) -> [f64; TAILS] {
    let mut out = [0.0; TAILS];
    let mut plain = [true; TAILS];
    for ((o, ok), &p) in out.iter_mut().zip(plain.iter_mut()).zip(p) {
        let q = p - 0.5;
        let t = if q < 0.0 { p } else { 1.0 - p };
        let r = (-crate::random::math::ln_core(t)).sqrt();
        *ok = (f64::MIN_POSITIVE..=f64::MAX).contains(&t) && r <= 5.0;
        let v = tail_near(r - 1.6);
        *o = if q < 0.0 { -v } else { v };
    }
    if plain.iter().any(|&ok| !ok) {
        for ((o, &ok), &p) in out.iter_mut().zip(&plain).zip(p) {
            if !ok {
                *o = tail(p, p - 0.5);
            }
        }
    }
    out
}

/// AS241's central branch, `|q| <= 0.425` for `q = p - 0.5` (the
/// coefficients as published).
#[inline(always)]
#[allow(clippy::excessive_precision)]
fn central(q: f64) -> f64 {
    {
        let r = 0.180625 - q * q;
        let num = ((((((2.509_080_928_730_122_7e3 * r + 3.343_057_558_358_813e4) * r
            + 6.726_577_092_700_87e4)
            * r
            + 4.592_195_393_154_987e4)
            * r
            + 1.373_169_376_550_946e4)
            * r
            + 1.971_590_950_306_551_3e3)
            * r
            + 1.331_416_678_917_843_8e2)
            * r
            + 3.387_132_872_796_366_5;
        let den = ((((((5.226_495_278_852_854_5e3 * r + 2.872_908_573_572_194_3e4) * r
            + 3.930_789_580_009_271e4)
            * r
            + 2.121_379_430_158_659_7e4)
            * r
            + 5.394_196_021_424_751e3)
            * r
            + 6.871_870_074_920_579e2)
            * r
            + 4.231_333_070_160_091e1)
            * r
            + 1.0;
        q * num / den
    }
}

/// AS241's tails, `|q| > 0.425` (the coefficients as published).
#[inline]
fn tail(p: f64, q: f64) -> f64 {
    let tail = if q < 0.0 { p } else { 1.0 - p };
    let r = (-crate::random::math::ln(tail)).sqrt();
    let v = if r <= 5.0 {
        tail_near(r - 1.6)
    } else {
        tail_far(r - 5.0)
    };
    if q < 0.0 {
        -v
    } else {
        v
    }
}

/// AS241's tail polynomial for `r <= 5`, of `r - 1.6`.
#[inline(always)]
#[allow(clippy::excessive_precision)]
fn tail_near(r: f64) -> f64 {
    let num = ((((((7.745_450_142_783_414e-4 * r + 2.272_384_498_926_918_4e-2) * r
        + 2.417_807_251_774_506e-1)
        * r
        + 1.270_458_252_452_368_4)
        * r
        + 3.647_848_324_763_204_5)
        * r
        + 5.769_497_221_460_691)
        * r
        + 4.630_337_846_156_545)
        * r
        + 1.423_437_110_749_683_5;
    let den = ((((((1.050_750_071_644_416_9e-9 * r + 5.475_938_084_995_345e-4) * r
        + 1.519_866_656_361_645_7e-2)
        * r
        + 1.481_039_764_274_800_8e-1)
        * r
        + 6.897_673_349_851e-1)
        * r
        + 1.676_384_830_183_803_8)
        * r
        + 2.053_191_626_637_759)
        * r
        + 1.0;
    num / den
}

/// AS241's tail polynomial for `r > 5`, of `r - 5`.
#[inline(always)]
#[allow(clippy::excessive_precision)]
fn tail_far(r: f64) -> f64 {
    let num = ((((((2.010_334_399_292_288_1e-7 * r + 2.711_555_568_743_487_6e-5) * r
        + 1.242_660_947_388_078_4e-3)
        * r
        + 2.653_218_952_657_612_4e-2)
        * r
        + 2.965_605_718_285_048_7e-1)
        * r
        + 1.784_826_539_917_291_3)
        * r
        + 5.463_784_911_164_114)
        * r
        + 6.657_904_643_501_103;
    let den = ((((((2.044_263_103_389_939_7e-15 * r + 1.421_511_758_316_446e-7) * r
        + 1.846_318_317_510_054_8e-5)
        * r
        + 7.868_691_311_456_133e-4)
        * r
        + 1.487_536_129_085_061_5e-2)
        * r
        + 1.369_298_809_227_358e-1)
        * r
        + 5.998_322_065_558_88e-1)
        * r
        + 1.0;
    num / den
}

/// One node of a Brownian bridge: `W(m) = wl W(l) + wr W(r) + sd xi`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Node {
    /// The point built.
    pub m: usize,
    /// Its left neighbour (0: W(0) = 0).
    pub l: usize,
    /// Its right neighbour.
    pub r: usize,
    /// Weight of W(l).
    pub wl: f64,
    /// Weight of W(r).
    pub wr: f64,
    /// Standard deviation of the new input's term.
    pub sd: f64,
}

/// The construction order of a Brownian path on the grid 0..=n (unit
/// variance per step), W(0) = 0: node j uses input j. Node 0 is W(n) =
/// sqrt(n) xi_0; then breadth first, each interval (l, r) of length at
/// least 2 gets its midpoint m = l + (r - l) / 2.
#[derive(Debug, Clone, PartialEq)]
pub struct Bridge {
    /// The n nodes in construction order.
    pub nodes: Vec<Node>,
}

impl Bridge {
    /// The bridge of `n` steps.
    pub fn new(n: usize) -> Bridge {
        let mut nodes = Vec::with_capacity(n);
        if n == 0 {
            return Bridge { nodes };
        }
        nodes.push(Node {
            m: n,
            l: 0,
            r: n,
            wl: 0.0,
            wr: 0.0,
            sd: (n as f64).sqrt(),
        });
        let mut queue = std::collections::VecDeque::from([(0usize, n)]);
        while let Some((l, r)) = queue.pop_front() {
            if r - l < 2 {
                continue;
            }
            let m = l + (r - l) / 2;
            let (a, b, len) = ((m - l) as f64, (r - m) as f64, (r - l) as f64);
            nodes.push(Node {
                m,
                l,
                r,
                wl: b / len,
                wr: a / len,
                sd: (a * b / len).sqrt(),
            });
            queue.push_back((l, m));
            queue.push_back((m, r));
        }
        debug_assert_eq!(nodes.len(), n);
        Bridge { nodes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use statrs::distribution::{ContinuousCDF, Normal};

    #[test]
    fn scrambled_uniforms_equal_the_pointwise_formula() {
        // Every start (mid-point or not), length and dimension kind, and
        // the points where many low bits flip (2^k - 1 -> 2^k).
        let seeds: [u32; 16] = std::array::from_fn(|r| scramble_seed(7, r as u64, 3));
        for d in [0, 1, 5, 4095] {
            for first in [0u64, 1, 15, 16, 17, 1000, 16 * 1023 + 9, 16 * 65535 + 3] {
                for len in [1usize, 2, 15, 16, 17, 33, 100, 1024] {
                    let mut out = vec![0.0; len];
                    scrambled_uniforms(d, &seeds, first, &mut out);
                    let mut portable = vec![0.0; len];
                    scrambled_uniforms_body(d, &seeds, first, &mut portable);
                    #[cfg(target_arch = "x86_64")]
                    for (level, build) in [
                        (
                            crate::random::Level::Avx2,
                            scrambled_uniforms_avx2::<16>
                                as unsafe fn(usize, &[u32; 16], u64, &mut [f64]),
                        ),
                        (
                            crate::random::Level::Avx512,
                            scrambled_uniforms_avx512::<16>,
                        ),
                    ] {
                        if level.supported() {
                            let mut v = vec![0.0; len];
                            // SAFETY: the level is supported (checked above).
                            unsafe { build(d, &seeds, first, &mut v) };
                            assert_eq!(v, portable, "{level:?}");
                        }
                    }
                    for (p, (&u, &w)) in out.iter().zip(&portable).enumerate() {
                        assert_eq!(u.to_bits(), w.to_bits());
                        let path = first + p as u64;
                        let x = sobol(d, (path / 16) as u32);
                        let want = uniform_of(scramble(x, seeds[(path % 16) as usize]));
                        assert_eq!(u.to_bits(), want.to_bits(), "d {d} path {path}");
                    }
                }
            }
        }
    }

    /// A build of the slice inverse normal, by name.
    type Build = (&'static str, fn(&mut [f64]));

    /// Every build of the slice inverse normal this processor runs.
    fn inverse_normal_builds() -> Vec<Build> {
        let mut builds: Vec<Build> = vec![
            ("portable", inverse_normal_body),
            ("chosen", inverse_normal_in_place),
        ];
        #[cfg(target_arch = "x86_64")]
        {
            use crate::random::Level;
            if Level::Avx2.supported() {
                // SAFETY: AVX2 and FMA are supported (checked above).
                builds.push(("avx2", |v| unsafe { inverse_normal_avx2(v) }));
            }
            if Level::Avx512.supported() {
                // SAFETY: AVX-512 is supported (checked above).
                builds.push(("avx512", |v| unsafe { inverse_normal_avx512(v) }));
            }
        }
        builds
    }

    #[test]
    fn every_build_of_the_slice_inverse_normal_gives_the_scalar_bits() {
        // Tails collected across blocks, every remainder length, and the
        // values the block path hands back to the scalar one: 0, 1, NaN,
        // subnormals, tails beyond r = 5, the 0.075 and 0.925 boundaries.
        let mut values: Vec<f64> = (0..5000u32)
            .map(|i| uniform_of(i.wrapping_mul(2_654_435_761)))
            .collect();
        let special = [
            0.0,
            1.0,
            f64::NAN,
            -0.5,
            1.5,
            f64::MIN_POSITIVE / 4.0,
            f64::MIN_POSITIVE,
            1e-300,
            1e-20,
            1e-12,
            1.3e-11,
            1.5e-11,
            1.0 - 1e-12,
            0.075,
            0.0749,
            0.0751,
            0.925,
            0.9249,
            0.9251,
            uniform_of(0),
            uniform_of(u32::MAX),
        ];
        for (k, &p) in special.iter().enumerate() {
            values.insert(37 * k + 5, p);
        }
        let want: Vec<u64> = values
            .iter()
            .map(|&p| inverse_normal(p).to_bits())
            .collect();
        for (name, build) in inverse_normal_builds() {
            for len in [0, 1, 7, 16, 17, 63, 64, 65, 130, 1000, values.len()] {
                for start in [0, 3] {
                    let end = (start + len).min(values.len());
                    let mut v = values[start..end].to_vec();
                    build(&mut v);
                    for (i, z) in v.iter().enumerate() {
                        assert_eq!(
                            z.to_bits(),
                            want[start + i],
                            "{name}: p {} (len {len})",
                            values[start + i]
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn direction_numbers_match_known_sobol_points() {
        // Dimension 1 (Joe-Kuo d = 2, x + 1 primitive, m = 1): points 1, 2,
        // 3 are 1/2, 3/4, 1/4 (natural order).
        let f = |d, i| f64::from(sobol(d, i)) / 4_294_967_296.0;
        assert_eq!([f(0, 1), f(0, 2), f(0, 3)], [0.5, 0.25, 0.75]);
        assert_eq!([f(1, 1), f(1, 2), f(1, 3)], [0.5, 0.75, 0.25]);
        // Every 2^m prefix of every dimension is stratified: each of the
        // 2^m intervals [k/2^m, (k+1)/2^m) holds exactly one point.
        for d in [0, 1, 2, 7, 100, 1000, MAX_DIMS - 1] {
            for m in [1u32, 4, 10] {
                let mut seen = vec![false; 1 << m];
                for i in 0..1u32 << m {
                    let cell = (sobol(d, i) >> (32 - m)) as usize;
                    assert!(!seen[cell], "dimension {d}, 2^{m} points");
                    seen[cell] = true;
                }
            }
        }
        // Two-dimensional projections of early dimensions are (0, m, 2)-
        // nets for the pair (0, 1): each elementary box of area 2^-m holds
        // one of 2^m points.
        let m = 8;
        for split in 0..=m {
            let mut count = vec![0u32; 1 << m];
            for i in 0..1u32 << m {
                let a = sobol(0, i) >> (32 - split);
                let b = if split == m {
                    0
                } else {
                    sobol(1, i) >> (32 - (m - split))
                };
                count[((a << (m - split)) | b) as usize] += 1;
            }
            assert!(count.iter().all(|&c| c == 1), "split {split}");
        }
    }

    #[test]
    fn scrambling_keeps_stratification_and_depends_on_the_seed() {
        for seed in [0u32, 1, 0xdead_beef] {
            let mut seen = vec![false; 256];
            for i in 0..256 {
                let cell = (scramble(sobol(3, i), seed) >> 24) as usize;
                assert!(!seen[cell]);
                seen[cell] = true;
            }
        }
        assert_ne!(scramble(sobol(3, 5), 1), scramble(sobol(3, 5), 2));
        assert_ne!(scramble_seed(1, 0, 0), scramble_seed(1, 1, 0));
        assert_ne!(scramble_seed(1, 0, 0), scramble_seed(1, 0, 1));
        assert_ne!(scramble_seed(1, 0, 0), scramble_seed(2, 0, 0));
    }

    #[test]
    fn inverse_normal_matches_statrs() {
        let n = Normal::new(0.0, 1.0).unwrap();
        for &p in &[
            1e-20,
            1e-9,
            2.3e-5,
            0.01,
            0.0749,
            0.075,
            0.0751,
            0.2,
            0.5,
            0.6,
            0.9,
            0.925,
            0.999,
            1.0 - 1e-12,
        ] {
            let z = inverse_normal(p);
            let back = n.cdf(z);
            // statrs's own CDF is good to about 1e-10 relative; a wrong
            // coefficient would be off by far more (the published values
            // below check the last digits).
            let tol = 1e-9 * p.min(1.0 - p);
            assert!((back - p).abs() <= tol, "p {p}: z {z}, cdf {back}");
        }
        // Published quantiles, to a few ulp.
        for (p, z) in [
            (0.975, 1.959_963_984_540_054),
            (0.01, -2.326_347_874_040_841),
            (0.3, -0.524_400_512_708_041),
            (1e-9, -5.997_807_015_007_686),
            (1e-20, -9.262_340_089_798_408),
        ] {
            let got = inverse_normal(p);
            assert!((got - z).abs() <= 1e-15 * z.abs(), "p {p}: {got} vs {z}");
        }
        assert_eq!(inverse_normal(0.5), 0.0);
        // The slice form gives the same bits.
        let mut v: Vec<f64> = (0..1000)
            .map(|i| uniform_of(i * 4_294_967 + 12_345))
            .collect();
        let one: Vec<f64> = v.iter().map(|&p| inverse_normal(p)).collect();
        inverse_normal_in_place(&mut v);
        for (a, b) in v.iter().zip(&one) {
            assert_eq!(a.to_bits(), b.to_bits());
        }
        for &p in &[0.1, 0.3, 0.49] {
            assert_eq!(inverse_normal(p), -inverse_normal(1.0 - p));
        }
        // The extremes of the 32-bit cells stay finite.
        assert!(inverse_normal(uniform_of(0)).is_finite());
        assert!(inverse_normal(uniform_of(u32::MAX)).is_finite());
    }

    #[test]
    fn the_bridge_gives_independent_unit_increments() {
        // W = A xi: the covariance A A' must be min(s, t) on 1..=n, so the
        // increments are independent standard normals.
        for n in [1usize, 2, 3, 5, 12, 60] {
            let b = Bridge::new(n);
            assert_eq!(b.nodes.len(), n);
            // Row m of A (over the n inputs).
            let mut a = vec![vec![0.0; n]; n + 1];
            for (j, node) in b.nodes.iter().enumerate() {
                let mut row = vec![0.0; n];
                for k in 0..n {
                    row[k] = node.wl * a[node.l][k] + node.wr * a[node.r][k];
                }
                row[j] += node.sd;
                a[node.m] = row;
            }
            for s in 1..=n {
                for t in 1..=n {
                    let c: f64 = (0..n).map(|k| a[s][k] * a[t][k]).sum();
                    assert!(
                        (c - s.min(t) as f64).abs() < 1e-12,
                        "n {n}: cov({s}, {t}) = {c}"
                    );
                }
            }
        }
    }
}
