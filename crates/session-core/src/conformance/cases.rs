//! The cases. Each is `pub async fn name<S: Store + 'static>(f: Fixture<S>)`, and its name is
//! listed once in `__conformance_cases!` at the bottom.

use super::*;

// ---- create and get ----------------------------------------------------------------------

/// Create stores the session with version 1 and get returns it unchanged.
pub async fn create_then_get<S: Store + 'static>(f: Fixture<S>) {
    let mut s = f.session("alice");
    s.version = 99;
    let created = f.create(s.clone()).await;
    s.version = 1;
    assert_eq!(
        *created, s,
        "create returns the stored session with version 1"
    );
    assert_eq!(f.get(&s.id).await.as_deref(), Some(&s));
}

/// Every field survives the store, including IPv6 addresses, counters and full metadata.
pub async fn create_round_trips_every_field<S: Store + 'static>(f: Fixture<S>) {
    let mut s = f.session("bob");
    s.client_addr = "[2001:db8::42]:65535".parse().unwrap();
    s.server_addr = "[::1]:1".parse().unwrap();
    s.state = SessionState::Disconnecting;
    s.stats = Stats {
        packets_sent: u64::MAX,
        packets_received: 1,
        bytes_sent: 1 << 40,
        bytes_received: 7,
        retransmissions: 3,
        current_rtt_ms: u32::MAX,
    };
    s.metadata = (0..limits::METADATA_MAX_ENTRIES)
        .map(|i| (format!("k{i:03}"), "v".repeat(200)))
        .collect();
    s.user_id = user_id(&"ü".repeat(limits::USER_ID_MAX_BYTES / 2));
    s.created_at = f.now() - Duration::from_secs(5);
    s.last_active_at = f.now() - Duration::from_secs(1);
    let created = f.create(s.clone()).await;
    assert_eq!(f.get(&s.id).await.as_deref(), Some(&*created));
    s.version = 1;
    assert_eq!(*created, s);
}

/// IPv6 addresses keep their flowinfo and scope id (a link-local client address is only
/// meaningful with its scope): what `get` reads is exactly what `create` returned.
pub async fn ipv6_flowinfo_and_scope_id_round_trip<S: Store + 'static>(f: Fixture<S>) {
    let mut s = f.session("alice");
    s.client_addr = "[fe80::1%7]:40000".parse().unwrap();
    s.server_addr = std::net::SocketAddr::V6(std::net::SocketAddrV6::new(
        "2001:db8::1".parse().unwrap(),
        8443,
        0xabcde,
        3,
    ));
    let created = f.create(s.clone()).await;
    s.version = 1;
    assert_eq!(*created, s);
    assert_eq!(f.get(&s.id).await.as_deref(), Some(&s), "get");
    let many = f.store.get_many(&[s.id]).await.unwrap();
    assert_eq!(many[0].as_deref(), Some(&s), "get_many");
    let touched = f
        .store
        .touch(&s.id, f.now() + Duration::from_secs(7200))
        .await
        .unwrap();
    assert_eq!(touched.client_addr, s.client_addr, "touch");
    assert_eq!(touched.server_addr, s.server_addr, "touch");
    let by_user = f.by_user("alice").await;
    assert_eq!(by_user.len(), 1);
    assert_eq!(by_user[0].client_addr, s.client_addr, "by user");
}

/// A missing id reads as `None`, not an error.
pub async fn get_missing_is_none<S: Store + 'static>(f: Fixture<S>) {
    assert!(f.get(&SessionId::new()).await.is_none());
}

/// A second create on a live id fails with `AlreadyExists(SessionId)` and changes nothing.
pub async fn create_duplicate_id_fails<S: Store + 'static>(f: Fixture<S>) {
    let s = f.session("alice");
    f.create(s.clone()).await;
    let before = f.snapshot(&["alice", "mallory"]).await;
    let mut again = f.session("mallory");
    again.id = s.id;
    match f.store.create(again.clone()).await {
        Err(Error::AlreadyExists(Collision::SessionId(id))) => assert_eq!(id, s.id),
        other => panic!("expected AlreadyExists(SessionId), got {other:?}"),
    }
    assert_eq!(f.snapshot(&["alice", "mallory"]).await, before);
    assert!(f.by_conn(&again.connection_id.unwrap()).await.is_none());
}

