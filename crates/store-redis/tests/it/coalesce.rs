//! Coalesced reads (`RedisConfig::coalesce_reads`) on a real server: a batch never hands one
//! caller's session to another (ids, contents and order checked under 64-task load, standalone
//! and Sentinel), a lone get is sent at once as a plain GET while concurrent gets merge into
//! one MGET (counted by the server, `testkit::Monitor`), and a corrupt or expired record is
//! its own caller's error or miss only.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use redis::AsyncCommands;
use session_core::{
    Clock, ConnectionId, Error, Session, SessionId, SessionState, Store, SystemClock, UserId, codec,
};
use store_redis::{RedisConfig, RedisStore};

testkit::shared_server!(testkit::RedisServer, testkit::redis_or_skip().await);

const SESSIONS: usize = 128;
const TASKS: usize = 64;
const ROUNDS: usize = 40;

fn session(i: usize) -> Session {
    Session::builder(
        UserId::new(format!("co-user-{i}")).unwrap(),
        SystemClock.now(),
        Duration::from_secs(600),
    )
    .connection_id(ConnectionId::new())
    .state(SessionState::Active)
    .metadata("n", i.to_string())
    .metadata("user_id", format!("{}", 4_211_337 + i))
    .build()
}

async fn store(url: &str, prefix: &str, coalesce: bool) -> RedisStore {
    RedisStore::connect(
        RedisConfig::new(url)
            .prefix(prefix)
            .coalesce_reads(coalesce),
    )
    .await
    .expect("connect the store")
}

async fn create_all(store: &RedisStore, n: usize) -> Vec<Arc<Session>> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(store.create(session(i)).await.expect("create"));
    }
    out
}

