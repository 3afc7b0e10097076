//! `tessera admin oidc-key …` and `tessera admin oidc-client …`: the
//! OpenID Connect provider's signing keys and clients, from the server
//! host.

use crate::admin::host;
use clap::Subcommand;
use tessera_core::oidc::client::OidcClient;
use tessera_core::service::{Core, OidcClientInput, Sysadmin};

#[derive(Subcommand)]
pub enum OidcKeyCommand {
    /// Replace the signing keys now. The old ones stay published until
    /// every token they signed has expired.
    Rotate,
    /// List the published signing keys.
    List,
}

#[derive(Subcommand)]
pub enum OidcClientCommand {
    /// Register a client; prints its id and, for a confidential client,
    /// its secret (once).
    Create {
        #[arg(long)]
        name: String,
        /// A redirect URI, exactly as the client will send it (repeat for more).
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// Where users may be sent after signing out (repeat for more).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// A public client (no secret; PKCE S256 required).
        #[arg(long)]
        public: bool,
        /// The company's own application: no consent page.
        #[arg(long)]
        first_party: bool,
        /// A scope it may ask for (repeat for more); default openid, profile, email.
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
    /// List clients (never their secrets).
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Give a confidential client a new secret; prints it (once).
    RotateSecret {
        /// The client id.
        #[arg(long)]
        id: String,
    },
    /// Delete a client.
    Delete {
        /// The client id.
        #[arg(long)]
        id: String,
    },
}

pub async fn keys(core: &Core, admin: &Sysadmin, cmd: OidcKeyCommand) -> anyhow::Result<()> {
    match cmd {
        OidcKeyCommand::Rotate => {
            let kids = core.rotate_signing_keys(admin, &host()).await?;
            println!("new signing keys: {}", kids.join(" "));
        }
        OidcKeyCommand::List => {
            for k in core.signing_keys().await? {
                let state = match k.retired_at {
                    None => "active".to_string(),
                    Some(t) => format!("retired {}", t.to_rfc3339()),
                };
                println!(
                    "{}  {:<6} created {}  {}",
                    k.kid,
                    k.alg,
                    k.created_at.to_rfc3339(),
                    state
                );
            }
        }
    }
    Ok(())
}

fn client_id(raw: &str) -> anyhow::Result<tessera_core::oidc::client::OidcClientId> {
    raw.parse()
        .map_err(|_| anyhow::anyhow!("{raw:?} is not a client id"))
}

fn scopes(c: &OidcClient) -> String {
    tessera_core::oidc::client::scopes_to_text(&c.scopes)
}

pub async fn clients(core: &Core, admin: &Sysadmin, cmd: OidcClientCommand) -> anyhow::Result<()> {
    match cmd {
        OidcClientCommand::Create {
            name,
            redirect_uris,
            post_logout_redirect_uris,
            public,
            first_party,
            scopes,
        } => {
            let input = OidcClientInput {
                name,
                redirect_uris,
                post_logout_redirect_uris,
                public,
                first_party,
                scopes: (!scopes.is_empty()).then_some(scopes),
            };
            let r = core.create_oidc_client(admin, input, &host()).await?;
            println!("client_id {}", r.client.id);
            if let Some(secret) = r.secret {
                eprintln!("The client secret, shown this once:");
                println!("client_secret {secret}");
            }
        }
        OidcClientCommand::List { json } => {
            for c in core.list_oidc_clients(admin).await? {
                if json {
                    println!(
                        "{}",
                        serde_json::json!({
                            "client_id": c.id.to_string(), "name": c.name,
                            "redirect_uris": c.redirect_uris,
                            "post_logout_redirect_uris": c.post_logout_redirect_uris,
                            "public": c.public, "first_party": c.first_party,
                            "scopes": c.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                        })
                    );
                } else {
                    println!(
                        "{}  {:<30} {:<12} {}  {}",
                        c.id,
                        c.name,
                        if c.public { "public" } else { "confidential" },
                        scopes(&c),
                        c.redirect_uris.join(" ")
                    );
                }
            }
        }
        OidcClientCommand::RotateSecret { id } => {
            let r = core
                .rotate_oidc_client_secret(admin, client_id(&id)?, &host())
                .await?;
            eprintln!("The new client secret, shown this once:");
            println!("client_secret {}", r.secret.unwrap_or_default());
        }
        OidcClientCommand::Delete { id } => {
            let c = core
                .delete_oidc_client(admin, client_id(&id)?, &host())
                .await?;
            println!("deleted {} ({})", c.id, c.name);
        }
    }
    Ok(())
}
