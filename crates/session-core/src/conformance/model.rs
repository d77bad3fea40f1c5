//! A model-based test: random operation sequences run on a store and on a small reference
//! model (a `BTreeMap` of live sessions with the semantics [`Store`] documents), and every
//! answer must agree, errors included.
//!
//! The model covers create (fresh, on a live id, on a held connection id), get, get_many,
//! update (current, stale and future versions; moving the user and the connection id; onto a
//! connection another session holds; on a missing id), touch, delete, get_by_user_id,
//! get_by_connection_id, delete_by_user_id (with and without `except`), count and list (user
//! and state filters, limit and offset). Ids come from small pools so that collisions are
//! frequent; user ids include the characters the Redis key layout escapes. Every expiry is at
//! least an hour ahead, so no session expires during a case and the test does not depend on
//! timing.
//!
//! A store's `tests/it/model.rs` calls [`run`] from a plain `#[test]` with the same setup its
//! conformance suite uses (a fresh, empty store per case: a fresh key prefix for Redis, whose
//! keys the fixture's teardown removes after every case, passing or not). On a disagreement
//! proptest shrinks the sequence and the test panics with the minimal one.
//!
//! ```no_run
//! use std::sync::Arc;
//! use session_core::conformance::Fixture;
//! use session_core::conformance::model::{self, ModelConfig};
//! use session_core::{DynStore, ManualClock};
//! # fn my_store(_clock: ManualClock) -> Arc<dyn DynStore> { unimplemented!() }
//!
//! async fn fixture() -> Fixture<Arc<dyn DynStore>> {
//!     let clock = ManualClock::starting_now();
//!     let store = my_store(clock.clone()); // e.g. MemoryStore::with_config(..clock(clock.clone()))
//!     Fixture::new(store, Arc::new(clock))
//! }
//!
//! // In tests/it/model.rs, inside a plain `#[test] fn`:
//! model::run("my-store", ModelConfig { cases: 256, max_ops: 40 }, fixture);
//! ```

use std::collections::BTreeMap;
use std::future::Future;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

use super::{Fixture, IntoFixture};
use crate::{
    Collision, ConnectionId, Error, ListFilter, Session, SessionId, SessionState, Store, Timestamp,
    UserId,
};
use std::time::Duration;

/// How many session ids a case draws from.
const IDS: u8 = 6;
/// How many connection ids a case draws from.
const CONNS: u8 = 4;
/// The user ids a case draws from: plain, layout characters, non-ASCII, a prefix of another.
const USERS: [&str; 4] = ["alice", "{b}:*", "ü c%", "alice:"];

/// Which version an update sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// The version the store holds.
    Current,
    /// One less (or 0 for a fresh session): a writer that read before the last write.
    Stale,
    /// One more: a version the store never handed out.
    Ahead,
}

/// One step of a sequence. Numbers index the case's pools of ids, connection ids and users.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Op {
    Create {
        id: u8,
        user: u8,
        conn: Option<u8>,
        state: u8,
        expiry_min: u16,
    },
    Get {
        id: u8,
    },
    GetMany {
        ids: Vec<u8>,
    },
    Update {
        id: u8,
        version: Version,
        user: u8,
        conn: Option<u8>,
        state: u8,
        meta: u8,
        expiry_min: Option<u16>,
    },
    Touch {
        id: u8,
        expiry_min: u16,
    },
    Delete {
        id: u8,
    },
    GetByUser {
        user: u8,
    },
    GetByConn {
        conn: u8,
    },
    DeleteByUser {
        user: u8,
        except: Option<u8>,
    },
    Count,
    List {
        user: Option<u8>,
        state: Option<u8>,
        limit: u8,
        offset: u8,
    },
}

