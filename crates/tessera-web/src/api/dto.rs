//! Request and response bodies of the API (snake_case JSON).

use serde::{Deserialize, Serialize};
use tessera_core::account::{Account, Role};
use tessera_core::session::{Session, SessionPolicy};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SigninBody {
    pub email: String,
    pub password: String,
    /// `web` gets an HttpOnly cookie; `mobile` (the default) gets a bearer
    /// `session_token` in the body.
    #[serde(default)]
    pub client: Option<ClientKindDto>,
    /// The `device_token` an earlier sign-in of this account returned
    /// (mobile clients; browsers hold it in a cookie). A known device has
    /// its own budget of password attempts.
    #[serde(default)]
    #[schema(max_length = 256)]
    pub device_token: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ClientKindDto {
    Web,
    Mobile,
}

/// A role's name, as the API writes and accepts it (documentation of a
/// string field: the server parses it with the domain's own type).
#[derive(ToSchema)]
#[schema(rename_all = "kebab-case")]
#[allow(dead_code)]
pub enum RoleName {
    Member,
    OrgAdmin,
    Sysadmin,
}

/// An account's kind (documentation of a string field).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum KindName {
    Human,
    Service,
}

/// An authenticator assurance level (documentation of a string field).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum AalName {
    Aal1,
    Aal2,
}

/// The answer to a sign-in step: `complete` with a session, or
/// `second_step` with a flow to finish.
#[derive(Debug, Serialize, ToSchema, Default)]
pub struct SigninComplete {
    /// `complete`, `second_step`, `challenge` (answer it with the key) or
    /// `code_sent` (a texted code is on its way).
    pub status: &'static str,
    /// The bearer token, for `mobile` clients only; web clients get a cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<WhoAmI>,
    /// With `second_step`: finish at `/api/v1/signin/{flow_id}/{method}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow_id: Option<String>,
    /// With `second_step`: the methods to choose from, the last-used one
    /// first: `webauthn`, `totp`, `sms`, and always `recovery_key`; or,
    /// for an account without two-step verification signing in from an
    /// unknown device, only `email_code` (the code was just mailed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// After a recovery key was used: the key that replaces it. Shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_recovery_key: Option<String>,
    /// With `complete`, for `mobile` clients on a device not known yet:
    /// keep it and send it with later sign-ins (`device_token`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_token: Option<String>,
    /// With `challenge` (method `webauthn`): options for
    /// `navigator.credentials.get`, binary fields in base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub public_key: Option<serde_json::Value>,
    /// With `code_sent` (method `sms`): where the code went, mostly hidden.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// With `code_sent`: seconds before another code may be asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resend_after_secs: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupBody {
    #[schema(value_type = super::fields::EmailAddress)]
    pub email: String,
    #[schema(value_type = super::fields::NewPassword)]
    pub password: String,
    #[serde(default)]
    #[schema(value_type = super::fields::DisplayName)]
    pub display_name: String,
}

/// The one answer to a sign-up, whether or not the address was taken.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignupAccepted {
    /// Always `check_email`.
    pub status: &'static str,
    pub message: &'static str,
}

impl SignupAccepted {
    pub const ANSWER: SignupAccepted = SignupAccepted {
        status: "check_email",
        message: "Check your email to continue.",
    };
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountSummary {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Email)]
    pub email: String,
    #[schema(value_type = KindName)]
    pub kind: &'static str,
    #[schema(value_type = Vec<RoleName>)]
    pub roles: Vec<&'static str>,
}

/// The answer to "who is this?".
#[derive(Debug, Serialize, ToSchema)]
pub struct WhoAmI {
    pub account: AccountSummary,
    /// The organization that manages the account (its email is in one of
    /// the organization's verified domains), or null.
    pub organization: Option<super::org_dto::OrgRef>,
    /// Whether the account is an external user of any organization it
    /// belongs to (a member that organization does not manage).
    pub external: bool,
    /// Every organization the account belongs to.
    pub organizations: Vec<super::org_dto::OrgMembershipView>,
    /// `aal1` (password only) or `aal2` (with a second step).
    // Texts of the core's enums, borrowed: who-am-I answers every request
    // of every relying product, so it allocates only what it must.
    #[schema(value_type = AalName)]
    pub aal: &'static str,
    pub methods: Vec<&'static str>,
    #[schema(value_type = ClientKindDto)]
    pub client: &'static str,
    #[schema(format = DateTime)]
    pub verified_at: String,
    /// When the session ends unless it is used again (the earlier of its
    /// absolute and idle expiry).
    pub expires_at: String,
    /// The session may only be used to set up two-step verification.
    pub restricted: bool,
    /// Present when the request came with an API token (then `aal` is
    /// `aal1`, `methods` is `["api_token"]` and `expires_at` is the
    /// token's). Relying products enforce its scopes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<super::token_dto::TokenInfo>,
}

