//! Coalesced reads ([`RedisConfig::coalesce_reads`](crate::RedisConfig::coalesce_reads)):
//! concurrent `get`s and `get_many`s of one store merge into `MGET` batches, opportunistically.
//!
//! Up to `pool_size` × `coalesce_in_flight` reads are in flight at once, each sent as soon as it is asked (`GET` for one
//! key, `MGET` for several): a lone caller never waits for anyone. A read that arrives while
//! every slot is taken joins a queue; when an in-flight read returns, the whole queue (up to
//! [`MAX_BATCH_KEYS`] keys) goes out as one `MGET` and its values are handed back to each caller
//! in the order it asked. So under load the server runs one `MGET` of many keys where it
//! would have run as many `GET`s, and the client sends, parses and routes one command for them.
//!
//! Only the raw values are shared: each caller decodes its own records and checks them (the
//! id in the record against the id asked, expiry), so a corrupt record is that caller's
//! `Error::Codec` alone. A failed batch gives each of its callers the same fred error, mapped
//! as any read's. Each batch has the command timeout; a queued read waits for at most the batch
//! in flight and then its own, so twice the command timeout in all, never forever.
//!
//! Standalone and Sentinel only: in a Cluster the keys of a batch hash to different slots, so
//! the store reads as before (one `GET` per key, following redirections).

use std::sync::{Arc, Mutex, PoisonError};

use fred::bytes::Bytes;
use fred::error::{Error as FredError, ErrorKind};
use fred::prelude::{KeysInterface, Pool};
use fred::types::Value;
use tokio::sync::oneshot;

/// What a read gets back: a value (or none) per key asked, in order.
pub(crate) type Reply = Result<Fetched, FredError>;

/// The values of one read, and whether they came from an `MGET`.
#[derive(Debug)]
pub(crate) struct Fetched {
    /// A value (or none) per key asked, in order.
    pub(crate) values: Vec<Option<Bytes>>,
    /// Whether the command was an `MGET`: it answers nil for a key of another type, where a
    /// `GET` answers WRONGTYPE, so the caller must ask a miss its TYPE.
    pub(crate) by_mget: bool,
}

/// The most keys one `MGET` batch carries; a longer queue goes out in several batches.
pub(crate) const MAX_BATCH_KEYS: usize = 512;

/// The read coalescer of one store.
pub(crate) struct Coalescer {
    pool: Pool,
    /// How many reads may be in flight at once (pool size × `coalesce_in_flight`).
    slots: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    in_flight: usize,
    queue: Vec<Waiter>,
}

struct Waiter {
    keys: Vec<String>,
    reply: oneshot::Sender<Reply>,
}

impl Coalescer {
    pub(crate) fn new(pool: Pool, slots: usize) -> Arc<Self> {
        Arc::new(Coalescer {
            pool,
            slots: slots.max(1),
            state: Mutex::new(State::default()),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Nothing under this lock can panic part-way; a poisoned lock's state is whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The values of `keys`, in order: sent at once if a slot is free, else with the next batch.
    pub(crate) async fn fetch(self: &Arc<Self>, keys: Vec<String>) -> Reply {
        if keys.is_empty() {
            return Ok(Fetched {
                values: Vec::new(),
                by_mget: false,
            });
        }
        // Ok: a slot was free, send now; Err: queued, wait for the batch.
        let slot = {
            let mut st = self.state();
            if st.in_flight < self.slots {
                st.in_flight += 1;
                Ok(keys)
            } else {
                let (tx, rx) = oneshot::channel();
                st.queue.push(Waiter { keys, reply: tx });
                Err(rx)
            }
        };
        match slot {
            Err(rx) => rx.await.unwrap_or_else(|_| Err(abandoned())),
            Ok(keys) => {
                // Whatever happens to this future from here (done, failed, dropped), the slot
                // passes on to the queue.
                let _flight = Flight {
                    coalescer: Arc::clone(self),
                    armed: true,
                };
                self.send(keys).await
            }
        }
    }

    /// One command for `keys`: `GET` for one key, `MGET` for more.
    async fn send(&self, keys: Vec<String>) -> Reply {
        let client = self.pool.next();
        if let [key] = keys.as_slice() {
            return client
                .get::<Option<Bytes>, _>(key.as_str())
                .await
                .map(|v| Fetched {
                    values: vec![v],
                    by_mget: false,
                });
        }
        let n = keys.len();
        let values = match client.mget::<Value, _>(keys).await? {
            Value::Array(items) => items.into_iter().map(into_bytes).collect(),
            Value::Null => vec![None; n],
            // fred gives a one-element array back as its element.
            other => vec![into_bytes(other)],
        };
        if values.len() == n {
            Ok(Fetched {
                values,
                by_mget: true,
            })
        } else {
            Err(FredError::new(
                ErrorKind::Protocol,
                "MGET answered a different number of values",
            ))
        }
    }

    /// Sends `batch` as one command and hands each waiter its share of the values.
    async fn send_batch(&self, batch: Vec<Waiter>) {
        let keys: Vec<String> = batch.iter().flat_map(|w| w.keys.iter().cloned()).collect();
        match self.send(keys).await {
            Ok(Fetched {
                mut values,
                by_mget,
            }) => {
                // `send` checked the count; split from the back so each share is a move.
                for w in batch.into_iter().rev() {
                    let share = values.split_off(values.len() - w.keys.len());
                    let _ = w.reply.send(Ok(Fetched {
                        values: share,
                        by_mget,
                    }));
                }
            }
            Err(e) => {
                for w in batch {
                    let _ = w.reply.send(Err(e.clone()));
                }
            }
        }
    }

    /// The next batch off the queue, or `None` (and the slot freed) if it is empty.
    fn next_batch(&self) -> Option<Vec<Waiter>> {
        let mut st = self.state();
        if st.queue.is_empty() {
            st.in_flight -= 1;
            return None;
        }
        let mut keys = 0;
        let take = st
            .queue
            .iter()
            .take_while(|w| {
                keys += w.keys.len();
                keys <= MAX_BATCH_KEYS
            })
            .count()
            .max(1);
        Some(st.queue.drain(..take).collect())
    }

    /// A slot is done with its read: the queue goes out from a task of its own, so the caller
    /// whose read freed the slot returns at once.
    fn pass_on(self: &Arc<Self>) {
        let Some(batch) = self.next_batch() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(Arc::clone(self).drive(batch));
            }
            Err(_) => {
                // No runtime to send from (it is shutting down): the batch's callers get
                // `abandoned()` as their senders drop, and so does the rest of the queue.
                drop(batch);
                self.pass_on();
            }
        }
    }

    /// Sends batches until the queue is empty.
    async fn drive(self: Arc<Self>, mut batch: Vec<Waiter>) {
        let mut flight = Flight {
            coalescer: Arc::clone(&self),
            armed: true,
        };
        loop {
            self.send_batch(batch).await;
            match self.next_batch() {
                Some(next) => batch = next,
                None => break,
            }
        }
        // `next_batch` freed the slot.
        flight.armed = false;
    }
}

/// Holds a read slot; dropping it armed passes the slot on to the queue.
struct Flight {
    coalescer: Arc<Coalescer>,
    armed: bool,
}

impl Drop for Flight {
    fn drop(&mut self) {
        if self.armed {
            self.coalescer.pass_on();
        }
    }
}

fn into_bytes(v: Value) -> Option<Bytes> {
    match v {
        Value::Null => None,
        other => other.into_bytes(),
    }
}

fn abandoned() -> FredError {
    FredError::new(
        ErrorKind::Canceled,
        "the coalesced read this one waited for was abandoned",
    )
}
