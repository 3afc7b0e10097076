//! [`OutboxWorker`]: claims due text messages from the outbox, sends them
//! through an [`SmsProvider`] and records each outcome.
//!
//! ```text
//!   poll tick or wake ──> claim_due("sms", now, lease) ──(none)──> wait
//!                                 │ each claimed message, concurrently:
//!        older than max age, body does not open, bad number ──> abandoned
//!                           provider.send(to, text, key)
//!          Ok ──────────> mark_delivered   (body cleared)
//!          Retryable ───> mark_failed      (due again after the backoff),
//!                         or abandoned when that would pass the max age
//!          Permanent ───> mark_abandoned   (body cleared, reason kept)
//! ```
//!
//! A claim leases the message for `lease_ms`, well beyond the provider's own
//! timeout, so no other worker (on any node) sends it meanwhile; each
//! outcome is recorded only if the message is still at that claim's attempt.
//! If a node dies between sending and recording, the message is sent again
//! after the lease with the same `Idempotency-Key`, which a provider that
//! honours it uses to drop the duplicate.
//!
//! Scheduling uses the injected [`Clock`] only; the tokio timer merely
//! paces the polling.

use crate::provider::{DeliveryError, SmsMessage, SmsProvider};
use std::sync::Arc;
use std::time::Duration;
use tessera_core::Clock;
use tessera_core::crypto::SecretBox;
use tessera_core::outbox::{SMS_CHANNEL, idempotency_key, open_sms_body};
use tessera_core::store::{OutboxMessage, OutboxStore, StoreError};
use tokio::sync::{Notify, watch};
use tokio::task::{JoinHandle, JoinSet};

/// When to try again, and when to stop trying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the first failed attempt; doubled after each further one.
    pub first_delay_ms: i64,
    /// The longest wait between two attempts.
    pub max_delay_ms: i64,
    /// A message not delivered this long after it was queued is abandoned:
    /// the one-time code in it has long expired.
    pub max_age_ms: i64,
}

impl Default for RetryPolicy {
    /// 2 s, 4 s, 8 s … up to 10 min between attempts; abandoned after 24 h.
    fn default() -> Self {
        RetryPolicy {
            first_delay_ms: 2_000,
            max_delay_ms: 600_000,
            max_age_ms: 24 * 3_600_000,
        }
    }
}

impl RetryPolicy {
    /// The wait after attempt number `attempt` (1 for the first) failed.
    pub fn delay_after(&self, attempt: i32) -> i64 {
        let doublings = attempt.saturating_sub(1).clamp(0, 40) as u32;
        self.first_delay_ms
            .saturating_mul(1_i64 << doublings)
            .min(self.max_delay_ms)
    }
}

/// How the worker paces itself.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// How often the outbox is looked at without a wake (default 500 ms).
    pub poll_interval: Duration,
    /// How long a claim keeps other workers away (default 60 s). Must be
    /// well above the provider's timeout (the webhook's is 10 s).
    pub lease_ms: i64,
    /// Messages claimed, and sent concurrently, at once (default 16).
    pub batch: u32,
    pub retry: RetryPolicy,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            poll_interval: Duration::from_millis(500),
            lease_ms: 60_000,
            batch: 16,
            retry: RetryPolicy::default(),
        }
    }
}

/// What one pass over the outbox did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    pub claimed: usize,
    pub delivered: usize,
    pub retrying: usize,
    pub abandoned: usize,
    /// Outcomes not recorded: the claim had lapsed, or the store failed.
    pub unrecorded: usize,
}

enum Outcome {
    Delivered,
    Retrying,
    Abandoned,
    Unrecorded,
}

/// Delivers the outbox's `sms` messages; see the module documentation.
#[derive(Clone)]
pub struct OutboxWorker {
    store: Arc<dyn OutboxStore>,
    provider: Arc<dyn SmsProvider>,
    secret_box: Arc<SecretBox>,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
    config: WorkerConfig,
}

impl OutboxWorker {
    pub fn new(
        store: Arc<dyn OutboxStore>,
        provider: Arc<dyn SmsProvider>,
        secret_box: Arc<SecretBox>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        OutboxWorker {
            store,
            provider,
            secret_box,
            clock,
            wake: Arc::new(Notify::new()),
            config: WorkerConfig::default(),
        }
    }

    pub fn with_config(mut self, config: WorkerConfig) -> Self {
        self.config = config;
        self
    }

    /// Listens to `wake` (e.g. `Core::outbox_wake`) instead of its own.
    pub fn with_wake(mut self, wake: Arc<Notify>) -> Self {
        self.wake = wake;
        self
    }

