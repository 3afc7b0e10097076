//! A recovery key used to finish a sign-in flow while other finishes of
//! the same flow race with it: the key is used up only by the request that
//! starts the session, so its successor always reaches the caller, and the
//! flow still starts exactly one session. On SQLite and PostgreSQL.

use crate::peers;
use crate::world::World;
use serde_json::{Value, json};
use std::time::Duration;
use tessera_core::account::Role;
use tessera_core::service::CoreConfig;

const ROUNDS: u64 = 12;

/// Room for every request of a round to be evaluated: the losers of a
/// race (a TOTP step already used) count as failures.
fn config() -> CoreConfig {
    let mut c = crate::support::kit_config();
    c.two_step.backoff.tolerated = 50;
    c
}

/// One finish of `flow`: after `delay` (which shifts who wins the race; it
/// waits for no clock), posts `body` to the `method` step.
async fn finish(
    http: reqwest::Client,
    url: String,
    body: Value,
    delay: Duration,
    barrier: std::sync::Arc<tokio::sync::Barrier>,
) -> (u16, Value) {
    barrier.wait().await;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let r = http.post(url).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Finishes a new flow with `key`; the answer's status and new key.
async fn try_key(w: &World, email: &str, key: &str) -> (u16, Option<String>) {
    let flow = w.flow(email).await;
    let r = w
        .post(
            &format!("/api/v1/signin/{flow}/recovery_key"),
            None,
            json!({ "recovery_key": key }),
        )
        .await;
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap();
    (status, v["new_recovery_key"].as_str().map(String::from))
}

async fn recovery_key_survives_racing_finishes(w: World) {
    let email = "race@example.com";
    w.user(email, Role::Member).await;
    let (_, secret, mut key) = w.enroll(email).await;
    let (mut key_won, mut code_won) = (0, 0);
    for round in 0..ROUNDS {
        w.next_step();
        let flow = w.flow(email).await;
        let code = peers::oathtool(&secret, w.now());
        let url = |m: &str| w.s.url(&format!("/api/v1/signin/{flow}/{m}"));
        // Two recovery-key finishes and two TOTP finishes, the codes sent
        // a little later from round to round so that either side wins.
        let code_delay = Duration::from_millis((round % 4) * 60);
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(4));
        let mut tasks = Vec::new();
        for _ in 0..2 {
            tasks.push(tokio::spawn(finish(
                w.http.clone(),
                url("recovery_key"),
                json!({ "recovery_key": key }),
                Duration::ZERO,
                barrier.clone(),
            )));
        }
        for _ in 0..2 {
            tasks.push(tokio::spawn(finish(
                w.http.clone(),
                url("totp"),
                json!({ "code": code }),
                code_delay,
                barrier.clone(),
            )));
        }
        let mut answers = Vec::new();
        for t in tasks {
            answers.push(t.await.unwrap());
        }
        let (by_key, by_code) = answers.split_at(2);
        let signed_in = answers.iter().filter(|(s, _)| *s == 200).count();
        assert_eq!(signed_in, 1, "round {round}: one session: {answers:?}");

        // Did the race use the key up? A new flow tells.
        w.next_step();
        let (status, successor) = try_key(&w, email, &key).await;
        if status == 200 {
            assert!(
                by_key.iter().all(|(s, _)| *s != 200),
                "round {round}: the key signed in yet still works: {answers:?}"
            );
            assert!(by_code.iter().any(|(s, _)| *s == 200));
            code_won += 1;
            key = successor.unwrap();
        } else {
            assert_eq!(status, 401);
            let winner = by_key.iter().find(|(s, _)| *s == 200).unwrap_or_else(|| {
                panic!(
                    "round {round}: the key was used up, but no one got its successor: {answers:?}"
                )
            });
            let new = winner.1["new_recovery_key"].as_str().unwrap();
            let (status, successor) = try_key(&w, email, new).await;
            assert_eq!(status, 200, "round {round}: the successor works");
            key_won += 1;
            key = successor.unwrap();
        }
    }
    eprintln!("recovery key won {key_won} rounds, TOTP code {code_won}");
}

#[tokio::test]
async fn recovery_key_survives_racing_finishes_on_sqlite() {
    if !peers::available() {
        return;
    }
    recovery_key_survives_racing_finishes(World::new(config()).await).await;
}

#[tokio::test]
async fn recovery_key_survives_racing_finishes_on_postgres() {
    if !peers::available() {
        return;
    }
    let Some(w) = World::on_postgres(config()).await else {
        return;
    };
    recovery_key_survives_racing_finishes(w).await;
}
