//! Workspace root of mobilenet-rs.
//!
//! This package has no code of its own: it hosts the cross-crate tests in
//! `tests/` (conformance against the Keras fixtures, IR snapshots). See the
//! member crates `mobilenet-compiler`, `mobilenet-macros`, `mobilenet-runtime`
//! and `generated-example`.
