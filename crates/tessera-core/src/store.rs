//! The storage the domain needs, as narrow traits split by aggregate.
//!
//! Each backend implements every trait; one conformance suite checks them
//! all. Races are decided inside these calls by the database (a unique
//! index, a conditional update), never by a read followed by a write here.

use crate::account::{Account, Role};
use crate::audit::{AuditEvent, AuditFilter, NewAuditEvent};
use crate::clock::Timestamp;
use crate::email::Email;
use crate::ids::{AccountId, InvitationId, OrganizationId, SessionId};
use crate::session::{Aal, AuthMethod, Session};
use crate::twostep::methods::{Addition, Inventory, MethodKind, Removal};
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
    /// A condition the change depended on no longer held, so nothing of
    /// it was written (see [`Effects`]).
    #[error("stale: {0:?}")]
    Stale(Stale),
    #[error("database error: {0}")]
    Other(String),
}

/// Which condition of a change no longer held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stale {
    /// The session to re-issue ended meanwhile.
    Session,
    /// The recovery key being used was used (replaced) meanwhile.
    RecoveryKey,
}

/// The rest of a change, written in the change's own transaction: its
/// audit records, the mail that tells the account's owner, the sessions it
/// ends and the caller's session under a new token. A crash, or a request
/// dropped half way, then leaves all of it or none of it: never a method
/// without its audit event, or 2SV on with the other sessions still in.
///
/// The store applies the parts in this order, after the change itself and
/// only when it was made: `use_recovery_key`, `rotate` (either refusal
/// rolls everything back with [`StoreError::Stale`]), `end_sessions`,
/// `revoke_tokens`, `last_method`, `audit`, `mail`.
#[derive(Debug, Clone)]
pub struct Effects {
    /// The time of the audit records.
    pub at: Timestamp,
    pub audit: Vec<NewAuditEvent>,
    /// Messages for the outbox.
    pub mail: Vec<OutgoingMessage>,
    /// Ends the account's sessions, all but `keep` when given.
    pub end_sessions: Option<(AccountId, Option<SessionId>)>,
    /// Deletes the account's API tokens.
    pub revoke_tokens: Option<AccountId>,
    /// Adds `sessions_ended` and `tokens_revoked` (what the two above
    /// removed) to the details of every audit record.
    pub count_in_audit: bool,
    /// Gives the caller's session a new token and assurance.
    pub rotate: Option<Rotation>,
    /// Remembers the method that last completed a second step.
    pub last_method: Option<(AccountId, MethodKind)>,
    /// Uses a recovery key up: replaces its hash only where it is still
    /// the one that was verified.
    pub use_recovery_key: Option<RecoveryUse>,
}

impl Effects {
    /// Nothing but the change itself (seeding, store tests).
    pub fn none() -> Self {
        Effects::at(Timestamp(0))
    }

    /// Nothing yet; records are stamped `at`.
    pub fn at(at: Timestamp) -> Self {
        Effects {
            at,
            audit: Vec::new(),
            mail: Vec::new(),
            end_sessions: None,
            revoke_tokens: None,
            count_in_audit: false,
            rotate: None,
            last_method: None,
            use_recovery_key: None,
        }
    }

    pub fn audit(mut self, event: NewAuditEvent) -> Self {
        self.audit.push(event);
        self
    }

    /// Queues `mail` when there is one (a template that failed to render
    /// was logged where it failed; the change goes ahead without it).
    pub fn mail(mut self, mail: Option<OutgoingMessage>) -> Self {
        self.mail.extend(mail);
        self
    }

    pub fn end_sessions(mut self, account: AccountId, keep: Option<SessionId>) -> Self {
        self.end_sessions = Some((account, keep));
        self
    }

    pub fn rotate(mut self, rotation: Rotation) -> Self {
        self.rotate = Some(rotation);
        self
    }
}

/// What a change's effects removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    pub sessions_ended: u64,
    pub tokens_revoked: u64,
}

/// The effects of adding a method, by whether it turned out to be the
/// account's first: the store decides that under the account's lock.
#[derive(Debug, Clone)]
pub struct IfFirst {
    pub first: Effects,
    pub otherwise: Effects,
}

impl IfFirst {
    /// No effects either way (seeding, store tests).
    pub fn none() -> Self {
        IfFirst {
            first: Effects::none(),
            otherwise: Effects::none(),
        }
    }

    pub fn pick(&self, first: bool) -> &Effects {
        if first { &self.first } else { &self.otherwise }
    }
}

/// A session continuing under a new token (see [`SessionStore::rotate_session`]).
#[derive(Debug, Clone)]
pub struct Rotation {
    pub session: SessionId,
    pub token_hash: Vec<u8>,
    pub aal: Aal,
    pub methods: Vec<AuthMethod>,
    pub verified_at: Timestamp,
    pub restricted: bool,
}

/// A recovery key used up: `old_hash` (the one verified) becomes
/// `new_hash` (its successor's), unless a parallel use replaced it first.
#[derive(Debug, Clone)]
pub struct RecoveryUse {
    pub account: AccountId,
    pub old_hash: String,
    pub new_hash: String,
}

