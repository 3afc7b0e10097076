//! The template language of mail: text with `{{ name }}` placeholders and
//! nothing else (no loops, no conditions, no includes).
//!
//! askama checks its templates when the binary is compiled, so it cannot
//! take an operator's template from disk at run time; this is small enough
//! to read in one sitting and has one rule an operator must know. Values
//! are inserted as given: the caller escapes them for HTML first (see
//! [`escape_html`]), so the same function renders both parts.

use std::borrow::Cow;
use std::collections::BTreeSet;

/// A template that cannot be used; the message names the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RenderError(pub String);

/// One piece of a parsed template.
enum Piece<'a> {
    Text(&'a str),
    Placeholder(&'a str),
}

fn parse(source: &str) -> Result<Vec<Piece<'_>>, RenderError> {
    let mut pieces = Vec::new();
    let mut rest = source;
    while let Some(open) = rest.find("{{") {
        pieces.push(Piece::Text(&rest[..open]));
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or_else(|| RenderError("a \"{{\" is not closed by \"}}\"".into()))?;
        let name = after[..close].trim();
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(RenderError(format!(
                "\"{{{{{}}}}}\" is not a placeholder: use {{{{ name }}}} with a-z, 0-9 and _",
                &after[..close]
            )));
        }
        pieces.push(Piece::Placeholder(name));
        rest = &after[close + 2..];
    }
    pieces.push(Piece::Text(rest));
    Ok(pieces)
}

/// The placeholders `source` uses.
pub fn placeholders(source: &str) -> Result<BTreeSet<String>, RenderError> {
    Ok(parse(source)?
        .into_iter()
        .filter_map(|p| match p {
            Piece::Placeholder(n) => Some(n.to_string()),
            Piece::Text(_) => None,
        })
        .collect())
}

/// Fills every placeholder of `source` with `value(name)`, in one pass (a
/// value that itself holds `{{ x }}` is not expanded again). A placeholder
/// without a value is an error.
pub fn render<'v>(
    source: &str,
    value: impl Fn(&str) -> Option<Cow<'v, str>>,
) -> Result<String, RenderError> {
    let mut out = String::with_capacity(source.len() + 256);
    for piece in parse(source)? {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Placeholder(name) => out.push_str(
                &value(name)
                    .ok_or_else(|| RenderError(format!("no value for {{{{ {name} }}}}")))?,
            ),
        }
    }
    Ok(out)
}

/// `text` safe to place in HTML text or a quoted attribute.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Option<Cow<'static, str>> {
        match name {
            "name" => Some("Ada {{ code }}".into()),
            "code" => Some("123456".into()),
            _ => None,
        }
    }

    #[test]
    fn fills_placeholders_once() {
        assert_eq!(
            render("Hi {{name}}, {{ code }}!{{  code  }}", vars).unwrap(),
            "Hi Ada {{ code }}, 123456!123456"
        );
        assert_eq!(
            render("no placeholders { } }}", vars).unwrap(),
            "no placeholders { } }}"
        );
        assert_eq!(
            placeholders("{{ a }} {{b}} {{ a }}")
                .unwrap()
                .into_iter()
                .collect::<Vec<_>>(),
            vec!["a", "b"]
        );
    }

    #[test]
    fn refuses_what_it_cannot_fill() {
        assert!(render("{{ nope }}", vars).unwrap_err().0.contains("nope"));
        assert!(
            placeholders("{{ open")
                .unwrap_err()
                .0
                .contains("not closed")
        );
        assert!(placeholders("{{ Name }}").is_err());
        assert!(placeholders("{{ a b }}").is_err());
        assert!(placeholders("{{}}").is_err());
    }

    #[test]
    fn escapes_html() {
        assert_eq!(
            escape_html(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
    }
}
