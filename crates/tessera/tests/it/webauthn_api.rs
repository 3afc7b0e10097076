//! Security keys and passkeys through the real API, answered by a software
//! authenticator (webauthn-authenticator-rs) the way a browser would answer
//! them: registering, signing in with and without a password, step-up and
//! removal, and the refusals a relying party owes its users (another
//! origin or RP ID, replays, stale challenges, missing user verification,
//! copied keys, malformed answers, racing answers).
//!
//! `SoftPasskey::new(falsify_uv)` cannot keep discoverable credentials
//! (it refuses `requireResidentKey`, answers only what `allowCredentials`
//! names and returns no `userHandle`), and has no user to verify: with
//! `true` it sets the UV flag whenever the request requires it, with
//! `false` it refuses such requests outright, so it never produces an
//! unverified answer to them. [`TestAuthenticator`] wraps it and adds both:
//! it keeps the discoverable credentials itself, and one that "does not
//! verify its user" asks its inner authenticator for user presence only,
//! as a client ignoring the relying party's requirement would. Nothing
//! signed is altered after the fact. SoftPasskey cannot be copied either,
//! so the copied-key test uses `SoftToken` (same crate), whose whole state,
//! private keys and counter included, round-trips through CBOR.

use crate::postgres::{pg_server, scoped_url};
use crate::support::*;
use crate::webauthn_support::*;
use serde_json::{Value, json};
use webauthn_authenticator_rs::error::WebauthnCError;

// ---------------------------------------------------------------------
// 1. Security keys, from the first to the last

