//! The sharded in-process store.
//!
//! Its layout and lock order are part of the crate docs (`lib.rs`, "Layout and lock order").

use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hashbrown::{DefaultHashBuilder, HashTable};
use parking_lot::RwLock;
use session_core::{
    Clock, Collision, ConnectionId, Error, FastClock, ListFilter, Page, Result, Session, SessionId,
    Store, Timestamp, UserId, validate_expiry,
};

use crate::config::MemoryConfig;

type UserShard = HashTable<(UserId, Vec<Arc<Session>>)>;
type ConnShard = HashTable<ConnEntry>;

/// A session shard: the table, and the allocation of the version its latest write replaced.
///
/// An update (or touch) parks the version it replaces in `spare`; the next write to the shard
/// reuses that allocation if nobody else holds it by then (`Arc::get_mut`), so a caller that
/// drops the version it edited gets its next write without a heap allocation or a free. A
/// version anybody still holds is never written: `Arc::get_mut` proves it unique.
#[derive(Debug, Default)]
struct SessionShard {
    table: HashTable<Arc<Session>>,
    spare: Option<Arc<Session>>,
}

impl std::ops::Deref for SessionShard {
    type Target = HashTable<Arc<Session>>;
    fn deref(&self) -> &Self::Target {
        &self.table
    }
}

impl std::ops::DerefMut for SessionShard {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.table
    }
}

/// `session` in an `Arc`: the `spare` allocation if nobody else holds it, else a new one.
/// Inlined so that the session is moved once, straight into its place.
#[inline(always)]
fn reuse(spare: &mut Option<Arc<Session>>, session: Session) -> Arc<Session> {
    if let Some(mut arc) = spare.take() {
        if let Some(place) = Arc::get_mut(&mut arc) {
            *place = session;
            return arc;
        }
    }
    Arc::new(session)
}

/// Who holds a connection id, and until when.
#[derive(Debug)]
struct ConnEntry {
    conn: ConnectionId,
    id: SessionId,
    expires_at: Timestamp,
}

/// A sharded in-process [`Store`]. Cloning is cheap and clones share the same sessions.
#[derive(Clone, Debug)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

/// A shard on its own cache lines, so that two threads working on neighbouring shards do not
/// contend on one line (every read lock writes the lock word).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded<T>(T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

#[derive(Debug)]
struct Inner {
    sessions: Box<[Padded<RwLock<SessionShard>>]>,
    users: Box<[Padded<RwLock<UserShard>>]>,
    conns: Box<[Padded<RwLock<ConnShard>>]>,
    /// `shards - 1`; the shard count is a power of two.
    mask: usize,
    hasher: DefaultHashBuilder,
    clock: Arc<dyn Clock>,
    capacity: Option<usize>,
    /// Sessions held in S, live or expired-but-not-yet-reclaimed.
    stored: AtomicUsize,
}

fn shards<T: Default>(n: usize) -> Box<[Padded<RwLock<T>>]> {
    (0..n).map(|_| Padded(RwLock::new(T::default()))).collect()
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// A store with the default configuration and the system clock.
    pub fn new() -> Self {
        Self::with_config(MemoryConfig::default())
    }

    /// A store with `config`.
    pub fn with_config(config: MemoryConfig) -> Self {
        let shards = config.shards.clamp(1, 1 << 16).next_power_of_two();
        MemoryStore {
            inner: Arc::new(Inner {
                sessions: self::shards(shards),
                users: self::shards(shards),
                conns: self::shards(shards),
                mask: shards - 1,
                hasher: DefaultHashBuilder::default(),
                clock: config.clock.unwrap_or_else(|| Arc::new(FastClock::new())),
                capacity: config.capacity,
                stored: AtomicUsize::new(0),
            }),
        }
    }

    /// The number of sessions held, including expired ones not yet reclaimed.
    pub fn stored(&self) -> usize {
        self.inner.stored.load(Ordering::Relaxed)
    }

    /// The number of shards per table.
    pub fn shard_count(&self) -> usize {
        self.inner.mask + 1
    }

    /// Reclaims expired sessions in one session shard (`shard` is taken modulo
    /// [`Self::shard_count`]) and returns how many were removed. The sweeper calls this for
    /// one shard at a time, so no lock is ever held over the whole store.
    pub fn sweep_shard(&self, shard: usize) -> usize {
        let now = self.inner.clock.now();
        self.inner.sweep(shard & self.inner.mask, now)
    }

    /// The get path, synchronous: no allocation on a hit (the `Arc` is shared).
    #[inline]
    pub fn get_now(&self, id: &SessionId) -> Option<Arc<Session>> {
        let inner = &*self.inner;
        let hash = inner.hasher.hash_one(id);
        let shard = inner.sessions[inner.shard(hash)].read();
        let found = shard.find(hash, |s| s.id == *id)?;
        if found.is_expired_at(inner.clock.now()) {
            return None;
        }
        Some(Arc::clone(found))
    }
}

