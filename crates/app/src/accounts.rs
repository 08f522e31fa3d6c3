//! Accounts: password hashing and strength, secrets for sessions and API
//! tokens. (The account pages' use cases move here next; see
//! docs/architecture.md.)

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use rand::RngCore;
use sha2::{Digest, Sha256};

pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .expect("argon2 hash")
        .to_string()
}

pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Password rule for people: at least 8 characters with letters and digits.
pub fn check_password_strength(pw: &str) -> Result<(), String> {
    if pw.chars().count() < 8 {
        return Err("密码至少 8 位".into());
    }
    if !pw.chars().any(|c| c.is_ascii_digit()) || !pw.chars().any(|c| c.is_alphabetic()) {
        return Err("密码须同时包含字母和数字".into());
    }
    Ok(())
}

/// A random secret (session id, API token): 32 bytes, hex.
pub fn new_secret() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// What is stored of a secret: its SHA-256, hex.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_hash() {
        let h = hash_password("abcd1234");
        assert!(verify_password(&h, "abcd1234"));
        assert!(!verify_password(&h, "abcd1235"));
        assert!(!verify_password("not a hash", "abcd1234"));
    }

    #[test]
    fn weak_passwords_are_refused() {
        assert!(check_password_strength("abc123").is_err());
        assert!(check_password_strength("abcdefgh").is_err());
        assert!(check_password_strength("12345678").is_err());
        assert!(check_password_strength("abcd1234").is_ok());
    }

    #[test]
    fn secrets_are_random_and_hashed() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(secret_hash(&a), secret_hash(&a));
        assert_ne!(secret_hash(&a), a);
    }
}
