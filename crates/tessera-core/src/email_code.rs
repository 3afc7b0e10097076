//! Emailed one-time codes for accounts without two-step verification: when
//! a sign-in must prove the mailbox too, and what a security change asks
//! of such an account.
//!
//! ```text
//!   password right, 2SV off ──▶ at_signin? ── off ─────────────▶ Complete(aal1)
//!                                   │ new_device, device known ─▶ Complete(aal1)
//!                                   │ always, or unknown device
//!                                   └──▶ EmailCode ──code──▶ Complete(aal1, password + email_code)
//! ```
//!
//! An account with 2SV never gets an emailed code: its second step is the
//! stronger proof. Nothing here applies when mail cannot be delivered
//! (`email.provider = none`): no code could arrive, so sign-ins go on
//! without one and a password step-up is accepted instead.

use std::fmt;
use std::str::FromStr;

/// When a sign-in without two-step verification asks for an emailed code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AtSignin {
    /// Only from a device the account has not signed in from (no valid
    /// device token).
    #[default]
    NewDevice,
    /// At every sign-in.
    Always,
    /// Never.
    Off,
}

impl AtSignin {
    pub fn as_str(self) -> &'static str {
        match self {
            AtSignin::NewDevice => "new_device",
            AtSignin::Always => "always",
            AtSignin::Off => "off",
        }
    }
}

impl fmt::Display for AtSignin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AtSignin {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "new_device" => Ok(AtSignin::NewDevice),
            "always" => Ok(AtSignin::Always),
            "off" => Ok(AtSignin::Off),
            other => Err(format!(
                "email_code.at_signin must be \"new_device\", \"always\" or \"off\", not {other:?}"
            )),
        }
    }
}

/// Emailed-code settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmailCodeConfig {
    pub at_signin: AtSignin,
    /// Whether mail leaves the server at all (false with
    /// `email.provider = none`).
    pub mail_delivered: bool,
}

impl Default for EmailCodeConfig {
    fn default() -> Self {
        EmailCodeConfig {
            at_signin: AtSignin::NewDevice,
            mail_delivered: true,
        }
    }
}

impl EmailCodeConfig {
    /// Whether a sign-in by password of an account without 2SV must
    /// continue with an emailed code.
    pub fn asks_at_signin(&self, known_device: bool) -> bool {
        self.mail_delivered
            && match self.at_signin {
                AtSignin::Off => false,
                AtSignin::Always => true,
                AtSignin::NewDevice => !known_device,
            }
    }

    /// Whether step-up, for an account without 2SV, is by emailed code
    /// (else by password).
    pub fn step_up_by_code(&self) -> bool {
        self.mail_delivered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_asked_as_the_setting_says_and_only_when_mail_goes_out() {
        let c = |at_signin, mail_delivered| EmailCodeConfig {
            at_signin,
            mail_delivered,
        };
        assert!(c(AtSignin::NewDevice, true).asks_at_signin(false));
        assert!(!c(AtSignin::NewDevice, true).asks_at_signin(true));
        assert!(c(AtSignin::Always, true).asks_at_signin(true));
        assert!(!c(AtSignin::Off, true).asks_at_signin(false));
        assert!(!c(AtSignin::Always, false).asks_at_signin(false));
        assert!(c(AtSignin::Off, true).step_up_by_code());
        assert!(!c(AtSignin::Off, false).step_up_by_code());
        assert_eq!(EmailCodeConfig::default().at_signin, AtSignin::NewDevice);
    }

    #[test]
    fn settings_parse_and_print_alike() {
        for a in [AtSignin::NewDevice, AtSignin::Always, AtSignin::Off] {
            assert_eq!(a.as_str().parse::<AtSignin>(), Ok(a));
        }
        assert!("sometimes".parse::<AtSignin>().is_err());
    }
}
