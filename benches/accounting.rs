//! Per-path accounting cost: `settle` of each flow of scenarios/base.json
//! (the uncapped prior flows and the capped amended flow) over pre-drawn
//! revenue paths, `settle_paths` (what the engine runs: the same flows over
//! chunks of 128 paths laid out step-major, AVX2 where available), and the
//! netting of all flows into party positions. Throughput is in paths/s
//! (one settle of one flow per element).

mod common;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use revshare::contract::{
    discount_factors, settle, settle_paths, FlowChunk, FlowOutcome, Position,
};
use revshare::engine::Engine;
use revshare::model::PathBuffer;
use revshare::random::Generator;

/// Pre-drawn paths, cycled through.
const PATHS: usize = 256;

fn accounting(c: &mut Criterion) {
    let engine = Engine::new(&common::scenario("scenarios/base.json"));
    let model = &engine.model;
    let n = model.steps;
    let discount = discount_factors(model, engine.scenario.discount_rate);
    let generator = Generator::new(42);
    let mut buf = PathBuffer::new(model);
    // revenue[p][s] = revenue of series s on path p.
    let revenue: Vec<Vec<Vec<f64>>> = (0..PATHS)
        .map(|p| {
            model.simulate(&generator, p as u64, &mut buf);
            (0..model.series.len())
                .map(|s| buf.revenue(s).to_vec())
                .collect()
        })
        .collect();
    let mut cumulative = vec![0.0; n + 1];
    let mut g = c.benchmark_group("accounting");
    g.throughput(Throughput::Elements(PATHS as u64));
    for flow in &engine.book.flows {
        let id = format!("{}/{}", engine.book.regimes[flow.regime], flow.name);
        g.bench_function(BenchmarkId::new("settle", id), |b| {
            b.iter(|| {
                let mut total = 0.0;
                for r in &revenue {
                    let o = settle(
                        &flow.terms,
                        &r[flow.terms.series],
                        &discount,
                        &mut cumulative,
                    );
                    total += o.npv;
                }
                black_box(total)
            })
        });
    }
    // The same paths step-major, in chunks of 128 as the engine lays them
    // out: revenue of series s, step k, path p of chunk c at
    // soa[c][s][k * STRIDE + p].
    const CHUNK: usize = 128;
    const STRIDE: usize = CHUNK + 8;
    let soa: Vec<Vec<Vec<f64>>> = revenue
        .chunks(CHUNK)
        .map(|paths| {
            (0..model.series.len())
                .map(|s| {
                    let mut rows = vec![0.0; n * STRIDE];
                    for (p, r) in paths.iter().enumerate() {
                        for (k, &x) in r[s].iter().enumerate() {
                            rows[k * STRIDE + p] = x;
                        }
                    }
                    rows
                })
                .collect()
        })
        .collect();
    let mut cum_rows = vec![0.0; (n + 1) * STRIDE];
    let mut state = FlowChunk::new(CHUNK);
    for flow in &engine.book.flows {
        let id = format!("{}/{}", engine.book.regimes[flow.regime], flow.name);
        g.bench_function(BenchmarkId::new("settle_paths", id), |b| {
            b.iter(|| {
                let mut total = 0.0;
                for chunk in &soa {
                    let rows = &chunk[flow.terms.series];
                    settle_paths(
                        &flow.terms,
                        rows,
                        &discount,
                        &mut cum_rows,
                        STRIDE,
                        CHUNK,
                        &mut state,
                    );
                    total += state.npv[0];
                }
                black_box(total)
            })
        });
    }
    let mut outcomes = vec![
        FlowOutcome {
            total: 0.0,
            npv: 0.0,
            hit_time: None
        };
        engine.book.flows.len()
    ];
    let mut positions =
        vec![Position::default(); engine.book.regimes.len() * engine.book.parties.len()];
    g.bench_function("settle_all_and_net", |b| {
        b.iter(|| {
            for r in &revenue {
                for (o, flow) in outcomes.iter_mut().zip(&engine.book.flows) {
                    *o = settle(
                        &flow.terms,
                        &r[flow.terms.series],
                        &discount,
                        &mut cumulative,
                    );
                }
                engine.book.positions(&outcomes, &mut positions);
                black_box(&positions);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, accounting);
criterion_main!(benches);
