//! `revshare::random`: Philox4x32-10 against Random123's known answers, the
//! documented stream layout against an independent (Python) reproduction,
//! bit-identity of the AVX-512, AVX2 and portable builds, the distribution
//! of the normals and uniforms (Kolmogorov–Smirnov, chi-squared, moments,
//! tails, independence of neighbouring counters), the accuracy of the
//! polynomial log, sine, cosine and exp, and the `rand_core` generator of
//! the substreams. Every seed is fixed; every statistical tolerance is a
//! few standard errors computed here (or a p-value of about 1e-4).

use rand::{Rng, RngExt, SeedableRng};
use rand_distr::{ChiSquared, Distribution};
use revshare::random::{exp_slice_at, math, philox4x32_10, Generator, Kind, Level, PhiloxRng, Row};
use statrs::distribution::{ChiSquared as ChiSq, ContinuousCDF, Normal};

/// Random123's `kat_vectors`, the three `philox4x32 10` lines: counter,
/// key, output.
#[test]
fn philox_matches_random123_known_answers() {
    let kats: [([u32; 4], [u32; 2], [u32; 4]); 3] = [
        (
            [0; 4],
            [0; 2],
            [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8],
        ),
        (
            [u32::MAX; 4],
            [u32::MAX; 2],
            [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
        ),
        (
            [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
            [0xa4093822, 0x299f31d0],
            [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
        ),
    ];
    for (ctr, key, want) in kats {
        assert_eq!(
            philox4x32_10(ctr, key),
            want,
            "ctr {ctr:08x?} key {key:08x?}"
        );
        // The same block through the rand_core generator's seed bytes.
        let mut seed = [0u8; 24];
        for (i, w) in key.iter().chain(&ctr).enumerate() {
            seed[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
        }
        let mut rng = PhiloxRng::from_seed(seed);
        let got: Vec<u32> = (0..4).map(|_| rng.next_u32()).collect();
        assert_eq!(got, want);
    }
}

/// Values computed by the Python reproduction in the module documentation
/// (plain-integer Philox, `math.log`, `math.cos`, `math.sin`): (seed, path,
/// step, series, kind code, attempt, normal, uniform of kind 2).
#[test]
fn the_documented_layout_reproduces_in_python() {
    #[allow(clippy::type_complexity)]
    let cases: [(u64, u64, u32, u16, u8, u16, f64, f64); 7] = [
        (42, 0, 0, 0, 0, 0, -0.9701897898778522, 0.711710355867485),
        (42, 1, 0, 0, 0, 0, -0.07318150834378521, 0.6335043769599066),
        (42, 8, 0, 0, 0, 0, 0.19401895606956673, 0.7320048525871771),
        (42, 19, 0, 0, 0, 0, -0.7492763584688427, 0.13098787217844088),
        (42, 29, 7, 1, 1, 0, 1.0319398670338638, 0.05180281325696223),
        (
            16045690981402826360,
            4294967299,
            59,
            3,
            0,
            2,
            0.8338542154161259,
            0.8285157545123366,
        ),
        (
            7,
            123456789,
            12,
            0,
            1,
            0,
            0.653485101180157,
            0.7450212662448367,
        ),
    ];
    let kind = |code| match code {
        0 => Kind::RevenueShock,
        1 => Kind::GrowthShock,
        _ => unreachable!(),
    };
    for (seed, path, step, series, code, attempt, z, u) in cases {
        let g = Generator::new(seed);
        let row = Row::new(step, series, kind(code)).with_attempt(attempt);
        let got = g.normal(row, path);
        assert!((got - z).abs() <= 4e-15 * z.abs().max(1.0), "{got} vs {z}");
        let urow = Row::new(step, series, Kind::JumpCount).with_attempt(attempt);
        // The uniform is exact arithmetic on the words: the same double.
        assert_eq!(g.uniform(urow, path), u);
        let mut one = [0.0];
        g.fill_normals(row, path, &mut one);
        assert_eq!(one[0], got);
    }
}

/// `Level`s to compare: all this processor supports.
fn levels() -> Vec<Level> {
    let l = Level::all_supported();
    assert_eq!(*l.last().unwrap(), Level::Portable);
    assert!(l.contains(&Level::detect()));
    l
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Every level gives the same bits as the portable build and as the
/// scalar per-path functions, over 2^17 + 3 values from an odd first path
/// just below 2^32 (so groups straddle the change of the high counter
/// word) and over short rows at every offset.
#[test]
fn levels_are_bit_identical() {
    let n = (1 << 17) + 3;
    let first = (1u64 << 32) - 40_001;
    let row = Row::new(13, 2, Kind::GrowthShock).with_attempt(1);
    let urow = Row::new(13, 2, Kind::JumpCount);
    let portable = Generator::with_level(0x5eed, Level::Portable);
    let mut want_z = vec![0.0; n];
    let mut want_u = vec![0.0; n];
    portable.fill_normals(row, first, &mut want_z);
    portable.fill_uniforms(urow, first, &mut want_u);
    for (i, (&z, &u)) in want_z.iter().zip(&want_u).enumerate() {
        let p = first + i as u64;
        assert_eq!(z.to_bits(), portable.normal(row, p).to_bits(), "path {p}");
        assert_eq!(u.to_bits(), portable.uniform(urow, p).to_bits(), "path {p}");
    }
    let xs: Vec<f64> = want_z.iter().map(|z| 60.0 * z).collect();
    let mut want_e = xs.clone();
    exp_slice_at(Level::Portable, &mut want_e);
    for (x, e) in xs.iter().zip(&want_e) {
        assert_eq!(e.to_bits(), math::exp(*x).to_bits());
    }
    for level in levels() {
        let g = Generator::with_level(0x5eed, level);
        assert_eq!(g.level(), level);
        let mut z = vec![0.0; n];
        g.fill_normals(row, first, &mut z);
        assert!(bits(&z) == bits(&want_z), "{level:?} normals differ");
        let mut u = vec![0.0; n];
        g.fill_uniforms(urow, first, &mut u);
        assert!(bits(&u) == bits(&want_u), "{level:?} uniforms differ");
        let mut e = xs.clone();
        exp_slice_at(level, &mut e);
        assert!(bits(&e) == bits(&want_e), "{level:?} exp differs");
        // Short rows from every offset, including the empty row.
        for start in 0..9u64 {
            for len in [0, 1, 2, 3, 5, 8, 31, 32, 33, 64, 100] {
                let mut z = vec![f64::NAN; len];
                g.fill_normals(row, first + start, &mut z);
                let s = start as usize;
                assert!(
                    bits(&z) == bits(&want_z[s..s + len]),
                    "{level:?} {start} {len}"
                );
                let mut u = vec![f64::NAN; len];
                g.fill_uniforms(urow, first + start, &mut u);
                assert!(
                    bits(&u) == bits(&want_u[s..s + len]),
                    "{level:?} {start} {len}"
                );
            }
        }
    }
}

/// Different addresses give different numbers; the same address, the same.
#[test]
fn every_part_of_the_address_matters() {
    let g = Generator::new(1);
    let base = Row::new(5, 1, Kind::RevenueShock);
    let rows = [
        base,
        Row { step: 6, ..base },
        Row { series: 2, ..base },
        Row {
            kind: Kind::GrowthShock,
            ..base
        },
        base.with_attempt(1),
    ];
    let draw = |g: &Generator, r: Row| {
        let mut v = vec![0.0; 64];
        g.fill_normals(r, 1000, &mut v);
        v
    };
    let all: Vec<Vec<f64>> = rows.iter().map(|&r| draw(&g, r)).collect();
    for i in 0..all.len() {
        for j in 0..i {
            assert!(all[i].iter().zip(&all[j]).all(|(a, b)| a != b), "{i} {j}");
        }
    }
    assert_eq!(draw(&Generator::new(1), base), all[0]);
    let other_seed = draw(&Generator::new(2), base);
    assert!(other_seed.iter().zip(&all[0]).all(|(a, b)| a != b));
    // Normals and uniforms of the same address use different blocks.
    assert_ne!(
        philox4x32_10(base.normal_counter(0), g.key()),
        philox4x32_10(base.uniform_counter(0), g.key())
    );
}

/// Kolmogorov–Smirnov distance of sorted `v` from `cdf`.
fn ks(v: &mut [f64], cdf: impl Fn(f64) -> f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    v.iter()
        .enumerate()
        .map(|(i, &x)| {
            let f = cdf(x);
            (f - i as f64 / n).max((i + 1) as f64 / n - f)
        })
        .fold(0.0, f64::max)
}

/// Chi-squared statistic of `v` over `bins` cells of equal probability
/// under `cdf`, and its p-value.
fn chi2(v: &[f64], bins: usize, cdf: impl Fn(f64) -> f64) -> (f64, f64) {
    let mut counts = vec![0u64; bins];
    for &x in v {
        counts[((cdf(x) * bins as f64) as usize).min(bins - 1)] += 1;
    }
    let e = v.len() as f64 / bins as f64;
    let stat: f64 = counts.iter().map(|&c| (c as f64 - e).powi(2) / e).sum();
    let p = ChiSq::new((bins - 1) as f64).unwrap().sf(stat);
    (stat, p)
}

/// 10^6 normals and 10^6 uniforms per level: KS distance below 1.95 /
/// sqrt(n) (p = 0.001), chi-squared on 200 equiprobable cells with
/// p > 1e-4, mean and variance within 5 standard errors.
#[test]
fn normals_and_uniforms_have_the_right_distribution() {
    let n = 1_000_000;
    let std_normal = Normal::new(0.0, 1.0).unwrap();
    for (k, level) in levels().into_iter().enumerate() {
        let g = Generator::with_level(2026 + k as u64, level);
        let mut z = vec![0.0; n];
        g.fill_normals(Row::new(3, 0, Kind::RevenueShock), 17, &mut z);
        let nf = n as f64;
        let mean = z.iter().sum::<f64>() / nf;
        let var = z.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (nf - 1.0);
        assert!(mean.abs() < 5.0 / nf.sqrt(), "{level:?} mean {mean}");
        // sd of the sample variance of normals: sqrt(2 / n).
        assert!(
            (var - 1.0).abs() < 5.0 * (2.0 / nf).sqrt(),
            "{level:?} var {var}"
        );
        let (stat, p) = chi2(&z, 200, |x| std_normal.cdf(x));
        assert!(p > 1e-4, "{level:?} normal chi2 {stat} p {p}");
        let d = ks(&mut z, |x| std_normal.cdf(x));
        assert!(d < 1.95 / nf.sqrt(), "{level:?} normal KS {d}");

        let mut u = vec![0.0; n];
        g.fill_uniforms(Row::new(3, 0, Kind::JumpCount), 17, &mut u);
        assert!(u.iter().all(|&x| x > 0.0 && x < 1.0));
        let mean = u.iter().sum::<f64>() / nf;
        let var = u.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (nf - 1.0);
        assert!(
            (mean - 0.5).abs() < 5.0 * (1.0 / 12.0 / nf).sqrt(),
            "{level:?} {mean}"
        );
        // Var of the sample variance of U(0,1): (1/80 - 1/144) / n.
        let sd_var = ((1.0 / 80.0 - 1.0 / 144.0) / nf).sqrt();
        assert!(
            (var - 1.0 / 12.0).abs() < 5.0 * sd_var,
            "{level:?} var {var}"
        );
        let (stat, p) = chi2(&u, 200, |x| x);
        assert!(p > 1e-4, "{level:?} uniform chi2 {stat} p {p}");
        let d = ks(&mut u, |x| x);
        assert!(d < 1.95 / nf.sqrt(), "{level:?} uniform KS {d}");
    }
}

/// Counts beyond 3 and 4 standard deviations in 4 * 10^6 normals against
/// the binomial mean, within 4 binomial standard deviations, each tail
/// separately; no value beyond the largest the 32-bit radius allows.
#[test]
fn tails_have_the_right_weight() {
    let n = 4_000_000;
    let g = Generator::new(99);
    let mut z = vec![0.0; n];
    g.fill_normals(Row::new(0, 1, Kind::GrowthShock), 0, &mut z);
    let std_normal = Normal::new(0.0, 1.0).unwrap();
    for k in [3.0, 4.0] {
        let p = std_normal.sf(k);
        let expected = n as f64 * p;
        let sd = (n as f64 * p * (1.0 - p)).sqrt();
        let above = z.iter().filter(|&&x| x > k).count() as f64;
        let below = z.iter().filter(|&&x| x < -k).count() as f64;
        for (side, count) in [("above", above), ("below", below)] {
            assert!(
                (count - expected).abs() < 4.0 * sd,
                "{side} {k}: {count} vs {expected} +- {sd}"
            );
        }
    }
    // u >= 2^-33: |z| <= sqrt(2 * 33 ln 2) = 6.764.
    assert!(z.iter().all(|x| x.abs() <= 6.765));
}

/// Pearson correlation of `a` and `b`.
fn corr(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    sab / (saa * sbb).sqrt()
}

/// Neighbouring counters are uncorrelated: paths at lags 1 to 4 and 7 to
/// 9, 16, 24 and 32 (neighbouring blocks, and the four normals of one
/// block, which serves paths q, q + 8, q + 16, q + 24), the two halves of
/// each Box–Muller pair and the two pairs of each block taken separately,
/// consecutive steps, series and kinds; of the values and of their
/// squares (which would show a shared Box–Muller radius); each
/// correlation within 4.5 / sqrt(n).
#[test]
fn neighbouring_counters_are_independent() {
    let n = 1 << 19;
    let g = Generator::new(31337);
    let row = |step, series, kind| {
        let mut v = vec![0.0; n + 32];
        g.fill_normals(Row::new(step, series, kind), 0, &mut v);
        v
    };
    let a = row(10, 0, Kind::RevenueShock);
    let tol = 4.5 / (n as f64).sqrt();
    let sq = |v: &[f64]| v.iter().map(|x| x * x).collect::<Vec<_>>();
    let check = |what: &str, x: &[f64], y: &[f64]| {
        let tol = 4.5 / (x.len() as f64).sqrt();
        let c = corr(x, y);
        assert!(c.abs() < tol, "{what}: correlation {c} (tolerance {tol})");
        let c = corr(&sq(x), &sq(y));
        assert!(c.abs() < tol, "{what} squared: correlation {c}");
    };
    assert!(tol < 0.007);
    for lag in [1, 2, 3, 4, 7, 8, 9, 16, 24, 32] {
        check(&format!("path lag {lag}"), &a[..n], &a[lag..n + lag]);
    }
    // The four normals of each block: number k of block q is path
    // q + 8 k, for q = 32 m + i, i < 8.
    let nth = |k: usize| -> Vec<f64> {
        (0..n / 32)
            .flat_map(|m| (0..8).map(move |i| 32 * m + i + 8 * k))
            .map(|p| a[p])
            .collect()
    };
    let quads: Vec<Vec<f64>> = (0..4).map(nth).collect();
    for k in 0..4 {
        for l in 0..k {
            check(&format!("block normals {l} and {k}"), &quads[l], &quads[k]);
        }
    }
    check("step", &a[..n], &row(11, 0, Kind::RevenueShock)[..n]);
    check("series", &a[..n], &row(10, 1, Kind::RevenueShock)[..n]);
    check("kind", &a[..n], &row(10, 0, Kind::GrowthShock)[..n]);
}

/// Distance in ulps between two finite doubles of the same sign.
fn ulps(a: f64, b: f64) -> u64 {
    (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
}

#[test]
fn polynomial_log_is_within_one_ulp() {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(5);
    let mut worst = 0;
    for i in 0..400_000u32 {
        let x = match i % 4 {
            // Any positive normal double.
            0 => f64::from_bits(rng.random_range(0x0010_0000_0000_0000..0x7FF0_0000_0000_0000)),
            // The radii of the normals: (a + 0.5) 2^-32.
            1 => (f64::from(rng.next_u32()) + 0.5) / 4_294_967_296.0,
            // Near 1, where ln is small.
            2 => 1.0 + (rng.random::<f64>() - 0.5) * 1e-3,
            _ => rng.random_range(0.5..2.0),
        };
        let (got, want) = (math::ln(x), x.ln());
        if want == 0.0 {
            assert_eq!(got, 0.0);
            continue;
        }
        worst = worst.max(ulps(got, want));
    }
    assert!(worst <= 1, "ln: worst {worst} ulp");
    assert_eq!(math::ln(1.0), 0.0);
    assert_eq!(math::ln(0.0), f64::NEG_INFINITY);
    assert!(math::ln(-1.0).is_nan() && math::ln(f64::NAN).is_nan());
    assert_eq!(math::ln(f64::INFINITY), f64::INFINITY);
    let sub = 1e-310;
    assert!(ulps(math::ln(sub), sub.ln()) <= 1);
}

/// The sine and cosine of 2 pi b / 2^32 against std's of the same reduced
/// angle (the kernels: the sine within one ulp; the cosine, the square
/// root of one less the sine squared, within two, and beyond one for
/// under one argument in 10^4) and of the whole angle (within 1e-15
/// absolute: std's own argument carries an error of up to 4.4e-16).
#[test]
fn polynomial_sin_cos_are_accurate() {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(6);
    let (mut worst_sin, mut worst_cos, mut cos_over_1) = (0u64, 0u64, 0u32);
    let mut worst_abs = 0.0f64;
    let n = 400_000u32;
    for i in 0..n {
        let b = match i {
            0..=15 => i.wrapping_mul(1 << 28).wrapping_add(i & 1),
            16..=31 => (i - 16).wrapping_mul(1 << 28).wrapping_sub(1),
            _ => rng.next_u32(),
        };
        let (s, c) = math::sin_cos_turns(b);
        // The reduction, as documented.
        let t = b.wrapping_add(1 << 29);
        let q = t >> 30;
        let m = f64::from(t & 0x3FFF_FFFF) - 536_870_912.0;
        let theta = m * (std::f64::consts::FRAC_PI_2 / 1_073_741_824.0);
        let (rs, rc) = (theta.sin(), theta.cos());
        // The kernels' sine and cosine of theta, unrotated.
        let (ks, kc) = match q {
            0 => (s, c),
            1 => (-c, s),
            2 => (-s, -c),
            _ => (c, -s),
        };
        assert!(kc > 0.0);
        if rs == 0.0 {
            assert_eq!(ks.abs(), 0.0);
        } else {
            worst_sin = worst_sin.max(ulps(ks, rs));
        }
        let d = ulps(kc, rc);
        worst_cos = worst_cos.max(d);
        cos_over_1 += u32::from(d > 1);
        let angle = std::f64::consts::TAU * f64::from(b) / 4_294_967_296.0;
        worst_abs = worst_abs
            .max((s - angle.sin()).abs())
            .max((c - angle.cos()).abs());
    }
    assert!(worst_sin <= 1, "sine kernel: worst {worst_sin} ulp");
    assert!(worst_cos <= 2, "cosine: worst {worst_cos} ulp");
    assert!(
        cos_over_1 < n / 10_000,
        "cosine: {cos_over_1} beyond one ulp"
    );
    assert!(
        worst_abs < 1e-15,
        "sin/cos: worst absolute error {worst_abs:e}"
    );
    assert_eq!(math::sin_cos_turns(0), (0.0, 1.0));
    assert_eq!(math::sin_cos_turns(1 << 30), (1.0, -0.0));
}

#[test]
fn polynomial_exp_is_within_one_ulp() {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(7);
    let mut worst = 0;
    for i in 0..400_000u32 {
        let x = match i % 3 {
            0 => rng.random_range(-708.0..709.0),
            1 => rng.random_range(-1.0..1.0),
            _ => rng.random_range(-1e-6..1e-6),
        };
        worst = worst.max(ulps(math::exp(x), x.exp()));
    }
    assert!(worst <= 1, "exp: worst {worst} ulp");
    // Beyond the fast range: overflow, subnormal results, underflow, NaN.
    assert_eq!(math::exp(0.0), 1.0);
    assert_eq!(math::exp(709.9), f64::INFINITY);
    assert_eq!(math::exp(f64::INFINITY), f64::INFINITY);
    assert_eq!(math::exp(-746.0), 0.0);
    assert_eq!(math::exp(f64::NEG_INFINITY), 0.0);
    assert!(math::exp(f64::NAN).is_nan());
    for x in [709.7, 709.78, -708.5, -720.0, -740.0, -745.0] {
        let (got, want) = (math::exp(x), x.exp());
        assert!(
            ulps(got, want) <= 1 || (got - want).abs() <= 5e-324,
            "{x}: {got:e} vs {want:e}"
        );
    }
}

/// A substream is a deterministic `rand_core` generator: words in block
/// order, `next_u64` as `lo | hi << 32`, normals in the row layout, a
/// limit of 2^16 blocks, and good enough for rand_distr's chi-squared.
#[test]
fn substreams_feed_rand_distr() {
    let g = Generator::new(77);
    let mut a = g.substream(1_000_003, 24, 1, Kind::Gamma);
    let ctr = a.counter();
    assert_eq!(ctr, [1_000_003, 0, 24, 2 << 30 | 4 << 27 | 1 << 16]);
    let b0 = philox4x32_10(ctr, g.key());
    let b1 = philox4x32_10([ctr[0], ctr[1], ctr[2], ctr[3] + 1], g.key());
    assert_eq!(a.next_u32(), b0[0]);
    assert_eq!(a.next_u64(), u64::from(b0[1]) | u64::from(b0[2]) << 32);
    assert_eq!(a.next_u32(), b0[3]);
    let mut bytes = [0u8; 6];
    a.fill_bytes(&mut bytes);
    assert_eq!(bytes[..4], b1[0].to_le_bytes());
    assert_eq!(bytes[4..], b1[1].to_le_bytes()[..2]);

    // Normals: block j gives normals 4j..4j+3, as a row's four paths.
    let mut s = g.substream(5, 6, 0, Kind::JumpSize);
    let blk = philox4x32_10(s.counter(), g.key());
    let (z0, z1) = math::normal_pair(blk[0], blk[1]);
    let (z2, z3) = math::normal_pair(blk[2], blk[3]);
    let got: Vec<f64> = (0..4).map(|_| s.next_normal()).collect();
    assert_eq!(got, vec![z0, z1, z2, z3]);

    // Chi-squared(5) over 200,000 addresses: mean 5, variance 10.
    let nu = 5.0;
    let dist = ChiSquared::new(nu).unwrap();
    let n = 200_000;
    let w: Vec<f64> = (0..n)
        .map(|p| dist.sample(&mut g.substream(p, 3, 0, Kind::Gamma)))
        .collect();
    let nf = n as f64;
    let mean = w.iter().sum::<f64>() / nf;
    assert!(
        (mean - nu).abs() < 5.0 * (2.0 * nu / nf).sqrt(),
        "mean {mean}"
    );
    let std_chi = ChiSq::new(nu).unwrap();
    let (stat, p) = chi2(&w, 100, |x| std_chi.cdf(x));
    assert!(p > 1e-4, "chi-squared draws: chi2 {stat} p {p}");
    // Reproducible.
    let again = dist.sample(&mut g.substream(17, 3, 0, Kind::Gamma));
    assert_eq!(again, w[17]);
    let u: f64 = g.substream(17, 3, 0, Kind::Gamma).random();
    assert!((0.0..1.0).contains(&u));
}

#[test]
#[should_panic(expected = "substream exhausted")]
fn a_substream_stops_at_its_last_block() {
    let mut s = Generator::new(1).substream(0, 0, 0, Kind::Gamma);
    for _ in 0..(1u32 << 18) {
        s.next_u32();
    }
    s.next_u32();
}

#[test]
#[should_panic(expected = "series index")]
fn series_indices_are_bounded() {
    let mut v = [0.0; 4];
    Generator::new(1).fill_normals(Row::new(0, 2048, Kind::RevenueShock), 0, &mut v);
}
