//! The export of an organization's external users as CSV, page by page:
//! the caller (an HTTP response body, the CLI) pulls one chunk at a time,
//! so however many users there are, one page is in memory at once.

use super::{Core, OrgAdmin, RequestContext};
use crate::audit::AuditKind;
use crate::error::CoreError;
use crate::ids::{AccountId, OrganizationId};
use crate::org_export::{PAGE_SIZE, csv_header, csv_rows};

/// An export under way. Each [`next_chunk`](Self::next_chunk) reads one
/// page from the database and answers its CSV text, the header first.
pub struct ExternalUsersExport {
    core: Core,
    org: OrganizationId,
    after: Option<AccountId>,
    header_written: bool,
    done: bool,
    total: u64,
    written: u64,
}

fn csv_failed(e: csv::Error) -> CoreError {
    CoreError::Internal(format!("csv: {e}"))
}

impl Core {
    /// Starts an export of the organization's external users. Audited: it
    /// hands out personal data.
    pub async fn export_external_users(
        &self,
        admin: &OrgAdmin,
        ctx: &RequestContext,
    ) -> Result<ExternalUsersExport, CoreError> {
        let total = self.store.count_external_users(admin.org()).await?;
        self.audit_org(
            admin,
            AuditKind::OrgExternalUsersExported,
            None,
            ctx,
            serde_json::json!({ "users": total }),
        )
        .await;
        Ok(ExternalUsersExport {
            core: self.clone(),
            org: admin.org(),
            after: None,
            header_written: false,
            done: false,
            total,
            written: 0,
        })
    }
}

impl ExternalUsersExport {
    /// How many external users there were when the export started (for a
    /// progress bar; users added meanwhile may be listed too).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// How many rows were handed out so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The next piece of the file; `None` once it is complete.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, CoreError> {
        if self.done {
            return Ok(None);
        }
        let mut chunk = if self.header_written {
            Vec::new()
        } else {
            self.header_written = true;
            csv_header().map_err(csv_failed)?
        };
        let now = self.core.clock.now();
        let page = self
            .core
            .store
            .external_users_page(self.org, self.after, PAGE_SIZE, now)
            .await?;
        if page.len() < PAGE_SIZE as usize {
            self.done = true;
        }
        chunk.extend(csv_rows(&page).map_err(csv_failed)?);
        self.written += page.len() as u64;
        self.after = page.last().map(|r| r.account_id).or(self.after);
        Ok(Some(chunk))
    }
}
