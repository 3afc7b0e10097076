//! Mail: the outbox's `email` channel. [`EmailChannel`] opens a queued mail
//! (a template and its variables, sealed; see `tessera_core::mail`),
//! renders its plain-text and HTML parts with [`MailTemplates`] and hands
//! the message to an [`EmailProvider`]:
//!
//! - [`SmtpMailer`] sends it to an SMTP server (lettre, rustls, no OpenSSL);
//! - [`MailFiles`] writes it as an `.eml` file, for development.
//!
//! Every attempt at one outbox message builds the same bytes: the
//! `Message-ID` comes from the outbox id and the `Date` from the time it was
//! queued, so a mail client or server that drops duplicates by
//! `Message-ID` shows a message sent twice after a crash once.

mod files;
mod smtp;
mod templates;

pub use files::MailFiles;
pub use smtp::{SmtpConfig, SmtpMailer};
pub use templates::MailTemplates;

use crate::channel::Channel;
use crate::provider::DeliveryError;
use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};
use tessera_core::Timestamp;
use tessera_core::crypto::SecretBox;
use tessera_core::mail::{QueuedMail, open_email_body};
use tessera_core::outbox::EMAIL_CHANNEL;
use tessera_core::store::OutboxMessage;

/// One mail, rendered and ready to send.
#[derive(Clone)]
pub struct EmailMessage {
    pub from: Mailbox,
    pub to: Mailbox,
    pub subject: String,
    /// The plain-text part; may hold a one-time code (kept out of `Debug`).
    pub text: String,
    /// The HTML part; `None` for a plain-text message (older rows).
    pub html: Option<String>,
    /// `<tessera-outbox-…@domain>`, the same on every attempt.
    pub message_id: String,
    /// When the message was queued: its `Date`, and part of its file name.
    pub queued_at: Timestamp,
    /// The outbox id.
    pub outbox_id: i64,
}

impl fmt::Debug for EmailMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailMessage")
            .field("from", &self.from.to_string())
            .field("to", &self.to.to_string())
            .field("subject", &self.subject)
            .field("message_id", &self.message_id)
            .field("body", &"<redacted>")
            .finish()
    }
}

impl EmailMessage {
    /// The RFC 5322 message: `multipart/alternative` (text, then HTML), or
    /// a plain-text message when there is no HTML part.
    pub fn build(&self) -> Result<lettre::Message, DeliveryError> {
        let date = UNIX_EPOCH + Duration::from_millis(self.queued_at.millis().max(0) as u64);
        let builder = lettre::Message::builder()
            .from(self.from.clone())
            .to(self.to.clone())
            .subject(self.subject.clone())
            .message_id(Some(self.message_id.clone()))
            .date(date);
        let built = match &self.html {
            // A boundary of our own rather than a random one: every
            // attempt then sends the very same bytes.
            Some(html) => builder.multipart(
                MultiPart::alternative()
                    .boundary(format!(
                        "tessera-{}-{}",
                        self.outbox_id,
                        self.queued_at.millis()
                    ))
                    .singlepart(SinglePart::plain(self.text.clone()))
                    .singlepart(SinglePart::html(html.clone())),
            ),
            None => builder
                .header(ContentType::TEXT_PLAIN)
                .body(self.text.clone()),
        };
        built.map_err(|e| DeliveryError::Permanent(format!("cannot build the message: {e}")))
    }
}

/// The `Message-ID` of outbox message `id` queued at `queued_at`, sent
/// from `from`: stable across attempts, and distinct across databases
/// reset under one domain (the time is part of it).
pub fn message_id(id: i64, queued_at: Timestamp, from: &Mailbox) -> String {
    format!(
        "<tessera-outbox-{id}.{}@{}>",
        queued_at.millis(),
        from.email.domain()
    )
}

/// Something that sends mail.
#[async_trait]
pub trait EmailProvider: Send + Sync + 'static {
    /// Sends one message. `Ok` means the provider accepted it.
    async fn send(&self, msg: &EmailMessage) -> Result<(), DeliveryError>;
}

