//! Shared by the fault test binaries: the load around a fault, and printing the figures.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reliability::{LoadConfig, Report};
use session_core::Store;

/// The stores' command timeout in these tests (RedisConfig's default).
pub(crate) const COMMAND_TIMEOUT: Duration = Duration::from_secs(1);

/// Tests of one binary run one at a time: each puts 64 tasks of load on two cores.
pub(crate) static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A load running in the background.
pub(crate) struct Running {
    stop: Arc<AtomicBool>,
    handle: tokio::task::JoinHandle<Report>,
    completed: Arc<AtomicU64>,
    tasks: u64,
}

/// How long a test waits for the calls it needs before it fails saying so: far beyond what
/// any run needs, even on a fully loaded machine.
pub(crate) const CALLS_DEADLINE: Duration = Duration::from_secs(120);

/// The calls `assert_no_hang` asks of a load before it is stopped.
pub(crate) const MIN_CALLS: u64 = 1001;

/// Starts the load on `stores`.
pub(crate) fn start<S>(stores: Vec<S>, config: LoadConfig) -> Running
where
    S: Store + Clone + Send + Sync + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let completed = config.completed.clone();
    let tasks = config.tasks as u64;
    let handle = tokio::spawn(reliability::run(stores, config, stop.clone(), 0x5eed));
    Running {
        stop,
        handle,
        completed,
        tasks,
    }
}

/// Starts the failover tests' load (the default mix, calls bounded by `call_bound`) on
/// `store` and returns once it is warm: 256 calls made, so the fault meets a running load.
pub(crate) async fn start_warm<S>(store: S, call_bound: Duration) -> Running
where
    S: Store + Clone + Send + Sync + 'static,
{
    let load = start(
        vec![store],
        LoadConfig {
            call_bound,
            ..LoadConfig::default()
        },
    );
    load.wait_for_calls(256, "warm-up before the kill").await;
    load
}

impl Running {
    /// Waits until `n` more calls have completed (any outcome); fails the test, naming
    /// `what`, if they have not after [`CALLS_DEADLINE`].
    pub(crate) async fn wait_for_calls(&self, n: u64, what: &str) {
        if let Err(seen) = reliability::wait_for_calls(&self.completed, n, CALLS_DEADLINE).await {
            panic!("{what}: {seen} of the {n} calls needed completed in {CALLS_DEADLINE:?}");
        }
    }

    /// Waits until `n` calls have *started* after now and completed: the calls in flight now
    /// (one per task) complete first.
    pub(crate) async fn wait_for_calls_started_after_now(&self, n: u64, what: &str) {
        self.wait_for_calls(self.tasks + n, what).await;
    }

    /// Lets the load run until 3 s after `promoted` (the failover settled) and then on until
    /// it has made the calls the assertions need after that; stops it and returns its report
    /// and when the failover counted as settled.
    pub(crate) async fn stop_after_failover(self, promoted: Instant) -> (Report, Instant) {
        let settled = promoted + Duration::from_secs(3);
        tokio::time::sleep_until(settled.into()).await;
        self.wait_for_calls_started_after_now(101, "calls after the failover settled")
            .await;
        (self.stop().await, settled)
    }

    /// Stops the load and returns its report, once it has made the calls
    /// [`assert_no_hang`] asks for (or after [`CALLS_DEADLINE`], leaving the assertion to say
    /// how many it made).
    pub(crate) async fn stop(self) -> Report {
        let have = self.completed.load(Ordering::Relaxed);
        let _ = reliability::wait_for_calls(
            &self.completed,
            MIN_CALLS.saturating_sub(have),
            CALLS_DEADLINE,
        )
        .await;
        self.stop.store(true, Ordering::Relaxed);
        self.handle.await.expect("the load ran")
    }
}

/// Milliseconds, for printing.
pub(crate) fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// Asserts what every fault test asserts of its load: no hang, and every error a store
/// error of its own (typed) rather than a judgement against the ledger.
pub(crate) fn assert_no_hang(report: &Report) {
    assert_eq!(report.hangs, 0, "calls hung: {:?}", report.samples);
    assert!(
        report.calls >= MIN_CALLS,
        "the load ran ({} calls)",
        report.calls
    );
}

/// What every failover test asserts of its load: no hang and no call over `call_bound`; the
/// load ran through the failover (`during`: calls in flight or started before the promotion)
/// and after it (`after`: calls started once it settled), none of which failed
/// (`failed_after`); and every error of one of the `kinds` the test expects.
pub(crate) fn assert_failover_survived(
    report: &Report,
    call_bound: Duration,
    (during, after, failed_after): (u64, u64, u64),
    kinds: &[&str],
) {
    assert_no_hang(report);
    assert!(report.latency.max() < call_bound);
    assert!(during >= 64, "the load ran through the failover");
    assert!(
        after > 100,
        "the load ran after the failover ({after} calls)"
    );
    assert_eq!(failed_after, 0, "{:?}", report.errors_by_kind());
    for kind in report.errors_by_kind().keys() {
        assert!(
            kinds.contains(kind),
            "unexpected error kind {kind}: {:?}",
            report.error_samples
        );
    }
}
