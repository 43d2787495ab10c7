//! `revshare sensitivity --method sobol`: variance-based global
//! sensitivity of a metric over the distributions of the `--ranges`
//! parameters (`study::decide::sobol`: Saltelli sampling, Jansen's total
//! index, bootstrap intervals). Every design point is a run of the
//! scenario at its one seed (common random numbers), so the metric is a
//! deterministic function of the parameters; the points run in parallel,
//! one thread each. Writes `sobol.csv`, `sobol.json`, a bar chart of the
//! indices labelled with their intervals and, with `--xlsx`, `sobol.xlsx`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use serde_json::json;

use super::common::{cancel_flag, load_scenario, print_written, simulate, RunFailure, Simulate};
use super::decide::{json_bytes, num, point_text, table_csv};
use super::progress::Progress;
use super::sensitivity::SensitivityArgs;
use super::sweep::check_metric;
use super::{failure, invalid};
use revshare::export::draw::{tornado_chart, ChartStyle, TornadoChart, TornadoRow};
use revshare::export::manager::OutputDir;
use revshare::export::xlsx::{self, Cell, Sheet};
use revshare::scenario::Scenario;
use revshare::study::decide::sobol::{Distribution, Index, Input, Sobol};
use revshare::study::decide::Estimate;
use revshare::study::metric::Metric;
use revshare::study::problem::Variants;
use revshare::study::{self, Range};

/// The default path count of each run of a Sobol' analysis: N (k + 2)
/// runs are made, so each is small; common random numbers keep the
/// metric's noise coherent across the design.
pub const DEFAULT_PATHS: u64 = 2_000;

/// Bootstrap resamples of the intervals.
const BOOTSTRAP: usize = 1_000;

