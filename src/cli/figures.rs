//! The charts of the commands that run many scenarios: chart inputs built
//! from results already computed (summaries, metric values, sensitivity
//! rows), drawn by [`revshare::export::draw`]. Each function returns the
//! rendered charts; the command writes them as PNG and SVG
//! ([`write_charts`]) and shows them in its report.

use revshare::export::charts::{ChartSize, RenderedChart};
use revshare::export::draw::{
    band_line_chart, box_chart, tornado_chart, BandLineChart, BoxChart, BoxStats, ChartStyle,
    LineSeries, ReferenceLine, Rendered, TornadoChart, TornadoRow, PALETTE,
};
use revshare::export::manager::{OutputDir, OutputError};
use revshare::scenario::Scenario;
use revshare::statistics::Stat;
use revshare::study::metric::{Metric, MetricValue};
use revshare::study::{Axis, Swing};
use revshare::summary::Summary;

/// The most parameters a tornado chart shows (the CSV has them all).
const TORNADO_ROWS: usize = 25;

/// A whisker is off the robust scale of a batch comparison when it
/// reaches this many median box-and-whisker spans beyond the others.
const OUTLIER_SPANS: f64 = 3.0;

/// Stages `stem.png` and `stem.svg` of every chart in the output folder.
pub(crate) fn write_charts(out: &mut OutputDir, charts: &[RenderedChart]) -> Result<(), String> {
    for c in charts {
        write_pair(out, &c.name, &c.rendered).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Stages one chart as `stem.png` and `stem.svg`.
pub(crate) fn write_pair(out: &mut OutputDir, stem: &str, r: &Rendered) -> Result<(), OutputError> {
    out.write(&format!("{stem}.png"), &r.png)?;
    out.write(&format!("{stem}.svg"), r.svg.as_bytes())
}

fn named(name: &str, title: &str, style: ChartStyle, rendered: Rendered) -> RenderedChart {
    RenderedChart {
        name: name.to_string(),
        title: title.to_string(),
        caption: style.caption,
        rendered,
    }
}

fn boxed(label: String, s: &Stat) -> BoxStats {
    BoxStats {
        label,
        p5: s.p5,
        p25: s.p25,
        p50: s.p50,
        p75: s.p75,
        p95: s.p95,
        hue: None,
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

/// The median of `v` (NaN for none).
fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// A y range on which most boxes can be read: every box (p25–p75) and
/// every whisker except those that reach more than [`OUTLIER_SPANS`]
/// median whisker spans beyond the medians of the whisker ends. `None`
/// when every whisker fits; else the range and the names of the
/// categories whose whiskers reach beyond it.
fn robust_range(cats: &[BoxStats]) -> Option<((f64, f64), Vec<String>)> {
    if cats.len() < 3 {
        return None;
    }
    let span = median(cats.iter().map(|c| c.p95 - c.p5).collect()).max(1e-9);
    let lo_mid = median(cats.iter().map(|c| c.p5).collect());
    let hi_mid = median(cats.iter().map(|c| c.p95).collect());
    let (lo, hi) = (lo_mid - OUTLIER_SPANS * span, hi_mid + OUTLIER_SPANS * span);
    let far = |c: &BoxStats| c.p5 < lo || c.p95 > hi;
    let outside: Vec<String> = cats
        .iter()
        .filter(|c| far(c))
        .map(|c| c.label.clone())
        .collect();
    if outside.is_empty() {
        return None;
    }
    // Every box, the whiskers that are not far out, and zero.
    let (mut a, mut b) = (0.0f64, 0.0f64);
    for c in cats {
        a = a.min(c.p25);
        b = b.max(c.p75);
        if !far(c) {
            a = a.min(c.p5);
            b = b.max(c.p95);
        }
    }
    let pad = 0.08 * (b - a).max(1e-9);
    Some(((a - pad, b + pad), outside))
}

/// A batch's side-by-side charts:
/// - `comparison`: for each scenario, the distribution (box p25–p75,
///   whiskers p5–p95, median) of the first capped flow's total in the
///   baseline regime and in the capped regime (coloured by regime), with
///   the cap drawn;
/// - `comparison-delta`: each scenario's distribution of the focal
///   party's (see `Metric::focal_party`) delta_net against the
///   baseline, on a range most scenarios can be read on: a scenario whose
///   whiskers reach far beyond the others (a stress test) ends in arrows
///   with its values written at the edge, and the caption names it.
pub(crate) fn comparison_charts(
    runs: &[(String, &Summary)],
    size: ChartSize,
) -> Result<Vec<RenderedChart>, String> {
    let mut charts = Vec::new();
    // The capped stream: the first capped flow of the first run that has one.
    let capped = runs.iter().find_map(|(_, s)| {
        s.regimes.iter().find_map(|(r, reg)| {
            reg.flows
                .iter()
                .find(|(_, f)| f.cap_hit.is_some())
                .map(|(f, _)| (r.clone(), f.clone()))
        })
    });
    let labels = runs
        .first()
        .map(|(_, s)| s.scenario.labels.clone())
        .unwrap_or_default();
    let caption = format!(
        "Boxes p25–p75, whiskers p5–p95, line the median; {}.",
        paths_caption(runs)
    );
    // --chart-size, widened when the boxes need more room.
    let style = |n: usize, caption: String| ChartStyle {
        width: size.width.max((300 + 110 * n as u32).min(4000)),
        height: size.height,
        caption,
    };
    if let Some((regime, flow)) = &capped {
        let mut cats = Vec::new();
        let mut caps = Vec::new();
        let mut hues = Vec::new();
        for (name, s) in runs {
            let baseline = &s.scenario.baseline;
            for (k, r) in [baseline, regime].into_iter().enumerate() {
                if let Some(f) = s.regimes.get(r).and_then(|x| x.flows.get(flow)) {
                    let mut b = boxed(format!("{name}\n{}", labels.regime(r)), &f.total);
                    b.hue = Some(PALETTE[k]);
                    cats.push(b);
                    let entry = (labels.regime(r).to_string(), PALETTE[k]);
                    if !hues.contains(&entry) {
                        hues.push(entry);
                    }
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
        let title = format!(
            "{}: total paid per scenario, {} vs {}",
            labels.flow(flow),
            labels.regime(&runs[0].1.scenario.baseline),
            labels.regime(regime)
        );
        let chart = BoxChart {
            title: title.clone(),
            x_label: "Scenario and regime".into(),
            y_label: "Total paid in the simulation, $B".into(),
            categories: cats,
            hue: PALETTE[0],
            horizontal_lines: caps
                .iter()
                .map(|c| ReferenceLine {
                    value: *c,
                    label: format!("cap ${c}B"),
                    hue: Some(PALETTE[1]),
                })
                .collect(),
            y_range: None,
            hue_legend: hues,
        };
        let st = style(chart.categories.len(), caption.clone());
        let r = box_chart(&chart, &st).map_err(|e| format!("comparison chart: {e}"))?;
        charts.push(named("comparison", &title, st, r));
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
            let range = robust_range(&cats);
            let mut caption = caption.clone();
            if let Some((_, outside)) = &range {
                caption.push_str(&format!(
                    " The y axis shows the range most scenarios span; whiskers of {} reach beyond it and end in arrows, \
                     their values written at the edge (all values in comparison.csv).",
                    outside.join(", ")
                ));
            }
            let baseline = runs[0].1.scenario.baseline.clone();
            let (pl, rl, bl) = (
                labels.party(&party),
                labels.regime(&regime),
                labels.regime(&baseline),
            );
            let title = format!("{pl}: net gain under {rl} against {bl}, per scenario");
            let chart = BoxChart {
                title: title.clone(),
                x_label: "Scenario".into(),
                y_label: format!("Change in {pl}'s net position per path ({rl} − {bl}), $B"),
                hue: PALETTE[2],
                horizontal_lines: vec![ReferenceLine {
                    value: 0.0,
                    label: "no change".into(),
                    hue: None,
                }],
                y_range: range.map(|r| r.0),
                hue_legend: Vec::new(),
                categories: cats,
            };
            let st = style(chart.categories.len(), caption);
            let r = box_chart(&chart, &st).map_err(|e| format!("comparison delta chart: {e}"))?;
            charts.push(named("comparison-delta", &title, st, r));
        }
    }
    Ok(charts)
}

/// A swept parameter's axis title with its unit.
pub(crate) fn parameter_axis(path: &str) -> String {
    let last = path.rsplit('.').next().unwrap_or(path);
    let unit = if last == "cap" || last == "paid_before_start" {
        "$B"
    } else if last == "initial_run_rate" {
        "$B/year"
    } else if path.starts_with("regimes.") && last == "rate" {
        "share of revenue, 0–1"
    } else if last == "rho" || last.ends_with("correlation") {
        "correlation, −1–1"
    } else if path.contains(".jumps.") && last == "rate" {
        "jumps per year"
    } else if path.contains(".jumps.") {
        "log revenue"
    } else if last == "dof" {
        "degrees of freedom"
    } else if last == "reversion" || last.ends_with("decay") {
        "per year"
    } else if path.contains("growth") || path.contains("volatility") || last == "discount_rate" {
        "per year, 0.1 = 10%"
    } else {
        "value"
    };
    format!("{path} ({unit})")
}

/// The unit of a metric's values as charted: "%" for a probability
/// (charted ×100), "calendar year" for a date, else "$B".
pub(crate) fn metric_unit(metric: &Metric, probability: bool) -> &'static str {
    if probability {
        "%"
    } else if metric.key().contains("cap_hit.time") {
        "calendar year"
    } else {
        "$B"
    }
}

/// `sweep.png/.svg`: the metric against the first swept parameter with its
/// 90% band (p5–p95 of a distribution; the Wilson 90% interval of a
/// probability). With more parameters, every grid point is drawn: one line
/// per combination of the other parameters' values (the caption says so).
/// Nothing is drawn if the first parameter's values are not numbers.
pub(crate) fn sweep_chart(
    size: ChartSize,
    sc: &Scenario,
    axes: &[Axis],
    metric: &Metric,
    values: &[Option<MetricValue>],
) -> Result<Option<RenderedChart>, String> {
    let first = &axes[0];
    let xs: Option<Vec<f64>> = first.values.iter().map(|v| v.parse().ok()).collect();
    let Some(xs) = xs else {
        eprintln!(
            "note: {} has non-numeric values; sweep.png is not drawn",
            first.path
        );
        return Ok(None);
    };
    // The first axis varies slowest: point i * stride + j has the first
    // parameter's i-th value and the j-th combination of the others.
    let stride: usize = axes[1..].iter().map(|a| a.values.len()).product();
    let combos: Vec<String> = (0..stride)
        .map(|j| {
            let mut rest = j;
            let mut parts = Vec::new();
            for a in axes[1..].iter().rev() {
                let k = rest % a.values.len();
                rest /= a.values.len();
                parts.push(format!("{} = {}", a.path, a.values[k]));
            }
            parts.reverse();
            parts.join(", ")
        })
        .collect();
    let probability = values
        .iter()
        .flatten()
        .any(|v| matches!(v, MetricValue::Probability { .. }));
    let scale = if probability { 100.0 } else { 1.0 };
    let mut series = Vec::new();
    for (j, label) in combos.iter().enumerate() {
        let mut pts: Vec<(f64, f64, f64, f64)> = xs
            .iter()
            .enumerate()
            .map(
                |(i, x)| match values.get(i * stride + j).and_then(|v| v.as_ref()) {
                    Some(v) => {
                        let (lo, hi) = v.band90();
                        (*x, v.point() * scale, lo * scale, hi * scale)
                    }
                    None => (*x, f64::NAN, f64::NAN, f64::NAN),
                },
            )
            .collect();
        // The chart needs x in order; the CSV keeps the order given.
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        series.push(LineSeries {
            label: label.clone(),
            hue: PALETTE[j % PALETTE.len()],
            x: pts.iter().map(|p| p.0).collect(),
            center: pts.iter().map(|p| p.1).collect(),
            lower: pts.iter().map(|p| p.2).collect(),
            upper: pts.iter().map(|p| p.3).collect(),
        });
    }
    let unit = metric_unit(metric, probability);
    let title = format!("{} against {}", metric.display(sc), first.path);
    // A whole distribution is charted by its mean; a probability or one
    // number of a distribution is its own estimate.
    let sample = values.iter().flatten().next();
    let distribution = matches!(sample, Some(MetricValue::Stat(_)));
    let chart = BandLineChart {
        title: title.clone(),
        x_label: parameter_axis(&first.path),
        y_label: format!(
            "{}{}, {unit}",
            metric.quantity(sc),
            if distribution {
                " (mean over paths)"
            } else {
                ""
            }
        ),
        series,
        line_label: if distribution {
            "mean".into()
        } else {
            "estimate".into()
        },
        band_label: sample.map_or("", MetricValue::band90_label).into(),
        horizontal_lines: vec![],
        log_x: false,
        // A probability's interval never leaves 0–100%; the axis neither.
        y_limits: probability.then_some((0.0, 100.0)),
    };
    let points = xs.len() * stride;
    let drawn = if stride > 1 {
        format!(
            " Every one of the {points} grid points is drawn: one line per value of {} ({stride} lines of {} points); \
             bars: the interval at each point (nudged sideways so that they do not cover each other).",
            axes[1..]
                .iter()
                .map(|a| a.path.as_str())
                .collect::<Vec<_>>()
                .join(" and "),
            xs.len()
        )
    } else {
        format!(" All {points} grid points are drawn.")
    };
    let caption = format!(
        "{}: {} paths per point, common random numbers (seed {}).{drawn}",
        sc.name, sc.simulation.paths, sc.simulation.seed,
    );
    let style = ChartStyle {
        width: size.width,
        height: size.height,
        caption,
    };
    let r = band_line_chart(&chart, &style).map_err(|e| format!("sweep chart: {e}"))?;
    Ok(Some(named("sweep", &title, style, r)))
}

/// `tornado.png/.svg`: the metric at each parameter's low and high
/// setting around the base value, largest swing on top (at most
/// [`TORNADO_ROWS`] parameters). A probability is charted in percent.
pub(crate) fn tornado(
    size: ChartSize,
    sc: &Scenario,
    metric: &Metric,
    base_value: f64,
    rows: &[Swing],
    spread: Option<f64>,
) -> Result<Option<RenderedChart>, String> {
    // The overall probability and the by-year ones alike.
    let probability = metric.key().contains(".cap_hit.probability");
    let scale = if probability { 100.0 } else { 1.0 };
    let shown: Vec<TornadoRow> = rows
        .iter()
        .filter(|r| r.swing.is_finite())
        .take(TORNADO_ROWS)
        .map(|r| TornadoRow {
            label: format!(
                "{} ({:.4} → {:.4})",
                r.param.path, r.param.low, r.param.high
            ),
            low: r.metric_low * scale,
            high: r.metric_high * scale,
        })
        .collect();
    if shown.is_empty() {
        return Ok(None);
    }
    let n = shown.len();
    let unit = metric_unit(metric, probability);
    let title = format!("Sensitivity of {}", metric.display_inline(sc));
    let chart = TornadoChart {
        title: title.clone(),
        x_label: format!(
            "{}{} at the parameter's setting, {unit}",
            metric.quantity(sc),
            if probability || metric.is_stat_field() {
                ""
            } else {
                " (mean over paths)"
            }
        ),
        base_value: base_value * scale,
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
    // --chart-size, made taller when the rows need more room (text scales
    // with the width, so the room a row needs does too).
    let rows_h = (260.0 + 40.0 * n as f64) * size.width as f64 / 1600.0;
    let style = ChartStyle {
        width: size.width,
        height: size.height.max((rows_h as u32).min(2400)),
        caption,
    };
    let r = tornado_chart(&chart, &style).map_err(|e| format!("tornado chart: {e}"))?;
    Ok(Some(named("tornado", &title, style, r)))
}
