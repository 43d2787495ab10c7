//! Addressable, counter-based random numbers: every draw of a simulation
//! is a pure function of (seed, path, step, series, kind of draw,
//! attempt), computed by Philox4x32-10 (Random123) with no generator
//! state to carry, split or advance. Any path's shocks can be recomputed
//! alone, in any order, on any thread or machine, and a CUDA kernel or a
//! numpy script can reproduce them from this page.
//!
//! The main interface fills one *row* of paths at a time: the draws of
//! one (step, series, kind) for the contiguous paths `first..first + n`
//! ([`Generator::fill_normals`], [`Generator::fill_uniforms`]), computed in
//! vector lanes by a build chosen at run time ([`Level`]: AVX-512,
//! AVX2+FMA or portable, bit-identical to one another). Draws whose count
//! varies (jump sizes, the steps of a rejection sampler for a gamma or
//! chi-squared variate) come from their own addressed substream,
//! [`Generator::substream`], a [`PhiloxRng`] that implements `rand_core`'s
//! `TryRng` (hence `rand::Rng`) and `SeedableRng`, so `rand_distr` can
//! sample from it. [`exp_slice`] is a vectorised `exp` with the same
//! guarantees.
//!
//! # Stream layout
//!
//! **Philox4x32-10** ([`philox4x32_10`]): exactly Random123's
//! `philox4x32_R(10, ctr, key)`: multipliers `0xD2511F53` (word 0) and
//! `0xCD9E8D57` (word 2), Weyl key increments `0x9E3779B9`, `0xBB67AE85`,
//! ten rounds, the key bumped between rounds (not before the first).
//! Checked against Random123's `kat_vectors`.
//!
//! **Key** (two 32-bit words): `k0 = seed & 0xFFFF_FFFF`, `k1 = seed >> 32`
//! for the 64-bit seed.
//!
//! **Counter** (four 32-bit words `c0..c3`). A block serves four paths
//! for normals, two for uniforms, or one path's substream; its *path
//! word* `q` is
//!
//! - normals: `q = p & !0x18` (bits 3 and 4 of the path cleared): block
//!   `q` serves paths `q`, `q + 8`, `q + 16`, `q + 24`;
//! - uniforms: `q = p & !0x8` (bit 3 cleared): block `q` serves `q` and
//!   `q + 8`;
//! - substreams: `q = p`.
//!
//! (Eight consecutive blocks thus fill 32 or 16 consecutive paths, a lane
//! each, with no shuffling in the vector kernels.) Then
//!
//! | word | meaning |
//! |------|---------|
//! | `c0` | `q & 0xFFFF_FFFF` |
//! | `c1` | `q >> 32` |
//! | `c2` | `step` |
//! | `c3` | `shape << 30 \| kind << 27 \| series << 16 \| index` |
//!
//! with `shape` 0 for a row of normals, 1 for a row of uniforms, 2 for a
//! substream (3 reserved); `kind` the 3-bit [`Kind`] code (0 revenue
//! shock, 1 growth shock, 2 jump-count uniform, 3 jump sizes, 4 gamma /
//! chi-squared; 5–7 reserved); `series < 2048`; and `index` 16 bits: for
//! a row, the attempt (0 unless the caller redraws a whole row), for a
//! substream, its block number `j = 0, 1, ...`. The shape bits keep
//! normals, uniforms and substreams of the same address apart: no two
//! draws ever share a block.
//!
//! **Normals** (Box–Muller on 32-bit words): a block `x0, x1, x2, x3` makes
//! four normals, in this order: the pair of `(a, b) = (x0, x1)`, cosine
//! then sine, and the pair of `(a, b) = (x2, x3)`, cosine then sine. Path
//! `p` takes number `(p >> 3) & 3` of its block's four: pair
//! `(p >> 4) & 1`, the sine if bit 3 of `p` is set. For a pair, with
//! `u = (a + 0.5) 2^-32` (in (0, 1), so the log is finite; `|z| <= 6.77`),
//! `r = sqrt(-2 ln u)` and the angle `2 pi b / 2^32`, the normals are
//! `r cos` and `r sin`. The angle is reduced exactly on the integer:
//! `t = (b + 2^29) mod 2^32`, the quarter turn `k = t >> 30`,
//! `n = (t & (2^30 - 1)) - 2^29`, `theta = n * (pi/2 * 2^-30)` (one
//! rounding) in `[-pi/4, pi/4)`; with `s = sin theta`, `c = cos theta`,
//! `(sin, cos)` of the angle are `(s, c)`, `(c, -s)`, `(-s, -c)`,
//! `(-c, s)` for `k = 0, 1, 2, 3`. `ln u` and `s` are fdlibm's
//! polynomials and `c = sqrt(1 - s^2)` (see [`math`]), in plain double
//! arithmetic without fused multiply-add, so every build gives the same
//! bits. A reproduction with
//! any accurate libm (`numpy.log`, CUDA's `log`, `sincospi`) agrees to
//! within a few ulp; for the same bits, port [`math`] operation for
//! operation.
//!
//! **Uniforms** (53-bit, open interval): path `p` takes the word
//! `W = x0 | x1 << 32` if bit 3 of `p` is clear, `W = x2 | x3 << 32` if
//! set, and `u = (2 (W >> 12) + 1) 2^-53`, which lies in
//! `[2^-53, 1 - 2^-53]` and is exact in `f64`.
//!
//! A **substream** ([`PhiloxRng`]) reads its blocks `j = 0, 1, ...` word
//! by word (`x0, x1, x2, x3`); its `next_u64` is `lo | hi << 32` of two
//! consecutive words, and [`PhiloxRng::next_normal`] turns the next two
//! words `(a, b)` into a Box–Muller pair as above (cosine first), so on a
//! fresh substream normals `4j .. 4j + 3` are block `j`'s four, in the
//! order above.
//!
//! A reproduction in Python (plain integers; `math.log`, `math.cos` and
//! `math.sin` give the normals to within a few ulp):
//!
//! ```text
//! M0, M1, W0, W1, MASK = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85, 0xFFFFFFFF
//! def philox(c, k):
//!     c, k = list(c), list(k)
//!     for r in range(10):
//!         if r: k = [(k[0] + W0) & MASK, (k[1] + W1) & MASK]
//!         p0, p1 = M0 * c[0], M1 * c[2]
//!         c = [(p1 >> 32) ^ c[1] ^ k[0], p1 & MASK, (p0 >> 32) ^ c[3] ^ k[1], p0 & MASK]
//!     return c
//! def normal(seed, path, step, series, kind, attempt=0):
//!     q = path & ~0x18
//!     tag = 0 << 30 | kind << 27 | series << 16 | attempt
//!     x = philox([q & MASK, q >> 32, step, tag], [seed & MASK, seed >> 32])
//!     a, b = (x[0], x[1]) if (path >> 4) & 1 == 0 else (x[2], x[3])
//!     r = math.sqrt(-2 * math.log((a + 0.5) * 2.0**-32))
//!     angle = 2 * math.pi * b / 2.0**32
//!     return r * math.cos(angle) if (path >> 3) & 1 == 0 else r * math.sin(angle)
//! def uniform(seed, path, step, series, kind, attempt=0):
//!     q = path & ~0x8
//!     tag = 1 << 30 | kind << 27 | series << 16 | attempt
//!     x = philox([q & MASK, q >> 32, step, tag], [seed & MASK, seed >> 32])
//!     w = x[0] | x[1] << 32 if (path >> 3) & 1 == 0 else x[2] | x[3] << 32
//!     return (2 * (w >> 12) + 1) * 2.0**-53
//! ```
//!
//! # Speed
//!
//! One core of the AMD EPYC (Zen 4) development machine, 4096-value
//! buffers, `cargo bench --bench normals` (ns per value; the machine is
//! shared, so these are the best of repeated runs):
//!
//! | level | normal | uniform | exp |
//! |-------|--------|---------|-----|
//! | AVX-512 | see `benches/normals.rs` | | |

