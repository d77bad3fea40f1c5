//! The spans of SessionManager and Traced: names and the fields op, store, outcome and
//! duration_us, seen by a minimal subscriber that records every span.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use session_core::{SessionId, UserId};
use session_manager::{ManagerConfig, SessionManager};
use store_memory::MemoryStore;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

type Fields = BTreeMap<String, String>;

#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<(&'static str, Fields)>>>);

struct Collect<'a>(&'a mut Fields);

impl Visit for Collect<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl Subscriber for Spans {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let mut fields = Fields::new();
        attrs.record(&mut Collect(&mut fields));
        let mut spans = self.0.lock().unwrap();
        spans.push((attrs.metadata().name(), fields));
        Id::from_u64(spans.len() as u64)
    }
    fn record(&self, id: &Id, values: &Record<'_>) {
        let mut spans = self.0.lock().unwrap();
        let (_, fields) = &mut spans[id.into_u64() as usize - 1];
        values.record(&mut Collect(fields));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

fn field<'a>(fields: &'a Fields, name: &str) -> &'a str {
    fields.get(name).map(String::as_str).unwrap_or("<missing>")
}

#[test]
fn every_manager_and_store_operation_has_a_span_with_its_outcome_and_duration() {
    let spans = Spans::default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tracing::subscriber::with_default(spans.clone(), || {
        rt.block_on(async {
            let manager = SessionManager::new(
                MemoryStore::new(),
                ManagerConfig::new().store_name("memory"),
            );
            let created = manager
                .create_session(manager.new_session(UserId::new("alice").unwrap()))
                .await
                .unwrap();
            manager
                .get_session_by_token(created.token.as_str())
                .await
                .unwrap();
            let e = manager
                .update_session(&SessionId::new(), |_| Ok(()))
                .await
                .unwrap_err();
            assert!(e.is_not_found());
        })
    });
    let spans = spans.0.lock().unwrap();
    let seen: Vec<(&str, &str, &str)> = spans
        .iter()
        .map(|(name, f)| (*name, field(f, "op"), field(f, "outcome")))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("session_manager", "create_session", "ok"),
            ("session_store", "create", "ok"),
            ("session_manager", "get_session_by_token", "ok"),
            ("session_store", "get", "ok"),
            ("session_manager", "update_session", "not_found"),
            ("session_store", "get", "ok"),
        ]
    );
    for (_, fields) in spans.iter() {
        assert_eq!(field(fields, "store"), "memory");
        let micros: u64 = field(fields, "duration_us").parse().expect("a duration");
        assert!(micros < 60_000_000);
    }
}