#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Inserts; `Conflict` if the email is taken.
    async fn insert_account(&self, account: &Account) -> Result<(), StoreError> {
        self.insert_account_with(account, &Effects::none()).await
    }
    /// Inserts with its effects, in one transaction.
    async fn insert_account_with(
        &self,
        account: &Account,
        effects: &Effects,
    ) -> Result<(), StoreError>;
    /// Inserts many accounts in one transaction (imports, benchmarks):
    /// all or none.
    async fn insert_accounts(&self, accounts: &[Account]) -> Result<(), StoreError>;
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
    ) -> Result<bool, StoreError> {
        self.set_password_hash_with(id, hash, now, &Effects::none())
            .await
    }
    /// As [`set_password_hash`](AccountStore::set_password_hash), with its
    /// effects in the same transaction (only when the account exists).
    async fn set_password_hash_with(
        &self,
        id: AccountId,
        hash: &str,
        now: Timestamp,
        effects: &Effects,
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
    async fn set_role(
        &self,
        id: AccountId,
        role: Role,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.set_role_with(id, role, now, &Effects::none()).await
    }
    /// Changes the role with its effects, in one transaction; false (and
    /// nothing written) if there is no such account.
    async fn set_role_with(
        &self,
        id: AccountId,
        role: Role,
        now: Timestamp,
        effects: &Effects,
    ) -> Result<bool, StoreError>;
    async fn set_active(
        &self,
        id: AccountId,
        active: bool,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.set_active_with(id, active, now, &Effects::none())
            .await
    }
    /// As [`set_role_with`](AccountStore::set_role_with), for activation.
    async fn set_active_with(
        &self,
        id: AccountId,
        active: bool,
        now: Timestamp,
        effects: &Effects,
    ) -> Result<bool, StoreError>;
    /// Stores a one-time break-glass password hash, replacing any earlier one.
    async fn set_break_glass(
        &self,
        id: AccountId,
        hash: &str,
        expires_at: Timestamp,
    ) -> Result<bool, StoreError> {
        self.set_break_glass_with(id, hash, expires_at, &Effects::none())
            .await
    }
    /// As [`set_break_glass`](AccountStore::set_break_glass), with effects.
    async fn set_break_glass_with(
        &self,
        id: AccountId,
        hash: &str,
        expires_at: Timestamp,
        effects: &Effects,
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
    /// Inserts a session and the audit events that record it, with
    /// `extras`, in one transaction: one durable commit per sign-in.
    /// Nothing is written unless the answer is [`SessionStart::Started`]:
    /// of parallel finishes of one flow exactly one starts a session.
    async fn create_session_with_audit(
        &self,
        new: &NewSession,
        events: &[crate::audit::NewAuditEvent],
        extras: &SessionExtras<'_>,
    ) -> Result<SessionStart, StoreError>;
    /// Inserts many sessions in one transaction (benchmarks, imports).
    async fn insert_sessions(&self, new: &[NewSession]) -> Result<(), StoreError>;
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
        restricted: bool,
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

/// An authenticator app as stored: its sealed seed and the last step used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpRecord {
    pub sealed_secret: Vec<u8>,
    pub last_step: i64,
}

#[async_trait]
pub trait TwoStepStore: Send + Sync {
    /// The account's active authenticator app.
    async fn totp_of(&self, account: AccountId) -> Result<Option<TotpRecord>, StoreError>;
    /// Stores (replacing) an enrollment that waits for its first code.
    async fn set_pending_totp(
        &self,
        account: AccountId,
        sealed_secret: &[u8],
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// The waiting enrollment and when it was started.
    async fn pending_totp(
        &self,
        account: AccountId,
    ) -> Result<Option<(Vec<u8>, Timestamp)>, StoreError>;
    /// In one transaction: the pending seed `sealed_secret` becomes the
    /// account's only authenticator app with `step` already used, and, if
    /// the account had no method before, `recovery_hash` becomes its
    /// recovery key. False if the pending enrollment changed meanwhile, or
    /// if this would be the first method and no recovery key came with it.
    async fn activate_totp(
        &self,
        account: AccountId,
        sealed_secret: &[u8],
        step: i64,
        recovery_hash: Option<&str>,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let done = self
            .activate_totp_with(
                account,
                sealed_secret,
                step,
                recovery_hash,
                now,
                &IfFirst::none(),
            )
            .await?;
        Ok(matches!(done, Addition::Added { .. }))
    }
    /// As [`activate_totp`](TwoStepStore::activate_totp), with the effects
    /// of a first or a further method in the same transaction.
    /// [`Addition::PendingChanged`] and [`Addition::NeedsRecoveryKey`]
    /// write nothing.
    async fn activate_totp_with(
        &self,
        account: AccountId,
        sealed_secret: &[u8],
        step: i64,
        recovery_hash: Option<&str>,
        now: Timestamp,
        effects: &IfFirst,
    ) -> Result<Addition, StoreError>;
    /// Marks `step` used if no later or equal step was: the replay guard.
    /// Exactly one of many parallel callers with the same step gets `true`.
    async fn consume_totp_step(&self, account: AccountId, step: i64) -> Result<bool, StoreError>;
    async fn recovery_key_hash(&self, account: AccountId) -> Result<Option<String>, StoreError>;
    /// Replaces the recovery key if it is still `old` (a use: exactly one
    /// parallel caller wins), or unconditionally when `old` is `None` (a
    /// new key created while signed in). False if nothing was replaced.
    async fn replace_recovery_key(
        &self,
        account: AccountId,
        old: Option<&str>,
        new_hash: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.replace_recovery_key_with(account, old, new_hash, now, &Effects::none())
            .await
    }
    /// As [`replace_recovery_key`](TwoStepStore::replace_recovery_key), with
    /// effects written only when the key was replaced.
    async fn replace_recovery_key_with(
        &self,
        account: AccountId,
        old: Option<&str>,
        new_hash: &str,
        now: Timestamp,
        effects: &Effects,
    ) -> Result<bool, StoreError>;
    /// Removes the authenticator app, any pending enrollment and the
    /// recovery key. True if two-step verification was on.
    async fn disable_two_step(&self, account: AccountId) -> Result<bool, StoreError> {
        self.disable_two_step_with(account, &Effects::none()).await
    }
    /// As [`disable_two_step`](TwoStepStore::disable_two_step), with effects
    /// written only when two-step verification was on.
    async fn disable_two_step_with(
        &self,
        account: AccountId,
        effects: &Effects,
    ) -> Result<bool, StoreError>;
}

/// What a backoff slot claim found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    Granted,
    /// Blocked until then (the key's block, or its guard's).
    BlockedUntil(Timestamp),
    /// All evaluation slots are taken by requests in flight.
    Busy,
    /// The key reached its ceiling of consecutive failures.
    Locked,
}

/// The slot rule a claim applies, from [`crate::twostep::backoff::BackoffPolicy`]:
/// at most `max(1, tolerated + 1 − failures)` slots, none once `failures`
/// reaches `ceiling`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotRule {
    pub tolerated: u32,
    pub ceiling: Option<u32>,
    pub lease_ms: i64,
}

