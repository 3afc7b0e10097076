//! [`MailFiles`]: the development mail provider. Each message becomes one
//! `.eml` file (the exact bytes an SMTP server would get) in a folder,
//! readable by its owner only: it may hold a one-time code in clear. Not
//! meant for production.
//!
//! A file is named after the message's queue time and outbox id, and
//! written under a temporary name then renamed, so a reader never sees half
//! a message; a message whose file already exists (sent before a crash, then
//! claimed again) is not written twice.

use super::{EmailMessage, EmailProvider};
use crate::provider::DeliveryError;
use async_trait::async_trait;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Writes `<queued ms>-<outbox id>.eml` files (mode 0600) into a folder
/// (mode 0700, created when needed).
#[derive(Debug, Clone)]
pub struct MailFiles {
    dir: PathBuf,
}

impl MailFiles {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        MailFiles { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn write(&self, msg: &EmailMessage, bytes: &[u8]) -> std::io::Result<()> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        let name = format!("{}-{}", msg.queued_at.millis(), msg.outbox_id);
        let path = self.dir.join(format!("{name}.eml"));
        if path.exists() {
            return Ok(());
        }
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        std::io::Write::write_all(&mut file, bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)
    }
}

#[async_trait]
impl EmailProvider for MailFiles {
    async fn send(&self, msg: &EmailMessage) -> Result<(), DeliveryError> {
        let bytes = msg.build()?.formatted();
        let this = self.clone();
        let msg = msg.clone();
        tokio::task::spawn_blocking(move || this.write(&msg, &bytes))
            .await
            .map_err(|e| DeliveryError::Retryable(format!("mail file writer failed: {e}")))?
            .map_err(|e| {
                DeliveryError::Retryable(format!(
                    "cannot write mail to {}: {e}",
                    self.dir.display()
                ))
            })
    }
}
