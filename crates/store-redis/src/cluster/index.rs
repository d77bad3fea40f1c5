//! Cluster index steps: claiming and releasing a connection id, raising index entries before
//! a record is written (and rolling them back if the write fails), settling them after.

use fred::types::Value;
use futures::future::join_all;
use session_core::{Clock, ConnectionId, Result, Session, SessionId, Timestamp};

use crate::error::{conn_taken, protocol};
use crate::store::{Inner, Status, flag};

impl Inner {
    pub(crate) async fn conn_op(&self, conn: &ConnectionId, args: Vec<Value>) -> Result<Value> {
        self.eval(&self.scripts.cluster_conn, vec![self.keys.conn(conn)], args)
            .await
    }

    pub(crate) async fn index_op(
        &self,
        key: String,
        op: &'static str,
        id: &SessionId,
        exp: Timestamp,
    ) -> Result<bool> {
        let v = self
            .eval(
                &self.scripts.cluster_index,
                vec![key],
                vec![
                    Value::from(op),
                    Value::from(id.to_string()),
                    Value::from(exp.as_millis().to_string()),
                ],
            )
            .await?;
        Ok(flag(&v))
    }

    /// must release it), Ok(false) if the session already held it.
    /// Claims `conn` for `session` (cluster). Ok(true) if this call took it (so a rollback
    /// must release it), Ok(false) if the session already held it.
    pub(crate) async fn claim_conn(&self, conn: &ConnectionId, session: &Session) -> Result<bool> {
        let id = session.id.to_string();
        let exp = session.expires_at.as_millis().to_string();
        for _ in 0..3 {
            let v = self
                .conn_op(
                    conn,
                    vec!["claim".into(), id.clone().into(), exp.clone().into()],
                )
                .await?;
            match Status::parse(&v)? {
                Status::New => return Ok(true),
                Status::Mine => return Ok(false),
                Status::Held { holder, since } => {
                    // The holder may be a leftover: check its record in its own slot. A claim
                    // younger than the grace period may belong to a create still under way.
                    let live = matches!(self.get(&holder).await,
                        Ok(Some(h)) if h.connection_id.as_ref() == Some(conn));
                    let young = self.clock.now().as_millis().saturating_sub(since)
                        < CLAIM_GRACE.as_millis() as u64;
                    if live || young {
                        return Err(conn_taken(session));
                    }
                    let took = self
                        .conn_op(
                            conn,
                            vec![
                                "takeover".into(),
                                id.clone().into(),
                                exp.clone().into(),
                                holder.to_string().into(),
                            ],
                        )
                        .await?;
                    if flag(&took) {
                        return Ok(true);
                    }
                }
                _ => return Err(protocol("claim")),
            }
        }
        Err(conn_taken(session))
    }

    pub(crate) async fn release_conn(&self, conn: &ConnectionId, id: &SessionId) -> Result<()> {
        self.conn_op(conn, vec!["release".into(), id.to_string().into()])
            .await
            .map(drop)
    }

    /// Raises an index entry (cluster); returns its score before (`None`: it was absent).
    pub(crate) async fn index_raise(
        &self,
        key: String,
        id: &SessionId,
        exp: Timestamp,
    ) -> Result<Option<String>> {
        let v = self
            .eval(
                &self.scripts.cluster_index,
                vec![key],
                vec![
                    "raise".into(),
                    id.to_string().into(),
                    exp.as_millis().to_string().into(),
                ],
            )
            .await?;
        Ok(v.as_str().map(|s| s.into_owned()))
    }

    /// Adds (or raises) the index entries a session needs before its record is written, and
    /// returns what a rollback must undo.
    pub(crate) async fn raise_indexes(&self, s: &Session) -> Result<Raised> {
        let conn = async {
            match &s.connection_id {
                Some(c) => self.claim_conn(c, s).await,
                None => Ok(false),
            }
        };
        let user = self.index_raise(self.keys.user(&s.user_id), &s.id, s.expires_at);
        let bucket = self.index_raise(self.keys.bucket_of(&s.id), &s.id, s.expires_at);
        let (conn, user, bucket) = futures::join!(conn, user, bucket);
        let raised = Raised {
            conn: *conn.as_ref().unwrap_or(&false),
            user: user.as_ref().ok().cloned(),
            bucket: bucket.as_ref().ok().cloned(),
        };
        match (conn, user, bucket) {
            (Ok(_), Ok(_), Ok(_)) => Ok(raised),
            (c, u, b) => {
                // Undo what this call did, then report the first failure.
                self.rollback(s, raised).await;
                Err(c
                    .err()
                    .or(u.err())
                    .or(b.err())
                    .unwrap_or_else(|| protocol("raise")))
            }
        }
    }