/// The backoff counters. The store counts and records; core decides the
/// numbers (see [`crate::twostep::backoff`]).
#[async_trait]
pub trait LimiterStore: Send + Sync {
    /// Claims an evaluation slot on `key` in one atomic statement, unless
    /// the key is blocked or locked, every slot is held, or `guard` (a
    /// second key, e.g. the client address) is blocked.
    async fn limiter_claim(
        &self,
        key: &str,
        guard: Option<&str>,
        now: Timestamp,
        rule: SlotRule,
    ) -> Result<Claim, StoreError>;
    /// Frees a slot whose check could not run; nothing is counted.
    async fn limiter_release(&self, key: &str) -> Result<(), StoreError>;
    /// Releases the slot after a correct guess and clears the failures,
    /// and those of `also_clear` (if it has any), in one statement.
    async fn limiter_success(&self, key: &str, also_clear: Option<&str>) -> Result<(), StoreError>;
    /// Counts one more consecutive failure on `key` (creating it) and
    /// returns the count. Any slot stays held until
    /// [`limiter_settle`](LimiterStore::limiter_settle).
    async fn limiter_count_failure(&self, key: &str) -> Result<u32, StoreError>;
    /// Releases the key's slot (if one is held) and extends its block to
    /// `blocked_until` when that is later: a block only grows.
    async fn limiter_settle(
        &self,
        key: &str,
        blocked_until: Option<Timestamp>,
    ) -> Result<(), StoreError>;
    /// Clears the failures and block of these keys, and of every key that
    /// starts with `prefix`: an admin lifting a lock. Returns how many
    /// keys had failures.
    async fn limiter_clear(&self, keys: &[String], prefix: Option<&str>)
    -> Result<u64, StoreError>;
    /// The consecutive failures and block end of `key` (tests, admin view).
    async fn limiter_state(&self, key: &str) -> Result<Option<(u32, Timestamp)>, StoreError>;
}

/// How many known devices an account keeps (the newest), from one
/// session sweep to the next.
pub const DEVICES_PER_ACCOUNT: i64 = 20;

/// A device that signed in to an account: its token is sent back at
/// sign-in to get the device its own guessing budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownDevice {
    pub account_id: AccountId,
    /// SHA-256 of the device token; the token itself is never stored.
    pub token_hash: Vec<u8>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// The account with this email and whether `device_hash` (if given)
    /// names a live device of that account: one read.
    async fn account_for_signin(
        &self,
        email: &Email,
        device_hash: Option<&[u8]>,
        now: Timestamp,
    ) -> Result<(Option<Account>, bool), StoreError>;
    /// Whether `account` has a live device with this token hash.
    async fn known_device(
        &self,
        account: AccountId,
        device_hash: &[u8],
        now: Timestamp,
    ) -> Result<bool, StoreError>;
}

/// Writes that ride in the commit that starts a session.
#[derive(Debug, Clone, Default)]
pub struct SessionExtras<'a> {
    /// Makes this the account's last-used second step.
    pub last_method: Option<MethodKind>,
    /// Spends this sign-in flow (its id hash): nothing is written and the
    /// answer is false unless this caller deleted it.
    pub spend_flow: Option<&'a [u8]>,
    /// The password throttle after a correct password: the claimed key's
    /// slot is released and its failures cleared, and the second key's.
    pub throttle_success: Option<(&'a str, Option<&'a str>)>,
    /// A device token issued with this sign-in.
    pub new_device: Option<&'a KnownDevice>,
    /// An authenticator code decided in this commit rather than under a
    /// slot claimed beforehand.
    pub totp: Option<TotpCommit<'a>>,
    /// A recovery key used up by this sign-in: its successor, shown in
    /// the answer, is stored in the same commit as the session it starts,
    /// so neither exists without the other. A parallel use that won fails
    /// this one with [`StoreError::Stale`] and nothing written.
    pub use_recovery_key: Option<&'a RecoveryUse>,
    /// Mail queued in the same commit (the recovery-key notice).
    pub mail: &'a [OutgoingMessage],
}

/// A right authenticator code settled in the session's commit: its step
/// is used only if it was not used before and a slot could be claimed on
/// the backoff key now (not blocked, not locked, a slot free: the rule of
/// `limiter_claim`); otherwise nothing at all is written.
#[derive(Debug, Clone, Copy)]
pub struct TotpCommit<'a> {
    pub step: i64,
    pub backoff_key: &'a str,
    pub rule: SlotRule,
    pub now: Timestamp,
    /// The key had failures when it was read: clear them in this commit.
    pub clear_failures: bool,
}

/// Whether [`SessionStore::create_session_with_audit`] started the session,
/// or which of its conditions stopped it (and nothing was written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStart {
    Started,
    /// The sign-in flow was already spent.
    FlowSpent,
    /// The authenticator step was already used, or its backoff key had
    /// no slot to give.
    TotpRefused,
}

/// A sign-in waiting for its second step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRecord {
    pub id_hash: Vec<u8>,
    pub account_id: AccountId,
    pub client: crate::session::ClientKind,
    /// Hash of what binds the flow to the client that started it.
    pub binding: Vec<u8>,
    /// How the first step was done (password or break-glass).
    pub first_method: AuthMethod,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

#[async_trait]
pub trait FlowStore: Send + Sync {
    /// Stores the flow; when given, the password throttle's success
    /// (`limiter_success(key, also_clear)`) rides in the same commit.
    async fn insert_flow(
        &self,
        flow: &FlowRecord,
        throttle_success: Option<(&str, Option<&str>)>,
    ) -> Result<(), StoreError>;
    /// The flow and, read with it, its account.
    async fn flow_by_id_hash(
        &self,
        id_hash: &[u8],
    ) -> Result<Option<(FlowRecord, Account)>, StoreError>;
    /// The flow with what its second step reads, in one read: its
    /// account, the account's authenticator app, and the backoff state
    /// kept under `backoff_prefix` followed by the account id.
    async fn flow_context(
        &self,
        id_hash: &[u8],
        backoff_prefix: &str,
    ) -> Result<Option<FlowContext>, StoreError>;
    /// Deletes the flow; true for exactly one caller.
    async fn delete_flow(&self, id_hash: &[u8]) -> Result<bool, StoreError>;
}

/// A flow and what finishing it needs (see [`FlowStore::flow_context`]).
#[derive(Debug, Clone)]
pub struct FlowContext {
    pub flow: FlowRecord,
    pub account: Account,
    pub totp: Option<TotpRecord>,
    /// Consecutive failures and the end of the block, if the key exists.
    pub backoff: Option<(u32, Timestamp)>,
}

