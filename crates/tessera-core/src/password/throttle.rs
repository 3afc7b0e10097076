//! The password guessing throttle: which budget a password check draws on.
//!
//! ```text
//!   request ──device token valid for this account?──yes──▶ the device's own budget
//!      │                                                  (5 free, then backoff,
//!      no                                                  at most 100 in a row)
//!      ▼
//!   the account's untrusted budget, keyed by the normalised email so that
//!   unknown addresses behave exactly like known ones (5 free, then backoff,
//!   locked after 100 in a row), guarded by the client address's budget
//!   across accounts (20 free, then backoff)
//! ```
//!
//! A known device never shares the budget an attacker burns, so guessing
//! from elsewhere delays the owner's attackers and never locks the owner
//! out; its success also lifts the account's untrusted lock. The arithmetic
//! is [`BackoffPolicy`]'s, the same as for second steps.

use crate::email::Email;
use crate::ids::AccountId;
use crate::twostep::backoff::{BackoffPolicy, MAX_CONSECUTIVE_FAILURES};

/// How password guessing is throttled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Per account from untrusted clients, and per known device.
    pub account: BackoffPolicy,
    /// Per client address across accounts (credential stuffing): generous,
    /// so an office behind one address is not locked out; no ceiling.
    pub address: BackoffPolicy,
    /// How long a device token makes its device known.
    pub device_ttl_secs: i64,
    /// Self sign-ups per client address and hour: every attempt counts.
    pub signup: BackoffPolicy,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        let base = BackoffPolicy::default();
        ThrottlePolicy {
            account: BackoffPolicy {
                tolerated: 5,
                ceiling: Some(MAX_CONSECUTIVE_FAILURES),
                ..base
            },
            address: BackoffPolicy {
                tolerated: 20,
                ceiling: None,
                ..base
            },
            device_ttl_secs: 365 * 24 * 3600,
            signup: BackoffPolicy {
                tolerated: 10,
                ceiling: None,
                ..base
            },
        }
    }
}

impl ThrottlePolicy {
    /// The fewest failures an address may have before blocks start.
    pub const MIN_ADDRESS_TOLERANCE: u32 = 20;
}

/// The counters one password check draws on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Budget {
    /// A client without a valid device token for the account.
    Untrusted {
        account: String,
        address: Option<String>,
    },
    /// A client holding a device token of the account.
    KnownDevice { device: String, account: String },
}

impl Budget {
    /// The budget of a request for `email_input` (as typed), from
    /// `device` (the account and the token hash of a known device, if the
    /// client proved one) and client address `ip`.
    pub fn of(email_input: &str, device: Option<(AccountId, &[u8])>, ip: Option<&str>) -> Budget {
        let account = account_key(email_input);
        match device {
            Some((owner, token_hash)) => Budget::KnownDevice {
                // Half the token's hash names the device; it is not secret
                // enough to sign in with, and never leaves the server.
                device: format!(
                    "{}{}",
                    device_prefix(owner),
                    hex::encode(&token_hash[..token_hash.len().min(16)])
                ),
                account,
            },
            None => Budget::Untrusted {
                account,
                address: ip.map(|ip| format!("pw-ip:{ip}")),
            },
        }
    }

    /// The key whose slot the check claims.
    pub fn claimed(&self) -> &str {
        match self {
            Budget::Untrusted { account, .. } => account,
            Budget::KnownDevice { device, .. } => device,
        }
    }

    /// A key whose block also refuses the check (not counted by the claim).
    pub fn guard(&self) -> Option<&str> {
        match self {
            Budget::Untrusted { address, .. } => address.as_deref(),
            Budget::KnownDevice { .. } => None,
        }
    }

    /// Keys cleared, besides the claimed one, when the password is right:
    /// the address's run of failures ends, and a known device lifts the
    /// account's untrusted block or lock.
    pub fn also_reset(&self) -> Option<&str> {
        match self {
            Budget::Untrusted { address, .. } => address.as_deref(),
            Budget::KnownDevice { account, .. } => Some(account),
        }
    }

    pub fn is_known_device(&self) -> bool {
        matches!(self, Budget::KnownDevice { .. })
    }
}

/// The untrusted budget's key: the normalised email, or what was typed
/// (trimmed, lower case, bounded) if it is not an email address.
pub fn account_key(email_input: &str) -> String {
    match Email::parse(email_input) {
        Ok(e) => format!("pw:{}", e.as_str()),
        Err(_) => {
            let raw: String = email_input
                .trim()
                .to_lowercase()
                .chars()
                .take(254)
                .collect();
            format!("pw:{raw}")
        }
    }
}

/// The sign-up budget of a client address in the hour around `now`: a
/// fresh budget every hour, so an office is slowed, never shut out.
pub fn signup_key(ip: &str, now: crate::clock::Timestamp) -> String {
    format!("signup:{ip}:{}", now.millis() / 3_600_000)
}

/// Every known-device key of an account starts with this.
pub fn device_prefix(account: AccountId) -> String {
    format!("pw-dev:{account}:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_known_addresses_get_keys_of_the_same_shape() {
        assert_eq!(account_key("  Alice@Example.COM "), "pw:alice@example.com");
        assert_eq!(account_key("not an email"), "pw:not an email");
        assert_eq!(account_key(&"x".repeat(1000)).len(), 3 + 254);
    }

    #[test]
    fn untrusted_clients_are_guarded_by_their_address_known_devices_are_not() {
        let untrusted = Budget::of("a@example.com", None, Some("203.0.113.9"));
        assert_eq!(untrusted.claimed(), "pw:a@example.com");
        assert_eq!(untrusted.guard(), Some("pw-ip:203.0.113.9"));
        assert_eq!(
            untrusted.also_reset().map(str::to_string),
            Some("pw-ip:203.0.113.9".to_string())
        );
        let owner = AccountId(uuid::Uuid::from_u128(7));
        let known = Budget::of(
            "a@example.com",
            Some((owner, &[9; 32])),
            Some("203.0.113.9"),
        );
        assert!(known.claimed().starts_with(&device_prefix(owner)));
        assert_eq!(known.guard(), None);
        assert_eq!(known.also_reset(), Some("pw:a@example.com"));
    }

    #[test]
    fn defaults_follow_the_design() {
        let p = ThrottlePolicy::default();
        assert_eq!(p.account.tolerated, 5);
        assert_eq!(p.account.ceiling, Some(100));
        assert!(p.address.tolerated >= ThrottlePolicy::MIN_ADDRESS_TOLERANCE);
        assert_eq!(p.account.block_after(6).unwrap().as_secs(), 1);
        assert_eq!(p.account.block_after(7).unwrap().as_secs(), 2);
    }
}
