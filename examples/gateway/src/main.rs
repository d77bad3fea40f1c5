//! Example gateway (issue 7): being built.

fn main() {}
