//! Stage 4 of the pipeline: mergeable summaries of many paths in bounded
//! memory.
//!
//! * `ExactSum`: exact floating-point summation (Shewchuk's algorithm, as
//!   in Python's `math.fsum`), so the sum of batch partials is correctly
//!   rounded and independent of the order in which batches finish, of the
//!   thread count and of how a run is sharded across machines.
//! * [`Sketch`]: a log-linear quantile histogram (DDSketch-like). A value's
//!   bucket is read straight off its IEEE-754 bits (exponent and the top 7
//!   mantissa bits, no logarithm), giving 128 buckets per power of two and a
//!   relative error of at most [`SKETCH_RELATIVE_ACCURACY`] (0.39%) on every
//!   quantile. Negative values and zero are handled; counts merge by
//!   addition.
//! * [`StatAcc`]: one metric's accumulator (count, shifted moment sums, min,
//!   max, sketch, and with `--exact` every value), producing a [`Stat`].
//!
//! Within a batch, sums are plain `f64` additions in a fixed order (the
//! batch's content is fixed by the seed): each slice of values the engine
//! hands over is summed in four interleaved lanes, combined pairwise, and
//! the slices' sums are added in path order; at the end of each batch they
//! are flushed into the exact sums. Moments are accumulated around a fixed
//! shift (the metric's value on the all-shocks-zero path) so that the
//! variance does not suffer cancellation, and is exactly 0 when every path
//! is the same.
//!
//! Moments across the whole finite range: a slice whose largest deviation
//! from the shift lies outside `PLAIN_MOMENTS` (where squares could
//! overflow, or underflow into subnormals, and the plain sums could
//! quietly give a standard deviation of 0) is summed scaled by a power of
//! two chosen from that deviation, into exact sums kept per scale
//! ([`StatAcc::finish`] combines them). Scaling by a power of two is exact,
//! so the result is right to the last bits wherever a double can hold it;
//! every other slice takes the plain path, whose results are unchanged.
//!
//! Grouped errors ([`Grouping`], [`StatAcc::grouped`]): under antithetic or
//! quasi-Monte Carlo sampling the paths are not independent, so the error
//! of a mean is estimated from groups that are: antithetic pairs (the
//! variance of the pair means) or QMC replicates (the spread of the
//! replicate means). A grouped accumulator keeps, besides everything
//! above, exact sums per group structure and, for replicates, one sketch
//! per replicate (for the quantile intervals); `sd`, the quantiles, min
//! and max are those of the paths as before.

use serde::{Deserialize, Serialize};

/// Quantile levels reported in every [`Stat`].
pub const QUANTILES: [f64; 9] = [0.01, 0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95, 0.99];

/// Mantissa bits used for a sketch bucket: 2^7 = 128 buckets per octave.
pub(crate) const SKETCH_MANTISSA_BITS: u32 = 7;

/// Worst-case relative error of a sketch quantile against the exact order
/// statistic of the same rank: (U - L) / (U + L) for the widest bucket
/// [L, U) = [1, 1 + 2^-7), i.e. about 0.39%.
pub const SKETCH_RELATIVE_ACCURACY: f64 = 1.0 / (2.0 * 128.0 + 1.0);

// ---------------------------------------------------------------------------
// Exact summation
// ---------------------------------------------------------------------------

/// An exact sum of `f64` values: a non-overlapping expansion whose value is
/// rounded once, correctly, by [`ExactSum::value`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ExactSum {
    partials: Vec<f64>,
}

impl ExactSum {
    /// Adds `x` exactly.
    pub(crate) fn add(&mut self, mut x: f64) {
        let mut i = 0;
        for j in 0..self.partials.len() {
            let y = self.partials[j];
            let (big, small) = if x.abs() < y.abs() { (y, x) } else { (x, y) };
            let hi = big + small;
            let lo = small - (hi - big);
            // Without a branch (whether `lo` is zero is unpredictable): a
            // zero is written and then overwritten or truncated away.
            self.partials[i] = lo;
            i += usize::from(lo != 0.0);
            x = hi;
        }
        self.partials.truncate(i);
        self.partials.push(x);
    }

    /// Adds every partial of `other`.
    pub(crate) fn merge(&mut self, other: &ExactSum) {
        for &p in &other.partials {
            self.add(p);
        }
    }

    /// Rewrites the expansion in a form that depends only on the exact
    /// value, not on the order of the additions that built it: the
    /// correctly rounded value, then the correctly rounded remainder, and
    /// so on (each step exact). An expansion holding a non-finite partial
    /// becomes its value alone (NaN or an infinity: the sum is lost, and
    /// such an expansion would otherwise grow by one partial per addition).
    pub(crate) fn canonicalize(&mut self) {
        if self.partials.iter().any(|p| !p.is_finite()) {
            self.partials = vec![self.value()];
            return;
        }
        let mut rest = std::mem::take(self);
        let mut terms = Vec::new();
        // Each term is at most half an ulp of the one before: an f64 sum
        // never needs more than about 40.
        for _ in 0..64 {
            let v = rest.value();
            if v == 0.0 {
                break;
            }
            terms.push(v);
            rest.add(-v);
        }
        terms.reverse();
        self.partials = terms;
    }

    /// The correctly rounded sum.
    pub(crate) fn value(&self) -> f64 {
        // The final rounding of CPython's math.fsum (round-half-even across
        // the partials).
        let p = &self.partials;
        let mut n = p.len();
        if n == 0 {
            return 0.0;
        }
        n -= 1;
        let mut hi = p[n];
        let mut lo = 0.0;
        while n > 0 {
            let x = hi;
            n -= 1;
            let y = p[n];
            hi = x + y;
            let yr = hi - x;
            lo = y - yr;
            if lo != 0.0 {
                break;
            }
        }
        if n > 0 && ((lo < 0.0 && p[n - 1] < 0.0) || (lo > 0.0 && p[n - 1] > 0.0)) {
            let y = lo * 2.0;
            let x = hi + y;
            let yr = x - hi;
            if y == yr {
                hi = x;
            }
        }
        hi
    }
}

// ---------------------------------------------------------------------------
// Log-linear sketch
// ---------------------------------------------------------------------------

/// One base-2^16 digit of the counts of a window of bucket keys: the digit
/// of key `offset + i` is `digits[i]`, and 0 outside the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Digits {
    offset: i64,
    digits: Vec<u16>,
}

/// Buckets a new window holds around its first key.
const FIRST_WINDOW: i64 = 32;
/// Buckets a window grows by, beyond the key that made it grow, on the
/// side that needs it: an eighth of an octave. Growing is rare once the
/// body of a distribution is covered (the extremes move out slowly), so a
/// small margin costs little time and leaves few unused buckets at the
/// edges (with a margin of a whole octave, the windows of the base
/// scenario were 16% wider than the keys they hold; with an eighth, 2%).
const GROW_MARGIN: i64 = 16;

impl Digits {
    /// The digit of `key` (0 outside the window).
    #[inline]
    fn get(&self, key: i64) -> u16 {
        let i = key.wrapping_sub(self.offset) as u64;
        if i < self.digits.len() as u64 {
            self.digits[i as usize]
        } else {
            0
        }
    }

    /// The digit of `key`, growing the window to hold it.
    #[inline(always)]
    fn get_mut(&mut self, key: i64) -> &mut u16 {
        let i = key.wrapping_sub(self.offset) as u64;
        if i >= self.digits.len() as u64 {
            self.cover(key, key);
        }
        let i = key.wrapping_sub(self.offset) as usize;
        &mut self.digits[i]
    }

    /// Grows the window, if needed, to hold every key in `lo..=hi`.
    #[inline(always)]
    fn ensure(&mut self, lo: i64, hi: i64) {
        if lo < self.offset || hi >= self.offset + self.digits.len() as i64 {
            self.cover(lo, hi);
        }
    }

    /// Grows the window to hold every key in `lo..=hi`.
    #[cold]
    #[inline(never)]
    fn cover(&mut self, lo: i64, hi: i64) {
        if self.digits.is_empty() {
            // Start with a small window around the first keys (a scenario
            // may have hundreds of thousands of per-step sketches); it grows
            // as values arrive.
            let len = (hi - lo + 1).max(FIRST_WINDOW);
            self.offset = lo - (len - (hi - lo + 1) + 1) / 2;
            self.digits = vec![0; len as usize];
            return;
        }
        let end = self.offset + self.digits.len() as i64;
        if lo >= self.offset && hi < end {
            return;
        }
        let new_lo = if lo < self.offset {
            lo - GROW_MARGIN
        } else {
            self.offset
        };
        let new_end = if hi >= end { hi + 1 + GROW_MARGIN } else { end };
        let mut digits = vec![0; (new_end - new_lo) as usize];
        let start = (self.offset - new_lo) as usize;
        digits[start..start + self.digits.len()].copy_from_slice(&self.digits);
        self.offset = new_lo;
        self.digits = digits;
    }

    /// The first and last keys with a non-zero digit, if any.
    fn nonzero_keys(&self) -> Option<(i64, i64)> {
        let a = self.digits.iter().position(|&d| d != 0)?;
        let b = self.digits.iter().rposition(|&d| d != 0)?;
        Some((self.offset + a as i64, self.offset + b as i64))
    }

    /// Shrinks the window to the keys `lo..=hi` (which hold every non-zero
    /// digit), or to an empty window if `None`.
    fn trim_to(&mut self, keys: Option<(i64, i64)>) {
        let Some((lo, hi)) = keys else {
            *self = Digits::default();
            return;
        };
        let a = (lo - self.offset) as usize;
        let b = (hi - self.offset) as usize;
        self.digits.truncate(b + 1);
        self.digits.drain(..a);
        self.digits.shrink_to_fit();
        self.offset = lo;
    }

    /// Sum of the digits.
    fn sum(&self) -> u64 {
        self.digits.iter().map(|&d| u64::from(d)).sum()
    }
}

/// Counts over a growing window of bucket keys, exact up to `u64::MAX`.
///
/// A count is kept as base-2^16 digits (`low` is digit 0, `high[l - 1]`
/// digit `l`, at most four digits), each digit level over its own window:
/// `low` spans every key recorded, 2 bytes a bucket, and is the only part
/// touched on every value (the per-metric sketches of a run are hundreds of
/// windows that must stay in cache together); `high[0]` spans only the keys
/// whose count reached 2^16, and is touched once per 65,536 values of a
/// bucket, and so on up. Memory depends on the octaves the values span and,
/// by 2 bytes a bucket and digit, on the buckets holding at least 2^16,
/// 2^32, 2^48 values.
///
/// Every key with a non-zero count lies in the window of `low`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Store {
    low: Digits,
    high: Vec<Digits>,
}

/// Adds the digits of `src` to those of `dst` (whose window must hold
/// every non-zero digit of `src`), calling `carry` with the key of each
/// digit that wraps past 2^16.
fn add_digits(dst: &mut Digits, src: &Digits, mut carry: impl FnMut(i64)) {
    let Some((lo, hi)) = src.nonzero_keys() else {
        return;
    };
    dst.cover(lo, hi);
    let from = &src.digits[(lo - src.offset) as usize..=(hi - src.offset) as usize];
    let start = (lo - dst.offset) as usize;
    let to = &mut dst.digits[start..start + from.len()];
    for (i, (a, &b)) in to.iter_mut().zip(from).enumerate() {
        let (sum, wrapped) = a.overflowing_add(b);
        *a = sum;
        if wrapped {
            carry(lo + i as i64);
        }
    }
}

/// Adds 1 to digit `level` (at least 1) of `key` in the digit levels
/// `high` of a [`Store`], carrying upwards.
#[cold]
#[inline(never)]
fn carry(high: &mut Vec<Digits>, key: i64, mut level: usize) {
    loop {
        let c = digit_mut(high, key, level);
        *c = c.wrapping_add(1);
        if *c != 0 {
            return;
        }
        level += 1;
    }
}

/// Digit `level` (at least 1) of `key` in the digit levels `high` of a
/// [`Store`], growing its window.
fn digit_mut(high: &mut Vec<Digits>, key: i64, level: usize) -> &mut u16 {
    assert!(level < 4, "sketch bucket count exceeds u64::MAX");
    add_levels(high, level);
    high[level - 1].get_mut(key)
}

/// Makes sure the digit levels `high` of a [`Store`] reach digit `level`.
/// The list is allocated to its exact length: a growing `Vec` would
/// reserve four levels (128 bytes) for the one that hundreds of sketches
/// need once their counts pass 2^16.
fn add_levels(high: &mut Vec<Digits>, level: usize) {
    if high.len() < level {
        high.reserve_exact(level - high.len());
        high.resize_with(level, Digits::default);
    }
}

impl Store {
    #[inline(always)]
    fn add_one(&mut self, key: i64) {
        let c = self.low.get_mut(key);
        *c = c.wrapping_add(1);
        if *c == 0 {
            carry(&mut self.high, key, 1);
        }
    }

    /// Records the keys of `xs`: positive, finite and normal values
    /// whose keys lie in `lo..=hi`. The window is checked once, for the
    /// whole slice.
    #[inline(always)]
    fn add_positive(&mut self, xs: &[f64], lo: i64, hi: i64) {
        self.low.ensure(lo, hi);
        let offset = self.low.offset;
        let digits = &mut self.low.digits[..];
        let high = &mut self.high;
        let mut add = |x: f64| {
            let key = normal_key(x);
            let c = &mut digits[(key - offset) as usize];
            *c = c.wrapping_add(1);
            if *c == 0 {
                carry(high, key, 1);
            }
        };
        // Unrolled by four (a constant trip count): fewer loop overheads
        // between the increments.
        let mut quads = xs.chunks_exact(4);
        for q in &mut quads {
            q.iter().for_each(|&x| add(x));
        }
        quads.remainder().iter().for_each(|&x| add(x));
    }

