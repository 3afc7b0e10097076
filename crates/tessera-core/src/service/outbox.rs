//! Queuing text messages for delivery, and waking the delivery worker so a
//! one-time code leaves at once instead of at the worker's next poll.

use super::Core;
use crate::outbox::{SMS_CHANNEL, seal_sms_body};
use crate::store::StoreError;

impl Core {
    /// Queues a text message to `to` (an E.164 number such as
    /// `+15550100`), sealed at rest, and wakes the delivery worker.
    pub async fn queue_sms(&self, to: &str, text: &str) -> Result<(), StoreError> {
        let body = seal_sms_body(&self.secret_box, self.secrets.as_ref(), to, text);
        self.store
            .enqueue(SMS_CHANNEL, to, "", &body, self.clock.now())
            .await?;
        self.wake_outbox();
        Ok(())
    }

    /// Tells this process's delivery worker to look at the outbox now. Cheap;
    /// a wake while the worker is busy is remembered, not lost. Workers on
    /// other nodes still find the message at their next poll.
    pub fn wake_outbox(&self) {
        self.outbox_wake.notify_one();
    }
}
