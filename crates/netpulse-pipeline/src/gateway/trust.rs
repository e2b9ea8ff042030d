//! Who may connect: the TLS server configuration of the gateway and its client certificate
//! verifier. WebPKI checks the chain to our CA, validity dates and key usage; on top of that
//! the [`Trust`] registry (`issued.json`, reloaded when it changes) refuses serials it does
//! not know or that were revoked — at the handshake, and for live connections on every
//! request and within a second of the registry changing.

use super::Identity;
use crate::ca::{read_registry, Issued};
use netpulse_core::wire::parse_worker_uri;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;
use tokio::sync::watch;

/// Why a verified-by-chain certificate is still refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("certificate revoked")]
    Revoked,
    #[error("certificate serial not in the CA registry")]
    Unknown,
    #[error("certificate carries no netpulse://region/…/worker/… identity")]
    NoIdentity,
}

/// The issued-certificate registry as the gateway last read it.
#[derive(Debug)]
pub struct Trust {
    path: PathBuf,
    issued: RwLock<HashMap<String, Issued>>,
    stamp: Mutex<Option<SystemTime>>,
    changed: watch::Sender<u64>,
}

impl Trust {
    pub fn load(path: PathBuf) -> Result<Self, crate::ca::CaError> {
        let t = Self { path, issued: RwLock::default(), stamp: Mutex::default(), changed: watch::channel(0).0 };
        t.reload_if_changed()?;
        Ok(t)
    }

    /// Re-read the registry when its modification time changed; tells live connections.
    pub fn reload_if_changed(&self) -> Result<bool, crate::ca::CaError> {
        let stamp = std::fs::metadata(&self.path).and_then(|m| m.modified()).ok();
        if *self.stamp.lock().expect("trust lock") == stamp && stamp.is_some() {
            return Ok(false);
        }
        let map = read_registry(&self.path)?.into_iter().map(|e| (e.serial.clone(), e)).collect();
        *self.issued.write().expect("trust lock") = map;
        *self.stamp.lock().expect("trust lock") = stamp;
        self.changed.send_modify(|n| *n += 1);
        Ok(true)
    }

    /// Is this identity (still) allowed?
    pub fn check(&self, id: &Identity) -> Result<(), Refusal> {
        match self.issued.read().expect("trust lock").get(&id.serial) {
            None => Err(Refusal::Unknown),
            Some(e) if e.revoked => Err(Refusal::Revoked),
            Some(e) if e.region != id.region || e.name != id.name => Err(Refusal::Unknown),
            Some(_) => Ok(()),
        }
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

/// Serial, region and name from a worker certificate (DER). Only the certificate counts.
pub fn identity_of(der: &[u8]) -> Option<Identity> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let serial = hex::encode(cert.tbs_certificate.raw_serial());
    let san = cert.subject_alternative_name().ok()??;
    san.value.general_names.iter().find_map(|gn| match gn {
        x509_parser::extensions::GeneralName::URI(u) => {
            parse_worker_uri(u).map(|(region, name)| Identity { serial: serial.clone(), region, name })
        }
        _ => None,
    })
}

/// WebPKI chain verification plus the registry.
#[derive(Debug)]
struct RegistryVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    trust: Arc<Trust>,
}

impl ClientCertVerifier for RegistryVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self.inner.verify_client_cert(end_entity, intermediates, now)?;
        let refuse = |r: Refusal, who: &str, e: CertificateError| {
            tracing::warn!(worker = who, reason = %r, "worker refused at the TLS handshake");
            rustls::Error::InvalidCertificate(e)
        };
        let Some(id) = identity_of(end_entity) else {
            return Err(refuse(Refusal::NoIdentity, "?", CertificateError::ApplicationVerificationFailure));
        };
        match self.trust.check(&id) {
            Ok(()) => Ok(verified),
            Err(Refusal::Revoked) => Err(refuse(Refusal::Revoked, &id.worker(), CertificateError::Revoked)),
            Err(r) => Err(refuse(r, &id.worker(), CertificateError::ApplicationVerificationFailure)),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The gateway's rustls configuration (ring provider): our server certificate, client
/// certificates required and verified against the CA and the registry.
pub fn server_config(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
    trust: Arc<Trust>,
) -> Result<ServerConfig, Box<dyn std::error::Error + Send + Sync>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c?)?;
    }
    let inner = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build()?;
    let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes()).collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())?;
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(Arc::new(RegistryVerifier { inner, trust }))
        .with_single_cert(certs, key)?;
    Ok(config)
}