    /// Adds `n` to the count of `key`.
    fn add(&mut self, key: i64, n: u64) {
        // Digit 0 even when it is 0: the window of `low` holds every key.
        let c = self.low.get_mut(key);
        let t = u32::from(*c) + (n & 0xFFFF) as u32;
        *c = t as u16;
        let mut carry = t >> 16;
        for level in 1..4 {
            let d = (n >> (16 * level)) as u32 & 0xFFFF;
            if d + carry == 0 {
                if n >> (16 * level) == 0 {
                    return;
                }
                continue;
            }
            let c = digit_mut(&mut self.high, key, level);
            let t = u32::from(*c) + d + carry;
            *c = t as u16;
            carry = t >> 16;
        }
        assert!(carry == 0, "sketch bucket count exceeds u64::MAX");
    }

    /// Count of `key`.
    #[inline]
    fn count(&self, key: i64) -> u64 {
        self.high
            .iter()
            .enumerate()
            .fold(u64::from(self.low.get(key)), |c, (l, d)| {
                c + (u64::from(d.get(key)) << (16 * (l + 1)))
            })
    }

    /// Calls `f(key, count)` on every non-empty bucket, in ascending key
    /// order (descending if `down`), while it returns true; returns
    /// whether every bucket was visited. (A plain loop over the digits:
    /// [`Store::buckets`] costs several times more per bucket, and the
    /// quantiles of a run's hundreds of per-step sketches walk every
    /// bucket.)
    fn walk(&self, down: bool, mut f: impl FnMut(i64, u64) -> bool) -> bool {
        let offset = self.low.offset;
        let digits = &self.low.digits;
        let mut visit = |i: usize, d: u16| {
            let key = offset + i as i64;
            // Every key with a count lies in the window of `low`; with no
            // higher digits, the low digit is the count.
            let c = if self.high.is_empty() {
                u64::from(d)
            } else {
                self.count(key)
            };
            c == 0 || f(key, c)
        };
        if down {
            digits.iter().enumerate().rev().all(|(i, &d)| visit(i, d))
        } else {
            digits.iter().enumerate().all(|(i, &d)| visit(i, d))
        }
    }

    /// (key, count) of every non-empty bucket, ascending.
    fn buckets(&self) -> impl DoubleEndedIterator<Item = (i64, u64)> + '_ {
        let keys = self.low.offset..self.low.offset + self.low.digits.len() as i64;
        keys.map(move |key| (key, self.count(key)))
            .filter(|&(_, c)| c > 0)
    }

    /// Trims every digit level to its non-zero buckets (see
    /// [`Sketch::canonicalize`]).
    fn canonicalize(&mut self) {
        // The window of `low` must keep every key with a count, including
        // counts that are exact multiples of 2^16 (a low digit of 0).
        let keys = self.nonzero_keys();
        for d in &mut self.high {
            let k = d.nonzero_keys();
            d.trim_to(k);
        }
        self.low.trim_to(keys);
        while self.high.last().is_some_and(|d| d.digits.is_empty()) {
            self.high.pop();
        }
        self.high.shrink_to_fit();
    }

    /// The first and last keys with a non-zero count, if any.
    fn nonzero_keys(&self) -> Option<(i64, i64)> {
        // A count that is a multiple of 2^16 has a low digit of 0.
        self.high
            .iter()
            .map(Digits::nonzero_keys)
            .fold(self.low.nonzero_keys(), |keys, k| match (keys, k) {
                (Some((a, b)), Some((c, e))) => Some((a.min(c), b.max(e))),
                (x, y) => x.or(y),
            })
    }

    /// Empties the store, keeping the window of `low` over the keys that
    /// had a count (zeroed) and freeing the levels above: values to come
    /// are likely to fall in the same range, and windows kept that way do
    /// not have to grow again, nor to span more than the keys of recent
    /// values.
    fn clear(&mut self) {
        let keys = self.nonzero_keys();
        self.low.trim_to(keys);
        self.low.digits.fill(0);
        self.high = Vec::new();
    }

    /// Adds the counts of `other`, digit level by digit level: each level
    /// of `other` is added to the same level here in one pass over its
    /// window, carrying into the levels above (exact, like adding each
    /// bucket's count).
    fn merge(&mut self, other: &Store) {
        let Some((lo, hi)) = other.nonzero_keys() else {
            return;
        };
        // One grow for the whole range, not one per key.
        self.low.cover(lo, hi);
        let high = &mut self.high;
        add_digits(&mut self.low, &other.low, |key| carry(high, key, 1));
        let mut carries = Vec::new();
        for (l, digits) in other.high.iter().enumerate() {
            let level = l + 1;
            add_levels(&mut self.high, level);
            add_digits(&mut self.high[level - 1], digits, |key| carries.push(key));
            for key in carries.drain(..) {
                carry(&mut self.high, key, level + 1);
            }
        }
    }

    fn total(&self) -> u64 {
        self.high
            .iter()
            .enumerate()
            .fold(self.low.sum(), |t, (l, d)| t + (d.sum() << (16 * (l + 1))))
    }

    /// Checks the structure of a store read from a file (see
    /// [`StatAcc::check`]) and returns its total count, exactly.
    fn check(&self) -> Result<u128, String> {
        if self.high.len() > 3 {
            return Err(format!(
                "{} digit levels (at most 4 hold a u64 count)",
                self.high.len() + 1
            ));
        }
        let mut total: u128 = 0;
        for (l, d) in std::iter::once(&self.low).chain(&self.high).enumerate() {
            let len = d.digits.len() as i64;
            let end = d.offset.checked_add(len);
            if d.offset < KEY_RANGE.0 || end.is_none_or(|e| e > KEY_RANGE.1 + 1) {
                return Err(format!(
                    "a bucket window {}..{} outside the keys of finite values",
                    d.offset,
                    d.offset.saturating_add(len)
                ));
            }
            if l > 0 {
                if let Some((lo, hi)) = d.nonzero_keys() {
                    let low_end = self.low.offset + self.low.digits.len() as i64;
                    if lo < self.low.offset || hi >= low_end {
                        return Err("a bucket count outside the first digit's window".into());
                    }
                }
            }
            total += u128::from(d.sum()) << (16 * l);
        }
        Ok(total)
    }
}

/// The keys a bucket window may span: those of finite values (the
/// smallest subnormal to the largest double), with the margin windows
/// grow by.
const KEY_RANGE: (i64, i64) = (-51 * 128 - 64, ((2046 << 7) + 127) + 64);

/// The most partials a finite exact sum needs (a non-overlapping expansion
/// of doubles has at most about 40).
const MAX_PARTIALS: usize = 64;

/// A mergeable quantile sketch with relative accuracy
/// [`SKETCH_RELATIVE_ACCURACY`] and memory proportional to the number of
/// octaves the values span, 2 bytes a bucket (plus 2 for each further 16
/// bits of the buckets whose count passes 2^16): it grows with the number
/// of values only as slowly as their extremes and the counts' digits do.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sketch {
    positive: Store,
    negative: Store,
    zeros: u64,
}

/// The bucket key of a positive normal value: its exponent field and the
/// top 7 bits of its mantissa (the hot path of [`Store::add_positive`]).
#[inline(always)]
fn normal_key(abs: f64) -> i64 {
    (abs.to_bits() >> (52 - SKETCH_MANTISSA_BITS)) as i64
}

/// The bucket key of a positive finite value. Subnormals (whose exponent
/// field is 0) get keys below those of normals as if their exponent went
/// on down (key `128 e + f` for `2^(e - 1023) (1 + f / 128)`, `e <= 0`),
/// so that they keep the sketch's relative accuracy.
#[inline(always)]
fn key_of(abs: f64) -> i64 {
    let bits = abs.to_bits();
    if bits >= 1 << 52 {
        return normal_key(abs);
    }
    subnormal_key(bits)
}

#[cold]
#[inline(never)]
fn subnormal_key(bits: u64) -> i64 {
    if bits == 0 {
        return 0;
    }
    // Leading bit p (0..=51): the value is 2^(p - 1074) (1 + fraction).
    let p = 63 - bits.leading_zeros() as i64;
    let normalised = bits << (52 - p);
    let f = ((normalised >> (52 - SKETCH_MANTISSA_BITS)) & 127) as i64;
    (p - 51) * 128 + f
}

/// Independent chains in [`StatAcc::add_slice`].
pub(crate) const LANES: usize = 4;

/// The sum of the lanes, pairwise in a fixed order.
#[inline(always)]
fn sum_lanes(s: [f64; LANES]) -> f64 {
    (s[0] + s[1]) + (s[2] + s[3])
}

/// `m`, the smallest (or largest) non-NaN value of `xs`, or the first
/// value of `xs` equal to it: the only values that compare equal with
/// different bits are 0.0 and -0.0, and a running minimum keeps the first.
#[inline]
fn first_extreme(xs: &[f64], m: f64) -> f64 {
    if m == 0.0 {
        xs.iter().copied().find(|&x| x == 0.0).unwrap_or(m)
    } else {
        m
    }
}

/// The value representing bucket `key`: 2LU/(L+U) minimises the worst
/// relative error over [L, U).
fn value_of(key: i64) -> f64 {
    if key < 128 {
        // A subnormal bucket: the representative of the same bucket in the
        // first octave of normals, scaled down by a power of two.
        let e = key.div_euclid(128);
        let normal = value_of(128 + key.rem_euclid(128));
        return scale_by_power_of_two(normal, (e - 1) as i32);
    }
    let lo = f64::from_bits((key as u64) << (52 - SKETCH_MANTISSA_BITS));
    let hi = f64::from_bits(((key + 1) as u64) << (52 - SKETCH_MANTISSA_BITS));
    if !hi.is_finite() {
        return lo;
    }
    2.0 * lo * (hi / (lo + hi))
}

impl Sketch {
    /// Records one value (finite values only; callers check finiteness).
    #[inline(always)]
    pub fn add(&mut self, x: f64) {
        if x > 0.0 {
            self.positive.add_one(key_of(x));
        } else if x < 0.0 {
            self.negative.add_one(key_of(-x));
        } else {
            self.zeros += 1;
        }
    }

    /// Records `n` copies of the finite value `x`.
    pub(crate) fn add_n(&mut self, x: f64, n: u64) {
        if x > 0.0 {
            self.positive.add(key_of(x), n);
        } else if x < 0.0 {
            self.negative.add(key_of(-x), n);
        } else {
            self.zeros += n;
        }
    }

    /// Trims the bucket windows to the non-zero buckets, so that two
    /// sketches with the same counts have the same representation however
    /// their values arrived (windows grow with the order of arrival).
    pub(crate) fn canonicalize(&mut self) {
        self.positive.canonicalize();
        self.negative.canonicalize();
    }

    /// Removes every value, keeping each sign's bucket window over the
    /// keys that had a count (see [`StatAcc::clear`]).
    pub(crate) fn clear(&mut self) {
        self.positive.clear();
        self.negative.clear();
        self.zeros = 0;
    }

    /// Adds the counts of `other`.
    pub fn merge(&mut self, other: &Sketch) {
        self.positive.merge(&other.positive);
        self.negative.merge(&other.negative);
        self.zeros += other.zeros;
    }

    /// Number of values recorded.
    pub fn count(&self) -> u64 {
        self.positive.total() + self.negative.total() + self.zeros
    }

    /// Checks the structure of a sketch read from a file and returns its
    /// count, exactly (see [`StatAcc::check`]).
    fn check(&self) -> Result<u128, String> {
        let pos = self.positive.check().map_err(|e| format!("sketch: {e}"))?;
        let neg = self.negative.check().map_err(|e| format!("sketch: {e}"))?;
        Ok(pos + neg + u128::from(self.zeros))
    }

    /// Estimates of the quantiles at `levels` (ascending), each the
    /// representative of the bucket holding the order statistic of rank
    /// `ceil(q * N)` (1-based, at least 1).
    pub fn quantiles(&self, levels: &[f64]) -> Vec<f64> {
        let n = self.count();
        let mut out = Vec::with_capacity(levels.len());
        if n == 0 {
            out.resize(levels.len(), f64::NAN);
            return out;
        }
        // Walk the buckets in ascending value order: each level's answer
        // is the first bucket whose running count reaches its rank. Only
        // the buckets reported are turned into values.
        let ranks: Vec<u64> = levels.iter().map(|&q| rank_of(q, n)).collect();
        let Some(&first) = ranks.first() else {
            return out;
        };
        let (mut seen, mut next) = (0u64, first);
        let mut bucket = |b: Bucket, c: u64| {
            seen += c;
            if seen < next {
                return true;
            }
            while out.len() < ranks.len() && seen >= ranks[out.len()] {
                out.push(b.value());
            }
            next = ranks.get(out.len()).copied().unwrap_or(u64::MAX);
            out.len() < ranks.len()
        };
        let more = self
            .negative
            .walk(true, |k, c| bucket(Bucket::Negative(k), c))
            && (self.zeros == 0 || bucket(Bucket::Zero, self.zeros))
            && self
                .positive
                .walk(false, |k, c| bucket(Bucket::Positive(k), c));
        debug_assert!(!more, "every rank is at most the count");
        out.resize(levels.len(), f64::NAN);
        out
    }
}

