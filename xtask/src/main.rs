//! `cargo xtask`: project automation in Rust, in the rust-analyzer style: `flags.rs` parses
//! the command line, and each task is one module.
//!
//! ```text
//! cargo xtask image   build local Redis / Valkey images from binaries on this machine
//! cargo xtask test    the whole test matrix (workspace, then Redis in containers)
//! cargo xtask bench   the store comparison and its report
//! cargo xtask ci      what CI runs: fmt, clippy, docs, images, tests, workflow lint
//! cargo xtask soak    long mixed-load runs per store (docs/RELIABILITY.md)
//! cargo xtask fuzz    the cargo fuzz targets, one after another
//! ```
//!
//! Run with no arguments (or `help`) for the flags.

mod bench;
mod ci;
mod flags;
mod fuzz;
mod image;
mod parse;
mod report;
mod soak;
mod test;
mod util;

use std::process::ExitCode;

fn main() -> ExitCode {
    let task = match flags::parse(std::env::args().skip(1)) {
        Ok(task) => task,
        // A mistake (exit 2), or `--help` (exit 0): clap prints it.
        Err(e) => e.exit(),
    };
    let result = match task {
        flags::Task::Help => {
            println!("{}", flags::help());
            Ok(())
        }
        flags::Task::Image(f) => image::run(&f).map(drop),
        flags::Task::Test(f) => test::run(&f),
        flags::Task::Bench(f) => bench::run(&f),
        flags::Task::Ci(f) => ci::run(&f),
        flags::Task::Soak(f) => soak::run(&f),
        flags::Task::Fuzz(f) => fuzz::run(&f),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cargo xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}
