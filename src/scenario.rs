//! Stage 1 of the pipeline: scenario files (raw JSON as written) become a
//! validated [`Scenario`] that the model, the accounting and the reporters
//! can trust.
//!
//! Loading happens in two stages, after ripgrep and xsv: the raw stage reads
//! the text with `deny_unknown_fields` and reports syntax and type errors with
//! the file, the line, the column and the field path; the validation stage
//! checks every semantic rule of `MODEL.md` and reports *all* violations at
//! once, each with its field path (`series.openai.volatility.initial: must be
//! >= 0, got -0.1`). A validated scenario has every default filled in and is
//! what `summary.json` echoes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// Money in billions of US dollars ($B).
pub type Money = f64;

/// The largest scenario file accepted, in bytes.
pub const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;
/// The largest path count accepted (10^12).
pub const MAX_PATHS: u64 = 1_000_000_000_000;
/// The longest horizon accepted, in calendar years.
pub const MAX_YEARS: i64 = 200;
/// Longest party name, in characters (party names are part of chart file
/// names; file systems allow 255 bytes).
pub const MAX_PARTY_NAME: usize = 100;
/// Longest legend label, in characters.
pub const MAX_LABEL: usize = 200;

// ---------------------------------------------------------------------------
// Validated scenario (what the rest of the pipeline sees, and what
// summary.json echoes). Field names are binding: see MODEL.md.
// ---------------------------------------------------------------------------

/// A validated scenario: every field of MODEL.md with defaults filled in.
///
/// The only ways to obtain one go through validation: [`load`],
/// [`load_with_overrides`], [`parse`], [`parse_with_overrides`],
/// [`Scenario::from_json_value`], [`Scenario::with_simulation`], and
/// deserialisation (e.g. the echo in a `summary.json`), which validates the
/// data exactly as a file is validated. A private field keeps code outside
/// this module from building one by struct literal. The fields are public
/// for reading; to change a scenario, edit its JSON form
/// ([`Scenario::to_json_value`]) and validate it again
/// ([`Scenario::from_json_value`]).
///
/// ```compile_fail
/// # let sc = revshare::scenario::load("scenarios/base.json".as_ref()).unwrap().scenario;
/// // A struct literal, even from a validated scenario, does not compile.
/// let unchecked = revshare::scenario::Scenario { discount_rate: -2.0, ..sc };
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scenario {
    /// Scenario name; also the default output folder `out/<name>/`.
    pub name: String,
    /// Free text: which facts the scenario uses and what it assumes.
    pub description: String,
    /// First simulated calendar year (t = 0 on 1 January).
    pub start_year: i32,
    /// Last simulated calendar year, inclusive.
    pub end_year: i32,
    /// Steps per year, 1..=365.
    pub steps_per_year: u32,
    /// Annual effective discount rate used for NPVs.
    pub discount_rate: f64,
    /// Path count and seed.
    pub simulation: Simulation,
    /// Revenue series by name (sorted by name).
    pub series: BTreeMap<String, Series>,
    /// Correlations of the revenue shocks between series.
    pub correlations: Vec<Correlation>,
    /// The regime the others are compared with.
    pub baseline: String,
    /// Contract regimes by name, each a list of flows.
    pub regimes: BTreeMap<String, Vec<Flow>>,
    /// Optional reference points drawn on the revenue fan charts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
    /// Optional reference values of flow totals (e.g. a reported figure),
    /// drawn on the flow's cumulative fan chart and total histogram.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flow_references: Vec<FlowReference>,
    /// Short citations of the reported figures the scenario uses (ids of
    /// `docs/sources.md`), shown in the report's inputs section.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<Source>,
    /// Display names of series, flows, parties and regimes for charts and
    /// the report (a name without one is shown as it is written).
    #[serde(skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    /// Proof of validation: only this module can write a `Scenario`.
    #[serde(skip)]
    _validated: Validated,
}

/// The private mark of a [`Scenario`] that came out of validation (a
/// field of this type keeps code outside this module, in this crate too,
/// from writing a `Scenario` literal; `#[non_exhaustive]` would only keep
/// out other crates).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Validated;

/// Simulation settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Simulation {
    /// Number of Monte Carlo paths.
    pub paths: u64,
    /// Seed of the random streams.
    pub seed: u64,
    /// How the paths' shocks are sampled (`"mc"`, the default, is not
    /// echoed, so summaries of plain runs keep their bytes).
    #[serde(skip_serializing_if = "Sampling::is_mc")]
    pub sampling: Sampling,
}

/// How the random inputs of the paths are sampled
/// (`simulation.sampling`; docs/precision.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sampling {
    /// Plain Monte Carlo: every path has its own independent draws.
    #[default]
    Mc,
    /// Antithetic pairs: path 2m + 1 uses the mirrored draws of path 2m
    /// (normals negated, uniforms u -> 1 - u); errors from pair means.
    Antithetic,
    /// Randomised quasi-Monte Carlo: Owen-scrambled Sobol points through
    /// a Brownian bridge, in [`QMC_REPLICATES`] independent scramblings
    /// (path p is point p / R of replicate p mod R); errors from the
    /// spread of the replicate means.
    Qmc,
}

/// Independent scramblings (replicates) of a `qmc` run: R = 16 (the
/// interval of a mean is the bootstrap-t of the 16 replicate means,
/// `statistics::replicate_mean_interval`).
pub const QMC_REPLICATES: u64 = 16;

impl Sampling {
    /// True for plain Monte Carlo (the default).
    pub fn is_mc(&self) -> bool {
        *self == Sampling::Mc
    }

    /// The name used in scenario files and summary.json.
    pub fn as_str(self) -> &'static str {
        match self {
            Sampling::Mc => "mc",
            Sampling::Antithetic => "antithetic",
            Sampling::Qmc => "qmc",
        }
    }

    /// Parses a name as written in a scenario file or on the command line.
    pub fn parse(s: &str) -> Result<Sampling, String> {
        match s {
            "mc" => Ok(Sampling::Mc),
            "antithetic" => Ok(Sampling::Antithetic),
            "qmc" => Ok(Sampling::Qmc),
            _ => Err(format!(
                "unknown sampling {s:?}: expected \"mc\", \"antithetic\" or \"qmc\""
            )),
        }
    }

    /// Paths per group whose values are averaged before errors are
    /// estimated: 1 (mc), 2 (antithetic pairs) or [`QMC_REPLICATES`] (one
    /// path of each replicate). Chunks, batches and shards hold whole groups.
    pub fn group(self) -> u64 {
        match self {
            Sampling::Mc => 1,
            Sampling::Antithetic => 2,
            Sampling::Qmc => QMC_REPLICATES,
        }
    }

    /// Whether `paths` suits this method: any count for mc, an even count
    /// for antithetic (whole pairs), a power of two of at least
    /// [`QMC_REPLICATES`] for qmc (each replicate a whole power-of-two
    /// prefix of its Sobol sequence, at most 2^32 points).
    pub fn check_paths(self, paths: u64) -> Result<(), String> {
        match self {
            Sampling::Mc => Ok(()),
            Sampling::Antithetic if paths.is_multiple_of(2) => Ok(()),
            Sampling::Antithetic => Err(format!(
                "antithetic sampling runs whole pairs of paths: {paths} is odd (use {})",
                paths + 1
            )),
            Sampling::Qmc
                if paths.is_power_of_two()
                    && (QMC_REPLICATES..=QMC_REPLICATES << 32).contains(&paths) =>
            {
                Ok(())
            }
            Sampling::Qmc => Err(format!(
                "qmc runs a power of two of paths, at least {QMC_REPLICATES} ({QMC_REPLICATES} \
                 replicates, each a power-of-two prefix of its Sobol sequence): got {paths} \
                 (use {})",
                self.round_paths(paths)
            )),
        }
    }

    /// The most paths a run with this method may have: [`MAX_PATHS`], and
    /// for qmc 2^32 points in each of its replicates.
    pub fn max_paths(self) -> u64 {
        match self {
            Sampling::Qmc => MAX_PATHS.min(QMC_REPLICATES << 32),
            _ => MAX_PATHS,
        }
    }

    /// The smallest path count at least `paths` that suits this method
    /// (see [`Sampling::check_paths`]), at most [`Sampling::max_paths`].
    pub fn round_paths(self, paths: u64) -> u64 {
        match self {
            Sampling::Mc => paths,
            Sampling::Antithetic => paths + paths % 2,
            Sampling::Qmc => paths
                .max(QMC_REPLICATES)
                .next_power_of_two()
                .min(QMC_REPLICATES << 32),
        }
    }
}

