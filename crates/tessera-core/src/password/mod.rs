//! Passwords: the rules a new password must meet, Argon2id hashing with
//! reusable memory, and the bounded pool that runs it off the async runtime.

mod hasher;
mod policy;
mod pool;
pub mod throttle;

pub use hasher::{Argon2Config, HashError, PasswordHasher, Verification};
pub use policy::{PasswordPolicy, is_common_password};
pub use pool::{HashPool, PoolSize, PoolStats};

use std::fmt;

/// A password in memory. Its `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(s: impl Into<String>) -> Self {
        Password(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}
