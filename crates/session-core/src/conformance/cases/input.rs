//! Bad input is refused with a typed error and changes nothing; hostile text is refused;
//! odd but valid input is kept exactly.

use crate::conformance::*;

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
    let deleted = f
        .store
        .delete_by_user_id(&user_id("a"), None)
        .await
        .unwrap();
    assert_eq!(deleted.len(), 1);
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
    for row in hostile::refused_writes(&victim, &fresh, f.now()) {
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
    for (what, field, result) in hostile::refused_text() {
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
    let rows = hostile::accepted_sessions(&f.session("hostile"));
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
        let mut deleted = f.store.delete_by_user_id(u, None).await.unwrap();
        deleted.sort();
        assert_eq!(deleted, want, "user {u:?}");
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
