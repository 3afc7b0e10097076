//! The audit log page (sysadmins): events newest first, filtered by kind,
//! account (as actor or subject) and a time range, paged backwards by id,
//! through the same core call as `GET /api/v1/admin/audit`.

use super::{PageSession, error_page, render};
use crate::csrf::form_token;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use tessera_core::CoreError;
use tessera_core::audit::{AuditFilter, AuditKind};
use tessera_core::clock::Timestamp;
use tessera_core::ids::AccountId;

const PAGE_SIZE: u32 = 100;

struct EventRow {
    at: String,
    kind: String,
    actor: String,
    subject: String,
    ip: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage<'a> {
    csrf: &'a str,
    is_admin: bool,
    kinds: &'static [&'static str],
    q: &'a AuditQuery,
    events: Vec<EventRow>,
    /// The query string of the next (older) page.
    older: Option<String>,
    error: Option<String>,
}

/// The filter form. Empty fields filter nothing.
#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    kind: String,
    /// An account's email address or id.
    #[serde(default)]
    account: String,
    /// `subject` (what happened to the account, the default) or `actor`
    /// (what it did).
    #[serde(default, rename = "as")]
    role_as: String,
    /// `YYYY-MM-DDTHH:MM` in UTC, as a `datetime-local` field sends it.
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    before_id: Option<i64>,
}

impl AuditQuery {
    fn by_actor(&self) -> bool {
        self.role_as == "actor"
    }

    /// This query with another `before_id`, for the pager's link.
    fn with_before(&self, id: i64) -> String {
        let mut out = String::new();
        for (k, v) in [
            ("kind", self.kind.as_str()),
            ("account", self.account.as_str()),
            ("as", self.role_as.as_str()),
            ("since", self.since.as_str()),
            ("until", self.until.as_str()),
        ] {
            if !v.is_empty() {
                out.push_str(&format!("{k}={}&", percent_encode(v)));
            }
        }
        out.push_str(&format!("before_id={id}"));
        out
    }
}

/// A query value with everything but unreserved characters escaped.
fn percent_encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A `datetime-local` value (`YYYY-MM-DDTHH:MM`, optionally `:SS`) read as
/// UTC.
fn parse_utc(raw: &str) -> Result<Timestamp, String> {
    let bad = || format!("{raw:?} is not a time like 2026-11-30T09:30 (UTC)");
    let (date, time) = raw.split_once('T').ok_or_else(bad)?;
    let mut d = date.split('-').map(|p| p.parse::<i64>());
    let (Some(Ok(y)), Some(Ok(mo)), Some(Ok(da)), None) = (d.next(), d.next(), d.next(), d.next())
    else {
        return Err(bad());
    };
    let mut t = time.split(':').map(|p| p.parse::<i64>());
    let (Some(Ok(h)), Some(Ok(mi))) = (t.next(), t.next()) else {
        return Err(bad());
    };
    let s = match t.next() {
        None => 0,
        Some(Ok(s)) if t.next().is_none() => s,
        _ => return Err(bad()),
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&da) || h > 23 || mi > 59 || s > 59 {
        return Err(bad());
    }
    if h < 0 || mi < 0 || s < 0 {
        return Err(bad());
    }
    let secs = days_from_civil(y, mo, da) * 86_400 + h * 3600 + mi * 60 + s;
    Ok(Timestamp(secs * 1000))
}

async fn filter_of(
    state: &AppState,
    admin: &tessera_core::service::Sysadmin,
    q: &AuditQuery,
) -> Result<AuditFilter, String> {
    let kind = match q.kind.trim() {
        "" => None,
        k => Some(k.parse::<AuditKind>()?),
    };
    let account: Option<AccountId> = match q.account.trim() {
        "" => None,
        a if a.contains('@') => Some(
            state
                .core
                .find_account(admin, a)
                .await
                .map_err(|e| match e {
                    CoreError::NotFound(_) => format!("No account has the address {a}."),
                    other => other.to_string(),
                })?
                .id,
        ),
        a => Some(
            a.parse()
                .map_err(|_| format!("{a:?} is neither an email address nor an account id."))?,
        ),
    };
    let since = match q.since.trim() {
        "" => None,
        t => Some(parse_utc(t)?),
    };
    // The minute named is included.
    let until = match q.until.trim() {
        "" => None,
        t => Some(Timestamp(parse_utc(t)?.millis() + 59_999)),
    };
    Ok(AuditFilter {
        kind,
        actor: account.filter(|_| q.by_actor()),
        subject: account.filter(|_| !q.by_actor()),
        since,
        until,
        before_id: q.before_id,
        limit: PAGE_SIZE,
    })
}

pub async fn show(
    State(state): State<AppState>,
    jar: CookieJar,
    PageSession(who): PageSession,
    Query(q): Query<AuditQuery>,
) -> Response {
    let admin = match state.core.require_sysadmin(&who) {
        Ok(a) => a,
        Err(e) => return error_page(&e),
    };
    let (events, status, error) = match filter_of(&state, &admin, &q).await {
        Ok(f) => match state.core.audit_events(&admin, f).await {
            Ok(ev) => (ev, StatusCode::OK, None),
            Err(e) => return error_page(&e),
        },
        Err(msg) => (Vec::new(), StatusCode::BAD_REQUEST, Some(msg)),
    };
    let older = (events.len() == PAGE_SIZE as usize)
        .then(|| events.last().map(|e| q.with_before(e.id)))
        .flatten();
    let (jar, csrf) = form_token(&state, jar);
    let page = AuditPage {
        csrf: &csrf,
        is_admin: true,
        kinds: AuditKind::NAMES,
        q: &q,
        events: events
            .into_iter()
            .map(|e| EventRow {
                at: e.at.to_rfc3339(),
                kind: e.kind,
                actor: e.actor.map(|a| a.to_string()).unwrap_or_default(),
                subject: e.subject.map(|a| a.to_string()).unwrap_or_default(),
                ip: e.ip.unwrap_or_default(),
                detail: e.detail,
            })
            .collect(),
        older,
        error,
    };
    (jar, render(status, &page)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_local_values_are_read_as_utc() {
        assert_eq!(parse_utc("1970-01-01T00:00").unwrap().millis(), 0);
        assert_eq!(
            parse_utc("2026-11-30T09:30").unwrap().seconds(),
            1_796_031_000
        );
        assert_eq!(
            parse_utc("2000-02-29T23:59:59").unwrap().seconds(),
            951_868_799
        );
        for bad in [
            "",
            "2026-11-30",
            "2026-13-01T00:00",
            "2026-11-30T24:00",
            "x-y-zT1:2",
            "2026-11-30T09:30:00:00",
        ] {
            assert!(parse_utc(bad).is_err(), "{bad}");
        }
    }
}
