//! HybridStore: reads from the L1 when tracking is live, everything else through RedisStore.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use fred::prelude::{ClientLike, EventInterface, TrackingInterface};
use fred::types::RespVersion;
use parking_lot::Mutex;
use session_core::{
    Clock, ConnectionId, Error, FastClock, ListFilter, Page, Result, Session, SessionId, Store,
    Timestamp, UserId,
};
use store_redis::RedisStore;
use store_redis::connection::{self, map_error as map_err};
use tokio::sync::OnceCell;
use tokio::sync::broadcast::error::RecvError;

use crate::config::HybridConfig;
use crate::l1::{L1, Ticket};

/// Counters of what the hybrid store did (since it started).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HybridStats {
    /// Reads answered from the L1.
    pub hits: u64,
    /// Reads that went to Redis (misses, and reads while tracking was not live).
    pub misses: u64,
    /// Redis reads made for single-flight misses (concurrent misses on one id share one).
    pub flights: u64,
    /// Invalidation messages applied (one per key).
    pub invalidations: u64,
    /// Times the L1 was flushed (tracking lost, lagged or re-established).
    pub flushes: u64,
    /// Times tracking was (re-)enabled.
    pub tracking_starts: u64,
    /// Background reads of a session in use whose entry an invalidation dropped.
    pub refreshes: u64,
}

/// An in-process L1 in front of a [`RedisStore`], kept coherent across instances by Redis
/// client-side caching (see the crate docs). Cloning is cheap; clones share the L1.
#[derive(Clone)]
pub struct HybridStore {
    inner: Arc<Inner>,
}

struct Inner {
    redis: RedisStore,
    l1: L1,
    shared: Arc<Shared>,
    clock: FastClock,
    max_age: Duration,
    inflight: Mutex<HashMap<SessionId, Flight>>,
    tracker: fred::prelude::Client,
    /// Refreshes read on the tracking connection (standalone and Sentinel; a Cluster's
    /// refreshes go through the store's routing).
    refresh_on_tracker: bool,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Dropped with the store: the tracking thread then stops.
    _thread: TrackingThread,
}

/// The thread that runs the tracking connection and the receive loop (a current-thread
/// runtime of its own), so that invalidations are applied as soon as they arrive rather
/// than after every busy task of the application's workers has had its turn.
struct TrackingThread {
    handle: tokio::runtime::Handle,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl TrackingThread {
    fn start() -> Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::backend)?;
        let handle = rt.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("session-tracking".into())
            .spawn(move || {
                rt.block_on(async {
                    let _ = stopped.await;
                });
                // Dropping the runtime ends the tracking connection's tasks.
            })
            .map_err(Error::backend)?;
        Ok(TrackingThread {
            handle,
            _stop: stop,
        })
    }

    /// Runs `f` on the tracking thread and waits for it.
    async fn run<T: Send + 'static>(
        &self,
        f: impl std::future::Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        self.handle.spawn(f).await.map_err(Error::backend)?
    }
}

/// How long before a session's expiry the L1 stops serving it.
const EXPIRY_MARGIN: Duration = Duration::from_millis(5);

/// One Redis read that concurrent misses on the same id wait for.
type Flight = Arc<OnceCell<Option<Arc<Session>>>>;

/// State shared with the tracking task.
struct Shared {
    live: AtomicBool,
    misses: AtomicU64,
    flights: AtomicU64,
    invalidations: AtomicU64,
    flushes: AtomicU64,
    tracking_starts: AtomicU64,
    refreshes: AtomicU64,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().take() {
            task.abort();
        }
        // The tracking thread stops when `_thread` is dropped, right after this; its
        // runtime's end closes the tracking connection.
    }
}

impl std::fmt::Debug for HybridStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HybridStore")
            .field("redis", &self.inner.redis)
            .field("live", &self.is_tracking_live())
            .field("l1_len", &self.inner.l1.len())
            .finish_non_exhaustive()
    }
}

