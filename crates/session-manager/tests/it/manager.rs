//! SessionManager over the real memory store, with a manual clock shared by both.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use session_core::{
    ConnectionId, Error, ListFilter, ManualClock, Page, Result, Session, SessionBuilder, SessionId,
    SessionState, Store, Timestamp, UserId,
};
use session_manager::{
    CreatedSession, DeleteReason, ManagerConfig, SessionEvent, SessionManager, TOKEN_HASH_KEY,
};
use store_memory::{MemoryConfig, MemoryStore};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

const IDLE: Duration = Duration::from_secs(600);
const LIFETIME: Duration = Duration::from_secs(3600);

/// A memory store that counts the writes that reach it.
#[derive(Clone)]
struct Counting {
    inner: MemoryStore,
    writes: Arc<AtomicU64>,
}

impl Counting {
    fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }
    fn write(&self) {
        self.writes.fetch_add(1, Ordering::SeqCst);
    }
}

impl Store for Counting {
    async fn create(&self, session: Session) -> Result<Arc<Session>> {
        self.write();
        self.inner.create(session).await
    }
    async fn get(&self, id: &SessionId) -> Result<Option<Arc<Session>>> {
        self.inner.get(id).await
    }
    async fn get_many(&self, ids: &[SessionId]) -> Result<Vec<Option<Arc<Session>>>> {
        self.inner.get_many(ids).await
    }
    async fn update(&self, session: Session) -> Result<Arc<Session>> {
        self.write();
        self.inner.update(session).await
    }
    async fn touch(&self, id: &SessionId, expires_at: Timestamp) -> Result<Arc<Session>> {
        self.write();
        self.inner.touch(id, expires_at).await
    }
    async fn delete(&self, id: &SessionId) -> Result<bool> {
        self.write();
        self.inner.delete(id).await
    }
    async fn list(&self, filter: &ListFilter) -> Result<Page> {
        self.inner.list(filter).await
    }
    async fn get_by_connection_id(&self, id: &ConnectionId) -> Result<Option<Arc<Session>>> {
        self.inner.get_by_connection_id(id).await
    }
    async fn get_by_user_id(&self, user: &UserId) -> Result<Vec<Arc<Session>>> {
        self.inner.get_by_user_id(user).await
    }
    async fn delete_by_user_id(
        &self,
        user: &UserId,
        except: Option<&SessionId>,
    ) -> Result<Vec<SessionId>> {
        self.write();
        self.inner.delete_by_user_id(user, except).await
    }
    async fn delete_expired(&self) -> Result<u64> {
        self.inner.delete_expired().await
    }
    async fn count(&self) -> Result<u64> {
        self.inner.count().await
    }
}

struct Setup {
    manager: SessionManager<Counting>,
    store: Counting,
    clock: ManualClock,
}

fn setup() -> Setup {
    setup_with(|c| c)
}

fn setup_with(config: impl FnOnce(ManagerConfig) -> ManagerConfig) -> Setup {
    let clock = ManualClock::starting_now();
    let store = Counting {
        inner: MemoryStore::with_config(MemoryConfig::default().clock(clock.clone())),
        writes: Arc::default(),
    };
    let manager = SessionManager::new(
        store.clone(),
        config(
            ManagerConfig::new()
                .idle_timeout(IDLE)
                .max_lifetime(LIFETIME)
                .heartbeat_writes_per_idle(10)
                .store_name("memory")
                .clock(clock.clone()),
        ),
    );
    Setup {
        manager,
        store,
        clock,
    }
}

fn user(name: &str) -> UserId {
    UserId::new(name).unwrap()
}

/// A session of `name` with default settings, created through the manager.
async fn login(manager: &SessionManager<Counting>, name: &str) -> CreatedSession {
    create(manager, name, |b| b).await.unwrap()
}

/// A fresh setup, taken apart, and a session of alice created in it.
async fn with_alice() -> (
    SessionManager<Counting>,
    Counting,
    ManualClock,
    CreatedSession,
) {
    let Setup {
        manager,
        store,
        clock,
    } = setup();
    let created = login(&manager, "alice").await;
    (manager, store, clock, created)
}

