//! The mixed write load of the crash and cancellation tests: people who
//! sign in, step up, add authenticator apps and security keys, create and
//! revoke API tokens, change passwords and recovery keys; an admin who
//! creates, converts and deletes service accounts and their tokens and
//! changes roles. Every acknowledged write is recorded in a [`Journal`]
//! with what it makes true; the one request in flight per actor when the
//! server dies is recorded too, with the facts it may have changed, so the
//! checks after a restart know what to expect and what cannot be known.

use crate::peers;
use crate::webauthn_support::TestAuthenticator;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

/// A small deterministic random source (xorshift64*), so a failing round
/// can be replayed from its seed.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// In `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo).max(1)
    }
}

/// What an operation may change, so that one in flight at the kill leaves
/// exactly these unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fact {
    Session,
    Password,
    Totp,
    Keys,
    Tokens,
    Recovery,
    Role,
    ServiceAccounts,
}

/// What an actor's acknowledged writes make true.
#[derive(Debug, Clone, Default)]
pub struct Known {
    pub email: String,
    pub password: String,
    /// The latest session token.
    pub session: Option<String>,
    pub totp: bool,
    /// Ids of the security keys held.
    pub keys: BTreeSet<String>,
    /// API tokens (id → secret) that must work, and ids that must not.
    pub tokens: BTreeMap<String, String>,
    pub revoked: BTreeSet<String>,
    pub recovery: Option<String>,
    /// Admin: victims' roles (email → role) and whether one changed.
    pub roles: BTreeMap<String, String>,
    pub role_changed: BTreeSet<String>,
    /// Admin: service accounts that must exist (id) and must not.
    pub services: BTreeSet<String>,
    pub deleted: BTreeSet<String>,
    /// Admin: people converted to service accounts (id).
    pub converted: BTreeSet<String>,
}

/// One actor's record: the last known state, and the operation in flight
/// when the load stopped, if any.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub known: Known,
    pub in_flight: Option<(&'static str, Vec<Fact>)>,
}

impl Entry {
    /// Whether `fact` is known (no operation that may change it was in
    /// flight).
    pub fn knows(&self, fact: Fact) -> bool {
        self.in_flight
            .as_ref()
            .is_none_or(|(_, f)| !f.contains(&fact))
    }
}

/// Every actor's record, and counts for the report.
#[derive(Default)]
pub struct Journal {
    pub actors: BTreeMap<String, Entry>,
    pub acked: BTreeMap<&'static str, usize>,
    /// Answers that were neither a success nor a dead server.
    pub unexpected: Vec<String>,
}

pub type Shared = Arc<Mutex<Journal>>;

/// Why an operation did not complete.
#[derive(Debug)]
pub enum Stop {
    /// The server is gone (killed), or the client gave up waiting.
    Gone,
    /// An answer the load did not expect.
    Unexpected(String),
}

type Step<T> = Result<T, Stop>;

/// A client of one server for one actor.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub origin: String,
    pub http: reqwest::Client,
    /// Where the server's mail files land (for emailed step-up codes).
    pub mail_dir: PathBuf,
}

impl Client {
    pub fn new(base: &str, origin: &str, mail_dir: PathBuf, timeout: Duration) -> Client {
        Client {
            base: base.into(),
            origin: origin.into(),
            http: reqwest::Client::builder().timeout(timeout).build().unwrap(),
            mail_dir,
        }
    }

