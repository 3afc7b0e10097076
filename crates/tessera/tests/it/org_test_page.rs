//! The test policy's section of an organization's page, over HTTP with
//! the page's session cookie and CSRF tokens: it lists the settings and
//! members, adds members up to 5 (a sixth or a managed account gets the
//! page back with core's refusal, nothing changed), removes and rolls out
//! only after a preview and a confirmed second post, and its export link
//! downloads the external users' CSV with the session cookie alone.

use crate::guard_rails::{Nodes, bearer, one_account};
use crate::org_test_policy::acme;
use crate::support::*;

/// Root signs in through the login page; answers the cookie-keeping
/// client and the organization page's path.
async fn root_on_pages(n: &Nodes, base: &str) -> (reqwest::Client, String) {
    let http = client();
    let s = &n.nodes[0];
    let r = page_signin(&http, &s.url("/login"), "root@acme.example", PASSWORD).await;
    assert!(r.url().path().ends_with("/security"));
    let org = base.rsplit('/').next().unwrap();
    (http, format!("/admin/organizations/{org}"))
}

async fn get(n: &Nodes, http: &reqwest::Client, path: &str) -> String {
    let r = http.get(n.nodes[0].url(path)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

/// Posts a page form; answers the status and the page.
async fn post(
    n: &Nodes,
    http: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, String) {
    let r = http
        .post(n.nodes[0].url(path))
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The test policy's members as the API lists them (account ids).
async fn api_members(n: &Nodes, base: &str, root: &str) -> Vec<String> {
    let (st, p) = n
        .send(
            "GET",
            &format!("{base}/external-policy/test"),
            &bearer(root),
            None,
        )
        .await;
    assert_eq!(st, 200, "{p}");
    p["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_string())
        .collect()
}

async fn the_org_page_adds_test_members_up_to_five_and_removes_after_a_preview(n: Nodes) {
    let (base, root, ids, _ann) = acme(&n, 6).await;
    let (http, page) = root_on_pages(&n, &base).await;

    let html = get(&n, &http, &page).await;
    assert!(
        html.contains("Test policy") && html.contains("Members (0 of 5)"),
        "{html}"
    );
    // The external users are offered; the managed account is not.
    let picker = html.split("id=\"test-account\"").nth(1).unwrap();
    let picker = picker.split("</select>").next().unwrap();
    assert!(picker.contains("ext0@partner.example") && !picker.contains("ann@acme.example"));
    let csrf = csrf_of(&html);
    let add = format!("{page}/test-policy/members");

    // Four by email, the fifth picked from the list.
    for i in 0..4 {
        let email = format!("ext{i}@partner.example");
        let (st, html) = post(&n, &http, &add, &[("csrf", &csrf), ("email", &email)]).await;
        assert_eq!(st, 200);
        assert!(html.contains("was added to the test policy"), "{html}");
    }
    let (_, html) = post(&n, &http, &add, &[("csrf", &csrf), ("account", &ids[4])]).await;
    assert!(html.contains("Members (5 of 5)"), "{html}");
    let listed = html.split("id=\"test-members\"").nth(1).unwrap();
    assert!(listed.contains("ext4@partner.example"));

    // A sixth: the page again, with core's refusal; nothing changed.
    let (st, html) = post(
        &n,
        &http,
        &add,
        &[("csrf", &csrf), ("email", "ext5@partner.example")],
    )
    .await;
    assert_eq!(st, 400);
    assert!(
        html.contains("at most 5 external users, and it is full"),
        "{html}"
    );
    assert!(html.contains("role=\"alert\""));
    let members = api_members(&n, &base, &root).await;
    assert_eq!(members.len(), 5);
    assert!(!members.contains(&ids[5]));

    // Remove ext0: a preview first, nothing changed yet.
    let remove = format!("{page}/test-policy/members/remove");
    let (st, html) = post(&n, &http, &remove, &[("csrf", &csrf), ("account", &ids[0])]).await;
    assert_eq!(st, 200);
    assert!(
        html.contains("This will take ext0@partner.example out of the test policy"),
        "{html}"
    );
    assert!(html.contains("name=\"confirm\" value=\"yes\""), "{html}");
    assert_eq!(api_members(&n, &base, &root).await.len(), 5);
    let (_, html) = post(
        &n,
        &http,
        &remove,
        &[
            ("csrf", &csrf_of(&html)),
            ("account", &ids[0]),
            ("confirm", "yes"),
        ],
    )
    .await;
    assert!(html.contains("was taken out of the test policy"), "{html}");
    let members = api_members(&n, &base, &root).await;
    assert_eq!(members.len(), 4);
    assert!(!members.contains(&ids[0]));

    // A managed account is refused with core's reason, nothing changed.
    let (st, html) = post(
        &n,
        &http,
        &add,
        &[("csrf", &csrf), ("email", "ann@acme.example")],
    )
    .await;
    assert_eq!(st, 400);
    assert!(
        html.contains("is not an external user of this organization"),
        "{html}"
    );
    assert_eq!(api_members(&n, &base, &root).await.len(), 4);
}

async fn the_org_page_rolls_the_test_policy_out_after_a_preview(n: Nodes) {
    let (base, root, _ids, _ann) = acme(&n, 1).await;
    let (http, page) = root_on_pages(&n, &base).await;
    let csrf = csrf_of(&get(&n, &http, &page).await);

    let (st, html) = post(
        &n,
        &http,
        &format!("{page}/test-policy"),
        &[
            ("csrf", &csrf),
            ("frequency", "60"),
            ("api_token_access", "on"),
        ],
    )
    .await;
    assert_eq!(st, 200);
    assert!(html.contains("The test policy was saved."), "{html}");
    assert!(html.contains("id=\"test-frequency\" name=\"frequency\" type=\"number\" min=\"15\" max=\"43200\" value=\"60\""), "{html}");
    let (_, t) = n
        .send(
            "GET",
            &format!("{base}/external-policy/test"),
            &bearer(&root),
            None,
        )
        .await;
    assert_eq!(t["verification_frequency_minutes"], 60);
    assert_eq!(t["api_token_access"], true);

    // The preview names both policies and changes nothing.
    let roll = format!("{page}/test-policy/roll-out");
    let (st, html) = post(&n, &http, &roll, &[("csrf", &csrf)]).await;
    assert_eq!(st, 200);
    assert!(
        html.contains("verification every 60 minutes, API token access on")
            && html.contains("which now has emailed code off, no verification frequency"),
        "{html}"
    );
    let (_, p) = n
        .send(
            "GET",
            &format!("{base}/external-policy"),
            &bearer(&root),
            None,
        )
        .await;
    assert!(p["verification_frequency_minutes"].is_null(), "{p}");

    // Confirmed, the settings are copied.
    let (_, html) = post(
        &n,
        &http,
        &roll,
        &[("csrf", &csrf_of(&html)), ("confirm", "yes")],
    )
    .await;
    assert!(
        html.contains("were copied to the external user policy"),
        "{html}"
    );
    let (_, p) = n
        .send(
            "GET",
            &format!("{base}/external-policy"),
            &bearer(&root),
            None,
        )
        .await;
    assert_eq!(p["verification_frequency_minutes"], 60, "{p}");
    assert_eq!(p["api_token_access"], true, "{p}");

    // Reset sessions of the test policy also previews first.
    let (st, html) = post(
        &n,
        &http,
        &format!("{page}/test-policy/reset-sessions"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(st, 200);
    assert!(html.contains("members (0 sessions) on the web"), "{html}");
}

async fn the_org_page_export_link_downloads_the_csv_with_the_session_cookie(n: Nodes) {
    let (base, _root, _ids, _ann) = acme(&n, 2).await;
    let (http, page) = root_on_pages(&n, &base).await;
    let html = get(&n, &http, &page).await;
    let link = format!("href=\"{base}/external-users.csv\"");
    assert!(html.contains(&link), "{html}");

    // The page's client has the session cookie and nothing else.
    let r = http
        .get(n.nodes[0].url(&format!("{base}/external-users.csv")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let csv = r.text().await.unwrap();
    assert!(
        csv.contains("ext0@partner.example") && csv.contains("ext1@partner.example"),
        "{csv}"
    );
    assert!(!csv.contains("ann@acme.example"), "{csv}");
}

/// The page's settings form races members added over the API (on the
/// other node, where there are two): every save changes the settings
/// alone, so no member added meanwhile is dropped by a save that read the
/// list before it.
async fn settings_saves_on_the_page_keep_members_added_meanwhile(n: Nodes) {
    let (base, root, ids, _ann) = acme(&n, 5).await;
    let (http, page) = root_on_pages(&n, &base).await;
    let csrf = csrf_of(&get(&n, &http, &page).await);
    let n = std::sync::Arc::new(n);
    let mut tasks = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let (api, base, root, id) = (n.clone(), base.clone(), root.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            let (st, p) = api
                .send(
                    "POST",
                    &format!("{base}/external-policy/test/members"),
                    &bearer(&root),
                    Some(serde_json::json!({ "account_id": id })),
                )
                .await;
            assert_eq!(st, 200, "{p}");
        }));
        for minutes in [15 + i, 60 + i] {
            let (n, http, page, csrf) = (n.clone(), http.clone(), page.clone(), csrf.clone());
            tasks.push(tokio::spawn(async move {
                let minutes = minutes.to_string();
                let (st, html) = post(
                    &n,
                    &http,
                    &format!("{page}/test-policy"),
                    &[("csrf", &csrf), ("frequency", &minutes)],
                )
                .await;
                assert_eq!(st, 200, "{html}");
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut members = api_members(&n, &base, &root).await;
    members.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(members, want, "a settings save dropped a member");
}

/// Each page test runs on SQLite and on two PostgreSQL nodes (the page on
/// the first node, API calls taking turns).
macro_rules! on_both_backends {
    ($($body:ident),* $(,)?) => {
        $(
            mod $body {
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    super::$body(Nodes::sqlite(one_account()).await).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    let Some(n) = Nodes::postgres(one_account()).await else {
                        return;
                    };
                    super::$body(n).await;
                }
            }
        )*
    };
}

on_both_backends!(
    the_org_page_adds_test_members_up_to_five_and_removes_after_a_preview,
    the_org_page_rolls_the_test_policy_out_after_a_preview,
    the_org_page_export_link_downloads_the_csv_with_the_session_cookie,
    settings_saves_on_the_page_keep_members_added_meanwhile,
);
