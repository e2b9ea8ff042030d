//! The worker's side of the gateway connection: rustls (ring) with the worker's client
//! certificate, trusting only the engine CA in the bundle, and HTTP/1.1 requests carrying
//! JSON `core::wire` types. A [`Link`] reconnects lazily: a failed request drops the
//! connection and the next one dials again, from the gateway it was on through the others
//! it knows (`a:8443,b:8443`), so a worker whose gateway node died moves to another one.

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

/// One persistent connection to one of the gateways.
pub struct Link {
    /// Each gateway's `host:port` and the name its certificate must carry.
    gateways: Vec<(String, ServerName<'static>)>,
    /// The gateway dialled first on the next connect: the last one that answered.
    at: usize,
    tls: TlsConnector,
    conn: Option<SendRequest<Full<Bytes>>>,
}

impl Link {
    /// `addrs`: one or more gateways, comma-separated `host:port`. `server_name`: the name
    /// every gateway's certificate must carry; empty for each address's own host.
    pub fn new(addrs: &str, server_name: &str, tls: Arc<rustls::ClientConfig>) -> Result<Self, String> {
        let mut gateways = Vec::new();
        for addr in addrs.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            let name = match server_name {
                "" => host_of(addr),
                n => n,
            };
            let name = ServerName::try_from(name.to_owned()).map_err(|e| format!("server name `{name}`: {e}"))?;
            gateways.push((addr.to_owned(), name));
        }
        if gateways.is_empty() {
            return Err(format!("gateway address `{addrs}`: expected host:port (several separated by commas)"));
        }
        Ok(Self { gateways, at: 0, tls: TlsConnector::from(tls), conn: None })
    }

    /// The gateway this link is on (or dials next).
    pub fn gateway(&self) -> &str {
        &self.gateways[self.at].0
    }

    /// Dial and complete the mTLS handshake now: the current gateway first, then each other
    /// one in turn; the first that answers becomes current. The error is the last one's.
    pub async fn connect(&mut self) -> Result<(), LinkError> {
        let mut last = None;
        for k in 0..self.gateways.len() {
            let i = (self.at + k) % self.gateways.len();
            match self.dial(i).await {
                Ok(send) => {
                    self.at = i;
                    self.conn = Some(send);
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("at least one gateway"))
    }

    async fn dial(&self, i: usize) -> Result<SendRequest<Full<Bytes>>, LinkError> {
        let (addr, name) = &self.gateways[i];
        let err = |e: &dyn std::fmt::Display| LinkError::Connect(format!("{addr}: {e}"));
        let tcp = tokio::time::timeout(Duration::from_secs(10), tokio::net::TcpStream::connect(addr))
            .await
            .map_err(|_| LinkError::Connect(format!("{addr}: connect timed out")))?
            .map_err(|e| err(&e))?;
        let _ = tcp.set_nodelay(true);
        let tls = self.tls.connect(name.clone(), tcp).await.map_err(|e| err(&e))?;
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.map_err(|e| err(&e))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(send)
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
            .header(http::header::HOST, self.gateways[self.at].0.as_str())
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

/// The host part of `host:port` (`[::1]:8443` → `::1`).
fn host_of(addr: &str) -> &str {
    addr.rsplit_once(':').map_or(addr, |(h, _)| h).trim_matches(['[', ']'])
}
