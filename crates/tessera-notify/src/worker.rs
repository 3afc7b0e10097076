//! [`OutboxWorker`]: claims due messages of one [`Channel`] (text
//! messages or mail) from the outbox, hands each to the channel and records
//! the outcome. The same loop serves every channel; a process runs one
//! worker per channel, so a slow mail server never holds up a text message.
//!
//! ```text
//!   poll tick or wake ──> claim_due(channel, now, lease) ──(none)──> wait
//!                                 │ each claimed message, concurrently:
//!                      older than max age ──> abandoned
//!                         channel.deliver(message)
//!          Ok ──────────> mark_delivered   (body cleared)
//!          Retryable ───> mark_failed      (due again after the backoff),
//!                         or abandoned when that would pass the max age
//!          Permanent ───> mark_abandoned   (body cleared, reason kept)
//!          Uncertain ───> mark_abandoned   (the provider may have it)
//! ```
//!
//! **Exactly once within a run, at least once across a crash.** A claim
//! leases the message for `lease_ms`, well beyond the provider's own
//! timeouts, so no other worker (on any node) sends it meanwhile, and each
//! outcome is recorded only if the message is still at that claim's
//! attempt. Only failures that prove the provider did not take the message
//! are retried (a refused connection, an SMTP `4xx` answer, an HTTP `5xx`);
//! a connection lost after the whole message was handed over is
//! [`DeliveryError::Uncertain`] and not retried, so a retry never sends a
//! message twice. The edge that remains: if the process dies after the
//! provider accepted a message and before `mark_delivered` is stored, the
//! message is claimed again after its lease and sent a second time. It
//! carries the same identity on every attempt (the `Idempotency-Key` of a
//! text message, the `Message-ID` of a mail), so a provider or mail client
//! that honours it shows it once.
//!
//! Scheduling uses the injected [`Clock`] only; the tokio timer merely
//! paces the polling.

use crate::channel::Channel;
use crate::provider::{DeliveryError, SmsProvider};
use std::sync::Arc;
use std::time::Duration;
use tessera_core::Clock;
use tessera_core::crypto::SecretBox;
use tessera_core::outbox::OutboxWake;
use tessera_core::store::{OutboxMessage, OutboxStore, StoreError};
use tokio::sync::watch;
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
    /// For mail: as the default, but kept for 5 days (what mail servers
    /// commonly keep a message they cannot pass on), so a long mail server
    /// outage delays notifications rather than dropping them.
    pub fn mail() -> Self {
        RetryPolicy {
            max_age_ms: 5 * 24 * 3_600_000,
            ..RetryPolicy::default()
        }
    }

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

/// Delivers the outbox messages of one channel; see the module documentation.
#[derive(Clone)]
pub struct OutboxWorker {
    store: Arc<dyn OutboxStore>,
    channel: Arc<dyn Channel>,
    clock: Arc<dyn Clock>,
    wake: OutboxWake,
    config: WorkerConfig,
}

impl OutboxWorker {
    pub fn new(
        store: Arc<dyn OutboxStore>,
        channel: Arc<dyn Channel>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        OutboxWorker {
            store,
            channel,
            clock,
            wake: OutboxWake::new(),
            config: WorkerConfig::default(),
        }
    }

    /// The worker of text messages, sent through `provider`.
    pub fn sms(
        store: Arc<dyn OutboxStore>,
        provider: Arc<dyn SmsProvider>,
        secret_box: Arc<SecretBox>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self::new(
            store,
            Arc::new(crate::channel::SmsChannel::new(provider, secret_box)),
            clock,
        )
    }

    pub fn with_config(mut self, config: WorkerConfig) -> Self {
        self.config = config;
        self
    }

    /// Listens to `wake` (e.g. `Core::outbox_wake`) instead of its own.
    pub fn with_wake(mut self, wake: OutboxWake) -> Self {
        self.wake = wake;
        self
    }

    /// `wake()` on this makes the running worker look at the outbox at
    /// once; a wake while it is busy is kept for its next wait.
    pub fn wake_handle(&self) -> OutboxWake {
        self.wake.clone()
    }

