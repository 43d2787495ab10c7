//! Stage 3 of the pipeline: contract accounting, a pure function of the
//! revenue paths (QuantLib's "path pricer"): no randomness, no I/O, no
//! allocation.
//!
//! For each flow, MODEL.md §3: accrual `a(k) = rate * R(k)` inside the
//! window, payment `p(k) = min(a(k), cap - C(k-1))`, cumulative `C(k)`
//! starting at `paid_before_start`, the time the cap is hit (linear within
//! the step), and the NPV at `(1 + r)^(-t(k))`. Per regime and party the
//! flows are then netted, and each regime is compared with the baseline
//! path by path.
//!
//! Each rule is written once, for a chunk of paths laid out step-major:
//! [`settle_paths`] (one generic step, run four paths at a time with AVX2
//! where the processor has it, one at a time elsewhere) and
//! [`Book::nets_paths`]. Plain one-path-at-a-time references of both live
//! in the tests (`tests/settlement.rs`), which check these against them
//! bit for bit.

use crate::model::Model;
use crate::scenario::{Flow, Money, Scenario};
pub use crate::simd::Aligned;

/// A flow compiled against the time grid.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowTerms {
    /// Index of the revenue series (in name order).
    pub series: usize,
    /// Share of revenue.
    pub rate: f64,
    /// First accruing step (1-based, inclusive).
    pub first_step: usize,
    /// Last accruing step (inclusive); `last_step < first_step` means none.
    pub last_step: usize,
    /// Cumulative cap ($B), `f64::INFINITY` if uncapped.
    pub cap: Money,
    /// Payments before t = 0 counting toward the cap ($B).
    pub paid_before_start: Money,
    /// Calendar year at t = 0 (for hit times).
    pub start_year: f64,
    /// Step length in years.
    pub dt: f64,
}

impl FlowTerms {
    /// Compiles `flow` for `model`'s grid; `series` is the index of its series.
    pub(crate) fn new(flow: &Flow, series: usize, model: &Model) -> FlowTerms {
        let spy = model.steps_per_year as i64;
        let start = model.start_year as i64;
        let end = start + (model.steps as i64 / spy) - 1;
        let from = (flow.from_year as i64).max(start);
        let to = (flow.to_year as i64).min(end);
        let (first_step, last_step) = if from > to {
            (1, 0)
        } else {
            (
                ((from - start) * spy + 1) as usize,
                ((to - start + 1) * spy) as usize,
            )
        };
        FlowTerms {
            series,
            rate: flow.rate,
            first_step,
            last_step,
            cap: flow.cap.unwrap_or(f64::INFINITY),
            paid_before_start: flow.paid_before_start,
            start_year: model.start_year as f64,
            dt: model.dt,
        }
    }

    /// True if the flow has a cap.
    pub fn capped(&self) -> bool {
        self.cap.is_finite()
    }
}

/// Per-path state of one flow over a chunk of paths (structure of arrays),
/// filled by [`settle_paths`]. Entry `p` is path `p` of the chunk.
#[derive(Debug, Clone, Default)]
pub struct FlowChunk {
    /// C(k) including `paid_before_start`.
    c: Aligned,
    /// Payments inside the simulation, C(n) - C(0), $B (one per path).
    pub total: Aligned,
    /// Present value at t = 0 of those payments, $B (one per path).
    pub npv: Aligned,
    /// Step in which the cap was hit (0: at the start), or -1 while it has
    /// not been: kept as `f64` so that the loop over paths is one
    /// vectorisable run of floating-point operations.
    hit_step: Aligned,
    /// `cap - C(k-1)` and `a(k)` in the step of the hit (0 before it).
    hit_room: Aligned,
    hit_accrual: Aligned,
}

impl FlowChunk {
    /// State for chunks of up to `paths` paths.
    pub fn new(paths: usize) -> FlowChunk {
        FlowChunk {
            c: Aligned::new(paths, 0.0),
            total: Aligned::new(paths, 0.0),
            npv: Aligned::new(paths, 0.0),
            hit_step: Aligned::new(paths, -1.0),
            hit_room: Aligned::new(paths, 0.0),
            hit_accrual: Aligned::new(paths, 0.0),
        }
    }

