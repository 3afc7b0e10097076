//! The application services: each public method is one use case, called by
//! a handler or a CLI command. Rules live here; storage is reached through
//! the [`Store`] traits and time through the [`Clock`].

mod accounts;
mod audit_log;
mod sessions;
mod signin;

pub use accounts::{NewAccountInput, Sysadmin};
pub use sessions::{Authenticated, IssuedSession};
pub use signin::SigninRequest;

use crate::audit::NewAuditEvent;
use crate::clock::Clock;
use crate::password::{HashPool, PasswordPolicy};
use crate::secrets::SecretSource;
use crate::session::SessionPolicy;
use crate::store::Store;
use std::sync::Arc;

/// Rules that come from configuration.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    pub password_policy: PasswordPolicy,
    pub session_policy: SessionPolicy,
    /// Whether anyone may create their own account.
    pub signup_enabled: bool,
    /// How long a `recover-account` one-time password stays valid.
    pub break_glass_ttl_secs: i64,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            password_policy: PasswordPolicy::default(),
            session_policy: SessionPolicy::default(),
            signup_enabled: false,
            break_glass_ttl_secs: 3600,
        }
    }
}

/// Where a request came from, for sessions and the audit log.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Tessera's domain, wired to its store, clock, randomness and hash pool.
#[derive(Clone)]
pub struct Core {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub secrets: Arc<dyn SecretSource>,
    pub pool: Arc<HashPool>,
    pub config: CoreConfig,
}

impl Core {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        secrets: Arc<dyn SecretSource>,
        pool: Arc<HashPool>,
        config: CoreConfig,
    ) -> Self {
        Core {
            store,
            clock,
            secrets,
            pool,
            config,
        }
    }

    /// Records an audit event. A failure to record is logged, not returned:
    /// the action it describes has already happened.
    pub(crate) async fn audit(&self, event: NewAuditEvent) {
        let now = self.clock.now();
        if let Err(e) = self.store.append_audit(now, &event).await {
            tracing::error!(error = %e, kind = %event.kind, "could not write audit event");
        }
    }
}
