//! What "reset sessions" of an organization's external user policy would
//! do now, in the words its confirmation shows: how many people, and how
//! many of their web sessions.

use super::{Core, OrgAdmin};
use crate::error::CoreError;
use std::collections::HashSet;

/// The live web sessions of the organization's external users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResetPreview {
    /// Distinct external users signed in on the web.
    pub users: u64,
    pub sessions: u64,
}

impl Core {
    pub async fn reset_preview_counts(&self, admin: &OrgAdmin) -> Result<ResetPreview, CoreError> {
        let now = self.clock.now();
        let policy = &self.config.session_policy;
        let live: Vec<_> = self
            .store
            .external_web_sessions(admin.org())
            .await?
            .into_iter()
            .filter(|s| s.is_live(policy, now))
            .collect();
        let users: HashSet<_> = live.iter().map(|s| s.account_id).collect();
        Ok(ResetPreview {
            users: users.len() as u64,
            sessions: live.len() as u64,
        })
    }
}
