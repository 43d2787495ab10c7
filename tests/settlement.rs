//! The contract arithmetic of MODEL.md §3 written out plainly, one path at
//! a time ([`reference`]), and what the library runs, on chunks of paths
//! laid out step-major ([`settle_paths`], [`Book::nets_paths`]): both on
//! hand-computed cases, then bit for bit against each other on random ones
//! (proptest). The engine runs only the library's forms; the reference is
//! test code.
//!
//! Which instruction set the library's form runs with is chosen per
//! process (AVX2 where the processor has it, unless `REVSHARE_SIMD=off`);
//! the unit tests of `accounting` check that both give the same bits.

use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use revshare::contract::{settle_paths, Book, FlowChunk, FlowTerms, Net};
use revshare::model::Model;
use revshare::scenario;

/// The rule as MODEL.md §3 states it, one path and one flow or book at a
/// time.
mod reference {
    use revshare::contract::{Book, FlowTerms};

    /// What one flow paid on one path.
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub struct Outcome {
        /// Payments inside the simulation, C(n) - C(0).
        pub total: f64,
        /// Their present value at t = 0.
        pub npv: f64,
        /// Decimal calendar year at which the cap was hit, if it was.
        pub hit_time: Option<f64>,
    }

    /// Settles one flow on one path: `revenue[k-1]` is R(k),
    /// `discount[k-1]` is `(1 + r)^(-t(k))`; `cumulative[k]` receives
    /// C(k) - C(0) for k = 0..=n.
    pub fn settle(
        terms: &FlowTerms,
        revenue: &[f64],
        discount: &[f64],
        cumulative: &mut [f64],
    ) -> Outcome {
        let n = revenue.len();
        assert!(discount.len() == n && cumulative.len() == n + 1);
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
                    hit_time =
                        Some(terms.start_year + (k - 1) as f64 * terms.dt + terms.dt * room / a);
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
        Outcome {
            total,
            npv,
            hit_time,
        }
    }

    /// One path's party metrics and comparisons, from its flows' outcomes
    /// (book order): `party[r * parties + q]` = [paid, received, net,
    /// net_npv] of party q in regime r (zeros for a party absent from r),
    /// `comparison[r * parties + q]` = [delta_net, delta_net_npv] of regime
    /// r against the baseline.
    pub fn nets(book: &Book, outcomes: &[(f64, f64)]) -> (Vec<[f64; 4]>, Vec<[f64; 2]>) {
        let np = book.parties.len();
        // paid, received, paid_npv, received_npv
        let mut sums = vec![[0.0f64; 4]; book.regimes.len() * np];
        for (f, &(total, npv)) in book.flows.iter().zip(outcomes) {
            let payer = &mut sums[f.regime * np + f.payer];
            payer[0] += total;
            payer[2] += npv;
            let payee = &mut sums[f.regime * np + f.payee];
            payee[1] += total;
            payee[3] += npv;
        }
        let party: Vec<[f64; 4]> = sums
            .iter()
            .map(|[paid, received, paid_npv, received_npv]| {
                [*paid, *received, received - paid, received_npv - paid_npv]
            })
            .collect();
        let comparison = (0..sums.len())
            .map(|i| {
                let b = book.baseline * np + i % np;
                [party[i][2] - party[b][2], party[i][3] - party[b][3]]
            })
            .collect();
        (party, comparison)
    }
}

/// What the library's [`settle_paths`] gives each of a chunk's paths: the
/// outcome as [`reference::settle`] states it, and C(k) - C(0) for
/// k = 0..=n.
fn settle_chunk(
    t: &FlowTerms,
    paths: &[Vec<f64>],
    discount: &[f64],
    pad: usize,
) -> Vec<(reference::Outcome, Vec<f64>)> {
    let n = discount.len();
    let stride = paths.len() + pad;
    let mut revenue = vec![f64::NAN; n * stride];
    for (p, r) in paths.iter().enumerate() {
        for (k, &x) in r.iter().enumerate() {
            revenue[k * stride + p] = x;
        }
    }
    let mut cumulative = vec![f64::NAN; (n + 1) * stride];
    let mut st = FlowChunk::new(paths.len());
    settle_paths(
        t,
        &revenue,
        discount,
        &mut cumulative,
        stride,
        paths.len(),
        &mut st,
    );
    (0..paths.len())
        .map(|p| {
            let o = reference::Outcome {
                total: st.total[p],
                npv: st.npv[p],
                hit_time: st.hit_time(t, p),
            };
            (o, (0..=n).map(|k| cumulative[k * stride + p]).collect())
        })
        .collect()
}