    /// Sends and expects `want`; a transport error or timeout is
    /// [`Stop::Gone`].
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        want: u16,
    ) -> Step<Value> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.map_err(|_| Stop::Gone)?;
        let status = r.status().as_u16();
        let text = r.text().await.map_err(|_| Stop::Gone)?;
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status != want {
            return Err(Stop::Unexpected(format!(
                "{method} {path}: {status} {text}"
            )));
        }
        Ok(v)
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Step<Value> {
        self.call(reqwest::Method::POST, path, token, Some(body), 200)
            .await
    }

    /// The emailed verification code newest in the mail folder for `to`
    /// that is not in `seen`.
    pub async fn mailed_code(&self, to: &str, seen: &mut BTreeSet<PathBuf>) -> Step<String> {
        for _ in 0..200 {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&self.mail_dir)
                .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
            files.sort();
            for f in files.iter().rev() {
                if seen.contains(f) || f.extension().is_none_or(|e| e != "eml") {
                    continue;
                }
                let Ok(text) = std::fs::read_to_string(f) else {
                    continue;
                };
                if !text.contains(&format!("To: {to}")) || !text.contains("verification code") {
                    continue;
                }
                seen.insert(f.clone());
                if let Some(code) = text
                    .lines()
                    .map(str::trim)
                    .find(|l| l.len() == 6 && l.bytes().all(|b| b.is_ascii_digit()))
                {
                    return Ok(code.to_string());
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(Stop::Unexpected(format!("no emailed code for {to}")))
    }
}

/// A person using their own account.
pub struct Person {
    pub c: Client,
    pub known: Known,
    pub key_devices: Vec<(String, TestAuthenticator<SoftPasskey>)>,
    pub totp_secret: Option<String>,
    pub seen_mail: BTreeSet<PathBuf>,
    pub journal: Shared,
    pub rng: Rng,
    n: usize,
}

impl Person {
    pub fn new(c: Client, email: &str, password: &str, journal: Shared, rng: Rng) -> Person {
        let known = Known {
            email: email.into(),
            password: password.into(),
            ..Known::default()
        };
        Person {
            c,
            known,
            key_devices: Vec::new(),
            totp_secret: None,
            seen_mail: BTreeSet::new(),
            journal,
            rng,
            n: 0,
        }
    }

    fn token(&self) -> &str {
        self.known.session.as_deref().unwrap_or_default()
    }

    fn two_step(&self) -> bool {
        self.known.totp || !self.known.keys.is_empty()
    }

    pub fn begin(&self, op: &'static str, facts: &[Fact]) {
        let mut j = self.journal.lock().unwrap();
        let e = j.actors.entry(self.known.email.clone()).or_default();
        e.in_flight = Some((op, facts.to_vec()));
    }

    fn ack(&self, op: &'static str) {
        let mut j = self.journal.lock().unwrap();
        *j.acked.entry(op).or_default() += 1;
        let e = j.actors.entry(self.known.email.clone()).or_default();
        e.known = self.known.clone();
        e.in_flight = None;
    }

    fn take_session(&mut self, v: &Value) {
        if let Some(t) = v["session_token"].as_str() {
            self.known.session = Some(t.to_string());
        }
    }

    /// Signs in with the password only and steps up with an emailed code:
    /// the session every later security change of the load needs.
    pub async fn setup(&mut self) -> Step<()> {
        self.begin("signin", &[Fact::Session]);
        let v = self
            .c
            .post(
                "/api/v1/signin",
                None,
                json!({"email": self.known.email, "password": self.known.password, "client": "mobile"}),
            )
            .await?;
        self.take_session(&v);
        self.ack("signin");
        self.email_step_up().await
    }

    async fn email_step_up(&mut self) -> Step<()> {
        self.begin("step_up_email", &[Fact::Session]);
        let t = self.token().to_string();
        self.c
            .post("/api/v1/step-up/email_code/send", Some(&t), json!({}))
            .await?;
        let code = self
            .c
            .mailed_code(&self.known.email, &mut self.seen_mail)
            .await?;
        let v = self
            .c
            .post(
                "/api/v1/step-up/email_code",
                Some(&t),
                json!({"code": code}),
            )
            .await?;
        self.take_session(&v);
        self.ack("step_up_email");
        Ok(())
    }

    /// One random operation that fits the account's state.
    pub async fn step(&mut self) -> Step<()> {
        self.n += 1;
        let roll = self.rng.range(0, 100);
        if !self.two_step() {
            return match roll {
                0..45 => self.enroll_totp().await,
                45..80 => self.add_key().await,
                80..92 => self.create_token().await,
                _ => self.change_password().await,
            };
        }
        match roll {
            0..12 if self.key_devices.len() < 3 => self.add_key().await,
            0..20 => self.enroll_totp().await,
            20..32 => self.create_token().await,
            32..38 if !self.known.tokens.is_empty() => self.revoke_token().await,
            32..44 => self.new_recovery_key().await,
            44..52 => self.change_password().await,
            52..62
                if self.key_devices.len() > 1
                    || (self.known.totp && !self.key_devices.is_empty()) =>
            {
                self.remove_key().await
            }
            52..75 if !self.key_devices.is_empty() => self.sign_in_with_key().await,
            52..80 if self.known.recovery.is_some() => self.sign_in_with_recovery_key().await,
            _ if !self.key_devices.is_empty() => self.step_up_with_key().await,
            _ => self.new_recovery_key().await,
        }
    }

    pub async fn enroll_totp(&mut self) -> Step<()> {
        let first = !self.two_step();
        self.begin("enroll_totp", &[Fact::Session, Fact::Totp, Fact::Recovery]);
        let t = self.token().to_string();
        let e = self
            .c
            .post("/api/v1/me/two-step/totp", Some(&t), json!({}))
            .await?;
        let secret = e["secret"].as_str().unwrap_or_default().to_string();
        // The current step; the app seen by the load is changed at most
        // once per run of the loop, so no code is used twice.
        let code = peers::oathtool(&secret, peers::now_secs());
        let v = self
            .c
            .post(
                "/api/v1/me/two-step/totp/confirm",
                Some(&t),
                json!({"code": code}),
            )
            .await?;
        self.take_session(&v);
        self.known.totp = true;
        self.totp_secret = Some(secret);
        if first {
            self.known.recovery = v["recovery_key"].as_str().map(String::from);
            if self.known.recovery.is_none() {
                return Err(Stop::Unexpected(format!(
                    "no recovery key with 2SV on: {v}"
                )));
            }
        }
        self.ack("enroll_totp");
        Ok(())
    }

    pub async fn add_key(&mut self) -> Step<()> {
        let first = !self.two_step();
        self.begin("add_key", &[Fact::Session, Fact::Keys, Fact::Recovery]);
        let t = self.token().to_string();
        self.n += 1;
        let o = self
            .c
            .post(
                "/api/v1/me/two-step/security-keys",
                Some(&t),
                json!({"name": format!("key {}", self.n)}),
            )
            .await?;
        let mut device = TestAuthenticator::security_key();
        let cred = device
            .create(&self.c.origin, &o["options"])
            .map_err(|e| Stop::Unexpected(format!("authenticator: {e:?}")))?;
        let v = self
            .c
            .post(
                "/api/v1/me/two-step/keys/finish",
                Some(&t),
                json!({"credential": cred}),
            )
            .await?;
        self.take_session(&v);
        let id = v["id"].as_str().unwrap_or_default().to_string();
        self.known.keys.insert(id.clone());
        self.key_devices.push((id, device));
        if first {
            self.known.recovery = v["recovery_key"].as_str().map(String::from);
            if self.known.recovery.is_none() {
                return Err(Stop::Unexpected(format!(
                    "no recovery key with 2SV on: {v}"
                )));
            }
        }
        self.ack("add_key");
        Ok(())
    }

    async fn remove_key(&mut self) -> Step<()> {
        let at = self.rng.range(0, self.key_devices.len() as u64) as usize;
        let id = self.key_devices[at].0.clone();
        self.begin("remove_key", &[Fact::Keys]);
        let t = self.token().to_string();
        self.c
            .call(
                reqwest::Method::DELETE,
                &format!("/api/v1/me/two-step/keys/{id}"),
                Some(&t),
                None,
                204,
            )
            .await?;
        self.key_devices.remove(at);
        self.known.keys.remove(&id);
        self.ack("remove_key");
        Ok(())
    }

    pub async fn create_token(&mut self) -> Step<()> {
        self.begin("create_token", &[]);
        let t = self.token().to_string();
        let v = self
            .c
            .call(
                reqwest::Method::POST,
                "/api/v1/me/api-tokens",
                Some(&t),
                Some(json!({"label": "load"})),
                201,
            )
            .await?;
        let (Some(id), Some(secret)) = (v["id"].as_str(), v["token"].as_str()) else {
            return Err(Stop::Unexpected(format!("token answer: {v}")));
        };
        self.known.tokens.insert(id.into(), secret.into());
        self.ack("create_token");
        Ok(())
    }

    async fn revoke_token(&mut self) -> Step<()> {
        let Some(id) = self.known.tokens.keys().next().cloned() else {
            return Ok(());
        };
        self.begin("revoke_token", &[Fact::Tokens]);
        let t = self.token().to_string();
        self.c
            .call(
                reqwest::Method::DELETE,
                &format!("/api/v1/me/api-tokens/{id}"),
                Some(&t),
                None,
                204,
            )
            .await?;
        self.known.tokens.remove(&id);
        self.known.revoked.insert(id);
        self.ack("revoke_token");
        Ok(())
    }

    pub async fn change_password(&mut self) -> Step<()> {
        self.n += 1;
        let new = format!("{} {}", crate::support::PASSWORD, self.n);
        self.begin("change_password", &[Fact::Session, Fact::Password]);
        let t = self.token().to_string();
        let v = self
            .c
            .post(
                "/api/v1/me/password",
                Some(&t),
                json!({"current_password": self.known.password, "new_password": new}),
            )
            .await?;
        self.take_session(&v);
        self.known.password = new;
        self.ack("change_password");
        Ok(())
    }

    pub async fn new_recovery_key(&mut self) -> Step<()> {
        self.begin("new_recovery_key", &[Fact::Recovery]);
        let t = self.token().to_string();
        let v = self
            .c
            .post("/api/v1/me/two-step/recovery-key", Some(&t), json!({}))
            .await?;
        self.known.recovery = v["recovery_key"].as_str().map(String::from);
        self.ack("new_recovery_key");
        Ok(())
    }

    /// The password step of a sign-in with two-step verification: its flow.
    async fn flow(&self) -> Step<String> {
        let v = self
            .c
            .post(
                "/api/v1/signin",
                None,
                json!({"email": self.known.email, "password": self.known.password, "client": "mobile"}),
            )
            .await?;
        v["flow_id"]
            .as_str()
            .map(String::from)
            .ok_or_else(|| Stop::Unexpected(format!("no flow: {v}")))
    }

    async fn sign_in_with_key(&mut self) -> Step<()> {
        self.begin("signin_key", &[Fact::Session]);
        let flow = self.flow().await?;
        let path = format!("/api/v1/signin/{flow}/webauthn");
        let ch = self.c.post(&path, None, json!({})).await?;
        let at = self.rng.range(0, self.key_devices.len() as u64) as usize;
        let cred = self.key_devices[at]
            .1
            .get(&self.c.origin, &ch["public_key"])
            .map_err(|e| Stop::Unexpected(format!("authenticator: {e:?}")))?;
        let v = self
            .c
            .post(&path, None, json!({"credential": cred}))
            .await?;
        self.take_session(&v);
        self.ack("signin_key");
        Ok(())
    }

    pub async fn sign_in_with_recovery_key(&mut self) -> Step<()> {
        self.begin("signin_recovery_key", &[Fact::Session, Fact::Recovery]);
        let flow = self.flow().await?;
        let key = self.known.recovery.clone().unwrap_or_default();
        let v = self
            .c
            .post(
                &format!("/api/v1/signin/{flow}/recovery_key"),
                None,
                json!({"recovery_key": key}),
            )
            .await?;
        self.take_session(&v);
        self.known.recovery = v["new_recovery_key"].as_str().map(String::from);
        if self.known.recovery.is_none() {
            return Err(Stop::Unexpected(format!("no successor key: {v}")));
        }
        self.ack("signin_recovery_key");
        Ok(())
    }

    async fn step_up_with_key(&mut self) -> Step<()> {
        self.begin("step_up_key", &[Fact::Session]);
        let t = self.token().to_string();
        let up = self
            .c
            .post("/api/v1/step-up/webauthn", Some(&t), json!({}))
            .await?;
        let at = self.rng.range(0, self.key_devices.len() as u64) as usize;
        let cred = self.key_devices[at]
            .1
            .get(&self.c.origin, &up["options"])
            .map_err(|e| Stop::Unexpected(format!("authenticator: {e:?}")))?;
        let v = self
            .c
            .post(
                "/api/v1/step-up/webauthn",
                Some(&t),
                json!({"credential": cred}),
            )
            .await?;
        self.take_session(&v);
        self.ack("step_up_key");
        Ok(())
    }
}

/// The sysadmin of the load.
pub struct Admin {
    pub p: Person,
    /// Victims of role changes: email → account id.
    pub victims: Vec<(String, String)>,
}

impl Admin {
    pub async fn setup(&mut self, victims: &[&str]) -> Step<()> {
        self.p.setup().await?;
        let t = self.p.token().to_string();
        let v = self
            .p
            .c
            .call(
                reqwest::Method::GET,
                "/api/v1/admin/users?limit=500",
                Some(&t),
                None,
                200,
            )
            .await?;
        for u in v["users"].as_array().cloned().unwrap_or_default() {
            let email = u["email"].as_str().unwrap_or_default();
            if victims.contains(&email) {
                self.victims
                    .push((email.into(), u["id"].as_str().unwrap_or_default().into()));
                self.p.known.roles.insert(email.into(), "member".into());
            }
        }
        self.p.ack("admin_setup");
        Ok(())
    }

    pub async fn step(&mut self) -> Step<()> {
        self.p.n += 1;
        let roll = self.p.rng.range(0, 100);
        match roll {
            0..25 => self.create_service().await,
            25..45 if !self.p.known.services.is_empty() => self.service_token().await,
            45..55 if !self.p.known.services.is_empty() => self.delete_service().await,
            55..80 => self.set_role().await,
            _ => self.convert().await,
        }
    }

    async fn create_service(&mut self) -> Step<()> {
        self.p.begin("create_service_account", &[]);
        let t = self.p.token().to_string();
        let v = self
            .p
            .c
            .call(
                reqwest::Method::POST,
                "/api/v1/admin/service-accounts",
                Some(&t),
                Some(json!({"name": format!("bot {}", self.p.n), "description": "crash load"})),
                201,
            )
            .await?;
        let id = v["id"].as_str().unwrap_or_default().to_string();
        self.p.known.services.insert(id);
        self.p.ack("create_service_account");
        Ok(())
    }

    async fn service_token(&mut self) -> Step<()> {
        let id = self
            .p
            .known
            .services
            .iter()
            .next()
            .cloned()
            .unwrap_or_default();
        self.p.begin("service_token", &[]);
        let t = self.p.token().to_string();
        let v = self
            .p
            .c
            .call(
                reqwest::Method::POST,
                &format!("/api/v1/admin/service-accounts/{id}/api-tokens"),
                Some(&t),
                Some(json!({"label": "load"})),
                201,
            )
            .await?;
        let (Some(tid), Some(secret)) = (v["id"].as_str(), v["token"].as_str()) else {
            return Err(Stop::Unexpected(format!("token answer: {v}")));
        };
        self.p.known.tokens.insert(tid.into(), secret.into());
        self.p.ack("service_token");
        Ok(())
    }

    async fn delete_service(&mut self) -> Step<()> {
        let id = self
            .p
            .known
            .services
            .iter()
            .last()
            .cloned()
            .unwrap_or_default();
        self.p.begin(
            "delete_service_account",
            &[Fact::ServiceAccounts, Fact::Tokens],
        );
        let t = self.p.token().to_string();
        self.p
            .c
            .call(
                reqwest::Method::DELETE,
                &format!("/api/v1/admin/service-accounts/{id}"),
                Some(&t),
                None,
                204,
            )
            .await?;
        self.p.known.services.remove(&id);
        self.p.known.deleted.insert(id.clone());
        // Its tokens went with it; which ones is not tracked per account,
        // so every service token acknowledged so far is left unchecked.
        let gone: Vec<String> = self.p.known.tokens.keys().cloned().collect();
        for g in gone {
            self.p.known.tokens.remove(&g);
        }
        self.p.ack("delete_service_account");
        Ok(())
    }

    async fn set_role(&mut self) -> Step<()> {
        let at = self.p.rng.range(0, self.victims.len() as u64) as usize;
        let (email, id) = self.victims[at].clone();
        let role = if self.p.known.roles.get(&email).map(String::as_str) == Some("member") {
            "org-admin"
        } else {
            "member"
        };
        self.p.begin("set_role", &[Fact::Role]);
        let t = self.p.token().to_string();
        self.p
            .c
            .call(
                reqwest::Method::PUT,
                &format!("/api/v1/admin/users/{id}/role"),
                Some(&t),
                Some(json!({"role": role})),
                200,
            )
            .await?;
        self.p.known.roles.insert(email.clone(), role.into());
        self.p.known.role_changed.insert(email);
        self.p.ack("set_role");
        Ok(())
    }

    /// Creates a person's account and converts it to a service account.
    async fn convert(&mut self) -> Step<()> {
        self.p.begin("convert_to_service", &[Fact::ServiceAccounts]);
        let t = self.p.token().to_string();
        let v = self
            .p
            .c
            .call(
                reqwest::Method::POST,
                "/api/v1/admin/users",
                Some(&t),
                Some(json!({"email": format!("bot{}@example.com", self.p.n)})),
                201,
            )
            .await?;
        let id = v["id"].as_str().unwrap_or_default().to_string();
        self.p
            .c
            .call(
                reqwest::Method::POST,
                &format!("/api/v1/admin/users/{id}/convert-to-service"),
                Some(&t),
                None,
                200,
            )
            .await?;
        self.p.known.converted.insert(id);
        self.p.ack("convert_to_service");
        Ok(())
    }
}

/// Whether an actor's load goes on after `step`: it stops when the server
/// is gone, and records an unexpected answer before it stops.
pub fn carry_on(journal: &Shared, who: &str, step: Step<()>) -> bool {
    match step {
        Ok(()) => true,
        Err(Stop::Gone) => false,
        Err(Stop::Unexpected(m)) => {
            journal
                .lock()
                .unwrap()
                .unexpected
                .push(format!("{who}: {m}"));
            false
        }
    }
}