impl Sketch {
    /// Counts of the recorded values in the bins delimited by `edges`
    /// (strictly increasing, usually equal-width; `edges.len() - 1` bins,
    /// each `[edges[i], edges[i + 1])`, the last one closed on the right).
    ///
    /// A sketch does not keep values, only bucket counts: each bucket's
    /// whole count is assigned to the bin holding the bucket's
    /// representative value (the value its quantiles report). A bin
    /// narrower than a bucket (up to 0.78% of the value), or edges that cut
    /// through buckets, make bins alternate between too full and too empty;
    /// [`StatAcc::histogram`] aligns its edges to buckets to avoid that. Use
    /// [`StatAcc::bin_counts`] to bin exact values when they were kept.
    pub fn bin_counts(&self, edges: &[f64]) -> BinCounts {
        let mut out = BinCounts::new(edges);
        for (x, c) in self.buckets() {
            out.add(edges, x, c);
        }
        out
    }

    /// Number of recorded values whose bucket's representative is at most
    /// that of the bucket holding `x` (so a value in `x`'s bucket counts).
    fn count_at_most(&self, x: f64) -> u64 {
        let rep = if x > 0.0 {
            value_of(key_of(x))
        } else if x < 0.0 {
            -value_of(key_of(-x))
        } else {
            0.0
        };
        self.buckets()
            .take_while(|&(v, _)| v <= rep)
            .map(|(_, c)| c)
            .sum()
    }

    /// Every non-empty bucket as (representative value, count), in
    /// ascending value order.
    fn buckets(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        // Negatives from the largest magnitude down, then zeros, then
        // positives.
        let neg = self
            .negative
            .buckets()
            .rev()
            .map(|(key, c)| (-value_of(key), c));
        let zero = std::iter::once((0.0, self.zeros));
        let pos = self.positive.buckets().map(|(key, c)| (value_of(key), c));
        neg.chain(zero).chain(pos).filter(|&(_, c)| c > 0)
    }
}

/// A bucket of a [`Sketch`]: a key of either sign, or the zeros.
#[derive(Clone, Copy)]
enum Bucket {
    Negative(i64),
    Zero,
    Positive(i64),
}

impl Bucket {
    /// The bucket's representative value.
    fn value(self) -> f64 {
        match self {
            Bucket::Negative(key) => -value_of(key),
            Bucket::Zero => 0.0,
            Bucket::Positive(key) => value_of(key),
        }
    }
}

/// Counts of values in bins (see [`Sketch::bin_counts`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BinCounts {
    /// Values per bin, `edges.len() - 1` entries.
    pub counts: Vec<u64>,
    /// Values below the first edge.
    pub below: u64,
    /// Values above the last edge.
    pub above: u64,
}

impl BinCounts {
    fn new(edges: &[f64]) -> BinCounts {
        BinCounts {
            counts: vec![0; edges.len().saturating_sub(1)],
            below: 0,
            above: 0,
        }
    }

    /// Adds `n` values equal to `x` (NaN counts as above, like +inf).
    fn add(&mut self, edges: &[f64], x: f64, n: u64) {
        let (Some(&lo), Some(&hi)) = (edges.first(), edges.last()) else {
            return;
        };
        let last = self.counts.len();
        if x < lo {
            self.below += n;
        } else if last == 0 || x > hi || x.is_nan() {
            self.above += n;
        } else {
            // The bin i with edges[i] <= x < edges[i + 1] (x == hi: the last).
            let i = edges.partition_point(|&e| e <= x).saturating_sub(1);
            self.counts[i.min(last - 1)] += n;
        }
    }

    /// Values counted in a bin, below or above.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum::<u64>() + self.below + self.above
    }
}

/// A histogram over equal-width bins (see [`StatAcc::histogram`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Histogram {
    /// Bin edges, strictly increasing and equally spaced.
    pub edges: Vec<f64>,
    /// Values per bin and outside the edges.
    pub bins: BinCounts,
}

/// Width of the widest sketch bucket among values of magnitude up to
/// `top`: `2^(e - 7)` for `top` in `[2^e, 2^(e + 1))`. `None` for zero,
/// subnormal or non-finite `top`.
fn widest_bucket(top: f64) -> Option<f64> {
    if !top.is_normal() {
        return None;
    }
    let e = ((top.to_bits() >> 52) & 0x7ff) as i32 - 1023;
    let w = 2f64.powi(e - SKETCH_MANTISSA_BITS as i32);
    w.is_normal().then_some(w)
}

/// `bins` equal-width bins over `[lo, hi]`: `bins + 1` edges, the last one
/// exactly `hi`. Empty if the range is not finite and increasing or
/// `bins` is 0.
pub(crate) fn equal_width_edges(lo: f64, hi: f64, bins: usize) -> Vec<f64> {
    if bins == 0 || !(lo.is_finite() && hi.is_finite() && lo < hi) {
        return Vec::new();
    }
    let w = (hi - lo) / bins as f64;
    let mut e: Vec<f64> = (0..bins).map(|i| lo + w * i as f64).collect();
    e.push(hi);
    e
}

/// The 1-based rank of the q-quantile among n values: ceil(q n), at least 1.
pub(crate) fn rank_of(q: f64, n: u64) -> u64 {
    ((q * n as f64).ceil() as u64).clamp(1, n)
}

/// Exact quantiles of sorted values with the same rank rule as the sketch.
pub(crate) fn exact_quantiles(sorted: &[f64], levels: &[f64]) -> Vec<f64> {
    levels
        .iter()
        .map(|&q| sorted[(rank_of(q, sorted.len() as u64) - 1) as usize])
        .collect()
}

// ---------------------------------------------------------------------------
// Scaled moments
// ---------------------------------------------------------------------------

/// The range of the largest deviation from the shift in which a slice's
/// moments are summed plainly: `[2^-400, 2^400]` (or every deviation 0).
/// Within it no square overflows, even summed over 2^64 paths (at most
/// 2^864), and squares that underflow are below 2^-1022 while the largest
/// is at least 2^-800: their loss is far below one rounding of the sum.
/// Outside it, the slice is summed scaled (see the module docs).
pub(crate) const PLAIN_MOMENTS: (f64, f64) = (
    f64::from_bits((1023 - 400) << 52),
    f64::from_bits((1023 + 400) << 52),
);

/// Scale exponents of [`ScaledMoments`] are multiples of this: a slice
/// whose largest deviation is `m` in `[2^e, 2^(e + 1))` is summed as
/// `d * 2^-g` with `g = 64 * floor(e / 64)`, so the scaled deviations are
/// below 2^64 (squares below 2^128) and the largest at least 1.
const SCALE_STEP: i32 = 64;

/// Whether a slice whose largest deviation from the shift is `m` is
/// summed scaled: `m` finite, non-zero and outside [`PLAIN_MOMENTS`].
#[inline(always)]
fn needs_scaling(m: f64) -> bool {
    m.is_finite() && m != 0.0 && !(PLAIN_MOMENTS.0..=PLAIN_MOMENTS.1).contains(&m)
}

/// The binary exponent `e` of a finite non-zero `x`: `2^e <= |x| < 2^(e + 1)`
/// (subnormals included).
fn exponent_of(x: f64) -> i32 {
    let bits = x.abs().to_bits();
    let biased = (bits >> 52) as i32;
    if biased == 0 {
        // Subnormal: 2^-1074 times the mantissa.
        let m = bits & ((1 << 52) - 1);
        -1074 + (63 - m.leading_zeros() as i32)
    } else {
        biased - 1023
    }
}

/// The scale exponent of a slice whose largest deviation is `m`.
fn scale_group(m: f64) -> i32 {
    exponent_of(m).div_euclid(SCALE_STEP) * SCALE_STEP
}

/// `x * 2^k`, in steps that stay within the range of a double: exact
/// unless the result overflows or is subnormal.
fn scale_by_power_of_two(mut x: f64, mut k: i32) -> f64 {
    while k != 0 && x != 0.0 && x.is_finite() {
        let step = k.clamp(-1000, 1000);
        x *= f64::from_bits(((1023 + step) as u64) << 52);
        k -= step;
    }
    x
}

/// The moment sums of the slices summed scaled by `2^-exp`: the sum of
/// the scaled deviations `d * 2^-exp` and of their squares, exact.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct ScaledMoments {
    /// The scale exponent (a multiple of 64).
    exp: i32,
    /// Sum of `d * 2^-exp`.
    sum: ExactSum,
    /// Sum of `(d * 2^-exp)^2`.
    sumsq: ExactSum,
}

/// The sums of `group` in `groups` (kept sorted by exponent, so that equal
/// contents have equal representations).
fn group_mut(groups: &mut Vec<ScaledMoments>, exp: i32) -> &mut ScaledMoments {
    let i = match groups.binary_search_by_key(&exp, |g| g.exp) {
        Ok(i) => i,
        Err(i) => {
            groups.insert(
                i,
                ScaledMoments {
                    exp,
                    ..Default::default()
                },
            );
            i
        }
    };
    &mut groups[i]
}

// ---------------------------------------------------------------------------
// Grouped errors
// ---------------------------------------------------------------------------

/// How the values of a grouped accumulator form independent groups, by
/// their position in each slice handed to [`StatAcc::add_slice`] (slices
/// start at a group boundary and hold whole groups).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Grouping {
    /// Antithetic pairs: values 2m and 2m + 1 of a slice.
    Pairs,
    /// Replicates: value i of a slice belongs to replicate i mod R (a
    /// count of 2..=1024).
    Replicates(u32),
}

/// Student's t quantile t_{15, 0.975}, for the intervals from 16 QMC
/// replicates: the quantile and probability intervals, and the mean
/// interval where [`replicate_mean_interval`]'s bootstrap-t is unbounded
/// (statrs gives 2.131449545559323; a constant so that every machine
/// writes the same bits; checked against statrs in a test).
pub const T15_975: f64 = 2.131_449_545_559_323;

/// The normal quantile z_{0.975} of every other interval.
const Z975: f64 = 1.96;

/// The two-sided 95% quantile of an interval estimated from independent
/// groups: z (1.96) without groups or for pairs (many of them), Student's
/// t with R - 1 degrees of freedom for R replicates (used for their
/// quantile and probability intervals, and as the fallback of
/// [`replicate_mean_interval`]).
pub fn group_quantile(grouping: Option<Grouping>) -> f64 {
    match grouping {
        Some(Grouping::Replicates(16)) => T15_975,
        Some(Grouping::Replicates(r)) => {
            use statrs::distribution::{ContinuousCDF, StudentsT};
            StudentsT::new(0.0, 1.0, f64::from(r) - 1.0)
                .expect("at least 2 replicates")
                .inverse_cdf(0.975)
        }
        _ => Z975,
    }
}

/// The group sums of a grouped accumulator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Groups {
    grouping: Grouping,
    /// This batch's plain sums: for pairs `[sum of s^2, sum of s]` over the
    /// pairs' summed deviations `s = (x_a - shift) + (x_b - shift)`; for
    /// replicates the sum of the deviations of each replicate.
    batch: Vec<f64>,
    /// The exact sums of the batches' `batch`.
    sums: Vec<ExactSum>,
    /// Replicates: each replicate's sketch (empty for pairs).
    sketches: Vec<Sketch>,
}

impl Groups {
    fn new(grouping: Grouping) -> Groups {
        let (n, sketches) = match grouping {
            Grouping::Pairs => (2, 0),
            Grouping::Replicates(r) => (r as usize, r as usize),
        };
        Groups {
            grouping,
            batch: vec![0.0; n],
            sums: vec![ExactSum::default(); n],
            sketches: vec![Sketch::default(); sketches],
        }
    }

    /// The group sums of a slice (whole groups, starting at a boundary).
    #[inline(always)]
    fn add_slice(&mut self, xs: &[f64], shift: f64) {
        match self.grouping {
            Grouping::Pairs => {
                assert!(
                    xs.len().is_multiple_of(2),
                    "antithetic slices hold whole pairs"
                );
                let (mut q, mut t) = ([0.0; LANES], [0.0; LANES]);
                for (m, pair) in xs.chunks_exact(2).enumerate() {
                    let s = (pair[0] - shift) + (pair[1] - shift);
                    q[m % LANES] += s * s;
                    t[m % LANES] += s;
                }
                self.batch[0] += sum_lanes(q);
                self.batch[1] += sum_lanes(t);
            }
            Grouping::Replicates(r) => {
                let r = r as usize;
                assert!(
                    xs.len().is_multiple_of(r),
                    "QMC slices hold whole groups of replicates"
                );
                for group in xs.chunks_exact(r) {
                    for ((b, sk), &x) in self.batch.iter_mut().zip(&mut self.sketches).zip(group) {
                        *b += x - shift;
                        if x.is_finite() {
                            sk.add(x);
                        }
                    }
                }
            }
        }
    }

    fn end_batch(&mut self) {
        for (s, b) in self.sums.iter_mut().zip(&mut self.batch) {
            s.add(*b);
            *b = 0.0;
        }
    }

    fn merge(&mut self, other: &Groups) {
        debug_assert_eq!(self.grouping, other.grouping);
        for (a, b) in self.sums.iter_mut().zip(&other.sums) {
            a.merge(b);
        }
        for (a, b) in self.sketches.iter_mut().zip(&other.sketches) {
            a.merge(b);
        }
    }

    fn canonicalize(&mut self) {
        self.sums.iter_mut().for_each(ExactSum::canonicalize);
        self.sketches.iter_mut().for_each(Sketch::canonicalize);
    }