/// A create on a connection id a live session holds fails with
/// `AlreadyExists(ConnectionId)` and changes nothing.
pub async fn create_duplicate_connection_fails<S: Store + 'static>(f: Fixture<S>) {
    let s = f.session("alice");
    f.create(s.clone()).await;
    let before = f.snapshot(&["alice", "bob"]).await;
    let mut other = f.session("bob");
    other.connection_id = s.connection_id;
    match f.store.create(other.clone()).await {
        Err(Error::AlreadyExists(Collision::ConnectionId(c))) => {
            assert_eq!(Some(c), s.connection_id)
        }
        x => panic!("expected AlreadyExists(ConnectionId), got {x:?}"),
    }
    assert_eq!(f.snapshot(&["alice", "bob"]).await, before);
    assert!(f.get(&other.id).await.is_none());
    assert_eq!(f.by_conn(&s.connection_id.unwrap()).await.unwrap().id, s.id);
}

/// Of many concurrent creates on one id, exactly one succeeds.
pub async fn concurrent_creates_one_id_one_wins<S: Store + 'static>(f: Fixture<S>) {
    let id = SessionId::new();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let mut s = f.session(&format!("racer-{i}"));
        s.id = id;
        let store = f.store.clone();
        tasks.push(tokio::spawn(async move { store.create(s).await }));
    }
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => wins += 1,
            Err(Error::AlreadyExists(_)) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(f.count().await, 1);
    let winner = f.get(&id).await.unwrap();
    f.assert_indexed(&winner).await;
}

/// Of many concurrent creates holding one connection id, exactly one succeeds.
pub async fn concurrent_creates_one_connection_one_wins<S: Store + 'static>(f: Fixture<S>) {
    let conn = ConnectionId::new();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let mut s = f.session(&format!("racer-{i}"));
        s.connection_id = Some(conn);
        let store = f.store.clone();
        tasks.push(tokio::spawn(async move { store.create(s).await }));
    }
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => wins += 1,
            Err(Error::AlreadyExists(Collision::ConnectionId(c))) => assert_eq!(c, conn),
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(f.count().await, 1);
    let holder = f.by_conn(&conn).await.unwrap();
    f.assert_indexed(&holder).await;
}

/// A connection id freed by a delete can be taken by a new session.
pub async fn connection_reusable_after_delete<S: Store + 'static>(f: Fixture<S>) {
    let s = f.session("alice");
    f.create(s.clone()).await;
    assert!(f.store.delete(&s.id).await.unwrap());
    let mut next = f.session("bob");
    next.connection_id = s.connection_id;
    let next = f.create(next).await;
    f.assert_indexed(&next).await;
}

/// A connection id held by an expired session can be taken by a new session.
pub async fn connection_reusable_after_expiry<S: Store + 'static>(f: Fixture<S>) {
    let s = f.short_lived("alice");
    f.create(s.clone()).await;
    f.expire_short_lived().await;
    let mut next = f.session("bob");
    next.connection_id = s.connection_id;
    let next = f.create(next).await;
    f.assert_indexed(&next).await;
    assert!(f.by_user("alice").await.is_empty());
}

/// An expired id can be created afresh; nothing of the old session shows through.
pub async fn id_reusable_after_expiry_without_resurrection<S: Store + 'static>(f: Fixture<S>) {
    let old = f.short_lived("alice");
    f.create(old.clone()).await;
    f.expire_short_lived().await;
    let mut new = f.session("bob");
    new.id = old.id;
    let new = f.create(new).await;
    assert_eq!(new.version, 1);
    f.assert_indexed(&new).await;
    assert!(f.by_user("alice").await.is_empty(), "old user index entry");
    assert!(f.by_conn(&old.connection_id.unwrap()).await.is_none());
    assert_eq!(f.count().await, 1);
}

// ---- bad input -----------------------------------------------------------------------------

