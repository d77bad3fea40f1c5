//! session-manager's integration tests, one binary of modules (cargo's own test-suite
//! layout): the manager over the real memory store, and its tracing spans.

mod manager;
mod spans;
