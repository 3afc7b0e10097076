//! Two-step verification rules that depend on time, checked over real HTTP
//! against an in-process server whose clock the test moves: backoff,
//! step-up windows, flow expiry. Also enforcement, legacy login, recovery
//! unenrollment, break-glass refusal, Basic auth and notifications.

use crate::peers;
use crate::support::*;
use base64::Engine;
use serde_json::{Value, json};
use tessera_core::account::Role;
use tessera_core::service::Sysadmin;

// Kept where the other test files first found them.
pub(crate) use crate::world::{World, retry_after};

#[tokio::test]
async fn backoff_blocks_doubles_and_resets_as_the_clock_moves() {
    if !peers::available() {
        return;
    }
    let w = World::new(kit_config()).await;
    w.user("b@example.com", Role::Member).await;
    let (_, secret, _) = w.enroll("b@example.com").await;
    w.next_step();
    let flow = w.flow("b@example.com").await;
    let path = format!("/api/v1/signin/{flow}/totp");
    let wrong = json!({"code": peers::wrong_code(&secret, w.now())});

    // Tolerated: the first failure, no block.
    assert_eq!(w.post(&path, None, wrong.clone()).await.status(), 401);
    // The second failure starts a 1 s block...
    assert_eq!(w.post(&path, None, wrong.clone()).await.status(), 401);
    let r = w.post(&path, None, wrong.clone()).await;
    assert_eq!(r.status(), 429);
    assert_eq!(retry_after(&r), 1);
    // ...and inside it even the right code is not evaluated.
    let right = json!({"code": peers::oathtool(&secret, w.now())});
    assert_eq!(w.post(&path, None, right.clone()).await.status(), 429);

    // Doubling: 2 s, 4 s, 8 s.
    for expected in [2u64, 4, 8] {
        w.clock.advance_secs((expected / 2) as i64);
        assert_eq!(w.post(&path, None, wrong.clone()).await.status(), 401);
        let r = w.post(&path, None, wrong.clone()).await;
        assert_eq!(r.status(), 429);
        assert_eq!(retry_after(&r), expected);
    }
    // Up to an hour, never more (flows last ten minutes, so take new ones).
    let mut path = path;
    for _ in 0..12 {
        w.clock.advance_secs(3600);
        path = format!("/api/v1/signin/{}/totp", w.flow("b@example.com").await);
        assert_eq!(w.post(&path, None, wrong.clone()).await.status(), 401);
    }
    let r = w.post(&path, None, wrong.clone()).await;
    assert_eq!(r.status(), 429);
    assert_eq!(retry_after(&r), 3600);

    // A correct code after the block resets everything.
    w.clock.advance_secs(3600);
    let fresh = w.flow("b@example.com").await;
    let ok = w
        .post(
            &format!("/api/v1/signin/{fresh}/totp"),
            None,
            json!({"code": peers::oathtool(&secret, w.now())}),
        )
        .await;
    assert_eq!(ok.status(), 200);
    let again = w.flow("b@example.com").await;
    let path = format!("/api/v1/signin/{again}/totp");
    assert_eq!(
        w.post(&path, None, wrong.clone()).await.status(),
        401,
        "tolerance is back after a success"
    );
    assert_eq!(w.post(&path, None, wrong.clone()).await.status(), 401);
    assert_eq!(w.post(&path, None, wrong).await.status(), 429);
    assert!(
        w.audit_kinds()
            .await
            .iter()
            .any(|k| k == "two_step.blocked")
    );
}

#[tokio::test]
async fn flows_expire_after_ten_minutes_and_belong_to_their_client() {
    if !peers::available() {
        return;
    }
    let w = World::new(kit_config()).await;
    w.user("f@example.com", Role::Member).await;
    let (_, secret, _) = w.enroll("f@example.com").await;
    w.next_step();
    let flow = w.flow("f@example.com").await;
    // Another client (another User-Agent) cannot finish it.
    let stranger = reqwest::Client::builder()
        .user_agent("evil/1.0")
        .build()
        .unwrap();
    let r = stranger
        .post(w.s.url(&format!("/api/v1/signin/{flow}/totp")))
        .json(&json!({"code": peers::oathtool(&secret, w.now())}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["code"], "flow_expired");
    w.clock.advance_secs(600);
    let r = w
        .post(
            &format!("/api/v1/signin/{flow}/totp"),
            None,
            json!({"code": peers::oathtool(&secret, w.now())}),
        )
        .await;
    assert_eq!(r.status(), 401);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["code"], "flow_expired");
}

