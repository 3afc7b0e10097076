//! Emergency recovery keys: 160 random bits shown once as eight groups of
//! four base32 characters, stored only as an Argon2id hash.

use crate::secrets::SecretSource;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::OsSecrets;

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
