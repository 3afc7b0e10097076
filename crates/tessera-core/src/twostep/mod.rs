//! Two-step verification: the methods (authenticator apps, security keys,
//! passkeys, text messages), recovery keys, and the backoff that slows
//! down guessing.

pub mod backoff;
pub mod methods;
pub mod otp;
pub mod phone;
pub mod recovery;
pub mod totp;
