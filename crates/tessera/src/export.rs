//! `tessera admin org export-external-users`: the CSV export from the host,
//! written page by page to a file or standard output, with a progress bar
//! when standard error is a terminal.

use anyhow::Context;
use std::io::{IsTerminal, Write};
use std::path::Path;
use tessera_core::service::{Core, RequestContext, Sysadmin};

pub async fn external_users(
    core: &Core,
    admin: &Sysadmin,
    org: &str,
    output: Option<&Path>,
    ctx: &RequestContext,
) -> anyhow::Result<()> {
    let org_admin = core.org_admin_for_sysadmin(admin, org).await?;
    let mut export = core.export_external_users(&org_admin, ctx).await?;
    let mut out: Box<dyn Write> = match output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let bar = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(export.total());
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} external users ({eta} left)",
        ) {
            bar.set_style(style);
        }
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    while let Some(chunk) = export.next_chunk().await? {
        out.write_all(&chunk).context("cannot write the export")?;
        bar.set_position(export.written());
    }
    out.flush().context("cannot write the export")?;
    bar.finish_and_clear();
    if let Some(p) = output {
        eprintln!(
            "{} external users written to {}",
            export.written(),
            p.display()
        );
    }
    Ok(())
}
