//! The development provider: JSON lines in a private file.

use crate::support::*;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use tessera_core::ManualClock;
use tessera_notify::FileSink;

#[tokio::test]
async fn writes_one_private_json_line_per_message() {
    let (store, dir) = sqlite().await;
    let clock = ManualClock::at(T0);
    let path = dir.path().join("sms.log");
    let sink = Arc::new(FileSink::new(&path, Arc::new(clock.clone())));
    queue(store.as_ref(), "+15550200", "Code 111111", T0).await;
    queue(store.as_ref(), "+15550201", "Line \"two\"\nsecond line", T0).await;
    let w = worker(store.clone(), sink, &clock);
    assert_eq!(w.run_once().await.unwrap().delivered, 2);

    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    lines.sort_by_key(|l| l["to"].as_str().unwrap().to_string());
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["to"], "+15550200");
    assert_eq!(lines[0]["text"], "Code 111111");
    assert_eq!(lines[0]["at"], T0.to_rfc3339());
    assert_eq!(lines[1]["text"], "Line \"two\"\nsecond line");
    assert!(
        lines[1]["id"]
            .as_str()
            .unwrap()
            .starts_with("tessera-outbox-")
    );
}

#[tokio::test]
async fn tightens_a_file_created_with_wider_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sms.log");
    std::fs::write(&path, "").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let sink = FileSink::new(&path, Arc::new(ManualClock::at(T0)));
    use tessera_notify::SmsProvider;
    sink.send(&tessera_notify::SmsMessage {
        to: "+15550202".into(),
        text: "hi".into(),
        idempotency_key: "k".into(),
    })
    .await
    .unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
}
