//! The fault tests, one test binary with a module per fault (the layout of rust-lang/cargo's
//! `tests/testsuite`); the test names are `module::test`. Every test takes `common::SERIAL`
//! first: each puts 64 tasks of load on two cores, so they run one at a time (as they did when
//! each file was a binary of its own and cargo ran the binaries one after another).
//! `cargo test -p reliability --test it -- --nocapture` prints the figures.

mod cluster;
mod common;
mod restart;
mod sentinel;
