//! Exponential backoff: the one home of its arithmetic, for second steps
//! and for password guessing alike.
//!
//! ```text
//!  failures ≤ tolerated      ──▶ no block
//!  each further failure      ──▶ block 1 s, 2 s, 4 s, … up to 3600 s
//!  failures reach the ceiling──▶ locked: refused until a success elsewhere
//!                                (a known device) or an admin clears it
//!  success                   ──▶ back to zero
//!  during a block or lock    ──▶ 429 Retry-After, input not evaluated
//! ```
//!
//! The state lives in the database and every node shares it. The store only
//! counts: it returns the failure count, and core computes the block from it
//! ([`BackoffPolicy::block_after`]) and writes an end that only grows, so
//! two racing failures leave the longer block. Before evaluating, a request
//! claims one of [`BackoffPolicy::slots`] evaluation slots in one atomic
//! statement, so parallel guesses get no more evaluations than a
//! sequential attacker would. The conformance suite checks that the store's
//! slot rule and these numbers agree for 0..120 failures.

use std::time::Duration;

/// NIST SP 800-63B §5.2.2: at most 100 consecutive failed attempts.
pub const MAX_CONSECUTIVE_FAILURES: u32 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// Consecutive failures allowed before blocks start.
    pub tolerated: u32,
    pub first_block_ms: i64,
    pub max_block_ms: i64,
    /// How long a claimed slot is held if its holder never reports back.
    pub lease_ms: i64,
    /// After this many consecutive failures nothing more is evaluated.
    pub ceiling: Option<u32>,
}

impl Default for BackoffPolicy {
    /// Second-step codes, recovery keys and step-up passwords.
    fn default() -> Self {
        BackoffPolicy {
            tolerated: 1,
            first_block_ms: 1000,
            max_block_ms: 3_600_000,
            lease_ms: 30_000,
            ceiling: Some(MAX_CONSECUTIVE_FAILURES),
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

    /// How many requests may be evaluated at once after `failures`
    /// consecutive failures (outside a block): the guesses still free,
    /// and at least one. Zero at the ceiling.
    pub fn slots(&self, failures: u32) -> u32 {
        if self.locked(failures) {
            return 0;
        }
        (self.tolerated + 1).saturating_sub(failures).max(1)
    }

    /// Whether `failures` reached the ceiling.
    pub fn locked(&self, failures: u32) -> bool {
        self.ceiling.is_some_and(|c| failures >= c)
    }

    /// What the store needs to hand out evaluation slots under this policy.
    pub fn slot_rule(&self) -> crate::store::SlotRule {
        crate::store::SlotRule {
            tolerated: self.tolerated,
            ceiling: self.ceiling,
            lease_ms: self.lease_ms,
        }
    }

    /// The same policy without a ceiling: for the recovery key, which must
    /// still work when an attacker has used up the account's attempts.
    pub fn without_ceiling(self) -> Self {
        BackoffPolicy {
            ceiling: None,
            ..self
        }
    }
}

/// What the backoff keys of verifications start with; the account id
/// follows.
pub const KEY_PREFIX: &str = "verify:";

/// Where the backoff state of an account's verifications is kept.
pub fn key_for(account: crate::ids::AccountId) -> String {
    format!("{KEY_PREFIX}{account}")
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

    #[test]
    fn slots_shrink_to_one_then_none_at_the_ceiling() {
        let p = BackoffPolicy {
            tolerated: 5,
            ..BackoffPolicy::default()
        };
        let slots: Vec<u32> = (0..8).map(|f| p.slots(f)).collect();
        assert_eq!(slots, [6, 5, 4, 3, 2, 1, 1, 1]);
        assert_eq!(p.slots(99), 1);
        assert_eq!(p.slots(100), 0);
        assert!(p.locked(100) && !p.locked(99));
        assert_eq!(p.without_ceiling().slots(100), 1);
        assert!(!p.without_ceiling().locked(10_000));
    }
}