    fn clear(&mut self) {
        self.sums.iter_mut().for_each(|s| s.partials.clear());
        self.sketches.iter_mut().for_each(Sketch::clear);
    }

    /// See [`StatAcc::check`].
    fn check(&self, count: u64) -> Result<(), String> {
        let (n, sketches) = match self.grouping {
            Grouping::Pairs => (2, 0),
            Grouping::Replicates(r) if (2..=1024).contains(&r) => (r as usize, r as usize),
            Grouping::Replicates(r) => return Err(format!("{r} replicates")),
        };
        if self.batch.len() != n || self.sums.len() != n || self.sketches.len() != sketches {
            return Err("group sums of the wrong shape".into());
        }
        if self.batch.iter().any(|&b| b != 0.0) {
            return Err("a batch of group sums that was not ended".into());
        }
        if self.sums.iter().any(|e| e.partials.len() > MAX_PARTIALS) {
            return Err("a group sum of too many partials".into());
        }
        let mut total = 0u128;
        for s in &self.sketches {
            total += s.check()?;
        }
        if total > u128::from(count) {
            return Err("replicate sketches hold more values than the accumulator".into());
        }
        Ok(())
    }

    /// The standard error of the mean of `count` values from the groups.
    fn se(&self, count: u64) -> f64 {
        match self.grouping {
            Grouping::Pairs => {
                let m = (count / 2) as f64;
                if count < 4 {
                    return 0.0;
                }
                let (q, t) = (self.sums[0].value(), self.sums[1].value());
                // Pair means y = shift + s / 2: sum (y - shift)^2 = q / 4,
                // sum (y - shift) = t / 2.
                let v = (q - t * (t / m)) / (4.0 * (m - 1.0));
                if v.is_nan() {
                    v
                } else {
                    (v.max(0.0) / m).sqrt()
                }
            }
            Grouping::Replicates(_) => replicate_se(&self.replicate_deviations(count)),
        }
    }

    /// Replicates: each replicate's mean deviation from the shift (its
    /// exact sum over its `count / R` values).
    fn replicate_deviations(&self, count: u64) -> Vec<f64> {
        let Grouping::Replicates(r) = self.grouping else {
            return Vec::new();
        };
        let per = (count / u64::from(r)) as f64;
        self.sums.iter().map(|s| s.value() / per).collect()
    }

    /// For replicates: the half-width, in probability, of the 95% interval
    /// of the empirical CDF at `x` (Woodruff's interval for a quantile: the
    /// spread of the replicates' CDFs at the pooled estimate).
    fn cdf_half_width(&self, count: u64, x: f64, t: f64) -> f64 {
        let Grouping::Replicates(r) = self.grouping else {
            return 0.0;
        };
        let per = (count / u64::from(r)) as f64;
        let cdfs: Vec<f64> = self
            .sketches
            .iter()
            .map(|s| s.count_at_most(x) as f64 / per)
            .collect();
        t * replicate_se(&cdfs)
    }
}

/// The standard error of the average of independent replicate estimates:
/// their sample standard deviation over sqrt(R) (0 for fewer than two).
pub fn replicate_se(estimates: &[f64]) -> f64 {
    let r = estimates.len() as f64;
    if estimates.len() < 2 {
        return 0.0;
    }
    let mean = estimates.iter().sum::<f64>() / r;
    let ss: f64 = estimates.iter().map(|a| (a - mean) * (a - mean)).sum();
    (ss / (r - 1.0) / r).sqrt()
}

/// Resamples drawn by [`replicate_mean_interval`]'s bootstrap.
pub const BOOTSTRAP_RESAMPLES: usize = 999;

/// The seed of [`replicate_mean_interval`]'s fixed resampling design.
const BOOTSTRAP_SEED: u64 = 0x7265_7673_6861_7265; // "revshare"

/// The 95% bootstrap-t interval (Efron 1981; Hall 1992, *The Bootstrap
/// and Edgeworth Expansion*, §3.6) of a mean estimated by `centre`, from
/// independent replicate estimates `estimates` (R of them, here given as
/// deviations from any common shift, which cancels) whose average is the
/// estimate: `centre - t*_{0.975} se` to `centre - t*_{0.025} se`, with
/// `se = s / sqrt(R)` ([`replicate_se`]) and `t*` the order statistics
/// 25 and 975 of the studentised means `(Ybar* - Ybar) / se*` of
/// [`BOOTSTRAP_RESAMPLES`] resamples (R draws with replacement each).
///
/// Unlike Student's t it adapts to the skewness of the replicate
/// estimates, which for QMC replicates of a heavy-tailed terminal quantity
/// can be large (docs/precision.md, "Measured: coverage"); it is second-order
/// accurate. The resampling indices are a fixed design (SplitMix64 from a
/// constant seed), the same for every figure and run: the interval is a
/// deterministic function of the estimates, so it has the same bits on any
/// thread count, shard split or SIMD level. Zero width where the estimates
/// do not vary; fewer than two estimates: `[centre, centre]`; where more
/// than 2.5% of the resamples have no spread (so few distinct estimates
/// that the bootstrap-t is unbounded), Student's t with R - 1 degrees of
/// freedom.
pub fn replicate_mean_interval(centre: f64, estimates: &[f64]) -> [f64; 2] {
    let r = estimates.len();
    let se = replicate_se(estimates);
    if !se.is_finite() {
        // NaN or infinite values: as Student's t would give.
        return [centre - se, centre + se];
    }
    if r < 2 || se == 0.0 {
        return [centre, centre];
    }
    let rf = r as f64;
    let mean = estimates.iter().sum::<f64>() / rf;
    let mut rng = <rand_xoshiro::SplitMix64 as rand::SeedableRng>::seed_from_u64(BOOTSTRAP_SEED);
    let mut next = || rand::Rng::next_u64(&mut rng);
    let mut ts = Vec::with_capacity(BOOTSTRAP_RESAMPLES);
    let mut sample = vec![0.0; r];
    for _ in 0..BOOTSTRAP_RESAMPLES {
        for y in sample.iter_mut() {
            // Lemire's multiply-shift: exactly uniform when R is a power
            // of two, within 2^-32 otherwise.
            let i = (((next() >> 32) * r as u64) >> 32) as usize;
            *y = estimates[i];
        }
        let m = sample.iter().sum::<f64>() / rf;
        let se_b = replicate_se(&sample);
        let d = m - mean;
        ts.push(if se_b > 0.0 {
            d / se_b
        } else if d == 0.0 {
            0.0
        } else {
            d.signum() * f64::INFINITY
        });
    }
    ts.sort_by(f64::total_cmp);
    // Order statistics (B + 1) * 0.025 and (B + 1) * 0.975 (1-based).
    let lo = ts[(BOOTSTRAP_RESAMPLES + 1) / 40 - 1];
    let hi = ts[(BOOTSTRAP_RESAMPLES + 1) * 39 / 40 - 1];
    if lo.is_finite() && hi.is_finite() {
        [centre - hi * se, centre - lo * se]
    } else {
        // Over 2.5% of resamples without spread (a few distinct values,
        // e.g. a metric that is mostly one constant): the bootstrap-t is
        // unbounded; Student's t instead.
        let t = group_quantile(u32::try_from(r).ok().map(Grouping::Replicates));
        [centre - t * se, centre + t * se]
    }
}

/// The 95% interval of a proportion `p` whose standard error, from
/// independent groups, is `se`: Wilson's score interval at the effective
/// sample size `p (1 - p) / se^2` (the design-effect form used for
/// clustered samples), with quantile `z`. Where that size is undefined
/// (p is 0 or 1, or se is 0), `fallback` trials.
pub fn wilson_effective(p: f64, se: f64, z: f64, fallback: f64) -> [f64; 2] {
    let n = if p > 0.0 && p < 1.0 && se > 0.0 {
        p * (1.0 - p) / (se * se)
    } else {
        fallback
    };
    if n.is_nan() || n <= 0.0 {
        return [0.0, 1.0];
    }
    wilson(p, n, z)
}

/// The Wilson score interval of a share `p` of `n` (> 0) trials at normal
/// quantile `z`, clamped to [0, 1]: the one formula behind
/// [`wilson_effective`], [`wilson95`] and the studies' 90% interval.
pub(crate) fn wilson(p: f64, n: f64, z: f64) -> [f64; 2] {
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denom;
    [(centre - half).max(0.0), (centre + half).min(1.0)]
}

// ---------------------------------------------------------------------------
// Stat
// ---------------------------------------------------------------------------

/// The summary of one metric over paths (MODEL.md §6).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (N - 1 denominator; 0 for one path).
    pub sd: f64,
    /// Standard error of the mean: sd / sqrt(N) under plain Monte Carlo;
    /// from the pair means (antithetic) or the replicate means (qmc)
    /// otherwise (see [`Grouping`]).
    pub se: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// 1st percentile.
    pub p1: f64,
    /// 5th percentile.
    pub p5: f64,
    /// 10th percentile.
    pub p10: f64,
    /// 25th percentile.
    pub p25: f64,
    /// Median.
    pub p50: f64,
    /// 75th percentile.
    pub p75: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 95% confidence interval of the mean, `[mean − 1.96 se, mean + 1.96
    /// se]` (normal approximation; added in schema 1, see docs/MODEL.md);
    /// under qmc the bootstrap-t interval of the replicate means
    /// ([`replicate_mean_interval`]: a fixed resampling design, Student's
    /// t with R − 1 degrees of freedom where the bootstrap is unbounded).
    pub mean_ci95: [f64; 2],
    /// Distribution-free 95% confidence intervals of the quantiles.
    pub quantile_ci95: QuantileIntervals,
}

/// Distribution-free 95% confidence intervals of the nine reported
/// quantiles: for level q over N values, the order statistics of ranks
/// `floor(Nq − 1.96·sqrt(Nq(1−q)))` and `ceil(Nq + 1.96·sqrt(Nq(1−q))) + 1`
/// (clamped to 1..=N), the normal approximation of the binomial interval
/// for the q-quantile. Read from the same sketch as the quantile itself,
/// so each end also carries the sketch's relative error (at most 0.39%).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QuantileIntervals {
    /// Interval of p1.
    pub p1: [f64; 2],
    /// Interval of p5.
    pub p5: [f64; 2],
    /// Interval of p10.
    pub p10: [f64; 2],
    /// Interval of p25.
    pub p25: [f64; 2],
    /// Interval of p50.
    pub p50: [f64; 2],
    /// Interval of p75.
    pub p75: [f64; 2],
    /// Interval of p90.
    pub p90: [f64; 2],
    /// Interval of p95.
    pub p95: [f64; 2],
    /// Interval of p99.
    pub p99: [f64; 2],
}

impl QuantileIntervals {
    /// The intervals in the order of [`QUANTILES`].
    pub fn all(&self) -> [[f64; 2]; 9] {
        [
            self.p1, self.p5, self.p10, self.p25, self.p50, self.p75, self.p90, self.p95, self.p99,
        ]
    }

    fn from_array(a: [[f64; 2]; 9]) -> QuantileIntervals {
        QuantileIntervals {
            p1: a[0],
            p5: a[1],
            p10: a[2],
            p25: a[3],
            p50: a[4],
            p75: a[5],
            p90: a[6],
            p95: a[7],
            p99: a[8],
        }
    }
}

/// The Wilson score 95% confidence interval of a proportion: `k`
/// successes in `n` trials (Wilson 1927; z = 1.96). `[0, 1]` when n is 0.
pub(crate) fn wilson95(k: u64, n: u64) -> [f64; 2] {
    if n == 0 {
        return [0.0, 1.0];
    }
    wilson(k as f64 / n as f64, n as f64, 1.96)
}

/// The ranks (1-based, clamped to 1..=n) bounding the distribution-free 95%
/// interval of the q-quantile of n values (see [`QuantileIntervals`]).
pub(crate) fn quantile_interval_ranks(q: f64, n: u64) -> (u64, u64) {
    let nf = n as f64;
    let half = 1.96 * (nf * q * (1.0 - q)).sqrt();
    let lo = (nf * q - half).floor().max(1.0) as u64;
    let hi = ((nf * q + half).ceil() + 1.0).min(nf) as u64;
    (lo.clamp(1, n), hi.clamp(1, n))
}

/// The ranks (1-based, clamped to 1..=n) bounding the levels `q - h` and
/// `q + h` among n values, as [`quantile_interval_ranks`] rounds them: the
/// interval of the q-quantile whose empirical CDF has 95% half-width `h`.
fn ranks_of_levels(q: f64, h: f64, n: f64) -> (u64, u64) {
    let lo = (n * (q - h)).floor().max(1.0) as u64;
    let hi = ((n * (q + h)).ceil() + 1.0).min(n) as u64;
    let top = n as u64;
    (lo.clamp(1, top), hi.clamp(1, top))
}

impl Stat {
    /// The quantiles in the order of [`QUANTILES`].
    pub fn quantiles(&self) -> [f64; 9] {
        [
            self.p1, self.p5, self.p10, self.p25, self.p50, self.p75, self.p90, self.p95, self.p99,
        ]
    }

