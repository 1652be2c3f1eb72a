//! GPU benchmark (written next).
fn main() {}