/// A message waiting to be delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub id: i64,
    pub channel: String,
    pub recipient: String,
    pub subject: String,
    /// Emptied once the message is delivered or abandoned.
    pub body: String,
    pub created_at: Timestamp,
    /// How many times a worker claimed it; a claim is identified by this.
    pub attempts: i32,
    /// When it is due; for a claimed message, when the claim's lease ends;
    /// [`OUTBOX_NEVER`] once abandoned.
    pub next_attempt_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
    pub last_error: Option<String>,
}

/// `next_attempt_at` of a message that will never be tried again.
pub const OUTBOX_NEVER: Timestamp = Timestamp(i64::MAX);

/// The outbox: messages are written in the same place as the change they
/// report, and delivered by workers that may run on several nodes at once.
///
/// A delivery is a claim (a lease and a new attempt number), then exactly
/// one of [`mark_delivered`](OutboxStore::mark_delivered),
/// [`mark_failed`](OutboxStore::mark_failed) or
/// [`mark_abandoned`](OutboxStore::mark_abandoned) for that attempt:
///
/// ```text
///   due --claim_due--> leased --mark_delivered--> delivered (body cleared)
///    ^                   |  |
///    +---mark_failed-----+  +--mark_abandoned--> abandoned (body cleared)
///    +---lease runs out--+
/// ```
#[async_trait]
pub trait OutboxStore: Send + Sync {
    async fn enqueue(
        &self,
        channel: &str,
        recipient: &str,
        subject: &str,
        body: &str,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// Messages for `recipient`, newest first (tests and the admin view).
    async fn outbox_for(&self, recipient: &str) -> Result<Vec<OutboxMessage>, StoreError>;
    /// Claims up to `limit` undelivered messages of `channel` that are due
    /// at `now`, oldest due first: each gets `attempts + 1` and is not due
    /// again before `now + lease_ms`. Parallel callers, on any node, never
    /// get the same message while its lease runs. Returned in id order,
    /// with the new attempt number and lease end.
    async fn claim_due(
        &self,
        channel: &str,
        now: Timestamp,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>, StoreError>;
    /// Records the delivery of claim `attempt` and empties the body (it may
    /// hold a one-time code). False if the message was claimed again
    /// meanwhile or is already delivered.
    async fn mark_delivered(
        &self,
        id: i64,
        attempt: i32,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Records that claim `attempt` failed; the message is due again at
    /// `next_attempt_at`. False as for `mark_delivered`.
    async fn mark_failed(
        &self,
        id: i64,
        attempt: i32,
        next_attempt_at: Timestamp,
        error: &str,
    ) -> Result<bool, StoreError>;
    /// Gives up on the message after claim `attempt`: never due again
    /// ([`OUTBOX_NEVER`]), body emptied, `error` kept as the reason.
    async fn mark_abandoned(&self, id: i64, attempt: i32, error: &str) -> Result<bool, StoreError>;
}

#[async_trait]
pub trait KeyCheckStore: Send + Sync {
    /// The sealed canary written at first start, if any.
    async fn key_canary(&self) -> Result<Option<Vec<u8>>, StoreError>;
    /// Writes the canary unless one exists; returns the one now stored.
    async fn init_key_canary(&self, sealed: &[u8]) -> Result<Vec<u8>, StoreError>;
    /// Whether any secret sealed with the key is stored.
    async fn has_sealed_secrets(&self) -> Result<bool, StoreError>;
}

/// A WebAuthn credential (security key or passkey) as stored. It holds
/// public key material only; nothing here lets anyone sign in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebauthnRecord {
    pub id: uuid::Uuid,
    pub account_id: AccountId,
    /// `SecurityKey` or `Passkey`.
    pub kind: MethodKind,
    pub name: String,
    /// The authenticator's credential id (unique across the instance).
    pub credential_id: Vec<u8>,
    /// The webauthn-rs credential as JSON.
    pub credential: String,
    /// The highest signature counter seen.
    pub counter: i64,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

/// Adding, listing and removing second-step methods. Every change runs in
/// one transaction that first locks the account's row, so rules that
/// depend on the other methods (the last method stays, text messages only
/// first, the first method brings the recovery key) hold under races.
#[async_trait]
pub trait MethodStore: Send + Sync {
    /// Every method of the account, in one round trip.
    async fn inventory(&self, account: AccountId) -> Result<Inventory, StoreError>;
    async fn webauthn_of(&self, account: AccountId) -> Result<Vec<WebauthnRecord>, StoreError>;
    async fn webauthn_by_credential_id(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<WebauthnRecord>, StoreError>;
    /// Stores the credential; if it is the account's first method, also
    /// `recovery_hash` as its recovery key ([`Addition::NeedsRecoveryKey`],
    /// and nothing stored, without one).
    async fn add_webauthn(
        &self,
        rec: &WebauthnRecord,
        recovery_hash: Option<&str>,
        now: Timestamp,
    ) -> Result<Addition, StoreError> {
        self.add_webauthn_with(rec, recovery_hash, now, &IfFirst::none())
            .await
    }
    /// As [`add_webauthn`](MethodStore::add_webauthn), with the effects of
    /// a first or a further method in the same transaction.
    async fn add_webauthn_with(
        &self,
        rec: &WebauthnRecord,
        recovery_hash: Option<&str>,
        now: Timestamp,
        effects: &IfFirst,
    ) -> Result<Addition, StoreError>;
    /// False if the account has no such credential.
    async fn rename_webauthn(
        &self,
        account: AccountId,
        id: uuid::Uuid,
        name: &str,
    ) -> Result<bool, StoreError>;
    /// Records a use: the counter moves from `old_counter` to
    /// `new_counter`. False if another use changed it meanwhile.
    async fn record_webauthn_use(
        &self,
        id: uuid::Uuid,
        old_counter: i64,
        new_counter: i64,
        credential: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    async fn remove_webauthn(
        &self,
        account: AccountId,
        id: uuid::Uuid,
    ) -> Result<Removal, StoreError> {
        self.remove_webauthn_with(account, id, &Effects::none())
            .await
    }
    /// Removes a key (not the last method); `effects` only if it was.
    async fn remove_webauthn_with(
        &self,
        account: AccountId,
        id: uuid::Uuid,
        effects: &Effects,
    ) -> Result<Removal, StoreError>;
    /// Removes the authenticator app (not the last method).
    async fn remove_totp(&self, account: AccountId) -> Result<Removal, StoreError> {
        self.remove_totp_with(account, &Effects::none()).await
    }
    async fn remove_totp_with(
        &self,
        account: AccountId,
        effects: &Effects,
    ) -> Result<Removal, StoreError>;
    /// Removes the phone number (not the last method).
    async fn remove_sms(&self, account: AccountId) -> Result<Removal, StoreError> {
        self.remove_sms_with(account, &Effects::none()).await
    }
    async fn remove_sms_with(
        &self,
        account: AccountId,
        effects: &Effects,
    ) -> Result<Removal, StoreError>;
    /// Stores (replacing) a phone number waiting for its confirming code.
    async fn set_pending_phone(
        &self,
        account: AccountId,
        phone: &str,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    async fn pending_phone(
        &self,
        account: AccountId,
    ) -> Result<Option<(String, Timestamp)>, StoreError>;
    /// The pending `phone` becomes the account's text-message method and
    /// `recovery_hash` its recovery key, only if the account has no other
    /// method.
    async fn activate_sms(
        &self,
        account: AccountId,
        phone: &str,
        recovery_hash: &str,
        now: Timestamp,
    ) -> Result<Addition, StoreError> {
        self.activate_sms_with(account, phone, recovery_hash, now, &Effects::none())
            .await
    }
    /// As [`activate_sms`](MethodStore::activate_sms), with effects.
    async fn activate_sms_with(
        &self,
        account: AccountId,
        phone: &str,
        recovery_hash: &str,
        now: Timestamp,
        effects: &Effects,
    ) -> Result<Addition, StoreError>;
    /// Remembers the method that last completed a second step.
    async fn set_last_method(&self, account: AccountId, kind: MethodKind)
    -> Result<(), StoreError>;
}

/// WebAuthn ceremony state kept on the server between its two requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CeremonyRecord {
    /// The account, when the ceremony is for a known one.
    pub account_id: Option<AccountId>,
    /// What the ceremony is for (registration, sign-in, step-up, …).
    pub purpose: String,
    /// The webauthn-rs state as JSON, with anything the finish needs.
    pub state: String,
    pub expires_at: Timestamp,
}

#[async_trait]
pub trait CeremonyStore: Send + Sync {
    /// Stores the ceremony under `key` (a flow, a session, or a random id),
    /// replacing the one before: only the latest challenge is answerable.
    async fn put_ceremony(&self, key: &str, c: &CeremonyRecord) -> Result<(), StoreError>;
    /// Removes and returns the ceremony: each is finished at most once,
    /// even by parallel requests.
    async fn take_ceremony(&self, key: &str) -> Result<Option<CeremonyRecord>, StoreError>;
}

/// A texted one-time code as stored: only its keyed hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpRecord {
    pub account_id: AccountId,
    pub code_mac: Vec<u8>,
    pub sent_at: Timestamp,
    pub expires_at: Timestamp,
}

/// How many code messages an account may be sent on one channel: at most
/// `max` per `window_ms`. Each channel counts apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendBudget {
    pub channel: SendChannel,
    pub max: i64,
    pub window_ms: i64,
}

/// Which budget a code message counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendChannel {
    /// Text messages.
    Text,
    /// Mail.
    Mail,
}

/// What happened to a request to text a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpSend {
    Sent,
    /// The code before, for the same purpose, is too recent.
    CoolingDown,
    /// The account used up its budget; it renews at this time.
    OverBudget {
        until: Timestamp,
    },
}

#[async_trait]
pub trait OtpStore: Send + Sync {
    /// In one transaction: replaces the code stored under `key` (only the
    /// latest code works) and queues the message that carries it, unless
    /// the code before was sent after `cooldown_cutoff`, or the account has
    /// used up its `budget` of messages on the budget's channel (across
    /// all purposes).
    async fn put_otp_and_send(
        &self,
        key: &str,
        otp: &OtpRecord,
        cooldown_cutoff: Timestamp,
        budget: SendBudget,
        message: &OutgoingMessage,
    ) -> Result<OtpSend, StoreError>;
    /// Deletes the code under `key` if it is `code_mac` and not expired:
    /// true for exactly one caller.
    async fn consume_otp(
        &self,
        key: &str,
        code_mac: &[u8],
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// When the current code under `key` was sent, if there is one.
    async fn otp_sent_at(&self, key: &str) -> Result<Option<Timestamp>, StoreError>;
}

/// What a conversion to a service account found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    Converted,
    NotFound,
    /// It is a service account already.
    AlreadyService,
    /// It is the last active sysadmin: the instance would have no one
    /// left who can sign in to administer it.
    LastSysadmin,
}

/// API tokens and the service accounts that live on them.
///
/// Tokens are found by the SHA-256 of their secret; revocation deletes the
/// row (the audit log keeps the record) and evicts every node's cached copy
/// before it returns, as for sessions.
#[async_trait]
pub trait ApiTokenStore: Send + Sync {
    async fn insert_api_token(
        &self,
        token: &crate::apitoken::ApiToken,
        token_hash: &[u8],
    ) -> Result<(), StoreError> {
        self.insert_api_token_with(token, token_hash, &Effects::none())
            .await
    }
    /// Inserts the token with its effects (its audit record), in one
    /// transaction.
    async fn insert_api_token_with(
        &self,
        token: &crate::apitoken::ApiToken,
        token_hash: &[u8],
        effects: &Effects,
    ) -> Result<(), StoreError>;
    /// The token with this hash and its account (who-am-I hot path: cached
    /// like sessions).
    async fn api_token_by_hash(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<(crate::apitoken::ApiToken, Account)>, StoreError>;
    /// Records a use, unless one was recorded at or after `cutoff` (by
    /// this node or another): at most one write per token per interval.
    async fn touch_api_token(
        &self,
        id: crate::apitoken::ApiTokenId,
        now: Timestamp,
        ip: Option<&str>,
        cutoff: Timestamp,
    ) -> Result<bool, StoreError>;
    async fn api_token_by_id(
        &self,
        id: crate::apitoken::ApiTokenId,
    ) -> Result<Option<crate::apitoken::ApiToken>, StoreError>;
    /// The account's tokens, newest first, expired ones included.
    async fn api_tokens_of(
        &self,
        account: AccountId,
    ) -> Result<Vec<crate::apitoken::ApiToken>, StoreError>;
    /// Deletes the token, only if it is `account`'s when that is given.
    /// False if there was no such token.
    async fn delete_api_token(
        &self,
        id: crate::apitoken::ApiTokenId,
        account: Option<AccountId>,
    ) -> Result<bool, StoreError> {
        self.delete_api_token_with(id, account, &Effects::none())
            .await
    }
    /// As [`delete_api_token`](ApiTokenStore::delete_api_token), with
    /// effects written only when a token was deleted.
    async fn delete_api_token_with(
        &self,
        id: crate::apitoken::ApiTokenId,
        account: Option<AccountId>,
        effects: &Effects,
    ) -> Result<bool, StoreError>;
    /// Deletes every token of the account; returns how many.
    async fn delete_api_tokens_of(&self, account: AccountId) -> Result<u64, StoreError>;
    /// Service accounts with their descriptions, ordered by name.
    async fn list_service_accounts(&self) -> Result<Vec<(Account, String)>, StoreError>;
    /// A service account's description; `None` if it is not a service
    /// account.
    async fn service_description(&self, id: AccountId) -> Result<Option<String>, StoreError>;
    /// Renames and describes a service account (each only when given).
    /// False if there is no such service account.
    async fn update_service_account(
        &self,
        id: AccountId,
        name: Option<&str>,
        description: Option<&str>,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.update_service_account_with(id, name, description, now, &Effects::none())
            .await
    }
    /// As [`update_service_account`](ApiTokenStore::update_service_account),
    /// with effects written only when there was such an account.
    async fn update_service_account_with(
        &self,
        id: AccountId,
        name: Option<&str>,
        description: Option<&str>,
        now: Timestamp,
        effects: &Effects,
    ) -> Result<bool, StoreError>;
    /// Inserts a service account with its description and effects, in one
    /// transaction; `Conflict` if the email is taken.
    async fn insert_service_account(
        &self,
        account: &Account,
        description: &str,
        effects: &Effects,
    ) -> Result<(), StoreError>;
    /// Deletes a service account with its tokens. False if there is no
    /// such service account (a person's account is never deleted here).
    async fn delete_service_account(&self, id: AccountId) -> Result<bool, StoreError> {
        self.delete_service_account_with(id, &Effects::none()).await
    }
    /// As [`delete_service_account`](ApiTokenStore::delete_service_account),
    /// with effects written only when it was deleted.
    async fn delete_service_account_with(
        &self,
        id: AccountId,
        effects: &Effects,
    ) -> Result<bool, StoreError>;
    /// In one transaction: a person's account becomes a service account.
    /// It keeps its id, name, role and tokens; its password, break-glass
    /// password, second-step methods, recovery key, sessions, sign-in
    /// flows, codes and known devices go. Refused for the last active
    /// sysadmin, decided inside the transaction.
    async fn convert_to_service(
        &self,
        id: AccountId,
        description: &str,
        now: Timestamp,
    ) -> Result<Conversion, StoreError> {
        self.convert_to_service_with(id, description, now, &Effects::none())
            .await
    }
    /// As [`convert_to_service`](ApiTokenStore::convert_to_service), with
    /// effects written only when it was converted.
    async fn convert_to_service_with(
        &self,
        id: AccountId,
        description: &str,
        now: Timestamp,
        effects: &Effects,
    ) -> Result<Conversion, StoreError>;
}

/// The provider's signing keys. [`crate::oidc::keys::plan`] decides when
/// they rotate; the store records it atomically.
#[async_trait]
pub trait SigningKeyStore: Send + Sync {
    /// Every stored key, newest first.
    async fn signing_keys(&self) -> Result<Vec<crate::oidc::keys::SigningKeyRecord>, StoreError>;
    /// In one transaction: retires the keys named in `retire` at `now`
    /// (each must still be active), inserts `new` (at most one active key
    /// per algorithm, which the database enforces), and writes `effects`.
    /// False, with nothing written, when another rotation came first: a
    /// key in `retire` was retired already, or an active key of a new
    /// key's algorithm exists.
    async fn rotate_signing_keys(
        &self,
        retire: &[String],
        new: &[crate::oidc::keys::SigningKeyRecord],
        now: Timestamp,
        effects: &Effects,
    ) -> Result<bool, StoreError>;
    /// Deletes the keys retired at or before `cutoff`; returns how many.
    async fn delete_signing_keys_retired_before(
        &self,
        cutoff: Timestamp,
    ) -> Result<u64, StoreError>;
}

/// The relying applications registered with the provider.
#[async_trait]
pub trait OidcClientStore: Send + Sync {
    /// Inserts a client with its secret's hash (confidential clients) and
    /// its effects, in one transaction; `Conflict` if the id is taken.
    async fn insert_oidc_client_with(
        &self,
        client: &crate::oidc::client::OidcClient,
        secret_hash: Option<&[u8]>,
        effects: &Effects,
    ) -> Result<(), StoreError>;
    async fn oidc_client(
        &self,
        id: crate::oidc::client::OidcClientId,
    ) -> Result<Option<crate::oidc::client::OidcClient>, StoreError>;
    /// Every client, by name.
    async fn oidc_clients(&self) -> Result<Vec<crate::oidc::client::OidcClient>, StoreError>;
    /// Writes the client's name, URIs, scopes, first-party flag and
    /// `updated_at` (never its id, kind or secret) with its effects. False,
    /// with nothing written, if there is no such client.
    async fn update_oidc_client_with(
        &self,
        client: &crate::oidc::client::OidcClient,
        effects: &Effects,
    ) -> Result<bool, StoreError>;
    /// Replaces a confidential client's secret hash. False, with nothing
    /// written, if there is no such confidential client.
    async fn set_oidc_client_secret_with(
        &self,
        id: crate::oidc::client::OidcClientId,
        secret_hash: &[u8],
        now: Timestamp,
        effects: &Effects,
    ) -> Result<bool, StoreError>;
    /// A client with its secret's hash (`None` for a public client), in
    /// one read: what authenticating a client needs. May be answered from
    /// the who-am-I cache; a change, a new secret or the client's removal
    /// evicts it.
    async fn oidc_client_with_secret_hash(
        &self,
        id: crate::oidc::client::OidcClientId,
    ) -> Result<Option<(crate::oidc::client::OidcClient, Option<Vec<u8>>)>, StoreError>;
    /// False, with nothing written, if there is no such client.
    async fn delete_oidc_client_with(
        &self,
        id: crate::oidc::client::OidcClientId,
        effects: &Effects,
    ) -> Result<bool, StoreError>;
}

/// The provider's grants: authorization codes and refresh token families
/// (see [`crate::oidc::grant`]). Each race (two redemptions of one code,
/// two uses of one refresh token) is decided by one conditional update.
#[async_trait]
pub trait OidcGrantStore: Send + Sync {
    /// Inserts a grant with the SHA-256 of its authorization code.
    async fn insert_oidc_grant(
        &self,
        grant: &crate::oidc::grant::OidcGrant,
        code_hash: &[u8],
    ) -> Result<(), StoreError>;
    /// The grant an authorization code belongs to, used or not.
    async fn oidc_grant_by_code(
        &self,
        code_hash: &[u8],
    ) -> Result<Option<crate::oidc::grant::OidcGrant>, StoreError>;
    async fn oidc_grant(
        &self,
        id: crate::oidc::grant::OidcGrantId,
    ) -> Result<Option<crate::oidc::grant::OidcGrant>, StoreError>;
    /// In one transaction: marks the grant's code used at `now`, inserts
    /// the grant's first refresh token (`refresh_hash`), and writes
    /// `effects`. False, with nothing written, when the code was used
    /// already or the grant is revoked.
    async fn redeem_oidc_code_with(
        &self,
        grant: crate::oidc::grant::OidcGrantId,
        refresh_hash: &[u8],
        now: Timestamp,
        effects: &Effects,
    ) -> Result<bool, StoreError>;
    /// A refresh token by its SHA-256, with its grant.
    async fn oidc_refresh_token(
        &self,
        hash: &[u8],
    ) -> Result<Option<crate::oidc::grant::RefreshTokenRecord>, StoreError>;
    /// In one transaction: marks `old_hash` used at `now` and inserts
    /// `new_hash` for the same grant. False, with nothing written, when
    /// `old_hash` was used already, is unknown, or its grant is revoked.
    async fn rotate_oidc_refresh_token(
        &self,
        old_hash: &[u8],
        new_hash: &[u8],
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Revokes the grant at `now` and writes `effects`, in one
    /// transaction. False, with nothing written, when it was revoked
    /// already or does not exist.
    async fn revoke_oidc_grant_with(
        &self,
        id: crate::oidc::grant::OidcGrantId,
        now: Timestamp,
        effects: &Effects,
    ) -> Result<bool, StoreError>;
    /// A grant with what its tokens live by, in one read: its session (if
    /// it still exists) and its account. May be answered from the
    /// who-am-I cache, under its rule: once a write that revokes the
    /// grant, ends its session or changes its account has returned, no
    /// later call answers with the old state (on PostgreSQL, other nodes
    /// hear of it by `NOTIFY` or read through). Only liveness is promised
    /// fresh: `code_used_at` may be up to the cache's TTL old.
    async fn oidc_grant_with_holder(
        &self,
        id: crate::oidc::grant::OidcGrantId,
    ) -> Result<Option<(crate::oidc::grant::OidcGrant, Option<Session>, Account)>, StoreError>;
    /// Deletes, with their refresh tokens, the grants no token can use any
    /// more: created before `cutoff` with a code never redeemed, revoked
    /// before `cutoff`, or created before `cutoff` for a session that no
    /// longer exists. Returns how many grants went.
    async fn sweep_oidc_grants(&self, cutoff: Timestamp) -> Result<u64, StoreError>;
}

/// A message to queue in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    pub channel: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
}

/// Organizations, their domains, members, invitations and policies.
///
/// An account's [`OrgStanding`](crate::org::OrgStanding) is read on the
/// who-am-I path, so it is cached like sessions: every write here that can
/// change a standing evicts it, on every node (PostgreSQL `NOTIFY`).
#[async_trait]
pub trait OrgStore: Send + Sync {
    /// `Conflict` if the name is taken.
    async fn insert_organization(&self, org: &crate::org::Organization) -> Result<(), StoreError>;
    /// Every organization with its policies, by name.
    async fn organizations(&self) -> Result<Vec<crate::org::OrgSettings>, StoreError>;
    async fn organization(
        &self,
        id: OrganizationId,
    ) -> Result<Option<crate::org::OrgSettings>, StoreError>;
    /// The organizations of `account`: its explicit memberships and the
    /// organization whose verified domain holds its email (humans only).
    async fn org_standing(&self, account: &Account) -> Result<crate::org::OrgStanding, StoreError>;

