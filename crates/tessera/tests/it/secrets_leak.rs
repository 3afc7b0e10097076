//! Secrets never leak: a real server, with real mail (aiosmtpd) and a real
//! SMS webhook, is made to handle every kind of secret it knows (passwords,
//! a TOTP seed, recovery keys, emailed and texted codes, TOTP codes, API
//! tokens, session and device tokens, an invitation token, an OIDC client
//! secret), each also sent
//! back at it in deliberately broken requests. Then every log line it wrote
//! at `debug` (text and JSON), its audit table, its outbox after delivery,
//! `/metrics` and the body of every error it answered are searched for
//! each secret, as written and in its other encodings. Nothing may match.

use crate::crash_db::Db;
use crate::email_codes::{code_mails, nth_code};
use crate::secrets_at_rest::base32_decode;
use crate::smtp_peer::SmtpPeer;
use crate::support::*;
use base64::Engine;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A secret and the forms it could show up in.
struct Secret {
    what: String,
    forms: Vec<String>,
    /// A short code of digits: matched only where no other digit, letter
    /// or `.` touches it (a timestamp's fraction, a float).
    digits: bool,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A password of its own for each account and run.
fn password(who: &str) -> String {
    format!("leakprobe-{who}-{}", uuid::Uuid::new_v4().simple())
}

/// Where `needle` occurs in `hay`, as a code of digits would be read.
fn finds_code(hay: &str, needle: &str) -> bool {
    let bytes = hay.as_bytes();
    hay.match_indices(needle).any(|(at, _)| {
        let before = at.checked_sub(1).map(|i| bytes[i]);
        let after = bytes.get(at + needle.len()).copied();
        let touches = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'.');
        !touches(before) && !touches(after)
    })
}

struct Probe {
    s: Server,
    http: reqwest::Client,
    smtp: SmtpPeer,
    texts: Arc<Mutex<Vec<String>>>,
    secrets: Vec<Secret>,
    /// Every answer of 400 or more: (request, status, body).
    errors: Vec<(String, u16, String)>,
}

impl Probe {
    fn keep(&mut self, what: &str, forms: Vec<String>) {
        assert!(forms.iter().all(|f| f.len() >= 6), "{what}: {forms:?}");
        self.secrets.push(Secret {
            what: what.into(),
            forms,
            digits: false,
        });
    }

    fn keep_code(&mut self, what: &str, code: &str) {
        assert!(
            code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
            "{what}: {code}"
        );
        self.secrets.push(Secret {
            what: what.into(),
            forms: vec![code.into()],
            digits: true,
        });
    }

    fn keep_password(&mut self, email: &str, pw: &str) {
        self.keep(
            &format!("password of {email}"),
            vec![pw.into(), b64(format!("{email}:{pw}").as_bytes())],
        );
    }

    /// Sends `req`; keeps the body of an error answer.
    async fn send(&mut self, what: &str, req: reqwest::RequestBuilder) -> (u16, String) {
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        if status >= 400 {
            self.errors.push((what.into(), status, body.clone()));
        }
        (status, body)
    }

    async fn call(
        &mut self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method.parse().unwrap(), self.s.url(path));
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        if let Some(b) = &body {
            req = req.json(b);
        }
        let (status, text) = self.send(&format!("{method} {path}"), req).await;
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Signs in with a password, and with the mailed code when one is
    /// asked for; returns the answer that completed it.
    async fn sign_in(&mut self, email: &str, pw: &str) -> Value {
        let mailed = code_mails(&self.smtp, email).len();
        let (st, r) = self
            .call(
                "POST",
                "/api/v1/signin",
                None,
                Some(json!({"email": email, "password": pw})),
            )
            .await;
        assert_eq!(st, 200, "{email}: {r}");
        if r["status"] == "complete" {
            self.keep_session(email, &r);
            return r;
        }
        assert_eq!(r["methods"], json!(["email_code"]), "{r}");
        let flow = r["flow_id"].as_str().unwrap().to_string();
        let code = nth_code(&self.smtp, email, mailed + 1).await;
        self.keep_code(&format!("emailed code for {email}"), &code);
        let (st, done) = self
            .call(
                "POST",
                &format!("/api/v1/signin/{flow}/email_code"),
                None,
                Some(json!({"code": code})),
            )
            .await;
        assert_eq!(st, 200, "{done}");
        self.keep_session(email, &done);
        done
    }

