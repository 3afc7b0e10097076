//! CeremonyStore and OtpStore: WebAuthn ceremonies and texted codes are
//! single use, and codes are sent within their budget.

use super::*;

macro_rules! conformance {
    ($backend:ident) => {
        mod $backend {
            use super::*;

            async fn store() -> Option<Arc<dyn Store>> {
                // The guard leaks deliberately: the database must outlive the test body.
                super::super::$backend().await.map(|f| {
                    let store = f.store.clone();
                    std::mem::forget(f._guard);
                    store
                })
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
        }
    };
}

conformance!(sqlite);
conformance!(postgres);
