//! Philox4x32-10, the counter-based bijection of Salmon, Moraes, Dror and
//! Shaw ("Parallel random numbers: as easy as 1, 2, 3", SC11), exactly as
//! in their Random123 library: a 128-bit counter and a 64-bit key in, 128
//! bits out, ten rounds. [`philox4x32_10`] is the scalar reference; the
//! row kernels run the same rounds over lanes of `u64`
//! (`philox_lane`), which the compiler turns into `vpmuludq` on AVX2 and
//! AVX-512.

/// Multiplier of counter word 0 (`PHILOX_M4x32_0`).
pub const M0: u32 = 0xD251_1F53;
/// Multiplier of counter word 2 (`PHILOX_M4x32_1`).
pub const M1: u32 = 0xCD9E_8D57;
/// Weyl increment of key word 0 per round (`PHILOX_W32_0`, the golden ratio).
pub const W0: u32 = 0x9E37_79B9;
/// Weyl increment of key word 1 per round (`PHILOX_W32_1`, sqrt(3) - 1).
pub const W1: u32 = 0xBB67_AE85;

/// Philox4x32 with 10 rounds: the Random123 function `philox4x32_R(10,
/// ctr, key)`. Each round computes the 64-bit products `M0 * ctr[0]` and
/// `M1 * ctr[2]` and outputs `[hi(M1 ctr2) ^ ctr1 ^ key0, lo(M1 ctr2),
/// hi(M0 ctr0) ^ ctr3 ^ key1, lo(M0 ctr0)]`; the key gains `(W0, W1)`
/// (wrapping) between rounds.
///
/// ```
/// use revshare::random::philox4x32_10;
/// assert_eq!(
///     philox4x32_10([0; 4], [0; 2]),
///     [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]
/// );
/// ```
pub fn philox4x32_10(ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let [mut x0, mut x1, mut x2, mut x3] = ctr;
    let [mut k0, mut k1] = key;
    for round in 0..10 {
        if round > 0 {
            k0 = k0.wrapping_add(W0);
            k1 = k1.wrapping_add(W1);
        }
        let p0 = u64::from(M0) * u64::from(x0);
        let p1 = u64::from(M1) * u64::from(x2);
        (x0, x1, x2, x3) = (
            (p1 >> 32) as u32 ^ x1 ^ k0,
            p1 as u32,
            (p0 >> 32) as u32 ^ x3 ^ k1,
            p0 as u32,
        );
    }
    [x0, x1, x2, x3]
}

/// The ten round keys of `key`, each word widened to `u64`.
#[inline(always)]
pub(crate) fn round_keys(key: [u32; 2]) -> [[u64; 2]; 10] {
    let mut ks = [[0u64; 2]; 10];
    let [mut k0, mut k1] = key;
    for k in ks.iter_mut() {
        *k = [u64::from(k0), u64::from(k1)];
        k0 = k0.wrapping_add(W0);
        k1 = k1.wrapping_add(W1);
    }
    ks
}

/// [`philox4x32_10`] on one lane, each 32-bit word held in the low half of
/// a `u64`. Inputs must have zero high halves; the rounds let garbage
/// collect in the high halves (every value there is only ever multiplied,
/// which reads the low half, or XORed into a word that is), and the
/// outputs are masked. Written this way, the 32 x 32 -> 64-bit products
/// are single `vpmuludq` instructions and no word is ever narrowed.
#[inline(always)]
pub(crate) fn philox_lane(c: [u64; 4], ks: &[[u64; 2]; 10]) -> [u64; 4] {
    const LO: u64 = 0xFFFF_FFFF;
    let [mut x0, mut x1, mut x2, mut x3] = c;
    for k in ks {
        let p0 = (x0 & LO) * u64::from(M0);
        let p1 = (x2 & LO) * u64::from(M1);
        (x0, x1, x2, x3) = ((p1 >> 32) ^ x1 ^ k[0], p1, (p0 >> 32) ^ x3 ^ k[1], p0);
    }
    [x0 & LO, x1 & LO, x2 & LO, x3 & LO]
}
