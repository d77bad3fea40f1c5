//! The fuzz targets' committed corpus (`fuzz/corpus/<target>/`), run on stable so CI exercises
//! every seed and every regression input with the same checks the targets make.
//!
//! The generated seeds are encodings of real sessions (and edge cases around them); the test
//! `generated_seeds_are_committed` fails when the codec's output changes and the corpus was not
//! regenerated. Regenerate with:
//!
//! ```text
//! SESSION_FUZZ_WRITE_SEEDS=1 cargo test -p session-core --test fuzz_corpus
//! ```
//!
//! Any crash the fuzzer finds is committed under `fuzz/corpus/<target>/regression-*` and so
//! becomes a test here.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use session_core::{
    ConnectionId, Metadata, Session, SessionId, SessionState, Stats, Timestamp, UserId, codec,
    limits,
};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

fn files(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(entry.path()).unwrap())
        })
        .collect();
    out.sort();
    out
}

// `check_codec` and `check_ids`: the very checks the fuzz targets make.
include!("../../../fuzz/checks.rs");

fn fixed_id(last: u8) -> SessionId {
    let mut b = [
        0x01, 0x90, 0xb0, 0xa0, 0, 0, 0x70, 0, 0x80, 0, 0, 0, 0, 0, 0, 0,
    ];
    b[15] = last;
    SessionId::from_bytes(b)
}

fn session(user: &str) -> Session {
    Session::builder(
        UserId::new(user).unwrap(),
        Timestamp::from_millis(1_700_000_000_000),
        Duration::from_secs(1800),
    )
    .id(fixed_id(1))
    .build()
}

