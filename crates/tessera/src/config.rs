//! One typed configuration, from a TOML file, then `TESSERA_*` environment
//! variables, then command-line flags, each overriding the one before.
//! Unknown keys and bad values are refused with one clear line.
//!
//! Settings the domain uses are `Option`s: unset keeps core's default
//! (`tessera_core::service::CoreConfig::default()` and the policies it is
//! made of), and `wiring` applies only what is set. Only settings of the
//! server itself (listening, HTTP, logs, text messages, mail, metrics, WebAuthn)
//! have their defaults here.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use toml::{Table, Value};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where SQLite and key material live.
    pub data_dir: PathBuf,
    /// Address to listen on.
    pub listen: String,
    /// `postgres://…` to use PostgreSQL; unset for SQLite in the data dir.
    pub database_url: Option<String>,
    /// The URL clients use to reach this server; defaults to `http://` + listen.
    pub public_url: Option<String>,
    /// Let anyone create an account with `POST /api/v1/signup`.
    pub signup_enabled: Option<bool>,
    /// The key that seals secrets at rest, base64 (32 bytes). Overrides the key file.
    pub secret_key: Option<String>,
    /// Where the key lives; default `<data_dir>/secret.key`.
    pub secret_key_file: Option<PathBuf>,
    pub two_step: TwoStepSection,
    pub basic_auth: BasicAuthSection,
    pub api_tokens: ApiTokensSection,
    pub password_throttle: PasswordThrottleSection,
    pub password: PasswordSection,
    pub hashing: HashingSection,
    pub session: SessionSection,
    pub http: HttpSection,
    pub log: LogSection,
    pub webauthn: WebauthnSection,
    pub sms: SmsSection,
    pub email: EmailSection,
    pub email_code: EmailCodeSection,
    pub metrics: MetricsSection,
    pub dns: DnsSection,
    pub oidc: OidcSection,
}

/// Overrides of core's OpenID Connect provider settings (`OidcConfig`).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct OidcSection {
    /// Replace the signing keys once they are this many days old (1 to
    /// 365; default 30). Retired keys stay published until the tokens
    /// they signed have expired.
    pub key_rotation_days: Option<i64>,
}

/// How domain verification looks up TXT records.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct DnsSection {
    /// Name servers to ask, `ip` or `ip:port`; unset, the system's
    /// (`/etc/resolv.conf`).
    pub nameservers: Option<Vec<String>>,
}

impl Config {
    /// The configured name servers (checked at load).
    pub fn dns_nameservers(&self) -> Result<Vec<std::net::SocketAddr>, String> {
        self.dns
            .nameservers
            .iter()
            .flatten()
            .map(|n| crate::dns::parse_nameserver(n))
            .collect()
    }
}

/// Emailed one-time codes for accounts without two-step verification.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct EmailCodeSection {
    /// When a sign-in asks for an emailed code: `new_device` (default),
    /// `always` or `off`. With `email.provider = "none"` no code is asked.
    pub at_signin: Option<String>,
}

/// The Prometheus endpoint, served apart from the application so it can
/// stay off the public network.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    /// Address of a second listener serving only `GET /metrics`; unset, no
    /// metrics are served.
    pub listen: Option<String>,
}

/// Where security keys and passkeys are valid.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct WebauthnSection {
    /// The domain keys are bound to; default: the public URL's host.
    pub rp_id: Option<String>,
    /// Origins allowed to use keys; default: the public URL's origin.
    pub origins: Vec<String>,
}

/// Overrides of core's password policy (`PasswordPolicy`) and Argon2id
/// parameters (`Argon2Config`).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordSection {
    pub min_length: Option<usize>,
    pub max_length: Option<usize>,
    pub argon2_memory_kib: Option<u32>,
    pub argon2_iterations: Option<u32>,
    pub argon2_parallelism: Option<u32>,
}

/// Overrides of core's two-step settings (`TwoStepConfig`).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TwoStepSection {
    /// Org-admins and sysadmins without 2SV must enroll at their next sign-in.
    pub enforce_for_admins: Option<bool>,
    /// Skip the second step at sign-in (degraded; loud in logs and audit).
    pub legacy_login: Option<bool>,
    /// Consecutive wrong codes tolerated before blocks start.
    pub tolerated_failures: Option<u32>,
    /// Security changes need a verification at most this many minutes old.
    pub step_up_window_minutes: Option<i64>,
    /// Name shown in authenticator apps.
    pub issuer: Option<String>,
}