/// One revenue series (MODEL.md §2).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    /// Run rate A0 at t = 0, $B/year.
    pub initial_run_rate: f64,
    /// Expected-growth process.
    pub growth: Growth,
    /// Revenue volatility schedule.
    pub volatility: Volatility,
    /// Correlation rho of the growth shock with the revenue shock.
    pub growth_correlation: f64,
    /// Poisson jumps in log revenue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jumps: Option<Jumps>,
    /// Student-t revenue shocks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tails: Option<Tails>,
}

/// Mean-reverting expected growth (per year, continuous).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Growth {
    /// mu0.
    pub initial: f64,
    /// mu_bar.
    pub long_run: f64,
    /// kappa (1/year).
    pub reversion: f64,
    /// eta0.
    pub volatility: f64,
    /// kappa_eta.
    pub volatility_decay: f64,
}

/// Revenue volatility sigma(t) = sigma_bar + (sigma0 - sigma_bar) exp(-kappa_sigma t).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Volatility {
    /// sigma0.
    pub initial: f64,
    /// sigma_bar.
    pub long_run: f64,
    /// kappa_sigma.
    pub decay: f64,
}

/// Poisson jumps: rate lambda per year, jump sizes Normal(mean, sd^2) in log revenue.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Jumps {
    /// lambda (per year).
    pub rate: f64,
    /// m.
    pub mean: f64,
    /// s.
    pub sd: f64,
}

/// Unit-variance Student-t revenue shocks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Tails {
    /// Degrees of freedom nu > 2.
    pub dof: f64,
}

/// Correlation of two series' revenue shocks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Correlation {
    /// First series.
    pub a: String,
    /// Second series.
    pub b: String,
    /// Correlation coefficient.
    pub rho: f64,
}

/// One contractual revenue-share stream (MODEL.md §3).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flow {
    /// Unique within its regime.
    pub name: String,
    /// Paying party.
    pub payer: String,
    /// Receiving party.
    pub payee: String,
    /// Revenue series the share is computed on.
    pub series: String,
    /// Share of revenue, 0..=1.
    pub rate: f64,
    /// First calendar year of accrual (inclusive).
    pub from_year: i32,
    /// Last calendar year of accrual (inclusive).
    pub to_year: i32,
    /// Cumulative cap in $B; `None` means uncapped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cap: Option<Money>,
    /// Payments made before t = 0 that count toward the cap, $B.
    pub paid_before_start: Money,
}

/// A reference point (e.g. a published projection) drawn on a revenue fan chart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reference {
    /// Series the point belongs to.
    pub series: String,
    /// Decimal calendar year (e.g. 2028 or 2028.5).
    pub year: f64,
    /// Value in $B/year.
    pub value: f64,
    /// Legend label.
    pub label: String,
}

/// A reference value of one flow's total (e.g. a reported figure), drawn
/// on that flow's charts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowReference {
    /// Regime of the flow.
    pub regime: String,
    /// Flow name.
    pub flow: String,
    /// Value in $B (a total paid inside the simulation).
    pub value: f64,
    /// Legend label.
    pub label: String,
}

/// One citation: a reported figure the scenario uses and where it was
/// reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    /// Short id of the figure, e.g. `cap-38b` (a heading of `docs/sources.md`).
    pub id: String,
    /// The citation in a few words: the figure and its source.
    pub citation: String,
}

/// Display names (e.g. `openai_to_microsoft` → "OpenAI → Microsoft
/// revenue share"), each map keyed by the name used in the scenario.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Labels {
    /// Per revenue series.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub series: BTreeMap<String, String>,
    /// Per flow name (the same in every regime).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub flows: BTreeMap<String, String>,
    /// Per party.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub parties: BTreeMap<String, String>,
    /// Per regime.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub regimes: BTreeMap<String, String>,
}

impl Labels {
    /// True when no display name is given.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
            && self.flows.is_empty()
            && self.parties.is_empty()
            && self.regimes.is_empty()
    }

    /// The display name of series `name` (the name itself if none).
    pub fn series<'a>(&'a self, name: &'a str) -> &'a str {
        self.series.get(name).map_or(name, String::as_str)
    }

    /// The display name of flow `name`.
    pub fn flow<'a>(&'a self, name: &'a str) -> &'a str {
        self.flows.get(name).map_or(name, String::as_str)
    }

    /// The display name of party `name`.
    pub fn party<'a>(&'a self, name: &'a str) -> &'a str {
        self.parties.get(name).map_or(name, String::as_str)
    }

    /// The display name of regime `name`.
    pub fn regime<'a>(&'a self, name: &'a str) -> &'a str {
        self.regimes.get(name).map_or(name, String::as_str)
    }
}

impl Scenario {
    /// Validates a scenario given as a JSON value (e.g. a validated
    /// scenario's [`Scenario::to_json_value`], edited), with the same rules
    /// and messages as a file; `origin` is used in messages only. This is
    /// how variants of a scenario (sweeps, sensitivities, calibration) are
    /// made: edit the JSON form, validate again.
    pub fn from_json_value(
        value: &serde_json::Value,
        origin: &Path,
    ) -> Result<Loaded, ScenarioError> {
        validate(raw_from_value(value, origin, "")?, origin)
    }

    /// The scenario's JSON form, as `summary.json` echoes it (every default
    /// written out); [`Scenario::from_json_value`] reads it back.
    pub fn to_json_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a scenario always serialises")
    }

    /// This scenario with `simulation.paths` and `simulation.seed` replaced,
    /// validated again (paths must be in 1..=[`MAX_PATHS`]). Messages name
    /// the scenario by its `name`.
    pub fn with_simulation(&self, paths: u64, seed: u64) -> Result<Scenario, ScenarioError> {
        self.with_sampling(paths, seed, self.simulation.sampling)
    }

    /// This scenario with `simulation.paths`, `simulation.seed` and
    /// `simulation.sampling` replaced, validated again (the path count
    /// must suit the sampling: [`Sampling::check_paths`]).
    pub fn with_sampling(
        &self,
        paths: u64,
        seed: u64,
        sampling: Sampling,
    ) -> Result<Scenario, ScenarioError> {
        let mut value = self.to_json_value();
        value["simulation"] = serde_json::json!({ "paths": paths, "seed": seed });
        if !sampling.is_mc() {
            value["simulation"]["sampling"] = serde_json::json!(sampling.as_str());
        }
        Scenario::from_json_value(&value, Path::new(&self.name)).map(|l| l.scenario)
    }

    /// Number of time steps n.
    pub fn steps(&self) -> usize {
        ((self.end_year - self.start_year + 1) as usize) * self.steps_per_year as usize
    }

    /// Number of simulated calendar years.
    pub fn years(&self) -> usize {
        (self.end_year - self.start_year + 1) as usize
    }

    /// Step length in years.
    pub fn dt(&self) -> f64 {
        1.0 / self.steps_per_year as f64
    }
}

/// Deserialising a `Scenario` validates it, exactly as [`parse`] validates
/// a file (warnings are dropped): a scenario read back from a
/// `summary.json` or any other serialised form is as trustworthy as one
/// loaded from its file.
impl<'de> Deserialize<'de> for Scenario {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        Scenario::from_json_value(&value, Path::new("scenario"))
            .map(|l| l.scenario)
            .map_err(de::Error::custom)
    }
}

