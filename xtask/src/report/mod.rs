//! The report: reads what `bench` recorded (target/session-bench/run.json, typed as
//! [`run::Run`]) and criterion's estimates (target/criterion/**/new/{benchmark,estimates}.json),
//! and writes target/session-bench/{report.md, report.json, benchmark-results.txt,
//! store-latency.svg}; with `--update-docs` also docs/STORE_PERFORMANCE_COMPARISON.{md,json}
//! and docs/store-latency.svg.
//!
//! Every number in the output is computed here from those files: the tables, the ratios and
//! the advice sentences alike. Nothing is typed in.
//!
//! ```text
//! run.rs        run.json, typed (written by bench.rs)
//! criterion.rs  criterion's files -> Figure
//! figure.rs     Figure, and which figure stands for a store in a group
//! stats.rs      passes -> medians, re-run intervals, ratios
//! machine.rs    the Machine table (CPU, OS, rustc, crate versions)
//! format.rs     13.4 ns, 2.50M/s, 1.20×
//! advice.rs     sentences made of figures
//! markdown.rs   report.md / docs/STORE_PERFORMANCE_COMPARISON.md
//! json.rs       report.json (typed; read back by compare.rs)
//! text.rs       benchmark-results.txt
//! svg.rs        store-latency.svg
//! compare.rs    --compare: this run against an earlier report.json
//! targets.rs    issues #14 and #15's targets against this run's figures
//! ```

mod advice;
mod compare;
mod criterion;
mod figure;
mod format;
mod json;
pub(crate) mod machine;
mod markdown;
pub(crate) mod run;
mod stats;
mod svg;
mod targets;
mod text;

use std::fs;
use std::path::Path;

use crate::bench::criterion_dir;
use crate::util::{Result, err, root};

pub(crate) use compare::compare;
pub(crate) use criterion::snapshot;
use figure::Figure;
use run::Run;

/// Everything the report is made of.
pub(crate) struct Report {
    run: Run,
    figures: Vec<Figure>,
    missing: Vec<String>,
    machine: Vec<(String, String)>,
    versions: Vec<(String, String)>,
    /// The figures as each pass measured them (median = that pass's median), for the spread
    /// of ratios.
    pass_figures: Vec<Vec<Figure>>,
}

impl Report {
    /// The report of a run: its listed benchmarks read from criterion's directory, figures
    /// folded over the passes.
    fn new(
        run: Run,
        criterion: &Path,
        machine: Vec<(String, String)>,
        versions: Vec<(String, String)>,
    ) -> Result<Self> {
        let index = criterion::index(criterion);
        let mut figures = Vec::new();
        let mut missing = Vec::new();
        for id in run.benches.iter().flat_map(|b| &b.ids) {
            match index.get(id).map(|dir| criterion::read_figure(dir)) {
                Some(Ok(f)) => figures.push(f),
                Some(Err(e)) => missing.push(format!("{id}: {e}")),
                None => missing.push(format!("{id}: no criterion output")),
            }
        }
        if figures.is_empty() {
            return Err(err("no benchmark results found: did the benches run?"));
        }
        let pass_figures = stats::apply_passes(&run, &mut figures);
        Ok(Report {
            run,
            figures,
            missing,
            machine,
            versions,
            pass_figures,
        })
    }

    /// The four files of target/session-bench/, by name.
    fn outputs(&self) -> Result<[(&'static str, Vec<u8>); 4]> {
        Ok([
            (
                "report.md",
                self.markdown("store-latency.svg", false).into(),
            ),
            ("report.json", self.json_bytes()?),
            ("benchmark-results.txt", self.results_txt().into()),
            ("store-latency.svg", self.svg().into()),
        ])
    }
}

/// Reads `out_dir/run.json` and writes the report beside it (and into docs/ with
/// `update_docs`).
pub(crate) fn write(out_dir: &Path, update_docs: bool) -> Result<()> {
    let bytes = fs::read(out_dir.join("run.json")).map_err(|e| {
        err(format!(
            "no run.json in {} ({e}): run `cargo xtask bench` first",
            out_dir.display()
        ))
    })?;
    let run: Run = serde_json::from_slice(&bytes)?;
    // The machine as the run found it; now, for a run.json that did not record it.
    let machine = if run.machine.is_empty() {
        machine::machine()
    } else {
        run.machine.clone()
    };
    let report = Report::new(run, &criterion_dir(out_dir), machine, machine::versions())?;
    println!("\nreport: written to {}:", out_dir.display());
    for (name, bytes) in report.outputs()? {
        fs::write(out_dir.join(name), bytes)?;
        println!("  {}", out_dir.join(name).display());
    }
    if update_docs {
        let docs = root().join("docs");
        fs::create_dir_all(&docs)?;
        fs::write(docs.join("store-latency.svg"), report.svg())?;
        let path = docs.join("STORE_PERFORMANCE_COMPARISON.md");
        fs::write(&path, report.markdown("store-latency.svg", true))?;
        println!("  {}", path.display());
        // The same figures, machine-readable, for `cargo xtask bench --compare`.
        let json_path = docs.join("STORE_PERFORMANCE_COMPARISON.json");
        fs::write(&json_path, report.json_bytes()?)?;
        println!("  {}", json_path.display());
        println!("  {}", docs.join("store-latency.svg").display());
    }
    println!();
    for line in report.advice() {
        println!("- {line}");
    }
    Ok(())
}

#[cfg(test)]
mod tests;