/// Overrides of the password guessing throttle; unset keys keep core's
/// defaults (`tessera_core::password::throttle::ThrottlePolicy`).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordThrottleSection {
    /// Wrong passwords per account (from untrusted clients) and per known
    /// device before blocks start.
    pub tolerated_failures: Option<u32>,
    /// Wrong passwords from one client address, across accounts, before
    /// its blocks start; at least 20.
    pub address_tolerated_failures: Option<u32>,
}

/// Overrides of core's Basic authentication settings (`BasicAuthConfig`).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct BasicAuthSection {
    /// Accept `Authorization: Basic email:password` on the API.
    pub password_enabled: Option<bool>,
    /// Accounts that may still use it when it is turned off.
    pub allowlist: Option<Vec<String>>,
}

/// Overrides of core's API token rules (`TokenPolicy`).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ApiTokensSection {
    /// The scopes a token may carry; default `["read", "write"]`.
    pub scopes: Option<Vec<String>>,
}

/// Overrides of core's hash pool size (`PoolSize`).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct HashingSection {
    /// Hashing threads; unset or 0 keeps core's default (one per core).
    pub workers: Option<usize>,
    /// Waiting hash jobs beyond which requests get 503; unset or 0 keeps
    /// core's default (4 per worker).
    pub queue: Option<usize>,
}

/// Overrides of core's session lifetimes (`SessionPolicy`), in minutes.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SessionSection {
    pub absolute_minutes: Option<i64>,
    pub idle_minutes: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSection {
    pub body_limit_bytes: usize,
    /// Proxies (CIDRs, e.g. `10.0.0.0/8`) whose `X-Forwarded-For` is
    /// believed; the client is the right-most hop not among them.
    pub trusted_proxies: Vec<String>,
    pub allowed_origins: Vec<String>,
}

/// Delivery of text messages (one-time codes) from the outbox.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsSection {
    /// `file` (development: JSON lines in `<data_dir>/sms.log`), `webhook`
    /// or `none` (messages stay queued).
    pub provider: String,
    /// Where `webhook` POSTs each message, `http://` or `https://`.
    pub webhook_url: Option<String>,
    /// `"Name: value"` sent with every webhook request.
    pub webhook_auth_header: Option<Hidden>,
    /// The JSON body, with `{to}`, `{text}` and `{id}` in string values.
    pub webhook_body: Option<String>,
}

impl Default for SmsSection {
    fn default() -> Self {
        SmsSection {
            provider: "file".into(),
            webhook_url: None,
            webhook_auth_header: None,
            webhook_body: None,
        }
    }
}

/// Delivery of mail (notifications, emailed codes) from the outbox.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailSection {
    /// `file` (development: `.eml` files in `<data_dir>/mail/`), `smtp`, or
    /// `none` (nothing is sent; mail stays queued).
    pub provider: String,
    /// The sender, `addr@example.com` or `Name <addr@example.com>`;
    /// required for `smtp`.
    pub from: Option<String>,
    /// lettre's URL form: `smtp://host:587?tls=required`, `smtps://host:465`,
    /// `smtp://127.0.0.1:2525`; a user name as `smtp://user@host…`.
    pub smtp_url: Option<String>,
    /// The SMTP password (or `smtp_password_file`); never printed.
    pub smtp_password: Option<Hidden>,
    /// A file holding the SMTP password (a trailing newline is ignored).
    pub smtp_password_file: Option<PathBuf>,
}

impl Default for EmailSection {
    fn default() -> Self {
        EmailSection {
            provider: "file".into(),
            from: None,
            smtp_url: None,
            smtp_password: None,
            smtp_password_file: None,
        }
    }
}

/// The sender of development mail when `email.from` is not set.
pub const DEFAULT_MAIL_FROM: &str = "Tessera <tessera@localhost>";

/// A setting that holds a credential: kept out of `Debug`.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Hidden(pub String);

impl std::fmt::Debug for Hidden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// `text` or `json`.
    pub format: String,
    /// A tracing filter, e.g. `info` or `tessera=debug,info`.
    pub level: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./tessera-data"),
            listen: "127.0.0.1:8080".into(),
            database_url: None,
            public_url: None,
            signup_enabled: None,
            secret_key: None,
            secret_key_file: None,
            two_step: TwoStepSection::default(),
            basic_auth: BasicAuthSection::default(),
            api_tokens: ApiTokensSection::default(),
            password_throttle: PasswordThrottleSection::default(),
            password: PasswordSection::default(),
            hashing: HashingSection::default(),
            session: SessionSection::default(),
            http: HttpSection::default(),
            log: LogSection::default(),
            webauthn: WebauthnSection::default(),
            sms: SmsSection::default(),
            email: EmailSection::default(),
            email_code: EmailCodeSection::default(),
            dns: DnsSection::default(),
            metrics: MetricsSection::default(),
            oidc: OidcSection::default(),
        }
    }
}

