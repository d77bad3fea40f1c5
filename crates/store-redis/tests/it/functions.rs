//! The store's Lua code as a library of Redis Functions: FCALL when the library is loaded,
//! the library loaded again when a server has lost it, and scripts (EVALSHA) when functions
//! are turned off or the server refuses FUNCTION LOAD. MONITOR tells which was sent, so these
//! run on a server testkit started for this module.

use std::time::Duration;

use session_core::{Clock, Session, Store, SystemClock, UserId};
use store_redis::RedisStore;
use testkit::Monitor;

use crate::common;

testkit::shared_server!(testkit::RedisServer, testkit::redis_or_skip().await);

fn session(user: &str) -> Session {
    Session::builder(
        UserId::new(user).unwrap(),
        SystemClock.now(),
        Duration::from_secs(600),
    )
    .build()
}

/// The libraries on the server named as the store names its own (`session_stores_` and a
/// 16-digit hash).
async fn libraries(raw: &mut redis::aio::MultiplexedConnection) -> Vec<String> {
    fn strings(v: &redis::Value, out: &mut Vec<String>) {
        match v {
            redis::Value::BulkString(b) => out.push(String::from_utf8_lossy(b).into_owned()),
            redis::Value::SimpleString(s) => out.push(s.clone()),
            redis::Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
            redis::Value::Map(pairs) => pairs.iter().for_each(|(k, v)| {
                strings(k, out);
                strings(v, out);
            }),
            _ => {}
        }
    }
    let list: redis::Value = redis::cmd("FUNCTION")
        .arg("LIST")
        .arg("LIBRARYNAME")
        .arg("session_stores_*")
        .query_async(raw)
        .await
        .unwrap();
    let mut all = Vec::new();
    strings(&list, &mut all);
    all.into_iter()
        .filter(|s| s.starts_with("session_stores_") && s.len() == 31)
        .collect()
}

/// A create, an update, a touch and a delete on `store`; the commands sent for them.
async fn writes(store: &RedisStore, monitor: &mut Monitor) -> Vec<String> {
    monitor.mark().unwrap();
    let s = store.create(session("fn-user")).await.unwrap();
    let mut next = Session::clone(&s);
    next.stats.packets_sent += 1;
    let s = store.update(next).await.unwrap();
    let later = SystemClock.now() + Duration::from_secs(1200);
    let s = store.touch(&s.id, later).await.unwrap();
    assert_eq!(store.get(&s.id).await.unwrap().unwrap().expires_at, later);
    assert!(store.delete(&s.id).await.unwrap());
    assert!(store.get(&s.id).await.unwrap().is_none());
    monitor.cost_since_mark().unwrap().sent
}

/// The module's server (one testkit started: MONITOR and ACL changes are not for a shared
/// one) and an independent client on it.
async fn setup() -> Option<(
    &'static testkit::RedisServer,
    redis::aio::MultiplexedConnection,
)> {
    let server = server().await?;
    let raw = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    Some((server, raw))
}

/// The commands sent by [`writes`] on a store connected with `config` under a fresh prefix
/// on `server`, which is cleaned up after.
async fn sent_with(
    server: &testkit::RedisServer,
    config: impl FnOnce(&str) -> store_redis::RedisConfig,
) -> Vec<String> {
    let prefix = testkit::unique_prefix("functions");
    let store = RedisStore::connect(config(&prefix)).await.unwrap();
    let mut monitor = Monitor::of(server).unwrap();
    let sent = writes(&store, &mut monitor).await;
    drop(monitor);
    testkit::cleanup_prefix(server.url(), &prefix)
        .await
        .unwrap();
    sent
}

/// With functions on (the default), the writes are FCALLs of the store's library, which
/// connect loaded; after the library is deleted on the server (as a restart without
/// persistence loses it), the next write loads it again and succeeds.
#[tokio::test]
async fn writes_are_fcalls_and_a_lost_library_is_loaded_again() {
    let Some((server, mut raw)) = setup().await else {
        return;
    };
    let prefix = testkit::unique_prefix("functions-on");
    let store = RedisStore::connect(common::config(server.url(), &prefix))
        .await
        .unwrap();
    let libs = libraries(&mut raw).await;
    assert!(!libs.is_empty(), "connect loaded no library");
    let mut monitor = Monitor::of(server).unwrap();
    let sent = writes(&store, &mut monitor).await;
    assert!(sent.iter().any(|c| c == "fcall"), "{sent:?}");
    assert!(!sent.iter().any(|c| c.starts_with("eval")), "{sent:?}");

    for lib in &libs {
        let _: () = redis::cmd("FUNCTION")
            .arg("DELETE")
            .arg(lib)
            .query_async(&mut raw)
            .await
            .unwrap();
    }
    assert!(libraries(&mut raw).await.is_empty());
    let sent = writes(&store, &mut monitor).await;
    assert!(
        sent.iter().any(|c| c == "function"),
        "not loaded again: {sent:?}"
    );
    assert!(!sent.iter().any(|c| c.starts_with("eval")), "{sent:?}");
    assert!(!libraries(&mut raw).await.is_empty());
    drop(monitor);
    testkit::cleanup_prefix(server.url(), &prefix)
        .await
        .unwrap();
}

/// With functions off, the same writes run as scripts (EVALSHA), and behave the same (the
/// conformance suite runs on such a store too: `conformance_scripts`).
#[tokio::test]
async fn with_functions_off_writes_are_scripts() {
    let Some((server, _)) = setup().await else {
        return;
    };
    let sent = sent_with(server, |prefix| {
        common::config(server.url(), prefix).functions(false)
    })
    .await;
    assert!(sent.iter().any(|c| c == "evalsha"), "{sent:?}");
    assert!(!sent.iter().any(|c| c == "fcall"), "{sent:?}");
}

/// A user whose ACL denies FUNCTION (but allows scripts) gets a working store on scripts:
/// connect does not fail, and every write runs as EVALSHA.
#[tokio::test]
async fn a_server_that_refuses_function_load_gets_scripts() {
    let Some((server, mut raw)) = setup().await else {
        return;
    };
    let user = testkit::unique_prefix("nofn");
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg(&user)
        .arg("on")
        .arg(">pw")
        .arg("~*")
        .arg("&*")
        .arg("+@all")
        .arg("-function")
        .arg("-fcall")
        .query_async(&mut raw)
        .await
        .unwrap();
    let url = server
        .url()
        .replacen("redis://", &format!("redis://{user}:pw@"), 1);
    let sent = sent_with(server, |prefix| common::config(&url, prefix)).await;
    assert!(sent.iter().any(|c| c == "evalsha"), "{sent:?}");
    assert!(!sent.iter().any(|c| c == "fcall"), "{sent:?}");
    let _: () = redis::cmd("ACL")
        .arg("DELUSER")
        .arg(&user)
        .query_async(&mut raw)
        .await
        .unwrap();
}
