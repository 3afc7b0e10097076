//! Server-side sessions: what a session records and when it ends.
//!
//! A session is known to its client only by an opaque token of 256 random
//! bits; the server stores the token's SHA-256, never the token. Each
//! session also has a public id, used to list and revoke it.

use crate::account::text_enum;
use crate::clock::Timestamp;
use crate::ids::{AccountId, SessionId};
use std::fmt;
use std::str::FromStr;

/// How the client holds its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    /// A browser, holding a cookie.
    Web,
    /// A mobile app or API client, holding a bearer token.
    Mobile,
}

text_enum!(ClientKind { ClientKind::Web => "web", ClientKind::Mobile => "mobile" });

/// Authenticator assurance level (NIST SP 800-63B).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Aal {
    /// One factor: a password.
    Aal1,
    /// Two factors.
    Aal2,
}

text_enum!(Aal { Aal::Aal1 => "aal1", Aal::Aal2 => "aal2" });

/// A way the session's owner proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    Password,
    /// The one-time password printed by `tessera recover-account`.
    BreakGlass,
    /// A code from an authenticator app.
    Totp,
    /// The emergency recovery key.
    RecoveryKey,
    /// A security key (WebAuthn) after the password.
    SecurityKey,
    /// A passkey: a discoverable WebAuthn credential with user
    /// verification, alone (it is two factors in one) or after a password.
    Passkey,
    /// A code sent by text message.
    Sms,
    /// An API token: a script, never a person proving who they are.
    ApiToken,
    /// A code mailed to the account's address: proves the mailbox, not a
    /// second factor (the session stays `aal1`).
    EmailCode,
}

text_enum!(AuthMethod {
    AuthMethod::Password => "password",
    AuthMethod::BreakGlass => "break_glass",
    AuthMethod::Totp => "totp",
    AuthMethod::RecoveryKey => "recovery_key",
    AuthMethod::SecurityKey => "security_key",
    AuthMethod::Passkey => "passkey",
    AuthMethod::Sms => "sms",
    AuthMethod::ApiToken => "api_token",
    AuthMethod::EmailCode => "email_code",
});

impl AuthMethod {
    /// Whether this method is a second step (possession), not a password.
    pub fn is_second_step(self) -> bool {
        matches!(
            self,
            AuthMethod::Totp
                | AuthMethod::RecoveryKey
                | AuthMethod::SecurityKey
                | AuthMethod::Passkey
                | AuthMethod::Sms
        )
    }
}

/// How long sessions live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// From creation, whatever the activity.
    pub absolute_secs: i64,
    /// Without any request.
    pub idle_secs: i64,
    /// `last_seen_at` is written at most this often, so the who-am-I hot
    /// path does not write to the database on every request.
    pub touch_interval_secs: i64,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy {
            absolute_secs: 14 * 24 * 3600,
            idle_secs: 24 * 3600,
            touch_interval_secs: 60,
        }
    }
}

/// A session as stored (without its token hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub account_id: AccountId,
    pub client: ClientKind,
    pub aal: Aal,
    pub methods: Vec<AuthMethod>,
    pub created_at: Timestamp,
    /// When the owner last proved who they are (sign-in or step-up).
    pub verified_at: Timestamp,
    pub last_seen_at: Timestamp,
    /// Absolute expiry, fixed at creation.
    pub expires_at: Timestamp,
    pub ip: Option<String>,
    /// A short description of the device, from its User-Agent.
    pub device: String,
    /// Set for an admin who must enroll in two-step verification first:
    /// such a session may only enroll, look at itself, and sign out.
    pub restricted: bool,
}

impl Session {
    /// When the session ends if nothing else happens.
    pub fn ends_at(&self, policy: &SessionPolicy) -> Timestamp {
        self.expires_at
            .min(self.last_seen_at.plus_secs(policy.idle_secs))
    }

    pub fn is_live(&self, policy: &SessionPolicy, now: Timestamp) -> bool {
        now < self.ends_at(policy)
    }

    /// Whether `last_seen_at` is stale enough to be worth a write.
    pub fn needs_touch(&self, policy: &SessionPolicy, now: Timestamp) -> bool {
        now.millis() - self.last_seen_at.millis() >= policy.touch_interval_secs * 1000
    }
}

/// Methods as stored: comma-separated names.
pub fn methods_to_text(methods: &[AuthMethod]) -> String {
    methods
        .iter()
        .map(|m| m.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

pub fn methods_from_text(text: &str) -> Vec<AuthMethod> {
    text.split(',').filter_map(|m| m.parse().ok()).collect()
}

/// Reduces a User-Agent header to something a person recognises in a
/// session list ("Firefox on Linux"), and never stores more than 120 bytes.
pub fn describe_device(user_agent: Option<&str>) -> String {
    let Some(ua) = user_agent else {
        return "Unknown device".into();
    };
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chromium/", "Chromium"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("python", "Python"),
        ("okhttp", "Android app"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    let os = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    match (browser, os) {
        (Some(b), Some(o)) => format!("{b} on {o}"),
        (Some(b), None) => b.to_string(),
        (None, Some(o)) => o.to_string(),
        (None, None) => ua.chars().filter(|c| !c.is_control()).take(120).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(created: i64, last_seen: i64) -> Session {
        Session {
            id: SessionId(uuid::Uuid::nil()),
            account_id: AccountId(uuid::Uuid::nil()),
            client: ClientKind::Web,
            aal: Aal::Aal1,
            methods: vec![AuthMethod::Password],
            created_at: Timestamp(created),
            verified_at: Timestamp(created),
            last_seen_at: Timestamp(last_seen),
            expires_at: Timestamp(created).plus_secs(100),
            ip: None,
            device: String::new(),
            restricted: false,
        }
    }

    #[test]
    fn idle_and_absolute_expiry() {
        let p = SessionPolicy {
            absolute_secs: 100,
            idle_secs: 30,
            touch_interval_secs: 10,
        };
        let s = session(0, 0);
        assert!(s.is_live(&p, Timestamp(29_999)));
        assert!(!s.is_live(&p, Timestamp(30_000)), "idle expiry");
        let active = session(0, 95_000);
        assert!(active.is_live(&p, Timestamp(99_999)));
        assert!(!active.is_live(&p, Timestamp(100_000)), "absolute expiry");
        assert!(!s.needs_touch(&p, Timestamp(9_999)));
        assert!(s.needs_touch(&p, Timestamp(10_000)));
    }

    #[test]
    fn methods_round_trip() {
        let m = vec![AuthMethod::Password, AuthMethod::BreakGlass];
        assert_eq!(methods_from_text(&methods_to_text(&m)), m);
    }

    #[test]
    fn devices() {
        let ff = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(describe_device(Some(ff)), "Firefox on Linux");
        let chrome =
            "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126 Mobile Safari/537.36";
        assert_eq!(describe_device(Some(chrome)), "Chrome on Android");
        assert_eq!(describe_device(None), "Unknown device");
        assert_eq!(describe_device(Some(&"z".repeat(500))).len(), 120);
    }
}
