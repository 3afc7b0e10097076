//! Organizations over real HTTP against the real binary: the fresh
//! install's organization, creating more, org-admins who manage only
//! their own, members added by email, who-am-I's `organization`,
//! `external` and `organizations`, and domains proved by a TXT record
//! that a real DNS server (dnslib) on 127.0.0.1 serves, with a wrong
//! token refused and a sysadmin's override without DNS.

use crate::dns_peer::DnsPeer;
use crate::support::*;
use crate::world::{add_member, bearer, org_with_domain};
use serde_json::{Value, json};

pub(crate) async fn call(
    s: &Server,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut r = reqwest::Client::new()
        .request(method, s.url(path))
        .bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = r.text().await.unwrap();
    if status >= 400 {
        assert_eq!(ct, "application/problem+json", "{status} {text}");
    }
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn organizations_members_and_domains_proved_through_dns() {
    let Some(dns) = DnsPeer::start() else { return };
    let s = Server::start_with(Opts {
        env: vec![(
            "TESSERA_DNS__NAMESERVERS".into(),
            format!("[\"{}\"]", dns.addr()),
        )],
        ..Default::default()
    });
    s.create_user("root@acme.example", "sysadmin");
    s.create_user("olga@acme.example", "member");
    s.create_user("pat@partner.example", "member");
    s.create_user("zoe@acme.example", "member");
    let root = signin(&s, "root@acme.example", PASSWORD).await;
    let olga = signin(&s, "olga@acme.example", PASSWORD).await;
    let pat = signin(&s, "pat@partner.example", PASSWORD).await;

    // A fresh install has one organization.
    let (st, list) = call(&s, "GET", "/api/v1/admin/organizations", &root, None).await;
    assert_eq!(st, 200, "{list}");
    assert_eq!(list["organizations"].as_array().unwrap().len(), 1);
    assert_eq!(list["organizations"][0]["name"], "Default organization");
    // Sysadmins create more; names are unique; members may not.
    let (st, acme) = call(
        &s,
        "POST",
        "/api/v1/admin/organizations",
        &root,
        Some(json!({"name": "Acme"})),
    )
    .await;
    assert_eq!(st, 201, "{acme}");
    let org = acme["id"].as_str().unwrap().to_string();
    assert_eq!(
        acme["external_policy"],
        json!({"email_code": false, "verification_frequency_minutes": null, "api_token_access": true})
    );
    let (st, _) = call(
        &s,
        "POST",
        "/api/v1/admin/organizations",
        &root,
        Some(json!({"name": "Acme"})),
    )
    .await;
    assert_eq!(st, 409);
    let (st, _) = call(
        &s,
        "POST",
        "/api/v1/admin/organizations",
        &root,
        Some(json!({"name": ""})),
    )
    .await;
    assert_eq!(st, 400);
    let (st, _) = call(
        &s,
        "POST",
        "/api/v1/admin/organizations",
        &olga,
        Some(json!({"name": "Mine"})),
    )
    .await;
    assert_eq!(st, 403);
    let (st, _) = call(&s, "GET", "/api/v1/admin/organizations", &olga, None).await;
    assert_eq!(st, 403);
    let base = format!("/api/v1/admin/organizations/{org}");
    let (st, _) = call(&s, "GET", &base, &olga, None).await;
    assert_eq!(st, 403, "not an admin of it");
    let (st, _) = call(
        &s,
        "GET",
        "/api/v1/admin/organizations/not-a-uuid",
        &root,
        None,
    )
    .await;
    assert_eq!(st, 400);
    let (st, _) = call(
        &s,
        "GET",
        &format!("/api/v1/admin/organizations/{}", uuid::Uuid::new_v4()),
        &root,
        None,
    )
    .await;
    assert_eq!(st, 404);

    // Members by email; Olga becomes an org-admin of Acme only.
    let members = format!("{base}/members");
    let (st, m) = call(
        &s,
        "POST",
        &members,
        &root,
        Some(json!({"email": "olga@acme.example", "role": "org-admin"})),
    )
    .await;
    assert_eq!(st, 201, "{m}");
    assert_eq!(m["role"], "org-admin");
    assert_eq!(m["external"], true, "no verified domain yet");
    let (st, _) = call(
        &s,
        "POST",
        &members,
        &root,
        Some(json!({"email": "olga@acme.example"})),
    )
    .await;
    assert_eq!(st, 409);
    let (st, _) = call(
        &s,
        "POST",
        &members,
        &root,
        Some(json!({"email": "nobody@acme.example"})),
    )
    .await;
    assert_eq!(st, 404);
    let (st, _) = call(
        &s,
        "POST",
        &members,
        &root,
        Some(json!({"email": "pat@partner.example", "role": "owner"})),
    )
    .await;
    assert_eq!(st, 400);
    let (st, m) = call(
        &s,
        "POST",
        &members,
        &olga,
        Some(json!({"email": "pat@partner.example"})),
    )
    .await;
    assert_eq!(st, 201, "an org-admin adds members: {m}");
    let pat_id = m["account_id"].as_str().unwrap().to_string();
    let (st, list) = call(&s, "GET", "/api/v1/admin/organizations", &olga, None).await;
    assert_eq!(st, 200);
    assert_eq!(
        list["organizations"].as_array().unwrap().len(),
        1,
        "only her own: {list}"
    );
    let (st, _) = call(&s, "GET", &format!("{base}/members"), &pat, None).await;
    assert_eq!(st, 403, "a plain member does not administer");

    // Who-am-I: Pat is an external user of Acme, managed by nobody.
    let (st, me) = call(&s, "GET", "/api/v1/session", &pat, None).await;
    assert_eq!(st, 200);
    assert_eq!(me["organization"], Value::Null);
    assert_eq!(me["external"], true);
    assert_eq!(
        me["organizations"],
        json!([{"id": org, "name": "Acme", "external": true, "role": "member"}])
    );

    // Domains: a claim answers the TXT record to publish.
    let domains = format!("{base}/domains");
    let (st, d) = call(
        &s,
        "POST",
        &domains,
        &olga,
        Some(json!({"domain": "Acme.Example."})),
    )
    .await;
    assert_eq!(st, 201, "{d}");
    assert_eq!(d["domain"], "acme.example");
    assert_eq!(d["verified"], false);
    let txt = d["txt_record"]["value"].as_str().unwrap().to_string();
    assert!(txt.starts_with("tessera-verification="), "{txt}");
    assert_eq!(d["txt_record"]["name"], "acme.example");
    assert_eq!(d["txt_record"]["type"], "TXT");
    let (st, _) = call(
        &s,
        "POST",
        &domains,
        &olga,
        Some(json!({"domain": "acme.example"})),
    )
    .await;
    assert_eq!(st, 409);
    let (st, _) = call(
        &s,
        "POST",
        &domains,
        &olga,
        Some(json!({"domain": "not a domain"})),
    )
    .await;
    assert_eq!(st, 400);

    let verify = format!("{domains}/acme.example/verify");
    // Nothing published: refused, and the answer says what to publish.
    let (st, e) = call(&s, "POST", &verify, &olga, None).await;
    assert_eq!(st, 400, "{e}");
    assert!(e["detail"].as_str().unwrap().contains(&txt), "{e}");
    // A wrong token is refused.
    dns.set_txt(&[(
        "acme.example",
        &["v=spf1 -all", "tessera-verification=wrong"],
    )]);
    let (st, _) = call(&s, "POST", &verify, &olga, Some(json!({}))).await;
    assert_eq!(st, 400);
    // An org-admin may not skip DNS.
    let (st, _) = call(
        &s,
        "POST",
        &verify,
        &olga,
        Some(json!({"without_dns": true})),
    )
    .await;
    assert_eq!(st, 403);
    // The right record, among others, verifies it.
    dns.set_txt(&[("acme.example", &["v=spf1 -all", &txt])]);
    let (st, d) = call(&s, "POST", &verify, &olga, None).await;
    assert_eq!(st, 200, "{d}");
    assert_eq!(d["verified"], true);
    assert_eq!(d["verified_by"], "dns");

    // Zoe (acme.example, never added) is now managed; Olga too.
    let zoe = signin(&s, "zoe@acme.example", PASSWORD).await;
    let (_, me) = call(&s, "GET", "/api/v1/session", &zoe, None).await;
    assert_eq!(me["organization"], json!({"id": org, "name": "Acme"}));
    assert_eq!(me["external"], false);
    assert_eq!(
        me["organizations"],
        json!([{"id": org, "name": "Acme", "external": false, "role": null}])
    );
    let (_, me) = call(&s, "GET", "/api/v1/session", &olga, None).await;
    assert_eq!(me["organizations"][0]["external"], false);
    assert_eq!(me["organizations"][0]["role"], "org-admin");
    let (_, list) = call(&s, "GET", &members, &olga, None).await;
    let seen: Vec<(String, bool)> = list["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["email"].as_str().unwrap().to_string(),
                m["managed"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("olga@acme.example".to_string(), true),
            ("pat@partner.example".to_string(), false),
            ("root@acme.example".to_string(), true),
            ("zoe@acme.example".to_string(), true),
        ]
    );

    // One organization per domain; a sysadmin may skip DNS (air-gapped).
    let (_, other) = call(
        &s,
        "POST",
        "/api/v1/admin/organizations",
        &root,
        Some(json!({"name": "Other"})),
    )
    .await;
    let other_base = format!(
        "/api/v1/admin/organizations/{}",
        other["id"].as_str().unwrap()
    );
    let (st, _) = call(
        &s,
        "POST",
        &format!("{other_base}/domains"),
        &root,
        Some(json!({"domain": "acme.example"})),
    )
    .await;
    assert_eq!(st, 201);
    let (st, _) = call(
        &s,
        "POST",
        &format!("{other_base}/domains/acme.example/verify"),
        &root,
        Some(json!({"without_dns": true})),
    )
    .await;
    assert_eq!(st, 409);
    call(
        &s,
        "POST",
        &format!("{other_base}/domains"),
        &root,
        Some(json!({"domain": "partner.example"})),
    )
    .await;
    let (st, d) = call(
        &s,
        "POST",
        &format!("{other_base}/domains/partner.example/verify"),
        &root,
        Some(json!({"without_dns": true})),
    )
    .await;
    assert_eq!(st, 200, "{d}");
    assert_eq!(d["verified_by"], "admin");
    let (_, me) = call(&s, "GET", "/api/v1/session", &pat, None).await;
    assert_eq!(me["organization"]["name"], "Other");
    assert_eq!(me["external"], true, "still external to Acme");

    // Removing a member; managed accounts cannot be removed that way.
    let (st, _) = call(&s, "DELETE", &format!("{members}/{pat_id}"), &olga, None).await;
    assert_eq!(st, 204);
    let (st, _) = call(&s, "DELETE", &format!("{members}/{pat_id}"), &olga, None).await;
    assert_eq!(st, 404);
    let (_, me) = call(&s, "GET", "/api/v1/session", &pat, None).await;
    assert_eq!(me["external"], false);

    // Every change is in the audit log.
    let (_, audit) = call(&s, "GET", "/api/v1/admin/audit?limit=1000", &root, None).await;
    let kinds: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for k in [
        "org.created",
        "org.member_added",
        "org.member_removed",
        "org.domain_claimed",
        "org.domain_verified",
    ] {
        assert!(kinds.contains(&k), "{k} missing: {kinds:?}");
    }
    let verified: Vec<&Value> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "org.domain_verified")
        .collect();
    assert!(verified.iter().any(|e| e["detail"]["by"] == "admin"));
}

