//! The CSV export of an organization's external users: its columns, and
//! how a row becomes a CSV record.
//!
//! The file is opened by people in spreadsheets, so every cell is escaped
//! against formula injection (OWASP "CSV injection"): a cell that starts
//! with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`,
//! which spreadsheets show as text and do not evaluate. Quoting (commas,
//! quotes, line breaks) is the `csv` crate's.

use crate::clock::Timestamp;
use crate::ids::AccountId;
use crate::org::AppliedPolicy;
use crate::twostep::methods::MethodKind;

/// The header row, in column order.
pub const COLUMNS: [&str; 8] = [
    "email",
    "display name",
    "organizations",
    "last active",
    "2SV on",
    "methods",
    "API token count",
    "policy",
];

/// How many users one page of the export reads: small enough that memory
/// stays flat, large enough that 100,000 users take few round trips.
pub const PAGE_SIZE: u32 = 500;

/// One external user, as the export lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalUserRow {
    pub account_id: AccountId,
    pub email: String,
    pub display_name: String,
    /// Every organization the account belongs to (as a member or managed
    /// account), by name.
    pub organizations: Vec<String>,
    /// The latest of its sign-ins, session activity and API token use.
    pub last_active: Option<Timestamp>,
    /// The second-step methods it holds; 2SV is on while there is one.
    pub methods: Vec<MethodKind>,
    /// Its API tokens that have not expired.
    pub api_tokens: u64,
    /// Which of the organization's policies applies to it.
    pub policy: AppliedPolicy,
}

/// A cell as written: with a leading `'` when a spreadsheet would read it
/// as a formula.
pub fn escape_cell(raw: &str) -> std::borrow::Cow<'_, str> {
    match raw.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{raw}").into(),
        _ => raw.into(),
    }
}

impl ExternalUserRow {
    /// The row's cells, unescaped, in [`COLUMNS`] order.
    pub fn cells(&self) -> [String; 8] {
        let mut orgs = self.organizations.clone();
        orgs.sort();
        [
            self.email.clone(),
            self.display_name.clone(),
            orgs.join("; "),
            self.last_active
                .map(Timestamp::to_rfc3339)
                .unwrap_or_default(),
            if self.methods.is_empty() { "no" } else { "yes" }.into(),
            self.methods
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            self.api_tokens.to_string(),
            self.policy.as_str().into(),
        ]
    }
}

fn writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new())
}

fn finish(w: csv::Writer<Vec<u8>>) -> Result<Vec<u8>, csv::Error> {
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// The header record, as CSV text.
pub fn csv_header() -> Result<Vec<u8>, csv::Error> {
    let mut w = writer();
    w.write_record(COLUMNS)?;
    finish(w)
}

/// Rows as CSV records, each cell escaped.
pub fn csv_rows(rows: &[ExternalUserRow]) -> Result<Vec<u8>, csv::Error> {
    let mut w = writer();
    for row in rows {
        w.write_record(row.cells().iter().map(|c| escape_cell(c).into_owned()))?;
    }
    finish(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_escaped_and_quoting_is_csv() {
        for (raw, want) in [
            ("=1+1", "'=1+1"),
            ("+1", "'+1"),
            ("-1", "'-1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("a=b", "a=b"),
            ("", ""),
        ] {
            assert_eq!(escape_cell(raw), want);
        }
        let row = ExternalUserRow {
            account_id: AccountId(uuid::Uuid::nil()),
            email: "bob@partner.example".into(),
            display_name: "=Bob, \"B\"\nSmith".into(),
            organizations: vec!["Zeta".into(), "Acme, Inc.".into()],
            last_active: Some(Timestamp(0)),
            methods: vec![MethodKind::Totp, MethodKind::Passkey],
            api_tokens: 2,
            policy: AppliedPolicy::Test,
        };
        let mut bytes = csv_header().unwrap();
        bytes.extend(csv_rows(std::slice::from_ref(&row)).unwrap());
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(
            text,
            "email,display name,organizations,last active,2SV on,methods,API token count,policy\r\n\
             bob@partner.example,\"'=Bob, \"\"B\"\"\nSmith\",\"Acme, Inc.; Zeta\",\
             1970-01-01T00:00:00Z,yes,totp; passkey,2,test\r\n"
        );
        assert!(csv_rows(&[]).unwrap().is_empty());
    }
}