    /// Keeps the session and device tokens of a completed sign-in.
    fn keep_session(&mut self, email: &str, done: &Value) {
        if let Some(t) = done["session_token"].as_str() {
            self.keep(&format!("session token of {email}"), vec![t.into()]);
        }
        if let Some(t) = done["device_token"].as_str() {
            self.keep(&format!("device token of {email}"), vec![t.into()]);
        }
        if let Some(k) = done["new_recovery_key"].as_str() {
            self.keep_recovery_key(email, k);
        }
    }

    fn keep_recovery_key(&mut self, email: &str, key: &str) {
        let bare = key.replace('-', "");
        self.keep(
            &format!("recovery key of {email}"),
            vec![
                key.into(),
                key.to_lowercase(),
                bare.clone(),
                bare.to_lowercase(),
            ],
        );
    }

    /// The newest text message's code for `phone`, once it arrived.
    async fn texted_code(&self, phone: &str, n: usize) -> String {
        let start = Instant::now();
        loop {
            let got: Vec<Value> = self
                .texts
                .lock()
                .unwrap()
                .iter()
                .filter_map(|req| serde_json::from_str(req.split("\r\n\r\n").nth(1)?).ok())
                .filter(|v: &Value| v["to"] == phone)
                .collect();
            if got.len() >= n {
                let text = got[n - 1]["text"].as_str().unwrap();
                return text.chars().filter(char::is_ascii_digit).take(6).collect();
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "text {n} to {phone} never came"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The token in the `n`th invitation mail to `to`.
    async fn invitation_token(&self, to: &str) -> String {
        let start = Instant::now();
        loop {
            let link = self
                .smtp
                .messages()
                .into_iter()
                .filter(|m| m["to"] == to && m["subject"].as_str().unwrap().contains("invited"))
                .find_map(|m| {
                    let text = m["text"].as_str()?.to_string();
                    text.split_whitespace()
                        .find(|w| w.contains("/invitations/"))
                        .map(str::to_string)
                });
            if let Some(link) = link {
                return link.rsplit('/').next().unwrap().to_string();
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no invitation mail to {to}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Everything a server is asked to do with secrets, and the broken
/// requests that carry them back.
async fn exercise(p: &mut Probe) {
    // Passwords, set from the command line and over the API.
    let (root, alice, bob) = (
        "root@acme.example",
        "alice@acme.example",
        "bob@acme.example",
    );
    let mut pw = std::collections::HashMap::new();
    for (email, role) in [(root, "sysadmin"), (alice, "member"), (bob, "member")] {
        let secret = password(email.split('@').next().unwrap());
        let out = p.s.cli(
            &[
                "admin",
                "create-user",
                "--email",
                email,
                "--role",
                role,
                "--password-stdin",
            ],
            Some(&secret),
        );
        assert!(out.status.success(), "{out:?}");
        p.keep_password(email, &secret);
        pw.insert(email, secret);
    }

    // Alice: an emailed code, an API token, an authenticator app and its
    // recovery key, a new password, then a sign-in by TOTP.
    let done = p.sign_in(alice, &pw[alice]).await;
    let session = done["session_token"].as_str().unwrap().to_string();
    let (st, tok) = p
        .call(
            "POST",
            "/api/v1/me/api-tokens",
            Some(&session),
            Some(json!({"label": "script"})),
        )
        .await;
    assert_eq!(st, 201, "{tok}");
    let api_token = tok["token"].as_str().unwrap().to_string();
    p.keep(
        "API token",
        vec![api_token.clone(), api_token[4..4 + 43].to_string()],
    );
    let (st, _) = p
        .call("GET", "/api/v1/sessions", Some(&api_token), None)
        .await;
    assert_eq!(st, 200, "the API token works");
    let (st, e) = p
        .call("POST", "/api/v1/me/two-step/totp", Some(&session), None)
        .await;
    assert_eq!(st, 200, "{e}");
    let seed = e["secret"].as_str().unwrap().to_string();
    let raw = base32_decode(seed.trim_end_matches('='));
    p.keep(
        "TOTP seed",
        vec![
            seed.clone(),
            seed.to_lowercase(),
            seed.trim_end_matches('=').to_string(),
            hex(&raw),
            hex(&raw).to_uppercase(),
            b64(&raw),
        ],
    );
    let code = crate::peers::oathtool(&seed, crate::peers::now_secs());
    p.keep_code("TOTP code at enrollment", &code);
    let (st, c) = p
        .call(
            "POST",
            "/api/v1/me/two-step/totp/confirm",
            Some(&session),
            Some(json!({"code": code})),
        )
        .await;
    assert_eq!(st, 200, "{c}");
    p.keep_recovery_key(alice, c["recovery_key"].as_str().unwrap());
    p.keep_session(alice, &c);
    let session = c["session_token"].as_str().unwrap().to_string();
    let new_pw = password("alice-new");
    p.keep_password(alice, &new_pw);
    let (st, changed) = p
        .call(
            "POST",
            "/api/v1/me/password",
            Some(&session),
            Some(json!({"current_password": pw[alice], "new_password": new_pw})),
        )
        .await;
    assert_eq!(st, 200, "{changed}");
    p.keep_session(alice, &changed);
    let alice_session = changed["session_token"].as_str().unwrap().to_string();
    let (st, r) = p
        .call(
            "POST",
            "/api/v1/signin",
            None,
            Some(json!({"email": alice, "password": new_pw})),
        )
        .await;
    assert_eq!(st, 200, "{r}");
    let flow = r["flow_id"].as_str().unwrap().to_string();
    // A code of the next step: the one just used for enrollment is spent.
    let code = crate::peers::oathtool(&seed, crate::peers::now_secs() + 30);
    p.keep_code("TOTP code at sign-in", &code);
    let (st, done) = p
        .call(
            "POST",
            &format!("/api/v1/signin/{flow}/totp"),
            None,
            Some(json!({"code": code})),
        )
        .await;
    assert_eq!(st, 200, "{done}");
    p.keep_session(alice, &done);

    // Bob: a phone, a texted code, his recovery key used to sign in.
    let done = p.sign_in(bob, &pw[bob]).await;
    let session = done["session_token"].as_str().unwrap().to_string();
    let phone = "+447700900123";
    let (st, r) = p
        .call(
            "POST",
            "/api/v1/me/two-step/sms",
            Some(&session),
            Some(json!({"phone": phone})),
        )
        .await;
    assert_eq!(st, 200, "{r}");
    let code = p.texted_code(phone, 1).await;
    p.keep_code("texted code", &code);
    let (st, c) = p
        .call(
            "POST",
            "/api/v1/me/two-step/sms/confirm",
            Some(&session),
            Some(json!({"code": code})),
        )
        .await;
    assert_eq!(st, 200, "{c}");
    let bob_key = c["recovery_key"].as_str().unwrap().to_string();
    p.keep_recovery_key(bob, &bob_key);
    p.keep_session(bob, &c);
    let (_, r) = p
        .call(
            "POST",
            "/api/v1/signin",
            None,
            Some(json!({"email": bob, "password": pw[bob]})),
        )
        .await;
    let flow = r["flow_id"].as_str().unwrap().to_string();
    let (st, done) = p
        .call(
            "POST",
            &format!("/api/v1/signin/{flow}/recovery_key"),
            None,
            Some(json!({"recovery_key": bob_key})),
        )
        .await;
    assert_eq!(st, 200, "{done}");
    p.keep_session(bob, &done);

    // Root: an organization and an invitation, taken up by a new account.
    let done = p.sign_in(root, &pw[root]).await;
    let root_session = done["session_token"].as_str().unwrap().to_string();
    let (st, org) = p
        .call(
            "POST",
            "/api/v1/admin/organizations",
            Some(&root_session),
            Some(json!({"name": "Acme"})),
        )
        .await;
    assert_eq!(st, 201, "{org}");
    let org = org["id"].as_str().unwrap().to_string();
    let newbie = "newbie@guest.example";
    let (st, inv) = p
        .call(
            "POST",
            &format!("/api/v1/admin/organizations/{org}/invitations"),
            Some(&root_session),
            Some(json!({"email": newbie})),
        )
        .await;
    assert_eq!(st, 201, "{inv}");
    let invitation = p.invitation_token(newbie).await;
    p.keep("invitation token", vec![invitation.clone()]);
    let (st, _) = p
        .call(
            "GET",
            &format!("/api/v1/invitations/{invitation}"),
            None,
            None,
        )
        .await;
    assert_eq!(st, 200);
    let newbie_pw = password("newbie");
    p.keep_password(newbie, &newbie_pw);
    let (st, j) = p
        .call(
            "POST",
            &format!("/api/v1/invitations/{invitation}/signup"),
            None,
            Some(json!({"display_name": "Newbie", "password": newbie_pw})),
        )
        .await;
    assert_eq!(st, 201, "{j}");
    // An OIDC client's secret, as created and as rotated.
    let (st, client) = p
        .call(
            "POST",
            "/api/v1/admin/oidc-clients",
            Some(&root_session),
            Some(json!({"name": "Grafana", "redirect_uris": ["https://grafana.acme.example/login/generic_oauth"],
                        "public": false, "first_party": true})),
        )
        .await;
    assert_eq!(st, 201, "{client}");
    p.keep(
        "OIDC client secret",
        vec![client["client_secret"].as_str().unwrap().to_string()],
    );
    let client_id = client["client_id"].as_str().unwrap().to_string();
    let (st, rotated) = p
        .call(
            "POST",
            &format!("/api/v1/admin/oidc-clients/{client_id}/rotate-secret"),
            Some(&root_session),
            None,
        )
        .await;
    assert_eq!(st, 200, "{rotated}");
    p.keep(
        "rotated OIDC client secret",
        vec![rotated["client_secret"].as_str().unwrap().to_string()],
    );
    // A sysadmin creates an account with a password; one signs up.
    let carol_pw = password("carol");
    p.keep_password("carol@acme.example", &carol_pw);
    let (st, u) = p
        .call(
            "POST",
            "/api/v1/admin/users",
            Some(&root_session),
            Some(json!({"email": "carol@acme.example", "password": carol_pw})),
        )
        .await;
    assert_eq!(st, 201, "{u}");
    let dora_pw = password("dora");
    p.keep_password("dora@acme.example", &dora_pw);
    let (st, _) = p
        .call(
            "POST",
            "/api/v1/signup",
            None,
            Some(json!({"email": "dora@acme.example", "password": dora_pw})),
        )
        .await;
    assert_eq!(st, 202);

    // Broken requests carrying secrets back: none may be echoed.
    let a_pw = new_pw.clone();
    let client_secret = rotated["client_secret"].as_str().unwrap().to_string();
    let broken: Vec<(&str, String, Option<&str>, Value)> = vec![
        (
            "POST",
            "/api/v1/admin/oidc-clients".into(),
            Some(root_session.as_str()),
            json!({"name": "x", "redirect_uris": [client_secret], "public": false, "first_party": true}),
        ),
        (
            "PATCH",
            format!("/api/v1/admin/oidc-clients/{client_id}"),
            Some(root_session.as_str()),
            json!({"scopes": [client_secret], "client_secret": client_secret}),
        ),
        (
            "POST",
            "/api/v1/signin".into(),
            None,
            json!({"email": alice, "password": a_pw, "client": a_pw}),
        ),
        (
            "POST",
            "/api/v1/signin".into(),
            None,
            json!({"email": a_pw, "password": a_pw}),
        ),
        (
            "POST",
            "/api/v1/signin".into(),
            None,
            json!({"email": alice, "password": [a_pw]}),
        ),
        (
            "POST",
            "/api/v1/signin".into(),
            None,
            json!({"email": alice, "password": a_pw, "device_token": {"t": api_token}}),
        ),
        (
            "POST",
            "/api/v1/signin".into(),
            None,
            json!({"email": alice, "password": "wrong", "remember": seed}),
        ),
        (
            "POST",
            "/api/v1/me/api-tokens".into(),
            Some(alice_session.as_str()),
            json!({"label": "x", "scopes": [api_token]}),
        ),
        (
            "POST",
            "/api/v1/me/api-tokens".into(),
            Some(alice_session.as_str()),
            json!({"label": "x", "expires_in_days": seed}),
        ),
        (
            "POST",
            "/api/v1/me/api-tokens".into(),
            Some(alice_session.as_str()),
            json!({"label": invitation, "expires_in_days": code.parse::<u64>().unwrap()}),
        ),
        (
            "POST",
            "/api/v1/me/two-step/sms".into(),
            Some(alice_session.as_str()),
            json!({"phone": a_pw}),
        ),
        (
            "POST",
            "/api/v1/me/two-step/sms/confirm".into(),
            Some(alice_session.as_str()),
            json!({"code": code.parse::<u64>().unwrap()}),
        ),
        (
            "POST",
            "/api/v1/step-up/recovery_key".into(),
            Some(alice_session.as_str()),
            json!({"recovery_key": format!("{bob_key}-Q")}),
        ),
        (
            "POST",
            "/api/v1/step-up/totp".into(),
            Some(alice_session.as_str()),
            json!({"code": seed}),
        ),
        (
            "POST",
            "/api/v1/me/password".into(),
            Some(alice_session.as_str()),
            json!({"current_password": pw[bob], "new_password": "short"}),
        ),
        (
            "POST",
            "/api/v1/admin/users".into(),
            Some(root_session.as_str()),
            json!({"email": a_pw, "password": a_pw, "role": a_pw}),
        ),
        (
            "POST",
            "/api/v1/admin/users".into(),
            Some(root_session.as_str()),
            json!({"email": "erin@acme.example", "password": "erin@acme.example", "kind": seed}),
        ),
        (
            "POST",
            format!("/api/v1/admin/organizations/{org}/invitations"),
            Some(root_session.as_str()),
            json!({"email": newbie, "role": invitation}),
        ),
        (
            "POST",
            format!("/api/v1/invitations/{invitation}/signup"),
            None,
            json!({"password": newbie_pw}),
        ),
        (
            "POST",
            format!("/api/v1/invitations/{invitation}x/signup"),
            None,
            json!({"password": newbie_pw}),
        ),
        (
            "POST",
            format!("/api/v1/signin/{flow}/recovery_key"),
            None,
            json!({"recovery_key": bob_key}),
        ),
    ];
    for (method, path, bearer, body) in broken {
        let (st, _) = p.call(method, &path, bearer, Some(body)).await;
        assert!(st >= 400, "{method} {path} was accepted");
    }
    let url = p.s.url("/api/v1/signin");
    let raw: Vec<(&str, reqwest::RequestBuilder)> = vec![
        (
            "truncated JSON",
            p.http
                .post(&url)
                .header("content-type", "application/json")
                .body(format!(r#"{{"email":"{alice}","password":"{a_pw}"#)),
        ),
        (
            "JSON with a secret for a key",
            p.http
                .post(&url)
                .header("content-type", "application/json")
                .body(format!(r#"{{"{a_pw}":"{api_token}"}}"#)),
        ),
        (
            "a form where JSON is due",
            p.http
                .post(&url)
                .form(&[("email", alice), ("password", a_pw.as_str())]),
        ),
        (
            "a query string with secrets",
            p.http
                .get(p.s.url(&format!(
                    "/api/v1/admin/users?offset={bob_key}&limit={}",
                    &api_token
                )))
                .bearer_auth(&root_session),
        ),
        (
            "an audit query with secrets",
            p.http
                .get(p.s.url(&format!(
                    "/api/v1/admin/audit?kind={invitation}&since={seed}&before_id={a_pw}"
                )))
                .bearer_auth(&root_session),
        ),
        (
            "a mangled bearer token",
            p.http
                .get(p.s.url("/api/v1/sessions"))
                .bearer_auth(format!("{api_token}x")),
        ),
        (
            "a revoked-looking session token",
            p.http
                .get(p.s.url("/api/v1/sessions"))
                .bearer_auth(format!("{alice_session}x")),
        ),
        (
            "Basic with a wrong password",
            p.http
                .get(p.s.url("/api/v1/sessions"))
                .basic_auth(bob, Some(&a_pw)),
        ),
        (
            "the sign-in page with a wrong password",
            p.http
                .post(p.s.url("/login"))
                .header(
                    "cookie",
                    "tessera_csrf=leak-test-csrf-token-0123456789abcdef",
                )
                .form(&[
                    ("csrf", "leak-test-csrf-token-0123456789abcdef"),
                    ("email", bob),
                    ("password", a_pw.as_str()),
                ]),
        ),
        (
            "the sign-in page with a broken form",
            p.http
                .post(p.s.url("/login"))
                .header(
                    "cookie",
                    "tessera_csrf=leak-test-csrf-token-0123456789abcdef",
                )
                .form(&[
                    ("csrf", "leak-test-csrf-token-0123456789abcdef"),
                    ("password", a_pw.as_str()),
                    ("remember", seed.as_str()),
                ]),
        ),
    ];
    for (what, req) in raw {
        let (st, _) = p.send(what, req).await;
        assert!(st >= 400, "{what} was accepted");
    }
}

/// Columns of `table`, each cast to text, for a `SELECT`.
async fn text_columns(db: &Db, table: &str, pg: bool) -> String {
    let names = if pg {
        db.rows(&format!(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_name = '{table}' AND table_schema = current_schema()"
        ))
        .await
    } else {
        db.rows(&format!("SELECT name FROM pragma_table_info('{table}')"))
            .await
    };
    assert!(!names.is_empty(), "no table {table}");
    names
        .iter()
        .map(|n| format!("CAST({} AS TEXT)", n[0]))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn dump(db: &Db, table: &str, pg: bool) -> String {
    let cols = text_columns(db, table, pg).await;
    let rows = db.rows(&format!("SELECT {cols} FROM {table}")).await;
    assert!(!rows.is_empty(), "{table} is empty");
    rows.iter()
        .map(|r| r.join(" | "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One whole run: exercise a server logging `format` at debug, then
/// search everything it kept or said.
async fn run(format: &str, postgres: bool) {
    let Some(smtp) = SmtpPeer::start() else {
        return;
    };
    if !crate::peers::available() {
        return;
    }
    let url = if postgres {
        let Some(url) = crate::postgres::scoped_url().await else {
            return;
        };
        Some(url)
    } else {
        None
    };
    let (hook, texts) = crate::sms::receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let mut env: Vec<(String, String)> = vec![
        ("TESSERA_LOG__LEVEL".into(), "debug".into()),
        ("TESSERA_LOG__FORMAT".into(), format.into()),
        ("TESSERA_SIGNUP_ENABLED".into(), "true".into()),
        ("TESSERA_EMAIL__PROVIDER".into(), "smtp".into()),
        ("TESSERA_EMAIL__SMTP_URL".into(), smtp.url()),
        ("TESSERA_EMAIL__FROM".into(), "security@acme.example".into()),
        ("TESSERA_SMS__PROVIDER".into(), "webhook".into()),
        ("TESSERA_SMS__WEBHOOK_URL".into(), hook),
    ];
    if let Some(u) = &url {
        env.extend(crate::postgres::pg_env(u));
    }
    let s = Server::start_logging_to(
        Opts {
            data_dir: Some(dir.path().join("data")),
            env,
        },
        &log,
    );
    let mut p = Probe {
        s,
        http: reqwest::Client::new(),
        smtp,
        texts,
        secrets: Vec::new(),
        errors: Vec::new(),
    };
    exercise(&mut p).await;

    // The outbox, once everything in it went out (a message delivered or
    // given up has its body cleared).
    let db = Db::open(&p.s.data_dir, url.as_deref()).await;
    let start = Instant::now();
    while db
        .count("SELECT COUNT(*) FROM outbox WHERE body <> ''")
        .await
        > 0
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the outbox did not empty"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut places: Vec<(String, String)> = vec![
        (
            "the audit table".into(),
            dump(&db, "audit_events", postgres).await,
        ),
        ("the outbox".into(), dump(&db, "outbox", postgres).await),
    ];
    db.close().await;
    let metrics = reqwest::get(format!("{}/metrics", p.s.metrics_base.as_ref().unwrap()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("tessera_http_requests_total"), "{metrics}");
    places.push(("/metrics".into(), metrics));
    for (what, status, body) in std::mem::take(&mut p.errors) {
        places.push((format!("the {status} answer to {what}"), body));
    }
    let Probe { s, secrets, .. } = p;
    assert!(s.terminate().success());
    let text = std::fs::read_to_string(&log).unwrap();
    let lines = text.lines().count();
    assert!(
        text.contains("DEBUG") || text.contains(r#""level":"DEBUG""#),
        "no debug lines in {lines} lines"
    );
    if format == "json" {
        for l in text.lines() {
            assert!(serde_json::from_str::<Value>(l).is_ok(), "not JSON: {l}");
        }
    }
    places.push((format!("the {format} log ({lines} lines)"), text));

    let mut leaks = Vec::new();
    for (place, hay) in &places {
        for s in &secrets {
            for form in &s.forms {
                let found = if s.digits {
                    finds_code(hay, form)
                } else {
                    hay.contains(form.as_str())
                };
                if found {
                    let at = hay.find(form.as_str()).unwrap();
                    let from = hay[..at].char_indices().rev().nth(150).map_or(0, |c| c.0);
                    let context: String = hay[from..].chars().take(300 + form.len()).collect();
                    leaks.push(format!("{} ({form}) in {place}: …{context}…", s.what));
                }
            }
        }
    }
    println!(
        "secrets: {} secrets, {} forms, searched in {} places",
        secrets.len(),
        secrets.iter().map(|s| s.forms.len()).sum::<usize>(),
        places.len()
    );
    assert!(leaks.is_empty(), "leaks:\n{}", leaks.join("\n\n"));
    if let Some(u) = url {
        crate::crash_db::drop_schema(&u).await;
    }
}

#[tokio::test]
async fn no_secret_reaches_text_logs_audit_outbox_metrics_or_error_bodies() {
    run("text", false).await;
}

#[tokio::test]
async fn no_secret_reaches_json_logs_audit_outbox_metrics_or_error_bodies() {
    run("json", false).await;
}

#[tokio::test]
async fn no_secret_leaks_on_postgres_either() {
    run("json", true).await;
}

#[test]
fn a_code_is_found_only_as_a_number_of_its_own() {
    assert!(finds_code("code=123456 sent", "123456"));
    assert!(finds_code("\"123456\"", "123456"));
    assert!(!finds_code("09:45:12.123456Z", "123456"));
    assert!(!finds_code("41234567", "123456"));
    assert!(!finds_code("abc123456", "123456"));
}
