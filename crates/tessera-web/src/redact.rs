//! Refusal messages without the values that were refused. serde writes
//! the input it could not use into its messages (`invalid type: string
//! "…"`, `unknown variant `…``, `invalid type: integer `…``), and a client
//! puts secrets in request bodies and query strings: a password in the
//! wrong field, a code sent as a number. An error answer is logged and
//! shown by clients and proxies, so it names the field and what was
//! expected, never what came.

/// `message` with every value quoted in it taken out: backquoted and
/// double-quoted spans, except in what follows "expected" (the server's
/// own vocabulary: field names and allowed values) and the field a
/// `missing field` or `duplicate field` names.
///
/// An unknown field's name is the client's, and the path axum puts before
/// serde's message ends with it: for an unknown field the path goes, back
/// to the end of axum's own first sentence (`…target type: `).
pub fn without_values(message: &str) -> String {
    let stripped = match message.split_once(", expected ") {
        Some((got, expected)) => {
            format!("{}, expected {}", strip(got), strip_found(expected))
        }
        None => strip(message),
    };
    match stripped.rfind("unknown field") {
        Some(at) => {
            let head = &stripped[..at];
            let keep = head.find(": ").map_or(0, |i| i + 2);
            format!("{}{}", &head[..keep], &stripped[at..])
        }
        None => stripped,
    }
}

/// Words after which a backquoted span is the server's own field name.
const OWN_NAMES: [&str; 2] = ["missing field ", "duplicate field "];

fn strip(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find(['`', '"']) {
        let quote = rest.as_bytes()[at];
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let end = if quote == b'`' {
            after.find('`')
        } else {
            closing_quote(after)
        };
        let Some(end) = end else {
            // An unmatched quote: everything after it may be input.
            return out.trim_end().to_string();
        };
        if quote == b'`' && OWN_NAMES.iter().any(|w| out.ends_with(w)) {
            out.push_str(&rest[at..at + 1 + end + 1]);
        } else {
            let kept = out.trim_end().len();
            out.truncate(kept);
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// In the "expected" part, only what a custom message says was `found`.
fn strip_found(s: &str) -> String {
    match s.split_once(", found ") {
        Some((expected, found)) => format!("{expected}, found {}", strip(found).trim_start()),
        None => s.to_string(),
    }
}

/// The end of a string written with Rust's `{:?}`, from just after its
/// opening quote: the first `"` not escaped by a backslash.
fn closing_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, b) in s.bytes().enumerate() {
        match b {
            b'\\' if !escaped => escaped = true,
            b'"' if !escaped => return Some(i),
            _ => escaped = false,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::without_values;

    #[test]
    fn values_are_taken_out_and_names_and_expectations_kept() {
        let cases = [
            (
                r#"password: invalid type: string "hunter2-secret", expected a boolean at line 1 column 30"#,
                "password: invalid type: string, expected a boolean at line 1 column 30",
            ),
            (
                "client: unknown variant `hunter2-secret`, expected `web` or `mobile` at line 1 column 9",
                "client: unknown variant, expected `web` or `mobile` at line 1 column 9",
            ),
            (
                "code: invalid type: integer `123456`, expected a string at line 1 column 14",
                "code: invalid type: integer, expected a string at line 1 column 14",
            ),
            (
                "unknown field `tsr_secret`, expected `email` or `password`",
                "unknown field, expected `email` or `password`",
            ),
            (
                r#"x: invalid value: string "a \"quoted\" secret", expected a UUID"#,
                "x: invalid value: string, expected a UUID",
            ),
            (
                "missing field `password` at line 1 column 2",
                "missing field `password` at line 1 column 2",
            ),
            (
                "id: UUID parsing failed: invalid character: expected an optional prefix of `urn:uuid:` followed by [0-9a-fA-F-], found `z` at 1",
                "id: UUID parsing failed: invalid character: expected an optional prefix of followed by [0-9a-fA-F-], found at 1",
            ),
            (
                "offset: invalid digit found in string",
                "offset: invalid digit found in string",
            ),
            ("a `dangling secret", "a"),
            (
                "Failed to deserialize the JSON body into the target type: hunter2-secret: unknown field `hunter2-secret`, expected `email` at line 1 column 9",
                "Failed to deserialize the JSON body into the target type: unknown field, expected `email` at line 1 column 9",
            ),
        ];
        for (message, want) in cases {
            assert_eq!(without_values(message), want, "{message}");
        }
    }
}
