//! Sign-in challenges are a type in core and text only at the edges: the
//! JSON lists them by their names, a path or form names one, and a name
//! that is no challenge is refused (API) or ignored (pages) as before.

use crate::support::*;
use crate::world::World;
use serde_json::{Value, json};
use tessera_core::account::Role;

#[tokio::test]
async fn challenges_are_named_in_json_and_unknown_ones_are_refused() {
    let w = World::new(kit_config()).await;
    let email = "ch@example.com";
    w.user(email, Role::Member).await;
    let (token, _secret, key) = w.enroll(email).await;

    let r = w.signin(email).await;
    assert_eq!(r["methods"], json!(["totp", "recovery_key"]), "{r}");
    let flow = r["flow_id"].as_str().unwrap().to_string();
    let status: Value = w
        .http
        .get(w.s.url("/api/v1/me/two-step"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["methods"], json!(["totp", "recovery_key"]));

    // Names that are no challenge: 404, and the flow still works.
    for name in ["password", "bogus", "TOTP"] {
        let r = w
            .post(
                &format!("/api/v1/signin/{flow}/{name}"),
                None,
                json!({"code": "123456"}),
            )
            .await;
        assert_eq!(r.status(), 404, "{name}");
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["code"], "unknown_method", "{name}: {p}");
    }
    let r = w
        .post("/api/v1/step-up/bogus", Some(&token), json!({}))
        .await;
    assert_eq!(r.status(), 404);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["code"], "unknown_method");

    // A known one with a body that does not fit is a 400.
    let r = w
        .post(
            &format!("/api/v1/signin/{flow}/recovery_key"),
            None,
            json!({"code": "123456"}),
        )
        .await;
    assert_eq!(r.status(), 400);

    let r = w
        .post(
            &format!("/api/v1/signin/{flow}/recovery_key"),
            None,
            json!({ "recovery_key": key }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "complete", "{v}");
}

#[tokio::test]
async fn the_verify_page_picks_a_challenge_by_name_and_ignores_unknown_names() {
    let w = World::new(kit_config()).await;
    let email = "chp@example.com";
    w.user(email, Role::Member).await;
    w.enroll(email).await;

    let browser = client();
    let html = browser
        .get(w.s.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = browser
        .post(w.s.url("/login"))
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("email", email),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.url().path().ends_with("/login/verify"), "{}", r.url());
    let first = r.text().await.unwrap();
    assert!(first.contains(r#"name="method" value="totp""#), "{first}");
    assert!(first.contains(r#"href="/login/verify?method=recovery_key""#));

    let page = |q: &'static str| {
        let browser = browser.clone();
        let url = w.s.url(&format!("/login/verify{q}"));
        async move {
            let r = browser.get(url).send().await.unwrap();
            assert_eq!(r.status(), 200, "{q}");
            r.text().await.unwrap()
        }
    };
    let key = page("?method=recovery_key").await;
    assert!(key.contains(r#"name="method" value="recovery_key""#));
    assert!(key.contains(r#"name="recovery_key""#));
    assert!(key.contains(r#"href="/login/verify?method=totp""#));
    // A name that is no challenge, or one the account lacks: the first.
    for q in ["?method=bogus", "?method=sms"] {
        let html = page(q).await;
        assert!(html.contains(r#"name="method" value="totp""#), "{q}");
    }
}