impl HybridStore {
    /// Connects the Redis store and a separate RESP3 tracking connection, enables tracking
    /// (`CLIENT TRACKING ON BCAST PREFIX <prefix>:s:`) and starts the thread that applies
    /// invalidations (named `session-tracking`, a current-thread tokio runtime of its own,
    /// which also runs the tracking connection). Needs a tokio runtime.
    pub async fn connect(config: HybridConfig) -> Result<Self> {
        if config.capacity == 0 {
            return Err(Error::invalid("capacity", "must be at least 1"));
        }
        if config.max_age.is_zero() || config.heartbeat.is_zero() {
            return Err(Error::invalid(
                "max_age",
                "max_age and heartbeat must be positive",
            ));
        }
        let redis = RedisStore::connect(config.redis.clone()).await?;
        // Set up as the store's own connections are (timeouts, reconnect policy), on RESP3.
        let fred_config = connection::fred_config(&config.redis, RespVersion::RESP3)?;
        let timeout = config.redis.command_timeout;
        let tracker = connection::builder(&config.redis, fred_config)
            .with_performance_config(|p| {
                // Invalidations arrive here; a lagging receiver flushes the L1.
                p.broadcast_channel_capacity = 4096;
            })
            .build()
            .map_err(map_err)?;
        // Subscribe before connecting so that no event is missed.
        let events = Events {
            invalidations: tracker.invalidation_rx(),
            reconnects: tracker.reconnect_rx(),
            errors: tracker.error_rx(),
            unresponsive: tracker.unresponsive_rx(),
        };
        // The tracking connection's tasks run on the tracking thread: fred spawns them on the
        // runtime that calls `init`.
        let thread = TrackingThread::start()?;
        let connected = {
            let (tracker, config) = (tracker.clone(), config.redis.clone());
            thread.run(async move {
                let connect = async {
                    tracker.init().await?;
                    tracker.wait_for_connect().await
                };
                connection::wait_connected(&config, connect).await
            })
        };
        connected.await?;
        // The connection just made announces itself as a "reconnect"; tracking is enabled on
        // it below, so that event is not news.
        let mut events = events;
        while events.reconnects.try_recv().is_ok() {}
        let shared = Arc::new(Shared {
            live: AtomicBool::new(false),
            misses: AtomicU64::new(0),
            flights: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            flushes: AtomicU64::new(0),
            tracking_starts: AtomicU64::new(0),
            refreshes: AtomicU64::new(0),
        });
        let prefix = redis.record_key_prefix();
        enable_tracking(&tracker, &prefix, timeout).await?;
        shared.tracking_starts.fetch_add(1, Ordering::Relaxed);
        shared.live.store(true, Ordering::Release);
        let refresh_on_tracker = !redis.is_clustered();
        let inner = Arc::new(Inner {
            refresh_on_tracker,
            redis,
            l1: L1::new(config.capacity),
            shared,
            clock: FastClock::new(),
            max_age: config.max_age,
            inflight: Mutex::new(HashMap::new()),
            tracker: tracker.clone(),
            task: Mutex::new(None),
            _thread: thread,
        });
        // The task holds the store weakly: dropping the last HybridStore ends it.
        let task = inner._thread.handle.spawn(track(
            Arc::downgrade(&inner),
            tracker,
            events,
            prefix,
            timeout,
            config.heartbeat,
        ));
        *inner.task.lock() = Some(task);
        let store = HybridStore { inner };
        Ok(store)
    }

    /// The Redis store underneath.
    pub fn redis(&self) -> &RedisStore {
        &self.inner.redis
    }

    /// True while invalidations are being received, so the L1 is used.
    pub fn is_tracking_live(&self) -> bool {
        self.inner.shared.live.load(Ordering::Acquire)
    }

    /// True if the L1 holds an entry for `id` (for tests and diagnostics).
    pub fn l1_contains(&self, id: &SessionId) -> bool {
        self.inner.l1.peek(id).is_some()
    }

    /// The version of `id` this instance's L1 holds, if any (for tests and diagnostics; not
    /// counted as a read, and regardless of whether it would still be served).
    pub fn l1_peek(&self, id: &SessionId) -> Option<Arc<Session>> {
        self.inner.l1.peek(id)
    }

    /// Drops `id` from this instance's L1, so that the next read goes to Redis (an operator's
    /// or a test's cold read). Other instances are not affected.
    pub fn evict(&self, id: &SessionId) {
        self.inner.forget(id);
    }

    /// What the store has done so far.
    pub fn stats(&self) -> HybridStats {
        let s = &self.inner.shared;
        HybridStats {
            hits: self.inner.l1.hits(),
            misses: s.misses.load(Ordering::Relaxed),
            flights: s.flights.load(Ordering::Relaxed),
            invalidations: s.invalidations.load(Ordering::Relaxed),
            flushes: s.flushes.load(Ordering::Relaxed),
            tracking_starts: s.tracking_starts.load(Ordering::Relaxed),
            refreshes: s.refreshes.load(Ordering::Relaxed),
        }
    }

    /// The id of the tracking connection on the server (`CLIENT ID`), for tests that cut it.
    pub async fn tracking_client_id(&self) -> Result<i64> {
        use fred::prelude::ClientInterface;
        self.inner.tracker.client_id().await.map_err(map_err)
    }

