//! Per-path accounting cost: `settle` of each flow of scenarios/base.json
//! (the uncapped prior flows and the capped amended flow) over pre-drawn
//! revenue paths, and the netting of all flows into party positions.
//! Throughput is in paths/s (one settle of one flow per element).

mod common;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use revshare::accounting::{discount_factors, settle, FlowOutcome, Position};
use revshare::engine::batch_rng;
use revshare::engine::Engine;
use revshare::model::{PathBuffer, RngShocks};

/// Pre-drawn paths, cycled through.
const PATHS: usize = 256;

fn accounting(c: &mut Criterion) {
    let engine = Engine::new(&common::scenario("scenarios/base.json"));
    let model = &engine.model;
    let n = model.steps;
    let discount = discount_factors(model, engine.scenario.discount_rate);
    let mut rng = batch_rng(42, 0);
    let mut buf = PathBuffer::new(model);
    // revenue[p][s] = revenue of series s on path p.
    let revenue: Vec<Vec<Vec<f64>>> = (0..PATHS)
        .map(|_| {
            model.simulate(&mut RngShocks(&mut rng), &mut buf);
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
