//! Read coalescing (`RedisConfig::coalesce_reads`) against the raw-client floor, in one sitting
//! on a loopback redis-server that testkit starts, with the realistic session
//! (`shared/BENCH-PAYLOAD.md`, nine metadata entries):
//!
//! - 64 tasks sharing one store (one multiplexed connection) for a fixed time: throughput of
//!   raw fred GETs of a value of the same size, of our `get` with coalescing off and on, and of
//!   a 95:5 get:update mix (`update_with`) with it off and on;
//! - one caller: p50 latency of a raw GET and of our `get` with coalescing off and on (a lone
//!   get must not wait for a batch).
//!
//! Passes alternate the variants so that load from elsewhere falls on all of them; the table
//! gives each figure's median over the passes and its ratio to the floor. Not a criterion
//! bench: `cargo bench -p benches --bench coalesce` (`SESSION_BENCH_QUICK=1`: shorter).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use benches::realistic_session;
use fred::bytes::Bytes;
use fred::prelude::{Client, ClientLike, KeysInterface};
use session_core::{Clock, SessionId, Store, SystemClock, codec};
use store_redis::{RedisConfig, RedisStore};
use tokio::runtime::Runtime;

const SESSIONS: usize = 1_000;
const TASKS: usize = 64;

#[derive(Clone, Copy, PartialEq)]
enum Op {
    RawGet,
    Get,
    Mix,
}