/// A table of bad sessions: each create gets `InvalidInput` naming the field, and the store
/// is unchanged.
pub async fn create_rejects_bad_input_table<S: Store + 'static>(f: Fixture<S>) {
    let keep = f.session("victim");
    f.create(keep.clone()).await;
    let before = f.snapshot(&["victim", "bad"]).await;
    let now = f.now();
    let base = f.session("bad");
    let mut cases: Vec<(&str, &str, Session)> = Vec::new();
    let mut s = base.clone();
    s.expires_at = now - Duration::from_secs(1);
    cases.push(("expiry in the past", "expires_at", s));
    let mut s = base.clone();
    s.expires_at = Timestamp::EPOCH;
    cases.push(("expiry at the epoch", "expires_at", s));
    let mut s = base.clone();
    s.expires_at = Timestamp::from_millis(u64::MAX);
    cases.push(("expiry beyond year 9999", "expires_at", s));
    let mut s = base.clone();
    s.metadata = (0..=limits::METADATA_MAX_ENTRIES)
        .map(|i| (format!("k{i}"), String::new()))
        .collect();
    cases.push(("too many metadata entries", "metadata", s));
    let mut s = base.clone();
    s.metadata = [(
        "k".repeat(limits::METADATA_MAX_KEY_BYTES + 1),
        String::new(),
    )]
    .into();
    cases.push(("metadata key too long", "metadata", s));
    let mut s = base.clone();
    s.metadata = [(
        "k".to_owned(),
        "v".repeat(limits::METADATA_MAX_VALUE_BYTES + 1),
    )]
    .into();
    cases.push(("metadata value too long", "metadata", s));
    let mut s = base.clone();
    s.metadata = (0..20)
        .map(|i| (format!("k{i}"), "v".repeat(1000)))
        .collect();
    cases.push(("metadata too large in all", "metadata", s));
    let mut s = base.clone();
    s.metadata = [(String::new(), "v".to_owned())].into();
    cases.push(("empty metadata key", "metadata", s));
    let mut s = base.clone();
    s.metadata = [("a\nb".to_owned(), "v".to_owned())].into();
    cases.push(("control character in metadata key", "metadata", s));
    let mut s = base.clone();
    s.metadata = (0..10_000)
        .map(|i| (format!("k{i}"), String::new()))
        .collect();
    cases.push(("10 000 metadata entries", "metadata", s));
    let mut s = base.clone();
    s.metadata = [("k".to_owned(), "v".repeat(10 << 20))].into();
    cases.push(("a 10 MB metadata value", "metadata", s));
    // The same bad inputs on a session that also collides: validation comes first.
    let mut s = base.clone();
    s.id = keep.id;
    s.expires_at = now;
    cases.push(("expiry now, on a taken id", "expires_at", s));

    for (what, field, session) in cases {
        let result = f.store.create(session).await;
        match &result {
            Err(Error::InvalidInput { field: got, .. }) if *got == field => {}
            other => panic!("{what}: expected InvalidInput on {field}, got {other:?}"),
        }
    }
    assert_eq!(f.snapshot(&["victim", "bad"]).await, before);
}

/// User ids are validated when built: empty, too long or with control characters.
pub async fn user_id_validation<S: Store + 'static>(_f: Fixture<S>) {
    for bad in ["", "\0", "a\u{1b}b", "line\nbreak", "tab\t"] {
        assert_invalid(UserId::new(bad), "user_id");
    }
    assert_invalid(UserId::new("u".repeat(10 << 20)), "user_id");
    assert_invalid(
        UserId::new("x".repeat(limits::USER_ID_MAX_BYTES + 1)),
        "user_id",
    );
    assert!(UserId::new("x".repeat(limits::USER_ID_MAX_BYTES)).is_ok());
    assert_invalid(SessionId::parse("{not-a-uuid}"), "session_id");
    assert_invalid(ConnectionId::parse(""), "connection_id");
}

/// User ids with layout characters (`{`, `}`, `:`, `*`, spaces, non-ASCII) are kept apart.
pub async fn user_ids_with_special_characters_do_not_collide<S: Store + 'static>(f: Fixture<S>) {
    let users = [
        "a", "a:b", "a:", ":a", "{a}", "{a", "a}", "*", "a*", "a b", "ü", "a\\", "%", "user",
        "user:1", "user{1}",
    ];
    let mut created = Vec::new();
    for u in users {
        created.push(f.create(f.session(u)).await);
    }
    for (u, s) in users.iter().zip(&created) {
        assert_eq!(ids(&f.by_user(u).await), vec![s.id], "user {u:?}");
    }
    let n = f
        .store
        .delete_by_user_id(&user_id("a"), None)
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(f.count().await, users.len() as u64 - 1);
}

