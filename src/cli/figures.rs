//! The charts of the commands that run many scenarios: chart inputs built
//! from results already computed (summaries, metric values, sensitivity
//! rows), drawn by [`revshare::export::draw`] and written as PNG and SVG.

use revshare::export::draw::{
    band_line_chart, box_chart, tornado_chart, BandLineChart, BoxChart, BoxStats, ChartStyle,
    ReferenceLine, Rendered, TornadoChart, TornadoRow, PALETTE,
};
use revshare::export::manager::OutputDir;
use revshare::scenario::Scenario;
use revshare::statistics::Stat;
use revshare::study::metric::{Metric, MetricValue};
use revshare::study::{Axis, Swing};
use revshare::summary::Summary;

/// The most parameters a tornado chart shows (the CSV has them all).
const TORNADO_ROWS: usize = 25;

/// Stages `stem.png` and `stem.svg` in the output folder.
fn write_pair(out: &mut OutputDir, stem: &str, r: &Rendered) -> Result<(), String> {
    out.write(&format!("{stem}.png"), &r.png)
        .and_then(|_| out.write(&format!("{stem}.svg"), r.svg.as_bytes()))
        .map_err(|e| e.to_string())
}

fn boxed(label: String, s: &Stat) -> BoxStats {
    BoxStats {
        label,
        p5: s.p5,
        p25: s.p25,
        p50: s.p50,
        p75: s.p75,
        p95: s.p95,
    }
}

fn paths_caption(runs: &[(String, &Summary)]) -> String {
    let paths: Vec<u64> = runs.iter().map(|(_, s)| s.run.paths).collect();
    let same = paths.windows(2).all(|w| w[0] == w[1]);
    if same {
        format!("{} paths per scenario", paths.first().copied().unwrap_or(0))
    } else {
        "paths per scenario as in comparison.csv".to_string()
    }
}

/// A batch's side-by-side charts:
/// - `comparison.png/.svg`: for each scenario, the distribution (box p25–p75,
///   whiskers p5–p95, median) of the first capped flow's total in the
///   baseline regime and in the capped regime, with the cap drawn;
/// - `comparison-delta.png/.svg`: each scenario's distribution of the
///   focal party's (see `Metric::focal_party`) delta_net against the
///   baseline.
///
/// They are separate images because the deltas of a stress scenario can be
/// orders of magnitude larger than the capped totals.
pub(crate) fn comparison_chart(
    out: &mut OutputDir,
    runs: &[(String, &Summary)],
) -> Result<(), String> {
    // The capped stream: the first capped flow of the first run that has one.
    let capped = runs.iter().find_map(|(_, s)| {
        s.regimes.iter().find_map(|(r, reg)| {
            reg.flows
                .iter()
                .find(|(_, f)| f.cap_hit.is_some())
                .map(|(f, _)| (r.clone(), f.clone()))
        })
    });
    let caption = format!(
        "Boxes p25–p75, whiskers p5–p95, line the median; {}.",
        paths_caption(runs)
    );
    let style = |n: usize| ChartStyle {
        width: (300 + 110 * n as u32).clamp(1200, 4000),
        height: 900,
        caption: caption.clone(),
    };
    if let Some((regime, flow)) = &capped {
        let mut cats = Vec::new();
        let mut caps = Vec::new();
        for (name, s) in runs {
            let baseline = &s.scenario.baseline;
            for r in [baseline, regime] {
                if let Some(f) = s.regimes.get(r).and_then(|x| x.flows.get(flow)) {
                    cats.push(boxed(format!("{name} {r}"), &f.total));
                }
            }
            if let Some(cap) = s
                .scenario
                .regimes
                .get(regime)
                .and_then(|fs| fs.iter().find(|f| &f.name == flow))
                .and_then(|f| f.cap)
            {
                if !caps.contains(&cap) {
                    caps.push(cap);
                }
            }
        }
        let chart = BoxChart {
            title: format!("{flow}: total paid per scenario, baseline vs {regime}"),
            x_label: "Scenario and regime".into(),
            y_label: "Total paid in the simulation, $B".into(),
            categories: cats,
            hue: PALETTE[0],
            horizontal_lines: caps
                .iter()
                .map(|c| ReferenceLine {
                    value: *c,
                    label: format!("cap ${c}B"),
                })
                .collect(),
        };
        let n = chart.categories.len();
        let r = box_chart(&chart, &style(n)).map_err(|e| format!("comparison chart: {e}"))?;
        write_pair(out, "comparison", &r)?;
    }
    // The delta of the focal party of the first compared regime (the
    // payer of its first capped flow, see Metric::focal_party).
    let party = runs.iter().find_map(|(_, s)| {
        s.comparisons.iter().find_map(|(r, ps)| {
            let focal = Metric::focal_party(&s.scenario, r);
            let p = if ps.contains_key(&focal) {
                Some(focal)
            } else {
                ps.keys().next().cloned()
            };
            p.map(|p| (r.clone(), p))
        })
    });
    if let Some((regime, party)) = party {
        let cats: Vec<BoxStats> = runs
            .iter()
            .filter_map(|(name, s)| {
                s.comparisons
                    .get(&regime)
                    .and_then(|x| x.get(&party))
                    .map(|c| boxed(name.clone(), &c.delta_net))
            })
            .collect();
        if !cats.is_empty() {
            let chart = BoxChart {
                title: format!("{party}: net gain of {regime} against the baseline, per scenario"),
                x_label: "Scenario".into(),
                y_label: format!("{party} delta_net, $B (per path)"),
                hue: PALETTE[2],
                horizontal_lines: vec![ReferenceLine {
                    value: 0.0,
                    label: "no change".into(),
                }],
                categories: cats,
            };
            let n = chart.categories.len();
            let r =
                box_chart(&chart, &style(n)).map_err(|e| format!("comparison delta chart: {e}"))?;
            write_pair(out, "comparison-delta", &r)?;
        }
    }
    Ok(())
}

