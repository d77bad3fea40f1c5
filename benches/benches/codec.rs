//! The record codec against the serde formats a store might otherwise use: encode and decode
//! of a typical session (the seed shape with two metadata entries).

use std::hint::black_box;

use benches::seed_session_with_metadata;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use session_core::{Clock, Session, SystemClock, codec};

fn codecs(c: &mut Criterion) {
    let mut s = seed_session_with_metadata(42, SystemClock.now());
    s.version = 3;
    let native = codec::encode(&s);
    let msgpack = rmp_serde::to_vec(&s).unwrap();
    let post = postcard::to_stdvec(&s).unwrap();
    println!(
        "encoded sizes: native {} B, msgpack {} B, postcard {} B",
        native.len(),
        msgpack.len(),
        post.len()
    );

    let mut g = c.benchmark_group("Codec/encode+decode");
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

    let mut g = c.benchmark_group("Codec/decode");
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
}

criterion_group! {
    name = benches;
    config = benches::criterion();
    targets = codecs
}
criterion_main!(benches);
