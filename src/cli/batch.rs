//! `revshare batch`: load every scenario → run each into its own folder as
//! `run` does → line the results up in `comparison.csv`, `comparison.md`,
//! a side-by-side chart and (with `--xlsx`) one workbook. A scenario that
//! does not load is reported and skipped; the others still run.

use std::path::{Path, PathBuf};

use clap::Args;

use super::common::{apply_paths_seed, cancel_flag, simulate, stage_run, RunFailure, Simulate};
use super::progress::Progress;
use super::{coded, failure, invalid, print_warnings, OutputArgs, ScenarioArgs, EXIT_INTERRUPTED};
use revshare::export;
use revshare::export::manager::OutputDir;
use revshare::export::report::{self, BatchRun};
use revshare::export::xlsx;
use revshare::scenario::{self, Scenario};
use revshare::study::compare;
use revshare::summary::Summary;

/// Options of `revshare batch`.
#[derive(Args, Debug, Clone)]
pub struct BatchArgs {
    /// Scenario files, or directories whose *.json files are all run (sorted by name).
    #[arg(required = true, value_name = "DIR_OR_FILES")]
    pub inputs: Vec<PathBuf>,
    /// Paths, seed, threads and field overrides.
    #[command(flatten)]
    pub run: ScenarioArgs,
    /// Where and what to write (default folder: out/batch/; each scenario
    /// goes to DIR/<name>/; --xlsx writes comparison.xlsx: comparison,
    /// summary, per-year and per-step sheets, and each scenario's own
    /// results.xlsx).
    #[command(flatten)]
    pub output: OutputArgs,
}

/// The scenario files named by the inputs: files as given, directories
/// expanded to their `*.json` files sorted by name.
fn expand(inputs: &[PathBuf]) -> (Vec<PathBuf>, Vec<String>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for input in inputs {
        if input.is_dir() {
            match std::fs::read_dir(input) {
                Ok(entries) => {
                    let mut found: Vec<PathBuf> = entries
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "json"))
                        .collect();
                    found.sort();
                    if found.is_empty() {
                        errors.push(format!("{}: no *.json scenario files", input.display()));
                    }
                    files.extend(found);
                }
                Err(e) => errors.push(format!("{}: cannot read directory: {e}", input.display())),
            }
        } else {
            files.push(input.clone());
        }
    }
    (files, errors)
}

