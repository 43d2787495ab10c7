//! Stage 3 of the pipeline: contract accounting, a pure function of one
//! revenue path (QuantLib's "path pricer"): no randomness, no I/O, no
//! allocation.
//!
//! For each flow, MODEL.md §3: accrual `a(k) = rate * R(k)` inside the
//! window, payment `p(k) = min(a(k), cap - C(k-1))`, cumulative `C(k)`
//! starting at `paid_before_start`, the time the cap is hit (linear within
//! the step), and the NPV at `(1 + r)^(-t(k))`. Per regime and party the
//! flows are then netted, and each regime is compared with the baseline
//! path by path.

use crate::model::Model;
use crate::scenario::{Flow, Money, Scenario};
use crate::simd::Aligned;

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
    pub fn new(flow: &Flow, series: usize, model: &Model) -> FlowTerms {
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

/// What one flow paid on one path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlowOutcome {
    /// Payments inside the simulation, C(n) - C(0), $B.
    pub total: Money,
    /// Present value at t = 0 of those payments, $B.
    pub npv: Money,
    /// Decimal calendar year at which the cap was hit, if it was.
    pub hit_time: Option<f64>,
}

/// Settles one flow on one path.
///
/// `revenue[k-1]` is R(k) of the flow's series, `discount[k-1]` is
/// `(1 + r)^(-t(k))`; `cumulative[k]` receives C(k) - C(0) for k = 0..=n
/// (payments inside the simulation up to the end of step k).
#[inline]
pub fn settle(
    terms: &FlowTerms,
    revenue: &[f64],
    discount: &[f64],
    cumulative: &mut [f64],
) -> FlowOutcome {
    let n = revenue.len();
    debug_assert_eq!(discount.len(), n);
    debug_assert_eq!(cumulative.len(), n + 1);
    let mut c = terms.paid_before_start;
    let mut total = 0.0;
    let mut npv = 0.0;
    let mut hit_time = None;
    // A cap already reached at t = 0 is hit at the start.
    let mut capped = c >= terms.cap;
    if capped {
        hit_time = Some(terms.start_year);
    }
    cumulative[0] = 0.0;
    for k in 1..=n {
        if !capped && k >= terms.first_step && k <= terms.last_step {
            let a = terms.rate * revenue[k - 1];
            let room = terms.cap - c;
            let p = if a >= room && a > 0.0 {
                // The cap binds in this step: pay what is left, then stop.
                capped = true;
                hit_time = Some(terms.start_year + (k - 1) as f64 * terms.dt + terms.dt * room / a);
                room
            } else {
                c += a;
                a
            };
            total += p;
            npv += p * discount[k - 1];
        }
        cumulative[k] = total;
    }
    FlowOutcome {
        total,
        npv,
        hit_time,
    }
}

/// Per-path state of one flow over a chunk of paths (structure of arrays),
/// filled by [`settle_paths`]. Entry `p` is path `p` of the chunk.
#[derive(Debug, Clone, Default)]
pub struct FlowChunk {
    /// C(k) including `paid_before_start`.
    c: Aligned,
    /// Payments inside the simulation, $B (one per path).
    pub total: Aligned,
    /// Present value of those payments, $B (one per path).
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