impl Inner {
    #[inline]
    fn shard(&self, hash: u64) -> usize {
        // The table uses the low bits; take the shard from the high ones.
        (hash >> 48) as usize & self.mask
    }

    fn user_hash(&self, user: &UserId) -> u64 {
        self.hasher.hash_one(user.as_str())
    }

    /// Adds `s` to its user's list (kept sorted by id), replacing an entry with the same id.
    fn user_put(&self, s: &Arc<Session>) {
        let hash = self.user_hash(&s.user_id);
        let mut shard = self.users[self.shard(hash)].write();
        match shard.find_mut(hash, |(u, _)| *u == s.user_id) {
            Some((_, list)) => match list.binary_search_by(|e| e.id.cmp(&s.id)) {
                Ok(at) => list[at] = Arc::clone(s),
                Err(at) => list.insert(at, Arc::clone(s)),
            },
            None => {
                shard.insert_unique(hash, (s.user_id.clone(), vec![Arc::clone(s)]), |(u, _)| {
                    self.user_hash(u)
                });
            }
        }
    }

    /// Removes session `id` from `user`'s list, dropping the list when it empties.
    fn user_remove(&self, user: &UserId, id: &SessionId) {
        let hash = self.user_hash(user);
        let mut shard = self.users[self.shard(hash)].write();
        if let Ok(mut entry) = shard.find_entry(hash, |(u, _)| u == user) {
            let list = &mut entry.get_mut().1;
            if let Ok(at) = list.binary_search_by(|e| e.id.cmp(id)) {
                list.remove(at);
            }
            if list.is_empty() {
                entry.remove();
            }
        }
    }

    /// Claims `conn` for `s` unless a live session other than `s.id` holds it.
    fn conn_claim(&self, conn: &ConnectionId, s: &Session, now: Timestamp) -> Result<()> {
        let hash = self.hasher.hash_one(conn);
        let mut shard = self.conns[self.shard(hash)].write();
        match shard.find_mut(hash, |e| e.conn == *conn) {
            Some(holder) => {
                if holder.id != s.id && holder.expires_at > now {
                    return Err(Error::AlreadyExists(Collision::ConnectionId(*conn)));
                }
                holder.id = s.id;
                holder.expires_at = s.expires_at;
            }
            None => {
                let entry = ConnEntry {
                    conn: *conn,
                    id: s.id,
                    expires_at: s.expires_at,
                };
                shard.insert_unique(hash, entry, |e| self.hasher.hash_one(e.conn));
            }
        }
        Ok(())
    }

    /// Records a new expiry on `conn`'s entry if it belongs to session `s.id`.
    fn conn_set_expiry(&self, conn: &ConnectionId, s: &Session) {
        let hash = self.hasher.hash_one(conn);
        let mut shard = self.conns[self.shard(hash)].write();
        if let Some(holder) = shard.find_mut(hash, |e| e.conn == *conn) {
            if holder.id == s.id {
                holder.expires_at = s.expires_at;
            }
        }
    }

