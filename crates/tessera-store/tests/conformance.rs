#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! One contract, two backends: every test here runs against SQLite and,
//! when `TESSERA_TEST_POSTGRES_URL` is set, against PostgreSQL.

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

mod cache_revocation;
mod orgs;
mod tokens;

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
    let Ok(url) = std::env::var("TESSERA_TEST_POSTGRES_URL") else {
        eprintln!("SKIPPED: TESSERA_TEST_POSTGRES_URL is not set, PostgreSQL conformance not run");
        return None;
    };
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let admin = tessera_store::PgStore::connect(&url).await.unwrap();
    admin
        .execute_raw(&format!("CREATE SCHEMA {schema}"))
        .await
        .unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    Some(format!("{url}{sep}options=-c%20search_path%3D{schema}"))
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

macro_rules! conformance {
    ($backend:ident) => {
        mod $backend {
            use super::*;

            async fn store() -> Option<Arc<dyn Store>> {
                // The guard leaks deliberately: the database must outlive the test body.
                super::$backend().await.map(|f| {
                    let store = f.store.clone();
                    std::mem::forget(f._guard);
                    store
                })
            }

            #[tokio::test]
            async fn accounts_round_trip_and_emails_are_unique() {
                let Some(s) = store().await else { return };
                let a = account("Ann@Example.com");
                s.insert_account(&a).await.unwrap();
                let got = s
                    .account_by_email(&Email::parse("ann@example.com").unwrap())
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(got, a);
                assert_eq!(s.account_by_id(a.id).await.unwrap().unwrap(), a);
                let dup = account("ann@example.com");
                assert!(matches!(
                    s.insert_account(&dup).await,
                    Err(StoreError::Conflict(_))
                ));
                assert_eq!(s.count_accounts().await.unwrap(), 1);
                assert!(
                    s.account_by_id(AccountId(uuid::Uuid::new_v4()))
                        .await
                        .unwrap()
                        .is_none()
                );
            }

            #[tokio::test]
            async fn methods_first_last_duplicate_and_sms_only_first() {
                let Some(s) = store().await else { return };
                let a = account("keys@example.com");
                s.insert_account(&a).await.unwrap();
                assert!(!s.inventory(a.id).await.unwrap().two_step_on());
                let key = |n: u8, kind: MethodKind| WebauthnRecord {
                    id: uuid::Uuid::new_v4(),
                    account_id: a.id,
                    kind,
                    name: format!("key {n}"),
                    credential_id: vec![n; 16],
                    credential: "{}".into(),
                    counter: 0,
                    created_at: Timestamp(i64::from(n)),
                    last_used_at: None,
                };
                let k1 = key(1, MethodKind::SecurityKey);
                assert_eq!(
                    s.add_webauthn(&k1, Some("rk"), Timestamp(1)).await.unwrap(),
                    Addition::Added { first: true }
                );
                assert_eq!(
                    s.recovery_key_hash(a.id).await.unwrap().as_deref(),
                    Some("rk")
                );
                let k2 = key(2, MethodKind::Passkey);
                assert_eq!(
                    s.add_webauthn(&k2, Some("other"), Timestamp(2))
                        .await
                        .unwrap(),
                    Addition::Added { first: false }
                );
                assert_eq!(
                    s.recovery_key_hash(a.id).await.unwrap().as_deref(),
                    Some("rk"),
                    "a later method keeps the recovery key"
                );
                // The same authenticator credential cannot be registered twice.
                let mut again = key(2, MethodKind::Passkey);
                again.id = uuid::Uuid::new_v4();
                assert_eq!(
                    s.add_webauthn(&again, None, Timestamp(3)).await.unwrap(),
                    Addition::Duplicate
                );
                let inv = s.inventory(a.id).await.unwrap();
                assert_eq!(inv.keys.len(), 2);
                assert_eq!(inv.keys[0].name, "key 1");
                assert_eq!(inv.keys[1].kind, MethodKind::Passkey);
                // Text messages only as the first method.
                s.set_pending_phone(a.id, "+15555550100", Timestamp(4))
                    .await
                    .unwrap();
                assert_eq!(
                    s.activate_sms(a.id, "+15555550100", "rk2", Timestamp(5))
                        .await
                        .unwrap(),
                    Addition::NotFirst
                );
                assert!(s.inventory(a.id).await.unwrap().sms_phone.is_none());
                // Rename only one's own; remove until one is left.
                assert!(s.rename_webauthn(a.id, k1.id, "Blue").await.unwrap());
                assert!(
                    !s.rename_webauthn(AccountId(uuid::Uuid::new_v4()), k1.id, "x")
                        .await
                        .unwrap()
                );
                assert_eq!(
                    s.remove_webauthn(a.id, k2.id).await.unwrap(),
                    Removal::Removed
                );
                assert_eq!(
                    s.remove_webauthn(a.id, k2.id).await.unwrap(),
                    Removal::NotFound
                );
                assert_eq!(
                    s.remove_webauthn(a.id, k1.id).await.unwrap(),
                    Removal::LastMethod
                );
                let inv = s.inventory(a.id).await.unwrap();
                assert_eq!(inv.keys.len(), 1);
                assert_eq!(inv.keys[0].name, "Blue");
                // The counter moves forward once per use, decided by the database.
                assert!(
                    s.record_webauthn_use(k1.id, 0, 5, "{}", Timestamp(6))
                        .await
                        .unwrap()
                );
                assert!(
                    !s.record_webauthn_use(k1.id, 0, 6, "{}", Timestamp(7))
                        .await
                        .unwrap()
                );
                let rec = s
                    .webauthn_by_credential_id(&[1; 16])
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!((rec.counter, rec.last_used_at), (5, Some(Timestamp(6))));
                s.set_last_method(a.id, MethodKind::SecurityKey)
                    .await
                    .unwrap();
                assert_eq!(
                    s.inventory(a.id).await.unwrap().last_used,
                    Some(MethodKind::SecurityKey)
                );
                // Turning 2SV off removes every method.
                assert!(s.disable_two_step(a.id).await.unwrap());
                let inv = s.inventory(a.id).await.unwrap();
                assert!(!inv.two_step_on() && inv.last_used.is_none());
                // Now text messages may be the first method.
                s.set_pending_phone(a.id, "+15555550100", Timestamp(8))
                    .await
                    .unwrap();
                assert_eq!(
                    s.activate_sms(a.id, "+15555550100", "rk3", Timestamp(9))
                        .await
                        .unwrap(),
                    Addition::Added { first: true }
                );
                assert_eq!(s.remove_sms(a.id).await.unwrap(), Removal::LastMethod);
            }

            #[tokio::test]
            async fn parallel_removals_never_remove_the_last_method() {
                let Some(s) = store().await else { return };
                let a = account("race-remove@example.com");
                s.insert_account(&a).await.unwrap();
                let mut ids = Vec::new();
                for n in 0..4u8 {
                    let rec = WebauthnRecord {
                        id: uuid::Uuid::new_v4(),
                        account_id: a.id,
                        kind: MethodKind::SecurityKey,
                        name: format!("k{n}"),
                        credential_id: vec![n, 9, 9, 9],
                        credential: "{}".into(),
                        counter: 0,
                        created_at: Timestamp(i64::from(n)),
                        last_used_at: None,
                    };
                    s.add_webauthn(&rec, Some("rk"), Timestamp(1))
                        .await
                        .unwrap();
                    ids.push(rec.id);
                }
                let mut tasks = Vec::new();
                for id in ids {
                    let s = s.clone();
                    tasks.push(tokio::spawn(
                        async move { s.remove_webauthn(a.id, id).await },
                    ));
                }
                let mut removed = 0;
                for t in tasks {
                    if t.await.unwrap().unwrap() == Removal::Removed {
                        removed += 1;
                    }
                }
                assert_eq!(removed, 3);
                assert_eq!(s.inventory(a.id).await.unwrap().keys.len(), 1);
            }

            const BUDGET: SendBudget = SendBudget {
                channel: SendChannel::Text,
                max: 3,
                window_ms: 100_000,
            };

            #[tokio::test]
            async fn ceremonies_and_texted_codes_are_single_use() {
                let Some(s) = store().await else { return };
                let a = account("ceremony@example.com");
                s.insert_account(&a).await.unwrap();
                let c = CeremonyRecord {
                    account_id: Some(a.id),
                    purpose: "register".into(),
                    state: "{\"a\":1}".into(),
                    expires_at: Timestamp(10_000),
                };
                s.put_ceremony("k", &c).await.unwrap();
                // The latest ceremony replaces the one before.
                let newer = CeremonyRecord {
                    state: "{\"a\":2}".into(),
                    ..c.clone()
                };
                s.put_ceremony("k", &newer).await.unwrap();
                let mut tasks = Vec::new();
                for _ in 0..10 {
                    let s = s.clone();
                    tasks.push(tokio::spawn(
                        async move { s.take_ceremony("k").await.unwrap() },
                    ));
                }
                let mut got = Vec::new();
                for t in tasks {
                    if let Some(c) = t.await.unwrap() {
                        got.push(c);
                    }
                }
                assert_eq!(got, vec![newer], "taken exactly once, and only the latest");

                let otp = OtpRecord {
                    account_id: a.id,
                    code_mac: vec![1; 32],
                    sent_at: Timestamp(1_000),
                    expires_at: Timestamp(601_000),
                };
                let msg = OutgoingMessage {
                    channel: "sms".into(),
                    recipient: "+15555550100".into(),
                    subject: String::new(),
                    body: "sealed".into(),
                };
                assert_eq!(
                    s.put_otp_and_send("signin:f", &otp, Timestamp(0), BUDGET, &msg)
                        .await
                        .unwrap(),
                    OtpSend::Sent
                );
                // Within the cooldown a new code is refused and nothing is queued.
                let second = OtpRecord {
                    code_mac: vec![2; 32],
                    sent_at: Timestamp(2_000),
                    ..otp.clone()
                };
                assert_eq!(
                    s.put_otp_and_send("signin:f", &second, Timestamp(-28_000), BUDGET, &msg)
                        .await
                        .unwrap(),
                    OtpSend::CoolingDown
                );
                assert_eq!(s.outbox_for("+15555550100").await.unwrap().len(), 1);
                assert_eq!(
                    s.otp_sent_at("signin:f").await.unwrap(),
                    Some(Timestamp(1_000))
                );
                // After it, the new code replaces the old one.
                let third = OtpRecord {
                    code_mac: vec![3; 32],
                    sent_at: Timestamp(40_000),
                    ..otp.clone()
                };
                assert_eq!(
                    s.put_otp_and_send("signin:f", &third, Timestamp(10_000), BUDGET, &msg)
                        .await
                        .unwrap(),
                    OtpSend::Sent
                );
                assert_eq!(s.outbox_for("+15555550100").await.unwrap().len(), 2);
                // The account's budget (3 per 100 s here) counts every
                // purpose: a third text goes out, a fourth waits for the
                // window to end, and nothing is queued for it.
                let other = OtpRecord {
                    sent_at: Timestamp(41_000),
                    ..otp.clone()
                };
                assert_eq!(
                    s.put_otp_and_send("step_up:x", &other, Timestamp(0), BUDGET, &msg)
                        .await
                        .unwrap(),
                    OtpSend::Sent
                );
                let fourth = OtpRecord {
                    sent_at: Timestamp(42_000),
                    ..otp.clone()
                };
                assert_eq!(
                    s.put_otp_and_send("enroll:y", &fourth, Timestamp(0), BUDGET, &msg)
                        .await
                        .unwrap(),
                    OtpSend::OverBudget {
                        until: Timestamp(101_000)
                    }
                );
                assert_eq!(s.outbox_for("+15555550100").await.unwrap().len(), 3);
                assert_eq!(
                    s.otp_sent_at("enroll:y").await.unwrap(),
                    None,
                    "nothing stored"
                );
                // Mail counts apart: with texts spent, a code mail still goes
                // out, up to the mail budget, which spends no texts.
                const MAIL: SendBudget = SendBudget {
                    channel: SendChannel::Mail,
                    max: 3,
                    window_ms: 100_000,
                };
                let mail = OutgoingMessage {
                    channel: "email".into(),
                    recipient: "ceremony@example.com".into(),
                    subject: "Your code".into(),
                    body: "sealed".into(),
                };
                for (i, key) in ["mail:a", "mail:b", "mail:c"].into_iter().enumerate() {
                    let m = OtpRecord {
                        sent_at: Timestamp(42_000 + i as i64),
                        ..otp.clone()
                    };
                    assert_eq!(
                        s.put_otp_and_send(key, &m, Timestamp(0), MAIL, &mail)
                            .await
                            .unwrap(),
                        OtpSend::Sent
                    );
                }
                let m = OtpRecord {
                    sent_at: Timestamp(43_000),
                    ..otp.clone()
                };
                assert_eq!(
                    s.put_otp_and_send("mail:d", &m, Timestamp(0), MAIL, &mail)
                        .await
                        .unwrap(),
                    OtpSend::OverBudget {
                        until: Timestamp(142_000)
                    }
                );
                assert_eq!(s.outbox_for("ceremony@example.com").await.unwrap().len(), 3);
                let later = OtpRecord {
                    sent_at: Timestamp(101_000),
                    ..otp.clone()
                };
                assert_eq!(
                    s.put_otp_and_send("enroll:y", &later, Timestamp(0), BUDGET, &msg)
                        .await
                        .unwrap(),
                    OtpSend::Sent,
                    "a new window"
                );
                assert!(
                    !s.consume_otp("signin:f", &[1; 32], Timestamp(50_000))
                        .await
                        .unwrap()
                );
                assert!(
                    !s.consume_otp("step_up:f", &[3; 32], Timestamp(50_000))
                        .await
                        .unwrap()
                );
                assert!(
                    !s.consume_otp("signin:f", &[3; 32], Timestamp(601_000))
                        .await
                        .unwrap(),
                    "expired"
                );
                let mut tasks = Vec::new();
                for _ in 0..10 {
                    let s = s.clone();
                    tasks.push(tokio::spawn(async move {
                        s.consume_otp("signin:f", &[3; 32], Timestamp(50_000))
                            .await
                            .unwrap()
                    }));
                }
                let mut ok = 0;
                for t in tasks {
                    if t.await.unwrap() {
                        ok += 1;
                    }
                }
                assert_eq!(ok, 1);
            }

            #[tokio::test]
            async fn parallel_inserts_of_one_email_yield_one_account() {
                let Some(s) = store().await else { return };
                let mut tasks = Vec::new();
                for _ in 0..20 {
                    let s = s.clone();
                    tasks.push(tokio::spawn(async move {
                        s.insert_account(&account("race@example.com")).await
                    }));
                }
                let mut ok = 0;
                for t in tasks {
                    match t.await.unwrap() {
                        Ok(()) => ok += 1,
                        Err(StoreError::Conflict(_)) => {}
                        Err(e) => panic!("unexpected {e}"),
                    }
                }
                assert_eq!(ok, 1);
                assert_eq!(s.count_accounts().await.unwrap(), 1);
            }

            #[tokio::test]
            async fn listing_pages_by_email() {
                let Some(s) = store().await else { return };
                for e in ["c@x.io", "a@x.io", "b@x.io"] {
                    s.insert_account(&account(e)).await.unwrap();
                }
                let page: Vec<String> = s
                    .list_accounts(1, 5)
                    .await
                    .unwrap()
                    .iter()
                    .map(|a| a.email.to_string())
                    .collect();
                assert_eq!(page, vec!["b@x.io", "c@x.io"]);
            }

            #[tokio::test]
            async fn updates_role_active_and_password() {
                let Some(s) = store().await else { return };
                let a = account("u@x.io");
                s.insert_account(&a).await.unwrap();
                assert!(
                    s.set_role(a.id, Role::Sysadmin, Timestamp(2))
                        .await
                        .unwrap()
                );
                assert!(s.set_active(a.id, false, Timestamp(2)).await.unwrap());
                assert!(s.set_password_hash(a.id, "h2", Timestamp(2)).await.unwrap());
                let got = s.account_by_id(a.id).await.unwrap().unwrap();
                assert_eq!(
                    (got.role, got.active, got.password_hash.as_deref()),
                    (Role::Sysadmin, false, Some("h2"))
                );
                // Compare-and-swap: a stale "old" hash changes nothing.
                assert!(
                    !s.replace_password_hash(a.id, "h1", "h3", Timestamp(3))
                        .await
                        .unwrap()
                );
                assert!(
                    s.replace_password_hash(a.id, "h2", "h3", Timestamp(3))
                        .await
                        .unwrap()
                );
                let missing = AccountId(uuid::Uuid::new_v4());
                assert!(
                    !s.set_role(missing, Role::Member, Timestamp(2))
                        .await
                        .unwrap()
                );
                assert!(!s.set_active(missing, true, Timestamp(2)).await.unwrap());
            }

            #[tokio::test]
            async fn break_glass_expires_and_is_consumed_once_under_race() {
                let Some(s) = store().await else { return };
                let a = account("bg@x.io");
                s.insert_account(&a).await.unwrap();
                assert!(s.break_glass(a.id, Timestamp(0)).await.unwrap().is_none());
                assert!(
                    s.set_break_glass(a.id, "bg-hash", Timestamp(5_000))
                        .await
                        .unwrap()
                );
                assert!(
                    s.break_glass(a.id, Timestamp(5_000))
                        .await
                        .unwrap()
                        .is_none(),
                    "expired"
                );
                assert_eq!(
                    s.break_glass(a.id, Timestamp(4_999))
                        .await
                        .unwrap()
                        .as_deref(),
                    Some("bg-hash")
                );
                let mut tasks = Vec::new();
                for _ in 0..20 {
                    let s = s.clone();
                    tasks.push(tokio::spawn(async move {
                        s.consume_break_glass(a.id, "bg-hash").await.unwrap()
                    }));
                }
                let mut won = 0;
                for t in tasks {
                    if t.await.unwrap() {
                        won += 1;
                    }
                }
                assert_eq!(won, 1);
                assert!(s.break_glass(a.id, Timestamp(0)).await.unwrap().is_none());
            }

            #[tokio::test]
            async fn sessions_lookup_rotate_and_revoke() {
                let Some(s) = store().await else { return };
                let a = account("s@x.io");
                s.insert_account(&a).await.unwrap();
                let s1 = session_for(a.id, 10);
                let s2 = session_for(a.id, 20);
                let s3 = session_for(a.id, 30);
                for (sess, tok) in [(&s1, b"t1"), (&s2, b"t2"), (&s3, b"t3")] {
                    s.insert_session(&NewSession {
                        session: sess.clone(),
                        token_hash: tok.to_vec(),
                    })
                    .await
                    .unwrap();
                }
                let (got, acc) = s.session_by_token(b"t1").await.unwrap().unwrap();
                assert_eq!(got, s1);
                assert_eq!(acc, a);
                assert!(s.session_by_token(b"nope").await.unwrap().is_none());

                s.touch_session(s1.id, Timestamp(500)).await.unwrap();
                s.touch_session(s1.id, Timestamp(400)).await.unwrap(); // never moves back
                assert_eq!(
                    s.session_by_token(b"t1")
                        .await
                        .unwrap()
                        .unwrap()
                        .0
                        .last_seen_at,
                    Timestamp(500)
                );

                assert!(
                    s.rotate_session(
                        s1.id,
                        b"t1-new",
                        Aal::Aal2,
                        &[AuthMethod::Password],
                        Timestamp(600),
                        false
                    )
                    .await
                    .unwrap()
                );
                assert!(
                    s.session_by_token(b"t1").await.unwrap().is_none(),
                    "old token must die"
                );
                let rotated = s.session_by_token(b"t1-new").await.unwrap().unwrap().0;
                assert_eq!(
                    (rotated.id, rotated.aal, rotated.verified_at),
                    (s1.id, Aal::Aal2, Timestamp(600))
                );

                let ids: Vec<_> = s
                    .sessions_of(a.id)
                    .await
                    .unwrap()
                    .iter()
                    .map(|x| x.id)
                    .collect();
                assert_eq!(ids, vec![s3.id, s2.id, s1.id]);

                let other = account("o@x.io");
                s.insert_account(&other).await.unwrap();
                assert!(
                    !s.delete_session(other.id, s2.id).await.unwrap(),
                    "not theirs"
                );
                assert!(s.delete_session(a.id, s2.id).await.unwrap());
                assert_eq!(
                    s.delete_sessions_except(a.id, Some(s1.id)).await.unwrap(),
                    1
                );
                let ids: Vec<_> = s
                    .sessions_of(a.id)
                    .await
                    .unwrap()
                    .iter()
                    .map(|x| x.id)
                    .collect();
                assert_eq!(ids, vec![s1.id]);
                assert_eq!(s.delete_sessions_except(a.id, None).await.unwrap(), 1);
                assert!(s.sessions_of(a.id).await.unwrap().is_empty());
            }

            #[tokio::test]
            async fn duplicate_token_hash_is_a_conflict() {
                let Some(s) = store().await else { return };
                let a = account("d@x.io");
                s.insert_account(&a).await.unwrap();
                s.insert_session(&NewSession {
                    session: session_for(a.id, 1),
                    token_hash: b"same".to_vec(),
                })
                .await
                .unwrap();
                let r = s
                    .insert_session(&NewSession {
                        session: session_for(a.id, 2),
                        token_hash: b"same".to_vec(),
                    })
                    .await;
                assert!(matches!(r, Err(StoreError::Conflict(_))));
            }

            #[tokio::test]
            async fn sweep_removes_only_expired_sessions() {
                let Some(s) = store().await else { return };
                let a = account("w@x.io");
                s.insert_account(&a).await.unwrap();
                let mut old = session_for(a.id, 0);
                old.expires_at = Timestamp(100);
                let mut idle = session_for(a.id, 0);
                idle.last_seen_at = Timestamp(50);
                let fresh = session_for(a.id, 150);
                for (x, t) in [(&old, b"1"), (&idle, b"2"), (&fresh, b"3")] {
                    s.insert_session(&NewSession {
                        session: x.clone(),
                        token_hash: t.to_vec(),
                    })
                    .await
                    .unwrap();
                }
                assert_eq!(
                    s.sweep_sessions(Timestamp(200), Timestamp(60))
                        .await
                        .unwrap(),
                    2
                );
                let left: Vec<_> = s
                    .sessions_of(a.id)
                    .await
                    .unwrap()
                    .iter()
                    .map(|x| x.id)
                    .collect();
                assert_eq!(left, vec![fresh.id]);
            }

            #[tokio::test]
            async fn audit_appends_and_filters_newest_first() {
                let Some(s) = store().await else { return };
                let a = AccountId(uuid::Uuid::new_v4());
                let b = AccountId(uuid::Uuid::new_v4());
                s.append_audit(
                    Timestamp(1),
                    &NewAuditEvent::new(AuditKind::AccountCreated).subject(a),
                )
                .await
                .unwrap();
                s.append_audit(
                    Timestamp(2),
                    &NewAuditEvent::new(AuditKind::SigninFailed)
                        .subject(a)
                        .ip(Some("198.51.100.1".into())),
                )
                .await
                .unwrap();
                s.append_audit(
                    Timestamp(3),
                    &NewAuditEvent::new(AuditKind::SigninSucceeded)
                        .actor(b)
                        .subject(b)
                        .detail_json(serde_json::json!({ "x": 1 })),
                )
                .await
                .unwrap();
                let all = s
                    .list_audit(&AuditFilter {
                        limit: 10,
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                assert_eq!(
                    all.iter().map(|e| e.at.millis()).collect::<Vec<_>>(),
                    vec![3, 2, 1]
                );
                assert_eq!(all[0].detail, r#"{"x":1}"#);
                assert_eq!(all[0].actor, Some(b));
                let of_a = s
                    .list_audit(&AuditFilter {
                        subject: Some(a),
                        limit: 10,
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                assert_eq!(of_a.len(), 2);
                let failed = s
                    .list_audit(&AuditFilter {
                        kind: Some(AuditKind::SigninFailed),
                        limit: 10,
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                assert_eq!(failed.len(), 1);
                assert_eq!(failed[0].ip.as_deref(), Some("198.51.100.1"));
                let window = s
                    .list_audit(&AuditFilter {
                        since: Some(Timestamp(2)),
                        until: Some(Timestamp(3)),
                        limit: 10,
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                assert_eq!(window.len(), 1);
                let page = s
                    .list_audit(&AuditFilter {
                        before_id: Some(all[0].id),
                        limit: 1,
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                assert_eq!(page.len(), 1);
                assert_eq!(page[0].id, all[1].id);
            }

            #[tokio::test]
            async fn totp_enrollment_activation_and_replay_guard() {
                let Some(s) = store().await else { return };
                let a = account("t@x.io");
                s.insert_account(&a).await.unwrap();
                assert!(s.totp_of(a.id).await.unwrap().is_none());
                s.set_pending_totp(a.id, b"sealed-1", Timestamp(5))
                    .await
                    .unwrap();
                s.set_pending_totp(a.id, b"sealed-2", Timestamp(6))
                    .await
                    .unwrap();
                assert_eq!(
                    s.pending_totp(a.id).await.unwrap(),
                    Some((b"sealed-2".to_vec(), Timestamp(6)))
                );
                // A stale pending seed does not activate.
                assert!(
                    !s.activate_totp(a.id, b"sealed-1", 100, Some("rk1"), Timestamp(7))
                        .await
                        .unwrap()
                );
                assert!(s.totp_of(a.id).await.unwrap().is_none());
                assert!(
                    s.activate_totp(a.id, b"sealed-2", 100, Some("rk1"), Timestamp(7))
                        .await
                        .unwrap()
                );
                assert!(s.pending_totp(a.id).await.unwrap().is_none());
                let rec = s.totp_of(a.id).await.unwrap().unwrap();
                assert_eq!(
                    (rec.sealed_secret.as_slice(), rec.last_step),
                    (&b"sealed-2"[..], 100)
                );
                assert_eq!(
                    s.recovery_key_hash(a.id).await.unwrap().as_deref(),
                    Some("rk1")
                );
                assert!(s.has_sealed_secrets().await.unwrap());

                // Steps only move forward, and each is used once under a race.
                assert!(!s.consume_totp_step(a.id, 100).await.unwrap());
                assert!(!s.consume_totp_step(a.id, 99).await.unwrap());
                let mut tasks = Vec::new();
                for _ in 0..20 {
                    let s = s.clone();
                    tasks.push(tokio::spawn(async move {
                        s.consume_totp_step(a.id, 101).await.unwrap()
                    }));
                }
                let mut won = 0;
                for t in tasks {
                    if t.await.unwrap() {
                        won += 1;
                    }
                }
                assert_eq!(won, 1);

                // Replacing the app keeps the recovery key when none is given.
                s.set_pending_totp(a.id, b"sealed-3", Timestamp(8))
                    .await
                    .unwrap();
                assert!(
                    s.activate_totp(a.id, b"sealed-3", 200, None, Timestamp(9))
                        .await
                        .unwrap()
                );
                assert_eq!(
                    s.totp_of(a.id).await.unwrap().unwrap().sealed_secret,
                    b"sealed-3"
                );
                assert_eq!(
                    s.recovery_key_hash(a.id).await.unwrap().as_deref(),
                    Some("rk1")
                );

                assert!(s.disable_two_step(a.id).await.unwrap());
                assert!(s.totp_of(a.id).await.unwrap().is_none());
                assert!(s.recovery_key_hash(a.id).await.unwrap().is_none());
                assert!(!s.disable_two_step(a.id).await.unwrap());
            }

            #[tokio::test]
            async fn a_recovery_key_is_used_once_under_a_race() {
                let Some(s) = store().await else { return };
                let a = account("rk@x.io");
                s.insert_account(&a).await.unwrap();
                s.set_pending_totp(a.id, b"p", Timestamp(1)).await.unwrap();
                s.activate_totp(a.id, b"p", 1, Some("old"), Timestamp(1))
                    .await
                    .unwrap();
                let mut tasks = Vec::new();
                for i in 0..20 {
                    let s = s.clone();
                    tasks.push(tokio::spawn(async move {
                        s.replace_recovery_key(a.id, Some("old"), &format!("new-{i}"), Timestamp(2))
                            .await
                            .unwrap()
                    }));
                }
                let mut won = 0;
                for t in tasks {
                    if t.await.unwrap() {
                        won += 1;
                    }
                }
                assert_eq!(won, 1);
                assert!(
                    s.recovery_key_hash(a.id)
                        .await
                        .unwrap()
                        .unwrap()
                        .starts_with("new-")
                );
                assert!(
                    s.replace_recovery_key(a.id, None, "fresh", Timestamp(3))
                        .await
                        .unwrap()
                );
                assert_eq!(
                    s.recovery_key_hash(a.id).await.unwrap().as_deref(),
                    Some("fresh")
                );
            }

            #[tokio::test]
            async fn backoff_grants_no_more_slots_than_a_sequential_attacker_gets() {
                let Some(s) = store().await else { return };
                let now = Timestamp(1_000_000);
                let policy = BackoffPolicy {
                    tolerated: 5,
                    ..BackoffPolicy::default()
                };
                let mut tasks = Vec::new();
                for _ in 0..50 {
                    let s = s.clone();
                    tasks.push(tokio::spawn(async move {
                        s.limiter_claim("k", None, now, rule(&policy))
                            .await
                            .unwrap()
                    }));
                }
                let mut granted = 0;
                for t in tasks {
                    if t.await.unwrap() == Claim::Granted {
                        granted += 1;
                    }
                }
                assert_eq!(granted, 6, "tolerated 5 + 1");
                // An abandoned slot frees itself when its lease runs out.
                assert_eq!(
                    s.limiter_claim("k", None, now, rule(&policy))
                        .await
                        .unwrap(),
                    Claim::Busy
                );
                assert_eq!(
                    s.limiter_claim("k", None, now.plus_secs(31), rule(&policy))
                        .await
                        .unwrap(),
                    Claim::Granted
                );
                // A released slot is free again at once; a success clears.
                s.limiter_release("k").await.unwrap();
                s.limiter_count_failure("k").await.unwrap();
                s.limiter_success("k", None).await.unwrap();
                assert_eq!(s.limiter_state("k").await.unwrap(), Some((0, Timestamp(0))));
            }

            /// Core computes slots and blocks; the store's claim applies
            /// them. For every failure count from 0 to 120 the two agree:
            /// as many slots as `BackoffPolicy::slots`, a block that ends
            /// exactly when core says, and a lock at the ceiling.
            #[tokio::test]
            async fn the_store_and_core_agree_on_slots_blocks_and_the_ceiling() {
                let Some(s) = store().await else { return };
                let policy = BackoffPolicy {
                    tolerated: 5,
                    ..BackoffPolicy::default()
                };
                let mut now = Timestamp(10_000_000);
                for failures in 0..=120u32 {
                    // Outside any block: count the slots the store grants.
                    let mut granted = 0;
                    loop {
                        match s
                            .limiter_claim("agree", None, now, rule(&policy))
                            .await
                            .unwrap()
                        {
                            Claim::Granted => granted += 1,
                            Claim::Busy => break,
                            Claim::Locked => break,
                            other => panic!("{failures} failures: unexpected {other:?}"),
                        }
                        assert!(granted <= 50, "runaway slots");
                    }
                    assert_eq!(
                        granted,
                        policy.slots(failures),
                        "slots after {failures} failures"
                    );
                    let locked = s
                        .limiter_claim("agree", None, now, rule(&policy))
                        .await
                        .unwrap()
                        == Claim::Locked;
                    assert_eq!(
                        locked,
                        policy.locked(failures),
                        "lock after {failures} failures"
                    );
                    for _ in 0..granted {
                        s.limiter_release("agree").await.unwrap();
                    }
                    // One more failure, blocked as core says.
                    let counted = s.limiter_count_failure("agree").await.unwrap();
                    assert_eq!(counted, failures + 1);
                    let until = policy
                        .block_after(counted)
                        .map(|d| now.plus_millis(d.as_millis() as i64));
                    s.limiter_settle("agree", until).await.unwrap();
                    let (stored, blocked) = s.limiter_state("agree").await.unwrap().unwrap();
                    assert_eq!(stored, counted);
                    assert_eq!(blocked, until.unwrap_or(Timestamp(0)).max(blocked));
                    if let Some(until) = until {
                        let expect = if policy.locked(counted) {
                            Claim::Locked
                        } else {
                            Claim::BlockedUntil(until)
                        };
                        assert_eq!(
                            s.limiter_claim("agree", None, now, rule(&policy))
                                .await
                                .unwrap(),
                            expect,
                            "during the block after {counted} failures"
                        );
                    }
                    now = now.plus_secs(7200);
                }
                // Without a ceiling (the recovery key) one slot stays.
                let open = policy.without_ceiling();
                assert_eq!(
                    s.limiter_claim("agree", None, now, rule(&open))
                        .await
                        .unwrap(),
                    Claim::Granted
                );
            }

            #[tokio::test]
            async fn a_block_only_grows_and_a_blocked_guard_refuses_without_counting() {
                let Some(s) = store().await else { return };
                let policy = BackoffPolicy {
                    tolerated: 5,
                    ..BackoffPolicy::default()
                };
                let now = Timestamp(5_000_000);
                s.limiter_count_failure("g").await.unwrap();
                s.limiter_settle("g", Some(now.plus_secs(8))).await.unwrap();
                // A racing failure that computed a shorter block loses.
                s.limiter_settle("g", Some(now.plus_secs(2))).await.unwrap();
                assert_eq!(
                    s.limiter_state("g").await.unwrap(),
                    Some((1, now.plus_secs(8)))
                );
                // The guard's block refuses a fresh key and creates nothing.
                assert_eq!(
                    s.limiter_claim("fresh", Some("g"), now, rule(&policy))
                        .await
                        .unwrap(),
                    Claim::BlockedUntil(now.plus_secs(8))
                );
                assert_eq!(s.limiter_state("fresh").await.unwrap(), None);
                assert_eq!(
                    s.limiter_claim("fresh", Some("g"), now.plus_secs(8), rule(&policy))
                        .await
                        .unwrap(),
                    Claim::Granted
                );
                // A success clears a second key's failures, not its slots.
                let p = BackoffPolicy::default();
                s.limiter_claim("other", None, now, rule(&p)).await.unwrap();
                s.limiter_count_failure("other").await.unwrap();
                s.limiter_claim("mine", None, now, rule(&p)).await.unwrap();
                s.limiter_success("mine", Some("other")).await.unwrap();
                assert_eq!(s.limiter_state("other").await.unwrap(), Some((0, Timestamp(0))));
                assert_eq!(
                    s.limiter_claim("other", None, now, rule(&p)).await.unwrap(),
                    Claim::Granted,
                    "two slots after no failure, one still held"
                );
                assert_eq!(
                    s.limiter_claim("other", None, now, rule(&p)).await.unwrap(),
                    Claim::Busy
                );
                // Clearing by key and by prefix.
                s.limiter_count_failure("pw-dev:a:1").await.unwrap();
                s.limiter_count_failure("pw-dev:a:2").await.unwrap();
                s.limiter_count_failure("pw-dev:b:1").await.unwrap();
                let cleared = s
                    .limiter_clear(&["g".to_string(), "nothing".to_string()], Some("pw-dev:a:"))
                    .await
                    .unwrap();
                assert_eq!(cleared, 3);
                assert_eq!(s.limiter_state("g").await.unwrap(), Some((0, Timestamp(0))));
                assert_eq!(s.limiter_state("pw-dev:b:1").await.unwrap().unwrap().0, 1);
            }

            #[tokio::test]
            async fn devices_are_known_only_to_their_account_and_ride_in_the_signin_commit() {
                let Some(s) = store().await else { return };
                let a = account("dev@x.io");
                let b = account("other@x.io");
                s.insert_account(&a).await.unwrap();
                s.insert_account(&b).await.unwrap();
                let device = KnownDevice {
                    account_id: a.id,
                    token_hash: vec![7; 32],
                    created_at: Timestamp(10),
                    expires_at: Timestamp(1_000),
                };
                s.limiter_claim(
                    "pw:dev@x.io",
                    None,
                    Timestamp(10),
                    rule(&BackoffPolicy::default()),
                )
                .await
                .unwrap();
                s.limiter_count_failure("pw-ip:1").await.unwrap();
                let started = s
                    .create_session_with_audit(
                        &NewSession {
                            session: session_for(a.id, 10),
                            token_hash: vec![1; 32],
                        },
                        &[],
                        &SessionExtras {
                            throttle_success: Some(("pw:dev@x.io", Some("pw-ip:1"))),
                            new_device: Some(&device),
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap();
                assert_eq!(started, SessionStart::Started);
                assert_eq!(s.limiter_state("pw-ip:1").await.unwrap().unwrap().0, 0);
                let email = |e: &str| Email::parse(e).unwrap();
                let (acct, dev) = s
                    .account_for_signin(&email("dev@x.io"), Some(&[7; 32]), Timestamp(20))
                    .await
                    .unwrap();
                assert_eq!(acct.unwrap().id, a.id);
                assert!(dev);
                // Someone else's token, an unknown one, none, or an expired one.
                for (who, token, at) in [
                    ("other@x.io", Some([7u8; 32].as_slice()), 20),
                    ("dev@x.io", Some([8u8; 32].as_slice()), 20),
                    ("dev@x.io", None, 20),
                    ("dev@x.io", Some([7u8; 32].as_slice()), 1_000),
                ] {
                    let (acct, dev) = s
                        .account_for_signin(&email(who), token, Timestamp(at))
                        .await
                        .unwrap();
                    assert!(acct.is_some());
                    assert!(!dev, "{who} {token:?} at {at}");
                }
                assert_eq!(
                    s.account_for_signin(&email("nobody@x.io"), Some(&[7; 32]), Timestamp(20))
                        .await
                        .unwrap(),
                    (None, false)
                );
                assert!(s.known_device(a.id, &[7; 32], Timestamp(20)).await.unwrap());
                assert!(!s.known_device(b.id, &[7; 32], Timestamp(20)).await.unwrap());
                // A sign-in whose flow was already spent writes no device.
                let second = KnownDevice {
                    token_hash: vec![9; 32],
                    ..device.clone()
                };
                let started = s
                    .create_session_with_audit(
                        &NewSession {
                            session: session_for(a.id, 11),
                            token_hash: vec![2; 32],
                        },
                        &[],
                        &SessionExtras {
                            spend_flow: Some(b"no-such-flow".as_slice()),
                            new_device: Some(&second),
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap();
                assert_eq!(started, SessionStart::FlowSpent);
                assert!(!s.known_device(a.id, &[9; 32], Timestamp(20)).await.unwrap());
                // An account keeps its newest devices only (after a sweep).
                let limit = tessera_core::store::DEVICES_PER_ACCOUNT as u8;
                for i in 0..limit + 3 {
                    let d = KnownDevice {
                        token_hash: vec![100 + i; 32],
                        created_at: Timestamp(100 + i64::from(i)),
                        ..device.clone()
                    };
                    let new = NewSession {
                        session: session_for(a.id, 20),
                        token_hash: vec![100 + i; 32],
                    };
                    let extras = SessionExtras {
                        new_device: Some(&d),
                        ..Default::default()
                    };
                    s.create_session_with_audit(&new, &[], &extras)
                        .await
                        .unwrap();
                }
                s.sweep_sessions(Timestamp(20), Timestamp(0)).await.unwrap();
                let known = |h: u8| {
                    let s = s.clone();
                    async move { s.known_device(a.id, &[h; 32], Timestamp(20)).await.unwrap() }
                };
                assert!(!known(7).await, "the oldest went first");
                assert!(!known(102).await);
                assert!(known(103).await);
                assert!(known(100 + limit + 2).await);
            }

            #[tokio::test]
            async fn flows_are_deleted_exactly_once() {
                let Some(s) = store().await else { return };
                let a = account("f@x.io");
                s.insert_account(&a).await.unwrap();
                let f = FlowRecord {
                    id_hash: b"flow-hash".to_vec(),
                    account_id: a.id,
                    client: ClientKind::Mobile,
                    binding: b"bind".to_vec(),
                    first_method: AuthMethod::Password,
                    created_at: Timestamp(1),
                    expires_at: Timestamp(2),
                };
                s.insert_flow(&f, None).await.unwrap();
                let (read, owner) = s.flow_by_id_hash(b"flow-hash").await.unwrap().unwrap();
                assert_eq!(read, f);
                assert_eq!(owner.id, a.id);
                assert_eq!(owner.email, a.email);
                let mut tasks = Vec::new();
                for _ in 0..10 {
                    let s = s.clone();
                    tasks.push(tokio::spawn(async move {
                        s.delete_flow(b"flow-hash").await.unwrap()
                    }));
                }
                let mut won = 0;
                for t in tasks {
                    if t.await.unwrap() {
                        won += 1;
                    }
                }
                assert_eq!(won, 1);
                assert!(s.flow_by_id_hash(b"flow-hash").await.unwrap().is_none());
            }

            #[tokio::test]
            async fn a_second_step_settled_in_the_session_commit_obeys_the_backoff_and_the_step() {
                let Some(s) = store().await else { return };
                let a = account("settle@x.io");
                s.insert_account(&a).await.unwrap();
                s.set_pending_totp(a.id, b"seed", Timestamp(1)).await.unwrap();
                assert!(s.activate_totp(a.id, b"seed", 100, Some("rk"), Timestamp(1)).await.unwrap());
                s.insert_flow(&FlowRecord {
                    id_hash: b"settle-flow".to_vec(),
                    account_id: a.id,
                    client: ClientKind::Mobile,
                    binding: b"bind".to_vec(),
                    first_method: AuthMethod::Password,
                    created_at: Timestamp(1),
                    expires_at: Timestamp(10_000),
                }, None)
                .await
                .unwrap();
                let key = "2sv:settle";
                let strict = SlotRule { tolerated: 0, ceiling: Some(3), lease_ms: 1_000 };
                let try_at = |now: i64, step: i64, n: u8| {
                    let s = s.clone();
                    async move {
                        s.create_session_with_audit(
                            &NewSession {
                                session: session_for(a.id, now),
                                token_hash: vec![n; 32],
                            },
                            &[NewAuditEvent::new(AuditKind::SigninSucceeded)],
                            &SessionExtras {
                                spend_flow: Some(b"settle-flow".as_slice()),
                                totp: Some(TotpCommit {
                                    step,
                                    backoff_key: key,
                                    rule: strict,
                                    now: Timestamp(now),
                                    clear_failures: true,
                                }),
                                ..Default::default()
                            },
                        )
                        .await
                        .unwrap()
                    }
                };
                // Blocked: nothing is written, not even the flow's spending.
                assert_eq!(s.limiter_count_failure(key).await.unwrap(), 1);
                s.limiter_settle(key, Some(Timestamp(50))).await.unwrap();
                assert_eq!(try_at(10, 101, 1).await, SessionStart::TotpRefused);
                assert!(s.flow_by_id_hash(b"settle-flow").await.unwrap().is_some());
                // A slot in flight, where the rule allows one: no slot.
                assert_eq!(
                    s.limiter_claim(key, None, Timestamp(60), strict).await.unwrap(),
                    Claim::Granted
                );
                assert_eq!(try_at(61, 101, 2).await, SessionStart::TotpRefused);
                s.limiter_release(key).await.unwrap();
                // A used step: nothing written, the failures still counted.
                assert_eq!(try_at(62, 100, 3).await, SessionStart::TotpRefused);
                assert_eq!(s.limiter_state(key).await.unwrap().unwrap().0, 1);
                assert!(s.sessions_of(a.id).await.unwrap().is_empty());
                assert!(s.flow_by_id_hash(b"settle-flow").await.unwrap().is_some());
                // The right step: one commit spends the flow, uses the step,
                // clears the failures and starts the session.
                assert_eq!(try_at(63, 101, 4).await, SessionStart::Started);
                assert_eq!(s.limiter_state(key).await.unwrap().unwrap(), (0, Timestamp(0)));
                assert!(!s.consume_totp_step(a.id, 101).await.unwrap());
                assert!(s.flow_by_id_hash(b"settle-flow").await.unwrap().is_none());
                assert_eq!(s.sessions_of(a.id).await.unwrap().len(), 1);
                // At the ceiling the key gives nothing, block over or not.
                for _ in 0..3 {
                    s.limiter_count_failure(key).await.unwrap();
                }
                s.limiter_settle(key, None).await.unwrap();
                s.insert_flow(&FlowRecord {
                    id_hash: b"settle-flow".to_vec(),
                    account_id: a.id,
                    client: ClientKind::Mobile,
                    binding: b"bind".to_vec(),
                    first_method: AuthMethod::Password,
                    created_at: Timestamp(1),
                    expires_at: Timestamp(10_000),
                }, None)
                .await
                .unwrap();
                assert_eq!(try_at(100_000, 500, 5).await, SessionStart::TotpRefused);
                assert!(s.consume_totp_step(a.id, 500).await.unwrap(), "the step was not used");
                // A key never seen before is clear.
                let fresh = account("fresh@x.io");
                s.insert_account(&fresh).await.unwrap();
                s.set_pending_totp(fresh.id, b"seed", Timestamp(1)).await.unwrap();
                s.activate_totp(fresh.id, b"seed", 0, Some("rk"), Timestamp(1)).await.unwrap();
                let started = s
                    .create_session_with_audit(
                        &NewSession { session: session_for(fresh.id, 5), token_hash: vec![9; 32] },
                        &[],
                        &SessionExtras {
                            totp: Some(TotpCommit {
                                step: 1,
                                backoff_key: "2sv:fresh",
                                rule: strict,
                                now: Timestamp(5),
                                clear_failures: false,
                            }),
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap();
                assert_eq!(started, SessionStart::Started);
            }

            #[tokio::test]
            async fn a_flow_is_read_with_its_account_authenticator_and_backoff() {
                let Some(s) = store().await else { return };
                let a = account("ctx@x.io");
                s.insert_account(&a).await.unwrap();
                let f = FlowRecord {
                    id_hash: b"ctx-flow".to_vec(),
                    account_id: a.id,
                    client: ClientKind::Web,
                    binding: b"bind".to_vec(),
                    first_method: AuthMethod::Password,
                    created_at: Timestamp(1),
                    expires_at: Timestamp(2),
                };
                s.insert_flow(&f, None).await.unwrap();
                let bare = s.flow_context(b"ctx-flow", "pre:").await.unwrap().unwrap();
                assert_eq!(bare.flow, f);
                assert_eq!(bare.account.id, a.id);
                assert!(bare.totp.is_none());
                assert!(bare.backoff.is_none());
                s.set_pending_totp(a.id, b"seed", Timestamp(1)).await.unwrap();
                s.activate_totp(a.id, b"seed", 42, Some("rk"), Timestamp(1)).await.unwrap();
                let key = format!("pre:{}", a.id);
                s.limiter_count_failure(&key).await.unwrap();
                s.limiter_settle(&key, Some(Timestamp(77))).await.unwrap();
                // Another account's key with the same prefix is not read.
                s.limiter_count_failure("pre:someone-else").await.unwrap();
                let full = s.flow_context(b"ctx-flow", "pre:").await.unwrap().unwrap();
                let totp = full.totp.unwrap();
                assert_eq!((totp.sealed_secret.as_slice(), totp.last_step), (b"seed".as_slice(), 42));
                assert_eq!(full.backoff, Some((1, Timestamp(77))));
                assert!(s.flow_context(b"ctx-flow", "other:").await.unwrap().unwrap().backoff.is_none());
                assert!(s.flow_context(b"no-flow", "pre:").await.unwrap().is_none());
            }

            #[tokio::test]
            async fn a_flow_starts_exactly_one_session_under_parallel_finishes() {
                let Some(s) = store().await else { return };
                let a = account("spend@x.io");
                s.insert_account(&a).await.unwrap();
                s.insert_flow(&FlowRecord {
                    id_hash: b"spend-me".to_vec(),
                    account_id: a.id,
                    client: ClientKind::Mobile,
                    binding: b"bind".to_vec(),
                    first_method: AuthMethod::Password,
                    created_at: Timestamp(1),
                    expires_at: Timestamp(2),
                }, None)
                .await
                .unwrap();
                let mut tasks = Vec::new();
                for i in 0..10u8 {
                    let s = s.clone();
                    let new = NewSession {
                        session: session_for(a.id, 10),
                        token_hash: vec![i; 32],
                    };
                    tasks.push(tokio::spawn(async move {
                        s.create_session_with_audit(
                            &new,
                            &[NewAuditEvent::new(AuditKind::SigninSucceeded)],
                            &SessionExtras {
                                last_method: Some(MethodKind::Totp),
                                spend_flow: Some(b"spend-me".as_slice()),
                                ..Default::default()
                            },
                        )
                        .await
                        .unwrap()
                    }));
                }
                let mut won = 0;
                for t in tasks {
                    if t.await.unwrap() == SessionStart::Started {
                        won += 1;
                    }
                }
                assert_eq!(won, 1);
                assert_eq!(
                    s.sessions_of(a.id).await.unwrap().len(),
                    1,
                    "losers wrote nothing"
                );
                assert_eq!(
                    s.inventory(a.id).await.unwrap().last_used,
                    Some(MethodKind::Totp)
                );
            }

            #[tokio::test]
            async fn outbox_and_key_canary() {
                let Some(s) = store().await else { return };
                s.enqueue("email", "a@x.io", "Hello", "Body", Timestamp(1))
                    .await
                    .unwrap();
                s.enqueue("email", "a@x.io", "Again", "Body 2", Timestamp(2))
                    .await
                    .unwrap();
                let m = s.outbox_for("a@x.io").await.unwrap();
                assert_eq!(
                    m.iter().map(|x| x.subject.as_str()).collect::<Vec<_>>(),
                    vec!["Again", "Hello"]
                );
                assert!(m[0].delivered_at.is_none());
                assert!(s.key_canary().await.unwrap().is_none());
                assert!(!s.has_sealed_secrets().await.unwrap());
                assert_eq!(s.init_key_canary(b"first").await.unwrap(), b"first");
                assert_eq!(
                    s.init_key_canary(b"second").await.unwrap(),
                    b"first",
                    "never overwritten"
                );
            }

            #[tokio::test]
            async fn outbox_claims_lease_and_settle_by_attempt() {
                let Some(s) = store().await else { return };
                let t = Timestamp(1_000_000);
                s.enqueue("sms", "+15550001", "", "sealed-1", t)
                    .await
                    .unwrap();
                s.enqueue("sms", "+15550002", "", "sealed-2", t.plus_secs(10))
                    .await
                    .unwrap();
                s.enqueue("email", "a@x.io", "Hi", "mail", t).await.unwrap();

                // Only due messages of the channel, up to the limit.
                let got = s.claim_due("sms", t, 60_000, 10).await.unwrap();
                assert_eq!(got.len(), 1);
                let m = &got[0];
                assert_eq!(
                    (m.recipient.as_str(), m.body.as_str()),
                    ("+15550001", "sealed-1")
                );
                assert_eq!(m.attempts, 1);
                assert_eq!(m.next_attempt_at, t.plus_secs(60), "leased");
                // Leased: nobody else gets it, even once the other is due.
                let later = s
                    .claim_due("sms", t.plus_secs(10), 60_000, 10)
                    .await
                    .unwrap();
                assert_eq!(later.len(), 1);
                assert_eq!(later[0].recipient, "+15550002");
                assert!(
                    s.claim_due("sms", t.plus_secs(59), 60_000, 10)
                        .await
                        .unwrap()
                        .is_empty()
                );

                // A failure reschedules; a stale attempt number changes nothing.
                assert!(!s.mark_failed(m.id, 0, t, "stale").await.unwrap());
                assert!(
                    s.mark_failed(m.id, 1, t.plus_secs(2), "HTTP 500")
                        .await
                        .unwrap()
                );
                assert!(
                    s.claim_due("sms", t.plus_secs(1), 60_000, 10)
                        .await
                        .unwrap()
                        .is_empty()
                );
                let again = s
                    .claim_due("sms", t.plus_secs(2), 60_000, 10)
                    .await
                    .unwrap();
                assert_eq!((again.len(), again[0].attempts), (1, 2));
                assert_eq!(again[0].last_error.as_deref(), Some("HTTP 500"));
                // The first claim's late answer is refused: attempt 2 owns it.
                assert!(!s.mark_delivered(m.id, 1, t.plus_secs(3)).await.unwrap());
                assert!(s.mark_delivered(m.id, 2, t.plus_secs(3)).await.unwrap());
                assert!(
                    !s.mark_delivered(m.id, 2, t.plus_secs(4)).await.unwrap(),
                    "once"
                );
                assert!(!s.mark_failed(m.id, 2, t, "late").await.unwrap());
                let done = &s.outbox_for("+15550001").await.unwrap()[0];
                assert_eq!(done.delivered_at, Some(t.plus_secs(3)));
                assert_eq!(done.body, "", "the code does not stay at rest");
                assert_eq!(done.last_error, None);

                // An expired lease makes the message due again.
                let re = s
                    .claim_due("sms", t.plus_secs(70), 60_000, 10)
                    .await
                    .unwrap();
                assert_eq!(
                    (re.len(), re[0].recipient.as_str(), re[0].attempts),
                    (1, "+15550002", 2)
                );
                // Abandoned: never due again, body gone, reason kept.
                assert!(s.mark_abandoned(re[0].id, 2, "HTTP 400").await.unwrap());
                assert!(
                    s.claim_due("sms", Timestamp(i64::MAX / 2), 60_000, 10)
                        .await
                        .unwrap()
                        .is_empty()
                );
                let gone = &s.outbox_for("+15550002").await.unwrap()[0];
                assert_eq!((gone.body.as_str(), gone.delivered_at), ("", None));
                assert_eq!(gone.next_attempt_at, tessera_core::store::OUTBOX_NEVER);
                assert_eq!(gone.last_error.as_deref(), Some("HTTP 400"));
                // Other channels are untouched.
                assert_eq!(s.outbox_for("a@x.io").await.unwrap()[0].attempts, 0);
            }

            #[tokio::test]
            async fn outbox_claims_oldest_first_up_to_the_limit() {
                let Some(s) = store().await else { return };
                for i in 0..5 {
                    s.enqueue("sms", &format!("+1555000{i}"), "", "b", Timestamp(100 - i))
                        .await
                        .unwrap();
                }
                let got = s.claim_due("sms", Timestamp(100), 1000, 2).await.unwrap();
                let mut to: Vec<_> = got.iter().map(|m| m.recipient.as_str()).collect();
                to.sort();
                assert_eq!(to, vec!["+15550003", "+15550004"]);
                assert!(got.windows(2).all(|w| w[0].id < w[1].id), "in id order");
            }

            #[tokio::test]
            async fn outbox_parallel_claimers_get_each_message_once() {
                let Some(s) = store().await else { return };
                const MESSAGES: usize = 60;
                const CLAIMERS: usize = 8;
                for i in 0..MESSAGES {
                    s.enqueue("sms", &format!("+1555{i:06}"), "", "b", Timestamp(1))
                        .await
                        .unwrap();
                }
                let mut tasks = Vec::new();
                for _ in 0..CLAIMERS {
                    let s = s.clone();
                    tasks.push(tokio::spawn(async move {
                        let mut mine = Vec::new();
                        // Bounded, so a claim that is not exclusive fails
                        // the test instead of looping forever.
                        for _ in 0..MESSAGES {
                            let got = s.claim_due("sms", Timestamp(2), 60_000, 3).await.unwrap();
                            if got.is_empty() {
                                break;
                            }
                            mine.extend(got.into_iter().map(|m| m.id));
                            tokio::task::yield_now().await;
                        }
                        mine
                    }));
                }
                let mut all = Vec::new();
                let mut busy_claimers = 0;
                for t in tasks {
                    let mine = t.await.unwrap();
                    busy_claimers += usize::from(!mine.is_empty());
                    all.extend(mine);
                }
                all.sort();
                let claimed = all.len();
                all.dedup();
                assert_eq!(claimed, MESSAGES, "no message claimed twice");
                assert_eq!(all.len(), MESSAGES, "every message claimed");
                assert!(busy_claimers >= 1);
            }

            #[tokio::test]
            async fn bulk_inserts_are_all_or_nothing() {
                let Some(s) = store().await else { return };
                let batch: Vec<Account> = (0..500)
                    .map(|i| account(&format!("bulk{i}@x.io")))
                    .collect();
                s.insert_accounts(&batch).await.unwrap();
                assert_eq!(s.count_accounts().await.unwrap(), 500);
                let clash = vec![account("new@x.io"), account("bulk7@x.io")];
                assert!(matches!(
                    s.insert_accounts(&clash).await,
                    Err(StoreError::Conflict(_))
                ));
                assert!(
                    s.account_by_email(&Email::parse("new@x.io").unwrap())
                        .await
                        .unwrap()
                        .is_none(),
                    "rolled back"
                );
            }

            #[tokio::test]
            async fn ping_answers() {
                let Some(s) = store().await else { return };
                s.ping().await.unwrap();
                assert!(["sqlite", "postgres"].contains(&s.backend()));
            }
        }
    };
}

conformance!(sqlite);
conformance!(postgres);
