//! The application services: each public method is one use case, called by
//! a handler or a CLI command. Rules live here; storage is reached through
//! the [`Store`] traits and time through the [`Clock`].

mod accounts;
mod admin_users;
mod api_tokens;
mod audit_log;
mod basic_auth;
mod email_code;
mod enrollment;
mod keys;
mod methods;
mod notify;
mod oidc_authorize;
mod oidc_clients;
mod oidc_keys;
mod oidc_tokens;
mod org_domains;
mod org_export;
mod org_invitations;
mod org_policy;
mod org_reset_preview;
mod org_test_policy;
mod orgs;
mod outbox;
mod second_step;
mod service_accounts;
mod sessions;
mod signin;
mod sms;
mod stepup;
mod throttle;
mod unenroll;
mod verification;

pub use accounts::{NewAccountInput, Sysadmin};
pub use admin_users::AccountOverview;
pub use api_tokens::IssuedToken;
pub use email_code::CodeMailed;
pub use enrollment::{Confirmed, TotpEnrollment};
pub use keys::{KeyAdded, PasskeyChallenge};
pub use oidc_authorize::{AuthorizeStart, AuthorizeStep};
pub use oidc_clients::{OidcClientInput, OidcClientUpdate, RegisteredClient};
pub use oidc_tokens::{ClientAuth, Introspection, TokenRequest, TokenResponse, TokenSubject};
pub use org_export::ExternalUsersExport;
pub use org_invitations::InvitationView;
pub use org_policy::{TOKENS_REFUSED, TwoStepPolicy};
pub use org_reset_preview::ResetPreview;
pub use org_test_policy::TestPolicy;
pub use orgs::OrgAdmin;
pub use second_step::{SecondStepProof, SigninOutcome};
pub use service_accounts::{ServiceAccount, ServiceAccountInput, ServiceAccountUpdate};
pub use sessions::{Access, Authenticated, IssuedSession, Restricted};
pub use signin::SigninRequest;
pub use sms::CodeSent;
pub use stepup::{Needs, StepUpProof, SteppedUp, TOKEN_CANNOT_STEP_UP, step_up_satisfied};
pub use verification::totp_aad;

/// Input checks that are private to their use cases, reachable by the fuzz
/// targets in `fuzz/`. Not an API: nothing else should call them.
#[doc(hidden)]
pub mod fuzzing {
    pub use super::keys::{key_name, parse as parse_key_response};
    pub use super::service_accounts::{check_description, check_name, service_address};
}

use crate::audit::NewAuditEvent;
use crate::clock::Clock;
use crate::crypto::SecretBox;
use crate::password::{HashPool, PasswordPolicy};
use crate::secrets::SecretSource;
use crate::session::SessionPolicy;
use crate::store::Store;
use std::sync::Arc;

/// Rules that come from configuration.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    pub password_policy: PasswordPolicy,
    pub session_policy: SessionPolicy,
    /// Whether anyone may create their own account.
    pub signup_enabled: bool,
    /// How long a `recover-account` one-time password stays valid.
    pub break_glass_ttl_secs: i64,
    pub two_step: TwoStepConfig,
    /// Password guessing: per account, per known device, per address.
    pub throttle: crate::password::throttle::ThrottlePolicy,
    pub basic_auth: BasicAuthConfig,
    /// Where security keys and passkeys are valid.
    pub relying_party: crate::webauthn::RelyingParty,
    /// The scopes API tokens may carry.
    pub api_tokens: crate::apitoken::TokenPolicy,
    /// Emailed codes at sign-in and for step-up.
    pub email_codes: crate::email_code::EmailCodeConfig,
    /// Where people reach this server (links in mail), without a trailing
    /// slash, e.g. `https://id.example.com`.
    pub public_url: String,
    /// The OpenID Connect provider: key rotation and token lives.
    pub oidc: crate::oidc::OidcConfig,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            password_policy: PasswordPolicy::default(),
            session_policy: SessionPolicy::default(),
            signup_enabled: false,
            break_glass_ttl_secs: 3600,
            two_step: TwoStepConfig::default(),
            throttle: Default::default(),
            basic_auth: BasicAuthConfig::default(),
            relying_party: crate::webauthn::RelyingParty::default(),
            api_tokens: crate::apitoken::TokenPolicy::default(),
            email_codes: crate::email_code::EmailCodeConfig::default(),
            public_url: "http://localhost:8080".into(),
            oidc: crate::oidc::OidcConfig::default(),
        }
    }
}

