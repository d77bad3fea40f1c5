//! Create and read by id: ids and connection ids are unique, every field survives the
//! store, get_many answers in order.

use crate::conformance::*;

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
    let wins = race_creates(&f, |s| s.id = id, |e| matches!(e, Error::AlreadyExists(_))).await;
    assert_eq!(wins, 1);
    assert_eq!(f.count().await, 1);
    let winner = f.get(&id).await.unwrap();
    f.assert_indexed(&winner).await;
}

/// Of many concurrent creates holding one connection id, exactly one succeeds.
pub async fn concurrent_creates_one_connection_one_wins<S: Store + 'static>(f: Fixture<S>) {
    let conn = ConnectionId::new();
    let wins = race_creates(
        &f,
        |s| s.connection_id = Some(conn),
        |e| matches!(e, Error::AlreadyExists(Collision::ConnectionId(c)) if *c == conn),
    )
    .await;
    assert_eq!(wins, 1);
    assert_eq!(f.count().await, 1);
    let holder = f.by_conn(&conn).await.unwrap();
    f.assert_indexed(&holder).await;
}

/// Eight concurrent creates of sessions that `clash` makes collide; every one that fails must
/// fail as `lost` accepts. Returns how many succeeded.
async fn race_creates<S: Store + 'static>(
    f: &Fixture<S>,
    clash: impl Fn(&mut Session),
    lost: impl Fn(&Error) -> bool,
) -> usize {
    let mut tasks = Vec::new();
    for i in 0..8 {
        let mut s = f.session(&format!("racer-{i}"));
        clash(&mut s);
        let store = f.store.clone();
        tasks.push(tokio::spawn(async move { store.create(s).await }));
    }
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => wins += 1,
            Err(e) if lost(&e) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    wins
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
