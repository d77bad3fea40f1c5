//! What each RedisStore operation costs the server, counted by the server: MONITOR lists every
//! command a client sent (a round trip each, standalone) and every command a script ran
//! (marked `lua`), in the scenario of `testkit::round_trips` that store-redis's round-trip
//! test asserts, here so the report can put the counts beside the latencies. Times nothing.
//!
//! MONITOR sees every client, so this runs only on a server testkit started for it (a
//! container or a binary), never on a `REDIS_URL` shared with others.
//!
//! Prints a table; with `SESSION_BENCH_ROUND_TRIPS=PATH` also writes it there as JSON.

use store_redis::{RedisConfig, RedisStore};
use testkit::Monitor;
use testkit::round_trips::{self, Scenario};

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let Some(server) = rt.block_on(testkit::redis_or_skip()) else {
        return;
    };
    if !server.owned() {
        eprintln!(
            "round_trips: skipped: {} is shared, and MONITOR would count other clients' \
             commands (unset REDIS_URL to let testkit start a server for this)",
            server.description()
        );
        return;
    }
    eprintln!("Redis for this run: {}", server.description());
    let prefix = testkit::unique_prefix("bench-rt");
    let rows = rt.block_on(async {
        let store = RedisStore::connect(RedisConfig::new(server.url()).prefix(prefix.clone()))
            .await
            .unwrap();
        let mut monitor = Monitor::of(&server).unwrap();
        // Warm (scripts loaded, connections made), with 10 sessions of one user counted.
        let scenario = Scenario {
            sessions: 10,
            warm_up: true,
        };
        let rows = round_trips::run(&store, &mut monitor, scenario).await;
        drop(monitor);
        testkit::cleanup_prefix(server.url(), &prefix)
            .await
            .unwrap();
        rows
    });

    print!("{}", round_trips::table(&rows));
    if let Some(path) = std::env::var_os("SESSION_BENCH_ROUND_TRIPS") {
        let json = serde_json::json!({
            "server": server.description(),
            "operations": rows.iter().map(|r| serde_json::json!({
                "operation": r.op,
                "round_trips": r.cost.sent.len(),
                "commands_sent": r.cost.sent,
                "commands_total": r.cost.total(),
            })).collect::<Vec<_>>(),
        });
        std::fs::write(&path, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
    }
}