    /// Removes `conn`'s entry if it belongs to session `id`.
    fn conn_remove(&self, conn: &ConnectionId, id: &SessionId) {
        let hash = self.hasher.hash_one(conn);
        let mut shard = self.conns[self.shard(hash)].write();
        if let Ok(entry) = shard.find_entry(hash, |e| e.conn == *conn) {
            if entry.get().id == *id {
                entry.remove();
            }
        }
    }

    /// Removes a session's index entries (the caller holds its S shard).
    fn unindex(&self, s: &Session) {
        self.user_remove(&s.user_id, &s.id);
        if let Some(conn) = &s.connection_id {
            self.conn_remove(conn, &s.id);
        }
    }

    /// Reclaims the expired sessions of session shard `i`.
    fn sweep(&self, i: usize, now: Timestamp) -> usize {
        let mut shard = self.sessions[i].write();
        let mut removed = 0;
        shard.retain(|s| {
            if s.is_expired_at(now) {
                self.unindex(s);
                removed += 1;
                false
            } else {
                true
            }
        });
        drop(shard);
        self.stored.fetch_sub(removed, Ordering::Relaxed);
        removed
    }

    fn sweep_all(&self) -> usize {
        let now = self.clock.now();
        (0..self.sessions.len()).map(|i| self.sweep(i, now)).sum()
    }

