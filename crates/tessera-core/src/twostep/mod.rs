//! Two-step verification: authenticator-app codes, recovery keys, and the
//! backoff that slows down guessing.

pub mod backoff;
pub mod recovery;
pub mod totp;
