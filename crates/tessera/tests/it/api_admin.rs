//! The admin API: only for sysadmins; users, roles, deactivation, audit.

use crate::support::*;
use serde_json::{Value, json};

#[tokio::test]
async fn only_sysadmins_administer() {
    let s = Server::start();
    s.create_user("mem@example.com", "member");
    s.create_user("org@example.com", "org-admin");
    let http = reqwest::Client::new();
    let r = http.get(s.url("/api/v1/admin/users")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    for who in ["mem@example.com", "org@example.com"] {
        let t = signin(&s, who, PASSWORD).await;
        let r = http
            .get(s.url("/api/v1/admin/users"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{who}");
        let r = http
            .post(s.url("/api/v1/admin/users"))
            .bearer_auth(&t)
            .json(&json!({"email": "x@example.com"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{who}");
        let r = http
            .get(s.url("/api/v1/admin/audit"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{who}");
    }
}

#[tokio::test]
async fn users_roles_deactivation_and_audit() {
    let s = Server::start();
    s.create_user("boss@example.com", "sysadmin");
    let admin = signin(&s, "boss@example.com", PASSWORD).await;
    let http = reqwest::Client::new();
    let create = |body: Value| {
        http.post(s.url("/api/v1/admin/users"))
            .bearer_auth(&admin)
            .json(&body)
            .send()
    };

    let r =
        create(json!({"email": "Dev@Example.com", "display_name": "Dev", "password": PASSWORD}))
            .await
            .unwrap();
    assert_eq!(r.status(), 201);
    let dev: Value = r.json().await.unwrap();
    assert_eq!(dev["email"], "dev@example.com");
    assert_eq!(dev["role"], "member");
    assert_eq!(dev["kind"], "human");
    let dev_id = dev["id"].as_str().unwrap().to_string();

    assert_eq!(
        create(json!({"email": "dev@example.com"}))
            .await
            .unwrap()
            .status(),
        409
    );
    assert_eq!(
        create(json!({"email": "nope"})).await.unwrap().status(),
        400
    );
    assert_eq!(
        create(json!({"email": "r@example.com", "role": "king"}))
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        create(json!({"email": "svc@example.com", "kind": "service", "password": PASSWORD}))
            .await
            .unwrap()
            .status(),
        400
    );
    let svc = create(json!({"email": "svc@example.com", "kind": "service"}))
        .await
        .unwrap();
    assert_eq!(svc.status(), 201);

    let list: Value = http
        .get(s.url("/api/v1/admin/users?limit=2&offset=1"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 3);
    let emails: Vec<&str> = list["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, vec!["dev@example.com", "svc@example.com"]);

    let r = http
        .get(s.url(&format!("/api/v1/admin/users/{dev_id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .get(s.url(&format!("/api/v1/admin/users/{}", uuid::Uuid::new_v4())))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // A role change ends the account's sessions.
    let dev_token = signin(&s, "dev@example.com", PASSWORD).await;
    let r: Value = http
        .put(s.url(&format!("/api/v1/admin/users/{dev_id}/role")))
        .bearer_auth(&admin)
        .json(&json!({"role": "org-admin"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["role"], "org-admin");
    let who = http
        .get(s.url("/api/v1/session"))
        .bearer_auth(&dev_token)
        .send()
        .await
        .unwrap();
    assert_eq!(who.status(), 401);
    let dev_token = signin(&s, "dev@example.com", PASSWORD).await;
    let me: Value = http
        .get(s.url("/api/v1/session"))
        .bearer_auth(&dev_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["account"]["roles"], json!(["member", "org-admin"]));

    // Admins cannot demote or deactivate themselves.
    let boss: Value = http
        .get(s.url("/api/v1/session"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let boss_id = boss["account"]["id"].as_str().unwrap();
    let r = http
        .put(s.url(&format!("/api/v1/admin/users/{boss_id}/role")))
        .bearer_auth(&admin)
        .json(&json!({"role": "member"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = http
        .post(s.url(&format!("/api/v1/admin/users/{boss_id}/deactivate")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    let r: Value = http
        .post(s.url(&format!("/api/v1/admin/users/{dev_id}/deactivate")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["active"], false);
    assert_eq!(
        http.get(s.url("/api/v1/session"))
            .bearer_auth(&dev_token)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let r = http
        .post(s.url("/api/v1/signin"))
        .json(&json!({"email": "dev@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // The audit log has all of it, filterable.
    let all: Value = http
        .get(s.url("/api/v1/admin/audit?limit=1000"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = all["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for k in [
        "account.created",
        "signin.succeeded",
        "signin.failed",
        "session.created",
        "account.role_changed",
        "account.deactivated",
    ] {
        assert!(kinds.contains(&k), "missing {k} in {kinds:?}");
    }
    let of_dev: Value = http
        .get(s.url(&format!(
            "/api/v1/admin/audit?subject={dev_id}&kind=account.role_changed"
        )))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ev = &of_dev["events"].as_array().unwrap()[0];
    assert_eq!(ev["detail"], json!({"from": "member", "to": "org-admin"}));
    assert_eq!(ev["actor_id"], boss_id);
    assert_eq!(of_dev["events"].as_array().unwrap().len(), 1);
    let r = http
        .get(s.url("/api/v1/admin/audit?kind=made.up"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let page: Value = http
        .get(s.url("/api/v1/admin/audit?limit=2"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let before = page["next_before_id"].as_i64().unwrap();
    let next: Value = http
        .get(s.url(&format!("/api/v1/admin/audit?limit=2&before_id={before}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(next["events"][0]["id"].as_i64().unwrap() < before);

    let out = cli_with(
        &s.data_dir,
        &[],
        &[
            "admin",
            "audit",
            "--email",
            "dev@example.com",
            "--kind",
            "account.deactivated",
        ],
        None,
    );
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("account.deactivated"));
}

#[tokio::test]
async fn openapi_docs_health_and_metrics() {
    let s = Server::start();
    let doc: Value = reqwest::get(s.url("/api/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    for p in [
        "/api/v1/signin",
        "/api/v1/session",
        "/api/v1/sessions",
        "/api/v1/sessions/{id}",
        "/api/v1/me/password",
        "/api/v1/admin/users",
        "/api/v1/admin/audit",
        "/api/v1/signin/passkey/start",
        "/api/v1/signin/passkey/finish",
        "/api/v1/me/two-step",
        "/api/v1/me/two-step/totp",
        "/api/v1/me/two-step/security-keys",
        "/api/v1/me/two-step/passkeys",
        "/api/v1/me/two-step/keys/finish",
        "/api/v1/me/two-step/keys/{id}",
        "/api/v1/me/two-step/sms",
        "/api/v1/me/two-step/sms/confirm",
        "/api/v1/me/two-step/sms/resend",
        "/api/v1/signin/{flow_id}/email_code/resend",
        "/api/v1/step-up/email_code/send",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} missing from OpenAPI");
    }
    // Removing, renaming and the methods a second step accepts are
    // documented too.
    assert!(doc["paths"]["/api/v1/me/two-step/keys/{id}"]["patch"].is_object());
    assert!(doc["paths"]["/api/v1/me/two-step/keys/{id}"]["delete"].is_object());
    assert!(doc["paths"]["/api/v1/me/two-step/totp"]["delete"].is_object());
    // Each method of a second step and of step-up is its own operation,
    // with the body that method takes.
    for m in ["totp", "webauthn", "sms", "recovery_key", "email_code"] {
        let p = format!("/api/v1/signin/{{flow_id}}/{m}");
        assert!(doc["paths"][&p]["post"]["requestBody"].is_object(), "{p}");
    }
    for m in [
        "password",
        "totp",
        "webauthn",
        "sms",
        "recovery_key",
        "email_code",
    ] {
        let p = format!("/api/v1/step-up/{m}");
        assert!(doc["paths"][&p]["post"]["requestBody"].is_object(), "{p}");
    }
    let body = |p: &str| {
        doc["paths"][p]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .clone()
    };
    assert_eq!(
        body("/api/v1/step-up/password"),
        "#/components/schemas/PasswordBody"
    );
    assert_eq!(
        body("/api/v1/signin/{flow_id}/totp"),
        "#/components/schemas/SigninCodeBody"
    );
    // The emailed-code routes document their answers and content types.
    for (path, statuses) in [
        (
            "/api/v1/signin/{flow_id}/email_code/resend",
            &["200", "400", "401", "429"][..],
        ),
        (
            "/api/v1/step-up/email_code/send",
            &["200", "400", "401", "403", "429"][..],
        ),
    ] {
        let responses = &doc["paths"][path]["post"]["responses"];
        for st in statuses {
            assert!(responses[st].is_object(), "{path} {st}: {responses}");
        }
        assert!(
            responses["200"]["content"]["application/json"].is_object(),
            "{path}: {responses}"
        );
        assert!(
            responses["429"]["content"]["application/problem+json"].is_object(),
            "{path}: {responses}"
        );
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    let docs = reqwest::get(s.url("/api/docs/")).await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(
        docs.text()
            .await
            .unwrap()
            .to_lowercase()
            .contains("swagger")
    );

    assert_eq!(reqwest::get(s.url("/healthz")).await.unwrap().status(), 200);
    assert_eq!(reqwest::get(s.url("/readyz")).await.unwrap().status(), 200);
    reqwest::get(s.url("/api/v1/session")).await.unwrap();
    let metrics_base = s.metrics_base.as_deref().unwrap();
    let m = reqwest::get(format!("{metrics_base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "tessera_http_requests_total",
        "tessera_http_request_duration_seconds",
        "tessera_hash_pool_queue_depth",
        "tessera_hash_pool_workers",
    ] {
        assert!(m.contains(name), "{name} missing:\n{m}");
    }
    assert!(
        m.contains("route=\"/api/v1/session\""),
        "routes are labelled by pattern"
    );
}

#[tokio::test]
async fn the_openapi_document_types_every_error_as_a_problem_and_every_body_refusal() {
    let s = Server::start();
    let doc: serde_json::Value = reqwest::get(s.url("/api/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut with_body = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            // A body that does not fit is a 400; the server never sends 422.
            assert!(
                !responses.contains_key("422"),
                "{method} {path} documents a 422"
            );
            // OAuth's endpoints answer OAuth errors, as RFC 6749 §5.2 and
            // RFC 6750 §3 say: application/json with `error`.
            let oauth = [
                "/oauth2/token",
                "/oauth2/userinfo",
                "/oauth2/introspect",
                "/oauth2/revoke",
            ]
            .contains(&path.as_str());
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    let content = response["content"].as_object();
                    if oauth {
                        let schema = &response["content"]["application/json"]["schema"]["$ref"];
                        assert!(
                            schema
                                .as_str()
                                .is_some_and(|r| r.ends_with("/OAuthErrorBody")),
                            "{method} {path} {status} is not an OAuth error: {response}"
                        );
                        continue;
                    }
                    assert!(
                        content.is_none_or(|c| !c.contains_key("application/json")),
                        "{method} {path} {status} is documented as application/json"
                    );
                }
            }
            if op.get("requestBody").is_some() && !oauth {
                with_body += 1;
                for status in ["400", "413", "415"] {
                    assert!(
                        responses[status]["content"]
                            .get("application/problem+json")
                            .is_some(),
                        "{method} {path} lacks a documented {status}"
                    );
                }
            }
        }
    }
    assert!(with_body > 20, "only {with_body} operations with a body");
    // Restricted strings say what they accept.
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["RoleName"]["enum"],
        serde_json::json!(["member", "org-admin", "sysadmin"])
    );
    assert_eq!(
        schemas["KindName"]["enum"],
        serde_json::json!(["human", "service"])
    );
    let user = &schemas["UserView"]["properties"];
    assert!(
        user["role"]["$ref"]
            .as_str()
            .unwrap()
            .ends_with("/RoleName"),
        "{user}"
    );
    assert_eq!(user["id"]["format"], "uuid");
    assert_eq!(user["created_at"]["format"], "date-time");
}

/// The restrictions the server applies to a field are in the document,
/// with this server's own settings where they are configurable.
#[tokio::test]
async fn the_openapi_document_says_what_each_restricted_field_accepts() {
    let s = Server::start_with(Opts {
        env: vec![
            ("TESSERA_PASSWORD__MIN_LENGTH".into(), "12".into()),
            (
                "TESSERA_API_TOKENS__SCOPES".into(),
                "[\"read\", \"deploy\"]".into(),
            ),
        ],
        ..Default::default()
    });
    let doc: Value = reqwest::get(s.url("/api/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schemas = &doc["components"]["schemas"];
    // Configured: password lengths and token scopes.
    assert_eq!(schemas["NewPassword"]["minLength"], 12);
    assert_eq!(schemas["NewPassword"]["maxLength"], 128);
    assert_eq!(schemas["TokenScope"]["enum"], json!(["read", "deploy"]));
    // Patterns for the strings the domain parses.
    for name in [
        "PhoneNumber",
        "KeyName",
        "TokenLabel",
        "ServiceAccountName",
        "Description",
        "DisplayName",
    ] {
        let p = schemas[name]["pattern"].as_str().unwrap_or("");
        assert!(p.starts_with('^') && p.ends_with('$'), "{name}: {p:?}");
    }
    assert!(
        schemas["KeyName"]["pattern"]
            .as_str()
            .unwrap()
            .contains("{0,62}")
    );
    assert_eq!(schemas["EmailAddress"]["format"], "email");
    // Which body goes with which request.
    let props = |n: &str| schemas[n]["properties"].clone();
    assert!(
        props("PhoneBody")["phone"]["$ref"]
            .as_str()
            .unwrap()
            .ends_with("/PhoneNumber")
    );
    assert!(
        props("StartKeyBody")["name"]["$ref"]
            .as_str()
            .unwrap()
            .ends_with("/KeyName")
    );
    assert_eq!(
        doc["paths"]["/api/v1/admin/users"]["post"]["requestBody"]["content"]["application/json"]["schema"]
            ["$ref"],
        "#/components/schemas/NewUser"
    );
    assert_eq!(schemas["NewUser"]["oneOf"].as_array().unwrap().len(), 2);
    assert!(
        props("NewServiceAccount")["password"]["$ref"]
            .as_str()
            .unwrap()
            .ends_with("/Null")
    );
    assert_eq!(schemas["Null"]["type"], "null");
    // Ids in paths are UUIDs; counts and limits are never negative.
    let get_user = &doc["paths"]["/api/v1/admin/users/{id}"]["get"];
    assert_eq!(get_user["parameters"][0]["schema"]["format"], "uuid");
    assert!(get_user["responses"]["400"].is_object());
    let list = doc["paths"]["/api/v1/admin/users"]["get"]["parameters"]
        .as_array()
        .unwrap();
    for p in list {
        assert_eq!(p["schema"]["minimum"], 0, "{p}");
        assert_eq!(p["schema"]["maximum"], 4294967295_u64, "{p}");
    }
    let audit = doc["paths"]["/api/v1/admin/audit"]["get"]["parameters"].to_string();
    assert!(audit.contains("AuditKindName"), "{audit}");
    assert!(
        schemas["AuditKindName"]["enum"]
            .as_array()
            .unwrap()
            .contains(&json!("signin.failed"))
    );
}

/// A method a route does not take is a 405 naming those it does, as a
/// problem document on the API: the access gate sees such requests too,
/// and they are the client's mistake, not a server error.
#[tokio::test]
async fn an_unsupported_method_is_405_with_allow() {
    let s = Server::start();
    let http = reqwest::Client::new();
    for (method, path, allow) in [
        ("TRACE", "/api/v1/signin", "POST"),
        ("PUT", "/api/v1/session", "GET, HEAD, DELETE"),
        ("DELETE", "/api/v1/me/password", "POST"),
    ] {
        let res = http
            .request(method.parse().unwrap(), s.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 405, "{method} {path}");
        assert_eq!(res.headers()["allow"], allow, "{method} {path}");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], "method_not_allowed");
    }
    // Pages answer with a page.
    let res = http.put(s.url("/login")).send().await.unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "GET, HEAD, POST");
    // Unknown paths stay 404.
    let res = http
        .request("TRACE".parse().unwrap(), s.url("/api/v1/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}
