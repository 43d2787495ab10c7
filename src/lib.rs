//! # revshare
//!
//! A Monte Carlo simulator for capped revenue-share contracts. Its first
//! subject is the April 2026 amendment of the Microsoft–OpenAI partnership:
//! OpenAI's 20% revenue share to Microsoft through 2030, now capped at
//! about $38B, against the prior, uncapped structure.
//!
//! ## Public API
//!
//! The facade is four steps, each with a typed error:
//!
//! 1. [`scenario::load`] (or [`scenario::parse`], and the `_with_overrides`
//!    variants): raw JSON → validated [`scenario::Scenario`], the only way
//!    to obtain one ([`scenario::ScenarioError`]);
//! 2. [`engine::Engine::new`] compiles it; [`engine::Engine::run`] (or
//!    [`engine::Engine::run_quiet`]) samples it, batched and parallel, into
//!    an [`engine::RunOutput`] ([`engine::RunError`]); [`engine::partial`]
//!    holds one shard's mergeable tally, for runs split across machines;
//! 3. [`result::RunResult::build`]: the one result type, built once from
//!    the finished tally ([`summary::Summary`] is its `summary.json` part;
//!    [`summary::NonFinite`]);
//! 4. [`export`]: writers from the result to bytes
//!    ([`export::run_files`], [`export::workbook`], [`export::charts`];
//!    [`export::ExportError`]) and the output manager
//!    ([`export::manager::OutputDir`]) that alone touches the output folder.
//!
//! Public beyond the facade, because other code has a reason to reach them:
//! [`study`] (across runs: metric keys, comparison tables, parameter grids,
//! sensitivity rankings, the decision tools' numerics in [`study::decide`]);
//! [`contract`] (the one settlement rule, tested against a scalar
//! reference); [`model`] (random numbers → revenue paths); [`random`] (the
//! counter-based stream, documented so that other implementations can
//! reproduce it); [`statistics`] (the result's statistics,
//! [`statistics::Stat`] and [`statistics::StatAcc`], and the quantile
//! sketch). Everything else — the engine's metric layout, the chunk
//! buffers, the SIMD kernels, exact summation — is `pub(crate)`.
//! docs/ARCHITECTURE.md has the map.
//!
//! The command line is the binary's own (`src/main.rs`, `src/cli/`), a
//! client of this API built with the default `cli` feature; the library
//! builds without clap, indicatif, ctrlc and anyhow
//! (`default-features = false`).
//!
//! ```no_run
//! use revshare::{engine::{Engine, RunOptions}, result::RunResult, scenario};
//!
//! let loaded = scenario::load("scenarios/base.json".as_ref()).unwrap();
//! let sc = loaded.scenario;
//! let engine = Engine::new(&sc);
//! let opts = RunOptions { paths: 10_000, seed: 42, threads: 0, exact: false, shard: (0, 1) };
//! let out = engine.run_quiet(&opts).unwrap();
//! let result = RunResult::build(&engine, &out.tally, out.threads, out.elapsed_seconds).unwrap();
//! let summary = &result.summary; // what summary.json holds; result.steps and result.annual too
//! let hit = summary.regimes["amended"].flows["openai_to_microsoft"].cap_hit.as_ref().unwrap();
//! println!("P(cap binds) = {:.1}%", 100.0 * hit.probability);
//! ```
#![deny(missing_docs)]

pub mod contract;
pub mod engine;
pub mod export;
pub mod model;
pub mod random;
pub mod result;
pub mod scenario;
pub(crate) mod simd;
pub mod statistics;
pub mod study;
pub mod summary;