/// Random operations, writes weighted so that the store fills up and collides.
pub fn op() -> impl Strategy<Value = Op> {
    let id = 0..IDS;
    let user = 0..USERS.len() as u8;
    let conn = proptest::option::weighted(0.7, 0..CONNS);
    let state = 0..5u8;
    let version = prop_oneof![
        6 => Just(Version::Current),
        2 => Just(Version::Stale),
        1 => Just(Version::Ahead),
    ];
    prop_oneof![
        5 => (id.clone(), user.clone(), conn.clone(), state.clone(), 0..600u16).prop_map(
            |(id, user, conn, state, expiry_min)| Op::Create { id, user, conn, state, expiry_min }
        ),
        2 => id.clone().prop_map(|id| Op::Get { id }),
        1 => proptest::collection::vec(0..IDS + 1, 0..5).prop_map(|ids| Op::GetMany { ids }),
        5 => (
            id.clone(),
            version,
            user.clone(),
            conn.clone(),
            state.clone(),
            0..4u8,
            proptest::option::of(0..600u16)
        )
            .prop_map(|(id, version, user, conn, state, meta, expiry_min)| Op::Update {
                id,
                version,
                user,
                conn,
                state,
                meta,
                expiry_min
            }),
        2 => (id.clone(), 0..600u16).prop_map(|(id, expiry_min)| Op::Touch { id, expiry_min }),
        2 => id.clone().prop_map(|id| Op::Delete { id }),
        2 => user.clone().prop_map(|user| Op::GetByUser { user }),
        2 => (0..CONNS).prop_map(|conn| Op::GetByConn { conn }),
        1 => (user.clone(), proptest::option::of(id))
            .prop_map(|(user, except)| Op::DeleteByUser { user, except }),
        1 => Just(Op::Count),
        2 => (
            proptest::option::of(user),
            proptest::option::weighted(0.3, state),
            0..8u8,
            0..4u8
        )
            .prop_map(|(user, state, limit, offset)| Op::List {
                user,
                state,
                limit,
                offset
            }),
    ]
}

/// Sequences of 1 to `max_ops` operations.
pub fn ops(max_ops: usize) -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(), 1..=max_ops.max(1))
}

/// What an operation answered, in a form both sides can be compared in.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    One(Session),
    Maybe(Option<Session>),
    Many(Vec<Option<Session>>),
    All(Vec<Session>),
    Page(Vec<Session>, u64),
    Flag(bool),
    Number(u64),
    /// Ids, sorted.
    Ids(Vec<SessionId>),
    NotFound(SessionId),
    Conflict {
        id: SessionId,
        expected: u64,
        actual: u64,
    },
    AlreadyExists(Collision),
    Invalid(&'static str),
    /// Any other error: never expected by the model.
    Failed(String),
}

impl Answer {
    fn from_error(e: Error) -> Self {
        match e {
            Error::NotFound { id } => Answer::NotFound(id),
            Error::Conflict {
                id,
                expected,
                actual,
            } => Answer::Conflict {
                id,
                expected,
                actual,
            },
            Error::AlreadyExists(c) => Answer::AlreadyExists(c),
            Error::InvalidInput { field, .. } => Answer::Invalid(field),
            other => Answer::Failed(format!("{other} ({other:?})")),
        }
    }
}

/// One case's pools and the instant its expiries are counted from.
struct Pools {
    base: Timestamp,
    ids: Vec<SessionId>,
    conns: Vec<ConnectionId>,
    users: Vec<UserId>,
}

impl Pools {
    fn new(base: Timestamp) -> Self {
        Pools {
            base,
            // Fresh ids per case (v7: they sort in creation order, which the slots shuffle).
            ids: (0..=IDS).map(|_| SessionId::new()).collect(),
            conns: (0..CONNS).map(|_| ConnectionId::new()).collect(),
            users: USERS
                .iter()
                .map(|u| UserId::new(u).expect("valid"))
                .collect(),
        }
    }

    /// At least an hour ahead: nothing expires while a case runs.
    fn expiry(&self, minutes: u16) -> Timestamp {
        self.base + Duration::from_secs(3600 + 60 * u64::from(minutes))
    }

    fn state(code: u8) -> SessionState {
        SessionState::ALL[usize::from(code) % SessionState::ALL.len()]
    }

    fn fresh(&self, id: u8, user: u8, conn: Option<u8>, state: u8, expiry_min: u16) -> Session {
        let mut b = Session::builder(
            self.users[usize::from(user)].clone(),
            self.base,
            Duration::ZERO,
        )
        .id(self.ids[usize::from(id)])
        .state(Self::state(state))
        .client_addr("198.51.100.7:40000".parse().expect("addr"))
        .metadata("device", "laptop")
        .expires_at(self.expiry(expiry_min));
        if let Some(c) = conn {
            b = b.connection_id(self.conns[usize::from(c)]);
        }
        b.build()
    }
}

