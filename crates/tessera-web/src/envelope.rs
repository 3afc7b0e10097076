//! What every request passes through on its way in and out, in one layer:
//! the cross-site check, metrics, running changes to completion, and the
//! headers every answer carries.
//!
//! One layer rather than one per concern because axum clones a layered
//! route's whole service stack for every request, and each `from_fn`
//! layer clones what is inside it once more: five layers cost dozens of
//! allocations per request on the who-am-I hot path, one costs a few.
//! Each concern keeps its own module; this only fixes their order.

use crate::state::AppState;
use crate::{csrf, error, metrics, security_headers};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The layer. From the outside in:
///
/// 1. security headers on every answer, and `Cache-Control: no-store` on
///    every API answer (see [`security_headers`]), so refusals by anything
///    inside, unknown paths and panics get them too;
/// 2. a request that may change something runs in a task of its own (see
///    [`run_to_completion`]);
/// 3. metrics count and time it;
/// 4. a cross-site state-changing request is refused (see [`csrf`]).
pub async fn around(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let csp = security_headers::csp_for(path);
    let api = path.starts_with("/api/");
    let mut res = run_to_completion(req, |req| inner(state.clone(), req, next)).await;
    let headers = res.headers_mut();
    security_headers::set(
        headers,
        csp,
        security_headers::serves_https(&state.web.public_url),
    );
    if api {
        // API answers carry tokens, account data and error details meant
        // for one caller: no cache on the way may keep them.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

async fn inner(state: AppState, req: Request, next: Next) -> Response {
    let timing = metrics::RequestTiming::start(&req);
    let res = match csrf::cross_site_refusal(&state, &req) {
        Some(refusal) => refusal,
        None => next.run(req).await,
    };
    timing.finish(&res);
    res
}

/// Runs every request that may change something in a task of its own, so
/// it finishes even when its client goes away. Hyper drops a request's
/// future wherever it is when the connection closes; a change made of
/// several steps (check a code, hash a recovery key, commit) must not stop
/// half way because the client stopped waiting, and must not depend on how
/// fast the machine is. Each change still commits in one transaction (see
/// `tessera_core::store::Effects`), which is what a crash needs; this is
/// what a disconnect needs. Reads are left cancellable: stopping them
/// early loses nothing.
async fn run_to_completion<F, Fut>(req: Request, rest: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response> + Send + 'static,
{
    if matches!(
        *req.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    ) {
        return rest(req).await;
    }
    match tokio::spawn(rest(req).in_current_span()).await {
        Ok(res) => res,
        Err(e) => {
            // A panic in a handler: the task is gone, the client gets a
            // plain 500 and the cause goes to the log.
            tracing::error!(error = %e, "request task failed");
            error::internal_error()
        }
    }
}