async fn run(
    op: Op,
    raw: &Client,
    raw_key: &Arc<String>,
    store: &RedisStore,
    ids: &Arc<Vec<SessionId>>,
    tasks: usize,
    length: Duration,
) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let until = start + length;
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let (raw, raw_key, store, ids, done) = (
                raw.clone(),
                raw_key.clone(),
                store.clone(),
                ids.clone(),
                done.clone(),
            );
            tokio::spawn(async move {
                let mut k = 0usize;
                while Instant::now() < until {
                    let id = &ids[(t * 31 + k) % ids.len()];
                    match op {
                        Op::RawGet => {
                            let v: Option<Bytes> = raw.get(raw_key.as_str()).await.unwrap();
                            black_box(v);
                        }
                        Op::Get | Op::Mix => {
                            benches::load_op(&store, id, k, op == Op::Mix).await;
                        }
                    }
                    k += 1;
                }
                done.fetch_add(k as u64, Ordering::Relaxed);
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

/// CPU time (user + system) a process has used, in µs, from `/proc/<pid>/stat` (clock ticks
/// of 10 ms: the 2 s runs use hundreds); `None` where there is no such file (not Linux, or a
/// server in a container, whose pid is not this machine's).
fn cpu_us(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces): state is
    // the 3rd field, utime the 14th, stime the 15th.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks * 10_000.0)
}

/// The server's pid, if it is a process of this machine (`INFO server`'s `process_id`, whose
/// `/proc` entry names a redis or valkey server).
async fn server_pid(raw: &Client) -> Option<String> {
    let info: String = raw.info(Some(fred::types::InfoKind::Server)).await.ok()?;
    let pid = info
        .lines()
        .find_map(|l| l.strip_prefix("process_id:"))?
        .trim()
        .to_owned();
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    (comm.contains("redis") || comm.contains("valkey")).then_some(pid)
}

/// p50 latency in µs of sequential reads by one caller, per variant: the variants take turns
/// read by read, so drift in the machine's load falls on all of them alike.
async fn p50s(
    variants: &[(Op, &RedisStore)],
    raw: &Client,
    raw_key: &str,
    ids: &[SessionId],
) -> Vec<f64> {
    let n = if benches::quick() { 2_000 } else { 10_000 };
    let mut lat = vec![Vec::with_capacity(n); variants.len()];
    for k in 0..n {
        for (i, (op, store)) in variants.iter().enumerate() {
            let t = Instant::now();
            match op {
                Op::RawGet => {
                    let v: Option<Bytes> = raw.get(raw_key).await.unwrap();
                    black_box(v);
                }
                _ => {
                    black_box(store.get(&ids[k % ids.len()]).await.unwrap());
                }
            }
            lat[i].push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    lat.into_iter()
        .map(|mut l| {
            l.sort_by(f64::total_cmp);
            l[n / 2]
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rt: Runtime = benches::runtime(2);
    let Some(server) = rt.block_on(testkit::server(testkit::Flavor::Redis)) else {
        return;
    };
    eprintln!("Redis for this run: {}", server.description());
    let url = server.url().to_owned();
    let prefix = testkit::unique_prefix("bench-coalesce");
    let (plain, coalesced, coalesced1, raw, raw_key, ids, size) = rt.block_on(async {
        let connect = |on: bool, in_flight: usize| {
            RedisStore::connect(
                RedisConfig::new(&url)
                    .prefix(prefix.clone())
                    .coalesce_reads(on)
                    .coalesce_in_flight(in_flight),
            )
        };
        let plain = connect(false, 1).await.unwrap();
        let coalesced = connect(true, 2).await.unwrap();
        let coalesced1 = connect(true, 1).await.unwrap();
        let raw = benches::raw_client(&url).await;
        let now = SystemClock.now();
        let mut ids = Vec::with_capacity(SESSIONS);
        let mut size = 0;
        for i in 0..SESSIONS {
            let mut s = realistic_session(i, now);
            s.expires_at = now + Duration::from_secs(3600);
            let s = plain.create(s).await.unwrap();
            size = codec::encode(&s).len();
            ids.push(s.id);
        }
        let raw_key = format!("{prefix}:raw");
        benches::set_floor(&raw, &raw_key, Bytes::from(vec![b'x'; size])).await;
        (
            plain,
            coalesced,
            coalesced1,
            raw,
            Arc::new(raw_key),
            Arc::new(ids),
            size,
        )
    });

    let (passes, length) = if benches::quick() {
        (1, Duration::from_millis(500))
    } else {
        (3, Duration::from_secs(2))
    };
    let variants: [(&str, Op, Option<&RedisStore>); 7] = [
        ("raw fred GET (floor)", Op::RawGet, None),
        ("get, coalescing off", Op::Get, Some(&plain)),
        (
            "get, coalescing on (default, 2 in flight)",
            Op::Get,
            Some(&coalesced),
        ),
        (
            "get, coalescing on, 1 in flight",
            Op::Get,
            Some(&coalesced1),
        ),
        ("95:5 get:update, coalescing off", Op::Mix, Some(&plain)),
        (
            "95:5 get:update, coalescing on (default)",
            Op::Mix,
            Some(&coalesced),
        ),
        (
            "95:5 get:update, coalescing on, 1 in flight",
            Op::Mix,
            Some(&coalesced1),
        ),
    ];
    let single = 4;
    let mut tput = vec![Vec::new(); variants.len()];
    // CPU µs used per operation, by this process (the client: the tasks, fred, tokio) and by
    // the server, summed over the passes: (client, server, operations).
    let mut cpu = vec![(0.0, 0.0, 0.0); variants.len()];
    let server = rt.block_on(server_pid(&raw));
    let mut lat = vec![Vec::new(); single];
    rt.block_on(async {
        // Warm-up.
        for (_, op, store) in &variants {
            let store = store.unwrap_or(&plain);
            run(*op, &raw, &raw_key, store, &ids, TASKS, length / 4).await;
        }
        for _ in 0..passes {
            for (i, (_, op, store)) in variants.iter().enumerate() {
                let store = store.unwrap_or(&plain);
                let before = (cpu_us("self"), server.as_deref().and_then(cpu_us));
                let t = Instant::now();
                let rate = run(*op, &raw, &raw_key, store, &ids, TASKS, length).await;
                let ops = rate * t.elapsed().as_secs_f64();
                let after = (cpu_us("self"), server.as_deref().and_then(cpu_us));
                if let (Some(c0), Some(c1)) = (before.0, after.0) {
                    cpu[i].0 += c1 - c0;
                }
                if let (Some(s0), Some(s1)) = (before.1, after.1) {
                    cpu[i].1 += s1 - s0;
                }
                cpu[i].2 += ops;
                tput[i].push(rate);
            }
            let one: Vec<(Op, &RedisStore)> = variants[..single]
                .iter()
                .map(|(_, op, store)| (*op, store.unwrap_or(&plain)))
                .collect();
            for (i, l) in p50s(&one, &raw, &raw_key, &ids)
                .await
                .into_iter()
                .enumerate()
            {
                lat[i].push(l);
            }
        }
    });

    println!(
        "\ncoalesce: realistic session ({size} B encoded), {TASKS} tasks, {passes} passes of {length:?}"
    );
    println!("| variant | {TASKS} tasks, ops/s | ratio to raw GET | 1 caller p50 µs | ratio |");
    println!("|---|---:|---:|---:|---:|");
    let floor_tput = median(tput[0].clone());
    let floor_lat = median(lat[0].clone());
    for (i, (name, _, _)) in variants.iter().enumerate() {
        let t = median(tput[i].clone());
        let l = lat
            .get(i)
            .map(|l| {
                let l = median(l.clone());
                format!("{l:.1} | {:.3}", l / floor_lat)
            })
            .unwrap_or_else(|| "- | -".to_owned());
        println!("| {name} | {t:.0} | {:.2} | {l} |", t / floor_tput);
    }
    let get_off = median(tput[1].clone());
    let get_on = median(tput[2].clone());
    println!(
        "95:5 mix / plain get: coalescing off {:.2}, on {:.2}",
        median(tput[4].clone()) / get_off,
        median(tput[5].clone()) / get_on
    );
    // Where the CPU goes: the client and the server share this machine's cores, so their
    // CPU per operation together bounds the throughput.
    println!(
        "\ncoalesce CPU per operation ({TASKS} tasks; client: this process; server: {}):",
        server
            .as_ref()
            .map_or("not measured (not a process here)".to_owned(), |p| format!(
                "pid {p}"
            ))
    );
    println!("| variant | client µs/op | server µs/op | total µs/op |");
    println!("|---|---:|---:|---:|");
    for (i, (name, _, _)) in variants.iter().enumerate() {
        let (c, sv, n) = cpu[i];
        let per = |v: f64| if n > 0.0 { v / n } else { f64::NAN };
        let sv = server.as_ref().map(|_| per(sv));
        println!(
            "| {name} | {:.2} | {} | {} |",
            per(c),
            sv.map_or("-".to_owned(), |v| format!("{v:.2}")),
            sv.map_or("-".to_owned(), |v| format!("{:.2}", per(c) + v)),
        );
    }
    rt.block_on(testkit::cleanup_prefix(&url, &prefix)).unwrap();
}
