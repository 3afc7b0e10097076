//! [`SmtpMailer`]: sends each message to an SMTP server, over one short
//! connection per message, with lettre (rustls and the ring provider; the
//! server's certificate is checked against the operating system's trust
//! store, `SSL_CERT_FILE`/`SSL_CERT_DIR` honoured).
//!
//! The transaction is driven step by step rather than with lettre's
//! one-call transport, because what a failure means depends on where it
//! happens:
//!
//! ```text
//!   connect, STARTTLS, AUTH, MAIL FROM ──── any failure ──> Retryable
//!   RCPT TO ──── 5xx ──> Permanent (the address is refused); else Retryable
//!   DATA    ──── any failure ──> Retryable (nothing was handed over)
//!   message + "." ── 250 ──> delivered
//!                   ── 4xx ──> Retryable, 5xx ──> Permanent (refused)
//!                   ── connection lost or no answer ──> Uncertain
//! ```
//!
//! Failures up to `DATA` are retried even when the server answers `5xx`
//! (a wrong password, a refused sender): they come from this server's
//! settings, and mail should wait for the operator's fix rather than be
//! dropped. Only the last step can leave the outcome unknown: the server
//! may have taken the message before the connection broke, so it is not
//! retried (see the worker's documentation).

use super::{EmailMessage, EmailProvider};
use crate::ConfigError;
use crate::provider::DeliveryError;
use async_trait::async_trait;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use std::fmt;
use std::time::Duration;

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain `smtp://` (a relay on this machine or a private network).
    None,
    /// `smtp://…?tls=required`: STARTTLS, refused if the server lacks it.
    StartTls,
    /// `smtp://…?tls=opportunistic`: STARTTLS when the server offers it.
    Opportunistic,
    /// `smtps://`: TLS from the first byte.
    Wrapper,
}

