//! store-redis's integration tests, one test binary with a module per concern (the layout of
//! rust-lang/cargo's `tests/testsuite`): one link instead of one per file, and `common` is
//! checked for dead code like any module. Each module that needs a server starts its own
//! through testkit (`testkit::shared_server!`, one per module), so the modules do not share
//! servers; the test names are `module::test` (`cargo test -p store-redis --test it
//! conformance::` runs one module, as `cargo xtask test` does per server).

mod coalesce;
mod common;
mod conformance;
mod conformance_cluster;
mod conformance_scripts;
mod conformance_sentinel;
mod conformance_valkey;
mod functions;
mod hostile;
mod model;
mod model_cluster;
mod redis_keys;
mod replica_reads;
mod round_trips;
mod touch;
