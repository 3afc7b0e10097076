//! A software authenticator and API helpers for the WebAuthn tests (see
//! `webauthn_api`).

use crate::support::*;
use serde_json::{Value, json};
use url::Url;
use webauthn_authenticator_rs::AuthenticatorBackendHashedClientData;
use webauthn_authenticator_rs::error::WebauthnCError;
use webauthn_authenticator_rs::prelude::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::softtoken::SoftToken;
use webauthn_rs::prelude::{
    CreationChallengeResponse, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse,
};
use webauthn_rs_proto::{
    AllowCredentials, PublicKeyCredentialCreationOptions, PublicKeyCredentialRequestOptions,
    ResidentKeyRequirement, UserVerificationPolicy,
};

pub(crate) const SECURITY_KEYS: &str = "/api/v1/me/two-step/security-keys";
pub(crate) const PASSKEYS: &str = "/api/v1/me/two-step/passkeys";

// ---------------------------------------------------------------------
// The authenticator

/// A discoverable credential the authenticator keeps.
#[derive(Clone)]
pub(crate) struct Resident {
    pub(crate) rp_id: String,
    pub(crate) cred_id: Vec<u8>,
    pub(crate) user: Vec<u8>,
}

/// A software authenticator as a browser drives it.
pub(crate) struct TestAuthenticator<B> {
    pub(crate) inner: B,
    pub(crate) resident: Vec<Resident>,
    /// Whether it verifies its user (PIN, fingerprint); otherwise it only
    /// checks presence, whatever the relying party asked for.
    pub(crate) verifies_user: bool,
    /// Signs for this RP ID instead of the one in the request, inside
    /// client data that names the right origin.
    pub(crate) sign_for_rp: Option<String>,
}

impl TestAuthenticator<SoftPasskey> {
    /// A key that checks presence only, like most security keys without a PIN.
    pub(crate) fn security_key() -> Self {
        Self::around(SoftPasskey::new(true), false)
    }

    /// A passkey: discoverable, and it verifies its user.
    pub(crate) fn passkey() -> Self {
        Self::around(SoftPasskey::new(true), true)
    }
}

impl TestAuthenticator<SoftToken> {
    /// A presence-only key whose whole state can be copied.
    pub(crate) fn copyable() -> Self {
        Self::around(SoftToken::new(true).unwrap().0, false)
    }

    /// A second key with the same private keys and counter: a clone.
    pub(crate) fn copy(&self) -> Self {
        TestAuthenticator {
            inner: SoftToken::from_cbor(&self.inner.to_cbor().unwrap()).unwrap(),
            resident: self.resident.clone(),
            verifies_user: self.verifies_user,
            sign_for_rp: self.sign_for_rp.clone(),
        }
    }
}

impl<B: AuthenticatorBackendHashedClientData> TestAuthenticator<B> {
    pub(crate) fn around(inner: B, verifies_user: bool) -> Self {
        TestAuthenticator {
            inner,
            resident: Vec::new(),
            verifies_user,
            sign_for_rp: None,
        }
    }

    /// What the inner authenticator is asked: UV whenever the relying
    /// party would take it (that is what "preferred" means for a capable
    /// authenticator), and never when this one does not verify.
    pub(crate) fn uv(&self, asked: UserVerificationPolicy) -> UserVerificationPolicy {
        match asked {
            _ if !self.verifies_user => UserVerificationPolicy::Discouraged_DO_NOT_USE,
            UserVerificationPolicy::Discouraged_DO_NOT_USE => asked,
            _ => UserVerificationPolicy::Required,
        }
    }

    /// `navigator.credentials.create(options)` on a page at `origin`.
    pub(crate) fn create(
        &mut self,
        origin: &str,
        options: &Value,
    ) -> Result<Value, WebauthnCError> {
        let options: CreationChallengeResponse = serde_json::from_value(options.clone()).unwrap();
        let cred = self.do_registration(Url::parse(origin).unwrap(), options)?;
        Ok(serde_json::to_value(cred).unwrap())
    }

    /// `navigator.credentials.get(options)` on a page at `origin`.
    pub(crate) fn get(&mut self, origin: &str, options: &Value) -> Result<Value, WebauthnCError> {
        let options: RequestChallengeResponse = serde_json::from_value(options.clone()).unwrap();
        let cred = self.do_authentication(Url::parse(origin).unwrap(), options)?;
        Ok(serde_json::to_value(cred).unwrap())
    }
}