/// Registers a first key (recovery key, other sessions out, token
/// rotated), signs in with it, lists, renames, adds a second, steps up
/// with it, removes the first, and is refused removing the last.
async fn security_key_lifecycle(s: &Server) {
    let api = Api::new(s);
    let email = "keys@example.com";
    s.create_user(email, "member");
    let other = signin(s, email, PASSWORD).await;
    let token = signin(s, email, PASSWORD).await;

    let mut blue = TestAuthenticator::security_key();
    let options = api.start_key(&token, SECURITY_KEYS, "Blue key").await;
    assert_eq!(options["publicKey"]["rp"]["id"], "localhost", "{options}");
    let cred = blue.create(&s.origin, &options).unwrap();
    let blue_cred_id = cred["rawId"].clone();
    let (status, done) = api.finish_key(&token, cred).await;
    assert_eq!(status, 200, "{done}");
    let recovery = done["recovery_key"].as_str().unwrap();
    assert!(recovery.len() >= 16, "{done}");
    let blue_id = done["id"].as_str().unwrap().to_string();
    let rotated = done["session_token"].as_str().unwrap().to_string();
    assert_ne!(rotated, token);
    assert_eq!(
        api.get("/api/v1/session", &other).await.0,
        401,
        "signed out"
    );
    assert_eq!(api.get("/api/v1/session", &token).await.0, 401, "rotated");
    let (status, me) = api.get("/api/v1/session", &rotated).await;
    assert_eq!(status, 200, "{me}");
    assert!(has(&me["methods"], "security_key"), "{me}");

    let (status, signed) = api.sign_in_with_key(email, &mut blue, &s.origin).await;
    assert_eq!(status, 200, "{signed}");
    assert_eq!(signed["status"], "complete", "{signed}");
    assert_eq!(signed["session"]["aal"], "aal2", "{signed}");
    assert!(has(&signed["session"]["methods"], "password"), "{signed}");
    assert!(
        has(&signed["session"]["methods"], "security_key"),
        "{signed}"
    );
    let token = signed["session_token"].as_str().unwrap().to_string();

    let (_, status_view) = api.get("/api/v1/me/two-step", &token).await;
    assert_eq!(status_view["enabled"], true, "{status_view}");
    assert!(has(&status_view["methods"], "webauthn"), "{status_view}");
    let keys = status_view["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{status_view}");
    assert_eq!(keys[0]["id"], blue_id.as_str());
    assert_eq!(keys[0]["kind"], "security_key");
    assert_eq!(keys[0]["name"], "Blue key");
    assert!(
        keys[0]["last_used_at"].is_string(),
        "use recorded: {keys:?}"
    );

    let path = format!("/api/v1/me/two-step/keys/{blue_id}");
    let renamed = api
        .patch(&path, &token, json!({"name": "Blue key (office)"}))
        .await;
    assert_eq!(renamed.0, 204, "{}", renamed.1);
    assert_refused(
        &api.patch(&path, &token, json!({"name": "  "})).await,
        400,
        "name",
    );
    assert_eq!(api.keys(&token).await[0]["name"], "Blue key (office)");

    let mut green = TestAuthenticator::security_key();
    let done = api
        .add_key(&token, SECURITY_KEYS, "Green key", &mut green, &s.origin)
        .await;
    assert!(done["recovery_key"].is_null(), "only the first: {done}");
    let green_id = done["id"].as_str().unwrap().to_string();
    let token = done["session_token"].as_str().unwrap().to_string();
    assert_eq!(api.keys(&token).await.len(), 2);

    // Step-up with the green key, then the blue one can go.
    let (status, up) = api
        .post("/api/v1/step-up/webauthn", Some(&token), json!({}))
        .await;
    assert_eq!(status, 200, "{up}");
    let cred = green.get(&s.origin, &up["options"]).unwrap();
    let (status, up) = api
        .post(
            "/api/v1/step-up/webauthn",
            Some(&token),
            json!({"credential": cred}),
        )
        .await;
    assert_eq!(status, 200, "{up}");
    assert!(up["verified_at"].is_string(), "{up}");
    let token = up["session_token"].as_str().unwrap().to_string();
    let removed = api.delete(&path, &token).await;
    assert_eq!(removed.0, 204, "{}", removed.1);
    let keys = api.keys(&token).await;
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["id"], green_id.as_str());

    // The removed key is no longer offered, and an answer from it (a
    // client naming it anyway) is refused.
    let flow = api.password_step(email).await;
    let mut challenge = api.key_challenge(&flow).await;
    assert!(blue.get(&s.origin, &challenge).is_err(), "not offered");
    let allowed = challenge["publicKey"]["allowCredentials"]
        .as_array_mut()
        .unwrap();
    assert_eq!(allowed.len(), 1);
    let mut blue_entry = allowed[0].clone();
    blue_entry["id"] = blue_cred_id;
    allowed.push(blue_entry);
    let cred = blue.get(&s.origin, &challenge).unwrap();
    assert_refused(&api.answer(&flow, &cred).await, 401, "isn't registered");

    let last = format!("/api/v1/me/two-step/keys/{green_id}");
    assert_refused(
        &api.delete(&last, &token).await,
        400,
        "your only verification method",
    );
    let keys = api.keys(&token).await;
    assert_eq!(keys.len(), 1, "still there");
    assert_eq!(keys[0]["id"], green_id.as_str());
}

#[tokio::test]
async fn security_key_register_sign_in_rename_step_up_and_remove() {
    let s = Server::start();
    security_key_lifecycle(&s).await;
}

#[tokio::test]
async fn security_key_lifecycle_on_postgres() {
    let Some(url) = scoped_url().await else {
        return;
    };
    let s = pg_server(&url);
    security_key_lifecycle(&s).await;
}

// ---------------------------------------------------------------------
// 2. Passkeys

