//! The machine and the versions a run was measured with: for the report's Machine table.

use std::collections::BTreeMap;
use std::fs;
use std::process::Command;

use serde::Deserialize;

use crate::util::{cargo, output, root};

/// CPU, cores, memory, OS, rustc and git revision, as `(name, value)` rows.
pub(crate) fn machine() -> Vec<(String, String)> {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    let logical = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let usable = std::thread::available_parallelism().map_or(0, |n| n.get());
    let os = fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| std::env::consts::OS.to_owned());
    let kernel = output(Command::new("uname").args(["-sr"])).unwrap_or_default();
    let mem = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map(|kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0))
        .unwrap_or_default();
    let rustc =
        output(Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into())).arg("-V"))
            .unwrap_or_default();
    let git =
        output(
            Command::new("git")
                .current_dir(root())
                .args(["rev-parse", "--short=12", "HEAD"]),
        )
        .unwrap_or_else(|_| "unknown".into());
    let dirty = output(
        Command::new("git")
            .current_dir(root())
            .args(["status", "--porcelain"]),
    )
    .is_ok_and(|s| !s.is_empty());
    vec![
        ("CPU".into(), cpu),
        (
            "cores".into(),
            format!("{logical} logical in /proc/cpuinfo, {usable} usable by this process"),
        ),
        ("memory".into(), mem),
        ("OS".into(), format!("{os} ({kernel})")),
        ("rustc".into(), rustc),
        (
            "git revision".into(),
            format!(
                "{git}{}",
                if dirty {
                    " (with uncommitted changes)"
                } else {
                    ""
                }
            ),
        ),
    ]
}

/// The part of `cargo metadata` read here.
#[derive(Deserialize)]
struct Metadata {
    packages: Vec<Package>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    version: String,
}

/// Versions of our crates and of the ones that shape the figures, from `cargo metadata`.
pub(crate) fn versions() -> Vec<(String, String)> {
    const NAMES: &[&str] = &[
        "session-core",
        "store-memory",
        "store-redis",
        "store-hybrid",
        "fred",
        "tokio",
        "criterion",
        "tower-sessions",
        "tower-sessions-memory-store",
        "tower-sessions-redis-store",
        "actix-session",
    ];
    let Ok(text) = output(cargo().args(["metadata", "--format-version", "1"])) else {
        return Vec::new();
    };
    let Ok(metadata) = serde_json::from_str::<Metadata>(&text) else {
        return Vec::new();
    };
    let mut found: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for p in metadata.packages {
        if let Some(n) = NAMES.iter().find(|n| **n == p.name) {
            found.entry(n).or_default().push(p.version);
        }
    }
    NAMES
        .iter()
        .filter_map(|n| {
            let mut v = found.remove(n)?;
            v.sort();
            v.dedup();
            Some(((*n).to_owned(), v.join(", ")))
        })
        .collect()
}
