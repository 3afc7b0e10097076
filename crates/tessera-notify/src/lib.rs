//! Delivery of text messages (SMS) from Tessera's durable outbox.
//!
//! The domain writes a message to the database outbox in the same place as
//! the change it belongs to (a texted code is queued with the code itself,
//! then `tessera_core::service::Core::wake_outbox` pokes the worker);
//! an [`OutboxWorker`] claims due messages, opens their sealed bodies and
//! hands them to an [`SmsProvider`]:
//!
//! - [`WebhookSms`] POSTs JSON to an HTTP(S) endpoint (an SMS gateway or a
//!   small relay in front of one);
//! - [`FileSink`] appends them to a file, for development.
//!
//! Several workers, in one process or on many nodes sharing PostgreSQL, may
//! run at once: the store's claim gives each message to one worker at a
//! time, and every attempt carries the same `Idempotency-Key`.

mod file_sink;
mod provider;
mod template;
mod webhook;
mod worker;

pub use file_sink::FileSink;
pub use provider::{DeliveryError, SmsMessage, SmsProvider, classify_status};
pub use template::{BodyTemplate, DEFAULT_TEMPLATE};
pub use webhook::{AuthHeader, ConfigError, WebhookConfig, WebhookSms};
pub use worker::{OutboxWorker, Pass, RetryPolicy, WorkerConfig, WorkerHandle, is_e164};
