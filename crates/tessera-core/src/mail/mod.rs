//! Mail in the durable outbox: what a queued message holds, how it is
//! sealed, and how it becomes a plain-text part and an HTML part.
//!
//! **What is stored.** A queued mail is the name of a template and its
//! variables (`{"template": …, "vars": {…}}`), sealed like a text message's
//! body (`outbox:email:<recipient>`, see [`crate::outbox`]); the subject is
//! kept in clear in its own column, so it must never hold a secret. The
//! delivery worker renders the message when it sends it. Storing the
//! variables rather than the rendered parts keeps queueing cheap and free
//! of file access (a code is queued inside the request that asks for it),
//! keeps the templates and the operator's overrides in the one process
//! that needs them, and lets an operator's corrected template apply to mail
//! still waiting in an outbox. Every body is sealed, not only those that
//! carry a code: one rule, nothing to get wrong when a template gains one.
//!
//! **Older rows.** Versions before this one queued notifications with their
//! text in clear, never delivered. Such a body is not base64 (it has
//! spaces), so [`open_email_body`] tells it apart and the worker sends it
//! as it is, as a plain-text message.

mod builtin;
pub mod render;

pub use builtin::{BUILTIN, Builtin, LAYOUT, LAYOUT_PLACEHOLDERS, builtin};

use crate::crypto::{CryptoError, SecretBox};
use crate::error::CoreError;
use crate::outbox::{EMAIL_CHANNEL, open_body, seal_body};
use crate::secrets::SecretSource;
use crate::store::OutgoingMessage;
use render::{RenderError, escape_html, render};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

/// What a queued mail holds once opened: a template and its variables.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailContent {
    pub template: String,
    pub vars: BTreeMap<String, String>,
}

