//! `--compare`: which of an earlier report's figures and ratios this run reproduces inside the
//! earlier report's stated spread.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use super::format::{ns, sig3};
use super::json::ReportJson;
use crate::util::{Result, err};

/// Writes compare.md beside the report and prints a summary.
pub(crate) fn compare(out_dir: &Path, earlier: &Path) -> Result<()> {
    let read = |p: &Path| -> Result<ReportJson> {
        Ok(serde_json::from_slice(&fs::read(p).map_err(|e| {
            err(format!("cannot read {}: {e}", p.display()))
        })?)?)
    };
    let then = read(earlier)?;
    let now = read(&out_dir.join("report.json"))?;
    let (s, summary, outside) = render(&then, &now, earlier);
    let path = out_dir.join("compare.md");
    fs::write(&path, &s)?;
    println!("\ncompare: {summary}; details in {}", path.display());
    for o in &outside {
        println!("  outside: {o}");
    }
    Ok(())
}

/// compare.md, its summary line and what fell outside.
fn render(then: &ReportJson, now: &ReportJson, earlier: &Path) -> (String, String, Vec<String>) {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# This run against {}\n\nEarlier: {} ({} pass(es)). Now: {} ({} pass(es)). A figure or \
         ratio is reproduced when this run's value falls inside the earlier report's stated \
         spread.\n",
        earlier.display(),
        then.date.as_deref().unwrap_or("?"),
        then.passes,
        now.date.as_deref().unwrap_or("?"),
        now.passes,
    );
    let mut outside = Vec::new();
    let (mut fig_in, mut fig_all) = (0, 0);
    let _ = writeln!(
        s,
        "## Figures (time per operation)\n\n| benchmark | earlier | earlier spread | now | \
         inside? |\n|---|---:|---|---:|---|"
    );
    for f in then.figures.iter().filter(|f| !f.id.is_empty()) {
        let Some(n) = now.figures.iter().find(|n| n.id == f.id) else {
            continue;
        };
        let (m, lo, hi, v) = (
            f.per_op(f.median_ns),
            f.per_op(f.spread_low_ns),
            f.per_op(f.spread_high_ns),
            n.per_op(n.median_ns),
        );
        if ![m, lo, hi, v].iter().all(|x| x.is_finite()) {
            continue;
        }
        fig_all += 1;
        let inside = (lo..=hi).contains(&v);
        if inside {
            fig_in += 1;
        } else {
            outside.push(format!(
                "{}: {} outside [{}–{}] ({:+.1}% from the earlier median)",
                f.id,
                ns(v),
                ns(lo),
                ns(hi),
                100.0 * (v / m - 1.0)
            ));
        }
        let _ = writeln!(
            s,
            "| {} | {} | {} – {} | {} | {} |",
            f.id,
            ns(m),
            ns(lo),
            ns(hi),
            ns(v),
            if inside { "yes" } else { "**no**" }
        );
    }
    let (mut r_in, mut r_all) = (0, 0);
    let _ = writeln!(
        s,
        "\n## Ratios\n\n| ratio | earlier | now | inside? |\n|---|---:|---:|---|"
    );
    for r in &then.ratios {
        let Some(v) = now
            .ratios
            .iter()
            .find(|n| n.name == r.name)
            .map(|n| n.value)
        else {
            continue;
        };
        if ![r.value, r.low, r.high, v].iter().all(|x| x.is_finite()) {
            continue;
        }
        r_all += 1;
        let inside = (r.low..=r.high).contains(&v);
        if inside {
            r_in += 1;
        } else {
            outside.push(format!(
                "ratio {}: {} outside [{}–{}]",
                r.name,
                sig3(v),
                sig3(r.low),
                sig3(r.high)
            ));
        }
        let _ = writeln!(
            s,
            "| {} | {} [{}–{}] | {} | {} |",
            r.name,
            sig3(r.value),
            sig3(r.low),
            sig3(r.high),
            sig3(v),
            if inside { "yes" } else { "**no**" }
        );
    }
    let summary = format!(
        "{fig_in} of {fig_all} figures and {r_in} of {r_all} ratios fall inside the earlier \
         report's stated spread"
    );
    let _ = writeln!(s, "\n{summary}.");
    (s, summary, outside)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compare_counts_what_falls_inside_the_earlier_spread() {
        let dir = std::env::temp_dir().join(format!("xtask-compare-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("dir");
        let report = |median: f64, ratio: f64| {
            json!({"date": "d", "passes": 3, "figures": [{
                "id": "Get/redis/hit", "median_ns": median, "spread_low_ns": 90.0,
                "spread_high_ns": 110.0, "elements_per_iteration": 1,
            }], "ratios": [{"name": "r", "value": ratio, "low": 1.0, "high": 1.2}]})
        };
        let earlier = dir.join("earlier.json");
        fs::write(&earlier, report(100.0, 1.1).to_string()).expect("write");
        fs::write(dir.join("report.json"), report(120.0, 1.15).to_string()).expect("write");
        compare(&dir, &earlier).expect("compare");
        let md = fs::read_to_string(dir.join("compare.md")).expect("compare.md");
        assert!(
            md.contains("0 of 1 figures and 1 of 1 ratios fall inside"),
            "{md}"
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