/// Registers a passkey, signs in with it alone, then after a password.
async fn passkey_paths(s: &Server) {
    let api = Api::new(s);
    let email = "passkey@example.com";
    s.create_user(email, "member");
    let token = signin(s, email, PASSWORD).await;

    let mut phone = TestAuthenticator::passkey();
    let options = api.start_key(&token, PASSKEYS, "Phone").await;
    let sel = &options["publicKey"]["authenticatorSelection"];
    assert_eq!(sel["residentKey"], "required", "{options}");
    assert_eq!(sel["userVerification"], "required", "{options}");
    let cred = phone.create(&s.origin, &options).unwrap();
    let (status, done) = api.finish_key(&token, cred).await;
    assert_eq!(status, 200, "{done}");
    assert!(done["recovery_key"].is_string(), "first method: {done}");
    let token = done["session_token"].as_str().unwrap().to_string();
    let keys = api.keys(&token).await;
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kind"], "passkey");
    assert_eq!(keys[0]["name"], "Phone");

    // Without a password: the request names no credential.
    let (options, _) = api.passkey_start().await;
    let allowed = &options["publicKey"]["allowCredentials"];
    assert!(allowed.as_array().is_none_or(|a| a.is_empty()), "{options}");
    let (status, signed) = api.sign_in_with_passkey(&mut phone, &s.origin).await;
    assert_eq!(status, 200, "{signed}");
    assert_eq!(signed["status"], "complete", "{signed}");
    assert_eq!(signed["session"]["aal"], "aal2", "{signed}");
    assert!(has(&signed["session"]["methods"], "passkey"), "{signed}");
    assert!(!has(&signed["session"]["methods"], "password"), "{signed}");
    let bearer = signed["session_token"].as_str().unwrap();
    let (status, me) = api.get("/api/v1/session", bearer).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["account"]["email"], email, "{me}");

    // As the second step after the password.
    let (status, signed) = api.sign_in_with_key(email, &mut phone, &s.origin).await;
    assert_eq!(status, 200, "{signed}");
    assert_eq!(signed["session"]["aal"], "aal2", "{signed}");
    assert!(has(&signed["session"]["methods"], "password"), "{signed}");
    assert!(has(&signed["session"]["methods"], "passkey"), "{signed}");
}

#[tokio::test]
async fn passkey_signs_in_without_a_password_and_after_one() {
    let s = Server::start();
    passkey_paths(&s).await;
}

#[tokio::test]
async fn passkey_paths_on_postgres() {
    let Some(url) = scoped_url().await else {
        return;
    };
    let s = pg_server(&url);
    passkey_paths(&s).await;
}

// ---------------------------------------------------------------------
// 3. Refusals: each with words for people, and nothing stored

#[tokio::test]
async fn answers_made_on_another_origin_are_refused() {
    let s = Server::start();
    let api = Api::new(&s);
    let origins = [other_port(&s.origin), evil_subdomain(&s.origin)];

    // Registration: no key, two-step verification stays off.
    s.create_user("origin-reg@example.com", "member");
    let token = signin(&s, "origin-reg@example.com", PASSWORD).await;
    let mut key = TestAuthenticator::security_key();
    let options = api.start_key(&token, SECURITY_KEYS, "Key").await;
    let plain_http = origins[1].replace("https://", "http://");
    assert!(
        matches!(
            key.create(&plain_http, &options),
            Err(WebauthnCError::Security)
        ),
        "the client itself refuses http on a non-localhost host"
    );
    for origin in &origins {
        let options = api.start_key(&token, SECURITY_KEYS, "Key").await;
        let cred = key.create(origin, &options).unwrap();
        assert_refused(&api.finish_key(&token, cred).await, 401, DIFFERENT_SITE);
    }
    let (_, view) = api.get("/api/v1/me/two-step", &token).await;
    assert_eq!(view["enabled"], false, "{view}");
    assert_eq!(view["keys"], json!([]), "{view}");

    // The second step at sign-in.
    let email = "origin-signin@example.com";
    let mut key = TestAuthenticator::security_key();
    let (token, _) = enrolled(&s, email, SECURITY_KEYS, &mut key).await;
    let before = api.sessions(&token).await;
    for origin in &origins {
        let got = api.sign_in_with_key(email, &mut key, origin).await;
        assert_refused(&got, 401, DIFFERENT_SITE);
    }
    assert_eq!(api.sessions(&token).await, before, "no session made");

    // A passkey without a password.
    let mut phone = TestAuthenticator::passkey();
    let (token, _) = enrolled(&s, "origin-passkey@example.com", PASSKEYS, &mut phone).await;
    let before = api.sessions(&token).await;
    for origin in &origins {
        let got = api.sign_in_with_passkey(&mut phone, origin).await;
        assert_refused(&got, 401, DIFFERENT_SITE);
    }
    assert_eq!(api.sessions(&token).await, before, "no session made");
}