/// Runs `revshare sensitivity --method sobol`.
pub fn run(args: &SensitivityArgs) -> anyhow::Result<()> {
    // 1. Scenario, ranges, metric and every design point, all checked
    //    before any long run.
    let paths = Some(args.run.paths.unwrap_or(DEFAULT_PATHS));
    let base = load_scenario(
        &args.scenario,
        &args.run.set,
        paths,
        args.run.seed,
        args.run.sampling,
    )?;
    if args.samples < 2 {
        return Err(invalid(format!(
            "--samples must be at least 2, got {}",
            args.samples
        )));
    }
    let base_json = base.to_json_value();
    let ranges: Vec<Range> = match &args.ranges {
        Some(f) => std::fs::read_to_string(f)
            .map_err(|e| e.to_string())
            .and_then(|t| study::ranges_from_file(&base_json, &t))
            .map_err(|e| invalid(format!("{}: {e}", f.display())))?,
        None => {
            if !(args.spread > 0.0 && args.spread < 1.0) {
                return Err(invalid(format!(
                    "--spread must be in (0, 1), got {}",
                    args.spread
                )));
            }
            study::parameters(&base, args.spread)
                .into_iter()
                .map(|p| Range {
                    distribution: Distribution::Uniform {
                        lo: p.low,
                        hi: p.high,
                    },
                    param: p,
                })
                .collect()
        }
    };
    let inputs: Vec<Input> = ranges
        .iter()
        .map(|r| Input {
            name: r.param.path.clone(),
            distribution: r.distribution,
        })
        .collect();
    let sobol = Sobol::new(inputs).map_err(|e| invalid(e.to_string()))?;
    let metric = match &args.metric {
        Some(k) => Metric::new(k).map_err(|e| invalid(e.to_string()))?,
        None => Metric::default_for_sensitivity(&base),
    };
    check_metric(&base, &metric).map_err(invalid)?;
    let seed = base.simulation.seed;
    let design = sobol
        .design(args.samples, seed)
        .map_err(|e| invalid(e.to_string()))?;
    let names: Vec<String> = ranges.iter().map(|r| r.param.path.clone()).collect();
    let variants = Variants::new(&base, &args.scenario);
    let scenarios: Vec<Scenario> = design
        .iter()
        .map(|x| {
            variants.with(&names, x).map_err(|e| {
                invalid(format!(
                    "the scenario is invalid at the design point {}: {}; keep every range \
                     inside the parameter's valid values (a normal range reaches any value)",
                    point_text(&names, x),
                    e.to_string().replace('\n', " ")
                ))
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let mut out = args
        .output
        .open(Path::new("out").join(format!("{}-sobol", base.name)), false)?;
    let dir = out.path().to_owned();

    // 2. Every design point on the same seed, in parallel.
    let cancel = cancel_flag();
    let total = scenarios.len() as u64 * base.simulation.paths;
    let progress = Progress::new(total);
    let done = AtomicU64::new(0);
    // Plain threads take the points in turn: each run starts its own
    // one-thread pool, and a rayon worker waiting on another pool would
    // run further points on top of its own stack.
    let threads = if args.run.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        args.run.threads
    }
    .min(scenarios.len());
    let next = AtomicUsize::new(0);
    let y = Mutex::new(vec![f64::NAN; scenarios.len()]);
    let failed: Mutex<Option<RunFailure>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= scenarios.len() || failed.lock().map_or(true, |f| f.is_some()) {
                    return;
                }
                let sc = &scenarios[i];
                let report = |n: u64| progress.update(done.load(Ordering::Relaxed) + n);
                let how = Simulate {
                    threads: 1,
                    exact: false,
                    progress: &report,
                    cancel: &cancel,
                    steps: false,
                    per_path: None,
                };
                match simulate(sc, &how) {
                    Ok(run) => {
                        done.fetch_add(sc.simulation.paths, Ordering::Relaxed);
                        // A metric with no value at a point (a cap never
                        // hit) is NaN, reported below with the point.
                        let v = metric.eval(&run.summary).map_or(f64::NAN, |v| v.point());
                        if let Ok(mut y) = y.lock() {
                            y[i] = v;
                        }
                    }
                    Err(e) => {
                        if let Ok(mut f) = failed.lock() {
                            f.get_or_insert(e);
                        }
                        return;
                    }
                }
            });
        }
    });
    let outputs = match failed.into_inner().ok().flatten() {
        Some(e) => Err(e),
        None => Ok(y.into_inner().unwrap_or_default()),
    };
    progress.finish();
    let y = outputs.map_err(RunFailure::into_error)?;
    if let Some(i) = y.iter().position(|v| !v.is_finite()) {
        return Err(failure(format!(
            "{} has no finite value at the design point {}; choose a metric that every \
             point has (e.g. a mean rather than a hit time)",
            metric.key(),
            point_text(&names, &design[i])
        )));
    }
    let indices = sobol
        .indices(&y, BOOTSTRAP, seed.wrapping_add(0x9E37_79B9_7F4A_7C15))
        .map_err(|e| failure(e.to_string()))?;
    let mut order: Vec<usize> = (0..indices.len()).collect();
    order.sort_by(|&a, &b| indices[b].total.value.total_cmp(&indices[a].total.value));
    let (mean, variance) = {
        let ab = &y[..2 * args.samples];
        let m = ab.iter().sum::<f64>() / ab.len() as f64;
        (
            m,
            ab.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / ab.len() as f64,
        )
    };
    let sum_first: f64 = indices.iter().map(|i| i.first.value).sum();
    let sum_first_err: f64 = indices.iter().map(|i| half_width(&i.first)).sum();

    // 3. Export.
    let sheet = sobol_sheet(&metric, &ranges, &indices, &order);
    let summary = json!({
        "metric": metric.key(),
        "scenario": base.name,
        "samples": args.samples,
        "evaluations": y.len(),
        "paths": base.simulation.paths,
        "seed": seed,
        "bootstrap": BOOTSTRAP,
        "mean": num(mean),
        "variance": num(variance),
        "first_order_sum": { "value": num(sum_first), "error": num(sum_first_err) },
        "ranking": order.iter().map(|&i| indices[i].name.clone()).collect::<Vec<_>>(),
        "parameters": order.iter().map(|&i| {
            let ix = &indices[i];
            (ix.name.clone(), json!({
                "first_order": estimate(&ix.first),
                "total": estimate(&ix.total),
                "distribution": distribution_json(&ranges[i].distribution),
            }))
        }).collect::<serde_json::Map<_, _>>(),
    });
    let written = (|| -> anyhow::Result<Vec<PathBuf>> {
        out.write("sobol.csv", &table_csv(&sheet))?;
        out.write("sobol.json", &json_bytes(&summary))?;
        if args.output.xlsx {
            let bytes = xlsx::workbook_bytes(std::slice::from_ref(&sheet))
                .map_err(|e| anyhow::anyhow!("cannot build sobol.xlsx: {e}"))?;
            out.write("sobol.xlsx", &bytes)?;
        }
        if !args.output.no_charts {
            sobol_chart(
                &mut out,
                args.output.chart_size,
                &base,
                &metric,
                &indices,
                &order,
                args.samples,
            )?;
        }
        Ok(out.commit()?)
    })();
    let written = written.map_err(|e| failure(format!("{e:#}")))?;
    if !args.output.quiet {
        println!(
            "Sobol' indices of {} for {} ({} parameters, N = {} base samples, {} runs of {} \
             paths, seed {}): mean {:.3}, variance {:.4}",
            metric.key(),
            base.name,
            indices.len(),
            args.samples,
            y.len(),
            base.simulation.paths,
            seed,
            mean,
            variance
        );
        println!(
            "{:>4} {:<56} {:>24} {:>24}",
            "rank", "parameter", "first order (95%)", "total (95%)"
        );
        for (k, &i) in order.iter().enumerate() {
            let ix = &indices[i];
            println!(
                "{:>4} {:<56} {:>24} {:>24}",
                k + 1,
                ix.name,
                show_estimate(&ix.first),
                show_estimate(&ix.total)
            );
        }
        println!(
            "sum of first-order indices {:.3} ± {:.3} (at most 1 up to the error; the rest is \
             interactions)",
            sum_first, sum_first_err
        );
        print_written(&dir, &written, "");
    }
    Ok(())
}

