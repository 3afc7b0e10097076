//! The authorization endpoint as a use case: check the request, find out
//! what the user still has to do ([`crate::oidc::authorize::decide`]), and
//! once nothing is left, issue a code and send the user back.

use super::{Access, Core};
use crate::clock::Timestamp;
use crate::oidc::authorize::{
    self, AuthorizeParams, Next, PENDING_TTL_SECS, Pending, Refusal, Standing,
};
use crate::oidc::client::{OidcClient, OidcClientId, OidcScope};
use crate::oidc::error::{OAuthError, OAuthErrorCode};
use crate::oidc::grant::{CODE_PREFIX, CODE_TTL_SECS, OidcGrant, OidcGrantId};
use crate::secrets::{random_token, random_uuid, token_hash};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Where an authorization request starts: fresh from the relying party,
/// or resumed after a page (sign-in, step-up, consent).
#[derive(Debug, Clone)]
pub enum AuthorizeStart<'a> {
    Fresh(&'a AuthorizeParams),
    /// The sealed [`Pending`] the pages carried, and the consent answer
    /// when it comes from the consent form.
    Resume {
        sealed: &'a str,
        consent: Option<bool>,
    },
}

/// What the browser is shown next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeStep {
    /// Sign in, then come back to `resume`.
    SignIn { resume: String },
    /// Set up two-step verification first, then come back to `resume`.
    Enroll { resume: String },
    /// Verify again on the step-up page, then come back to `resume`.
    StepUp { resume: String, second_step: bool },
    /// Ask whether `client_name` may have `scopes`.
    Consent {
        resume: String,
        client_name: String,
        scopes: Vec<OidcScope>,
    },
    /// Back to the relying party, with a code or an error.
    Redirect(String),
    /// The request cannot be trusted with a redirect: show this.
    ErrorPage(String),
}

/// The associated data a pending request is sealed with.
const PENDING_AAD: &[u8] = b"oidc_authorize_pending";

impl Core {
    /// Advances an authorization request as far as the caller's session
    /// allows.
    pub async fn oidc_authorize(
        &self,
        start: AuthorizeStart<'_>,
        who: Option<&Access>,
    ) -> Result<AuthorizeStep, OAuthError> {
        let now = self.clock.now();
        let (pending, client, redirect_uri, consent) = match self.pending_of(start, now).await? {
            Ok(found) => found,
            Err(Refusal::Page(msg)) => return Ok(AuthorizeStep::ErrorPage(msg)),
            Err(Refusal::Redirect {
                redirect_uri,
                state,
                error,
            }) => {
                return Ok(AuthorizeStep::Redirect(error_redirect(
                    &redirect_uri,
                    state.as_deref(),
                    &error,
                    &self.issuer(),
                )));
            }
        };
        let back_with = |error: OAuthError| {
            AuthorizeStep::Redirect(error_redirect(
                &redirect_uri,
                pending.state.as_deref(),
                &error,
                &self.issuer(),
            ))
        };
        if consent == Some(false) {
            return Ok(back_with(OAuthError::new(
                OAuthErrorCode::AccessDenied,
                "The user declined.",
            )));
        }
        let two_step_on = match who {
            Some(a) => self.two_step_on(a.account()).await?,
            None => false,
        };
        let standing = Standing {
            session: who.map(|a| a.session()),
            two_step_on,
            consented: (client.first_party && !pending.prompt_consent) || consent == Some(true),
        };
        let resume = || self.seal_pending(&pending);
        Ok(match authorize::decide(&pending, standing, now) {
            Next::SignIn => AuthorizeStep::SignIn { resume: resume() },
            Next::Enroll => AuthorizeStep::Enroll { resume: resume() },
            Next::StepUp { second_step } => AuthorizeStep::StepUp {
                resume: resume(),
                second_step,
            },
            Next::Consent => AuthorizeStep::Consent {
                resume: resume(),
                client_name: client.name.clone(),
                scopes: scopes_of(&pending),
            },
            Next::Refuse(e) => back_with(e),
            Next::Issue => {
                let who = who.ok_or_else(|| {
                    OAuthError::from(crate::error::CoreError::Internal(
                        "issue without a session".into(),
                    ))
                })?;
                let code = self
                    .issue_code(&client, &redirect_uri, &pending, who, now)
                    .await?;
                AuthorizeStep::Redirect(code_redirect(
                    &redirect_uri,
                    &code,
                    pending.state.as_deref(),
                    &self.issuer(),
                ))
            }
        })
    }

    /// The issuer: the public URL, as discovery names it.
    pub fn issuer(&self) -> String {
        self.config.public_url.trim_end_matches('/').to_string()
    }

