//! Fault, failover and soak tests against real Redis servers; see tests/ and
//! docs/RELIABILITY.md.
//!
//! This library is the load the tests and the soak binary put on a store: [`run`] drives
//! `tasks` concurrent tasks of creates, gets, updates and deletes against one or more store
//! instances until told to stop, bounds every call with a timeout of its own (a call that
//! exceeds it is a *hang*, counted apart from the store's own errors), and keeps a ledger of
//! what each store acknowledged so that reads can be judged:
//!
//! * Every session has exactly one writer (the task that created it), so the task knows every
//!   version the store acknowledged for it, and when.
//! * A read is **stale** if it returns a version lower than one acknowledged before the read
//!   began, and **revoked** if it returns a session whose delete was acknowledged before the
//!   read began. "Before" is strict for a read through the instance that wrote; through another
//!   instance (hybrid stores) the acknowledgement must be older than
//!   [`LoadConfig::cross_instance_allowance`], the time an invalidation takes to travel.
//! * A read that finds nothing where an acknowledged create or update should be is
//!   **missing** (a lost write).
//! * A write that fails is ambiguous (it may have been applied, or be applied later by a
//!   retry): its session is **abandoned**, neither written nor judged again, so that every
//!   judgement rests on acknowledged writes only.
//!
//! [`verify`] reads every tracked session back after a fault and checks it against the
//! ledger (what an AOF with `appendfsync always` must preserve).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod histogram;
mod report;

pub use histogram::Histogram;
pub use report::Report;

use session_core::{
    Clock, ConnectionId, Error, Session, SessionId, SessionState, Store, SystemClock, UserId,
};

/// The load's shape.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Concurrent tasks (64 in the issue).
    pub tasks: usize,
    /// Live sessions each task keeps (it creates when it has fewer).
    pub sessions_per_task: usize,
    /// Distinct user ids the sessions spread over.
    pub users: usize,
    /// The bound on one call: a call still running after it is a hang.
    pub call_bound: Duration,
    /// See the crate docs: how old an acknowledgement made through one instance must be
    /// before a read through another must reflect it.
    pub cross_instance_allowance: Duration,
    /// Keep every call's start, end and success (for recovery times), and every deleted
    /// session (for [`verify`]); off for soaks, whose memory must not grow with their length.
    pub timeline: bool,
    /// Sleep this long after each call (zero: run flat out).
    pub think: Duration,
    /// Counts every call as it completes (any outcome), shared with whoever started the
    /// load: a test waits on it for the calls it needs instead of sleeping for a while and
    /// counting on a rate (see [`wait_for_calls`]).
    pub completed: Arc<AtomicU64>,
}

/// Waits until `completed` has grown by `n` from its value now; gives up after `deadline`
/// and returns how many it saw (so the caller can fail with a message that says so).
pub async fn wait_for_calls(
    completed: &AtomicU64,
    n: u64,
    deadline: Duration,
) -> std::result::Result<(), u64> {
    let from = completed.load(Ordering::Relaxed);
    let began = Instant::now();
    loop {
        let seen = completed.load(Ordering::Relaxed).saturating_sub(from);
        if seen >= n {
            return Ok(());
        }
        if began.elapsed() >= deadline {
            return Err(seen);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig {
            tasks: 64,
            sessions_per_task: 8,
            users: 16,
            call_bound: Duration::from_secs(3),
            cross_instance_allowance: Duration::from_millis(50),
            timeline: true,
            think: Duration::ZERO,
            completed: Arc::default(),
        }
    }
}

/// One call, for recovery times.
#[derive(Debug, Clone, Copy)]
pub struct Call {
    /// When it started.
    pub began: Instant,
    /// When it returned.
    pub ended: Instant,
    /// Whether it returned `Ok` (for a get, one that was not judged stale, revoked or missing).
    pub ok: bool,
}

/// What the store acknowledged for a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acked {
    /// This version was written.
    Version(u64),
    /// The session was deleted.
    Deleted,
}

/// A session the load tracks, with its acknowledged history (newest last).
#[derive(Debug, Clone)]
pub struct Tracked {
    /// The session id.
    pub id: SessionId,
    session: Session,
    history: VecDeque<(Acked, Instant, usize)>,
}

impl Tracked {
    /// The last acknowledged state.
    pub fn last(&self) -> Option<Acked> {
        self.history.back().map(|h| h.0)
    }

    fn ack(&mut self, what: Acked, at: Instant, instance: usize) {
        self.history.push_back((what, at, instance));
        while self.history.len() > 6 {
            self.history.pop_front();
        }
    }
}