    /// The outbox channel this worker delivers.
    pub fn channel(&self) -> &'static str {
        self.channel.name()
    }

    /// Claims one batch of due messages and settles each of them.
    pub async fn run_once(&self) -> Result<Pass, StoreError> {
        let now = self.clock.now();
        let claimed = self
            .store
            .claim_due(
                self.channel.name(),
                now,
                self.config.lease_ms,
                self.config.batch,
            )
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
        let channel = self.channel.name();
        while let Some(done) = sends.join_next().await {
            match done {
                Ok(Ok(Outcome::Delivered)) => pass.delivered += 1,
                Ok(Ok(Outcome::Retrying)) => pass.retrying += 1,
                Ok(Ok(Outcome::Abandoned)) => pass.abandoned += 1,
                Ok(Ok(Outcome::Unrecorded)) => pass.unrecorded += 1,
                Ok(Err(e)) => {
                    // The message stays leased and is tried again after it.
                    tracing::warn!(channel, error = %e, "outbox: cannot record an outcome");
                    pass.unrecorded += 1;
                }
                Err(e) => {
                    tracing::error!(channel, error = %e, "outbox: a delivery task failed");
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
            channel: self.channel.name(),
            stop,
            task: tokio::spawn(self.run(stopped)),
        }
    }

    async fn run(self, mut stop: watch::Receiver<bool>) {
        let channel = self.channel.name();
        let mut woken = self.wake.subscribe();
        tracing::debug!(channel, "delivery worker started");
        loop {
            if *stop.borrow() {
                break;
            }
            let full = match self.run_once().await {
                Ok(pass) => pass.claimed >= self.config.batch as usize,
                Err(e) => {
                    tracing::warn!(channel, error = %e, "outbox: cannot claim messages");
                    false
                }
            };
            if full {
                // More may be due already; the stop flag is checked first.
                continue;
            }
            tokio::select! {
                changed = stop.changed() => if changed.is_err() { break },
                // The worker holds a sender (in `self.wake`), so this never
                // fails; a wake during the pass above completes it at once.
                _ = woken.changed() => {},
                _ = tokio::time::sleep(self.config.poll_interval) => {},
            }
        }
        tracing::debug!(channel, "delivery worker stopped");
    }

    async fn deliver(&self, msg: OutboxMessage) -> Result<Outcome, StoreError> {
        let channel = self.channel.name();
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
        let sent = self.channel.deliver(&msg).await;
        let now = self.clock.now();
        match sent {
            Ok(()) => {
                if self.store.mark_delivered(msg.id, attempt, now).await? {
                    tracing::info!(channel, id = msg.id, attempt, "message delivered");
                    Ok(Outcome::Delivered)
                } else {
                    tracing::warn!(
                        channel,
                        id = msg.id,
                        attempt,
                        "message sent after its claim lapsed; another worker may send it again \
                         with the same identity"
                    );
                    Ok(Outcome::Unrecorded)
                }
            }
            Err(DeliveryError::Permanent(e)) => {
                self.abandon(&msg, &format!("{e} (not retried)")).await
            }
            Err(DeliveryError::Uncertain(e)) => {
                self.abandon(
                    &msg,
                    &format!(
                        "{e}; the provider may have accepted it, so it is not retried \
                         (a retry could deliver it twice)"
                    ),
                )
                .await
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
                    tracing::warn!(channel, id = msg.id, attempt, error = %e, retry_in_ms = wait, "message not delivered; will retry");
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
            tracing::error!(
                channel = self.channel.name(),
                id = msg.id,
                attempt = msg.attempts,
                reason,
                "message abandoned"
            );
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
    channel: &'static str,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl WorkerHandle {
    /// Stops taking new messages, lets the sends in flight finish (each is
    /// bounded by the provider's timeout) and waits for the worker; after
    /// `grace` it is aborted, and what it held is retried after the lease.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        let channel = self.channel;
        let mut task = self.task;
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            task.abort();
            tracing::warn!(channel, "delivery worker did not stop in time; aborted");
        }
    }
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
}
