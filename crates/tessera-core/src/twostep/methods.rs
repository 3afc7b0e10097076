//! The second-step methods an account holds, and the rules over them.
//!
//! Two-step verification is on exactly while at least one method exists.
//! These rules are pure functions of an [`Inventory`], so each one is
//! tested without a database; the store re-checks the ones that can race
//! (last method, SMS only first) inside its transactions.

use crate::clock::Timestamp;
use crate::ids::AccountId;
use std::fmt;
use std::str::FromStr;

/// A kind of second step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MethodKind {
    /// An authenticator app (TOTP); at most one per account.
    Totp,
    /// A WebAuthn credential used after the password; many per account.
    SecurityKey,
    /// A discoverable WebAuthn credential with user verification: it can
    /// sign in without a password, and serves as a second step too.
    Passkey,
    /// A code texted to a phone; only ever as the first method.
    Sms,
}

crate::account::text_enum!(MethodKind {
    MethodKind::Totp => "totp",
    MethodKind::SecurityKey => "security_key",
    MethodKind::Passkey => "passkey",
    MethodKind::Sms => "sms",
});

/// A challenge a second step answers, as offered at sign-in and step-up
/// (`POST /api/v1/signin/{flow}/{challenge}`). Keys and passkeys share
/// one; the recovery key is the emergency way in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Challenge {
    /// A security key or passkey.
    Webauthn,
    /// A code from the authenticator app.
    Totp,
    /// A texted code.
    Sms,
    /// The emergency recovery key.
    RecoveryKey,
    /// A code mailed to an account without two-step verification, at a
    /// sign-in from an unknown device and for step-up. Not a method an
    /// account holds, so [`Inventory::challenges`] never lists it.
    EmailCode,
}

crate::account::text_enum!(Challenge {
    Challenge::Webauthn => "webauthn",
    Challenge::Totp => "totp",
    Challenge::Sms => "sms",
    Challenge::RecoveryKey => "recovery_key",
    Challenge::EmailCode => "email_code",
});

impl MethodKind {
    /// The sign-in challenge that proves this method.
    pub fn challenge(self) -> Challenge {
        match self {
            MethodKind::Totp => Challenge::Totp,
            MethodKind::SecurityKey | MethodKind::Passkey => Challenge::Webauthn,
            MethodKind::Sms => Challenge::Sms,
        }
    }

    /// Words for people.
    pub fn label(self) -> &'static str {
        match self {
            MethodKind::Totp => "Authenticator app",
            MethodKind::SecurityKey => "Security key",
            MethodKind::Passkey => "Passkey",
            MethodKind::Sms => "Text message",
        }
    }
}

/// A WebAuthn credential as listed to its owner (no key material).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySummary {
    pub id: uuid::Uuid,
    pub kind: MethodKind,
    pub name: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

/// Everything an account uses for its second step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    pub account: Option<AccountId>,
    pub totp: bool,
    pub keys: Vec<KeySummary>,
    /// The confirmed phone number (E.164).
    pub sms_phone: Option<String>,
    /// The method that last completed a second step.
    pub last_used: Option<MethodKind>,
}

impl Inventory {
    /// How many methods there are (each key counts).
    pub fn count(&self) -> usize {
        usize::from(self.totp) + self.keys.len() + usize::from(self.sms_phone.is_some())
    }

    pub fn two_step_on(&self) -> bool {
        self.count() > 0
    }

    pub fn has(&self, kind: MethodKind) -> bool {
        match kind {
            MethodKind::Totp => self.totp,
            MethodKind::Sms => self.sms_phone.is_some(),
            k => self.keys.iter().any(|c| c.kind == k),
        }
    }

    /// The sign-in challenges this account can answer, the last-used one
    /// first, then the others from strongest to weakest; the recovery key
    /// always comes last.
    pub fn challenges(&self) -> Vec<Challenge> {
        let mut kinds: Vec<MethodKind> = [
            MethodKind::Passkey,
            MethodKind::SecurityKey,
            MethodKind::Totp,
            MethodKind::Sms,
        ]
        .into_iter()
        .filter(|k| self.has(*k))
        .collect();
        if let Some(last) = self.last_used.filter(|k| self.has(*k)) {
            kinds.retain(|k| *k != last);
            kinds.insert(0, last);
        }
        let mut out: Vec<Challenge> = Vec::new();
        for k in kinds {
            if !out.contains(&k.challenge()) {
                out.push(k.challenge());
            }
        }
        if !out.is_empty() {
            out.push(Challenge::RecoveryKey);
        }
        out
    }

