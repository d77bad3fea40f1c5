//! The conformance suite: every promise of a [`Store`], written once, run on every store.
//!
//! A store's test crate expands it with [`conformance_suite!`](crate::conformance_suite),
//! giving one named `#[tokio::test]` per case, run on the store directly (module `direct`) and
//! through `Arc<dyn DynStore>` (module `dyn_store`). The test crate needs `tokio` (features
//! `macros`, `rt-multi-thread`) among its dev-dependencies.
//!
//! A store's `tests/it/conformance.rs` gives the suite a fixture: a fresh store and how time
//! passes for it. For a store that reads a [`ManualClock`](crate::ManualClock), advancing
//! needs no sleeping (this is store-memory's):
//!
//! ```
//! use std::sync::Arc;
//! use session_core::conformance::Fixture;
//! use session_core::{DynStore, ManualClock};
//! # /// A store reading `clock` (store-memory's fixture builds a `MemoryStore` here).
//! # fn my_store(_clock: ManualClock) -> Arc<dyn DynStore> { unimplemented!() }
//!
//! /// The setup the macro calls once per case: a [`ManualClock`](crate::ManualClock) is its
//! /// own `TimeControl`.
//! pub async fn fixture() -> Fixture<Arc<dyn DynStore>> {
//!     let clock = ManualClock::starting_now();
//!     let store = my_store(clock.clone()); // e.g. MemoryStore::with_config(..clock(clock.clone()))
//!     Fixture::new(store, Arc::new(clock))
//! }
//! // ...and then, at the top level of the test file:
//! // session_core::conformance_suite!(fixture);
//! # fn main() {}
//! ```
//!
//! Time-dependent cases ask the fixture's [`TimeControl`] how time moves: an in-process store
//! moves a manual clock, a Redis store sleeps (Redis expires keys by its own clock).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use crate::{
    BoxFuture, Collision, Computed, ConnectionId, DynStore, Error, ListFilter, Metadata, Op,
    Session, SessionId, SessionState, Stats, Store, Timestamp, UserId, limits,
};

mod cases;
pub mod hostile;
pub mod model;
pub use cases::*;

/// How time passes for the store under test.
pub trait TimeControl: Send + Sync + Debug {
    /// Now, as the store judges expiry.
    fn now(&self) -> Timestamp;
    /// Lets at least `by` pass for the store (moving a manual clock, or sleeping).
    fn advance(&self, by: Duration) -> BoxFuture<'_, ()>;
    /// The TTL the expiry cases give a session that must outlive a few operations and then
    /// expire after [`TimeControl::advance`]. Short for stores that must sleep.
    fn short_ttl(&self) -> Duration;
}

/// A store that reads a manual clock: advancing moves the clock, no sleeping.
impl TimeControl for crate::ManualClock {
    fn now(&self) -> Timestamp {
        crate::Clock::now(self)
    }
    fn advance(&self, by: Duration) -> BoxFuture<'_, ()> {
        crate::ManualClock::advance(self, by);
        Box::pin(async {})
    }
    fn short_ttl(&self) -> Duration {
        Duration::from_secs(60)
    }
}

/// A store under test and the time it lives in.
pub struct Fixture<S> {
    /// The store, empty.
    pub store: Arc<S>,
    /// How time passes for it.
    pub time: Arc<dyn TimeControl>,
    /// Run after a case that passed (e.g. removing the case's keys from a shared server).
    pub teardown: Option<BoxFuture<'static, ()>>,
}