    /// Undoes what `raise_indexes` did for a write that then failed: releases a connection
    /// it claimed and puts index entries back as they were (unless someone moved them since).
    pub(crate) async fn rollback(&self, s: &Session, raised: Raised) {
        let c = async {
            if let (true, Some(c)) = (raised.conn, &s.connection_id) {
                let _ = self.release_conn(c, &s.id).await;
            }
        };
        let restore = |key: String, before: Option<Option<String>>| async move {
            if let Some(before) = before {
                let _ = self
                    .eval(
                        &self.scripts.cluster_index,
                        vec![key],
                        vec![
                            "restore".into(),
                            s.id.to_string().into(),
                            s.expires_at.as_millis().to_string().into(),
                            before.unwrap_or_default().into(),
                        ],
                    )
                    .await;
            }
        };
        futures::join!(
            c,
            restore(self.keys.user(&s.user_id), raised.user),
            restore(self.keys.bucket_of(&s.id), raised.bucket)
        );
    }

    /// After a record changed from `old` to `new` (or was deleted, `new` = None): removes or
    /// lowers the index entries that no longer apply.
    pub(crate) async fn settle_indexes(
        &self,
        old: Option<&Session>,
        new: Option<&Session>,
    ) -> Result<()> {
        let mut steps = Vec::new();
        if let Some(o) = old {
            let id = o.id;
            if new.is_none_or(|n| n.user_id != o.user_id) {
                steps.push(
                    self.index_op(self.keys.user(&o.user_id), "remove", &o.id, o.expires_at)
                        .boxed_step(),
                );
            }
            if new.is_none() {
                steps.push(
                    self.index_op(self.keys.bucket_of(&o.id), "remove", &o.id, o.expires_at)
                        .boxed_step(),
                );
            }
            if let Some(c) = &o.connection_id {
                if new.is_none_or(|n| n.connection_id.as_ref() != Some(c)) {
                    let c = *c;
                    steps.push(Box::pin(async move { self.release_conn(&c, &id).await }));
                }
            }
        }
        if let Some(n) = new {
            let id = n.id;
            let exp = n.expires_at;
            steps.push(
                self.index_op(self.keys.user(&n.user_id), "set", &n.id, exp)
                    .boxed_step(),
            );
            steps.push(
                self.index_op(self.keys.bucket_of(&n.id), "set", &n.id, exp)
                    .boxed_step(),
            );
            if let Some(c) = n.connection_id {
                steps.push(Box::pin(async move {
                    self.conn_op(
                        &c,
                        vec![
                            "expire".into(),
                            id.to_string().into(),
                            exp.as_millis().to_string().into(),
                        ],
                    )
                    .await
                    .map(drop)
                }));
            }
        }
        for r in join_all(steps).await {
            r?;
        }
        Ok(())
    }
}

/// What `raise_indexes` did: whether it claimed the connection, and each index entry's score
/// before (outer `None`: not raised; inner `None`: the entry was absent).
pub(crate) struct Raised {
    conn: bool,
    user: Option<Option<String>>,
    bucket: Option<Option<String>>,
}

/// How long a connection claim without its record is presumed to belong to a create still
/// under way (Cluster only). After a client dies mid-create its connection id is free again
/// after this long.
pub(crate) const CLAIM_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

pub(crate) type Step<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send + 'a>>;

pub(crate) trait BoxedStep<'a> {
    fn boxed_step(self) -> Step<'a>;
}

impl<'a, F: std::future::Future<Output = Result<bool>> + Send + 'a> BoxedStep<'a> for F {
    fn boxed_step(self) -> Step<'a> {
        Box::pin(async move { self.await.map(drop) })
    }
}
