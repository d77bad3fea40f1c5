//! Compare-and-set updates (no lost update), update_with, and touch.

use crate::conformance::*;

// ---- update ----------------------------------------------------------------------------------

/// An update with the current version is stored and bumps the version.
pub async fn update_bumps_version<S: Store + 'static>(f: Fixture<S>) {
    let created = f.create(f.session("alice")).await;
    let mut next = Session::clone(&created);
    next.state = SessionState::Idle;
    next.stats.bytes_sent = 1234;
    next.metadata.insert("theme".into(), "dark".into());
    let updated = f.store.update(next.clone()).await.unwrap();
    next.version = 2;
    assert_eq!(*updated, next);
    f.assert_indexed(&next).await;
    let mut again = next.clone();
    again.last_active_at = f.now();
    assert_eq!(f.store.update(again).await.unwrap().version, 3);
}

/// An update carrying an old version gets `Conflict` and changes nothing.
pub async fn update_stale_version_conflicts<S: Store + 'static>(f: Fixture<S>) {
    let v1 = f.create(f.session("alice")).await;
    let mut first = Session::clone(&v1);
    first.state = SessionState::Idle;
    let v2 = f.store.update(first).await.unwrap();
    let before = f.snapshot(&["alice"]).await;
    let mut stale = Session::clone(&v1);
    stale.state = SessionState::Closed;
    match f.store.update(stale).await {
        Err(Error::Conflict {
            id,
            expected,
            actual,
        }) => assert_eq!((id, expected, actual), (v1.id, 1, 2)),
        other => panic!("expected Conflict, got {other:?}"),
    }
    let mut future = Session::clone(&v2);
    future.version = 7;
    assert_conflict(f.store.update(future).await);
    assert_eq!(f.snapshot(&["alice"]).await, before);
}

/// An update of an id that was never created is `NotFound`, and creates nothing.
pub async fn update_missing_is_not_found<S: Store + 'static>(f: Fixture<S>) {
    let mut s = f.session("alice");
    s.version = 1;
    assert_not_found(f.store.update(s.clone()).await);
    f.assert_gone(&s).await;
    assert_eq!(f.count().await, 0);
}

/// An update of an expired session is `NotFound` and does not bring it back.
pub async fn update_expired_is_not_resurrected<S: Store + 'static>(f: Fixture<S>) {
    let s = f.create(f.short_lived("alice")).await;
    f.expire_short_lived().await;
    let mut late = Session::clone(&s);
    late.expires_at = f.now() + Duration::from_secs(3600);
    assert_not_found(f.store.update(late).await);
    f.assert_gone(&s).await;
    assert_eq!(f.count().await, 0);
}

/// An update that sets an expiry in the past is refused; the session stays as it was.
pub async fn update_rejects_past_expiry_and_bad_metadata<S: Store + 'static>(f: Fixture<S>) {
    let s = f.create(f.session("alice")).await;
    let mut past = Session::clone(&s);
    past.expires_at = f.now() - Duration::from_millis(1);
    assert_invalid(f.store.update(past).await, "expires_at");
    let mut meta = Session::clone(&s);
    meta.metadata = [("k".repeat(500), String::new())].into();
    assert_invalid(f.store.update(meta).await, "metadata");
    assert_eq!(f.get(&s.id).await.as_deref(), Some(&*s));
}

/// Changing the user moves the session between user indexes.
pub async fn update_moves_user_index<S: Store + 'static>(f: Fixture<S>) {
    let s = f.create(f.session("alice")).await;
    let mut moved = Session::clone(&s);
    moved.user_id = user_id("bob");
    let moved = f.store.update(moved).await.unwrap();
    assert!(f.by_user("alice").await.is_empty());
    assert_eq!(ids(&f.by_user("bob").await), vec![s.id]);
    f.assert_indexed(&moved).await;
    assert_eq!(
        f.store
            .delete_by_user_id(&user_id("alice"), None)
            .await
            .unwrap(),
        Vec::<SessionId>::new()
    );
    assert_eq!(
        f.store
            .delete_by_user_id(&user_id("bob"), None)
            .await
            .unwrap(),
        vec![s.id]
    );
    f.assert_gone(&moved).await;
}

