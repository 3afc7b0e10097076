//! `tessera serve`: the HTTP server, with graceful shutdown.

use crate::config::Config;
use crate::wiring;
use anyhow::Context;
use std::time::Duration;
use tessera_web::{AppState, WebConfig};
use tracing_subscriber::EnvFilter;

fn init_logging(cfg: &Config) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&cfg.log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Logs go to stderr; stdout carries only the "listening on" line.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if cfg.log.format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

pub async fn run(cfg: Config) -> anyhow::Result<()> {
    // A mail template override that cannot work stops the server before it
    // touches anything (the worker loads them again when it starts).
    if cfg.email.provider != "none" {
        wiring::mail_templates(&cfg).map_err(anyhow::Error::msg)?;
    }
    init_logging(&cfg);
    let prometheus = tessera_web::install_recorder().map_err(anyhow::Error::msg)?;
    // The exporter keeps every latency sample until drained; drain often so
    // memory stays flat whether or not anyone scrapes metrics.
    let upkeep = {
        let handle = prometheus.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                handle.run_upkeep();
            }
        })
    };
    let listener = tokio::net::TcpListener::bind(cfg.listen_addr().map_err(anyhow::Error::msg)?)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen))?;
    let local = listener.local_addr()?;
    let metrics_listener = match cfg.metrics_addr().map_err(anyhow::Error::msg)? {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen for metrics on {addr}"))?,
        ),
        None => None,
    };
    let public_url = cfg.public_url_for(local);
    let core = wiring::build_core(&cfg, cfg.hash_workers(), cfg.hash_queue(), &public_url).await?;
    if core.config.two_step.legacy_login {
        tracing::warn!(
            "LEGACY LOGIN IS ON: two-step verification is skipped at sign-in for every account. \
             This degrades security; turn two_step.legacy_login off as soon as possible."
        );
    }
    // Text messages and mail: started before the server answers, so codes
    // queued by the first requests go out; stopped after the last request
    // finished.
    let sms = wiring::sms_worker(&cfg, &core)?.map(|w| w.spawn());
    let email = wiring::email_worker(&cfg, &core)?.map(|w| w.spawn());
    let web = WebConfig {
        public_url: public_url.clone(),
        allowed_origins: cfg.http.allowed_origins.clone(),
        body_limit_bytes: cfg.http.body_limit_bytes,
        trusted_proxies: cfg.trusted_proxies().map_err(anyhow::Error::msg)?,
    };
    let state = AppState::new(core.clone(), web, prometheus);
    tracing::info!(
        backend = core.store.backend(),
        hash_workers = cfg.hash_workers(),
        "tessera listening on http://{local} (public URL {public_url})"
    );
    // Signal handlers are installed before we announce readiness, so a
    // SIGTERM sent right after the announcement is never lost.
    let signal = shutdown_signal()?;
    // One signal stops both listeners; if the main server fails, the sender
    // is dropped and the metrics listener stops as well.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(());
    let shutdown = async move {
        signal.await;
        let _ = stop_tx.send(());
    };
    let metrics = match metrics_listener {
        Some(l) => {
            let addr = l.local_addr()?;
            let mut stop = stop_rx;
            let task = tokio::spawn(tessera_web::run_metrics(l, state.clone(), async move {
                let _ = stop.changed().await;
            }));
            // Printed before the main line, so whoever waits for that one
            // has seen this one too.
            println!("metrics listening on http://{addr}");
            Some(task)
        }
        None => None,
    };
    // Tests and scripts read this line to find the port.
    println!("listening on http://{local}");

    let sweeper = tokio::spawn(sweep_sessions(core));
    tessera_web::run(listener, state, shutdown)
        .await
        .context("server failed")?;
    if let Some(task) = metrics {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "metrics listener failed"),
            Err(e) => tracing::warn!(error = %e, "metrics listener panicked"),
        }
    }
    sweeper.abort();
    upkeep.abort();
    if let Some(sms) = sms {
        // Sends in flight end within the webhook's 10 s timeout.
        sms.shutdown(Duration::from_secs(15)).await;
    }
    if let Some(email) = email {
        // What is still in flight after this is sent again after its lease.
        email.shutdown(Duration::from_secs(15)).await;
    }
    tracing::info!("tessera stopped");
    Ok(())
}

/// Deletes expired sessions every ten minutes. Expiry is enforced on every
/// use regardless; this only keeps the table small.
async fn sweep_sessions(core: tessera_core::service::Core) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tick.tick().await;
        match core.sweep_expired_sessions().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "expired sessions removed"),
            Err(e) => tracing::warn!(error = %e, "session sweep failed"),
        }
    }
}

/// Resolves on SIGINT or SIGTERM. The handlers are registered now, not on
/// first poll.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        tracing::info!("shutting down: finishing in-flight requests");
    })
}
