//! ns per value of the row kernels of `revshare::random` at each
//! instruction-set level this processor supports: standard normals and
//! open uniforms (Philox4x32-10), and `exp_slice`, on 4096-value buffers,
//! one thread. Beside them, for scale, the scalar generator the engine
//! used before (Xoshiro256++ with `rand_distr`'s ziggurat normal).
//!
//! `cargo bench --bench normals` prints one table; each figure is the best
//! of several timed rounds (the development machine is shared, and the
//! best round is the one least disturbed).

use std::hint::black_box;
use std::time::Instant;

use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;
use rand_xoshiro::Xoshiro256PlusPlus;
use revshare::random::{exp_slice_at, Generator, Kind, Level, Row};

const LEN: usize = 4096;
/// Buffers per timed round.
const REPS: usize = 8;
/// Timed rounds; the best is reported.
const ROUNDS: usize = 600;

/// Best ns per value of `f`, which fills one buffer of `LEN` values.
fn best_ns(mut f: impl FnMut(usize)) -> f64 {
    for i in 0..REPS * 20 {
        f(i);
    }
    let mut best = f64::INFINITY;
    for round in 0..ROUNDS {
        let t = Instant::now();
        for i in 0..REPS {
            f(round * REPS + i);
        }
        let ns = t.elapsed().as_nanos() as f64 / (REPS * LEN) as f64;
        best = best.min(ns);
    }
    best
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken.
    // A 64-byte-aligned buffer (as the engine's `simd::Aligned` rows are);
    // `REVSHARE_BENCH_OFFSET=k` shifts it by k values, to see the cost of
    // misaligned stores.
    let offset: usize = std::env::var("REVSHARE_BENCH_OFFSET")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut store = vec![0.0f64; LEN + 8 + offset];
    let at = store.as_ptr().align_offset(64).min(7) + offset;
    let buf = &mut store[at..at + LEN];
    println!("ns per value, {LEN}-value buffers, best of {ROUNDS} rounds of {REPS} buffers");
    println!(
        "{:<10} {:>8} {:>8} {:>8}",
        "level", "normal", "uniform", "exp"
    );
    let mut levels = Level::all_supported();
    levels.insert(0, levels[0]);
    for level in levels {
        let g = Generator::with_level(42, level);
        let row = Row::new(7, 1, Kind::RevenueShock);
        let normal = best_ns(|i| {
            g.fill_normals(row, (i * LEN) as u64, buf);
            black_box(&*buf);
        });
        let uniform = best_ns(|i| {
            g.fill_uniforms(row, (i * LEN) as u64, buf);
            black_box(&*buf);
        });
        let xs: Vec<f64> = (0..LEN)
            .map(|i| (i as f64 / LEN as f64 - 0.5) * 10.0)
            .collect();
        let exp = best_ns(|_| {
            buf.copy_from_slice(&xs);
            exp_slice_at(level, black_box(buf));
            black_box(&*buf);
        });
        println!(
            "{:<10} {normal:>8.3} {uniform:>8.3} {exp:>8.3}",
            format!("{level:?}")
        );
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(42);
    let zig = best_ns(|_| {
        for x in buf.iter_mut() {
            *x = rng.sample(StandardNormal);
        }
        black_box(&*buf);
    });
    println!(
        "{:<10} {zig:>8.3}   (Xoshiro256++ + rand_distr ziggurat, scalar)",
        "reference"
    );
}
