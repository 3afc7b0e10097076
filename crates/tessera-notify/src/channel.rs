//! [`Channel`]: what the one [`crate::OutboxWorker`] loop needs to know
//! about a kind of message (text or mail): which outbox rows are its own,
//! and how one row is opened, checked and handed to its provider.
//!
//! Each channel has its own provider trait ([`SmsProvider`],
//! [`crate::EmailProvider`]) because the two carry different things; the
//! claiming, leasing, retrying and recording are the same and live in the
//! worker once.

use crate::provider::{DeliveryError, SmsMessage, SmsProvider};
use async_trait::async_trait;
use std::sync::Arc;
use tessera_core::crypto::SecretBox;
use tessera_core::outbox::{SMS_CHANNEL, idempotency_key, open_sms_body};
use tessera_core::store::OutboxMessage;

/// One kind of message the worker delivers.
#[async_trait]
pub trait Channel: Send + Sync + 'static {
    /// The outbox channel whose rows this delivers (`"sms"`, `"email"`).
    fn name(&self) -> &'static str;
    /// Opens one claimed row and sends it. A row that cannot be opened or
    /// addressed is a [`DeliveryError::Permanent`] failure.
    async fn deliver(&self, msg: &OutboxMessage) -> Result<(), DeliveryError>;
}

/// Text messages: the sealed body is the text, the recipient an E.164
/// number.
pub struct SmsChannel {
    provider: Arc<dyn SmsProvider>,
    secret_box: Arc<SecretBox>,
}

impl SmsChannel {
    pub fn new(provider: Arc<dyn SmsProvider>, secret_box: Arc<SecretBox>) -> Self {
        SmsChannel {
            provider,
            secret_box,
        }
    }
}

#[async_trait]
impl Channel for SmsChannel {
    fn name(&self) -> &'static str {
        SMS_CHANNEL
    }

    async fn deliver(&self, msg: &OutboxMessage) -> Result<(), DeliveryError> {
        let text = open_sms_body(&self.secret_box, &msg.recipient, &msg.body).map_err(|_| {
            DeliveryError::Permanent("the body does not open with this server's key".into())
        })?;
        if !is_e164(&msg.recipient) {
            return Err(DeliveryError::Permanent(
                "the recipient is not an E.164 phone number".into(),
            ));
        }
        let sms = SmsMessage {
            to: msg.recipient.clone(),
            text,
            idempotency_key: idempotency_key(msg.id),
        };
        self.provider.send(&sms).await
    }
}

/// `+` and 6 to 15 digits, the first not 0: the E.164 shape.
pub fn is_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else {
        return false;
    };
    (6..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_shape() {
        for ok in ["+15550100", "+447700900123", "+4930123456"] {
            assert!(is_e164(ok), "{ok}");
        }
        for bad in [
            "15550100",
            "+0155501",
            "+1 555 0100",
            "+12345",
            "+1234567890123456",
            "",
        ] {
            assert!(!is_e164(bad), "{bad}");
        }
    }
}
