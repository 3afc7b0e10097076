//! Emailed codes, with every code read from the mail a real SMTP server
//! (aiosmtpd) received: at a sign-in from an unknown device (the real
//! binary), bound to their flow, purpose and account, single use under
//! twenty parallel submissions on both backends, expiry, cooldown, budget
//! and backoff on a moved clock (in-process, with the mail worker run by
//! the test), and step-up by emailed code unlocking security changes.

use crate::mail::smtp_worker;
use crate::smtp_peer::SmtpPeer;
use crate::support::*;
use crate::world::{World, retry_after};
use serde_json::{Value, json};
use std::time::Duration;
use tessera_core::account::Role;
use tessera_core::service::CoreConfig;
use tessera_notify::OutboxWorker;

/// The code in a code mail: the line that is six digits.
pub(crate) fn code_of(m: &Value) -> String {
    let text = m["text"].as_str().unwrap();
    let code = text
        .lines()
        .map(str::trim)
        .find(|l| l.len() == 6 && l.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_else(|| panic!("no code in {text}"))
        .to_string();
    assert!(m["html"].as_str().unwrap().contains(&code), "{m}");
    code
}

/// Code mails (not notifications) received so far for `to`.
pub(crate) fn code_mails(smtp: &SmtpPeer, to: &str) -> Vec<Value> {
    smtp.messages()
        .into_iter()
        .filter(|m| m["to"] == to && m["subject"].as_str().unwrap().contains("code"))
        .collect()
}

/// Waits for the `n`th code mail to `to` and returns its code.
pub(crate) async fn nth_code(smtp: &SmtpPeer, to: &str, n: usize) -> String {
    for _ in 0..200 {
        let got = code_mails(smtp, to);
        if got.len() >= n {
            return code_of(&got[n - 1]);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("code mail {n} to {to} never came: {:?}", smtp.messages());
}

async fn post(s: &Server, path: &str, bearer: Option<&str>, body: Value) -> reqwest::Response {
    let mut r = reqwest::Client::new().post(s.url(path)).json(&body);
    if let Some(t) = bearer {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap()
}

#[tokio::test]
async fn an_unknown_device_is_asked_for_a_code_from_the_mailbox_and_then_is_known() {
    let Some(smtp) = SmtpPeer::start() else {
        return;
    };
    let s = Server::start_with(Opts {
        env: vec![
            ("TESSERA_EMAIL__PROVIDER".into(), "smtp".into()),
            ("TESSERA_EMAIL__SMTP_URL".into(), smtp.url()),
            ("TESSERA_EMAIL__FROM".into(), "security@acme.example".into()),
        ],
        ..Default::default()
    });
    s.create_user("new@example.com", "member");
    let signin = |device: Option<String>| {
        let s = &s;
        async move {
            let mut body = json!({"email": "new@example.com", "password": PASSWORD});
            if let Some(d) = device {
                body["device_token"] = json!(d);
            }
            let r = post(s, "/api/v1/signin", None, body).await;
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    // A fresh client: the password is right, and a code is mailed now.
    let first = signin(None).await;
    assert_eq!(first["status"], "second_step", "{first}");
    assert_eq!(first["methods"], json!(["email_code"]));
    let flow = first["flow_id"].as_str().unwrap();
    let code = nth_code(&smtp, "new@example.com", 1).await;
    let mail = &code_mails(&smtp, "new@example.com")[0];
    assert_eq!(mail["subject"], "Your Tessera sign-in code");
    assert!(
        mail["text"]
            .as_str()
            .unwrap()
            .contains("Set up two-step verification and you won't need emailed codes"),
        "{mail}"
    );
    // Asking again at once is refused: the cooldown.
    let r = post(
        &s,
        &format!("/api/v1/signin/{flow}/email_code/resend"),
        None,
        json!({}),
    )
    .await;
    assert_eq!(r.status(), 429);
    assert!((1..=30).contains(&retry_after(&r)));
    // A wrong code is refused; the right one signs in at aal1.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = post(
        &s,
        &format!("/api/v1/signin/{flow}/email_code"),
        None,
        json!({"code": wrong}),
    )
    .await;
    assert_eq!(r.status(), 401);
    let r = post(
        &s,
        &format!("/api/v1/signin/{flow}/email_code"),
        None,
        json!({"code": code}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let done: Value = r.json().await.unwrap();
    assert_eq!(done["status"], "complete", "{done}");
    assert_eq!(done["session"]["aal"], "aal1");
    assert_eq!(
        done["session"]["methods"],
        json!(["password", "email_code"])
    );
    let device = done["device_token"].as_str().unwrap().to_string();
    // The code is spent with its flow.
    let r = post(
        &s,
        &format!("/api/v1/signin/{flow}/email_code"),
        None,
        json!({"code": code}),
    )
    .await;
    assert_eq!(r.status(), 401);
    // The device is known now: no code, no mail.
    let again = signin(Some(device.clone())).await;
    assert_eq!(again["status"], "complete", "{again}");
    assert_eq!(again["session"]["methods"], json!(["password"]));
    // Another unknown device is asked again.
    assert_eq!(signin(None).await["status"], "second_step");
    nth_code(&smtp, "new@example.com", 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(code_mails(&smtp, "new@example.com").len(), 2);

    // Once two-step verification is on, no emailed code is ever asked.
    if !crate::peers::available() {
        return;
    }
    let session = done["session_token"].as_str().unwrap();
    crate::world::enroll_totp(&s, session).await;
    let twostep = signin(None).await;
    assert_eq!(twostep["status"], "second_step");
    assert_eq!(twostep["methods"], json!(["totp", "recovery_key"]));
    let flow = twostep["flow_id"].as_str().unwrap();
    let r = post(
        &s,
        &format!("/api/v1/signin/{flow}/email_code/resend"),
        None,
        json!({}),
    )
    .await;
    assert_eq!(r.status(), 400, "no code for a 2SV account");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(code_mails(&smtp, "new@example.com").len(), 2, "no new code");
}

/// An in-process world whose mail goes to a real SMTP server when the
/// test runs the worker.
struct Mailed {
    w: World,
    smtp: SmtpPeer,
    worker: OutboxWorker,
}

impl Mailed {
    async fn start(w: World) -> Option<Mailed> {
        let smtp = SmtpPeer::start()?;
        let worker = smtp_worker(&w, &smtp.url());
        Some(Mailed { w, smtp, worker })
    }

    /// Delivers what is queued; the code of the latest code mail to `to`.
    async fn latest_code(&self, to: &str) -> String {
        self.worker.run_once().await.unwrap();
        let got = code_mails(&self.smtp, to);
        code_of(got.last().unwrap_or_else(|| panic!("no code mail to {to}")))
    }

    async fn flow(&self, email: &str) -> String {
        let r = self.w.signin(email).await;
        assert_eq!(r["methods"], json!(["email_code"]), "{r}");
        r["flow_id"].as_str().unwrap().to_string()
    }

    async fn finish(&self, flow: &str, code: &str) -> reqwest::Response {
        self.w
            .post(
                &format!("/api/v1/signin/{flow}/email_code"),
                None,
                json!({"code": code}),
            )
            .await
    }

    async fn step_up(&self, token: &str, code: &str) -> reqwest::Response {
        self.w
            .post(
                "/api/v1/step-up/email_code",
                Some(token),
                json!({"code": code}),
            )
            .await
    }

    async fn send_step_up(&self, token: &str) -> reqwest::Response {
        self.w
            .post("/api/v1/step-up/email_code/send", Some(token), json!({}))
            .await
    }

    /// Past any second-step block.
    fn wait_out_blocks(&self) {
        self.w.clock.advance_secs(20);
    }
}

fn product_defaults() -> CoreConfig {
    // Emailed codes as a default install has them: at sign-ins from new
    // devices, and for step-up.
    CoreConfig::default()
}

#[tokio::test]
async fn a_code_works_only_for_its_flow_purpose_and_account_once_and_only_the_latest() {
    let Some(m) = Mailed::start(World::new(product_defaults()).await).await else {
        return;
    };
    m.w.user("a@example.com", Role::Member).await;
    m.w.user("b@example.com", Role::Member).await;
    let flow1 = m.flow("a@example.com").await;
    let code1 = m.latest_code("a@example.com").await;
    let flow2 = m.flow("a@example.com").await;
    let code2 = m.latest_code("a@example.com").await;
    let flow_b = m.flow("b@example.com").await;
    let code_b = m.latest_code("b@example.com").await;
    // Another flow's code, another account's code: refused.
    assert_eq!(m.finish(&flow2, &code1).await.status(), 401);
    m.wait_out_blocks();
    assert_eq!(m.finish(&flow1, &code_b).await.status(), 401);
    m.wait_out_blocks();
    assert_eq!(m.finish(&flow_b, &code1).await.status(), 401);
    m.wait_out_blocks();
    // The right one for flow 2 signs in.
    let r = m.finish(&flow2, &code2).await;
    assert_eq!(r.status(), 200);
    let token = r.json::<Value>().await.unwrap()["session_token"]
        .as_str()
        .unwrap()
        .to_string();
    // A step-up code is not a sign-in code, nor the reverse.
    assert_eq!(m.send_step_up(&token).await.status(), 200);
    let step_code = m.latest_code("a@example.com").await;
    assert_eq!(m.finish(&flow1, &step_code).await.status(), 401);
    m.wait_out_blocks();
    assert_eq!(m.step_up(&token, &code1).await.status(), 401);
    m.wait_out_blocks();
    // A step-up code works once.
    let r = m.step_up(&token, &step_code).await;
    assert_eq!(r.status(), 200);
    let token = r.json::<Value>().await.unwrap()["session_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(m.step_up(&token, &step_code).await.status(), 401);
    m.wait_out_blocks();
    // Only the latest code counts: a resend (after the cooldown) replaces
    // flow 1's code.
    m.w.clock.advance_secs(31);
    let r =
        m.w.post(
            &format!("/api/v1/signin/{flow1}/email_code/resend"),
            None,
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["resend_after_secs"], 30);
    let code1b = m.latest_code("a@example.com").await;
    assert_ne!(code1, code1b);
    assert_eq!(m.finish(&flow1, &code1).await.status(), 401);
    m.wait_out_blocks();
    let r = m.finish(&flow1, &code1b).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["session"]["methods"],
        json!(["password", "email_code"])
    );
}

#[tokio::test]
async fn codes_expire_cool_down_back_off_and_are_budgeted_on_a_moved_clock() {
    let Some(m) = Mailed::start(World::new(product_defaults()).await).await else {
        return;
    };
    m.w.user("a@example.com", Role::Member).await;
    let flow = m.flow("a@example.com").await;
    let code = m.latest_code("a@example.com").await;
    let r = m.finish(&flow, &code).await;
    let token = r.json::<Value>().await.unwrap()["session_token"]
        .as_str()
        .unwrap()
        .to_string();
    // Backoff: the second wrong code in a row blocks for 1 s, then 2 s;
    // even the right code waits, unevaluated; then it works.
    assert_eq!(m.send_step_up(&token).await.status(), 200);
    let live = m.latest_code("a@example.com").await;
    let wrong = if live == "000000" { "111111" } else { "000000" };
    assert_eq!(m.step_up(&token, wrong).await.status(), 401);
    assert_eq!(m.step_up(&token, wrong).await.status(), 401);
    let r = m.step_up(&token, &live).await;
    assert_eq!(r.status(), 429);
    assert_eq!(retry_after(&r), 1);
    m.w.clock.advance_secs(1);
    assert_eq!(m.step_up(&token, wrong).await.status(), 401);
    let r = m.step_up(&token, &live).await;
    assert_eq!(r.status(), 429);
    assert_eq!(retry_after(&r), 2);
    m.w.clock.advance_secs(2);
    let r = m.step_up(&token, &live).await;
    assert_eq!(r.status(), 200);
    let token = r.json::<Value>().await.unwrap()["session_token"]
        .as_str()
        .unwrap()
        .to_string();
    // Expiry: a step-up code is good for 10 minutes, not one second more.
    m.w.clock.advance_secs(31);
    assert_eq!(m.send_step_up(&token).await.status(), 200);
    let old = m.latest_code("a@example.com").await;
    m.w.clock.advance_secs(601);
    assert_eq!(m.step_up(&token, &old).await.status(), 401);
    // Cooldown: 30 s between codes for one purpose.
    assert_eq!(m.send_step_up(&token).await.status(), 200);
    let r = m.send_step_up(&token).await;
    assert_eq!(r.status(), 429);
    assert_eq!(retry_after(&r), 30);
    m.w.clock.advance_secs(29);
    assert_eq!(m.send_step_up(&token).await.status(), 429);
    m.w.clock.advance_secs(1);
    assert_eq!(m.send_step_up(&token).await.status(), 200);
    // Budget: 10 code mails an hour across purposes. Five went out so far
    // (one sign-in, four step-ups); five more, then the hour is spent.
    for _ in 0..5 {
        m.w.clock.advance_secs(31);
        assert_eq!(m.send_step_up(&token).await.status(), 200);
    }
    m.w.clock.advance_secs(31);
    let r = m.send_step_up(&token).await;
    assert_eq!(r.status(), 429);
    assert!(retry_after(&r) > 30, "the hour's budget, not the cooldown");
    // A sign-in from a new device is refused too, not silently left
    // without a code.
    let r =
        m.w.post(
            "/api/v1/signin",
            None,
            json!({"email": "a@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), 429);
    m.worker.run_once().await.unwrap();
    assert_eq!(code_mails(&m.smtp, "a@example.com").len(), 10);
    // The hour ends: codes go out again.
    m.w.clock.advance_secs(3600);
    assert_eq!(m.send_step_up(&token).await.status(), 200);
}

/// Twenty parallel submissions of one code: exactly one signs in, and the
/// same for a step-up code.
async fn twenty_at_once(m: Mailed) {
    m.w.user("race@example.com", Role::Member).await;
    let flow = m.flow("race@example.com").await;
    let code = m.latest_code("race@example.com").await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let http = m.w.http.clone();
        let url = m.w.s.url(&format!("/api/v1/signin/{flow}/email_code"));
        let code = code.clone();
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(url)
                .json(&json!({"code": code}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }));
    }
    let mut ok = Vec::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert!(matches!(status, 200 | 401 | 429), "{status} {body}");
        if status == 200 {
            ok.push(body);
        }
    }
    assert_eq!(ok.len(), 1, "exactly one sign-in");
    let token = ok[0]["session_token"].as_str().unwrap().to_string();
    m.w.clock.advance_secs(60);
    assert_eq!(m.send_step_up(&token).await.status(), 200);
    let code = m.latest_code("race@example.com").await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let http = m.w.http.clone();
        let url = m.w.s.url("/api/v1/step-up/email_code");
        let (code, token) = (code.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            http.post(url)
                .bearer_auth(token)
                .json(&json!({"code": code}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_submissions_of_one_code_give_one_success_on_sqlite() {
    if let Some(m) = Mailed::start(World::new(product_defaults()).await).await {
        twenty_at_once(m).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_submissions_of_one_code_give_one_success_on_postgres() {
    let Some(w) = World::on_postgres(product_defaults()).await else {
        return;
    };
    if let Some(m) = Mailed::start(w).await {
        twenty_at_once(m).await;
    }
}

/// An API token for `token`'s account, or the refusal's status.
async fn create_token(w: &World, token: &str) -> u16 {
    w.post(
        "/api/v1/me/api-tokens",
        Some(token),
        json!({"label": "script"}),
    )
    .await
    .status()
    .as_u16()
}

async fn change_password(w: &World, token: &str, new: &str) -> reqwest::Response {
    w.post(
        "/api/v1/me/password",
        Some(token),
        json!({"current_password": PASSWORD, "new_password": new}),
    )
    .await
}

#[tokio::test]
async fn without_2sv_only_an_emailed_code_unlocks_security_changes() {
    let Some(m) = Mailed::start(World::new(product_defaults()).await).await else {
        return;
    };
    m.w.user("a@example.com", Role::Member).await;
    // Sign in once with a code to make the device known, then again from
    // it: a session verified by password alone.
    let flow = m.flow("a@example.com").await;
    let code = m.latest_code("a@example.com").await;
    let first: Value = m.finish(&flow, &code).await.json().await.unwrap();
    let device = first["device_token"].as_str().unwrap();
    let r =
        m.w.post(
            "/api/v1/signin",
            None,
            json!({"email": "a@example.com", "password": PASSWORD, "device_token": device}),
        )
        .await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["session"]["methods"], json!(["password"]), "{body}");
    let token = body["session_token"].as_str().unwrap().to_string();
    // A password neither unlocks nor steps up.
    assert_eq!(create_token(&m.w, &token).await, 403);
    let r = change_password(&m.w, &token, "another long passphrase here").await;
    assert_eq!(r.status(), 403);
    let r =
        m.w.post(
            "/api/v1/step-up/password",
            Some(&token),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), 403);
    let problem: Value = r.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("email")
            || problem.to_string().contains("email"),
        "{problem}"
    );
    assert_eq!(create_token(&m.w, &token).await, 403);
    let r =
        m.w.post("/api/v1/me/two-step/totp", Some(&token), json!({}))
            .await;
    assert_eq!(r.status(), 403, "two-step settings too");
    // An emailed code does.
    assert_eq!(m.send_step_up(&token).await.status(), 200);
    let code = m.latest_code("a@example.com").await;
    let mail = code_mails(&m.smtp, "a@example.com").pop().unwrap();
    assert_eq!(mail["subject"], "Your Tessera verification code");
    let r = m.step_up(&token, &code).await;
    assert_eq!(r.status(), 200);
    let stepped: Value = r.json().await.unwrap();
    let new_token = stepped["session_token"].as_str().unwrap().to_string();
    assert_ne!(new_token, token, "the session is rotated");
    assert_eq!(
        create_token(&m.w, &token).await,
        401,
        "the old token is gone"
    );
    assert_eq!(create_token(&m.w, &new_token).await, 201);
    let r = change_password(&m.w, &new_token, "another long passphrase here").await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
}

#[tokio::test]
async fn with_no_mail_provider_a_password_step_up_is_accepted_instead() {
    // `email.provider = none`: nothing can arrive, so nothing is asked.
    let w = World::new(CoreConfig {
        email_codes: tessera_core::email_code::EmailCodeConfig {
            mail_delivered: false,
            ..Default::default()
        },
        ..CoreConfig::default()
    })
    .await;
    w.user("air@example.com", Role::Member).await;
    let r = w.signin("air@example.com").await;
    assert_eq!(r["status"], "complete", "no code at sign-in: {r}");
    let token = r["session_token"].as_str().unwrap().to_string();
    w.clock.advance_secs(601);
    assert_eq!(create_token(&w, &token).await, 403);
    let r = w
        .post("/api/v1/step-up/email_code/send", Some(&token), json!({}))
        .await;
    assert_eq!(r.status(), 400);
    let r = w
        .post(
            "/api/v1/step-up/password",
            Some(&token),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let token = r.json::<Value>().await.unwrap()["session_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(create_token(&w, &token).await, 201);
}

#[tokio::test]
async fn two_step_accounts_and_api_tokens_get_no_emailed_codes() {
    let Some(m) = Mailed::start(World::new(product_defaults()).await).await else {
        return;
    };
    m.w.user("t@example.com", Role::Member).await;
    let flow = m.flow("t@example.com").await;
    let code = m.latest_code("t@example.com").await;
    let r: Value = m.finish(&flow, &code).await.json().await.unwrap();
    let session = r["session_token"].as_str().unwrap().to_string();
    // An API token can neither ask for nor use a step-up code.
    let r =
        m.w.post(
            "/api/v1/me/api-tokens",
            Some(&session),
            json!({"label": "script"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let api: Value = r.json().await.unwrap();
    let api = api["token"].as_str().unwrap();
    assert_eq!(m.send_step_up(api).await.status(), 403);
    assert_eq!(m.step_up(api, &code).await.status(), 403);
    // With 2SV on, step-up takes one of its methods, never a code.
    let (_, enrolled) = crate::world::enroll_totp(&m.w, &session).await;
    let session = enrolled["session_token"].as_str().unwrap().to_string();
    let sent_before = code_mails(&m.smtp, "t@example.com").len();
    assert_eq!(m.send_step_up(&session).await.status(), 400);
    assert_eq!(m.step_up(&session, "123456").await.status(), 403);
    let r = m.w.signin("t@example.com").await;
    assert_eq!(r["methods"], json!(["totp", "recovery_key"]));
    m.worker.run_once().await.unwrap();
    assert_eq!(code_mails(&m.smtp, "t@example.com").len(), sent_before);
}

#[test]
fn a_bad_email_code_setting_stops_the_program_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli_with(
        dir.path(),
        &[("TESSERA_EMAIL_CODE__AT_SIGNIN", "sometimes")],
        &["config", "check"],
        None,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("email_code.at_signin"), "{err}");
    let out = cli_with(dir.path(), &[], &["config", "check"], None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("email_code.at_signin = new_device"), "{text}");
    let out = cli_with(
        dir.path(),
        &[("TESSERA_EMAIL__PROVIDER", "none")],
        &["config", "check"],
        None,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("email_code.at_signin = off (email.provider is none"),
        "{text}"
    );
}

#[tokio::test]
async fn a_code_queued_during_an_smtp_outage_arrives_once_when_it_is_back_and_still_works() {
    let port = crate::smtp_peer::free_port();
    let w = World::new(product_defaults()).await;
    let worker = smtp_worker(&w, &format!("smtp://127.0.0.1:{port}"));
    w.user("a@example.com", Role::Member).await;
    // The code is queued while nothing listens: it waits.
    let r = w.signin("a@example.com").await;
    assert_eq!(r["methods"], json!(["email_code"]), "{r}");
    let flow = r["flow_id"].as_str().unwrap().to_string();
    let p = worker.run_once().await.unwrap();
    assert_eq!((p.claimed, p.retrying, p.delivered), (1, 1, 0), "{p:?}");

    // The server comes back; the retry after the 2 s backoff delivers it.
    let Some(smtp) = SmtpPeer::start_on(port) else {
        return;
    };
    w.clock.advance_secs(2);
    assert_eq!(worker.run_once().await.unwrap().delivered, 1);
    for _ in 0..3 {
        w.clock.advance_secs(60);
        assert_eq!(worker.run_once().await.unwrap().delivered, 0);
    }
    let mails = code_mails(&smtp, "a@example.com");
    assert_eq!(mails.len(), 1, "exactly once: {mails:?}");
    // Still within its 10 minutes: the code from the mail signs in.
    let code = code_of(&mails[0]);
    let r = w
        .post(
            &format!("/api/v1/signin/{flow}/email_code"),
            None,
            json!({"code": code}),
        )
        .await;
    assert_eq!(r.status(), 200);
}
