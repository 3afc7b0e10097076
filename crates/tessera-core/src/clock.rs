//! Time as a parameter.
//!
//! Nothing in Tessera asks the operating system for the time except
//! [`SystemClock`]; everything else receives a [`Clock`]. Tests use
//! [`ManualClock`] and move it instead of sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Milliseconds since the Unix epoch. Stored as a plain integer in both
/// database backends, so ordering and arithmetic are the same everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn millis(self) -> i64 {
        self.0
    }

    pub fn seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    pub fn plus_secs(self, secs: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(secs.saturating_mul(1000)))
    }

    pub fn plus_millis(self, millis: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(millis))
    }

    /// RFC 3339 in UTC, second precision, for people and JSON.
    pub fn to_rfc3339(self) -> String {
        let secs = self.seconds();
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let (hh, mm, ss) = (rem / 3600, (rem % 3600) / 60, rem % 60);
        if !(0..=9999).contains(&y) {
            return format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z");
        }
        // Digit by digit rather than through `format!`: every who-am-I
        // answer prints two of these, and the formatter's padding
        // machinery cost more than the rest of the conversion.
        let mut out = String::with_capacity(20);
        push_digits(&mut out, y as u32, 4);
        for (sep, n) in [
            ('-', m),
            ('-', d),
            ('T', hh as u32),
            (':', mm as u32),
            (':', ss as u32),
        ] {
            out.push(sep);
            push_digits(&mut out, n, 2);
        }
        out.push('Z');
        out
    }
}

/// `n`'s last `width` decimal digits, zero-padded.
fn push_digits(out: &mut String, n: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = (n / 10u32.pow(place) % 10) as u8;
        out.push(char::from(b'0' + digit));
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// algorithm), so we need no date crate just to print a timestamp.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The source of "now".
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place that may read the OS clock
    fn now(&self) -> Timestamp {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(since.as_millis() as i64)
    }
}

/// A clock that only moves when told to; clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn at(t: Timestamp) -> Self {
        ManualClock(Arc::new(AtomicI64::new(t.0)))
    }

    pub fn advance_secs(&self, secs: i64) {
        self.0.fetch_add(secs * 1000, Ordering::SeqCst);
    }

    pub fn set(&self, t: Timestamp) {
        self.0.store(t.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(
            Timestamp(1_795_478_400_000).to_rfc3339(),
            "2026-11-24T00:00:00Z"
        );
        assert_eq!(
            Timestamp(951_827_696_000).to_rfc3339(),
            "2000-02-29T12:34:56Z"
        );
        assert_eq!(
            Timestamp(253_402_300_799_000).to_rfc3339(),
            "9999-12-31T23:59:59Z"
        );
    }

    #[test]
    fn digit_by_digit_agrees_with_the_formatter() {
        // From year 0 to past 9999 (where the formatter takes over), in
        // steps that land on every hour, minute and second value.
        let first = -62_167_219_200_i64; // 0000-01-01T00:00:00Z
        let mut secs = first;
        while secs < 253_402_300_800 + 86_400 * 400 {
            let days = secs.div_euclid(86_400);
            let rem = secs.rem_euclid(86_400);
            let (y, m, d) = civil_from_days(days);
            let expected = format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
                rem / 3600,
                (rem % 3600) / 60,
                rem % 60
            );
            assert_eq!(Timestamp(secs * 1000).to_rfc3339(), expected);
            secs += 86_400 * 13 + 3_661 * 7 + 1;
        }
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::at(Timestamp(1000));
        let c2 = c.clone();
        assert_eq!(c.now(), Timestamp(1000));
        c2.advance_secs(5);
        assert_eq!(c.now(), Timestamp(6000));
    }
}
