//! The domain's errors. Each has a stable code; the web layer maps them to
//! HTTP statuses and problem documents, and never shows a cause it logs.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// Input that breaks a rule; the message is safe to show.
    #[error("{0}")]
    Invalid(String),
    /// Sign-in failed. One message for every cause, so nobody learns
    /// whether an account exists.
    #[error("The email address or password is incorrect.")]
    BadCredentials,
    /// No valid session, or the session lacks what the action needs.
    #[error("Sign in to continue.")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(&'static str),
    /// A second-step code, recovery key or step-up password was wrong.
    #[error("{0}")]
    WrongProof(&'static str),
    /// Too many wrong guesses: verification is blocked for a while, and
    /// this request was not evaluated.
    #[error("Too many attempts. Wait {} and try again.", seconds(*retry_after))]
    RateLimited { retry_after: Duration },
    /// The action changes security settings and needs a recent verification.
    #[error("{0}")]
    StepUpRequired(&'static str),
    /// The sign-in flow is unknown, expired, used, or not this client's.
    #[error("This sign-in has expired. Start again.")]
    FlowExpired,
    /// Basic authentication with a password is refused for this account.
    #[error("{0}")]
    BasicAuthRefused(&'static str),
    /// The session may only be used to set up two-step verification.
    #[error("Set up two-step verification before you continue.")]
    EnrollmentRequired,
    /// The password hashing pool is full; try again shortly.
    #[error("The server is busy; try again in a moment.")]
    Overloaded { retry_after: Duration },
    /// Storage failed; the cause is logged, never shown.
    #[error("storage error")]
    Store(#[source] crate::store::StoreError),
    #[error("internal error")]
    Internal(String),
}

/// A change refused because a condition it depended on no longer held
/// reads as what changed: the session ended (signed out), or the recovery
/// key was used by a parallel request.
impl From<crate::store::StoreError> for CoreError {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::{Stale, StoreError};
        match e {
            StoreError::Stale(Stale::Session) => CoreError::Unauthenticated,
            StoreError::Stale(Stale::RecoveryKey) => CoreError::WrongProof(RECOVERY_KEY_USED),
            other => CoreError::Store(other),
        }
    }
}

/// The one answer to a recovery key that is wrong or already used.
pub const RECOVERY_KEY_USED: &str = "That recovery key is not correct, or it was already used.";

impl CoreError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            CoreError::Invalid(_) => "invalid",
            CoreError::BadCredentials => "bad_credentials",
            CoreError::Unauthenticated => "unauthenticated",
            CoreError::Forbidden(_) => "forbidden",
            CoreError::NotFound(_) => "not_found",
            CoreError::Conflict(_) => "conflict",
            CoreError::Overloaded { .. } => "overloaded",
            CoreError::WrongProof(_) => "wrong_proof",
            CoreError::RateLimited { .. } => "rate_limited",
            CoreError::StepUpRequired(_) => "step_up_required",
            CoreError::FlowExpired => "flow_expired",
            CoreError::EnrollmentRequired => "enrollment_required",
            CoreError::BasicAuthRefused(_) => "basic_auth_refused",
            CoreError::Store(_) => "storage",
            CoreError::Internal(_) => "internal",
        }
    }
}

/// "1 second", "5 seconds": a wait in words, rounded up.
fn seconds(d: Duration) -> String {
    let n = d.as_secs_f64().ceil().max(1.0) as u64;
    if n == 1 {
        "1 second".into()
    } else {
        format!("{n} seconds")
    }
}
