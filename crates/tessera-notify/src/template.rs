//! The webhook's JSON body, from a template with `{to}`, `{text}` and
//! `{id}` placeholders.
//!
//! The template is parsed as JSON once, at start; placeholders are replaced
//! inside string values of the parsed document, and the document is then
//! serialised. So the text is always escaped correctly, whatever quotes,
//! backslashes or newlines it holds, and a text that itself contains
//! `{to}` is not expanded again.

use crate::provider::SmsMessage;
use serde_json::Value;

/// Used when no template is configured.
pub const DEFAULT_TEMPLATE: &str = r#"{"to":"{to}","text":"{text}"}"#;

/// A parsed body template.
#[derive(Debug, Clone, PartialEq)]
pub struct BodyTemplate(Value);

impl BodyTemplate {
    /// Parses `source`; it must be JSON and use `{text}` in a string value.
    pub fn parse(source: &str) -> Result<Self, String> {
        let value: Value = serde_json::from_str(source)
            .map_err(|e| format!("the body template is not JSON: {e}"))?;
        if !any_string(&value, &|s| s.contains("{text}")) {
            return Err("the body template must contain {text} in a string value".into());
        }
        Ok(BodyTemplate(value))
    }

    /// The body for `msg`: `{to}`, `{text}` and `{id}` (the idempotency
    /// key) replaced in every string value; keys are left as they are.
    pub fn render(&self, msg: &SmsMessage) -> Value {
        let mut v = self.0.clone();
        fill(&mut v, msg);
        v
    }
}

impl Default for BodyTemplate {
    fn default() -> Self {
        BodyTemplate(serde_json::json!({"to": "{to}", "text": "{text}"}))
    }
}

fn any_string(v: &Value, test: &dyn Fn(&str) -> bool) -> bool {
    match v {
        Value::String(s) => test(s),
        Value::Array(items) => items.iter().any(|i| any_string(i, test)),
        Value::Object(map) => map.values().any(|i| any_string(i, test)),
        _ => false,
    }
}

fn fill(v: &mut Value, msg: &SmsMessage) {
    match v {
        Value::String(s) => *s = substitute(s, msg),
        Value::Array(items) => items.iter_mut().for_each(|i| fill(i, msg)),
        Value::Object(map) => map.values_mut().for_each(|i| fill(i, msg)),
        _ => {}
    }
}

/// One left-to-right pass, so replaced text is never scanned again.
fn substitute(template: &str, msg: &SmsMessage) -> String {
    let mut out = String::with_capacity(template.len() + msg.text.len());
    let mut rest = template;
    while let Some(at) = rest.find('{') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let (value, len) = if rest.starts_with("{to}") {
            (msg.to.as_str(), 4)
        } else if rest.starts_with("{text}") {
            (msg.text.as_str(), 6)
        } else if rest.starts_with("{id}") {
            (msg.idempotency_key.as_str(), 4)
        } else {
            ("{", 1)
        };
        out.push_str(value);
        rest = &rest[len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(text: &str) -> SmsMessage {
        SmsMessage {
            to: "+15550100".into(),
            text: text.into(),
            idempotency_key: "tessera-outbox-7".into(),
        }
    }

    #[test]
    fn default_template_matches_its_source() {
        assert_eq!(
            BodyTemplate::parse(DEFAULT_TEMPLATE).unwrap(),
            BodyTemplate::default()
        );
    }

    #[test]
    fn replaces_placeholders_in_string_values_only() {
        let t = BodyTemplate::parse(
            r#"{"message":{"to":["{to}"],"body":"Code: {text}"},"ref":"{id}","{to}":1,"n":5,"brace":"{x} {"}"#,
        )
        .unwrap();
        let text = "He said \"hi\"\nline 2 \\ \u{e9}\u{1F600} {to}";
        let v = t.render(&msg(text));
        assert_eq!(v["message"]["to"][0], "+15550100");
        assert_eq!(v["message"]["body"], format!("Code: {text}"));
        assert_eq!(v["ref"], "tessera-outbox-7");
        assert_eq!(v["{to}"], 1, "keys are not templates");
        assert_eq!(v["n"], 5);
        assert_eq!(v["brace"], "{x} {");
        // Serialised and read back, the text is unchanged: escaping is right.
        let wire = serde_json::to_string(&v).unwrap();
        let back: Value = serde_json::from_str(&wire).unwrap();
        assert_eq!(back["message"]["body"], format!("Code: {text}"));
    }

    #[test]
    fn refuses_non_json_and_templates_without_text() {
        assert!(
            BodyTemplate::parse("to={to}&text={text}")
                .unwrap_err()
                .contains("not JSON")
        );
        assert!(
            BodyTemplate::parse(r#"{"to":"{to}"}"#)
                .unwrap_err()
                .contains("{text}")
        );
    }
}
