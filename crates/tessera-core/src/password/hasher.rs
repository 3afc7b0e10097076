//! Argon2id hashing into caller-owned memory.
//!
//! Argon2id at OWASP's 19 MiB allocates and frees a large block per hash.
//! glibc's allocator keeps such blocks around after a flood, so resident
//! memory balloons. Each pool worker owns one block buffer instead and
//! reuses it for every hash, which bounds memory at workers × m_cost.

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Config {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Config {
    /// OWASP's recommended minimum for Argon2id.
    fn default() -> Self {
        Argon2Config {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("invalid Argon2 parameters: {0}")]
    Params(String),
    #[error("stored password hash is malformed: {0}")]
    Malformed(String),
    #[error("argon2 failed: {0}")]
    Argon(String),
}

/// The result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verification {
    pub matches: bool,
    /// The stored hash used other parameters than the configured ones.
    pub needs_rehash: bool,
}

/// Hashes and verifies with fixed, validated parameters.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    params: Params,
}

/// Stored hashes may name at most this much memory (4 GiB); anything larger
/// is treated as corrupt rather than allowed to exhaust the machine.
const MAX_MEMORY_KIB: u32 = 4 * 1024 * 1024;

impl PasswordHasher {
    pub fn new(cfg: Argon2Config) -> Result<Self, HashError> {
        if cfg.memory_kib > MAX_MEMORY_KIB {
            return Err(HashError::Params("memory above 4 GiB".into()));
        }
        let params = Params::new(cfg.memory_kib, cfg.iterations, cfg.parallelism, None)
            .map_err(|e| HashError::Params(e.to_string()))?;
        Ok(PasswordHasher { params })
    }

    /// Hashes `password` with a fresh `salt` into a PHC string.
    pub fn hash(
        &self,
        memory: &mut Vec<Block>,
        password: &[u8],
        salt: &[u8; 16],
    ) -> Result<String, HashError> {
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone());
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        fill(&argon, &self.params, memory, password, salt, &mut out)?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.params)
                .map_err(|e| HashError::Argon(e.to_string()))?,
            salt: Some(Salt::new(salt).map_err(|e| HashError::Argon(e.to_string()))?),
            hash: Some(Output::new(&out).map_err(|e| HashError::Argon(e.to_string()))?),
        };
        Ok(phc.to_string())
    }

    /// Checks `password` against a stored PHC string in constant time.
    pub fn verify(
        &self,
        memory: &mut Vec<Block>,
        stored: &str,
        password: &[u8],
    ) -> Result<Verification, HashError> {
        let phc = PasswordHash::new(stored).map_err(|e| HashError::Malformed(e.to_string()))?;
        let algorithm = Algorithm::new(phc.algorithm.as_str())
            .map_err(|e| HashError::Malformed(e.to_string()))?;
        let version = match phc.version {
            Some(v) => Version::try_from(v).map_err(|e| HashError::Malformed(e.to_string()))?,
            None => Version::V0x10,
        };
        let params = Params::try_from(&phc).map_err(|e| HashError::Malformed(e.to_string()))?;
        if params.m_cost() > MAX_MEMORY_KIB {
            return Err(HashError::Malformed("memory cost above 4 GiB".into()));
        }
        let (Some(salt), Some(expected)) = (phc.salt.as_ref(), phc.hash.as_ref()) else {
            return Err(HashError::Malformed("missing salt or hash".into()));
        };
        let argon = Argon2::new(algorithm, version, params.clone());
        let mut out = vec![0u8; expected.len()];
        fill(&argon, &params, memory, password, salt, &mut out)?;
        let matches: bool = out.as_slice().ct_eq(expected.as_bytes()).into();
        let needs_rehash = algorithm != Algorithm::Argon2id
            || version != Version::V0x13
            || params.m_cost() != self.params.m_cost()
            || params.t_cost() != self.params.t_cost()
            || params.p_cost() != self.params.p_cost();
        Ok(Verification {
            matches,
            needs_rehash,
        })
    }
}

fn fill(
    argon: &Argon2<'_>,
    params: &Params,
    memory: &mut Vec<Block>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), HashError> {
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let region = memory
        .get_mut(..blocks)
        .ok_or_else(|| HashError::Argon("memory buffer too small".into()))?;
    argon
        .hash_password_into_with_memory(password, salt, out, region)
        .map_err(|e| HashError::Argon(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::PasswordVerifier;

    fn small() -> Argon2Config {
        Argon2Config {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        }
    }

    #[test]
    fn hashes_verify_with_the_reference_implementation() {
        let h = PasswordHasher::new(small()).unwrap();
        let mut mem = Vec::new();
        let phc = h.hash(&mut mem, b"hunter22x", &[7u8; 16]).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{phc}");
        // The crate's own verifier agrees, so our PHC string is standard.
        Argon2::default()
            .verify_password(b"hunter22x", phc.as_str())
            .unwrap();
        let v = h.verify(&mut mem, &phc, b"hunter22x").unwrap();
        assert!(v.matches && !v.needs_rehash);
        assert!(!h.verify(&mut mem, &phc, b"hunter22y").unwrap().matches);
    }

    #[test]
    fn verifies_hashes_made_elsewhere_and_flags_rehash() {
        use argon2::PasswordHasher as _;
        let other = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(2048, 2, 1, None).unwrap(),
        );
        let phc = other
            .hash_password_with_salt(b"pw-from-elsewhere", b"saltsaltsaltsalt")
            .unwrap()
            .to_string();
        let h = PasswordHasher::new(small()).unwrap();
        let mut mem = Vec::new();
        let v = h.verify(&mut mem, &phc, b"pw-from-elsewhere").unwrap();
        assert!(v.matches);
        assert!(v.needs_rehash);
    }

    #[test]
    fn malformed_hash_is_an_error() {
        let h = PasswordHasher::new(small()).unwrap();
        assert!(h.verify(&mut Vec::new(), "not-a-hash", b"x").is_err());
    }
}