    /// The same statistics of the values shifted by `dx` (sd and se unchanged).
    pub(crate) fn offset(&self, dx: f64) -> Stat {
        Stat {
            mean: self.mean + dx,
            sd: self.sd,
            se: self.se,
            min: self.min + dx,
            max: self.max + dx,
            p1: self.p1 + dx,
            p5: self.p5 + dx,
            p10: self.p10 + dx,
            p25: self.p25 + dx,
            p50: self.p50 + dx,
            p75: self.p75 + dx,
            p90: self.p90 + dx,
            p95: self.p95 + dx,
            p99: self.p99 + dx,
            mean_ci95: [self.mean_ci95[0] + dx, self.mean_ci95[1] + dx],
            quantile_ci95: QuantileIntervals::from_array(
                self.quantile_ci95.all().map(|[a, b]| [a + dx, b + dx]),
            ),
        }
    }

    /// True if every field is finite.
    pub fn is_finite(&self) -> bool {
        [self.mean, self.sd, self.se, self.min, self.max]
            .iter()
            .chain(self.quantiles().iter())
            .all(|x| x.is_finite())
    }
}

/// Accumulates one metric over paths; mergeable, order-independent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatAcc {
    count: u64,
    shift: f64,
    batch_sum: f64,
    batch_sumsq: f64,
    sum: ExactSum,
    sumsq: ExactSum,
    min: f64,
    max: f64,
    sketch: Sketch,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exact: Option<Vec<f64>>,
    /// Moment sums of the slices whose deviations lie outside
    /// [`PLAIN_MOMENTS`], by scale (empty in ordinary runs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    scaled: Vec<ScaledMoments>,
    /// The group sums of a grouped accumulator (see [`Grouping`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    groups: Option<Box<Groups>>,
}

impl StatAcc {
    /// An empty accumulator; moments are taken around `shift`; `exact`
    /// keeps every value for exact quantiles.
    pub fn new(shift: f64, exact: bool) -> StatAcc {
        StatAcc {
            count: 0,
            shift: if shift.is_finite() { shift } else { 0.0 },
            batch_sum: 0.0,
            batch_sumsq: 0.0,
            sum: ExactSum::default(),
            sumsq: ExactSum::default(),
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sketch: Sketch::default(),
            exact: exact.then(Vec::new),
            scaled: Vec::new(),
            groups: None,
        }
    }

    /// An empty accumulator (as [`StatAcc::new`]) whose errors come from
    /// groups of values (see [`Grouping`]): it takes values only through
    /// [`StatAcc::add_slice`], each slice starting at a group boundary and
    /// holding whole groups. `None` is [`StatAcc::new`].
    pub fn grouped(shift: f64, exact: bool, grouping: Option<Grouping>) -> StatAcc {
        let mut acc = StatAcc::new(shift, exact);
        acc.groups = grouping.map(|g| Box::new(Groups::new(g)));
        acc
    }

    /// How the values group for error estimates (`None`: independent).
    pub fn grouping(&self) -> Option<Grouping> {
        self.groups.as_ref().map(|g| g.grouping)
    }

    /// Replicates: each replicate's mean (exact sums over its values, as
    /// the errors use them); `None` for other groupings or no values.
    pub fn replicate_means(&self) -> Option<Vec<f64>> {
        let g = self.groups.as_ref()?;
        if self.count == 0 || !matches!(g.grouping, Grouping::Replicates(_)) {
            return None;
        }
        let d = g.replicate_deviations(self.count);
        Some(d.into_iter().map(|x| self.shift + x).collect())
    }

    /// Sums the deviations of `xs` from the shift, scaled for a largest
    /// deviation `m` (outside [`PLAIN_MOMENTS`]), into their group.
    #[cold]
    #[inline(never)]
    fn add_scaled(&mut self, xs: &[f64], m: f64) {
        let exp = scale_group(m);
        let (mut s1, mut s2) = (0.0, 0.0);
        for &x in xs {
            let d = scale_by_power_of_two(x - self.shift, -exp);
            s1 += d;
            s2 += d * d;
        }
        let g = group_mut(&mut self.scaled, exp);
        g.sum.add(s1);
        g.sumsq.add(s2);
    }

    /// Records one value. Non-finite values poison the mean (and are then
    /// refused when the summary is written).
    ///
    /// # Panics
    /// On a grouped accumulator (whose values must arrive in whole groups).
    #[inline(always)]
    pub fn add(&mut self, x: f64) {
        assert!(self.groups.is_none(), "grouped values arrive in slices");
        self.count += 1;
        let d = x - self.shift;
        if needs_scaling(d.abs()) {
            self.add_scaled(&[x], d.abs());
        } else {
            self.batch_sum += d;
            self.batch_sumsq += d * d;
        }
        // Of equal values (0.0 and -0.0), the first is kept.
        if x < self.min {
            self.min = x;
        }
        if x > self.max {
            self.max = x;
        }
        if x.is_finite() {
            self.sketch.add(x);
        }
        if let Some(v) = &mut self.exact {
            v.push(x);
        }
    }

    /// Records a slice of values (the hot path: per metric, values of many
    /// paths in a row, so the sketch and the sums stay in cache). The
    /// slice's moment sums are taken in four lanes (value i in lane i mod
    /// 4), combined pairwise and added to the batch's: the result depends
    /// only on the slice's values and their order. Min, max and sketch end
    /// as [`StatAcc::add`] on each value in turn would leave them.
    #[inline(always)]
    pub fn add_slice(&mut self, xs: &[f64]) {
        self.count += xs.len() as u64;
        // Moment sums, smallest and largest values in LANES independent
        // chains (lane l takes values l, l + LANES, ...): one chain of
        // dependent additions would be the loop's longest.
        let mut s1 = [0.0; LANES];
        let mut s2 = [0.0; LANES];
        let mut lows = [f64::INFINITY; LANES];
        let mut highs = [f64::NEG_INFINITY; LANES];
        let mut chunks = xs.chunks_exact(LANES);
        #[cfg(target_arch = "x86_64")]
        if crate::simd::avx2() {
            // SAFETY: the processor supports AVX2 (checked at run time).
            unsafe {
                crate::simd::stat_lanes_avx2(
                    chunks.by_ref(),
                    self.shift,
                    [&mut s1, &mut s2, &mut lows, &mut highs],
                )
            };
        }
        let shift = self.shift;
        let mut lane = |l: usize, x: f64| {
            let d = x - shift;
            s1[l] += d;
            s2[l] += d * d;
            if x < lows[l] {
                lows[l] = x;
            }
            if x > highs[l] {
                highs[l] = x;
            }
        };
        for c in &mut chunks {
            for (l, &x) in c.iter().enumerate() {
                lane(l, x);
            }
        }
        for (l, &x) in chunks.remainder().iter().enumerate() {
            lane(l, x);
        }
        let s1 = sum_lanes(s1);
        let lo = first_extreme(xs, lows.into_iter().fold(f64::INFINITY, f64::min));
        let hi = first_extreme(xs, highs.into_iter().fold(f64::NEG_INFINITY, f64::max));
        // The largest deviation is that of the smallest or of the largest
        // value (x - shift is monotonic in x).
        let m = (lo - shift).abs().max((hi - shift).abs());
        if needs_scaling(m) {
            self.add_scaled(xs, m);
        } else {
            self.batch_sum += s1;
            self.batch_sumsq += sum_lanes(s2);
        }
        // As `add` on each value in turn: the first value below `min`, or
        // above `max`, wins.
        if lo < self.min {
            self.min = lo;
        }
        if hi > self.max {
            self.max = hi;
        }
        // A finite sum of differences means every value is finite: then if
        // the smallest is positive, every key lies between the keys of the
        // smallest and of the largest, and the window is checked once.
        if lo == hi && s1.is_finite() && !xs.is_empty() {
            // Every value is the same (a run rate at the start, a payment
            // not yet begun or capped on every path): one count of n, not
            // n dependent increments of one bucket.
            self.sketch.add_n(lo, xs.len() as u64);
        } else if lo >= f64::MIN_POSITIVE && s1.is_finite() && !xs.is_empty() {
            self.sketch
                .positive
                .add_positive(xs, normal_key(lo), normal_key(hi));
        } else {
            for &x in xs {
                if x.is_finite() {
                    self.sketch.add(x);
                }
            }
        }
        if let Some(v) = &mut self.exact {
            v.extend_from_slice(xs);
        }
        if let Some(g) = &mut self.groups {
            g.add_slice(xs, shift);
        }
    }

    /// Ends a batch: flushes the batch's `f64` sums into the exact sums.
    pub fn end_batch(&mut self) {
        self.sum.add(self.batch_sum);
        self.sumsq.add(self.batch_sumsq);
        self.batch_sum = 0.0;
        self.batch_sumsq = 0.0;
        if let Some(g) = &mut self.groups {
            g.end_batch();
        }
    }

    /// Puts the accumulator (batches ended) in a form that depends only on
    /// the values recorded, not on their order or on how accumulators were
    /// merged: exact sums as canonical expansions, sketch windows trimmed,
    /// kept values (`--exact`) sorted. Results are unchanged.
    pub(crate) fn canonicalize(&mut self) {
        self.sum.canonicalize();
        self.sumsq.canonicalize();
        for g in &mut self.scaled {
            g.sum.canonicalize();
            g.sumsq.canonicalize();
        }
        self.sketch.canonicalize();
        if let Some(v) = &mut self.exact {
            v.sort_by(f64::total_cmp);
        }
        if let Some(g) = &mut self.groups {
            g.canonicalize();
        }
    }

    /// Empties the accumulator (batches ended) for reuse, as if new with
    /// the same shift. Its sketch keeps its windows over the bucket keys
    /// that had a count, zeroed, and drops its digits above the first: an
    /// accumulator that is merged into another and cleared again and
    /// again takes values without growing its windows from scratch each
    /// time, and its memory follows the range of the values since the last
    /// clear, not of all values ever recorded.
    pub(crate) fn clear(&mut self) {
        debug_assert!(self.batch_sum == 0.0 && self.batch_sumsq == 0.0);
        self.count = 0;
        self.sum.partials.clear();
        self.sumsq.partials.clear();
        self.scaled.clear();
        self.min = f64::INFINITY;
        self.max = f64::NEG_INFINITY;
        self.sketch.clear();
        if let Some(v) = &mut self.exact {
            v.clear();
        }
        if let Some(g) = &mut self.groups {
            g.clear();
        }
    }

    /// Merges another accumulator (batches already ended) of the same metric.
    pub fn merge(&mut self, other: &StatAcc) {
        debug_assert_eq!(self.shift.to_bits(), other.shift.to_bits());
        self.count += other.count;
        self.sum.merge(&other.sum);
        self.sumsq.merge(&other.sumsq);
        for g in &other.scaled {
            let mine = group_mut(&mut self.scaled, g.exp);
            mine.sum.merge(&g.sum);
            mine.sumsq.merge(&g.sumsq);
        }
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sketch.merge(&other.sketch);
        if let (Some(a), Some(b)) = (&mut self.exact, &other.exact) {
            a.extend_from_slice(b);
        }
        if let (Some(a), Some(b)) = (&mut self.groups, &other.groups) {
            a.merge(b);
        }
    }

    /// Number of values.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The shift the moments are taken around.
    pub(crate) fn shift(&self) -> f64 {
        self.shift
    }

    /// Checks that an accumulator read from a file (a shard's partial,
    /// whose checksum only proves it is as written) has the structure this
    /// module builds, so that merging and summarising it can neither panic
    /// nor allocate beyond the file's size: at most `paths` values, batches
    /// ended, exact sums of at most 64 partials, scaled sums of valid
    /// scales in order, sketch windows within the keys of finite values
    /// (at most 4 digit levels, every count in the first level's window)
    /// holding at most `count` values, kept values (if any) `count` of them.
    pub(crate) fn check(&self, paths: u64) -> Result<(), String> {
        if self.count > paths {
            return Err(format!("{} values in a tally of {paths} paths", self.count));
        }
        if self.batch_sum != 0.0 || self.batch_sumsq != 0.0 {
            return Err("a batch that was not ended".into());
        }
        let sums = [&self.sum, &self.sumsq]
            .into_iter()
            .chain(self.scaled.iter().flat_map(|g| [&g.sum, &g.sumsq]));
        for e in sums {
            if e.partials.len() > MAX_PARTIALS {
                return Err(format!("an exact sum of {} partials", e.partials.len()));
            }
        }
        let valid_exp = |e: i32| e % SCALE_STEP == 0 && (-1088..=960).contains(&e);
        if !self.scaled.iter().all(|g| valid_exp(g.exp))
            || !self.scaled.windows(2).all(|w| w[0].exp < w[1].exp)
        {
            return Err("scaled moment sums of invalid or unordered scales".into());
        }
        let in_sketch = self.sketch.check()?;
        if in_sketch > u128::from(self.count) {
            return Err(format!(
                "a sketch of {in_sketch} values for {} values",
                self.count
            ));
        }
        if let Some(v) = &self.exact {
            if v.len() as u64 != self.count {
                return Err(format!("{} kept values for {} values", v.len(), self.count));
            }
        }
        if let Some(g) = &self.groups {
            g.check(self.count)?;
        }
        Ok(())
    }

    /// Whether every value is kept (`--exact`).
    pub(crate) fn keeps_values(&self) -> bool {
        self.exact.is_some()
    }

    /// Mean of the values (NaN if none).
    pub fn mean(&self) -> f64 {
        self.moments().0
    }

