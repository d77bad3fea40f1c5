//! Shared by the fault test binaries: the load around a fault, and printing the figures.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reliability::{LoadConfig, Report};
use session_core::Store;

/// The stores' command timeout in these tests (RedisConfig's default).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(1);

/// Tests of one binary run one at a time: each puts 64 tasks of load on two cores.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A load running in the background.
pub struct Running {
    stop: Arc<AtomicBool>,
    handle: tokio::task::JoinHandle<Report>,
    /// When it started.
    pub started: Instant,
}

/// Starts the load on `stores`.
pub fn start<S>(stores: Vec<S>, config: LoadConfig) -> Running
where
    S: Store + Clone + Send + Sync + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let handle = tokio::spawn(reliability::run(stores, config, stop.clone(), 0x5eed));
    Running {
        stop,
        handle,
        started: Instant::now(),
    }
}

impl Running {
    /// Stops the load and returns its report.
    pub async fn stop(self) -> Report {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.await.expect("the load ran")
    }
}

/// Milliseconds, for printing.
pub fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// Asserts what every fault test asserts of its load: no hang, and every error a store
/// error of its own (typed) rather than a judgement against the ledger.
pub fn assert_no_hang(report: &Report) {
    assert_eq!(report.hangs, 0, "calls hung: {:?}", report.samples);
    assert!(report.calls > 1000, "the load ran ({} calls)", report.calls);
}
