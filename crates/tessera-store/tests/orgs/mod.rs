//! Organizations on both backends: the fresh install's organization,
//! members and managed accounts through verified domains (one
//! organization per domain, decided by the database), standings read
//! through the who-am-I cache and evicted by every change, invitations
//! spent once (under a race too) with their mail in the same commit, the
//! 2SV requirement mailing only when it turns on, and a reset that ends
//! only external users' web sessions.

use super::{account, session_for};
use std::sync::Arc;
use tessera_core::account::AccountKind;
use tessera_core::clock::Timestamp;
use tessera_core::email::Email;
use tessera_core::ids::{InvitationId, OrganizationId};
use tessera_core::org::{
    DomainClaim, DomainVerification, ExternalPolicy, Invitation, MemberRole, Organization,
    VerifiedBy,
};
use tessera_core::session::ClientKind;
use tessera_core::store::{NewSession, OutgoingMessage, Store, StoreError};

fn org(name: &str) -> Organization {
    Organization {
        id: OrganizationId(uuid::Uuid::new_v4()),
        name: name.into(),
        created_at: Timestamp(5),
    }
}

fn claim(org: OrganizationId, domain: &str) -> DomainClaim {
    DomainClaim {
        org,
        domain: domain.into(),
        token: format!("tok-{domain}"),
        created_at: Timestamp(6),
        verified_at: None,
        verified_by: None,
    }
}

fn mail(to: &str) -> OutgoingMessage {
    OutgoingMessage {
        channel: "email".into(),
        recipient: to.into(),
        subject: "s".into(),
        body: "sealed".into(),
    }
}

fn invitation(org: OrganizationId, email: &str, expires: i64) -> Invitation {
    Invitation {
        id: InvitationId(uuid::Uuid::new_v4()),
        org,
        email: Email::parse(email).unwrap(),
        role: MemberRole::Member,
        invited_by: None,
        created_at: Timestamp(10),
        expires_at: Timestamp(expires),
        accepted_at: None,
    }
}