    /// `notify_one()` on this makes the running worker look at the outbox
    /// at once; a wake while it is busy is kept for its next wait.
    pub fn wake_handle(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Claims one batch of due messages and settles each of them.
    pub async fn run_once(&self) -> Result<Pass, StoreError> {
        let now = self.clock.now();
        let claimed = self
            .store
            .claim_due(SMS_CHANNEL, now, self.config.lease_ms, self.config.batch)
            .await?;
        let mut pass = Pass {
            claimed: claimed.len(),
            ..Pass::default()
        };
        let mut sends = JoinSet::new();
        for msg in claimed {
            let worker = self.clone();
            sends.spawn(async move { worker.deliver(msg).await });
        }
        while let Some(done) = sends.join_next().await {
            match done {
                Ok(Ok(Outcome::Delivered)) => pass.delivered += 1,
                Ok(Ok(Outcome::Retrying)) => pass.retrying += 1,
                Ok(Ok(Outcome::Abandoned)) => pass.abandoned += 1,
                Ok(Ok(Outcome::Unrecorded)) => pass.unrecorded += 1,
                Ok(Err(e)) => {
                    // The message stays leased and is tried again after it.
                    tracing::warn!(error = %e, "SMS outbox: cannot record an outcome");
                    pass.unrecorded += 1;
                }
                Err(e) => {
                    tracing::error!(error = %e, "SMS outbox: a delivery task failed");
                    pass.unrecorded += 1;
                }
            }
        }
        Ok(pass)
    }

    /// Runs until the returned handle is shut down (or dropped).
    pub fn spawn(self) -> WorkerHandle {
        let (stop, stopped) = watch::channel(false);
        WorkerHandle {
            stop,
            task: tokio::spawn(self.run(stopped)),
        }
    }

    async fn run(self, mut stop: watch::Receiver<bool>) {
        tracing::debug!("SMS delivery worker started");
        loop {
            if *stop.borrow() {
                break;
            }
            let full = match self.run_once().await {
                Ok(pass) => pass.claimed >= self.config.batch as usize,
                Err(e) => {
                    tracing::warn!(error = %e, "SMS outbox: cannot claim messages");
                    false
                }
            };
            if full {
                // More may be due already; the stop flag is checked first.
                continue;
            }
            tokio::select! {
                changed = stop.changed() => if changed.is_err() { break },
                _ = self.wake.notified() => {},
                _ = tokio::time::sleep(self.config.poll_interval) => {},
            }
        }
        tracing::debug!("SMS delivery worker stopped");
    }

    async fn deliver(&self, msg: OutboxMessage) -> Result<Outcome, StoreError> {
        let attempt = msg.attempts;
        let retry = &self.config.retry;
        let now = self.clock.now();
        if now.millis().saturating_sub(msg.created_at.millis()) > retry.max_age_ms {
            return self
                .abandon(
                    &msg,
                    &format!("not delivered within {} s", retry.max_age_ms / 1000),
                )
                .await;
        }
        if now >= msg.next_attempt_at {
            // The lease ran out before we got here (a stalled store or
            // process): another worker may hold it now.
            return Ok(Outcome::Unrecorded);
        }
        let text = match open_sms_body(&self.secret_box, &msg.recipient, &msg.body) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(id = msg.id, error = %e, "SMS body does not open with this server's key");
                return self
                    .abandon(&msg, "the body does not open with this server's key")
                    .await;
            }
        };
        if !is_e164(&msg.recipient) {
            return self
                .abandon(&msg, "the recipient is not an E.164 phone number")
                .await;
        }
        let sms = SmsMessage {
            to: msg.recipient.clone(),
            text,
            idempotency_key: idempotency_key(msg.id),
        };
        let sent = self.provider.send(&sms).await;
        drop(sms);
        let now = self.clock.now();
        match sent {
            Ok(()) => {
                if self.store.mark_delivered(msg.id, attempt, now).await? {
                    tracing::info!(id = msg.id, attempt, "SMS delivered");
                    Ok(Outcome::Delivered)
                } else {
                    tracing::warn!(
                        id = msg.id,
                        attempt,
                        "SMS sent after its claim lapsed; another worker may send it again \
                         with the same Idempotency-Key"
                    );
                    Ok(Outcome::Unrecorded)
                }
            }
            Err(DeliveryError::Permanent(e)) => {
                self.abandon(&msg, &format!("{e} (not retried)")).await
            }
            Err(DeliveryError::Retryable(e)) => {
                let wait = retry.delay_after(attempt);
                let next = now.plus_millis(wait);
                if next.millis().saturating_sub(msg.created_at.millis()) > retry.max_age_ms {
                    return self
                        .abandon(&msg, &format!("gave up after {attempt} attempts: {e}"))
                        .await;
                }
                if self.store.mark_failed(msg.id, attempt, next, &e).await? {
                    tracing::warn!(id = msg.id, attempt, error = %e, retry_in_ms = wait, "SMS not delivered; will retry");
                    Ok(Outcome::Retrying)
                } else {
                    Ok(Outcome::Unrecorded)
                }
            }
        }
    }

    async fn abandon(&self, msg: &OutboxMessage, reason: &str) -> Result<Outcome, StoreError> {
        if self
            .store
            .mark_abandoned(msg.id, msg.attempts, reason)
            .await?
        {
            tracing::error!(id = msg.id, attempt = msg.attempts, reason, "SMS abandoned");
            Ok(Outcome::Abandoned)
        } else {
            Ok(Outcome::Unrecorded)
        }
    }
}

/// A running worker. Dropping it stops the worker too; prefer
/// [`WorkerHandle::shutdown`], which waits for sends in flight.
#[must_use = "dropping the handle stops the worker"]
pub struct WorkerHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl WorkerHandle {
    /// Stops taking new messages, lets the sends in flight finish (each is
    /// bounded by the provider's timeout) and waits for the worker; after
    /// `grace` it is aborted, and what it held is retried after the lease.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        let mut task = self.task;
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            task.abort();
            tracing::warn!("SMS delivery worker did not stop in time; aborted");
        }
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
    fn backoff_doubles_from_two_seconds_to_ten_minutes() {
        let r = RetryPolicy::default();
        let waits: Vec<i64> = (1..=11).map(|a| r.delay_after(a)).collect();
        assert_eq!(
            waits,
            vec![
                2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 512_000, 600_000,
                600_000
            ]
        );
        assert_eq!(r.delay_after(0), 2_000);
        assert_eq!(r.delay_after(i32::MAX), 600_000);
    }

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
