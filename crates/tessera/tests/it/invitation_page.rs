//! The page an invitation mail links to, against an in-process server
//! whose clock the test moves: a visitor is sent to sign in and comes
//! back, accepts once with the form, and the link then answers exactly
//! like an unknown one; an expired link is refused (410) and creates
//! nothing; an address without an account creates it from the page.

use crate::support::*;
use crate::world::Api;
use tessera_core::account::Role;
use tessera_core::clock::{ManualClock, Timestamp};
use tessera_core::mail::QueuedMail;
use tessera_core::org::MemberRole;
use tessera_core::service::{RequestContext, Sysadmin};

const T0: i64 = 1_800_000_000;
const DAY: i64 = 86_400;

/// Invites `email` to `org` as root, signed in afresh (the clock moves
/// past session lifetimes here); answers the token from the mailed link.
async fn invite(s: &InprocServer, org: tessera_core::ids::OrganizationId, email: &str) -> String {
    let core = &s.core;
    let admin_token = s.session_token("root@example.com").await;
    let who = core
        .authenticate(&admin_token)
        .await
        .unwrap()
        .full()
        .unwrap();
    let admin = core.require_org_admin(&who, org).await.unwrap();
    core.invite(
        &admin,
        email,
        MemberRole::Member,
        &RequestContext::default(),
    )
    .await
    .unwrap();
    let key = tessera_core::crypto::SecretBox::new(&[9u8; 32]).unwrap();
    let mail = core.store.outbox_for(email).await.unwrap();
    let newest = mail
        .iter()
        .filter(|m| m.subject.contains("invited"))
        .max_by_key(|m| m.id)
        .expect("an invitation mail");
    let QueuedMail::Template(content) =
        tessera_core::mail::open_email_body(&key, email, &newest.body).unwrap()
    else {
        panic!("not a template mail");
    };
    let link = &content.vars["link"];
    link.split("/invitations/").nth(1).unwrap().to_string()
}

/// Signs in through the sign-in page with `http`'s cookies; answers where
/// the sign-in landed.
async fn signin_on_page(s: &InprocServer, http: &reqwest::Client, email: &str) -> reqwest::Url {
    let r = page_signin(http, &s.url("/login"), email, PASSWORD).await;
    assert_eq!(r.status(), 200, "sign-in of {email}");
    r.url().clone()
}