/// `sweep.png/.svg`: the metric against the first swept parameter with its
/// 90% band (p5–p95 of a distribution; the Wilson 90% interval of a
/// probability), the other parameters at their first value. Nothing is
/// drawn if the first parameter's values are not numbers.
pub(crate) fn sweep_chart(
    out: &mut OutputDir,
    sc: &Scenario,
    axes: &[Axis],
    metric: &Metric,
    values: &[Option<MetricValue>],
) -> Result<(), String> {
    let first = &axes[0];
    let xs: Option<Vec<f64>> = first.values.iter().map(|v| v.parse().ok()).collect();
    let Some(xs) = xs else {
        eprintln!(
            "note: {} has non-numeric values; sweep.png is not drawn",
            first.path
        );
        return Ok(());
    };
    // The first axis varies slowest: with the others at their first value,
    // its i-th value is point i * (number of other combinations).
    let stride: usize = axes[1..].iter().map(|a| a.values.len()).product();
    let mut pts: Vec<(f64, f64, f64, f64)> = Vec::new();
    let mut probability = false;
    for (i, x) in xs.iter().enumerate() {
        let (c, lo, hi) = match &values[i * stride] {
            Some(v) => {
                probability = matches!(v, MetricValue::Probability { .. });
                let (lo, hi) = v.band90();
                (v.point(), lo, hi)
            }
            None => (f64::NAN, f64::NAN, f64::NAN),
        };
        pts.push((*x, c, lo, hi));
    }
    // The chart needs x in order; the CSV keeps the order given.
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let scale = if probability { 100.0 } else { 1.0 };
    let others: Vec<String> = axes[1..]
        .iter()
        .map(|a| format!("{}={}", a.path, a.values[0]))
        .collect();
    let chart = BandLineChart {
        title: format!("{} against {}", metric.label(), first.path),
        x_label: first.path.clone(),
        y_label: if probability {
            "probability, %".into()
        } else {
            metric.key().to_string()
        },
        x: pts.iter().map(|p| p.0).collect(),
        center: pts.iter().map(|p| p.1 * scale).collect(),
        lower: pts.iter().map(|p| p.2 * scale).collect(),
        upper: pts.iter().map(|p| p.3 * scale).collect(),
        line_label: if probability {
            "estimate".into()
        } else {
            "mean".into()
        },
        band_label: if probability {
            "90% interval (Wilson)".into()
        } else {
            "90% band (p5–p95)".into()
        },
        hue: PALETTE[0],
        horizontal_lines: vec![],
    };
    let caption = format!(
        "{}: {} paths per point, common random numbers (seed {}){}.",
        sc.name,
        sc.simulation.paths,
        sc.simulation.seed,
        if others.is_empty() {
            String::new()
        } else {
            format!("; other parameters at {}", others.join(", "))
        }
    );
    let style = ChartStyle {
        caption,
        ..ChartStyle::default()
    };
    let r = band_line_chart(&chart, &style).map_err(|e| format!("sweep chart: {e}"))?;
    write_pair(out, "sweep", &r)
}

/// `tornado.png/.svg`: the metric at each parameter's low and high
/// setting around the base value, largest swing on top (at most
/// [`TORNADO_ROWS`] parameters).
pub(crate) fn tornado(
    out: &mut OutputDir,
    sc: &Scenario,
    metric: &Metric,
    base_value: f64,
    rows: &[Swing],
    spread: Option<f64>,
) -> Result<(), String> {
    let shown: Vec<TornadoRow> = rows
        .iter()
        .filter(|r| r.swing.is_finite())
        .take(TORNADO_ROWS)
        .map(|r| TornadoRow {
            label: format!(
                "{} ({:.4} → {:.4})",
                r.param.path, r.param.low, r.param.high
            ),
            low: r.metric_low,
            high: r.metric_high,
        })
        .collect();
    if shown.is_empty() {
        return Ok(());
    }
    let n = shown.len();
    let chart = TornadoChart {
        title: format!("Sensitivity of {}", metric.label()),
        x_label: format!("{} (mean over paths)", metric.key()),
        base_value,
        base_label: "base case".into(),
        low_label: "parameter low".into(),
        high_label: "parameter high".into(),
        rows: shown,
    };
    let caption = format!(
        "{}: {} paths per run, common random numbers (seed {}); {}.{}",
        sc.name,
        sc.simulation.paths,
        sc.simulation.seed,
        match spread {
            Some(s) => format!(
                "each parameter moved by ±{:.0}% (clamped to its range)",
                100.0 * s
            ),
            None => "each parameter moved to the bounds of the ranges file".into(),
        },
        if rows.len() > n {
            format!(
                " The {n} largest of {} parameters; all in sensitivity.csv.",
                rows.len()
            )
        } else {
            String::new()
        }
    );
    let style = ChartStyle {
        width: 1600,
        height: (260 + 40 * n as u32).clamp(600, 2400),
        caption,
    };
    let r = tornado_chart(&chart, &style).map_err(|e| format!("tornado chart: {e}"))?;
    write_pair(out, "tornado", &r)
}