    /// Stops the tracking task and closes both connections.
    pub async fn close(&self) -> Result<()> {
        self.inner.shared.live.store(false, Ordering::Release);
        if let Some(task) = self.inner.task.lock().take() {
            task.abort();
        }
        let _ = self.inner.tracker.quit().await;
        self.inner.redis.close().await
    }
}

impl Inner {
    /// When the L1 stops serving `s`: its expiry less a margin, or `max_age` from now. The
    /// margin covers the FastClock's millisecond rounding against the server's clock, which
    /// is the one that decides expiry; after it, reads go to Redis.
    fn deadline(&self, s: &Session, now: Timestamp) -> Timestamp {
        (s.expires_at - EXPIRY_MARGIN).min(now + self.max_age)
    }

    fn live(&self) -> bool {
        self.shared.live.load(Ordering::Acquire)
    }

    /// The hit path, synchronous: the L1's entry for `id` if tracking is live and it is there
    /// and fresh.
    #[inline]
    fn hit(&self, id: &SessionId) -> Option<Arc<Session>> {
        if !self.live() {
            return None;
        }
        self.l1.get(id, self.clock.now())
    }

    /// The miss path: Redis, through a single flight while tracking is live. Callers box it,
    /// so that the hit path's future does not carry this one (fred's futures are large).
    async fn miss(&self, id: &SessionId) -> Result<Option<Arc<Session>>> {
        self.shared.misses.fetch_add(1, Ordering::Relaxed);
        if !self.live() {
            return self.redis.get(id).await;
        }
        self.flight(id, false).await
    }

    /// Reads `id` from Redis and fills the L1; concurrent misses on one id share one read
    /// (single flight). A write through this instance, an invalidation or a flush detaches the
    /// flight under way, so a read that begins after them never joins a read that may have
    /// begun before them.
    async fn flight(&self, id: &SessionId, refresh: bool) -> Result<Option<Arc<Session>>> {
        let cell = Arc::clone(self.inflight.lock().entry(*id).or_default());
        let result = cell
            .get_or_try_init(|| async {
                let ticket = self.l1.ticket(id);
                self.shared.flights.fetch_add(1, Ordering::Relaxed);
                let found = if refresh && self.refresh_on_tracker {
                    self.redis.get_on(&self.tracker, id).await?
                } else {
                    self.redis.get(id).await?
                };
                if let Some(s) = &found {
                    self.l1
                        .fill(ticket, Arc::clone(s), self.deadline(s, self.clock.now()));
                }
                Ok::<_, Error>(found)
            })
            .await
            .cloned();
        let mut inflight = self.inflight.lock();
        if inflight.get(id).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            inflight.remove(id);
        }
        result
    }

    /// After a write of `id` through this instance (its ticket taken before it was sent):
    /// caches what it stored, or drops the entry if it failed (a timeout may still have
    /// written), and detaches the flight under way.
    fn wrote(&self, id: &SessionId, ticket: Ticket, result: &Result<Arc<Session>>) {
        match result {
            Ok(s) if self.live() => {
                let deadline = self.deadline(s, self.clock.now());
                self.l1.write_through(ticket, Arc::clone(s), deadline);
            }
            _ => {
                self.l1.invalidate(id);
            }
        }
        self.inflight.lock().remove(id);
    }

    /// Drops `id` from the L1 and detaches its flight; true if the session was in use: the
    /// entry dropped had been read (or written) since it was cached, or a read of it (a
    /// miss's or a refresh's, whose fill this voids) was under way.
    fn forget(&self, id: &SessionId) -> bool {
        let used = self.l1.invalidate(id);
        let reading = self
            .inflight
            .lock()
            .remove(id)
            .is_some_and(|flight| !flight.initialized());
        used || reading
    }

    /// Reads `id` again (after an invalidation dropped an entry in use), so that the next read
    /// of a hot session hits. The read is an ordinary flight: its ticket is taken after the
    /// invalidation, and readers that miss meanwhile join it. The tracking task polls it
    /// beside its events, on the tracking thread; on standalone and Sentinel its GET goes on
    /// the tracking connection, so that its reply is read on that thread too.
    fn refresh(self: &Arc<Self>, id: SessionId) -> Refresh {
        self.shared.refreshes.fetch_add(1, Ordering::Relaxed);
        let inner = Arc::clone(self);
        Box::pin(async move {
            if inner.live() {
                let _ = inner.flight(&id, true).await;
            }
        })
    }

    async fn get_many(&self, ids: &[SessionId]) -> Result<Vec<Option<Arc<Session>>>> {
        let now = self.clock.now();
        let live = self.live();
        let mut out: Vec<Option<Arc<Session>>> = Vec::with_capacity(ids.len());
        let mut missing = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            match live.then(|| self.l1.get(id, now)).flatten() {
                Some(s) => out.push(Some(s)),
                None => {
                    out.push(None);
                    missing.push(i);
                }
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        self.shared
            .misses
            .fetch_add(missing.len() as u64, Ordering::Relaxed);
        let miss_ids: Vec<SessionId> = missing.iter().map(|&i| ids[i]).collect();
        let tickets: Vec<_> = miss_ids.iter().map(|id| self.l1.ticket(id)).collect();
        let fetched = self.redis.get_many(&miss_ids).await?;
        let now = self.clock.now();
        for ((i, ticket), s) in missing.into_iter().zip(tickets).zip(fetched) {
            if let (true, Some(s)) = (live, &s) {
                self.l1.fill(ticket, Arc::clone(s), self.deadline(s, now));
            }
            out[i] = s;
        }
        Ok(out)
    }

    fn mark_down(&self) {
        if self.shared.live.swap(false, Ordering::AcqRel) {
            self.flush();
        }
    }

    fn flush(&self) {
        self.l1.flush();
        self.inflight.lock().clear();
        self.shared.flushes.fetch_add(1, Ordering::Relaxed);
    }
}

