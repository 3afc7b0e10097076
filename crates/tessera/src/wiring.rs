//! Builds the domain from configuration: store, clock, randomness, pool.

use crate::config::Config;
use anyhow::Context;
use std::sync::Arc;
use tessera_core::email::Email;
use tessera_core::email_code::EmailCodeConfig;
use tessera_core::password::throttle::ThrottlePolicy;
use tessera_core::password::{Argon2Config, HashPool, PasswordPolicy, PoolSize};
use tessera_core::service::{BasicAuthConfig, Core, CoreConfig, TwoStepConfig};
use tessera_core::session::SessionPolicy;
use tessera_core::store::OutboxStore;
use tessera_core::{OsSecrets, SystemClock};
use tessera_notify::{
    EmailChannel, EmailProvider, FileSink, MailFiles, MailTemplates, OutboxWorker, RetryPolicy,
    SmsProvider, SmtpMailer, WebhookSms, WorkerConfig,
};

/// Core's settings: core's defaults ([`CoreConfig::default`]) with what
/// the configuration sets on top. Every default lives in core.
pub fn core_config(cfg: &Config, public_url: &str) -> CoreConfig {
    let defaults = CoreConfig::default();
    CoreConfig {
        relying_party: cfg.relying_party(public_url),
        password_policy: password_policy(cfg),
        session_policy: session_policy(cfg),
        signup_enabled: cfg.signup_enabled.unwrap_or(defaults.signup_enabled),
        two_step: two_step_config(cfg),
        throttle: throttle_policy(cfg),
        basic_auth: basic_auth(cfg),
        api_tokens: api_token_policy(cfg),
        // Checked at start (`Config::validate`); a bad value cannot get here.
        email_codes: email_code_config(cfg).unwrap_or(defaults.email_codes),
        public_url: public_url.trim_end_matches('/').to_string(),
        oidc: oidc_config(cfg),
        ..defaults
    }
}

/// Core's emailed-code settings: `email_code.at_signin`, and whether mail
/// leaves the server at all (`email.provider` is not `none`).
pub fn email_code_config(cfg: &Config) -> Result<EmailCodeConfig, String> {
    let defaults = EmailCodeConfig::default();
    Ok(EmailCodeConfig {
        at_signin: match &cfg.email_code.at_signin {
            Some(v) => v.parse()?,
            None => defaults.at_signin,
        },
        mail_delivered: cfg.email.provider != "none",
    })
}

/// Core's password length limits with the configured overrides.
pub fn password_policy(cfg: &Config) -> PasswordPolicy {
    let mut p = PasswordPolicy::default();
    let s = &cfg.password;
    if let Some(n) = s.min_length {
        p.min_len = n;
    }
    if let Some(n) = s.max_length {
        p.max_len = n;
    }
    p
}

/// Core's Argon2id parameters with the configured overrides.
pub fn argon2_config(cfg: &Config) -> Argon2Config {
    let mut a = Argon2Config::default();
    let s = &cfg.password;
    if let Some(n) = s.argon2_memory_kib {
        a.memory_kib = n;
    }
    if let Some(n) = s.argon2_iterations {
        a.iterations = n;
    }
    if let Some(n) = s.argon2_parallelism {
        a.parallelism = n;
    }
    a
}

/// Core's hash pool size with the configured overrides (0 counts as unset,
/// as it always has).
pub fn pool_size(cfg: &Config) -> PoolSize {
    let set = |n: Option<usize>| n.filter(|&n| n > 0);
    PoolSize::new(set(cfg.hashing.workers), set(cfg.hashing.queue))
}

/// Core's session lifetimes with the configured overrides.
pub fn session_policy(cfg: &Config) -> SessionPolicy {
    let mut p = SessionPolicy::default();
    let s = &cfg.session;
    if let Some(m) = s.absolute_minutes {
        p.absolute_secs = m.saturating_mul(60);
    }
    if let Some(m) = s.idle_minutes {
        p.idle_secs = m.saturating_mul(60);
    }
    p
}

