//! The root package holds the workspace's cross-crate tests (`tests/`).
//! Its library is empty but for the README, whose Rust examples `cargo
//! test` compiles as doc tests (spec and weight paths in them are relative
//! to the repository root, this package's manifest directory), so that the
//! guide cannot drift from the API.

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
