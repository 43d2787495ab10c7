//! The polynomial kernels behind the normals and [`exp_slice`](super::exp_slice):
//! natural log, sine and cosine of a fraction of a turn, and `exp`, in
//! plain `f64` arithmetic: additions, multiplications, one division (in
//! `ln`), square roots (the Box–Muller radius and the cosine) and integer
//! operations on the bits.
//! No fused multiply-add (Rust never contracts `a * b + c` by itself) and
//! no call to the system maths library, so every build (AVX-512, AVX2,
//! portable, x86-64 or aarch64) gives the same bits; accuracy is about one
//! ulp (two for the cosine; measured in `tests/random.rs`).
//!
//! The log and sine polynomials and the splitting of ln 2 are those of
//! fdlibm (Sun Microsystems, 1993: "Permission to use, copy,
//! modify, and distribute this software is freely granted, provided that
//! this notice is preserved"), evaluated as in its `e_log.c` (in its
//! shorter form) and `k_sin.c`; the cosine is the square root of one less
//! the sine squared; the exponential is a degree-13 Taylor polynomial after
//! the same Cody–Waite reduction.

/// 2^52 as the bits of a double: OR-ing an integer n < 2^52 into the
/// mantissa gives the double 2^52 + n exactly.
const TWO52_BITS: u64 = 0x4330_0000_0000_0000;
/// 2^52.
const TWO52: f64 = 4_503_599_627_370_496.0;
/// 1.5 * 2^52: adding it to a double of magnitude below 2^51 rounds that
/// double to an integer held in the low mantissa bits.
const SHIFTER: f64 = 6_755_399_441_055_744.0;

/// ln 2, high part: 32 significant bits, so `k * LN2_HI` is exact for
/// |k| < 2^21.
const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
/// ln 2 - LN2_HI.
const LN2_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);

// fdlibm e_log.c: ln(1 + f) = 2s + s * R(s^2), s = f / (2 + f).
const LG1: f64 = f64::from_bits(0x3FE5_5555_5555_5593); // 0.6666666666666735
const LG2: f64 = f64::from_bits(0x3FD9_9999_9997_FA04); // 0.3999999999940942
const LG3: f64 = f64::from_bits(0x3FD2_4924_9422_9359); // 0.2857142874366239
const LG4: f64 = f64::from_bits(0x3FCC_71C5_1D8E_78AF); // 0.22222198432149784
const LG5: f64 = f64::from_bits(0x3FC7_4664_96CB_03DE); // 0.1818357216161805
const LG6: f64 = f64::from_bits(0x3FC3_9A09_D078_C69F); // 0.15313837699209373
const LG7: f64 = f64::from_bits(0x3FC2_F112_DF3E_5244); // 0.14798198605116586

// fdlibm k_sin.c, |x| <= pi/4.
const S1: f64 = f64::from_bits(0xBFC5_5555_5555_5549); // -0.16666666666666632
const S2: f64 = f64::from_bits(0x3F81_1111_1110_F8A6); // 0.00833333333332249
const S3: f64 = f64::from_bits(0xBF2A_01A0_19C1_61D5); // -0.0001984126982985795
const S4: f64 = f64::from_bits(0x3EC7_1DE3_57B1_FE7D); // 2.7557313707070068e-06
const S5: f64 = f64::from_bits(0xBE5A_E5E6_8A2B_9CEB); // -2.5050760253406863e-08
const S6: f64 = f64::from_bits(0x3DE5_D93A_5ACF_D57C); // 1.58969099521155e-10

/// The double nearest pi/2, times 2^-30 (exact scaling): the angle of one
/// unit of the 32-bit angle word's reduced part.
const PIO2_2M30: f64 = std::f64::consts::FRAC_PI_2 / 1_073_741_824.0;

/// A 64-bit word to the open-interval uniform `(2 (w >> 12) + 1) 2^-53`,
/// in (0, 1): the top 52 bits of `w`, centred in their cell of width
/// 2^-52. Computed as the double `1 + (w >> 12) 2^-52` minus `1 - 2^-53`
/// (exact).
#[inline(always)]
pub(crate) fn open_uniform(w: u64) -> f64 {
    f64::from_bits(0x3FF0_0000_0000_0000 | (w >> 12)) - (1.0 - f64::EPSILON / 2.0)
}