/// Core's two-step settings with the configured overrides.
pub fn two_step_config(cfg: &Config) -> TwoStepConfig {
    let mut t = TwoStepConfig::default();
    let s = &cfg.two_step;
    if let Some(m) = s.step_up_window_minutes {
        t.step_up_window_secs = m.saturating_mul(60);
    }
    if let Some(on) = s.enforce_for_admins {
        t.enforce_for_admins = on;
    }
    if let Some(on) = s.legacy_login {
        t.legacy_login = on;
    }
    if let Some(issuer) = &s.issuer {
        t.issuer = issuer.clone();
    }
    if let Some(n) = s.tolerated_failures {
        t.backoff.tolerated = n;
    }
    t
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

/// Core's Basic authentication settings with the configured overrides.
/// The allowlist was checked at load, so nothing valid is dropped here.
fn basic_auth(cfg: &Config) -> BasicAuthConfig {
    let mut b = BasicAuthConfig::default();
    let s = &cfg.basic_auth;
    if let Some(on) = s.password_enabled {
        b.password_enabled = on;
    }
    if let Some(list) = &s.allowlist {
        b.allowlist = list.iter().filter_map(|e| Email::parse(e).ok()).collect();
    }
    b
}

/// The scopes API tokens may carry: core's default unless configured.
pub fn api_token_policy(cfg: &Config) -> tessera_core::apitoken::TokenPolicy {
    let mut p = tessera_core::apitoken::TokenPolicy::default();
    if let Some(scopes) = &cfg.api_tokens.scopes {
        p.scopes = scopes.clone();
    }
    p
}

/// Core's OpenID Connect settings with the configured key rotation period.
pub fn oidc_config(cfg: &Config) -> tessera_core::oidc::OidcConfig {
    let mut c = tessera_core::oidc::OidcConfig::default();
    if let Some(days) = cfg.oidc.key_rotation_days {
        c.key_rotation_secs = days * 86_400;
    }
    c
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
    let nameservers = cfg.dns_nameservers().map_err(anyhow::Error::msg)?;
    let core = Core::new(
        store,
        Arc::new(SystemClock),
        Arc::new(OsSecrets),
        Arc::new(pool),
        Arc::new(secret_box),
        core_config(cfg, public_url),
    );
    Ok(match crate::dns::Dns::new(&nameservers) {
        Ok(dns) => core.with_dns(Arc::new(dns)),
        Err(e) => {
            tracing::warn!(error = %e, "no DNS resolver: domains can only be verified by a sysadmin without DNS");
            core
        }
    })
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
        OutboxWorker::sms(store, provider, core.secret_box.clone(), core.clock.clone())
            .with_wake(core.outbox_wake.clone()),
    ))
}

/// The mail templates in effect: the built-in ones with the operator's
/// overrides from `<data_dir>/templates/`, checked.
pub fn mail_templates(cfg: &Config) -> Result<MailTemplates, String> {
    MailTemplates::load(&cfg.mail_templates_dir()).map_err(|e| e.to_string())
}

/// The mail delivery worker for `email.provider`, not yet started; `None`
/// for `none` (mail then stays queued). It shares `core.outbox_wake` with
/// the text-message worker: one wake reaches both.
pub fn email_worker(cfg: &Config, core: &Core) -> anyhow::Result<Option<OutboxWorker>> {
    let provider: Arc<dyn EmailProvider> = match cfg.email.provider.as_str() {
        "none" => {
            tracing::warn!(
                "email.provider is \"none\": mail is queued but not sent; no emailed codes are asked at sign-in, and step-up takes the password"
            );
            return Ok(None);
        }
        "smtp" => {
            let smtp = cfg.smtp().map_err(anyhow::Error::msg)?;
            tracing::info!(server = %smtp.display_url(), "mail goes to the SMTP server");
            Arc::new(SmtpMailer::new(smtp))
        }
        _ => {
            let dir = cfg.mail_dir();
            tracing::warn!(
                "mail, codes included, is written to {} (email.provider \"file\", for \
                 development); set email.provider = \"smtp\" to send it",
                dir.display()
            );
            Arc::new(MailFiles::new(dir))
        }
    };
    let templates = mail_templates(cfg).map_err(anyhow::Error::msg)?;
    if !templates.overridden().is_empty() {
        tracing::info!(files = ?templates.overridden(), "mail templates overridden");
    }
    let from = cfg.mail_from().map_err(anyhow::Error::msg)?;
    let channel = EmailChannel::new(provider, Arc::new(templates), core.secret_box.clone(), from);
    let store: Arc<dyn OutboxStore> = core.store.clone();
    Ok(Some(
        OutboxWorker::new(store, Arc::new(channel), core.clock.clone())
            .with_config(WorkerConfig {
                // Above the SMTP timeouts (30 s to DATA, 60 s for the message).
                lease_ms: 180_000,
                retry: RetryPolicy::mail(),
                ..WorkerConfig::default()
            })
            .with_wake(core.outbox_wake.clone()),
    ))
}

