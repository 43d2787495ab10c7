//! Per-path accounting cost on scenarios/base.json (the uncapped prior
//! flows and the capped amended flow) over pre-drawn revenue paths, laid
//! out as the engine lays them out (step-major chunks of 128 paths):
//! `settle_paths` of each flow (AVX2 where available), and all flows
//! settled and netted into party metrics and comparisons
//! (`Book::nets_paths`), as the engine does per chunk. Throughput is in
//! paths/s (one flow, or the whole book, of one path per element).

mod common;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use revshare::contract::{discount_factors, settle_paths, FlowChunk, Net};
use revshare::engine::Engine;
use revshare::model::PathBuffer;
use revshare::random::Generator;

/// Pre-drawn paths, cycled through.
const PATHS: usize = 256;

fn accounting(c: &mut Criterion) {
    let engine = Engine::new(&common::scenario("scenarios/base.json"));
    let model = &engine.model();
    let n = model.steps;
    let discount = discount_factors(model, engine.scenario().discount_rate);
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
    let mut g = c.benchmark_group("accounting");
    g.throughput(Throughput::Elements(PATHS as u64));
    // The paths step-major, in chunks of 128 as the engine lays them
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
    for flow in &engine.book().flows {
        let id = format!("{}/{}", engine.book().regimes[flow.regime], flow.name);
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
    // Every flow of the book, then the nets, as the engine runs them per
    // chunk (each flow's state kept for the netting).
    let book = &engine.book();
    let np = book.parties.len();
    let mut flows = vec![FlowChunk::new(CHUNK); book.flows.len()];
    let mut positions = vec![0.0; book.position_rows() * STRIDE];
    let mut nets = vec![0.0; book.regimes.len() * np * 6 * STRIDE];
    g.bench_function("settle_paths_all_and_net", |b| {
        b.iter(|| {
            for chunk in &soa {
                for (flow, state) in book.flows.iter().zip(&mut flows) {
                    settle_paths(
                        &flow.terms,
                        &chunk[flow.terms.series],
                        &discount,
                        &mut cum_rows,
                        STRIDE,
                        CHUNK,
                        state,
                    );
                }
                book.nets_paths(
                    &flows,
                    CHUNK,
                    STRIDE,
                    &mut positions,
                    &mut nets,
                    |net| match net {
                        Net::Party(r, q, m) => (r * np + q) * 6 + m,
                        Net::Comparison(r, q, m) => (r * np + q) * 6 + 4 + m,
                    },
                );
                black_box(&nets);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, accounting);
criterion_main!(benches);