/// A small xorshift generator (the load need not be cryptographic, only varied).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

enum Op {
    Create,
    Get,
    GetGone,
    Update,
    Delete,
}

/// Runs the load on `stores` (instances of one store; each call picks one at random) until
/// `stop` is set, then returns what it saw. `seed` varies the choices.
pub async fn run<S>(stores: Vec<S>, config: LoadConfig, stop: Arc<AtomicBool>, seed: u64) -> Report
where
    S: Store + Clone + Send + Sync + 'static,
{
    let stores = Arc::new(stores);
    let tasks: Vec<_> = (0..config.tasks)
        .map(|t| {
            let (stores, config, stop) = (stores.clone(), config.clone(), stop.clone());
            let seed = seed ^ ((t as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1;
            tokio::spawn(async move { task(&stores, &config, &stop, Rng(seed)).await })
        })
        .collect();
    let mut report = Report::default();
    for t in tasks {
        match t.await {
            Ok(r) => report.merge(r),
            Err(e) => {
                report.samples.push(format!("a load task panicked: {e}"));
                report.hangs += 1;
            }
        }
    }
    report
}

async fn task<S: Store>(
    stores: &[S],
    config: &LoadConfig,
    stop: &AtomicBool,
    mut rng: Rng,
) -> Report {
    let mut report = Report::default();
    let mut live: Vec<Tracked> = Vec::new();
    let mut gone: VecDeque<Tracked> = VecDeque::new();
    while !stop.load(Ordering::Relaxed) {
        let instance = rng.below(stores.len());
        let store = &stores[instance];
        let op = if live.len() < config.sessions_per_task {
            Op::Create
        } else {
            match rng.below(100) {
                0..50 => Op::Get,
                50..55 if !gone.is_empty() => Op::GetGone,
                50..80 => Op::Update,
                _ => Op::Delete,
            }
        };
        let began = Instant::now();
        let (name, result): (&str, Option<Result<(), Error>>) = match op {
            Op::Create => {
                let user = UserId::new(format!("user{}", rng.below(config.users)))
                    .map_err(|e| e.to_string());
                let Ok(user) = user else { continue };
                let s = Session::builder(user, SystemClock.now(), Duration::from_secs(600))
                    .connection_id(ConnectionId::new())
                    .state(SessionState::Active)
                    .metadata("region", "eu")
                    .build();
                let r = tokio::time::timeout(config.call_bound, store.create(s)).await;
                let ended = Instant::now();
                (
                    "create",
                    r.ok().map(|r| {
                        r.map(|s| {
                            let mut t = Tracked {
                                id: s.id,
                                session: (*s).clone(),
                                history: VecDeque::new(),
                            };
                            t.ack(Acked::Version(s.version), ended, instance);
                            live.push(t);
                        })
                    }),
                )
            }
            Op::Get | Op::GetGone => {
                let from_gone = matches!(op, Op::GetGone);
                let i = rng.below(if from_gone { gone.len() } else { live.len() });
                let t = if from_gone { &gone[i] } else { &live[i] };
                let r = tokio::time::timeout(config.call_bound, store.get(&t.id)).await;
                let verdict = r.ok().map(|r| {
                    r.map(|got| {
                        judge(
                            t,
                            got.map(|s| s.version),
                            began,
                            instance,
                            config,
                            &mut report,
                        )
                    })
                });
                (
                    "get",
                    verdict.map(|v| v.and_then(|ok| if ok { Ok(()) } else { Err(judged()) })),
                )
            }
            Op::Update => {
                let i = rng.below(live.len());
                let mut next = live[i].session.clone();
                next.stats.packets_sent += 1;
                next.state = if next.state == SessionState::Active {
                    SessionState::Idle
                } else {
                    SessionState::Active
                };
                let r = tokio::time::timeout(config.call_bound, store.update(next)).await;
                let ended = Instant::now();
                let r = r.ok().map(|r| {
                    r.map(|s| {
                        live[i].ack(Acked::Version(s.version), ended, instance);
                        live[i].session = (*s).clone();
                    })
                });
                if !matches!(r, Some(Ok(()))) {
                    live.swap_remove(i);
                    report.abandoned += 1;
                }
                ("update", r)
            }
            Op::Delete => {
                let i = rng.below(live.len());
                let id = live[i].id;
                let r = tokio::time::timeout(config.call_bound, store.delete(&id)).await;
                let ended = Instant::now();
                let mut t = live.swap_remove(i);
                let r = r.ok().map(|r| match r {
                    Ok(true) => {
                        t.ack(Acked::Deleted, ended, instance);
                        gone.push_back(t);
                        if gone.len() > 8 {
                            if let Some(old) = gone.pop_front() {
                                // Kept for `verify` only in bounded runs: a soak's memory must
                                // not grow with its length.
                                if config.timeline {
                                    report.tracked.push(old);
                                }
                            }
                        }
                        Ok(())
                    }
                    Ok(false) => {
                        report.missing += 1;
                        sample(&mut report, format!("delete of {id} found nothing"));
                        Err(judged())
                    }
                    Err(e) => {
                        report.abandoned += 1;
                        Err(e)
                    }
                });
                ("delete", r)
            }
        };
        let ended = Instant::now();
        report.calls += 1;
        config.completed.fetch_add(1, Ordering::Relaxed);
        report.latency.record(ended - began);
        let ok = matches!(result, Some(Ok(())));
        let outcome = match &result {
            Some(Ok(())) => "ok",
            Some(Err(e)) => {
                report.errors += 1;
                let kind = e.kind().as_str();
                let seen = report.error_samples.entry(kind).or_default();
                if seen.len() < 3 {
                    let mut text = format!("{name}: {e}");
                    let mut source = std::error::Error::source(e);
                    while let Some(s) = source {
                        text.push_str(&format!(": {s}"));
                        source = s.source();
                    }
                    seen.push(text);
                }
                kind
            }
            None => {
                report.hangs += 1;
                sample(
                    &mut report,
                    format!("{name} still running after {:?}", config.call_bound),
                );
                "HANG"
            }
        };
        *report.tally.entry(format!("{name} {outcome}")).or_default() += 1;
        if config.timeline {
            report.timeline.push(Call { began, ended, ok });
        }
        if config.think.is_zero() {
            // An in-memory store never waits: let the other tasks and the timers run.
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(config.think).await;
        }
    }
    report.tracked.extend(live);
    report.tracked.extend(gone);
    report
}

/// The error a get is tallied with when its answer contradicts the ledger (it also counts as
/// stale, revoked or missing).
fn judged() -> Error {
    Error::backend("read contradicts an acknowledged write")
}

fn sample(report: &mut Report, what: String) {
    if report.samples.len() < 10 {
        report.samples.push(what);
    }
}

/// Judges a read of `t` that began at `began` through `instance` and returned `got`; true if
/// it agrees with what was acknowledged before it began.
fn judge(
    t: &Tracked,
    got: Option<u64>,
    began: Instant,
    instance: usize,
    config: &LoadConfig,
    report: &mut Report,
) -> bool {
    let due = |at: Instant, by: usize| {
        if by == instance {
            at <= began
        } else {
            at + config.cross_instance_allowance <= began
        }
    };
    let Some(&(acked, _, _)) = t.history.iter().rev().find(|(_, at, by)| due(*at, *by)) else {
        return true; // nothing old enough to judge by
    };
    // A later write not yet due may explain a newer answer or a miss.
    let newest = t.last();
    report.judged += 1;
    match (acked, got) {
        (Acked::Deleted, Some(v)) => {
            report.revoked += 1;
            sample(
                report,
                format!("{} read at version {v} after its delete", t.id),
            );
            false
        }
        (Acked::Version(a), Some(v)) if v < a => {
            report.stale += 1;
            sample(
                report,
                format!("{} read at version {v} after {a} was acknowledged", t.id),
            );
            false
        }
        (Acked::Version(a), None) if newest != Some(Acked::Deleted) => {
            report.missing += 1;
            sample(
                report,
                format!("{} missing after version {a} was acknowledged", t.id),
            );
            false
        }
        _ => true,
    }
}

/// What [`verify`] found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// Sessions read back.
    pub checked: u64,
    /// Live sessions (acknowledged create or update, no delete) not found.
    pub missing: u64,
    /// Sessions found at another version than the last acknowledged.
    pub wrong_version: u64,
    /// Deleted sessions found again.
    pub resurrected: u64,
    /// Reads that failed.
    pub errors: u64,
}

/// Reads every tracked session of `report` through `store` and compares it with the last
/// acknowledged state.
pub async fn verify<S: Store>(store: &S, report: &Report) -> Verified {
    let mut v = Verified::default();
    for t in &report.tracked {
        let Some(last) = t.last() else { continue };
        v.checked += 1;
        match (last, store.get(&t.id).await) {
            (_, Err(_)) => v.errors += 1,
            (Acked::Version(_), Ok(None)) => v.missing += 1,
            (Acked::Version(a), Ok(Some(s))) if s.version != a => v.wrong_version += 1,
            (Acked::Deleted, Ok(Some(_))) => v.resurrected += 1,
            _ => {}
        }
    }
    v
}

/// The process's resident memory (`VmRSS` in `/proc/self/status`), in KiB; `None` where there
/// is no such file.
pub fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_load_judges_a_correct_store_clean() {
        let store = store_memory::MemoryStore::new();
        let stop = Arc::new(AtomicBool::new(false));
        let config = LoadConfig {
            tasks: 8,
            ..LoadConfig::default()
        };
        let completed = config.completed.clone();
        let run = tokio::spawn(run(
            vec![store.clone(), store.clone()],
            config,
            stop.clone(),
            7,
        ));
        // The calls the assertions below need, however slow the machine.
        let waited = wait_for_calls(&completed, 1001, Duration::from_secs(120)).await;
        assert_eq!(waited, Ok(()), "calls completed in 120 s");
        stop.store(true, Ordering::Relaxed);
        let report = run.await.unwrap();
        assert!(report.calls > 1000, "{}", report.summary());
        assert!(report.judged > 100, "{}", report.summary());
        assert_eq!(report.errors + report.hangs, 0, "{}", report.summary());
        let v = verify(&store, &report).await;
        assert!(v.checked > 0);
        assert_eq!(
            v,
            Verified {
                checked: v.checked,
                ..Verified::default()
            }
        );
    }

    /// A store that forgets every update: its reads must be judged stale.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_load_catches_a_store_that_serves_old_versions() {
        #[derive(Clone)]
        struct Forgetful(
            store_memory::MemoryStore,
            Arc<parking_lot::Mutex<Vec<Session>>>,
        );
        impl Store for Forgetful {
            async fn create(&self, s: Session) -> session_core::Result<Arc<Session>> {
                let r = self.0.create(s).await?;
                self.1.lock().push((*r).clone());
                Ok(r)
            }
            async fn get(&self, id: &SessionId) -> session_core::Result<Option<Arc<Session>>> {
                // Always the first version ever created.
                let first = self.1.lock().iter().find(|s| s.id == *id).cloned();
                Ok(match self.0.get(id).await? {
                    Some(_) => first.map(Arc::new),
                    None => None,
                })
            }
            async fn get_many(
                &self,
                ids: &[SessionId],
            ) -> session_core::Result<Vec<Option<Arc<Session>>>> {
                self.0.get_many(ids).await
            }
            async fn update(&self, s: Session) -> session_core::Result<Arc<Session>> {
                self.0.update(s).await
            }
            async fn touch(
                &self,
                id: &SessionId,
                at: session_core::Timestamp,
            ) -> session_core::Result<Arc<Session>> {
                self.0.touch(id, at).await
            }
            async fn delete(&self, id: &SessionId) -> session_core::Result<bool> {
                self.0.delete(id).await
            }
            async fn list(
                &self,
                f: &session_core::ListFilter,
            ) -> session_core::Result<session_core::Page> {
                self.0.list(f).await
            }
            async fn get_by_connection_id(
                &self,
                c: &ConnectionId,
            ) -> session_core::Result<Option<Arc<Session>>> {
                self.0.get_by_connection_id(c).await
            }
            async fn get_by_user_id(&self, u: &UserId) -> session_core::Result<Vec<Arc<Session>>> {
                self.0.get_by_user_id(u).await
            }
            async fn delete_by_user_id(
                &self,
                u: &UserId,
                except: Option<&SessionId>,
            ) -> session_core::Result<Vec<SessionId>> {
                self.0.delete_by_user_id(u, except).await
            }
            async fn delete_expired(&self) -> session_core::Result<u64> {
                self.0.delete_expired().await
            }
            async fn count(&self) -> session_core::Result<u64> {
                self.0.count().await
            }
        }
        let store = Forgetful(store_memory::MemoryStore::new(), Arc::default());
        let stop = Arc::new(AtomicBool::new(false));
        let config = LoadConfig {
            tasks: 4,
            ..LoadConfig::default()
        };
        let completed = config.completed.clone();
        let run = tokio::spawn(run(vec![store], config, stop.clone(), 11));
        let waited = wait_for_calls(&completed, 1000, Duration::from_secs(120)).await;
        assert_eq!(waited, Ok(()), "calls completed in 120 s");
        stop.store(true, Ordering::Relaxed);
        let report = run.await.unwrap();
        assert!(report.stale > 0, "{}", report.summary());
    }
}