    /// Decimal calendar year at which path `p`'s cap was hit, if it was;
    /// the same number [`settle`] gives for that path.
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

/// [`settle`] for a chunk of `paths` paths at once, laid out step-major
/// (structure of arrays, row stride `stride`): R(k) of path p is
/// `revenue[(k - 1) * stride + p]`, and C(k) - C(0) goes to
/// `cumulative[k * stride + p]` for k = 0..=n. Totals, NPVs and hit times
/// land in `state`.
///
/// Every path gets bit for bit what [`settle`] gives it: the same
/// operations in the same order, except that a path whose cap has been
/// reached adds +0.0 where [`settle`] adds nothing, which leaves every
/// value unchanged (payments, hence totals, are never -0.0, since rates and
/// revenue are not negative; the discounted payment is selected, not
/// multiplied by zero, because a discount factor may overflow to infinity). That makes the loop over paths branch-free
/// and vectorisable; the hit step, room and accrual are recorded by adding
/// their values once to a -1 / 0 / 0 start (exact: small integers and one
/// addition to zero). A flow without a cap takes a shortcut with the same
/// bits: each step adds the accrual to the total and its discounted value
/// to the NPV, and nothing else (no hit can happen, so the general step
/// would only add +0.0 to the hit fields), unless an accrual is infinite
/// or NaN, when the chunk is settled again by the general step.
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
    let n = discount.len();
    let FlowChunk {
        c,
        total,
        npv,
        hit_step,
        hit_room,
        hit_accrual,
    } = state;
    let (c, total, npv) = (&mut c[..paths], &mut total[..paths], &mut npv[..paths]);
    let (hit_step, hit_room, hit_accrual) = (
        &mut hit_step[..paths],
        &mut hit_room[..paths],
        &mut hit_accrual[..paths],
    );
    let start_capped = terms.paid_before_start >= terms.cap;
    c.fill(terms.paid_before_start);
    total.fill(0.0);
    npv.fill(0.0);
    hit_step.fill(if start_capped { 0.0 } else { -1.0 });
    hit_room.fill(0.0);
    hit_accrual.fill(0.0);
    cumulative[..paths].fill(0.0);
    let (rate, cap) = (terms.rate, terms.cap);
    if cap == f64::INFINITY {
        // No cap: a path's step pays its accrual (the general step adds
        // +0.0 to the hit fields, leaving them as they are, and its C(k)
        // only serves the cap), unless an accrual is infinite or NaN; the
        // general step below then starts again from the state above.
        for k in 1..=n {
            let out = &mut cumulative[k * stride..k * stride + paths];
            if k < terms.first_step || k > terms.last_step {
                out.copy_from_slice(total);
                continue;
            }
            let r = &revenue[(k - 1) * stride..(k - 1) * stride + paths];
            let d = discount[k - 1];
            for (((o, t), v), &r) in out
                .iter_mut()
                .zip(total.iter_mut())
                .zip(npv.iter_mut())
                .zip(r)
            {
                let a = rate * r;
                *t += a;
                *v += a * d;
                *o = *t;
            }
        }
        if total.iter().all(|t| t.is_finite()) {
            return;
        }
        total.fill(0.0);
        npv.fill(0.0);
    }
    for k in 1..=n {
        let out = &mut cumulative[k * stride..k * stride + paths];
        if k < terms.first_step || k > terms.last_step {
            out.copy_from_slice(total);
            continue;
        }
        let r = &revenue[(k - 1) * stride..(k - 1) * stride + paths];
        let d = discount[k - 1];
        let kf = k as f64;
        // One path's step: (c, total, npv, hit step, hit room, hit accrual)
        // in, the same out.
        let step = |r: f64, st: [f64; 6]| -> [f64; 6] {
            let [cp, tp, np, hs, hr, ha] = st;
            let a = rate * r;
            let room = cap - cp;
            // Branch-free selections on all-ones / all-zeros bit masks
            // (the compiler turns `if` on floats into jumps, which do not
            // vectorise); selecting +0.0 is selecting no bits.
            let live = mask(hs < 0.0);
            let hit = live & mask(a >= room) & mask(a > 0.0);
            let pay = pick(hit, room) | pick(live & !hit, a);
            let pay = f64::from_bits(pay);
            let accrue = f64::from_bits(pick(live & !hit, a));
            [
                cp + accrue,
                tp + pay,
                np + f64::from_bits(pick(live, pay * d)),
                hs + f64::from_bits(pick(hit, kf + 1.0)),
                hr + f64::from_bits(pick(hit, room)),
                ha + f64::from_bits(pick(hit, a)),
            ]
        };
        // Whole blocks of four paths with AVX2 where the processor has it
        // (the same selections and additions, four lanes at a time).
        #[cfg(target_arch = "x86_64")]
        let whole = if crate::simd::avx2() {
            let rows = Rows {
                r,
                c,
                total,
                npv,
                hit_step,
                hit_room,
                hit_accrual,
                out,
            };
            // SAFETY: the processor supports AVX2 (checked at run time).
            unsafe { settle_row_avx2(rate, cap, d, kf, rows) }
        } else {
            0
        };
        #[cfg(not(target_arch = "x86_64"))]
        let whole = 0;
        for p in whole..paths {
            let next = step(
                r[p],
                [
                    c[p],
                    total[p],
                    npv[p],
                    hit_step[p],
                    hit_room[p],
                    hit_accrual[p],
                ],
            );
            [
                c[p],
                total[p],
                npv[p],
                hit_step[p],
                hit_room[p],
                hit_accrual[p],
            ] = next;
            out[p] = next[1];
        }
    }
}

/// All ones if `b`, else all zeros.
#[inline(always)]
fn mask(b: bool) -> u64 {
    0u64.wrapping_sub(u64::from(b))
}