/// The bits of `x`, every NaN alike: Rust (like LLVM) leaves the sign and
/// payload of a NaN result unspecified (the compiler may swap the operands
/// of an addition), so only "NaN" is compared.
fn bits(x: f64) -> u64 {
    if x.is_nan() {
        f64::NAN.to_bits()
    } else {
        x.to_bits()
    }
}

/// Asserts that two outcomes and cumulative rows are the same bits (see
/// [`bits`]).
fn assert_same(
    a: &(reference::Outcome, Vec<f64>),
    b: &(reference::Outcome, Vec<f64>),
    what: &str,
) -> Result<(), TestCaseError> {
    let ((x, cx), (y, cy)) = (a, b);
    prop_assert_eq!(bits(x.total), bits(y.total), "total, {}", what);
    prop_assert_eq!(
        bits(x.npv),
        bits(y.npv),
        "npv {} vs {}, {}",
        x.npv,
        y.npv,
        what
    );
    prop_assert_eq!(
        x.hit_time.map(bits),
        y.hit_time.map(bits),
        "hit time, {}",
        what
    );
    let rows = |c: &Vec<f64>| c.iter().copied().map(bits).collect::<Vec<_>>();
    prop_assert_eq!(rows(cx), rows(cy), "cumulative, {}", what);
    Ok(())
}

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

