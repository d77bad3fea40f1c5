//! The local cluster forms, covers every slot, and works through redis-rs's cluster client,
//! through fred with the URL it hands out, and with cleanup_prefix.

use crate::common::timed;

use fred::prelude::{Builder, ClientLike, Config, KeysInterface};
use redis::AsyncCommands;

async fn node_query<T: redis::FromRedisValue>(node: &str, cmd: &redis::Cmd) -> T {
    let client = redis::Client::open(format!("redis://{node}")).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    cmd.query_async(&mut con).await.unwrap()
}

async fn check(replicas_per_primary: usize) {
    let Some((cluster, took)) = timed(testkit::cluster(replicas_per_primary)).await else {
        return;
    };
    eprintln!(
        "cluster({replicas_per_primary}) ready in {took:?}: {}",
        cluster.url()
    );
    let nodes = cluster.nodes();
    assert_eq!(nodes.len(), 3 * (1 + replicas_per_primary));
    assert_eq!(cluster.primaries(), nodes[..3].to_vec());
    assert_eq!(cluster.replicas().len(), 3 * replicas_per_primary);

    for node in &nodes {
        let info: String = node_query(node, redis::cmd("CLUSTER").arg("INFO")).await;
        assert!(info.contains("cluster_state:ok"), "{node}: {info}");
        assert!(
            info.contains("cluster_slots_assigned:16384"),
            "{node}: {info}"
        );
    }
    // CLUSTER SLOTS: 3 ranges, 16384 slots, each served by a distinct primary (+ replicas).
    let slots: Vec<redis::Value> = node_query(&nodes[0], redis::cmd("CLUSTER").arg("SLOTS")).await;
    let mut covered = 0;
    let mut owners = Vec::new();
    for range in &slots {
        let redis::Value::Array(parts) = range else {
            panic!("{range:?}")
        };
        let (redis::Value::Int(lo), redis::Value::Int(hi)) = (&parts[0], &parts[1]) else {
            panic!("{range:?}")
        };
        covered += hi - lo + 1;
        let redis::Value::Array(primary) = &parts[2] else {
            panic!("{range:?}")
        };
        let redis::Value::Int(port) = &primary[1] else {
            panic!("{range:?}")
        };
        owners.push(format!("127.0.0.1:{port}"));
        assert_eq!(
            parts.len() - 3,
            replicas_per_primary,
            "replicas of {range:?}"
        );
    }
    owners.sort();
    let mut primaries = cluster.primaries();
    primaries.sort();
    assert_eq!((covered, owners), (16384, primaries));

    // redis-rs's cluster client, keys spread over all slots.
    let prefix = testkit::unique_prefix("cluster");
    let client = redis::cluster::ClusterClient::new(cluster.node_urls()).unwrap();
    let mut con = client.get_async_connection().await.unwrap();
    for i in 0..200 {
        let () = con.set(format!("{prefix}:{i}"), i).await.unwrap();
    }
    for i in 0..200 {
        let v: i64 = con.get(format!("{prefix}:{i}")).await.unwrap();
        assert_eq!(v, i);
    }

    // fred, with the URL as given.
    let config = Config::from_url(&cluster.url()).unwrap();
    let fred = Builder::from_config(config).build().unwrap();
    fred.init().await.unwrap();
    for i in 0..50 {
        let v: i64 = fred.get(format!("{prefix}:{i}")).await.unwrap();
        assert_eq!(v, i);
        let () = fred
            .set(format!("{prefix}:fred:{i}"), i, None, None, false)
            .await
            .unwrap();
    }
    fred.quit().await.unwrap();

    // Cleanup reaches every primary, through the cluster URL or any one node's URL.
    let other = testkit::unique_prefix("cluster-other");
    let () = con.set(format!("{other}:1"), 1).await.unwrap();
    let removed = testkit::cleanup_prefix(&cluster.url(), &prefix)
        .await
        .unwrap();
    assert_eq!(removed, 250);
    let removed = testkit::cleanup_prefix(&cluster.node_urls()[0], &other)
        .await
        .unwrap();
    assert_eq!(removed, 1);
    for node in &nodes {
        let size: u64 = node_query(node, &redis::cmd("DBSIZE")).await;
        assert_eq!(size, 0, "{node}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_of_three_primaries() {
    check(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_with_a_replica_per_primary() {
    check(1).await;
}