/// A client won't ask for another RP ID than its page's (it checks the
/// RP ID is the page's domain or a parent of it), so a tampered `rp.id`
/// never reaches the key. What the server's RP ID check is for is a key
/// signing for another site inside client data that names the right
/// origin; `sign_for_rp` makes exactly that.
#[tokio::test]
async fn answers_signed_for_another_rp_id_are_refused() {
    let s = Server::start();
    let api = Api::new(&s);

    s.create_user("rpid-reg@example.com", "member");
    let token = signin(&s, "rpid-reg@example.com", PASSWORD).await;
    let mut key = TestAuthenticator::security_key();
    let mut options = api.start_key(&token, SECURITY_KEYS, "Key").await;
    options["publicKey"]["rp"]["id"] = json!("example.com");
    assert!(
        matches!(
            key.create(&s.origin, &options),
            Err(WebauthnCError::Security)
        ),
        "the client refuses an RP ID that is not its page's"
    );
    key.sign_for_rp = Some("example.com".into());
    let options = api.start_key(&token, SECURITY_KEYS, "Key").await;
    let cred = key.create(&s.origin, &options).unwrap();
    assert_refused(&api.finish_key(&token, cred).await, 401, DIFFERENT_SITE);
    assert_eq!(api.keys(&token).await, Vec::<Value>::new());

    let email = "rpid-signin@example.com";
    let mut key = TestAuthenticator::security_key();
    let (token, _) = enrolled(&s, email, SECURITY_KEYS, &mut key).await;
    let before = api.sessions(&token).await;
    let flow = api.password_step(email).await;
    let mut challenge = api.key_challenge(&flow).await;
    challenge["publicKey"]["rpId"] = json!("example.com");
    assert!(matches!(
        key.get(&s.origin, &challenge),
        Err(WebauthnCError::Security)
    ));
    key.sign_for_rp = Some("example.com".into());
    let got = api.sign_in_with_key(email, &mut key, &s.origin).await;
    assert_refused(&got, 401, DIFFERENT_SITE);
    assert_eq!(api.sessions(&token).await, before, "no session made");
}

/// A used challenge can't be answered again, and only a flow's latest
/// challenge can be answered. Challenges also expire (after five
/// minutes), but the real binary's clock can't be moved; a challenge
/// superseded by a newer one is the stale challenge tested here.
#[tokio::test]
async fn replayed_and_superseded_answers_are_refused() {
    let s = Server::start();
    let api = Api::new(&s);
    let email = "replay@example.com";
    let mut key = TestAuthenticator::security_key();
    let (token, _) = enrolled(&s, email, SECURITY_KEYS, &mut key).await;
    let before = api.sessions(&token).await;

    // Two challenges for one flow: the first is no longer answerable.
    let flow = api.password_step(email).await;
    let first = api.key_challenge(&flow).await;
    let _second = api.key_challenge(&flow).await;
    let stale = key.get(&s.origin, &first).unwrap();
    assert_refused(&api.answer(&flow, &stale).await, 401, NOT_THIS_REQUEST);
    assert_eq!(api.sessions(&token).await, before, "no session made");
    // The flow itself goes on with a new challenge.
    let fresh = api.key_challenge(&flow).await;
    let used = key.get(&s.origin, &fresh).unwrap();
    let (status, signed) = api.answer(&flow, &used).await;
    assert_eq!(status, 200, "{signed}");
    assert_eq!(api.sessions(&token).await, before + 1);

    // The same answer again: to its spent flow, then to a new sign-in.
    assert_refused(&api.answer(&flow, &used).await, 401, "expired");
    let flow = api.password_step(email).await;
    let _challenge = api.key_challenge(&flow).await;
    assert_refused(&api.answer(&flow, &used).await, 401, NOT_THIS_REQUEST);
    assert_eq!(api.sessions(&token).await, before + 1, "no session made");

    // Step-up: an answer counts once.
    let token = signed["session_token"].as_str().unwrap().to_string();
    let (status, up) = api
        .post("/api/v1/step-up/webauthn", Some(&token), json!({}))
        .await;
    assert_eq!(status, 200, "{up}");
    let cred = key.get(&s.origin, &up["options"]).unwrap();
    let body = json!({"credential": cred});
    let (status, up) = api
        .post("/api/v1/step-up/webauthn", Some(&token), body.clone())
        .await;
    assert_eq!(status, 200, "{up}");
    let token = up["session_token"].as_str().unwrap().to_string();
    let again = api
        .post("/api/v1/step-up/webauthn", Some(&token), body)
        .await;
    assert_refused(&again, 401, "already answered");

    // A passwordless ceremony is answered once.
    let mut phone = TestAuthenticator::passkey();
    let (token, _) = enrolled(&s, "replay-passkey@example.com", PASSKEYS, &mut phone).await;
    let before = api.sessions(&token).await;
    let (options, ceremony) = api.passkey_start().await;
    let cred = phone.get(&s.origin, &options).unwrap();
    assert_eq!(api.passkey_finish(&ceremony, &cred).await.0, 200);
    assert_refused(&api.passkey_finish(&ceremony, &cred).await, 401, "expired");
    let (_, ceremony) = api.passkey_start().await;
    assert_refused(
        &api.passkey_finish(&ceremony, &cred).await,
        401,
        NOT_THIS_REQUEST,
    );
    assert_eq!(api.sessions(&token).await, before + 1);
}

