//! The charts of the commands that run many scenarios: built from results
//! already computed (summaries, metric values) and drawn by [`crate::charts`].

use std::path::{Path, PathBuf};

use super::sensitivity::Row;
use crate::metric::{Metric, MetricValue};
use crate::scenario::Scenario;
use crate::study::Axis;
use crate::summary::Summary;

/// `comparison.png/.svg` of a batch.
pub(crate) fn comparison_chart(
    _out: &Path,
    _runs: &[(String, &Summary)],
) -> Result<Vec<PathBuf>, String> {
    Ok(Vec::new())
}

/// `sweep.png/.svg`.
pub(crate) fn sweep_chart(
    _out: &Path,
    _sc: &Scenario,
    _axes: &[Axis],
    _metric: &Metric,
    _values: &[Option<MetricValue>],
) -> Result<Vec<PathBuf>, String> {
    Ok(Vec::new())
}

/// `tornado.png/.svg`.
pub(crate) fn tornado(
    _out: &Path,
    _sc: &Scenario,
    _metric: &Metric,
    _base_value: f64,
    _rows: &[Row],
    _spread: Option<f64>,
) -> Result<Vec<PathBuf>, String> {
    Ok(Vec::new())
}