// ---- hostile input (docs/RELIABILITY.md section 5) ------------------------------------------

/// Every refused row of [`hostile::refused_writes`] gets `InvalidInput` naming its field, and
/// no view of the store changes (expiry past the far-future edge on create, update and touch;
/// metadata keys of 10 MB, with control characters, 10 000 entries; validation before the
/// existence, version and collision checks).
pub async fn hostile_writes_refused_and_nothing_written<S: Store + 'static>(f: Fixture<S>) {
    let victim = f.create(f.session("victim")).await;
    let other = f.create(f.session("{victim}")).await;
    let users = ["victim", "{victim}", "hostile"];
    let before = f.snapshot(&users).await;
    let fresh = f.session("hostile");
    for row in super::hostile::refused_writes(&victim, &fresh, f.now()) {
        let result = row.write.apply(&*f.store).await;
        match &result {
            Err(Error::InvalidInput { field, .. }) if *field == row.field => {}
            other => panic!(
                "{}: expected InvalidInput on {}, got {other:?}",
                row.what, row.field
            ),
        }
    }
    assert_eq!(f.snapshot(&users).await, before);
    f.assert_indexed(&victim).await;
    f.assert_indexed(&other).await;
}

/// The parsers refuse hostile text with `InvalidInput` naming the field: user ids that are
/// empty, 10 MB, 257 bytes, or hold control characters; session and connection ids that are
/// empty, `{`, `}`, `*`, `:`, globs, key syntax, or U+FFFD (what invalid UTF-8 decodes to).
pub async fn hostile_text_refused<S: Store + 'static>(_f: Fixture<S>) {
    for (what, field, result) in super::hostile::refused_text() {
        match &result {
            Err(Error::InvalidInput { field: got, .. }) if *got == field => {}
            other => panic!("{what}: expected InvalidInput on {field}, got {other:?}"),
        }
    }
    // An id has one text form, the one it prints as (lower-case, hyphenated): braced, URN,
    // upper-case and unhyphenated text is refused, so an id from outside (a token, a path)
    // cannot name a session in a second spelling.
    let id = SessionId::parse("0190b0a0-0000-7000-8000-00000000000b").unwrap();
    assert_eq!(SessionId::parse(&id.to_string()).ok(), Some(id));
    for text in [
        "{0190b0a0-0000-7000-8000-00000000000b}",
        "urn:uuid:0190b0a0-0000-7000-8000-00000000000b",
        "0190B0A0-0000-7000-8000-00000000000B",
        "0190b0a0000070008000000000000 00b"
            .replace(' ', "")
            .as_str(),
    ] {
        assert_invalid(SessionId::parse(text), "session_id");
        assert_invalid(ConnectionId::parse(text), "connection_id");
    }
}

