//! What each operation costs the server, counted by the server itself (`testkit::Monitor`:
//! MONITOR lists every command a client sent, and every command a script ran). One test in
//! this binary, on its own server, so nothing else talks to it. Run with `--nocapture` to see
//! the table.

mod common;

use std::time::Duration;

use session_core::{
    Clock, ConnectionId, ListFilter, Session, SessionState, Store, SystemClock, UserId,
};
use store_redis::{RedisConfig, RedisStore};

testkit::shared_server!(testkit::RedisServer, testkit::any_server().await);

#[tokio::test]
async fn each_operation_costs_one_round_trip_standalone() {
    let Some(server) = server().await else { return };
    assert!(
        server.owned(),
        "MONITOR needs a server started for this test"
    );
    let addr = server
        .url()
        .strip_prefix("redis://")
        .unwrap_or(server.url())
        .to_owned();
    let prefix = testkit::unique_prefix("rt");
    let store = RedisStore::connect(RedisConfig::new(server.url()).prefix(prefix.clone()))
        .await
        .unwrap();
    let mut monitor = testkit::Monitor::start(&addr).expect("MONITOR");
    let mut table = Vec::new();

    let now = SystemClock.now();
    let user = UserId::new("rt-user").unwrap();
    let mk = || {
        Session::builder(user.clone(), now, Duration::from_secs(600))
            .connection_id(ConnectionId::new())
            .state(SessionState::Active)
            .build()
    };
    let mut ids = Vec::new();
    for _ in 0..9 {
        ids.push(store.create(mk()).await.unwrap().id);
    }

    macro_rules! measure {
        ($label:expr, $max:expr, $op:expr) => {{
            monitor.mark().unwrap();
            let out = $op;
            let c = monitor.cost_since_mark().unwrap();
            assert!(
                c.sent.len() <= $max,
                "{}: {} commands sent ({:?}), at most {} allowed",
                $label,
                c.sent.len(),
                c.sent,
                $max
            );
            table.push(format!(
                "| {} | {} | {} | {} |",
                $label,
                c.sent.len(),
                c.sent.join(", "),
                c.total()
            ));
            out
        }};
    }

    let s = measure!("create", 1, store.create(mk()).await.unwrap());
    ids.push(s.id);
    measure!("get", 1, store.get(&s.id).await.unwrap().unwrap());
    measure!("get_many(10)", 1, store.get_many(&ids).await.unwrap());
    let mut next = (*s).clone();
    next.state = SessionState::Idle;
    let s = measure!("update", 1, store.update(next).await.unwrap());
    let mut moved = (*s).clone();
    moved.user_id = UserId::new("rt-other").unwrap();
    moved.connection_id = Some(ConnectionId::new());
    let s = measure!(
        "update (user and connection moved)",
        1,
        store.update(moved).await.unwrap()
    );
    // touch reads and decodes the record first, then writes with a compare-and-set on its
    // version: a record the client cannot decode is refused before anything is written.
    measure!(
        "touch",
        2,
        store
            .touch(&s.id, now + Duration::from_secs(900))
            .await
            .unwrap()
    );
    let by_user = measure!(
        "get_by_user_id(9)",
        1,
        store.get_by_user_id(&user).await.unwrap()
    );
    assert_eq!(by_user.len(), 9);
    measure!(
        "get_by_connection_id",
        2,
        store
            .get_by_connection_id(&s.connection_id.unwrap())
            .await
            .unwrap()
    );
    measure!("count", 1, store.count().await.unwrap());
    measure!(
        "list (page of 5)",
        2,
        store.list(&ListFilter::new().limit(5)).await.unwrap()
    );
    measure!("delete", 1, store.delete(&s.id).await.unwrap());
    measure!("delete_expired", 1, store.delete_expired().await.unwrap());
    let n_deleted = measure!(
        "delete_by_user_id(9)",
        1,
        store.delete_by_user_id(&user, None).await.unwrap()
    );
    assert_eq!(n_deleted.len(), 9);

    println!(
        "| operation | commands sent (round trips) | which | commands run incl. inside scripts |"
    );
    println!("|---|---:|---|---:|");
    for row in table {
        println!("{row}");
    }
    drop(monitor);
    testkit::cleanup_prefix(server.url(), &prefix)
        .await
        .unwrap();
}
