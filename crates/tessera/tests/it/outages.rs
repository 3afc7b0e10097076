//! Outages of the mail server and the SMS provider, through the real
//! binary and its running delivery workers (the in-process tests in
//! `mail.rs`, `email_codes.rs` and `sms_clock.rs` step one message through
//! a worker on a moved clock). Several people's codes are queued while the
//! peer is down; they are retried, by the workers' own schedule (2 s, then
//! 4 s), while it stays down, and once it is back each person gets exactly
//! one message, whose code still works: delayed, not lost, not doubled.

use crate::crash_db::Db;
use crate::email_codes::{code_mails, code_of};
use crate::smtp_peer::{SmtpPeer, free_port};
use crate::support::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// People whose codes wait out each outage.
const PEOPLE: usize = 4;

/// The outbox rows of `channel`: (recipient, attempts, delivered, last error).
async fn rows(s: &Server, channel: &str) -> Vec<(String, u32, bool, String)> {
    let db = Db::open(&s.data_dir, None).await;
    let rows = db
        .rows(&format!(
            "SELECT recipient, CAST(attempts AS TEXT), CAST(delivered_at AS TEXT), \
             COALESCE(last_error, '') FROM outbox WHERE channel = '{channel}' ORDER BY id"
        ))
        .await;
    db.close().await;
    rows.into_iter()
        .map(|r| {
            (
                r[0].clone(),
                r[1].parse().unwrap(),
                !r[2].is_empty(),
                r[3].clone(),
            )
        })
        .collect()
}