    async fn pending_of(
        &self,
        start: AuthorizeStart<'_>,
        now: Timestamp,
    ) -> Result<Result<(Pending, OidcClient, String, Option<bool>), Refusal>, OAuthError> {
        match start {
            AuthorizeStart::Fresh(params) => {
                let Some(client) = self.client_named(params.client_id.as_deref()).await? else {
                    return Ok(Err(Refusal::Page(
                        "The application that sent you here is not registered with this server."
                            .into(),
                    )));
                };
                let redirect_uri =
                    match authorize::check_redirect(&client, params.redirect_uri.as_deref()) {
                        Ok(u) => u,
                        Err(r) => return Ok(Err(r)),
                    };
                Ok(authorize::check(&client, &redirect_uri, params, now)
                    .map(|p| (p, client, redirect_uri, None)))
            }
            AuthorizeStart::Resume { sealed, consent } => {
                let expired = || {
                    Refusal::Page(
                        "This sign-in request has expired. Go back to the application and start again."
                            .into(),
                    )
                };
                let Some(pending) = self.open_pending(sealed) else {
                    return Ok(Err(expired()));
                };
                if now.millis() - pending.started_at > PENDING_TTL_SECS * 1000 {
                    return Ok(Err(expired()));
                }
                let Some(client) = self.client_named(Some(&pending.client_id)).await? else {
                    return Ok(Err(expired()));
                };
                // The URI must still be registered (the client may have
                // changed since).
                let Some(redirect_uri) = client
                    .redirect_uris
                    .iter()
                    .find(|u| authorize::redirect_hash(u) == pending.redirect_hash)
                    .cloned()
                else {
                    return Ok(Err(expired()));
                };
                Ok(Ok((pending, client, redirect_uri, consent)))
            }
        }
    }

    /// A registered client by the id a request names (`None` for an id
    /// that is not one).
    pub async fn client_named(&self, id: Option<&str>) -> Result<Option<OidcClient>, OAuthError> {
        let Some(id) = id.and_then(|s| s.parse::<OidcClientId>().ok()) else {
            return Ok(None);
        };
        Ok(self.store.oidc_client(id).await?)
    }

    fn seal_pending(&self, pending: &Pending) -> String {
        let json = serde_json::to_vec(pending).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(
            self.secret_box
                .seal(self.secrets.as_ref(), &json, PENDING_AAD),
        )
    }

    fn open_pending(&self, sealed: &str) -> Option<Pending> {
        if sealed.len() > 4000 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        let json = self.secret_box.open(&bytes, PENDING_AAD).ok()?;
        serde_json::from_slice(&json).ok()
    }

    async fn issue_code(
        &self,
        client: &OidcClient,
        redirect_uri: &str,
        pending: &Pending,
        who: &Access,
        now: Timestamp,
    ) -> Result<String, OAuthError> {
        let session = who.session();
        let code = format!("{CODE_PREFIX}{}", random_token(self.secrets.as_ref(), 32));
        let grant = OidcGrant {
            id: OidcGrantId(random_uuid(self.secrets.as_ref())),
            client_id: client.id,
            account_id: who.account().id,
            session_id: Some(session.id),
            redirect_uri: redirect_uri.to_string(),
            scopes: scopes_of(pending),
            nonce: pending.nonce.clone(),
            code_challenge: pending.code_challenge.clone(),
            auth_time: session.verified_at,
            aal: session.aal,
            methods: session.methods.clone(),
            created_at: now,
            code_expires_at: now.plus_secs(CODE_TTL_SECS),
            code_used_at: None,
            revoked_at: None,
        };
        self.store
            .insert_oidc_grant(&grant, &token_hash(&code))
            .await?;
        Ok(code)
    }
}

fn scopes_of(pending: &Pending) -> Vec<OidcScope> {
    pending
        .scopes
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// The redirect URI with `params` added to its query.
fn with_query(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    match url::Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
            }
            url.to_string()
        }
        // Registered URIs were parsed when they were registered.
        Err(_) => redirect_uri.to_string(),
    }
}

/// The success answer: the code, the state, and the issuer (RFC 9207, so
/// a client talking to several providers knows which one answered).
pub fn code_redirect(redirect_uri: &str, code: &str, state: Option<&str>, iss: &str) -> String {
    let mut p = vec![("code", code)];
    if let Some(s) = state {
        p.push(("state", s));
    }
    p.push(("iss", iss));
    with_query(redirect_uri, &p)
}

/// An error answer at a trusted redirect URI (RFC 6749 §4.1.2.1).
pub fn error_redirect(
    redirect_uri: &str,
    state: Option<&str>,
    error: &OAuthError,
    iss: &str,
) -> String {
    let mut p = vec![
        ("error", error.code.as_str()),
        ("error_description", error.description.as_str()),
    ];
    if let Some(s) = state {
        p.push(("state", s));
    }
    p.push(("iss", iss));
    with_query(redirect_uri, &p)
}
