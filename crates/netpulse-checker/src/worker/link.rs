//! The worker's side of the gateway connection: rustls (ring) with the worker's client
//! certificate, trusting only the engine CA in the bundle, and HTTP/1.1 requests carrying
//! JSON `core::wire` types. A [`Link`] reconnects lazily: a failed request drops the
//! connection and the next one dials again.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use netpulse_core::wire::{WireError, WIRE_HEADER, WIRE_VERSION};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::TlsConnector;

/// Why a request to the gateway failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("cannot reach the gateway: {0}")]
    Connect(String),
    #[error("the gateway refused us ({code}): {message}")]
    Refused { code: String, message: String },
    #[error("wire version mismatch: {0}")]
    Version(String),
    #[error("gateway answered {0}")]
    Http(String),
}

impl LinkError {
    /// A refusal that retrying soon cannot change (a revoked or unknown certificate, another
    /// wire version): the operator has to act, so the worker retries only slowly.
    pub fn is_permanent(&self) -> bool {
        matches!(self, LinkError::Refused { .. } | LinkError::Version(_))
    }
}

/// The worker's TLS client configuration from a bundle directory
/// (`worker.pem`, `worker.key`, `ca.pem`, as written by `netpulse ca issue`).
pub fn client_config(bundle: &Path) -> Result<rustls::ClientConfig, String> {
    let read = |f: &str| std::fs::read(bundle.join(f)).map_err(|e| format!("{}: {e}", bundle.join(f).display()));
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(&read("ca.pem")?) {
        roots.add(c.map_err(|e| format!("ca.pem: {e}"))?).map_err(|e| format!("ca.pem: {e}"))?;
    }
    let certs = CertificateDer::pem_slice_iter(&read("worker.pem")?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("worker.pem: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(&read("worker.key")?).map_err(|e| format!("worker.key: {e}"))?;
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .map_err(|e| format!("worker certificate: {e}"))
}

/// One persistent connection to the gateway.
pub struct Link {
    addr: String,
    server_name: ServerName<'static>,
    tls: TlsConnector,
    conn: Option<SendRequest<Full<Bytes>>>,
}

impl Link {
    pub fn new(addr: &str, server_name: &str, tls: Arc<rustls::ClientConfig>) -> Result<Self, String> {
        let server_name =
            ServerName::try_from(server_name.to_owned()).map_err(|e| format!("server name `{server_name}`: {e}"))?;
        Ok(Self { addr: addr.to_owned(), server_name, tls: TlsConnector::from(tls), conn: None })
    }

    /// Dial and complete the mTLS handshake now.
    pub async fn connect(&mut self) -> Result<(), LinkError> {
        let err = |e: &dyn std::fmt::Display| LinkError::Connect(e.to_string());
        let tcp = tokio::time::timeout(Duration::from_secs(10), tokio::net::TcpStream::connect(&self.addr))
            .await
            .map_err(|_| LinkError::Connect("connect timed out".into()))?
            .map_err(|e| err(&e))?;
        let _ = tcp.set_nodelay(true);
        let tls = self.tls.connect(self.server_name.clone(), tcp).await.map_err(|e| err(&e))?;
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.map_err(|e| err(&e))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        self.conn = Some(send);
        Ok(())
    }

    pub fn is_connected(&self) -> bool {
        self.conn.as_ref().is_some_and(|c| !c.is_closed())
    }

    /// POST `body` to `path`, answer parsed as `R`; any failure drops the connection.
    pub async fn post<B: Serialize, R: DeserializeOwned>(
        &mut self,
        path: &str,
        body: &B,
        timeout: Duration,
    ) -> Result<R, LinkError> {
        let out = tokio::time::timeout(timeout, self.exchange(path, body))
            .await
            .unwrap_or_else(|_| Err(LinkError::Connect("request timed out".into())));
        if out.is_err() {
            self.conn = None;
        }
        out
    }

    async fn exchange<B: Serialize, R: DeserializeOwned>(&mut self, path: &str, body: &B) -> Result<R, LinkError> {
        if !self.is_connected() {
            self.connect().await?;
        }
        let conn = self.conn.as_mut().expect("connected");
        let req = http::Request::post(path)
            .header(http::header::HOST, self.addr.as_str())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(WIRE_HEADER, WIRE_VERSION)
            .body(Full::new(Bytes::from(serde_json::to_vec(body).expect("wire types serialize"))))
            .expect("valid request");
        let resp = conn.send_request(req).await.map_err(|e| LinkError::Connect(e.to_string()))?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await.map_err(|e| LinkError::Connect(e.to_string()))?.to_bytes();
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| LinkError::Http(format!("unreadable answer: {e}")));
        }
        let e: WireError = serde_json::from_slice(&bytes).unwrap_or_else(|_| WireError {
            code: status.to_string(),
            message: String::from_utf8_lossy(&bytes).into(),
        });
        Err(match status.as_u16() {
            409 => LinkError::Version(e.message),
            401 | 403 => LinkError::Refused { code: e.code, message: e.message },
            _ => LinkError::Http(format!("{status}: {}", e.message)),
        })
    }
}