/// 64 tasks read overlapping sessions by `get` and `get_many` (with a missing id in the
/// middle) at once; every answer must be exactly the sessions asked for, in the order asked.
async fn no_caller_gets_another_callers_session(url: &str, cleanup_url: &str, name: &str) {
    let prefix = testkit::unique_prefix(name);
    let store = store(url, &prefix, true).await;
    let sessions = Arc::new(create_all(&store, SESSIONS).await);
    let tasks = (0..TASKS).map(|t| {
        let store = store.clone();
        let sessions = Arc::clone(&sessions);
        tokio::spawn(async move {
            for round in 0..ROUNDS {
                let i = (t * 7 + round * 13) % SESSIONS;
                let got = store.get(&sessions[i].id).await.expect("get");
                assert_eq!(
                    got.as_deref(),
                    Some(&*sessions[i]),
                    "task {t} round {round}: get of session {i}"
                );
                if round % 3 == 0 {
                    let j = (i + 1 + t) % SESSIONS;
                    let ids = [sessions[j].id, SessionId::new(), sessions[i].id];
                    let got = store.get_many(&ids).await.expect("get_many");
                    let want = [Some(&*sessions[j]), None, Some(&*sessions[i])];
                    assert_eq!(
                        got.iter().map(|s| s.as_deref()).collect::<Vec<_>>(),
                        want,
                        "task {t} round {round}: get_many of sessions {j}, a missing id, {i}"
                    );
                }
            }
        })
    });
    for r in join_all(tasks).await {
        r.expect("a reader task panicked");
    }
    testkit::cleanup_prefix(cleanup_url, &prefix)
        .await
        .expect("clean up the test prefix");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coalesced_batch_never_returns_one_callers_session_to_another() {
    let Some(server) = server().await else { return };
    no_caller_gets_another_callers_session(server.url(), server.url(), "coalesce-load").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coalesced_batch_never_returns_one_callers_session_to_another_sentinel() {
    let Some(sentinel) = testkit::sentinel().await else {
        return;
    };
    no_caller_gets_another_callers_session(
        &sentinel.url(),
        &sentinel.primary_url(),
        "coalesce-sentinel",
    )
    .await;
}

/// Counted by the server: sequential gets are plain GETs (a lone get never waits for a
/// batch), 64 gets polled together are one GET and one MGET of the other 63 (one read in
/// flight), with the default two in flight two GETs and one MGET, and with the switch off
/// 64 GETs.
#[tokio::test(flavor = "current_thread")]
async fn a_lone_get_is_sent_at_once_and_concurrent_gets_merge_into_one_mget() {
    let Some(server) = testkit::server(testkit::Flavor::Redis).await else {
        return;
    };
    let prefix = testkit::unique_prefix("coalesce-monitor");
    // One read in flight, so the counts below are exact (the default, 2, sends a second
    // read at once too).
    let coalesced = RedisStore::connect(
        RedisConfig::new(server.url())
            .prefix(&prefix)
            .coalesce_in_flight(1),
    )
    .await
    .expect("connect the store");
    let plain = store(server.url(), &prefix, false).await;
    let sessions = create_all(&coalesced, TASKS).await;
    let mut monitor = testkit::Monitor::of(&server).expect("MONITOR");

    monitor.mark().unwrap();
    for s in &sessions[..5] {
        assert_eq!(coalesced.get(&s.id).await.unwrap().as_deref(), Some(&**s));
    }
    let cost = monitor.cost_since_mark().unwrap();
    assert_eq!(cost.sent, ["get"; 5], "five gets one after another");

    monitor.mark().unwrap();
    let got = join_all(sessions.iter().map(|s| coalesced.get(&s.id))).await;
    let cost = monitor.cost_since_mark().unwrap();
    for (s, g) in sessions.iter().zip(got) {
        assert_eq!(g.unwrap().as_deref(), Some(&**s));
    }
    assert_eq!(
        cost.sent,
        ["get", "mget"],
        "64 gets at once: the first sent alone, the other 63 batched behind it"
    );

    let default = store(server.url(), &prefix, true).await;
    monitor.mark().unwrap();
    let got = join_all(sessions.iter().map(|s| default.get(&s.id))).await;
    let cost = monitor.cost_since_mark().unwrap();
    assert!(got.iter().all(|g| matches!(g, Ok(Some(_)))));
    assert_eq!(
        cost.sent,
        ["get", "get", "mget"],
        "64 gets at once, two in flight: two sent alone, 62 batched"
    );

    monitor.mark().unwrap();
    let ids: Vec<SessionId> = sessions.iter().map(|s| s.id).collect();
    let (many, one) = futures::join!(coalesced.get_many(&ids[..10]), coalesced.get(&ids[20]));
    let cost = monitor.cost_since_mark().unwrap();
    assert_eq!(many.unwrap().len(), 10);
    assert_eq!(one.unwrap().map(|s| s.id), Some(ids[20]));
    assert_eq!(
        cost.sent,
        ["mget", "get"],
        "a get_many does not wait either"
    );

    monitor.mark().unwrap();
    let got = join_all(sessions.iter().map(|s| plain.get(&s.id))).await;
    let cost = monitor.cost_since_mark().unwrap();
    assert!(got.iter().all(|g| matches!(g, Ok(Some(_)))));
    assert_eq!(
        cost.sent,
        vec!["get"; TASKS],
        "coalescing off: one GET per get"
    );
    drop(monitor);
    testkit::cleanup_prefix(server.url(), &prefix)
        .await
        .expect("clean up the test prefix");
}

/// In one batch: a record of garbage, a record of another session, and a record whose
/// session has expired (Redis still holds it); each is its caller's `Error::Codec` or miss,
/// and every other caller gets its own session.
#[tokio::test(flavor = "current_thread")]
async fn a_corrupt_or_expired_record_in_a_batch_is_its_own_callers_error_or_miss_only() {
    let Some(server) = server().await else { return };
    let prefix = testkit::unique_prefix("coalesce-corrupt");
    let store = store(server.url(), &prefix, true).await;
    let mut raw = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let sessions = create_all(&store, 32).await;
    let key = |s: &Session| format!("{prefix}:s:{{{}}}", s.id);
    let _: () = raw.set(key(&sessions[3]), b"garbage").await.unwrap();
    let other = codec::encode(&sessions[5]);
    let _: () = raw.set(key(&sessions[4]), other).await.unwrap();
    let mut expired = Session::clone(&sessions[6]);
    expired.expires_at = SystemClock.now() - Duration::from_secs(1);
    let _: () = raw
        .set(key(&sessions[6]), codec::encode(&expired))
        .await
        .unwrap();

    // Several rounds, so the bad records sit at different places in the batch.
    for round in 0..4 {
        let order: Vec<&Arc<Session>> = sessions
            .iter()
            .cycle()
            .skip(round * 7)
            .take(sessions.len())
            .collect();
        let got = join_all(order.iter().map(|s| store.get(&s.id))).await;
        for (s, g) in order.iter().zip(got) {
            let i = sessions.iter().position(|x| x.id == s.id).unwrap();
            match i {
                3 | 4 => assert!(
                    matches!(g, Err(Error::Codec(_))),
                    "round {round}: session {i} must be a codec error, got {g:?}"
                ),
                6 => assert_eq!(g.unwrap(), None, "round {round}: expired session"),
                _ => assert_eq!(
                    g.unwrap().as_deref(),
                    Some(&***s),
                    "round {round}: session {i}"
                ),
            }
        }
    }
    testkit::cleanup_prefix(server.url(), &prefix)
        .await
        .expect("clean up the test prefix");
}
