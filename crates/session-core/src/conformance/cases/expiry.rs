//! count and delete_expired, and the expiry promise: an expired session is never returned,
//! counted, listed or brought back; concurrent writers keep the indexes consistent.

use crate::conformance::*;

// ---- count and delete_expired ------------------------------------------------------------------

/// count follows creates, deletes and expiry, and never counts dead sessions.
pub async fn count_live_only<S: Store + 'static>(f: Fixture<S>) {
    assert_eq!(f.count().await, 0);
    let a = f.create(f.session("alice")).await;
    f.create(f.session("bob")).await;
    f.create(f.short_lived("carol")).await;
    assert_eq!(f.count().await, 3);
    f.store.delete(&a.id).await.unwrap();
    assert_eq!(f.count().await, 2);
    f.expire_short_lived().await;
    assert_eq!(f.count().await, 1);
}

/// delete_expired reclaims expired sessions (those the store has not already dropped by
/// itself), reports how many, and leaves live ones alone.
pub async fn delete_expired_reclaims<S: Store + 'static>(f: Fixture<S>) {
    let keep = f.create(f.session("alice")).await;
    let mut doomed = Vec::new();
    for u in ["alice", "bob", "bob"] {
        doomed.push(f.create(f.short_lived(u)).await);
    }
    assert_eq!(
        f.store.delete_expired().await.unwrap(),
        0,
        "nothing expired yet"
    );
    f.expire_short_lived().await;
    // A store that drops expired sessions by itself (Redis: keys expire, index keys with
    // their latest member) may find fewer than the three left to remove.
    let reclaimed = f.store.delete_expired().await.unwrap();
    assert!(reclaimed <= 3, "reclaimed {reclaimed} of 3 expired");
    assert_eq!(f.store.delete_expired().await.unwrap(), 0, "second pass");
    for s in &doomed {
        f.assert_gone(s).await;
    }
    f.assert_indexed(&keep).await;
    assert_eq!(f.count().await, 1);
}

/// Expired sessions are invisible to every read at once, before any sweep.
pub async fn expired_invisible_everywhere<S: Store + 'static>(f: Fixture<S>) {
    let s = f.create(f.short_lived("alice")).await;
    f.assert_indexed(&s).await;
    f.expire_short_lived().await;
    f.assert_gone(&s).await;
    assert_eq!(f.count().await, 0);
    let page = f
        .store
        .list(&ListFilter::new().user(user_id("alice")))
        .await
        .unwrap();
    assert_eq!(page.total, 0);
}

/// No write brings an expired session back: not update, touch, or update_with.
pub async fn no_write_resurrects_expired<S: Store + 'static>(f: Fixture<S>) {
    let s = f.create(f.short_lived("alice")).await;
    f.expire_short_lived().await;
    let later = f.now() + Duration::from_secs(3600);
    let mut u = Session::clone(&s);
    u.expires_at = later;
    assert_not_found(f.store.update(u).await);
    assert_not_found(f.store.touch(&s.id, later).await);
    assert_not_found(
        f.store
            .update_with(&s.id, |s| {
                s.expires_at = later;
                Ok(())
            })
            .await,
    );
    f.assert_gone(&s).await;
    assert_eq!(f.count().await, 0);
}

