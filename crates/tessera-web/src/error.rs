//! Errors as RFC 9457 problem documents on the API. The cause of a server
//! error is logged; the client sees only its status and a stable code.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tessera_core::CoreError;

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the problem type.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code.
    pub code: String,
}

/// An error on its way to an API client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
            retry_after_secs: None,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid", detail)
    }
}

/// Seconds a client is asked to wait while the database is unreachable.
const UNAVAILABLE_RETRY_SECS: u64 = 2;

/// A 500 for a failure outside any handler's control (a request task that
/// panicked).
pub fn internal_error() -> Response {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "Something went wrong on our side; try again later.",
    )
    .into_response()
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        let status = status_of(&e);
        if let CoreError::Store(tessera_core::store::StoreError::Unavailable(cause)) = &e {
            // An outage, not a defect: said as such, with when to retry.
            tracing::warn!(error = %cause, "database unavailable");
            return ApiError {
                status,
                code: "unavailable",
                detail: "The service is briefly unavailable; try again in a moment.".into(),
                retry_after_secs: Some(UNAVAILABLE_RETRY_SECS),
            };
        }
        let detail = match &e {
            CoreError::Store(_) | CoreError::Internal(_) => {
                tracing::error!(error = %e, code = e.code(), "request failed");
                "Something went wrong on our side; try again later.".to_string()
            }
            other => other.to_string(),
        };
        let retry_after_secs = match &e {
            CoreError::Overloaded { retry_after } | CoreError::RateLimited { retry_after } => {
                Some(retry_after.as_secs_f64().ceil().max(1.0) as u64)
            }
            _ => None,
        };
        ApiError {
            status,
            code: e.code(),
            detail,
            retry_after_secs,
        }
    }
}

/// The HTTP status for a domain error (shared by API and pages).
pub fn status_of(e: &CoreError) -> StatusCode {
    match e {
        CoreError::Invalid(_) => StatusCode::BAD_REQUEST,
        CoreError::BadCredentials
        | CoreError::Unauthenticated
        | CoreError::WrongProof(_)
        | CoreError::FlowExpired
        | CoreError::BasicAuthRefused(_) => StatusCode::UNAUTHORIZED,
        CoreError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        CoreError::StepUpRequired(_) | CoreError::EnrollmentRequired => StatusCode::FORBIDDEN,
        CoreError::Forbidden(_) => StatusCode::FORBIDDEN,
        CoreError::NotFound(_) => StatusCode::NOT_FOUND,
        CoreError::Conflict(_) => StatusCode::CONFLICT,
        CoreError::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
        CoreError::Store(tessera_core::store::StoreError::Unavailable(_)) => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        CoreError::Store(_) | CoreError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Problem {
            kind: format!("https://tessera.invalid/problems/{}", self.code),
            title: self
                .status
                .canonical_reason()
                .unwrap_or("Error")
                .to_string(),
            status: self.status.as_u16(),
            detail: self.detail,
            code: self.code.to_string(),
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut res = (self.status, json).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(s) = self.retry_after_secs {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        res
    }
}

/// Unknown paths: a problem document for the API, a page for people.
pub async fn not_found(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/api/") {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "No such endpoint.").into_response()
    } else {
        crate::pages::message_page(
            StatusCode::NOT_FOUND,
            "Page not found",
            "There is nothing at this address.",
        )
    }
}
