//! The steps every API test repeats, written once for every harness: a
//! harness (the real binary, an in-process server, several nodes) says how
//! to send a request and what time it is ([`Api`]); signing in, adding an
//! authenticator app with a code computed by `oathtool`, and making an
//! organization are then the same everywhere.

use crate::peers;
use base64::Engine;
use serde_json::{Value, json};

/// The password of every account the tests create.
pub const PASSWORD: &str = "correct horse battery staple";

/// What a harness that sends API requests offers, so the steps every test
/// repeats are written once for all of them.
// Only Tessera's own tests implement and call it, on one runtime each;
// none needs its futures to be `Send` beyond what the concrete types give.
#[allow(async_fn_in_trait)]
pub trait Api {
    /// Sends a request with an `Authorization` value (may be empty): status
    /// and JSON body (a JSON string when the body is not JSON).
    async fn send(&self, method: &str, path: &str, auth: &str, body: Option<Value>)
    -> (u16, Value);
    /// The harness clock, in seconds.
    fn now(&self) -> i64;

    /// Signs `email` in with the test password as a mobile client, with no
    /// second step: its session token.
    async fn session_token(&self, email: &str) -> String {
        let body = json!({"email": email, "password": PASSWORD, "client": "mobile"});
        let (status, v) = self.send("POST", "/api/v1/signin", "", Some(body)).await;
        assert_eq!(status, 200, "sign-in of {email}: {v}");
        v["session_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no session for {email}: {v}"))
            .to_string()
    }
}

/// One request: status and JSON body (a JSON string when the body is not
/// JSON). An empty `auth` sends no `Authorization`.
pub async fn send_to(
    http: &reqwest::Client,
    method: &str,
    url: &str,
    auth: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut r = http.request(method, url);
    if !auth.is_empty() {
        r = r.header("authorization", auth);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Adds an authenticator app with an oathtool code for the harness clock's
/// step: (secret, the answer carrying the new session token and, for the
/// first method, the recovery key).
pub async fn enroll_totp(n: &impl Api, token: &str) -> (String, Value) {
    let (status, e) = n
        .send(
            "POST",
            "/api/v1/me/two-step/totp",
            &bearer(token),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{e}");
    let secret = e["secret"].as_str().unwrap().to_string();
    let (status, c) = n
        .send(
            "POST",
            "/api/v1/me/two-step/totp/confirm",
            &bearer(token),
            Some(json!({"code": peers::oathtool(&secret, n.now())})),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    (secret, c)
}

pub fn basic(email: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{email}:{password}"))
    )
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// An organization `name` whose `domain` was claimed and then marked
/// verified by a sysadmin's override (no DNS), made with `auth` (an
/// `Authorization` value): its API base path.
pub async fn org_with_domain(n: &impl Api, auth: &str, name: &str, domain: &str) -> String {
    let (st, o) = n
        .send(
            "POST",
            "/api/v1/admin/organizations",
            auth,
            Some(json!({ "name": name })),
        )
        .await;
    assert_eq!(st, 201, "{o}");
    let base = format!("/api/v1/admin/organizations/{}", o["id"].as_str().unwrap());
    let (st, d) = n
        .send(
            "POST",
            &format!("{base}/domains"),
            auth,
            Some(json!({ "domain": domain })),
        )
        .await;
    assert!((200..300).contains(&st), "{st} {d}");
    let (st, d) = n
        .send(
            "POST",
            &format!("{base}/domains/{domain}/verify"),
            auth,
            Some(json!({"without_dns": true})),
        )
        .await;
    assert_eq!(st, 200, "{d}");
    base
}

/// Adds the existing account `email` to the organization at `base`: its
/// account id.
pub async fn add_member(n: &impl Api, auth: &str, base: &str, email: &str) -> String {
    let (st, m) = n
        .send(
            "POST",
            &format!("{base}/members"),
            auth,
            Some(json!({ "email": email })),
        )
        .await;
    assert_eq!(st, 201, "{m}");
    m["account_id"].as_str().unwrap().to_string()
}