/// Half the width of an estimate's 95% interval (0 without one).
fn half_width(e: &Estimate) -> f64 {
    let h = 0.5 * (e.high - e.low);
    if h.is_finite() {
        h
    } else {
        0.0
    }
}

fn estimate(e: &Estimate) -> serde_json::Value {
    json!({ "value": num(e.value), "low": num(e.low), "high": num(e.high) })
}

fn show_estimate(e: &Estimate) -> String {
    format!("{:.3} ({:.3}–{:.3})", e.value, e.low, e.high)
}

fn distribution_json(d: &Distribution) -> serde_json::Value {
    match *d {
        Distribution::Uniform { lo, hi } => json!({ "dist": "uniform", "low": lo, "high": hi }),
        Distribution::Normal { mean, sd } => json!({ "dist": "normal", "mean": mean, "sd": sd }),
        Distribution::Triangular { lo, mode, hi } => {
            json!({ "dist": "triangular", "low": lo, "mode": mode, "high": hi })
        }
    }
}

fn distribution_text(d: &Distribution) -> String {
    match *d {
        Distribution::Uniform { lo, hi } => format!("uniform [{lo}, {hi}]"),
        Distribution::Normal { mean, sd } => format!("normal (mean {mean}, sd {sd})"),
        Distribution::Triangular { lo, mode, hi } => {
            format!("triangular [{lo}, {hi}] mode {mode}")
        }
    }
}

