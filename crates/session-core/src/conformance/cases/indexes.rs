//! delete, the user and connection indexes (complete, self-cleaning), delete_by_user_id
//! and list.

use crate::conformance::*;

// ---- delete ----------------------------------------------------------------------------------

/// delete removes the session from every view, and says whether it was there.
pub async fn delete_removes_everywhere<S: Store + 'static>(f: Fixture<S>) {
    let s = f.create(f.session("alice")).await;
    let other = f.create(f.session("alice")).await;
    assert!(f.store.delete(&s.id).await.unwrap());
    f.assert_gone(&s).await;
    assert!(!f.store.delete(&s.id).await.unwrap(), "second delete");
    assert!(!f.store.delete(&SessionId::new()).await.unwrap());
    f.assert_indexed(&other).await;
    assert_eq!(f.count().await, 1);
}

/// Deleting an expired session reports false: it was not live.
pub async fn delete_expired_session_reports_false<S: Store + 'static>(f: Fixture<S>) {
    let s = f.create(f.short_lived("alice")).await;
    f.expire_short_lived().await;
    assert!(!f.store.delete(&s.id).await.unwrap());
    f.assert_gone(&s).await;
}

// ---- indexes ---------------------------------------------------------------------------------

/// get_by_user_id returns all of the user's live sessions, ordered by id, and no one else's.
pub async fn get_by_user_id_all_ordered<S: Store + 'static>(f: Fixture<S>) {
    let mut mine = Vec::new();
    for i in 0..10 {
        mine.push(f.create(f.session("alice")).await.id);
        if i % 3 == 0 {
            f.create(f.session("bob")).await;
        }
    }
    mine.sort();
    assert_eq!(ids(&f.by_user("alice").await), mine);
    assert_eq!(f.by_user("bob").await.len(), 4);
    assert!(f.by_user("nobody").await.is_empty());
}

/// Expired sessions vanish from the user index at once.
pub async fn get_by_user_id_skips_expired<S: Store + 'static>(f: Fixture<S>) {
    let keep = f.create(f.session("alice")).await;
    for _ in 0..3 {
        f.create(f.short_lived("alice")).await;
    }
    assert_eq!(f.by_user("alice").await.len(), 4);
    f.expire_short_lived().await;
    assert_eq!(ids(&f.by_user("alice").await), vec![keep.id]);
}

/// get_by_connection_id finds the holder, misses an unknown id, and skips expired holders.
pub async fn get_by_connection_id_finds_and_expires<S: Store + 'static>(f: Fixture<S>) {
    let s = f.create(f.session("alice")).await;
    assert_eq!(
        f.by_conn(&s.connection_id.unwrap()).await.as_deref(),
        Some(&*s)
    );
    assert!(f.by_conn(&ConnectionId::new()).await.is_none());
    let short = f.create(f.short_lived("bob")).await;
    assert!(f.by_conn(&short.connection_id.unwrap()).await.is_some());
    f.expire_short_lived().await;
    assert!(f.by_conn(&short.connection_id.unwrap()).await.is_none());
    f.assert_indexed(&s).await;
}

/// Sessions without a connection id are fine and found by id and user.
pub async fn sessions_without_connection<S: Store + 'static>(f: Fixture<S>) {
    let mut s = f.session("alice");
    s.connection_id = None;
    let a = f.create(s.clone()).await;
    let mut t = f.session("alice");
    t.connection_id = None;
    let b = f.create(t).await;
    f.assert_indexed(&a).await;
    f.assert_indexed(&b).await;
    assert_eq!(f.by_user("alice").await.len(), 2);
}

/// After a mixed history of writes, every session readable by id is findable by user and by
/// connection, and the indexes hold nothing else.
pub async fn index_completeness_after_mixed_writes<S: Store + 'static>(f: Fixture<S>) {
    let users = ["u0", "u1", "u2", "u3"];
    let mut all = Vec::new();
    for i in 0..24usize {
        all.push(f.create(f.session(users[i % 4])).await);
    }
    for (i, s) in all.clone().iter().enumerate() {
        match i % 6 {
            0 => {
                f.store.delete(&s.id).await.unwrap();
            }
            1 => {
                let mut n = Session::clone(s);
                n.user_id = user_id(users[(i + 1) % 4]);
                all[i] = f.store.update(n).await.unwrap();
            }
            2 => {
                let mut n = Session::clone(s);
                n.connection_id = Some(ConnectionId::new());
                all[i] = f.store.update(n).await.unwrap();
            }
            3 => {
                all[i] = f
                    .store
                    .touch(&s.id, f.now() + Duration::from_secs(99))
                    .await
                    .unwrap();
            }
            _ => {}
        }
    }
    let mut live = BTreeSet::new();
    for (i, s) in all.iter().enumerate() {
        if i % 6 == 0 {
            f.assert_gone(s).await;
        } else {
            f.assert_indexed(s).await;
            live.insert(s.id);
        }
    }
    let mut indexed = BTreeSet::new();
    for u in users {
        for s in f.by_user(u).await {
            assert_eq!(s.user_id.as_str(), u);
            assert!(indexed.insert(s.id), "listed twice");
        }
    }
    assert_eq!(indexed, live);
    assert_eq!(f.count().await, live.len() as u64);
}

// ---- delete_by_user_id -------------------------------------------------------------------------

