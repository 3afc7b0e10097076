//! The storage the domain needs, as narrow traits split by aggregate.
//!
//! Each backend implements every trait; one conformance suite checks them
//! all. Races are decided inside these calls by the database (a unique
//! index, a conditional update), never by a read followed by a write here.

use crate::account::{Account, Role};
use crate::audit::{AuditEvent, AuditFilter, NewAuditEvent};
use crate::clock::Timestamp;
use crate::email::Email;
use crate::ids::{AccountId, SessionId};
use crate::session::{Aal, AuthMethod, Session};
use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken (e.g. the email is taken).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Stored data could not be read back into a domain value.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Other(String),
}

#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Inserts; `Conflict` if the email is taken.
    async fn insert_account(&self, account: &Account) -> Result<(), StoreError>;
    async fn account_by_id(&self, id: AccountId) -> Result<Option<Account>, StoreError>;
    async fn account_by_email(&self, email: &Email) -> Result<Option<Account>, StoreError>;
    /// Accounts ordered by email.
    async fn list_accounts(&self, offset: u32, limit: u32) -> Result<Vec<Account>, StoreError>;
    async fn count_accounts(&self) -> Result<u64, StoreError>;
    /// Returns false if there is no such account.
    async fn set_password_hash(
        &self,
        id: AccountId,
        hash: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Replaces the hash only if it is still `old`: a rehash at sign-in
    /// must not overwrite a password changed meanwhile.
    async fn replace_password_hash(
        &self,
        id: AccountId,
        old: &str,
        new: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    async fn set_role(&self, id: AccountId, role: Role, now: Timestamp)
    -> Result<bool, StoreError>;
    async fn set_active(
        &self,
        id: AccountId,
        active: bool,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Stores a one-time break-glass password hash, replacing any earlier one.
    async fn set_break_glass(
        &self,
        id: AccountId,
        hash: &str,
        expires_at: Timestamp,
    ) -> Result<bool, StoreError>;
    /// The pending break-glass hash, if any and not expired.
    async fn break_glass(
        &self,
        id: AccountId,
        now: Timestamp,
    ) -> Result<Option<String>, StoreError>;
    /// Consumes the break-glass password if it is still `hash`. Exactly
    /// one of many parallel callers gets `true`.
    async fn consume_break_glass(&self, id: AccountId, hash: &str) -> Result<bool, StoreError>;
}

/// What is written when a session starts.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub session: Session,
    pub token_hash: Vec<u8>,
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn insert_session(&self, new: &NewSession) -> Result<(), StoreError>;
    /// The session with this token hash and its account.
    async fn session_by_token(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<(Session, Account)>, StoreError>;
    async fn touch_session(&self, id: SessionId, now: Timestamp) -> Result<(), StoreError>;
    /// Gives the session a new token (and new assurance), so a token seen
    /// before a privilege change is worthless after it. False if the
    /// session no longer exists.
    async fn rotate_session(
        &self,
        id: SessionId,
        new_token_hash: &[u8],
        aal: Aal,
        methods: &[AuthMethod],
        verified_at: Timestamp,
    ) -> Result<bool, StoreError>;
    /// The account's sessions, newest first, including expired ones not yet
    /// swept; callers filter by liveness.
    async fn sessions_of(&self, account: AccountId) -> Result<Vec<Session>, StoreError>;
    /// Ends one of the account's sessions; false if it was not theirs.
    async fn delete_session(&self, account: AccountId, id: SessionId) -> Result<bool, StoreError>;
    /// Ends every session of the account except `keep`.
    async fn delete_sessions_except(
        &self,
        account: AccountId,
        keep: Option<SessionId>,
    ) -> Result<u64, StoreError>;
    /// Removes sessions whose absolute expiry or idle limit has passed.
    async fn sweep_sessions(
        &self,
        now: Timestamp,
        idle_cutoff: Timestamp,
    ) -> Result<u64, StoreError>;
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn append_audit(&self, at: Timestamp, event: &NewAuditEvent) -> Result<(), StoreError>;
    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError>;
}

/// Everything a Tessera node needs from its database.
#[async_trait]
pub trait Store: AccountStore + SessionStore + AuditStore {
    /// "sqlite" or "postgres".
    fn backend(&self) -> &'static str;
    /// Succeeds when the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
}
