//! What each RedisStore operation costs the server, in instructions: the realistic session
//! (`shared/BENCH-PAYLOAD.md`), `N` (default 200) operations of each kind against a
//! redis-server that runs under callgrind, its counters dumped after each kind. Instruction
//! counts do not depend on how busy the machine is, so two builds (or two Lua variants)
//! compare in any sitting, where INFO commandstats times swing with the other core's load.
//!
//! `benches/server_cost.sh` runs it (valgrind, one redis-server on a free loopback port,
//! collecting only inside `processCommand`) and prints instructions per operation beside a
//! raw GET of the same record. By hand: start the server under
//! `valgrind --tool=callgrind --collect-atstart=no --toggle-collect=processCommand`, then
//! run this with `REDIS_URL` and `CG_PID` (the valgrind process) set.

use std::time::Duration;

use fred::prelude::KeysInterface;
use session_core::{Clock, Session, Store, SystemClock};
use store_redis::{RedisConfig, RedisStore};

/// Dumps (and resets) the server's callgrind counters, named after the phase just run.
fn dump(name: &str) {
    let pid = std::env::var("CG_PID").expect("CG_PID: the valgrind process (see server_cost.sh)");
    let out = std::process::Command::new("callgrind_control")
        .args([&format!("--dump={name}"), &pid])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let url = std::env::var("REDIS_URL").unwrap();
    let n: usize = std::env::var("N").map_or(200, |v| v.parse().unwrap());
    let prefix = format!("cost{}", std::process::id());
    let store = RedisStore::connect(RedisConfig::new(&url).prefix(prefix.clone()))
        .await
        .unwrap();
    let raw = benches::raw_client(&url).await;
    let now = SystemClock.now();
    let user = benches::seed_user(usize::MAX);
    let mut latest = Vec::new();
    for i in 0..n {
        latest.push(
            store
                .create(benches::realistic_session(i, now))
                .await
                .unwrap(),
        );
    }
    for i in 0..10 {
        let mut s = benches::realistic_session(i, now);
        s.user_id = user.clone();
        store.create(s).await.unwrap();
    }
    let key = format!("{prefix}:raw");
    benches::set_floor(&raw, &key, session_core::codec::encode(&latest[0]).into()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    dump("setup");
    for _ in 0..n {
        let v: Option<fred::bytes::Bytes> = raw.get(&key).await.unwrap();
        assert!(v.is_some());
    }
    dump("get_raw");
    for s in &latest {
        store.get(&s.id).await.unwrap().unwrap();
    }
    dump("get");
    let mut fresh = Vec::new();
    for i in 0..n {
        fresh.push(benches::realistic_session(1_000_000 + i, SystemClock.now()));
    }
    let mut created = Vec::new();
    for s in fresh {
        created.push(store.create(s).await.unwrap());
    }
    dump("create");
    for s in latest.iter_mut() {
        let mut next = Session::clone(s);
        next.stats.packets_sent += 1;
        *s = store.update(next).await.unwrap();
    }
    dump("update");
    for s in latest.iter_mut() {
        *s = store
            .touch(&s.id, SystemClock.now() + Duration::from_secs(1800))
            .await
            .unwrap();
    }
    dump("touch");
    for _ in 0..n {
        assert_eq!(store.get_by_user_id(&user).await.unwrap().len(), 10);
    }
    dump("by_user");
    for s in &created {
        assert!(store.delete(&s.id).await.unwrap());
    }
    dump("delete");
    testkit::cleanup_prefix(&url, &prefix).await.unwrap();
}
