//! Issue 6, item 1: `kill -9` of the Redis server under a 64-task mixed load (creates, gets,
//! updates, deletes), then a restart on the same port with the same data directory (AOF,
//! `appendfsync always`).
//!
//! Asserted, for RedisStore and for two HybridStore instances sharing the server:
//! * no call hangs: each returns within `CALL_BOUND` (two commands' timeouts, as a write after
//!   the restart runs EVALSHA, gets NOSCRIPT and falls back to EVAL, plus a margin), with `Ok` or
//!   a typed error;
//! * the store recovers by itself: every call started 2 s after the server is back succeeds,
//!   and the first success comes well before;
//! * every acknowledged create, update and delete is found as acknowledged afterwards;
//! * zero stale, revoked or missing reads during and after (see the `reliability` crate docs
//!   for the definitions; the hybrid's reads through the instance that did not write are
//!   judged 50 ms after the acknowledgement, the time an invalidation may take).
//!
//! `cargo test -p reliability --test it restart:: -- --nocapture` prints the figures.

use std::time::{Duration, Instant};

use crate::common::{COMMAND_TIMEOUT, Running, SERIAL, assert_no_hang, ms, start};
use reliability::{LoadConfig, Report, verify};
use session_core::Store;
use store_hybrid::{HybridConfig, HybridStore};
use store_redis::{RedisConfig, RedisStore};
use testkit::RedisServer;

const CALL_BOUND: Duration = Duration::from_millis(2 * 1000 + 1000);
/// The bound the issue sets on recovery, from the server's return.
const RECOVERY: Duration = Duration::from_secs(2);
/// How long the server stays down.
const DOWN: Duration = Duration::from_millis(800);

async fn durable_server() -> Option<RedisServer> {
    testkit::any_server_with_args(&["--appendonly", "yes", "--appendfsync", "always"]).await
}

fn config(url: &str, prefix: &str) -> RedisConfig {
    RedisConfig::new(url)
        .prefix(prefix)
        .command_timeout(COMMAND_TIMEOUT)
}

struct Fault {
    killed: Instant,
    back: Instant,
}

/// Warms up, kills the server, restarts it after `DOWN`, lets the load run on until it has
/// made the calls `check` needs after the recovery (waited for, not counted on a rate).
async fn kill_and_restart(server: &mut RedisServer, load: &Running) -> Fault {
    load.wait_for_calls(256, "warm-up before the kill").await;
    let killed = Instant::now();
    server.kill().expect("kill -9 the server");
    tokio::time::sleep(DOWN).await;
    server.restart().await.expect("restart the server");
    let back = Instant::now();
    tokio::time::sleep_until((back + RECOVERY).into()).await;
    load.wait_for_calls_started_after_now(101, "calls after the recovery")
        .await;
    Fault { killed, back }
}

/// The assertions shared by both stores; prints the figures.
fn check(what: &str, report: &Report, fault: &Fault) {
    let first = report.first_success_after(fault.back);
    let last = report.last_failure_after(fault.back);
    let (during, failed_during) = report.calls_overlapping(fault.killed, fault.back);
    let settled = fault.back + RECOVERY;
    let (after, failed_after) = report.calls_between(settled, Instant::now());
    println!(
        "{what}: {}\n  server down {} (kill -9 to answering PING); {during} calls in flight or \
         started while it was down, {failed_during} failed; first success {} after the server's return, last failure \
         {} after it; {after} calls started 2 s after the return, {failed_after} failed",
        report.summary(),
        ms(fault.back - fault.killed),
        first.map_or("never".into(), ms),
        ms(last),
    );
    assert_no_hang(report);
    assert!(
        report.latency.max() < CALL_BOUND,
        "slowest call {:?}",
        report.latency.max()
    );
    assert!(
        during >= 64,
        "the load ran through the outage ({during} calls)"
    );
    let first = first.expect("a call succeeded after the restart");
    assert!(first < RECOVERY, "first success {first:?} after the return");
    assert!(last < RECOVERY, "a call failed {last:?} after the return");
    assert!(after > 100 && failed_after == 0);
    assert_eq!(
        (report.stale, report.revoked, report.missing),
        (0, 0, 0),
        "stale, revoked, missing reads: {:?}",
        report.samples
    );
    // Every error is one of the store's typed backend errors (no Conflict, NotFound or
    // AlreadyExists from a write replayed behind our back, no judgement against the ledger).
    for kind in report.errors_by_kind().keys() {
        assert!(
            matches!(*kind, "Timeout" | "Unavailable"),
            "unexpected error kind {kind}: {:?}",
            report.error_samples
        );
    }
}

async fn check_durable<S: Store>(what: &str, store: &S, report: &Report) {
    let v = verify(store, report).await;
    println!(
        "{what}: {} sessions read back after the restart: {} missing, {} at another version, \
         {} deleted ones back, {} errors",
        v.checked, v.missing, v.wrong_version, v.resurrected, v.errors
    );
    assert!(v.checked > 100, "{v:?}");
    assert_eq!(
        (v.missing, v.wrong_version, v.resurrected, v.errors),
        (0, 0, 0, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_survives_kill_and_restart() {
    let _serial = SERIAL.lock().await;
    let Some(mut server) = durable_server().await else {
        return;
    };
    let prefix = testkit::unique_prefix("restart");
    let store = RedisStore::connect(config(server.url(), &prefix))
        .await
        .unwrap();
    let load = start(
        vec![store.clone()],
        LoadConfig {
            call_bound: CALL_BOUND,
            ..LoadConfig::default()
        },
    );
    let fault = kill_and_restart(&mut server, &load).await;
    let report = load.stop().await;
    check("RedisStore", &report, &fault);
    check_durable("RedisStore", &store, &report).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hybrid_store_survives_kill_and_restart_without_stale_reads() {
    let _serial = SERIAL.lock().await;
    let Some(mut server) = durable_server().await else {
        return;
    };
    let prefix = testkit::unique_prefix("restart-hybrid");
    let connect = || HybridStore::connect(HybridConfig::new(config(server.url(), &prefix)));
    let (a, b) = (connect().await.unwrap(), connect().await.unwrap());
    let load = start(
        vec![a.clone(), b.clone()],
        LoadConfig {
            call_bound: CALL_BOUND,
            ..LoadConfig::default()
        },
    );
    let fault = kill_and_restart(&mut server, &load).await;
    let report = load.stop().await;
    let (sa, sb) = (a.stats(), b.stats());
    println!(
        "HybridStore L1: A {} hits / {} misses, {} flushes, tracking started {} times; B {} hits \
         / {} misses, {} flushes, tracking started {} times",
        sa.hits,
        sa.misses,
        sa.flushes,
        sa.tracking_starts,
        sb.hits,
        sb.misses,
        sb.flushes,
        sb.tracking_starts
    );
    check("HybridStore (2 instances)", &report, &fault);
    // The outage flushed both L1s and tracking came back on both.
    for (name, s) in [("A", sa), ("B", sb)] {
        assert!(
            s.flushes >= 1,
            "{name} flushed its L1 when tracking dropped"
        );
        assert!(s.tracking_starts >= 2, "{name} re-enabled tracking");
        assert!(s.hits > 0, "{name} served from its L1");
    }
    assert!(a.is_tracking_live() && b.is_tracking_live());
    check_durable("HybridStore", &a, &report).await;
    check_durable("HybridStore through B", &b, &report).await;
}
