//! `cargo xtask`: project automation (being written).

fn main() {
    println!("cargo xtask: bench | test | ci | image (being written)");
}
