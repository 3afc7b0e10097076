//! `tessera admin …`, `recover-account` and `migrate`: maintenance from the
//! server host, working on the database directly (no server needed).

use crate::config::Config;
use crate::wiring;
use anyhow::{Context, bail};
use clap::Subcommand;
use std::io::Read;
use tessera_core::account::{AccountKind, Role};
use tessera_core::audit::{AuditFilter, AuditKind};
use tessera_core::password::Password;
use tessera_core::service::{Core, NewAccountInput, RequestContext, Sysadmin};

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create an account.
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "member", value_parser = ["member", "org-admin", "sysadmin"])]
        role: String,
        #[arg(long, default_value = "human", value_parser = ["human", "service"])]
        kind: String,
        #[arg(long, default_value = "")]
        display_name: String,
        /// Read the initial password from standard input (first line).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change an account's role (ends its sessions).
    SetRole {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = ["member", "org-admin", "sysadmin"])]
        role: String,
    },
    /// Deactivate an account and end its sessions.
    Deactivate {
        #[arg(long)]
        email: String,
    },
    /// Lift an account's password-guessing pause (after 100 wrong
    /// passwords in a row) and every other guessing block it has.
    ClearThrottle {
        #[arg(long)]
        email: String,
    },
    /// List accounts.
    ListUsers {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// API tokens: create (service accounts), list, revoke.
    Token {
        #[command(subcommand)]
        cmd: TokenCommand,
    },
    /// Service accounts: create, list, delete.
    ServiceAccount {
        #[command(subcommand)]
        cmd: ServiceAccountCommand,
    },
    /// Organizations: export their external users.
    Org {
        #[command(subcommand)]
        cmd: OrgCommand,
    },
    /// The OpenID Connect provider's signing keys: rotate, list.
    OidcKey {
        #[command(subcommand)]
        cmd: crate::admin_oidc::OidcKeyCommand,
    },
    /// OpenID Connect clients: create, list, rotate-secret, delete.
    OidcClient {
        #[command(subcommand)]
        cmd: crate::admin_oidc::OidcClientCommand,
    },
    /// Print audit events, newest first.
    Audit {
        /// Only this kind, e.g. signin.failed.
        #[arg(long)]
        kind: Option<String>,
        /// Only events about this account.
        #[arg(long)]
        email: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a token for a service account; prints the secret (once).
    Create {
        /// The service account's address.
        #[arg(long)]
        email: String,
        #[arg(long)]
        label: String,
        /// Days until it expires, 1 to 365 (default 365).
        #[arg(long)]
        days: Option<i64>,
        /// A scope (repeat for more); default: every configured scope.
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
    /// List an account's tokens (never the secrets).
    List {
        #[arg(long)]
        email: String,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by its id.
    Revoke {
        #[arg(long)]
        id: String,
    },
}

#[derive(Subcommand)]
pub enum OrgCommand {
    /// Write the organization's external users as CSV (the columns of
    /// `GET …/external-users.csv`), with a progress bar on a terminal.
    ExportExternalUsers {
        /// The organization's id or name.
        #[arg(long)]
        org: String,
        /// Write to this file instead of standard output.
        #[arg(long)]
        output: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum ServiceAccountCommand {
    /// Create a service account (its address is under service.invalid).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long, default_value = "member", value_parser = ["member", "org-admin", "sysadmin"])]
        role: String,
    },
    /// List service accounts.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Delete a service account and its tokens.
    Delete {
        #[arg(long)]
        email: String,
    },
}

/// The host operator's context: no client address.
pub(crate) fn host() -> RequestContext {
    RequestContext {
        ip: None,
        user_agent: Some("tessera-cli".into()),
        device_token: None,
    }
}

async fn core(cfg: &Config) -> anyhow::Result<Core> {
    // One hash worker is plenty for a CLI command.
    wiring::build_core(cfg, 1, 4, &cfg.public_url()).await
}

pub async fn run(cfg: Config, cmd: AdminCommand) -> anyhow::Result<()> {
    let core = core(&cfg).await?;
    let admin = Sysadmin::host_operator();
    match cmd {
        AdminCommand::CreateUser {
            email,
            role,
            kind,
            display_name,
            password_stdin,
        } => {
            let password = if password_stdin {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .context("cannot read the password from standard input")?;
                let line = s.lines().next().unwrap_or("").to_string();
                if line.is_empty() {
                    bail!("no password on standard input");
                }
                Some(Password::new(line))
            } else {
                None
            };
            let input = NewAccountInput {
                email,
                display_name,
                kind: kind.parse::<AccountKind>().map_err(anyhow::Error::msg)?,
                role: role.parse::<Role>().map_err(anyhow::Error::msg)?,
                password,
            };
            let a = core.create_account(&admin, input, &host()).await?;
            println!("created {} {} ({}, {})", a.id, a.email, a.kind, a.role);
        }
        AdminCommand::SetRole { email, role } => {
            let a = core.find_account(&admin, &email).await?;
            let role = role.parse::<Role>().map_err(anyhow::Error::msg)?;
            let a = core.set_role(&admin, a.id, role, &host()).await?;
            println!("{} is now {}", a.email, a.role);
        }
        AdminCommand::Deactivate { email } => {
            let a = core.find_account(&admin, &email).await?;
            let a = core.deactivate(&admin, a.id, &host()).await?;
            println!("{} is deactivated and signed out everywhere", a.email);
        }
        AdminCommand::ClearThrottle { email } => {
            let a = core.find_account(&admin, &email).await?;
            let n = core.clear_throttle(&admin, a.id, &host()).await?;
            println!("{}: guessing blocks lifted ({n} counters cleared)", a.email);
        }
        AdminCommand::ListUsers { json } => {
            let mut offset = 0;
            loop {
                let (page, total) = core.list_accounts(&admin, offset, 500).await?;
                for a in &page {
                    if json {
                        println!(
                            "{}",
                            serde_json::json!({
                                "id": a.id.to_string(), "email": a.email.as_str(),
                                "display_name": a.display_name, "kind": a.kind.as_str(),
                                "role": a.role.as_str(), "active": a.active,
                            })
                        );
                    } else {
                        println!(
                            "{}  {:<40} {:<8} {:<10} {}",
                            a.id,
                            a.email,
                            a.kind,
                            a.role,
                            if a.active { "active" } else { "deactivated" }
                        );
                    }
                }
                offset += page.len() as u32;
                if page.is_empty() || u64::from(offset) >= total {
                    break;
                }
            }
        }
        AdminCommand::Token { cmd } => tokens(&core, &admin, cmd).await?,
        AdminCommand::ServiceAccount { cmd } => service_accounts(&core, &admin, cmd).await?,
        AdminCommand::OidcKey { cmd } => crate::admin_oidc::keys(&core, &admin, cmd).await?,
        AdminCommand::OidcClient { cmd } => crate::admin_oidc::clients(&core, &admin, cmd).await?,
        AdminCommand::Org { cmd } => match cmd {
            OrgCommand::ExportExternalUsers { org, output } => {
                crate::export::external_users(&core, &admin, &org, output.as_deref(), &host())
                    .await?
            }
        },
        AdminCommand::Audit {
            kind,
            email,
            limit,
            json,
        } => {
            let subject = match email {
                Some(e) => Some(core.find_account(&admin, &e).await?.id),
                None => None,
            };
            let filter = AuditFilter {
                kind: kind
                    .as_deref()
                    .map(str::parse::<AuditKind>)
                    .transpose()
                    .map_err(anyhow::Error::msg)?,
                subject,
                limit,
                ..Default::default()
            };
            for e in core.audit_events(&admin, filter).await? {
                let fmt_id = |a: Option<tessera_core::ids::AccountId>| {
                    a.map(|a| a.to_string()).unwrap_or_else(|| "-".into())
                };
                if json {
                    println!(
                        "{}",
                        serde_json::json!({
                            "id": e.id, "at": e.at.to_rfc3339(), "kind": e.kind,
                            "actor_id": e.actor.map(|a| a.to_string()),
                            "subject_id": e.subject.map(|a| a.to_string()),
                            "ip": e.ip,
                            "detail": serde_json::from_str::<serde_json::Value>(&e.detail).unwrap_or_default(),
                        })
                    );
                } else {
                    println!(
                        "{}  {:<26} actor={} subject={} ip={} {}",
                        e.at.to_rfc3339(),
                        e.kind,
                        fmt_id(e.actor),
                        fmt_id(e.subject),
                        e.ip.as_deref().unwrap_or("-"),
                        e.detail
                    );
                }
            }
        }
    }
    Ok(())
}

async fn tokens(core: &Core, admin: &Sysadmin, cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create {
            email,
            label,
            days,
            scopes,
        } => {
            let a = core.find_account(admin, &email).await?;
            let req = tessera_core::apitoken::TokenRequest {
                label,
                expires_in_days: days,
                scopes: (!scopes.is_empty()).then_some(scopes),
            };
            let issued = core
                .create_service_token_on_host(a.id, req, &host())
                .await?;
            eprintln!(
                "API token {} for {} (scopes {}), expires {}. It is shown only now:",
                issued.record.id,
                a.email,
                issued.record.scopes.join(" "),
                issued.record.expires_at.to_rfc3339()
            );
            println!("{}", issued.token);
        }
        TokenCommand::List { email, json } => {
            let a = core.find_account(admin, &email).await?;
            for t in core.api_tokens_of(admin, a.id).await? {
                let last = t.last_used_at.map(|x| x.to_rfc3339());
                if json {
                    println!(
                        "{}",
                        serde_json::json!({
                            "id": t.id.to_string(), "label": t.label, "scopes": t.scopes,
                            "created_at": t.created_at.to_rfc3339(),
                            "expires_at": t.expires_at.to_rfc3339(),
                            "last_used_at": last, "last_used_ip": t.last_used_ip,
                        })
                    );
                } else {
                    println!(
                        "{}  {:<30} {:<12} expires {}  last used {}",
                        t.id,
                        t.label,
                        t.scopes.join(","),
                        t.expires_at.to_rfc3339(),
                        last.as_deref().unwrap_or("never")
                    );
                }
            }
        }
        TokenCommand::Revoke { id } => {
            let id = id
                .parse()
                .map_err(|_| anyhow::anyhow!("{id:?} is not an API token id"))?;
            let t = core.revoke_api_token(admin, id, &host()).await?;
            println!("revoked {} ({})", t.id, t.label);
        }
    }
    Ok(())
}

async fn service_accounts(
    core: &Core,
    admin: &Sysadmin,
    cmd: ServiceAccountCommand,
) -> anyhow::Result<()> {
    match cmd {
        ServiceAccountCommand::Create {
            name,
            description,
            role,
        } => {
            let input = tessera_core::service::ServiceAccountInput {
                name,
                description,
                role: Some(role.parse::<Role>().map_err(anyhow::Error::msg)?),
            };
            let sa = core.create_service_account(admin, input, &host()).await?;
            println!(
                "created {} {} ({})",
                sa.account.id, sa.account.email, sa.account.display_name
            );
        }
        ServiceAccountCommand::List { json } => {
            for sa in core.list_service_accounts(admin).await? {
                let a = &sa.account;
                if json {
                    println!(
                        "{}",
                        serde_json::json!({
                            "id": a.id.to_string(), "email": a.email.as_str(),
                            "name": a.display_name, "description": sa.description,
                            "role": a.role.as_str(), "active": a.active,
                        })
                    );
                } else {
                    println!(
                        "{}  {:<50} {:<30} {}",
                        a.id, a.email, a.display_name, sa.description
                    );
                }
            }
        }
        ServiceAccountCommand::Delete { email } => {
            let a = core.find_account(admin, &email).await?;
            core.delete_service_account(admin, a.id, &host()).await?;
            println!("deleted {} and its API tokens", a.email);
        }
    }
    Ok(())
}

pub async fn recover_account(cfg: Config, email: &str) -> anyhow::Result<()> {
    let core = core(&cfg).await?;
    let pw = core
        .issue_break_glass(&Sysadmin::host_operator(), email)
        .await?;
    eprintln!(
        "One-time password for {email}. It works for one sign-in within {} minutes:",
        core.config.break_glass_ttl_secs / 60
    );
    println!("{pw}");
    Ok(())
}

pub async fn migrate(cfg: Config) -> anyhow::Result<()> {
    let core = core(&cfg).await?;
    println!("database schema is up to date ({})", core.store.backend());
    Ok(())
}
