//! Starting, checking, rotating and ending sessions.

use super::{Core, RequestContext};
use crate::account::Account;
use crate::audit::{AuditKind, NewAuditEvent};
use crate::error::CoreError;
use crate::ids::{AccountId, SessionId};
use crate::secrets::{random_token, random_uuid, token_hash};
use crate::session::{Aal, AuthMethod, ClientKind, Session, describe_device};
use crate::store::{Effects, NewSession, Rotation, SessionExtras, SessionStart};
use crate::twostep::methods::MethodKind;

/// Bytes of randomness in a session token: 256 bits.
pub const SESSION_TOKEN_BYTES: usize = 32;

/// The capability of a request whose session (or Basic credentials) may do
/// anything its account may. Only core creates one: the web layer cannot
/// turn a restricted session into this by building it.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub session: Session,
    pub account: Account,
    /// Set when the request came with an API token: such a caller can never
    /// step up, so it can make no security change (see
    /// [`Core::require_recent`]).
    pub token: Option<crate::apitoken::TokenGrant>,
    _sealed: Sealed,
}

#[derive(Debug, Clone)]
struct Sealed;

/// The capability of a session that may only enroll in two-step
/// verification (an admin made to enroll by policy): it can step up, see
/// and add methods, and sign out, nothing else. Only adding a second-step
/// method turns it into [`Authenticated`], under a new token.
#[derive(Debug, Clone)]
pub struct Restricted(pub(crate) Authenticated);

impl Restricted {
    pub fn session(&self) -> &Session {
        &self.0.session
    }
    pub fn account(&self) -> &Account {
        &self.0.account
    }
}

/// What a presented session or credential grants: one of two distinct
/// capabilities. Routes that need full access take [`Authenticated`];
/// enrollment routes take `Access` and work for both.
#[derive(Debug, Clone)]
pub enum Access {
    Full(Authenticated),
    Restricted(Restricted),
}

impl Access {
    /// Wraps a session according to its stored restriction.
    pub(crate) fn of(session: Session, account: Account) -> Access {
        let restricted = session.restricted;
        let who = Authenticated {
            session,
            account,
            token: None,
            _sealed: Sealed,
        };
        if restricted {
            Access::Restricted(Restricted(who))
        } else {
            Access::Full(who)
        }
    }

    /// A request authenticated by an API token: always full access (the
    /// token was made by a full session or an admin), never verified
    /// recently.
    pub(crate) fn of_token(
        session: Session,
        account: Account,
        grant: crate::apitoken::TokenGrant,
    ) -> Access {
        Access::Full(Authenticated {
            session,
            account,
            token: Some(grant),
            _sealed: Sealed,
        })
    }

    pub fn session(&self) -> &Session {
        &self.holder().session
    }

    /// The API token the request came with, if it came with one.
    pub fn token(&self) -> Option<&crate::apitoken::TokenGrant> {
        self.holder().token.as_ref()
    }

    pub fn account(&self) -> &Account {
        &self.holder().account
    }

    /// Full access, or the refusal a restricted session gets.
    pub fn full(self) -> Result<Authenticated, crate::error::CoreError> {
        match self {
            Access::Full(who) => Ok(who),
            Access::Restricted(_) => Err(crate::error::CoreError::EnrollmentRequired),
        }
    }

    /// The session's holder, for the enrollment use cases inside core.
    pub(crate) fn holder(&self) -> &Authenticated {
        match self {
            Access::Full(who) | Access::Restricted(Restricted(who)) => who,
        }
    }
}

/// A session just started or rotated, with the token only its client gets.
#[derive(Debug, Clone)]
pub struct IssuedSession {
    pub token: String,
    pub session: Session,
    /// A device token issued with a sign-in from a device not known yet.
    pub device_token: Option<String>,
}

