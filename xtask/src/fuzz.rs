//! `cargo xtask fuzz`: the cargo-fuzz targets in `fuzz/`, one after another, each for
//! `--seconds` (default 600) on one core, seeded from the committed corpus.
//!
//! The committed seeds (`fuzz/corpus/<target>/`) are copied into a scratch corpus under
//! `target/session-reliability/fuzz/corpus/<target>/`, which libFuzzer grows; the repository's
//! corpus stays small. Crash inputs land in `target/session-reliability/fuzz/artifacts/<target>/`.
//! The figures (executions, exec/s, coverage, corpus size, crashes) go to
//! `target/session-reliability/fuzz.md`, and the full libFuzzer output to one log per target
//! beside it.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::flags;
use crate::util::{Result, err, human_duration, on_path, output, root, show};

const DEFAULT_SECONDS: u64 = 600;

/// What one target's run gave.
#[derive(Debug, Default)]
struct Outcome {
    target: String,
    wall: Duration,
    executions: Option<u64>,
    exec_per_sec: Option<u64>,
    cov: Option<u64>,
    features: Option<u64>,
    seeds: usize,
    corpus: usize,
    peak_rss_mb: Option<u64>,
    crashes: Vec<PathBuf>,
    exit: String,
    log: PathBuf,
}

pub(crate) fn run(f: &flags::Fuzz) -> Result<()> {
    let seconds = f.seconds.unwrap_or(DEFAULT_SECONDS);
    let root = root();
    check_tools()?;
    let known = list_targets(&root)?;
    let targets = if f.targets.is_empty() {
        known.clone()
    } else {
        for t in &f.targets {
            if !known.contains(t) {
                return Err(err(format!(
                    "unknown fuzz target `{t}`; fuzz/ has: {}",
                    known.join(", ")
                )));
            }
        }
        f.targets.clone()
    };
    let out_dir = root.join("target/session-reliability");
    let work = out_dir.join("fuzz");
    fs::create_dir_all(&work)?;

    let mut outcomes = Vec::new();
    for target in &targets {
        outcomes.push(run_target(&root, &work, target, seconds)?);
    }

    let report = render(&outcomes, seconds);
    let report_path = out_dir.join("fuzz.md");
    fs::write(&report_path, &report)?;
    println!("{report}");
    eprintln!("wrote {}", report_path.display());
    let crashed: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| !o.crashes.is_empty() || o.exit != "ok")
        .collect();
    if crashed.is_empty() {
        Ok(())
    } else {
        Err(err(format!(
            "fuzzing found failures in: {} (inputs under {}, logs beside them)",
            crashed
                .iter()
                .map(|o| o.target.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            work.join("artifacts").display()
        )))
    }
}

/// cargo-fuzz and a nightly toolchain, or an error that says how to get them.
fn check_tools() -> Result<()> {
    let mut missing = Vec::new();
    if on_path("cargo-fuzz").is_none() {
        missing.push("cargo-fuzz is not installed: run `cargo install cargo-fuzz --locked`");
    }
    let nightly = Command::new("rustup")
        .args(["run", "nightly", "rustc", "--version"])
        .stdin(Stdio::null())
        .output();
    if !nightly.is_ok_and(|o| o.status.success()) {
        missing.push(
            "the nightly toolchain is missing (libFuzzer's instrumentation needs it): run \
             `rustup toolchain install nightly`",
        );
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(err(missing.join("\n")))
    }
}

/// `cargo fuzz` on the nightly toolchain. Through `rustup run` rather than `cargo +nightly`:
/// under `cargo xtask`, `CARGO` names the stable toolchain's cargo itself, which knows no
/// `+toolchain`.
fn fuzz_cargo() -> Command {
    let mut cmd = Command::new("rustup");
    cmd.current_dir(root())
        .args(["run", "nightly", "cargo", "fuzz"])
        .env_remove("CARGO")
        .env_remove("RUSTC")
        .env_remove("RUSTUP_TOOLCHAIN");
    cmd
}

fn list_targets(root: &Path) -> Result<Vec<String>> {
    let mut cmd = fuzz_cargo();
    cmd.args(["list", "--fuzz-dir"]).arg(root.join("fuzz"));
    let out = output(&mut cmd)?;
    let targets: Vec<String> = out.lines().map(|l| l.trim().to_owned()).collect();
    if targets.is_empty() {
        return Err(err("`cargo fuzz list` found no targets in fuzz/"));
    }
    Ok(targets)
}

fn copy_seeds(from: &Path, to: &Path) -> Result<usize> {
    if to.exists() {
        fs::remove_dir_all(to)?;
    }
    fs::create_dir_all(to)?;
    let mut n = 0;
    if from.is_dir() {
        for entry in fs::read_dir(from)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                fs::copy(entry.path(), to.join(entry.file_name()))?;
                n += 1;
            }
        }
    }
    Ok(n)
}

fn count_files(dir: &Path) -> usize {
    fs::read_dir(dir).map_or(0, |d| {
        d.filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .count()
    })
}