impl Default for HttpSection {
    fn default() -> Self {
        HttpSection {
            body_limit_bytes: 64 * 1024,
            trusted_proxies: Vec::new(),
            allowed_origins: Vec::new(),
        }
    }
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

/// Settings that were removed, with what replaces them: refused with a
/// pointer rather than a bare "unknown field".
const REMOVED: &[(&str, &str, &str)] = &[(
    "http",
    "trust_forwarded_for",
    "http.trust_forwarded_for is gone: list your proxies in http.trusted_proxies, e.g. [\"10.0.0.0/8\"]",
)];

/// Environment variables that start with `TESSERA_` but are not settings.
const NOT_SETTINGS: &[&str] = &["TESSERA_CONFIG"];

/// Flags that override everything else.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
    pub database_url: Option<String>,
}

/// Builds the configuration from `file` (if any), `env` and `flags`.
pub fn load(
    file: Option<&Path>,
    env: impl Iterator<Item = (String, String)>,
    flags: &Overrides,
) -> Result<Config, String> {
    let text = match file {
        Some(path) => Some((
            path.display().to_string(),
            std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?,
        )),
        None => None,
    };
    load_text(
        text.as_ref().map(|(name, t)| (name.as_str(), t.as_str())),
        env,
        flags,
    )
}

/// [`load`] with the file already read: `file` is its name (for messages)
/// and its text.
pub fn load_text(
    file: Option<(&str, &str)>,
    env: impl Iterator<Item = (String, String)>,
    flags: &Overrides,
) -> Result<Config, String> {
    let mut table = match file {
        Some((name, text)) => text
            .parse::<Table>()
            .map_err(|e| format!("config file {name}: {}", one_line(&e.to_string())))?,
        None => Table::new(),
    };
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix("TESSERA_") else {
            continue;
        };
        if NOT_SETTINGS.contains(&name.as_str()) || rest.starts_with("TEST_") {
            continue;
        }
        let path: Vec<String> = rest.split("__").map(|p| p.to_lowercase()).collect();
        set_path(&mut table, &path, env_value(&raw));
    }
    if let Some(d) = &flags.data_dir {
        table.insert("data_dir".into(), Value::String(d.display().to_string()));
    }
    if let Some(l) = &flags.listen {
        table.insert("listen".into(), Value::String(l.clone()));
    }
    if let Some(u) = &flags.database_url {
        table.insert("database_url".into(), Value::String(u.clone()));
    }
    for (section, key, message) in REMOVED {
        if table
            .get(*section)
            .and_then(Value::as_table)
            .is_some_and(|t| t.contains_key(*key))
        {
            return Err((*message).to_string());
        }
    }
    let config: Config = Config::deserialize(table)
        .map_err(|e| format!("configuration: {}", one_line(&e.to_string())))?;
    config.validate()?;
    Ok(config)
}

/// An env value as TOML if it parses as a scalar or array, else a string.
fn env_value(raw: &str) -> Value {
    match format!("v = {raw}").parse::<Table>() {
        Ok(mut t) => match t.remove("v") {
            Some(
                v @ (Value::Boolean(_) | Value::Integer(_) | Value::Array(_) | Value::String(_)),
            ) => v,
            _ => Value::String(raw.to_string()),
        },
        Err(_) => Value::String(raw.to_string()),
    }
}

