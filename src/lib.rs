//! # revshare
//!
//! A Monte Carlo simulator for capped revenue-share contracts. Its first
//! subject is the April 2026 amendment of the Microsoft–OpenAI partnership:
//! OpenAI's 20% revenue share to Microsoft through 2030, now capped at
//! about $38B, against the prior, uncapped structure.
//!
//! The pipeline, one module per stage (docs/ARCHITECTURE.md has the map):
//!
//! 1. [`scenario`]: raw JSON → validated [`scenario::Scenario`] (the only
//!    way to obtain one);
//! 2. [`model`]: random numbers → revenue paths;
//! 3. [`contract`]: paths → contract payments, party positions and
//!    comparisons (the one settlement rule);
//! 4. [`statistics`]: values → mergeable summaries (exact sums, sketches);
//! 5. [`engine`]: the only place where 2–4 meet, batched and parallel;
//!    [`engine::partial`]: one shard's mergeable tally, for runs split
//!    across machines;
//! 6. [`result`]: the one result type, [`result::RunResult`], built once
//!    from the finished tally ([`summary`] is its `summary.json` part);
//! 7. [`export`]: writers from the result to bytes (CSV, JSON, the
//!    workbook, charts) and the output manager
//!    ([`export::manager::OutputDir`]) that alone touches the output folder;
//! 8. [`study`]: across runs — metric keys, comparison tables, parameter
//!    grids, sensitivity rankings, and the decision tools' numerics
//!    ([`study::decide`]).
//!
//! [`simd`] chooses, at run time, the instruction set of the loops that
//! run across a chunk of paths. The command line is the binary's own
//! (`src/main.rs`, `src/cli/`), built with the default `cli` feature; the
//! library builds without clap, indicatif, ctrlc and anyhow
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
pub mod simd;
pub mod statistics;
pub mod study;
pub mod summary;
