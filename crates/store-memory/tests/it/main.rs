//! store-memory's integration tests, one test binary with a module per concern (the layout of
//! rust-lang/cargo's `tests/testsuite`); the test names are `module::test`. `zero_alloc` is a
//! binary of its own (`tests/zero_alloc.rs`): it installs a counting global allocator and
//! counts every allocation of the process, so no other test may run beside it.

mod conformance;
mod cooperative;
mod memory;
mod model;
