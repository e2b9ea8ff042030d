//! The server secret that signs public badge URLs (`netpulse-data/badge-secret`): a badge URL
//! is a capability, its `key` the truncated HMAC-SHA256 of the monitor id.

use anyhow::Context;
use hmac::{Hmac, Mac};
use netpulse_core::MonitorId;
use sha2::Sha256;
use std::path::Path;
use std::sync::Arc;

/// The server secret that signs badge URLs.
#[derive(Clone)]
pub struct BadgeKey(Arc<[u8; 32]>);

impl BadgeKey {
    pub fn from_bytes(b: [u8; 32]) -> Self {
        Self(Arc::new(b))
    }

    /// Read `badge-secret` from the data dir, creating it (0600) when missing.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Self> {
        let path = data_dir.join("badge-secret");
        if let Ok(text) = std::fs::read_to_string(&path) {
            let bytes = hex::decode(text.trim()).with_context(|| format!("{} is not hex", path.display()))?;
            let key: [u8; 32] =
                bytes.try_into().map_err(|_| anyhow::anyhow!("{} must hold 32 bytes of hex", path.display()))?;
            return Ok(Self::from_bytes(key));
        }
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        netpulse_store::create_private_dir(data_dir)?;
        netpulse_store::write_secret_file(&path, &hex::encode(key))?;
        Ok(Self::from_bytes(key))
    }

    fn mac(&self, id: &MonitorId) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0[..]).expect("HMAC takes any key length");
        mac.update(b"netpulse badge v1:");
        mac.update(id.as_str().as_bytes());
        mac
    }

    /// A key for another use (`label` names it), derived from this secret: the server keeps
    /// one secret file, each use its own key.
    pub fn derive(&self, label: &str) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0[..]).expect("HMAC takes any key length");
        mac.update(b"netpulse derived key v1:");
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The `key` parameter of this monitor's badge URLs.
    pub fn sign(&self, id: &MonitorId) -> String {
        hex::encode(&self.mac(id).finalize().into_bytes()[..16])
    }

    /// Constant-time check of a presented key.
    pub fn verify(&self, id: &MonitorId, key: &str) -> bool {
        match hex::decode(key) {
            Ok(k) if k.len() == 16 => self.mac(id).verify_truncated_left(&k).is_ok(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_verify_only_for_their_monitor() {
        let k = BadgeKey::from_bytes([7; 32]);
        let (a, b) = (MonitorId::from_trusted("mon_a".into()), MonitorId::from_trusted("mon_b".into()));
        let key = k.sign(&a);
        assert_eq!(key.len(), 32);
        assert!(k.verify(&a, &key));
        assert!(!k.verify(&b, &key));
        assert!(!k.verify(&a, "00"));
        assert!(!BadgeKey::from_bytes([8; 32]).verify(&a, &key));
    }
}
