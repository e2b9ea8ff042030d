//! The guarded, timed connection path: resolve → SSRF check → TCP connect → TLS handshake.
//!
//! Every outbound connection of this crate goes through [`Dialer`], so the SSRF guard sees the
//! address actually connected to (after DNS, for each redirect hop), and each phase is timed
//! and bounded by the request's [`Deadline`].

use crate::error::{millis, Deadline, HttpError};
use crate::guard::SsrfGuard;
use crate::resolver::{ip_literal, Resolver};
use crate::tls::{describe_tls_error, issuer, not_after, server_name, Alpn, RecordingVerifier, TlsTrust};
use netpulse_core::{Timestamp, Timings};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// Opens guarded connections.
#[derive(Clone, Debug)]
pub(crate) struct Dialer {
    pub(crate) resolver: Resolver,
    pub(crate) guard: SsrfGuard,
    pub(crate) trust: TlsTrust,
}

/// An open TCP connection and how long getting it took.
pub(crate) struct TcpConnection {
    pub(crate) stream: TcpStream,
    pub(crate) timings: Timings,
}

/// A finished TLS handshake: the stream, the leaf's expiry and issuer and the verifier's verdict.
pub(crate) struct TlsConnection {
    pub(crate) stream: TlsStream<TcpStream>,
    pub(crate) cert_expires_at: Option<Timestamp>,
    pub(crate) cert_issuer: Option<String>,
    pub(crate) verifier: Arc<RecordingVerifier>,
}

impl Dialer {
    /// Resolve `host`, pick the first address the guard allows and connect to it.
    pub(crate) async fn tcp(&self, host: &str, port: u16, deadline: &Deadline) -> Result<TcpConnection, HttpError> {
        let mut timings = Timings::default();
        let ip = self.resolve_allowed(host, deadline, &mut timings).await?;
        let addr = SocketAddr::new(ip, port);
        let started = Instant::now();
        let stream =
            deadline.run("connecting", TcpStream::connect(addr)).await?.map_err(|e| HttpError::connect(addr, &e))?;
        timings.connect_ms = Some(millis(started.elapsed()));
        Ok(TcpConnection { stream, timings })
    }

    async fn resolve_allowed(
        &self,
        host: &str,
        deadline: &Deadline,
        timings: &mut Timings,
    ) -> Result<IpAddr, HttpError> {
        let ips = if let Some(ip) = ip_literal(host) {
            vec![ip]
        } else {
            let started = Instant::now();
            let found = deadline.run("resolving DNS", self.resolver.lookup_ip(host)).await?;
            timings.dns_ms = Some(millis(started.elapsed()));
            found.map_err(|reason| HttpError::Dns { host: host.to_owned(), reason })?
        };
        let mut first_refusal = None;
        for ip in ips {
            match self.guard.check(ip) {
                Ok(()) => return Ok(ip),
                Err(refused) => first_refusal = first_refusal.or(Some(refused)),
            }
        }
        Err(match first_refusal {
            Some(refused) => HttpError::Refused(refused),
            None => HttpError::Dns { host: host.to_owned(), reason: "no addresses".into() },
        })
    }

    /// Run a TLS handshake for `host` over `tcp`, offering `alpn`. With `enforce`, an invalid
    /// certificate fails the handshake; without, it is accepted and the verdict kept in the
    /// returned verifier.
    pub(crate) async fn tls(
        &self,
        tcp: TcpConnection,
        host: &str,
        enforce: bool,
        alpn: Alpn,
        deadline: &Deadline,
    ) -> Result<(TlsConnection, Timings), HttpError> {
        let name = server_name(host).map_err(HttpError::Tls)?;
        let (config, verifier) = self.trust.connection_config(enforce, alpn);
        let started = Instant::now();
        let handshake = TlsConnector::from(config).connect(name, tcp.stream);
        let stream = deadline.run("performing the TLS handshake", handshake).await?.map_err(|e| tls_failure(&e))?;
        let mut timings = tcp.timings;
        timings.tls_ms = Some(millis(started.elapsed()));
        let leaf = stream.get_ref().1.peer_certificates().and_then(|c| c.first());
        let cert_expires_at = leaf.and_then(|c| not_after(c));
        let cert_issuer = leaf.and_then(|c| issuer(c));
        Ok((TlsConnection { stream, cert_expires_at, cert_issuer, verifier }, timings))
    }
}

fn tls_failure(err: &std::io::Error) -> HttpError {
    let inner = err.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>());
    HttpError::Tls(match inner {
        Some(tls) => describe_tls_error(tls),
        None if err.kind() == std::io::ErrorKind::UnexpectedEof => "the server closed the connection".into(),
        None => err.to_string(),
    })
}