/// The effective settings, for `config check` (no secrets).
pub fn describe(cfg: &Config) -> String {
    let db = match &cfg.database_url {
        Some(u) => tessera_store::redact_url(u),
        None => format!("sqlite in {}", cfg.data_dir.join("tessera.db").display()),
    };
    let core = core_config(cfg, &cfg.public_url());
    let argon2 = argon2_config(cfg);
    let pool = pool_size(cfg);
    format!(
        "data_dir = {}\nlisten = {}\npublic_url = {}\ndatabase = {db}\nsignup_enabled = {}\n\
         password = {}..{} chars, argon2id m={} KiB t={} p={}\nhashing = {} workers, queue {}\n\
         session = absolute {} min, idle {} min\nhttp.body_limit_bytes = {}\n\
         http.trusted_proxies = {}\nmetrics.listen = {}\nsms = {}\nemail = {}\nemail_code.at_signin = {}\n\
         api_tokens.scopes = {}",
        cfg.data_dir.display(),
        cfg.listen,
        cfg.public_url(),
        core.signup_enabled,
        core.password_policy.min_len,
        core.password_policy.max_len,
        argon2.memory_kib,
        argon2.iterations,
        argon2.parallelism,
        pool.workers,
        pool.queue,
        core.session_policy.absolute_secs / 60,
        core.session_policy.idle_secs / 60,
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
        describe_email(cfg),
        if core.email_codes.mail_delivered {
            core.email_codes.at_signin.to_string()
        } else {
            "off (email.provider is none: no codes are mailed; step-up takes the password)"
                .to_string()
        },
        core.api_tokens.scopes.join(" "),
    )
}

