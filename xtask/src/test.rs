//! `cargo xtask test`: the whole test matrix.
//!
//! 1. `cargo test --workspace --all-features` once, as the environment has it (memory store,
//!    Redis 7.0 and Valkey 8.1 binaries, Cluster, Sentinel, doc tests);
//! 2. for each image: testkit's own "find a Redis" test (which must report a container from
//!    that image), then the standalone Redis tests (`store-redis` conformance and key checks,
//!    and `store-hybrid`'s conformance and coherence tests) with `REDIS_URL` unset and
//!    `SESSION_STORE_REDIS_IMAGE` set to the image, so testkit starts it through
//!    testcontainers.
//!
//! Everything runs with `SESSION_STORE_REQUIRE_REDIS=1`: a missing server fails, never skips.

use std::process::{Command, Stdio};
use std::time::Instant;

use crate::flags;
use crate::image;
use crate::util::{Result, cargo, err, human_duration, root, show};

struct Step {
    name: String,
    outcome: Result<String>,
    took: std::time::Duration,
}

pub(crate) fn run(flags: &flags::Test) -> Result<()> {
    let started = Instant::now();
    let images = images(flags)?;
    let mut steps = Vec::new();

    if !flags.skip_workspace {
        let mut cmd = cargo();
        cmd.args(["test", "--workspace", "--all-features", "--no-fail-fast"])
            .env("SESSION_STORE_REQUIRE_REDIS", "1");
        steps.push(step(
            "workspace: cargo test --workspace --all-features",
            || crate::util::run(&mut cmd).map(|()| String::new()),
        ));
    }

    let hybrid = root().join("crates/store-hybrid/Cargo.toml").is_file();
    for image in &images {
        steps.push(step(
            &format!("{image}: testkit finds the container"),
            || container_is_used(image),
        ));
        let mut cmd = cargo();
        cmd.args([
            "test",
            "--no-fail-fast",
            "-p",
            "store-redis",
            "--all-features",
            "--test",
            "conformance",
            "--test",
            "redis_keys",
        ]);
        image_env(&mut cmd, image);
        steps.push(step(
            &format!("{image}: store-redis conformance + redis_keys"),
            || crate::util::run(&mut cmd).map(|()| String::new()),
        ));
        // The hybrid store's standalone tests (its Cluster and latency tests do not depend on
        // the image and ran in the workspace step).
        let hybrid_tests: Vec<&str> = ["conformance", "coherence"]
            .into_iter()
            .filter(|t| {
                root()
                    .join(format!("crates/store-hybrid/tests/{t}.rs"))
                    .is_file()
            })
            .collect();
        if hybrid && !hybrid_tests.is_empty() {
            let mut cmd = cargo();
            cmd.args([
                "test",
                "--no-fail-fast",
                "-p",
                "store-hybrid",
                "--all-features",
            ]);
            for t in &hybrid_tests {
                cmd.args(["--test", t]);
            }
            image_env(&mut cmd, image);
            steps.push(step(
                &format!("{image}: store-hybrid {}", hybrid_tests.join(" + ")),
                || crate::util::run(&mut cmd).map(|()| String::new()),
            ));
        }
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
    if !hybrid {
        println!("  (crates/store-hybrid does not exist yet: no hybrid runs)");
    }
    if failed > 0 {
        return Err(err(format!("{failed} of {} steps failed", steps.len())));
    }
    Ok(())
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

/// The images to run on: the flags', else the local ones `xtask image` builds.
fn images(flags: &flags::Test) -> Result<Vec<String>> {
    if flags.redis_images.is_empty() {
        eprintln!("test: no --redis-image given: using the local images (cargo xtask image)");
        return image::ensure();
    }
    image::docker_usable()?;
    for image in &flags.redis_images {
        if !image::present(image) {
            if flags.pull {
                crate::util::run(Command::new("docker").args(["pull", image]))?;
            } else {
                return Err(err(format!(
                    "image {image} is not present locally and testkit never pulls: run \
                     `docker pull {image}` (or pass --pull), or build the local ones with \
                     `cargo xtask image`"
                )));
            }
        }
    }
    Ok(flags.redis_images.clone())
}

/// Only the container from `image` may serve: no REDIS_URL, and a failure if it is missing.
fn image_env(cmd: &mut Command, image: &str) {
    cmd.env_remove("REDIS_URL")
        .env("SESSION_STORE_REDIS_IMAGE", image)
        .env("SESSION_STORE_REQUIRE_REDIS", "1");
}

/// Runs testkit's `redis_finds_a_server` test and checks it says "container from image
/// {image}"; returns that description.
fn container_is_used(image: &str) -> Result<String> {
    let mut cmd = cargo();
    cmd.args([
        "test",
        "-p",
        "testkit",
        "--test",
        "servers",
        "redis_finds_a_server",
        "--",
        "--exact",
        "--nocapture",
    ]);
    image_env(&mut cmd, image);
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
        Some(d) if d.contains(&format!("container from image {image}")) => {
            eprintln!("test: {d}");
            Ok(d)
        }
        Some(d) => Err(err(format!("testkit did not use the container: {d}"))),
        None => Err(err("testkit printed no `redis(): ...` line")),
    }
}