/// The reference model: the live sessions by id.
#[derive(Debug, Default)]
struct Model {
    live: BTreeMap<SessionId, Session>,
}

impl Model {
    fn holder(&self, conn: &ConnectionId) -> Option<&Session> {
        self.live
            .values()
            .find(|s| s.connection_id.as_ref() == Some(conn))
    }

    fn of_user(&self, user: &UserId) -> Vec<Session> {
        self.live
            .values()
            .filter(|s| s.user_id == *user)
            .cloned()
            .collect()
    }

    fn create(&mut self, mut s: Session) -> Answer {
        if self.live.contains_key(&s.id) {
            return Answer::AlreadyExists(Collision::SessionId(s.id));
        }
        if let Some(conn) = s.connection_id {
            if self.holder(&conn).is_some() {
                return Answer::AlreadyExists(Collision::ConnectionId(conn));
            }
        }
        s.version = 1;
        self.live.insert(s.id, s.clone());
        Answer::One(s)
    }

    fn update(&mut self, mut s: Session) -> Answer {
        let Some(current) = self.live.get(&s.id) else {
            return Answer::NotFound(s.id);
        };
        if current.version != s.version {
            return Answer::Conflict {
                id: s.id,
                expected: s.version,
                actual: current.version,
            };
        }
        if let Some(conn) = s.connection_id {
            if self.holder(&conn).is_some_and(|h| h.id != s.id) {
                return Answer::AlreadyExists(Collision::ConnectionId(conn));
            }
        }
        s.version += 1;
        self.live.insert(s.id, s.clone());
        Answer::One(s)
    }

    fn touch(&mut self, id: SessionId, expires_at: Timestamp) -> Answer {
        match self.live.get_mut(&id) {
            None => Answer::NotFound(id),
            Some(s) => {
                s.expires_at = expires_at;
                s.version += 1;
                Answer::One(s.clone())
            }
        }
    }

    fn list(
        &self,
        user: Option<&UserId>,
        state: Option<SessionState>,
        limit: usize,
        offset: usize,
    ) -> Answer {
        let matching: Vec<&Session> = self
            .live
            .values()
            .filter(|s| {
                user.is_none_or(|u| *u == s.user_id) && state.is_none_or(|st| st == s.state)
            })
            .collect();
        let total = matching.len() as u64;
        Answer::Page(
            matching
                .into_iter()
                .skip(offset)
                .take(limit)
                .cloned()
                .collect(),
            total,
        )
    }
}

/// The session an update sends: the model's current one (or a fresh one for a missing id),
/// changed as the op says, with the version it asks for.
fn update_payload(model: &Model, pools: &Pools, op: &Op) -> Session {
    let Op::Update {
        id,
        version,
        user,
        conn,
        state,
        meta,
        expiry_min,
    } = *op
    else {
        unreachable!("update_payload takes an Op::Update")
    };
    let sid = pools.ids[usize::from(id)];
    let (mut s, current) = match model.live.get(&sid) {
        Some(s) => (s.clone(), s.version),
        None => (pools.fresh(id, user, None, state, 0), 1),
    };
    s.user_id = pools.users[usize::from(user)].clone();
    s.connection_id = conn.map(|c| pools.conns[usize::from(c)]);
    s.state = Pools::state(state);
    s.metadata.insert("n".to_owned(), format!("{meta}:{{x}}*"));
    s.last_active_at = pools.base + Duration::from_millis(u64::from(meta) + 1);
    s.stats.packets_sent += 1;
    if let Some(m) = expiry_min {
        s.expires_at = pools.expiry(m);
    }
    s.version = match version {
        Version::Current => current,
        Version::Stale => current.saturating_sub(1),
        Version::Ahead => current + 1,
    };
    s
}

fn one(r: crate::Result<std::sync::Arc<Session>>) -> Answer {
    r.map_or_else(Answer::from_error, |s| Answer::One(Session::clone(&s)))
}

fn maybe(r: crate::Result<Option<std::sync::Arc<Session>>>) -> Answer {
    r.map_or_else(Answer::from_error, |s| {
        Answer::Maybe(s.map(|s| Session::clone(&s)))
    })
}

