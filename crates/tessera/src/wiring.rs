//! Builds the domain from configuration: store, clock, randomness, pool.

use crate::config::Config;
use anyhow::Context;
use std::sync::Arc;
use tessera_core::email::Email;
use tessera_core::password::throttle::ThrottlePolicy;
use tessera_core::password::{HashPool, PasswordPolicy};
use tessera_core::service::{BasicAuthConfig, Core, CoreConfig, TwoStepConfig};
use tessera_core::session::SessionPolicy;
use tessera_core::store::OutboxStore;
use tessera_core::twostep::backoff::BackoffPolicy;
use tessera_core::{OsSecrets, SystemClock};
use tessera_notify::{FileSink, OutboxWorker, SmsProvider, WebhookSms};

pub fn core_config(cfg: &Config, public_url: &str) -> CoreConfig {
    CoreConfig {
        relying_party: cfg.relying_party(public_url),
        password_policy: PasswordPolicy {
            min_len: cfg.password.min_length,
            max_len: cfg.password.max_length,
        },
        session_policy: SessionPolicy {
            absolute_secs: cfg.session.absolute_minutes * 60,
            idle_secs: cfg.session.idle_minutes * 60,
            touch_interval_secs: 60,
        },
        signup_enabled: cfg.signup_enabled,
        break_glass_ttl_secs: 3600,
        two_step: TwoStepConfig {
            step_up_window_secs: cfg.two_step.step_up_window_minutes * 60,
            enforce_for_admins: cfg.two_step.enforce_for_admins,
            legacy_login: cfg.two_step.legacy_login,
            issuer: cfg.two_step.issuer.clone(),
            backoff: BackoffPolicy {
                tolerated: cfg.two_step.tolerated_failures,
                ..BackoffPolicy::default()
            },
            ..TwoStepConfig::default()
        },
        throttle: throttle_policy(cfg),
        basic_auth: BasicAuthConfig {
            password_enabled: cfg.basic_auth.password_enabled,
            allowlist: cfg
                .basic_auth
                .allowlist
                .iter()
                .filter_map(|e| Email::parse(e).ok())
                .collect(),
        },
    }
}

/// Core's throttle defaults with the configured overrides.
fn throttle_policy(cfg: &Config) -> ThrottlePolicy {
    let mut p = ThrottlePolicy::default();
    let t = &cfg.password_throttle;
    if let Some(n) = t.tolerated_failures {
        p.account.tolerated = n;
    }
    if let Some(n) = t.address_tolerated_failures {
        p.address.tolerated = n;
    }
    p
}

/// Opens the database (migrating it) and starts the hash pool.
/// `public_url` is where clients reach this server (security keys are
/// bound to its host).
pub async fn build_core(
    cfg: &Config,
    workers: usize,
    queue: usize,
    public_url: &str,
) -> anyhow::Result<Core> {
    cfg.relying_party(public_url)
        .build()
        .map_err(anyhow::Error::msg)?;
    let store = tessera_store::open(cfg.database_url.as_deref(), &cfg.data_dir)
        .await
        .with_context(|| match &cfg.database_url {
            Some(u) => format!("cannot open database {}", tessera_store::redact_url(u)),
            None => format!("cannot open database in {}", cfg.data_dir.display()),
        })?;
    let secret_box = crate::keys::open_secret_box(cfg, &store).await?;
    let hasher = cfg.argon2().map_err(anyhow::Error::msg)?;
    let pool = HashPool::start_with(
        hasher,
        workers,
        queue,
        Arc::new(OsSecrets),
        Some(Arc::new(crate::alloc::lower_thread_priority)),
    )?;
    Ok(Core::new(
        store,
        Arc::new(SystemClock),
        Arc::new(OsSecrets),
        Arc::new(pool),
        Arc::new(secret_box),
        core_config(cfg, public_url),
    ))
}

/// The text-message delivery worker for `sms.provider`, not yet started;
/// `None` for `none` (messages then stay queued). It listens to
/// `core.outbox_wake`, which `Core::wake_outbox` pokes after a code is queued.
pub fn sms_worker(cfg: &Config, core: &Core) -> anyhow::Result<Option<OutboxWorker>> {
    let provider: Arc<dyn SmsProvider> = match cfg.sms.provider.as_str() {
        "none" => {
            tracing::warn!("sms.provider is \"none\": text messages are queued but not sent");
            return Ok(None);
        }
        "webhook" => {
            let hook = WebhookSms::new(cfg.sms_webhook().map_err(anyhow::Error::msg)?)?;
            tracing::info!(url = %hook.config().display_url(), "text messages go to the SMS webhook");
            Arc::new(hook)
        }
        _ => {
            let path = cfg.sms_log_path();
            tracing::warn!(
                "text messages, codes included, are written to {} (sms.provider \"file\", for \
                 development); set sms.provider = \"webhook\" to send them",
                path.display()
            );
            Arc::new(FileSink::new(path, core.clock.clone()))
        }
    };
    let store: Arc<dyn OutboxStore> = core.store.clone();
    Ok(Some(
        OutboxWorker::new(store, provider, core.secret_box.clone(), core.clock.clone())
            .with_wake(core.outbox_wake.clone()),
    ))
}

/// The effective settings, for `config check` (no secrets).
pub fn describe(cfg: &Config) -> String {
    let db = match &cfg.database_url {
        Some(u) => tessera_store::redact_url(u),
        None => format!("sqlite in {}", cfg.data_dir.join("tessera.db").display()),
    };
    format!(
        "data_dir = {}\nlisten = {}\npublic_url = {}\ndatabase = {db}\nsignup_enabled = {}\n\
         password = {}..{} chars, argon2id m={} KiB t={} p={}\nhashing = {} workers, queue {}\n\
         session = absolute {} min, idle {} min\nhttp.body_limit_bytes = {}\n\
         http.trusted_proxies = {}\nmetrics.listen = {}\nsms = {}",
        cfg.data_dir.display(),
        cfg.listen,
        cfg.public_url(),
        cfg.signup_enabled,
        cfg.password.min_length,
        cfg.password.max_length,
        cfg.password.argon2_memory_kib,
        cfg.password.argon2_iterations,
        cfg.password.argon2_parallelism,
        cfg.hash_workers(),
        cfg.hash_queue(),
        cfg.session.absolute_minutes,
        cfg.session.idle_minutes,
        cfg.http.body_limit_bytes,
        if cfg.http.trusted_proxies.is_empty() {
            "none (the TCP peer is the client)".to_string()
        } else {
            cfg.http.trusted_proxies.join(", ")
        },
        cfg.metrics.listen.as_deref().unwrap_or("off"),
        match cfg.sms.provider.as_str() {
            "file" => format!("file {}", cfg.sms_log_path().display()),
            "webhook" => match cfg.sms_webhook() {
                Ok(h) => format!("webhook {}", h.display_url()),
                Err(e) => e,
            },
            other => other.to_string(),
        },
    )
}
