//! What each operation costs the server, counted by the server itself (`testkit::Monitor`:
//! MONITOR lists every command a client sent, and every command a script ran), in the
//! scenario the round-trip bench runs too (`testkit::round_trips`). One test in this module,
//! on a server of its own, so nothing else talks to it. Run with `--nocapture` to see the
//! table.

use store_redis::{RedisConfig, RedisStore};
use testkit::round_trips::{self, Scenario};

testkit::shared_server!(testkit::RedisServer, testkit::any_server().await);

#[tokio::test]
async fn each_operation_costs_one_round_trip_standalone() {
    let Some(server) = server().await else { return };
    let prefix = testkit::unique_prefix("rt");
    let store = RedisStore::connect(RedisConfig::new(server.url()).prefix(prefix.clone()))
        .await
        .unwrap();
    let mut monitor = testkit::Monitor::of(server).expect("MONITOR");
    // Cold: the first update is counted too (no warm-up), so a script not yet loaded shows.
    let scenario = Scenario {
        sessions: 9,
        warm_up: false,
    };
    let rows = round_trips::run(&store, &mut monitor, scenario).await;
    for row in &rows {
        assert!(
            row.cost.sent.len() <= row.bound,
            "{}: {} commands sent ({:?}), at most {} allowed",
            row.op,
            row.cost.sent.len(),
            row.cost.sent,
            row.bound
        );
    }
    // touch: one script when it can vouch for the record; when it cannot (text beyond
    // ASCII), the script and then the compare-and-set, with no read between: the fallback
    // path is taken, and costs what every touch cost before.
    let sent = |op: &str| {
        let row = rows.iter().find(|r| r.op == op).expect("a row for the op");
        row.cost.sent.clone()
    };
    assert_eq!(sent("touch"), ["fcall"]);
    assert_eq!(
        sent(round_trips::TOUCH_DECODED_BY_CLIENT),
        ["fcall", "fcall"]
    );
    print!("{}", round_trips::table(&rows));
    drop(monitor);
    testkit::cleanup_prefix(server.url(), &prefix)
        .await
        .unwrap();
}
