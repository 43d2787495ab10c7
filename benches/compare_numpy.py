#!/usr/bin/env python3
"""Vectorised numpy reference implementation of the revshare model, and a
speed comparison with the `revshare` binary.

It reads any revshare scenario file (docs: MODEL.md sections 1-3 and 5) and
simulates the same model the Rust simulator does:

* monthly (or any `steps_per_year`) time grid, t(k) = k * dt;
* Schwartz-Moon revenue process per series: log run rate x = ln A with
  decaying revenue volatility sigma(t), stochastic expected growth mu
  stepped with the exact Ornstein-Uhlenbeck transition, growth shocks
  correlated with revenue shocks (rho), compound-Poisson jumps in log
  revenue, unit-variance Student-t revenue shocks when `tails` is given;
* revenue shocks of different series correlated through a Cholesky factor
  of the `correlations` matrix (tails applied per series afterwards);
* revenue per step by the trapezoid rule, R(k) = dt * (A(k-1) + A(k)) / 2;
* every flow of every regime: accrual window, cumulative cap with
  `paid_before_start`, total paid inside the simulation, NPV with
  (1 + r)^-t(k), cap-hit probability and time.

It is the code a competent numpy user would write: paths are processed in
chunks (default 50,000) with whole-array operations, the only Python loop
is over time steps (and over the handful of series and flows), arrays are
updated in place, and the generator is numpy's fastest
(`Generator(SFC64(seed))`, `standard_normal`). Jump counts are drawn by
inverse CDF from one uniform per path-step (about twice as fast as
`Generator.poisson` at small lambda*dt), and compound-Poisson jumps use the
exact identity "sum of N iid Normal(m, s^2) ~ Normal(N m, N s^2)", so extra
normals are only drawn for the few path-steps that have a jump.
numpy runs single-threaded here; the Rust binary uses all cores, so the
printed ratio is a whole-machine comparison (the core count is printed).

The random streams are not those of revshare, so results agree with
revshare's only up to Monte Carlo error (the standard errors are printed).

Install:
    pip install numpy            # numpy >= 1.17 (Generator API); tested on 2.x

Usage:
    python3 benches/compare_numpy.py scenarios/base.json
    python3 benches/compare_numpy.py scenarios/base.json --paths 1000000
    python3 benches/compare_numpy.py scenarios/base.json \\
        --revshare-bin target/release/revshare
    python3 benches/compare_numpy.py SCENARIO [--paths N] [--seed S]
        [--chunk 50000] [--generator sfc64|pcg64dxsm] [--json OUT.json]
        [--revshare-bin PATH]

`--revshare-bin PATH` runs `PATH run SCENARIO --paths N --out TMPDIR
--no-charts` (retrying without `--no-charts` if that fails), reads
`TMPDIR/summary.json` -> `run.paths_per_second`, and prints revshare's
paths/s beside numpy's, their ratio, and revshare's means next to numpy's.

Timing (`time.perf_counter`) covers simulation and contract accounting for
all paths (random numbers, revenue paths, every flow, running sums); it
excludes reading the scenario and the final percentile computation.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


# --------------------------------------------------------------------------
# Scenario loading (defaults as in MODEL.md)
# --------------------------------------------------------------------------

def load_scenario(path):
    with open(path) as f:
        sc = json.load(f)
    sc.setdefault("steps_per_year", 12)
    sc.setdefault("discount_rate", 0.0)
    sim = sc.setdefault("simulation", {})
    sim.setdefault("paths", 100000)
    sim.setdefault("seed", 0)
    sc.setdefault("correlations", [])
    spy = sc["steps_per_year"]
    if not (isinstance(spy, int) and 1 <= spy <= 365):
        raise ValueError("steps_per_year must be an integer in 1..=365")
    if sc["end_year"] < sc["start_year"]:
        raise ValueError("end_year must be >= start_year")
    for name, s in sc["series"].items():
        if not s["initial_run_rate"] > 0:
            raise ValueError(f"series {name}: initial_run_rate must be > 0")
        if not -1.0 <= s.get("growth_correlation", 0.0) <= 1.0:
            raise ValueError(f"series {name}: growth_correlation outside [-1, 1]")
        if "tails" in s and not s["tails"]["dof"] > 2:
            raise ValueError(f"series {name}: tails.dof must be > 2")
    for regime, flows in sc["regimes"].items():
        for fl in flows:
            if fl["series"] not in sc["series"]:
                raise ValueError(f"{regime}/{fl['name']}: unknown series {fl['series']}")
    return sc


def cholesky_factor(sc, names):
    S = len(names)
    idx = {n: i for i, n in enumerate(names)}
    C = np.eye(S)
    for c in sc["correlations"]:
        i, j = idx[c["a"]], idx[c["b"]]
        C[i, j] = C[j, i] = c["rho"]
    try:
        return np.linalg.cholesky(C)
    except np.linalg.LinAlgError:
        pairs = ", ".join(f"{c['a']}-{c['b']}={c['rho']}" for c in sc["correlations"])
        raise ValueError(f"correlation matrix is not positive definite ({pairs})")


# --------------------------------------------------------------------------
# Simulation
# --------------------------------------------------------------------------

class Series:
    """Per-series constants (per-step schedules precomputed)."""

    def __init__(self, name, p, n, dt):
        self.name = name
        g, v = p["growth"], p["volatility"]
        self.A0 = float(p["initial_run_rate"])
        self.mu0, self.mu_bar = float(g["initial"]), float(g["long_run"])
        kappa = float(g["reversion"])
        self.phi = math.exp(-kappa * dt)
        self.s_dt = math.sqrt(dt) if kappa == 0 else math.sqrt((1 - math.exp(-2 * kappa * dt)) / (2 * kappa))
        t = np.arange(n) * dt                      # t(k-1) for k = 1..n
        self.sigma = v["long_run"] + (v["initial"] - v["long_run"]) * np.exp(-v["decay"] * t)
        self.eta = g["volatility"] * np.exp(-g["volatility_decay"] * t)
        rho = float(p.get("growth_correlation", 0.0))
        self.rho, self.rho_c = rho, math.sqrt(max(0.0, 1 - rho * rho))
        j = p.get("jumps")
        self.jump = None
        if j and j["rate"] > 0:
            # Poisson(lambda dt) CDF for inverse-CDF sampling from one uniform
            lam = j["rate"] * dt
            pk, cdf = math.exp(-lam), []
            acc, i = pk, 0
            while acc < 1.0 and i < 10_000:
                cdf.append(acc)
                i += 1
                pk *= lam / i
                acc += pk
                if pk < 1e-300:
                    break
            cdf.append(1.0)
            self.jump = (np.array(cdf), float(j["mean"]), float(j["sd"]))
        self.dof = float(p["tails"]["dof"]) if p.get("tails") else None


class Flow:
    def __init__(self, regime, fl, series_index):
        self.regime, self.name = regime, fl["name"]
        self.payer, self.payee = fl["payer"], fl["payee"]
        self.s = series_index[fl["series"]]
        self.rate = float(fl["rate"])
        self.y0, self.y1 = fl["from_year"], fl["to_year"]
        self.cap = float(fl["cap"]) if fl.get("cap") is not None else None
        self.pbs = float(fl.get("paid_before_start", 0.0))


def simulate(sc, n_paths, seed, chunk, generator="sfc64", keep=True):
    """Simulate n_paths; return (results dict, seconds)."""
    spy = sc["steps_per_year"]
    dt = 1.0 / spy
    y_start = sc["start_year"]
    n_years = sc["end_year"] - y_start + 1
    n = n_years * spy
    names = list(sc["series"])
    S = len(names)
    sidx = {nm: i for i, nm in enumerate(names)}
    ser = [Series(nm, sc["series"][nm], n, dt) for nm in names]
    L = cholesky_factor(sc, names)
    correlated = not np.allclose(L, np.eye(S))
    flows = [Flow(r, fl, sidx) for r, fls in sc["regimes"].items() for fl in fls]
    r = sc["discount_rate"]
    disc = (1.0 + r) ** (-(np.arange(1, n + 1) * dt))     # (1+r)^-t(k)
    step_year = y_start + np.arange(n) // spy             # calendar year of step k
    sqdt, half_dt = math.sqrt(dt), 0.5 * dt

    bitgen = np.random.SFC64(seed) if generator == "sfc64" else np.random.PCG64DXSM(seed)
    rng = np.random.Generator(bitgen)

    F = len(flows)
    annual_sum = np.zeros((S, n_years))
    end_sum = np.zeros(S)
    tot_sum, npv_sum, hit_count = np.zeros(F), np.zeros(F), np.zeros(F)
    hit_by_year = np.zeros((F, n_years))
    hit_time_sum = np.zeros(F)
    kept_totals = [[] for _ in range(F)] if keep else None
    kept_npv = [[] for _ in range(F)] if keep else None
    kept_end = [[] for _ in range(S)] if keep else None

    t0 = time.perf_counter()
    done = 0
    while done < n_paths:
        B = min(chunk, n_paths - done)
        x = np.empty((S, B))
        mu = np.empty((S, B))
        A = np.empty((S, B))
        for i, s in enumerate(ser):
            x[i] = math.log(s.A0)
            mu[i] = s.mu0
            A[i] = s.A0
        A_new = np.empty((S, B))
        R = np.empty((S, B))
        tmp = np.empty(B)
        tot = np.zeros((F, B))
        npv = np.zeros((F, B))
        C = np.empty((F, B))
        hit = np.zeros((F, B), dtype=bool)
        hit_t = np.full((F, B), np.nan)
        for f, fl in enumerate(flows):
            C[f] = fl.pbs
            if fl.cap is not None and fl.pbs >= fl.cap:
                hit[f] = True
                hit_t[f] = y_start
        p = np.empty(B)

        for k in range(n):
            # revenue shocks e1 (jointly normal across series), growth noise z2
            e1 = rng.standard_normal((S, B))
            if correlated:
                e1 = L @ e1
            for i, s in enumerate(ser):
                e = e1[i]
                if s.dof is not None:
                    w = rng.chisquare(s.dof, B)
                    w *= 1.0 / (s.dof - 2.0)
                    np.sqrt(w, out=w)
                    e /= w
                sig = s.sigma[k]
                xi, mi = x[i], mu[i]
                # x(k) = x + (mu - sig^2/2) dt + sig sqrt(dt) e1 + J
                np.subtract(mi, 0.5 * sig * sig, out=tmp)
                tmp *= dt
                xi += tmp
                np.multiply(e, sig * sqdt, out=tmp)
                xi += tmp
                if s.jump is not None:
                    # N(k) ~ Poisson(lambda dt) by inverse CDF (one uniform
                    # per path; N = 0 unless u >= P(N = 0)); the sum of N
                    # Normal(m, s^2) jumps is Normal(N m, N s^2).
                    cdf, jm, js = s.jump
                    u = rng.random(B)
                    nz = np.flatnonzero(u >= cdf[0])
                    if nz.size:
                        Nn = np.searchsorted(cdf, u[nz], side="right").astype(float)
                        xi[nz] += Nn * jm + js * np.sqrt(Nn) * rng.standard_normal(nz.size)
                # mu(k) = mu_bar + (mu - mu_bar) e^{-kappa dt} + eta s(dt) (rho e1 + sqrt(1-rho^2) z2)
                mi *= s.phi
                mi += s.mu_bar * (1.0 - s.phi)
                eta = s.eta[k]
                if eta != 0.0:
                    c = eta * s.s_dt
                    if s.rho != 0.0:
                        np.multiply(e, c * s.rho, out=tmp)
                        mi += tmp
                    if s.rho_c != 0.0:
                        z2 = rng.standard_normal(B)
                        z2 *= c * s.rho_c
                        mi += z2
            np.exp(x, out=A_new)
            np.add(A, A_new, out=R)
            R *= half_dt
            A, A_new = A_new, A
            yi = step_year[k] - y_start
            annual_sum[:, yi] += R.sum(axis=1)

            # contracts
            year = step_year[k]
            dk = disc[k]
            for f, fl in enumerate(flows):
                if not (fl.y0 <= year <= fl.y1):
                    continue
                a = R[fl.s] * fl.rate
                if fl.cap is None:
                    tot[f] += a
                    a *= dk
                    npv[f] += a
                    continue
                Cf = C[f]
                np.subtract(fl.cap, Cf, out=p)
                np.maximum(p, 0.0, out=p)          # remaining room under the cap
                newly = np.flatnonzero((a >= p) & ~hit[f])
                if newly.size:                     # cap hit in this step
                    hit[f, newly] = True
                    hit_t[f, newly] = (y_start + k * dt
                                       + dt * p[newly] / a[newly])
                np.minimum(a, p, out=p)            # payment p(k)
                Cf += p
                tot[f] += p
                p *= dk
                npv[f] += p

        end_sum += A.sum(axis=1)
        for f, fl in enumerate(flows):
            tot_sum[f] += tot[f].sum()
            npv_sum[f] += npv[f].sum()
            if fl.cap is not None:
                hit_count[f] += hit[f].sum()
                ht = hit_t[f][hit[f]]
                hit_time_sum[f] += ht.sum()
                for yi in range(n_years):
                    hit_by_year[f, yi] += np.count_nonzero(ht <= y_start + yi + 1)
            if keep:
                kept_totals[f].append(tot[f].copy())
                kept_npv[f].append(npv[f].copy())
        if keep:
            for i in range(S):
                kept_end[i].append(A[i].copy())
        done += B
    elapsed = time.perf_counter() - t0

    N = float(n_paths)
    years = list(range(y_start, sc["end_year"] + 1))
    res = {"paths": n_paths, "seed": seed, "steps": n, "elapsed_seconds": elapsed,
           "paths_per_second": n_paths / elapsed, "series": {}, "regimes": {}}
    for i, nm in enumerate(names):
        d = {"annual_revenue_mean": {str(y): annual_sum[i, j] / N for j, y in enumerate(years)},
             "run_rate_end_mean": end_sum[i] / N}
        if keep:
            v = np.concatenate(kept_end[i])
            d["run_rate_end_quantiles"] = dict(zip(["p5", "p50", "p95"], np.percentile(v, [5, 50, 95]).tolist()))
        res["series"][nm] = d
    for f, fl in enumerate(flows):
        d = {"total_mean": tot_sum[f] / N, "npv_mean": npv_sum[f] / N}
        if keep:
            v = np.concatenate(kept_totals[f])
            d["total_se"] = float(v.std(ddof=1) / math.sqrt(N)) if n_paths > 1 else 0.0
            d["total_quantiles"] = dict(zip(["p5", "p50", "p95"], np.percentile(v, [5, 50, 95]).tolist()))
            d["npv_se"] = float(np.concatenate(kept_npv[f]).std(ddof=1) / math.sqrt(N)) if n_paths > 1 else 0.0
        if fl.cap is not None:
            d["cap_hit_probability"] = hit_count[f] / N
            d["cap_hit_probability_by_year"] = {str(y): hit_by_year[f, j] / N for j, y in enumerate(years)}
            d["cap_hit_time_mean"] = hit_time_sum[f] / hit_count[f] if hit_count[f] else None
        res["regimes"].setdefault(fl.regime, {})[fl.name] = d
    return res


# --------------------------------------------------------------------------
# revshare comparison
# --------------------------------------------------------------------------

def run_revshare(binary, scenario, n_paths):
    """Run `binary run SCENARIO --paths N --out TMP [--no-charts]`; return summary.json."""
    with tempfile.TemporaryDirectory() as out:
        base = [binary, "run", scenario, "--paths", str(n_paths), "--out", out]
        summary = os.path.join(out, "summary.json")
        errors = []
        for cmd in (base + ["--no-charts"], base):
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True)
            except OSError as e:
                raise RuntimeError(f"cannot run {binary}: {e}")
            if proc.returncode == 0 and os.path.exists(summary):
                with open(summary) as f:
                    return json.load(f)
            why = proc.stderr.strip() or proc.stdout.strip() or "no output"
            if proc.returncode == 0:
                why = f"exit 0 but no summary.json ({why})"
            errors.append(f"  $ {' '.join(cmd)}\n    exit {proc.returncode}: {why[-2000:]}")
        raise RuntimeError("revshare failed:\n" + "\n".join(errors))


def fmt(v, w=10, d=3):
    return f"{v:>{w}.{d}f}" if v is not None else f"{'-':>{w}}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenario", help="scenario JSON file (MODEL.md section 5)")
    ap.add_argument("--paths", type=int, default=None, help="paths (default: the scenario's)")
    ap.add_argument("--seed", type=int, default=None, help="seed (default: the scenario's)")
    ap.add_argument("--chunk", type=int, default=50_000, help="paths per vectorised chunk (default 50000)")
    ap.add_argument("--generator", choices=["sfc64", "pcg64dxsm"], default="sfc64")
    ap.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    ap.add_argument("--revshare-bin", metavar="PATH", help="run revshare on the same scenario and compare")
    args = ap.parse_args(argv)

    sc = load_scenario(args.scenario)
    n_paths = args.paths if args.paths is not None else sc["simulation"]["paths"]
    seed = args.seed if args.seed is not None else sc["simulation"]["seed"]
    res = simulate(sc, n_paths, seed, args.chunk, args.generator)

    print(f"scenario {sc.get('name', args.scenario)}: {n_paths} paths, {res['steps']} steps, "
          f"seed {seed}, numpy {np.__version__} ({args.generator}), 1 thread of {os.cpu_count()} cores")
    print(f"numpy: {res['elapsed_seconds']:.3f} s, {res['paths_per_second']:,.0f} paths/s")

    years = list(range(sc["start_year"], sc["end_year"] + 1))
    print("\nseries: mean revenue per calendar year ($B) and mean final run rate")
    print(f"  {'series':<16}" + "".join(f"{y:>9}" for y in years) + f"{'A(end)':>10}")
    for nm, d in res["series"].items():
        print(f"  {nm:<16}" + "".join(f"{d['annual_revenue_mean'][str(y)]:>9.2f}" for y in years)
              + f"{d['run_rate_end_mean']:>10.2f}")

    print("\nflows ($B; se = standard error of the mean)")
    print(f"  {'regime/flow':<34}{'mean total':>11}{'se':>7}{'p5':>9}{'p50':>9}{'p95':>9}"
          f"{'mean NPV':>10}{'P(cap)':>8}{'hit t':>9}")
    for regime, fls in res["regimes"].items():
        for fname, d in fls.items():
            q = d.get("total_quantiles", {})
            cap = f"{d['cap_hit_probability']:>8.4f}" if "cap_hit_probability" in d else f"{'-':>8}"
            ht = d.get("cap_hit_time_mean")
            print(f"  {regime + '/' + fname:<34}{d['total_mean']:>11.3f}{d.get('total_se', 0):>7.3f}"
                  f"{q.get('p5', float('nan')):>9.2f}{q.get('p50', float('nan')):>9.2f}{q.get('p95', float('nan')):>9.2f}"
                  f"{d['npv_mean']:>10.3f}{cap}{fmt(ht, 9, 2)}")

    if args.revshare_bin:
        try:
            summ = run_revshare(args.revshare_bin, args.scenario, n_paths)
        except RuntimeError as e:
            print(f"\n{e}", file=sys.stderr)
            return 1
        rs_pps = summ["run"]["paths_per_second"]
        print(f"\nrevshare: {rs_pps:,.0f} paths/s ({summ['run'].get('threads', '?')} threads); "
              f"numpy: {res['paths_per_second']:,.0f} paths/s; "
              f"ratio revshare/numpy = {rs_pps / res['paths_per_second']:.1f}x")
        try:
            print(f"  {'regime/flow':<34}{'numpy total':>12}{'revshare':>10}{'diff/se':>9}"
                  f"{'numpy P(cap)':>13}{'revshare':>10}")
            for regime, fls in res["regimes"].items():
                for fname, d in fls.items():
                    rf = summ["regimes"][regime]["flows"][fname]
                    rt = rf["total"]["mean"]
                    se = math.hypot(d.get("total_se", 0.0), rf["total"].get("se", 0.0)) or float("nan")
                    pc = d.get("cap_hit_probability")
                    rpc = rf["cap_hit"]["probability"] if rf.get("cap_hit") else None
                    print(f"  {regime + '/' + fname:<34}{d['total_mean']:>12.3f}{rt:>10.3f}"
                          f"{(d['total_mean'] - rt) / se:>9.2f}{fmt(pc, 13, 4)}{fmt(rpc, 10, 4)}")
        except (KeyError, TypeError) as e:
            print(f"  (could not compare means: summary.json field {e} missing)")
        res["revshare"] = {"paths_per_second": rs_pps,
                           "ratio": rs_pps / res["paths_per_second"]}

    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
