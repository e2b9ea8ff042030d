//! Password hashing with argon2id at the OWASP parameters (m = 19 MiB, t = 2, p = 1), run on
//! the blocking pool. Unknown e-mails are checked against a dummy hash so that a login for
//! an unknown account costs as much as one with a wrong password.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::OnceLock;

/// Shortest password accepted at registration.
pub const MIN_LEN: usize = 10;

fn argon2() -> Argon2<'static> {
    let params = Params::new(19_456, 2, 1, None).expect("OWASP argon2id parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn salt() -> SaltString {
    let bytes = netpulse_store::clock::random_u128().to_le_bytes();
    SaltString::encode_b64(&bytes).expect("16 bytes make a valid salt")
}

/// The PHC string of `password` (blocking: call through [`hash`]).
fn hash_blocking(password: &str) -> String {
    argon2().hash_password(password.as_bytes(), &salt()).expect("argon2 hashing does not fail").to_string()
}

fn verify_blocking(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
}

/// A hash of a random password, verified against when the account does not exist.
fn dummy() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_blocking(&netpulse_store::clock::secret_token("dummy_")))
}

pub async fn hash(password: String) -> String {
    tokio::task::spawn_blocking(move || hash_blocking(&password)).await.expect("hashing task does not panic")
}

/// Whether `password` matches `phc`; with `None` (no such account) it does the same work
/// against a dummy hash and answers false.
pub async fn verify(password: String, phc: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || match phc {
        Some(phc) => verify_blocking(&password, &phc),
        None => {
            let _ = verify_blocking(&password, dummy());
            false
        }
    })
    .await
    .expect("verifying task does not panic")
}

/// Build the dummy hash ahead of the first login, so that it does not make the first
/// unknown-e-mail answer slower.
pub async fn warm_up() {
    let _ = tokio::task::spawn_blocking(|| dummy().len()).await;
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = super::hash_blocking("correct horse battery");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(super::verify_blocking("correct horse battery", &h));
        assert!(!super::verify_blocking("correct horse batterz", &h));
    }
}
