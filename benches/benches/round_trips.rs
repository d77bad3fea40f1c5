//! What each RedisStore operation costs the server, counted by the server: MONITOR lists every
//! command a client sent (a round trip each, standalone) and every command a script ran
//! (marked `lua`). The same method as `crates/store-redis/tests/round_trips.rs`, here so the
//! report can put the counts beside the latencies. Times nothing.
//!
//! MONITOR sees every client, so this runs only on a server testkit started for it (a
//! container or a binary), never on a `REDIS_URL` shared with others.
//!
//! Prints a table; with `SESSION_BENCH_ROUND_TRIPS=PATH` also writes it there as JSON.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use session_core::{
    Clock, ConnectionId, ListFilter, Session, SessionState, Store, SystemClock, UserId,
};
use store_redis::{RedisConfig, RedisStore};

/// A MONITOR connection; lines arrive on a channel.
struct Monitor {
    lines: Receiver<String>,
    stream: TcpStream,
}

impl Monitor {
    fn start(addr: &str) -> std::io::Result<Monitor> {
        let mut stream = TcpStream::connect(addr)?;
        stream.write_all(b"MONITOR\r\n")?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut ok = String::new();
        reader.read_line(&mut ok)?;
        if ok.trim_end() != "+OK" {
            return Err(std::io::Error::other(format!("MONITOR answered {ok:?}")));
        }
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in reader.lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Monitor { lines: rx, stream })
    }

    /// The lines logged up to the one holding `marker` (excluded).
    fn until(&self, marker: &str) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(5))
                .expect("a MONITOR line within 5 s");
            if line.contains(marker) {
                return out;
            }
            out.push(line);
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

/// A plain connection that sends `ECHO marker` (an inline command) and reads the reply.
struct Marker(TcpStream);

impl Marker {
    fn echo(&mut self, marker: &str) {
        self.0
            .write_all(format!("ECHO {marker}\r\n").as_bytes())
            .unwrap();
        // `$N\r\nmarker\r\n`
        let want = format!("${}\r\n{marker}\r\n", marker.len()).len();
        let mut buf = vec![0; want];
        self.0.read_exact(&mut buf).unwrap();
    }
}

struct Row {
    op: &'static str,
    sent: Vec<String>,
    in_scripts: usize,
}

fn cost(op: &'static str, lines: Vec<String>) -> Row {
    let mut sent = Vec::new();
    let mut in_scripts = 0;
    for l in lines {
        if l.contains(" lua]") {
            in_scripts += 1;
        } else if let Some(cmd) = l.split('"').nth(1) {
            sent.push(cmd.to_lowercase());
        }
    }
    Row {
        op,
        sent,
        in_scripts,
    }
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

        let monitor = Monitor::start(&addr).unwrap();
        let mut marker = Marker(TcpStream::connect(&addr).unwrap());
        let mut n = 0;
        let mut rows = Vec::new();
        macro_rules! measure {
            ($label:expr, $op:expr) => {{
                n += 1;
                let m = format!("rt-mark-{n}-a");
                marker.echo(&m);
                monitor.until(&m);
                let out = $op;
                n += 1;
                let m = format!("rt-mark-{n}-b");
                marker.echo(&m);
                rows.push(cost($label, monitor.until(&m)));
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
        assert_eq!(deleted, 10);
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
            r.sent.len(),
            r.sent.join(", "),
            r.sent.len() + r.in_scripts
        );
    }
    if let Some(path) = std::env::var_os("SESSION_BENCH_ROUND_TRIPS") {
        let json = serde_json::json!({
            "server": server.description(),
            "operations": rows.iter().map(|r| serde_json::json!({
                "operation": r.op,
                "round_trips": r.sent.len(),
                "commands_sent": r.sent,
                "commands_total": r.sent.len() + r.in_scripts,
            })).collect::<Vec<_>>(),
        });
        std::fs::write(&path, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
    }
}