    /// Decimal calendar year at which path `p`'s cap was hit, if it was:
    /// `start_year + t(k-1) + dt * (cap - C(k-1)) / a(k)` for a hit in step
    /// k, `start_year` for a cap already reached at t = 0.
    #[inline]
    pub fn hit_time(&self, terms: &FlowTerms, p: usize) -> Option<f64> {
        let k = self.hit_step[p];
        if k < 0.0 {
            None
        } else if k == 0.0 {
            Some(terms.start_year)
        } else {
            Some(
                terms.start_year
                    + (k - 1.0) * terms.dt
                    + terms.dt * self.hit_room[p] / self.hit_accrual[p],
            )
        }
    }
}

/// Settles one flow on a chunk of `paths` paths, laid out step-major
/// (structure of arrays, row stride `stride`): R(k) of path p is
/// `revenue[(k - 1) * stride + p]`, `discount[k-1]` is `(1 + r)^(-t(k))`,
/// and C(k) - C(0) (payments inside the simulation up to the end of step k)
/// goes to `cumulative[k * stride + p]` for k = 0..=n. Totals, NPVs and hit
/// times land in `state`.
///
/// Each step of each path is one run of floating-point operations with no
/// branch, so that the loop over paths vectorises; every path gets the
/// bits that settling it alone, as MODEL.md states the rule, gives it. A
/// flow without a cap runs the same step with its cap-only parts left out
/// (no hit can happen: with an infinite cap they would add +0.0 to the hit
/// fields and pay the accrual, the same bits), unless an accrual is
/// infinite or NaN, when the chunk is settled again with them.
///
/// # Panics
/// If a buffer is too short for `paths` paths of `discount.len()` steps.
#[inline(always)]
pub fn settle_paths(
    terms: &FlowTerms,
    revenue: &[f64],
    discount: &[f64],
    cumulative: &mut [f64],
    stride: usize,
    paths: usize,
    state: &mut FlowChunk,
) {
    let at = Level::detect();
    let chunk = Chunk {
        revenue,
        discount,
        cumulative,
        stride,
    };
    settle_paths_at(at, terms, chunk, paths, state);
}

/// The revenue rows, discount factors and cumulative rows of a chunk (see
/// [`settle_paths`]).
struct Chunk<'a> {
    revenue: &'a [f64],
    discount: &'a [f64],
    cumulative: &'a mut [f64],
    stride: usize,
}

/// [`settle_paths`] with the instruction set `at`.
#[inline(always)]
fn settle_paths_at(
    at: Level,
    terms: &FlowTerms,
    mut chunk: Chunk,
    paths: usize,
    state: &mut FlowChunk,
) {
    let FlowChunk {
        c,
        total,
        npv,
        hit_step,
        hit_room,
        hit_accrual,
    } = state;
    let mut state = State {
        c: &mut c[..paths],
        total: &mut total[..paths],
        npv: &mut npv[..paths],
        hit_step: &mut hit_step[..paths],
        hit_room: &mut hit_room[..paths],
        hit_accrual: &mut hit_accrual[..paths],
    };
    let start_capped = terms.paid_before_start >= terms.cap;
    state.c.fill(terms.paid_before_start);
    state.total.fill(0.0);
    state.npv.fill(0.0);
    state.hit_step.fill(if start_capped { 0.0 } else { -1.0 });
    state.hit_room.fill(0.0);
    state.hit_accrual.fill(0.0);
    chunk.cumulative[..paths].fill(0.0);
    if terms.cap == f64::INFINITY {
        // Only the totals and NPVs change. If every total is finite, so
        // was every accrual, and the step with the cap would have given
        // the same bits (without a cap nothing is paid before the start,
        // so C(k) is the total and the room stays infinite).
        settle_steps::<false>(at, terms, &mut chunk, &mut state);
        if state.total.iter().all(|t| t.is_finite()) {
            return;
        }
        state.total.fill(0.0);
        state.npv.fill(0.0);
    }
    settle_steps::<true>(at, terms, &mut chunk, &mut state);
}

