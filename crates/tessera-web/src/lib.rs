//! Tessera's HTTP layer: server-rendered pages, the JSON API under
//! `/api/v1` with its OpenAPI document, and operational endpoints.
//!
//! Handlers parse input, call one [`tessera_core::service::Core`] method and
//! map the result to a response. No business rule lives here.

mod access;
mod api;
mod assets;
mod client;
mod cookies;
mod csrf;
mod error;
mod extract;
mod metrics;
mod pages;
mod state;

pub use access::{Needs, ROUTES};
pub use metrics::install_recorder;
pub use state::{AppState, WebConfig};

use axum::Router;
use axum::extract::DefaultBodyLimit;

/// The whole application as one router, ready to serve.
pub fn app(state: AppState) -> Router {
    let body_limit = state.web.body_limit_bytes;
    let (api_router, openapi) = api::router().split_for_parts();
    let docs = utoipa_swagger_ui::SwaggerUi::new("/api/docs").url("/api/openapi.json", openapi);
    // Every API route and page passes the access gate, which enforces
    // what the route table says each needs.
    let gated = Router::new()
        .merge(api_router)
        .merge(pages::router())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access::gate,
        ));
    Router::new()
        .merge(gated)
        .merge(assets::router())
        .merge(api::ops::router())
        .merge(docs)
        .fallback(error::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            csrf::origin_guard,
        ))
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// Serves the application on `listener` until `shutdown` completes, then
/// lets in-flight requests finish.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
