//! Operational endpoints: liveness and readiness on the main listener;
//! metrics on their own listener (see [`metrics_router`]).

use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// Only `GET /metrics`: what the separate metrics listener serves, so the
/// numbers stay off the public port.
pub fn metrics_router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// The process is up.
async fn healthz() -> &'static str {
    "ok\n"
}

/// The database answers.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.core.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n")
        }
    }
}

/// The Prometheus text, with the hash pool's state read at scrape time.
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let pool = state.core.pool.stats();
    metrics::gauge!("tessera_hash_pool_queue_depth").set(pool.queued as f64);
    metrics::gauge!("tessera_hash_pool_workers").set(pool.workers as f64);
    metrics::gauge!("tessera_hash_pool_queue_capacity").set(pool.queue_capacity as f64);
    metrics::counter!("tessera_hash_pool_completed_total").absolute(pool.completed);
    metrics::counter!("tessera_hash_pool_rejected_total").absolute(pool.rejected);
    let (open, idle) = state.core.store.pool_state();
    metrics::gauge!("tessera_db_connections").set(f64::from(open));
    metrics::gauge!("tessera_db_connections_idle").set(f64::from(idle));
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.prometheus.render(),
    )
}