/// The second step to offer first next time: the one this session was
/// verified with (a recovery key is an emergency, not a preference).
pub(crate) fn remembered_method(methods: &[AuthMethod]) -> Option<MethodKind> {
    methods.iter().rev().find_map(|m| match m {
        AuthMethod::Totp => Some(MethodKind::Totp),
        AuthMethod::SecurityKey => Some(MethodKind::SecurityKey),
        AuthMethod::Passkey => Some(MethodKind::Passkey),
        AuthMethod::Sms => Some(MethodKind::Sms),
        _ => None,
    })
}

impl Core {
    // Each argument is one fact about the new session; a struct for a
    // single internal caller would only move the list.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn start_session(
        &self,
        account: AccountId,
        absolute_secs: i64,
        client: ClientKind,
        aal: Aal,
        methods: Vec<AuthMethod>,
        restricted: bool,
        also: Vec<NewAuditEvent>,
        extras: SessionExtras<'_>,
        ctx: &RequestContext,
    ) -> Result<Result<IssuedSession, SessionStart>, CoreError> {
        let now = self.clock.now();
        let token = random_token(self.secrets.as_ref(), SESSION_TOKEN_BYTES);
        let session = Session {
            id: SessionId(random_uuid(self.secrets.as_ref())),
            account_id: account,
            client,
            aal,
            methods,
            created_at: now,
            verified_at: now,
            last_seen_at: now,
            expires_at: now.plus_secs(absolute_secs),
            ip: ctx.ip.clone(),
            device: describe_device(ctx.user_agent.as_deref()),
            restricted,
        };
        let event = NewAuditEvent::new(AuditKind::SessionCreated)
            .actor(account)
            .subject(account)
            .ip(ctx.ip.clone())
            .detail_json(serde_json::json!({
                "session": session.id.to_string(),
                "client": client.as_str(),
                "aal": aal.as_str(),
                "restricted": restricted,
            }));
        // One commit for the session and its audit records.
        let mut events = vec![event];
        events.extend(also);
        let started = self
            .store
            .create_session_with_audit(
                &NewSession {
                    session: session.clone(),
                    token_hash: token_hash(&token),
                },
                &events,
                &SessionExtras {
                    last_method: remembered_method(&session.methods),
                    ..extras
                },
            )
            .await?;
        if started != SessionStart::Started {
            return Ok(Err(started));
        }
        Ok(Ok(IssuedSession {
            token,
            session,
            device_token: None,
        }))
    }

    /// The session a token belongs to, if it is live and its account active.
    /// This is the who-am-I hot path: one indexed read, and a write at most
    /// once per touch interval.
    pub async fn authenticate(&self, token: &str) -> Result<Access, CoreError> {
        if token.is_empty() || token.len() > 256 {
            return Err(CoreError::Unauthenticated);
        }
        let Some((session, account)) = self.store.session_by_token(&token_hash(token)).await?
        else {
            return Err(CoreError::Unauthenticated);
        };
        let now = self.clock.now();
        let policy = &self.config.session_policy;
        if !session.is_live(policy, now) || !account.active {
            self.store
                .delete_session(session.account_id, session.id)
                .await?;
            return Err(CoreError::Unauthenticated);
        }
        let mut session = session;
        if session.needs_touch(policy, now) {
            self.store.touch_session(session.id, now).await?;
            session.last_seen_at = now;
        }
        Ok(Access::of(session, account))
    }

    /// The current session under a new token after a privilege change, to
    /// be written with the change (see [`Effects::rotate`]): a token seen
    /// before it is worthless after it. A restricted session stays
    /// restricted: step-up and rotation grant no access (see
    /// [`Core::reissue_with_new_method`]).
    pub(crate) fn reissue(
        &self,
        who: &Authenticated,
        aal: Aal,
        methods: Vec<AuthMethod>,
    ) -> (Rotation, IssuedSession) {
        self.reissue_as(who, aal, methods, who.session.restricted)
    }

    /// As [`Core::reissue`] after a second-step method was added: the only
    /// change that lifts an enroll-only restriction.
    pub(crate) fn reissue_with_new_method(
        &self,
        who: &Authenticated,
        methods: Vec<AuthMethod>,
    ) -> (Rotation, IssuedSession) {
        self.reissue_as(who, Aal::Aal2, methods, false)
    }

    fn reissue_as(
        &self,
        who: &Authenticated,
        aal: Aal,
        methods: Vec<AuthMethod>,
        restricted: bool,
    ) -> (Rotation, IssuedSession) {
        let now = self.clock.now();
        let token = random_token(self.secrets.as_ref(), SESSION_TOKEN_BYTES);
        let rotation = Rotation {
            session: who.session.id,
            token_hash: token_hash(&token),
            aal,
            methods: methods.clone(),
            verified_at: now,
            restricted,
        };
        let mut session = who.session.clone();
        session.aal = aal;
        session.methods = methods;
        session.verified_at = now;
        session.restricted = restricted;
        (
            rotation,
            IssuedSession {
                token,
                session,
                device_token: None,
            },
        )
    }

    /// The caller's live sessions, newest first.
    pub async fn my_sessions(&self, who: &Authenticated) -> Result<Vec<Session>, CoreError> {
        let now = self.clock.now();
        let policy = &self.config.session_policy;
        Ok(self
            .store
            .sessions_of(who.account.id)
            .await?
            .into_iter()
            .filter(|s| s.is_live(policy, now))
            .collect())
    }

    /// Ends one of the caller's own sessions (possibly the current one).
    pub async fn end_my_session(
        &self,
        who: &Authenticated,
        id: SessionId,
        ctx: &RequestContext,
    ) -> Result<(), CoreError> {
        if !self.store.delete_session(who.account.id, id).await? {
            return Err(CoreError::NotFound("session"));
        }
        self.audit_revoked(who, serde_json::json!({ "session": id.to_string() }), ctx)
            .await;
        Ok(())
    }

    /// Signs out of the current session; restricted sessions may too.
    pub async fn sign_out(&self, access: &Access, ctx: &RequestContext) -> Result<(), CoreError> {
        let who = access.holder();
        self.end_my_session(who, who.session.id, ctx).await
    }

    /// Signs out of every session except the current one.
    pub async fn end_my_other_sessions(
        &self,
        who: &Authenticated,
        ctx: &RequestContext,
    ) -> Result<u64, CoreError> {
        // The count lands in the audit record, written in the same commit.
        let mut effects = Effects::at(self.clock.now())
            .end_sessions(who.account.id, Some(who.session.id))
            .audit(
                NewAuditEvent::new(AuditKind::SessionRevoked)
                    .actor(who.account.id)
                    .subject(who.account.id)
                    .ip(ctx.ip.clone())
                    .detail_json(serde_json::json!({ "others": true })),
            );
        effects.count_in_audit = true;
        Ok(self.store.apply(&effects).await?.sessions_ended)
    }

    async fn audit_revoked(
        &self,
        who: &Authenticated,
        detail: serde_json::Value,
        ctx: &RequestContext,
    ) {
        self.audit(
            NewAuditEvent::new(AuditKind::SessionRevoked)
                .actor(who.account.id)
                .subject(who.account.id)
                .ip(ctx.ip.clone())
                .detail_json(detail),
        )
        .await;
    }

    /// Deletes expired sessions. Run periodically; correctness never
    /// depends on it, because expiry is checked on every use.
    pub async fn sweep_expired_sessions(&self) -> Result<u64, CoreError> {
        let now = self.clock.now();
        let idle_cutoff = now.plus_secs(-self.config.session_policy.idle_secs);
        let sessions = self.store.sweep_sessions(now, idle_cutoff).await?;
        // Grants die with their sessions; a day's margin keeps a grant
        // whose code was issued a moment ago out of the race.
        self.store.sweep_oidc_grants(now.plus_secs(-86_400)).await?;
        Ok(sessions)
    }
}