/// Changing the connection id moves the connection index and frees the old one.
pub async fn update_moves_connection_index<S: Store + 'static>(f: Fixture<S>) {
    let s = f.create(f.session("alice")).await;
    let old_conn = s.connection_id.unwrap();
    let new_conn = ConnectionId::new();
    let mut moved = Session::clone(&s);
    moved.connection_id = Some(new_conn);
    let moved = f.store.update(moved).await.unwrap();
    assert!(f.by_conn(&old_conn).await.is_none());
    f.assert_indexed(&moved).await;
    // The old connection id is free again.
    let mut other = f.session("bob");
    other.connection_id = Some(old_conn);
    f.create(other).await;
}

/// Dropping the connection id removes the session from the connection index.
pub async fn update_clears_connection<S: Store + 'static>(f: Fixture<S>) {
    let s = f.create(f.session("alice")).await;
    let mut cleared = Session::clone(&s);
    cleared.connection_id = None;
    let cleared = f.store.update(cleared).await.unwrap();
    assert!(f.by_conn(&s.connection_id.unwrap()).await.is_none());
    f.assert_indexed(&cleared).await;
    let mut again = Session::clone(&cleared);
    again.connection_id = s.connection_id;
    let again = f.store.update(again).await.unwrap();
    f.assert_indexed(&again).await;
}

/// An update onto a connection id held by another live session is refused.
pub async fn update_onto_taken_connection_fails<S: Store + 'static>(f: Fixture<S>) {
    let a = f.create(f.session("alice")).await;
    let b = f.create(f.session("bob")).await;
    let before = f.snapshot(&["alice", "bob"]).await;
    let mut steal = Session::clone(&b);
    steal.connection_id = a.connection_id;
    match f.store.update(steal).await {
        Err(Error::AlreadyExists(Collision::ConnectionId(c))) => {
            assert_eq!(Some(c), a.connection_id)
        }
        other => panic!("expected AlreadyExists(ConnectionId), got {other:?}"),
    }
    assert_eq!(f.snapshot(&["alice", "bob"]).await, before);
    f.assert_indexed(&a).await;
    f.assert_indexed(&b).await;
}

/// Two writers holding the same version race: exactly one wins, the other gets `Conflict`.
pub async fn same_version_writers_exactly_one_wins<S: Store + 'static>(f: Fixture<S>) {
    for round in 0..20 {
        let s = f.create(f.session(&format!("user-{round}"))).await;
        let mut tasks = Vec::new();
        for writer in 0..2u64 {
            let mut next = Session::clone(&s);
            next.stats.packets_sent = writer + 1;
            let store = f.store.clone();
            tasks.push(tokio::spawn(async move { store.update(next).await }));
        }
        let mut wins = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                Ok(s) => wins.push(s.stats.packets_sent),
                Err(Error::Conflict { .. }) => {}
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(wins.len(), 1, "round {round}: exactly one writer wins");
        let stored = f.get(&s.id).await.unwrap();
        assert_eq!(stored.version, 2);
        assert_eq!(stored.stats.packets_sent, wins[0]);
    }
}