/// Runs `revshare batch`.
pub fn run(args: &BatchArgs) -> anyhow::Result<()> {
    // 1. Load and validate every scenario; report and skip the bad ones.
    let (files, errors) = expand(&args.inputs);
    let mut any_invalid = !errors.is_empty();
    for e in &errors {
        eprintln!("error: {e}");
    }
    let mut scenarios: Vec<(PathBuf, Scenario)> = Vec::new();
    for file in &files {
        match scenario::load_with_overrides(file, &args.run.set) {
            Ok(l) => {
                print_warnings(file, &l.warnings);
                let mut sc = l.scenario;
                apply_paths_seed(&mut sc, args.run.paths, args.run.seed, args.run.sampling)
                    .map_err(|e| invalid(e.to_string()))?;
                if let Some((other, _)) = scenarios.iter().find(|(_, s)| s.name == sc.name) {
                    eprintln!(
                        "error: {}: scenario name {:?} is also the name of {} (each scenario \
                         writes to DIR/<name>/); skipped",
                        file.display(),
                        sc.name,
                        other.display()
                    );
                    any_invalid = true;
                    continue;
                }
                scenarios.push((file.clone(), sc));
            }
            Err(e) => {
                eprintln!("error: {e}\n  skipped {}", file.display());
                any_invalid = true;
            }
        }
    }
    if scenarios.is_empty() {
        return Err(invalid("no valid scenario to run"));
    }
    let mut out = args
        .output
        .open(Path::new("out").join("batch"), false)
        .map_err(|e| failure(e.to_string()))?;
    let dir = out.path().to_owned();

    // 2. Run each into DIR/<name>/, one progress bar for all paths.
    let cancel = cancel_flag();
    let total: u64 = scenarios.iter().map(|(_, s)| s.simulation.paths).sum();
    let progress = Progress::new(total);
    let mut offset = 0u64;
    let mut failed = false;
    let mut done: Vec<(PathBuf, Summary)> = Vec::new();
    let mut sheets = Vec::new();
    for (file, sc) in &scenarios {
        let report = |n: u64| progress.update(offset + n);
        let how = Simulate {
            threads: args.run.threads,
            exact: false,
            progress: &report,
            cancel: &cancel,
            steps: true,
            per_path: None,
        };
        let staged = simulate(sc, &how).and_then(|run| {
            stage_run(
                &mut out,
                &sc.name,
                &run,
                &args.output.options(),
                args.run.threads,
            )
            .map_err(|e| RunFailure::Failed(format!("{e:#}")))?;
            Ok(run)
        });
        match staged {
            Ok(run) => {
                if args.output.xlsx {
                    sheets.push(xlsx::RunSheets::new(&sc.name, &run));
                }
                done.push((file.clone(), run.summary));
            }
            Err(RunFailure::Cancelled) => {
                progress.finish();
                return Err(coded(
                    EXIT_INTERRUPTED,
                    "interrupted: the comparison was not written",
                ));
            }
            Err(e) => {
                eprintln!("error: {}: {e}; skipped", file.display());
                failed = true;
            }
        }
        offset += sc.simulation.paths;
    }
    progress.finish();

    // 3. The comparison.
    if !done.is_empty() {
        let written = write_comparison(&mut out, &done, &sheets, &args.output)
            .and_then(|_| out.commit().map_err(|e| e.to_string()))
            .map_err(|e| failure(e.to_string()))?;
        if !args.output.quiet {
            let runs: Vec<(String, &Summary)> = done
                .iter()
                .map(|(_, s)| (s.scenario.name.clone(), s))
                .collect();
            print!("{}", compare::comparison_md(&runs));
            let names: Vec<String> = written
                .iter()
                .filter_map(|p| p.strip_prefix(&dir).ok())
                .map(|p| p.display().to_string())
                .filter(|n| {
                    !done
                        .iter()
                        .any(|(_, s)| n.starts_with(&format!("{}/", s.scenario.name)))
                })
                .collect();
            println!(
                "\n{} scenario{} run; wrote to {}/: {} and one folder per scenario",
                done.len(),
                if done.len() == 1 { "" } else { "s" },
                dir.display(),
                names.join(", ")
            );
        }
    }
    if any_invalid {
        Err(invalid(
            "some scenarios could not be loaded and were skipped (see above)",
        ))
    } else if failed {
        Err(failure(
            "some scenarios failed and were skipped (see above)",
        ))
    } else {
        Ok(())
    }
}

/// The comparison table of a batch: one row per scenario.
pub(crate) fn comparison_table(done: &[(PathBuf, Summary)]) -> compare::Table {
    let mut table = compare::Table::new(&["scenario", "file", "paths", "seed"]);
    for (file, s) in done {
        table.push(
            vec![
                s.scenario.name.clone(),
                file.display().to_string(),
                s.run.paths.to_string(),
                s.run.seed.to_string(),
            ],
            &compare::key_metrics(s),
        );
    }
    table
}

fn write_comparison(
    out: &mut OutputDir,
    done: &[(PathBuf, Summary)],
    sheets: &[xlsx::RunSheets],
    opts: &OutputArgs,
) -> Result<(), String> {
    let table = comparison_table(done);
    let runs: Vec<(String, &Summary)> = done
        .iter()
        .map(|(_, s)| (s.scenario.name.clone(), s))
        .collect();
    let io = |e: revshare::export::manager::OutputError| e.to_string();
    out.write("comparison.csv", &table.to_csv()).map_err(io)?;
    out.write("comparison.md", compare::comparison_md(&runs).as_bytes())
        .map_err(io)?;
    let charts = if opts.no_charts {
        None
    } else {
        let charts = super::figures::comparison_charts(&runs, opts.chart_size)?;
        super::figures::write_charts(out, &charts)?;
        Some(charts)
    };
    let options = opts.options();
    if options.report {
        let entries: Vec<BatchRun> = done
            .iter()
            .map(|(file, s)| BatchRun {
                file: file.display().to_string(),
                summary: s,
                report: Some(format!("{}/{}", s.scenario.name, export::REPORT)),
            })
            .collect();
        let html = report::batch_report(&entries, charts.as_deref(), &options.context);
        out.write(export::REPORT, html.as_bytes()).map_err(io)?;
    }
    if opts.xlsx {
        let first = [xlsx::table_sheet("comparison", &table)];
        let bytes = xlsx::workbook_bytes(&xlsx::run_workbook(sheets, &first))
            .map_err(|e| format!("cannot build comparison.xlsx: {e}"))?;
        out.write("comparison.xlsx", &bytes).map_err(io)?;
    }
    Ok(())
}