impl<B: AuthenticatorBackendHashedClientData> AuthenticatorBackendHashedClientData
    for TestAuthenticator<B>
{
    fn perform_register(
        &mut self,
        client_data_hash: Vec<u8>,
        mut options: PublicKeyCredentialCreationOptions,
        timeout_ms: u32,
    ) -> Result<RegisterPublicKeyCredential, WebauthnCError> {
        let rp_id = options.rp.id.clone();
        let user = options.user.id.clone();
        let mut resident = false;
        if let Some(sel) = options.authenticator_selection.as_mut() {
            resident = sel.require_resident_key
                || sel.resident_key == Some(ResidentKeyRequirement::Required);
            // Kept here, so the inner authenticator is not asked to.
            sel.require_resident_key = false;
            sel.resident_key = None;
            sel.user_verification = self.uv(sel.user_verification);
        }
        if let Some(other) = &self.sign_for_rp {
            options.rp.id = other.clone();
        }
        let cred = AuthenticatorBackendHashedClientData::perform_register(
            &mut self.inner,
            client_data_hash,
            options,
            timeout_ms,
        )?;
        if resident {
            self.resident.push(Resident {
                rp_id,
                cred_id: cred.raw_id.clone(),
                user,
            });
        }
        Ok(cred)
    }

    fn perform_auth(
        &mut self,
        client_data_hash: Vec<u8>,
        mut options: PublicKeyCredentialRequestOptions,
        timeout_ms: u32,
    ) -> Result<PublicKeyCredential, WebauthnCError> {
        options.user_verification = self.uv(options.user_verification);
        if options.allow_credentials.is_empty() {
            // A discoverable request: offer what is kept for this site.
            options.allow_credentials = self
                .resident
                .iter()
                .filter(|r| r.rp_id == options.rp_id)
                .map(|r| AllowCredentials {
                    type_: "public-key".into(),
                    id: r.cred_id.clone(),
                    transports: None,
                })
                .collect();
        }
        if let Some(other) = &self.sign_for_rp {
            options.rp_id = other.clone();
        }
        let mut cred = AuthenticatorBackendHashedClientData::perform_auth(
            &mut self.inner,
            client_data_hash,
            options,
            timeout_ms,
        )?;
        // The user handle is outside the signed data, as with real keys.
        cred.response.user_handle = self
            .resident
            .iter()
            .find(|r| r.cred_id == cred.raw_id)
            .map(|r| r.user.clone());
        Ok(cred)
    }
}

// ---------------------------------------------------------------------
// The API

/// A mobile client of one server: bearer tokens, JSON in and out.
pub(crate) struct Api {
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
}

impl Api {
    pub(crate) fn new(s: &Server) -> Api {
        Api {
            base: s.base.clone(),
            http: reqwest::Client::new(),
        }
    }

    pub(crate) async fn send(
        &self,
        req: reqwest::RequestBuilder,
        token: Option<&str>,
    ) -> (u16, Value) {
        let req = match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub(crate) async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let req = self.http.post(format!("{}{path}", self.base)).json(&body);
        self.send(req, token).await
    }

    /// A body that is not JSON, sent as JSON.
    pub(crate) async fn post_raw(
        &self,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> (u16, Value) {
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_string());
        self.send(req, token).await
    }