/// The steps of [`settle_paths`], with ([`step`]'s `CAPPED`) or without
/// the cap, from the state `state` holds (one value per path).
#[inline(always)]
fn settle_steps<const CAPPED: bool>(
    at: Level,
    terms: &FlowTerms,
    chunk: &mut Chunk,
    state: &mut State<&mut [f64]>,
) {
    let (stride, paths) = (chunk.stride, state.total.len());
    for (k, &d) in (1..).zip(chunk.discount) {
        let out = &mut chunk.cumulative[k * stride..][..paths];
        if k < terms.first_step || k > terms.last_step {
            out.copy_from_slice(state.total);
            continue;
        }
        let consts = StepTerms {
            rate: terms.rate,
            cap: terms.cap,
            discount: d,
            k: k as f64,
        };
        let rows = Rows {
            revenue: &chunk.revenue[(k - 1) * stride..][..paths],
            c: state.c,
            total: state.total,
            npv: state.npv,
            hit_step: state.hit_step,
            hit_room: state.hit_room,
            hit_accrual: state.hit_accrual,
            cumulative: out,
        };
        at.settle_row::<CAPPED>(&consts, rows);
    }
}

/// The numbers of one step k that are the same on every path.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StepTerms {
    rate: f64,
    cap: f64,
    discount: f64,
    /// k, as `f64`.
    k: f64,
}

/// One step's rows of a chunk (all of the same length): R(k), the state
/// (see [`FlowChunk`]), and C(k) - C(0) out.
pub(crate) struct Rows<'a> {
    revenue: &'a [f64],
    c: &'a mut [f64],
    total: &'a mut [f64],
    npv: &'a mut [f64],
    hit_step: &'a mut [f64],
    hit_room: &'a mut [f64],
    hit_accrual: &'a mut [f64],
    cumulative: &'a mut [f64],
}

impl Rows<'_> {
    /// The rows of the paths from `p` on.
    #[inline(always)]
    fn from(&mut self, p: usize) -> Rows<'_> {
        Rows {
            revenue: &self.revenue[p..],
            c: &mut self.c[p..],
            total: &mut self.total[p..],
            npv: &mut self.npv[p..],
            hit_step: &mut self.hit_step[p..],
            hit_room: &mut self.hit_room[p..],
            hit_accrual: &mut self.hit_accrual[p..],
            cumulative: &mut self.cumulative[p..],
        }
    }
}

/// One flow's state (see [`FlowChunk`]) on the paths of one vector, or
/// (`V` = `&mut [f64]`) on the paths of a chunk.
#[derive(Clone, Copy)]
struct State<V> {
    c: V,
    total: V,
    npv: V,
    hit_step: V,
    hit_room: V,
    hit_accrual: V,
}

/// The constants of a step in vectors: [`StepTerms`], and the masks of no lane
/// and of every lane.
#[derive(Clone, Copy)]
struct Consts<V> {
    rate: V,
    cap: V,
    discount: V,
    /// k + 1: added to the hit step's -1 in the step of the hit.
    k1: V,
    zero: V,
    ones: V,
}