/// Runs `ops` on the store and on the model; the first disagreement fails the case.
async fn check<S: Store + 'static>(f: &Fixture<S>, ops: &[Op]) -> Result<(), TestCaseError> {
    let pools = Pools::new(f.time.now());
    let mut model = Model::default();
    let store = &*f.store;
    for (step, op) in ops.iter().enumerate() {
        let (expected, got) = match op {
            &Op::Create {
                id,
                user,
                conn,
                state,
                expiry_min,
            } => {
                let s = pools.fresh(id, user, conn, state, expiry_min);
                (model.create(s.clone()), one(store.create(s).await))
            }
            &Op::Get { id } => {
                let sid = pools.ids[usize::from(id)];
                (
                    Answer::Maybe(model.live.get(&sid).cloned()),
                    maybe(store.get(&sid).await),
                )
            }
            Op::GetMany { ids } => {
                let sids: Vec<SessionId> = ids.iter().map(|&i| pools.ids[usize::from(i)]).collect();
                let expected =
                    Answer::Many(sids.iter().map(|s| model.live.get(s).cloned()).collect());
                let got = store
                    .get_many(&sids)
                    .await
                    .map_or_else(Answer::from_error, |v| {
                        Answer::Many(
                            v.into_iter()
                                .map(|s| s.map(|s| Session::clone(&s)))
                                .collect(),
                        )
                    });
                (expected, got)
            }
            Op::Update { .. } => {
                let s = update_payload(&model, &pools, op);
                (model.update(s.clone()), one(store.update(s).await))
            }
            &Op::Touch { id, expiry_min } => {
                let sid = pools.ids[usize::from(id)];
                let at = pools.expiry(expiry_min);
                (model.touch(sid, at), one(store.touch(&sid, at).await))
            }
            &Op::Delete { id } => {
                let sid = pools.ids[usize::from(id)];
                (
                    Answer::Flag(model.live.remove(&sid).is_some()),
                    store
                        .delete(&sid)
                        .await
                        .map_or_else(Answer::from_error, Answer::Flag),
                )
            }
            &Op::GetByUser { user } => {
                let u = &pools.users[usize::from(user)];
                let got = store
                    .get_by_user_id(u)
                    .await
                    .map_or_else(Answer::from_error, |v| {
                        Answer::All(v.iter().map(|s| Session::clone(s)).collect())
                    });
                (Answer::All(model.of_user(u)), got)
            }
            &Op::GetByConn { conn } => {
                let c = pools.conns[usize::from(conn)];
                (
                    Answer::Maybe(model.holder(&c).cloned()),
                    maybe(store.get_by_connection_id(&c).await),
                )
            }
            &Op::DeleteByUser { user, except } => {
                let u = &pools.users[usize::from(user)];
                let except = except.map(|i| pools.ids[usize::from(i)]);
                let victims: Vec<SessionId> = model
                    .of_user(u)
                    .iter()
                    .map(|s| s.id)
                    .filter(|id| Some(*id) != except)
                    .collect();
                for id in &victims {
                    model.live.remove(id);
                }
                let mut victims = victims;
                victims.sort();
                (
                    Answer::Ids(victims),
                    store
                        .delete_by_user_id(u, except.as_ref())
                        .await
                        .map_or_else(Answer::from_error, |mut ids| {
                            ids.sort();
                            Answer::Ids(ids)
                        }),
                )
            }
            Op::Count => (
                Answer::Number(model.live.len() as u64),
                store
                    .count()
                    .await
                    .map_or_else(Answer::from_error, Answer::Number),
            ),
            &Op::List {
                user,
                state,
                limit,
                offset,
            } => {
                let user = user.map(|u| pools.users[usize::from(u)].clone());
                let state = state.map(Pools::state);
                let mut filter = ListFilter::new()
                    .limit(usize::from(limit))
                    .offset(usize::from(offset));
                if let Some(u) = &user {
                    filter = filter.user(u.clone());
                }
                if let Some(s) = state {
                    filter = filter.state(s);
                }
                let expected = model.list(
                    user.as_ref(),
                    state,
                    usize::from(limit),
                    usize::from(offset),
                );
                let got = store
                    .list(&filter)
                    .await
                    .map_or_else(Answer::from_error, |p| {
                        Answer::Page(
                            p.sessions.iter().map(|s| Session::clone(s)).collect(),
                            p.total,
                        )
                    });
                (expected, got)
            }
        };
        if expected != got {
            return Err(TestCaseError::fail(format!(
                "step {step}, {op:?}:\n  model: {expected:?}\n  store: {got:?}"
            )));
        }
    }
    // Finally every view of the whole store agrees.
    let count = store
        .count()
        .await
        .map_err(|e| TestCaseError::fail(format!("count: {e}")))?;
    if count != model.live.len() as u64 {
        return Err(TestCaseError::fail(format!(
            "after the sequence: count {count}, model {}",
            model.live.len()
        )));
    }
    for u in &pools.users {
        let got: Vec<Session> = store
            .get_by_user_id(u)
            .await
            .map_err(|e| TestCaseError::fail(format!("get_by_user_id: {e}")))?
            .iter()
            .map(|s| Session::clone(s))
            .collect();
        if got != model.of_user(u) {
            return Err(TestCaseError::fail(format!(
                "after the sequence: user {u:?} has {got:?}, model {:?}",
                model.of_user(u)
            )));
        }
    }
    Ok(())
}