// ---------------------------------------------------------------------------
// Errors and warnings
// ---------------------------------------------------------------------------

/// One semantic violation, with the dotted field path it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Dotted field path, e.g. `series.openai.volatility.initial`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Why a scenario could not be loaded.
#[derive(Debug)]
#[non_exhaustive]
pub enum ScenarioError {
    /// The file could not be read.
    Io {
        /// File concerned.
        file: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The text is not a well-formed scenario (JSON syntax, types, unknown fields).
    Syntax {
        /// File concerned.
        file: PathBuf,
        /// Dotted field path where known (empty at the top level).
        path: String,
        /// 1-based line (0 if unknown).
        line: usize,
        /// 1-based column (0 if unknown).
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The scenario is well-formed but breaks one or more rules.
    Invalid {
        /// File concerned.
        file: PathBuf,
        /// Every violation found.
        violations: Vec<Violation>,
    },
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScenarioError::Io { file, source } => {
                write!(f, "{}: cannot read scenario: {}", file.display(), source)
            }
            ScenarioError::Syntax {
                file,
                path,
                line,
                column,
                message,
            } => {
                write!(f, "{}", file.display())?;
                if *line > 0 {
                    write!(f, ":{line}:{column}")?;
                }
                if !path.is_empty() && path != "." {
                    write!(f, ": {path}")?;
                }
                write!(f, ": {message}")
            }
            ScenarioError::Invalid { file, violations } => {
                write!(
                    f,
                    "{}: invalid scenario ({} problem{}):",
                    file.display(),
                    violations.len(),
                    if violations.len() == 1 { "" } else { "s" }
                )?;
                for v in violations {
                    write!(f, "\n  {v}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ScenarioError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ScenarioError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A scenario that loaded, with the warnings found on the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The validated scenario.
    pub scenario: Scenario,
    /// Legal but suspicious settings (e.g. a window outside the horizon).
    pub warnings: Vec<Violation>,
}

// ---------------------------------------------------------------------------
// Raw stage: the JSON as written.
// ---------------------------------------------------------------------------

/// A JSON object with unique keys (serde_json silently keeps the last of
/// duplicate keys in maps; a scenario must not depend on that).
#[derive(Debug, Clone)]
struct UniqueMap<V>(Vec<(String, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for UniqueMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V2<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for V2<V> {
            type Value = UniqueMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object with unique keys")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut seen = BTreeSet::new();
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if !seen.insert(key.clone()) {
                        return Err(de::Error::custom(format!("duplicate key `{key}`")));
                    }
                    let value = map.next_value::<V>()?;
                    out.push((key, value));
                }
                Ok(UniqueMap(out))
            }
        }
        deserializer.deserialize_map(V2(PhantomData))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: String,
    #[serde(default)]
    description: Option<String>,
    start_year: i64,
    end_year: i64,
    #[serde(default)]
    steps_per_year: Option<i64>,
    #[serde(default)]
    discount_rate: Option<f64>,
    #[serde(default)]
    simulation: Option<RawSimulation>,
    series: UniqueMap<RawSeries>,
    #[serde(default)]
    correlations: Option<Vec<RawCorrelation>>,
    baseline: String,
    regimes: UniqueMap<Vec<RawFlow>>,
    #[serde(default)]
    references: Option<Vec<RawReference>>,
    #[serde(default)]
    flow_references: Option<Vec<RawFlowReference>>,
    #[serde(default)]
    sources: Option<Vec<RawSource>>,
    #[serde(default)]
    labels: Option<RawLabels>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSimulation {
    #[serde(default)]
    paths: Option<u64>,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    sampling: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSeries {
    initial_run_rate: f64,
    growth: RawGrowth,
    volatility: RawVolatility,
    #[serde(default)]
    growth_correlation: Option<f64>,
    #[serde(default)]
    jumps: Option<RawJumps>,
    #[serde(default)]
    tails: Option<RawTails>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrowth {
    initial: f64,
    #[serde(default)]
    long_run: Option<f64>,
    #[serde(default)]
    reversion: Option<f64>,
    #[serde(default)]
    volatility: Option<f64>,
    #[serde(default)]
    volatility_decay: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVolatility {
    initial: f64,
    #[serde(default)]
    long_run: Option<f64>,
    #[serde(default)]
    decay: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJumps {
    rate: f64,
    mean: f64,
    sd: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTails {
    dof: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCorrelation {
    a: String,
    b: String,
    rho: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlow {
    name: String,
    payer: String,
    payee: String,
    series: String,
    rate: f64,
    from_year: i64,
    to_year: i64,
    #[serde(default)]
    cap: Option<f64>,
    #[serde(default)]
    paid_before_start: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlowReference {
    regime: String,
    flow: String,
    value: f64,
    label: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    id: String,
    citation: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLabels {
    #[serde(default)]
    series: Option<UniqueMap<String>>,
    #[serde(default)]
    flows: Option<UniqueMap<String>>,
    #[serde(default)]
    parties: Option<UniqueMap<String>>,
    #[serde(default)]
    regimes: Option<UniqueMap<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReference {
    series: String,
    year: f64,
    value: f64,
    label: String,
}

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------

/// Reads and validates a scenario file.
pub fn load(file: &Path) -> Result<Loaded, ScenarioError> {
    load_with_overrides(file, &[])
}

/// Reads a scenario file, applies `--set PATH=VALUE` overrides (dotted paths,
/// array indices as numbers, VALUE parsed as JSON or else taken as a string)
/// and validates the result.
pub fn load_with_overrides(file: &Path, overrides: &[String]) -> Result<Loaded, ScenarioError> {
    let text = read_text(file)?;
    parse_with_overrides(&text, file, overrides)
}

/// Parses and validates scenario text; `file` is used in messages only.
pub fn parse(text: &str, file: &Path) -> Result<Loaded, ScenarioError> {
    parse_with_overrides(text, file, &[])
}

/// Parses scenario text, applies overrides and validates.
pub fn parse_with_overrides(
    text: &str,
    file: &Path,
    overrides: &[String],
) -> Result<Loaded, ScenarioError> {
    if text.starts_with('\u{feff}') {
        return Err(ScenarioError::Syntax {
            file: file.to_owned(),
            path: String::new(),
            line: 1,
            column: 1,
            message: "file starts with a UTF-8 byte-order mark (BOM); save it as plain UTF-8"
                .into(),
        });
    }
    if text.trim().is_empty() {
        return Err(ScenarioError::Syntax {
            file: file.to_owned(),
            path: String::new(),
            line: 1,
            column: 1,
            message: "file is empty; expected a JSON object".into(),
        });
    }
    if let Some((line, column)) = top_level_array(text) {
        return Err(ScenarioError::Syntax {
            file: file.to_owned(),
            path: String::new(),
            line,
            column,
            message: "a scenario must be a JSON object ({ ... }), found an array".into(),
        });
    }
    // The text stage gives line and column for syntax and type errors.
    let raw: RawScenario = from_text(text, file)?;
    // serde accepts an array in place of a struct (fields by position); a
    // scenario names every field, so only the list-valued fields may be
    // arrays. The raw text parsed, so it nests only a few levels deep.
    let mut value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| syntax(file, "", &e))?;
    objects_only(&value, "").map_err(|path| positional(file, path))?;
    let raw = if overrides.is_empty() {
        raw
    } else {
        for o in overrides {
            apply_override(&mut value, o).map_err(|(path, message)| ScenarioError::Syntax {
                file: file.to_owned(),
                path: String::new(),
                line: 0,
                column: 0,
                message: format!("--set {o}: {path}: {message}"),
            })?;
        }
        raw_from_value(&value, file, "after --set: ")?
    };
    validate(raw, file)
}

/// The raw stage for a JSON value (no text, so no line and column): only
/// the list-valued fields may be arrays, then the typed read with
/// `deny_unknown_fields`; `context` prefixes the typed read's messages.
fn raw_from_value(
    value: &serde_json::Value,
    file: &Path,
    context: &str,
) -> Result<RawScenario, ScenarioError> {
    objects_only(value, "").map_err(|path| positional(file, path))?;
    let r: Result<RawScenario, _> = serde_path_to_error::deserialize(value);
    r.map_err(|e| ScenarioError::Syntax {
        file: file.to_owned(),
        path: dotted(e.path()),
        line: 0,
        column: 0,
        message: format!("{context}{}", tidy(&e.inner().to_string())),
    })
}

fn read_text(file: &Path) -> Result<String, ScenarioError> {
    let io = |source| ScenarioError::Io {
        file: file.to_owned(),
        source,
    };
    let meta = std::fs::metadata(file).map_err(io)?;
    if meta.is_dir() {
        return Err(io(std::io::Error::other(
            "is a directory, expected a scenario JSON file",
        )));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(io(std::io::Error::other(format!(
            "file is too large ({} bytes; a scenario may be at most {} bytes)",
            meta.len(),
            MAX_FILE_BYTES
        ))));
    }
    // Read at most one byte more than allowed: a pipe or a device such as
    // /dev/zero reports length 0 but may never end.
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .and_then(|f| {
            use std::io::Read;
            f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)
        })
        .map_err(io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(io(std::io::Error::other(format!(
            "file is too large (more than {MAX_FILE_BYTES} bytes; a scenario may be at most \
             {MAX_FILE_BYTES} bytes)"
        ))));
    }
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = good.len() - good.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1) + 1;
        ScenarioError::Syntax {
            file: file.to_owned(),
            path: String::new(),
            line,
            column,
            message: "file is not valid UTF-8".into(),
        }
    })
}

/// Line and column of the opening `[` if the text's first token is an array.
fn top_level_array(text: &str) -> Option<(usize, usize)> {
    let start = text.len() - text.trim_start().len();
    if !text[start..].starts_with('[') {
        return None;
    }
    let before = &text[..start];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |p| p + 1) + 1;
    Some((line, column))
}

/// The JSON paths whose values are lists: `correlations`, `references`,
/// `flow_references`, `sources` and each regime's flows.
fn list_allowed(path: &str) -> bool {
    path == "correlations"
        || path == "references"
        || path == "flow_references"
        || path == "sources"
        || path
            .strip_prefix("regimes.")
            .is_some_and(|rest| !rest.is_empty() && !rest.contains('.'))
}

/// Checks that every JSON array sits where a list is expected and that
/// list items are objects; `Err` names the first offending path.
fn objects_only(v: &serde_json::Value, path: &str) -> Result<(), String> {
    use serde_json::Value;
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    match v {
        Value::Object(map) => map.iter().try_for_each(|(k, x)| objects_only(x, &join(k))),
        Value::Array(items) if list_allowed(path) => {
            items.iter().enumerate().try_for_each(|(i, x)| {
                let p = join(&i.to_string());
                match x {
                    Value::Object(_) => objects_only(x, &p),
                    _ => Err(p),
                }
            })
        }
        Value::Array(_) => Err(path.to_string()),
        _ => Ok(()),
    }
}

fn positional(file: &Path, path: String) -> ScenarioError {
    ScenarioError::Syntax {
        file: file.to_owned(),
        message: "expected a JSON object with named fields, found an array".into(),
        path: if path.is_empty() { ".".into() } else { path },
        line: 0,
        column: 0,
    }
}

/// serde's messages name the internal raw types (`expected struct
/// RawGrowth with 5 elements`); users wrote a JSON object.
fn tidy(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(i) = rest.find("struct Raw") {
        out.push_str(&rest[..i]);
        let after = &rest[i + "struct Raw".len()..];
        let name_end = after
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(after.len());
        let mut tail = &after[name_end..];
        if let Some(t) = tail.strip_prefix(" with ") {
            let n = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
            let t2 = &t[n..];
            if n > 0 && (t2.starts_with(" elements") || t2.starts_with(" element")) {
                let skip = if t2.starts_with(" elements") { 9 } else { 8 };
                tail = &t2[skip..];
            }
        }
        out.push_str("an object");
        rest = tail;
    }
    out.push_str(rest);
    out
}

fn syntax(file: &Path, path: &str, e: &serde_json::Error) -> ScenarioError {
    // serde_json appends " at line L column C"; keep the message without it.
    let msg = tidy(&e.to_string());
    let message = match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg,
    };
    ScenarioError::Syntax {
        file: file.to_owned(),
        path: path.to_string(),
        line: e.line(),
        column: e.column(),
        message,
    }
}

/// A serde path in the dotted form used everywhere else (`regimes.prior.0.rate`).
fn dotted(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let parts: Vec<String> = path
        .iter()
        .filter_map(|s| match s {
            Segment::Seq { index } => Some(index.to_string()),
            Segment::Map { key } => Some(key.clone()),
            Segment::Enum { variant } => Some(variant.clone()),
            Segment::Unknown => None,
        })
        .collect();
    parts.join(".")
}

fn from_text(text: &str, file: &Path) -> Result<RawScenario, ScenarioError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let raw: RawScenario = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| syntax(file, &dotted(e.path()), e.inner()))?;
    de.end().map_err(|e| syntax(file, "", &e))?;
    Ok(raw)
}

/// Applies one `PATH=VALUE` override to a JSON value; the error names the path.
fn apply_override(root: &mut serde_json::Value, spec: &str) -> Result<(), (String, String)> {
    let (path, value) = spec
        .split_once('=')
        .ok_or_else(|| (String::new(), "expected PATH=VALUE".to_string()))?;
    let path = path.trim();
    if path.is_empty() {
        return Err((String::new(), "empty PATH".into()));
    }
    let new: serde_json::Value = serde_json::from_str(value.trim())
        .unwrap_or_else(|_| serde_json::Value::String(value.to_string()));
    let parts: Vec<&str> = path.split('.').collect();
    let mut cur = root;
    for (i, part) in parts.iter().enumerate() {
        let here = parts[..=i].join(".");
        let last = i + 1 == parts.len();
        cur = match cur {
            serde_json::Value::Object(map) => {
                if last {
                    // Setting a field that is absent is allowed (e.g. a
                    // defaulted field, or an optional cap); the typed stage
                    // rejects unknown field names.
                    map.insert(part.to_string(), new);
                    return Ok(());
                }
                if !map.contains_key(*part) {
                    return Err((here, no_such_field(map)));
                }
                map.get_mut(*part).expect("the field exists")
            }
            serde_json::Value::Array(items) => {
                let idx = item_index(items, part, &parts[..i]).map_err(|m| (here.clone(), m))?;
                let slot = &mut items[idx];
                if last {
                    *slot = new;
                    return Ok(());
                }
                slot
            }
            _ => return Err((here, "is not an object or array".into())),
        };
    }
    Ok(())
}

/// "no such field", with the fields there are.
fn no_such_field(map: &serde_json::Map<String, serde_json::Value>) -> String {
    let fields: Vec<&str> = map.keys().map(String::as_str).collect();
    format!("no such field (fields here: {})", fields.join(", "))
}

/// The index of the item that `part` names in an array of a scenario path
/// (`parents` are the parts before it): a number, or the `name` of an item
/// (the flows of a regime are named: `regimes.amended.openai_to_microsoft`
/// is `regimes.amended.0` when that flow comes first).
fn item_index(items: &[serde_json::Value], part: &str, parents: &[&str]) -> Result<usize, String> {
    if let Ok(idx) = part.parse::<usize>() {
        return if idx < items.len() {
            Ok(idx)
        } else {
            Err(format!(
                "index {idx} out of range (array has {} items)",
                items.len()
            ))
        };
    }
    fn name(v: &serde_json::Value) -> Option<&str> {
        v.get("name").and_then(serde_json::Value::as_str)
    }
    if let Some(idx) = items.iter().position(|v| name(v) == Some(part)) {
        return Ok(idx);
    }
    let names: Vec<String> = items
        .iter()
        .enumerate()
        .filter_map(|(i, v)| name(v).map(|n| format!("{n} ({i})")))
        .collect();
    if names.is_empty() {
        return Err("expected an array index".into());
    }
    match parents {
        ["regimes", regime] => Err(format!(
            "regime `{regime}` has no flow named `{part}`; its flows (name or index): {}",
            names.join(", ")
        )),
        _ => Err(format!(
            "no item named `{part}`; items (name or index): {}",
            names.join(", ")
        )),
    }
}

/// The value at a dotted scenario path in a scenario's JSON form (e.g.
/// [`Scenario::to_json_value`]): the paths of `--set`, with array items by
/// index or, for the flows of a regime, by name. `Ok(None)` when only the
/// last field is absent (an optional or defaulted field, e.g. the cap of an
/// uncapped flow); an error naming the part of the path that cannot exist
/// otherwise.
pub(crate) fn value_at<'a>(
    root: &'a serde_json::Value,
    path: &str,
) -> Result<Option<&'a serde_json::Value>, String> {
    let parts: Vec<&str> = path.trim().split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!(
            "{path}: expected a dotted path such as regimes.amended.openai_to_microsoft.cap"
        ));
    }
    let mut cur = root;
    for (i, part) in parts.iter().enumerate() {
        let here = parts[..=i].join(".");
        let last = i + 1 == parts.len();
        cur = match cur {
            serde_json::Value::Object(map) => match map.get(*part) {
                Some(v) => v,
                None if last => return Ok(None),
                None => return Err(format!("{here}: {}", no_such_field(map))),
            },
            serde_json::Value::Array(items) => {
                &items[item_index(items, part, &parts[..i]).map_err(|m| format!("{here}: {m}"))?]
            }
            _ => {
                return Err(format!(
                    "{here}: {} is not an object or array",
                    parts[..i].join(".")
                ))
            }
        };
    }
    Ok(Some(cur))
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

struct Checker {
    violations: Vec<Violation>,
    warnings: Vec<Violation>,
}

impl Checker {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.violations.push(Violation {
            path: path.into(),
            message: message.into(),
        });
    }
    fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Violation {
            path: path.into(),
            message: message.into(),
        });
    }
    fn finite(&mut self, path: &str, x: f64) -> bool {
        if x.is_finite() {
            true
        } else {
            self.err(path, format!("must be a finite number, got {x}"));
            false
        }
    }
    fn at_least(&mut self, path: &str, x: f64, lo: f64) {
        if self.finite(path, x) && x < lo {
            self.err(path, format!("must be >= {lo}, got {x}"));
        }
    }
    fn within(&mut self, path: &str, x: f64, lo: f64, hi: f64) {
        if self.finite(path, x) && !(lo..=hi).contains(&x) {
            self.err(path, format!("must be in [{lo}, {hi}], got {x}"));
        }
    }
    /// A party's name: free text (it labels tables and charts), but not
    /// empty, at most [`MAX_PARTY_NAME`] characters (it is part of chart
    /// file names, which file systems limit to 255 bytes) and without
    /// control characters (it is printed to terminals).
    fn party(&mut self, path: &str, s: &str) {
        let n = s.chars().count();
        if s.trim().is_empty() {
            self.err(path, "must not be empty");
        } else if n > MAX_PARTY_NAME {
            self.err(
                path,
                format!(
                    "party name must be at most {MAX_PARTY_NAME} characters \
                     (it names chart files), got {n}"
                ),
            );
        } else if s.chars().any(char::is_control) {
            self.err(
                path,
                format!("party name {s:?} must not contain control characters"),
            );
        }
    }
    /// A legend label: at most [`MAX_LABEL`] characters, no control
    /// characters.
    fn label(&mut self, path: &str, s: &str) {
        let n = s.chars().count();
        if n > MAX_LABEL {
            self.err(
                path,
                format!("must be at most {MAX_LABEL} characters, got {n}"),
            );
        } else if s.chars().any(char::is_control) {
            self.err(
                path,
                format!("label {s:?} must not contain control characters"),
            );
        }
    }
    fn name(&mut self, path: &str, what: &str, s: &str) {
        if s.is_empty()
            || s.len() > 64
            || !s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            self.err(
                path,
                format!(
                    "{what} {s:?} must be 1-64 characters of letters, digits, '_' or '-' \
                     (it names output files)"
                ),
            );
        }
    }
}

