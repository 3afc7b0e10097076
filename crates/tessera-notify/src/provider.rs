//! What an SMS provider is asked to send, and how any provider says that
//! it failed.

use async_trait::async_trait;
use std::fmt;

/// One text message, ready to send.
#[derive(Clone, PartialEq, Eq)]
pub struct SmsMessage {
    /// The recipient in E.164 form, e.g. `+15550100`.
    pub to: String,
    /// The text; usually holds a one-time code, so it is kept out of `Debug`.
    pub text: String,
    /// The same on every attempt of one outbox message
    /// (`tessera-outbox-<id>`), so a provider can drop duplicates.
    pub idempotency_key: String,
}

impl fmt::Debug for SmsMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmsMessage")
            .field("to", &self.to)
            .field("text", &"<redacted>")
            .field("idempotency_key", &self.idempotency_key)
            .finish()
    }
}

/// Why a message was not sent. The text never appears in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Worth trying again later: a network error, a timeout, `408`, `429`
    /// or a `5xx` answer.
    #[error("{0}")]
    Retryable(String),
    /// Trying again would fail the same way: any other `4xx` answer, or a
    /// message the provider cannot express.
    #[error("{0}")]
    Permanent(String),
    /// The provider may have accepted the message: the connection failed
    /// after the whole message was handed over, before its answer came.
    /// Not retried, so nobody gets it twice; the outbox keeps the reason.
    #[error("{0}")]
    Uncertain(String),
}

impl DeliveryError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, DeliveryError::Retryable(_))
    }
}

/// Sorts an HTTP status into success, retryable or permanent failure.
/// Redirects are not followed and count as retryable, so a moved endpoint
/// can be fixed in the configuration before messages are given up.
pub fn classify_status(status: u16) -> Result<(), DeliveryError> {
    match status {
        200..=299 => Ok(()),
        408 | 429 => Err(DeliveryError::Retryable(format!("HTTP {status}"))),
        400..=499 => Err(DeliveryError::Permanent(format!("HTTP {status}"))),
        500..=599 => Err(DeliveryError::Retryable(format!("HTTP {status}"))),
        _ => Err(DeliveryError::Retryable(format!(
            "HTTP {status} (redirects are not followed)"
        ))),
    }
}

/// Something that sends text messages.
#[async_trait]
pub trait SmsProvider: Send + Sync + 'static {
    /// Sends one message. `Ok` means the provider accepted it.
    async fn send(&self, msg: &SmsMessage) -> Result<(), DeliveryError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_sort_into_retryable_and_permanent() {
        assert_eq!(classify_status(200), Ok(()));
        assert_eq!(classify_status(204), Ok(()));
        for s in [408, 429, 500, 502, 503, 504, 301, 302] {
            assert!(classify_status(s).unwrap_err().is_retryable(), "{s}");
        }
        for s in [400, 401, 403, 404, 410, 413, 422] {
            assert!(!classify_status(s).unwrap_err().is_retryable(), "{s}");
        }
        assert_eq!(
            classify_status(503).unwrap_err().to_string(),
            "HTTP 503".to_string()
        );
    }

    #[test]
    fn debug_hides_the_text() {
        let m = SmsMessage {
            to: "+15550100".into(),
            text: "Your code is 123456".into(),
            idempotency_key: "tessera-outbox-1".into(),
        };
        let d = format!("{m:?}");
        assert!(!d.contains("123456"), "{d}");
        assert!(d.contains("+15550100"));
    }
}