#[tokio::test]
async fn passkeys_without_user_verification_are_refused() {
    let s = Server::start();
    let api = Api::new(&s);
    const UV: &str = "must verify it's you";

    // Registering a passkey needs user verification.
    s.create_user("uv-reg@example.com", "member");
    let token = signin(&s, "uv-reg@example.com", PASSWORD).await;
    let mut careless = TestAuthenticator::passkey();
    careless.verifies_user = false;
    let options = api.start_key(&token, PASSKEYS, "Phone").await;
    let cred = careless.create(&s.origin, &options).unwrap();
    assert_refused(&api.finish_key(&token, cred).await, 401, UV);
    assert_eq!(api.keys(&token).await, Vec::<Value>::new());

    // So does using one, without a password and after one.
    let email = "uv-signin@example.com";
    let mut phone = TestAuthenticator::passkey();
    let (token, _) = enrolled(&s, email, PASSKEYS, &mut phone).await;
    let before = api.sessions(&token).await;
    phone.verifies_user = false;
    let got = api.sign_in_with_passkey(&mut phone, &s.origin).await;
    assert_refused(&got, 401, UV);
    let got = api.sign_in_with_key(email, &mut phone, &s.origin).await;
    assert_refused(&got, 401, UV);
    assert_eq!(api.sessions(&token).await, before, "no session made");
}

