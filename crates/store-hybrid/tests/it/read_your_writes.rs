//! Read-your-writes on one instance: once a write through an instance has returned, every
//! read through that instance sees it (or something newer), with no window. The dangerous
//! case is a single-flight Redis read that began before the write: a read that misses after
//! the write returned must not join it.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use crate::common::{live, session};
use session_core::{SessionState, Store};

testkit::shared_server!(testkit::RedisServer, testkit::redis_or_skip().await);

/// Keeps the server busy for a moment (a script that spins), so that a read sent meanwhile
/// is answered only after the write sent after it is queued behind it.
async fn hold_the_server(url: &str) -> tokio::task::JoinHandle<()> {
    // No response timeout: the script's answer comes only when it stops spinning, which on a
    // loaded machine can be well past redis-rs's default of 500 ms.
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    let mut raw = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .unwrap();
    let spin = "local t = redis.call('TIME'); local stop = t[1] * 1000000 + t[2] + 300000; \
                repeat t = redis.call('TIME') until t[1] * 1000000 + t[2] >= stop; return 1";
    let task = tokio::spawn(async move {
        let _: i64 = redis::cmd("EVAL")
            .arg(spin)
            .arg(0)
            .query_async(&mut raw)
            .await
            .unwrap();
    });
    // Give the script time to start.
    tokio::time::sleep(Duration::from_millis(50)).await;
    task
}

/// Polls `f` once, so that it begins now (a read that misses joins or starts a flight).
async fn poll_once<F: Future>(mut f: Pin<&mut F>) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(f.as_mut().poll(cx))).await
}

/// Polls `f` once (so that its Redis read is sent), then leaves it parked.
async fn start<F: Future<Output: std::fmt::Debug>>(mut f: Pin<&mut F>) {
    std::future::poll_fn(|cx| {
        let r = f.as_mut().poll(cx);
        assert!(r.is_pending(), "the read did not go to Redis: {r:?}");
        Poll::Ready(())
    })
    .await;
}

/// Begins `new` (polled once, so that it finds whatever flight is registered) before `old`, a
/// read parked mid-flight, ends; returns both answers.
async fn old_and_new<F: Future, G: Future>(old: Pin<&mut F>, new: G) -> (F::Output, G::Output) {
    tokio::pin!(new);
    let first = poll_once(new.as_mut()).await;
    let old = old.await;
    let new = match first {
        Poll::Ready(r) => r,
        Poll::Pending => new.await,
    };
    (old, new)
}

/// A read parked mid-flight, a write through the same instance, then a new read: the new read
/// must see the write. Before the fix the new read joined the parked flight and got the
/// version the flight read before the write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_after_a_write_never_joins_an_older_flight() {
    let Some(server) = server().await else {
        return;
    };
    let prefix = testkit::unique_prefix("ryw");
    let store = live(server.url(), &prefix).await;

    // Delete.
    let s = store.create(session("ryw-delete")).await.unwrap();
    store.evict(&s.id);
    let busy = hold_the_server(server.url()).await;
    let old = store.get(&s.id);
    tokio::pin!(old);
    start(old.as_mut()).await;
    assert!(store.delete(&s.id).await.unwrap());
    // The new read begins (and finds whatever flight is registered) before the old one ends.
    let (old, new) = old_and_new(old.as_mut(), store.get(&s.id)).await;
    assert!(
        old.unwrap().is_some(),
        "the parked read began before the delete"
    );
    assert!(
        new.unwrap().is_none(),
        "a read that began after this instance's delete returned got the session"
    );

    // Update.
    let s = store.create(session("ryw-update")).await.unwrap();
    store.evict(&s.id);
    let busy2 = hold_the_server(server.url()).await;
    let old = store.get(&s.id);
    tokio::pin!(old);
    start(old.as_mut()).await;
    let mut next = (*s).clone();
    next.state = SessionState::Idle;
    let written = store.update(next).await.unwrap();
    // The new read begins (and finds whatever flight is registered) before the old one ends.
    let (old, new) = old_and_new(old.as_mut(), store.get(&s.id)).await;
    assert_eq!(old.unwrap().unwrap().version, 1);
    assert_eq!(
        new.unwrap().unwrap().version,
        written.version,
        "a read that began after this instance's update returned got an older version"
    );

    busy.await.unwrap();
    busy2.await.unwrap();
    store.close().await.unwrap();
    testkit::cleanup_prefix(server.url(), &prefix)
        .await
        .unwrap();
}
