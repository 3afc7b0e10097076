//! Text-message codes against an in-process server whose clock the test
//! moves: the first-method-only rule, phone validation, expiry after 10
//! minutes, single use (also under parallel submission), the latest code
//! only, binding to flow and purpose, the resend cooldown and the backoff.
//! The code is read the way the delivery worker reads it: by opening the
//! sealed outbox message with the server's key.

use crate::world::{World, retry_after};
use serde_json::{Value, json};
use tessera_core::account::Role;

const PHONE: &str = "+447700900123";

impl World {
    /// The code in the newest text message to `phone`.
    async fn texted_code(&self, phone: &str) -> String {
        let msgs = self.s.core.store.outbox_for(phone).await.unwrap();
        let newest = msgs
            .iter()
            .find(|m| m.channel == "sms")
            .expect("a text message");
        let key = tessera_core::crypto::SecretBox::new(&[9u8; 32]).unwrap();
        let text = tessera_core::outbox::open_sms_body(&key, phone, &newest.body).unwrap();
        let code: String = text.chars().take(6).collect();
        assert!(code.bytes().all(|b| b.is_ascii_digit()), "{text}");
        code
    }

    async fn texts_to(&self, phone: &str) -> usize {
        self.s.core.store.outbox_for(phone).await.unwrap().len()
    }

    /// Signs in, adds `phone` and confirms it; returns (token, recovery key).
    async fn enroll_sms(&self, email: &str, phone: &str) -> (String, String) {
        let t = self.signin(email).await["session_token"]
            .as_str()
            .unwrap()
            .to_string();
        let r = self
            .post("/api/v1/me/two-step/sms", Some(&t), json!({"phone": phone}))
            .await;
        assert_eq!(r.status(), 200);
        let code = self.texted_code(phone).await;
        let r = self
            .post(
                "/api/v1/me/two-step/sms/confirm",
                Some(&t),
                json!({"code": code}),
            )
            .await;
        assert_eq!(r.status(), 200);
        let c: Value = r.json().await.unwrap();
        (
            c["session_token"].as_str().unwrap().into(),
            c["recovery_key"].as_str().unwrap().into(),
        )
    }