    /// Reserves room for one more stored session, reclaiming expired ones if full.
    fn reserve(&self) -> Result<()> {
        let Some(capacity) = self.capacity else {
            self.stored.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        };
        let try_reserve = || {
            self.stored
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    (n < capacity).then_some(n + 1)
                })
                .is_ok()
        };
        if try_reserve() || (self.sweep_all() > 0 && try_reserve()) {
            Ok(())
        } else {
            Err(Error::CapacityExceeded { capacity })
        }
    }

    fn create(&self, mut session: Session) -> Result<Arc<Session>> {
        let now = self.clock.now();
        session.validate(now)?;
        session.version = 1;
        let id = session.id;
        // Reserve room before taking any lock: reserving may sweep every shard.
        self.reserve()?;
        let release = || {
            self.stored.fetch_sub(1, Ordering::Relaxed);
        };
        let hash = self.hasher.hash_one(id);
        let mut shard = self.sessions[self.shard(hash)].write();
        let previous = match shard.find(hash, |s| s.id == id) {
            Some(existing) if !existing.is_expired_at(now) => {
                release();
                return Err(Error::AlreadyExists(Collision::SessionId(id)));
            }
            Some(expired) => Some(Arc::clone(expired)),
            None => None,
        };
        let new = Arc::new(session);
        if let Some(conn) = &new.connection_id {
            if let Err(e) = self.conn_claim(conn, &new, now) {
                release();
                return Err(e);
            }
        }
        if previous.is_some() {
            // Replacing an expired session in place: no net change in what is stored.
            release();
        }
        if let Some(old) = &previous {
            // The id is reused after expiry: drop the old session's index entries first.
            self.user_remove(&old.user_id, &old.id);
            if let Some(old_conn) = &old.connection_id {
                if new.connection_id.as_ref() != Some(old_conn) {
                    self.conn_remove(old_conn, &old.id);
                }
            }
        }
        self.user_put(&new);
        match shard.find_mut(hash, |s| s.id == id) {
            Some(slot) => *slot = Arc::clone(&new),
            None => {
                shard.insert_unique(hash, Arc::clone(&new), |s| self.hasher.hash_one(s.id));
            }
        }
        Ok(new)
    }

    /// Inlined into the `Store::update` future, so that the session is moved from the
    /// future's state straight into its allocation.
    #[inline(always)]
    fn update(&self, mut session: Session) -> Result<Arc<Session>> {
        let now = self.clock.now();
        session.validate(now)?;
        let id = session.id;
        let expected = session.version;
        session.version = expected
            .checked_add(1)
            .ok_or_else(|| Error::invalid("version", "at its maximum"))?;
        let hash = self.hasher.hash_one(id);
        let mut guard = self.sessions[self.shard(hash)].write();
        let SessionShard { table, spare } = &mut *guard;
        let slot = table
            .find_mut(hash, |s| s.id == id)
            .filter(|s| !s.is_expired_at(now))
            .ok_or(Error::NotFound { id })?;
        if slot.version != expected {
            return Err(Error::Conflict {
                id,
                expected,
                actual: slot.version,
            });
        }
        let old: &Session = slot;
        if old.connection_id == session.connection_id {
            if let Some(conn) = &session.connection_id {
                if old.expires_at != session.expires_at {
                    self.conn_set_expiry(conn, &session);
                }
            }
        } else {
            if let Some(conn) = &session.connection_id {
                self.conn_claim(conn, &session, now)?;
            }
            if let Some(conn) = &old.connection_id {
                self.conn_remove(conn, &id);
            }
        }
        if old.user_id != session.user_id {
            self.user_remove(&old.user_id, &id);
        }
        // Nothing can fail from here on.
        let new = reuse(spare, session);
        self.user_put(&new);
        *spare = Some(std::mem::replace(slot, Arc::clone(&new)));
        Ok(new)
    }

    fn touch(&self, id: &SessionId, expires_at: Timestamp) -> Result<Arc<Session>> {
        let now = self.clock.now();
        validate_expiry(expires_at, now)?;
        let hash = self.hasher.hash_one(id);
        let mut guard = self.sessions[self.shard(hash)].write();
        let SessionShard { table, spare } = &mut *guard;
        let slot = table
            .find_mut(hash, |s| s.id == *id)
            .filter(|s| !s.is_expired_at(now))
            .ok_or(Error::NotFound { id: *id })?;
        let version = slot
            .version
            .checked_add(1)
            .ok_or_else(|| Error::invalid("version", "at its maximum"))?;
        let mut next = Session::clone(slot);
        next.expires_at = expires_at;
        next.version = version;
        let new = reuse(spare, next);
        if let Some(conn) = &new.connection_id {
            self.conn_set_expiry(conn, &new);
        }
        self.user_put(&new);
        *spare = Some(std::mem::replace(slot, Arc::clone(&new)));
        Ok(new)
    }

    /// Removes session `id` if present; returns it if it was live.
    fn delete(&self, id: &SessionId, now: Timestamp) -> Option<Arc<Session>> {
        let hash = self.hasher.hash_one(id);
        let mut shard = self.sessions[self.shard(hash)].write();
        let entry = shard.find_entry(hash, |s| s.id == *id).ok()?;
        let (removed, _) = entry.remove();
        self.unindex(&removed);
        drop(shard);
        self.stored.fetch_sub(1, Ordering::Relaxed);
        (!removed.is_expired_at(now)).then_some(removed)
    }

    fn by_user(&self, user: &UserId, now: Timestamp) -> Vec<Arc<Session>> {
        let hash = self.user_hash(user);
        let shard = self.users[self.shard(hash)].read();
        match shard.find(hash, |(u, _)| u == user) {
            Some((_, list)) => {
                let mut live = Vec::with_capacity(list.len());
                live.extend(list.iter().filter(|s| !s.is_expired_at(now)).cloned());
                live
            }
            None => Vec::new(),
        }
    }
}

/// Takes part in tokio's cooperative budget (feature `coop`): every operation completes
/// without waiting, so a task looping on the store would otherwise never yield.
#[inline(always)]
async fn budget() {
    #[cfg(feature = "coop")]
    tokio::task::coop::consume_budget().await;
}

impl Store for MemoryStore {
    async fn create(&self, session: Session) -> Result<Arc<Session>> {
        budget().await;
        self.inner.create(session)
    }

    async fn get(&self, id: &SessionId) -> Result<Option<Arc<Session>>> {
        budget().await;
        Ok(self.get_now(id))
    }

    async fn get_many(&self, ids: &[SessionId]) -> Result<Vec<Option<Arc<Session>>>> {
        budget().await;
        Ok(ids.iter().map(|id| self.get_now(id)).collect())
    }