/// The `email` channel: opens, renders and addresses queued mail.
pub struct EmailChannel {
    provider: Arc<dyn EmailProvider>,
    templates: Arc<MailTemplates>,
    secret_box: Arc<SecretBox>,
    from: Mailbox,
}

impl EmailChannel {
    pub fn new(
        provider: Arc<dyn EmailProvider>,
        templates: Arc<MailTemplates>,
        secret_box: Arc<SecretBox>,
        from: Mailbox,
    ) -> Self {
        EmailChannel {
            provider,
            templates,
            secret_box,
            from,
        }
    }

    /// The message a queued row becomes.
    pub fn compose(&self, msg: &OutboxMessage) -> Result<EmailMessage, DeliveryError> {
        let opened =
            open_email_body(&self.secret_box, &msg.recipient, &msg.body).map_err(|_| {
                DeliveryError::Permanent("the body does not open with this server's key".into())
            })?;
        let (text, html) = match opened {
            QueuedMail::Template(content) => {
                let (text, html) = self
                    .templates
                    .render(&msg.subject, &content)
                    .map_err(DeliveryError::Permanent)?;
                (text, Some(html))
            }
            QueuedMail::Legacy(text) => (text, None),
        };
        let to: Mailbox = msg
            .recipient
            .parse()
            .map_err(|_| DeliveryError::Permanent("the recipient is not a mail address".into()))?;
        Ok(EmailMessage {
            from: self.from.clone(),
            to,
            subject: msg.subject.clone(),
            text,
            html,
            message_id: message_id(msg.id, msg.created_at, &self.from),
            queued_at: msg.created_at,
            outbox_id: msg.id,
        })
    }
}

#[async_trait]
impl Channel for EmailChannel {
    fn name(&self) -> &'static str {
        EMAIL_CHANNEL
    }

    async fn deliver(&self, msg: &OutboxMessage) -> Result<(), DeliveryError> {
        let email = self.compose(msg)?;
        self.provider.send(&email).await
    }
}

/// Parses `email.from`: `addr@example.com` or `Name <addr@example.com>`.
pub fn parse_from(from: &str) -> Result<Mailbox, crate::ConfigError> {
    from.parse().map_err(|_| {
        crate::ConfigError(format!(
            "email.from {from:?} is not an address like \"Acme <security@acme.example>\""
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(html: Option<&str>) -> EmailMessage {
        let from: Mailbox = "Acme <security@acme.example>".parse().unwrap();
        EmailMessage {
            message_id: message_id(7, Timestamp(1_800_000_000_000), &from),
            from,
            to: "ada@example.com".parse().unwrap(),
            subject: "Your code".into(),
            text: "Code: 123456 é".into(),
            html: html.map(str::to_string),
            queued_at: Timestamp(1_800_000_000_000),
            outbox_id: 7,
        }
    }

    #[test]
    fn builds_the_same_multipart_bytes_on_every_attempt() {
        let m = message(Some("<p>Code: <b>123456</b></p>"));
        let a = m.build().unwrap().formatted();
        let b = m.build().unwrap().formatted();
        assert_eq!(a, b, "stable Message-ID, Date and boundary");
        let text = String::from_utf8(a).unwrap();
        assert!(
            text.contains("Message-ID: <tessera-outbox-7.1800000000000@acme.example>"),
            "{text}"
        );
        assert!(text.contains("multipart/alternative"), "{text}");
        assert!(text.contains("text/plain"), "{text}");
        assert!(text.contains("text/html"), "{text}");
        assert!(text.is_ascii(), "non-ASCII parts are encoded");
        assert!(!format!("{m:?}").contains("123456"), "Debug hides the body");
        let plain = String::from_utf8(message(None).build().unwrap().formatted()).unwrap();
        assert!(!plain.contains("multipart"), "{plain}");
    }

    #[test]
    fn from_must_be_an_address() {
        assert!(parse_from("Acme <security@acme.example>").is_ok());
        assert!(parse_from("security@acme.example").is_ok());
        let e = parse_from("not an address").unwrap_err().0;
        assert!(e.starts_with("email.from"), "{e}");
    }
}
