//! What tracing costs a memory get: the store called directly, through `Traced` (tracing
//! compiled in, no subscriber; then a subscriber that wants nothing below INFO, as in
//! production), and through `SessionManager::get_session` (two spans: manager and store).
//! One group, `TracingGet`, one BenchmarkId per path.

use std::hint::black_box;
use std::time::Duration;

use benches::seed_session;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use session_core::{Clock, Store, SystemClock, Traced};
use session_manager::{ManagerConfig, SessionManager};
use store_memory::MemoryStore;
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber, span};

/// A subscriber that wants INFO and above only, so the DEBUG spans are off at their callsite.
struct InfoOnly;

impl Subscriber for InfoOnly {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if self.enabled(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= tracing::Level::INFO
    }
    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }
    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &span::Id) {}
    fn exit(&self, _: &span::Id) {}
}

fn get(c: &mut Criterion) {
    let rt = benches::runtime(1);
    let store = MemoryStore::new();
    let id = rt
        .block_on(store.create(seed_session(0, SystemClock.now())))
        .unwrap()
        .id;
    let traced = Traced::new(store.clone(), "memory");
    let manager = SessionManager::new(store.clone(), ManagerConfig::new().store_name("memory"));
    let mut g = c.benchmark_group("TracingGet");
    g.bench_function(BenchmarkId::new("memory", "direct"), |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(store.get(&id).await.unwrap()) })
    });
    g.bench_function(BenchmarkId::new("memory", "Traced, no subscriber"), |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(traced.get(&id).await.unwrap()) })
    });
    g.bench_function(BenchmarkId::new("memory", "manager, no subscriber"), |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(manager.get_session(&id).await.unwrap()) })
    });
    // A global default set once for the rest of the process: the remaining ids only.
    tracing::subscriber::set_global_default(InfoOnly).unwrap();
    tracing::callsite::rebuild_interest_cache();
    g.bench_function(BenchmarkId::new("memory", "Traced, INFO subscriber"), |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(traced.get(&id).await.unwrap()) })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = benches::criterion()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = get
}
criterion_main!(benches);