fn run_target(root: &Path, work: &Path, target: &str, seconds: u64) -> Result<Outcome> {
    let corpus = work.join("corpus").join(target);
    let artifacts = work.join("artifacts").join(target);
    let seeds = copy_seeds(&root.join("fuzz/corpus").join(target), &corpus)?;
    if artifacts.exists() {
        fs::remove_dir_all(&artifacts)?;
    }
    fs::create_dir_all(&artifacts)?;

    // Build first, with its own output, so that the timed run is only fuzzing.
    let mut build = fuzz_cargo();
    build
        .args(["build", "--fuzz-dir"])
        .arg(root.join("fuzz"))
        .arg(target);
    crate::util::run(&mut build)?;

    let log = work.join(format!("{target}.log"));
    let mut cmd = fuzz_cargo();
    cmd.args(["run", "--fuzz-dir"])
        .arg(root.join("fuzz"))
        .arg(target)
        .arg(&corpus)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg("-print_final_stats=1")
        .arg("-rss_limit_mb=2048");
    eprintln!(
        "$ {}  # {target}: {}, log {}",
        show(&cmd),
        human_duration(Duration::from_secs(seconds)),
        log.display()
    );
    let file = fs::File::create(&log)?;
    let started = Instant::now();
    let status = cmd
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .status()
        .map_err(|e| err(format!("cannot run `{}`: {e}", show(&cmd))))?;
    let wall = started.elapsed();
    let text = fs::read_to_string(&log).unwrap_or_default();
    let mut outcome = parse(&text);
    outcome.target = target.to_owned();
    outcome.wall = wall;
    outcome.seeds = seeds;
    outcome.corpus = count_files(&corpus);
    outcome.log = log;
    outcome.exit = if status.success() {
        "ok".to_owned()
    } else {
        status.to_string()
    };
    outcome.crashes = fs::read_dir(&artifacts).map_or_else(
        |_| Vec::new(),
        |d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect(),
    );
    eprintln!(
        "{target}: {} executions in {}, {} crash inputs, exit {}",
        outcome.executions.map_or("?".into(), |n| n.to_string()),
        human_duration(wall),
        outcome.crashes.len(),
        outcome.exit
    );
    Ok(outcome)
}

/// The figures in libFuzzer's output: its final stats and its last status line
/// (`#N ... cov: C ft: F corp: ... exec/s: E ...`).
fn parse(log: &str) -> Outcome {
    let mut o = Outcome::default();
    let stat = |name: &str| {
        log.lines()
            .rev()
            .find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok())
    };
    o.executions = stat("stat::number_of_executed_units:");
    o.exec_per_sec = stat("stat::average_exec_per_sec:");
    o.peak_rss_mb = stat("stat::peak_rss_mb:");
    if let Some(line) = log
        .lines()
        .rev()
        .find(|l| l.starts_with('#') && l.contains(" cov: "))
    {
        let field = |name: &str| {
            let mut words = line.split_whitespace();
            words.find(|w| *w == name)?;
            words.next()?.parse::<u64>().ok()
        };
        o.cov = field("cov:");
        o.features = field("ft:");
        if o.executions.is_none() {
            o.executions = line
                .split_whitespace()
                .next()
                .and_then(|w| w.trim_start_matches('#').parse().ok());
        }
        if o.exec_per_sec.is_none() {
            o.exec_per_sec = field("exec/s:");
        }
    }
    o
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "?".to_owned(), |n| n.to_string())
}

fn render(outcomes: &[Outcome], seconds: u64) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# cargo xtask fuzz\n");
    let _ = writeln!(
        s,
        "`cargo xtask fuzz --seconds {seconds}`: each target on one core (libFuzzer via cargo-fuzz, \
         nightly, AddressSanitizer, debug assertions on), seeded from `fuzz/corpus/<target>/`.\n"
    );
    let _ = writeln!(
        s,
        "| target | duration | executions | exec/s | coverage (edges / features) | corpus (seeds → end) | peak RSS | crashes | exit |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---|");
    for o in outcomes {
        let _ = writeln!(
            s,
            "| `{}` | {} | {} | {} | {} / {} | {} → {} | {} MB | {} | {} |",
            o.target,
            human_duration(o.wall),
            opt(o.executions),
            opt(o.exec_per_sec),
            opt(o.cov),
            opt(o.features),
            o.seeds,
            o.corpus,
            opt(o.peak_rss_mb),
            o.crashes.len(),
            o.exit
        );
    }
    for o in outcomes.iter().filter(|o| !o.crashes.is_empty()) {
        let _ = writeln!(s, "\n`{}` crash inputs:\n", o.target);
        for c in &o.crashes {
            let _ = writeln!(s, "- `{}`", c.display());
        }
    }
    let _ = writeln!(
        s,
        "\nLogs: {}",
        outcomes
            .iter()
            .map(|o| format!("`{}`", o.log.display()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_libfuzzer_output() {
        let log = "INFO: seed corpus: files: 15\n\
                   #2\tINITED cov: 120 ft: 300 corp: 14/20Kb exec/s: 0 rss: 40Mb\n\
                   #123456\tREDUCE cov: 512 ft: 1700 corp: 300/90Kb lim: 4096 exec/s: 2057 rss: 300Mb L: 60/4096 MS: 1 ChangeBit-\n\
                   Done 123999 runs in 61 second(s)\n\
                   stat::number_of_executed_units: 123999\n\
                   stat::average_exec_per_sec:     2032\n\
                   stat::new_units_added:          400\n\
                   stat::slowest_unit_time_sec:    0\n\
                   stat::peak_rss_mb:              310\n";
        let o = parse(log);
        assert_eq!(o.executions, Some(123_999));
        assert_eq!(o.exec_per_sec, Some(2032));
        assert_eq!(o.cov, Some(512));
        assert_eq!(o.features, Some(1700));
        assert_eq!(o.peak_rss_mb, Some(310));
        let partial = parse("#99\tpulse  cov: 7 ft: 8 corp: 1/1b exec/s: 33 rss: 1Mb\n");
        assert_eq!(
            (partial.executions, partial.exec_per_sec, partial.cov),
            (Some(99), Some(33), Some(7))
        );
    }
}