impl<S: Store + 'static> Fixture<S> {
    /// Wraps a fresh, empty store.
    pub fn new(store: S, time: Arc<dyn TimeControl>) -> Self {
        Fixture {
            store: Arc::new(store),
            time,
            teardown: None,
        }
    }

    /// Adds a teardown, run after each case that passed.
    pub fn with_teardown(
        mut self,
        teardown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Self {
        self.teardown = Some(Box::pin(teardown));
        self
    }

    /// The same store behind `Arc<dyn DynStore>`.
    pub fn into_dyn(self) -> Fixture<Arc<dyn DynStore>> {
        let store: Arc<dyn DynStore> = self.store;
        Fixture {
            store: Arc::new(store),
            time: self.time,
            teardown: self.teardown,
        }
    }

    fn now(&self) -> Timestamp {
        self.time.now()
    }

    /// A valid session for `user` that lives an hour, with a connection id.
    fn session(&self, user: &str) -> Session {
        Session::builder(user_id(user), self.now(), Duration::from_secs(3600))
            .connection_id(ConnectionId::new())
            .client_addr("198.51.100.7:40000".parse().unwrap())
            .server_addr("10.0.0.1:8443".parse().unwrap())
            .state(SessionState::Active)
            .metadata("device", "laptop")
            .build()
    }

    /// A session that expires after the fixture's short TTL.
    fn short_lived(&self, user: &str) -> Session {
        let mut s = self.session(user);
        s.expires_at = self.now() + self.time.short_ttl();
        s
    }

    /// Moves time past every short-lived session's expiry.
    async fn expire_short_lived(&self) {
        self.time
            .advance(self.time.short_ttl() + Duration::from_millis(50))
            .await;
    }

    /// Lets time pass until the store's clock reads `at` or later, arriving as close to `at`
    /// as it can: it sleeps to a few milliseconds before, then spins on the clock (a manual
    /// clock that does not move by itself is advanced the rest of the way).
    async fn reach(&self, at: Timestamp) {
        let early = Duration::from_millis(5);
        let now = self.now();
        if at > now + early {
            self.time.advance((at - early).duration_since(now)).await;
        }
        let spin = std::time::Instant::now();
        while self.now() < at {
            if spin.elapsed() > Duration::from_millis(50) {
                let now = self.now();
                self.time.advance(at.duration_since(now)).await;
            } else {
                tokio::task::yield_now().await;
            }
        }
    }

    async fn create(&self, s: Session) -> Arc<Session> {
        self.store.create(s).await.expect("create")
    }

    async fn get(&self, id: &SessionId) -> Option<Arc<Session>> {
        self.store.get(id).await.expect("get")
    }

    async fn by_user(&self, user: &str) -> Vec<Arc<Session>> {
        self.store
            .get_by_user_id(&user_id(user))
            .await
            .expect("get_by_user_id")
    }

    async fn by_conn(&self, conn: &ConnectionId) -> Option<Arc<Session>> {
        self.store
            .get_by_connection_id(conn)
            .await
            .expect("get_by_connection_id")
    }

    async fn count(&self) -> u64 {
        self.store.count().await.expect("count")
    }

    async fn list_all(&self) -> Page2 {
        let page = self
            .store
            .list(&ListFilter::new().limit(10_000))
            .await
            .expect("list");
        Page2 {
            ids: page.sessions.iter().map(|s| s.id).collect(),
            total: page.total,
        }
    }

    /// Everything the store shows about itself, to compare before and after a refused write.
    async fn snapshot(&self, users: &[&str]) -> Snapshot {
        let mut by_user = Vec::new();
        for u in users {
            by_user.push(ids(&self.by_user(u).await));
        }
        let page = self
            .store
            .list(&ListFilter::new().limit(10_000))
            .await
            .expect("list");
        Snapshot {
            count: self.count().await,
            sessions: page.sessions.iter().map(|s| Session::clone(s)).collect(),
            total: page.total,
            by_user,
        }
    }

    /// Asserts the index promise for `s`: found by id, by user and by connection.
    async fn assert_indexed(&self, s: &Session) {
        let got = self.get(&s.id).await.expect("readable by id");
        assert_eq!(*got, *s, "stored session differs");
        assert!(
            ids(&self.by_user(s.user_id.as_str()).await).contains(&s.id),
            "readable by id but missing from its user's index"
        );
        if let Some(conn) = &s.connection_id {
            let by_conn = self.by_conn(conn).await.expect("findable by connection");
            assert_eq!(by_conn.id, s.id);
        }
    }

    /// Asserts that `s` is gone from every view.
    async fn assert_gone(&self, s: &Session) {
        assert!(self.get(&s.id).await.is_none(), "still readable by id");
        assert!(
            !ids(&self.by_user(s.user_id.as_str()).await).contains(&s.id),
            "still listed under its user"
        );
        if let Some(conn) = &s.connection_id {
            assert!(
                self.by_conn(conn).await.is_none_or(|f| f.id != s.id),
                "still found by connection"
            );
        }
        assert!(
            !self.list_all().await.ids.contains(&s.id),
            "still in list()"
        );
        let many = self.store.get_many(&[s.id]).await.expect("get_many");
        assert!(many[0].is_none(), "still returned by get_many");
    }
}

