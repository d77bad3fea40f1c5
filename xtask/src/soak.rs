//! `cargo xtask soak`: being built (issue 6).

use crate::flags;
use crate::util::{Result, err};

pub(crate) fn run(_flags: &flags::Soak) -> Result<()> {
    Err(err("cargo xtask soak is not built yet"))
}
