//! store-hybrid's integration tests, one test binary with a module per concern (the layout of
//! rust-lang/cargo's `tests/testsuite`): one link instead of one per file, and `common` is
//! checked for dead code like any module. Each module that needs a server starts its own
//! through testkit (`testkit::shared_server!`); the test names are `module::test`.

mod coherence;
mod common;
mod conformance;
mod conformance_cluster;
mod cooperative;
mod hostile;
mod invalidation_latency;
mod model;
mod read_your_writes;
mod write_through;
