//! What Tessera's test suites and its benchmark harness share, written
//! once: a fresh PostgreSQL schema per test ([`pg`]), and reading the
//! addresses a freshly started `tessera serve` announces ([`listen`]).
//!
//! It knows nothing of the server's internals, so every crate's tests can
//! use it (the store's own included) without a dependency cycle.

// Test support: a failure here is a failed test, said as loudly as possible.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod listen;
pub mod pg;
