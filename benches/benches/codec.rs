//! The record codec against the serde formats a store might otherwise use: encode and decode
//! of the seed-shaped session (two metadata entries) and of the realistic one (nine entries,
//! `shared/BENCH-PAYLOAD.md`), and the copy a caller makes before an update.

use std::hint::black_box;

use benches::{realistic_session, seed_session_with_metadata};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use session_core::{Clock, Session, SystemClock, codec};

fn codecs(c: &mut Criterion) {
    let now = SystemClock.now();
    for (shape, mut s) in [
        ("seed", seed_session_with_metadata(42, now)),
        ("realistic", realistic_session(42, now)),
    ] {
        s.version = 3;
        let native = codec::encode(&s);
        let msgpack = rmp_serde::to_vec(&s).unwrap();
        let post = postcard::to_stdvec(&s).unwrap();
        println!(
            "{shape}: encoded sizes: native {} B, msgpack {} B, postcard {} B",
            native.len(),
            msgpack.len(),
            post.len()
        );

        let mut g = c.benchmark_group(format!("Codec/encode+decode/{shape}"));
        g.bench_function(BenchmarkId::new("native-v1", native.len()), |b| {
            b.iter(|| {
                let bytes = codec::encode(black_box(&s));
                black_box(codec::decode(&bytes).unwrap())
            })
        });
        g.bench_function(BenchmarkId::new("msgpack(rmp-serde)", msgpack.len()), |b| {
            b.iter(|| {
                let bytes = rmp_serde::to_vec(black_box(&s)).unwrap();
                black_box(rmp_serde::from_slice::<Session>(&bytes).unwrap())
            })
        });
        g.bench_function(BenchmarkId::new("postcard", post.len()), |b| {
            b.iter(|| {
                let bytes = postcard::to_stdvec(black_box(&s)).unwrap();
                black_box(postcard::from_bytes::<Session>(&bytes).unwrap())
            })
        });
        g.finish();

        let mut g = c.benchmark_group(format!("Codec/decode/{shape}"));
        g.bench_function(BenchmarkId::new("native-v1", native.len()), |b| {
            b.iter(|| black_box(codec::decode(black_box(&native)).unwrap()))
        });
        g.bench_function(BenchmarkId::new("msgpack(rmp-serde)", msgpack.len()), |b| {
            b.iter(|| black_box(rmp_serde::from_slice::<Session>(black_box(&msgpack)).unwrap()))
        });
        g.bench_function(BenchmarkId::new("postcard", post.len()), |b| {
            b.iter(|| black_box(postcard::from_bytes::<Session>(black_box(&post)).unwrap()))
        });
        g.finish();

        // The copy a caller makes of a read (`Session::clone(&arc)`) before `update`, and the
        // edit after it (one metadata entry changed).
        let mut g = c.benchmark_group(format!("Codec/copy-before-update/{shape}"));
        g.bench_function("clone", |b| {
            b.iter(|| black_box(Session::clone(black_box(&s))))
        });
        g.bench_function("clone+edit", |b| {
            b.iter(|| {
                let mut next = Session::clone(black_box(&s));
                next.metadata.insert("theme".into(), "\"light\"".into());
                black_box(next)
            })
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = benches::criterion();
    targets = codecs
}
criterion_main!(benches);