/// At the expiry millisecond itself a session is over for every operation: no write
/// resurrects it (touch, update and update_with are `NotFound`, delete says `false`), its id
/// and its connection id are free for a new create, and no read returns it. Each trial creates
/// a session expiring a few tens of milliseconds ahead, waits until the store's clock reads
/// exactly its `expires_at` (or just after) and sends one operation.
pub async fn nothing_survives_the_expiry_millisecond<S: Store + 'static>(f: Fixture<S>) {
    const OPS: [&str; 12] = [
        "touch",
        "update",
        "update_with",
        "delete",
        "create id",
        "create connection",
        "get",
        "get_many",
        "by_user",
        "by_connection",
        "list",
        "count",
    ];
    let mut failures = Vec::new();
    let mut trials = 0;
    let mut live = 0u64;
    for round in 0..4 {
        for op in OPS {
            let user = format!("edge-{round}-{}", op.replace(' ', "-"));
            let mut s = f.session(&user);
            let exp = f.now() + Duration::from_millis(80);
            s.expires_at = exp;
            let s = match f.store.create(s).await {
                Ok(s) => s,
                // A machine too loaded to create it within its TTL: not this trial's question.
                Err(Error::InvalidInput { .. }) => continue,
                Err(e) => panic!("create: {e:?}"),
            };
            f.reach(exp).await;
            trials += 1;
            let later = f.now() + Duration::from_secs(3600);
            let mut recreated = None;
            let outcome: Result<(), String> = match op {
                "touch" => match f.store.touch(&s.id, later).await {
                    Err(Error::NotFound { .. }) => Ok(()),
                    other => Err(format!("{other:?}")),
                },
                "update" => {
                    let mut u = Session::clone(&s);
                    u.expires_at = later;
                    match f.store.update(u).await {
                        Err(Error::NotFound { .. }) => Ok(()),
                        other => Err(format!("{other:?}")),
                    }
                }
                "update_with" => match f
                    .store
                    .update_with(&s.id, |x| {
                        x.expires_at = later;
                        Ok(())
                    })
                    .await
                {
                    Err(Error::NotFound { .. }) => Ok(()),
                    other => Err(format!("{other:?}")),
                },
                "delete" => match f.store.delete(&s.id).await {
                    Ok(false) => Ok(()),
                    other => Err(format!("{other:?}")),
                },
                "create id" => {
                    let mut n = f.session(&user);
                    n.id = s.id;
                    match f.store.create(n).await {
                        Ok(n) => {
                            recreated = Some(n);
                            Ok(())
                        }
                        Err(e) => Err(format!("{e:?}")),
                    }
                }
                "create connection" => {
                    let mut n = f.session(&user);
                    n.connection_id = s.connection_id;
                    match f.store.create(n).await {
                        Ok(_) => {
                            live += 1;
                            Ok(())
                        }
                        Err(e) => Err(format!("{e:?}")),
                    }
                }
                "get" => match f.store.get(&s.id).await {
                    Ok(None) => Ok(()),
                    other => Err(format!("{other:?}")),
                },
                "get_many" => match f.store.get_many(&[s.id]).await {
                    Ok(v) if v.len() == 1 && v[0].is_none() => Ok(()),
                    other => Err(format!("{other:?}")),
                },
                "by_user" => match f.store.get_by_user_id(&s.user_id).await {
                    Ok(v) if v.is_empty() => Ok(()),
                    other => Err(format!("{other:?}")),
                },
                "by_connection" => {
                    match f
                        .store
                        .get_by_connection_id(s.connection_id.as_ref().unwrap())
                        .await
                    {
                        Ok(None) => Ok(()),
                        other => Err(format!("{other:?}")),
                    }
                }
                "list" => match f
                    .store
                    .list(&ListFilter::new().user(s.user_id.clone()))
                    .await
                {
                    Ok(p) if p.total == 0 && p.sessions.is_empty() => Ok(()),
                    other => Err(format!("{other:?}")),
                },
                "count" => match f.store.count().await {
                    Ok(n) if n == live => Ok(()),
                    other => Err(format!("{other:?}, {live} live")),
                },
                _ => unreachable!(),
            };
            if let Err(e) = outcome {
                failures.push(format!("{op} (round {round}): {e}"));
            }
            if let Some(n) = recreated {
                live += 1;
                if f.get(&s.id).await.as_deref() != Some(&*n) {
                    failures.push(format!(
                        "{op} (round {round}): the new session is not what get reads"
                    ));
                }
            } else if f.get(&s.id).await.is_some() {
                failures.push(format!("{op} (round {round}): readable again afterwards"));
            }
        }
    }
    assert!(trials > 0, "no trial got its session created in time");
    assert!(
        failures.is_empty(),
        "{} of {trials} operations at the expiry millisecond treated the session as live:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Many users with many sessions each, written concurrently: the indexes agree with the data.
pub async fn concurrent_mixed_writes_keep_indexes_consistent<S: Store + 'static>(f: Fixture<S>) {
    let mut tasks = Vec::new();
    for t in 0..8 {
        let store = f.store.clone();
        let proto = f.session("proto");
        tasks.push(tokio::spawn(async move {
            let mut kept = Vec::new();
            for i in 0..25 {
                let mut s = proto.clone();
                s.id = SessionId::new();
                s.connection_id = Some(ConnectionId::new());
                s.user_id = user_id(&format!("user-{}", (t + i) % 5));
                let s = store.create(s).await.unwrap();
                if i % 5 == 0 {
                    store.delete(&s.id).await.unwrap();
                } else if i % 5 == 1 {
                    let mut n = Session::clone(&s);
                    n.user_id = user_id(&format!("user-{}", (t + i + 1) % 5));
                    kept.push(store.update(n).await.unwrap());
                } else {
                    kept.push(s);
                }
            }
            kept
        }));
    }
    let mut kept = Vec::new();
    for t in tasks {
        kept.extend(t.await.unwrap());
    }
    for s in &kept {
        f.assert_indexed(s).await;
    }
    let mut total = 0;
    for u in 0..5 {
        total += f.by_user(&format!("user-{u}")).await.len();
    }
    assert_eq!(total, kept.len());
    assert_eq!(f.count().await, kept.len() as u64);
    assert_eq!(f.list_all().await.total, kept.len() as u64);
}