/// The reference's outcome of one path at discount rate `r`, after
/// checking that the library gives the same bits on that path alone and
/// on each of nine copies of it in one chunk (whole vector blocks and a
/// tail).
fn run(t: &FlowTerms, rev: &[f64], r: f64) -> (reference::Outcome, Vec<f64>) {
    let disc: Vec<f64> = (1..=rev.len())
        .map(|k| (1.0 + r).powf(-(k as f64) * 0.25))
        .collect();
    let mut cum = vec![f64::NAN; rev.len() + 1];
    let expect = (reference::settle(t, rev, &disc, &mut cum), cum);
    for copies in [1, 9] {
        for (p, got) in settle_chunk(t, &vec![rev.to_vec(); copies], &disc, 3)
            .iter()
            .enumerate()
        {
            assert_same(&expect, got, &format!("path {p} of {copies}")).unwrap();
        }
    }
    expect
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
fn an_accrual_that_exactly_fills_the_cap_hits_it_at_the_step_end() {
    // Accrual 2 per step, cap 4: step 2 pays 2 = the room, hit at its end.
    let (o, cum) = run(&terms(0.2, 1, 4, 4.0, 0.0), &[10.0; 4], 0.0);
    assert_eq!(o.total, 4.0);
    assert_eq!(o.hit_time, Some(2026.5));
    assert_eq!(cum, vec![0.0, 2.0, 4.0, 4.0, 4.0]);
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
fn zero_accruals_pay_nothing_and_never_hit() {
    let (o, _) = run(&terms(0.0, 1, 8, 5.0, 0.0), &[10.0; 8], 0.0);
    assert_eq!(o.total, 0.0);
    assert_eq!(o.hit_time, None);
    // Zero revenue leaves a cap as it is; a zero cap is reached at t = 0.
    let (o, _) = run(&terms(0.2, 1, 4, 1.0, 0.0), &[0.0; 4], 0.0);
    assert_eq!((o.total, o.hit_time), (0.0, None));
    let (o, _) = run(&terms(0.2, 1, 4, 0.0, 0.0), &[0.0, 0.0, 10.0, 10.0], 0.0);
    assert_eq!((o.total, o.hit_time), (0.0, Some(2026.0)));
    // C can reach the cap without a hit, by rounding: 1 + 1.5 eps < cap =
    // 1 + 2 eps rounds up to it (ties to even). A zero accrual then does
    // not hit it (no room is left, but nothing accrues); the next positive
    // one does, at the start of its step.
    let eps = f64::EPSILON;
    let t = terms(1.0, 1, 4, 1.0 + 2.0 * eps, 0.0);
    let (o, cum) = run(&t, &[1.0, 1.5 * eps, 0.0, 1.0], 0.0);
    assert_eq!(cum[2], t.cap);
    assert_eq!((o.total, o.hit_time), (t.cap, Some(2026.75)));
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
    let expect: f64 = (1..=4).map(|k| 1.1f64.powf(-(k as f64) / 4.0)).sum();
    assert!((o.npv - expect).abs() < 1e-14);
    assert_eq!(o.total, 4.0);
}

#[test]
fn party_nets_and_comparison_deltas() {
    let sc = scenario::parse(
        r#"{ "name": "b", "start_year": 2026, "end_year": 2026, "steps_per_year": 4,
          "series": { "a": { "initial_run_rate": 40, "growth": { "initial": 0 }, "volatility": { "initial": 0 } },
                      "b": { "initial_run_rate": 20, "growth": { "initial": 0 }, "volatility": { "initial": 0 } } },
          "baseline": "prior",
          "regimes": {
            "prior": [ { "name": "x", "payer": "O", "payee": "M", "series": "a", "rate": 0.2, "from_year": 2026, "to_year": 2026 },
                       { "name": "y", "payer": "M", "payee": "O", "series": "b", "rate": 0.2, "from_year": 2026, "to_year": 2026 } ],
            "amended": [ { "name": "x", "payer": "O", "payee": "M", "series": "a", "rate": 0.2, "from_year": 2026, "to_year": 2026, "cap": 3 } ] } }"#,
        Path::new("b.json"),
    )
    .unwrap()
    .scenario;
    let model = Model::new(&sc);
    let book = Book::new(&sc, &model);
    assert_eq!(book.parties, ["M", "O"]);
    // Regimes sorted: amended = 0, prior = 1 (the baseline).
    assert_eq!(book.baseline, 1);
    // Revenue 40/yr and 20/yr flat: 10 and 5 a quarter, on two paths.
    let disc = vec![1.0; 4];
    let flows: Vec<FlowChunk> = book
        .flows
        .iter()
        .map(|f| {
            let r = if f.terms.series == 0 { 10.0 } else { 5.0 };
            let mut st = FlowChunk::new(2);
            settle_paths(&f.terms, &[r; 8], &disc, &mut [0.0; 10], 2, 2, &mut st);
            st
        })
        .collect();
    let nets = Nets::of(&book, &flows, 2);
    for p in 0..2 {
        // Amended: O pays M 3 (capped). Prior: O pays 8, M pays 4.
        assert_eq!(nets.party(0, 0, p), [0.0, 3.0, 3.0, 3.0]); // amended, M
        assert_eq!(nets.party(0, 1, p), [3.0, 0.0, -3.0, -3.0]); // amended, O
        assert_eq!(nets.party(1, 0, p), [4.0, 8.0, 4.0, 4.0]); // prior, M
        assert_eq!(nets.party(1, 1, p), [8.0, 4.0, -4.0, -4.0]); // prior, O
                                                                 // OpenAI's gain from the amendment: -3 - (-4) = +1; Microsoft's: -1.
        assert_eq!(nets.comparison(0, 1, p), [1.0, 1.0]);
        assert_eq!(nets.comparison(0, 0, p), [-1.0, -1.0]);
    }
    // 4 party metrics of 2 parties in 2 regimes, 2 comparisons of 2
    // parties for the amendment; none for the baseline against itself.
    assert_eq!(nets.0.len(), 4 * 4 + 2 * 2);
}

/// What [`Book::nets_paths`] wrote for a chunk: each row with its [`Net`],
/// in the order written.
struct Nets(Vec<(Net, Vec<f64>)>);

impl Nets {
    /// [`Book::nets_paths`] of `paths` paths, into rows of its own.
    fn of(book: &Book, flows: &[FlowChunk], paths: usize) -> Nets {
        let stride = paths + 5;
        let np = book.parties.len();
        let index = |net: Net| match net {
            Net::Party(r, q, m) => (r * np + q) * 6 + m,
            Net::Comparison(r, q, m) => (r * np + q) * 6 + 4 + m,
        };
        let mut positions = vec![f64::NAN; book.position_rows() * stride];
        let mut out = vec![f64::NAN; book.regimes.len() * np * 6 * stride];
        let written = std::cell::RefCell::new(Vec::new());
        book.nets_paths(flows, paths, stride, &mut positions, &mut out, |net| {
            written.borrow_mut().push(net);
            index(net)
        });
        Nets(
            written
                .into_inner()
                .into_iter()
                .map(|net| (net, out[index(net) * stride..][..paths].to_vec()))
                .collect(),
        )
    }

    /// Path `p`'s value of `net` (NaN if none was written).
    fn get(&self, net: Net, p: usize) -> f64 {
        self.0
            .iter()
            .find(|(n, _)| *n == net)
            .map_or(f64::NAN, |(_, row)| row[p])
    }

    /// Paid, received, net and net_npv of party `q` in regime `r`.
    fn party(&self, r: usize, q: usize, p: usize) -> [f64; 4] {
        std::array::from_fn(|m| self.get(Net::Party(r, q, m), p))
    }

    /// delta_net and delta_net_npv of party `q`, regime `r`.
    fn comparison(&self, r: usize, q: usize, p: usize) -> [f64; 2] {
        std::array::from_fn(|m| self.get(Net::Comparison(r, q, m), p))
    }
}

// ---------------------------------------------------------------------------
// The library's forms against the reference, bit for bit
// ---------------------------------------------------------------------------

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/settlement.txt",
        ))),
        ..ProptestConfig::default()
    }
}