/// The live session `token` opens, if it is a well-formed token.
async fn by_token(manager: &SessionManager<Counting>, token: &str) -> Option<Arc<Session>> {
    manager.get_session_by_token(token).await.unwrap()
}

/// The ids of `name`'s live sessions, as the manager lists them.
async fn user_ids(manager: &SessionManager<Counting>, name: &str) -> Vec<SessionId> {
    let sessions = manager.user_sessions(&user(name)).await.unwrap();
    sessions.iter().map(|s| s.id).collect()
}

/// Creates a session of `name` through the manager, its builder set up by `with`.
async fn create(
    manager: &SessionManager<Counting>,
    name: &str,
    with: impl FnOnce(SessionBuilder) -> SessionBuilder,
) -> Result<CreatedSession> {
    manager
        .create_session(with(manager.new_session(user(name))))
        .await
}

#[tokio::test]
async fn create_gives_a_token_that_finds_the_session_and_stores_only_its_hash() {
    let Setup { manager, clock, .. } = setup();
    let created = create(&manager, "alice", |b| b.metadata("device", "phone"))
        .await
        .unwrap();
    let s = &created.session;
    assert_eq!(s.version, 1);
    assert_eq!(s.state, SessionState::Active);
    assert_eq!(s.expires_at, clock.now_ts() + IDLE);
    assert_eq!(s.metadata.get("device"), Some("phone"));

    let token = created.token.as_str();
    let (id_part, secret) = token.split_once('.').unwrap();
    assert_eq!(id_part, s.id.to_string());
    assert_eq!(secret.len(), 64, "256 bits of secret in hex");
    // The store has the hash, never the secret.
    let stored = manager.get_session(&s.id).await.unwrap().unwrap();
    let hash = stored.metadata.get(TOKEN_HASH_KEY).unwrap();
    assert_eq!(hash.len(), 64);
    assert!(!format!("{stored:?}").contains(secret));

    let found = manager.get_session_by_token(token).await.unwrap().unwrap();
    assert_eq!(found.id, s.id);
    assert!(!format!("{:?}", created.token).contains(secret));
}

#[tokio::test]
async fn create_sets_the_times_whatever_the_builder_said() {
    let Setup { manager, clock, .. } = setup();
    let long_ago = Timestamp::from_millis(1_000);
    let builder = Session::builder(user("alice"), long_ago, LIFETIME * 10).expires_at(long_ago);
    let s = manager.create_session(builder).await.unwrap().session;
    let now = clock.now_ts();
    assert_eq!(
        (s.created_at, s.last_active_at, s.expires_at, s.state),
        (now, now, now + IDLE, SessionState::Connecting)
    );
}

#[tokio::test]
async fn wrong_unknown_and_malformed_tokens_are_refused() {
    let Setup { manager, .. } = setup();
    let a = login(&manager, "alice").await;
    let b = login(&manager, "bob").await;
    let token = a.token.as_str();
    let (id, secret) = token.split_once('.').unwrap();

    // Another session's secret with this id, a flipped digit: the same None.
    let b_secret = b.token.as_str().split_once('.').unwrap().1;
    assert!(
        by_token(&manager, &format!("{id}.{b_secret}"))
            .await
            .is_none()
    );
    let flipped = format!(
        "{id}.{}{}",
        if secret.starts_with('0') { '1' } else { '0' },
        &secret[1..]
    );
    assert!(by_token(&manager, &flipped).await.is_none());
    // An unknown id.
    let unknown = format!("{}.{secret}", SessionId::new());
    assert!(by_token(&manager, &unknown).await.is_none());
    // Malformed: a typed error, never a panic.
    for bad in [
        "",
        "x",
        "Bearer abc",
        &"9".repeat(10_000),
        id,
        &format!("{id}."),
    ] {
        let e = manager.get_session_by_token(bad).await.unwrap_err();
        assert!(
            matches!(e, Error::InvalidInput { field: "token", .. }),
            "{e:?}"
        );
    }
    // A deleted session's token stops working.
    assert!(
        manager
            .delete_session(&a.session.id, DeleteReason::Logout)
            .await
            .unwrap()
    );
    assert!(by_token(&manager, token).await.is_none());
    assert!(by_token(&manager, b.token.as_str()).await.is_some());
    assert_eq!(manager.stats().await.unwrap().tokens_refused, 10);
}

