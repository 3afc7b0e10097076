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
    /// The password hashing pool is full; try again shortly.
    #[error("The server is busy; try again in a moment.")]
    Overloaded { retry_after: Duration },
    /// Storage failed; the cause is logged, never shown.
    #[error("storage error")]
    Store(#[from] crate::store::StoreError),
    #[error("internal error")]
    Internal(String),
}

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
            CoreError::Store(_) => "storage",
            CoreError::Internal(_) => "internal",
        }
    }
}