/// Odd but valid input ([`hostile::accepted_sessions`]: user ids made of `{`, `}`, `:`, `*`,
/// `%`, key syntax, 256 bytes of `ü`; nil and all-ones ids; expiry exactly
/// `Timestamp::MAX`; metadata of layout and control characters) is stored and read back
/// unchanged by id, user, connection and list; user ids that escape alike stay apart; a
/// touch to `Timestamp::MAX` works; revoking each user removes exactly its sessions.
pub async fn hostile_values_accepted_and_round_trip<S: Store + 'static>(f: Fixture<S>) {
    let bystander = f.create(f.session("bystander")).await;
    let rows = super::hostile::accepted_sessions(&f.session("hostile"));
    let mut created = Vec::new();
    for (what, s) in &rows {
        let got = f
            .store
            .create(s.clone())
            .await
            .unwrap_or_else(|e| panic!("{what}: create refused: {e:?}"));
        let mut want = s.clone();
        want.version = 1;
        assert_eq!(*got, want, "{what}: create returned another session");
        f.assert_indexed(&got).await;
        created.push(got);
    }
    let listed = f.list_all().await;
    assert_eq!(listed.total, rows.len() as u64 + 1);
    for s in &created {
        assert!(listed.ids.contains(&s.id), "{:?} not listed", s.user_id);
        let touched = f.store.touch(&s.id, Timestamp::MAX).await.unwrap();
        assert_eq!(touched.expires_at, Timestamp::MAX);
        assert_eq!(touched.version, 2);
        f.assert_indexed(&touched).await;
    }
    // Each odd user's sessions, exactly: `{` and `%7B` (its escape) never share an index.
    let mut users: Vec<&UserId> = created.iter().map(|s| &s.user_id).collect();
    users.sort();
    users.dedup();
    for u in users {
        let mut want: Vec<SessionId> = created
            .iter()
            .filter(|s| s.user_id == *u)
            .map(|s| s.id)
            .collect();
        want.sort();
        assert_eq!(ids(&f.by_user(u.as_str()).await), want, "user {u:?}");
        let n = f.store.delete_by_user_id(u, None).await.unwrap();
        assert_eq!(n, want.len() as u64, "user {u:?}");
    }
    assert_eq!(f.count().await, 1);
    assert_eq!(f.get(&bystander.id).await.as_deref(), Some(&*bystander));
}

/// Reads with extreme arguments answer without overflow: list with `limit` and `offset` of
/// `usize::MAX`, get_many with 2 000 ids (repeats and misses).
pub async fn hostile_read_arguments<S: Store + 'static>(f: Fixture<S>) {
    let a = f.create(f.session("u")).await;
    let b = f.create(f.session("u")).await;
    for (limit, offset, want) in [
        (usize::MAX, 0, 2),
        (usize::MAX, 1, 1),
        (usize::MAX, usize::MAX, 0),
        (0, usize::MAX, 0),
        (1, usize::MAX - 1, 0),
    ] {
        let page = f
            .store
            .list(&ListFilter::new().limit(limit).offset(offset))
            .await
            .unwrap_or_else(|e| panic!("list({limit}, {offset}): {e:?}"));
        assert_eq!(page.total, 2, "list({limit}, {offset})");
        assert_eq!(page.sessions.len(), want, "list({limit}, {offset})");
        let page = f
            .store
            .list(
                &ListFilter::new()
                    .user(a.user_id.clone())
                    .limit(limit)
                    .offset(offset),
            )
            .await
            .unwrap();
        assert_eq!(page.sessions.len(), want, "list(user, {limit}, {offset})");
    }
    let mut many = Vec::new();
    for i in 0..2_000 {
        many.push(match i % 4 {
            0 => a.id,
            1 => b.id,
            _ => SessionId::new(),
        });
    }
    let got = f.store.get_many(&many).await.unwrap();
    assert_eq!(got.len(), many.len());
    for (id, s) in many.iter().zip(&got) {
        assert_eq!(
            s.as_ref().map(|s| s.id),
            [a.id, b.id].contains(id).then_some(*id)
        );
    }
}

// ---- get_many ------------------------------------------------------------------------------

/// get_many answers in the order asked, with `None` for misses, repeats and expired sessions.
pub async fn get_many_order_and_misses<S: Store + 'static>(f: Fixture<S>) {
    let a = f.create(f.session("u")).await;
    let b = f.create(f.session("u")).await;
    let gone = f.create(f.short_lived("u")).await;
    f.expire_short_lived().await;
    let missing = SessionId::new();
    let got = f
        .store
        .get_many(&[b.id, missing, a.id, gone.id, b.id])
        .await
        .unwrap();
    let got: Vec<Option<SessionId>> = got.iter().map(|s| s.as_ref().map(|s| s.id)).collect();
    assert_eq!(got, vec![Some(b.id), None, Some(a.id), None, Some(b.id)]);
}

