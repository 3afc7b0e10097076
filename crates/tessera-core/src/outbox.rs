//! Text messages (SMS) in the durable outbox: how their bodies are sealed.
//!
//! An SMS body usually carries a one-time code, so it is never stored in
//! clear: the enqueuer seals it with the server's [`SecretBox`], bound to
//! the recipient, and the delivery worker opens it just before sending.
//! Both sides use these two functions so the format lives in one place:
//! `body = base64(seal(text, aad = "outbox:sms:<recipient>"))`.

use crate::crypto::{CryptoError, SecretBox};
use crate::secrets::SecretSource;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The outbox channel of text messages.
pub const SMS_CHANNEL: &str = "sms";

/// The associated data that binds a sealed body to its recipient, so a
/// body copied to another row (another phone number) does not open.
pub fn sms_aad(recipient: &str) -> String {
    format!("outbox:sms:{recipient}")
}

/// Seals `text` for `recipient` into the string stored in `outbox.body`.
pub fn seal_sms_body(
    secret_box: &SecretBox,
    secrets: &dyn SecretSource,
    recipient: &str,
    text: &str,
) -> String {
    let sealed = secret_box.seal(secrets, text.as_bytes(), sms_aad(recipient).as_bytes());
    STANDARD.encode(sealed)
}

/// Opens a body written by [`seal_sms_body`] for the same recipient.
pub fn open_sms_body(
    secret_box: &SecretBox,
    recipient: &str,
    body: &str,
) -> Result<String, CryptoError> {
    let sealed = STANDARD.decode(body).map_err(|_| CryptoError::Malformed)?;
    let plain = secret_box.open(&sealed, sms_aad(recipient).as_bytes())?;
    String::from_utf8(plain).map_err(|_| CryptoError::Malformed)
}

/// The idempotency key a provider sees for outbox message `id`: the same
/// on every attempt, so a provider that honours it drops the duplicate a
/// retry after a lost answer would otherwise send.
pub fn idempotency_key(id: i64) -> String {
    format!("tessera-outbox-{id}")
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
}
