//! API tokens and service accounts over real HTTP, on SQLite and on two
//! PostgreSQL nodes sharing one database (requests alternate between the
//! nodes), with a clock the test moves: step-up before creation, Bearer and
//! Basic use by an account with two-step verification, every refusal (401)
//! for expired, revoked, mistyped tokens and passwords in their place, a
//! token that can create no token and change no security setting, the
//! last use written once a minute, and service accounts that never sign in.

use crate::guard_rails::{Nodes, basic, bearer, enroll_totp, one_account};
use crate::peers;
use crate::support::*;
use serde_json::{Value, json};
use tessera_core::account::Role;
use tessera_core::apitoken::TokenRequest;
use tessera_core::service::{RequestContext, Sysadmin};

macro_rules! both_backends {
    ($sqlite:ident, $postgres:ident, $body:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $sqlite() {
            $body(Nodes::sqlite(one_account()).await).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $postgres() {
            let Some(n) = Nodes::postgres(one_account()).await else {
                return;
            };
            $body(n).await;
        }
    };
}

/// Waits until every node refuses `token` (see `Nodes::eventually`: at the
/// first try on one node; across nodes once the eviction has landed).
async fn refused_everywhere(n: &Nodes, token: &str, what: &str) {
    n.eventually(what, || async {
        n.send("GET", "/api/v1/session", &bearer(token), None)
            .await
            .0
            == 401
    })
    .await;
}

/// A request to one given node (the others alternate).
async fn send_to(n: &Nodes, node: usize, method: &str, path: &str, auth: &str) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let r = n
        .http
        .request(method, n.nodes[node % n.nodes.len()].url(path))
        .header("authorization", auth)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Creates a token with a session that stepped up recently.
async fn create_token(n: &Nodes, session: &str, body: Value) -> Value {
    let (status, t) = n
        .send(
            "POST",
            "/api/v1/me/api-tokens",
            &bearer(session),
            Some(body),
        )
        .await;
    assert_eq!(status, 201, "{t}");
    t
}

/// Signs in with a password and a TOTP code: a fresh aal2 session.
async fn two_step_session(n: &Nodes, email: &str, secret: &str) -> String {
    let (_, _, first) = n.password(email, PASSWORD).await;
    let flow = first["flow_id"].as_str().unwrap();
    let (status, done) = n
        .send(
            "POST",
            &format!("/api/v1/signin/{flow}/totp"),
            "",
            Some(json!({"code": peers::oathtool(secret, n.now())})),
        )
        .await;
    assert_eq!(status, 200, "{done}");
    done["session_token"].as_str().unwrap().to_string()
}

async fn tokens_for_a_two_step_account(n: Nodes) {
    n.user("script@example.com", Role::Member).await;
    let session = n.token("script@example.com").await;
    let (secret, enrolled) = enroll_totp(&n, &session).await;
    let session = enrolled["session_token"]
        .as_str()
        .unwrap_or(&session)
        .to_string();

    // No recent step-up: refused, whatever the body.
    n.clock.advance_secs(11 * 60);
    let (status, p) = n
        .send(
            "POST",
            "/api/v1/me/api-tokens",
            &bearer(&session),
            Some(json!({"label": "ci"})),
        )
        .await;
    assert_eq!(
        (status, p["code"].as_str()),
        (403, Some("step_up_required")),
        "{p}"
    );
    // A password is not enough once two-step verification is on.
    let (status, _) = n
        .send(
            "POST",
            "/api/v1/step-up/password",
            &bearer(&session),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, up) = n
        .send(
            "POST",
            "/api/v1/step-up/totp",
            &bearer(&session),
            Some(json!({"code": peers::oathtool(&secret, n.now())})),
        )
        .await;
    assert_eq!(status, 200, "{up}");
    let session = up["session_token"].as_str().unwrap().to_string();

    // Bad requests name the rule.
    for (body, needle) in [
        (
            json!({"label": "x", "expires_in_days": 0}),
            "between 1 and 365",
        ),
        (
            json!({"label": "x", "expires_in_days": 366}),
            "between 1 and 365",
        ),
        (json!({"label": "x", "scopes": ["admin"]}), "unknown scope"),
        (json!({"label": ""}), "label"),
    ] {
        let (status, p) = n
            .send(
                "POST",
                "/api/v1/me/api-tokens",
                &bearer(&session),
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, 400, "{body}: {p}");
        assert!(p["detail"].as_str().unwrap().contains(needle), "{p}");
    }

    let t = create_token(
        &n,
        &session,
        json!({"label": "nightly", "scopes": ["read"], "expires_in_days": 30}),
    )
    .await;
    let token = t["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("tsr_") && token.len() == 53, "{token}");
    assert_eq!(t["scopes"], json!(["read"]));
    for field in ["id", "label", "created_at", "expires_at"] {
        assert!(t[field].is_string(), "{field}: {t}");
    }

    // Bearer and Basic work for this 2SV account, on every node.
    for node in 0..2 {
        let (status, me) = send_to(&n, node, "GET", "/api/v1/session", &bearer(&token)).await;
        assert_eq!(status, 200, "{me}");
        assert_eq!(
            (me["aal"].as_str(), me["methods"].clone()),
            (Some("aal1"), json!(["api_token"]))
        );
        assert_eq!(me["token"]["id"], t["id"]);
        assert_eq!(me["token"]["label"], "nightly");
        assert_eq!(me["token"]["scopes"], json!(["read"]));
        assert_eq!(me["token"]["expires_at"], t["expires_at"]);
        assert_eq!(me["expires_at"], t["expires_at"]);
        assert_eq!(me["account"]["email"], "script@example.com");
    }
    let (status, me) = n
        .send(
            "GET",
            "/api/v1/session",
            &basic("script@example.com", &token),
            None,
        )
        .await;
    assert_eq!(
        (status, me["token"]["id"].clone()),
        (200, t["id"].clone()),
        "{me}"
    );
    let (status, _) = n
        .send(
            "GET",
            "/api/v1/sessions",
            &basic("SCRIPT@example.com", &token),
            None,
        )
        .await;
    assert_eq!(status, 200, "Basic email:token on a Basic route");
    let (status, _) = n
        .send("GET", "/api/v1/sessions", &bearer(&token), None)
        .await;
    assert_eq!(status, 200);

    // Refusals: a password in its place, a mistyped token, another
    // account's email with it.
    let (status, _) = n
        .send(
            "GET",
            "/api/v1/session",
            &basic("script@example.com", PASSWORD),
            None,
        )
        .await;
    assert_eq!(status, 403, "password Basic is not taken by who-am-I");
    let (status, _) = n
        .send(
            "GET",
            "/api/v1/sessions",
            &basic("script@example.com", PASSWORD),
            None,
        )
        .await;
    assert_eq!(status, 401, "a 2SV account's password is never Basic");
    let (status, _) = n
        .send("GET", "/api/v1/session", &bearer(PASSWORD), None)
        .await;
    assert_eq!(status, 401);
    let mut typo = token.clone().into_bytes();
    typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).unwrap();
    let (status, _) = n.send("GET", "/api/v1/session", &bearer(&typo), None).await;
    assert_eq!(status, 401, "a wrong checksum");
    n.user("other@example.com", Role::Member).await;
    let (status, p) = n
        .send(
            "GET",
            "/api/v1/sessions",
            &basic("other@example.com", &token),
            None,
        )
        .await;
    assert_eq!(status, 401, "{p}");

    // A token can never step up: no token, no security change.
    for (method, path, body) in [
        (
            "POST",
            "/api/v1/me/api-tokens",
            json!({"label": "from a token"}),
        ),
        ("GET", "/api/v1/me/api-tokens", json!({})),
        (
            "POST",
            "/api/v1/me/password",
            json!({"current_password": PASSWORD, "new_password": "another long passphrase"}),
        ),
        ("POST", "/api/v1/step-up/totp", json!({"code": "123456"})),
        ("DELETE", "/api/v1/me/two-step", json!({})),
        ("POST", "/api/v1/me/two-step/totp", json!({})),
        ("POST", "/api/v1/me/two-step/recovery-key", json!({})),
        ("DELETE", "/api/v1/sessions", json!({})),
    ] {
        for auth in [bearer(&token), basic("script@example.com", &token)] {
            let (status, p) = n.send(method, path, &auth, Some(body.clone())).await;
            assert_eq!(status, 403, "{method} {path} with a token: {p}");
            assert_eq!(p["code"], "token_not_accepted", "{p}");
        }
    }
    // And core itself refuses, whatever route a future handler takes.
    let access = n
        .core()
        .authenticate_api_token(&token, &RequestContext::default())
        .await
        .unwrap();
    let who = access.full().unwrap();
    let e = n
        .core()
        .create_my_api_token(
            &who,
            TokenRequest {
                label: "x".into(),
                ..Default::default()
            },
            &RequestContext::default(),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("API token cannot"), "{e}");

    // Listed without the secret, with its last use.
    let (status, list) = n
        .send("GET", "/api/v1/me/api-tokens", &bearer(&session), None)
        .await;
    assert_eq!(status, 200, "{list}");
    let listed = &list["tokens"][0];
    assert_eq!(listed["id"], t["id"]);
    assert!(listed.get("token").is_none() && !list.to_string().contains(&token));
    assert!(listed["last_used_at"].is_string(), "{listed}");
    assert!(listed["last_used_ip"].is_string(), "{listed}");

    // Expiry: 30 days later it is refused.
    n.clock.advance_secs(30 * 86_400);
    let (status, _) = n
        .send("GET", "/api/v1/session", &bearer(&token), None)
        .await;
    assert_eq!(status, 401, "expired");
}

both_backends!(
    tokens_for_a_two_step_account_sqlite,
    tokens_for_a_two_step_account_postgres,
    tokens_for_a_two_step_account
);

/// Revocation wins at once: on the node that revoked and on the other one,
/// which had the token in its cache.
async fn revocation_everywhere(n: Nodes) {
    n.user("rev@example.com", Role::Member).await;
    let session = n.token("rev@example.com").await;
    let t = create_token(&n, &session, json!({"label": "one"})).await;
    let u = create_token(&n, &session, json!({"label": "two"})).await;
    let token = t["token"].as_str().unwrap();
    for node in 0..2 {
        assert_eq!(
            send_to(&n, node, "GET", "/api/v1/session", &bearer(token))
                .await
                .0,
            200
        );
    }
    let id = t["id"].as_str().unwrap();
    let (status, _) = send_to(
        &n,
        1,
        "DELETE",
        &format!("/api/v1/me/api-tokens/{id}"),
        &bearer(&session),
    )
    .await;
    assert_eq!(status, 204);
    // At once on the node that revoked; on the other as soon as the
    // eviction's NOTIFY has landed there (see `Nodes::eventually`).
    let (status, _) = send_to(&n, 1, "GET", "/api/v1/session", &bearer(token)).await;
    assert_eq!(
        status, 401,
        "the revoking node still takes the revoked token"
    );
    refused_everywhere(&n, token, "every node refuses the revoked token").await;
    let (status, _) = send_to(
        &n,
        0,
        "DELETE",
        &format!("/api/v1/me/api-tokens/{id}"),
        &bearer(&session),
    )
    .await;
    assert_eq!(status, 404);
    // The other token is untouched; someone else cannot revoke it.
    n.user("stranger@example.com", Role::Member).await;
    let stranger = n.token("stranger@example.com").await;
    let uid = u["id"].as_str().unwrap();
    let (status, _) = n
        .send(
            "DELETE",
            &format!("/api/v1/me/api-tokens/{uid}"),
            &bearer(&stranger),
            None,
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        n.send(
            "GET",
            "/api/v1/session",
            &bearer(u["token"].as_str().unwrap()),
            None
        )
        .await
        .0,
        200
    );
}

both_backends!(
    revocation_wins_on_every_node_sqlite,
    revocation_wins_on_every_node_postgres,
    revocation_everywhere
);

/// The last use is written at most once a minute per token.
async fn last_use_once_a_minute(n: Nodes) {
    n.user("lu@example.com", Role::Member).await;
    let session = n.token("lu@example.com").await;
    let t = create_token(&n, &session, json!({"label": "lu"})).await;
    let token = t["token"].as_str().unwrap();
    let last_used = || async {
        let (_, list) = send_to(&n, 0, "GET", "/api/v1/me/api-tokens", &bearer(&session)).await;
        list["tokens"][0]["last_used_at"].clone()
    };
    assert_eq!(last_used().await, Value::Null, "never used yet");
    assert_eq!(
        n.send("GET", "/api/v1/session", &bearer(token), None)
            .await
            .0,
        200
    );
    let first = last_used().await;
    assert!(first.is_string());
    for _ in 0..5 {
        n.clock.advance_secs(10);
        assert_eq!(
            n.send("GET", "/api/v1/session", &bearer(token), None)
                .await
                .0,
            200
        );
        assert_eq!(last_used().await, first, "written again within the minute");
    }
    n.clock.advance_secs(11);
    assert_eq!(
        n.send("GET", "/api/v1/session", &bearer(token), None)
            .await
            .0,
        200
    );
    let second = last_used().await;
    assert!(second.is_string() && second != first, "{first} {second}");
}

both_backends!(
    last_use_is_written_once_a_minute_sqlite,
    last_use_is_written_once_a_minute_postgres,
    last_use_once_a_minute
);

/// Deactivation revokes every token; a password change does not (the
/// documented choice: tokens are credentials of their own).
async fn deactivation_and_password_change(n: Nodes) {
    let admin = n.user("boss@example.com", Role::Sysadmin).await;
    let _ = admin;
    let id = n.user("dp@example.com", Role::Member).await;
    let session = n.token("dp@example.com").await;
    let t = create_token(&n, &session, json!({"label": "keeps"})).await;
    let token = t["token"].as_str().unwrap();
    let (status, changed) = n
        .send(
            "POST",
            "/api/v1/me/password",
            &bearer(&session),
            Some(json!({"current_password": PASSWORD, "new_password": "a completely new passphrase"})),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        n.send("GET", "/api/v1/session", &bearer(token), None)
            .await
            .0,
        200,
        "a password change keeps tokens"
    );
    let boss = n.token("boss@example.com").await;
    let (status, _) = n
        .send(
            "POST",
            &format!("/api/v1/admin/users/{id}/deactivate"),
            &bearer(&boss),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200);
    refused_everywhere(&n, token, "deactivation revokes the token on every node").await;
    let (_, list) = n
        .send(
            "GET",
            &format!("/api/v1/admin/users/{id}/api-tokens"),
            &bearer(&boss),
            None,
        )
        .await;
    assert_eq!(list["tokens"], json!([]), "revoked, not only refused");
}

both_backends!(
    deactivation_revokes_tokens_and_a_password_change_does_not_sqlite,
    deactivation_revokes_tokens_and_a_password_change_does_not_postgres,
    deactivation_and_password_change
);

/// Service accounts: created with an undeliverable address, never sign in
/// (the very answer a wrong password gets), work with tokens only; admins
/// list, rename, describe and delete them, and deletion revokes.
async fn service_accounts(n: Nodes) {
    n.user("root@example.com", Role::Sysadmin).await;
    let root = n.token("root@example.com").await;
    let (status, sa) = n
        .send(
            "POST",
            "/api/v1/admin/service-accounts",
            &bearer(&root),
            Some(json!({"name": "Deploy bot", "description": "ships builds"})),
        )
        .await;
    assert_eq!(status, 201, "{sa}");
    let email = sa["email"].as_str().unwrap().to_string();
    assert!(email.ends_with("@service.invalid"), "{email}");
    let id = sa["id"].as_str().unwrap().to_string();

    // Sign-in: the same 401 body as a wrong password for a person.
    let (s1, _, bad_password) = n.password("root@example.com", "not the password").await;
    let (s2, _, service) = n.password(&email, "anything at all").await;
    assert_eq!((s1, s2), (401, 401));
    assert_eq!(bad_password, service);

    // A token, made by the admin's fresh session; never by a token.
    let (status, t) = n
        .send(
            "POST",
            &format!("/api/v1/admin/service-accounts/{id}/api-tokens"),
            &bearer(&root),
            Some(json!({"label": "deploys", "expires_in_days": 90})),
        )
        .await;
    assert_eq!(status, 201, "{t}");
    let token = t["token"].as_str().unwrap().to_string();
    let (status, me) = n
        .send("GET", "/api/v1/session", &bearer(&token), None)
        .await;
    assert_eq!(
        (status, me["account"]["kind"].as_str()),
        (200, Some("service")),
        "{me}"
    );
    let (status, _) = n
        .send("GET", "/api/v1/sessions", &basic(&email, &token), None)
        .await;
    assert_eq!(status, 200);
    let (status, p) = n
        .send(
            "POST",
            &format!("/api/v1/admin/service-accounts/{id}/api-tokens"),
            &bearer(&token),
            Some(json!({"label": "x"})),
        )
        .await;
    assert_eq!(status, 403, "{p}");
    let (status, _) = n
        .send(
            "POST",
            &format!("/api/v1/admin/service-accounts/{id}/api-tokens"),
            &bearer(&root),
            Some(json!({"label": "x", "expires_in_days": 400})),
        )
        .await;
    assert_eq!(status, 400);
    n.clock.advance_secs(11 * 60);
    let (status, p) = n
        .send(
            "POST",
            &format!("/api/v1/admin/service-accounts/{id}/api-tokens"),
            &bearer(&root),
            Some(json!({"label": "late"})),
        )
        .await;
    assert_eq!(
        (status, p["code"].as_str()),
        (403, Some("step_up_required")),
        "{p}"
    );

    // Rename, describe, list.
    let (status, renamed) = n
        .send(
            "PATCH",
            &format!("/api/v1/admin/service-accounts/{id}"),
            &bearer(&root),
            Some(json!({"name": "Release bot"})),
        )
        .await;
    assert_eq!(
        (
            status,
            renamed["name"].as_str(),
            renamed["description"].as_str()
        ),
        (200, Some("Release bot"), Some("ships builds"))
    );
    let (_, list) = n
        .send(
            "GET",
            "/api/v1/admin/service-accounts",
            &bearer(&root),
            None,
        )
        .await;
    assert_eq!(list["service_accounts"][0]["id"], id.as_str());
    let (_, tokens) = n
        .send(
            "GET",
            &format!("/api/v1/admin/users/{id}/api-tokens"),
            &bearer(&root),
            None,
        )
        .await;
    assert_eq!(tokens["tokens"][0]["label"], "deploys");

    // A person's account is not deleted through this route.
    let person = n.user("keep@example.com", Role::Member).await;
    let (status, _) = n
        .send(
            "DELETE",
            &format!("/api/v1/admin/service-accounts/{person}"),
            &bearer(&root),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = n
        .send(
            "DELETE",
            &format!("/api/v1/admin/service-accounts/{id}"),
            &bearer(&root),
            None,
        )
        .await;
    assert_eq!(status, 204);
    refused_everywhere(&n, &token, "deleting the service account revokes its token").await;
}

both_backends!(
    service_accounts_never_sign_in_and_use_tokens_sqlite,
    service_accounts_never_sign_in_and_use_tokens_postgres,
    service_accounts
);

/// A bot account becomes a service account: id, name, role and tokens
/// stay; password, methods and sessions go. Never the caller's own, never
/// the last sysadmin.
async fn conversion(n: Nodes) {
    let root_id = n.user("admin@example.com", Role::Sysadmin).await;
    let root = n.token("admin@example.com").await;
    let bot_id = n.user("bot@example.com", Role::OrgAdmin).await;
    let bot_session = n.token("bot@example.com").await;
    let (_secret, enrolled) = enroll_totp(&n, &bot_session).await;
    let bot_session = enrolled["session_token"]
        .as_str()
        .unwrap_or(&bot_session)
        .to_string();
    let t = create_token(&n, &bot_session, json!({"label": "bot work"})).await;
    let token = t["token"].as_str().unwrap();

    let (status, sa) = n
        .send(
            "POST",
            &format!("/api/v1/admin/users/{bot_id}/convert-to-service"),
            &bearer(&root),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{sa}");
    assert_eq!(
        (sa["id"].as_str(), sa["email"].as_str(), sa["role"].as_str()),
        (
            Some(bot_id.to_string().as_str()),
            Some("bot@example.com"),
            Some("org-admin")
        )
    );
    // At once on the node that converted; on the other as soon as its
    // eviction arrives (PostgreSQL NOTIFY: milliseconds, seconds at most).
    assert_eq!(
        send_to(&n, 0, "GET", "/api/v1/session", &bearer(&bot_session))
            .await
            .0,
        401,
        "sessions end"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let status = send_to(&n, 1, "GET", "/api/v1/session", &bearer(&bot_session))
            .await
            .0;
        if status == 401 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the other node still accepts the session after 5 s: {status}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (status, _, _) = n.password("bot@example.com", PASSWORD).await;
    assert_eq!(status, 401, "the password is gone");
    let (status, me) = n.send("GET", "/api/v1/session", &bearer(token), None).await;
    assert_eq!(
        (status, me["account"]["kind"].as_str()),
        (200, Some("service")),
        "tokens carry over"
    );
    let (_, user) = n
        .send(
            "GET",
            &format!("/api/v1/admin/users/{bot_id}"),
            &bearer(&root),
            None,
        )
        .await;
    assert_eq!(user["has_password"], false);
    let inv = n.core().store.inventory(bot_id).await.unwrap();
    assert!(!inv.two_step_on(), "methods removed");
    let (status, _) = n
        .send(
            "POST",
            &format!("/api/v1/admin/users/{bot_id}/convert-to-service"),
            &bearer(&root),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 409);

    // Never your own account, never the last sysadmin; never by a token.
    let (status, p) = n
        .send(
            "POST",
            &format!("/api/v1/admin/users/{root_id}/convert-to-service"),
            &bearer(&root),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 403, "{p}");
    let e = n
        .core()
        .convert_to_service(
            &Sysadmin::host_operator(),
            root_id,
            &RequestContext::default(),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("last sysadmin"), "{e}");
    let (status, _) = n
        .send(
            "POST",
            &format!("/api/v1/admin/users/{root_id}/convert-to-service"),
            &bearer(token),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 403);
    let audit = n
        .core()
        .store
        .list_audit(&tessera_core::audit::AuditFilter {
            kind: Some(tessera_core::audit::AuditKind::ConvertedToService),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].actor, Some(root_id));
}

both_backends!(
    conversion_keeps_tokens_and_removes_every_way_to_sign_in_sqlite,
    conversion_keeps_tokens_and_removes_every_way_to_sign_in_postgres,
    conversion
);

/// Two-step sign-in helper is used by tests that need a fresh aal2 session.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fresh_two_step_sign_in_may_create_a_token_at_once() {
    let n = Nodes::sqlite(one_account()).await;
    n.user("fresh@example.com", Role::Member).await;
    let first = n.token("fresh@example.com").await;
    let (secret, _) = enroll_totp(&n, &first).await;
    n.clock.advance_secs(60);
    let session = two_step_session(&n, "fresh@example.com", &secret).await;
    create_token(&n, &session, json!({"label": "fresh"})).await;
}

/// Every new path is in the OpenAPI document, with its refusals as
/// problem documents.
#[tokio::test]
async fn the_openapi_document_describes_tokens_and_service_accounts() {
    let n = Nodes::sqlite(one_account()).await;
    let doc: Value = n
        .http
        .get(n.node().url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (path, method, statuses) in [
        (
            "/api/v1/me/api-tokens",
            "post",
            &["201", "400", "401", "403"][..],
        ),
        ("/api/v1/me/api-tokens", "get", &["200", "401"][..]),
        (
            "/api/v1/me/api-tokens/{id}",
            "delete",
            &["204", "400", "404"][..],
        ),
        (
            "/api/v1/admin/users/{id}/api-tokens",
            "get",
            &["200", "404"][..],
        ),
        (
            "/api/v1/admin/api-tokens/{id}",
            "delete",
            &["204", "404"][..],
        ),
        (
            "/api/v1/admin/service-accounts",
            "post",
            &["201", "400", "403"][..],
        ),
        ("/api/v1/admin/service-accounts", "get", &["200", "403"][..]),
        (
            "/api/v1/admin/service-accounts/{id}",
            "patch",
            &["200", "400", "404"][..],
        ),
        (
            "/api/v1/admin/service-accounts/{id}",
            "delete",
            &["204", "404"][..],
        ),
        (
            "/api/v1/admin/service-accounts/{id}/api-tokens",
            "post",
            &["201", "400", "403", "404"][..],
        ),
        (
            "/api/v1/admin/users/{id}/convert-to-service",
            "post",
            &["200", "403", "404", "409"][..],
        ),
    ] {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} missing");
        for s in statuses {
            let r = &op["responses"][*s];
            assert!(r.is_object(), "{method} {path} {s} undocumented");
            if s.starts_with('4') {
                assert!(
                    r["content"]["application/problem+json"].is_object(),
                    "{method} {path} {s} is not a problem document: {r}"
                );
            }
        }
    }
    let body = &doc["components"]["schemas"]["CreateTokenBody"]["properties"]["expires_in_days"];
    assert_eq!(
        (body["minimum"].as_f64(), body["maximum"].as_f64()),
        (Some(1.0), Some(365.0)),
        "{body}"
    );
    assert!(doc["components"]["schemas"]["WhoAmI"]["properties"]["token"].is_object());
}

/// The CLI against the real binary: a service account and its token,
/// listed and revoked, with the token working over HTTP in between.
#[tokio::test]
async fn the_cli_manages_service_accounts_and_tokens() {
    let s = Server::start();
    let out = s.cli(
        &[
            "admin",
            "service-account",
            "create",
            "--name",
            "Backup job",
            "--description",
            "nightly",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout).to_string();
    let email = line
        .split_whitespace()
        .find(|w| w.ends_with("@service.invalid"))
        .unwrap()
        .to_string();
    let out = s.cli(&["admin", "service-account", "list", "--json"], None);
    let listed: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(
        (listed["email"].as_str(), listed["name"].as_str()),
        (Some(email.as_str()), Some("Backup job"))
    );

    let out = s.cli(
        &[
            "admin", "token", "create", "--email", &email, "--label", "backups", "--days", "7",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(token.starts_with("tsr_"), "{token}");
    let http = reqwest::Client::new();
    let me = http
        .get(s.url("/api/v1/session"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let out = s.cli(
        &[
            "admin", "token", "create", "--email", &email, "--label", "x", "--days", "0",
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("between 1 and 365"));

    let out = s.cli(
        &["admin", "token", "list", "--email", &email, "--json"],
        None,
    );
    let listed: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(listed["label"], "backups");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&token));
    let id = listed["id"].as_str().unwrap();
    let out = s.cli(&["admin", "token", "revoke", "--id", id], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The server's cache hears nothing from the CLI process on SQLite: the
    // revocation is seen within the cache's 2-second TTL.
    let mut status = 200;
    for _ in 0..40 {
        status = http
            .get(s.url("/api/v1/session"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        if status == 401 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 401);

    let out = s.cli(
        &["admin", "service-account", "delete", "--email", &email],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = s.cli(&["admin", "service-account", "list", "--json"], None);
    assert!(String::from_utf8_lossy(&out.stdout).trim().is_empty());
}

/// The pages: the Security page creates a token (shown once), lists it and
/// revokes it; the admin page creates a service account and lists it.
#[tokio::test]
async fn the_security_page_creates_shows_once_and_revokes_tokens() {
    let n = Nodes::sqlite(one_account()).await;
    n.user("page@example.com", Role::Sysadmin).await;
    let s = n.node();
    let http = client();
    let r = page_signin(&http, &s.url("/login"), "page@example.com", PASSWORD).await;
    assert!(r.url().path().ends_with("/security"), "{}", r.url());
    let html = r.text().await.unwrap();
    assert!(html.contains("API tokens") && html.contains("You have no API tokens"));
    let csrf = csrf_of(&html);
    let r = http
        .post(s.url("/security/api-tokens"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("label", "page script"),
            ("expires_in_days", "7"),
            ("scopes", "read"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let shown = r.text().await.unwrap();
    let at = shown.find("tsr_").unwrap();
    let token = &shown[at..at + 53];
    assert_eq!(
        n.send("GET", "/api/v1/session", &bearer(token), None)
            .await
            .0,
        200
    );
    let html = http
        .get(s.url("/security"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("page script") && !html.contains(token),
        "listed, never shown again"
    );
    let id = n
        .core()
        .store
        .api_tokens_of(
            n.core()
                .store
                .account_by_email(&tessera_core::email::Email::parse("page@example.com").unwrap())
                .await
                .unwrap()
                .unwrap()
                .id,
        )
        .await
        .unwrap()[0]
        .id;
    let r = http
        .post(s.url(&format!("/security/api-tokens/{id}/revoke")))
        .form(&[("csrf", csrf_of(&html).as_str())])
        .send()
        .await
        .unwrap();
    assert!(
        r.url().query().unwrap_or("").contains("token-revoked"),
        "{}",
        r.url()
    );
    refused_everywhere(&n, token, "the page's revocation reaches every node").await;

    // Out of the step-up window, creating sends you to verify first.
    n.clock.advance_secs(11 * 60);
    let r = http
        .post(s.url("/security/api-tokens"))
        .form(&[("csrf", csrf.as_str()), ("label", "late")])
        .send()
        .await
        .unwrap();
    assert!(r.url().path().ends_with("/security/verify"), "{}", r.url());

    // The admin page lists service accounts and their tokens.
    let html = http
        .get(s.url("/admin/service-accounts"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = http
        .post(s.url("/admin/service-accounts"))
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("name", "Page bot"),
            ("description", "made on a page"),
        ])
        .send()
        .await
        .unwrap();
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Page bot")
            && html.contains("service.invalid")
            && html.contains("No API tokens"),
        "{html}"
    );
}
