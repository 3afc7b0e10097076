//! Waking the delivery workers, so a one-time code queued (sealed, with
//! its code, in one transaction: see `service::sms`) or a notification
//! leaves at once instead of at the worker's next poll.

use super::Core;

impl Core {
    /// Tells this process's delivery workers (every channel) to look at the
    /// outbox now. Cheap; a wake while a worker is busy is remembered, not
    /// lost. Workers on other nodes still find the message at their next poll.
    pub fn wake_outbox(&self) {
        self.outbox_wake.wake();
    }
}