/// The settlement rule of MODEL.md §3 for one step of the paths of one
/// vector, the only place it is written: accrual `a = rate * R(k)`, room
/// `cap - C(k-1)`; a path whose cap is not yet reached (`live`) pays `a`
/// and adds it to C, unless `a` reaches the room (and is positive: a zero
/// accrual never hits), when it pays the room, its cap is hit, and the hit
/// step, room and accrual are recorded. The NPV adds the discounted payment.
///
/// Selections are bit masks (all ones / all zeros per lane): `if` on
/// floats compiles to jumps, which do not vectorise. A lane that is not
/// live, or does not hit, adds +0.0, which leaves every value as it is
/// (payments, hence totals, are never -0.0, since rates and revenue are
/// not negative); the discounted payment is selected, not multiplied by
/// zero, because a discount factor may overflow to infinity. The hit
/// fields start at -1 / 0 / 0 and take one addition of small integers or
/// to zero: exact.
///
/// Without `CAPPED` (an infinite cap) every lane is live and none hits:
/// the masks are constants and the step is the total plus the accrual and
/// the NPV plus its discounted value (`c` and the hit fields are neither
/// read nor written).
#[inline(always)]
fn step<V: Lanes, const CAPPED: bool>(k: &Consts<V>, revenue: V, s: State<V>) -> State<V> {
    let a = k.rate.mul(revenue);
    let room = k.cap.sub(s.c);
    let (live, hit) = if CAPPED {
        let live = s.hit_step.lt(k.zero);
        (live, live.and(a.ge(room)).and(a.gt(k.zero)))
    } else {
        (k.ones, k.zero)
    };
    let accrue = live.unless(hit).and(a);
    let pay = hit.and(room).or(accrue);
    State {
        c: s.c.add(accrue),
        total: s.total.add(pay),
        npv: s.npv.add(live.and(pay.mul(k.discount))),
        hit_step: s.hit_step.add(hit.and(k.k1)),
        hit_room: s.hit_room.add(hit.and(room)),
        hit_accrual: s.hit_accrual.add(hit.and(a)),
    }
}

/// [`step`] over the whole blocks of `W` paths of a row, with the
/// instruction set `isa`; returns the number of paths done (the row's
/// length rounded down to a multiple of `W`).
#[inline(always)]
pub(crate) fn settle_blocks<const W: usize, I: Isa<W>, const CAPPED: bool>(
    isa: I,
    s: &StepTerms,
    rows: &mut Rows,
) -> usize {
    let n = rows.revenue.len();
    assert!(
        rows.c.len() == n
            && rows.total.len() == n
            && rows.npv.len() == n
            && rows.hit_step.len() == n
            && rows.hit_room.len() == n
            && rows.hit_accrual.len() == n
            && rows.cumulative.len() == n
    );
    let revenue = rows.revenue.as_chunks::<W>().0;
    let c = rows.c.as_chunks_mut::<W>().0;
    let total = rows.total.as_chunks_mut::<W>().0;
    let npv = rows.npv.as_chunks_mut::<W>().0;
    let hit_step = rows.hit_step.as_chunks_mut::<W>().0;
    let hit_room = rows.hit_room.as_chunks_mut::<W>().0;
    let hit_accrual = rows.hit_accrual.as_chunks_mut::<W>().0;
    let cumulative = rows.cumulative.as_chunks_mut::<W>().0;
    let done = revenue.len() * W;
    let k = Consts {
        rate: isa.splat(s.rate),
        cap: isa.splat(s.cap),
        discount: isa.splat(s.discount),
        k1: isa.splat(s.k + 1.0),
        zero: isa.splat(0.0),
        ones: isa.splat(f64::from_bits(!0)),
    };
    // Zipped, not indexed: no bounds checks, and the one-lane loop
    // vectorises.
    let state = (c.iter_mut().zip(hit_step)).zip(hit_room.iter_mut().zip(hit_accrual));
    let rows = (revenue.iter().zip(cumulative)).zip(total.iter_mut().zip(npv));
    for (((r, out), (total, npv)), ((c, hit_step), (hit_room, hit_accrual))) in rows.zip(state) {
        // Without a cap, `c` and the hit fields are not used.
        let opt = |x: &[f64; W]| if CAPPED { isa.load(x) } else { k.zero };
        let next = step::<I::V, CAPPED>(
            &k,
            isa.load(r),
            State {
                c: opt(c),
                total: isa.load(total),
                npv: isa.load(npv),
                hit_step: opt(hit_step),
                hit_room: opt(hit_room),
                hit_accrual: opt(hit_accrual),
            },
        );
        isa.store(next.total, total);
        isa.store(next.total, out);
        isa.store(next.npv, npv);
        if CAPPED {
            isa.store(next.c, c);
            isa.store(next.hit_step, hit_step);
            isa.store(next.hit_room, hit_room);
            isa.store(next.hit_accrual, hit_accrual);
        }
    }
    done
}

