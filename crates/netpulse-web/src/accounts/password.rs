//! Password hashing with argon2id at the OWASP parameters (m = 19 MiB, t = 2, p = 1), run on
//! the blocking pool. Unknown e-mails are checked against a dummy hash so that a login for
//! an unknown account costs as much as one with a wrong password.
//!
//! Requests hash through the [`HashGate`]: a few hashes at once, a few requests waiting, and
//! the rest refused at once ([`Busy`]), so a burst of sign-ups or logins costs a bounded
//! amount of memory (19 MiB per hash in progress) instead of queueing without end.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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

/// What a login for an unknown e-mail is verified against: the hash, at the parameters of
/// [`argon2`], of a random password nobody kept. It is never a match that lets anyone in (an
/// unknown account's verification answers false whatever it says), so a constant serves; a
/// hash made at start would cost 19 MiB of memory and ~50 ms of CPU in every idle engine.
const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$V1ZtWXpUbmpYSzd2N1NyTQ$OYR8rV6oNw6J5kJRgVRfNT1lMnURSPdkqUHOYBqwzl4";

pub async fn hash(password: String) -> String {
    tokio::task::spawn_blocking(move || hash_blocking(&password)).await.expect("hashing task does not panic")
}

/// Whether `password` matches `phc`; with `None` (no such account) it does the same work
/// against a dummy hash and answers false.
pub async fn verify(password: String, phc: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || verify_now(&password, phc)).await.expect("verifying task does not panic")
}

fn verify_now(password: &str, phc: Option<String>) -> bool {
    match phc {
        Some(phc) => verify_blocking(password, &phc),
        None => {
            let _ = verify_blocking(password, DUMMY);
            false
        }
    }
}

/// The gate of password hashing: at most `running` hashes at once (each holds its permit
/// until its blocking task ends, even when the request that asked is gone), at most `queue`
/// requests waiting for one (each at most [`QUEUE_WAIT`]); any more are [`Busy`] at once.
pub struct HashGate {
    running: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue: usize,
}

/// Too many password hashes in progress and waiting: try again shortly.
#[derive(Debug, PartialEq, Eq)]
pub struct Busy;

/// The longest a request waits for a hashing slot.
pub const QUEUE_WAIT: Duration = Duration::from_secs(5);
/// The `Retry-After` of a [`Busy`] answer, seconds.
pub const BUSY_RETRY_S: u32 = 2;

impl HashGate {
    pub fn new(running: usize, queue: usize) -> Self {
        Self { running: Arc::new(Semaphore::new(running.max(1))), waiting: AtomicUsize::new(0), queue }
    }

    /// A hashing slot: at once if one is free, after waiting if the queue has room.
    async fn enter(&self) -> Result<OwnedSemaphorePermit, Busy> {
        if let Ok(p) = self.running.clone().try_acquire_owned() {
            return Ok(p);
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.queue {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(Busy);
        }
        let slot = tokio::time::timeout(QUEUE_WAIT, self.running.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        match slot {
            Ok(Ok(p)) => Ok(p),
            _ => Err(Busy),
        }
    }

    /// [`hash`] through the gate.
    pub async fn hash(&self, password: String) -> Result<String, Busy> {
        let slot = self.enter().await?;
        Ok(tokio::task::spawn_blocking(move || {
            let _slot = slot;
            hash_blocking(&password)
        })
        .await
        .expect("hashing task does not panic"))
    }

    /// [`verify`] through the gate.
    pub async fn verify(&self, password: String, phc: Option<String>) -> Result<bool, Busy> {
        let slot = self.enter().await?;
        Ok(tokio::task::spawn_blocking(move || {
            let _slot = slot;
            verify_now(&password, phc)
        })
        .await
        .expect("verifying task does not panic"))
    }
}

#[cfg(test)]
mod tests {
    use super::{argon2, Busy, HashGate, DUMMY};
    use argon2::password_hash::PasswordHash;

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_does() {
        let dummy = PasswordHash::new(DUMMY).expect("a PHC string");
        let params = argon2::Params::try_from(&dummy).expect("argon2 parameters");
        let real = argon2().params().clone();
        assert_eq!((params.m_cost(), params.t_cost(), params.p_cost()), (real.m_cost(), real.t_cost(), real.p_cost()));
        assert_eq!(dummy.algorithm.as_str(), "argon2id");
    }
    use std::sync::Arc;

    #[tokio::test]
    async fn the_gate_runs_a_few_queues_a_few_and_refuses_the_rest_at_once() {
        let gate = Arc::new(HashGate::new(1, 2));
        let held = gate.enter().await.expect("a free slot");
        let waiting: Vec<_> = (0..2)
            .map(|_| {
                let g = gate.clone();
                tokio::spawn(async move { g.enter().await.map(drop) })
            })
            .collect();
        while gate.waiting.load(std::sync::atomic::Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        let started = std::time::Instant::now();
        assert_eq!(gate.hash("a password of ours".into()).await, Err(Busy), "the queue is full");
        assert!(started.elapsed() < std::time::Duration::from_millis(100), "refused at once, not queued");
        drop(held);
        for w in waiting {
            assert_eq!(w.await.unwrap(), Ok(()), "the waiting ones get the slot in turn");
        }
        assert!(gate.verify("x".into(), None).await.is_ok_and(|ok| !ok), "free again");
    }

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = super::hash_blocking("correct horse battery");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(super::verify_blocking("correct horse battery", &h));
        assert!(!super::verify_blocking("correct horse batterz", &h));
    }
}