/// The bits of `x` where `m` is set (`m` all ones or all zeros).
#[inline(always)]
fn pick(m: u64, x: f64) -> u64 {
    m & x.to_bits()
}

/// One step's rows of a chunk in [`settle_paths`], all of the same length.
#[cfg(target_arch = "x86_64")]
struct Rows<'a> {
    r: &'a [f64],
    c: &'a mut [f64],
    total: &'a mut [f64],
    npv: &'a mut [f64],
    hit_step: &'a mut [f64],
    hit_room: &'a mut [f64],
    hit_accrual: &'a mut [f64],
    out: &'a mut [f64],
}

/// The step of [`settle_paths`] for whole blocks of four paths, in AVX2
/// registers: the same masks, selections and additions as the scalar step.
/// Returns the number of paths done (the row length rounded down to a
/// multiple of four).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn settle_row_avx2(rate: f64, cap: f64, d: f64, kf: f64, rows: Rows) -> usize {
    use std::arch::x86_64::*;
    let n = rows.r.len();
    assert!(
        rows.c.len() == n
            && rows.total.len() == n
            && rows.npv.len() == n
            && rows.hit_step.len() == n
            && rows.hit_room.len() == n
            && rows.hit_accrual.len() == n
            && rows.out.len() == n
    );
    let whole = n - n % 4;
    let (rate, cap, d) = (_mm256_set1_pd(rate), _mm256_set1_pd(cap), _mm256_set1_pd(d));
    let (k1, zero) = (_mm256_set1_pd(kf + 1.0), _mm256_setzero_pd());
    for i in (0..whole).step_by(4) {
        // SAFETY: i + 4 <= n, the length of every row (asserted above).
        unsafe {
            let ld = |x: &[f64]| _mm256_loadu_pd(x.as_ptr().add(i));
            let (r, c, t) = (ld(rows.r), ld(rows.c), ld(rows.total));
            let (np, hs, hr, ha) = (
                ld(rows.npv),
                ld(rows.hit_step),
                ld(rows.hit_room),
                ld(rows.hit_accrual),
            );
            let a = _mm256_mul_pd(rate, r);
            let room = _mm256_sub_pd(cap, c);
            let live = _mm256_cmp_pd::<_CMP_LT_OQ>(hs, zero);
            let hit = _mm256_and_pd(
                live,
                _mm256_and_pd(
                    _mm256_cmp_pd::<_CMP_GE_OQ>(a, room),
                    _mm256_cmp_pd::<_CMP_GT_OQ>(a, zero),
                ),
            );
            let accrue = _mm256_and_pd(_mm256_andnot_pd(hit, live), a);
            let pay = _mm256_or_pd(_mm256_and_pd(hit, room), accrue);
            let t = _mm256_add_pd(t, pay);
            let st = |x: &mut [f64], v: __m256d| _mm256_storeu_pd(x.as_mut_ptr().add(i), v);
            st(rows.c, _mm256_add_pd(c, accrue));
            st(rows.total, t);
            st(
                rows.npv,
                _mm256_add_pd(np, _mm256_and_pd(live, _mm256_mul_pd(pay, d))),
            );
            st(rows.hit_step, _mm256_add_pd(hs, _mm256_and_pd(hit, k1)));
            st(rows.hit_room, _mm256_add_pd(hr, _mm256_and_pd(hit, room)));
            st(rows.hit_accrual, _mm256_add_pd(ha, _mm256_and_pd(hit, a)));
            st(rows.out, t);
        }
    }
    whole
}

/// Discount factors `(1 + r)^(-t(k))` for k = 1..=n at index k-1.
pub fn discount_factors(model: &Model, rate: f64) -> Vec<f64> {
    (1..=model.steps)
        .map(|k| (1.0 + rate).powf(-model.time(k)))
        .collect()
}

/// Per-path party positions of one regime.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Position {
    /// Paid as payer, $B.
    pub paid: Money,
    /// Received as payee, $B.
    pub received: Money,
    /// NPV of payments made, $B.
    pub paid_npv: Money,
    /// NPV of payments received, $B.
    pub received_npv: Money,
}