#[tokio::test]
async fn create_refuses_the_reserved_key_and_writes_nothing() {
    let Setup { manager, store, .. } = setup();
    let e = create(&manager, "alice", |b| {
        b.metadata(TOKEN_HASH_KEY, "0".repeat(64))
    })
    .await
    .unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidInput {
                field: "metadata",
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(store.writes(), 0);
    assert_eq!(manager.stats().await.unwrap().live_sessions, 0);
}

#[tokio::test]
async fn sessions_are_found_by_id_connection_and_user() {
    let Setup { manager, .. } = setup();
    let conn = ConnectionId::new();
    let a = create(&manager, "alice", |b| b.connection_id(conn))
        .await
        .unwrap();
    let a2 = login(&manager, "alice").await;
    login(&manager, "bob").await;
    let by_conn = manager.get_session_by_connection(&conn).await.unwrap();
    assert_eq!(by_conn.map(|s| s.id), Some(a.session.id));
    let mine: Vec<SessionId> = user_ids(&manager, "alice").await;
    assert_eq!(mine, vec![a.session.id, a2.session.id]);
    let page = manager
        .list_sessions(&ListFilter::new().user(user("bob")))
        .await
        .unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(
        manager
            .list_sessions(&ListFilter::new())
            .await
            .unwrap()
            .total,
        3
    );
    // A connection id in use is the store's AlreadyExists.
    let e = create(&manager, "carol", |b| b.connection_id(conn))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::AlreadyExists(_)), "{e:?}");
}

