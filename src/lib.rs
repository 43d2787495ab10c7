//! # revshare
//!
//! A Monte Carlo simulator for capped revenue-share contracts. Its first
//! subject is the April 2026 amendment of the Microsoft–OpenAI partnership:
//! OpenAI's 20% revenue share to Microsoft through 2030, now capped at
//! about $38B, against the prior, uncapped structure.
//!
//! The pipeline, one module per stage:
//!
//! 1. [`scenario`]: raw JSON → validated [`scenario::Scenario`];
//! 2. [`model`]: random numbers → revenue paths;
//! 3. [`accounting`]: one path → contract payments (pure);
//! 4. [`statistics`]: values → mergeable summaries (exact sums, sketches);
//! 5. [`engine`]: the only place where 2–4 meet, batched and parallel;
//! 6. [`summary`] and [`output`]: the result type and its exporters;
//!    [`partial`]: one shard's mergeable result, for runs split across
//!    machines;
//!    [`report`] turns a run into charts, which [`charts`] draws;
//!    [`xlsx`] writes the same results as an Excel workbook;
//! 7. across runs: [`metric`] names one number of a summary by its key,
//!    [`compare`] lines up the key metrics of many runs, [`study`] builds
//!    the parameter grids of sweeps and sensitivity analyses;
//! 8. [`cli`]: the command line.
//!
//! [`simd`] chooses, at run time, the AVX2 or portable build of the loops
//! that run across a chunk of paths (stages 2–5).
//!
//! ```no_run
//! use revshare::{engine::{Engine, RunOptions}, scenario, summary::Summary};
//!
//! let loaded = scenario::load("scenarios/base.json".as_ref()).unwrap();
//! let sc = loaded.scenario;
//! let engine = Engine::new(&sc);
//! let opts = RunOptions { paths: 10_000, seed: 42, threads: 0, exact: false, shard: (0, 1) };
//! let out = engine.run_quiet(&opts).unwrap();
//! let summary = Summary::build(&engine, &out.tally, out.threads, out.elapsed_seconds).unwrap();
//! let hit = summary.regimes["amended"].flows["openai_to_microsoft"].cap_hit.as_ref().unwrap();
//! println!("P(cap binds) = {:.1}%", 100.0 * hit.probability);
//! ```
#![deny(missing_docs)]

pub mod accounting;
pub mod charts;
pub mod cli;
pub mod compare;
pub mod engine;
pub mod metric;
pub mod model;
pub mod output;
pub mod partial;
pub mod random;
pub mod report;
pub mod scenario;
pub mod simd;
pub mod statistics;
pub mod study;
pub mod summary;
pub mod xlsx;