/// The instruction set [`settle_paths`] runs with, chosen at run time
/// (see [`crate::simd`]).
#[derive(Debug, Clone, Copy)]
enum Level {
    /// One path at a time, in `f64`.
    Portable,
    /// Four paths at a time in AVX2 registers, then one at a time.
    #[cfg(target_arch = "x86_64")]
    Avx2(crate::simd::contract_avx2::Avx2),
}

impl Level {
    /// AVX2 where [`crate::simd::avx2`] says so, else portable.
    #[inline(always)]
    fn detect() -> Level {
        #[cfg(target_arch = "x86_64")]
        if let Some(isa) = crate::simd::contract_avx2::Avx2::detect() {
            return Level::Avx2(isa);
        }
        Level::Portable
    }

    /// [`step`] over every path of `rows`.
    #[inline(always)]
    fn settle_row<const CAPPED: bool>(self, s: &StepTerms, mut rows: Rows) {
        let done = match self {
            Level::Portable => 0,
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `isa` exists, so the processor runs AVX2.
            Level::Avx2(isa) => unsafe {
                crate::simd::contract_avx2::settle_blocks::<CAPPED>(isa, s, &mut rows)
            },
        };
        if done < rows.revenue.len() {
            settle_blocks::<1, Portable, CAPPED>(Portable, s, &mut rows.from(done));
        }
    }
}

/// An instruction set for [`step`]: vectors of `W` lanes of type `V`, made
/// only through a value of the set (which, for AVX2, exists only where the
/// processor runs it).
pub(crate) trait Isa<const W: usize>: Copy {
    /// A vector of `W` lanes.
    type V: Lanes;
    /// `x` in every lane.
    fn splat(self, x: f64) -> Self::V;
    /// `x` in the lanes.
    fn load(self, x: &[f64; W]) -> Self::V;
    /// The lanes of `v` into `x`.
    fn store(self, v: Self::V, x: &mut [f64; W]);
}

/// The operations of [`step`] on every lane of a vector. Masks are vectors
/// whose lanes are all ones or all zeros; `and`, `or` and `unless` act on
/// the bits.
pub(crate) trait Lanes: Copy {
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    /// Bits of `self` and `o`.
    fn and(self, o: Self) -> Self;
    /// Bits of `self` or `o`.
    fn or(self, o: Self) -> Self;
    /// Bits of `self` and not `m`.
    fn unless(self, m: Self) -> Self;
    /// Mask of `self < o` (false if either is NaN).
    fn lt(self, o: Self) -> Self;
    /// Mask of `self >= o` (false if either is NaN).
    fn ge(self, o: Self) -> Self;
    /// Mask of `self > o` (false if either is NaN).
    fn gt(self, o: Self) -> Self;
}

/// One lane in an `f64`.
#[derive(Debug, Clone, Copy)]
struct Portable;

impl Isa<1> for Portable {
    type V = f64;
    #[inline(always)]
    fn splat(self, x: f64) -> f64 {
        x
    }
    #[inline(always)]
    fn load(self, x: &[f64; 1]) -> f64 {
        x[0]
    }
    #[inline(always)]
    fn store(self, v: f64, x: &mut [f64; 1]) {
        x[0] = v;
    }
}

/// All ones if `b`, else all zeros.
#[inline(always)]
fn mask(b: bool) -> f64 {
    f64::from_bits(0u64.wrapping_sub(u64::from(b)))
}

impl Lanes for f64 {
    #[inline(always)]
    fn add(self, o: f64) -> f64 {
        self + o
    }
    #[inline(always)]
    fn sub(self, o: f64) -> f64 {
        self - o
    }
    #[inline(always)]
    fn mul(self, o: f64) -> f64 {
        self * o
    }
    #[inline(always)]
    fn and(self, o: f64) -> f64 {
        f64::from_bits(self.to_bits() & o.to_bits())
    }
    #[inline(always)]
    fn or(self, o: f64) -> f64 {
        f64::from_bits(self.to_bits() | o.to_bits())
    }
    #[inline(always)]
    fn unless(self, m: f64) -> f64 {
        f64::from_bits(self.to_bits() & !m.to_bits())
    }
    #[inline(always)]
    fn lt(self, o: f64) -> f64 {
        mask(self < o)
    }
    #[inline(always)]
    fn ge(self, o: f64) -> f64 {
        mask(self >= o)
    }
    #[inline(always)]
    fn gt(self, o: f64) -> f64 {
        mask(self > o)
    }
}

