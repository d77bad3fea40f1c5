//! `cargo xtask soak [--seconds N]`: builds the soak binary (crates/reliability/src/bin/soak.rs)
//! in release mode and runs it once per store (memory, redis, hybrid; Redis from testkit), each
//! in its own process so that its resident memory is its own. Prints the figures and writes
//! them to target/session-reliability/soak.md and soak.json. Fails if any store had an error,
//! a hang, a contradicted read, or grew its resident memory by more than 10 % after warm-up.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::Value;

use crate::flags;
use crate::util::{Result, cargo, err, human_duration, root, run as run_cmd, show};

const STORES: [&str; 3] = ["memory", "redis", "hybrid"];
/// Long enough for the hybrid L1's CLOCK queues to reach their bound (2x the shard size).
const WARMUP_S: u64 = 20;

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

fn first_line(path: &str) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.lines().next().map(str::to_owned))
        .unwrap_or_default()
}

pub(crate) fn run(flags: &flags::Soak) -> Result<()> {
    let seconds = flags.seconds.unwrap_or(60);
    run_cmd(cargo().args(["build", "--release", "-p", "reliability", "--bin", "soak"]))?;
    let binary = target_dir().join("release").join("soak");
    let load_before = first_line("/proc/loadavg");
    let started = Instant::now();
    let mut results = Vec::new();
    let mut failed = Vec::new();
    for store in STORES {
        let mut cmd = Command::new(&binary);
        cmd.args([
            "--store",
            store,
            "--seconds",
            &seconds.to_string(),
            "--warmup",
            &WARMUP_S.to_string(),
        ])
        .current_dir(root())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
        eprintln!("$ {}", show(&cmd));
        let out = cmd
            .output()
            .map_err(|e| err(format!("cannot run `{}`: {e}", show(&cmd))))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().rev().find(|l| l.starts_with('{'));
        let value: Value = match line.map(serde_json::from_str) {
            Some(Ok(v)) => v,
            _ => {
                failed.push(format!("{store}: no figures ({})", out.status));
                continue;
            }
        };
        if !out.status.success() || value["pass"] != Value::Bool(true) {
            failed.push(format!("{store}: {}", value));
        }
        println!("{store}: {value}");
        results.push(value);
    }
    let load_after = first_line("/proc/loadavg");
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let dir = target_dir().join("session-reliability");
    std::fs::create_dir_all(&dir)?;
    let json = serde_json::json!({
        "command": format!("cargo xtask soak --seconds {seconds}"),
        "cpus": cpus,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "stores": results,
    });
    std::fs::write(dir.join("soak.json"), serde_json::to_string_pretty(&json)?)?;
    let md = markdown(seconds, cpus, &load_before, &load_after, &results);
    std::fs::write(dir.join("soak.md"), &md)?;
    println!("\n{md}");
    eprintln!(
        "soak: {} in {}; written to {}",
        if failed.is_empty() {
            "passed"
        } else {
            "FAILED"
        },
        human_duration(started.elapsed()),
        dir.join("soak.md").display()
    );
    if failed.is_empty() {
        Ok(())
    } else {
        Err(err(format!("soak failed: {}", failed.join("; "))))
    }
}

fn markdown(seconds: u64, cpus: usize, before: &str, after: &str, results: &[Value]) -> String {
    let us = |v: &Value| format!("{:.1}", v.as_f64().unwrap_or(0.0));
    let mut md = format!(
        "Command: `cargo xtask soak --seconds {seconds}` (64 tasks, {WARMUP_S} s warm-up, then \
         {seconds} s measured, per store; release build).\n\
         Machine: {cpus} CPUs; load average before `{before}`, after `{after}` (other work was \
         running on the machine at the same time).\n\n\
         | store | calls | calls/s | errors | hangs | stale / revoked / missing reads (of judged) \
         | p50 µs | p99 µs | max µs | RSS after warm-up | RSS at end | growth |\n\
         |---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|\n"
    );
    for r in results {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} / {} / {} (of {}) | {} | {} | {} | {} KiB | {} KiB | {} % |\n",
            r["store"].as_str().unwrap_or("?"),
            r["calls"],
            r["calls_per_s"],
            r["errors"],
            r["hangs"],
            r["stale"],
            r["revoked"],
            r["missing"],
            r["reads_judged"],
            us(&r["p50_us"]),
            us(&r["p99_us"]),
            us(&r["max_us"]),
            r["rss_warm_kib"],
            r["rss_end_kib"],
            r["rss_growth_pct"],
        ));
    }
    if let Some(backend) = results
        .iter()
        .find(|r| r["store"] != "memory")
        .and_then(|r| r["backend"].as_str())
    {
        md.push_str(&format!("\nRedis: {backend}.\n"));
    }
    md
}