#[tokio::test]
async fn step_up_windows_and_second_step_rules() {
    if !peers::available() {
        return;
    }
    let w = World::new(kit_config()).await;
    w.user("s@example.com", Role::Member).await;
    let t = w.signin("s@example.com").await["session_token"]
        .as_str()
        .unwrap()
        .to_string();
    w.clock.advance_secs(601);
    let r = w
        .post("/api/v1/me/two-step/totp", Some(&t), json!({}))
        .await;
    assert_eq!(r.status(), 403, "verification older than 10 minutes");
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["code"], "step_up_required");
    // Wrong passwords at step-up count towards the backoff.
    assert_eq!(
        w.post(
            "/api/v1/step-up/password",
            Some(&t),
            json!({"password": "nope nope nope"})
        )
        .await
        .status(),
        401
    );
    assert_eq!(
        w.post(
            "/api/v1/step-up/password",
            Some(&t),
            json!({"password": "nope nope nope"})
        )
        .await
        .status(),
        401
    );
    assert_eq!(
        w.post(
            "/api/v1/step-up/password",
            Some(&t),
            json!({"password": PASSWORD})
        )
        .await
        .status(),
        429
    );
    w.clock.advance_secs(1);
    let r: Value = w
        .post(
            "/api/v1/step-up/password",
            Some(&t),
            json!({"password": PASSWORD}),
        )
        .await
        .json()
        .await
        .unwrap();
    let t2 = r["session_token"].as_str().unwrap().to_string();
    assert_ne!(t2, t, "step-up rotates the session id");
    assert_eq!(
        w.http
            .get(w.s.url("/api/v1/session"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let e: Value = w
        .post("/api/v1/me/two-step/totp", Some(&t2), json!({}))
        .await
        .json()
        .await
        .unwrap();
    let secret = e["secret"].as_str().unwrap().to_string();
    let c: Value = w
        .post(
            "/api/v1/me/two-step/totp/confirm",
            Some(&t2),
            json!({"code": peers::oathtool(&secret, w.now())}),
        )
        .await
        .json()
        .await
        .unwrap();
    let t3 = c["session_token"].as_str().unwrap().to_string();

    // With 2SV on, a password no longer counts for step-up.
    w.clock.advance_secs(601);
    let r = w
        .post(
            "/api/v1/step-up/password",
            Some(&t3),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        w.http
            .delete(w.s.url("/api/v1/me/two-step"))
            .bearer_auth(&t3)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        w.post("/api/v1/me/two-step/recovery-key", Some(&t3), json!({}))
            .await
            .status(),
        403
    );
    let r: Value = w
        .post(
            "/api/v1/step-up/totp",
            Some(&t3),
            json!({"code": peers::oathtool(&secret, w.now())}),
        )
        .await
        .json()
        .await
        .unwrap();
    let t4 = r["session_token"].as_str().unwrap().to_string();

    // A new recovery key replaces the old one; changing the app needs a code
    // from the new app before the old one stops working.
    let k: Value = w
        .post("/api/v1/me/two-step/recovery-key", Some(&t4), json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert!(k["recovery_key"].as_str().unwrap().len() > 30);
    let e: Value = w
        .post("/api/v1/me/two-step/totp", Some(&t4), json!({}))
        .await
        .json()
        .await
        .unwrap();
    let new_secret = e["secret"].as_str().unwrap().to_string();
    w.next_step();
    let status: Value = w
        .http
        .get(w.s.url("/api/v1/me/two-step"))
        .bearer_auth(&t4)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["enabled"], true);
    let c = w
        .post(
            "/api/v1/me/two-step/totp/confirm",
            Some(&t4),
            json!({"code": peers::oathtool(&new_secret, w.now())}),
        )
        .await;
    assert_eq!(c.status(), 200);
    let c: Value = c.json().await.unwrap();
    assert!(
        c.get("recovery_key").is_none(),
        "changing the app keeps the recovery key"
    );
    let t5 = c["session_token"].as_str().unwrap().to_string();
    w.next_step();
    let flow = w.flow("s@example.com").await;
    let old = w
        .post(
            &format!("/api/v1/signin/{flow}/totp"),
            None,
            json!({"code": peers::oathtool(&secret, w.now())}),
        )
        .await;
    assert_eq!(old.status(), 401, "the old app's codes are dead");
    let new = w
        .post(
            &format!("/api/v1/signin/{flow}/totp"),
            None,
            json!({"code": peers::oathtool(&new_secret, w.now())}),
        )
        .await;
    assert_eq!(new.status(), 200);

    // Turning it off needs no more than the recent second step the
    // confirmation gave; afterwards sign-in needs only the password.
    assert_eq!(
        w.http
            .delete(w.s.url("/api/v1/me/two-step"))
            .bearer_auth(&t5)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(w.signin("s@example.com").await["status"], "complete");

    let mail: Vec<String> =
        w.s.core
            .store
            .outbox_for("s@example.com")
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.subject)
            .collect();
    for subject in [
        "Two-step verification is now on",
        "You created a new emergency recovery key",
        "Your authenticator app was changed",
        "Two-step verification is now off",
    ] {
        assert!(
            mail.iter().any(|m| m == subject),
            "no notification {subject:?} in {mail:?}"
        );
    }
    let kinds = w.audit_kinds().await;
    for k in [
        "two_step.enabled",
        "two_step.recovery_key_created",
        "two_step.app_changed",
        "two_step.disabled",
        "session.step_up",
    ] {
        assert!(kinds.iter().any(|x| x == k), "missing audit {k}");
    }
}

#[tokio::test]
async fn admins_must_enroll_when_enforcement_is_on() {
    if !peers::available() {
        return;
    }
    let mut config = kit_config();
    config.two_step.enforce_for_admins = true;
    let w = World::new(config).await;
    w.user("adm@example.com", Role::Sysadmin).await;
    w.user("mem@example.com", Role::Member).await;
    let r = w.signin("adm@example.com").await;
    let t = r["session_token"].as_str().unwrap().to_string();
    assert_eq!(r["session"]["restricted"], true);
    let denied = w
        .http
        .get(w.s.url("/api/v1/admin/users"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
    let p: Value = denied.json().await.unwrap();
    assert_eq!(
        p["detail"],
        "Set up two-step verification before you continue."
    );
    assert_eq!(
        w.http
            .get(w.s.url("/api/v1/sessions"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    // Members are not affected.
    assert_eq!(
        w.signin("mem@example.com").await["session"]["restricted"],
        false
    );

    let e: Value = w
        .post("/api/v1/me/two-step/totp", Some(&t), json!({}))
        .await
        .json()
        .await
        .unwrap();
    let secret = e["secret"].as_str().unwrap().to_string();
    let c: Value = w
        .post(
            "/api/v1/me/two-step/totp/confirm",
            Some(&t),
            json!({"code": peers::oathtool(&secret, w.now())}),
        )
        .await
        .json()
        .await
        .unwrap();
    let t2 = c["session_token"].as_str().unwrap();
    assert_eq!(
        w.http
            .get(w.s.url("/api/v1/admin/users"))
            .bearer_auth(t2)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn legacy_login_skips_the_second_step_loudly() {
    if !peers::available() {
        return;
    }
    let mut config = kit_config();
    config.two_step.legacy_login = true;
    let w = World::new(config).await;
    w.user("l@example.com", Role::Sysadmin).await;
    w.enroll("l@example.com").await;
    let r = w.signin("l@example.com").await;
    assert_eq!(r["status"], "complete");
    assert_eq!(r["session"]["aal"], "aal1");
    assert!(
        w.audit_kinds()
            .await
            .iter()
            .any(|k| k == "signin.legacy_login")
    );
    // The admin page says so.
    let web = client();
    web.post(w.s.url("/api/v1/signin"))
        .json(&json!({"email": "l@example.com", "password": PASSWORD, "client": "web"}))
        .send()
        .await
        .unwrap();
    let html = web
        .get(w.s.url("/admin/users"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Legacy login is on"));
}

#[tokio::test]
async fn recovery_unenrollment_by_a_sysadmin() {
    if !peers::available() {
        return;
    }
    let w = World::new(kit_config()).await;
    w.user("root@example.com", Role::Sysadmin).await;
    w.user("lost@example.com", Role::Member).await;
    w.user("plain@example.com", Role::Member).await;
    let (admin, admin_secret, _) = w.enroll("root@example.com").await;
    w.enroll("lost@example.com").await;
    let id_of = |email: &'static str| {
        let core = w.s.core.clone();
        async move {
            core.find_account(&Sysadmin::host_operator(), email)
                .await
                .unwrap()
                .id
                .to_string()
        }
    };
    let lost = id_of("lost@example.com").await;
    let plain = id_of("plain@example.com").await;
    let root = id_of("root@example.com").await;
    let del = |id: String, token: Option<String>, code: String| {
        let http = w.http.clone();
        let url = w.s.url(&format!("/api/v1/admin/users/{id}/two-step"));
        async move {
            let mut r = http.delete(url).json(&json!({"totpCode": code}));
            if let Some(t) = token {
                r = r.bearer_auth(t);
            }
            r.send().await.unwrap()
        }
    };
    w.next_step();
    assert_eq!(
        del(lost.clone(), None, "123456".into()).await.status(),
        401,
        "no session"
    );
    let bad = del(
        lost.clone(),
        Some(admin.clone()),
        peers::wrong_code(&admin_secret, w.now()),
    )
    .await;
    assert_eq!(bad.status(), 401, "bad code");
    assert_eq!(
        del(
            root.clone(),
            Some(admin.clone()),
            peers::oathtool(&admin_secret, w.now())
        )
        .await
        .status(),
        403,
        "not oneself"
    );
    let ok = del(
        lost.clone(),
        Some(admin.clone()),
        peers::oathtool(&admin_secret, w.now()),
    )
    .await;
    assert_eq!(ok.status(), 204);
    w.next_step();
    let again = del(
        lost.clone(),
        Some(admin.clone()),
        peers::oathtool(&admin_secret, w.now()),
    )
    .await;
    assert_eq!(again.status(), 400);
    let p: Value = again.json().await.unwrap();
    assert_eq!(p["detail"], "No enrollment found for this user.");
    w.next_step();
    assert_eq!(
        del(
            plain,
            Some(admin.clone()),
            peers::oathtool(&admin_secret, w.now())
        )
        .await
        .status(),
        400
    );
    w.next_step();
    assert_eq!(
        del(
            uuid::Uuid::new_v4().to_string(),
            Some(admin.clone()),
            peers::oathtool(&admin_secret, w.now())
        )
        .await
        .status(),
        404
    );
    // The user signs in with the password alone now, and was told.
    assert_eq!(w.signin("lost@example.com").await["status"], "complete");
    let mail = w.s.core.store.outbox_for("lost@example.com").await.unwrap();
    assert!(
        mail.iter()
            .any(|m| m.subject.contains("administrator turned off"))
    );
    assert!(
        w.audit_kinds()
            .await
            .iter()
            .any(|k| k == "two_step.unenrolled_by_admin")
    );
}

#[tokio::test]
async fn break_glass_and_basic_auth_respect_two_step() {
    if !peers::available() {
        return;
    }
    let w = World::new(kit_config()).await;
    w.user("bg@example.com", Role::Sysadmin).await;
    w.user("script@example.com", Role::Member).await;
    let basic = |email: &str, pw: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{email}:{pw}"))
        )
    };
    let r = w
        .http
        .get(w.s.url("/api/v1/sessions"))
        .header("authorization", basic("script@example.com", PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "Basic works without 2SV");
    let r = w
        .http
        .get(w.s.url("/api/v1/sessions"))
        .header(
            "authorization",
            basic("script@example.com", "wrong password"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    w.enroll("bg@example.com").await;
    let r = w
        .http
        .get(w.s.url("/api/v1/sessions"))
        .header("authorization", basic("bg@example.com", PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let p: Value = r.json().await.unwrap();
    assert!(p["detail"].as_str().unwrap().contains("API token"), "{p}");

    let one_time =
        w.s.core
            .issue_break_glass(&Sysadmin::host_operator(), "bg@example.com")
            .await
            .unwrap();
    let r = w
        .post(
            "/api/v1/signin",
            None,
            json!({"email": "bg@example.com", "password": one_time}),
        )
        .await;
    assert_eq!(r.status(), 403);
    let p: Value = r.json().await.unwrap();
    let msg = p["detail"].as_str().unwrap();
    assert!(
        msg.contains("recovery key") && msg.contains("sysadmin"),
        "{msg}"
    );
}

#[tokio::test]
async fn basic_auth_can_be_turned_off_with_an_allowlist() {
    let mut config = kit_config();
    config.basic_auth.password_enabled = false;
    config.basic_auth.allowlist =
        vec![tessera_core::email::Email::parse("ci@example.com").unwrap()];
    let w = World::new(config).await;
    w.user("ci@example.com", Role::Member).await;
    w.user("other@example.com", Role::Member).await;
    let basic = |email: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{email}:{PASSWORD}"))
        )
    };
    let r = w
        .http
        .get(w.s.url("/api/v1/sessions"))
        .header("authorization", basic("other@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let p: Value = r.json().await.unwrap();
    // Turned off looks exactly like a wrong password.
    assert_eq!(p["detail"], "Sign in with your email and an API token.");
    assert_eq!(p["code"], "basic_auth_refused");
    let r = w
        .http
        .get(w.s.url("/api/v1/sessions"))
        .header("authorization", basic("ci@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