/// delete_by_user_id removes all of the user's sessions and no one else's.
pub async fn delete_by_user_id_all<S: Store + 'static>(f: Fixture<S>) {
    let mut mine = Vec::new();
    for _ in 0..5 {
        mine.push(f.create(f.session("alice")).await);
    }
    let theirs = f.create(f.session("bob")).await;
    let mut deleted = f
        .store
        .delete_by_user_id(&user_id("alice"), None)
        .await
        .unwrap();
    deleted.sort();
    assert_eq!(deleted, ids(&mine), "the ids of what it deleted");
    for s in &mine {
        f.assert_gone(s).await;
    }
    f.assert_indexed(&theirs).await;
    assert_eq!(f.count().await, 1);
    // The user can log in again.
    let again = f.create(f.session("alice")).await;
    f.assert_indexed(&again).await;
}

/// delete_by_user_id with `except` keeps exactly that session.
pub async fn delete_by_user_id_except<S: Store + 'static>(f: Fixture<S>) {
    let mut mine = Vec::new();
    for _ in 0..4 {
        mine.push(f.create(f.session("alice")).await);
    }
    let keep = mine[2].clone();
    let mut deleted = f
        .store
        .delete_by_user_id(&user_id("alice"), Some(&keep.id))
        .await
        .unwrap();
    deleted.sort();
    let mut others: Vec<_> = ids(&mine).into_iter().filter(|id| *id != keep.id).collect();
    others.sort();
    assert_eq!(deleted, others);
    assert_eq!(ids(&f.by_user("alice").await), vec![keep.id]);
    f.assert_indexed(&keep).await;
    for s in mine.iter().filter(|s| s.id != keep.id) {
        f.assert_gone(s).await;
    }
    // `except` naming someone else's session protects nothing of this user.
    let bob = f.create(f.session("bob")).await;
    let deleted = f
        .store
        .delete_by_user_id(&user_id("alice"), Some(&bob.id))
        .await
        .unwrap();
    assert_eq!(deleted, vec![keep.id]);
    f.assert_indexed(&bob).await;
}

/// delete_by_user_id deletes (and names) only live sessions; an unknown user has none.
pub async fn delete_by_user_id_counts_live_only<S: Store + 'static>(f: Fixture<S>) {
    let live = f.create(f.session("alice")).await;
    f.create(f.short_lived("alice")).await;
    f.expire_short_lived().await;
    assert_eq!(
        f.store
            .delete_by_user_id(&user_id("alice"), None)
            .await
            .unwrap(),
        vec![live.id]
    );
    assert_eq!(
        f.store
            .delete_by_user_id(&user_id("ghost"), None)
            .await
            .unwrap(),
        Vec::<SessionId>::new()
    );
    assert_eq!(f.count().await, 0);
}

// ---- list --------------------------------------------------------------------------------------

/// list pages through every session in id order with an exact total.
pub async fn list_pages_stable_with_exact_total<S: Store + 'static>(f: Fixture<S>) {
    let mut all = Vec::new();
    for i in 0..23 {
        all.push(f.create(f.session(&format!("user-{}", i % 5))).await.id);
    }
    all.sort();
    let mut seen = Vec::new();
    for page_no in 0..5 {
        let page = f
            .store
            .list(&ListFilter::new().limit(5).offset(page_no * 5))
            .await
            .unwrap();
        assert_eq!(page.total, 23);
        assert_eq!(page.sessions.len(), if page_no < 4 { 5 } else { 3 });
        seen.extend(ids(&page.sessions));
    }
    assert_eq!(seen, all, "pages in id order, no repeats, none missing");
    let again = f.store.list(&ListFilter::new().limit(5)).await.unwrap();
    assert_eq!(ids(&again.sessions), all[..5].to_vec(), "stable order");
}

/// list filters by user and by state, and the total counts only matches.
pub async fn list_filters_user_and_state<S: Store + 'static>(f: Fixture<S>) {
    for i in 0..12 {
        let mut s = f.session(if i % 2 == 0 { "alice" } else { "bob" });
        s.state = SessionState::ALL[i % 3];
        f.create(s).await;
    }
    let page = f
        .store
        .list(&ListFilter::new().user(user_id("alice")))
        .await
        .unwrap();
    assert_eq!(page.total, 6);
    assert!(page.sessions.iter().all(|s| s.user_id.as_str() == "alice"));
    let page = f
        .store
        .list(&ListFilter::new().state(SessionState::Idle))
        .await
        .unwrap();
    assert_eq!(page.total, 4);
    assert!(page.sessions.iter().all(|s| s.state == SessionState::Idle));
    let page = f
        .store
        .list(
            &ListFilter::new()
                .user(user_id("bob"))
                .state(SessionState::Connecting)
                .limit(1),
        )
        .await
        .unwrap();
    assert_eq!(page.total, 2);
    assert_eq!(page.sessions.len(), 1);
    let none = f
        .store
        .list(&ListFilter::new().user(user_id("carol")))
        .await
        .unwrap();
    assert_eq!((none.total, none.sessions.len()), (0, 0));
}

/// list past the end is an empty page with the true total; limit 0 gives only the total.
pub async fn list_offset_past_end_and_zero_limit<S: Store + 'static>(f: Fixture<S>) {
    for _ in 0..3 {
        f.create(f.session("alice")).await;
    }
    let page = f.store.list(&ListFilter::new().offset(10)).await.unwrap();
    assert_eq!((page.sessions.len(), page.total), (0, 3));
    let page = f.store.list(&ListFilter::new().limit(0)).await.unwrap();
    assert_eq!((page.sessions.len(), page.total), (0, 3));
}

/// Expired sessions are not listed and not in the total.
pub async fn list_skips_expired<S: Store + 'static>(f: Fixture<S>) {
    let keep = f.create(f.session("alice")).await;
    f.create(f.short_lived("alice")).await;
    f.create(f.short_lived("bob")).await;
    assert_eq!(f.list_all().await.total, 3);
    f.expire_short_lived().await;
    let page = f.list_all().await;
    assert_eq!((page.ids, page.total), (vec![keep.id], 1));
}
