//! The HTTP application called directly, the way axum's own examples test
//! a router: `app(state).oneshot(request)`, no socket, no port. The domain
//! runs on a fresh SQLite file with a clock the test moves and Argon2 at
//! its smallest parameters, so a test that signs in many times or waits
//! out a session's idle time takes milliseconds.

use crate::support::{PASSWORD, human, kit_config, test_core_cheap};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use tessera_core::account::Role;
use tessera_core::clock::{ManualClock, Timestamp};
use tessera_core::service::CoreConfig;
use tessera_core::session::SessionPolicy;
use tower::ServiceExt;

/// The application around a core whose clock the test holds.
struct Web {
    app: axum::Router,
    core: tessera_core::service::Core,
    clock: ManualClock,
    _dir: tempfile::TempDir,
}

/// What an answer carried: status, its `Set-Cookie` values, JSON body.
struct Answer {
    status: StatusCode,
    cookies: Vec<String>,
    body: Value,
    location: Option<String>,
}

impl Web {
    async fn new(config: CoreConfig) -> Web {
        let clock = ManualClock::at(Timestamp(1_800_000_000_000));
        let (core, dir) = test_core_cheap(clock.clone(), config).await;
        let web = tessera_web::WebConfig {
            public_url: "http://localhost:8080".into(),
            allowed_origins: vec![],
            body_limit_bytes: 64 * 1024,
            trusted_proxies: vec![],
        };
        let state =
            tessera_web::AppState::new(core.clone(), web, tessera_web::install_recorder().unwrap());
        Web {
            app: tessera_web::app(state),
            core,
            clock,
            _dir: dir,
        }
    }

    async fn call(&self, req: Request<Body>) -> Answer {
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let cookies = res
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        let location = res
            .headers()
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_string());
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            cookies,
            body,
            location,
        }
    }

    async fn post(&self, path: &str, auth: Option<&str>, body: Value) -> Answer {
        let mut req = Request::post(path).header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = auth {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        self.call(req.body(Body::from(body.to_string())).unwrap())
            .await
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> Answer {
        let mut req = Request::get(path);
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        self.call(req.body(Body::empty()).unwrap()).await
    }

    fn advance(&self, secs: i64) {
        self.clock.advance_secs(secs);
    }
}

/// The `name=value` part of the session cookie among `cookies`.
fn session_cookie(cookies: &[String]) -> String {
    cookies
        .iter()
        .map(|c| c.split(';').next().unwrap().to_string())
        .find(|c| c.contains("session="))
        .unwrap_or_else(|| panic!("no session cookie in {cookies:?}"))
}

#[tokio::test]
async fn a_web_session_ends_after_its_idle_time_and_activity_keeps_it() {
    let config = CoreConfig {
        session_policy: SessionPolicy {
            absolute_secs: 86_400,
            idle_secs: 1_800,
            touch_interval_secs: 60,
        },
        ..kit_config()
    };
    let w = Web::new(config).await;
    let signin = {
        let a = w
            .post(
                "/api/v1/signin",
                None,
                json!({"email": "idle@example.com", "password": PASSWORD, "client": "web"}),
            )
            .await;
        // No account yet: the same refusal any wrong password gets.
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
        human_on(&w, "idle@example.com").await;
        w.post(
            "/api/v1/signin",
            None,
            json!({"email": "idle@example.com", "password": PASSWORD, "client": "web"}),
        )
        .await
    };
    assert_eq!(signin.status, StatusCode::OK, "{}", signin.body);
    assert!(
        signin.body.get("session_token").is_none(),
        "a browser gets its session in a cookie only: {}",
        signin.body
    );
    let cookie = session_cookie(&signin.cookies);

    // Used every 25 minutes, the session lives past its 30 idle minutes.
    for _ in 0..4 {
        w.advance(25 * 60);
        let me = w.get("/api/v1/session", Some(&cookie)).await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.body);
        assert_eq!(me.body["client"], "web");
    }
    // Left alone for 30 minutes and a second, it is over: the API says
    // 401 with a problem document, and a page sends the browser to sign in.
    w.advance(30 * 60 + 1);
    let me = w.get("/api/v1/session", Some(&cookie)).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    assert!(me.body["title"].is_string(), "{}", me.body);
    let page = w.get("/security", Some(&cookie)).await;
    assert!(page.status.is_redirection(), "{}", page.status);
    assert!(
        page.location.as_deref().unwrap_or("").starts_with("/login"),
        "{:?}",
        page.location
    );
}

#[tokio::test]
async fn a_security_change_needs_a_step_up_within_its_window() {
    let config = kit_config();
    let window = config.two_step.step_up_window_secs;
    let w = Web::new(config).await;
    human_on(&w, "steps@example.com").await;
    let signin = w
        .post(
            "/api/v1/signin",
            None,
            json!({"email": "steps@example.com", "password": PASSWORD, "client": "mobile"}),
        )
        .await;
    assert_eq!(signin.status, StatusCode::OK, "{}", signin.body);
    let token = signin.body["session_token"].as_str().unwrap().to_string();
    let new_token = json!({"label": "deploys", "expires_in_days": 30});

    // Just signed in: the password was verified moments ago.
    let made = w
        .post("/api/v1/me/api-tokens", Some(&token), new_token.clone())
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);

    // A second past the window, the same change needs a step-up.
    w.advance(window + 1);
    let refused = w
        .post("/api/v1/me/api-tokens", Some(&token), new_token.clone())
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert_eq!(refused.body["code"], "step_up_required", "{}", refused.body);

    // A wrong password does not step up; the right one does, under a new
    // token (the old one stops working: a privilege change rotates it).
    let wrong = w
        .post(
            "/api/v1/step-up/password",
            Some(&token),
            json!({"password": "not the password"}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
    let stepped = w
        .post(
            "/api/v1/step-up/password",
            Some(&token),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(stepped.status, StatusCode::OK, "{}", stepped.body);
    let rotated = stepped.body["session_token"].as_str().unwrap().to_string();
    assert_ne!(rotated, token);
    let old = w
        .post("/api/v1/me/api-tokens", Some(&token), new_token.clone())
        .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED, "{}", old.body);
    let made = w
        .post("/api/v1/me/api-tokens", Some(&rotated), new_token)
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
}

/// A member account with the test password, made through the domain.
async fn human_on(w: &Web, email: &str) {
    human(&w.core, email, Role::Member).await;
}
