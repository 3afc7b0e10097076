//! Notifications to an account's owner, written to the durable outbox in
//! the database; a delivery worker sends them (the email feature).

use super::Core;
use crate::account::Account;

impl Core {
    /// Queues an email to the account. A failure is logged, not returned:
    /// the change it reports has already happened.
    pub(crate) async fn notify(&self, account: &Account, subject: &str, body: &str) {
        let now = self.clock.now();
        let body = format!(
            "Hello {},\n\n{body}\n\nWhen: {}\n\nIf this was not you, sign in and review your Security page now, \
             or contact your administrator.\n",
            if account.display_name.is_empty() {
                account.email.as_str()
            } else {
                account.display_name.as_str()
            },
            now.to_rfc3339()
        );
        if let Err(e) = self
            .store
            .enqueue("email", account.email.as_str(), subject, &body, now)
            .await
        {
            tracing::error!(error = %e, "could not queue notification");
        }
    }
}
