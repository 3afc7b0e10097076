//! Phone numbers for text messages, in E.164 form: `+`, a country code
//! that does not start with 0, and at most 15 digits in all.

use std::fmt;

/// A phone number in E.164 form, e.g. `+447700900123`.
#[derive(Clone, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Accepts what people type (spaces, dashes, dots and parentheses
    /// between digits) as long as it starts with `+` and the country code;
    /// everything else is refused with a message for the person.
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        let s = input.trim();
        let Some(rest) = s.strip_prefix('+') else {
            return Err(
                "Enter the number in international form, starting with + and the country code (for example +44 7700 900123).",
            );
        };
        let mut digits = String::with_capacity(15);
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err("A phone number may contain only digits after the +."),
            }
        }
        if digits.starts_with('0') {
            return Err("Country codes never start with 0.");
        }
        // The shortest numbers in use have 7 digits with their country
        // code; E.164 allows at most 15.
        if !(7..=15).contains(&digits.len()) {
            return Err("A phone number has between 7 and 15 digits, country code included.");
        }
        Ok(PhoneNumber(format!("+{digits}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number with all but the last two digits hidden, for pages and
    /// messages (`+•••••••••23`).
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

/// Masks a stored E.164 number.
pub fn mask(e164: &str) -> String {
    let n = e164.chars().count();
    e164.chars()
        .enumerate()
        .map(|(i, c)| if i == 0 || i + 2 >= n { c } else { '•' })
        .collect()
}

impl fmt::Debug for PhoneNumber {
    // Phone numbers are personal data: logs get the masked form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_e164_with_separators() {
        assert_eq!(
            PhoneNumber::parse(" +44 (7700) 900-123 ").unwrap().as_str(),
            "+447700900123"
        );
        assert_eq!(PhoneNumber::parse("+2901234").unwrap().as_str(), "+2901234");
        assert_eq!(
            PhoneNumber::parse("+123456789012345").unwrap().as_str(),
            "+123456789012345"
        );
    }

    #[test]
    fn refuses_junk() {
        for bad in [
            "",
            "07700900123",
            "+",
            "+0447700900123",
            "+1234",
            "+1234567890123456",
            "+44 7700 9001x3",
            "+44\u{0}7700900123",
            "+٤٤٧٧٠٠٩٠٠١٢٣",
            "tel:+447700900123",
        ] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn masks() {
        let p = PhoneNumber::parse("+447700900123").unwrap();
        assert_eq!(p.masked(), "+••••••••••23");
        assert!(!format!("{p:?}").contains("900"));
    }
}