/// The mail settings, for `config check` (the password never appears).
fn describe_email(cfg: &Config) -> String {
    let from = cfg.mail_from().map(|m| m.to_string()).unwrap_or_else(|e| e);
    let templates = match mail_templates(cfg) {
        Ok(t) if t.overridden().is_empty() => "built-in templates".to_string(),
        Ok(t) => format!("templates overridden: {}", t.overridden().join(", ")),
        Err(e) => e,
    };
    match cfg.email.provider.as_str() {
        "file" => format!("file {} from {from}, {templates}", cfg.mail_dir().display()),
        "smtp" => match cfg.smtp() {
            Ok(s) => format!("smtp {} from {from}, {templates}", s.display_url()),
            Err(e) => e,
        },
        other => format!("{other} (nothing is sent)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Overrides, load};

    fn from_env(pairs: &[(&str, &str)]) -> Result<Config, String> {
        let env: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        load(None, env.into_iter(), &Overrides::default())
    }

    #[test]
    fn unset_settings_are_cores_defaults() {
        let cfg = from_env(&[]).unwrap();
        let ours = core_config(&cfg, "http://localhost:8080");
        let core = CoreConfig::default();
        assert_eq!(ours.password_policy, core.password_policy);
        assert_eq!(ours.session_policy, core.session_policy);
        assert_eq!(ours.signup_enabled, core.signup_enabled);
        assert_eq!(ours.break_glass_ttl_secs, core.break_glass_ttl_secs);
        assert_eq!(ours.throttle, core.throttle);
        let (t, d) = (&ours.two_step, &core.two_step);
        assert_eq!(t.step_up_window_secs, d.step_up_window_secs);
        assert_eq!(t.flow_ttl_secs, d.flow_ttl_secs);
        assert_eq!(t.enrollment_ttl_secs, d.enrollment_ttl_secs);
        assert_eq!(t.backoff, d.backoff);
        assert_eq!(t.enforce_for_admins, d.enforce_for_admins);
        assert_eq!(t.legacy_login, d.legacy_login);
        assert_eq!(t.issuer, d.issuer);
        assert_eq!(
            ours.basic_auth.password_enabled,
            core.basic_auth.password_enabled
        );
        assert_eq!(ours.basic_auth.allowlist, core.basic_auth.allowlist);
        assert_eq!(ours.relying_party.rp_name, d.issuer);
        assert_eq!(argon2_config(&cfg), Argon2Config::default());
        assert_eq!(pool_size(&cfg), PoolSize::default());
    }

    #[test]
    fn a_setting_overrides_only_itself() {
        let cfg = from_env(&[
            ("TESSERA_TWO_STEP__TOLERATED_FAILURES", "3"),
            ("TESSERA_TWO_STEP__ISSUER", "Acme"),
            ("TESSERA_SESSION__IDLE_MINUTES", "5"),
            ("TESSERA_PASSWORD__ARGON2_ITERATIONS", "3"),
            ("TESSERA_HASHING__WORKERS", "3"),
            ("TESSERA_BASIC_AUTH__PASSWORD_ENABLED", "false"),
            ("TESSERA_SIGNUP_ENABLED", "true"),
        ])
        .unwrap();
        let c = core_config(&cfg, "http://localhost:8080");
        let d = CoreConfig::default();
        assert_eq!(c.two_step.backoff.tolerated, 3);
        assert_eq!(
            c.two_step.backoff.max_block_ms,
            d.two_step.backoff.max_block_ms
        );
        assert_eq!(c.two_step.issuer, "Acme");
        assert_eq!(c.relying_party.rp_name, "Acme");
        assert_eq!(
            c.two_step.step_up_window_secs,
            d.two_step.step_up_window_secs
        );
        assert_eq!(c.session_policy.idle_secs, 300);
        assert_eq!(
            c.session_policy.absolute_secs,
            d.session_policy.absolute_secs
        );
        assert_eq!(
            c.session_policy.touch_interval_secs,
            d.session_policy.touch_interval_secs
        );
        assert!(!c.basic_auth.password_enabled && c.signup_enabled);
        let a = argon2_config(&cfg);
        assert_eq!(a.iterations, 3);
        assert_eq!(a.memory_kib, Argon2Config::default().memory_kib);
        // The queue's default follows the workers set.
        assert_eq!(pool_size(&cfg), PoolSize::new(Some(3), None));
        assert_eq!(pool_size(&cfg).queue, 12);
        // 0 still means "core's default".
        let cfg = from_env(&[("TESSERA_HASHING__WORKERS", "0")]).unwrap();
        assert_eq!(pool_size(&cfg), PoolSize::default());
    }

    #[test]
    fn bounds_apply_to_the_effective_values() {
        // Only the minimum is set; core's maximum (128) is below it.
        let e = from_env(&[("TESSERA_PASSWORD__MIN_LENGTH", "200")]).unwrap_err();
        assert_eq!(
            e,
            "password.max_length must not be below password.min_length"
        );
        assert!(from_env(&[("TESSERA_TWO_STEP__STEP_UP_WINDOW_MINUTES", "0")]).is_err());
        assert!(from_env(&[("TESSERA_SESSION__ABSOLUTE_MINUTES", "0")]).is_err());
        assert!(from_env(&[("TESSERA_PASSWORD__ARGON2_MEMORY_KIB", "1024")]).is_err());
    }

    #[test]
    fn config_check_prints_cores_defaults_as_the_readme_lists_them() {
        let text = describe(&from_env(&[]).unwrap());
        assert!(text.contains("signup_enabled = false"), "{text}");
        assert!(
            text.contains("password = 8..128 chars, argon2id m=19456 KiB t=2 p=1"),
            "{text}"
        );
        assert!(
            text.contains("session = absolute 20160 min, idle 1440 min"),
            "{text}"
        );
        assert!(text.contains("api_tokens.scopes = read write"), "{text}");
        let size = PoolSize::default();
        assert!(
            text.contains(&format!(
                "hashing = {} workers, queue {}",
                size.workers, size.queue
            )),
            "{text}"
        );
    }
}
