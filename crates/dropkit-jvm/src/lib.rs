//! # dropkit-jvm
//!
//! The JNI library behind the Java package `dropkit` (`crates/dropkit-jvm/java`): each Java
//! layer owns one core layer through a `long` handle; `make jvm` packs this library into
//! `target/jvm/dropkit.jar`, whose loader extracts it to a temporary file.
//!
//! - `exports.rs`: the native methods of `dropkit.Native`, one function each;
//! - `layer.rs`: the six core layers as one object-safe trait, behind a lock per layer;
//! - `memory.rs`: Java arrays (critical regions) and direct buffers as the core's `FlatIo`;
//! - `guard.rs`: errors become Java exceptions, a panic a `RuntimeException`.
//!
//! No maths here: every forward and backward is the core's `forward_flat` / `backward_flat`.

mod exports;
mod guard;
mod layer;
mod memory;