#[tokio::test]
async fn an_invitation_page_accepts_once_and_expires_after_seven_days() {
    let clock = ManualClock::at(Timestamp(T0 * 1000));
    let (core, _dir) = test_core(clock.clone(), kit_config()).await;
    let s = InprocServer::start(core).await;
    human(&s.core, "root@example.com", Role::Sysadmin).await;
    human(&s.core, "ann@guest.example", Role::Member).await;
    let org = s
        .core
        .create_organization(
            &Sysadmin::host_operator(),
            "Acme",
            &RequestContext::default(),
        )
        .await
        .unwrap()
        .org
        .id;

    // A visitor without a session sees the organization and what joining
    // means, and is sent to sign in.
    let token = invite(&s, org, "ann@guest.example").await;
    let path = format!("/invitations/{token}");
    let ann = client();
    let r = ann.get(s.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("Join Acme"), "{html}");
    assert!(html.contains("external user"), "{html}");
    assert!(html.contains(r#"id="signin-to-accept""#), "{html}");
    assert!(!html.contains("/accept\""), "no accept form before sign-in");

    // Signing in comes back to the invitation, which now offers the form.
    let landed = signin_on_page(&s, &ann, "ann@guest.example").await;
    assert_eq!(landed.path(), path, "came back to the invitation");
    let html = ann
        .get(s.url(&path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(&format!("{path}/accept")), "{html}");

    // A forged form token does nothing.
    let r = ann
        .post(s.url(&format!("{path}/accept")))
        .form(&[("csrf", "forged-token-forged-token-forged-token")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    let r = ann
        .post(s.url(&format!("{path}/accept")))
        .form(&[("csrf", csrf_of(&html).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("You joined Acme"));
    let me: serde_json::Value = ann
        .get(s.url("/api/v1/session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["external"], true, "{me}");

    // Used: the page and the form answer exactly like an unknown token.
    let used = ann.get(s.url(&path)).send().await.unwrap();
    assert_eq!(used.status(), 404);
    let used = used.text().await.unwrap();
    let unknown = ann
        .get(s.url("/invitations/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(used, unknown.text().await.unwrap());
    let html = ann
        .get(s.url("/security"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let again = ann
        .post(s.url(&format!("{path}/accept")))
        .form(&[("csrf", csrf_of(&html).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
    assert_eq!(again.text().await.unwrap(), used);

    // An address without an account: the page creates it, within 7 days.
    let token = invite(&s, org, "bo@guest.example").await;
    let path = format!("/invitations/{token}");
    // Ann, signed in, is told the invitation is for another address, and
    // cannot accept it.
    let html = ann
        .get(s.url(&path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(
            "You are signed in as ann@guest.example, but this invitation is for bo@guest.example"
        ),
        "{html}"
    );
    let r = ann
        .post(s.url(&format!("{path}/accept")))
        .form(&[("csrf", csrf_of(&html).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    clock.advance_secs(7 * DAY - 60);
    let bo = client();
    let html = bo
        .get(s.url(&path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(&format!("{path}/signup")), "{html}");
    let r = bo
        .post(s.url(&format!("{path}/signup")))
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("display_name", "Bo"),
            ("password", "short"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "a password that breaks the rules");
    let html = r.text().await.unwrap();
    assert!(html.contains(r#"role="alert""#), "{html}");
    let r = bo
        .post(s.url(&format!("{path}/signup")))
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("display_name", "Bo"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(r.text().await.unwrap().contains("You joined Acme"));
    assert_eq!(
        signin_on_page(&s, &bo, "bo@guest.example").await.path(),
        "/security"
    );

    // Expired after 7 days: 410, and nothing is created.
    let token = invite(&s, org, "cy@guest.example").await;
    let path = format!("/invitations/{token}");
    clock.advance_secs(7 * DAY - 1);
    let cy = client();
    let html = cy
        .get(s.url(&path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Join Acme"), "still valid a second before");
    clock.advance_secs(1);
    let r = cy.get(s.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), 410);
    assert!(r.text().await.unwrap().contains("expired"));
    let r = cy
        .post(s.url(&format!("{path}/signup")))
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("display_name", "Cy"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410);
    let r = reqwest::Client::new()
        .post(s.url("/api/v1/signin"))
        .json(&serde_json::json!({"email": "cy@guest.example", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "no account was created");
}

/// A passkey sign-in is finished by the sign-in page's script, not by a
/// form handler: the page hands the script the invitation to go back to,
/// and the invitation page, reached signed in, drops the return cookie so
/// a later sign-in does not come back to it.
#[tokio::test]
async fn a_passkey_sign_in_from_an_invitation_goes_back_to_it() {
    let clock = ManualClock::at(Timestamp(T0 * 1000));
    let (core, _dir) = test_core(clock.clone(), kit_config()).await;
    let s = InprocServer::start(core).await;
    human(&s.core, "root@example.com", Role::Sysadmin).await;
    human(&s.core, "ann@guest.example", Role::Member).await;
    let org = s
        .core
        .create_organization(
            &Sysadmin::host_operator(),
            "Acme",
            &RequestContext::default(),
        )
        .await
        .unwrap()
        .org
        .id;
    let token = invite(&s, org, "ann@guest.example").await;
    let path = format!("/invitations/{token}");

    let ann = client();
    assert_eq!(ann.get(s.url(&path)).send().await.unwrap().status(), 200);
    let login = ann.get(s.url("/login")).send().await.unwrap();
    let html = login.text().await.unwrap();
    assert!(
        html.contains(&format!(
            r#"data-passkey-signin data-status="passkey-status" data-next="{path}""#
        )),
        "{html}"
    );
    let stranger = client()
        .get(s.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(stranger.contains(r#"data-next="/security""#), "{stranger}");

    // Signed in as the script does it (the API, a web session cookie),
    // then back at the invitation: the form is offered and the return
    // cookie is dropped.
    let r = ann
        .post(s.url("/api/v1/signin"))
        .json(&serde_json::json!({"email": "ann@guest.example", "password": PASSWORD, "client": "web"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = ann.get(s.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let dropped = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.contains("tessera_return="))
        .expect("the return cookie is dropped");
    assert!(dropped.contains("Max-Age=0"), "{dropped}");
    assert!(r.text().await.unwrap().contains(&format!("{path}/accept")));
    // A second visit has no cookie to drop.
    let r = ann.get(s.url(&path)).send().await.unwrap();
    assert!(
        !r.headers()
            .get_all("set-cookie")
            .iter()
            .any(|v| v.to_str().unwrap().contains("tessera_return=")),
    );
}