/// Discount factors `(1 + r)^(-t(k))` for k = 1..=n at index k-1.
pub fn discount_factors(model: &Model, rate: f64) -> Vec<f64> {
    (1..=model.steps)
        .map(|k| (1.0 + rate).powf(-model.time(k)))
        .collect()
}
/// Who pays whom in each flow, compiled to indices.
#[derive(Debug, Clone)]
pub struct Book {
    /// All parties, sorted.
    pub parties: Vec<String>,
    /// Regime names, sorted.
    pub regimes: Vec<String>,
    /// Index of the baseline regime.
    pub baseline: usize,
    /// Every flow of every regime (regimes in order, flows in file order).
    pub flows: Vec<BookFlow>,
    /// Per regime: the parties (indices) that appear in it.
    pub regime_parties: Vec<Vec<usize>>,
    /// Per regime: the parties compared with the baseline (those of either;
    /// empty for the baseline itself).
    pub compared: Vec<Vec<usize>>,
}

/// One flow of the book.
#[derive(Debug, Clone)]
pub struct BookFlow {
    /// Regime index.
    pub regime: usize,
    /// Flow name.
    pub name: String,
    /// Payer party index.
    pub payer: usize,
    /// Payee party index.
    pub payee: usize,
    /// Compiled terms.
    pub terms: FlowTerms,
}

impl Book {
    /// Compiles every flow of `scenario` for `model`.
    pub fn new(scenario: &Scenario, model: &Model) -> Book {
        let mut parties: Vec<String> = scenario
            .regimes
            .values()
            .flatten()
            .flat_map(|f| [f.payer.clone(), f.payee.clone()])
            .collect();
        parties.sort();
        parties.dedup();
        let regimes: Vec<String> = scenario.regimes.keys().cloned().collect();
        // Validation guarantees every name below resolves: the baseline is
        // a regime and every flow's series is a series (MODEL.md §3);
        // `parties` is built from the flows themselves. An unknown name is
        // a bug, never a silent index 0.
        let baseline = regimes
            .iter()
            .position(|r| *r == scenario.baseline)
            .expect("a validated scenario's baseline is one of its regimes");
        let series: Vec<&String> = scenario.series.keys().collect();
        let party = |p: &String| {
            parties
                .binary_search(p)
                .expect("parties holds every payer and payee of every flow")
        };
        let mut flows = Vec::new();
        let mut regime_parties = Vec::new();
        for (r, (_, fl)) in scenario.regimes.iter().enumerate() {
            let mut present = Vec::new();
            for f in fl {
                let s = series
                    .iter()
                    .position(|n| **n == f.series)
                    .expect("a validated scenario's flows name its own series");
                present.push(party(&f.payer));
                present.push(party(&f.payee));
                flows.push(BookFlow {
                    regime: r,
                    name: f.name.clone(),
                    payer: party(&f.payer),
                    payee: party(&f.payee),
                    terms: FlowTerms::new(f, s, model),
                });
            }
            present.sort();
            present.dedup();
            regime_parties.push(present);
        }
        let compared = (0..regimes.len())
            .map(|r| {
                if r == baseline {
                    return Vec::new();
                }
                let mut v = regime_parties[r].clone();
                v.extend(&regime_parties[baseline]);
                v.sort();
                v.dedup();
                v
            })
            .collect();
        Book {
            parties,
            regimes,
            baseline,
            flows,
            regime_parties,
            compared,
        }
    }

    /// Rows (of a chunk's stride) of the scratch that [`Book::nets_paths`]
    /// needs.
    pub fn position_rows(&self) -> usize {
        self.regimes.len() * self.parties.len() * POS_ROWS
    }

