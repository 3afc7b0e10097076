//! The in-process world most time-dependent tests run in: the real HTTP
//! application on a local port, over the domain on a fresh SQLite file (or
//! a fresh PostgreSQL schema) with a clock the test moves, plus the steps
//! every such test repeats: make a user, sign in, enroll an authenticator
//! app with a code computed by `oathtool`, read the audit trail.

use crate::peers;
use crate::support::*;
use serde_json::{Value, json};
use tessera_core::account::Role;
use tessera_core::clock::Clock;
use tessera_core::clock::{ManualClock, Timestamp};
use tessera_core::service::{CoreConfig, Sysadmin};
pub(crate) use tessera_testkit::api::{
    Api, add_member, basic, bearer, enroll_totp, org_with_domain, send_to,
};

pub(crate) const T0: i64 = 1_800_000_000; // seconds; a step boundary (divisible by 30)

pub(crate) struct World {
    pub(crate) s: InprocServer,
    pub(crate) clock: ManualClock,
    pub(crate) http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl World {
    pub(crate) async fn new(config: CoreConfig) -> World {
        let clock = ManualClock::at(Timestamp(T0 * 1000));
        let (core, dir) = test_core(clock.clone(), config).await;
        World {
            s: InprocServer::start(core).await,
            clock,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    /// The same world on a fresh PostgreSQL schema, or `None` (SKIPPED)
    /// without one.
    pub(crate) async fn on_postgres(config: CoreConfig) -> Option<World> {
        let url = crate::postgres::scoped_url().await?;
        let store = tessera_store::PgStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let clock = ManualClock::at(Timestamp(T0 * 1000));
        let core = test_core_on(std::sync::Arc::new(store), clock.clone(), config);
        Some(World {
            s: InprocServer::start(core).await,
            clock,
            http: reqwest::Client::new(),
            _dir: tempfile::tempdir().unwrap(),
        })
    }

    pub(crate) fn now(&self) -> i64 {
        tessera_core::Clock::now(&self.clock).seconds()
    }

    pub(crate) async fn user(&self, email: &str, role: Role) {
        human(&self.s.core, email, role).await;
    }

    pub(crate) async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> reqwest::Response {
        let mut r = self.http.post(self.s.url(path)).json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().await.unwrap()
    }

    pub(crate) async fn signin(&self, email: &str) -> Value {
        self.post(
            "/api/v1/signin",
            None,
            json!({"email": email, "password": PASSWORD}),
        )
        .await
        .json()
        .await
        .unwrap()
    }

    /// Enrolls with an oathtool code for the current step; returns
    /// (token, secret, recovery key).
    pub(crate) async fn enroll(&self, email: &str) -> (String, String, String) {
        let t = self.signin(email).await["session_token"]
            .as_str()
            .unwrap()
            .to_string();
        let (secret, c) = enroll_totp(self, &t).await;
        (
            c["session_token"].as_str().unwrap().into(),
            secret,
            c["recovery_key"].as_str().unwrap().into(),
        )
    }

    /// Moves to the next step, so a new code is fresh.
    pub(crate) fn next_step(&self) {
        self.clock.advance_secs(30);
    }

    pub(crate) async fn flow(&self, email: &str) -> String {
        let r = self.signin(email).await;
        assert_eq!(r["status"], "second_step", "{r}");
        r["flow_id"].as_str().unwrap().to_string()
    }

    pub(crate) async fn audit_kinds(&self) -> Vec<String> {
        self.s
            .core
            .audit_events(
                &Sysadmin::host_operator(),
                tessera_core::audit::AuditFilter {
                    limit: 1000,
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }
}

pub(crate) fn retry_after(r: &reqwest::Response) -> u64 {
    r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// One node on SQLite, or two nodes on one PostgreSQL schema; one clock.
pub(crate) struct Nodes {
    pub(crate) nodes: Vec<InprocServer>,
    pub(crate) clock: ManualClock,
    pub(crate) http: reqwest::Client,
    next: std::sync::atomic::AtomicUsize,
    /// The database the nodes share: an SQLite file's path or a
    /// PostgreSQL URL (see `crash_db::Db::at`).
    pub(crate) db: String,
    _dir: Option<tempfile::TempDir>,
}

impl Nodes {
    pub(crate) async fn sqlite(config: CoreConfig) -> Nodes {
        let clock = ManualClock::at(Timestamp(T0 * 1000));
        let (core, dir) = test_core(clock.clone(), config).await;
        Nodes {
            nodes: vec![InprocServer::start(core).await],
            clock,
            http: reqwest::Client::new(),
            next: Default::default(),
            db: dir.path().join("t.db").display().to_string(),
            _dir: Some(dir),
        }
    }

    pub(crate) async fn postgres(config: CoreConfig) -> Option<Nodes> {
        let url = crate::postgres::scoped_url().await?;
        let clock = ManualClock::at(Timestamp(T0 * 1000));
        let mut nodes = Vec::new();
        for _ in 0..2 {
            let store = tessera_store::PgStore::connect(&url).await.unwrap();
            store.migrate().await.unwrap();
            let core = test_core_on(std::sync::Arc::new(store), clock.clone(), config.clone());
            nodes.push(InprocServer::start(core).await);
        }
        Some(Nodes {
            nodes,
            clock,
            http: reqwest::Client::new(),
            next: Default::default(),
            db: url,
            _dir: None,
        })
    }

    /// Checks `holds` (a check of one request, so that calls in a row go
    /// to every node in turn) until it is true on every node. On one node
    /// it must hold at the first try: there a revocation wins as soon as
    /// its request has returned. Across nodes the revoking node's eviction
    /// reaches the other's cache by `NOTIFY`, which can land a moment after
    /// that request returned, so the round is repeated for up to half a
    /// second, less than a cached entry's refresh age. How fast `NOTIFY`
    /// travels is the store's two-node tests' to bound; these tests are
    /// about what ends.
    pub(crate) async fn eventually<F, Fut>(&self, what: &str, mut holds: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
        loop {
            let mut everywhere = true;
            for _ in 0..self.nodes.len() {
                everywhere &= holds().await;
            }
            if everywhere {
                return;
            }
            assert!(
                self.nodes.len() > 1 && std::time::Instant::now() < deadline,
                "{what}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// The node the next request goes to: they take turns.
    pub(crate) fn node(&self) -> &InprocServer {
        let i = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        &self.nodes[i % self.nodes.len()]
    }

    pub(crate) fn core(&self) -> &tessera_core::service::Core {
        &self.nodes[0].core
    }

    pub(crate) async fn user(&self, email: &str, role: Role) -> tessera_core::ids::AccountId {
        human(self.core(), email, role).await
    }

    /// A sign-in attempt: status, Retry-After, body.
    pub(crate) async fn attempt(&self, body: Value) -> (u16, Option<u64>, Value) {
        let r = self
            .http
            .post(self.node().url("/api/v1/signin"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let retry = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().parse().unwrap());
        (r.status().as_u16(), retry, r.json().await.unwrap())
    }

    pub(crate) async fn password(&self, email: &str, password: &str) -> (u16, Option<u64>, Value) {
        self.attempt(json!({"email": email, "password": password}))
            .await
    }

    pub(crate) async fn token(&self, email: &str) -> String {
        let (status, _, body) = self.password(email, PASSWORD).await;
        assert_eq!(status, 200, "{body}");
        body["session_token"].as_str().unwrap().to_string()
    }

    pub(crate) async fn send(
        &self,
        method: &str,
        path: &str,
        auth: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        send_to(&self.http, method, &self.node().url(path), auth, body).await
    }

    pub(crate) fn now(&self) -> i64 {
        self.clock.now().seconds()
    }
}

impl Api for Nodes {
    async fn send(
        &self,
        method: &str,
        path: &str,
        auth: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        Nodes::send(self, method, path, auth, body).await
    }
    fn now(&self) -> i64 {
        Nodes::now(self)
    }
}

impl Api for World {
    async fn send(
        &self,
        method: &str,
        path: &str,
        auth: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        send_to(&self.http, method, &self.s.url(path), auth, body).await
    }
    fn now(&self) -> i64 {
        World::now(self)
    }
}

/// The real binary, on the real clock.
impl Api for Server {
    async fn send(
        &self,
        method: &str,
        path: &str,
        auth: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        send_to(&reqwest::Client::new(), method, &self.url(path), auth, body).await
    }
    fn now(&self) -> i64 {
        peers::now_secs()
    }
}

/// An in-process server, on its core's clock.
impl Api for InprocServer {
    async fn send(
        &self,
        method: &str,
        path: &str,
        auth: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        send_to(&reqwest::Client::new(), method, &self.url(path), auth, body).await
    }
    fn now(&self) -> i64 {
        self.core.clock.now().seconds()
    }
}