/// Waits until every row of `channel` was tried at least `n` times
/// without success; returns the rows.
///
/// The worker counts an attempt when it leases the row and writes the
/// failure's reason when the attempt has failed, so a row counts as
/// failed only once its reason is there too. A row whose reason never
/// appears times out below, with the rows in the message.
async fn wait_for_failed_attempts(
    s: &Server,
    channel: &str,
    n: u32,
) -> Vec<(String, u32, bool, String)> {
    let start = Instant::now();
    loop {
        let r = rows(s, channel).await;
        for (to, _, delivered, _) in &r {
            assert!(!delivered, "{to}: delivered while the peer is down");
        }
        if r.len() >= PEOPLE
            && r.iter()
                .all(|(_, attempts, _, error)| *attempts >= n && !error.is_empty())
        {
            return r;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{channel}: not tried and failed {n} times with a reason kept: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn email(i: usize) -> String {
    format!("outage{i}@example.com")
}

fn phone(i: usize) -> String {
    format!("+4477009005{i:02}")
}

#[tokio::test]
async fn codes_mailed_while_the_mail_server_is_down_arrive_once_each_when_it_is_back() {
    let port = free_port();
    let s = Server::start_with(Opts {
        env: vec![
            ("TESSERA_EMAIL__PROVIDER".into(), "smtp".into()),
            (
                "TESSERA_EMAIL__SMTP_URL".into(),
                format!("smtp://127.0.0.1:{port}"),
            ),
            ("TESSERA_EMAIL__FROM".into(), "security@acme.example".into()),
        ],
        ..Default::default()
    });
    let http = reqwest::Client::new();
    let mut flows = Vec::new();
    for i in 0..PEOPLE {
        s.create_user(&email(i), "member");
        let r: Value = http
            .post(s.url("/api/v1/signin"))
            .json(&json!({"email": email(i), "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["methods"], json!(["email_code"]), "{r}");
        flows.push(r["flow_id"].as_str().unwrap().to_string());
    }
    // Nothing listens on the port: each code is tried, and tried again
    // after 2 s, and waits.
    let down = Instant::now();
    wait_for_failed_attempts(&s, "email", 2).await;
    let Some(smtp) = SmtpPeer::start_on(port) else {
        return;
    };
    println!("mail server down for {:.1} s", down.elapsed().as_secs_f64());
    let got = smtp.wait_for(PEOPLE, Duration::from_secs(30)).await;
    assert_eq!(got.len(), PEOPLE, "not all delivered: {got:?}");
    // Later passes of the worker add nothing.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for (i, flow) in flows.iter().enumerate() {
        let mails = code_mails(&smtp, &email(i));
        assert_eq!(mails.len(), 1, "{}: exactly one: {mails:?}", email(i));
        let r = http
            .post(s.url(&format!("/api/v1/signin/{flow}/email_code")))
            .json(&json!({"code": code_of(&mails[0])}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}: the delayed code works", email(i));
    }
    // Nothing else came twice either (a mail keeps its Message-ID on
    // every attempt).
    let all = smtp.messages();
    let ids: std::collections::BTreeSet<&str> = all
        .iter()
        .map(|m| m["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), all.len(), "a mail came twice: {all:?}");
    for (to, attempts, delivered, _) in rows(&s, "email").await {
        assert!(delivered && attempts >= 3, "{to}: {attempts} attempts");
    }
}

/// One request the SMS provider received: its status, recipient, text and
/// `Idempotency-Key`.
#[derive(Debug, Clone)]
struct Seen {
    status: u16,
    to: String,
    text: String,
    key: String,
}

/// An SMS provider on `port` that answers 503 to its first `failures`
/// requests, then 200.
async fn provider(port: u16, failures: usize) -> Arc<Mutex<Vec<Seen>>> {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let keep = seen.clone();
    let app = axum::Router::new().route(
        "/sms",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, axum::Json(body): axum::Json<Value>| {
                let keep = keep.clone();
                async move {
                    let mut seen = keep.lock().unwrap();
                    let status = if seen.len() < failures { 503 } else { 200 };
                    seen.push(Seen {
                        status,
                        to: body["to"].as_str().unwrap_or_default().into(),
                        text: body["text"].as_str().unwrap_or_default().into(),
                        key: headers
                            .get("idempotency-key")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .into(),
                    });
                    axum::http::StatusCode::from_u16(status).unwrap()
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    seen
}

#[tokio::test]
async fn texts_sent_while_the_provider_is_down_or_failing_arrive_once_each() {
    let port = free_port();
    let s = Server::start_with(Opts {
        env: vec![
            ("TESSERA_SMS__PROVIDER".into(), "webhook".into()),
            (
                "TESSERA_SMS__WEBHOOK_URL".into(),
                format!("http://127.0.0.1:{port}/sms"),
            ),
        ],
        ..Default::default()
    });
    let http = reqwest::Client::new();
    let mut sessions = Vec::new();
    for i in 0..PEOPLE {
        s.create_user(&email(i), "member");
        let token = signin(&s, &email(i), PASSWORD).await;
        let r = http
            .post(s.url("/api/v1/me/two-step/sms"))
            .bearer_auth(&token)
            .json(&json!({"phone": phone(i)}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        sessions.push(token);
    }
    // Down (nothing listens), then up but answering 503 to one attempt
    // per message, then well.
    let down = Instant::now();
    wait_for_failed_attempts(&s, "sms", 1).await;
    let seen = provider(port, PEOPLE).await;
    let start = Instant::now();
    while seen
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.status == 200)
        .count()
        < PEOPLE
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "not all delivered: {:?}",
            seen.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "SMS provider down, then failing, for {:.1} s",
        down.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let seen = seen.lock().unwrap().clone();
    let mut by_phone: BTreeMap<String, Vec<Seen>> = BTreeMap::new();
    for r in &seen {
        by_phone.entry(r.to.clone()).or_default().push(r.clone());
    }
    assert_eq!(by_phone.len(), PEOPLE, "{seen:?}");
    for (i, token) in sessions.iter().enumerate() {
        let got = &by_phone[&phone(i)];
        let delivered: Vec<&Seen> = got.iter().filter(|r| r.status == 200).collect();
        assert_eq!(delivered.len(), 1, "{}: exactly one: {got:?}", phone(i));
        // Every attempt is the same message: one text, one key.
        assert!(
            got.iter()
                .all(|r| r.text == got[0].text && r.key == got[0].key && !r.key.is_empty()),
            "{got:?}"
        );
        let code: String = delivered[0]
            .text
            .chars()
            .filter(char::is_ascii_digit)
            .take(6)
            .collect();
        let r = http
            .post(s.url("/api/v1/me/two-step/sms/confirm"))
            .bearer_auth(token)
            .json(&json!({"code": code}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}: the delayed code works", phone(i));
    }
    for (to, attempts, delivered, _) in rows(&s, "sms").await {
        assert!(delivered && attempts >= 2, "{to}: {attempts} attempts");
    }
}