    /// Adds an explicit membership; false if the account already has one.
    async fn add_member(
        &self,
        org: OrganizationId,
        account: AccountId,
        role: crate::org::MemberRole,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// False if the account has no explicit membership.
    async fn set_member_role(
        &self,
        org: OrganizationId,
        account: AccountId,
        role: crate::org::MemberRole,
    ) -> Result<bool, StoreError>;
    /// Ends an explicit membership (and any 2SV exclusion); false if there
    /// was none.
    async fn remove_member(
        &self,
        org: OrganizationId,
        account: AccountId,
    ) -> Result<bool, StoreError>;
    /// Explicit members and managed accounts, by email.
    async fn members(&self, org: OrganizationId) -> Result<Vec<crate::org::Member>, StoreError>;

    /// Records a claim; `Conflict` if this organization claimed the
    /// domain already.
    async fn claim_domain(&self, claim: &crate::org::DomainClaim) -> Result<(), StoreError>;
    async fn domains(
        &self,
        org: OrganizationId,
    ) -> Result<Vec<crate::org::DomainClaim>, StoreError>;
    /// Marks a claim verified. At most one organization holds a domain
    /// verified: the database decides between parallel verifications.
    async fn verify_domain(
        &self,
        org: OrganizationId,
        domain: &str,
        by: crate::org::VerifiedBy,
        now: Timestamp,
    ) -> Result<crate::org::DomainVerification, StoreError>;
    /// Drops a claim (verified or not); false if there was none.
    async fn remove_domain(&self, org: OrganizationId, domain: &str) -> Result<bool, StoreError>;

    /// Stores the invitation and queues its mail in one transaction.
    async fn insert_invitation(
        &self,
        inv: &crate::org::Invitation,
        token_hash: &[u8],
        mail: &OutgoingMessage,
    ) -> Result<(), StoreError>;
    /// Pending and accepted invitations, newest first.
    async fn invitations(
        &self,
        org: OrganizationId,
    ) -> Result<Vec<crate::org::Invitation>, StoreError>;
    /// Withdraws a pending invitation; false if there is no such one.
    async fn delete_invitation(
        &self,
        org: OrganizationId,
        id: InvitationId,
    ) -> Result<bool, StoreError>;
    /// The invitation with this token hash and its organization's name.
    async fn invitation_by_token(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<(crate::org::Invitation, String)>, StoreError>;
    /// In one transaction: spends the invitation (pending and unexpired at
    /// `now`; exactly one of parallel callers succeeds), inserts
    /// `new_account` if given, and makes `account` a member with the
    /// invitation's role (an existing membership keeps the higher role).
    /// `None` if the invitation could not be spent; `Conflict` if
    /// `new_account`'s email is taken.
    async fn accept_invitation(
        &self,
        token_hash: &[u8],
        account: AccountId,
        new_account: Option<&Account>,
        now: Timestamp,
    ) -> Result<Option<crate::org::Invitation>, StoreError>;

    /// Sets the 2SV requirement and replaces the exclusions in one
    /// transaction; when this call turns the requirement on (it was off),
    /// `mails` are queued in the same commit. Returns whether it did.
    async fn set_two_step_policy(
        &self,
        org: OrganizationId,
        required: bool,
        excluded: &[AccountId],
        mails: &[OutgoingMessage],
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// The accounts excluded from the organization's enforced 2SV.
    async fn two_step_exclusions(&self, org: OrganizationId) -> Result<Vec<Account>, StoreError>;
    /// Active human accounts the organization manages that have no
    /// second-step method and are not excluded.
    async fn managed_without_two_step(
        &self,
        org: OrganizationId,
    ) -> Result<Vec<Account>, StoreError>;

    /// False if there is no such organization.
    async fn set_external_policy(
        &self,
        org: OrganizationId,
        policy: &crate::org::ExternalPolicy,
    ) -> Result<bool, StoreError>;
    /// The web sessions of the organization's external users (a reset's
    /// preview; expired ones not yet swept included), but those of its
    /// test policy's members, to whom that policy applies instead.
    async fn external_web_sessions(&self, org: OrganizationId) -> Result<Vec<Session>, StoreError>;
    /// Ends every web session of those external users (mobile sessions
    /// stay), on every node; returns the sessions it ended.
    async fn reset_external_web_sessions(
        &self,
        org: OrganizationId,
    ) -> Result<Vec<Session>, StoreError>;
}

/// What adding one account to a test policy did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestMemberAdded {
    Added,
    /// It was a member already; nothing changed.
    AlreadyMember,
    /// The account is not an external user of the organization.
    NotExternal,
    /// The policy holds its limit already.
    Full,
}

/// An organization's test policy (the external user policy's settings for
/// a few chosen external users) and the export of its external users.
///
/// Every write evicts every cached standing, on every node, as the
/// external policy's writes do.
#[async_trait]
pub trait OrgTestStore: Send + Sync {
    /// The test policy's members, by email.
    async fn test_members(&self, org: OrganizationId) -> Result<Vec<Account>, StoreError>;
    /// In one transaction: replaces the test policy's settings and, when
    /// `members` is given, its members; `None` leaves the members as they
    /// are, so a settings-only change cannot undo a member added meanwhile.
    /// `Ok(false)`, and nothing written, if one of `members` is not an
    /// external user of the organization (or the organization is gone).
    /// The caller checked the number of members.
    async fn set_test_policy(
        &self,
        org: OrganizationId,
        policy: &crate::org::ExternalPolicy,
        members: Option<&[AccountId]>,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Adds one external user while the policy holds fewer than `limit`:
    /// parallel additions are counted one after the other (the
    /// organization's row is locked first), so no more than `limit` get in.
    async fn add_test_member(
        &self,
        org: OrganizationId,
        account: AccountId,
        limit: usize,
        now: Timestamp,
    ) -> Result<TestMemberAdded, StoreError>;
    /// False if the account was not a member of the test policy.
    async fn remove_test_member(
        &self,
        org: OrganizationId,
        account: AccountId,
    ) -> Result<bool, StoreError>;
    /// Copies the test policy's settings to the external user policy in
    /// one transaction; the external policy before and after. `None` if
    /// there is no such organization.
    async fn roll_out_test_policy(
        &self,
        org: OrganizationId,
    ) -> Result<Option<(crate::org::ExternalPolicy, crate::org::ExternalPolicy)>, StoreError>;
    /// The web sessions of the test policy's members who are external
    /// users of the organization (a reset's preview).
    async fn test_web_sessions(&self, org: OrganizationId) -> Result<Vec<Session>, StoreError>;
    /// Ends those sessions, on every node; returns them.
    async fn reset_test_web_sessions(
        &self,
        org: OrganizationId,
    ) -> Result<Vec<Session>, StoreError>;

    /// How many external users the organization has.
    async fn count_external_users(&self, org: OrganizationId) -> Result<u64, StoreError>;
    /// One page of the organization's external users, in account id order
    /// after `after` (keyset pagination: each page is one short query, so
    /// an export of any size holds one page at a time). API tokens are
    /// counted when they are unexpired at `now`.
    async fn external_users_page(
        &self,
        org: OrganizationId,
        after: Option<AccountId>,
        limit: u32,
        now: Timestamp,
    ) -> Result<Vec<crate::org_export::ExternalUserRow>, StoreError>;
}

/// Everything a Tessera node needs from its database.
#[async_trait]
pub trait Store:
    AccountStore
    + SessionStore
    + AuditStore
    + TwoStepStore
    + LimiterStore
    + FlowStore
    + OutboxStore
    + KeyCheckStore
    + MethodStore
    + CeremonyStore
    + OtpStore
    + DeviceStore
    + ApiTokenStore
    + OrgStore
    + OrgTestStore
    + SigningKeyStore
    + OidcClientStore
    + OidcGrantStore
{
    /// "sqlite" or "postgres".
    fn backend(&self) -> &'static str;
    /// Succeeds when the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Writes `effects` alone, in one transaction: for changes that are
    /// nothing but effects (a step-up is a rotation and its audit record).
    async fn apply(&self, effects: &Effects) -> Result<Applied, StoreError>;
    /// The connection pool: (open connections, idle ones), for metrics.
    fn pool_state(&self) -> (u32, u32);
}
