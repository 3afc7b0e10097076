//! Sign-in as an explicit state machine.
//!
//! ```text
//!            password checked
//!   Start ───────────────────────▶ decide
//!                                    │ account missing, inactive, a service
//!                                    │ account, or wrong password
//!                                    ├──────────────────────────────▶ Refused
//!                                    │ (one generic error for all)
//!                                    │ break-glass password, 2SV on
//!                                    ├──────────────────────────────▶ BreakGlassRefused
//!                                    │ 2SV on (and no legacy login)
//!                                    ├──────────────────────────────▶ SecondStep ──code/key──▶ Complete(aal2)
//!                                    │ admin without 2SV, enforcement on
//!                                    ├──────────────────────────────▶ Complete(restricted: may only enroll)
//!                                    └──────────────────────────────▶ Complete(aal1)
//! ```
//!
//! The decision is a pure function of what was looked up and checked, so
//! every branch is testable without a database or a hash.

use crate::account::{Account, AccountKind, Role};
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

/// What else the decision depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SigninFacts {
    /// The account has an authenticator app.
    pub two_step_on: bool,
    /// The instance runs in the degraded legacy mode without second steps.
    pub legacy_login: bool,
    /// The instance makes admins enroll before anything else.
    pub enforce_for_admins: bool,
}

/// Where a sign-in goes after the first factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigninStep {
    /// Refused, with the reason kept for the audit log only.
    Refused(RefusalReason),
    /// The break-glass password matched, but it is refused for accounts
    /// with two-step verification; say so (its holder has host access).
    BreakGlassRefused,
    /// The first factor is right; a second step must follow.
    SecondStep { first: AuthMethod },
    /// Signed in: create a session with this assurance.
    Complete {
        aal: Aal,
        methods: Vec<AuthMethod>,
        /// The session may only enroll in two-step verification.
        restricted: bool,
        /// The second step was skipped because of legacy login.
        legacy: bool,
    },
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
pub fn after_first_factor(
    account: Option<&Account>,
    factor: FirstFactor,
    facts: SigninFacts,
) -> SigninStep {
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
    if facts.two_step_on {
        if method == AuthMethod::BreakGlass {
            return SigninStep::BreakGlassRefused;
        }
        if !facts.legacy_login {
            return SigninStep::SecondStep { first: method };
        }
        return SigninStep::Complete {
            aal: Aal::Aal1,
            methods: vec![method],
            restricted: false,
            legacy: true,
        };
    }
    let must_enroll =
        facts.enforce_for_admins && account.role >= Role::OrgAdmin && !facts.legacy_login;
    SigninStep::Complete {
        aal: Aal::Aal1,
        methods: vec![method],
        restricted: must_enroll,
        legacy: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    fn complete(method: AuthMethod, restricted: bool, legacy: bool) -> SigninStep {
        SigninStep::Complete {
            aal: Aal::Aal1,
            methods: vec![method],
            restricted,
            legacy,
        }
    }

    #[test]
    fn second_step_enforcement_legacy_and_break_glass() {
        let mut admin = account(AccountKind::Human, true);
        admin.role = Role::OrgAdmin;
        let on = SigninFacts {
            two_step_on: true,
            ..Default::default()
        };
        assert_eq!(
            after_first_factor(Some(&admin), FirstFactor::Password, on),
            SigninStep::SecondStep {
                first: AuthMethod::Password
            }
        );
        assert_eq!(
            after_first_factor(Some(&admin), FirstFactor::BreakGlass, on),
            SigninStep::BreakGlassRefused
        );
        let legacy = SigninFacts {
            legacy_login: true,
            ..on
        };
        assert_eq!(
            after_first_factor(Some(&admin), FirstFactor::Password, legacy),
            complete(AuthMethod::Password, false, true)
        );
        let enforce = SigninFacts {
            enforce_for_admins: true,
            ..Default::default()
        };
        assert_eq!(
            after_first_factor(Some(&admin), FirstFactor::Password, enforce),
            complete(AuthMethod::Password, true, false)
        );
        let member = account(AccountKind::Human, true);
        assert_eq!(
            after_first_factor(Some(&member), FirstFactor::Password, enforce),
            complete(AuthMethod::Password, false, false)
        );
        // Wrong passwords stay wrong whatever the facts.
        assert_eq!(
            after_first_factor(Some(&admin), FirstFactor::None, on),
            SigninStep::Refused(RefusalReason::WrongPassword)
        );
    }

    #[test]
    fn every_branch() {
        use RefusalReason::*;
        let f = SigninFacts::default();
        let human = account(AccountKind::Human, true);
        assert_eq!(
            after_first_factor(None, FirstFactor::Password, f),
            SigninStep::Refused(UnknownAccount)
        );
        assert_eq!(
            after_first_factor(
                Some(&account(AccountKind::Service, true)),
                FirstFactor::Password,
                f
            ),
            SigninStep::Refused(ServiceAccount)
        );
        assert_eq!(
            after_first_factor(Some(&human), FirstFactor::None, f),
            SigninStep::Refused(WrongPassword)
        );
        assert_eq!(
            after_first_factor(
                Some(&account(AccountKind::Human, false)),
                FirstFactor::Password,
                f
            ),
            SigninStep::Refused(Inactive)
        );
        assert_eq!(
            after_first_factor(Some(&human), FirstFactor::Password, f),
            complete(AuthMethod::Password, false, false)
        );
        assert_eq!(
            after_first_factor(Some(&human), FirstFactor::BreakGlass, f),
            complete(AuthMethod::BreakGlass, false, false)
        );
    }
}