/// ln(x 2^-e) for a positive normal double x and a small integer e (other
/// inputs: unspecified results); the same bits as `ln_core` of the double
/// `x 2^-e` when that is normal. x = 2^k m with m in [sqrt(1/2), sqrt(2)),
/// found by integer arithmetic on the bits; then fdlibm's
/// `ln(m) = f - s (f - R(s^2))`, f = m - 1, s = f / (2 + f) (the form
/// fdlibm uses for all but the largest |f|; within one ulp of std's `ln`
/// over the whole range in the tests).
#[inline(always)]
fn ln_scaled(x: f64, e: f64) -> f64 {
    // The bits of the double just below sqrt(1/2) (fdlibm's 0x3fe6a09e
    // high word, ARM's OFF): subtracting them leaves k in the exponent
    // field. 1024 is added to k to keep every shift logical (AVX2 has no
    // 64-bit arithmetic shift).
    const OFF: u64 = 0x3FE6_A09E_667F_3BCD;
    // t = x - OFF + 1024 2^52 (as integers): k + 1024 in the exponent
    // field, and m's bits less OFF in the mantissa field.
    let t = x.to_bits().wrapping_add((1024u64 << 52).wrapping_sub(OFF));
    let m = f64::from_bits((t & 0x000F_FFFF_FFFF_FFFF) + OFF);
    let k = f64::from_bits(TWO52_BITS | t >> 52) - (TWO52 + 1024.0 + e);
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * (LG2 + w * (LG4 + w * LG6));
    let t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)));
    let r = t2 + t1;
    k * LN2_HI - ((s * (f - r) - k * LN2_LO) - f)
}

/// ln x for a positive normal double (other inputs: unspecified results).
#[inline(always)]
pub(crate) fn ln_core(x: f64) -> f64 {
    ln_scaled(x, 0.0)
}

/// sin x for |x| <= pi/4 (fdlibm `__kernel_sin` with no tail).
#[inline(always)]
fn sin_kernel(x: f64) -> f64 {
    let z = x * x;
    let v = z * x;
    let r = S2 + z * (S3 + z * (S4 + z * (S5 + z * S6)));
    x + v * (S1 + z * r)
}

/// The sign bit.
const SIGN: u64 = 1 << 63;

/// The angle of a 32-bit word b, a fraction b / 2^32 of a turn, reduced
/// exactly: with t = (b + 2^29) mod 2^32, the quarter turn q = t >> 30
/// (the nearest to the angle) and the remainder theta = n (pi/2) 2^-30,
/// n = (t & (2^30 - 1)) - 2^29, in [-pi/4, pi/4). Returns
/// (sin theta, cos theta, t); [`quadrant`] then rotates by q. The cosine
/// is `sqrt(1 - sin^2)` (at least 1/sqrt(2) here): the square root runs
/// on the divider, which has room beside the log's division and the
/// radius' square root, while a cosine polynomial would add a dozen
/// operations to the vector units that bound the kernel's speed (about
/// 7% of the time per normal on AVX-512). It is within one ulp of std's
/// `cos` of the same angle for all but about one argument in 10^5, and
/// within two for all.
#[inline(always)]
fn reduce_turn32(b: u64) -> (f64, f64, u64) {
    let t = b.wrapping_add(1 << 29);
    let n = f64::from_bits(TWO52_BITS | (t & 0x3FFF_FFFF)) - (TWO52 + 536_870_912.0);
    let theta = n * PIO2_2M30;
    let s = sin_kernel(theta);
    (s, (1.0 - s * s).sqrt(), t)
}

