//! The engine's only clock and randomness: wall time, fresh ids and secret tokens.

use netpulse_core::ids::PrefixedId;
use netpulse_core::Timestamp;
use sha2::{Digest, Sha256};

/// Now, from the system clock.
pub fn now() -> Timestamp {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Timestamp::from_millis(d.as_millis() as i64)
}

/// 128 bits from the operating system's CSPRNG.
pub fn random_u128() -> u128 {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("the OS random source is available");
    u128::from_le_bytes(b)
}

/// A fresh id of any kind (`mon_…`, `res_…`): time-ordered, 80 random bits.
pub fn fresh<T: PrefixedId>() -> T {
    T::from_parts(now().millis(), random_u128())
}

/// A secret token with a readable prefix, e.g. `np_…` (256 bits, hex).
pub fn secret_token(prefix: &str) -> String {
    format!("{prefix}{:032x}{:032x}", random_u128(), random_u128())
}

/// How tokens are stored: SHA-256, hex. Tokens carry 256 random bits, so a fast hash is
/// the right tool (passwords, which do not, get argon2id).
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
