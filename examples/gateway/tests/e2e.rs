//! Two gateway instances sharing one real Redis, driven over real HTTP on loopback: a session
//! logged in through one is usable through the other, and one revoked through one is refused
//! by the other. Run once on the Redis store and once on the hybrid store.
//!
//! Without a Redis these tests skip with a note, or fail when SESSION_STORE_REQUIRE_REDIS=1.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use gateway::{Config, Gateway, StoreChoice};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

testkit::shared_server!(testkit::RedisServer, testkit::redis_or_skip().await);

/// A liveness bound for the hybrid store's invalidation to cross instances, not a speed goal
/// (generous: CI runs many server-backed test binaries on two cores).
const PROPAGATION: Duration = Duration::from_secs(10);

struct Instance {
    addr: SocketAddr,
    task: JoinHandle<std::io::Result<()>>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start(store: StoreChoice, prefix: &str) -> Instance {
    let config = Config {
        store,
        prefix: prefix.to_owned(),
        ..Config::default()
    };
    let gateway = Gateway::build(&config).await.expect("connect the gateway");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    Instance {
        addr,
        task: tokio::spawn(gateway.serve(listener)),
    }
}

/// One HTTP/1.1 exchange on a fresh connection: the status and the body.
async fn http(
    at: &Instance,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    let mut stream = TcpStream::connect(at.addr).await.unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        at.addr
    );
    if let Some(token) = token {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() {
        request.push_str("Content-Type: application/json\r\n");
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8(answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "this client reads whole bodies only"
    );
    (status, body.to_owned())
}

async fn login(at: &Instance, user: &str, device: &str) -> (String, String) {
    let (status, body) = http(
        at,
        "POST",
        "/login",
        None,
        Some(&format!(r#"{{"user":"{user}","device":"{device}"}}"#)),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    (
        v["session_id"].as_str().unwrap().to_owned(),
        v["token"].as_str().unwrap().to_owned(),
    )
}

async fn sessions(at: &Instance, token: &str) -> (u16, Vec<Value>) {
    let (status, body) = http(at, "GET", "/sessions", Some(token), None).await;
    let list = match serde_json::from_str(&body) {
        Ok(Value::Array(list)) => list,
        _ => Vec::new(),
    };
    (status, list)
}

/// Waits until `at` refuses `token`; immediately for the Redis store (every read goes to
/// Redis), within [`PROPAGATION`] for the hybrid one (its L1 learns of the delete from the
/// invalidation message).
async fn refused(at: &Instance, token: &str, immediately: bool) {
    let start = Instant::now();
    loop {
        let (status, _) = sessions(at, token).await;
        if status == 401 {
            return;
        }
        assert_eq!(status, 200);
        assert!(!immediately, "the revoked token was still accepted");
        assert!(
            start.elapsed() < PROPAGATION,
            "the revoked token was still accepted after {PROPAGATION:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn two_instances_share_sessions_and_revocations(name: &str, hybrid: bool) {
    let Some(server) = server().await else { return };
    eprintln!("{name}: {}", server.description());
    let url = server.url().to_owned();
    let prefix = testkit::unique_prefix(name);
    let choice = || {
        if hybrid {
            StoreChoice::Hybrid(url.clone())
        } else {
            StoreChoice::Redis(url.clone())
        }
    };
    let a = start(choice(), &prefix).await;
    let b = start(choice(), &prefix).await;

    // Logged in through A, used through B.
    let (laptop_id, laptop) = login(&a, "alice", "laptop").await;
    let (phone_id, phone) = login(&b, "alice", "phone").await;
    let (tablet_id, tablet) = login(&a, "alice", "tablet").await;
    let (bob_id, bob) = login(&b, "bob", "desk").await;
    let (status, mine) = sessions(&b, &laptop).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = mine.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![&laptop_id, &phone_id, &tablet_id]);
    let current: Vec<bool> = mine.iter().map(|s| s["current"] == true).collect();
    assert_eq!(current, vec![true, false, false]);
    assert_eq!(mine[1]["device"], "phone");
    let (status, body) = http(&b, "POST", "/heartbeat", Some(&laptop), None).await;
    assert_eq!(status, 200, "{body}");

    // No token, a malformed one, a forged secret: 401 everywhere.
    assert_eq!(http(&a, "GET", "/sessions", None, None).await.0, 401);
    assert_eq!(sessions(&a, "garbage").await.0, 401);
    let forged = format!("{laptop_id}.{}", "0".repeat(64));
    assert_eq!(sessions(&b, &forged).await.0, 401);

    // Someone else's session cannot be revoked: 404, and it stays.
    let (status, _) = http(
        &a,
        "DELETE",
        &format!("/sessions/{bob_id}"),
        Some(&laptop),
        None,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(sessions(&b, &bob).await.0, 200);

    // B caches the tablet session (hybrid), A revokes it, B refuses it afterwards.
    assert_eq!(sessions(&b, &tablet).await.0, 200);
    let (status, body) = http(
        &a,
        "DELETE",
        &format!("/sessions/{tablet_id}"),
        Some(&laptop),
        None,
    )
    .await;
    assert_eq!(status, 204, "{body}");
    refused(&b, &tablet, !hybrid).await;
    assert_eq!(sessions(&a, &tablet).await.0, 401);

    // Revoke the others through A: the phone (logged in through B) is refused by B, the
    // laptop (the current session) keeps working on both.
    assert_eq!(sessions(&b, &phone).await.0, 200);
    let (status, body) = http(&a, "POST", "/sessions/revoke-others", Some(&laptop), None).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["revoked"], 1);
    refused(&b, &phone, !hybrid).await;
    for at in [&a, &b] {
        let (status, mine) = sessions(at, &laptop).await;
        assert_eq!(status, 200);
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0]["id"], laptop_id.as_str());
        assert_eq!(mine[0]["current"], true);
    }
    assert_eq!(sessions(&a, &bob).await.0, 200, "bob is untouched");

    // Logout through B; A refuses the token.
    assert_eq!(
        http(&b, "POST", "/logout", Some(&laptop), None).await.0,
        204
    );
    refused(&a, &laptop, !hybrid).await;

    drop((a, b));
    testkit::cleanup_prefix(&url, &prefix)
        .await
        .expect("clean up the test prefix");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_two_instances() {
    two_instances_share_sessions_and_revocations("gateway-redis", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hybrid_store_two_instances() {
    two_instances_share_sessions_and_revocations("gateway-hybrid", true).await;
}
