#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Outbox delivery against real peers: a real HTTP server on 127.0.0.1 that
//! records what it receives, a real SQLite (and, when
//! `TESSERA_TEST_POSTGRES_URL` is set, PostgreSQL) outbox, and the worker
//! moved along by a `ManualClock`; the generic worker with a scripted
//! channel; mail written to `.eml` files.

mod file_sink;
mod generic_worker;
mod mail_files;
mod support;
mod two_workers;
mod webhook;
