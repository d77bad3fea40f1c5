//! testkit's own tests, one test binary with a module per kind of server (the layout of
//! rust-lang/cargo's `tests/testsuite`); the test names are `module::test`. The `servers`
//! module re-runs this binary for its `child_*` tests, by their full name.

mod cluster;
mod common;
mod sentinel;
mod servers;
