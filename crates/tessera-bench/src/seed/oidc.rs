//! What the OpenID Connect scenarios need in the database before the
//! server starts: a live session for every seeded account, one
//! confidential client with a known secret, and grants whose codes the
//! harness knows, as if each user had just authorized the client.

use std::sync::Arc;
use tessera_core::clock::Timestamp;
use tessera_core::ids::{AccountId, SessionId};
use tessera_core::oidc::client::{OidcClient, OidcClientId, OidcScope};
use tessera_core::oidc::grant::{CODE_PREFIX, OidcGrant, OidcGrantId};
use tessera_core::secrets::{random_token, token_hash};
use tessera_core::session::{Aal, AuthMethod, ClientKind, Session};
use tessera_core::store::{Effects, NewSession, Store};

/// Where every seeded code was "sent"; each token request names it.
pub const REDIRECT_URI: &str = "https://rp.bench.example/callback";

/// How long a seeded code stays redeemable. Core checks expiry against
/// the server's real clock, so the window has to hold the whole run
/// (seeding included), not the 60 seconds a real code gets.
const CODE_WINDOW_SECS: i64 = 6 * 3600;

#[allow(clippy::disallowed_methods)] // codes and sessions must be live by the server's real clock
fn now() -> Timestamp {
    tessera_core::Clock::now(&tessera_core::SystemClock)
}

/// The client and the users a scenario's grants are for.
pub struct OidcFixture {
    pub client_id: OidcClientId,
    pub client_secret: String,
    /// Every seeded account with its live session.
    holders: Vec<(AccountId, SessionId)>,
}

impl OidcFixture {
    /// Gives every account already in `store` a live session, and
    /// registers the client.
    pub async fn seed(store: &Arc<dyn Store>) -> anyhow::Result<OidcFixture> {
        let t = now();
        let mut holders = Vec::new();
        let mut offset = 0u32;
        loop {
            let page = store.list_accounts(offset, 10_000).await?;
            if page.is_empty() {
                break;
            }
            offset += page.len() as u32;
            let batch: Vec<NewSession> = page.iter().map(|a| live_session(a.id, t)).collect();
            store.insert_sessions(&batch).await?;
            holders.extend(batch.iter().map(|s| (s.session.account_id, s.session.id)));
        }
        if holders.is_empty() {
            anyhow::bail!("seed accounts before the OIDC fixture");
        }
        let client = OidcClient {
            id: OidcClientId(uuid::Uuid::new_v4()),
            name: "bench relying party".into(),
            redirect_uris: vec![REDIRECT_URI.into()],
            post_logout_redirect_uris: Vec::new(),
            public: false,
            first_party: true,
            scopes: tessera_core::oidc::client::default_scopes(),
            created_by: None,
            created_at: t,
            updated_at: t,
        };
        let client_secret = tessera_core::oidc::client::generate_secret(&tessera_core::OsSecrets);
        store
            .insert_oidc_client_with(&client, Some(&token_hash(&client_secret)), &Effects::none())
            .await?;
        Ok(OidcFixture {
            client_id: client.id,
            client_secret,
            holders,
        })
    }

    /// Inserts `n` grants spread over the accounts, `concurrency` inserts
    /// at a time (one commit each, like the server's own writes), and
    /// returns their codes.
    pub async fn grants(
        &self,
        store: &Arc<dyn Store>,
        n: usize,
        concurrency: usize,
    ) -> anyhow::Result<Vec<String>> {
        let t = now();
        let todo: Vec<(OidcGrant, String)> = (0..n)
            .map(|k| {
                let (account, session) = self.holders[k % self.holders.len()];
                let code = format!(
                    "{CODE_PREFIX}{}",
                    random_token(&tessera_core::OsSecrets, 32)
                );
                (self.grant(account, session, t), code)
            })
            .collect();
        let codes: Vec<String> = todo.iter().map(|(_, c)| c.clone()).collect();
        let todo = Arc::new(todo);
        let workers = concurrency.clamp(1, n.max(1));
        let mut tasks = Vec::with_capacity(workers);
        for w in 0..workers {
            let (store, todo) = (store.clone(), todo.clone());
            tasks.push(tokio::spawn(async move {
                for (grant, code) in todo.iter().skip(w).step_by(workers) {
                    store.insert_oidc_grant(grant, &token_hash(code)).await?;
                }
                Ok::<(), anyhow::Error>(())
            }));
        }
        for task in tasks {
            task.await??;
        }
        Ok(codes)
    }

    /// A grant as the authorization endpoint writes it for a password
    /// session asking for `openid profile email` with a nonce and no PKCE
    /// challenge (a confidential client proves itself with its secret).
    fn grant(&self, account: AccountId, session: SessionId, t: Timestamp) -> OidcGrant {
        OidcGrant {
            id: OidcGrantId(uuid::Uuid::new_v4()),
            client_id: self.client_id,
            account_id: account,
            session_id: Some(session),
            redirect_uri: REDIRECT_URI.into(),
            scopes: vec![OidcScope::OpenId, OidcScope::Profile, OidcScope::Email],
            nonce: Some(random_token(&tessera_core::OsSecrets, 16)),
            code_challenge: None,
            auth_time: t,
            aal: Aal::Aal1,
            methods: vec![AuthMethod::Password],
            created_at: t,
            code_expires_at: t.plus_secs(CODE_WINDOW_SECS),
            code_used_at: None,
            revoked_at: None,
        }
    }
}

/// A web session verified now that outlives any run; nobody holds its
/// token (the grants name it by id).
fn live_session(account: AccountId, t: Timestamp) -> NewSession {
    let token = random_token(&tessera_core::OsSecrets, 32);
    NewSession {
        session: Session {
            id: SessionId(uuid::Uuid::new_v4()),
            account_id: account,
            client: ClientKind::Web,
            aal: Aal::Aal1,
            methods: vec![AuthMethod::Password],
            created_at: t,
            verified_at: t,
            last_seen_at: t,
            expires_at: t.plus_secs(7 * 86_400),
            ip: Some("127.0.0.1".into()),
            device: "tessera-bench".into(),
            restricted: false,
        },
        token_hash: token_hash(&token),
    }
}