    async fn update(&self, session: Session) -> Result<Arc<Session>> {
        budget().await;
        self.inner.update(session)
    }

    async fn touch(&self, id: &SessionId, expires_at: Timestamp) -> Result<Arc<Session>> {
        budget().await;
        self.inner.touch(id, expires_at)
    }

    async fn delete(&self, id: &SessionId) -> Result<bool> {
        budget().await;
        Ok(self.inner.delete(id, self.inner.clock.now()).is_some())
    }

    async fn list(&self, filter: &ListFilter) -> Result<Page> {
        budget().await;
        let inner = &*self.inner;
        let now = inner.clock.now();
        let mut matching: Vec<Arc<Session>> = match &filter.user_id {
            Some(user) => inner
                .by_user(user, now)
                .into_iter()
                .filter(|s| filter.matches(s))
                .collect(),
            None => {
                let mut all = Vec::new();
                for shard in inner.sessions.iter() {
                    all.extend(
                        shard
                            .read()
                            .iter()
                            .filter(|s| !s.is_expired_at(now) && filter.matches(s))
                            .cloned(),
                    );
                }
                all.sort_unstable_by_key(|s| s.id);
                all
            }
        };
        let total = matching.len() as u64;
        let start = filter.offset.min(matching.len());
        let end = start.saturating_add(filter.limit).min(matching.len());
        matching.truncate(end);
        matching.drain(..start);
        Ok(Page {
            sessions: matching,
            total,
        })
    }

    async fn get_by_connection_id(
        &self,
        connection_id: &ConnectionId,
    ) -> Result<Option<Arc<Session>>> {
        budget().await;
        let inner = &*self.inner;
        let hash = inner.hasher.hash_one(connection_id);
        let holder = {
            let shard = inner.conns[inner.shard(hash)].read();
            shard.find(hash, |e| e.conn == *connection_id).map(|e| e.id)
        };
        // The holder is re-checked in its session shard: it may have moved on meanwhile.
        Ok(holder
            .and_then(|id| self.get_now(&id))
            .filter(|s| s.connection_id.as_ref() == Some(connection_id)))
    }

    async fn get_by_user_id(&self, user_id: &UserId) -> Result<Vec<Arc<Session>>> {
        budget().await;
        Ok(self.inner.by_user(user_id, self.inner.clock.now()))
    }

    async fn delete_by_user_id(
        &self,
        user_id: &UserId,
        except: Option<&SessionId>,
    ) -> Result<Vec<SessionId>> {
        budget().await;
        let inner = &*self.inner;
        let now = inner.clock.now();
        // Read the list, then delete each through its S shard (lock order: S before U).
        let victims: Vec<SessionId> = {
            let hash = inner.user_hash(user_id);
            let shard = inner.users[inner.shard(hash)].read();
            shard
                .find(hash, |(u, _)| u == user_id)
                .map(|(_, list)| {
                    list.iter()
                        .map(|s| s.id)
                        .filter(|id| Some(id) != except)
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut deleted = Vec::new();
        for id in victims {
            let hash = inner.hasher.hash_one(id);
            let mut shard = inner.sessions[inner.shard(hash)].write();
            // Re-check under the S lock: the session may have moved to another user.
            if let Ok(entry) = shard.find_entry(hash, |s| s.id == id && s.user_id == *user_id) {
                let (removed, _) = entry.remove();
                inner.unindex(&removed);
                inner.stored.fetch_sub(1, Ordering::Relaxed);
                if !removed.is_expired_at(now) {
                    deleted.push(id);
                }
            }
        }
        Ok(deleted)
    }

    async fn delete_expired(&self) -> Result<u64> {
        budget().await;
        Ok(self.inner.sweep_all() as u64)
    }

    async fn count(&self) -> Result<u64> {
        budget().await;
        let now = self.inner.clock.now();
        Ok(self
            .inner
            .sessions
            .iter()
            .map(|shard| {
                shard
                    .read()
                    .iter()
                    .filter(|s| !s.is_expired_at(now))
                    .count() as u64
            })
            .sum())
    }
}