impl WhoAmI {
    /// Who-am-I for any caller: a session, or an API token.
    pub fn of(access: &tessera_core::service::Access, policy: &SessionPolicy) -> Self {
        let mut me = WhoAmI::new(access.account(), access.session(), policy);
        if let Some(t) = access.token() {
            me.expires_at = t.expires_at.to_rfc3339();
            me.token = Some(super::token_dto::TokenInfo::from(t));
        }
        me
    }

    /// With the organizations of the account.
    pub fn with_orgs(mut self, standing: &tessera_core::org::OrgStanding) -> Self {
        let (organization, external, organizations) = super::org_dto::org_fields(standing);
        self.organization = organization;
        self.external = external;
        self.organizations = organizations;
        self
    }

    pub fn new(account: &Account, session: &Session, policy: &SessionPolicy) -> Self {
        WhoAmI {
            account: AccountSummary {
                id: account.id.to_string(),
                email: account.email.to_string(),
                kind: account.kind.as_str(),
                roles: account
                    .role
                    .implied()
                    .into_iter()
                    .map(Role::as_str)
                    .collect(),
            },
            organization: None,
            external: false,
            organizations: Vec::new(),
            aal: session.aal.as_str(),
            methods: session.methods.iter().map(|m| m.as_str()).collect(),
            client: session.client.as_str(),
            verified_at: session.verified_at.to_rfc3339(),
            expires_at: session.ends_at(policy).to_rfc3339(),
            restricted: session.restricted,
            token: None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub id: String,
    pub current: bool,
    pub client: String,
    pub device: String,
    pub ip: Option<String>,
    pub created_at: String,
    pub last_seen_at: String,
    pub expires_at: String,
}

impl SessionView {
    pub fn new(s: &Session, current: bool, policy: &SessionPolicy) -> Self {
        SessionView {
            id: s.id.to_string(),
            current,
            client: s.client.to_string(),
            device: s.device.clone(),
            ip: s.ip.clone(),
            created_at: s.created_at.to_rfc3339(),
            last_seen_at: s.last_seen_at.to_rfc3339(),
            expires_at: s.ends_at(policy).to_rfc3339(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    pub sessions: Vec<SessionView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Ended {
    pub ended: u64,
}

/// How many guessing counters an admin cleared.
#[derive(Debug, Serialize, ToSchema)]
pub struct ThrottleCleared {
    pub cleared: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordBody {
    pub current_password: String,
    #[schema(value_type = super::fields::NewPassword)]
    pub new_password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordChanged {
    /// The session's new bearer token (bearer clients only; cookie clients
    /// get a new cookie). The old token no longer works.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
    pub other_sessions_ended: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Email)]
    pub email: String,
    pub display_name: String,
    #[schema(value_type = KindName)]
    pub kind: String,
    #[schema(value_type = RoleName)]
    pub role: String,
    pub active: bool,
    pub has_password: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&Account> for UserView {
    fn from(a: &Account) -> Self {
        UserView {
            id: a.id.to_string(),
            email: a.email.to_string(),
            display_name: a.display_name.clone(),
            kind: a.kind.to_string(),
            role: a.role.to_string(),
            active: a.active,
            has_password: a.password_hash.is_some(),
            created_at: a.created_at.to_rfc3339(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserView>,
    pub total: u64,
    pub offset: u32,
    pub limit: u32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRoleBody {
    #[schema(value_type = RoleName)]
    pub role: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventView {
    pub id: i64,
    pub at: String,
    pub kind: String,
    pub actor_id: Option<String>,
    pub subject_id: Option<String>,
    pub ip: Option<String>,
    pub detail: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditList {
    pub events: Vec<AuditEventView>,
    /// Pass as `before_id` to get the next (older) page.
    pub next_before_id: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    /// The 6-digit code: from the authenticator app, a text message or an
    /// email, as the method says.
    pub code: String,
}

/// An emailed code is on its way.
#[derive(Debug, Serialize, ToSchema)]
pub struct CodeMailedView {
    /// Always `code_sent`.
    pub status: &'static str,
    /// Seconds before another code may be asked for.
    pub resend_after_secs: i64,
}

impl From<tessera_core::service::CodeMailed> for CodeMailedView {
    fn from(sent: tessera_core::service::CodeMailed) -> Self {
        CodeMailedView {
            status: "code_sent",
            resend_after_secs: sent.resend_after_secs,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoveryKeyBody {
    pub recovery_key: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TotpEnrollmentView {
    /// Base32 seed, for typing into an app by hand.
    pub secret: String,
    pub otpauth_uri: String,
    /// The same URI as an SVG QR code.
    pub qr_svg: String,
}

#[derive(Debug, Serialize, ToSchema, Default)]
pub struct TwoStepChanged {
    /// The emergency recovery key, shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_key: Option<String>,
    /// The session's new bearer token (bearer clients; cookie clients get a cookie).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<String>,
    /// After step-up with a recovery key: its replacement, shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_recovery_key: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TwoStepStatus {
    pub enabled: bool,
    /// The sign-in challenges available, the last-used one first.
    pub methods: Vec<String>,
    /// Whether an authenticator app is set up.
    pub totp: bool,
    /// The phone number for text messages, mostly hidden.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sms_phone: Option<String>,
    /// Security keys and passkeys.
    pub keys: Vec<KeyView>,
    /// The method used last for a second step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used: Option<String>,
}

/// A security key or passkey.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    pub id: uuid::Uuid,
    /// `security_key` or `passkey`.
    pub kind: String,
    pub name: String,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
}

impl From<&tessera_core::twostep::methods::KeySummary> for KeyView {
    fn from(k: &tessera_core::twostep::methods::KeySummary) -> Self {
        KeyView {
            id: k.id,
            kind: k.kind.to_string(),
            name: k.name.clone(),
            created_at: k.created_at.to_rfc3339(),
            last_used_at: k.last_used_at.map(|t| t.to_rfc3339()),
        }
    }
}

impl TwoStepStatus {
    pub fn new(inv: &tessera_core::twostep::methods::Inventory) -> Self {
        TwoStepStatus {
            enabled: inv.two_step_on(),
            methods: inv.challenges().iter().map(|m| m.to_string()).collect(),
            totp: inv.totp,
            sms_phone: inv
                .sms_phone
                .as_deref()
                .map(tessera_core::twostep::phone::mask),
            keys: inv.keys.iter().map(KeyView::from).collect(),
            last_used: inv.last_used.map(|k| k.to_string()),
        }
    }
}

/// Start registering a security key or passkey.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartKeyBody {
    #[schema(value_type = super::fields::KeyName)]
    pub name: String,
}

/// The browser's answer to a WebAuthn request, as produced by
/// `PublicKeyCredential` (binary fields in base64url).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialBody {
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

/// Options for `navigator.credentials.create` or `.get`.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebauthnOptions {
    /// `{publicKey: …}`; binary fields in base64url.
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
    /// For a passkey sign-in: send it back with the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ceremony_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyRegistered {
    pub id: uuid::Uuid,
    /// The emergency recovery key, when this turned two-step verification on. Shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameBody {
    #[schema(value_type = super::fields::KeyName)]
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneBody {
    #[schema(value_type = super::fields::PhoneNumber)]
    pub phone: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CodeSentView {
    /// Where the code went, mostly hidden.
    pub phone: String,
    /// Seconds before another code may be asked for.
    pub resend_after_secs: i64,
}

impl From<tessera_core::service::CodeSent> for CodeSentView {
    fn from(sent: tessera_core::service::CodeSent) -> Self {
        CodeSentView {
            phone: sent.phone_masked,
            resend_after_secs: sent.resend_after_secs,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeySigninStart {
    #[serde(default)]
    pub client: Option<ClientKindDto>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeySigninFinish {
    pub ceremony_id: String,
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnenrollBody {
    /// The calling sysadmin's own current authenticator code.
    #[serde(rename = "totpCode")]
    pub totp_code: String,
}
