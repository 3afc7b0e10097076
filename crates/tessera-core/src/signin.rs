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
//!                                    │ 2SV off, password, an emailed code asked
//!                                    │ (see crate::email_code)
//!                                    ├──────────────────────────────▶ EmailCode ──code──▶ Complete(aal1, …)
//!                                    │ admin without 2SV, enforcement on, or
//!                                    │ 2SV required by the managing organization
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
    /// The account is an org-admin of some organization (an admin for
    /// `enforce_for_admins`).
    pub org_admin: bool,
    /// The organization that manages the account requires 2SV of it.
    pub org_requires_two_step: bool,
    /// Without 2SV, the sign-in must prove the mailbox with an emailed
    /// code (the setting and the device decided; see
    /// [`crate::email_code::EmailCodeConfig::asks_at_signin`]).
    pub email_code: bool,
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
    /// The password is right; a code mailed to the account must follow.
    /// The session it leads to is `aal1`, restricted if [`must_enroll`].
    EmailCode { first: AuthMethod },
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
    // The one-time break-glass password is itself a fresh secret from
    // the host: no mailbox proof on top (mail may be what is broken).
    if facts.email_code && method == AuthMethod::Password {
        return SigninStep::EmailCode { first: method };
    }
    SigninStep::Complete {
        aal: Aal::Aal1,
        methods: vec![method],
        restricted: must_enroll(account, facts),
        legacy: false,
    }
}

/// Whether a sign-in of `account` without 2SV may only enroll in it: an
/// admin (instance role, or org-admin of an organization) under the
/// instance's enforcement, or an account whose managing organization
/// requires 2SV. Legacy login turns every second step off, this too.
pub fn must_enroll(account: &Account, facts: SigninFacts) -> bool {
    let admin = account.role >= Role::OrgAdmin || facts.org_admin;
    !facts.legacy_login && (facts.org_requires_two_step || facts.enforce_for_admins && admin)
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

    #[test]
    fn an_emailed_code_only_without_2sv_and_only_after_a_password() {
        let human = account(AccountKind::Human, true);
        let code = SigninFacts {
            email_code: true,
            ..Default::default()
        };
        assert_eq!(
            after_first_factor(Some(&human), FirstFactor::Password, code),
            SigninStep::EmailCode {
                first: AuthMethod::Password
            }
        );
        // Once 2SV is on, its method is the second step, never a code.
        let on = SigninFacts {
            two_step_on: true,
            ..code
        };
        assert_eq!(
            after_first_factor(Some(&human), FirstFactor::Password, on),
            SigninStep::SecondStep {
                first: AuthMethod::Password
            }
        );
        assert_eq!(
            after_first_factor(Some(&human), FirstFactor::BreakGlass, code),
            complete(AuthMethod::BreakGlass, false, false)
        );
        assert_eq!(
            after_first_factor(
                Some(&account(AccountKind::Service, true)),
                FirstFactor::Password,
                code
            ),
            SigninStep::Refused(RefusalReason::ServiceAccount)
        );
        assert_eq!(
            after_first_factor(Some(&human), FirstFactor::None, code),
            SigninStep::Refused(RefusalReason::WrongPassword)
        );
        let mut admin = human.clone();
        admin.role = Role::OrgAdmin;
        let enforce = SigninFacts {
            enforce_for_admins: true,
            ..code
        };
        assert!(must_enroll(&admin, enforce));
        assert!(!must_enroll(&human, enforce));
    }

    #[test]
    fn an_organization_can_make_its_accounts_enroll() {
        let human = account(AccountKind::Human, true);
        let required = SigninFacts {
            org_requires_two_step: true,
            ..Default::default()
        };
        assert_eq!(
            after_first_factor(Some(&human), FirstFactor::Password, required),
            complete(AuthMethod::Password, true, false)
        );
        // With 2SV on, the second step is asked as usual.
        let on = SigninFacts {
            two_step_on: true,
            ..required
        };
        assert_eq!(
            after_first_factor(Some(&human), FirstFactor::Password, on),
            SigninStep::SecondStep {
                first: AuthMethod::Password
            }
        );
        // An org-admin is an admin for the instance's enforcement.
        let org_admin = SigninFacts {
            enforce_for_admins: true,
            org_admin: true,
            ..Default::default()
        };
        assert!(must_enroll(&human, org_admin));
        let legacy = SigninFacts {
            legacy_login: true,
            ..required
        };
        assert!(!must_enroll(&human, legacy));
    }
}
