//! Emergency recovery keys: 160 random bits shown once as eight groups of
//! four base32 characters, stored only as an Argon2id hash. A key works
//! once; using it issues its successor. This module is the one home of that
//! rule; the service (`service::verification`, `service::second_step`)
//! only does the I/O it describes.
//!
//! ```text
//!  stored hash H
//!    │ input normalises and verifies against H ──no──▶ wrong (backoff counts it)
//!    ▼
//!  Matched(H)            nothing used yet: a request that fails from here
//!    │                   on leaves H, and the key, as they were
//!    │ hash a fresh key: H' (the successor, to show once)
//!    ▼
//!  one commit: replace H by H' only where the hash is still H, together
//!  with what the key unlocks (the session and the spent sign-in flow, or
//!  the stepped-up session), its audit record and its notice
//!    │ committed                         │ H was gone, or the flow spent
//!    ▼                                   ▼
//!  the successor is shown; H no        nothing written: already used, or
//!  longer works                        flow expired; H (or its winner) kept
//! ```
//!
//! Why each step:
//!
//! - **Verify, then use.** [`Matched`] is only made from a successful
//!   verification, and only a `Matched` can be used up, so a key is never
//!   replaced on a guess.
//! - **One conditional update.** Parallel requests with the same key all
//!   verify against H; the store swaps H for H' only if it is still H, so
//!   exactly one of them wins and gets the new key.
//! - **In the commit of what it unlocks.** Were the key replaced on its
//!   own, a request that then failed (it lost the flow to a parallel
//!   finish, its client went away, the server crashed) would have used the
//!   key, and the successor it never showed would be the account's only
//!   recovery key: lost. Replaced in the same commit as the session it
//!   starts, the successor exists exactly when the answer that carries it
//!   was earned.
//! - **No ceiling.** Guesses meet the same blocks as codes, but not the
//!   ceiling that stops codes after 100 failures ([`attempts`]): an
//!   attacker who used up the account's attempts cannot take the key from
//!   its owner.

use crate::ids::AccountId;
use crate::password::Verification;
use crate::secrets::SecretSource;
use crate::store::RecoveryUse;
use crate::twostep::backoff::BackoffPolicy;

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A fresh key, e.g. `K7QF-2MZD-…` (8 groups of 4).
pub fn generate(secrets: &dyn SecretSource) -> String {
    let mut bytes = [0u8; 20];
    secrets.fill(&mut bytes);
    // 160 bits → 32 base32 characters, 5 bits each.
    let mut chars = Vec::with_capacity(32);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            chars.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// The canonical form people may type loosely: case, spaces and dashes do
/// not matter. Returns `None` for input that cannot be a key.
pub fn normalize(input: &str) -> Option<String> {
    let raw: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if raw.len() != 32 || !raw.bytes().all(|b| ALPHABET.contains(&b)) {
        return None;
    }
    Some(
        raw.as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("-"),
    )
}

/// The stored hash of a recovery key that an input verified against: the
/// only thing that may be used up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    stored_hash: String,
}

impl Matched {
    /// `Some` if `verification` (of the normalised input against
    /// `stored_hash`) matched.
    pub fn if_verified(stored_hash: String, verification: Verification) -> Option<Matched> {
        verification.matches.then_some(Matched { stored_hash })
    }

    /// The hash the conditional replacement expects to find.
    pub fn stored_hash(&self) -> &str {
        &self.stored_hash
    }
}

impl Matched {
    /// The use of this key by a successor whose hash is `new_hash`: what
    /// the store writes in the commit of what the key unlocks.
    pub fn replaced_by(&self, account: AccountId, new_hash: String) -> RecoveryUse {
        RecoveryUse {
            account,
            old_hash: self.stored_hash.clone(),
            new_hash,
        }
    }
}

/// The backoff for recovery-key guesses: the second step's blocks without
/// its ceiling, so the owner can always still use the key.
pub fn attempts(second_step: BackoffPolicy) -> BackoffPolicy {
    second_step.without_ceiling()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::OsSecrets;

    fn verification(matches: bool) -> Verification {
        Verification {
            matches,
            needs_rehash: false,
        }
    }

    #[test]
    fn only_a_verified_input_can_be_used_up() {
        assert_eq!(Matched::if_verified("H".into(), verification(false)), None);
        let m = Matched::if_verified("H".into(), verification(true)).unwrap();
        assert_eq!(m.stored_hash(), "H");
    }

    #[test]
    fn a_use_replaces_exactly_the_verified_hash() {
        let m = Matched::if_verified("H".into(), verification(true)).unwrap();
        let id = AccountId(uuid::Uuid::nil());
        let u = m.replaced_by(id, "H2".into());
        assert_eq!(
            (u.account, u.old_hash.as_str(), u.new_hash.as_str()),
            (id, "H", "H2")
        );
    }

    #[test]
    fn guesses_are_blocked_like_codes_but_never_locked_out() {
        let codes = BackoffPolicy::default();
        let keys = attempts(codes);
        assert!(codes.locked(100));
        assert!(!keys.locked(100) && !keys.locked(10_000));
        assert_eq!(keys.slots(100), 1);
        for failures in 0..20 {
            assert_eq!(keys.block_after(failures), codes.block_after(failures));
        }
    }

    #[test]
    fn keys_are_grouped_and_normalise() {
        let k = generate(&OsSecrets);
        assert_eq!(k.len(), 39);
        assert_eq!(k.split('-').count(), 8);
        assert_eq!(normalize(&k).unwrap(), k);
        assert_eq!(normalize(&k.to_lowercase().replace('-', " ")).unwrap(), k);
        assert_ne!(generate(&OsSecrets), k);
        assert!(normalize("not-a-key").is_none());
        assert!(normalize(&k.replace('A', "1")).is_none() || !k.contains('A'));
    }
}
