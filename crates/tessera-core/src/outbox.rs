//! The durable outbox: how queued bodies are sealed, per channel, and how
//! this process's delivery workers are woken.
//!
//! A body usually carries a one-time code, so it is never stored in clear:
//! the enqueuer seals it with the server's [`SecretBox`], bound to its
//! channel and recipient, and the delivery worker opens it just before
//! sending. Both sides use [`seal_body`] and [`open_body`], so the format
//! lives in one place:
//! `body = base64(seal(text, aad = "outbox:<channel>:<recipient>"))`.
//! Text messages have used this format from the start (`outbox:sms:…`), so
//! rows queued by earlier versions still open. Mail bodies are built by
//! [`crate::mail`] on top of it.

use crate::crypto::{CryptoError, SecretBox};
use crate::secrets::SecretSource;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::sync::Arc;
use tokio::sync::watch;

/// The outbox channel of text messages.
pub const SMS_CHANNEL: &str = "sms";
/// The outbox channel of mail.
pub const EMAIL_CHANNEL: &str = "email";

/// The associated data that binds a sealed body to its channel and
/// recipient, so a body copied to another row (another address or phone
/// number, or the other channel) does not open.
pub fn body_aad(channel: &str, recipient: &str) -> String {
    format!("outbox:{channel}:{recipient}")
}

/// Seals `text` for `recipient` on `channel` into the string stored in
/// `outbox.body`.
pub fn seal_body(
    secret_box: &SecretBox,
    secrets: &dyn SecretSource,
    channel: &str,
    recipient: &str,
    text: &str,
) -> String {
    let aad = body_aad(channel, recipient);
    STANDARD.encode(secret_box.seal(secrets, text.as_bytes(), aad.as_bytes()))
}

/// Opens a body written by [`seal_body`] for the same channel and recipient.
pub fn open_body(
    secret_box: &SecretBox,
    channel: &str,
    recipient: &str,
    body: &str,
) -> Result<String, CryptoError> {
    let sealed = STANDARD.decode(body).map_err(|_| CryptoError::Malformed)?;
    let plain = secret_box.open(&sealed, body_aad(channel, recipient).as_bytes())?;
    String::from_utf8(plain).map_err(|_| CryptoError::Malformed)
}

/// [`seal_body`] for a text message.
pub fn seal_sms_body(
    secret_box: &SecretBox,
    secrets: &dyn SecretSource,
    recipient: &str,
    text: &str,
) -> String {
    seal_body(secret_box, secrets, SMS_CHANNEL, recipient, text)
}

/// [`open_body`] for a text message.
pub fn open_sms_body(
    secret_box: &SecretBox,
    recipient: &str,
    body: &str,
) -> Result<String, CryptoError> {
    open_body(secret_box, SMS_CHANNEL, recipient, body)
}

/// The idempotency key a provider sees for outbox message `id`: the same
/// on every attempt, so a provider that honours it drops the duplicate a
/// retry after a lost answer would otherwise send.
pub fn idempotency_key(id: i64) -> String {
    format!("tessera-outbox-{id}")
}

/// Wakes every delivery worker of this process (one per channel) at once.
///
/// A counter in a `watch` channel: each worker keeps its own receiver, so
/// one wake reaches all of them, and a wake while a worker is busy is seen
/// at its next wait rather than lost.
#[derive(Clone)]
pub struct OutboxWake(Arc<watch::Sender<u64>>);

impl OutboxWake {
    pub fn new() -> Self {
        OutboxWake(Arc::new(watch::Sender::new(0)))
    }

    /// Asks every worker to look at the outbox now. Cheap.
    pub fn wake(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver whose `changed()` completes after the next wake.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}

impl Default for OutboxWake {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for OutboxWake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OutboxWake")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::OsSecrets;

    #[test]
    fn seals_for_one_recipient_only() {
        let b = SecretBox::new(&[3u8; 32]).unwrap();
        let body = seal_sms_body(&b, &OsSecrets, "+15550100", "Your code is 123456");
        assert!(!body.contains("123456"));
        assert_eq!(
            open_sms_body(&b, "+15550100", &body).unwrap(),
            "Your code is 123456"
        );
        assert_eq!(
            open_sms_body(&b, "+15550199", &body),
            Err(CryptoError::WrongKey)
        );
        assert_eq!(
            open_sms_body(&b, "+15550100", "not base64!"),
            Err(CryptoError::Malformed)
        );
        let other = SecretBox::new(&[4u8; 32]).unwrap();
        assert_eq!(
            open_sms_body(&other, "+15550100", &body),
            Err(CryptoError::WrongKey)
        );
        assert_eq!(idempotency_key(42), "tessera-outbox-42");
    }

    #[test]
    fn a_body_opens_on_its_own_channel_only() {
        let b = SecretBox::new(&[3u8; 32]).unwrap();
        let body = seal_body(&b, &OsSecrets, EMAIL_CHANNEL, "a@example.com", "hi");
        assert_eq!(
            open_body(&b, EMAIL_CHANNEL, "a@example.com", &body).unwrap(),
            "hi"
        );
        assert_eq!(
            open_body(&b, SMS_CHANNEL, "a@example.com", &body),
            Err(CryptoError::WrongKey)
        );
        // The SMS helpers are the general ones with the "sms" channel: the
        // format of rows queued by earlier versions is unchanged.
        let sms = seal_sms_body(&b, &OsSecrets, "+15550100", "x");
        assert_eq!(open_body(&b, SMS_CHANNEL, "+15550100", &sms).unwrap(), "x");
        assert_eq!(body_aad(SMS_CHANNEL, "+1"), "outbox:sms:+1");
    }

    #[tokio::test]
    async fn one_wake_reaches_every_worker_even_when_busy() {
        let wake = OutboxWake::new();
        let mut a = wake.subscribe();
        let mut b = wake.subscribe();
        wake.wake();
        // Neither was waiting when it happened; both see it.
        a.changed().await.unwrap();
        b.changed().await.unwrap();
        assert!(!a.has_changed().unwrap());
    }
}