/// Rotates (sin theta, cos theta) by the quarter turns q = (t >> 30) mod 4
/// (bit 30 of t: swap; bit 31: sine negative; bit 31 xor bit 30: cosine
/// negative), multiplied by `r`: `(r sin, r cos)` of the whole angle.
#[inline(always)]
fn quadrant(r: f64, s: f64, c: f64, t: u64) -> (f64, f64) {
    let swap = t & (1 << 30) != 0;
    let (sv, cv) = if swap { (c, s) } else { (s, c) };
    // Bit 31 of t, and bit 31 of t + 2^30 (= bit 31 xor bit 30 of t).
    let sin_sign = (t << 32) & SIGN;
    let cos_sign = (t.wrapping_add(1 << 30) << 32) & SIGN;
    (
        f64::from_bits((r * sv).to_bits() ^ sin_sign),
        f64::from_bits((r * cv).to_bits() ^ cos_sign),
    )
}

/// (sin 2 pi v, cos 2 pi v) for the turn fraction v = b / 2^32 of a 32-bit
/// word `b` (given in a `u64`).
#[inline(always)]
pub(crate) fn sin_cos_turn32(b: u64) -> (f64, f64) {
    let (s, c, t) = reduce_turn32(b);
    quadrant(1.0, s, c, t)
}

/// Box–Muller on two 32-bit words `a` (radius) and `b` (angle), each held
/// in the low half of a `u64` (the high half must be zero): with
/// `u = (a + 0.5) 2^-32` in (0, 1), `r = sqrt(-2 ln u)` and the angle
/// `2 pi b / 2^32`, returns `(r cos, r sin)`.
#[inline(always)]
pub(crate) fn box_muller(a: u64, b: u64) -> (f64, f64) {
    // a + 0.5, exactly: (2^52 + a) - (2^52 - 1/2).
    let x = f64::from_bits(TWO52_BITS | a) - (TWO52 - 0.5);
    let r = (-2.0 * ln_scaled(x, 32.0)).sqrt();
    let (s, c, t) = reduce_turn32(b);
    let (zs, zc) = quadrant(r, s, c, t);
    (zc, zs)
}

/// 1/13!, 1/12!, ..., 1/2!: e^r = 1 + r + r^2 (1/2! + r/3! + ... + r^11/13!).
const EXP_TAYLOR: [f64; 12] = [
    1.0 / 6_227_020_800.0,
    1.0 / 479_001_600.0,
    1.0 / 39_916_800.0,
    1.0 / 3_628_800.0,
    1.0 / 362_880.0,
    1.0 / 40_320.0,
    1.0 / 5_040.0,
    1.0 / 720.0,
    1.0 / 120.0,
    1.0 / 24.0,
    1.0 / 6.0,
    1.0 / 2.0,
];

/// e^x for every double, branch-free: x is clamped to [-746, 710]
/// (beyond which e^x is 0 or infinite; NaN passes through), reduced to
/// r = x - k ln 2 in about [-ln2/2, ln2/2] (Cody–Waite, two parts of
/// ln 2), e^r = 1 + r + r^2 P(r) with P the Taylor polynomial to r^11/13!,
/// and scaled by 2^k as 2^(k >> 1) 2^(k - (k >> 1)) so that subnormal
/// results and k = 1024 need no branch.
#[inline(always)]
pub(crate) fn exp_core(x: f64) -> f64 {
    // The operations are written once, in [`exp_block`].
    let mut v = [x];
    exp_block(&mut v);
    v[0]
}

/// [`exp_core`] of `N` values, stage by stage: each operation is done on
/// all `N` values before the next, so every value gets the same bits as
/// alone (`exp_core` is this with `N = 1`). What changes is the instruction
/// stream: the `N` values' chains of about forty dependent operations
/// (most of them the Horner steps) are interleaved, so that an
/// out-of-order core whose scheduler holds less than one chain (as
/// `exp_core` over a slice, one vector's chain after the other, leaves
/// it) keeps `N / width` chains in flight at every step.
#[inline(always)]
pub(crate) fn exp_block<const N: usize>(v: &mut [f64; N]) {
    const LOG2_E: f64 = std::f64::consts::LOG2_E;
    let mut x = [0.0; N];
    let mut kb = [0u64; N];
    let mut hi = [0.0; N];
    let mut lo = [0.0; N];
    let mut r = [0.0; N];
    for i in 0..N {
        x[i] = v[i].clamp(-746.0, 710.0);
        let t = x[i] * LOG2_E + SHIFTER;
        let kf = t - SHIFTER;
        kb[i] = t
            .to_bits()
            .wrapping_sub(SHIFTER.to_bits())
            .wrapping_add(2048);
        hi[i] = x[i] - kf * LN2_HI;
        lo[i] = kf * LN2_LO;
        r[i] = hi[i] - lo[i];
    }
    let mut p = [EXP_TAYLOR[0]; N];
    for c in &EXP_TAYLOR[1..] {
        for i in 0..N {
            p[i] = c + r[i] * p[i];
        }
    }
    for i in 0..N {
        let y = 1.0 + (hi[i] - (lo[i] - r[i] * r[i] * p[i]));
        let kb1 = kb[i] >> 1;
        let s1 = f64::from_bits(kb1.wrapping_sub(1) << 52);
        let s2 = f64::from_bits(kb[i].wrapping_sub(kb1).wrapping_sub(1) << 52);
        v[i] = y * s1 * s2;
    }
}

