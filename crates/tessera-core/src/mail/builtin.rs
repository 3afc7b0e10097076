//! The mail templates compiled into the binary, from
//! `crates/tessera-core/templates/mail/`. An operator may override any of
//! them (and the layout) with a file of the same name in
//! `<data_dir>/templates/`; the delivery worker checks overrides at start
//! against the placeholders listed here.
//!
//! To add a template: put `<name>.txt` and `<name>.html` in that folder and
//! a line below; queue it with [`super::email_message`], giving a value for
//! every placeholder the built-in files use.

/// One template: its name and the sources of its two parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Builtin {
    pub name: &'static str,
    pub text: &'static str,
    pub html: &'static str,
}

macro_rules! builtin {
    ($name:literal) => {
        Builtin {
            name: $name,
            text: include_str!(concat!("../../templates/mail/", $name, ".txt")),
            html: include_str!(concat!("../../templates/mail/", $name, ".html")),
        }
    };
}

/// The frame every message is rendered into: `{{ content }}` is the
/// message's own part (already rendered, and escaped for HTML), `{{ subject }}`
/// its subject.
pub const LAYOUT: Builtin = builtin!("layout");

/// The placeholders a layout may use.
pub const LAYOUT_PLACEHOLDERS: &[&str] = &["content", "subject"];

/// Every message template.
pub const BUILTIN: &[Builtin] = &[
    builtin!("two_step_enabled"),
    builtin!("method_added"),
    builtin!("method_removed"),
    builtin!("authenticator_changed"),
    builtin!("recovery_key_created"),
    builtin!("recovery_key_used"),
    builtin!("two_step_disabled"),
    builtin!("two_step_unenrolled"),
    builtin!("signup_attempt"),
    builtin!("signin_paused"),
    builtin!("email_code"),
    builtin!("org_invitation"),
    builtin!("org_two_step_required"),
];

/// The built-in template called `name`.
pub fn builtin(name: &str) -> Option<&'static Builtin> {
    BUILTIN.iter().find(|b| b.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::render::placeholders;

    #[test]
    fn every_builtin_parses_and_both_parts_use_the_same_placeholders() {
        for b in BUILTIN {
            let text = placeholders(b.text).unwrap();
            let html = placeholders(b.html).unwrap();
            assert_eq!(text, html, "{}", b.name);
            assert!(text.contains("name"), "{}", b.name);
        }
        for part in [LAYOUT.text, LAYOUT.html] {
            for p in placeholders(part).unwrap() {
                assert!(LAYOUT_PLACEHOLDERS.contains(&p.as_str()), "{p}");
            }
        }
        assert!(builtin("two_step_enabled").is_some());
        assert!(builtin("layout").is_none(), "the layout is not a message");
    }
}
