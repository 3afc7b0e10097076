#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! One contract, two backends: every test here runs against SQLite and,
//! when `TESSERA_TEST_POSTGRES_URL` is set, against PostgreSQL.
//!
//! This file holds the fixtures and the records the tests share; the tests
//! live in one module per store trait (`accounts`, `sessions`, `flows`, …),
//! each instantiated for both backends.

use std::sync::Arc;
use tessera_core::account::{Account, AccountKind, Role};
use tessera_core::audit::{AuditFilter, AuditKind, NewAuditEvent};
use tessera_core::clock::Timestamp;
use tessera_core::email::Email;
use tessera_core::ids::{AccountId, SessionId};
use tessera_core::session::{Aal, AuthMethod, ClientKind, Session};
use tessera_core::store::{
    CeremonyRecord, Claim, FlowRecord, KnownDevice, NewSession, OtpRecord, OtpSend,
    OutgoingMessage, SendBudget, SendChannel, SessionExtras, SessionStart, SlotRule, Store,
    StoreError, TotpCommit, WebauthnRecord,
};
use tessera_core::twostep::backoff::BackoffPolicy;
use tessera_core::twostep::methods::{Addition, MethodKind, Removal};

mod accounts;
mod audit;
mod cache_revocation;
mod ceremonies;
mod devices;
mod flows;
mod limiter;
mod methods;
mod oidc;
mod orgs;
mod outbox;
mod sessions;
mod tokens;
mod twostep;

/// A store and whatever keeps it alive (a temp dir, a PG schema name).
struct Fixture {
    store: Arc<dyn Store>,
    _guard: Box<dyn std::any::Any + Send>,
}

async fn sqlite() -> Option<Fixture> {
    let dir = tempfile::tempdir().unwrap();
    let store = tessera_store::SqliteStore::open(&dir.path().join("t.db"))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    Some(Fixture {
        store: Arc::new(store),
        _guard: Box::new(dir),
    })
}

/// A fresh schema on the test server and a URL whose connections work in
/// it; `None` (after saying SKIPPED) when no server is configured.
async fn pg_schema_url() -> Option<String> {
    tessera_testkit::pg::fresh_test_schema("t", "PostgreSQL conformance").await
}

async fn postgres() -> Option<Fixture> {
    let scoped = pg_schema_url().await?;
    let store = tessera_store::PgStore::connect(&scoped).await.unwrap();
    store.migrate().await.unwrap();
    Some(Fixture {
        store: Arc::new(store),
        _guard: Box::new(scoped),
    })
}

fn account(email: &str) -> Account {
    Account {
        id: AccountId(uuid::Uuid::new_v4()),
        email: Email::parse(email).unwrap(),
        display_name: "Test Person".into(),
        kind: AccountKind::Human,
        role: Role::Member,
        active: true,
        password_hash: Some("$argon2id$fake".into()),
        created_at: Timestamp(1_000),
    }
}

fn session_for(account: AccountId, created: i64) -> Session {
    Session {
        id: SessionId(uuid::Uuid::new_v4()),
        account_id: account,
        client: ClientKind::Web,
        aal: Aal::Aal1,
        methods: vec![AuthMethod::Password],
        created_at: Timestamp(created),
        verified_at: Timestamp(created),
        last_seen_at: Timestamp(created),
        expires_at: Timestamp(created + 1_000_000),
        ip: Some("203.0.113.9".into()),
        device: "Firefox on Linux".into(),
        restricted: false,
    }
}

fn rule(p: &BackoffPolicy) -> SlotRule {
    SlotRule {
        tolerated: p.tolerated,
        ceiling: p.ceiling,
        lease_ms: p.lease_ms,
    }
}