    /// Text messages are the weakest method: they may be added only while
    /// the account has no other.
    pub fn may_add_sms(&self) -> Result<(), &'static str> {
        if self.sms_phone.is_some() {
            return Err("A phone number is already set up. Remove it first to use another.");
        }
        if self.count() > 0 {
            return Err(
                "Text messages can only be your first method. You already have a stronger one.",
            );
        }
        Ok(())
    }

    /// A method may be removed only while another remains; turning two-step
    /// verification off is its own action.
    pub fn may_remove_one(&self) -> Result<(), &'static str> {
        if self.count() <= 1 {
            return Err(
                "This is your only verification method. Add another first, or turn off two-step verification.",
            );
        }
        Ok(())
    }
}

/// What the store did when asked to remove one method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    Removed,
    NotFound,
    /// Refused: it was the account's last method.
    LastMethod,
}

/// What the store did when asked to add a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addition {
    /// Added; `first` when it turned two-step verification on (and the
    /// recovery key offered with it was stored).
    Added { first: bool },
    /// Refused: a text-message method may only be the first method.
    NotFirst,
    /// Refused: the credential is already registered (to anyone).
    Duplicate,
    /// Refused: the pending enrollment it confirms changed meanwhile.
    PendingChanged,
    /// Refused: it would be the first method (two-step verification would
    /// turn on) and no recovery key came with it. Ask again with one.
    NeedsRecoveryKey,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kind: MethodKind) -> KeySummary {
        KeySummary {
            id: uuid::Uuid::nil(),
            kind,
            name: "k".into(),
            created_at: Timestamp(0),
            last_used_at: None,
        }
    }

    #[test]
    fn empty_inventory_is_off() {
        let inv = Inventory::default();
        assert!(!inv.two_step_on());
        assert!(inv.challenges().is_empty());
        assert!(inv.may_add_sms().is_ok());
        assert!(inv.may_remove_one().is_err());
    }

    #[test]
    fn sms_only_first() {
        let inv = Inventory {
            totp: true,
            ..Default::default()
        };
        assert!(inv.may_add_sms().is_err());
        let inv = Inventory {
            sms_phone: Some("+15550100".into()),
            ..Default::default()
        };
        assert!(inv.may_add_sms().is_err());
    }

    #[test]
    fn last_used_first_and_recovery_last() {
        let mut inv = Inventory {
            totp: true,
            keys: vec![key(MethodKind::SecurityKey), key(MethodKind::Passkey)],
            ..Default::default()
        };
        use Challenge::{RecoveryKey, Totp, Webauthn};
        assert_eq!(inv.challenges(), vec![Webauthn, Totp, RecoveryKey]);
        inv.last_used = Some(MethodKind::Totp);
        assert_eq!(inv.challenges(), vec![Totp, Webauthn, RecoveryKey]);
        // A last-used method that was removed is not offered.
        inv.totp = false;
        assert_eq!(inv.challenges(), vec![Webauthn, RecoveryKey]);
    }

    #[test]
    fn challenges_are_written_one_way() {
        for (c, text) in [
            (Challenge::Webauthn, "webauthn"),
            (Challenge::Totp, "totp"),
            (Challenge::Sms, "sms"),
            (Challenge::RecoveryKey, "recovery_key"),
        ] {
            assert_eq!(c.as_str(), text);
            assert_eq!(c.to_string(), text);
            assert_eq!(text.parse::<Challenge>(), Ok(c));
        }
        assert!("password".parse::<Challenge>().is_err());
        assert!("TOTP".parse::<Challenge>().is_err());
        assert_eq!(MethodKind::Passkey.challenge(), Challenge::Webauthn);
        assert_eq!(MethodKind::SecurityKey.challenge(), Challenge::Webauthn);
    }

    #[test]
    fn remove_needs_another() {
        let inv = Inventory {
            totp: true,
            keys: vec![key(MethodKind::SecurityKey)],
            ..Default::default()
        };
        assert_eq!(inv.count(), 2);
        assert!(inv.may_remove_one().is_ok());
    }
}