    /// Mean and standard deviation (N - 1 denominator; 0 for one value).
    /// Sums of scaled slices (see [`ScaledMoments`]) are brought to the
    /// scale of the largest and combined exactly; without any, this is the
    /// plain formula on the plain sums. A variance that rounds below 0 is
    /// 0; a NaN stays NaN (and is refused when the summary is written).
    fn moments(&self) -> (f64, f64) {
        let n = self.count as f64;
        let variance = |s1: f64, s2: f64| {
            if self.count > 1 {
                let v = (s2 - s1 * (s1 / n)) / (n - 1.0);
                if v.is_nan() {
                    v
                } else {
                    v.max(0.0)
                }
            } else {
                0.0
            }
        };
        if self.scaled.is_empty() {
            let s1 = self.sum.value();
            let s2 = self.sumsq.value();
            return (self.shift + s1 / n, variance(s1, s2).sqrt());
        }
        // The common scale: the largest exponent with a non-zero sum of
        // squares (the plain sums are at exponent 0).
        let plain = self.sumsq.value() != 0.0;
        let top = self
            .scaled
            .iter()
            .filter(|g| g.sumsq.value() != 0.0)
            .map(|g| g.exp)
            .chain(plain.then_some(0))
            .max()
            .unwrap_or(0);
        let (mut s1, mut s2) = (ExactSum::default(), ExactSum::default());
        let mut add = |sum: &ExactSum, sumsq: &ExactSum, exp: i32| {
            for &p in &sum.partials {
                s1.add(scale_by_power_of_two(p, exp - top));
            }
            for &p in &sumsq.partials {
                s2.add(scale_by_power_of_two(p, 2 * (exp - top)));
            }
        };
        add(&self.sum, &self.sumsq, 0);
        for g in &self.scaled {
            add(&g.sum, &g.sumsq, g.exp);
        }
        let (s1, s2) = (s1.value(), s2.value());
        let mean = self.shift + scale_by_power_of_two(s1 / n, top);
        let sd = scale_by_power_of_two(variance(s1, s2).sqrt(), top);
        (mean, sd)
    }

    /// The summary, or `None` if no value was recorded.
    ///
    /// A grouped accumulator's `se` comes from its groups (see
    /// [`Grouping`]), and so does `mean_ci95`: z (1.96) times `se` for
    /// pairs; for replicates the bootstrap-t interval of the replicate
    /// means ([`replicate_mean_interval`], which falls back to Student's t
    /// where the bootstrap is unbounded). Its quantile intervals, where
    /// the order-statistic interval of independent values does not apply:
    /// for pairs, the order-statistic interval of M = N/2 independent
    /// values (the variance of the empirical CDF of a pair mean is at most
    /// that of one value, so this is conservative); for replicates, Woodruff's
    /// interval: the pooled quantile's level plus or minus t times the
    /// standard error of the empirical CDF there, from the spread of the
    /// replicates' CDFs (read from their sketches).
    pub fn finish(&self) -> Option<Stat> {
        if self.count == 0 {
            return None;
        }
        let n = self.count as f64;
        let (mean, sd) = self.moments();
        let grouping = self.grouping();
        let z = group_quantile(grouping);
        let se = match &self.groups {
            None => sd / n.sqrt(),
            Some(g) => g.se(self.count),
        };
        // The 1-based ranks bounding each quantile's interval.
        let ranks: [(u64, u64); 9] = match (&self.groups, grouping) {
            (None, _) => QUANTILES.map(|q| quantile_interval_ranks(q, self.count)),
            (Some(_), Some(Grouping::Pairs)) => {
                let m = (self.count / 2).max(1) as f64;
                QUANTILES.map(|q| ranks_of_levels(q, Z975 * (q * (1.0 - q) / m).sqrt(), n))
            }
            (Some(g), _) => {
                let at = self.quantiles_at(&QUANTILES);
                std::array::from_fn(|i| {
                    let q = QUANTILES[i];
                    ranks_of_levels(q, g.cdf_half_width(self.count, at[i], z), n)
                })
            }
        };
        // The nine quantiles and the two ends of each one's interval, as
        // levels whose rank is exactly the wanted one, queried in one
        // ascending pass.
        let mut levels: Vec<(f64, usize)> = Vec::with_capacity(27);
        for (i, &q) in QUANTILES.iter().enumerate() {
            let (lo, hi) = ranks[i];
            let at = |rank: u64| (rank as f64 - 0.5) / n;
            levels.push((q, i));
            levels.push((at(lo), 9 + i));
            levels.push((at(hi), 18 + i));
        }
        levels.sort_by(|a, b| a.0.total_cmp(&b.0));
        let sorted: Vec<f64> = levels.iter().map(|l| l.0).collect();
        let values = match &self.exact {
            Some(v) => {
                let mut v = v.clone();
                v.sort_by(f64::total_cmp);
                exact_quantiles(&v, &sorted)
            }
            None => self.sketch.quantiles(&sorted),
        };
        let mut all = [f64::NAN; 27];
        for ((_, slot), v) in levels.iter().zip(values) {
            all[*slot] = v;
        }
        let q = &all[..9];
        // A bucket's representative may lie just outside the data; and the
        // mean of identical values may round off them.
        // (With only NaN values recorded, min > max: nothing to clamp to.)
        let clamp = |x: f64| {
            if self.min <= self.max {
                x.clamp(self.min, self.max)
            } else {
                x
            }
        };
        let m = clamp(mean);
        Some(Stat {
            mean: m,
            sd,
            se,
            min: self.min,
            max: self.max,
            p1: clamp(q[0]),
            p5: clamp(q[1]),
            p10: clamp(q[2]),
            p25: clamp(q[3]),
            p50: clamp(q[4]),
            p75: clamp(q[5]),
            p90: clamp(q[6]),
            p95: clamp(q[7]),
            p99: clamp(q[8]),
            mean_ci95: match &self.groups {
                None => {
                    let h = 1.96 * sd / n.sqrt();
                    [m - h, m + h]
                }
                Some(g) if matches!(g.grouping, Grouping::Replicates(_)) => {
                    replicate_mean_interval(m, &g.replicate_deviations(self.count))
                }
                Some(_) => [m - z * se, m + z * se],
            },
            quantile_ci95: QuantileIntervals::from_array(std::array::from_fn(|i| {
                [clamp(all[9 + i]), clamp(all[18 + i])]
            })),
        })
    }

    /// Quantiles at arbitrary levels (sketch or exact), clamped to [min, max].
    pub fn quantiles_at(&self, levels: &[f64]) -> Vec<f64> {
        let q = match &self.exact {
            Some(v) => {
                let mut v = v.clone();
                v.sort_by(f64::total_cmp);
                if v.is_empty() {
                    return vec![f64::NAN; levels.len()];
                }
                exact_quantiles(&v, levels)
            }
            None => self.sketch.quantiles(levels),
        };
        q.into_iter()
            .map(|x| {
                if self.min <= self.max {
                    x.clamp(self.min, self.max)
                } else {
                    x
                }
            })
            .collect()
    }

    /// Counts of the values in the bins delimited by `edges` (strictly
    /// increasing; see [`Sketch::bin_counts`]). With exact values kept
    /// (`--exact`) the values themselves are binned; otherwise the
    /// sketch's buckets are, each assigned by its representative value,
    /// clamped to the observed `[min, max]` so that bins whose edges are
    /// the range of the data hold every value.
    pub fn bin_counts(&self, edges: &[f64]) -> BinCounts {
        let mut out = BinCounts::new(edges);
        match &self.exact {
            Some(v) => {
                for &x in v {
                    out.add(edges, x, 1);
                }
            }
            None => {
                for (x, c) in self.sketch.buckets() {
                    let x = if self.min <= self.max {
                        x.clamp(self.min, self.max)
                    } else {
                        x
                    };
                    out.add(edges, x, c);
                }
            }
        }
        out
    }