impl Position {
    /// received - paid.
    pub fn net(&self) -> Money {
        self.received - self.paid
    }
    /// NPV of received - NPV of paid.
    pub fn net_npv(&self) -> Money {
        self.received_npv - self.paid_npv
    }
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
        let baseline = regimes
            .iter()
            .position(|r| *r == scenario.baseline)
            .unwrap_or(0);
        let series: Vec<&String> = scenario.series.keys().collect();
        let party = |p: &String| parties.iter().position(|q| q == p).unwrap_or(0);
        let mut flows = Vec::new();
        let mut regime_parties = Vec::new();
        for (r, (_, fl)) in scenario.regimes.iter().enumerate() {
            let mut present = Vec::new();
            for f in fl {
                let s = series.iter().position(|n| **n == f.series).unwrap_or(0);
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

    /// Nets the flow outcomes of one path into `positions[regime * parties + party]`.
    #[inline]
    pub fn positions(&self, outcomes: &[FlowOutcome], positions: &mut [Position]) {
        positions.fill(Position::default());
        let np = self.parties.len();
        for (f, o) in self.flows.iter().zip(outcomes) {
            let payer = &mut positions[f.regime * np + f.payer];
            payer.paid += o.total;
            payer.paid_npv += o.npv;
            let payee = &mut positions[f.regime * np + f.payee];
            payee.received += o.total;
            payee.received_npv += o.npv;
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
    #[inline(always)]
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

    fn terms(rate: f64, first: usize, last: usize, cap: f64, pbs: f64) -> FlowTerms {
        FlowTerms {
            series: 0,
            rate,
            first_step: first,
            last_step: last,
            cap,
            paid_before_start: pbs,
            start_year: 2026.0,
            dt: 0.25,
        }
    }

    fn run(t: &FlowTerms, rev: &[f64], r: f64) -> (FlowOutcome, Vec<f64>) {
        let disc: Vec<f64> = (1..=rev.len())
            .map(|k| (1.0 + r).powf(-(k as f64) * 0.25))
            .collect();
        let mut cum = vec![f64::NAN; rev.len() + 1];
        let o = settle(t, rev, &disc, &mut cum);
        (o, cum)
    }

    #[test]
    fn cap_hit_mid_step_has_exact_time() {
        // Revenue 10 per step, 20% -> accrual 2 per step; cap 5.
        // Steps 1, 2 pay 2 each (C = 4); step 3 would accrue 2 but only 1
        // remains: hit at t = 2 * 0.25 + 0.25 * 1 / 2 = 0.625.
        let (o, cum) = run(&terms(0.2, 1, 8, 5.0, 0.0), &[10.0; 8], 0.0);
        assert_eq!(o.total, 5.0);
        assert_eq!(o.hit_time, Some(2026.625));
        assert_eq!(cum, vec![0.0, 2.0, 4.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0]);
    }

    #[test]
    fn cap_reached_before_start() {
        let (o, cum) = run(&terms(0.2, 1, 8, 5.0, 5.0), &[10.0; 8], 0.0);
        assert_eq!(o.total, 0.0);
        assert_eq!(o.hit_time, Some(2026.0));
        assert!(cum.iter().all(|&c| c == 0.0));
        // Partly used before start: 4 of 5 already paid; step 1 accrues 2,
        // pays 1, hit half-way through step 1.
        let (o, _) = run(&terms(0.2, 1, 8, 5.0, 4.0), &[10.0; 8], 0.0);
        assert_eq!(o.total, 1.0);
        assert_eq!(o.hit_time, Some(2026.125));
    }

    #[test]
    fn window_edges_are_inclusive() {
        // Steps 3..=4 only: 2 + 2.
        let (o, cum) = run(&terms(0.2, 3, 4, f64::INFINITY, 0.0), &[10.0; 8], 0.0);
        assert_eq!(o.total, 4.0);
        assert_eq!(o.hit_time, None);
        assert_eq!(cum, vec![0.0, 0.0, 0.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]);
        // A window entirely outside the horizon pays nothing.
        let (o, cum) = run(&terms(0.2, 1, 0, f64::INFINITY, 0.0), &[10.0; 8], 0.0);
        assert_eq!(o.total, 0.0);
        assert!(cum.iter().all(|&c| c == 0.0));
    }

    #[test]
    fn zero_rate_pays_nothing_and_never_hits() {
        let (o, _) = run(&terms(0.0, 1, 8, 5.0, 0.0), &[10.0; 8], 0.0);
        assert_eq!(o.total, 0.0);
        assert_eq!(o.hit_time, None);
    }

    #[test]
    fn uncapped_flow_pays_rate_times_revenue() {
        let rev = [1.0, 2.0, 3.0, 4.0];
        let (o, _) = run(&terms(0.5, 1, 4, f64::INFINITY, 0.0), &rev, 0.0);
        assert_eq!(o.total, 5.0);
        assert_eq!(o.npv, 5.0);
    }

    #[test]
    fn discounting_uses_end_of_step_times() {
        // r = 10%: step k paid at t = k/4.
        let rev = [10.0; 4];
        let (o, _) = run(&terms(0.1, 1, 4, f64::INFINITY, 0.0), &rev, 0.1);
        let expect: f64 = (1..=4).map(|k| 1.0 * 1.1f64.powf(-(k as f64) / 4.0)).sum();
        assert!((o.npv - expect).abs() < 1e-14);
        assert_eq!(o.total, 4.0);
    }

    #[test]
    fn settle_paths_gives_every_path_what_settle_gives_it() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
        let n = 12;
        let finite: Vec<f64> = (1..=n).map(|k| 1.1f64.powf(-(k as f64) * 0.25)).collect();
        // Discount factors can overflow (a rate near -1 over a long horizon).
        let overflowing: Vec<f64> = (1..=n)
            .map(|k| if k > 3 { f64::INFINITY } else { 1.0 })
            .collect();
        for case in 0..200 {
            let disc = if case % 7 == 0 { &overflowing } else { &finite };
            let paths = 1 + case % 37;
            let stride = paths + 3;
            let first = rng.random_range(1..=n);
            let last = rng.random_range(0..=n);
            let cap = match case % 4 {
                0 => f64::INFINITY,
                _ => rng.random_range(0.0..20.0),
            };
            let pbs = match case % 5 {
                0 => cap.min(1e9),
                1 => rng.random_range(0.0..10.0),
                _ => 0.0,
            };
            let t = terms(rng.random_range(0.0..1.0), first, last, cap, pbs);
            // Revenue paths with exact zeros and repeated values mixed in,
            // and in some cases infinite or NaN values (which the uncapped
            // shortcut hands back to the general step).
            let odd = case % 11 == 0;
            let rev: Vec<Vec<f64>> = (0..paths)
                .map(|_| {
                    (0..n)
                        .map(|_| match rng.random_range(0..if odd { 40 } else { 6 }) {
                            0 => 0.0,
                            1 => 5.0,
                            6 => f64::INFINITY,
                            7 => f64::NAN,
                            _ => rng.random_range(0.0..10.0),
                        })
                        .collect()
                })
                .collect();
            let mut soa = vec![f64::NAN; n * stride];
            for (p, r) in rev.iter().enumerate() {
                for (k, &x) in r.iter().enumerate() {
                    soa[k * stride + p] = x;
                }
            }
            let mut cum = vec![f64::NAN; (n + 1) * stride];
            let mut st = FlowChunk::new(paths);
            settle_paths(&t, &soa, disc, &mut cum, stride, paths, &mut st);
            for (p, r) in rev.iter().enumerate() {
                let mut one = vec![f64::NAN; n + 1];
                let o = settle(&t, r, disc, &mut one);
                assert_eq!(
                    o.total.to_bits(),
                    st.total[p].to_bits(),
                    "case {case} path {p}"
                );
                assert!(
                    o.npv.to_bits() == st.npv[p].to_bits()
                        || (o.npv.is_nan() && st.npv[p].is_nan()),
                    "case {case} path {p}: {} vs {}",
                    o.npv,
                    st.npv[p]
                );
                assert_eq!(
                    o.hit_time.map(f64::to_bits),
                    st.hit_time(&t, p).map(f64::to_bits),
                    "case {case} path {p}"
                );
                for (k, c) in one.iter().enumerate() {
                    assert_eq!(
                        c.to_bits(),
                        cum[k * stride + p].to_bits(),
                        "case {case} path {p} step {k}"
                    );
                }
            }
        }
    }

    #[test]
    fn nets_paths_equals_positions_path_by_path() {
        // base.json's book (two regimes, flows in both directions) over
        // seven paths with distinct totals and NPVs, in rows of stride 9.
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/base.json");
        let sc = crate::scenario::load(&file).unwrap().scenario;
        let book = Book::new(&sc, &Model::new(&sc));
        let (paths, stride) = (7, 9);
        let value = |f: usize, p: usize, k: f64| k * (f + 1) as f64 + 0.1 * p as f64 + 1.0 / 3.0;
        let flows: Vec<FlowChunk> = (0..book.flows.len())
            .map(|f| {
                let mut c = FlowChunk::new(paths);
                for p in 0..paths {
                    c.total[p] = value(f, p, 7.0);
                    c.npv[p] = value(f, p, 5.0);
                }
                c
            })
            .collect();
        let n = book.regimes.len() * book.parties.len();
        let index = |net: Net| match net {
            Net::Party(r, q, m) => (r * book.parties.len() + q) * 6 + m,
            Net::Comparison(r, q, m) => (r * book.parties.len() + q) * 6 + 4 + m,
        };
        let mut positions = vec![f64::NAN; book.position_rows() * stride];
        let mut rows = vec![f64::NAN; n * 6 * stride];
        book.nets_paths(&flows, paths, stride, &mut positions, &mut rows, index);
        for p in 0..paths {
            let outcomes: Vec<FlowOutcome> = flows
                .iter()
                .map(|c| FlowOutcome {
                    total: c.total[p],
                    npv: c.npv[p],
                    hit_time: None,
                })
                .collect();
            let mut pos = vec![Position::default(); n];
            book.positions(&outcomes, &mut pos);
            let row = |net: Net| rows[index(net) * stride + p].to_bits();
            for r in 0..book.regimes.len() {
                for &q in &book.regime_parties[r] {
                    let x = &pos[r * book.parties.len() + q];
                    let expect = [x.paid, x.received, x.net(), x.net_npv()];
                    for (m, e) in expect.iter().enumerate() {
                        assert_eq!(
                            row(Net::Party(r, q, m)),
                            e.to_bits(),
                            "{r} {q} {m}, path {p}"
                        );
                    }
                }
                for &q in &book.compared[r] {
                    let (x, b) = (
                        &pos[r * book.parties.len() + q],
                        &pos[book.baseline * book.parties.len() + q],
                    );
                    let expect = [x.net() - b.net(), x.net_npv() - b.net_npv()];
                    for (m, e) in expect.iter().enumerate() {
                        assert_eq!(
                            row(Net::Comparison(r, q, m)),
                            e.to_bits(),
                            "{r} {q} {m}, path {p}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn party_nets_and_comparison_deltas() {
        use crate::scenario::parse;
        let sc = parse(
            r#"{ "name": "b", "start_year": 2026, "end_year": 2026, "steps_per_year": 4,
              "series": { "a": { "initial_run_rate": 40, "growth": { "initial": 0 }, "volatility": { "initial": 0 } },
                          "b": { "initial_run_rate": 20, "growth": { "initial": 0 }, "volatility": { "initial": 0 } } },
              "baseline": "prior",
              "regimes": {
                "prior": [ { "name": "x", "payer": "O", "payee": "M", "series": "a", "rate": 0.2, "from_year": 2026, "to_year": 2026 },
                           { "name": "y", "payer": "M", "payee": "O", "series": "b", "rate": 0.2, "from_year": 2026, "to_year": 2026 } ],
                "amended": [ { "name": "x", "payer": "O", "payee": "M", "series": "a", "rate": 0.2, "from_year": 2026, "to_year": 2026, "cap": 3 } ] } }"#,
            std::path::Path::new("b.json"),
        )
        .unwrap()
        .scenario;
        let model = Model::new(&sc);
        let book = Book::new(&sc, &model);
        assert_eq!(book.parties, vec!["M".to_string(), "O".to_string()]);
        // Regimes sorted: amended = 0, prior = 1 (the baseline).
        assert_eq!(book.baseline, 1);
        let disc = vec![1.0; 4];
        let rev_a = [10.0; 4]; // 40/yr flat
        let rev_b = [5.0; 4];
        let outcomes: Vec<FlowOutcome> = book
            .flows
            .iter()
            .map(|f| {
                let rev = if f.terms.series == 0 { &rev_a } else { &rev_b };
                settle(&f.terms, rev, &disc, &mut [0.0; 5])
            })
            .collect();
        let mut pos = vec![Position::default(); 4];
        book.positions(&outcomes, &mut pos);
        // Amended: O pays M 3 (capped). Prior: O pays 8, M pays 4.
        assert_eq!(pos[0].net(), 3.0); // amended, M
        assert_eq!(pos[1].net(), -3.0); // amended, O
        assert_eq!(pos[2].net(), 8.0 - 4.0); // prior, M
        assert_eq!(pos[3].net(), 4.0 - 8.0); // prior, O
                                             // OpenAI's gain from the amendment: -3 - (-4) = +1; Microsoft's: -1.
        assert_eq!(pos[1].net() - pos[3].net(), 1.0);
        assert_eq!(pos[0].net() - pos[2].net(), -1.0);
    }
}