/// 32 tasks each apply 50 increments through update_with: none is lost.
pub async fn update_with_concurrent_increments_exact<S: Store + 'static>(f: Fixture<S>) {
    let s = f.create(f.session("counter")).await;
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let store = f.store.clone();
        let id = s.id;
        tasks.push(tokio::spawn(async move {
            for _ in 0..50 {
                store
                    .update_with(&id, |s| {
                        s.stats.packets_received += 1;
                        Ok(())
                    })
                    .await
                    .expect("update_with");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let end = f.get(&s.id).await.unwrap();
    assert_eq!(end.stats.packets_received, 32 * 50);
    assert_eq!(end.version, 1 + 32 * 50);
}

/// An error from the closure stops update_with and writes nothing.
pub async fn update_with_closure_error_writes_nothing<S: Store + 'static>(f: Fixture<S>) {
    let s = f.create(f.session("alice")).await;
    let result = f
        .store
        .update_with(&s.id, |s| {
            s.state = SessionState::Closed;
            Err(Error::invalid("state", "refused by caller"))
        })
        .await;
    assert_invalid(result, "state");
    assert_eq!(f.get(&s.id).await.as_deref(), Some(&*s));
    assert_not_found(f.store.update_with(&SessionId::new(), |_| Ok(())).await);
}

/// compute: `Keep` writes nothing and returns the session as read; `Write` stores the new
/// version; `Delete` removes it from every view; a stale `Write` is retried from a fresh read
/// (the closure is asked again); a missing id is `NotFound`; a closure error writes nothing.
pub async fn compute_keep_write_delete<S: Store + 'static>(f: Fixture<S>) {
    let s = f.create(f.session("alice")).await;
    match f.store.compute(&s.id, |_| Ok(Op::Keep)).await.unwrap() {
        Computed::Kept(kept) => assert_eq!(kept, s),
        other => panic!("Keep gave {other:?}"),
    }
    assert_eq!(f.get(&s.id).await.unwrap().version, 1, "Keep wrote nothing");

    // A write racing in between the first read and the first write: asked again.
    let mut asked = 0;
    let computed = f
        .store
        .compute(&s.id, |current| {
            asked += 1;
            if asked == 1 {
                let mut other = Session::clone(current);
                other.stats.packets_sent = 7;
                let store = f.store.clone();
                // Another writer wins the race (on a separate thread, so this closure stays
                // synchronous).
                let handle = tokio::runtime::Handle::current();
                std::thread::spawn(move || handle.block_on(store.update(other)))
                    .join()
                    .unwrap()
                    .expect("the other writer");
            }
            let mut next = Session::clone(current);
            next.stats.packets_received += 1;
            Ok(Op::Write(next))
        })
        .await
        .unwrap();
    let Computed::Written(written) = computed else {
        panic!("Write gave {computed:?}");
    };
    assert_eq!(asked, 2, "the conflict made compute read again");
    assert_eq!(
        (
            written.version,
            written.stats.packets_sent,
            written.stats.packets_received
        ),
        (3, 7, 1)
    );
    assert_eq!(f.get(&s.id).await.as_deref(), Some(&*written));

    let e = f
        .store
        .compute(&s.id, |_| Err(Error::invalid("state", "refused by caller")))
        .await;
    assert_invalid(e, "state");
    assert_eq!(
        f.get(&s.id).await.unwrap().version,
        3,
        "an error wrote nothing"
    );

    match f.store.compute(&s.id, |_| Ok(Op::Delete)).await.unwrap() {
        Computed::Deleted { existed } => assert!(existed),
        other => panic!("Delete gave {other:?}"),
    }
    f.assert_gone(&written).await;
    assert_not_found(f.store.compute(&s.id, |_| Ok(Op::Keep)).await);
}

// ---- touch -----------------------------------------------------------------------------------

/// touch moves the expiry later and bumps the version; the session outlives its old expiry.
pub async fn touch_extends_expiry<S: Store + 'static>(f: Fixture<S>) {
    let s = f.create(f.short_lived("alice")).await;
    let later = f.now() + Duration::from_secs(3600);
    let touched = f.store.touch(&s.id, later).await.unwrap();
    assert_eq!(touched.expires_at, later);
    assert_eq!(touched.version, 2);
    let mut expected = Session::clone(&s);
    expected.expires_at = later;
    expected.version = 2;
    assert_eq!(*touched, expected);
    f.expire_short_lived().await;
    f.assert_indexed(&expected).await;
    assert_eq!(f.count().await, 1);
}

/// touch may shorten the expiry too; the session then expires at the new time.
pub async fn touch_shortens_expiry<S: Store + 'static>(f: Fixture<S>) {
    let s = f.create(f.session("alice")).await;
    let soon = f.now() + f.time.short_ttl();
    assert_eq!(f.store.touch(&s.id, soon).await.unwrap().expires_at, soon);
    f.expire_short_lived().await;
    f.assert_gone(&s).await;
    assert_eq!(f.count().await, 0);
}

/// touch with a past expiry is refused; touch of a missing or expired session is `NotFound`.
pub async fn touch_rejects_past_and_missing<S: Store + 'static>(f: Fixture<S>) {
    let s = f.create(f.session("alice")).await;
    assert_invalid(
        f.store.touch(&s.id, f.now() - Duration::from_secs(1)).await,
        "expires_at",
    );
    assert_eq!(f.get(&s.id).await.as_deref(), Some(&*s));
    let later = f.now() + Duration::from_secs(60);
    assert_not_found(f.store.touch(&SessionId::new(), later).await);
    let gone = f.create(f.short_lived("bob")).await;
    f.expire_short_lived().await;
    assert_not_found(
        f.store
            .touch(&gone.id, later + Duration::from_secs(60))
            .await,
    );
    f.assert_gone(&gone).await;
}

/// A writer that read before a touch conflicts, so the touch is not lost.
pub async fn touch_then_stale_update_conflicts<S: Store + 'static>(f: Fixture<S>) {
    let s = f.create(f.session("alice")).await;
    let later = f.now() + Duration::from_secs(7200);
    f.store.touch(&s.id, later).await.unwrap();
    assert_conflict(f.store.update(Session::clone(&s)).await);
    assert_eq!(f.get(&s.id).await.unwrap().expires_at, later);
}