pub mod math;
pub mod philox;

mod kernels;
mod level;
mod rng;

pub use level::Level;
pub use philox::philox4x32_10;
pub use rng::PhiloxRng;

use kernels::RowCtr;
use philox::round_keys;

/// The kind of a draw: the 3-bit code in counter word 3 (bits 27–29).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// The normal of a series' revenue shock (code 0).
    RevenueShock = 0,
    /// The independent normal of a series' growth shock (code 1).
    GrowthShock = 1,
    /// The uniform that decides a step's number of jumps (code 2).
    JumpCount = 2,
    /// The normals of jump sizes, as many as there are jumps (code 3;
    /// usually a substream).
    JumpSize = 3,
    /// The draws of a gamma or chi-squared variate (Student-t tails) by a
    /// rejection sampler (code 4; usually a substream).
    Gamma = 4,
}

impl Kind {
    /// The 3-bit code.
    pub(crate) const fn code(self) -> u32 {
        self as u32
    }
}

/// The shape code (counter word 3, bits 30–31) of a row of normals.
pub(crate) const SHAPE_NORMALS: u32 = 0;
/// The shape code of a row of uniforms.
pub(crate) const SHAPE_UNIFORMS: u32 = 1;
/// The shape code of a substream.
pub(crate) const SHAPE_SUBSTREAM: u32 = 2;
/// Series indices must be below this (11 bits of counter word 3).
pub const MAX_SERIES: u16 = 2048;

