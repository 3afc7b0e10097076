//! Extractors whose rejections are problem documents: a JSON body that
//! must be an object, and a query string.

use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

/// A JSON request body. Every body the API takes is an object: serde's
/// derived structs would also accept an array of the fields in order
/// (`["a@example.com", "password", "mobile"]`), which no client means and
/// no document describes, so anything but an object is refused.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(unsupported_media_type());
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|b| {
            if b.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                ApiError::new(b.status(), "invalid", b.body_text())
            }
        })?;
        json_object(&bytes).map(ApiJson)
    }
}

/// A body's bytes as `T`, which must come as a JSON object; the refusal is
/// the problem document the API answers with.
pub fn json_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') {
        return Err(ApiError::bad_request(
            "The request body must be a JSON object.",
        ));
    }
    axum::Json::<T>::from_bytes(bytes)
        .map(|axum::Json(v)| v)
        .map_err(json_problem)
}

/// An optional JSON body: a request without a content type and with an
/// empty body has none; anything else is read as [`ApiJson`].
impl<S, T> axum::extract::OptionalFromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        let has_type = req.headers().contains_key(header::CONTENT_TYPE);
        if has_type && !is_json(req.headers()) {
            return Err(unsupported_media_type());
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|b| {
            if b.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                ApiError::new(b.status(), "invalid", b.body_text())
            }
        })?;
        if !has_type {
            return if bytes.iter().all(u8::is_ascii_whitespace) {
                Ok(None)
            } else {
                Err(unsupported_media_type())
            };
        }
        // The document describes an optional body as "this object or
        // null" (utoipa's reading of `Option<T>`), so a JSON `null` is the
        // same as sending none.
        if bytes.trim_ascii() == b"null" {
            return Ok(None);
        }
        json_object(&bytes).map(|v| Some(ApiJson(v)))
    }
}

/// `application/json` or any `application/<something>+json`, parameters
/// (a charset) allowed: what axum's own JSON extractor accepts.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    let Some((kind, sub)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (sub.eq_ignore_ascii_case("json")
            || sub.len() > 5 && sub[sub.len() - 5..].eq_ignore_ascii_case("+json"))
}

fn unsupported_media_type() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "Send the body as JSON with Content-Type: application/json.",
    )
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "The request body is too large.",
    )
}

fn json_problem(r: JsonRejection) -> ApiError {
    match r {
        JsonRejection::MissingJsonContentType(_) => unsupported_media_type(),
        JsonRejection::BytesRejection(b) if b.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            too_large()
        }
        JsonRejection::JsonSyntaxError(_) => {
            ApiError::bad_request("The request body is not valid JSON.")
        }
        JsonRejection::JsonDataError(e) => ApiError::bad_request(format!(
            "The request body does not fit: {}",
            crate::redact::without_values(&e.body_text())
        )),
        other => ApiError::new(other.status(), "invalid", other.body_text()),
    }
}

/// A query string; one that does not parse (`offset=-1`, `since=abc`) is a
/// 400 problem document naming the parameter, not the framework's plain
/// text.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                Err(ApiError::bad_request(format!(
                    "The query string does not fit: {}",
                    crate::redact::without_values(&e.body_text())
                )))
            }
            Err(other) => Err(ApiError::new(other.status(), "invalid", other.body_text())),
        }
    }
}

/// An optional integer field that a client may write as `81` or `81.0`:
/// JSON Schema's `integer` is any number without a fractional part, and
/// clients that hold every number as a float send the second form.
pub fn optional_whole_number<'de, D>(d: D) -> Result<Option<i64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::Deserialize;
    use serde::de::Error;
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(i) = n.as_i64() {
        return Ok(Some(i));
    }
    match n.as_f64() {
        // Beyond ±2^53 a float no longer says which integer it meant.
        Some(f) if f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 => Ok(Some(f as i64)),
        _ => Err(D::Error::custom(format!("{n} is not a whole number"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(ct: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        h
    }

    #[derive(serde::Deserialize)]
    struct Days {
        #[serde(default, deserialize_with = "optional_whole_number")]
        days: Option<i64>,
    }

    #[test]
    fn whole_numbers_in_either_form() {
        let days = |json: &str| serde_json::from_str::<Days>(json).map(|d| d.days);
        assert_eq!(days(r#"{"days": 81}"#).unwrap(), Some(81));
        assert_eq!(days(r#"{"days": 81.0}"#).unwrap(), Some(81));
        assert_eq!(days(r#"{"days": -2e0}"#).unwrap(), Some(-2));
        assert_eq!(days(r#"{"days": null}"#).unwrap(), None);
        assert_eq!(days(r#"{}"#).unwrap(), None);
        assert!(days(r#"{"days": 81.5}"#).is_err());
        assert!(days(r#"{"days": 1e300}"#).is_err());
        assert!(days(r#"{"days": "81"}"#).is_err());
    }

    async fn optional_body(ct: Option<&str>, body: &'static str) -> Result<Option<i64>, u16> {
        let mut req = axum::http::Request::builder().method("POST").uri("/");
        if let Some(ct) = ct {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        let req = req.body(axum::body::Body::from(body)).unwrap();
        <ApiJson<Days> as axum::extract::OptionalFromRequest<()>>::from_request(req, &())
            .await
            .map(|b| b.and_then(|ApiJson(d)| d.days))
            .map_err(|e| e.status.as_u16())
    }

    #[tokio::test]
    async fn optional_bodies_none_null_or_an_object() {
        assert_eq!(optional_body(None, "").await, Ok(None));
        assert_eq!(
            optional_body(Some("application/json"), " null ").await,
            Ok(None)
        );
        assert_eq!(
            optional_body(Some("application/json"), r#"{"days": 3}"#).await,
            Ok(Some(3))
        );
        assert_eq!(
            optional_body(Some("application/json"), "[3]").await,
            Err(400)
        );
        assert_eq!(optional_body(Some("text/plain"), "null").await, Err(415));
        assert_eq!(optional_body(None, "{}").await, Err(415));
    }

    #[test]
    fn json_content_types() {
        assert!(is_json(&with("application/json")));
        assert!(is_json(&with("application/json; charset=utf-8")));
        assert!(is_json(&with("Application/JSON")));
        assert!(is_json(&with("application/merge-patch+json")));
        assert!(!is_json(&with("application/+json")));
        assert!(!is_json(&with("text/json")));
        assert!(!is_json(&with("application/x-www-form-urlencoded")));
        assert!(!is_json(&HeaderMap::new()));
    }
}