/// Two-step verification settings.
#[derive(Debug, Clone)]
pub struct TwoStepConfig {
    /// Security changes need a verification at most this old.
    pub step_up_window_secs: i64,
    /// A sign-in waiting for its second step lasts this long.
    pub flow_ttl_secs: i64,
    /// An enrollment must be confirmed within this long.
    pub enrollment_ttl_secs: i64,
    pub backoff: crate::twostep::backoff::BackoffPolicy,
    /// Org-admins and sysadmins without 2SV must enroll at sign-in.
    pub enforce_for_admins: bool,
    /// Degraded mode: no second step at sign-in.
    pub legacy_login: bool,
    /// The issuer shown in authenticator apps.
    pub issuer: String,
}

impl Default for TwoStepConfig {
    fn default() -> Self {
        TwoStepConfig {
            step_up_window_secs: 600,
            flow_ttl_secs: 600,
            enrollment_ttl_secs: 900,
            backoff: crate::twostep::backoff::BackoffPolicy::default(),
            enforce_for_admins: false,
            legacy_login: false,
            issuer: "Tessera".into(),
        }
    }
}

/// HTTP Basic authentication with a password.
#[derive(Debug, Clone)]
pub struct BasicAuthConfig {
    /// When false, only the allowlisted accounts may use it.
    pub password_enabled: bool,
    pub allowlist: Vec<crate::email::Email>,
}

impl Default for BasicAuthConfig {
    fn default() -> Self {
        BasicAuthConfig {
            password_enabled: true,
            allowlist: Vec::new(),
        }
    }
}

/// Where a request came from, for sessions and the audit log.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The device token the client presented (cookie or sign-in body).
    pub device_token: Option<String>,
}

/// Tessera's domain, wired to its store, clock, randomness and hash pool.
#[derive(Clone)]
pub struct Core {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub secrets: Arc<dyn SecretSource>,
    pub pool: Arc<HashPool>,
    /// Seals secrets at rest (authenticator seeds).
    pub secret_box: Arc<SecretBox>,
    pub config: CoreConfig,
    /// The WebAuthn relying party; `None` if its settings do not build
    /// (the server refuses to start then; see `RelyingParty::build`).
    pub webauthn: Option<Arc<webauthn_rs::Webauthn>>,
    /// Wakes the outbox delivery workers of this process (see
    /// [`Core::wake_outbox`]); the server hands the same handle to them.
    pub outbox_wake: crate::outbox::OutboxWake,
    /// Looks up the TXT records that prove a domain; `None` when the
    /// server has no resolver (domains are then verified by a sysadmin).
    pub dns: Option<Arc<dyn crate::org::TxtLookup>>,
    /// The OIDC signing keys as last read (see [`Core::signing_keys_cached`]).
    key_cache: Arc<oidc_keys::KeyCache>,
    /// Access tokens whose signature checked out (see
    /// [`crate::oidc::checked`]).
    checked_tokens: Arc<crate::oidc::checked::CheckedTokens>,
}

impl Core {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        secrets: Arc<dyn SecretSource>,
        pool: Arc<HashPool>,
        secret_box: Arc<SecretBox>,
        config: CoreConfig,
    ) -> Self {
        let webauthn = config.relying_party.build().ok().map(Arc::new);
        Core {
            store,
            clock,
            secrets,
            pool,
            secret_box,
            config,
            webauthn,
            outbox_wake: crate::outbox::OutboxWake::new(),
            dns: None,
            key_cache: Arc::default(),
            checked_tokens: Arc::default(),
        }
    }

    /// The same domain, looking up domain proofs with `dns`.
    pub fn with_dns(mut self, dns: Arc<dyn crate::org::TxtLookup>) -> Self {
        self.dns = Some(dns);
        self
    }

    /// Records an audit event. A failure to record is logged, not returned:
    /// the action it describes has already happened.
    pub(crate) async fn audit(&self, event: NewAuditEvent) {
        let now = self.clock.now();
        if let Err(e) = self.store.append_audit(now, &event).await {
            tracing::error!(error = %e, kind = %event.kind, "could not write audit event");
        }
    }
}
