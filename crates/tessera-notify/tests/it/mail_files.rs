//! The `email` channel end to end into `.eml` files: a queued notification
//! (sealed, as core queues it) becomes a multipart file readable by its
//! owner only; a row from an earlier version (unsealed text) still goes out.

use crate::support::*;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use tessera_core::mail::email_message;
use tessera_core::store::OutboxStore;
use tessera_core::{ManualClock, OsSecrets};
use tessera_notify::{EmailChannel, MailFiles, MailTemplates, OutboxWorker, parse_from};

#[tokio::test]
async fn queued_mail_becomes_one_private_eml_file_each() {
    let (store, dir) = sqlite().await;
    let m = email_message(
        &secret_box(),
        &OsSecrets,
        "ada@example.com",
        "Two-step verification is now off",
        "two_step_disabled",
        &[("name", "Ada <&>"), ("when", "then"), ("issuer", "Acme")],
    )
    .unwrap();
    store
        .enqueue(&m.channel, &m.recipient, &m.subject, &m.body, T0)
        .await
        .unwrap();
    store
        .enqueue(
            "email",
            "old@example.com",
            "Old notice",
            "Hello Old,\n\nSomething happened.\n",
            T0,
        )
        .await
        .unwrap();
    let mail_dir = dir.path().join("mail");
    let channel = EmailChannel::new(
        Arc::new(MailFiles::new(&mail_dir)),
        Arc::new(MailTemplates::builtin()),
        secret_box(),
        parse_from("Acme <security@acme.example>").unwrap(),
    );
    let clock = ManualClock::at(T0);
    let w = OutboxWorker::new(store.clone(), Arc::new(channel), Arc::new(clock));
    assert_eq!(w.run_once().await.unwrap().delivered, 2);

    let mut files: Vec<_> = std::fs::read_dir(&mail_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(
        std::fs::metadata(&mail_dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let mut texts = Vec::new();
    for f in &files {
        assert_eq!(f.extension().unwrap(), "eml");
        assert_eq!(
            std::fs::metadata(f).unwrap().permissions().mode() & 0o777,
            0o600
        );
        texts.push(std::fs::read_to_string(f).unwrap());
    }
    let new = texts
        .iter()
        .find(|t| t.contains("To: ada@example.com"))
        .unwrap();
    assert!(new.contains("From: Acme <security@acme.example>"), "{new}");
    assert!(
        new.contains("Subject: Two-step verification is now off"),
        "{new}"
    );
    assert!(new.contains("multipart/alternative"), "{new}");
    assert!(new.contains("Ada &lt;&amp;&gt;"), "escaped in HTML: {new}");
    let old = texts
        .iter()
        .find(|t| t.contains("To: old@example.com"))
        .unwrap();
    assert!(old.contains("Something happened."), "{old}");
    assert!(!old.contains("multipart"), "{old}");
    // Delivered rows no longer hold their bodies.
    assert_eq!(message(store.as_ref(), "ada@example.com").await.body, "");
}