    async fn get(&self, path: &str, token: &str) -> Value {
        self.http
            .get(self.s.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn phone_numbers_are_validated_and_sms_is_only_a_first_method() {
    let w = World::new(crate::support::kit_config()).await;
    w.user("sms@example.com", Role::Member).await;
    let t = w.signin("sms@example.com").await["session_token"]
        .as_str()
        .unwrap()
        .to_string();
    for junk in [
        "07700900123",
        "+0447700900123",
        "+1234",
        "+1234567890123456",
        "+44 7700 9OO123",
        "call me",
        "",
    ] {
        let r = w
            .post("/api/v1/me/two-step/sms", Some(&t), json!({"phone": junk}))
            .await;
        assert_eq!(r.status(), 400, "{junk:?} was accepted");
        let p: Value = r.json().await.unwrap();
        assert!(p["detail"].as_str().unwrap().ends_with('.'), "{p}");
    }
    assert_eq!(
        w.texts_to("+447700900123").await,
        0,
        "nothing sent for junk"
    );
    let r = w
        .post("/api/v1/me/two-step/sms", Some(&t), json!({"phone": 12345}))
        .await;
    assert_eq!(r.status(), 400);

    // A confirmed phone turns 2SV on, with a recovery key.
    let (t, recovery) = w.enroll_sms("sms@example.com", PHONE).await;
    assert!(!recovery.is_empty());
    let st = w.get("/api/v1/me/two-step", &t).await;
    assert_eq!(st["enabled"], true);
    assert_eq!(st["sms_phone"], "+••••••••••23");
    assert_eq!(st["methods"], json!(["sms", "recovery_key"]));
    // A second phone is refused.
    let r = w
        .post(
            "/api/v1/me/two-step/sms",
            Some(&t),
            json!({"phone": "+15555550100"}),
        )
        .await;
    assert_eq!(r.status(), 400);
    // The only method cannot be removed; turning 2SV off is its own action.
    let r = w
        .http
        .delete(w.s.url("/api/v1/me/two-step/sms"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let p: Value = r.json().await.unwrap();
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("only verification method")
    );

    // An account with an authenticator app cannot add text messages.
    w.user("app@example.com", Role::Member).await;
    let (t2, _, _) = w.enroll("app@example.com").await;
    let r = w
        .post(
            "/api/v1/me/two-step/sms",
            Some(&t2),
            json!({"phone": PHONE}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let p: Value = r.json().await.unwrap();
    assert!(
        p["detail"].as_str().unwrap().contains("first method"),
        "{p}"
    );
}

#[tokio::test]
async fn sms_first_method_rule_holds_under_a_race_with_an_authenticator_app() {
    first_method_race(World::new(crate::support::kit_config()).await).await;
}

#[tokio::test]
async fn sms_first_method_rule_holds_under_a_race_on_postgres() {
    if let Some(w) = World::on_postgres(crate::support::kit_config()).await {
        first_method_race(w).await;
    }
}

/// The phone is confirmed while an authenticator app is confirmed in
/// parallel: the database lets at most one of them be the first method
/// when text messages are involved.
async fn first_method_race(w: World) {
    w.user("race@example.com", Role::Member).await;
    let t = w.signin("race@example.com").await["session_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        w.post("/api/v1/me/two-step/sms", Some(&t), json!({"phone": PHONE}))
            .await
            .status(),
        200
    );
    let sms_code = w.texted_code(PHONE).await;
    let e: Value = w
        .post("/api/v1/me/two-step/totp", Some(&t), json!({}))
        .await
        .json()
        .await
        .unwrap();
    let secret = e["secret"].as_str().unwrap().to_string();
    let app_code = crate::peers::oathtool(&secret, w.now());
    let (a, b) = tokio::join!(
        w.post(
            "/api/v1/me/two-step/sms/confirm",
            Some(&t),
            json!({"code": sms_code})
        ),
        w.post(
            "/api/v1/me/two-step/totp/confirm",
            Some(&t),
            json!({"code": app_code})
        ),
    );
    let (sa, sb) = (a.status().as_u16(), b.status().as_u16());
    let a: Value = a.json().await.unwrap();
    let b: Value = b.json().await.unwrap();
    // Whichever came first is the first method and brings the recovery
    // key; text messages after an app are refused; an app after text
    // messages is a second method without a key of its own.
    let keys: Vec<&str> = [&a, &b]
        .iter()
        .filter_map(|v| v["recovery_key"].as_str())
        .collect();
    assert_eq!(
        keys.len(),
        1,
        "exactly one recovery key is shown: sms {sa} {a}, app {sb} {b}"
    );
    if sa != 200 {
        assert!(
            a["detail"].as_str().unwrap().contains("first method"),
            "{a}"
        );
    }
    // The key shown is the one stored: it finishes a sign-in.
    let flow = w.flow("race@example.com").await;
    let r = w
        .post(
            &format!("/api/v1/signin/{flow}/recovery_key"),
            None,
            json!({"recovery_key": keys[0]}),
        )
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn texted_codes_expire_work_once_and_only_for_their_flow_and_purpose() {
    codes_for_their_flow_and_purpose(World::new(crate::support::kit_config()).await).await;
}

#[tokio::test]
async fn texted_codes_work_once_and_only_for_their_flow_and_purpose_on_postgres() {
    if let Some(w) = World::on_postgres(crate::support::kit_config()).await {
        codes_for_their_flow_and_purpose(w).await;
    }
}

async fn codes_for_their_flow_and_purpose(w: World) {
    w.user("codes@example.com", Role::Member).await;
    let (token, _) = w.enroll_sms("codes@example.com", PHONE).await;

    // Sign-in offers text messages; {} sends a code.
    let flow = w.flow("codes@example.com").await;
    let r = w
        .post(&format!("/api/v1/signin/{flow}/sms"), None, json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let sent: Value = r.json().await.unwrap();
    assert_eq!(sent["status"], "code_sent");
    assert_eq!(sent["phone"], "+••••••••••23");
    let first = w.texted_code(PHONE).await;

    // Asking again at once is refused by the cooldown, with Retry-After.
    let r = w
        .post(&format!("/api/v1/signin/{flow}/sms"), None, json!({}))
        .await;
    assert_eq!(r.status(), 429);
    assert!(retry_after(&r) >= 1 && retry_after(&r) <= 30);

    // After the cooldown a new code replaces the old one.
    w.clock.advance_secs(31);
    let r = w
        .post(&format!("/api/v1/signin/{flow}/sms"), None, json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let second = w.texted_code(PHONE).await;
    if first != second {
        let r = w
            .post(
                &format!("/api/v1/signin/{flow}/sms"),
                None,
                json!({"code": first}),
            )
            .await;
        assert_eq!(r.status(), 401, "only the latest code works");
        w.clock.advance_secs(5); // past the first block, if any
    }

    // A sign-in code is not a step-up code.
    let r = w
        .post("/api/v1/step-up/sms", Some(&token), json!({"code": second}))
        .await;
    assert_eq!(r.status(), 401);
    w.clock.advance_secs(5);

    // Nor does it serve another flow.
    let other = w.flow("codes@example.com").await;
    let r = w
        .post(
            &format!("/api/v1/signin/{other}/sms"),
            None,
            json!({"code": second}),
        )
        .await;
    assert_eq!(r.status(), 401);
    w.clock.advance_secs(10);

    // The right code for this flow signs in: aal2 with password + sms.
    let r = w
        .post(
            &format!("/api/v1/signin/{flow}/sms"),
            None,
            json!({"code": second}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let done: Value = r.json().await.unwrap();
    assert_eq!(done["session"]["aal"], "aal2");
    assert_eq!(done["session"]["methods"], json!(["password", "sms"]));
}

#[tokio::test]
async fn a_texted_code_expires_within_a_live_step_up_window() {
    // Step-up codes are bound to the session, so the session outlives the
    // code: this isolates the code's own 10-minute life.
    let w = World::new(crate::support::kit_config()).await;
    w.user("expiry@example.com", Role::Member).await;
    let (token, _) = w.enroll_sms("expiry@example.com", PHONE).await;
    let r = w.post("/api/v1/step-up/sms", Some(&token), json!({})).await;
    assert_eq!(r.status(), 200);
    let code = w.texted_code(PHONE).await;
    w.clock.advance_secs(10 * 60 + 1);
    let r = w
        .post("/api/v1/step-up/sms", Some(&token), json!({"code": code}))
        .await;
    assert_eq!(r.status(), 401, "a code older than 10 minutes is refused");
    // A fresh code, just inside its life, works and refreshes verified_at.
    w.clock.advance_secs(60);
    w.post("/api/v1/step-up/sms", Some(&token), json!({})).await;
    let code = w.texted_code(PHONE).await;
    w.clock.advance_secs(10 * 60 - 1);
    let r = w
        .post("/api/v1/step-up/sms", Some(&token), json!({"code": code}))
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_texted_code_is_accepted_once_under_parallel_submission_and_guesses_back_off() {
    once_and_backoff(World::new(crate::support::kit_config()).await).await;
}

#[tokio::test]
async fn a_texted_code_is_accepted_once_and_guesses_back_off_on_postgres() {
    if let Some(w) = World::on_postgres(crate::support::kit_config()).await {
        once_and_backoff(w).await;
    }
}

async fn once_and_backoff(w: World) {
    w.user("once@example.com", Role::Member).await;
    w.enroll_sms("once@example.com", PHONE).await;
    let flow = w.flow("once@example.com").await;
    w.post(&format!("/api/v1/signin/{flow}/sms"), None, json!({}))
        .await;
    let code = w.texted_code(PHONE).await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let http = w.http.clone();
        let url = w.s.url(&format!("/api/v1/signin/{flow}/sms"));
        let code = code.clone();
        tasks.push(tokio::spawn(async move {
            http.post(url)
                .json(&json!({"code": code}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap() == 200 {
            ok += 1;
        }
    }
    assert_eq!(ok, 1, "exactly one parallel submission signs in");

    // Wrong codes are subject to the backoff: blocked requests get 429
    // without being evaluated. (A fresh account: the race above counted
    // failures against this one.)
    w.user("guess@example.com", Role::Member).await;
    w.enroll_sms("guess@example.com", "+15555550123").await;
    let flow = w.flow("guess@example.com").await;
    w.post(&format!("/api/v1/signin/{flow}/sms"), None, json!({}))
        .await;
    let right = w.texted_code("+15555550123").await;
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let r = w
            .post(
                &format!("/api/v1/signin/{flow}/sms"),
                None,
                json!({"code": wrong}),
            )
            .await;
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses[..2], [401, 401], "{statuses:?}");
    assert!(statuses[2..].iter().all(|s| *s == 429), "{statuses:?}");
    // Even the right code is not evaluated while blocked.
    let r = w
        .post(
            &format!("/api/v1/signin/{flow}/sms"),
            None,
            json!({"code": right}),
        )
        .await;
    assert_eq!(r.status(), 429);
    w.clock.advance_secs(3);
    let r = w
        .post(
            &format!("/api/v1/signin/{flow}/sms"),
            None,
            json!({"code": right}),
        )
        .await;
    assert_eq!(r.status(), 200);
}

/// A real HTTP server standing in for an SMS provider: it answers the
/// scripted statuses in order (then 200) and records every request.
struct Provider {
    url: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<(u16, Value)>>>,
}

impl Provider {
    async fn start(script: Vec<u16>) -> Provider {
        use std::sync::{Arc, Mutex};
        let seen: Arc<Mutex<Vec<(u16, Value)>>> = Arc::default();
        let script = Arc::new(Mutex::new(std::collections::VecDeque::from(script)));
        let app = {
            let seen = seen.clone();
            axum::Router::new().route(
                "/sms",
                axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
                    let seen = seen.clone();
                    let script = script.clone();
                    async move {
                        let status = script.lock().unwrap().pop_front().unwrap_or(200);
                        seen.lock().unwrap().push((status, body));
                        axum::http::StatusCode::from_u16(status).unwrap()
                    }
                }),
            )
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Provider {
            url: format!("http://{addr}/sms"),
            seen,
        }
    }

    fn delivered(&self) -> Vec<Value> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(s, _)| *s == 200)
            .map(|(_, b)| b.clone())
            .collect()
    }

    fn attempts(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

#[tokio::test]
async fn a_texted_code_survives_a_provider_outage_and_arrives_exactly_once() {
    use std::sync::Arc;
    let w = World::new(crate::support::kit_config()).await;
    let provider = Provider::start(vec![500, 500]).await;
    let webhook = tessera_notify::WebhookSms::new(
        tessera_notify::WebhookConfig::parse(
            &provider.url,
            Some("Authorization: Bearer test-token"),
            Some(r#"{"to":"{to}","message":"{text}","ref":"{id}"}"#),
        )
        .unwrap(),
    )
    .unwrap();
    let worker = tessera_notify::OutboxWorker::sms(
        w.s.core.store.clone(),
        Arc::new(webhook),
        w.s.core.secret_box.clone(),
        Arc::new(w.clock.clone()),
    );
    w.user("outage@example.com", Role::Member).await;
    let t = w.signin("outage@example.com").await["session_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = w
        .post("/api/v1/me/two-step/sms", Some(&t), json!({"phone": PHONE}))
        .await;
    assert_eq!(r.status(), 200);

    // The provider is down: the message waits in the outbox.
    worker.run_once().await.unwrap();
    assert_eq!(provider.attempts(), 1);
    assert!(provider.delivered().is_empty());
    // Nothing is retried before its backoff (2 s), however often the
    // worker looks.
    worker.run_once().await.unwrap();
    assert_eq!(provider.attempts(), 1);
    w.clock.advance_secs(2);
    worker.run_once().await.unwrap();
    assert_eq!(provider.attempts(), 2, "second attempt, still failing");
    // The provider recovers: the next due attempt delivers it.
    w.clock.advance_secs(4);
    worker.run_once().await.unwrap();
    let delivered = provider.delivered();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0]["to"], PHONE);
    // Later passes send nothing again: exactly once.
    w.clock.advance_secs(60);
    worker.run_once().await.unwrap();
    worker.run_once().await.unwrap();
    assert_eq!(provider.delivered().len(), 1);
    assert_eq!(provider.attempts(), 3);
    let stored = w.s.core.store.outbox_for(PHONE).await.unwrap();
    assert!(stored[0].delivered_at.is_some());
    assert_eq!(stored[0].body, "", "the code does not stay at rest");

    // The code the provider received confirms the phone: the outage
    // delayed it, and it is still inside its 10 minutes.
    let text = delivered[0]["message"].as_str().unwrap();
    let code: String = text.chars().take(6).collect();
    let r = w
        .post(
            "/api/v1/me/two-step/sms/confirm",
            Some(&t),
            json!({"code": code}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn an_account_gets_at_most_ten_texts_an_hour_whatever_the_flow() {
    // Each sign-in has its own 30-second cooldown, so someone who holds
    // only the password could start flow after flow; the account's hourly
    // budget stops that.
    let w = World::new(crate::support::kit_config()).await;
    w.user("budget@example.com", Role::Member).await;
    w.enroll_sms("budget@example.com", PHONE).await; // text 1
    for n in 2..=10 {
        let flow = w.flow("budget@example.com").await;
        let r = w
            .post(&format!("/api/v1/signin/{flow}/sms"), None, json!({}))
            .await;
        assert_eq!(r.status(), 200, "text {n}");
        w.clock.advance_secs(60);
    }
    assert_eq!(w.texts_to(PHONE).await, 10);
    let flow = w.flow("budget@example.com").await;
    let r = w
        .post(&format!("/api/v1/signin/{flow}/sms"), None, json!({}))
        .await;
    assert_eq!(r.status(), 429);
    // The window opened with the first text, 9 minutes ago.
    let wait = retry_after(&r);
    assert!((3000..=3060).contains(&wait), "Retry-After {wait}");
    assert_eq!(w.texts_to(PHONE).await, 10, "nothing queued");
    // Other methods are not affected, and the budget renews with the hour.
    w.clock.advance_secs(wait as i64);
    let flow = w.flow("budget@example.com").await;
    let r = w
        .post(&format!("/api/v1/signin/{flow}/sms"), None, json!({}))
        .await;
    assert_eq!(r.status(), 200);
}