    /// The party metrics and comparisons of MODEL.md §3, the only place
    /// they are computed, for a chunk of `paths` paths whose flows
    /// [`settle_paths`] settled into `flows` (book order).
    ///
    /// Per regime r and party q that appears in it (`regime_parties[r]`):
    /// `paid` (the totals of q's flows as payer, summed in book order),
    /// `received` (as payee), `net = received - paid` and `net_npv` (the
    /// same with NPVs), metrics 0 to 3 of [`Net::Party`]`(r, q, m)`. Per
    /// regime r and party q compared with the baseline b (`compared[r]`):
    /// `delta_net = net(r) - net(b)` and `delta_net_npv`, metrics 0 and 1
    /// of [`Net::Comparison`]`(r, q, m)`; a party absent from a regime has
    /// net 0 there. Each goes to row `row(net)` of `out` (rows of `stride`
    /// values, path p at offset p). `positions` is scratch of
    /// [`Book::position_rows`] rows of `stride`.
    ///
    /// # Panics
    /// If `paths` exceeds `stride` or a flow's chunk, or a buffer is too
    /// short.
    // Not inlined: it runs once per chunk, and inlined into the engine's
    // chunk loop it changed how the compiler built the rest of that loop
    // (0.7% more instructions per path without AVX2, in cachegrind).
    #[inline(never)]
    pub fn nets_paths(
        &self,
        flows: &[FlowChunk],
        paths: usize,
        stride: usize,
        positions: &mut [f64],
        out: &mut [f64],
        row: impl Fn(Net) -> usize,
    ) {
        let np = self.parties.len();
        assert!(paths <= stride && positions.len() >= self.position_rows() * stride);
        let at = |i: usize, f: usize| (i * POS_ROWS + f) * stride;
        for i in 0..self.regimes.len() * np {
            for f in [POS_PAID, POS_RECEIVED, POS_PAID_NPV, POS_RECEIVED_NPV] {
                positions[at(i, f)..][..paths].fill(0.0);
            }
        }
        for (f, st) in self.flows.iter().zip(flows) {
            let (payer, payee) = (f.regime * np + f.payer, f.regime * np + f.payee);
            for (i, sum, x) in [
                (payer, POS_PAID, &st.total),
                (payer, POS_PAID_NPV, &st.npv),
                (payee, POS_RECEIVED, &st.total),
                (payee, POS_RECEIVED_NPV, &st.npv),
            ] {
                for (a, x) in positions[at(i, sum)..][..paths].iter_mut().zip(&x[..paths]) {
                    *a += x;
                }
            }
        }
        // Every position's nets, then what is read of them.
        for i in 0..self.regimes.len() * np {
            let (sums, nets) = positions.split_at_mut(at(i, POS_NET));
            for (net, received, paid) in [
                (0, POS_RECEIVED, POS_PAID),
                (stride, POS_RECEIVED_NPV, POS_PAID_NPV),
            ] {
                let (received, paid) = (&sums[at(i, received)..], &sums[at(i, paid)..]);
                for ((o, a), b) in nets[net..][..paths].iter_mut().zip(received).zip(paid) {
                    *o = a - b;
                }
            }
        }
        let positions = &positions[..];
        let field = |i: usize, f: usize| &positions[at(i, f)..][..paths];
        for r in 0..self.regimes.len() {
            for &q in &self.regime_parties[r] {
                for (m, f) in [POS_PAID, POS_RECEIVED, POS_NET, POS_NET_NPV]
                    .into_iter()
                    .enumerate()
                {
                    out[row(Net::Party(r, q, m)) * stride..][..paths]
                        .copy_from_slice(field(r * np + q, f));
                }
            }
            for &q in &self.compared[r] {
                let (x, b) = (r * np + q, self.baseline * np + q);
                for (m, f) in [POS_NET, POS_NET_NPV].into_iter().enumerate() {
                    let out = &mut out[row(Net::Comparison(r, q, m)) * stride..][..paths];
                    for ((o, x), b) in out.iter_mut().zip(field(x, f)).zip(field(b, f)) {
                        *o = x - b;
                    }
                }
            }
        }
    }
}

