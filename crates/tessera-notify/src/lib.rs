//! Delivery of text messages (SMS) and mail from Tessera's durable outbox.
//!
//! The domain writes a message to the database outbox in the same place as
//! the change it belongs to (a texted code is queued with the code itself,
//! a notification with the change it reports), then
//! `tessera_core::service::Core::wake_outbox` pokes the workers. One
//! [`OutboxWorker`] per channel claims due messages and hands each to its
//! [`Channel`], which opens the sealed body and calls its provider:
//!
//! - text messages ([`SmsChannel`]): [`WebhookSms`] POSTs JSON to an
//!   HTTP(S) endpoint (an SMS gateway or a relay in front of one);
//!   [`FileSink`] appends them to a file, for development;
//! - mail ([`EmailChannel`]): [`SmtpMailer`] sends to an SMTP server;
//!   [`MailFiles`] writes `.eml` files, for development.
//!
//! Several workers, in one process or on many nodes sharing PostgreSQL, may
//! run at once: the store's claim gives each message to one worker at a
//! time, and every attempt carries the same identity (`Idempotency-Key`,
//! `Message-ID`).

mod channel;
mod email;
mod file_sink;
mod provider;
mod template;
mod webhook;
mod worker;

pub use channel::{Channel, SmsChannel, is_e164};
pub use email::{
    EmailChannel, EmailMessage, EmailProvider, MailFiles, MailTemplates, SmtpConfig, SmtpMailer,
    message_id, parse_from,
};
pub use file_sink::FileSink;
/// The address type of [`EmailMessage`] and [`parse_from`].
pub use lettre::message::Mailbox;
pub use provider::{DeliveryError, SmsMessage, SmsProvider, classify_status};
pub use template::{BodyTemplate, DEFAULT_TEMPLATE};
pub use webhook::{AuthHeader, ConfigError, WebhookConfig, WebhookSms};
pub use worker::{OutboxWorker, Pass, RetryPolicy, WorkerConfig, WorkerHandle};