macro_rules! org_conformance {
    ($backend:ident) => {
        mod $backend {
            use super::*;

            async fn store() -> Option<Arc<dyn Store>> {
                super::super::$backend().await.map(|f| {
                    let store = f.store.clone();
                    std::mem::forget(f._guard);
                    store
                })
            }

            #[tokio::test]
            async fn members_domains_and_standings() {
                let Some(s) = store().await else { return };
                // A fresh install has one organization.
                let all = s.organizations().await.unwrap();
                assert_eq!(all.len(), 1);
                assert_eq!(all[0].org.name, "Default organization");
                assert!(!all[0].two_step_required);
                assert_eq!(all[0].external, ExternalPolicy::default());

                let acme = org("Acme");
                s.insert_organization(&acme).await.unwrap();
                let dup = s.insert_organization(&org("Acme")).await;
                assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
                let other = org("Other");
                s.insert_organization(&other).await.unwrap();

                let ann = account("ann@acme.example");
                let bob = account("bob@partner.example");
                let mut bot = account("bot@acme.example");
                bot.kind = AccountKind::Service;
                for a in [&ann, &bob, &bot] {
                    s.insert_account(a).await.unwrap();
                }
                // Nobody belongs anywhere yet (the standing is cached now).
                assert!(s.org_standing(&ann).await.unwrap().memberships.is_empty());

                assert!(
                    s.add_member(acme.id, bob.id, MemberRole::Member, Timestamp(7))
                        .await
                        .unwrap()
                );
                assert!(
                    !s.add_member(acme.id, bob.id, MemberRole::OrgAdmin, Timestamp(7))
                        .await
                        .unwrap()
                );
                let st = s.org_standing(&bob).await.unwrap();
                assert_eq!(st.memberships.len(), 1);
                assert!(st.external() && st.managing().is_none());
                assert_eq!(st.memberships[0].role, Some(MemberRole::Member));

                // A verified domain manages its people, not service accounts.
                s.claim_domain(&claim(acme.id, "acme.example"))
                    .await
                    .unwrap();
                let again = s.claim_domain(&claim(acme.id, "acme.example")).await;
                assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
                s.claim_domain(&claim(other.id, "acme.example"))
                    .await
                    .unwrap();
                assert!(
                    s.org_standing(&ann).await.unwrap().memberships.is_empty(),
                    "not verified yet"
                );
                assert_eq!(
                    s.verify_domain(acme.id, "acme.example", VerifiedBy::Dns, Timestamp(8))
                        .await
                        .unwrap(),
                    DomainVerification::Verified
                );
                // The cached empty standing was evicted by the verification.
                let st = s.org_standing(&ann).await.unwrap();
                assert_eq!(st.managing().map(|m| m.org), Some(acme.id));
                assert!(!st.external());
                assert!(s.org_standing(&bot).await.unwrap().memberships.is_empty());
                // One organization per domain.
                assert_eq!(
                    s.verify_domain(other.id, "acme.example", VerifiedBy::Admin, Timestamp(9))
                        .await
                        .unwrap(),
                    DomainVerification::TakenByOther
                );
                assert_eq!(
                    s.verify_domain(acme.id, "acme.example", VerifiedBy::Admin, Timestamp(9))
                        .await
                        .unwrap(),
                    DomainVerification::AlreadyVerified
                );
                assert_eq!(
                    s.verify_domain(acme.id, "nope.example", VerifiedBy::Dns, Timestamp(9))
                        .await
                        .unwrap(),
                    DomainVerification::NotClaimed
                );
                let d = s.domains(acme.id).await.unwrap();
                assert_eq!(d.len(), 1);
                assert_eq!(d[0].verified_at, Some(Timestamp(8)));
                assert_eq!(d[0].verified_by.as_deref(), Some("dns"));

                // Members: the explicit one and the managed one.
                let m = s.members(acme.id).await.unwrap();
                let seen: Vec<(&str, bool, Option<MemberRole>)> = m
                    .iter()
                    .map(|m| (m.account.email.as_str(), m.managed, m.role))
                    .collect();
                assert_eq!(
                    seen,
                    vec![
                        ("ann@acme.example", true, None),
                        ("bob@partner.example", false, Some(MemberRole::Member)),
                    ]
                );
                assert!(
                    s.set_member_role(acme.id, bob.id, MemberRole::OrgAdmin)
                        .await
                        .unwrap()
                );
                assert!(
                    !s.set_member_role(acme.id, ann.id, MemberRole::OrgAdmin)
                        .await
                        .unwrap()
                );
                assert!(s.org_standing(&bob).await.unwrap().administers(acme.id));
                assert!(s.remove_member(acme.id, bob.id).await.unwrap());
                assert!(!s.remove_member(acme.id, bob.id).await.unwrap());
                assert!(s.org_standing(&bob).await.unwrap().memberships.is_empty());

                // Dropping the domain ends management at once.
                assert!(s.remove_domain(acme.id, "acme.example").await.unwrap());
                assert!(s.org_standing(&ann).await.unwrap().memberships.is_empty());
                assert_eq!(
                    s.verify_domain(other.id, "acme.example", VerifiedBy::Dns, Timestamp(10))
                        .await
                        .unwrap(),
                    DomainVerification::Verified
                );
                assert_eq!(
                    s.org_standing(&ann)
                        .await
                        .unwrap()
                        .managing()
                        .map(|m| m.org),
                    Some(other.id)
                );
            }

            #[tokio::test]
            async fn invitations_are_spent_once_with_their_mail_in_the_same_commit() {
                let Some(s) = store().await else { return };
                let acme = org("Acme");
                s.insert_organization(&acme).await.unwrap();
                let carl = account("carl@guest.example");
                s.insert_account(&carl).await.unwrap();
                let inv = invitation(acme.id, "carl@guest.example", 1_000);
                s.insert_invitation(&inv, b"inv-1", &mail("carl@guest.example"))
                    .await
                    .unwrap();
                assert_eq!(s.outbox_for("carl@guest.example").await.unwrap().len(), 1);
                let (found, name) = s.invitation_by_token(b"inv-1").await.unwrap().unwrap();
                assert_eq!((found.clone(), name.as_str()), (inv.clone(), "Acme"));
                assert!(s.invitation_by_token(b"nope").await.unwrap().is_none());
                assert_eq!(s.invitations(acme.id).await.unwrap(), vec![inv.clone()]);

                // Twenty parallel accepts: exactly one spends it.
                let wins: Vec<bool> = futures_join(&s, b"inv-1", carl.id).await;
                assert_eq!(wins.iter().filter(|w| **w).count(), 1, "{wins:?}");
                let st = s.org_standing(&carl).await.unwrap();
                assert_eq!(st.memberships.len(), 1);
                assert!(st.external());
                assert!(
                    !s.delete_invitation(acme.id, inv.id).await.unwrap(),
                    "accepted stays"
                );

                // Expired ones are not spent.
                let late = invitation(acme.id, "carl@guest.example", 50);
                s.insert_invitation(&late, b"inv-2", &mail("carl@guest.example"))
                    .await
                    .unwrap();
                assert!(
                    s.accept_invitation(b"inv-2", carl.id, None, Timestamp(50))
                        .await
                        .unwrap()
                        .is_none()
                );
                assert!(s.delete_invitation(acme.id, late.id).await.unwrap());

                // With a new account: both or neither.
                let dora = account("dora@guest.example");
                let inv3 = invitation(acme.id, "dora@guest.example", 1_000);
                s.insert_invitation(&inv3, b"inv-3", &mail("dora@guest.example"))
                    .await
                    .unwrap();
                let clash = account("carl@guest.example");
                let r = s
                    .accept_invitation(b"inv-3", clash.id, Some(&clash), Timestamp(20))
                    .await;
                assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
                let got = s
                    .accept_invitation(b"inv-3", dora.id, Some(&dora), Timestamp(20))
                    .await
                    .unwrap();
                assert_eq!(got.map(|i| i.id), Some(inv3.id));
                let stored = s.account_by_id(dora.id).await.unwrap().unwrap();
                assert_eq!(stored.email, dora.email);
                assert_eq!(s.org_standing(&stored).await.unwrap().memberships.len(), 1);
                // An org-admin accepting a member invitation stays org-admin.
                assert!(
                    s.set_member_role(acme.id, dora.id, MemberRole::OrgAdmin)
                        .await
                        .unwrap()
                );
                let inv4 = invitation(acme.id, "dora@guest.example", 1_000);
                s.insert_invitation(&inv4, b"inv-4", &mail("dora@guest.example"))
                    .await
                    .unwrap();
                s.accept_invitation(b"inv-4", dora.id, None, Timestamp(21))
                    .await
                    .unwrap()
                    .unwrap();
                assert!(s.org_standing(&stored).await.unwrap().administers(acme.id));
            }

            #[tokio::test]
            async fn the_two_step_requirement_mails_only_when_it_turns_on() {
                let Some(s) = store().await else { return };
                let acme = org("Acme");
                s.insert_organization(&acme).await.unwrap();
                s.claim_domain(&claim(acme.id, "acme.example"))
                    .await
                    .unwrap();
                s.verify_domain(acme.id, "acme.example", VerifiedBy::Admin, Timestamp(1))
                    .await
                    .unwrap();
                let ann = account("ann@acme.example");
                let ci = account("ci@acme.example");
                let eve = account("eve@acme.example");
                for a in [&ann, &ci, &eve] {
                    s.insert_account(a).await.unwrap();
                }
                s.set_pending_totp(eve.id, b"seed", Timestamp(1))
                    .await
                    .unwrap();
                assert!(
                    s.activate_totp(eve.id, b"seed", 1, Some("rk"), Timestamp(1))
                        .await
                        .unwrap()
                );
                let without: Vec<String> = s
                    .managed_without_two_step(acme.id)
                    .await
                    .unwrap()
                    .iter()
                    .map(|a| a.email.to_string())
                    .collect();
                assert_eq!(without, ["ann@acme.example", "ci@acme.example"]);

                let on = s
                    .set_two_step_policy(
                        acme.id,
                        true,
                        &[ci.id],
                        &[mail("ann@acme.example")],
                        Timestamp(2),
                    )
                    .await
                    .unwrap();
                assert!(on);
                assert_eq!(s.outbox_for("ann@acme.example").await.unwrap().len(), 1);
                let st = s.org_standing(&ann).await.unwrap();
                assert!(st.two_step_required());
                assert!(
                    !s.org_standing(&ci).await.unwrap().two_step_required(),
                    "excluded"
                );
                let ex: Vec<_> = s
                    .two_step_exclusions(acme.id)
                    .await
                    .unwrap()
                    .iter()
                    .map(|a| a.id)
                    .collect();
                assert_eq!(ex, vec![ci.id]);
                let without: Vec<_> = s
                    .managed_without_two_step(acme.id)
                    .await
                    .unwrap()
                    .iter()
                    .map(|a| a.id)
                    .collect();
                assert_eq!(without, vec![ann.id]);
                // Already on: no mail, exclusions replaced.
                let again = s
                    .set_two_step_policy(
                        acme.id,
                        true,
                        &[],
                        &[mail("ann@acme.example")],
                        Timestamp(3),
                    )
                    .await
                    .unwrap();
                assert!(!again);
                assert_eq!(s.outbox_for("ann@acme.example").await.unwrap().len(), 1);
                assert!(s.two_step_exclusions(acme.id).await.unwrap().is_empty());
                assert!(s.org_standing(&ci).await.unwrap().two_step_required());
                assert!(
                    !s.set_two_step_policy(acme.id, false, &[], &[], Timestamp(4))
                        .await
                        .unwrap()
                );
                assert!(!s.org_standing(&ann).await.unwrap().two_step_required());
                assert!(
                    !s.organization(acme.id)
                        .await
                        .unwrap()
                        .unwrap()
                        .two_step_required
                );
            }

            #[tokio::test]
            async fn a_reset_ends_only_external_users_web_sessions() {
                let Some(s) = store().await else { return };
                let acme = org("Acme");
                s.insert_organization(&acme).await.unwrap();
                s.claim_domain(&claim(acme.id, "acme.example"))
                    .await
                    .unwrap();
                s.verify_domain(acme.id, "acme.example", VerifiedBy::Admin, Timestamp(1))
                    .await
                    .unwrap();
                let ann = account("ann@acme.example");
                let bob = account("bob@partner.example");
                let stranger = account("zed@elsewhere.example");
                for a in [&ann, &bob, &stranger] {
                    s.insert_account(a).await.unwrap();
                }
                // Ann is managed even as an explicit member.
                s.add_member(acme.id, ann.id, MemberRole::OrgAdmin, Timestamp(1))
                    .await
                    .unwrap();
                s.add_member(acme.id, bob.id, MemberRole::Member, Timestamp(1))
                    .await
                    .unwrap();
                let mut sessions = Vec::new();
                for (i, (who, client)) in [
                    (&ann, ClientKind::Web),
                    (&bob, ClientKind::Web),
                    (&bob, ClientKind::Web),
                    (&bob, ClientKind::Mobile),
                    (&stranger, ClientKind::Web),
                ]
                .into_iter()
                .enumerate()
                {
                    let mut sess = session_for(who.id, 100);
                    sess.client = client;
                    let hash = format!("sess-{i}").into_bytes();
                    s.insert_session(&NewSession {
                        session: sess.clone(),
                        token_hash: hash.clone(),
                    })
                    .await
                    .unwrap();
                    // Cached before the reset, as on a busy node.
                    assert!(s.session_by_token(&hash).await.unwrap().is_some());
                    sessions.push((sess, hash));
                }
                let preview = s.external_web_sessions(acme.id).await.unwrap();
                assert_eq!(preview.len(), 2);
                let ended = s.reset_external_web_sessions(acme.id).await.unwrap();
                let mut ended_ids: Vec<_> = ended.iter().map(|x| x.id).collect();
                ended_ids.sort();
                let mut expected = vec![sessions[1].0.id, sessions[2].0.id];
                expected.sort();
                assert_eq!(ended_ids, expected);
                for (i, (_, hash)) in sessions.iter().enumerate() {
                    let live = s.session_by_token(hash).await.unwrap().is_some();
                    assert_eq!(live, !(i == 1 || i == 2), "session {i}");
                }
                assert!(
                    s.reset_external_web_sessions(acme.id)
                        .await
                        .unwrap()
                        .is_empty()
                );

                // The policy round-trips and reaches the standing at once.
                assert_eq!(
                    s.org_standing(&bob)
                        .await
                        .unwrap()
                        .external_policy()
                        .session_secs,
                    None
                );
                let p = ExternalPolicy {
                    email_code: true,
                    frequency_minutes: Some(15),
                    api_token_access: false,
                };
                assert!(s.set_external_policy(acme.id, &p).await.unwrap());
                assert!(
                    !s.set_external_policy(OrganizationId(uuid::Uuid::new_v4()), &p)
                        .await
                        .unwrap()
                );
                assert_eq!(s.organization(acme.id).await.unwrap().unwrap().external, p);
                let eff = s.org_standing(&bob).await.unwrap().external_policy();
                assert!(eff.email_code && eff.api_tokens_refused);
                assert_eq!(eff.session_secs, Some(900));
                assert!(
                    !s.org_standing(&ann)
                        .await
                        .unwrap()
                        .external_policy()
                        .email_code,
                    "managed"
                );
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn the_test_policy_admits_five_of_ten_racing_and_rolls_out() {
                use tessera_core::org::AppliedPolicy;
                use tessera_core::store::TestMemberAdded;
                let Some(s) = store().await else { return };
                let acme = org("Acme");
                s.insert_organization(&acme).await.unwrap();
                s.claim_domain(&claim(acme.id, "acme.example"))
                    .await
                    .unwrap();
                s.verify_domain(acme.id, "acme.example", VerifiedBy::Admin, Timestamp(1))
                    .await
                    .unwrap();
                let ann = account("ann@acme.example");
                let stranger = account("zed@elsewhere.example");
                s.insert_account(&ann).await.unwrap();
                s.insert_account(&stranger).await.unwrap();
                s.add_member(acme.id, ann.id, MemberRole::Member, Timestamp(1))
                    .await
                    .unwrap();
                let mut ext = Vec::new();
                for i in 0..10 {
                    let a = account(&format!("ext{i}@partner.example"));
                    s.insert_account(&a).await.unwrap();
                    s.add_member(acme.id, a.id, MemberRole::Member, Timestamp(1))
                        .await
                        .unwrap();
                    ext.push(a);
                }
                let tasks: Vec<_> = ext
                    .iter()
                    .map(|a| {
                        let (s, id) = (s.clone(), a.id);
                        tokio::spawn(async move {
                            s.add_test_member(acme.id, id, 5, Timestamp(2))
                                .await
                                .unwrap()
                        })
                    })
                    .collect();
                let mut added = 0;
                for t in tasks {
                    match t.await.unwrap() {
                        TestMemberAdded::Added => added += 1,
                        other => assert_eq!(other, TestMemberAdded::Full),
                    }
                }
                assert_eq!(added, 5);
                let members = s.test_members(acme.id).await.unwrap();
                assert_eq!(members.len(), 5);
                let inside = members[0].clone();
                let outside = ext
                    .iter()
                    .find(|a| !members.iter().any(|m| m.id == a.id))
                    .unwrap();
                for (who, want) in [
                    (inside.id, TestMemberAdded::AlreadyMember),
                    (outside.id, TestMemberAdded::Full),
                    (ann.id, TestMemberAdded::NotExternal),
                    (stranger.id, TestMemberAdded::NotExternal),
                ] {
                    assert_eq!(
                        s.add_test_member(acme.id, who, 5, Timestamp(3))
                            .await
                            .unwrap(),
                        want
                    );
                }

                // The settings reach the members' standings only.
                let p = ExternalPolicy {
                    email_code: false,
                    frequency_minutes: Some(30),
                    api_token_access: false,
                };
                let ids: Vec<_> = members.iter().map(|m| m.id).collect();
                assert!(
                    s.set_test_policy(acme.id, &p, Some(&ids), Timestamp(4))
                        .await
                        .unwrap()
                );
                let standing = s.org_standing(&inside).await.unwrap();
                assert_eq!(standing.memberships[0].test_policy, Some(p));
                assert_eq!(standing.external_policy().session_secs, Some(1800));
                let standing = s.org_standing(outside).await.unwrap();
                assert_eq!(standing.memberships[0].test_policy, None);
                assert_eq!(standing.external_policy().session_secs, None);
                // A stranger in the list: nothing changes.
                let with_stranger = [ids[0], stranger.id];
                let q = ExternalPolicy::default();
                assert!(
                    !s.set_test_policy(acme.id, &q, Some(&with_stranger), Timestamp(5))
                        .await
                        .unwrap()
                );
                assert_eq!(s.test_members(acme.id).await.unwrap().len(), 5);
                assert_eq!(s.organization(acme.id).await.unwrap().unwrap().test, p);
                // Settings alone: the members stay.
                let r = ExternalPolicy {
                    email_code: true,
                    ..p
                };
                assert!(
                    s.set_test_policy(acme.id, &r, None, Timestamp(5))
                        .await
                        .unwrap()
                );
                assert_eq!(s.test_members(acme.id).await.unwrap(), members);
                assert_eq!(s.organization(acme.id).await.unwrap().unwrap().test, r);
                assert!(
                    s.set_test_policy(acme.id, &p, None, Timestamp(5))
                        .await
                        .unwrap()
                );

                // Roll-out copies the settings, before and after answered.
                let (before, after) = s.roll_out_test_policy(acme.id).await.unwrap().unwrap();
                assert_eq!((before, after), (ExternalPolicy::default(), p));
                assert_eq!(s.organization(acme.id).await.unwrap().unwrap().external, p);
                assert_eq!(
                    s.org_standing(outside)
                        .await
                        .unwrap()
                        .external_policy()
                        .session_secs,
                    Some(1800),
                    "the roll-out reached the others"
                );

                // The export pages through every external user once.
                assert_eq!(s.count_external_users(acme.id).await.unwrap(), 10);
                let mut seen = Vec::new();
                let mut after = None;
                loop {
                    let page = s
                        .external_users_page(acme.id, after, 3, Timestamp(6))
                        .await
                        .unwrap();
                    if page.is_empty() {
                        break;
                    }
                    after = page.last().map(|r| r.account_id);
                    seen.extend(page);
                }
                assert_eq!(seen.len(), 10);
                let mut emails: Vec<_> = seen.iter().map(|r| r.email.clone()).collect();
                emails.sort();
                emails.dedup();
                assert_eq!(emails.len(), 10, "no one twice, Ann never");
                assert_eq!(
                    seen.iter()
                        .filter(|r| r.policy == AppliedPolicy::Test)
                        .count(),
                    5
                );
                assert!(
                    seen.iter()
                        .all(|r| r.organizations == vec!["Acme".to_string()])
                );
                assert!(
                    seen.iter()
                        .all(|r| r.display_name == "Test Person" && r.methods.is_empty())
                );

                // Ending a membership ends the test membership.
                assert!(s.remove_member(acme.id, inside.id).await.unwrap());
                assert_eq!(s.test_members(acme.id).await.unwrap().len(), 4);
            }
        }
    };
}

/// Twenty parallel accepts of one invitation; who won.
async fn futures_join(
    s: &Arc<dyn Store>,
    token: &'static [u8],
    account: tessera_core::ids::AccountId,
) -> Vec<bool> {
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.accept_invitation(token, account, None, Timestamp(20))
                .await
                .unwrap()
                .is_some()
        }));
    }
    let mut wins = Vec::new();
    for t in tasks {
        wins.push(t.await.unwrap());
    }
    wins
}

org_conformance!(sqlite);
org_conformance!(postgres);
