//! Issue 6, item 2: Sentinel failover under a 64-task mixed load. A primary, one replica and
//! three sentinels (quorum 2, `down-after-milliseconds` 1000); `kill -9` of the primary; the
//! sentinels promote the replica and the store (a `redis-sentinel://` URL) follows it.
//!
//! Asserted: no call hangs, every error is typed, every call started 3 s after the promotion
//! succeeds. Measured: time to promotion and to the store's last failure, and what the
//! asynchronous replication lost: acknowledged writes the new primary does not have (reads
//! during the load judged missing or stale, and a read-back of every tracked session after).
//!
//! `cargo test -p reliability --test it sentinel:: -- --nocapture` prints the figures.

use std::time::{Duration, Instant};

use crate::common::{COMMAND_TIMEOUT, SERIAL, assert_failover_survived, ms, start_warm};
use reliability::verify;
use store_redis::{RedisConfig, RedisStore};

const CALL_BOUND: Duration = Duration::from_millis(2 * 1000 + 1000);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_follows_the_promoted_replica() {
    let _serial = SERIAL.lock().await;
    let Some(mut setup) = testkit::sentinel_with(Duration::from_millis(1000)).await else {
        return;
    };
    let prefix = testkit::unique_prefix("sentinel-failover");
    let store = RedisStore::connect(
        RedisConfig::new(setup.url())
            .prefix(prefix.clone())
            .command_timeout(COMMAND_TIMEOUT),
    )
    .await
    .expect("connect through the sentinels");
    let load = start_warm(store.clone(), CALL_BOUND).await;
    let old = setup.current_primary(0).await.unwrap();
    let killed = Instant::now();
    setup.kill_primary().unwrap();
    let promoted = loop {
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "the sentinels did not fail over"
        );
        if setup.current_primary(1).await.is_ok_and(|now| now != old) {
            break Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let (report, settled) = load.stop_after_failover(promoted).await;
    let v = verify(&store, &report).await;

    let first = report.first_success_after(promoted);
    let last_failure = report.last_failure_after(killed);
    let (during, failed_during) = report.calls_overlapping(killed, promoted);
    let (after, failed_after) = report.calls_between(settled, Instant::now());
    println!(
        "Sentinel failover: {}\n  primary killed -> replica promoted in {}; {during} calls in \
         flight or started before the promotion, {failed_during} failed; first success {} after \
         the promotion; last failure {} after the kill; {after} calls started 3 s after the \
         promotion, {failed_after} failed\n  read back after: {} sessions, {} missing, {} at \
         another version, {} deleted ones back, {} errors",
        report.summary(),
        ms(promoted - killed),
        first.map_or("never".into(), ms),
        ms(last_failure),
        v.checked,
        v.missing,
        v.wrong_version,
        v.resurrected,
        v.errors,
    );
    assert_failover_survived(
        &report,
        CALL_BOUND,
        (during, after, failed_after),
        &["Timeout", "Unavailable"],
    );
    assert_eq!(v.errors, 0, "every session readable after the failover");
    // What asynchronous replication may lose is reported above, not asserted: with one
    // replica in sync over loopback it is usually nothing, but a write acknowledged in the
    // last moment before the kill may not have reached the replica.
    let _ = testkit::cleanup_prefix(&setup.current_primary(0).await.unwrap(), &prefix).await;
}