#[tokio::test]
async fn a_copied_key_whose_counter_went_back_is_refused_and_audited() {
    let s = Server::start();
    let api = Api::new(&s);
    let email = "clone@example.com";
    let mut original = TestAuthenticator::copyable();
    let (token, key_id) = enrolled(&s, email, SECURITY_KEYS, &mut original).await;
    let mut copy = original.copy();
    for _ in 0..2 {
        let (status, v) = api.sign_in_with_key(email, &mut original, &s.origin).await;
        assert_eq!(status, 200, "{v}");
    }
    let before = api.sessions(&token).await;

    let got = api.sign_in_with_key(email, &mut copy, &s.origin).await;
    assert_refused(&got, 401, "copied");
    assert_eq!(api.sessions(&token).await, before, "no session made");

    let out = s.cli(
        &[
            "admin",
            "audit",
            "--kind",
            "two_step.key_counter_regressed",
            "--email",
            email,
            "--json",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["kind"], "two_step.key_counter_regressed");
    assert_eq!(events[0]["detail"]["key"], key_id.as_str(), "{events:?}");
    assert_eq!(events[0]["detail"]["stored_counter"], 2, "{events:?}");
}

/// Cuts a base64url string to a length no base64 has (4n + 1).
fn truncated(b64: &Value) -> Value {
    let s = b64.as_str().unwrap();
    let len = (s.len() / 2) / 4 * 4 + 1;
    json!(s[..len])
}

#[tokio::test]
async fn malformed_answers_are_refused_with_400() {
    let s = Server::start();
    let api = Api::new(&s);
    const MALFORMED: &str = "malformed";

    // Registration: each after a fresh start.
    s.create_user("malformed-reg@example.com", "member");
    let token = signin(&s, "malformed-reg@example.com", PASSWORD).await;
    let mut key = TestAuthenticator::security_key();
    let finish = "/api/v1/me/two-step/keys/finish";
    api.start_key(&token, SECURITY_KEYS, "Key").await;
    assert_refused(
        &api.post_raw(finish, Some(&token), r#"{"credential": {"id": "#)
            .await,
        400,
        "not valid JSON",
    );
    let options = api.start_key(&token, SECURITY_KEYS, "Key").await;
    let good = key.create(&s.origin, &options).unwrap();
    let mut cut = good.clone();
    cut["response"]["attestationObject"] = truncated(&good["response"]["attestationObject"]);
    let mut wrong_type = good.clone();
    wrong_type["rawId"] = json!(42);
    let mut no_response = good.clone();
    no_response["response"] = json!("attested");
    for bad in [cut, wrong_type, no_response, json!("a credential")] {
        api.start_key(&token, SECURITY_KEYS, "Key").await;
        assert_refused(&api.finish_key(&token, bad).await, 400, MALFORMED);
    }
    let (_, view) = api.get("/api/v1/me/two-step", &token).await;
    assert_eq!(view["enabled"], false, "{view}");
    assert_eq!(view["keys"], json!([]), "{view}");

    // The second step at sign-in.
    let email = "malformed-signin@example.com";
    let mut key = TestAuthenticator::security_key();
    let (token, _) = enrolled(&s, email, SECURITY_KEYS, &mut key).await;
    let before = api.sessions(&token).await;
    let flow = api.password_step(email).await;
    let path = format!("/api/v1/signin/{flow}/webauthn");
    assert_refused(
        &api.post_raw(&path, None, r#"{"credential": [1, 2"#).await,
        400,
        "not valid JSON",
    );
    let challenge = api.key_challenge(&flow).await;
    let good = key.get(&s.origin, &challenge).unwrap();
    let mut cut = good.clone();
    cut["response"]["authenticatorData"] = truncated(&good["response"]["authenticatorData"]);
    assert_refused(&api.answer(&flow, &cut).await, 400, MALFORMED);
    let challenge = api.key_challenge(&flow).await;
    let mut wrong_type = key.get(&s.origin, &challenge).unwrap();
    wrong_type["response"]["signature"] = json!(true);
    assert_refused(&api.answer(&flow, &wrong_type).await, 400, MALFORMED);
    assert_eq!(api.sessions(&token).await, before, "no session made");
    assert_eq!(api.keys(&token).await.len(), 1);

    // Passwordless.
    let (_, ceremony) = api.passkey_start().await;
    assert_refused(
        &api.passkey_finish(&ceremony, &json!({"id": 7})).await,
        400,
        MALFORMED,
    );
    assert_eq!(api.sessions(&token).await, before, "no session made");
}

/// A malformed answer is not a wrong guess, but it must not hold up the
/// account's next answer either: the check's evaluation slot is released
/// whatever its outcome.
#[tokio::test]
async fn malformed_answers_do_not_hold_up_the_next_one() {
    let s = Server::start();
    let api = Api::new(&s);
    let email = "slots@example.com";
    let mut key = TestAuthenticator::security_key();
    enrolled(&s, email, SECURITY_KEYS, &mut key).await;
    let flow = api.password_step(email).await;
    for _ in 0..2 {
        let challenge = api.key_challenge(&flow).await;
        let mut cred = key.get(&s.origin, &challenge).unwrap();
        cred["response"]["signature"] = json!(true);
        assert_eq!(api.answer(&flow, &cred).await.0, 400);
    }
    let challenge = api.key_challenge(&flow).await;
    let cred = key.get(&s.origin, &challenge).unwrap();
    let (status, v) = api.answer(&flow, &cred).await;
    assert_eq!(
        status, 200,
        "a correct answer after two malformed ones: {v}"
    );
}

// ---------------------------------------------------------------------
// 4. Races

/// Sends `body` to `path` `n` times at once; the status codes.
async fn at_once(api: &Api, path: &str, body: Value, n: usize) -> Vec<u16> {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let req = api.http.post(format!("{}{path}", api.base)).json(&body);
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                req.send().await.unwrap().status().as_u16()
            })
        })
        .collect();
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    codes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_answer_ten_times_at_once_signs_in_once() {
    let s = Server::start();
    let api = Api::new(&s);

    let email = "race@example.com";
    let mut key = TestAuthenticator::security_key();
    let (token, _) = enrolled(&s, email, SECURITY_KEYS, &mut key).await;
    let before = api.sessions(&token).await;
    let flow = api.password_step(email).await;
    let challenge = api.key_challenge(&flow).await;
    let cred = key.get(&s.origin, &challenge).unwrap();
    let codes = at_once(
        &api,
        &format!("/api/v1/signin/{flow}/webauthn"),
        json!({"credential": cred}),
        10,
    )
    .await;
    assert_eq!(codes.iter().filter(|&&c| c == 200).count(), 1, "{codes:?}");
    assert!(
        codes.iter().all(|c| [200, 401, 429].contains(c)),
        "{codes:?}"
    );
    assert_eq!(api.sessions(&token).await, before + 1);

    let mut phone = TestAuthenticator::passkey();
    let (token, _) = enrolled(&s, "race-passkey@example.com", PASSKEYS, &mut phone).await;
    let before = api.sessions(&token).await;
    let (options, ceremony) = api.passkey_start().await;
    let cred = phone.get(&s.origin, &options).unwrap();
    let codes = at_once(
        &api,
        "/api/v1/signin/passkey/finish",
        json!({"ceremony_id": ceremony, "credential": cred}),
        10,
    )
    .await;
    assert_eq!(codes.iter().filter(|&&c| c == 200).count(), 1, "{codes:?}");
    assert!(codes.iter().all(|c| [200, 401].contains(c)), "{codes:?}");
    assert_eq!(api.sessions(&token).await, before + 1);
}