    pub(crate) async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req, Some(token)).await
    }

    pub(crate) async fn patch(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        let req = self.http.patch(format!("{}{path}", self.base)).json(&body);
        self.send(req, Some(token)).await
    }

    pub(crate) async fn delete(&self, path: &str, token: &str) -> (u16, Value) {
        let req = self.http.delete(format!("{}{path}", self.base));
        self.send(req, Some(token)).await
    }

    /// The caller's keys and passkeys.
    pub(crate) async fn keys(&self, token: &str) -> Vec<Value> {
        let (status, v) = self.get("/api/v1/me/two-step", token).await;
        assert_eq!(status, 200, "{v}");
        v["keys"].as_array().unwrap().clone()
    }

    /// How many sessions the caller's account has.
    pub(crate) async fn sessions(&self, token: &str) -> usize {
        let (status, v) = self.get("/api/v1/sessions", token).await;
        assert_eq!(status, 200, "{v}");
        v["sessions"].as_array().unwrap().len()
    }

    /// Starts registering a key (`SECURITY_KEYS` or `PASSKEYS`); the options.
    pub(crate) async fn start_key(&self, token: &str, path: &str, name: &str) -> Value {
        let (status, v) = self.post(path, Some(token), json!({"name": name})).await;
        assert_eq!(status, 200, "{v}");
        v["options"].clone()
    }

    pub(crate) async fn finish_key(&self, token: &str, credential: Value) -> (u16, Value) {
        self.post(
            "/api/v1/me/two-step/keys/finish",
            Some(token),
            json!({"credential": credential}),
        )
        .await
    }

    /// Registers `key` at the server's own origin; the finishing answer.
    pub(crate) async fn add_key<B: AuthenticatorBackendHashedClientData>(
        &self,
        token: &str,
        path: &str,
        name: &str,
        key: &mut TestAuthenticator<B>,
        origin: &str,
    ) -> Value {
        let options = self.start_key(token, path, name).await;
        let cred = key.create(origin, &options).unwrap();
        let (status, v) = self.finish_key(token, cred).await;
        assert_eq!(status, 200, "{v}");
        v
    }

    /// The password step; returns the flow waiting for a key.
    pub(crate) async fn password_step(&self, email: &str) -> String {
        let (status, v) = self
            .post(
                "/api/v1/signin",
                None,
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["status"], "second_step", "{v}");
        assert!(has(&v["methods"], "webauthn"), "{v}");
        v["flow_id"].as_str().unwrap().to_string()
    }

    /// A fresh key challenge for a sign-in flow.
    pub(crate) async fn key_challenge(&self, flow: &str) -> Value {
        let (status, v) = self
            .post(&format!("/api/v1/signin/{flow}/webauthn"), None, json!({}))
            .await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["status"], "challenge", "{v}");
        v["public_key"].clone()
    }

    pub(crate) async fn answer(&self, flow: &str, credential: &Value) -> (u16, Value) {
        self.post(
            &format!("/api/v1/signin/{flow}/webauthn"),
            None,
            json!({"credential": credential}),
        )
        .await
    }

    /// Password, then `key` on a page at `origin`: the last answer.
    pub(crate) async fn sign_in_with_key<B: AuthenticatorBackendHashedClientData>(
        &self,
        email: &str,
        key: &mut TestAuthenticator<B>,
        origin: &str,
    ) -> (u16, Value) {
        let flow = self.password_step(email).await;
        let challenge = self.key_challenge(&flow).await;
        let cred = key.get(origin, &challenge).unwrap();
        self.answer(&flow, &cred).await
    }

    /// A passwordless start; (options, ceremony id).
    pub(crate) async fn passkey_start(&self) -> (Value, String) {
        let (status, v) = self
            .post("/api/v1/signin/passkey/start", None, json!({}))
            .await;
        assert_eq!(status, 200, "{v}");
        let ceremony = v["ceremony_id"].as_str().unwrap().to_string();
        (v["options"].clone(), ceremony)
    }

    pub(crate) async fn passkey_finish(&self, ceremony: &str, credential: &Value) -> (u16, Value) {
        self.post(
            "/api/v1/signin/passkey/finish",
            None,
            json!({"ceremony_id": ceremony, "credential": credential}),
        )
        .await
    }

    /// Signs in without a password, with `key` on a page at `origin`.
    pub(crate) async fn sign_in_with_passkey<B: AuthenticatorBackendHashedClientData>(
        &self,
        key: &mut TestAuthenticator<B>,
        origin: &str,
    ) -> (u16, Value) {
        let (options, ceremony) = self.passkey_start().await;
        let cred = key.get(origin, &options).unwrap();
        self.passkey_finish(&ceremony, &cred).await
    }
}

/// A new account with one key or passkey (registered by `key` at the
/// server's origin); returns its session token and the key's id.
pub(crate) async fn enrolled<B: AuthenticatorBackendHashedClientData>(
    s: &Server,
    email: &str,
    path: &str,
    key: &mut TestAuthenticator<B>,
) -> (String, String) {
    s.create_user(email, "member");
    let api = Api::new(s);
    let token = signin(s, email, PASSWORD).await;
    let done = api.add_key(&token, path, "My key", key, &s.origin).await;
    (
        done["session_token"].as_str().unwrap().to_string(),
        done["id"].as_str().unwrap().to_string(),
    )
}

pub(crate) fn has(list: &Value, item: &str) -> bool {
    list.as_array()
        .is_some_and(|l| l.iter().any(|x| x.as_str() == Some(item)))
}

/// Asserts a refusal with `status` whose `detail` is written for people
/// (a sentence, no internals) and mentions `words`.
#[track_caller]
pub(crate) fn assert_refused(got: &(u16, Value), status: u16, words: &str) {
    let (code, body) = got;
    assert_eq!(*code, status, "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.starts_with(char::is_uppercase)
            && detail.ends_with('.')
            && detail.split_whitespace().count() >= 4,
        "not a sentence for people: {body}"
    );
    assert!(
        !["Error", "::", "{", "`", "Webauthn"]
            .iter()
            .any(|x| detail.contains(x)),
        "internals in the message: {detail:?}"
    );
    assert!(
        detail.contains(words),
        "{detail:?} should mention {words:?}"
    );
}

/// The server's origin on another port: same host, so the client signs.
pub(crate) fn other_port(origin: &str) -> String {
    let port = Url::parse(origin).unwrap().port().unwrap();
    format!("http://localhost:{}", port.wrapping_add(1).max(1))
}

/// A subdomain over https: `localhost` is a suffix, so the client signs.
/// (`http://evil.localhost` it would refuse: http is for `localhost` only.)
pub(crate) fn evil_subdomain(origin: &str) -> String {
    let port = Url::parse(origin).unwrap().port().unwrap();
    format!("https://evil.localhost:{port}")
}

pub(crate) const DIFFERENT_SITE: &str = "made for a different website";
pub(crate) const NOT_THIS_REQUEST: &str = "doesn't answer this request";