/// The external user policy's emailed code, read from a real SMTP server
/// (aiosmtpd): every sign-in of an external user asks for it, from a known
/// device too; a managed account is not asked; and an external user's
/// password alone is no longer good for HTTP Basic.
#[tokio::test]
async fn external_users_are_asked_for_an_emailed_code_at_every_sign_in() {
    use crate::email_codes::{code_mails, nth_code};
    let Some(smtp) = crate::smtp_peer::SmtpPeer::start() else {
        return;
    };
    let s = Server::start_with(Opts {
        env: vec![
            ("TESSERA_EMAIL__PROVIDER".into(), "smtp".into()),
            ("TESSERA_EMAIL__SMTP_URL".into(), smtp.url()),
            ("TESSERA_EMAIL__FROM".into(), "security@acme.example".into()),
            // Only the policy asks for codes here.
            ("TESSERA_EMAIL_CODE__AT_SIGNIN".into(), "off".into()),
        ],
        ..Default::default()
    });
    s.create_user("root@acme.example", "sysadmin");
    s.create_user("ann@acme.example", "member");
    s.create_user("bob@partner.example", "member");
    let root = signin(&s, "root@acme.example", PASSWORD).await;
    let base = org_with_domain(&s, &bearer(&root), "Acme", "acme.example").await;
    add_member(&s, &bearer(&root), &base, "bob@partner.example").await;
    let basic = |email: &str| crate::guard_rails::basic(email, PASSWORD);
    let http = reqwest::Client::new();
    let r = http
        .get(s.url("/api/v1/sessions"))
        .header("authorization", basic("bob@partner.example"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "Basic works before the policy");

    let (st, p) = call(
        &s,
        "PUT",
        &format!("{base}/external-policy"),
        &root,
        Some(json!({"email_code": true, "verification_frequency_minutes": null, "api_token_access": true})),
    )
    .await;
    assert_eq!(st, 200, "{p}");

    let sign_in = |email: &'static str, device: Option<String>| {
        let s = &s;
        async move {
            let mut body = json!({"email": email, "password": PASSWORD});
            if let Some(d) = device {
                body["device_token"] = json!(d);
            }
            let r = reqwest::Client::new()
                .post(s.url("/api/v1/signin"))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    let mut device = None;
    for n in 1..=2 {
        let first = sign_in("bob@partner.example", device.clone()).await;
        assert_eq!(first["status"], "second_step", "sign-in {n}: {first}");
        assert_eq!(first["methods"], json!(["email_code"]));
        let code = nth_code(&smtp, "bob@partner.example", n).await;
        let flow = first["flow_id"].as_str().unwrap();
        let (st, done) = call(
            &s,
            "POST",
            &format!("/api/v1/signin/{flow}/email_code"),
            "",
            Some(json!({"code": code})),
        )
        .await;
        assert_eq!(st, 200, "{done}");
        assert_eq!(
            done["session"]["methods"],
            json!(["password", "email_code"])
        );
        assert_eq!(done["session"]["external"], true);
        // The second time from a device the account knows: asked all the same.
        device = done["device_token"].as_str().map(str::to_string).or(device);
        assert!(device.is_some());
    }
    // A managed account is not asked.
    let ann = sign_in("ann@acme.example", None).await;
    assert_eq!(ann["status"], "complete", "{ann}");
    assert!(code_mails(&smtp, "ann@acme.example").is_empty());
    // Basic with the password is refused for Bob now, not for Ann.
    let r = http
        .get(s.url("/api/v1/sessions"))
        .header("authorization", basic("bob@partner.example"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .get(s.url("/api/v1/sessions"))
        .header("authorization", basic("ann@acme.example"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// The link in the newest invitation mail to `to`.
async fn invitation_link(smtp: &crate::smtp_peer::SmtpPeer, to: &str, n: usize) -> String {
    for _ in 0..200 {
        let got: Vec<Value> = smtp
            .messages()
            .into_iter()
            .filter(|m| m["to"] == to && m["subject"].as_str().unwrap().contains("invited"))
            .collect();
        if got.len() >= n {
            let text = got[n - 1]["text"].as_str().unwrap();
            return text
                .split_whitespace()
                .find(|w| w.contains("/invitations/"))
                .unwrap_or_else(|| panic!("no link in {text}"))
                .to_string();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "invitation mail {n} to {to} never came: {:?}",
        smtp.messages()
    );
}

/// Invitations by mail (a real SMTP server): the link shows what it is
/// for, creates the invited address's account once, or is accepted by the
/// signed-in owner of the address and by nobody else; a withdrawn one
/// stops working; all of it audited.
#[tokio::test]
async fn invitations_arrive_by_mail_and_work_once() {
    let Some(smtp) = crate::smtp_peer::SmtpPeer::start() else {
        return;
    };
    let s = Server::start_with(Opts {
        env: vec![
            ("TESSERA_EMAIL__PROVIDER".into(), "smtp".into()),
            ("TESSERA_EMAIL__SMTP_URL".into(), smtp.url()),
            ("TESSERA_EMAIL__FROM".into(), "security@acme.example".into()),
            ("TESSERA_EMAIL_CODE__AT_SIGNIN".into(), "off".into()),
        ],
        ..Default::default()
    });
    s.create_user("root@acme.example", "sysadmin");
    s.create_user("eve@elsewhere.example", "member");
    s.create_user("fay@guest.example", "member");
    let root = signin(&s, "root@acme.example", PASSWORD).await;
    let (_, org) = call(
        &s,
        "POST",
        "/api/v1/admin/organizations",
        &root,
        Some(json!({"name": "Acme"})),
    )
    .await;
    let org_id = org["id"].as_str().unwrap().to_string();
    let base = format!("/api/v1/admin/organizations/{org_id}");
    let invitations = format!("{base}/invitations");

    // A new address: the link creates the account, once.
    let (st, inv) = call(
        &s,
        "POST",
        &invitations,
        &root,
        Some(json!({"email": "Dan@Guest.example"})),
    )
    .await;
    assert_eq!(st, 201, "{inv}");
    assert_eq!(inv["email"], "dan@guest.example");
    assert_eq!(inv["status"], "pending");
    let link = invitation_link(&smtp, "dan@guest.example", 1).await;
    let port = s.base.rsplit(':').next().unwrap();
    assert!(
        link.starts_with("http://") && link.contains(&format!(":{port}/invitations/")),
        "{link}"
    );
    let token = link.rsplit('/').next().unwrap().to_string();
    let (st, info) = call(&s, "GET", &format!("/api/v1/invitations/{token}"), "", None).await;
    assert_eq!(st, 200, "{info}");
    assert_eq!(info["organization"], "Acme");
    assert_eq!(info["account_exists"], false);
    assert_eq!(info["status"], "pending");
    let (st, _) = call(&s, "GET", "/api/v1/invitations/not-a-token", "", None).await;
    assert_eq!(st, 404);
    let signup = format!("/api/v1/invitations/{token}/signup");
    let (st, _) = call(&s, "POST", &signup, "", Some(json!({"password": "short"}))).await;
    assert_eq!(st, 400, "the password rules apply");
    let (st, joined) = call(
        &s,
        "POST",
        &signup,
        "",
        Some(json!({"display_name": "Dan", "password": PASSWORD})),
    )
    .await;
    assert_eq!(st, 201, "{joined}");
    assert_eq!(joined["organization_id"], org_id.as_str());
    let (st, _) = call(
        &s,
        "POST",
        &signup,
        "",
        Some(json!({"display_name": "Dan", "password": PASSWORD})),
    )
    .await;
    assert_eq!(st, 400, "used already");
    let dan = signin(&s, "dan@guest.example", PASSWORD).await;
    let (_, me) = call(&s, "GET", "/api/v1/session", &dan, None).await;
    assert_eq!(me["external"], true);
    assert_eq!(me["organizations"][0]["name"], "Acme");

    // An existing account accepts signed in as itself; nobody else can.
    let (st, _) = call(
        &s,
        "POST",
        &invitations,
        &root,
        Some(json!({"email": "fay@guest.example", "role": "org-admin"})),
    )
    .await;
    assert_eq!(st, 201);
    let token = invitation_link(&smtp, "fay@guest.example", 1)
        .await
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let (_, info) = call(&s, "GET", &format!("/api/v1/invitations/{token}"), "", None).await;
    assert_eq!(info["account_exists"], true);
    let (st, _) = call(
        &s,
        "POST",
        &format!("/api/v1/invitations/{token}/signup"),
        "",
        Some(json!({"password": PASSWORD})),
    )
    .await;
    assert_eq!(st, 409, "the account exists: sign in");
    let eve = signin(&s, "eve@elsewhere.example", PASSWORD).await;
    let accept = format!("/api/v1/invitations/{token}/accept");
    let (st, _) = call(&s, "POST", &accept, &eve, None).await;
    assert_eq!(st, 403, "another address");
    let fay = signin(&s, "fay@guest.example", PASSWORD).await;
    let (st, joined) = call(&s, "POST", &accept, &fay, None).await;
    assert_eq!(st, 200, "{joined}");
    assert_eq!(joined["role"], "org-admin");
    let (st, _) = call(&s, "POST", &accept, &fay, None).await;
    assert_eq!(st, 400, "used already");
    let (st, _) = call(&s, "GET", &format!("{base}/members"), &fay, None).await;
    assert_eq!(st, 200, "Fay administers Acme now");

    // A withdrawn invitation's link is gone.
    let (_, inv) = call(
        &s,
        "POST",
        &invitations,
        &fay,
        Some(json!({"email": "gus@guest.example"})),
    )
    .await;
    let token = invitation_link(&smtp, "gus@guest.example", 1)
        .await
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let (st, _) = call(
        &s,
        "DELETE",
        &format!("{invitations}/{}", inv["id"].as_str().unwrap()),
        &fay,
        None,
    )
    .await;
    assert_eq!(st, 204);
    let (st, _) = call(&s, "GET", &format!("/api/v1/invitations/{token}"), "", None).await;
    assert_eq!(st, 404);
    let (_, list) = call(&s, "GET", &invitations, &root, None).await;
    let statuses: Vec<&str> = list["invitations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["accepted", "accepted"]);
    let (_, audit) = call(
        &s,
        "GET",
        "/api/v1/admin/audit?kind=org.invitation_accepted",
        &root,
        None,
    )
    .await;
    assert_eq!(audit["events"].as_array().unwrap().len(), 2);
}