/// How many sequences, and how long.
#[derive(Debug, Clone, Copy)]
pub struct ModelConfig {
    /// Random sequences to run (`PROPTEST_CASES` overrides it).
    pub cases: u32,
    /// The longest sequence.
    pub max_ops: usize,
}

/// Runs `config.cases` random sequences, each on a fresh store from `setup`, against the
/// model; panics with the minimal failing sequence on a disagreement. If `setup` returns no
/// fixture (no backend, and the setup allows skipping), returns without running.
///
/// Call it from a plain `#[test]`: it drives the store on its own current-thread runtime.
pub fn run<F, Fut, X>(name: &str, config: ModelConfig, setup: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = X>,
    X: IntoFixture,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let probe = rt.block_on(async {
        let mut fixture = setup().await.into_fixture()?;
        if let Some(teardown) = fixture.teardown.take() {
            teardown.await;
        }
        Some(())
    });
    if probe.is_none() {
        eprintln!("{name}: no backend, model test skipped");
        return;
    }
    let cases = match std::env::var("PROPTEST_CASES") {
        Ok(_) => Config::default().cases,
        Err(_) => config.cases,
    };
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&ops(config.max_ops), |ops| {
        rt.block_on(async {
            let mut fixture = setup()
                .await
                .into_fixture()
                .ok_or_else(|| TestCaseError::fail("the backend went away"))?;
            let teardown = fixture.teardown.take();
            let outcome = check(&fixture, &ops).await;
            // Clean up after failing cases too: shrinking runs many of them.
            if let Some(teardown) = teardown {
                teardown.await;
            }
            outcome
        })
    });
    match result {
        Ok(()) => {}
        Err(TestError::Fail(why, ops)) => panic!(
            "{name}: the store and the model disagree\n{why}\nminimal failing sequence ({} ops):\n{ops:#?}",
            ops.len()
        ),
        Err(TestError::Abort(why)) => panic!("{name}: model test aborted: {why}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_semantics() {
        let pools = Pools::new(Timestamp::from_millis(1_700_000_000_000));
        let mut m = Model::default();
        let a = pools.fresh(0, 0, Some(0), 1, 0);
        assert!(matches!(m.create(a.clone()), Answer::One(s) if s.version == 1));
        assert_eq!(
            m.create(a.clone()),
            Answer::AlreadyExists(Collision::SessionId(a.id))
        );
        let b = pools.fresh(1, 0, Some(0), 1, 0);
        assert_eq!(
            m.create(b),
            Answer::AlreadyExists(Collision::ConnectionId(pools.conns[0]))
        );
        let mut stale = a.clone();
        stale.version = 0;
        assert!(matches!(
            m.update(stale),
            Answer::Conflict { actual: 1, .. }
        ));
        let mut next = a.clone();
        next.version = 1;
        assert!(matches!(m.update(next), Answer::One(s) if s.version == 2));
        assert_eq!(
            m.touch(pools.ids[5], pools.expiry(1)),
            Answer::NotFound(pools.ids[5])
        );
    }
}
