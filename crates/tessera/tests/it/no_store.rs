//! No cache may keep an API answer: `Cache-Control: no-store` on success,
//! on errors and on unknown `/api/` paths alike.

use crate::support::*;

fn no_store(r: &reqwest::Response) -> bool {
    r.headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        == Some("no-store")
}

#[tokio::test]
async fn every_api_answer_says_no_store() {
    let s = Server::start();
    s.create_user("cache@example.com", "member");
    let c = reqwest::Client::new();

    let ok = c
        .post(s.url("/api/v1/signin"))
        .json(&serde_json::json!({
            "email": "cache@example.com",
            "password": PASSWORD,
            "client": "mobile"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert!(no_store(&ok), "{:?}", ok.headers());

    let unauthenticated = c.get(s.url("/api/v1/session")).send().await.unwrap();
    assert_eq!(unauthenticated.status(), 401);
    assert!(
        no_store(&unauthenticated),
        "{:?}",
        unauthenticated.headers()
    );

    let unknown = c.get(s.url("/api/v1/no-such-thing")).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    assert!(no_store(&unknown), "{:?}", unknown.headers());

    let doc = c.get(s.url("/api/openapi.json")).send().await.unwrap();
    assert_eq!(doc.status(), 200);
    assert!(no_store(&doc), "{:?}", doc.headers());
}