/// The natural logarithm by the polynomial kernel behind the normals
/// (fdlibm's): within one ulp of the correctly rounded result for
/// positive normal `x`, the same bits on every machine. Zero, negative,
/// subnormal, infinite and NaN arguments are handled by a slow path (the
/// kernel after scaling subnormals up; -inf, NaN, inf as `f64::ln`).
pub fn ln(x: f64) -> f64 {
    if (f64::MIN_POSITIVE..=f64::MAX).contains(&x) {
        ln_core(x)
    } else if x > 0.0 && x < f64::MIN_POSITIVE {
        // 2^54 x is normal.
        ln_core(x * 18_014_398_509_481_984.0) - 54.0 * LN2_HI - 54.0 * LN2_LO
    } else if x == 0.0 {
        f64::NEG_INFINITY
    } else if x == f64::INFINITY {
        f64::INFINITY
    } else {
        f64::NAN
    }
}

/// `(sin 2 pi v, cos 2 pi v)` for the fraction of a turn `v = b / 2^32`
/// of a 32-bit word, by the kernels behind the normals: exact range
/// reduction on the integer, then on [-pi/4, pi/4] fdlibm's sine
/// polynomial and the cosine as `sqrt(1 - sin^2)`. Absolute error below
/// about 2^-52.
pub fn sin_cos_turns(b: u32) -> (f64, f64) {
    sin_cos_turn32(u64::from(b))
}

/// e^x by the kernel behind [`exp_slice`](super::exp_slice): within about
/// one ulp of the correctly rounded result, the same bits on every
/// machine; 0 below -745.14, infinity above 709.79, NaN for NaN.
pub fn exp(x: f64) -> f64 {
    exp_core(x)
}

/// The open-interval uniform of a 64-bit word, `(2 (w >> 12) + 1) 2^-53`:
/// the mapping behind the row uniforms.
pub fn uniform_of_word(w: u64) -> f64 {
    open_uniform(w)
}

/// The two standard normals of two 32-bit words by Box–Muller, as the rows
/// and substreams make them: `u = (a + 0.5) 2^-32`, `r = sqrt(-2 ln u)`,
/// returns `(r cos 2 pi b / 2^32, r sin 2 pi b / 2^32)`.
pub fn normal_pair(a: u32, b: u32) -> (f64, f64) {
    box_muller(u64::from(a), u64::from(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_block_equals_exp_core_on_every_kind_of_argument() {
        let special = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            709.78,
            709.79,
            710.0,
            1e300,
            f64::INFINITY,
            -745.13,
            -745.14,
            -746.0,
            -1e300,
            f64::NEG_INFINITY,
            f64::NAN,
            f64::MIN_POSITIVE,
            -708.4,
            1e-300,
        ];
        let mut xs: Vec<f64> = special.to_vec();
        xs.extend((0..1000).map(|i| (f64::from(i) - 500.0) * 1.4571));
        xs.resize(xs.len().next_multiple_of(32), 0.5);
        for block in xs.chunks_exact(32) {
            let mut v: [f64; 32] = block.try_into().unwrap();
            exp_block(&mut v);
            for (x, e) in block.iter().zip(v) {
                assert_eq!(e.to_bits(), exp_core(*x).to_bits(), "exp({x})");
            }
        }
    }
}
