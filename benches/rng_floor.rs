//! The random-number floor alone: for each benchmark scenario, a loop that
//! draws exactly the random numbers `revshare run` draws (same paths, same
//! counter-based rows and substreams, see `Model::draw_rows`) and does
//! nothing else; plus the unit costs of one standard normal, one uniform
//! and one `exp` filled a row of 10,000 at a time. `benches/sampler.rs`
//! measures the floor again beside the sampler for the ratio.

mod common;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use revshare::model::Model;
use revshare::random::{exp_slice, Generator, Kind, Row};

const PATHS: u64 = 50_000;

fn floor(c: &mut Criterion) {
    let mut g = c.benchmark_group("rng_floor");
    g.sample_size(10).throughput(Throughput::Elements(PATHS));
    for (name, path) in [
        ("base", "scenarios/base.json"),
        ("gbm", "benches/gbm.json"),
        ("annual", "scenarios/annual-steps.json"),
    ] {
        let model = Model::new(&common::scenario(path));
        g.bench_function(BenchmarkId::new(name, 1), |b| {
            b.iter(|| black_box(common::rng_floor(&model, PATHS, 1)))
        });
    }
    g.finish();
}

fn units(c: &mut Criterion) {
    const N: u64 = 10_000;
    let mut g = c.benchmark_group("draw");
    g.throughput(Throughput::Elements(N));
    let generator = Generator::new(1);
    let mut out = vec![0.0; N as usize];
    let mut step = 0u32;
    g.bench_function("normal", |b| {
        b.iter(|| {
            step = step.wrapping_add(1);
            generator.fill_normals(Row::new(step, 0, Kind::RevenueShock), 0, &mut out);
            black_box(&out);
        })
    });
    g.bench_function("uniform", |b| {
        b.iter(|| {
            step = step.wrapping_add(1);
            generator.fill_uniforms(Row::new(step, 0, Kind::JumpCount), 0, &mut out);
            black_box(&out);
        })
    });
    let xs: Vec<f64> = (0..N).map(|i| 3.0 + i as f64 * 1e-4).collect();
    g.bench_function("exp", |b| {
        b.iter(|| {
            out.copy_from_slice(black_box(&xs));
            exp_slice(&mut out);
            black_box(&out);
        })
    });
    g.finish();
}

criterion_group!(benches, floor, units);
criterion_main!(benches);
