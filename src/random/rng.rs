//! [`PhiloxRng`]: Philox4x32-10 blocks read one after another as a
//! `rand_core` generator, for the draws whose count varies (rejection
//! samplers such as `rand_distr`'s gamma and chi-squared, and jump sizes).

use std::convert::Infallible;

use rand::rand_core::{utils, SeedableRng, TryRng};

use super::math::box_muller;
use super::philox::philox4x32_10;

/// A Philox4x32-10 stream: the blocks at counters `c, c + 1, c + 2, ...`
/// where `+ 1` adds to counter word 3 (carrying into word 2 for a
/// generator made by [`SeedableRng::from_seed`]), read word by word
/// (`x0, x1, x2, x3` of each block). `next_u64` is `lo | hi << 32` of the
/// next two words, as `rand_core` prescribes.
///
/// [`Generator::substream`](super::Generator::substream) gives the
/// addressed substream of one draw (its blocks are the sub-indices 0, 1,
/// ... of the tag word): such a generator holds 2^16 blocks (2^18 words,
/// far more than any rejection sampler uses) and panics rather than run
/// into another address's blocks.
///
/// ```
/// use rand::RngExt;
/// use rand_distr::{ChiSquared, Distribution};
/// use revshare::random::{Generator, Kind};
///
/// let g = Generator::new(7);
/// let mut rng = g.substream(12, 3, 0, Kind::Gamma);
/// let w: f64 = ChiSquared::new(5.0).unwrap().sample(&mut rng);
/// assert!(w > 0.0);
/// let u: f64 = rng.random();
/// assert!((0.0..1.0).contains(&u));
/// ```
#[derive(Clone, Debug)]
pub struct PhiloxRng {
    key: [u32; 2],
    /// The counter of the next block.
    ctr: [u32; 4],
    /// The current block and how many of its words were read.
    block: [u32; 4],
    used: usize,
    /// Blocks that may still be computed.
    left: u64,
    /// The sine half of the last Box–Muller pair, not yet returned.
    spare: Option<f64>,
}

impl PhiloxRng {
    /// The stream of `key` from counter `ctr` (word 3 counts the blocks,
    /// carrying into word 2), with no limit.
    pub(crate) fn from_key_counter(key: [u32; 2], ctr: [u32; 4]) -> PhiloxRng {
        PhiloxRng::limited(key, ctr, u64::MAX)
    }

    /// At most `blocks` blocks from `ctr`.
    pub(crate) fn limited(key: [u32; 2], ctr: [u32; 4], blocks: u64) -> PhiloxRng {
        PhiloxRng {
            key,
            ctr,
            block: [0; 4],
            used: 4,
            left: blocks,
            spare: None,
        }
    }

    /// The key.
    pub fn key(&self) -> [u32; 2] {
        self.key
    }

    /// The counter of the next block to be computed.
    pub fn counter(&self) -> [u32; 4] {
        self.ctr
    }

    /// The next standard normal: the cosine half of a Box–Muller pair made
    /// from the next two 32-bit words (radius word first, as in the row
    /// normals), or the sine half of the pair made by the previous call.
    /// On a fresh substream, normals 4j .. 4j + 3 are those of block j.
    pub fn next_normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let a = self.word();
        let b = self.word();
        let (a, b) = box_muller(u64::from(a), u64::from(b));
        self.spare = Some(b);
        a
    }

    #[inline]
    fn word(&mut self) -> u32 {
        if self.used == 4 {
            assert!(
                self.left > 0,
                "revshare::random: substream exhausted (2^16 blocks)"
            );
            self.left -= 1;
            self.block = philox4x32_10(self.ctr, self.key);
            self.ctr[3] = self.ctr[3].wrapping_add(1);
            if self.ctr[3] == 0 {
                self.ctr[2] = self.ctr[2].wrapping_add(1);
            }
            self.used = 0;
        }
        let w = self.block[self.used];
        self.used += 1;
        w
    }

    #[inline]
    fn word64(&mut self) -> u64 {
        let lo = self.word();
        u64::from(lo) | u64::from(self.word()) << 32
    }
}

impl TryRng for PhiloxRng {
    type Error = Infallible;

    #[inline]
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.word())
    }

    #[inline]
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.word64())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        utils::fill_bytes_via_next_word(dst, || self.try_next_u32())
    }
}

impl SeedableRng for PhiloxRng {
    /// The key and the first counter, little-endian: bytes 0..8 the key
    /// words `k0, k1`, bytes 8..24 the counter words `c0..c3`.
    type Seed = [u8; 24];

    fn from_seed(seed: [u8; 24]) -> PhiloxRng {
        let w: [u32; 6] = utils::read_words(&seed);
        PhiloxRng::from_key_counter([w[0], w[1]], [w[2], w[3], w[4], w[5]])
    }
}