    /// An equal-width histogram covering `[lo, hi]` with at most
    /// `max_bins` bins (at least one). `None` if the range is not finite
    /// and increasing.
    ///
    /// With exact values the edges run from `lo` to `hi` exactly. From the
    /// sketch, the edges are aligned to sketch buckets: the bin width is a
    /// whole multiple of the widest bucket in the range (a power of two)
    /// and the last edge a multiple of it, rounded up from `hi` (the first
    /// edge is then at or below `lo`; the last bin is a full one, so a
    /// point mass at `hi`, such as a cap, shares it only with its
    /// neighbours). Every bucket then lies inside a
    /// single bin, so assigning a bucket's count by its representative
    /// value puts every value in the bin that holds it: the counts equal
    /// those of the exact values (values falling exactly on an edge aside),
    /// with no aliasing between bins and buckets.
    pub fn histogram(&self, lo: f64, hi: f64, max_bins: usize) -> Option<Histogram> {
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return None;
        }
        let max_bins = max_bins.max(1);
        let edges = match (&self.exact, widest_bucket(lo.abs().max(hi.abs()))) {
            (None, Some(w)) => {
                let last = (hi / w).ceil() * w;
                let m = ((last - lo) / max_bins as f64 / w).ceil().max(1.0);
                let width = m * w;
                let bins = ((last - lo) / width).ceil().max(1.0) as usize;
                let first = last - width * bins as f64;
                (0..=bins).map(|i| first + width * i as f64).collect()
            }
            _ => equal_width_edges(lo, hi, max_bins),
        };
        if edges.len() < 2 {
            return None;
        }
        let counts = self.bin_counts(&edges);
        Some(Histogram {
            edges,
            bins: counts,
        })
    }

    /// The sketch (for histograms).
    pub fn sketch(&self) -> &Sketch {
        &self.sketch
    }

    /// Smallest and largest value.
    pub fn range(&self) -> (f64, f64) {
        (self.min, self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    #[test]
    fn the_t_quantile_of_16_replicates_is_statrs_s() {
        use statrs::distribution::{ContinuousCDF, StudentsT};
        let t = StudentsT::new(0.0, 1.0, 15.0).unwrap().inverse_cdf(0.975);
        assert!((t - T15_975).abs() < 1e-12, "{t}");
        assert_eq!(group_quantile(Some(Grouping::Replicates(16))), T15_975);
        assert_eq!(group_quantile(Some(Grouping::Pairs)), 1.96);
        assert_eq!(group_quantile(None), 1.96);
    }

    #[test]
    fn grouped_errors_come_from_pair_and_replicate_means() {
        // Pairs (1, 3), (2, 2), (5, -1), (0, 4): every pair mean is 2, so
        // the mean's error from pairs is 0, though the values spread.
        let xs = [1.0, 3.0, 2.0, 2.0, 5.0, -1.0, 0.0, 4.0];
        let mut a = StatAcc::grouped(0.5, false, Some(Grouping::Pairs));
        a.add_slice(&xs);
        a.end_batch();
        let s = a.finish().unwrap();
        assert_eq!(s.mean, 2.0);
        assert!(s.sd > 1.0);
        assert_eq!(s.se, 0.0);
        assert_eq!(s.mean_ci95, [2.0, 2.0]);
        // Two replicates (values alternate): replicate means 1 and 3 over
        // two batches and a merge; se = sd(1, 3) / sqrt(2) = 1.
        let mut r = StatAcc::grouped(0.0, false, Some(Grouping::Replicates(2)));
        r.add_slice(&[0.0, 3.0, 2.0, 3.0]);
        r.end_batch();
        let mut other = StatAcc::grouped(0.0, false, Some(Grouping::Replicates(2)));
        other.add_slice(&[1.0, 3.0]);
        other.end_batch();
        r.merge(&other);
        r.canonicalize();
        let s = r.finish().unwrap();
        assert_eq!(s.mean, 2.0);
        assert!((s.se - 1.0).abs() < 1e-15, "{}", s.se);
        assert!(r.check(6).is_ok());
        // Ungrouped accumulators are what they were.
        let mut plain = StatAcc::grouped(0.0, false, None);
        plain.add_slice(&xs);
        plain.end_batch();
        let mut old = StatAcc::new(0.0, false);
        old.add_slice(&xs);
        old.end_batch();
        assert!(plain == old);
    }

    #[test]
    fn replicate_intervals_are_bootstrap_t_and_lean_toward_the_skew() {
        // Symmetric estimates: an interval about as wide as Student's t
        // (bootstrap-t of 16 values is somewhat wider), around the centre.
        let sym: Vec<f64> = (0..16).map(|i| f64::from(i) - 7.5).collect();
        let se = replicate_se(&sym);
        let [lo, hi] = replicate_mean_interval(0.0, &sym);
        assert!(lo < 0.0 && hi > 0.0);
        assert!(
            ((hi - lo) / (2.0 * T15_975 * se) - 1.0).abs() < 0.3,
            "{lo} {hi}"
        );
        assert!((hi + lo).abs() < 0.2 * (hi - lo), "{lo} {hi}");
        // Right-skewed estimates (one large): the interval reaches further
        // above the mean than below it; shifting the estimates and the
        // centre together shifts the interval.
        let mut skew: Vec<f64> = (0..16).map(|i| 0.01 * f64::from(i)).collect();
        skew[3] = 8.0;
        let [lo, hi] = replicate_mean_interval(0.5, &skew);
        assert!(hi - 0.5 > 2.0 * (0.5 - lo), "{lo} {hi}");
        let moved: Vec<f64> = skew.iter().map(|x| x + 1.0).collect();
        let [lo2, hi2] = replicate_mean_interval(1.5, &moved);
        assert!((lo2 - lo - 1.0).abs() < 1e-12 && (hi2 - hi - 1.0).abs() < 1e-12);
        // One value 15 times: unbounded bootstrap-t, Student's t instead.
        let mut two = vec![0.0; 16];
        two[3] = 8.0;
        let se = replicate_se(&two);
        assert_eq!(
            replicate_mean_interval(0.5, &two),
            [0.5 - T15_975 * se, 0.5 + T15_975 * se]
        );
        // No spread, too few, not finite.
        assert_eq!(replicate_mean_interval(2.0, &[1.0; 16]), [2.0, 2.0]);
        assert_eq!(replicate_mean_interval(2.0, &[1.0]), [2.0, 2.0]);
        assert!(replicate_mean_interval(2.0, &[f64::NAN, 1.0])[0].is_nan());
        // A grouped accumulator of replicates reports it, about its mean.
        let mut r = StatAcc::grouped(0.0, false, Some(Grouping::Replicates(16)));
        r.add_slice(&skew);
        r.end_batch();
        let s = r.finish().unwrap();
        assert_eq!(s.mean_ci95, replicate_mean_interval(s.mean, &skew));
    }

    #[test]
    fn canonical_sketches_keep_counts_that_are_multiples_of_two_to_the_16() {
        // 65,536 equal values: the bucket's low digit is 0, the count lives
        // in the next digit level only.
        let mut a = StatAcc::new(0.0, false);
        a.add_slice(&vec![6.0; 1 << 16]);
        a.add_slice(&[7.0, 8.0]);
        a.end_batch();
        let before = a.finish().unwrap();
        a.canonicalize();
        assert_eq!(a.sketch().count(), (1 << 16) + 2);
        assert_eq!(a.finish().unwrap(), before);
        // Arrival order does not change the canonical form.
        let mut b = StatAcc::new(0.0, false);
        b.add_slice(&[8.0, 7.0]);
        b.add_slice(&vec![6.0; 1 << 16]);
        b.end_batch();
        b.canonicalize();
        assert!(a == b);
    }

    #[test]
    fn canonical_exact_sums_depend_only_on_the_value() {
        let xs = [
            1e16, 1.0, -1e16, 3.5e-20, 7.0, 1e-3, -2.5e10, 0.1, 1e300, -1e300,
        ];
        let mut forward = ExactSum::default();
        xs.iter().for_each(|&x| forward.add(x));
        let mut backward = ExactSum::default();
        xs.iter().rev().for_each(|&x| backward.add(x));
        let value = forward.value();
        forward.canonicalize();
        backward.canonicalize();
        assert_eq!(forward, backward);
        assert_eq!(forward.value(), value);
        // Zero is the empty expansion.
        let mut zero = ExactSum::default();
        zero.add(1.5);
        zero.add(-1.5);
        zero.canonicalize();
        assert_eq!(zero, ExactSum::default());
    }

    #[test]
    fn exact_sum_is_order_independent_and_exact() {
        let xs = [1e100, 1.0, -1e100, 1e-100, 3.0, -2.5, 0.1, 0.2, 0.3];
        let mut a = ExactSum::default();
        xs.iter().for_each(|&x| a.add(x));
        let mut b = ExactSum::default();
        xs.iter().rev().for_each(|&x| b.add(x));
        assert_eq!(a.value().to_bits(), b.value().to_bits());
        assert_eq!(a.value(), 1.0 + 3.0 - 2.5 + 0.6000000000000001);
        // Merging halves equals adding everything.
        let mut c = ExactSum::default();
        xs[..4].iter().for_each(|&x| c.add(x));
        let mut d = ExactSum::default();
        xs[4..].iter().for_each(|&x| d.add(x));
        d.merge(&c);
        assert_eq!(d.value().to_bits(), a.value().to_bits());
    }

    #[test]
    fn sketch_quantiles_are_within_stated_accuracy() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(7);
        let mut sk = Sketch::default();
        let mut v = Vec::new();
        for _ in 0..100_000 {
            let x: f64 = rng.random::<f64>() * 200.0 - 50.0;
            let x = if x.abs() < 1.0 { 0.0 } else { x };
            sk.add(x);
            v.push(x);
        }
        v.sort_by(f64::total_cmp);
        let levels = [
            0.001, 0.01, 0.1, 0.2, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0,
        ];
        let est = sk.quantiles(&levels);
        let exact = exact_quantiles(&v, &levels);
        for ((q, e), x) in levels.iter().zip(est).zip(exact) {
            assert!(
                (e - x).abs() <= SKETCH_RELATIVE_ACCURACY * x.abs() + 1e-300,
                "q={q}: sketch {e} exact {x}"
            );
        }
    }

    #[test]
    fn sketch_quantiles_walk_the_buckets_in_order() {
        // The rank rule applied to `Sketch::buckets` (every bucket's value
        // taken), against the walk over the digits, on sketches with
        // negatives, zeros, positives, buckets past 2^16 and levels that
        // share a bucket.
        fn by_buckets(sk: &Sketch, levels: &[f64]) -> Vec<f64> {
            let n = sk.count();
            let mut seen = 0;
            let mut b = sk.buckets();
            let mut current = f64::NAN;
            levels
                .iter()
                .map(|&q| {
                    while seen < rank_of(q, n) {
                        let (x, c) = b.next().expect("ranks are at most n");
                        (current, seen) = (x, seen + c);
                    }
                    current
                })
                .collect()
        }
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(29);
        let levels: Vec<f64> = (0..=200).map(|i| f64::from(i) / 200.0).collect();
        for case in 0..4 {
            let mut sk = Sketch::default();
            for i in 0..70_000 * (case % 2 + 1) {
                let x = match (case, i % 5) {
                    (0 | 1, 0) => 0.0,
                    (0, 1) | (2, _) => -rng.random::<f64>() * 50.0,
                    (3, _) => 4.0,
                    _ => rng.random::<f64>() * 1e3,
                };
                sk.add(x);
            }
            assert_eq!(
                sk.quantiles(&levels),
                by_buckets(&sk, &levels),
                "case {case}"
            );
            assert!(sk.quantiles(&[]).is_empty());
        }
    }

    #[test]
    fn bin_counts_match_exact_binning_up_to_bucket_width() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(11);
        let mut sketchy = StatAcc::new(0.0, false);
        let mut exact = StatAcc::new(0.0, true);
        for _ in 0..20_000 {
            let x: f64 = rng.random::<f64>() * 100.0 - 20.0;
            sketchy.add(x);
            exact.add(x);
        }
        sketchy.end_batch();
        exact.end_batch();
        let (lo, hi) = sketchy.range();
        let h = sketchy.histogram(lo, hi, 40).unwrap();
        assert!(
            h.edges.len() <= 41 && h.edges.len() > 20,
            "{}",
            h.edges.len()
        );
        assert!(h.edges[0] <= lo && *h.edges.last().unwrap() >= hi);
        let w = h.edges[1] - h.edges[0];
        assert!(h.edges.windows(2).all(|e| e[1] - e[0] == w));
        assert_eq!(h.bins.total(), 20_000);
        assert_eq!((h.bins.below, h.bins.above), (0, 0));
        // Edges aligned to buckets: the sketch's counts are the exact ones.
        let e = exact.bin_counts(&h.edges);
        assert_eq!(h.bins.counts, e.counts);
        // Exact values are binned over exactly [lo, hi].
        let x = exact.histogram(lo, hi, 40).unwrap();
        assert_eq!((x.edges.len(), x.edges[0], x.edges[40]), (41, lo, hi));
        assert_eq!(x.bins.counts.iter().sum::<u64>(), 20_000);
        // Values outside the edges are reported, not dropped.
        let mid = exact.bin_counts(&[0.0, 10.0, 20.0]);
        assert_eq!(mid.total(), 20_000);
        assert!(mid.below > 0 && mid.above > 0);
    }

    #[test]
    fn histogram_of_a_point_mass_needs_a_range() {
        let mut a = StatAcc::new(0.0, false);
        for _ in 0..10 {
            a.add(38.0);
        }
        a.end_batch();
        assert!(a.histogram(38.0, 38.0, 10).is_none());
        let h = a.histogram(37.0, 39.0, 50).unwrap();
        // Buckets are 0.25 wide in [32, 64): eight bins of one bucket each.
        assert_eq!(
            h.edges,
            (0..=8).map(|i| 37.0 + 0.25 * i as f64).collect::<Vec<_>>()
        );
        assert_eq!(h.bins.counts.iter().sum::<u64>(), 10);
        assert!(equal_width_edges(1.0, f64::NAN, 3).is_empty());
    }

    #[test]
    fn sketch_counts_carry_past_sixteen_bits_exactly() {
        // 200,000 values in one bucket and a few elsewhere: the low counts
        // overflow three times; totals, merges and ranks stay exact.
        let mut a = Sketch::default();
        for _ in 0..200_000 {
            a.add(5.0);
        }
        a.add(1.0);
        a.add(100.0);
        assert_eq!(a.count(), 200_002);
        let mut b = Sketch::default();
        b.add(-3.0);
        for _ in 0..70_000 {
            b.add(5.0);
        }
        b.merge(&a);
        a.merge(&b);
        assert_eq!(b.count(), 270_003);
        assert_eq!(a.count(), 470_005);
        let q = a.quantiles(&[0.0, 0.5, 1.0]);
        assert_eq!(q[0], -value_of(key_of(3.0)));
        assert_eq!(q[1], value_of(key_of(5.0)));
        assert_eq!(q[2], value_of(key_of(100.0)));
    }

    /// (key, count) of every non-empty bucket of a store.
    fn counts(s: &Store) -> Vec<(i64, u64)> {
        s.buckets().collect()
    }

    #[test]
    fn sketch_counts_carry_in_several_buckets_and_merge() {
        // Values in five buckets, three of which pass 2^16 (one of them
        // twice), spread over two sketches in a random order, one value at
        // a time; merging gives the exact counts, whatever the order.
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(13);
        let values = [2.0, 3.0, 1000.0, -7.0, 0.001];
        let wanted: [u64; 5] = [140_000, 65_536, 65_535, 70_001, 3];
        let mut left = wanted;
        let (mut a, mut b) = (Sketch::default(), Sketch::default());
        while left.iter().any(|&n| n > 0) {
            let i = rng.random_range(0..values.len());
            if left[i] > 0 {
                left[i] -= 1;
                let to = if rng.random::<bool>() { &mut a } else { &mut b };
                to.add(values[i]);
            }
        }
        let total: u64 = wanted.iter().sum();
        assert_eq!(a.count() + b.count(), total);
        let mut ab = a.clone();
        ab.merge(&b);
        let mut ba = b.clone();
        ba.merge(&a);
        let mut one = Sketch::default();
        for (&x, &n) in values.iter().zip(&wanted) {
            (0..n).for_each(|_| one.add(x));
        }
        let mut expected: Vec<(i64, u64)> = values
            .iter()
            .zip(wanted)
            .filter(|&(&x, _)| x > 0.0)
            .map(|(&x, n)| (key_of(x), n))
            .collect();
        expected.sort_unstable();
        for s in [&ab, &ba, &one] {
            assert_eq!(s.count(), total);
            assert_eq!(counts(&s.positive), expected);
            assert_eq!(counts(&s.negative), vec![(key_of(7.0), 70_001)]);
            assert_eq!(s.bin_counts(&[-10.0, 0.0, 10.0]).counts, [70_001, 205_539]);
        }
        // The one bucket holding 2^17 and more carried into the second
        // digit twice; only the buckets that carried have one.
        let high = &one.positive.high;
        assert_eq!(high.len(), 1);
        assert_eq!(high[0].get(key_of(2.0)), 2);
        assert_eq!(high[0].get(key_of(3.0)), 1);
        assert_eq!(high[0].get(key_of(1000.0)), 0);
        // The ranks see every carry: 70,001 values below 0.001, 70,004
        // below 2.0, 210,004 below 3.0, 275,540 below 1000.0, 341,075 in
        // all.
        let levels = [0.2, 0.20524, 0.2053, 0.6157, 0.6158, 0.8078, 0.8079];
        let q = ab.quantiles(&levels);
        assert_eq!(q, ba.quantiles(&levels));
        let at = |x: f64| value_of(key_of(x));
        assert_eq!(
            q,
            [
                -at(7.0),
                at(0.001),
                at(2.0),
                at(2.0),
                at(3.0),
                at(3.0),
                at(1000.0)
            ]
        );
    }

    #[test]
    fn store_counts_are_exact_to_u64_max() {
        // Counts that use all four base-2^16 digits, added and merged.
        let big = [
            u64::MAX - 1,
            1 << 48,
            (1 << 32) + (1 << 16) - 1,
            0xFFFF_0000_FFFF,
        ];
        let mut a = Store::default();
        for (k, &n) in big.iter().enumerate() {
            a.add(100 + 50 * k as i64, n);
        }
        let mut b = Store::default();
        b.add(100, 1);
        b.add(150, (1 << 48) - 1);
        b.add(200, 1);
        b.add(250, 0x0001_0000_0001);
        b.add(-3, 5);
        b.merge(&a);
        assert_eq!(
            counts(&b),
            [
                (-3, 5),
                (100, u64::MAX),
                (150, (1 << 49) - 1),
                (200, (1 << 32) + (1 << 16)),
                (250, 0x0001_0000_0001_0000),
            ]
        );
        let mut c = Store::default();
        c.add(150, 1);
        c.add(250, 1);
        let sum = |s: &Store| s.buckets().map(|(_, n)| u128::from(n)).sum::<u128>();
        assert_eq!(u128::from(c.total()), sum(&c));
        c.merge(&b);
        assert_eq!(c.count(150), 1 << 49);
        assert_eq!(c.count(250), 0x0001_0000_0001_0001);
        assert_eq!(c.high.len(), 3);
        // Every digit level is serialized and read back.
        let bytes = rmp_serde::to_vec_named(&c).unwrap();
        let back: Store = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back, c);
        assert_eq!(counts(&back), counts(&c));
    }

    #[test]
    fn store_merge_equals_adding_each_count() {
        // Digit-wise merges (carries within and between levels, windows
        // that overlap, nest or lie apart) give the counts of adding every
        // bucket's count in turn.
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(19);
        let sizes = [
            1,
            2,
            0xFFFF,
            0x1_0000,
            0x1_FFFF,
            0xFFFF_FFFF,
            0x1_0000_0000,
            0xFFFF_FFFF_FFFF,
        ];
        for round in 0..200 {
            let (mut a, mut b) = (Store::default(), Store::default());
            let spread = [4, 40, 400][round % 3];
            for s in [&mut a, &mut b] {
                let base = rng.random_range(-spread..spread);
                for _ in 0..rng.random_range(0..12) {
                    let key = base + rng.random_range(0..spread);
                    let n = sizes[rng.random_range(0..sizes.len())];
                    s.add(key, n);
                }
            }
            let mut by_key = a.clone();
            for (key, n) in counts(&b) {
                by_key.add(key, n);
            }
            let mut merged = a.clone();
            merged.merge(&b);
            assert_eq!(counts(&merged), counts(&by_key), "round {round}");
            merged.canonicalize();
            by_key.canonicalize();
            assert!(merged == by_key, "round {round}");
        }
    }

    #[test]
    #[should_panic(expected = "exceeds u64::MAX")]
    fn store_count_past_u64_max_panics() {
        let mut a = Store::default();
        a.add(1, u64::MAX);
        a.add_one(1);
    }

    /// `add_slice` as a plain loop: value i goes to lane i % LANES.
    fn add_slice_simply(a: &mut StatAcc, xs: &[f64]) {
        a.count += xs.len() as u64;
        let (mut s1, mut s2) = ([0.0; LANES], [0.0; LANES]);
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for (i, &x) in xs.iter().enumerate() {
            lo = if x < lo { x } else { lo };
            hi = if x > hi { x } else { hi };
            let d = x - a.shift;
            s1[i % LANES] += d;
            s2[i % LANES] += d * d;
            if x < a.min {
                a.min = x;
            }
            if x > a.max {
                a.max = x;
            }
            if x.is_finite() {
                a.sketch.add(x);
            }
        }
        let m = (lo - a.shift).abs().max((hi - a.shift).abs());
        if needs_scaling(m) {
            a.add_scaled(xs, m);
        } else {
            a.batch_sum += sum_lanes(s1);
            a.batch_sumsq += sum_lanes(s2);
        }
    }

    #[test]
    fn add_slice_equals_a_plain_loop() {
        // Slices of positive values (one window check per slice), some
        // carrying, some growing the window; constant slices; and slices
        // with zeros, negatives, -0.0, subnormals and non-finite values.
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(17);
        let mut slices: Vec<Vec<f64>> = Vec::new();
        for i in 0..700 {
            let n = [128, 1, 0, 77][i % 4];
            let scale = if i % 50 == 0 { 1e6 } else { 10.0 };
            slices.push(
                (0..n)
                    .map(|_| rng.random::<f64>() * scale + 1e-300)
                    .collect(),
            );
            slices.push(vec![3.0; 100]);
        }
        let odd = [0.0, -0.0, -2.5, 5e-324, f64::NAN, f64::INFINITY, 1.5];
        for i in 0..50 {
            slices.push((0..64).map(|j| odd[(i + j * j) % odd.len()]).collect());
            slices.push((0..64).map(|j| -(j as f64)).collect());
            // Constant slices: one count of n (finite), or value by value.
            let c = [0.0, -0.0, -7.25, 5e-324, f64::INFINITY, f64::NAN, 1e300][i % 7];
            slices.push(vec![c; 1 + i % 40]);
            slices.push(vec![-0.0, 0.0, -0.0]);
        }
        slices.push(vec![f64::NEG_INFINITY, 1.0]);
        let mut one = StatAcc::new(2.0, false);
        let mut all = StatAcc::new(2.0, false);
        for (i, xs) in slices.iter().enumerate() {
            add_slice_simply(&mut one, xs);
            all.add_slice(xs);
            if i % 10 == 0 {
                one.end_batch();
                all.end_batch();
            }
            let bits = |a: &StatAcc| [a.batch_sum, a.batch_sumsq, a.min, a.max].map(f64::to_bits);
            assert_eq!(bits(&all), bits(&one), "slice {i}");
        }
        assert!(all.sketch.positive.high[0].get(key_of(3.0)) > 0);
        assert_eq!(all.count, one.count);
        let partials = |e: &ExactSum| e.partials.iter().map(|p| p.to_bits()).collect::<Vec<_>>();
        assert_eq!(partials(&all.sum), partials(&one.sum));
        assert_eq!(partials(&all.sumsq), partials(&one.sumsq));
        assert!(!all.scaled.is_empty());
        assert!(all.scaled == one.scaled);
        assert_eq!(all.sketch.zeros, one.sketch.zeros);
        assert_eq!(counts(&all.sketch.positive), counts(&one.sketch.positive));
        assert_eq!(counts(&all.sketch.negative), counts(&one.sketch.negative));
        // An empty slice leaves the window alone.
        let mut a = StatAcc::new(0.0, false);
        a.add_slice(&[1.0]);
        a.add_slice(&[]);
        assert_eq!(a.sketch.positive.low.digits.len(), FIRST_WINDOW as usize);
    }

    #[test]
    fn a_cleared_accumulator_is_as_good_as_new() {
        // Values over several octaves and both signs, some buckets past
        // 2^16; cleared, then given other values: it then merges and
        // finishes as an accumulator that only ever had the other values.
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(23);
        let mut used = StatAcc::new(1.0, false);
        used.add_slice(&vec![6.0; 70_000]);
        for _ in 0..5_000 {
            used.add(rng.random::<f64>() * 1e6 - 1e3);
        }
        used.end_batch();
        used.clear();
        let mut fresh = StatAcc::new(1.0, false);
        assert_eq!(used.count(), 0);
        assert_eq!(used.finish(), None);
        for _ in 0..3_000 {
            let x = rng.random::<f64>() * 50.0 - 10.0;
            used.add(x);
            fresh.add(x);
        }
        used.end_batch();
        fresh.end_batch();
        assert!(used.sketch.positive.high.is_empty());
        let mut a = StatAcc::new(1.0, false);
        a.add(3.0);
        a.end_batch();
        let mut b = a.clone();
        a.merge(&used);
        b.merge(&fresh);
        assert_eq!(a.finish(), b.finish());
        a.canonicalize();
        b.canonicalize();
        assert!(a == b);
        used.canonicalize();
        fresh.canonicalize();
        assert!(used == fresh);
    }

    #[test]
    fn stat_of_identical_values_has_zero_sd() {
        let mut a = StatAcc::new(3.7, false);
        for _ in 0..1000 {
            a.add(3.7);
        }
        a.end_batch();
        let s = a.finish().unwrap();
        assert_eq!(s.sd, 0.0);
        assert_eq!(s.mean, 3.7);
        assert_eq!(s.p50, 3.7);
    }

    /// Accumulates `xs` around `shift` in slices of 128 and in batches of
    /// 1024, as the engine does.
    fn accumulate(xs: &[f64], shift: f64) -> StatAcc {
        let mut a = StatAcc::new(shift, false);
        for batch in xs.chunks(1024) {
            batch.chunks(128).for_each(|c| a.add_slice(c));
            a.end_batch();
        }
        a
    }

    #[test]
    fn moments_are_right_across_the_whole_finite_range() {
        // Values u * 2^k with u in [1, 2): every statistic must be that of
        // the u times 2^k, whatever k (issue 21: squares that overflowed or
        // underflowed gave sd 0 with min < max).
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(11);
        let us: Vec<f64> = (0..5000).map(|_| 1.0 + rng.random::<f64>()).collect();
        let unit = accumulate(&us, 0.0).finish().unwrap();
        for k in [
            -1020, -900, -700, -512, -450, -300, 0, 300, 450, 512, 700, 900, 1000, 1022,
        ] {
            let p = 2f64.powi(k);
            let xs: Vec<f64> = us.iter().map(|u| u * p).collect();
            for shift in [0.0, xs[0], xs[0] * 0.5] {
                let s = accumulate(&xs, shift).finish().unwrap();
                let close = |a: f64, b: f64| ((a - b) / b).abs() < 1e-12;
                assert!(close(s.sd, unit.sd * p), "k {k} shift {shift}: sd {}", s.sd);
                assert!(close(s.mean, unit.mean * p), "k {k}: mean {}", s.mean);
                assert_eq!(s.min, unit.min * p);
                assert_eq!(s.max, unit.max * p);
                assert!(s.is_finite());
            }
            // One value at a time, too.
            let mut one = StatAcc::new(xs[0], false);
            xs.iter().for_each(|&x| one.add(x));
            one.end_batch();
            let s = one.finish().unwrap();
            assert!(
                ((s.sd - unit.sd * p) / (unit.sd * p)).abs() < 1e-12,
                "k {k}"
            );
        }
    }

    #[test]
    fn moments_of_subnormal_values_are_not_zero() {
        // 1, 2, ..., 1000 times the smallest subnormal: sd = 288.82 of them.
        let tiny = f64::from_bits(1);
        let xs: Vec<f64> = (1..=1000).map(|i| i as f64 * tiny).collect();
        for shift in [0.0, xs[0], 500.0 * tiny] {
            let s = accumulate(&xs, shift).finish().unwrap();
            assert!((s.sd / tiny - 288.82).abs() < 1.0, "sd {:e}", s.sd);
            assert!((s.mean / tiny - 500.5).abs() < 1.0, "mean {:e}", s.mean);
            // Quantiles keep their relative accuracy below 2^-1022 too.
            for (q, want) in [(s.p1, 10.0), (s.p50, 500.0), (s.p99, 990.0)] {
                assert!((q / tiny - want).abs() <= want * 0.01, "{q:e} vs {want}");
            }
        }
        // Keys are monotonic across the subnormal/normal boundary.
        let xs = [
            f64::from_bits(1),
            f64::from_bits(2),
            f64::from_bits(3),
            f64::from_bits(1 << 40),
            f64::from_bits((1 << 52) - 1),
            f64::MIN_POSITIVE,
            f64::MIN_POSITIVE * 1.5,
        ];
        let keys: Vec<i64> = xs.iter().map(|&x| key_of(x)).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
        for &x in &xs {
            let v = value_of(key_of(x));
            assert!((v - x).abs() <= x * 0.01, "{x:e}: {v:e}");
        }
    }

    #[test]
    fn scaled_moments_merge_in_any_order_to_the_same_bits() {
        // Deviations from 1e-300 to 1e300: several scale groups and plain
        // slices in one accumulator.
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(5);
        let xs: Vec<f64> = (0..20_000)
            .map(|i| {
                let e = [-300, -150, 0, 150, 300][(i / 1024) % 5];
                rng.random::<f64>() * 10f64.powi(e)
            })
            .collect();
        let mut one = accumulate(&xs, 0.0);
        let mut parts: Vec<StatAcc> = xs.chunks(2048).map(|c| accumulate(c, 0.0)).collect();
        parts.reverse();
        let mut merged = StatAcc::new(0.0, false);
        parts.iter().for_each(|p| merged.merge(p));
        one.canonicalize();
        merged.canonicalize();
        assert!(one == merged);
        let s = one.finish().unwrap();
        assert!(s.sd > 1e299 && s.sd.is_finite(), "{}", s.sd);
    }

    #[test]
    fn powers_of_two_scale_exactly() {
        assert_eq!(exponent_of(1.0), 0);
        assert_eq!(exponent_of(-3.0), 1);
        assert_eq!(exponent_of(f64::MAX), 1023);
        assert_eq!(exponent_of(f64::MIN_POSITIVE), -1022);
        assert_eq!(exponent_of(f64::from_bits(1)), -1074);
        assert_eq!(exponent_of(f64::from_bits(3)), -1073);
        assert_eq!(scale_group(1e300), 960);
        assert_eq!(scale_group(f64::from_bits(1)), -1088);
        let tiny = f64::from_bits(5);
        assert_eq!(
            scale_by_power_of_two(scale_by_power_of_two(tiny, 1100), -1100),
            tiny
        );
        assert_eq!(scale_by_power_of_two(1.5, 1023), 1.5 * 2f64.powi(1023));
        assert_eq!(scale_by_power_of_two(1.0, 1024), f64::INFINITY);
        assert!(!needs_scaling(0.0) && !needs_scaling(1.0) && !needs_scaling(f64::NAN));
        assert!(needs_scaling(1e300) && needs_scaling(1e-300) && !needs_scaling(f64::INFINITY));
    }

    #[test]
    fn merge_equals_single_pass() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
        let xs: Vec<f64> = (0..10_000).map(|_| rng.random::<f64>() * 10.0).collect();
        let mut one = StatAcc::new(5.0, false);
        for chunk in xs.chunks(1000) {
            chunk.iter().for_each(|&x| one.add(x));
            one.end_batch();
        }
        let mut parts: Vec<StatAcc> = xs
            .chunks(1000)
            .map(|c| {
                let mut a = StatAcc::new(5.0, false);
                c.iter().for_each(|&x| a.add(x));
                a.end_batch();
                a
            })
            .collect();
        parts.reverse();
        let mut merged = StatAcc::new(5.0, false);
        parts.iter().for_each(|p| merged.merge(p));
        assert_eq!(one.finish(), merged.finish());
    }
}