/// The seeds the corpus starts from: real encoded sessions and edge cases around them.
fn generated_seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
    let minimal = session("u");
    let mut full = session("user-42");
    full.id = fixed_id(2);
    full.connection_id = Some(ConnectionId::from_bytes([7; 16]));
    full.client_addr = addr("192.168.1.100:54321");
    full.server_addr = addr("[2001:db8::1]:8443");
    full.state = SessionState::Active;
    full.metadata = [("device", "ios"), ("region", "eu-west")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    full.stats = Stats {
        packets_sent: 1,
        packets_received: 2,
        bytes_sent: 3,
        bytes_received: 4,
        retransmissions: 5,
        current_rtt_ms: 6,
    };
    full.version = 7;
    let mut v6 = session("{a}:*%ü");
    v6.client_addr = addr("[::1]:1");
    v6.server_addr = addr("[fe80::1]:65535");
    v6.state = SessionState::Closed;
    let mut edge = session(&"x".repeat(UserId::MAX_BYTES));
    edge.version = u64::MAX;
    edge.expires_at = Timestamp::MAX;
    edge.connection_id = Some(ConnectionId::from_bytes([0xff; 16]));
    edge.stats = Stats {
        packets_sent: u64::MAX,
        packets_received: u64::MAX,
        bytes_sent: u64::MAX,
        bytes_received: u64::MAX,
        retransmissions: u64::MAX,
        current_rtt_ms: u32::MAX,
    };
    let mut meta_max = session("m");
    meta_max.metadata = (0..limits::METADATA_MAX_ENTRIES)
        .map(|i| (format!("k{i:02}"), "v".repeat(200)))
        .collect::<Metadata>();
    let mut meta_long = session("m");
    meta_long.metadata = [(
        "k".repeat(limits::METADATA_MAX_KEY_BYTES),
        "v".repeat(limits::METADATA_MAX_VALUE_BYTES),
    )]
    .into();
    let full_bytes = codec::encode(&full);
    let mut unsorted = full_bytes.clone();
    // "device" becomes "revice", which sorts after the next key, "region".
    let at = unsorted.len() - (6 + 2 + 3 + 2 + 6 + 2 + 7);
    assert_eq!(&unsorted[at..at + 6], b"device");
    unsorted[at] = b'r';
    let mut bad_flags = codec::encode(&minimal);
    bad_flags[codec::FIXED_LEN - 1] |= 0x80;
    let mut bad_state = codec::encode(&minimal);
    bad_state[codec::FIXED_LEN - 2] = 9;
    let mut bad_utf8 = codec::encode(&minimal);
    bad_utf8[codec::FIXED_LEN + 2] = 0xff;
    let mut trailing = codec::encode(&minimal);
    trailing.push(0);
    let mut bad_format = codec::encode(&minimal);
    bad_format[0] = 2;

    let mut seeds = vec![
        ("codec_decode", "session-minimal", codec::encode(&minimal)),
        ("codec_decode", "session-full", full_bytes.clone()),
        (
            "codec_decode",
            "session-ipv6-special-user",
            codec::encode(&v6),
        ),
        ("codec_decode", "session-edge-max", codec::encode(&edge)),
        (
            "codec_decode",
            "session-metadata-64",
            codec::encode(&meta_max),
        ),
        (
            "codec_decode",
            "session-metadata-longest",
            codec::encode(&meta_long),
        ),
        (
            "codec_decode",
            "bad-truncated-half",
            full_bytes[..full_bytes.len() / 2].to_vec(),
        ),
        (
            "codec_decode",
            "bad-truncated-header",
            full_bytes[..codec::FIXED_LEN - 1].to_vec(),
        ),
        ("codec_decode", "bad-unsorted-metadata", unsorted),
        ("codec_decode", "bad-unknown-flags", bad_flags),
        ("codec_decode", "bad-state-code", bad_state),
        ("codec_decode", "bad-user-utf8", bad_utf8),
        ("codec_decode", "bad-trailing-byte", trailing),
        ("codec_decode", "bad-format-byte", bad_format),
        ("codec_decode", "bad-empty", Vec::new()),
    ];
    let ids: [(&str, &[u8]); 17] = [
        ("uuid-hyphenated", b"0190b0a0-0000-7000-8000-00000000000b"),
        ("uuid-simple", b"0190b0a0000070008000000000000000"),
        ("uuid-braced", b"{0190b0a0-0000-7000-8000-00000000000b}"),
        ("uuid-urn", b"urn:uuid:0190B0A0-0000-7000-8000-00000000000B"),
        ("uuid-bad-digit", b"0190b0a0-0000-7000-8000-00000000000g"),
        ("uuid-bad-hyphens", b"0190b0a00-000-7000-8000-00000000000b"),
        ("raw-16-bytes", &[0xff; 16]),
        ("empty", b""),
        ("layout-characters", b"{a}:*b"),
        ("brace-open", b"{"),
        ("brace-close", b"}"),
        ("star", b"*"),
        ("colon", b":"),
        ("invalid-utf8", &[b'a', 0xc3, 0x28, 0xff]),
        ("control-characters", b"a\0b\x1b\n\x7f"),
        ("user-256", &[b'u'; 256]),
        ("user-257", &[b'u'; 257]),
    ];
    for (name, bytes) in ids {
        seeds.push(("ids", name, bytes.to_vec()));
    }
    seeds
}

#[test]
fn generated_seeds_are_committed() {
    let write = std::env::var_os("SESSION_FUZZ_WRITE_SEEDS").is_some();
    for (target, name, bytes) in generated_seeds() {
        let path = corpus_dir(target).join(name);
        if write {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        }
        let committed = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (regenerate with SESSION_FUZZ_WRITE_SEEDS=1)",
                path.display()
            )
        });
        assert_eq!(
            committed,
            bytes,
            "{} is out of date (regenerate with SESSION_FUZZ_WRITE_SEEDS=1)",
            path.display()
        );
    }
}

#[test]
fn codec_decode_corpus() {
    let files = files("codec_decode");
    assert!(files.len() >= 15, "corpus has {} files", files.len());
    let mut decoded = 0;
    for (name, data) in &files {
        let ok = check_codec(data);
        if name.starts_with("session-") {
            assert!(ok, "{name}: a generated session does not decode");
        }
        if name.starts_with("bad-") {
            assert!(!ok, "{name}: a bad seed decodes");
        }
        decoded += usize::from(ok);
    }
    assert!(decoded >= 6);
}

#[test]
fn ids_corpus() {
    let files = files("ids");
    assert!(files.len() >= 17, "corpus has {} files", files.len());
    for (_, data) in &files {
        check_ids(data);
    }
}