#[tokio::test]
async fn update_changes_state_metadata_and_stats_with_compare_and_set() {
    let Setup { manager, .. } = setup();
    let created = login(&manager, "alice").await;
    let id = created.session.id;
    let updated = manager
        .update_session(&id, |s| {
            s.state = SessionState::Idle;
            s.metadata.insert("room".into(), "42".into());
            s.stats.packets_sent += 7;
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.state, SessionState::Idle);
    assert_eq!(updated.stats.packets_sent, 7);
    assert_eq!(updated.metadata.get("room"), Some("42"));
    // The token still works: the hash was carried over.
    assert!(by_token(&manager, created.token.as_str()).await.is_some());

    // Concurrent increments through compare-and-set: none lost.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let m = manager.clone();
            tokio::spawn(async move {
                for _ in 0..25 {
                    m.update_session(&id, |s| {
                        s.stats.packets_received += 1;
                        Ok(())
                    })
                    .await
                    .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let s = manager.get_session(&id).await.unwrap().unwrap();
    assert_eq!(s.stats.packets_received, 200);
    assert_eq!(s.version, 202);
    assert_eq!(manager.stats().await.unwrap().updated, 201);
}

#[tokio::test]
async fn update_refuses_to_touch_the_token_hash_or_identity_and_writes_nothing() {
    let (manager, store, clock, created) = with_alice().await;
    let id = created.session.id;
    let writes = store.writes();
    type Change = Box<dyn FnMut(&mut Session) -> Result<()> + Send>;
    let forged: Vec<(&str, Change)> = vec![
        (
            "overwrite hash",
            Box::new(|s| {
                s.metadata.insert(TOKEN_HASH_KEY.into(), "0".repeat(64));
                Ok(())
            }),
        ),
        (
            "remove hash",
            Box::new(|s| {
                s.metadata.remove(TOKEN_HASH_KEY);
                Ok(())
            }),
        ),
        (
            "clear metadata",
            Box::new(|s| {
                s.metadata.clear();
                Ok(())
            }),
        ),
        (
            "change user",
            Box::new(|s| {
                s.user_id = UserId::new("mallory")?;
                Ok(())
            }),
        ),
        (
            "change id",
            Box::new(|s| {
                s.id = SessionId::new();
                Ok(())
            }),
        ),
        (
            "outlive the lifetime",
            Box::new(|s| {
                s.expires_at = s.created_at + LIFETIME + Duration::from_secs(1);
                Ok(())
            }),
        ),
        (
            "closure error",
            Box::new(|_| Err(Error::invalid("state", "refused by the caller"))),
        ),
    ];
    for (what, change) in forged {
        let e = manager.update_session(&id, change).await.unwrap_err();
        assert!(matches!(e, Error::InvalidInput { .. }), "{what}: {e:?}");
    }
    assert_eq!(store.writes(), writes, "nothing written");
    let s = manager.get_session(&id).await.unwrap().unwrap();
    assert_eq!(s.version, 1);
    assert!(by_token(&manager, created.token.as_str()).await.is_some());
    // A session without the hash (created behind the manager's back) cannot be given one.
    let raw = store
        .create(Session::builder(user("eve"), clock.now_ts(), IDLE).build())
        .await
        .unwrap();
    let e = manager
        .update_session(&raw.id, |s| {
            s.metadata.insert(TOKEN_HASH_KEY.into(), "0".repeat(64));
            Ok(())
        })
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    // And a missing session is NotFound.
    let e = manager
        .update_session(&SessionId::new(), |_| Ok(()))
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
}

trait NowTs {
    fn now_ts(&self) -> Timestamp;
}

impl NowTs for ManualClock {
    fn now_ts(&self) -> Timestamp {
        session_core::Clock::now(self)
    }
}

#[tokio::test]
async fn heartbeat_slides_the_expiry_and_a_burst_costs_one_write() {
    let (manager, store, clock, created) = with_alice().await;
    let id = created.session.id;
    let interval = manager.config().heartbeat_interval();
    assert_eq!(interval, IDLE / 10);

    // Within the interval: reads only.
    let writes = store.writes();
    for _ in 0..100 {
        let beat = manager.heartbeat(&id).await.unwrap();
        assert!(!beat.written);
        assert_eq!(beat.session.version, 1);
    }
    assert_eq!(store.writes(), writes);

    // Past it: a burst of concurrent heartbeats writes once.
    clock.advance(interval);
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let m = manager.clone();
            tokio::spawn(async move { m.heartbeat(&id).await.unwrap().written })
        })
        .collect();
    let mut written = 0;
    for t in tasks {
        written += u64::from(t.await.unwrap());
    }
    assert_eq!(written, 1);
    assert_eq!(store.writes(), writes + 1);
    let s = manager.get_session(&id).await.unwrap().unwrap();
    assert_eq!(s.version, 2);
    assert_eq!(s.last_active_at, clock.now_ts());
    assert_eq!(s.expires_at, clock.now_ts() + IDLE);

    // Kept alive by heartbeats well past the first idle window.
    for _ in 0..5 {
        clock.advance(IDLE / 2);
        assert!(manager.heartbeat(&id).await.unwrap().written);
    }
    let stats = manager.stats().await.unwrap();
    assert_eq!(stats.heartbeats, 100 + 32 + 5);
    assert_eq!(stats.heartbeat_writes, 6);

    // Silent for the idle timeout: gone.
    clock.advance(IDLE);
    assert!(manager.get_session(&id).await.unwrap().is_none());
    assert!(manager.heartbeat(&id).await.unwrap_err().is_not_found());
}

/// As the Go original's heartbeat: an IDLE or CONNECTING session becomes ACTIVE, at once
/// (the throttle does not hold back a state change); other states are left as they are.
#[tokio::test]
async fn heartbeat_moves_idle_and_connecting_sessions_to_active() {
    let Setup { manager, .. } = setup();
    for (from, to) in [
        (SessionState::Idle, SessionState::Active),
        (SessionState::Connecting, SessionState::Active),
        (SessionState::Active, SessionState::Active),
        (SessionState::Disconnecting, SessionState::Disconnecting),
        (SessionState::Closed, SessionState::Closed),
    ] {
        let created = create(&manager, "alice", |b| b.state(from)).await.unwrap();
        // Within the heartbeat interval of the create.
        let beat = manager.heartbeat(&created.session.id).await.unwrap();
        assert_eq!(beat.session.state, to, "heartbeat on {from}");
        assert_eq!(beat.written, from != to, "heartbeat on {from} wrote");
        let stored = manager
            .get_session(&created.session.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.state, to, "stored after a heartbeat on {from}");
    }
}

/// Ids that come from outside (a token's id part) are accepted in one text form only, the
/// one they are printed in: an upper-case, braced, `urn:uuid:` or unhyphenated id part does
/// not authenticate.
#[tokio::test]
async fn a_token_with_a_non_canonical_id_part_is_refused() {
    let Setup { manager, .. } = setup();
    let created = login(&manager, "alice").await;
    let (id, secret) = created.token.as_str().split_once('.').unwrap();
    assert!(by_token(&manager, created.token.as_str()).await.is_some());
    for other in [
        id.to_uppercase(),
        format!("{{{id}}}"),
        format!("urn:uuid:{id}"),
        id.replace('-', ""),
    ] {
        let token = format!("{other}.{secret}");
        let r = manager.get_session_by_token(&token).await;
        assert!(
            matches!(r, Ok(None) | Err(Error::InvalidInput { .. })),
            "{token}: {r:?}"
        );
    }
}

#[tokio::test]
async fn heartbeats_never_extend_past_the_lifetime() {
    let Setup { manager, clock, .. } = setup();
    let mut events = manager.subscribe();
    let created = login(&manager, "alice").await;
    let id = created.session.id;
    let end = created.session.created_at + LIFETIME;
    loop {
        clock.advance(IDLE / 2);
        match manager.heartbeat(&id).await {
            Ok(beat) => assert!(beat.session.expires_at <= end),
            Err(e) => {
                assert!(e.is_not_found(), "{e:?}");
                break;
            }
        }
    }
    assert!(clock.now_ts() >= end);
    assert!(clock.now_ts() < end + IDLE);
    assert!(manager.get_session(&id).await.unwrap().is_none());
    assert!(matches!(events.recv().await, Ok(SessionEvent::Created(_))));
}

#[tokio::test]
async fn revoke_user_deletes_all_but_the_kept_session_and_says_which() {
    let Setup { manager, .. } = setup();
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(login(&manager, "alice").await.session.id);
    }
    let bob = login(&manager, "bob").await;
    let mut events = manager.subscribe();
    let revoked = manager
        .revoke_user(&user("alice"), Some(&ids[1]))
        .await
        .unwrap();
    let mut expected = vec![ids[0], ids[2], ids[3]];
    expected.sort();
    let mut got = revoked.ids.clone();
    got.sort();
    assert_eq!(got, expected);
    let left: Vec<SessionId> = user_ids(&manager, "alice").await;
    assert_eq!(left, vec![ids[1]]);
    assert!(
        manager
            .get_session(&bob.session.id)
            .await
            .unwrap()
            .is_some()
    );
    match events.recv().await.unwrap() {
        SessionEvent::Revoked {
            user_id,
            ids,
            except,
        } => {
            assert_eq!(user_id, user("alice"));
            assert_eq!(ids, revoked.ids);
            assert_eq!(except, Some(left[0]));
        }
        other => panic!("{other:?}"),
    }
    // All of them.
    let revoked = manager.revoke_user(&user("alice"), None).await.unwrap();
    assert_eq!(revoked.ids, left);
    assert_eq!(manager.stats().await.unwrap().revoked, 4);
}

#[tokio::test]
async fn events_follow_the_operations_in_order() {
    let Setup { manager, .. } = setup();
    let mut events = manager.subscribe();
    let created = login(&manager, "alice").await;
    let id = created.session.id;
    manager
        .update_session(&id, |s| {
            s.state = SessionState::Idle;
            Ok(())
        })
        .await
        .unwrap();
    assert!(
        manager
            .delete_session(&id, DeleteReason::Other("kicked".into()))
            .await
            .unwrap()
    );
    // A delete of nothing sends nothing.
    assert!(
        !manager
            .delete_session(&id, DeleteReason::Admin)
            .await
            .unwrap()
    );

    match events.recv().await.unwrap() {
        SessionEvent::Created(s) => assert_eq!(s.id, id),
        other => panic!("{other:?}"),
    }
    match events.recv().await.unwrap() {
        SessionEvent::Updated(s) => {
            assert_eq!(s.state, SessionState::Idle);
            assert_eq!(s.version, 2);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        events.recv().await.unwrap(),
        SessionEvent::Deleted {
            id,
            reason: DeleteReason::Other("kicked".into())
        }
    );
    assert_eq!(events.try_recv(), Err(TryRecvError::Empty));
    let stats = manager.stats().await.unwrap();
    assert_eq!((stats.created, stats.updated, stats.deleted), (1, 1, 1));
}

#[tokio::test]
async fn a_lagging_subscriber_cannot_stall_the_manager() {
    let Setup { manager, .. } = setup_with(|c| c.event_capacity(4));
    let mut slow = manager.subscribe();
    // Nobody reads while 50 sessions are created: the manager goes on regardless.
    let mut last = None;
    for _ in 0..50 {
        last = Some(login(&manager, "alice").await.session.id);
    }
    assert_eq!(slow.recv().await, Err(RecvError::Lagged(46)));
    // It then reads the most recent ones.
    let mut seen = None;
    while let Ok(SessionEvent::Created(s)) = slow.try_recv() {
        seen = Some(s.id);
    }
    assert_eq!(seen, last);
    assert_eq!(manager.stats().await.unwrap().live_sessions, 50);
}

#[tokio::test]
async fn cleanup_reclaims_expired_sessions_and_reports_the_count() {
    let Setup { manager, clock, .. } = setup();
    for _ in 0..3 {
        login(&manager, "alice").await;
    }
    let mut events = manager.subscribe();
    assert_eq!(manager.cleanup().await.unwrap(), 0);
    clock.advance(IDLE);
    assert_eq!(manager.cleanup().await.unwrap(), 3);
    assert_eq!(
        events.recv().await.unwrap(),
        SessionEvent::Expired { count: 3 }
    );
    assert_eq!(manager.stats().await.unwrap().expired_reclaimed, 3);
}

/// A liveness bound for background tasks on a loaded box, not a speed goal.
const PATIENCE: Duration = Duration::from_secs(20);

#[tokio::test]
async fn the_cleanup_task_runs_until_stopped() {
    let Setup { manager, clock, .. } = setup();
    let handle = manager.spawn_cleanup(Duration::from_millis(10));
    login(&manager, "alice").await;
    let mut events = manager.subscribe();
    clock.advance(IDLE);
    let event = tokio::time::timeout(PATIENCE, events.recv())
        .await
        .expect("a cleanup pass within the bound")
        .unwrap();
    assert_eq!(event, SessionEvent::Expired { count: 1 });
    assert!(!handle.is_finished());
    tokio::time::timeout(PATIENCE, handle.stop())
        .await
        .expect("stop returns once the task ended");
    // Stopped: expired sessions now stay unreclaimed.
    login(&manager, "bob").await;
    clock.advance(IDLE);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(matches!(events.try_recv(), Ok(SessionEvent::Created(_))));
    assert_eq!(events.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(manager.cleanup().await.unwrap(), 1);
}

#[tokio::test]
async fn the_cleanup_task_ends_when_the_manager_is_dropped() {
    let Setup { manager, store, .. } = setup();
    // A long period: the task is waiting, not mid-pass, when the manager goes.
    let handle = manager.spawn_cleanup(Duration::from_secs(3600));
    let clone = manager.clone();
    drop(manager);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!handle.is_finished(), "a clone still holds the manager");
    drop(clone);
    tokio::time::timeout(PATIENCE, async {
        while !handle.is_finished() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the task ends once the last manager is dropped");
    // The store itself is still usable.
    assert_eq!(store.count().await.unwrap(), 0);
}
