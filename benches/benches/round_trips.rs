//! What each RedisStore operation costs the server, counted by the server: MONITOR lists every
//! command a client sent (a round trip each, standalone) and every command a script ran
//! (marked `lua`), through `testkit::Monitor` as in `crates/store-redis/tests/round_trips.rs`,
//! here so the report can put the counts beside the latencies. Times nothing.
//!
//! MONITOR sees every client, so this runs only on a server testkit started for it (a
//! container or a binary), never on a `REDIS_URL` shared with others.
//!
//! Prints a table; with `SESSION_BENCH_ROUND_TRIPS=PATH` also writes it there as JSON.

use std::time::Duration;

use session_core::{
    Clock, ConnectionId, ListFilter, Session, SessionState, Store, SystemClock, UserId,
};
use store_redis::{RedisConfig, RedisStore};
use testkit::{Monitor, OpCost};

struct Row {
    op: &'static str,
    cost: OpCost,
}

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
    let addr = server
        .url()
        .strip_prefix("redis://")
        .unwrap_or(server.url())
        .to_owned();
    let prefix = testkit::unique_prefix("bench-rt");
    let rows = rt.block_on(async {
        let store = RedisStore::connect(RedisConfig::new(server.url()).prefix(prefix.clone()))
            .await
            .unwrap();
        let now = SystemClock.now();
        let user = UserId::new("rt-user").unwrap();
        let mk = || {
            Session::builder(user.clone(), now, Duration::from_secs(600))
                .connection_id(ConnectionId::new())
                .state(SessionState::Active)
                .build()
        };
        let mut ids = Vec::new();
        // Warm up (scripts loaded, connections made) with 10 sessions of one user; with the
        // one `create` adds and the one `update` moves away, the user has 10 when counted.
        for _ in 0..10 {
            ids.push(store.create(mk()).await.unwrap().id);
        }
        let warm = store.get(&ids[0]).await.unwrap().unwrap();
        let mut warm2 = (*warm).clone();
        warm2.state = SessionState::Idle;
        store.update(warm2).await.unwrap();

        let mut monitor = Monitor::start(&addr).unwrap();
        let mut rows = Vec::new();
        macro_rules! measure {
            ($label:expr, $op:expr) => {{
                monitor.mark().unwrap();
                let out = $op;
                rows.push(Row {
                    op: $label,
                    cost: monitor.cost_since_mark().unwrap(),
                });
                out
            }};
        }
        let s = measure!("create", store.create(mk()).await.unwrap());
        ids.push(s.id);
        measure!("get", store.get(&s.id).await.unwrap().unwrap());
        measure!("get_many(10)", store.get_many(&ids[..10]).await.unwrap());
        let mut next = (*s).clone();
        next.state = SessionState::Idle;
        let s = measure!("update", store.update(next).await.unwrap());
        let mut moved = (*s).clone();
        moved.user_id = UserId::new("rt-other").unwrap();
        moved.connection_id = Some(ConnectionId::new());
        let s = measure!(
            "update (user and connection moved)",
            store.update(moved).await.unwrap()
        );
        measure!(
            "touch",
            store
                .touch(&s.id, now + Duration::from_secs(900))
                .await
                .unwrap()
        );
        let by_user = measure!(
            "get_by_user_id(10)",
            store.get_by_user_id(&user).await.unwrap()
        );
        assert_eq!(by_user.len(), 10);
        measure!(
            "get_by_connection_id",
            store
                .get_by_connection_id(&s.connection_id.unwrap())
                .await
                .unwrap()
        );
        measure!("count", store.count().await.unwrap());
        measure!(
            "list (page of 5)",
            store.list(&ListFilter::new().limit(5)).await.unwrap()
        );
        measure!("delete", store.delete(&s.id).await.unwrap());
        measure!("delete_expired", store.delete_expired().await.unwrap());
        let deleted = measure!(
            "delete_by_user_id(10)",
            store.delete_by_user_id(&user, None).await.unwrap()
        );
        assert_eq!(deleted.len(), 10);
        drop(monitor);
        testkit::cleanup_prefix(server.url(), &prefix)
            .await
            .unwrap();
        rows
    });

    println!(
        "| operation | commands sent (round trips) | which | commands run incl. inside scripts |"
    );
    println!("|---|---:|---|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} |",
            r.op,
            r.cost.sent.len(),
            r.cost.sent.join(", "),
            r.cost.total()
        );
    }
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
