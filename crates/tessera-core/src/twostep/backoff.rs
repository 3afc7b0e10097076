//! Exponential backoff for second-step verification.
//!
//! ```text
//!  failures ≤ tolerated ──▶ no block
//!  each further failure ──▶ block 1 s, 2 s, 4 s, … up to 3600 s
//!  success              ──▶ back to zero
//!  during a block       ──▶ 429 Retry-After, input not evaluated
//! ```
//!
//! The state lives in the database and every node shares it. A request
//! must first claim an evaluation slot in one atomic statement; at most
//! `max(1, tolerated + 1 − failures)` slots exist at a time, so parallel
//! guesses get no more evaluations than a sequential attacker would.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// Consecutive failures allowed before blocks start.
    pub tolerated: u32,
    pub first_block_ms: i64,
    pub max_block_ms: i64,
    /// How long a claimed slot is held if its holder never reports back.
    pub lease_ms: i64,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy {
            tolerated: 1,
            first_block_ms: 1000,
            max_block_ms: 3_600_000,
            lease_ms: 30_000,
        }
    }
}

impl BackoffPolicy {
    /// The block that follows the `failures`-th consecutive failure.
    pub fn block_after(&self, failures: u32) -> Option<Duration> {
        if failures <= self.tolerated {
            return None;
        }
        let doublings = (failures - self.tolerated - 1).min(40);
        let ms = (self.first_block_ms as i128) << doublings;
        Some(Duration::from_millis(
            ms.min(self.max_block_ms as i128) as u64
        ))
    }
}

/// The answer to "may I evaluate this guess now?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Go,
    /// Blocked, or all slots are taken; retry after this long.
    Wait(Duration),
}

/// Where the backoff state of an account's verifications is kept.
pub fn key_for(account: crate::ids::AccountId) -> String {
    format!("verify:{account}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_one_second_to_an_hour() {
        let p = BackoffPolicy::default();
        let secs: Vec<Option<u64>> = (0..16)
            .map(|f| p.block_after(f).map(|d| d.as_secs()))
            .collect();
        assert_eq!(
            &secs[..7],
            &[None, None, Some(1), Some(2), Some(4), Some(8), Some(16)]
        );
        assert_eq!(p.block_after(13).unwrap().as_secs(), 2048);
        assert_eq!(p.block_after(14).unwrap().as_secs(), 3600);
        assert_eq!(p.block_after(1000).unwrap().as_secs(), 3600);
        let strict = BackoffPolicy { tolerated: 0, ..p };
        assert_eq!(strict.block_after(1).unwrap().as_secs(), 1);
    }
}
