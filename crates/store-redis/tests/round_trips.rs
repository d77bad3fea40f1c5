//! What each operation costs the server, counted by the server itself: MONITOR (through
//! `redis-cli monitor`) lists every command a client sent, and every command a script ran
//! (marked `[.. lua]`). One test in this binary, on its own server, so nothing else talks to
//! it. Run with `--nocapture` to see the table.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use session_core::{
    Clock, ConnectionId, ListFilter, Session, SessionState, Store, SystemClock, UserId,
};
use store_redis::{RedisConfig, RedisStore};

testkit::shared_server!(
    testkit::RedisServer,
    testkit::server(testkit::Flavor::Redis).await
);

struct Monitor {
    lines: Receiver<String>,
    child: std::process::Child,
}

impl Monitor {
    fn start(port: u16) -> Monitor {
        let mut child = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "monitor"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("redis-cli (Debian package redis-tools) on PATH");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // The first line is "OK".
        let ok = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(ok, "OK");
        Monitor { lines: rx, child }
    }

    /// The lines logged up to the ECHO of `marker` (excluded).
    fn until(&self, marker: &str) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(5))
                .expect("monitor line");
            if line.contains(marker) {
                return out;
            }
            out.push(line);
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Cost {
    top: Vec<String>,
    inner: usize,
}

fn cost(lines: Vec<String>) -> Cost {
    let mut top = Vec::new();
    let mut inner = 0;
    for l in lines {
        if l.contains(" lua]") {
            inner += 1;
        } else if let Some(cmd) = l.split('"').nth(1) {
            top.push(cmd.to_lowercase());
        }
    }
    Cost { top, inner }
}

#[tokio::test]
async fn each_operation_costs_one_round_trip_standalone() {
    let Some(server) = server().await else { return };
    let port = server.port().expect("a server testkit started");
    let prefix = testkit::unique_prefix("rt");
    let store = RedisStore::connect(RedisConfig::new(server.url()).prefix(prefix.clone()))
        .await
        .unwrap();
    let mut raw = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let monitor = Monitor::start(port);
    let mut n = 0;
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
            // Flush what came before.
            n += 1;
            let marker = format!("rt-mark-{n}-a");
            let _: String = redis::cmd("ECHO")
                .arg(&marker)
                .query_async(&mut raw)
                .await
                .unwrap();
            monitor.until(&marker);
            let out = $op;
            n += 1;
            let marker = format!("rt-mark-{n}-b");
            let _: String = redis::cmd("ECHO")
                .arg(&marker)
                .query_async(&mut raw)
                .await
                .unwrap();
            let c = cost(monitor.until(&marker));
            assert!(
                c.top.len() <= $max,
                "{}: {} commands sent ({:?}), at most {} allowed",
                $label,
                c.top.len(),
                c.top,
                $max
            );
            table.push(format!(
                "| {} | {} | {} | {} |",
                $label,
                c.top.len(),
                c.top.join(", "),
                c.top.len() + c.inner
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
    measure!(
        "touch",
        1,
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
    assert_eq!(n_deleted, 9);

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
