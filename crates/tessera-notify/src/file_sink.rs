//! [`FileSink`]: the development provider. Each message becomes one JSON
//! line in a file, so a developer can read the code a test account was
//! sent. The file holds codes in clear, so it is created readable by its
//! owner only; it is not meant for production.

use crate::provider::{DeliveryError, SmsMessage, SmsProvider};
use async_trait::async_trait;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tessera_core::Clock;
use tokio::io::AsyncWriteExt;

/// Appends `{"at":…,"to":…,"text":…,"id":…}` lines to a file (mode 0600).
#[derive(Clone)]
pub struct FileSink {
    path: PathBuf,
    clock: Arc<dyn Clock>,
    /// One writer at a time, so lines never interleave.
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl FileSink {
    pub fn new(path: impl Into<PathBuf>, clock: Arc<dyn Clock>) -> Self {
        FileSink {
            path: path.into(),
            clock,
            lock: Arc::default(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl std::fmt::Debug for FileSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSink")
            .field("path", &self.path)
            .finish()
    }
}

#[async_trait]
impl SmsProvider for FileSink {
    async fn send(&self, msg: &SmsMessage) -> Result<(), DeliveryError> {
        let mut line = serde_json::json!({
            "at": self.clock.now().to_rfc3339(),
            "to": msg.to,
            "text": msg.text,
            "id": msg.idempotency_key,
        })
        .to_string();
        line.push('\n');
        let failed = |e: std::io::Error| {
            DeliveryError::Retryable(format!("cannot write {}: {e}", self.path.display()))
        };
        let _one_writer = self.lock.lock().await;
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.path)
            .await
            .map_err(failed)?;
        // The mode applies only on creation; tighten a file made otherwise.
        let mode = file.metadata().await.map_err(failed)?.permissions().mode();
        if mode & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .await
                .map_err(failed)?;
        }
        file.write_all(line.as_bytes()).await.map_err(failed)?;
        file.flush().await.map_err(failed)?;
        Ok(())
    }
}