/// A refresh under way, polled by the tracking task.
type Refresh = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// The most refreshes under way at once; beyond it an invalidated entry is only dropped.
const MAX_REFRESHES: usize = 1024;

/// Polls every refresh under way; ready when at least one finished.
fn poll_refreshes(
    refreshes: &mut Vec<Refresh>,
    cx: &mut std::task::Context<'_>,
) -> std::task::Poll<()> {
    let before = refreshes.len();
    refreshes.retain_mut(|r| r.as_mut().poll(cx).is_pending());
    if refreshes.len() < before {
        std::task::Poll::Ready(())
    } else {
        std::task::Poll::Pending
    }
}

struct Events {
    invalidations: tokio::sync::broadcast::Receiver<fred::types::client::Invalidation>,
    reconnects: tokio::sync::broadcast::Receiver<fred::types::config::Server>,
    errors:
        tokio::sync::broadcast::Receiver<(fred::error::Error, Option<fred::types::config::Server>)>,
    unresponsive: tokio::sync::broadcast::Receiver<fred::types::config::Server>,
}

async fn enable_tracking(
    tracker: &fred::prelude::Client,
    prefix: &str,
    timeout: Duration,
) -> Result<()> {
    let start = tracker.start_tracking(prefix.to_owned(), true, false, false, false);
    match tokio::time::timeout(timeout, start).await {
        Ok(Ok(())) => Ok(()),
        // Redis refuses a prefix the connection already tracks: then tracking is on.
        Ok(Err(e)) if e.details().contains("overlaps") => Ok(()),
        Ok(Err(e)) => Err(map_err(e)),
        Err(_) => Err(Error::Timeout { source: None }),
    }
}

/// The receive loop: applies invalidations; on lag, error, unresponsiveness or reconnection
/// it flushes the L1 and bypasses it until tracking is enabled again on a live connection.
async fn track(
    store: std::sync::Weak<Inner>,
    tracker: fred::prelude::Client,
    mut events: Events,
    prefix: String,
    timeout: Duration,
    heartbeat: Duration,
) {
    enum Event {
        Trouble,
        Reconnected,
        Invalidation(fred::types::client::Invalidation),
        Lagged,
        Closed,
        Tick,
        Refreshed,
    }
    let mut refreshes: Vec<Refresh> = Vec::new();
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // Wait without holding the store, so that dropping it ends this task.
        let event = tokio::select! {
            biased;
            e = events.errors.recv() => match e {
                Err(RecvError::Closed) => Event::Closed,
                _ => Event::Trouble,
            },
            e = events.unresponsive.recv() => match e {
                Err(RecvError::Closed) => Event::Closed,
                _ => Event::Trouble,
            },
            e = events.reconnects.recv() => match e {
                Err(RecvError::Closed) => Event::Closed,
                _ => Event::Reconnected,
            },
            m = events.invalidations.recv() => match m {
                Ok(inv) => Event::Invalidation(inv),
                Err(RecvError::Lagged(_)) => Event::Lagged,
                Err(RecvError::Closed) => Event::Closed,
            },
            _ = tick.tick() => Event::Tick,
            () = std::future::poll_fn(|cx| poll_refreshes(&mut refreshes, cx)),
                if !refreshes.is_empty() => Event::Refreshed,
        };
        let Some(inner) = store.upgrade() else { return };
        match event {
            Event::Trouble => inner.mark_down(),
            Event::Closed => {
                inner.mark_down();
                return;
            }
            Event::Reconnected => {
                // A new connection has no tracking: bypass until it is enabled again.
                inner.mark_down();
                restart(&inner, &tracker, &prefix, timeout).await;
            }
            Event::Invalidation(inv) => {
                if inv.keys.is_empty() {
                    // A null invalidation means "everything".
                    inner.flush();
                }
                for key in &inv.keys {
                    if let Some(id) = inner.redis.session_id_of_key(key.as_bytes()) {
                        inner.shared.invalidations.fetch_add(1, Ordering::Relaxed);
                        if inner.forget(&id) && inner.live() && refreshes.len() < MAX_REFRESHES {
                            refreshes.push(inner.refresh(id));
                        }
                    }
                }
            }
            Event::Refreshed => {}
            // Messages were lost: whatever they named may be cached. Start over.
            Event::Lagged => inner.flush(),
            Event::Tick => {
                if inner.live() {
                    let ping = tokio::time::timeout(timeout, tracker.ping::<()>(None)).await;
                    if !matches!(ping, Ok(Ok(()))) {
                        inner.mark_down();
                    }
                } else {
                    restart(&inner, &tracker, &prefix, timeout).await;
                }
            }
        }
    }
}

