//! `cargo xtask fuzz`: being built (issue 6).

use crate::flags;
use crate::util::{Result, err};

pub(crate) fn run(_flags: &flags::Fuzz) -> Result<()> {
    Err(err("cargo xtask fuzz is not built yet"))
}
