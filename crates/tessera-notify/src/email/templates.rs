//! [`MailTemplates`]: the built-in mail templates, with the operator's
//! overrides from `<data_dir>/templates/` read and checked once, at start.
//!
//! An override is a file named like a built-in part (`two_step_enabled.txt`,
//! `two_step_enabled.html`, `layout.html`, …). It may use only the
//! placeholders of the part it replaces, so every queued message still has
//! a value for each of them; a `.txt` or `.html` file with an unknown name
//! is refused too, so a misspelt override is not silently ignored. Other
//! files in the folder are left alone. Changing an override takes a restart.

use crate::ConfigError;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use tessera_core::mail::render::placeholders;
use tessera_core::mail::{BUILTIN, LAYOUT, LAYOUT_PLACEHOLDERS, MailContent, render_with_layout};

/// The two sources of one template.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Parts {
    text: String,
    html: String,
}

/// Every template in effect.
#[derive(Debug, Clone)]
pub struct MailTemplates {
    messages: BTreeMap<&'static str, Parts>,
    layout: Parts,
    overridden: Vec<String>,
}

impl MailTemplates {
    /// The templates compiled into the binary.
    pub fn builtin() -> Self {
        MailTemplates {
            messages: BUILTIN
                .iter()
                .map(|b| {
                    (
                        b.name,
                        Parts {
                            text: b.text.into(),
                            html: b.html.into(),
                        },
                    )
                })
                .collect(),
            layout: Parts {
                text: LAYOUT.text.into(),
                html: LAYOUT.html.into(),
            },
            overridden: Vec::new(),
        }
    }

    /// The built-in templates with the overrides found in `dir` (none if
    /// it does not exist). An override that cannot work is refused with one
    /// line naming the file.
    pub fn load(dir: &Path) -> Result<Self, ConfigError> {
        let mut t = Self::builtin();
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(t),
            Err(e) => {
                return Err(ConfigError(format!(
                    "mail templates: cannot read {}: {e}",
                    dir.display()
                )));
            }
        };
        let mut files: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        files.sort();
        for path in files {
            let (Some(stem), Some(ext)) = (
                path.file_stem().and_then(|s| s.to_str()),
                path.extension().and_then(|s| s.to_str()),
            ) else {
                continue;
            };
            if ext != "txt" && ext != "html" {
                continue;
            }
            let bad = |why: String| ConfigError(format!("mail template {}: {why}", path.display()));
            let allowed: BTreeSet<String> = if stem == "layout" {
                LAYOUT_PLACEHOLDERS.iter().map(|s| s.to_string()).collect()
            } else {
                let Some(parts) = t.messages.get(stem) else {
                    let known: Vec<&str> = BUILTIN.iter().map(|b| b.name).collect();
                    return Err(bad(format!(
                        "no template is called {stem:?} (known: layout, {})",
                        known.join(", ")
                    )));
                };
                placeholders(&parts.text).map_err(|e| bad(e.0))?
            };
            let source = std::fs::read_to_string(&path)
                .map_err(|e| bad(format!("cannot be read as UTF-8 text: {e}")))?;
            for used in placeholders(&source).map_err(|e| bad(e.0))? {
                if !allowed.contains(&used) {
                    return Err(bad(format!(
                        "{{{{ {used} }}}} is not available here (available: {})",
                        allowed.into_iter().collect::<Vec<_>>().join(", ")
                    )));
                }
            }
            let parts = if stem == "layout" {
                &mut t.layout
            } else {
                match t.messages.get_mut(stem) {
                    Some(p) => p,
                    None => continue,
                }
            };
            if ext == "txt" {
                parts.text = source;
            } else {
                parts.html = source;
            }
            t.overridden.push(
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            );
        }
        Ok(t)
    }

    /// The files that replaced a built-in part, e.g. `["layout.html"]`.
    pub fn overridden(&self) -> &[String] {
        &self.overridden
    }

    /// The text and HTML parts of a queued message.
    pub fn render(&self, subject: &str, content: &MailContent) -> Result<(String, String), String> {
        let parts = self
            .messages
            .get(content.template.as_str())
            .ok_or_else(|| format!("no mail template {:?}", content.template))?;
        render_with_layout(
            subject,
            &parts.text,
            &parts.html,
            &self.layout.text,
            &self.layout.html,
            &content.vars,
        )
        .map_err(|e| format!("mail template {}: {e}", content.template))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content() -> MailContent {
        MailContent {
            template: "two_step_disabled".into(),
            vars: [("name", "Ada"), ("when", "now"), ("issuer", "Acme")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn overrides_replace_their_part_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("two_step_disabled.html"),
            "<p>Custom for {{ name }} at {{issuer}}</p>",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("layout.txt"),
            "[{{ subject }}]\n{{ content }}",
        )
        .unwrap();
        std::fs::write(dir.path().join("README"), "not a template").unwrap();
        let t = MailTemplates::load(dir.path()).unwrap();
        assert_eq!(t.overridden(), ["layout.txt", "two_step_disabled.html"]);
        let (text, html) = t.render("Off <now>", &content()).unwrap();
        assert!(text.starts_with("[Off <now>]\nHello Ada,"), "{text}");
        assert!(html.contains("<p>Custom for Ada at Acme</p>"), "{html}");
        assert!(
            html.contains("<title>Off &lt;now&gt;</title>"),
            "built-in layout: {html}"
        );
        assert!(
            MailTemplates::load(&dir.path().join("missing"))
                .unwrap()
                .overridden()
                .is_empty()
        );
    }

    #[test]
    fn bad_overrides_are_refused_with_one_line() {
        for (file, source, needle) in [
            (
                "two_step_disabled.txt",
                "{{ code }}",
                "{{ code }} is not available",
            ),
            ("two_step_disabled.txt", "{{ name", "not closed"),
            ("two_step_disabld.txt", "x", "no template is called"),
            ("layout.html", "{{ name }}", "not available"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join(file), source).unwrap();
            let e = MailTemplates::load(dir.path()).unwrap_err().0;
            assert!(e.contains(needle) && e.contains(file), "{file}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }
}
