//! Invalidation latency: from a write acknowledged on instance A until B's L1 entry is gone,
//! over 10 000 writes. Prints p50 / p99 / max (run with `--nocapture`); fails if any
//! invalidation does not arrive within ten seconds (a lost invalidation; the bound is loose
//! because CI runs many server-backed test binaries on two cores).

use crate::common;

use std::time::Duration;

use session_core::{Clock, Session, Store, SystemClock, UserId};

testkit::shared_server!(testkit::RedisServer, testkit::redis_or_skip().await);

const WRITES: usize = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidation_latency_over_ten_thousand_writes() {
    let Some(server) = server().await else { return };
    let prefix = testkit::unique_prefix("latency");
    let a = common::hybrid(server.url(), &prefix).await;
    let b = common::hybrid(server.url(), &prefix).await;
    let s = a
        .create(
            Session::builder(
                UserId::new("lat").unwrap(),
                SystemClock.now(),
                Duration::from_secs(600),
            )
            .build(),
        )
        .await
        .unwrap();
    common::cache(&b, &s.id).await;
    let mut latest = s;
    let mut samples = Vec::with_capacity(WRITES);
    for _ in 0..WRITES {
        // B caches the current version...
        let seen = b.get(&latest.id).await.unwrap().unwrap();
        assert_eq!(seen.version, latest.version);
        assert!(b.l1_contains(&latest.id));
        // ...A writes, and the clock runs from A's acknowledgement to B's eviction of the old
        // version (B reads the new one back in the background: the entry was in use).
        let (written, took) = testkit::scenarios::invalidation_after_write(
            &a,
            &latest,
            |id| b.l1_peek(id).map(|c| c.version),
            Duration::from_secs(1),
        )
        .await;
        latest = written;
        samples.push(took);
    }
    samples.sort();
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize];
    println!(
        "invalidation latency over {WRITES} writes: p50 {:?}, p99 {:?}, max {:?}",
        pct(0.50),
        pct(0.99),
        samples[samples.len() - 1]
    );
    testkit::cleanup_prefix(server.url(), &prefix)
        .await
        .unwrap();
}