// ---------------------------------------------------------------------
// 5. Expiry, on a clock the test moves

/// Ceremonies expire after 5 minutes: checked against an in-process server
/// whose clock the test moves (the relying party is the default
/// `http://localhost:8080`, which the authenticator is told it runs on).
#[tokio::test]
async fn ceremonies_expire_after_five_minutes_on_a_moved_clock() {
    use crate::world::World;
    use tessera_core::account::Role;
    const ORIGIN: &str = "http://localhost:8080";
    let w = World::new(kit_config()).await;
    w.user("late@example.com", Role::Member).await;
    let api = Api {
        base: w.s.base.clone(),
        http: reqwest::Client::new(),
    };
    let token = w.signin("late@example.com").await["session_token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut key = TestAuthenticator::security_key();

    // A registration answered after 5 minutes is refused; nothing is stored.
    let options = api.start_key(&token, SECURITY_KEYS, "Late key").await;
    let cred = key.create(ORIGIN, &options).unwrap();
    w.clock.advance_secs(301);
    assert_refused(&api.finish_key(&token, cred).await, 401, "expired");
    assert!(api.keys(&token).await.is_empty());
    // In time, it works (the sign-in still counts as a recent verification).
    let added = api
        .add_key(&token, SECURITY_KEYS, "Key", &mut key, ORIGIN)
        .await;
    assert!(added["recovery_key"].is_string());

    // A sign-in challenge answered after 5 minutes is refused, though the
    // flow (10 minutes) is still live; a fresh challenge then works.
    let flow = api.password_step("late@example.com").await;
    let challenge = api.key_challenge(&flow).await;
    let cred = key.get(ORIGIN, &challenge).unwrap();
    w.clock.advance_secs(301);
    assert_refused(&api.answer(&flow, &cred).await, 401, "expired");
    let challenge = api.key_challenge(&flow).await;
    let cred = key.get(ORIGIN, &challenge).unwrap();
    let (status, done) = api.answer(&flow, &cred).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["session"]["aal"], "aal2");

    // A passwordless ceremony expires the same way.
    let (_, ceremony) = api.passkey_start().await;
    w.clock.advance_secs(301);
    assert_refused(&api.passkey_finish(&ceremony, &cred).await, 401, "expired");
}