impl fmt::Debug for MailContent {
    /// The variable names only: a value may be a one-time code.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailContent")
            .field("template", &self.template)
            .field("vars", &self.vars.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A queued mail's body, opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueuedMail {
    Template(MailContent),
    /// Plain text queued unsealed by an earlier version.
    Legacy(String),
}

/// Builds the outbox message for a mail to `recipient`: `template` (a
/// name from [`BUILTIN`]) with `vars`, which must give a value for every
/// placeholder the built-in template uses (overrides may use no others).
/// Queue it with `Store::enqueue` or, for a code, `Store::put_otp_and_send`,
/// then `Core::wake_outbox`.
pub fn email_message(
    secret_box: &SecretBox,
    secrets: &dyn SecretSource,
    recipient: &str,
    subject: &str,
    template: &str,
    vars: &[(&str, &str)],
) -> Result<OutgoingMessage, CoreError> {
    let b = builtin(template)
        .ok_or_else(|| CoreError::Internal(format!("no mail template {template:?}")))?;
    let vars: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    // Rendering the built-in parts proves every placeholder has a value.
    render_parts(subject, b.text, b.html, &LAYOUT, &vars)
        .map_err(|e| CoreError::Internal(format!("mail template {template}: {e}")))?;
    let content = MailContent {
        template: template.to_string(),
        vars,
    };
    let json = serde_json::to_string(&content)
        .map_err(|e| CoreError::Internal(format!("mail variables: {e}")))?;
    Ok(OutgoingMessage {
        channel: EMAIL_CHANNEL.into(),
        recipient: recipient.into(),
        subject: subject.into(),
        body: seal_body(secret_box, secrets, EMAIL_CHANNEL, recipient, &json),
    })
}

/// Opens the body of a queued mail to `recipient`.
pub fn open_email_body(
    secret_box: &SecretBox,
    recipient: &str,
    body: &str,
) -> Result<QueuedMail, CryptoError> {
    use base64::Engine;
    if base64::engine::general_purpose::STANDARD
        .decode(body)
        .is_err()
        && !body.is_empty()
    {
        return Ok(QueuedMail::Legacy(body.to_string()));
    }
    let json = open_body(secret_box, EMAIL_CHANNEL, recipient, body)?;
    serde_json::from_str(&json)
        .map(QueuedMail::Template)
        .map_err(|_| CryptoError::Malformed)
}

/// Renders a message: its text and HTML sources, each framed by the
/// layout's part of the same kind. Variables are escaped for the HTML part.
pub fn render_parts(
    subject: &str,
    text: &str,
    html: &str,
    layout: &Builtin,
    vars: &BTreeMap<String, String>,
) -> Result<(String, String), RenderError> {
    render_with_layout(subject, text, html, layout.text, layout.html, vars)
}

/// [`render_parts`] with the layout given as two sources (an override).
pub fn render_with_layout(
    subject: &str,
    text: &str,
    html: &str,
    layout_text: &str,
    layout_html: &str,
    vars: &BTreeMap<String, String>,
) -> Result<(String, String), RenderError> {
    let plain = render(text, |n| vars.get(n).map(|v| Cow::Borrowed(v.as_str())))?;
    let rich = render(html, |n| vars.get(n).map(|v| Cow::Owned(escape_html(v))))?;
    let plain = render(layout_text, |n| match n {
        "content" => Some(Cow::Borrowed(plain.as_str())),
        "subject" => Some(Cow::Borrowed(subject)),
        _ => None,
    })?;
    let rich = render(layout_html, |n| match n {
        "content" => Some(Cow::Borrowed(rich.as_str())),
        "subject" => Some(Cow::Owned(escape_html(subject))),
        _ => None,
    })?;
    Ok((plain, rich))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::OsSecrets;

    fn sealer() -> SecretBox {
        SecretBox::new(&[5u8; 32]).unwrap()
    }

    const VARS: &[(&str, &str)] = &[
        ("name", "Ada <script>"),
        ("when", "2027-01-01T00:00:00Z"),
        ("issuer", "Acme & Co"),
        ("method", "security key"),
    ];

    #[test]
    fn a_queued_mail_is_sealed_and_opens_for_its_recipient_only() {
        let b = sealer();
        let m = email_message(
            &b,
            &OsSecrets,
            "ada@example.com",
            "Two-step verification is now on",
            "two_step_enabled",
            VARS,
        )
        .unwrap();
        assert_eq!(m.channel, "email");
        assert_eq!(m.subject, "Two-step verification is now on");
        assert!(!m.body.contains("Ada"), "sealed");
        let QueuedMail::Template(c) = open_email_body(&b, "ada@example.com", &m.body).unwrap()
        else {
            panic!("not a template")
        };
        assert_eq!(c.template, "two_step_enabled");
        assert_eq!(c.vars["name"], "Ada <script>");
        assert!(!format!("{c:?}").contains("Ada"), "Debug hides values");
        assert_eq!(
            open_email_body(&b, "eve@example.com", &m.body),
            Err(CryptoError::WrongKey)
        );
    }

    #[test]
    fn unknown_templates_and_missing_variables_are_refused_when_queued() {
        let b = sealer();
        assert!(email_message(&b, &OsSecrets, "a@example.com", "s", "nope", VARS).is_err());
        let e = email_message(
            &b,
            &OsSecrets,
            "a@example.com",
            "s",
            "two_step_enabled",
            &[("name", "x")],
        )
        .unwrap_err();
        assert!(
            matches!(&e, CoreError::Internal(m) if m.contains("no value")),
            "{e:?}"
        );
    }

    #[test]
    fn unsealed_rows_of_earlier_versions_are_told_apart() {
        let b = sealer();
        let old = "Hello Ada,\n\nTwo-step verification was turned off.\n";
        assert_eq!(
            open_email_body(&b, "a@example.com", old),
            Ok(QueuedMail::Legacy(old.into()))
        );
        assert!(open_email_body(&b, "a@example.com", "").is_err());
    }

    #[test]
    fn both_parts_render_in_the_layout_and_html_is_escaped() {
        let vars: BTreeMap<String, String> = VARS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let t = builtin("two_step_enabled").unwrap();
        let (text, html) = render_parts("On & <b>", t.text, t.html, &LAYOUT, &vars).unwrap();
        assert!(text.starts_with("Hello Ada <script>,"), "{text}");
        assert!(text.contains("Acme & Co"), "{text}");
        assert!(text.contains("Replies are not read"), "{text}");
        assert!(html.contains("Hello Ada &lt;script&gt;,"), "{html}");
        assert!(html.contains("Acme &amp; Co"), "{html}");
        assert!(html.contains("<title>On &amp; &lt;b&gt;</title>"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
    }
}
