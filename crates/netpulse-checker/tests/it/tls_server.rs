//! A real TLS server for the tests: rcgen self-signed certificates for `localhost` and
//! `127.0.0.1` with a chosen validity window, serving the test site over rustls.

use rcgen::{CertificateParams, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::SocketAddr;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// A self-signed certificate and its key.
pub struct TestCert {
    pub der: CertificateDer<'static>,
    key: Vec<u8>,
    /// `notAfter`, in Unix seconds.
    pub not_after: i64,
}

/// A certificate valid from 30 days ago until `expires_in` from now (negative: expired).
pub fn cert_expiring_in(expires_in: Duration) -> TestCert {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.subject_alt_names.push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(30);
    params.not_after = now + expires_in;
    let cert = params.self_signed(&key).unwrap();
    TestCert { der: cert.der().clone(), key: key.serialize_der(), not_after: params.not_after.unix_timestamp() }
}

/// Serve the test site over TLS with `cert` on 127.0.0.1; returns the port.
pub async fn spawn_https(cert: &TestCert) -> u16 {
    let listener = TlsListener { tcp: TcpListener::bind("127.0.0.1:0").await.unwrap(), acceptor: acceptor(cert) };
    let port = listener.tcp.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, super::site::router()).await.unwrap() });
    port
}

fn acceptor(cert: &TestCert) -> TlsAcceptor {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key.clone()));
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der.clone()], key)
        .unwrap();
    TlsAcceptor::from(Arc::new(config))
}

/// Accepts TCP connections and completes the TLS handshake before handing them to axum.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            // Probes that reject the certificate abort the handshake; keep serving others.
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