/// A per-path quantity that [`Book::nets_paths`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Net {
    /// `Party(r, q, m)`: metric m (0 paid, 1 received, 2 net, 3 net_npv) of
    /// party q in regime r.
    Party(usize, usize, usize),
    /// `Comparison(r, q, m)`: comparison m (0 delta_net, 1 delta_net_npv)
    /// of party q, regime r against the baseline.
    Comparison(usize, usize, usize),
}

/// Rows per position (regime and party) in the scratch of
/// [`Book::nets_paths`], and which holds what: the sums of the totals and
/// NPVs of the flows paid and received, and the nets.
const POS_ROWS: usize = 6;
const POS_PAID: usize = 0;
const POS_RECEIVED: usize = 1;
const POS_PAID_NPV: usize = 2;
const POS_RECEIVED_NPV: usize = 3;
const POS_NET: usize = 4;
const POS_NET_NPV: usize = 5;

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    /// Everything [`settle_paths_at`] leaves: the state and the cumulative rows.
    fn settle_with(
        at: Level,
        t: &FlowTerms,
        revenue: &[f64],
        discount: &[f64],
        stride: usize,
        paths: usize,
    ) -> Vec<u64> {
        let mut cumulative = vec![f64::NAN; (discount.len() + 1) * stride];
        let mut st = FlowChunk::new(paths);
        let chunk = Chunk {
            revenue,
            discount,
            cumulative: &mut cumulative,
            stride,
        };
        settle_paths_at(at, t, chunk, paths, &mut st);
        let rows = (0..=discount.len()).flat_map(|k| &cumulative[k * stride..][..paths]);
        [
            &st.c,
            &st.total,
            &st.npv,
            &st.hit_step,
            &st.hit_room,
            &st.hit_accrual,
        ]
        .into_iter()
        .flat_map(|x| x.iter())
        .chain(rows)
        // Rust leaves the sign and payload of NaN results unspecified.
        .map(|x| if x.is_nan() { f64::NAN } else { *x }.to_bits())
        .collect()
    }

    /// The AVX2 blocks (where the processor has AVX2) and the portable
    /// step leave every bit of the state and the cumulative rows alike, on
    /// chunks that mix whole blocks and tails, capped and uncapped flows,
    /// infinite and NaN revenue and overflowing discount factors. (The
    /// tests in `tests/settlement.rs` check whichever runs against the
    /// reference.)
    #[test]
    fn avx2_and_portable_steps_give_the_same_bits() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(11);
        let n = 10;
        let finite: Vec<f64> = (1..=n).map(|k| 1.1f64.powf(-(k as f64) * 0.25)).collect();
        let overflowing: Vec<f64> = (1..=n)
            .map(|k| if k > 3 { f64::INFINITY } else { 1.0 })
            .collect();
        for case in 0..300 {
            let disc = if case % 7 == 0 { &overflowing } else { &finite };
            let paths = 1 + case % 23;
            let stride = paths + case % 3;
            let cap = match case % 4 {
                0 => f64::INFINITY,
                _ => rng.random_range(0.0..20.0),
            };
            let pbs = match case % 5 {
                0 => cap.min(1e9),
                1 => rng.random_range(0.0..10.0),
                _ => 0.0,
            };
            let t = FlowTerms {
                series: 0,
                rate: rng.random_range(0.0..1.0),
                first_step: rng.random_range(1..=n),
                last_step: rng.random_range(0..=n),
                cap,
                paid_before_start: pbs,
                start_year: 2026.0,
                dt: 0.25,
            };
            let odd = case % 11 == 0;
            let revenue: Vec<f64> = (0..n * stride)
                .map(|_| match rng.random_range(0..if odd { 40 } else { 6 }) {
                    0 => 0.0,
                    1 => 5.0,
                    6 => f64::INFINITY,
                    7 => f64::NAN,
                    _ => rng.random_range(0.0..10.0),
                })
                .collect();
            assert_eq!(
                settle_with(Level::Portable, &t, &revenue, disc, stride, paths),
                settle_with(Level::detect(), &t, &revenue, disc, stride, paths),
                "case {case}"
            );
        }
    }
}