/// A step revenue: mostly ordinary, with exact zeros, repeated values,
/// huge values and (when `odd`) infinite and NaN ones mixed in.
fn revenue(odd: bool) -> BoxedStrategy<f64> {
    if odd {
        prop_oneof![
            2 => Just(0.0),
            2 => Just(5.0),
            10 => 0.0..10.0f64,
            1 => 0.0..1e300f64,
            1 => Just(f64::INFINITY),
            1 => Just(f64::NAN),
        ]
        .boxed()
    } else {
        prop_oneof![1 => Just(0.0), 1 => Just(5.0), 6 => 0.0..10.0f64].boxed()
    }
}

/// Flow terms for `n` steps: caps absent, zero or random; paid before the
/// start none, some, or the whole cap.
fn flow_terms(n: usize) -> impl Strategy<Value = FlowTerms> {
    (
        prop_oneof![1 => Just(0.0), 1 => Just(1.0), 6 => 0.0..=1.0f64],
        1..=n + 1,
        0..=n + 1,
        prop_oneof![2 => Just(f64::INFINITY), 1 => Just(0.0), 5 => 0.0..40.0f64],
        prop_oneof![3 => Just(0.0), 1 => 0.0..20.0f64, 1 => Just(-1.0)],
    )
        .prop_map(|(rate, first, last, cap, pbs)| FlowTerms {
            rate,
            first_step: first,
            last_step: last,
            cap,
            // -1: all of a finite cap paid before the start.
            paid_before_start: if pbs < 0.0 { cap.min(1e9) } else { pbs },
            ..terms(0.0, 1, 0, 0.0, 0.0)
        })
}

/// A chunk: terms, 1 to 40 revenue paths of n steps, the discount factors
/// (finite, or overflowing to infinity), and the padding of its rows.
fn chunk() -> impl Strategy<Value = (FlowTerms, Vec<Vec<f64>>, Vec<f64>, usize)> {
    (
        1..24usize,
        1..40usize,
        any::<bool>(),
        -0.99..0.5f64,
        any::<bool>(),
    )
        .prop_flat_map(|(n, paths, odd, r, overflow)| {
            let disc: Vec<f64> = (1..=n)
                .map(|k| {
                    if overflow && k > n / 2 {
                        f64::INFINITY
                    } else {
                        (1.0 + r).powf(-(k as f64) * 0.25)
                    }
                })
                .collect();
            (
                flow_terms(n),
                prop::collection::vec(prop::collection::vec(revenue(odd), n), paths),
                Just(disc),
                0..9usize,
            )
        })
}

