//! TLS for outbound connections: the trust store, a certificate verifier that records its
//! verdict, and reading a leaf certificate's expiry.
//!
//! Every connection gets its own `ClientConfig` around a [`RecordingVerifier`], which runs the
//! normal webpki checks (chain to a trusted root, host name, validity period) and either
//! enforces the verdict or only remembers it. Remembering lets the TLS probe report an expiry
//! date for a certificate that is also invalid, and `verify_tls = false` still collect it.
//! Only the `ring` provider is used; no process-wide provider is installed.

use netpulse_core::Timestamp;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::{Arc, Mutex};

/// The roots and crypto provider shared by all connections of one client.
#[derive(Clone, Debug)]
pub(crate) struct TlsTrust {
    provider: Arc<CryptoProvider>,
    webpki: Arc<WebPkiServerVerifier>,
}

impl TlsTrust {
    /// The Mozilla roots plus `extra` (e.g. a private CA).
    pub(crate) fn new(extra: &[CertificateDer<'static>]) -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        for cert in extra {
            roots.add(cert.clone()).map_err(|e| format!("cannot trust the extra root certificate: {e}"))?;
        }
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| format!("cannot build the certificate verifier: {e}"))?;
        Ok(Self { provider, webpki })
    }

    /// A config for one connection offering `alpn` (`http/1.1`, or `h2` for gRPC).
    /// `enforce = false` accepts any certificate but still records whether it would have been
    /// accepted.
    pub(crate) fn connection_config(&self, enforce: bool, alpn: Alpn) -> (Arc<ClientConfig>, Arc<RecordingVerifier>) {
        let verifier = Arc::new(RecordingVerifier { inner: self.webpki.clone(), enforce, verdict: Mutex::new(None) });
        let mut config = ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports the default protocol versions")
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone())
            .with_no_client_auth();
        config.alpn_protocols = vec![alpn.id().to_vec()];
        (Arc::new(config), verifier)
    }
}

/// The application protocol a connection offers in its TLS handshake (ALPN).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Alpn {
    Http1,
    /// HTTP/2, which gRPC servers require to be negotiated.
    H2,
}

impl Alpn {
    fn id(self) -> &'static [u8] {
        match self {
            Alpn::Http1 => b"http/1.1",
            Alpn::H2 => b"h2",
        }
    }
}

/// Runs webpki verification, remembers the failure, and enforces it only when asked to.
#[derive(Debug)]
pub(crate) struct RecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    enforce: bool,
    verdict: Mutex<Option<rustls::Error>>,
}

impl RecordingVerifier {
    /// Why the certificate failed verification, in an operator's words; `None` if it passed.
    pub(crate) fn failure(&self) -> Option<String> {
        self.verdict.lock().ok()?.as_ref().map(describe_tls_error)
    }
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(err) if self.enforce => Err(err),
            Err(err) => {
                if let Ok(mut slot) = self.verdict.lock() {
                    *slot = Some(err);
                }
                Ok(ServerCertVerified::assertion())
            }
            ok => ok,
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

/// A rustls error in words; certificate problems get a plain description.
pub(crate) fn describe_tls_error(err: &rustls::Error) -> String {
    let rustls::Error::InvalidCertificate(cert) = err else {
        return err.to_string();
    };
    match cert {
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => "certificate expired".into(),
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "certificate is not valid yet".into()
        }
        CertificateError::NotValidForName => "certificate is not valid for this host name".into(),
        CertificateError::NotValidForNameContext { .. } => cert.to_string(),
        CertificateError::UnknownIssuer => {
            "invalid peer certificate: UnknownIssuer (not signed by a trusted authority)".into()
        }
        CertificateError::Revoked => "certificate has been revoked".into(),
        other => format!("invalid peer certificate: {other:?}"),
    }
}

/// The `notAfter` of a DER certificate.
pub(crate) fn not_after(der: &[u8]) -> Option<Timestamp> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(Timestamp::from_secs(cert.validity().not_after.timestamp()))
}

/// Who issued a DER certificate, as people name it: the issuer's organisation with its common
/// name in brackets ("Let's Encrypt (R11)"), or whichever of the two it has.
pub(crate) fn issuer(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let name = cert.issuer();
    match (first_text(name.iter_organization()), first_text(name.iter_common_name())) {
        (Some(o), Some(cn)) if o != cn => Some(format!("{o} ({cn})")),
        (Some(o), _) => Some(o),
        (None, cn) => cn,
    }
}

/// The first attribute's text, trimmed, when it has any.
fn first_text<'a>(
    mut values: impl Iterator<Item = &'a x509_parser::x509::AttributeTypeAndValue<'a>>,
) -> Option<String> {
    values.next().and_then(|a| a.as_str().ok()).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// The server name to present (SNI) and verify for `host` (brackets around IPv6 allowed).
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_owned()).map_err(|e| format!("`{host}` is not a valid TLS server name: {e}"))
}
