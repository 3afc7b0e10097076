//! Two-step verification against the real binary and real time, with codes
//! from oathtool and pyotp, and races as races: many parallel requests, on
//! SQLite and split across two server processes on PostgreSQL.

use crate::peers;
use crate::support::*;
use serde_json::{Value, json};

/// Signs in, enrolls an authenticator app with an oathtool code and
/// returns (session token, base32 secret, recovery key, step used).
pub async fn enroll(base: &str, email: &str) -> (String, String, String) {
    let http = reqwest::Client::new();
    let r: Value = http
        .post(format!("{base}/api/v1/signin"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = r["session_token"].as_str().unwrap().to_string();
    let e: Value = http
        .post(format!("{base}/api/v1/me/two-step/totp"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = e["secret"].as_str().unwrap().to_string();
    // The current step: a code for the previous one could fall out of the
    // ±1 window if a step boundary passes before the server checks it.
    let code = peers::oathtool(&secret, peers::now_secs());
    let r = http
        .post(format!("{base}/api/v1/me/two-step/totp/confirm"))
        .bearer_auth(&token)
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let c: Value = r.json().await.unwrap();
    (
        c["session_token"].as_str().unwrap().to_string(),
        secret,
        c["recovery_key"].as_str().unwrap().to_string(),
    )
}

/// Starts `n` sign-ins that wait for a second step; returns their flow ids.
async fn flows(bases: &[&str], email: &str, n: usize) -> Vec<(String, String)> {
    let http = reqwest::Client::new();
    let mut out = Vec::new();
    for i in 0..n {
        let base = bases[i % bases.len()];
        let r: Value = http
            .post(format!("{base}/api/v1/signin"))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["status"], "second_step", "{r}");
        out.push((base.to_string(), r["flow_id"].as_str().unwrap().to_string()));
    }
    out
}

/// Submits `bodies[i]` to flow i, all at once; returns the status codes.
async fn race(flows: Vec<(String, String)>, method: &str, body: Value) -> Vec<u16> {
    let http = reqwest::Client::new();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(flows.len()));
    let mut tasks = Vec::new();
    for (base, flow) in flows {
        let http = http.clone();
        let body = body.clone();
        let barrier = barrier.clone();
        let url = format!("{base}/api/v1/signin/{flow}/{method}");
        tasks.push(tokio::spawn(async move {
            let req = http.post(url).json(&body);
            barrier.wait().await;
            req.send().await.unwrap().status().as_u16()
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    codes
}

#[tokio::test]
async fn enrollment_and_sign_in_with_codes_from_oathtool_and_pyotp() {
    if !peers::available() {
        return;
    }
    let s = Server::start();
    s.create_user("peer@example.com", "member");
    let other = signin(&s, "peer@example.com", PASSWORD).await;
    let http = reqwest::Client::new();
    let token = signin(&s, "peer@example.com", PASSWORD).await;

    let e: Value = http
        .post(s.url("/api/v1/me/two-step/totp"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = e["secret"].as_str().unwrap().to_string();
    assert!(secret.len() >= 32, "at least 160 bits of base32: {secret}");
    let uri = e["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/Tessera:peer%40example.com?"),
        "{uri}"
    );
    for part in [
        "issuer=Tessera",
        "algorithm=SHA1",
        "digits=6",
        "period=30",
        &format!("secret={secret}"),
    ] {
        assert!(uri.contains(part), "{part} missing from {uri}");
    }
    assert!(e["qr_svg"].as_str().unwrap().contains("<svg"));

    let wrong = http
        .post(s.url("/api/v1/me/two-step/totp/confirm"))
        .bearer_auth(&token)
        .json(&json!({"code": peers::wrong_code(&secret, peers::now_secs())}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let now = peers::now_secs();
    let code = peers::oathtool(&secret, now);
    assert_eq!(code, peers::pyotp(&secret, now), "the two peers agree");
    let r = http
        .post(s.url("/api/v1/me/two-step/totp/confirm"))
        .bearer_auth(&token)
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let c: Value = r.json().await.unwrap();
    let recovery = c["recovery_key"].as_str().unwrap().to_string();
    let token = c["session_token"].as_str().unwrap().to_string();
    assert_eq!(
        http.get(s.url("/api/v1/session"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "this session stays"
    );
    assert_eq!(
        http.get(s.url("/api/v1/session"))
            .bearer_auth(&other)
            .send()
            .await
            .unwrap()
            .status(),
        401,
        "others are signed out"
    );

    // Sign in: password, then a pyotp code for the next step (this one is used).
    let r: Value = http
        .post(s.url("/api/v1/signin"))
        .json(&json!({"email": "peer@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "second_step");
    assert_eq!(r["methods"], json!(["totp", "recovery_key"]));
    assert!(r.get("session_token").is_none());
    let flow = r["flow_id"].as_str().unwrap().to_string();
    let next = peers::pyotp(&secret, now + 30);
    let done: Value = http
        .post(s.url(&format!("/api/v1/signin/{flow}/totp")))
        .json(&json!({"code": next}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(done["status"], "complete", "{done}");
    assert_eq!(done["session"]["aal"], "aal2");
    assert_eq!(done["session"]["methods"], json!(["password", "totp"]));

    // The same code again, on a new flow: refused (a step is used once).
    let r: Value = http
        .post(s.url("/api/v1/signin"))
        .json(&json!({"email": "peer@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let flow2 = r["flow_id"].as_str().unwrap().to_string();
    let replay = http
        .post(s.url(&format!("/api/v1/signin/{flow2}/totp")))
        .json(&json!({"code": next}))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 401);
    // A used flow cannot be used again.
    let again = http
        .post(s.url(&format!("/api/v1/signin/{flow}/totp")))
        .json(&json!({"code": next}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 401);

    // "Can't use your device?": the recovery key (typed loosely) signs in
    // and is replaced; the old key is dead, the new one works.
    let rk: Value = http
        .post(s.url(&format!("/api/v1/signin/{flow2}/recovery_key")))
        .json(&json!({"recovery_key": recovery.to_lowercase().replace('-', " ")}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rk["status"], "complete", "{rk}");
    assert_eq!(
        rk["session"]["methods"],
        json!(["password", "recovery_key"])
    );
    let fresh = rk["new_recovery_key"].as_str().unwrap().to_string();
    assert_ne!(fresh, recovery);
    let r: Value = http
        .post(s.url("/api/v1/signin"))
        .json(&json!({"email": "peer@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let flow3 = r["flow_id"].as_str().unwrap().to_string();
    let old = http
        .post(s.url(&format!("/api/v1/signin/{flow3}/recovery_key")))
        .json(&json!({"recovery_key": recovery}))
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 401, "a used recovery key is dead");
    let new: Value = http
        .post(s.url(&format!("/api/v1/signin/{flow3}/recovery_key")))
        .json(&json!({"recovery_key": fresh}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(new["status"], "complete", "{new}");
}

#[tokio::test]
async fn races_on_sqlite() {
    if !peers::available() {
        return;
    }
    let s = Server::start();
    run_races(&[&s.base], &s).await;
}

#[tokio::test]
async fn races_on_postgres_across_two_processes() {
    if !peers::available() {
        return;
    }
    let Some(url) = crate::postgres::scoped_url().await else {
        return;
    };
    let a = crate::postgres::pg_server(&url);
    let b = crate::postgres::pg_server(&url);
    run_races(&[&a.base, &b.base], &a).await;
}

async fn run_races(bases: &[&str], admin: &Server) {
    for email in ["code@example.com", "key@example.com", "guess@example.com"] {
        admin.create_user(email, "member");
    }

    // 20 parallel submissions of one valid code: exactly one accepted.
    let (_, secret, _) = enroll(bases[0], "code@example.com").await;
    let f = flows(bases, "code@example.com", 20).await;
    let code = peers::oathtool(&secret, peers::now_secs() + 30);
    let codes = race(f, "totp", json!({"code": code})).await;
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 1, "{codes:?}");
    assert!(
        codes.iter().all(|c| [200, 401, 429].contains(c)),
        "{codes:?}"
    );

    // 20 parallel uses of one recovery key: exactly one accepted.
    let (_, _, recovery) = enroll(bases[0], "key@example.com").await;
    let f = flows(bases, "key@example.com", 20).await;
    let codes = race(f, "recovery_key", json!({"recovery_key": recovery})).await;
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 1, "{codes:?}");
    assert!(
        codes.iter().all(|c| [200, 401, 429].contains(c)),
        "{codes:?}"
    );

    // 50 parallel wrong codes: at most tolerated (1) + 1 evaluated.
    let (_, secret, _) = enroll(bases[0], "guess@example.com").await;
    let f = flows(bases, "guess@example.com", 50).await;
    let wrong = peers::wrong_code(&secret, peers::now_secs());
    let codes = race(f, "totp", json!({"code": wrong})).await;
    let evaluated = codes.iter().filter(|c| **c == 401).count();
    let limited = codes.iter().filter(|c| **c == 429).count();
    assert!(
        evaluated <= 2,
        "{evaluated} wrong codes were evaluated: {codes:?}"
    );
    assert!(evaluated >= 1);
    assert_eq!(evaluated + limited, 50, "{codes:?}");
}