fn validate(raw: RawScenario, file: &Path) -> Result<Loaded, ScenarioError> {
    let mut c = Checker {
        violations: Vec::new(),
        warnings: Vec::new(),
    };
    c.name("name", "scenario name", &raw.name);

    let years_ok = if raw.end_year < raw.start_year {
        c.err(
            "end_year",
            format!(
                "must be >= start_year ({}), got {}",
                raw.start_year, raw.end_year
            ),
        );
        false
    } else if raw.end_year - raw.start_year + 1 > MAX_YEARS {
        c.err(
            "end_year",
            format!(
                "horizon of {} years is longer than the {MAX_YEARS} allowed",
                raw.end_year - raw.start_year + 1
            ),
        );
        false
    } else {
        true
    };
    for (p, y) in [("start_year", raw.start_year), ("end_year", raw.end_year)] {
        if !(1000..=9999).contains(&y) {
            c.err(p, format!("must be a four-digit calendar year, got {y}"));
        }
    }
    let steps_per_year = raw.steps_per_year.unwrap_or(12);
    if !(1..=365).contains(&steps_per_year) {
        c.err(
            "steps_per_year",
            format!("must be in 1..=365, got {steps_per_year}"),
        );
    }
    let discount_rate = raw.discount_rate.unwrap_or(0.0);
    if c.finite("discount_rate", discount_rate) && discount_rate <= -1.0 {
        c.err(
            "discount_rate",
            format!("must be > -1, got {discount_rate}"),
        );
    }
    let sim = raw.simulation.unwrap_or(RawSimulation {
        paths: None,
        seed: None,
        sampling: None,
    });
    let paths = sim.paths.unwrap_or(100_000);
    if paths == 0 || paths > MAX_PATHS {
        c.err(
            "simulation.paths",
            format!("must be in 1..={MAX_PATHS}, got {paths}"),
        );
    }
    let sampling = match sim.sampling.as_deref().map(Sampling::parse) {
        None => Sampling::Mc,
        Some(Ok(s)) => {
            if paths > 0 && paths <= MAX_PATHS {
                if let Err(e) = s.check_paths(paths) {
                    c.err("simulation.paths", e);
                }
            }
            s
        }
        Some(Err(e)) => {
            c.err("simulation.sampling", e);
            Sampling::Mc
        }
    };
    let seed = sim.seed.unwrap_or(0);

    // Series.
    let mut series = BTreeMap::new();
    if raw.series.0.is_empty() {
        c.err("series", "at least one revenue series is required");
    }
    for (name, s) in raw.series.0 {
        let p = format!("series.{name}");
        c.name(&p, "series name", &name);
        if c.finite(&format!("{p}.initial_run_rate"), s.initial_run_rate)
            && s.initial_run_rate <= 0.0
        {
            c.err(
                format!("{p}.initial_run_rate"),
                format!("must be > 0, got {}", s.initial_run_rate),
            );
        }
        let g = Growth {
            initial: s.growth.initial,
            long_run: s.growth.long_run.unwrap_or(s.growth.initial),
            reversion: s.growth.reversion.unwrap_or(0.0),
            volatility: s.growth.volatility.unwrap_or(0.0),
            volatility_decay: s.growth.volatility_decay.unwrap_or(0.0),
        };
        // Defaulted fields are checked only where written, so one bad value
        // is reported once.
        c.finite(&format!("{p}.growth.initial"), g.initial);
        if s.growth.long_run.is_some() {
            c.finite(&format!("{p}.growth.long_run"), g.long_run);
        }
        c.at_least(&format!("{p}.growth.reversion"), g.reversion, 0.0);
        c.at_least(&format!("{p}.growth.volatility"), g.volatility, 0.0);
        c.at_least(
            &format!("{p}.growth.volatility_decay"),
            g.volatility_decay,
            0.0,
        );
        let v = Volatility {
            initial: s.volatility.initial,
            long_run: s.volatility.long_run.unwrap_or(s.volatility.initial),
            decay: s.volatility.decay.unwrap_or(0.0),
        };
        c.at_least(&format!("{p}.volatility.initial"), v.initial, 0.0);
        if s.volatility.long_run.is_some() {
            c.at_least(&format!("{p}.volatility.long_run"), v.long_run, 0.0);
        }
        c.at_least(&format!("{p}.volatility.decay"), v.decay, 0.0);
        let rho = s.growth_correlation.unwrap_or(0.0);
        c.within(&format!("{p}.growth_correlation"), rho, -1.0, 1.0);
        let jumps = s.jumps.map(|j| Jumps {
            rate: j.rate,
            mean: j.mean,
            sd: j.sd,
        });
        if let Some(j) = &jumps {
            c.at_least(&format!("{p}.jumps.rate"), j.rate, 0.0);
            c.finite(&format!("{p}.jumps.mean"), j.mean);
            c.at_least(&format!("{p}.jumps.sd"), j.sd, 0.0);
            if j.rate.is_finite() && j.rate > 1000.0 {
                c.err(
                    format!("{p}.jumps.rate"),
                    format!("must be <= 1000 jumps per year, got {}", j.rate),
                );
            }
        }
        let tails = s.tails.map(|t| Tails { dof: t.dof });
        if let Some(t) = &tails {
            if c.finite(&format!("{p}.tails.dof"), t.dof) && t.dof <= 2.0 {
                c.err(
                    format!("{p}.tails.dof"),
                    format!("must be > 2 (finite variance), got {}", t.dof),
                );
            }
        }
        series.insert(
            name,
            Series {
                initial_run_rate: s.initial_run_rate,
                growth: g,
                volatility: v,
                growth_correlation: rho,
                jumps,
                tails,
            },
        );
    }

    // Correlations.
    let mut correlations = Vec::new();
    let mut pairs = BTreeSet::new();
    for (i, r) in raw.correlations.unwrap_or_default().into_iter().enumerate() {
        let p = format!("correlations.{i}");
        let mut ok = true;
        for (field, n) in [("a", &r.a), ("b", &r.b)] {
            if !series.contains_key(n) {
                c.err(format!("{p}.{field}"), format!("unknown series {n:?}"));
                ok = false;
            }
        }
        if ok && r.a == r.b {
            c.err(
                format!("{p}.b"),
                format!("a series cannot be correlated with itself ({:?})", r.a),
            );
            ok = false;
        }
        c.within(&format!("{p}.rho"), r.rho, -1.0, 1.0);
        if ok {
            let key = if r.a < r.b {
                (r.a.clone(), r.b.clone())
            } else {
                (r.b.clone(), r.a.clone())
            };
            if !pairs.insert(key) {
                c.err(
                    p.clone(),
                    format!("the pair {:?}/{:?} is given more than once", r.a, r.b),
                );
            }
        }
        correlations.push(Correlation {
            a: r.a,
            b: r.b,
            rho: r.rho,
        });
    }

    // Regimes and flows.
    let mut regimes = BTreeMap::new();
    if raw.regimes.0.is_empty() {
        c.err("regimes", "at least one regime is required");
    }
    for (rname, flows) in raw.regimes.0 {
        let rp = format!("regimes.{rname}");
        c.name(&rp, "regime name", &rname);
        let mut names = BTreeSet::new();
        let mut out = Vec::new();
        for (i, f) in flows.into_iter().enumerate() {
            let p = format!("{rp}.{i}");
            c.name(&format!("{p}.name"), "flow name", &f.name);
            if !names.insert(f.name.clone()) {
                c.err(
                    format!("{p}.name"),
                    format!("duplicate flow name {:?} in regime {rname:?}", f.name),
                );
            }
            c.party(&format!("{p}.payer"), &f.payer);
            c.party(&format!("{p}.payee"), &f.payee);
            if f.payer == f.payee {
                c.err(
                    format!("{p}.payee"),
                    format!("payer and payee are the same party ({:?})", f.payer),
                );
            }
            if !series.contains_key(&f.series) {
                c.err(
                    format!("{p}.series"),
                    format!(
                        "unknown series {:?} (known: {})",
                        f.series,
                        series.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                );
            }
            c.within(&format!("{p}.rate"), f.rate, 0.0, 1.0);
            if f.from_year > f.to_year {
                c.err(
                    format!("{p}.to_year"),
                    format!("must be >= from_year ({}), got {}", f.from_year, f.to_year),
                );
            } else if years_ok && (f.from_year < raw.start_year || f.to_year > raw.end_year) {
                if f.to_year < raw.start_year || f.from_year > raw.end_year {
                    c.warn(
                        p.clone(),
                        format!(
                            "window {}-{} lies entirely outside the simulated years {}-{}: \
                             the flow pays nothing",
                            f.from_year, f.to_year, raw.start_year, raw.end_year
                        ),
                    );
                } else {
                    c.warn(
                        p.clone(),
                        format!(
                            "window {}-{} reaches outside the simulated years {}-{}: \
                             only {}-{} is simulated",
                            f.from_year,
                            f.to_year,
                            raw.start_year,
                            raw.end_year,
                            f.from_year.max(raw.start_year),
                            f.to_year.min(raw.end_year)
                        ),
                    );
                }
            }
            for (field, y) in [("from_year", f.from_year), ("to_year", f.to_year)] {
                if !(1000..=9999).contains(&y) {
                    c.err(
                        format!("{p}.{field}"),
                        format!("must be a four-digit calendar year, got {y}"),
                    );
                }
            }
            if let Some(cap) = f.cap {
                c.at_least(&format!("{p}.cap"), cap, 0.0);
            }
            let pbs = f.paid_before_start.unwrap_or(0.0);
            c.at_least(&format!("{p}.paid_before_start"), pbs, 0.0);
            if f.cap.is_none() && pbs > 0.0 {
                c.warn(
                    format!("{p}.paid_before_start"),
                    "has no effect on an uncapped flow",
                );
            }
            out.push(Flow {
                name: f.name,
                payer: f.payer,
                payee: f.payee,
                series: f.series,
                rate: f.rate,
                from_year: f.from_year.clamp(i32::MIN as i64, i32::MAX as i64) as i32,
                to_year: f.to_year.clamp(i32::MIN as i64, i32::MAX as i64) as i32,
                cap: f.cap,
                paid_before_start: pbs,
            });
        }
        if out.is_empty() {
            c.warn(rp.clone(), "regime has no flows");
        }
        regimes.insert(rname, out);
    }
    if !regimes.contains_key(&raw.baseline) {
        c.err(
            "baseline",
            format!(
                "{:?} is not a regime (regimes: {})",
                raw.baseline,
                regimes.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        );
    }

    // References.
    let mut references = Vec::new();
    for (i, r) in raw.references.unwrap_or_default().into_iter().enumerate() {
        let p = format!("references.{i}");
        if !series.contains_key(&r.series) {
            c.err(
                format!("{p}.series"),
                format!("unknown series {:?}", r.series),
            );
        }
        // A point far outside the simulated years would stretch the
        // chart's time axis until the fan is a vertical line.
        // At most the horizon's length outside it (the axis at most
        // triples).
        let horizon = (raw.end_year - raw.start_year + 1) as f64;
        let (first, last) = (
            raw.start_year as f64 - horizon,
            (raw.end_year + 1) as f64 + horizon,
        );
        if c.finite(&format!("{p}.year"), r.year) && years_ok && !(first..=last).contains(&r.year) {
            c.err(
                format!("{p}.year"),
                format!(
                    "must lie within the simulated years [{}, {}] or at most {horizon} \
                     years (the horizon) outside them, got {}",
                    raw.start_year,
                    raw.end_year + 1,
                    r.year
                ),
            );
        }
        c.at_least(&format!("{p}.value"), r.value, 0.0);
        c.label(&format!("{p}.label"), &r.label);
        references.push(Reference {
            series: r.series,
            year: r.year,
            value: r.value,
            label: r.label,
        });
    }

    let mut flow_references = Vec::new();
    for (i, r) in raw
        .flow_references
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let p = format!("flow_references.{i}");
        match regimes.get(&r.regime) {
            None => c.err(
                format!("{p}.regime"),
                format!("unknown regime {:?}", r.regime),
            ),
            Some(flows) if !flows.iter().any(|f| f.name == r.flow) => c.err(
                format!("{p}.flow"),
                format!("regime {:?} has no flow {:?}", r.regime, r.flow),
            ),
            Some(_) => {}
        }
        c.finite(&format!("{p}.value"), r.value);
        c.label(&format!("{p}.label"), &r.label);
        flow_references.push(FlowReference {
            regime: r.regime,
            flow: r.flow,
            value: r.value,
            label: r.label,
        });
    }

    // Sources: short ids (as the headings of docs/sources.md) and a citation.
    let mut sources = Vec::new();
    let mut source_ids = BTreeSet::new();
    for (i, r) in raw.sources.unwrap_or_default().into_iter().enumerate() {
        let p = format!("sources.{i}");
        let id = r.id.trim().to_string();
        if id.is_empty() {
            c.err(format!("{p}.id"), "must not be empty");
        } else if !id
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_' || ch == '.')
        {
            c.err(
                format!("{p}.id"),
                format!(
                    "{id:?}: use letters, digits, '-', '_' and '.' only (an id of docs/sources.md)"
                ),
            );
        } else if !source_ids.insert(id.clone()) {
            c.err(format!("{p}.id"), format!("{id:?} is cited twice"));
        }
        if r.citation.trim().is_empty() {
            c.err(format!("{p}.citation"), "must not be empty");
        }
        sources.push(Source {
            id,
            citation: r.citation.trim().to_string(),
        });
    }

    // Display names: each must name something the scenario has.
    let mut labels = Labels::default();
    if let Some(raw_labels) = raw.labels {
        let parties: BTreeSet<&str> = regimes
            .values()
            .flatten()
            .flat_map(|f| [f.payer.as_str(), f.payee.as_str()])
            .collect();
        let flow_names: BTreeSet<&str> = regimes
            .values()
            .flatten()
            .map(|f| f.name.as_str())
            .collect();
        let groups = [
            ("series", raw_labels.series, &mut labels.series),
            ("flows", raw_labels.flows, &mut labels.flows),
            ("parties", raw_labels.parties, &mut labels.parties),
            ("regimes", raw_labels.regimes, &mut labels.regimes),
        ];
        for (group, map, out) in groups {
            for (key, label) in map.map(|m| m.0).unwrap_or_default() {
                let p = format!("labels.{group}.{key}");
                let known = match group {
                    "series" => series.contains_key(&key),
                    "flows" => flow_names.contains(key.as_str()),
                    "parties" => parties.contains(key.as_str()),
                    _ => regimes.contains_key(&key),
                };
                if !known {
                    let what = match group {
                        "series" => "series",
                        "flows" => "flow",
                        "parties" => "party",
                        _ => "regime",
                    };
                    c.err(p.clone(), format!("unknown {what} {key:?}"));
                }
                if label.trim().is_empty() {
                    c.err(p, "must not be empty");
                }
                out.insert(key, label.trim().to_string());
            }
        }
    }

    // Positive definiteness of the shock correlation matrix, once the
    // individual entries are known to be sane.
    if c.violations.is_empty() {
        let names: Vec<&String> = series.keys().collect();
        if let Err(bad) = correlation_matrix(&names, &correlations).and_then(|m| cholesky(&m)) {
            let involved: Vec<String> = correlations
                .iter()
                .filter(|r| {
                    names.get(bad).is_some_and(|n| **n == r.a || **n == r.b) || names.len() <= 2
                })
                .map(|r| format!("{}/{} rho {}", r.a, r.b, r.rho))
                .collect();
            c.err(
                "correlations",
                format!(
                    "the correlation matrix is not positive definite (pairs involved: {})",
                    if involved.is_empty() {
                        "all".to_string()
                    } else {
                        involved.join(", ")
                    }
                ),
            );
        }
    }

    if !c.violations.is_empty() {
        return Err(ScenarioError::Invalid {
            file: file.to_owned(),
            violations: c.violations,
        });
    }
    Ok(Loaded {
        scenario: Scenario {
            name: raw.name,
            description: raw.description.unwrap_or_default(),
            start_year: raw.start_year as i32,
            end_year: raw.end_year as i32,
            steps_per_year: steps_per_year as u32,
            discount_rate,
            simulation: Simulation {
                paths,
                seed,
                sampling,
            },
            series,
            correlations,
            baseline: raw.baseline,
            regimes,
            references,
            flow_references,
            sources,
            labels,
            _validated: Validated,
        },
        warnings: c.warnings,
    })
}

/// The correlation matrix of the series' revenue shocks, in the order of
/// `names`; unnamed pairs are 0.
pub(crate) fn correlation_matrix(
    names: &[&String],
    correlations: &[Correlation],
) -> Result<Vec<Vec<f64>>, usize> {
    let k = names.len();
    let mut m = vec![vec![0.0; k]; k];
    for (i, row) in m.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for r in correlations {
        let i = names.iter().position(|n| **n == r.a).ok_or(0usize)?;
        let j = names.iter().position(|n| **n == r.b).ok_or(0usize)?;
        m[i][j] = r.rho;
        m[j][i] = r.rho;
    }
    Ok(m)
}

/// Lower-triangular Cholesky factor of a symmetric matrix; `Err(i)` names
/// the first row whose pivot is not positive (the matrix is not positive
/// definite).
pub(crate) fn cholesky(m: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, usize> {
    let k = m.len();
    let mut l = vec![vec![0.0; k]; k];
    for i in 0..k {
        for j in 0..=i {
            let s: f64 = (0..j).map(|p| l[i][p] * l[j][p]).sum();
            if i == j {
                let d = m[i][i] - s;
                if d <= 1e-12 || !d.is_finite() {
                    return Err(i);
                }
                l[i][j] = d.sqrt();
            } else {
                l[i][j] = (m[i][j] - s) / l[j][j];
            }
        }
    }
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"{
      "name": "t", "start_year": 2026, "end_year": 2027,
      "series": { "s": { "initial_run_rate": 10, "growth": { "initial": 0.1 },
                         "volatility": { "initial": 0.2 } } },
      "baseline": "prior",
      "regimes": { "prior": [ { "name": "f", "payer": "A", "payee": "B", "series": "s",
                                "rate": 0.2, "from_year": 2026, "to_year": 2027 } ] }
    }"#;

    fn p(text: &str) -> Result<Loaded, ScenarioError> {
        parse(text, Path::new("x.json"))
    }

    #[test]
    fn defaults_are_filled() {
        let s = p(OK).unwrap().scenario;
        assert_eq!(s.steps_per_year, 12);
        assert_eq!(s.simulation.paths, 100_000);
        assert_eq!(s.series["s"].growth.long_run, 0.1);
        assert_eq!(s.series["s"].volatility.long_run, 0.2);
        assert_eq!(s.regimes["prior"][0].paid_before_start, 0.0);
        assert_eq!(s.steps(), 24);
    }

    #[test]
    fn sources_and_labels_are_checked_with_their_paths() {
        let with = |extra: &str| OK.replacen('{', &format!("{{ {extra},"), 1);
        let good = with(
            r#""sources": [ { "id": "cap-38b", "citation": "cap about $38B (press)" } ],
               "labels": { "series": { "s": "Revenue" }, "flows": { "f": "A → B" },
                           "parties": { "A": "Alpha" }, "regimes": { "prior": "Prior" } }"#,
        );
        let s = p(&good).unwrap().scenario;
        assert_eq!(s.sources[0].id, "cap-38b");
        assert_eq!(s.labels.series("s"), "Revenue");
        assert_eq!(s.labels.party("B"), "B");
        // Round trip through the echo, and nothing echoed when absent.
        let back = Scenario::from_json_value(&s.to_json_value(), Path::new("e"))
            .unwrap()
            .scenario;
        assert_eq!(back, s);
        let plain = p(OK).unwrap().scenario.to_json_value();
        assert!(plain.get("sources").is_none() && plain.get("labels").is_none());
        let bad = with(
            r#""sources": [ { "id": "", "citation": "x" }, { "id": "a b", "citation": " " } ],
               "labels": { "series": { "nope": "X" }, "parties": { "A": "" } }"#,
        );
        let e = p(&bad).unwrap_err().to_string();
        for path in [
            "sources.0.id",
            "sources.1.id",
            "sources.1.citation",
            "labels.series.nope: unknown series",
            "labels.parties.A: must not be empty",
        ] {
            assert!(e.contains(path), "{path}: {e}");
        }
        let dup = with(
            r#""sources": [ { "id": "a", "citation": "x" }, { "id": "a", "citation": "y" } ]"#,
        );
        assert!(p(&dup).unwrap_err().to_string().contains("cited twice"));
        let unknown = with(r#""labels": { "colours": {} }"#);
        assert!(p(&unknown).unwrap_err().to_string().contains("labels"));
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let e = p("{\n  \"name\": \"t\",\n  oops }")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("x.json:3:3:"), "{e}");
    }

    #[test]
    fn type_error_names_the_field_path() {
        let bad = OK.replace("\"rate\": 0.2", "\"rate\": \"high\"");
        let e = p(&bad).unwrap_err().to_string();
        assert!(e.contains("regimes.prior.0.rate"), "{e}");
        assert!(e.contains("x.json:"), "{e}");
    }

    #[test]
    fn unknown_field_is_rejected() {
        let bad = OK.replace("\"rate\": 0.2", "\"rate\": 0.2, \"rat\": 1");
        let e = p(&bad).unwrap_err().to_string();
        assert!(e.contains("unknown field `rat`"), "{e}");
    }

    #[test]
    fn all_violations_are_reported() {
        let bad = OK
            .replace("\"initial\": 0.2", "\"initial\": -0.1")
            .replace("\"rate\": 0.2", "\"rate\": 1.5")
            .replace("\"baseline\": \"prior\"", "\"baseline\": \"nope\"");
        let e = p(&bad).unwrap_err().to_string();
        assert!(
            e.contains("series.s.volatility.initial: must be >= 0, got -0.1"),
            "{e}"
        );
        assert!(
            e.contains("regimes.prior.0.rate: must be in [0, 1], got 1.5"),
            "{e}"
        );
        assert!(e.contains("baseline: \"nope\" is not a regime"), "{e}");
        assert!(e.contains("3 problems"), "{e}");
    }

    #[test]
    fn duplicate_map_keys_are_rejected() {
        let bad = OK.replace(
            "\"series\": {",
            "\"series\": { \"s\": { \"initial_run_rate\": 1, \"growth\": { \"initial\": 0.1 }, \"volatility\": { \"initial\": 0.2 } },",
        );
        let e = p(&bad).unwrap_err().to_string();
        assert!(e.contains("duplicate key `s`"), "{e}");
    }

    #[test]
    fn window_outside_horizon_is_a_warning() {
        let w = OK.replace("\"to_year\": 2027", "\"to_year\": 2032");
        let l = p(&w).unwrap();
        assert_eq!(l.warnings.len(), 1);
        assert!(l.warnings[0].message.contains("reaches outside"));
    }

    #[test]
    fn non_positive_definite_correlations_are_rejected() {
        let three = OK.replace(
            "\"series\": {",
            "\"series\": { \"a\": { \"initial_run_rate\": 1, \"growth\": { \"initial\": 0.1 }, \"volatility\": { \"initial\": 0.2 } },
             \"b\": { \"initial_run_rate\": 1, \"growth\": { \"initial\": 0.1 }, \"volatility\": { \"initial\": 0.2 } },",
        ).replace(
            "\"baseline\"",
            "\"correlations\": [ {\"a\":\"a\",\"b\":\"b\",\"rho\":0.9}, {\"a\":\"a\",\"b\":\"s\",\"rho\":0.9}, {\"a\":\"b\",\"b\":\"s\",\"rho\":-0.9} ], \"baseline\"",
        );
        let e = p(&three).unwrap_err().to_string();
        assert!(e.contains("not positive definite"), "{e}");
    }

    #[test]
    fn arrays_in_place_of_objects_are_rejected() {
        let e = p("  [\"t\", null, 2026]").unwrap_err().to_string();
        assert!(
            e.starts_with("x.json:1:3: a scenario must be a JSON object"),
            "{e}"
        );
        let bad = OK.replace("{ \"initial\": 0.1 }", "[0.1, 0.1]");
        let e = p(&bad).unwrap_err().to_string();
        assert!(e.contains("series.s.growth: expected a JSON object"), "{e}");
        let e = parse_with_overrides(
            OK,
            Path::new("x.json"),
            &["series.s.volatility=[0.1]".into()],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("series.s.volatility: expected a JSON object"),
            "{e}"
        );
    }

    #[test]
    fn messages_do_not_name_internal_types() {
        let bad = OK.replace("{ \"initial\": 0.1 }", "7");
        let e = p(&bad).unwrap_err().to_string();
        assert!(e.contains("expected an object"), "{e}");
        assert!(!e.contains("Raw"), "{e}");
        assert_eq!(
            tidy("invalid length 2, expected struct RawGrowth with 5 elements"),
            "invalid length 2, expected an object"
        );
    }

    #[test]
    fn overrides_apply_and_validate() {
        let f = Path::new("x.json");
        let l = parse_with_overrides(OK, f, &["regimes.prior.0.cap=50".into()]).unwrap();
        assert_eq!(l.scenario.regimes["prior"][0].cap, Some(50.0));
        let e = parse_with_overrides(OK, f, &["regimes.prior.0.rate=2".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("regimes.prior.0.rate: must be in [0, 1]"), "{e}");
        let e = parse_with_overrides(OK, f, &["series.nope.growth.initial=1".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("series.nope: no such field"), "{e}");
        let e = parse_with_overrides(OK, f, &["regimes.prior.0.caps=1".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `caps`"), "{e}");
    }

    #[test]
    fn flows_are_addressed_by_name_or_index() {
        let f = Path::new("x.json");
        let l = parse_with_overrides(OK, f, &["regimes.prior.f.cap=50".into()]).unwrap();
        assert_eq!(l.scenario.regimes["prior"][0].cap, Some(50.0));
        let e = parse_with_overrides(OK, f, &["regimes.prior.g.cap=50".into()])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("regimes.prior.g: regime `prior` has no flow named `g`; its flows (name or index): f (0)"),
            "{e}"
        );
        let e = parse_with_overrides(OK, f, &["regimes.prior.3.cap=50".into()])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("index 3 out of range (array has 1 items)"),
            "{e}"
        );
        let e = parse_with_overrides(OK, f, &["series.nope.growth.initial=1".into()])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("series.nope: no such field (fields here: s)"),
            "{e}"
        );

        let v = p(OK).unwrap().scenario.to_json_value();
        assert_eq!(
            value_at(&v, "regimes.prior.f.rate").unwrap(),
            Some(&serde_json::json!(0.2))
        );
        assert_eq!(
            value_at(&v, "regimes.prior.0.rate").unwrap(),
            Some(&serde_json::json!(0.2))
        );
        assert_eq!(value_at(&v, "regimes.prior.f.cap").unwrap(), None);
        assert!(value_at(&v, "regimes.prior.g.cap")
            .unwrap_err()
            .contains("has no flow named `g`"));
        assert!(value_at(&v, "series.s.nope.x")
            .unwrap_err()
            .contains("series.s.nope: no such field"));
        assert!(value_at(&v, "series..x").is_err());
    }
}