proptest! {
    #![proptest_config(config(1000))]

    /// Every path of a chunk gets from `settle_paths` what the reference
    /// gives it alone: totals, NPVs, hit times and every C(k) - C(0).
    #[test]
    fn settle_paths_gives_every_path_what_the_reference_gives_it(
        (t, paths, disc, pad) in chunk()
    ) {
        let got = settle_chunk(&t, &paths, &disc, pad);
        for (p, (rev, got)) in paths.iter().zip(&got).enumerate() {
            let mut cum = vec![f64::NAN; disc.len() + 1];
            let expect = (reference::settle(&t, rev, &disc, &mut cum), cum);
            assert_same(&expect, got, &format!("path {p}"))?;
        }
    }
}

/// base.json's book and one with three parties, one absent from the
/// baseline and one from the amendment.
fn books() -> Vec<Book> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/base.json");
    let base = scenario::load(&file).unwrap().scenario;
    let three = scenario::parse(
        r#"{ "name": "t", "start_year": 2026, "end_year": 2027, "steps_per_year": 1,
          "series": { "a": { "initial_run_rate": 1, "growth": { "initial": 0 }, "volatility": { "initial": 0 } } },
          "baseline": "prior",
          "regimes": {
            "prior": [ { "name": "x", "payer": "A", "payee": "B", "series": "a", "rate": 0.2, "from_year": 2026, "to_year": 2027 },
                       { "name": "y", "payer": "B", "payee": "A", "series": "a", "rate": 0.1, "from_year": 2026, "to_year": 2027 },
                       { "name": "z", "payer": "A", "payee": "B", "series": "a", "rate": 0.3, "from_year": 2026, "to_year": 2027 } ],
            "amended": [ { "name": "x", "payer": "A", "payee": "C", "series": "a", "rate": 0.2, "from_year": 2026, "to_year": 2027, "cap": 1 },
                         { "name": "w", "payer": "C", "payee": "A", "series": "a", "rate": 0.1, "from_year": 2026, "to_year": 2027 } ] } }"#,
        Path::new("t.json"),
    )
    .unwrap()
    .scenario;
    [base, three]
        .iter()
        .map(|sc| Book::new(sc, &Model::new(sc)))
        .collect()
}

proptest! {
    #![proptest_config(config(200))]

    /// `Book::nets_paths` gives every path of a chunk the reference's
    /// party metrics and comparisons, for the parties each regime has and
    /// those compared, and writes nothing else.
    #[test]
    fn nets_paths_gives_every_path_what_the_reference_gives_it(
        which in 0..2usize,
        values in prop::collection::vec(
            prop::collection::vec((0.0..100.0f64, 0.0..100.0f64), 5),
            1..20,
        ),
    ) {
        let book = &books()[which];
        let paths = values.len();
        let flows: Vec<FlowChunk> = (0..book.flows.len())
            .map(|f| {
                let mut c = FlowChunk::new(paths);
                for (p, v) in values.iter().enumerate() {
                    (c.total[p], c.npv[p]) = v[f];
                }
                c
            })
            .collect();
        let nets = Nets::of(book, &flows, paths);
        let np = book.parties.len();
        let mut expected_rows = 0;
        for r in 0..book.regimes.len() {
            expected_rows += 4 * book.regime_parties[r].len() + 2 * book.compared[r].len();
        }
        prop_assert_eq!(nets.0.len(), expected_rows);
        for (p, v) in values.iter().enumerate() {
            let (x, d) = reference::nets(book, &v[..book.flows.len()]);
            let row = |x: &[f64]| x.iter().copied().map(bits).collect::<Vec<_>>();
            for r in 0..book.regimes.len() {
                for &q in &book.regime_parties[r] {
                    prop_assert_eq!(row(&nets.party(r, q, p)), row(&x[r * np + q]));
                }
                for &q in &book.compared[r] {
                    prop_assert_eq!(row(&nets.comparison(r, q, p)), row(&d[r * np + q]));
                }
            }
        }
    }
}
