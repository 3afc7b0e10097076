//! The per-user admin page, its actions with their previews, the org
//! reset's preview, and the audit log page, against an in-process server
//! whose clock the test moves. Every action is a CSRF-checked form whose
//! first post only previews; nothing changes until it is confirmed.

use crate::support::*;
use crate::world::Api;
use serde_json::{Value, json};
use tessera_core::account::Role;
use tessera_core::clock::{ManualClock, Timestamp};
use tessera_core::org::MemberRole;
use tessera_core::service::{RequestContext, Sysadmin};

const T0: i64 = 1_800_000_000;

/// A signed-in browser-like client (cookies) of an in-process server.
struct Browser<'a> {
    s: &'a InprocServer,
    http: reqwest::Client,
    /// The newest page's CSRF token.
    csrf: String,
}

impl<'a> Browser<'a> {
    async fn signed_in(s: &'a InprocServer, email: &str) -> Browser<'a> {
        let http = client();
        let r = page_signin(&http, &s.url("/login"), email, PASSWORD).await;
        assert!(r.url().path().ends_with("/security"), "{}", r.url());
        let html = r.text().await.unwrap();
        Browser {
            s,
            http,
            csrf: csrf_of(&html),
        }
    }

    async fn get(&mut self, path: &str) -> (u16, String) {
        let r = self.http.get(self.s.url(path)).send().await.unwrap();
        let status = r.status().as_u16();
        let html = r.text().await.unwrap();
        if html.contains(r#"name="csrf""#) {
            self.csrf = csrf_of(&html);
        }
        (status, html)
    }

    /// Posts a form with the current token; answers status, final path
    /// (after redirects) and page.
    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> (u16, String, String) {
        let mut form: Vec<(&str, &str)> = vec![("csrf", self.csrf.as_str())];
        form.extend_from_slice(fields);
        let r = self
            .http
            .post(self.s.url(path))
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let at = format!("{}?{}", r.url().path(), r.url().query().unwrap_or(""));
        let html = r.text().await.unwrap();
        if html.contains(r#"name="csrf""#) {
            self.csrf = csrf_of(&html);
        }
        (status, at, html)
    }
}

impl<'a> Browser<'a> {
    /// Signs in on the pages with the password, then the authenticator
    /// code `code` at `/login/verify`.
    async fn signed_in_with_code(s: &'a InprocServer, email: &str, code: &str) -> Browser<'a> {
        let http = client();
        let r = page_signin(&http, &s.url("/login"), email, PASSWORD).await;
        assert_eq!(r.url().path(), "/login/verify");
        let html = r.text().await.unwrap();
        let r = http
            .post(s.url("/login/verify"))
            .form(&[
                ("csrf", csrf_of(&html).as_str()),
                ("method", "totp"),
                ("code", code),
            ])
            .send()
            .await
            .unwrap();
        assert!(r.url().path().ends_with("/security"), "{}", r.url());
        let html = r.text().await.unwrap();
        Browser {
            s,
            http,
            csrf: csrf_of(&html),
        }
    }
}

/// Signs in by the API as a web client: the session is in the returned
/// client's cookie.
async fn web_signin(s: &InprocServer, email: &str) -> reqwest::Client {
    let http = client();
    let r = http
        .post(s.url("/api/v1/signin"))
        .json(&json!({"email": email, "password": PASSWORD, "client": "web"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    http
}

/// Whether the web session in `http`'s cookie still works.
async fn alive(s: &InprocServer, http: &reqwest::Client) -> bool {
    http.get(s.url("/api/v1/session"))
        .send()
        .await
        .unwrap()
        .status()
        == 200
}

async fn works(s: &InprocServer, bearer: &str) -> bool {
    reqwest::Client::new()
        .get(s.url("/api/v1/session"))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap()
        .status()
        == 200
}

fn between<'h>(html: &'h str, start: &str) -> &'h str {
    let at = html
        .find(start)
        .unwrap_or_else(|| panic!("no {start} in {html}"));
    &html[at..]
}

#[tokio::test]
async fn a_users_page_shows_the_account_and_its_actions_preview_before_acting() {
    let clock = ManualClock::at(Timestamp(T0 * 1000));
    let (core, _dir) = test_core(clock.clone(), kit_config()).await;
    let s = InprocServer::start(core).await;
    human(&s.core, "root@example.com", Role::Sysadmin).await;
    let zed = human(&s.core, "zed@partner.example", Role::Member).await;
    let ctx = RequestContext::default();

    // Zed is an external user of Acme.
    let org = s
        .core
        .create_organization(&Sysadmin::host_operator(), "Acme", &ctx)
        .await
        .unwrap()
        .org
        .id;
    let root_token = s.session_token("root@example.com").await;
    let root_who = s
        .core
        .authenticate(&root_token)
        .await
        .unwrap()
        .full()
        .unwrap();
    let acme = s.core.require_org_admin(&root_who, org).await.unwrap();
    s.core
        .add_org_member(&acme, "zed@partner.example", MemberRole::Member, &ctx)
        .await
        .unwrap();

    // Two sessions (one web, one mobile) and an API token.
    let web = web_signin(&s, "zed@partner.example").await;
    let mobile = s.session_token("zed@partner.example").await;
    let t: Value = reqwest::Client::new()
        .post(s.url("/api/v1/me/api-tokens"))
        .bearer_auth(&mobile)
        .json(&json!({"label": "nightly"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let api_token = t["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{t}"))
        .to_string();
    assert!(works(&s, &api_token).await);

    let mut root = Browser::signed_in(&s, "root@example.com").await;
    let (st, list) = root.get("/admin/users").await;
    assert_eq!(st, 200);
    let page = format!("/admin/users/{zed}");
    assert!(
        list.contains(&format!(r#"href="{page}""#)),
        "the list links each user"
    );
    let (st, html) = root.get(&page).await;
    assert_eq!(st, 200, "{html}");
    let orgs = between(&html, r#"id="user-orgs""#);
    assert!(
        orgs.contains("Acme") && orgs[..orgs.find("</ul>").unwrap()].contains("External"),
        "{orgs}"
    );
    assert!(
        html.contains("Off: the password alone signs in."),
        "no methods"
    );
    let sessions = between(&html, r#"id="user-sessions""#);
    assert_eq!(
        sessions[..sessions.find("</table>").unwrap()]
            .matches("/end\"")
            .count(),
        2
    );
    assert!(between(&html, r#"id="user-tokens""#).contains("nightly"));
    assert!(between(&html, r#"id="user-events""#).contains("org.member_added"));

    // Revoke the token: a preview, then the token stops working.
    let tid = s
        .core
        .api_tokens_of(&Sysadmin::host_operator(), zed)
        .await
        .unwrap()[0]
        .id;
    let revoke = format!("{page}/api-tokens/{tid}/revoke");
    let (st, _, html) = root.post(&revoke, &[]).await;
    assert_eq!(st, 200);
    assert!(
        html.contains(r#"This will revoke the API token &#34;nightly&#34;"#)
            || html.contains("This will revoke the API token &quot;nightly&quot;"),
        "{html}"
    );
    assert!(works(&s, &api_token).await, "a preview changes nothing");
    let (st, at, _) = root.post(&revoke, &[("confirm", "yes")]).await;
    assert_eq!(
        (st, at.as_str()),
        (200, format!("{page}?notice=token-revoked").as_str())
    );
    assert!(!works(&s, &api_token).await);

    // End the web session: preview, then only that one ends.
    let sessions = s.core.store.sessions_of(zed).await.unwrap();
    let web_id = sessions
        .iter()
        .find(|x| x.client == tessera_core::session::ClientKind::Web)
        .unwrap()
        .id;
    let end = format!("{page}/sessions/{web_id}/end");
    let (st, _, html) = root.post(&end, &[]).await;
    assert_eq!(st, 200);
    assert!(
        html.contains("This will sign zed@partner.example out of"),
        "{html}"
    );
    assert!(alive(&s, &web).await);
    let (_, at, _) = root.post(&end, &[("confirm", "yes")]).await;
    assert_eq!(at, format!("{page}?notice=session-ended"));
    assert!(!alive(&s, &web).await);
    assert!(works(&s, &mobile).await, "the other session stays");

    // Change role: the preview counts the sessions that end.
    let (st, _, html) = root
        .post(&format!("{page}/role"), &[("role", "org-admin")])
        .await;
    assert_eq!(st, 200);
    assert!(
        html.contains(
            "This will change zed@partner.example from member to org-admin, and end 1 session"
        ),
        "{html}"
    );
    assert_eq!(
        s.core
            .get_account(&Sysadmin::host_operator(), zed)
            .await
            .unwrap()
            .role,
        Role::Member
    );
    let (_, at, html) = root
        .post(
            &format!("{page}/role"),
            &[("role", "org-admin"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(at, format!("{page}?notice=role"), "{html}");
    assert!(html.contains(r#"<dd id="role">org-admin</dd>"#), "{html}");
    assert!(
        !works(&s, &mobile).await,
        "sessions under the old role ended"
    );

    // Recovery unenrollment needs the admin's own authenticator code: an
    // admin without one is refused, even after the preview.
    let (st, _, html) = root.post(&format!("{page}/two-step/remove"), &[]).await;
    assert_eq!(st, 200);
    assert!(
        html.contains("This will remove every two-step verification method of zed@partner.example"),
        "{html}"
    );
    assert!(html.contains(r#"name="code""#));
    let (st, _, html) = root
        .post(
            &format!("{page}/two-step/remove"),
            &[("confirm", "yes"), ("code", "123456")],
        )
        .await;
    assert_eq!(st, 401, "{html}");
    assert!(html.contains("Set up two-step verification"), "{html}");

    // Deactivate: the preview says what ends; then it is done.
    let again = s.session_token("zed@partner.example").await;
    let (st, _, html) = root.post(&format!("{page}/deactivate"), &[]).await;
    assert_eq!(st, 200);
    assert!(
        html.contains("end 1 session and revoke 0 API tokens"),
        "{html}"
    );
    assert!(works(&s, &again).await);
    let (_, at, html) = root
        .post(&format!("{page}/deactivate"), &[("confirm", "yes")])
        .await;
    assert_eq!(at, format!("{page}?notice=deactivated"));
    assert!(html.contains("Deactivated"), "{html}");
    assert!(!works(&s, &again).await);

    // The admin's own page offers no self-demotion or deactivation.
    let me = s
        .core
        .find_account(&Sysadmin::host_operator(), "root@example.com")
        .await
        .unwrap()
        .id;
    let (_, html) = root.get(&format!("/admin/users/{me}")).await;
    assert!(!html.contains("/deactivate\""), "{html}");
    // Unknown ids are 404; members are refused.
    let (st, _) = root
        .get(&format!("/admin/users/{}", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(st, 404);
    human(&s.core, "mo@example.com", Role::Member).await;
    let mut mo = Browser::signed_in(&s, "mo@example.com").await;
    let (st, _) = mo.get(&page).await;
    assert_eq!(st, 403);
    let (st, _, _) = mo
        .post(&format!("{page}/deactivate"), &[("confirm", "yes")])
        .await;
    assert_eq!(st, 403);
}

#[tokio::test]
async fn the_org_reset_previews_how_many_external_users_it_signs_out() {
    let clock = ManualClock::at(Timestamp(T0 * 1000));
    let (core, _dir) = test_core(clock.clone(), kit_config()).await;
    let s = InprocServer::start(core).await;
    human(&s.core, "root@example.com", Role::Sysadmin).await;
    human(&s.core, "ext1@partner.example", Role::Member).await;
    human(&s.core, "ext2@partner.example", Role::Member).await;
    let ctx = RequestContext::default();
    let org = s
        .core
        .create_organization(&Sysadmin::host_operator(), "Acme", &ctx)
        .await
        .unwrap()
        .org
        .id;
    let root_token = s.session_token("root@example.com").await;
    let root_who = s
        .core
        .authenticate(&root_token)
        .await
        .unwrap()
        .full()
        .unwrap();
    let acme = s.core.require_org_admin(&root_who, org).await.unwrap();
    for e in ["ext1@partner.example", "ext2@partner.example"] {
        s.core
            .add_org_member(&acme, e, MemberRole::Member, &ctx)
            .await
            .unwrap();
    }
    s.core
        .set_external_policy(
            &acme,
            tessera_core::org::ExternalPolicy {
                email_code: false,
                frequency_minutes: Some(60),
                api_token_access: true,
            },
            &ctx,
        )
        .await
        .unwrap();
    let a = web_signin(&s, "ext1@partner.example").await;
    let b = web_signin(&s, "ext1@partner.example").await;
    let c = web_signin(&s, "ext2@partner.example").await;
    let phone = s.session_token("ext2@partner.example").await;

    let mut root = Browser::signed_in(&s, "root@example.com").await;
    let page = format!("/admin/organizations/{org}");
    let (_, html) = root.get(&page).await;
    let words = "This will sign out 2 external users (3 sessions) on the web.";
    assert!(html.contains(words), "{html}");
    let (st, _, html) = root.post(&format!("{page}/reset-sessions"), &[]).await;
    assert_eq!(st, 200);
    assert!(html.contains(words), "{html}");
    for t in [&a, &b, &c] {
        assert!(alive(&s, t).await, "a preview signs nobody out");
    }
    let (_, at, _) = root
        .post(&format!("{page}/reset-sessions"), &[("confirm", "yes")])
        .await;
    assert_eq!(at, format!("{page}?notice=reset"));
    for t in [&a, &b, &c] {
        assert!(!alive(&s, t).await);
    }
    assert!(works(&s, &phone).await, "mobile sessions stay");
}

#[tokio::test]
async fn the_audit_log_page_filters_by_kind_account_and_time() {
    let clock = ManualClock::at(Timestamp(T0 * 1000));
    let (core, _dir) = test_core(clock.clone(), kit_config()).await;
    let s = InprocServer::start(core).await;
    human(&s.core, "root@example.com", Role::Sysadmin).await;
    let amy = human(&s.core, "amy@example.com", Role::Member).await;
    human(&s.core, "ben@example.com", Role::Member).await;
    s.session_token("amy@example.com").await;
    // A day later: Ben signs in, and the admin changes Amy's role.
    clock.advance_secs(86_400);
    s.session_token("ben@example.com").await;
    s.core
        .set_role(
            &Sysadmin::host_operator(),
            amy,
            Role::OrgAdmin,
            &RequestContext::default(),
        )
        .await
        .unwrap();
    let mut root = Browser::signed_in(&s, "root@example.com").await;

    let rows = |html: &str| -> Vec<String> {
        let Some(at) = html.find(r#"id="audit-events""#) else {
            return vec![];
        };
        let table = &html[at..html[at..].find("</table>").unwrap() + at];
        table
            .split("<tr><td>")
            .skip(1)
            .map(|r| {
                let kind = r.split("</td><td>").nth(1).unwrap();
                kind.split("</td>").next().unwrap().to_string()
            })
            .collect()
    };

    let (st, html) = root.get("/admin/audit").await;
    assert_eq!(st, 200);
    let all = rows(&html);
    assert!(all.contains(&"account.created".to_string()), "{all:?}");
    assert!(all.contains(&"signin.succeeded".to_string()));

    let (_, html) = root.get("/admin/audit?kind=signin.succeeded").await;
    let kinds = rows(&html);
    assert!(kinds.len() >= 3, "{kinds:?}");
    assert!(kinds.iter().all(|k| k == "signin.succeeded"), "{kinds:?}");

    // By account (email) as the subject; by id as the actor.
    let (_, html) = root.get("/admin/audit?account=amy%40example.com").await;
    let amys = rows(&html);
    assert!(
        amys.contains(&"account.role_changed".to_string()),
        "{amys:?}"
    );
    let (_, html) = root
        .get(&format!(
            "/admin/audit?account={amy}&as=subject&kind=account.role_changed"
        ))
        .await;
    assert_eq!(rows(&html), vec!["account.role_changed"]);
    let (_, html) = root
        .get(&format!(
            "/admin/audit?account={amy}&as=actor&kind=account.role_changed"
        ))
        .await;
    assert!(rows(&html).is_empty(), "Amy changed no role");

    // Time: only the second day's sign-ins (Ben's and the admin's).
    // T0 is 2027-01-15T08:00Z; this is an hour before the second day's.
    let day2 = "2027-01-16T07:00";
    assert_eq!(T0, 1_800_000_000);
    let (_, html) = root
        .get(&format!("/admin/audit?kind=signin.succeeded&since={day2}"))
        .await;
    let later = rows(&html);
    assert_eq!(later.len(), 2, "{html}");
    let (_, html) = root
        .get(&format!("/admin/audit?kind=signin.succeeded&until={day2}"))
        .await;
    assert_eq!(rows(&html).len(), 1, "Amy's, the first day");

    // A bad filter is a 400 that says why; members are refused.
    let (st, html) = root.get("/admin/audit?kind=no.such.kind").await;
    assert_eq!(st, 400);
    assert!(html.contains("unknown value"), "{html}");
    let (st, html) = root.get("/admin/audit?since=yesterday").await;
    assert_eq!(st, 400);
    assert!(html.contains("is not a time like"), "{html}");
    let (st, html) = root.get("/admin/audit?account=nobody%40example.com").await;
    assert_eq!(st, 400);
    assert!(html.contains("No account has the address"), "{html}");
    let mut ben = Browser::signed_in(&s, "ben@example.com").await;
    let (st, _) = ben.get("/admin/audit").await;
    assert_eq!(st, 403);
}

/// Seed 001's recovery unenrollment from the user's page, to the end: with
/// the admin's own current code it removes every method of the account,
/// ends its sessions, and the account then signs in with the password
/// alone; a code already used does not serve twice.
#[tokio::test]
async fn the_users_page_removes_two_step_verification_with_the_admins_own_code() {
    let w = crate::world::World::new(kit_config()).await;
    w.user("root@example.com", Role::Sysadmin).await;
    w.user("zed@example.com", Role::Member).await;
    let (_, root_secret, _) = w.enroll("root@example.com").await;
    let (zed_token, _, _) = w.enroll("zed@example.com").await;
    assert!(works(&w.s, &zed_token).await);
    let zed =
        w.s.core
            .find_account(&Sysadmin::host_operator(), "zed@example.com")
            .await
            .unwrap()
            .id;
    w.next_step();
    let sign_in_code = crate::peers::oathtool(&root_secret, w.now());
    let mut root = Browser::signed_in_with_code(&w.s, "root@example.com", &sign_in_code).await;
    let page = format!("/admin/users/{zed}");
    let (st, html) = root.get(&page).await;
    assert_eq!(st, 200);
    assert!(html.contains("Authenticator app"), "{html}");

    let (st, _, html) = root.post(&format!("{page}/two-step/remove"), &[]).await;
    assert_eq!(st, 200);
    assert!(
        html.contains(
            "This will remove every two-step verification method of zed@example.com (1 method)"
        ),
        "{html}"
    );
    // The code root signed in with is spent.
    let (st, _, _) = root
        .post(
            &format!("{page}/two-step/remove"),
            &[("confirm", "yes"), ("code", &sign_in_code)],
        )
        .await;
    assert_ne!(st, 200);
    assert!(works(&w.s, &zed_token).await, "nothing changed");
    w.next_step();
    let code = crate::peers::oathtool(&root_secret, w.now());
    let (_, at, html) = root
        .post(
            &format!("{page}/two-step/remove"),
            &[("confirm", "yes"), ("code", &code)],
        )
        .await;
    assert_eq!(at, format!("{page}?notice=unenrolled"), "{html}");
    assert!(
        html.contains("Two-step verification was removed and every session ended."),
        "{html}"
    );
    assert!(!works(&w.s, &zed_token).await, "zed's sessions ended");
    let again = w.signin("zed@example.com").await;
    assert!(
        again["session_token"].is_string(),
        "the password alone: {again}"
    );
    assert!(
        w.audit_kinds().await.iter().any(|k| k.contains("unenroll")),
        "{:?}",
        w.audit_kinds().await
    );
}

/// Posts client credentials to the token endpoint; answers the status and
/// the OAuth error code (or "ok").
async fn client_credentials(s: &InprocServer, id: &str, secret: &str) -> (u16, String) {
    let r = client()
        .post(s.url("/oauth2/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap();
    let what = v["error"].as_str().unwrap_or("ok").to_string();
    (status, what)
}

/// The text of the element that `start` opens, up to `</code>`.
fn code_text<'h>(html: &'h str, start: &str) -> &'h str {
    let rest = &between(html, start)[start.len()..];
    &rest[..rest.find("</code>").unwrap()]
}

#[tokio::test]
async fn the_applications_page_registers_rotates_and_removes_oidc_clients() {
    let clock = ManualClock::at(Timestamp(T0 * 1000));
    let (core, _dir) = test_core(clock.clone(), kit_config()).await;
    let s = InprocServer::start(core).await;
    human(&s.core, "root@example.com", Role::Sysadmin).await;
    human(&s.core, "member@example.com", Role::Member).await;

    // Members do not see it.
    let mut member = Browser::signed_in(&s, "member@example.com").await;
    assert_eq!(member.get("/admin/oidc-clients").await.0, 403);

    let mut b = Browser::signed_in(&s, "root@example.com").await;
    let (status, html) = b.get("/admin/oidc-clients").await;
    assert_eq!(status, 200);
    assert!(html.contains("/.well-known/openid-configuration"), "{html}");

    // A wildcard or plain-http redirect is refused with the reason, and
    // nothing is registered.
    let (status, _, html) = b
        .post(
            "/admin/oidc-clients",
            &[
                ("name", "Grafana"),
                ("redirect_uris", "http://grafana.example/*"),
                ("scopes", "openid email"),
            ],
        )
        .await;
    assert_eq!(status, 400, "{html}");
    assert!(html.contains(r#"id="form-error""#), "{html}");
    assert!(
        !html.contains("oidc-client\""),
        "nothing registered: {html}"
    );

    // A confidential client: its secret is shown once and works.
    let (status, _, html) = b
        .post(
            "/admin/oidc-clients",
            &[
                ("name", "Grafana"),
                (
                    "redirect_uris",
                    "https://grafana.example/login/generic_oauth\n",
                ),
                ("post_logout_redirect_uris", "https://grafana.example/\n"),
                ("scopes", "openid email profile"),
                ("first_party", "on"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{html}");
    let id = code_text(&html, r#"<code id="client-id">"#).to_string();
    let secret = code_text(&html, r#"<code id="client-secret">"#).to_string();
    assert!(secret.starts_with("tcs_"), "{secret}");
    assert_eq!(
        client_credentials(&s, &id, &secret).await,
        (200, "ok".into())
    );
    let (_, list) = b.get("/admin/oidc-clients").await;
    assert!(list.contains(&id) && list.contains("first-party"), "{list}");
    assert!(!list.contains(&secret), "the secret is never shown again");

    // A new secret replaces the old one at once.
    let (status, _, html) = b
        .post(&format!("/admin/oidc-clients/{id}/rotate-secret"), &[])
        .await;
    assert_eq!(status, 200, "{html}");
    let rotated = code_text(&html, r#"<code id="client-secret">"#).to_string();
    assert_ne!(rotated, secret);
    assert_eq!(
        client_credentials(&s, &id, &secret).await,
        (401, "invalid_client".into())
    );
    assert_eq!(
        client_credentials(&s, &id, &rotated).await,
        (200, "ok".into())
    );

    // Removed: the client is gone from the page and its secret is worthless.
    let (status, at, html) = b
        .post(&format!("/admin/oidc-clients/{id}/delete"), &[])
        .await;
    assert_eq!(
        (status, at.as_str()),
        (200, "/admin/oidc-clients?notice=removed"),
        "{html}"
    );
    assert!(!html.contains(&id), "{html}");
    assert_eq!(
        client_credentials(&s, &id, &rotated).await,
        (401, "invalid_client".into())
    );

    // Every change was audited.
    let kinds: Vec<String> = s
        .core
        .store
        .list_audit(&tessera_core::audit::AuditFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind.to_string())
        .filter(|k| k.starts_with("oidc_client."))
        .collect();
    for k in [
        "oidc_client.created",
        "oidc_client.secret_rotated",
        "oidc_client.deleted",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} in {kinds:?}");
    }
}