/// The checked `email.smtp_url` (and password).
#[derive(Clone)]
pub struct SmtpConfig {
    host: String,
    port: u16,
    tls: TlsMode,
    hello: Option<String>,
    credentials: Option<(String, String)>,
    /// Connecting, the greeting and each step up to `DATA`, together.
    pub setup_timeout: Duration,
    /// Handing over the message and reading the answer.
    pub message_timeout: Duration,
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("url", &self.display_url())
            .field("password", &self.credentials.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl SmtpConfig {
    /// Checks `email.smtp_url`, lettre's URL form: `smtp://host[:port]`
    /// (plain, port 25), `smtp://host[:port]?tls=required` (STARTTLS, port
    /// 587), `?tls=opportunistic`, or `smtps://host[:port]` (port 465); a
    /// user name before `@`; a path names the client in `EHLO`. The
    /// password comes apart (`password`), never in the URL, so the URL can
    /// be printed; it is refused over a plain connection to another machine.
    pub fn parse(url: &str, password: Option<&str>) -> Result<Self, ConfigError> {
        let shown = redact(url);
        let bad = |why: &str| ConfigError(format!("email.smtp_url {shown:?}: {why}"));
        let parsed =
            url::Url::parse(url).map_err(|_| bad("not a URL like smtp://host:587?tls=required"))?;
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if parsed.password().is_some() {
            return Err(ConfigError(
                "email.smtp_url must not hold the password: set email.smtp_password or email.smtp_password_file"
                    .into(),
            ));
        }
        let mut tls_param = None;
        for (k, v) in parsed.query_pairs() {
            match k.as_ref() {
                "tls" if tls_param.is_none() => tls_param = Some(v.into_owned()),
                _ => {
                    return Err(bad(&format!(
                        "unknown parameter {k:?} (only tls= is known)"
                    )));
                }
            }
        }
        let (tls, default_port) = match (parsed.scheme(), tls_param.as_deref()) {
            ("smtp", None) => (TlsMode::None, 25),
            ("smtp", Some("required")) => (TlsMode::StartTls, 587),
            ("smtp", Some("opportunistic")) => (TlsMode::Opportunistic, 587),
            ("smtps", None) => (TlsMode::Wrapper, 465),
            ("smtp" | "smtps", Some(other)) => {
                return Err(bad(&format!(
                    "tls={other} is not known: use tls=required or tls=opportunistic with smtp://, nothing with smtps://"
                )));
            }
            _ => return Err(bad("must start with smtp:// or smtps://")),
        };
        let user =
            percent_decode(parsed.username()).map_err(|_| bad("the user name is not UTF-8"))?;
        let credentials = match (user.is_empty(), password) {
            (true, None) => None,
            (false, Some(p)) if !p.is_empty() => Some((user, p.to_string())),
            (false, _) => {
                return Err(ConfigError(
                    "email.smtp_url names a user: set its password in email.smtp_password or email.smtp_password_file"
                        .into(),
                ));
            }
            (true, Some(_)) => {
                return Err(ConfigError(
                    "email.smtp_password is set but email.smtp_url names no user (smtp://user@host…)".into(),
                ));
            }
        };
        if credentials.is_some() && tls == TlsMode::None && !is_loopback(&host) {
            return Err(bad(
                "a password would cross the network in clear: use ?tls=required or smtps://",
            ));
        }
        let path = parsed.path().trim_matches('/');
        Ok(SmtpConfig {
            host,
            port: parsed.port().unwrap_or(default_port),
            tls,
            hello: (!path.is_empty()).then(|| path.to_string()),
            credentials,
            setup_timeout: Duration::from_secs(30),
            message_timeout: Duration::from_secs(60),
        })
    }

    /// The URL without secrets, for logs and `config check`.
    pub fn display_url(&self) -> String {
        let scheme = if self.tls == TlsMode::Wrapper {
            "smtps"
        } else {
            "smtp"
        };
        let user = self
            .credentials
            .as_ref()
            .map(|(u, _)| format!("{u}@"))
            .unwrap_or_default();
        let query = match self.tls {
            TlsMode::StartTls => "?tls=required",
            TlsMode::Opportunistic => "?tls=opportunistic",
            TlsMode::None | TlsMode::Wrapper => "",
        };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{scheme}://{user}{host}:{}{query}", self.port)
    }

    pub fn tls(&self) -> TlsMode {
        self.tls
    }
}

fn percent_decode(s: &str) -> Result<String, std::string::FromUtf8Error> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(hi * 16 + lo);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
}

/// `url` with any user information replaced, so an error never shows a
/// password someone put there.
fn redact(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    match url[start..end].rfind('@') {
        Some(at) => format!("{}***{}", &url[..start], &url[start + at..]),
        None => url.to_string(),
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Sends mail to the configured SMTP server.
#[derive(Debug, Clone)]
pub struct SmtpMailer {
    config: SmtpConfig,
}

/// Where a failure happened, which decides what it means.
enum Step {
    Setup,
    Recipient,
}

impl SmtpMailer {
    pub fn new(config: SmtpConfig) -> Self {
        SmtpMailer { config }
    }

    pub fn config(&self) -> &SmtpConfig {
        &self.config
    }

    fn hello(&self) -> ClientId {
        match &self.config.hello {
            Some(h) => ClientId::Domain(h.clone()),
            None => ClientId::default(),
        }
    }

    /// Everything up to and including `DATA`: nothing has been handed over
    /// when this fails.
    async fn open(
        &self,
        envelope: &lettre::address::Envelope,
        eight_bit: bool,
    ) -> Result<AsyncSmtpConnection, (Step, lettre::transport::smtp::Error)> {
        let hello = self.hello();
        let setup = |e| (Step::Setup, e);
        let wrapper = match self.config.tls {
            TlsMode::Wrapper => Some(TlsParameters::new(self.config.host.clone()).map_err(setup)?),
            _ => None,
        };
        let mut conn = AsyncSmtpConnection::connect_tokio1(
            (self.config.host.as_str(), self.config.port),
            Some(self.config.setup_timeout),
            &hello,
            wrapper,
            None,
        )
        .await
        .map_err(setup)?;
        match self.config.tls {
            TlsMode::StartTls => {
                let params = TlsParameters::new(self.config.host.clone()).map_err(setup)?;
                conn.starttls(params, &hello).await.map_err(setup)?;
            }
            TlsMode::Opportunistic if conn.can_starttls() => {
                let params = TlsParameters::new(self.config.host.clone()).map_err(setup)?;
                conn.starttls(params, &hello).await.map_err(setup)?;
            }
            _ => {}
        }
        if let Some((user, password)) = &self.config.credentials {
            let creds = Credentials::new(user.clone(), password.clone());
            conn.auth(&[Mechanism::Plain, Mechanism::Login], &creds)
                .await
                .map_err(setup)?;
        }
        let mut options = Vec::new();
        let non_ascii = envelope
            .to()
            .iter()
            .chain(envelope.from())
            .any(|a| !AsRef::<str>::as_ref(a).is_ascii());
        if non_ascii && conn.server_info().supports_feature(Extension::SmtpUtfEight) {
            options.push(MailParameter::SmtpUtfEight);
        }
        if eight_bit && conn.server_info().supports_feature(Extension::EightBitMime) {
            options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        conn.command(Mail::new(envelope.from().cloned(), options))
            .await
            .map_err(setup)?;
        for to in envelope.to() {
            conn.command(Rcpt::new(to.clone(), vec![]))
                .await
                .map_err(|e| (Step::Recipient, e))?;
        }
        conn.command(Data).await.map_err(setup)?;
        Ok(conn)
    }
}

#[async_trait]
impl EmailProvider for SmtpMailer {
    async fn send(&self, msg: &EmailMessage) -> Result<(), DeliveryError> {
        let message = msg.build()?;
        let bytes = message.formatted();
        let envelope = message.envelope().clone();
        let server = self.config.display_url();
        let opened = tokio::time::timeout(
            self.config.setup_timeout,
            self.open(&envelope, !bytes.is_ascii()),
        )
        .await;
        let mut conn = match opened {
            Err(_) => {
                return Err(DeliveryError::Retryable(format!(
                    "{server}: no answer within {} s",
                    self.config.setup_timeout.as_secs()
                )));
            }
            Ok(Err((Step::Recipient, e))) if e.is_permanent() => {
                return Err(DeliveryError::Permanent(format!(
                    "{server} refused the recipient: {e}"
                )));
            }
            Ok(Err((_, e))) => {
                return Err(DeliveryError::Retryable(format!("{server}: {e}")));
            }
            Ok(Ok(conn)) => conn,
        };
        let answer = tokio::time::timeout(self.config.message_timeout, conn.message(&bytes)).await;
        match answer {
            Ok(Ok(_)) => {
                // The message is the server's now; a failed goodbye changes nothing.
                let _ = tokio::time::timeout(Duration::from_secs(5), conn.quit()).await;
                Ok(())
            }
            Ok(Err(e)) if e.is_transient() => Err(DeliveryError::Retryable(format!(
                "{server} deferred the message: {e}"
            ))),
            Ok(Err(e)) if e.is_permanent() => Err(DeliveryError::Permanent(format!(
                "{server} refused the message: {e}"
            ))),
            Ok(Err(e)) => Err(DeliveryError::Uncertain(format!(
                "{server}: the connection failed after the message was handed over: {e}"
            ))),
            Err(_) => Err(DeliveryError::Uncertain(format!(
                "{server}: no answer within {} s after the message was handed over",
                self.config.message_timeout.as_secs()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_lettres_form_are_understood() {
        for (url, pw, shown, tls) in [
            (
                "smtp://127.0.0.1:2525",
                None,
                "smtp://127.0.0.1:2525",
                TlsMode::None,
            ),
            (
                "smtp://mail.example",
                None,
                "smtp://mail.example:25",
                TlsMode::None,
            ),
            (
                "smtp://bot%40acme@mail.example?tls=required",
                Some("pw"),
                "smtp://bot@acme@mail.example:587?tls=required",
                TlsMode::StartTls,
            ),
            (
                "smtp://mail.example:2587?tls=opportunistic",
                None,
                "smtp://mail.example:2587?tls=opportunistic",
                TlsMode::Opportunistic,
            ),
            (
                "smtps://u@mail.example",
                Some("pw"),
                "smtps://u@mail.example:465",
                TlsMode::Wrapper,
            ),
            (
                "smtp://u@localhost:2525",
                Some("pw"),
                "smtp://u@localhost:2525",
                TlsMode::None,
            ),
        ] {
            let c = SmtpConfig::parse(url, pw).unwrap();
            assert_eq!(c.display_url(), shown);
            assert_eq!(c.tls(), tls);
            assert!(!format!("{c:?}").contains("pw\""), "{c:?}");
        }
    }

    #[test]
    fn bad_urls_are_refused_with_one_line() {
        for (url, pw, needle) in [
            ("http://mail.example", None, "smtp://"),
            ("mail.example:25", None, "email.smtp_url"),
            ("smtp://", None, "email.smtp_url"),
            (
                "smtp://u:secret@mail.example?tls=required",
                None,
                "must not hold the password",
            ),
            ("smtp://mail.example?tls=yes", None, "tls=yes"),
            ("smtps://mail.example?tls=required", None, "tls=required"),
            ("smtp://mail.example?ssl=1", None, "unknown parameter"),
            (
                "smtp://u@mail.example?tls=required",
                None,
                "email.smtp_password",
            ),
            (
                "smtp://mail.example?tls=required",
                Some("pw"),
                "names no user",
            ),
            ("smtp://u@mail.example", Some("pw"), "in clear"),
            ("smtp://u:secret@bad host", None, "***@bad host"),
        ] {
            let e = SmtpConfig::parse(url, pw).unwrap_err().0;
            assert!(e.contains(needle), "{url}: {e}");
            assert!(!e.contains("secret") && !e.contains('\n'), "{e}");
        }
    }
}