/// The key words of a seed: `[seed & 0xFFFF_FFFF, seed >> 32]`.
pub const fn key_of_seed(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

/// Counter word 3 of (shape, kind, series, index).
fn tag(shape: u32, kind: Kind, series: u16, index: u16) -> u32 {
    assert!(series < MAX_SERIES, "series index {series} >= {MAX_SERIES}");
    shape << 30 | kind.code() << 27 | u32::from(series) << 16 | u32::from(index)
}

/// One row of draws: a (step, series, kind, attempt) whose values, one per
/// path, [`Generator::fill_normals`] and [`Generator::fill_uniforms`] give
/// over a range of paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Row {
    /// The time step (counter word 2).
    pub step: u32,
    /// The series index, below [`MAX_SERIES`].
    pub series: u16,
    /// The kind of draw.
    pub kind: Kind,
    /// The attempt: 0, unless the whole row is drawn again (for instance
    /// by a vectorised rejection step).
    pub attempt: u16,
}

impl Row {
    /// The row of (step, series, kind), attempt 0.
    pub fn new(step: u32, series: u16, kind: Kind) -> Row {
        Row {
            step,
            series,
            kind,
            attempt: 0,
        }
    }

    /// The same row at another attempt.
    pub fn with_attempt(self, attempt: u16) -> Row {
        Row { attempt, ..self }
    }

    /// The counter of the block that holds path `path`'s normal (shared
    /// by the four paths `q`, `q + 8`, `q + 16`, `q + 24`, with
    /// `q = path & !0x18`).
    ///
    /// # Panics
    /// If `series >= MAX_SERIES`.
    pub fn normal_counter(&self, path: u64) -> [u32; 4] {
        let q = path & !0x18;
        let t = tag(SHAPE_NORMALS, self.kind, self.series, self.attempt);
        [q as u32, (q >> 32) as u32, self.step, t]
    }

    /// The counter of the block that holds path `path`'s uniform (shared
    /// by the two paths `q` and `q + 8`, with `q = path & !0x8`).
    ///
    /// # Panics
    /// If `series >= MAX_SERIES`.
    pub fn uniform_counter(&self, path: u64) -> [u32; 4] {
        let q = path & !0x8;
        let t = tag(SHAPE_UNIFORMS, self.kind, self.series, self.attempt);
        [q as u32, (q >> 32) as u32, self.step, t]
    }
}

/// The random numbers of one seed: rows of normals and uniforms over
/// ranges of paths, single draws, and substreams, at one [`Level`].
#[derive(Clone, Debug)]
pub struct Generator {
    seed: u64,
    ks: [[u64; 2]; 10],
    level: Level,
}

