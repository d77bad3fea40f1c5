//! Replica reads (feature `replicas`): on a Cluster with one replica per primary, `get` and
//! `get_many` are answered by replicas, checked with the replicas' own command counters.
#![cfg(feature = "replicas")]

use std::time::{Duration, Instant};

use session_core::{Clock, Session, Store, SystemClock, UserId};
use store_redis::{RedisConfig, RedisStore};

async fn gets_served(url: &str) -> u64 {
    let mut c = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut c)
        .await
        .unwrap();
    let calls = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("cmdstat_{name}:calls=")))
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    calls("get") + calls("mget")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_go_to_replicas_on_a_cluster() {
    let Some(cluster) = testkit::cluster(1).await else {
        return;
    };
    let prefix = testkit::unique_prefix("replicas");
    let store = RedisStore::connect(
        RedisConfig::new(cluster.url())
            .prefix(prefix.clone())
            .replica_reads(true),
    )
    .await
    .unwrap();
    let mut ids = Vec::new();
    for i in 0..20 {
        let s = Session::builder(
            UserId::new(format!("u{i}")).unwrap(),
            SystemClock.now(),
            Duration::from_secs(300),
        )
        .build();
        ids.push(store.create(s).await.unwrap().id);
    }
    let replicas: Vec<String> = cluster
        .replicas()
        .iter()
        .map(|n| format!("redis://{n}"))
        .collect();
    let mut before = 0;
    for r in &replicas {
        before += gets_served(r).await;
    }
    // Replication is asynchronous: read until every session is visible (bounded).
    let start = Instant::now();
    loop {
        let got = store.get_many(&ids).await.unwrap();
        if got.iter().all(Option::is_some) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "replicas never caught up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for id in &ids {
        assert!(store.get(id).await.unwrap().is_some());
    }
    let mut after = 0;
    for r in &replicas {
        after += gets_served(r).await;
    }
    assert!(
        after >= before + ids.len() as u64,
        "replicas served {} reads, expected at least {}",
        after - before,
        ids.len()
    );
    testkit::cleanup_prefix(&cluster.url(), &prefix)
        .await
        .unwrap();
}