fn set_path(table: &mut Table, path: &[String], value: Value) {
    match path {
        [] => {}
        [last] => {
            table.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = table
                .entry(first.clone())
                .or_insert_with(|| Value::Table(Table::new()));
            if !entry.is_table() {
                *entry = Value::Table(Table::new());
            }
            if let Value::Table(t) = entry {
                set_path(t, rest, value);
            }
        }
    }
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> String {
    let url = url.trim_end_matches('/');
    match url.find("://") {
        Some(i) => match url[i + 3..].find('/') {
            Some(j) => url[..i + 3 + j].to_string(),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Config {
    /// The WebAuthn relying party for a server reached at `public_url`.
    pub fn relying_party(&self, public_url: &str) -> tessera_core::webauthn::RelyingParty {
        let origin = origin_of(public_url);
        let host = origin
            .split_once("://")
            .map(|(_, rest)| rest)
            .unwrap_or(&origin);
        // Strip the port, keeping bracketed IPv6 hosts whole.
        let host = match host.rfind(':') {
            Some(i) if !host[i..].contains(']') => &host[..i],
            _ => host,
        };
        tessera_core::webauthn::RelyingParty {
            rp_id: self
                .webauthn
                .rp_id
                .clone()
                .unwrap_or_else(|| host.to_string()),
            rp_name: crate::wiring::two_step_config(self).issuer,
            origins: if self.webauthn.origins.is_empty() {
                vec![origin]
            } else {
                self.webauthn.origins.clone()
            },
        }
    }

    fn validate(&self) -> Result<(), String> {
        self.listen_addr()?;
        self.metrics_addr()?;
        self.trusted_proxies()?;
        self.relying_party(&self.public_url()).build()?;
        if let Some(u) = &self.public_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err(format!(
                "public_url {u:?} must start with http:// or https://"
            ));
        }
        if let Some(u) = &self.database_url
            && !(u.starts_with("postgres://")
                || u.starts_with("postgresql://")
                || u.starts_with("sqlite:"))
        {
            return Err(
                "database_url must start with postgres://, postgresql:// or sqlite:".into(),
            );
        }
        // The bounds apply to the effective values, core's defaults included.
        let p = crate::wiring::password_policy(self);
        if p.min_len < 8 {
            return Err("password.min_length must be at least 8".into());
        }
        if p.max_len < 128 || p.max_len > 4096 {
            return Err("password.max_length must be between 128 and 4096".into());
        }
        if p.max_len < p.min_len {
            return Err("password.max_length must not be below password.min_length".into());
        }
        let a = crate::wiring::argon2_config(self);
        if a.memory_kib < 19_456 || a.iterations < 2 {
            // OWASP's floor; weaker settings would silently weaken every account.
            return Err("password.argon2_memory_kib must be at least 19456 and argon2_iterations at least 2".into());
        }
        self.argon2().map_err(|e| format!("password: {e}"))?;
        let session = crate::wiring::session_policy(self);
        if session.absolute_secs < 60 || session.idle_secs < 60 {
            return Err(
                "session.absolute_minutes and session.idle_minutes must be at least 1".into(),
            );
        }
        if self.http.body_limit_bytes < 1024 {
            return Err("http.body_limit_bytes must be at least 1024".into());
        }
        if crate::wiring::two_step_config(self).step_up_window_secs < 60 {
            return Err("two_step.step_up_window_minutes must be at least 1".into());
        }
        if let Some(n) = self.password_throttle.tolerated_failures
            && n > 50
        {
            return Err("password_throttle.tolerated_failures must be at most 50".into());
        }
        if let Some(n) = self.password_throttle.address_tolerated_failures
            && n < tessera_core::password::throttle::ThrottlePolicy::MIN_ADDRESS_TOLERANCE
        {
            return Err(format!(
                "password_throttle.address_tolerated_failures must be at least {}",
                tessera_core::password::throttle::ThrottlePolicy::MIN_ADDRESS_TOLERANCE
            ));
        }
        for e in self.basic_auth.allowlist.iter().flatten() {
            tessera_core::email::Email::parse(e)
                .map_err(|err| format!("basic_auth.allowlist: {e:?}: {err}"))?;
        }
        if let Some(d) = self.oidc.key_rotation_days {
            use tessera_core::oidc::OidcConfig;
            if !(OidcConfig::MIN_ROTATION_DAYS..=OidcConfig::MAX_ROTATION_DAYS).contains(&d) {
                return Err(format!(
                    "oidc.key_rotation_days must be between {} and {}",
                    OidcConfig::MIN_ROTATION_DAYS,
                    OidcConfig::MAX_ROTATION_DAYS
                ));
            }
        }
        if let Some(scopes) = &self.api_tokens.scopes {
            if scopes.is_empty() {
                return Err("api_tokens.scopes must name at least one scope".into());
            }
            if let Some(bad) = scopes
                .iter()
                .find(|s| !tessera_core::apitoken::valid_scope_name(s))
            {
                return Err(format!(
                    "api_tokens.scopes: {bad:?} is not a scope name (1 to 64 of a-z 0-9 : . _ -)"
                ));
            }
        }
        if let Some(k) = &self.secret_key {
            crate::keys::decode_key(k).map_err(|e| format!("secret_key: {e}"))?;
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(format!(
                "log.format must be \"text\" or \"json\", not {:?}",
                self.log.format
            ));
        }
        match self.sms.provider.as_str() {
            "file" | "none" => {}
            "webhook" => {
                self.sms_webhook()?;
            }
            other => {
                return Err(format!(
                    "sms.provider must be \"file\", \"webhook\" or \"none\", not {other:?}"
                ));
            }
        }
        match self.email.provider.as_str() {
            "file" | "smtp" | "none" => {}
            other => {
                return Err(format!(
                    "email.provider must be \"file\", \"smtp\" or \"none\", not {other:?}"
                ));
            }
        }
        self.mail_from()?;
        crate::wiring::email_code_config(self)?;
        self.dns_nameservers()?;
        if self.email.provider == "smtp" && self.email.from.is_none() {
            return Err(
                "email.from is required when email.provider is \"smtp\", e.g. \"Acme <security@acme.example>\""
                    .into(),
            );
        }
        if self.email.provider == "smtp" || self.email.smtp_url.is_some() {
            self.smtp()?;
        } else if self.email.smtp_password.is_some() || self.email.smtp_password_file.is_some() {
            return Err("email.smtp_password is set but email.smtp_url is not".into());
        }
        Ok(())
    }

    /// The sender of mail: `email.from`, or [`DEFAULT_MAIL_FROM`].
    pub fn mail_from(&self) -> Result<tessera_notify::Mailbox, String> {
        tessera_notify::parse_from(self.email.from.as_deref().unwrap_or(DEFAULT_MAIL_FROM))
            .map_err(|e| e.to_string())
    }

    /// The checked SMTP settings, with the password read from its file.
    pub fn smtp(&self) -> Result<tessera_notify::SmtpConfig, String> {
        let e = &self.email;
        let url = e
            .smtp_url
            .as_deref()
            .ok_or("email.smtp_url is required when email.provider is \"smtp\", e.g. smtp://mail.example:587?tls=required")?;
        let password = match (&e.smtp_password, &e.smtp_password_file) {
            (Some(_), Some(_)) => {
                return Err("set email.smtp_password or email.smtp_password_file, not both".into());
            }
            (Some(p), None) => Some(p.0.clone()),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|err| {
                    format!(
                        "email.smtp_password_file {} cannot be read: {err}",
                        path.display()
                    )
                })?;
                let p = text.trim_end_matches(['\r', '\n']).to_string();
                if p.is_empty() {
                    return Err(format!(
                        "email.smtp_password_file {} is empty",
                        path.display()
                    ));
                }
                Some(p)
            }
            (None, None) => None,
        };
        tessera_notify::SmtpConfig::parse(url, password.as_deref()).map_err(|e| e.to_string())
    }

    /// Where the development mail provider writes.
    pub fn mail_dir(&self) -> PathBuf {
        self.data_dir.join("mail")
    }

    /// Where the operator's mail template overrides live.
    pub fn mail_templates_dir(&self) -> PathBuf {
        self.data_dir.join("templates")
    }

    /// The checked webhook settings (`sms.provider = "webhook"`).
    pub fn sms_webhook(&self) -> Result<tessera_notify::WebhookConfig, String> {
        let url = self
            .sms
            .webhook_url
            .as_deref()
            .ok_or("sms.webhook_url is required when sms.provider is \"webhook\"")?;
        tessera_notify::WebhookConfig::parse(
            url,
            self.sms.webhook_auth_header.as_ref().map(|h| h.0.as_str()),
            self.sms.webhook_body.as_deref(),
        )
        .map_err(|e| e.to_string())
    }

    /// Where the development SMS provider writes.
    pub fn sms_log_path(&self) -> PathBuf {
        self.data_dir.join("sms.log")
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, String> {
        self.listen.parse().map_err(|_| {
            format!(
                "listen {:?} is not an address like 127.0.0.1:8080",
                self.listen
            )
        })
    }

    /// The metrics listener's address, if one is configured.
    pub fn metrics_addr(&self) -> Result<Option<SocketAddr>, String> {
        self.metrics
            .listen
            .as_deref()
            .map(|l| {
                l.parse().map_err(|_| {
                    format!("metrics.listen {l:?} is not an address like 127.0.0.1:9090")
                })
            })
            .transpose()
    }

    /// The proxies whose `X-Forwarded-For` is believed.
    pub fn trusted_proxies(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.http
            .trusted_proxies
            .iter()
            .map(|n| {
                n.trim().parse().map_err(|_| {
                    format!(
                        "http.trusted_proxies: {n:?} is not a network like 10.0.0.0/8 or 127.0.0.1/32"
                    )
                })
            })
            .collect()
    }

    pub fn argon2(&self) -> Result<tessera_core::password::PasswordHasher, String> {
        tessera_core::password::PasswordHasher::new(crate::wiring::argon2_config(self))
            .map_err(|e| e.to_string())
    }

    /// The public URL, defaulting to the listener (with `localhost` for a
    /// wildcard or loopback address, so cookies and WebAuthn work there).
    pub fn public_url(&self) -> String {
        match self.listen_addr() {
            Ok(a) => self.public_url_for(a),
            Err(_) => format!("http://{}", self.listen),
        }
    }

    /// The public URL given the address actually bound (which differs from
    /// `listen` when it asked for port 0).
    pub fn public_url_for(&self, bound: SocketAddr) -> String {
        if let Some(u) = &self.public_url {
            return u.trim_end_matches('/').to_string();
        }
        if bound.ip().is_unspecified() || bound.ip().is_loopback() {
            format!("http://localhost:{}", bound.port())
        } else {
            format!("http://{bound}")
        }
    }

    /// Password-hashing threads in effect.
    pub fn hash_workers(&self) -> usize {
        crate::wiring::pool_size(self).workers
    }

    /// Waiting hash jobs allowed in effect.
    pub fn hash_queue(&self) -> usize {
        crate::wiring::pool_size(self).queue
    }

    pub fn secret_key_path(&self) -> PathBuf {
        self.secret_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("secret.key"))
    }

    /// Creates the data directory if needed and proves it is writable.
    pub fn prepare_data_dir(&self) -> Result<(), String> {
        let d = &self.data_dir;
        std::fs::create_dir_all(d)
            .map_err(|e| format!("data dir {} cannot be created: {e}", d.display()))?;
        let probe = d.join(".write-test");
        std::fs::write(&probe, b"ok")
            .map_err(|e| format!("data dir {} is not writable: {e}", d.display()))?;
        let _ = std::fs::remove_file(probe);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn defaults_are_zero_config() {
        let c = load(None, env(&[]), &Overrides::default()).unwrap();
        assert_eq!(c.listen, "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("./tessera-data"));
        assert_eq!(c.public_url(), "http://localhost:8080");
        assert!(!crate::wiring::core_config(&c, &c.public_url()).signup_enabled);
        assert_eq!(crate::wiring::argon2_config(&c).memory_kib, 19_456);
    }

    #[test]
    fn file_then_env_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t.toml");
        std::fs::write(
            &f,
            "listen = \"127.0.0.1:9000\"\nsignup_enabled = true\n[session]\nidle_minutes = 5\n",
        )
        .unwrap();
        let c = load(
            Some(&f),
            env(&[
                ("TESSERA_LISTEN", "127.0.0.1:9001"),
                ("TESSERA_SESSION__IDLE_MINUTES", "7"),
                ("HOME", "/x"),
            ]),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:9001");
        assert_eq!(c.session.idle_minutes, Some(7));
        assert_eq!(c.signup_enabled, Some(true));
        let flags = Overrides {
            listen: Some("127.0.0.1:9002".into()),
            ..Default::default()
        };
        let c = load(
            Some(&f),
            env(&[("TESSERA_LISTEN", "127.0.0.1:9001")]),
            &flags,
        )
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:9002");
    }

    #[test]
    fn refuses_unknown_and_bad() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t.toml");
        std::fs::write(&f, "lisen = \"x\"\n").unwrap();
        let e = load(Some(&f), env(&[]), &Overrides::default()).unwrap_err();
        assert!(e.contains("lisen"), "{e}");
        assert!(!e.contains('\n'));
        let e = load(None, env(&[("TESSERA_BOGUS", "1")]), &Overrides::default()).unwrap_err();
        assert!(e.contains("bogus"), "{e}");
        let e = load(
            None,
            env(&[("TESSERA_LISTEN", "nowhere")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(e.contains("listen"), "{e}");
        let e = load(
            None,
            env(&[("TESSERA_PASSWORD__MIN_LENGTH", "4")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(e.contains("min_length"), "{e}");
        let e = load(
            None,
            env(&[("TESSERA_SESSION__IDLE_MINUTES", "soon")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(
            e.contains("idle_minutes") || e.contains("invalid type"),
            "{e}"
        );
        // Test harness variables are not settings.
        assert!(
            load(
                None,
                env(&[("TESSERA_TEST_POSTGRES_URL", "x")]),
                &Overrides::default()
            )
            .is_ok()
        );
    }

    #[test]
    fn oidc_key_rotation_defaults_in_core_and_is_bounded() {
        let c = load(None, env(&[]), &Overrides::default()).unwrap();
        assert_eq!(
            crate::wiring::oidc_config(&c),
            tessera_core::oidc::OidcConfig::default()
        );
        let c = load(
            None,
            env(&[("TESSERA_OIDC__KEY_ROTATION_DAYS", "7")]),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(crate::wiring::oidc_config(&c).key_rotation_secs, 7 * 86_400);
        for bad in ["0", "366"] {
            let e = load(
                None,
                env(&[("TESSERA_OIDC__KEY_ROTATION_DAYS", bad)]),
                &Overrides::default(),
            )
            .unwrap_err();
            assert!(e.contains("oidc.key_rotation_days"), "{e}");
        }
    }

    #[test]
    fn sms_defaults_to_the_file_provider() {
        let c = load(None, env(&[]), &Overrides::default()).unwrap();
        assert_eq!(c.sms.provider, "file");
        assert_eq!(c.sms_log_path(), PathBuf::from("./tessera-data/sms.log"));
        let c = load(
            None,
            env(&[("TESSERA_SMS__PROVIDER", "none")]),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(c.sms.provider, "none");
    }

    #[test]
    fn sms_webhook_from_env_and_file() {
        let c = load(
            None,
            env(&[
                ("TESSERA_SMS__PROVIDER", "webhook"),
                (
                    "TESSERA_SMS__WEBHOOK_URL",
                    "https://sms.example.com/send?key=k1",
                ),
                (
                    "TESSERA_SMS__WEBHOOK_AUTH_HEADER",
                    "Authorization: Bearer abc123",
                ),
                (
                    "TESSERA_SMS__WEBHOOK_BODY",
                    r#"{"dest":"{to}","msg":"{text}","ref":"{id}"}"#,
                ),
            ]),
            &Overrides::default(),
        )
        .unwrap();
        let hook = c.sms_webhook().unwrap();
        assert_eq!(hook.display_url(), "https://sms.example.com/send");
        let shown = format!("{c:?} {hook:?}");
        assert!(!shown.contains("abc123"), "{shown}");

        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t.toml");
        std::fs::write(
            &f,
            "[sms]\nprovider = \"webhook\"\nwebhook_url = \"http://127.0.0.1:9999/hook\"\n\
             webhook_body = '{\"to\":\"{to}\",\"text\":\"{text}\"}'\n",
        )
        .unwrap();
        let c = load(Some(&f), env(&[]), &Overrides::default()).unwrap();
        assert!(c.sms_webhook().is_ok());
        assert!(c.sms.webhook_auth_header.is_none());
    }

    #[test]
    fn sms_refuses_bad_settings_with_one_line() {
        for (pairs, needle) in [
            (
                vec![("TESSERA_SMS__PROVIDER", "carrier-pigeon")],
                "sms.provider",
            ),
            (
                vec![("TESSERA_SMS__PROVIDER", "webhook")],
                "sms.webhook_url is required",
            ),
            (
                vec![
                    ("TESSERA_SMS__PROVIDER", "webhook"),
                    ("TESSERA_SMS__WEBHOOK_URL", "sms.example.com"),
                ],
                "sms.webhook_url",
            ),
            (
                vec![
                    ("TESSERA_SMS__PROVIDER", "webhook"),
                    ("TESSERA_SMS__WEBHOOK_URL", "ftp://x.example/"),
                ],
                "http://",
            ),
            (
                vec![
                    ("TESSERA_SMS__PROVIDER", "webhook"),
                    ("TESSERA_SMS__WEBHOOK_URL", "https://x.example/"),
                    ("TESSERA_SMS__WEBHOOK_BODY", "to={to}&text={text}"),
                ],
                "sms.webhook_body",
            ),
            (
                vec![
                    ("TESSERA_SMS__PROVIDER", "webhook"),
                    ("TESSERA_SMS__WEBHOOK_URL", "https://x.example/"),
                    ("TESSERA_SMS__WEBHOOK_AUTH_HEADER", "Bearer abc"),
                ],
                "sms.webhook_auth_header",
            ),
            (
                vec![("TESSERA_SMS__WEBHOOK_URLL", "https://x.example/")],
                "webhook_urll",
            ),
        ] {
            let e = load(None, env(&pairs), &Overrides::default()).unwrap_err();
            assert!(e.contains(needle), "{pairs:?}: {e}");
            assert!(!e.contains('\n'), "{e}");
            assert!(!e.contains("abc"), "no credential in errors: {e}");
        }
    }

    #[test]
    fn webauthn_defaults_to_the_public_host_and_checks_overrides() {
        let c = load(None, env(&[]), &Overrides::default()).unwrap();
        let rp = c.relying_party("http://localhost:8080");
        assert_eq!(rp.rp_id, "localhost");
        assert_eq!(rp.origins, vec!["http://localhost:8080".to_string()]);
        let c = load(
            None,
            env(&[("TESSERA_PUBLIC_URL", "https://id.example.com/base")]),
            &Overrides::default(),
        )
        .unwrap();
        let rp = c.relying_party(&c.public_url());
        assert_eq!(rp.rp_id, "id.example.com");
        assert_eq!(rp.origins, vec!["https://id.example.com".to_string()]);
        // A parent domain may be the RP ID; an unrelated one is refused at start.
        let c = load(
            None,
            env(&[
                ("TESSERA_PUBLIC_URL", "https://id.example.com"),
                ("TESSERA_WEBAUTHN__RP_ID", "example.com"),
            ]),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(c.relying_party(&c.public_url()).rp_id, "example.com");
        let e = load(
            None,
            env(&[
                ("TESSERA_PUBLIC_URL", "https://id.example.com"),
                ("TESSERA_WEBAUTHN__RP_ID", "other.org"),
            ]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(e.contains("other.org"), "{e}");
        let e = load(
            None,
            env(&[("TESSERA_WEBAUTHN__ORIGINS", "[\"not a url\"]")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(e.contains("not a url"), "{e}");
    }

    #[test]
    fn trusted_proxies_from_env_and_file() {
        let c = load(None, env(&[]), &Overrides::default()).unwrap();
        assert!(c.trusted_proxies().unwrap().is_empty());
        let c = load(
            None,
            env(&[(
                "TESSERA_HTTP__TRUSTED_PROXIES",
                r#"["10.0.0.0/8", "127.0.0.1/32", "fd00::/8"]"#,
            )]),
            &Overrides::default(),
        )
        .unwrap();
        let nets = c.trusted_proxies().unwrap();
        assert_eq!(nets.len(), 3);
        assert!(nets[0].contains(&"10.1.2.3".parse::<std::net::IpAddr>().unwrap()));
        assert!(nets[2].contains(&"fd00::1".parse::<std::net::IpAddr>().unwrap()));

        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t.toml");
        std::fs::write(&f, "[http]\ntrusted_proxies = [\"192.168.0.0/16\"]\n").unwrap();
        let c = load(Some(&f), env(&[]), &Overrides::default()).unwrap();
        assert_eq!(c.trusted_proxies().unwrap().len(), 1);
    }

    #[test]
    fn trusted_proxies_refuses_bad_networks_and_the_old_switch() {
        for (raw, needle) in [
            (r#"["10.0.0.0/33"]"#, "10.0.0.0/33"),
            (r#"["proxy.internal"]"#, "proxy.internal"),
            // A bare address is not a network: the operator says /32.
            (r#"["127.0.0.1"]"#, "127.0.0.1"),
        ] {
            let e = load(
                None,
                env(&[("TESSERA_HTTP__TRUSTED_PROXIES", raw)]),
                &Overrides::default(),
            )
            .unwrap_err();
            assert!(e.contains("http.trusted_proxies"), "{raw}: {e}");
            assert!(e.contains(needle), "{raw}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
        // The old boolean, from the environment or a file, names its successor.
        let e = load(
            None,
            env(&[("TESSERA_HTTP__TRUST_FORWARDED_FOR", "true")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(e.contains("trust_forwarded_for"), "{e}");
        assert!(e.contains("http.trusted_proxies"), "{e}");
        assert!(!e.contains('\n'), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t.toml");
        std::fs::write(&f, "[http]\ntrust_forwarded_for = false\n").unwrap();
        let e = load(Some(&f), env(&[]), &Overrides::default()).unwrap_err();
        assert!(e.contains("http.trusted_proxies"), "{e}");
    }

    #[test]
    fn metrics_listener_is_off_unless_set_and_checked() {
        let c = load(None, env(&[]), &Overrides::default()).unwrap();
        assert_eq!(c.metrics_addr().unwrap(), None);
        let c = load(
            None,
            env(&[("TESSERA_METRICS__LISTEN", "127.0.0.1:9090")]),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(
            c.metrics_addr().unwrap(),
            Some("127.0.0.1:9090".parse().unwrap())
        );
        let e = load(
            None,
            env(&[("TESSERA_METRICS__LISTEN", "localhost:9090")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(e.contains("metrics.listen"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }
}