/// get_many of nothing is nothing.
pub async fn get_many_empty<S: Store + 'static>(f: Fixture<S>) {
    f.create(f.session("u")).await;
    assert!(f.store.get_many(&[]).await.unwrap().is_empty());
}

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
        0
    );
    assert_eq!(
        f.store
            .delete_by_user_id(&user_id("bob"), None)
            .await
            .unwrap(),
        1
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
    let n = f
        .store
        .delete_by_user_id(&user_id("alice"), None)
        .await
        .unwrap();
    assert_eq!(n, 5);
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
    let n = f
        .store
        .delete_by_user_id(&user_id("alice"), Some(&keep.id))
        .await
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(ids(&f.by_user("alice").await), vec![keep.id]);
    f.assert_indexed(&keep).await;
    for s in mine.iter().filter(|s| s.id != keep.id) {
        f.assert_gone(s).await;
    }
    // `except` naming someone else's session protects nothing of this user.
    let bob = f.create(f.session("bob")).await;
    let n = f
        .store
        .delete_by_user_id(&user_id("alice"), Some(&bob.id))
        .await
        .unwrap();
    assert_eq!(n, 1);
    f.assert_indexed(&bob).await;
}

/// delete_by_user_id counts only live sessions, and an unknown user is zero.
pub async fn delete_by_user_id_counts_live_only<S: Store + 'static>(f: Fixture<S>) {
    f.create(f.session("alice")).await;
    f.create(f.short_lived("alice")).await;
    f.expire_short_lived().await;
    assert_eq!(
        f.store
            .delete_by_user_id(&user_id("alice"), None)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        f.store
            .delete_by_user_id(&user_id("ghost"), None)
            .await
            .unwrap(),
        0
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

/// The helper types behave: metadata at its limits is accepted by the store.
pub async fn metadata_at_limits_accepted<S: Store + 'static>(f: Fixture<S>) {
    let mut s = f.session("alice");
    let mut m = Metadata::new();
    m.insert(
        "k".repeat(limits::METADATA_MAX_KEY_BYTES),
        "v".repeat(limits::METADATA_MAX_VALUE_BYTES),
    );
    s.metadata = m;
    let created = f.create(s).await;
    f.assert_indexed(&created).await;
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($setup:expr) => {
        $crate::__conformance_expand!($setup;
            create_then_get,
            create_round_trips_every_field,
            ipv6_flowinfo_and_scope_id_round_trip,
            get_missing_is_none,
            create_duplicate_id_fails,
            create_duplicate_connection_fails,
            concurrent_creates_one_id_one_wins,
            concurrent_creates_one_connection_one_wins,
            connection_reusable_after_delete,
            connection_reusable_after_expiry,
            id_reusable_after_expiry_without_resurrection,
            create_rejects_bad_input_table,
            user_id_validation,
            user_ids_with_special_characters_do_not_collide,
            hostile_writes_refused_and_nothing_written,
            hostile_text_refused,
            hostile_values_accepted_and_round_trip,
            hostile_read_arguments,
            get_many_order_and_misses,
            get_many_empty,
            update_bumps_version,
            update_stale_version_conflicts,
            update_missing_is_not_found,
            update_expired_is_not_resurrected,
            update_rejects_past_expiry_and_bad_metadata,
            update_moves_user_index,
            update_moves_connection_index,
            update_clears_connection,
            update_onto_taken_connection_fails,
            same_version_writers_exactly_one_wins,
            update_with_concurrent_increments_exact,
            update_with_closure_error_writes_nothing,
            touch_extends_expiry,
            touch_shortens_expiry,
            touch_rejects_past_and_missing,
            touch_then_stale_update_conflicts,
            delete_removes_everywhere,
            delete_expired_session_reports_false,
            get_by_user_id_all_ordered,
            get_by_user_id_skips_expired,
            get_by_connection_id_finds_and_expires,
            sessions_without_connection,
            index_completeness_after_mixed_writes,
            delete_by_user_id_all,
            delete_by_user_id_except,
            delete_by_user_id_counts_live_only,
            list_pages_stable_with_exact_total,
            list_filters_user_and_state,
            list_offset_past_end_and_zero_limit,
            list_skips_expired,
            count_live_only,
            delete_expired_reclaims,
            expired_invisible_everywhere,
            no_write_resurrects_expired,
            nothing_survives_the_expiry_millisecond,
            concurrent_mixed_writes_keep_indexes_consistent,
            metadata_at_limits_accepted,
        );
    };
}
