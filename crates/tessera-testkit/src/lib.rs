//! What Tessera's test suites and its benchmark harness share, written
//! once: a fresh PostgreSQL schema per test ([`pg`]), reading the
//! addresses a freshly started `tessera serve` announces ([`listen`]),
//! codes from TOTP tools we did not write ([`peers`]), and the API steps
//! every test repeats, for any harness that can send a request ([`api`]).
//!
//! It knows nothing of the server's internals, so every crate's tests can
//! use it (the store's own included) without a dependency cycle.

// Test support: a failure here is a failed test, said as loudly as possible.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod api;
pub mod listen;
pub mod peers;
pub mod pg;
