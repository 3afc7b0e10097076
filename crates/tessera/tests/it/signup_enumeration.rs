//! Self sign-up does not tell who has an account: a taken address gets the
//! answer a new one gets, byte for byte, and its owner an email instead of
//! a second account. Refusals of bad input do not depend on the address.

use crate::support::*;
use serde_json::{Value, json};
use tessera_core::store::{AccountStore, OutboxStore};

/// Status, headers (all but `date`, which moves with the clock) and body.
async fn answer(s: &Server, body: &Value) -> (u16, Vec<(String, Vec<u8>)>, Vec<u8>) {
    let r = reqwest::Client::new()
        .post(s.url("/api/v1/signup"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let mut headers: Vec<(String, Vec<u8>)> = r
        .headers()
        .iter()
        .filter(|(k, _)| *k != "date")
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect();
    headers.sort();
    (status, headers, r.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn a_taken_address_gets_the_answer_a_new_one_gets() {
    let s = Server::start_with(Opts {
        env: vec![("TESSERA_SIGNUP_ENABLED".into(), "true".into())],
        ..Default::default()
    });
    s.create_user("owner@example.com", "member");
    let pw = "a long and unusual passphrase";

    let new = answer(&s, &json!({"email": "new@example.com", "password": pw})).await;
    // The owner's address, spelled in another case: the same address.
    let taken = answer(&s, &json!({"email": "Owner@Example.com", "password": pw})).await;
    assert_eq!(new.0, 202);
    let body: Value = serde_json::from_slice(&new.2).unwrap();
    assert_eq!(
        body,
        json!({"status": "check_email", "message": "Check your email to continue."})
    );
    assert_eq!(new, taken, "the answers differ");

    // Bad input is refused alike for either address.
    for (email, password) in [("bad@", pw), ("x@example.com", "short")] {
        let fresh = answer(&s, &json!({"email": email, "password": password})).await;
        assert_eq!(fresh.0, 400);
        let owner_pw = answer(
            &s,
            &json!({"email": "owner@example.com", "password": password}),
        )
        .await;
        if email == "bad@" {
            assert_eq!(owner_pw.0, 202, "a good address with a good password");
        } else {
            assert_eq!(fresh, owner_pw, "weak password: the same refusal");
        }
    }

    let store = tessera_store::SqliteStore::open(&s.data_dir.join("tessera.db"))
        .await
        .unwrap();
    assert_eq!(
        store.count_accounts().await.unwrap(),
        2,
        "the owner and new@, nothing more"
    );
    let notes: Vec<_> = store
        .outbox_for("owner@example.com")
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.subject == "Someone tried to create an account with your address")
        .collect();
    assert_eq!(notes.len(), 2, "one per attempt with the owner's address");
    assert!(
        store
            .outbox_for("new@example.com")
            .await
            .unwrap()
            .is_empty(),
        "a new account gets no such note"
    );
    // The owner's password still works: nothing was replaced.
    signin(&s, "owner@example.com", PASSWORD).await;
    signin(&s, "new@example.com", pw).await;

    let doc: Value = reqwest::get(s.url("/api/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let responses = &doc["paths"]["/api/v1/signup"]["post"]["responses"];
    assert!(responses["202"].is_object(), "{responses}");
    assert!(responses["201"].is_null() && responses["409"].is_null());
}
