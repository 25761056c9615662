//! API token secrets: random, shown once, stored as a SHA-256 only.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Every secret starts with this, so that leaked tokens are easy to recognise and scan for.
pub const PREFIX: &str = "pgw_";

/// A newly generated secret with what is stored of it.
pub struct NewToken {
    /// The secret, to show once.
    pub secret: String,
    /// Its SHA-256, hex: the only thing stored.
    pub hash: String,
    /// Its first characters, to recognise it in lists.
    pub prefix: String,
}

/// Generates a secret of 256 random bits.
pub fn generate() -> NewToken {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    NewToken {
        hash: hash(&secret),
        prefix: secret.chars().take(PREFIX.len() + 6).collect(),
        secret,
    }
}

/// The stored form of a secret.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Compares two hashes in constant time.
pub fn same_hash(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::{generate, hash, same_hash};

    #[test]
    fn secrets_are_random_and_only_their_hash_matches() {
        let a = generate();
        let b = generate();
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.len() >= 40);
        assert_eq!(hash(&a.secret), a.hash);
        assert!(same_hash(&a.hash, &hash(&a.secret)));
        assert!(!same_hash(&a.hash, &b.hash));
        assert!(a.secret.starts_with(&a.prefix));
    }
}
