//! The soak: 64 tasks of mixed load (creates, gets, updates, deletes) on one store for a
//! while, then the figures as one JSON object on stdout: calls, errors by kind, hangs, stale /
//! revoked / missing reads, latency p50 / p99 / max, and resident memory after the warm-up and
//! at the end. Exits 1 if there was any error, hang or contradicted read, or if resident memory
//! grew by more than 10 % after the warm-up.
//!
//! ```text
//! soak --store memory|redis|hybrid [--seconds 60] [--warmup 20] [--tasks 64]
//! ```
//!
//! Redis comes from testkit (`REDIS_URL`, a local image, or a `redis-server` binary). Run by
//! `cargo xtask soak`, which builds it in release mode and runs it once per store.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reliability::{LoadConfig, Report, resident_kib};
use session_core::Store;
use store_hybrid::{HybridConfig, HybridStore};
use store_memory::MemoryStore;
use store_redis::{RedisConfig, RedisStore};

struct Args {
    store: String,
    seconds: u64,
    warmup: u64,
    tasks: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        store: String::new(),
        seconds: 60,
        warmup: 20,
        tasks: 64,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |v: String| v.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--store" => args.store = value()?,
            "--seconds" => args.seconds = number(value()?)?,
            "--warmup" => args.warmup = number(value()?)?,
            "--tasks" => args.tasks = number(value()?)? as usize,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if !matches!(args.store.as_str(), "memory" | "redis" | "hybrid") {
        return Err("--store memory|redis|hybrid is required".into());
    }
    Ok(args)
}

/// Runs the load on `store`: `warmup` seconds, a resident-memory reading, `seconds` more, a
/// second reading. Returns the report and both readings (KiB).
async fn soak<S>(store: S, args: &Args) -> (Report, u64, u64, Duration)
where
    S: Store + Clone + Send + Sync + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let config = LoadConfig {
        tasks: args.tasks,
        call_bound: Duration::from_secs(5),
        timeline: false,
        ..LoadConfig::default()
    };
    let run = tokio::spawn(reliability::run(vec![store], config, stop.clone(), 0x50a4));
    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    let warm = resident_kib().unwrap_or(0);
    let measured = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let end = resident_kib().unwrap_or(0);
    stop.store(true, Ordering::Relaxed);
    let report = run.await.expect("the load ran");
    (report, warm, end, measured.elapsed())
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!(
                "soak: {e}\nusage: soak --store memory|redis|hybrid [--seconds 60] [--warmup 20] [--tasks 64]"
            );
            std::process::exit(2);
        }
    };
    let mut server = None;
    let mut backend = "in-process".to_owned();
    if args.store != "memory" {
        match testkit::redis().await {
            Ok(s) => {
                backend = s.description().to_owned();
                server = Some(s);
            }
            Err(e) => {
                eprintln!("soak: {e}");
                std::process::exit(2);
            }
        }
    }
    let prefix = testkit::unique_prefix("soak");
    let redis_config = server
        .as_ref()
        .map(|s| RedisConfig::new(s.url()).prefix(prefix.clone()));
    eprintln!(
        "soak: {} store, {} tasks, {} s warm-up + {} s measured ({backend})",
        args.store, args.tasks, args.warmup, args.seconds
    );
    let (report, warm, end, elapsed) = match (args.store.as_str(), redis_config) {
        ("redis", Some(c)) => soak(RedisStore::connect(c).await.expect("connect"), &args).await,
        ("hybrid", Some(c)) => {
            let store = HybridStore::connect(HybridConfig::new(c))
                .await
                .expect("connect");
            soak(store, &args).await
        }
        _ => soak(MemoryStore::new(), &args).await,
    };
    if let Some(s) = &server {
        if !s.owned() {
            let _ = testkit::cleanup_prefix(s.url(), &prefix).await;
        }
    }
    let growth = if warm == 0 {
        0.0
    } else {
        (end as f64 - warm as f64) / warm as f64 * 100.0
    };
    let us = |d: Duration| format!("{:.2}", d.as_nanos() as f64 / 1000.0);
    let kinds: Vec<String> = report
        .errors_by_kind()
        .iter()
        .map(|(k, v)| format!("{}: {v}", json_string(k)))
        .collect();
    let ok = report.errors == 0
        && report.hangs == 0
        && report.stale + report.revoked + report.missing == 0
        && growth <= 10.0;
    // The whole run's calls (warm-up included) over the whole run's time.
    let total = elapsed + Duration::from_secs(args.warmup);
    println!(
        "{{\"store\": {}, \"backend\": {}, \"tasks\": {}, \"warmup_s\": {}, \"seconds\": {}, \
         \"calls\": {}, \"calls_per_s\": {:.0}, \"errors\": {}, \"errors_by_kind\": {{{}}}, \
         \"hangs\": {}, \"reads_judged\": {}, \"stale\": {}, \"revoked\": {}, \"missing\": {}, \
         \"p50_us\": {}, \"p99_us\": {}, \"max_us\": {}, \"rss_warm_kib\": {warm}, \
         \"rss_end_kib\": {end}, \"rss_growth_pct\": {growth:.1}, \"pass\": {ok}}}",
        json_string(&args.store),
        json_string(&backend),
        args.tasks,
        args.warmup,
        args.seconds,
        report.calls,
        report.calls as f64 / total.as_secs_f64(),
        report.errors,
        kinds.join(", "),
        report.hangs,
        report.judged,
        report.stale,
        report.revoked,
        report.missing,
        us(report.latency.quantile(0.5)),
        us(report.latency.quantile(0.99)),
        us(report.latency.max()),
    );
    eprintln!("soak: {}", report.summary());
    drop(server);
    if !ok {
        std::process::exit(1);
    }
}
