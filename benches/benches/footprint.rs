//! Bytes per stored session in a MemoryStore holding 1M sessions, measured two ways: bytes
//! requested from the allocator (net, after the sessions are built and stored) and the growth
//! of the process's resident set. Prints; times nothing.
//!
//! `cargo bench -p benches --bench footprint` (add `-- N` for another session count).

use std::alloc::System;
use std::time::Duration;

use benches::{seed_session, seed_session_with_metadata};
use session_core::{Clock, Session, Store, SystemClock, Timestamp};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use store_memory::MemoryStore;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn measure(label: &str, n: usize, make: fn(usize, Timestamp) -> Session) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let now = SystemClock.now();
    let rss_before = rss_bytes();
    let region = Region::new(GLOBAL);
    let store = MemoryStore::new();
    rt.block_on(async {
        for i in 0..n {
            store.create(make(i, now)).await.unwrap();
        }
    });
    let stats = region.change();
    let rss_after = rss_bytes();
    let net = stats.bytes_allocated as i64 - stats.bytes_deallocated as i64
        + stats.bytes_reallocated as i64;
    println!(
        "footprint/{label}: {n} sessions: allocator net {:.0} B/session, resident growth {:.0} B/session",
        net as f64 / n as f64,
        rss_after.saturating_sub(rss_before) as f64 / n as f64,
    );
    assert_eq!(rt.block_on(store.count()).unwrap(), n as u64);
    drop(store);
    std::thread::sleep(Duration::from_millis(10));
}

fn main() {
    let n = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    measure("seed", n, seed_session);
    measure("seed+2 metadata", n, seed_session_with_metadata);
}