/// The indices, largest total first (sobol.csv and the workbook sheet).
fn sobol_sheet(metric: &Metric, ranges: &[Range], indices: &[Index], order: &[usize]) -> Sheet {
    let n = Cell::Number;
    Sheet {
        name: "sobol".into(),
        headers: [
            "rank",
            "parameter",
            "distribution",
            "metric",
            "first_order",
            "first_order_low",
            "first_order_high",
            "total",
            "total_low",
            "total_high",
        ]
        .iter()
        .map(|h| h.to_string())
        .collect(),
        rows: order
            .iter()
            .enumerate()
            .map(|(k, &i)| {
                let ix = &indices[i];
                vec![
                    Cell::Int(k as i64 + 1),
                    Cell::Text(ix.name.clone()),
                    Cell::Text(distribution_text(&ranges[i].distribution)),
                    Cell::Text(metric.key().to_string()),
                    n(ix.first.value),
                    n(ix.first.low),
                    n(ix.first.high),
                    n(ix.total.value),
                    n(ix.total.low),
                    n(ix.total.high),
                ]
            })
            .collect(),
    }
}

/// The most parameters the chart shows (the CSV has them all).
const CHART_PARAMETERS: usize = 15;

/// `sobol.png/.svg`: one bar per parameter (largest total index first)
/// from 0 to its total index, the first-order index drawn over it, each
/// row labelled with both estimates and their bootstrap 95% intervals.
#[allow(clippy::too_many_arguments)]
fn sobol_chart(
    out: &mut OutputDir,
    size: revshare::export::charts::ChartSize,
    sc: &Scenario,
    metric: &Metric,
    indices: &[Index],
    order: &[usize],
    samples: usize,
) -> anyhow::Result<()> {
    let shown: Vec<usize> = order.iter().copied().take(CHART_PARAMETERS).collect();
    let interval = |e: &Estimate| format!("{:.2} [{:.2}, {:.2}]", e.value, e.low, e.high);
    let rows: Vec<TornadoRow> = shown
        .iter()
        .map(|&i| {
            let ix = &indices[i];
            TornadoRow {
                label: format!(
                    "{}: S {} · ST {}",
                    short(&ix.name),
                    interval(&ix.first),
                    interval(&ix.total)
                ),
                // Drawn in this order: the total bar, then the first-order
                // bar over it.
                low: ix.total.value,
                high: ix.first.value,
            }
        })
        .collect();
    let chart = TornadoChart {
        title: format!("Sobol' indices of {}", metric.display_inline(sc)),
        x_label: "share of the metric's variance".into(),
        base_value: 0.0,
        base_label: "no effect".into(),
        low_label: "total index ST (with interactions)".into(),
        high_label: "first-order index S (alone)".into(),
        rows,
    };
    let more = if indices.len() > shown.len() {
        format!(
            " The {} largest of {} parameters; all in sobol.csv.",
            shown.len(),
            indices.len()
        )
    } else {
        String::new()
    };
    // --chart-size, made taller when the rows need more room (text scales
    // with the width, so the room a row needs does too).
    let rows_h = (260.0 + 60.0 * shown.len() as f64) * size.width as f64 / 1600.0;
    let style = ChartStyle {
        width: size.width,
        height: size.height.max((rows_h as u32).min(2400)),
        caption: format!(
            "{}: N = {samples} base samples, {} paths per run, common random numbers (seed {}). \
             Labels: each index with its bootstrap 95% interval [low, high].{more}",
            sc.name, sc.simulation.paths, sc.simulation.seed
        ),
    };
    let r = tornado_chart(&chart, &style).map_err(|e| anyhow::anyhow!("chart sobol: {e}"))?;
    super::figures::write_pair(out, "sobol", &r)?;
    Ok(())
}

/// The last three parts of a path (the chart's labels are short).
fn short(path: &str) -> String {
    let parts: Vec<&str> = path.split('.').collect();
    parts[parts.len().saturating_sub(3)..].join(".")
}