/// What a suite setup may return: a [`Fixture`], or `Option<Fixture>` where `None` means
/// "no backend here, skip" (the setup decides whether that is allowed).
pub trait IntoFixture {
    /// The store type.
    type Store: Store + 'static;
    /// The fixture, or `None` to skip the case.
    fn into_fixture(self) -> Option<Fixture<Self::Store>>;
}

impl<S: Store + 'static> IntoFixture for Fixture<S> {
    type Store = S;
    fn into_fixture(self) -> Option<Fixture<S>> {
        Some(self)
    }
}

impl<S: Store + 'static> IntoFixture for Option<Fixture<S>> {
    type Store = S;
    fn into_fixture(self) -> Option<Fixture<S>> {
        self
    }
}

struct Page2 {
    ids: Vec<SessionId>,
    total: u64,
}

#[derive(Debug, PartialEq)]
struct Snapshot {
    count: u64,
    sessions: Vec<Session>,
    total: u64,
    by_user: Vec<Vec<SessionId>>,
}

fn user_id(user: &str) -> UserId {
    UserId::new(user).expect("valid user id")
}

fn ids(sessions: &[Arc<Session>]) -> Vec<SessionId> {
    sessions.iter().map(|s| s.id).collect()
}

fn assert_invalid<T: Debug>(result: Result<T, Error>, field: &str) {
    match result {
        Err(Error::InvalidInput { field: f, .. }) if f == field => {}
        other => panic!("expected InvalidInput on {field}, got {other:?}"),
    }
}

fn assert_not_found<T: Debug>(result: Result<T, Error>) {
    match result {
        Err(Error::NotFound { .. }) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

fn assert_conflict<T: Debug>(result: Result<T, Error>) {
    match result {
        Err(Error::Conflict { .. }) => {}
        other => panic!("expected Conflict, got {other:?}"),
    }
}

/// Expands the conformance suite into one `#[tokio::test]` per case, twice: module `direct`
/// runs the cases on the store, module `dyn_store` through `Arc<dyn DynStore>`.
///
/// `$setup` is an expression callable with no arguments that returns a future of a
/// [`Fixture`] (or an `Option<Fixture>`, `None` to skip: see [`IntoFixture`]) holding a fresh,
/// empty store (a closure `|| async { ... }` or a path to an
/// `async fn`). The calling crate needs `tokio` with `macros` and `rt-multi-thread`.
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
#[macro_export]
macro_rules! conformance_suite {
    ($setup:expr) => {
        $crate::__conformance_cases!(__conformance_expand!($setup));
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_expand {
    ($setup:expr; $($module:ident::{$($case:ident),* $(,)?}),* $(,)?) => {
        mod direct {
            #[allow(unused_imports)]
            use super::*;
            $($(
                #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(mut fixture) =
                        $crate::conformance::IntoFixture::into_fixture(($setup)().await)
                    else {
                        return;
                    };
                    let teardown = fixture.teardown.take();
                    $crate::conformance::$case(fixture).await;
                    if let Some(teardown) = teardown {
                        teardown.await;
                    }
                }
            )*)*
        }
        mod dyn_store {
            #[allow(unused_imports)]
            use super::*;
            $($(
                #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(fixture) =
                        $crate::conformance::IntoFixture::into_fixture(($setup)().await)
                    else {
                        return;
                    };
                    let mut fixture = fixture.into_dyn();
                    let teardown = fixture.teardown.take();
                    $crate::conformance::$case(fixture).await;
                    if let Some(teardown) = teardown {
                        teardown.await;
                    }
                }
            )*)*
        }
    };
}