impl Generator {
    /// The generator of `seed` at the level [`Level::detect`] chooses.
    pub fn new(seed: u64) -> Generator {
        Generator::with_level(seed, Level::detect())
    }

    /// The generator of `seed` at `level` (for tests and benches: every
    /// level gives the same numbers).
    ///
    /// # Panics
    /// If this processor does not support `level`.
    pub fn with_level(seed: u64, level: Level) -> Generator {
        assert!(level.supported(), "{level:?} is not supported here");
        Generator {
            seed,
            ks: round_keys(key_of_seed(seed)),
            level,
        }
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The Philox key, [`key_of_seed`] of the seed.
    pub fn key(&self) -> [u32; 2] {
        key_of_seed(self.seed)
    }

    /// The level the rows are computed at.
    pub fn level(&self) -> Level {
        self.level
    }

    fn row_ctr(&self, row: Row, shape: u32) -> RowCtr {
        RowCtr {
            ks: self.ks,
            c2: u64::from(row.step),
            c3: u64::from(tag(shape, row.kind, row.series, row.attempt)),
        }
    }

    /// Writes the standard normals of `row` for paths
    /// `first..first + out.len()` into `out` (path `first + i` at `out[i]`).
    ///
    /// # Panics
    /// If `row.series >= MAX_SERIES`.
    pub fn fill_normals(&self, row: Row, first: u64, out: &mut [f64]) {
        kernels::normals(self.level, &self.row_ctr(row, SHAPE_NORMALS), first, out);
    }

    /// Writes the open-interval (0, 1) uniforms of `row` for paths
    /// `first..first + out.len()` into `out`.
    ///
    /// # Panics
    /// If `row.series >= MAX_SERIES`.
    pub fn fill_uniforms(&self, row: Row, first: u64, out: &mut [f64]) {
        kernels::uniforms(self.level, &self.row_ctr(row, SHAPE_UNIFORMS), first, out);
    }

    /// The standard normal of `row` for one path (scalar; the same value
    /// as [`Generator::fill_normals`] gives).
    pub fn normal(&self, row: Row, path: u64) -> f64 {
        let x = philox4x32_10(row.normal_counter(path), self.key());
        let h = if path & 0x10 == 0 { 0 } else { 2 };
        let (c, s) = math::box_muller(u64::from(x[h]), u64::from(x[h + 1]));
        if path & 0x8 == 0 {
            c
        } else {
            s
        }
    }

    /// The open-interval uniform of `row` for one path (scalar).
    pub fn uniform(&self, row: Row, path: u64) -> f64 {
        let x = philox4x32_10(row.uniform_counter(path), self.key());
        let h = if path & 0x8 == 0 { 0 } else { 2 };
        math::open_uniform(u64::from(x[h]) | u64::from(x[h + 1]) << 32)
    }

    /// The substream of (path, step, series, kind): the blocks with
    /// counter `[p_lo, p_hi, step, 2 << 30 | kind << 27 | series << 16 | j]`
    /// for `j = 0, 1, ..., 2^16 - 1`, as a `rand_core` generator.
    ///
    /// # Panics
    /// If `series >= MAX_SERIES`.
    pub fn substream(&self, path: u64, step: u32, series: u16, kind: Kind) -> PhiloxRng {
        let t = tag(SHAPE_SUBSTREAM, kind, series, 0);
        PhiloxRng::limited(
            self.key(),
            [path as u32, (path >> 32) as u32, step, t],
            1 << 16,
        )
    }
}

/// e^x in place over a slice, at the level [`Level::detect`] chooses: the
/// polynomial of [`math::exp`] (within about one ulp of `f64::exp`, the
/// same bits on every machine and level), vectorised.
pub fn exp_slice(v: &mut [f64]) {
    kernels::exp(Level::detect(), v);
}

/// [`exp_slice`] at a given level.
///
/// # Panics
/// If this processor does not support `level`.
pub fn exp_slice_at(level: Level, v: &mut [f64]) {
    assert!(level.supported(), "{level:?} is not supported here");
    kernels::exp(level, v);
}
