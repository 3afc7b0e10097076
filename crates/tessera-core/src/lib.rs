//! Tessera's domain: who may sign in, with what proof, for how long.
//!
//! This crate knows nothing of HTTP or SQL. Storage is reached through the
//! narrow traits in [`store`]; time and randomness come in through [`Clock`]
//! and [`SecretSource`] so tests can move time and fix randomness.

pub mod account;
pub mod apitoken;
pub mod audit;
pub mod clock;
pub mod crypto;
pub mod email;
pub mod email_code;
pub mod error;
pub mod ids;
pub mod mail;
pub mod oidc;
pub mod org;
pub mod org_export;
pub mod outbox;
pub mod password;
pub mod secrets;
pub mod service;
pub mod session;
pub mod signin;
pub mod store;
pub mod twostep;
pub mod webauthn;

pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use error::CoreError;
pub use secrets::{OsSecrets, SecretSource};
