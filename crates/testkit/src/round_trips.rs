//! The round-trip scenario: every `Store` operation once, each counted by the server through
//! [`Monitor`]. Written once for store-redis's round-trip test (which asserts each count
//! against [`Row::bound`]) and the round-trip bench (which puts the counts in the report).

use std::time::Duration;

use session_core::{
    Clock, ConnectionId, ListFilter, Session, SessionState, Store, SystemClock, UserId,
};

use crate::monitor::{Monitor, OpCost};

/// The row of a touch of a record the touch script leaves to the client to decode (text beyond
/// ASCII): the script, then the compare-and-set.
pub const TOUCH_DECODED_BY_CLIENT: &str = "touch (non-ASCII metadata: decoded by the client)";

/// How the scenario sets up before it counts.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// Sessions of the counted user created first; with the one `create` adds and the one
    /// `update` moves away, the user has this many when `get_by_user_id` and
    /// `delete_by_user_id` are counted.
    pub sessions: usize,
    /// Whether a get and an update run before counting starts (scripts loaded, connections
    /// made), so that the counts are those of a warm store.
    pub warm_up: bool,
}

/// One operation's cost.
#[derive(Debug, Clone)]
pub struct Row {
    /// The operation, e.g. `get_by_user_id(10)`.
    pub op: String,
    /// The most round trips the operation may take (standalone): the store's promise.
    pub bound: usize,
    /// What it cost, as the server counted it.
    pub cost: OpCost,
}

/// Runs the scenario on `store` (a store on the server `monitor` watches) and returns a row
/// per operation, in the order run. Panics if an operation fails or returns what it must not.
pub async fn run<S: Store>(store: &S, monitor: &mut Monitor, scenario: Scenario) -> Vec<Row> {
    let n = scenario.sessions;
    let now = SystemClock.now();
    let user = UserId::new("rt-user").unwrap();
    let mk = || {
        Session::builder(user.clone(), now, Duration::from_secs(600))
            .connection_id(ConnectionId::new())
            .state(SessionState::Active)
            .build()
    };
    let mut ids = Vec::new();
    for _ in 0..n {
        ids.push(store.create(mk()).await.unwrap().id);
    }
    if scenario.warm_up {
        let warm = store.get(&ids[0]).await.unwrap().unwrap();
        let mut warm2 = (*warm).clone();
        warm2.state = SessionState::Idle;
        store.update(warm2).await.unwrap();
    }

    let mut rows = Vec::new();
    macro_rules! measure {
        ($label:expr, $bound:expr, $op:expr) => {{
            monitor.mark().unwrap();
            let out = $op;
            rows.push(Row {
                op: $label.into(),
                bound: $bound,
                cost: monitor.cost_since_mark().unwrap(),
            });
            out
        }};
    }
    let s = measure!("create", 1, store.create(mk()).await.unwrap());
    ids.push(s.id);
    measure!("get", 1, store.get(&s.id).await.unwrap().unwrap());
    let batch = &ids[..ids.len().min(10)];
    measure!(
        format!("get_many({})", batch.len()),
        1,
        store.get_many(batch).await.unwrap()
    );
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
    // touch: one script that rewrites the record only if it is sure the client's decode
    // accepts it, and returns the new record.
    measure!(
        "touch",
        1,
        store
            .touch(&s.id, now + Duration::from_secs(900))
            .await
            .unwrap()
    );
    // A record with text beyond ASCII, which the script leaves to the client: it returns the
    // record, the client decodes it and then sends the compare-and-set.
    let intl = Session::builder(
        UserId::new("rt-intl").unwrap(),
        now,
        Duration::from_secs(600),
    )
    .metadata("city", "Zürich")
    .build();
    let intl = store.create(intl).await.unwrap();
    let touched = measure!(
        TOUCH_DECODED_BY_CLIENT,
        2,
        store
            .touch(&intl.id, now + Duration::from_secs(900))
            .await
            .unwrap()
    );
    assert_eq!(touched.version, intl.version + 1);
    assert_eq!(touched.metadata, intl.metadata);
    store.delete(&intl.id).await.unwrap();
    let by_user = measure!(
        format!("get_by_user_id({n})"),
        1,
        store.get_by_user_id(&user).await.unwrap()
    );
    assert_eq!(by_user.len(), n);
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
    let deleted = measure!(
        format!("delete_by_user_id({n})"),
        1,
        store.delete_by_user_id(&user, None).await.unwrap()
    );
    assert_eq!(deleted.len(), n);
    rows
}

/// The rows as the markdown table both print.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| operation | commands sent (round trips) | which | commands run incl. inside scripts |\n\
         |---|---:|---|---:|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            r.op,
            r.cost.sent.len(),
            r.cost.sent.join(", "),
            r.cost.total()
        ));
    }
    out
}