/// Re-enables tracking and, once the server confirms, flushes and goes live again.
async fn restart(inner: &Inner, tracker: &fred::prelude::Client, prefix: &str, timeout: Duration) {
    if !tracker.is_connected() {
        return;
    }
    if enable_tracking(tracker, prefix, timeout).await.is_ok() {
        inner.shared.tracking_starts.fetch_add(1, Ordering::Relaxed);
        inner.flush();
        inner.shared.live.store(true, Ordering::Release);
    }
}

impl Store for HybridStore {
    async fn create(&self, session: Session) -> Result<Arc<Session>> {
        let id = session.id;
        let ticket = self.inner.l1.ticket(&id);
        let r = self.inner.redis.create(session).await;
        self.inner.wrote(&id, ticket, &r);
        r
    }

    async fn get(&self, id: &SessionId) -> Result<Option<Arc<Session>>> {
        // A hit is a ready future: take part in tokio's cooperative budget, as its own
        // resources do, so that tasks looping on hits still let timers and others run.
        tokio::task::coop::consume_budget().await;
        if let Some(s) = self.inner.hit(id) {
            return Ok(Some(s));
        }
        Box::pin(self.inner.miss(id)).await
    }

    async fn get_many(&self, ids: &[SessionId]) -> Result<Vec<Option<Arc<Session>>>> {
        tokio::task::coop::consume_budget().await;
        self.inner.get_many(ids).await
    }

    async fn update(&self, session: Session) -> Result<Arc<Session>> {
        let id = session.id;
        let ticket = self.inner.l1.ticket(&id);
        let r = self.inner.redis.update(session).await;
        self.inner.wrote(&id, ticket, &r);
        r
    }

    async fn touch(&self, id: &SessionId, expires_at: Timestamp) -> Result<Arc<Session>> {
        let ticket = self.inner.l1.ticket(id);
        let r = self.inner.redis.touch(id, expires_at).await;
        self.inner.wrote(id, ticket, &r);
        r
    }

    async fn delete(&self, id: &SessionId) -> Result<bool> {
        let r = self.inner.redis.delete(id).await;
        self.inner.forget(id);
        r
    }

    async fn list(&self, filter: &ListFilter) -> Result<Page> {
        self.inner.redis.list(filter).await
    }

    async fn get_by_connection_id(
        &self,
        connection_id: &ConnectionId,
    ) -> Result<Option<Arc<Session>>> {
        self.inner.redis.get_by_connection_id(connection_id).await
    }

    async fn get_by_user_id(&self, user_id: &UserId) -> Result<Vec<Arc<Session>>> {
        self.inner.redis.get_by_user_id(user_id).await
    }

    async fn delete_by_user_id(
        &self,
        user_id: &UserId,
        except: Option<&SessionId>,
    ) -> Result<Vec<SessionId>> {
        let deleted = self.inner.redis.delete_by_user_id(user_id, except).await;
        match &deleted {
            Ok(ids) => ids.iter().for_each(|id| {
                self.inner.forget(id);
            }),
            // Unknown what was deleted: drop everything rather than serve a revoked session.
            Err(_) => self.inner.flush(),
        }
        deleted
    }

    async fn delete_expired(&self) -> Result<u64> {
        self.inner.redis.delete_expired().await
    }

    async fn count(&self) -> Result<u64> {
        self.inner.redis.count().await
    }
}
