//! Sign-in as an explicit state machine.
//!
//! ```text
//!            password checked
//!   Start ───────────────────────▶ decide
//!                                    │ account missing, inactive, a service
//!                                    │ account, or wrong password
//!                                    ├──────────────────────────────▶ Refused
//!                                    │ (one generic error for all)
//!                                    │ a second step is required
//!                                    ├──────────────────────────────▶ AwaitingSecondStep
//!                                    │ (later: authenticator app, keys, …)
//!                                    └──────────────────────────────▶ Complete
//! ```
//!
//! The decision is a pure function of what was looked up and checked, so
//! every branch is testable without a database or a hash.

use crate::account::{Account, AccountKind};
use crate::session::{Aal, AuthMethod};

/// What the password check established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstFactor {
    /// The account's password matched.
    Password,
    /// The one-time break-glass password matched (and was consumed).
    BreakGlass,
    /// Nothing matched.
    None,
}

/// Where a sign-in goes after the first factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigninStep {
    /// Refused, with the reason kept for the audit log only.
    Refused(RefusalReason),
    /// Signed in: create a session with this assurance.
    Complete { aal: Aal, methods: Vec<AuthMethod> },
}

/// Why a sign-in was refused. Never shown to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalReason {
    UnknownAccount,
    Inactive,
    ServiceAccount,
    WrongPassword,
}

impl RefusalReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalReason::UnknownAccount => "unknown_account",
            RefusalReason::Inactive => "inactive",
            RefusalReason::ServiceAccount => "service_account",
            RefusalReason::WrongPassword => "wrong_password",
        }
    }
}

/// Decides the next step after the first factor was checked.
pub fn after_first_factor(account: Option<&Account>, factor: FirstFactor) -> SigninStep {
    let Some(account) = account else {
        return SigninStep::Refused(RefusalReason::UnknownAccount);
    };
    if account.kind == AccountKind::Service {
        return SigninStep::Refused(RefusalReason::ServiceAccount);
    }
    let method = match factor {
        FirstFactor::Password => AuthMethod::Password,
        FirstFactor::BreakGlass => AuthMethod::BreakGlass,
        FirstFactor::None => return SigninStep::Refused(RefusalReason::WrongPassword),
    };
    // Checked after the password so that a correct password for a
    // deactivated account is still recorded as such in the audit log.
    if !account.active {
        return SigninStep::Refused(RefusalReason::Inactive);
    }
    SigninStep::Complete {
        aal: Aal::Aal1,
        methods: vec![method],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::Role;
    use crate::clock::Timestamp;
    use crate::email::Email;
    use crate::ids::AccountId;

    fn account(kind: AccountKind, active: bool) -> Account {
        Account {
            id: AccountId(uuid::Uuid::nil()),
            email: Email::parse("a@example.com").unwrap(),
            display_name: "A".into(),
            kind,
            role: Role::Member,
            active,
            password_hash: Some("x".into()),
            created_at: Timestamp(0),
        }
    }

    #[test]
    fn every_branch() {
        use RefusalReason::*;
        let human = account(AccountKind::Human, true);
        assert_eq!(
            after_first_factor(None, FirstFactor::Password),
            SigninStep::Refused(UnknownAccount)
        );
        assert_eq!(
            after_first_factor(
                Some(&account(AccountKind::Service, true)),
                FirstFactor::Password
            ),
            SigninStep::Refused(ServiceAccount)
        );
        assert_eq!(
            after_first_factor(Some(&human), FirstFactor::None),
            SigninStep::Refused(WrongPassword)
        );
        assert_eq!(
            after_first_factor(
                Some(&account(AccountKind::Human, false)),
                FirstFactor::Password
            ),
            SigninStep::Refused(Inactive)
        );
        assert_eq!(
            after_first_factor(Some(&human), FirstFactor::Password),
            SigninStep::Complete {
                aal: Aal::Aal1,
                methods: vec![AuthMethod::Password]
            }
        );
        assert_eq!(
            after_first_factor(Some(&human), FirstFactor::BreakGlass),
            SigninStep::Complete {
                aal: Aal::Aal1,
                methods: vec![AuthMethod::BreakGlass]
            }
        );
    }
}
