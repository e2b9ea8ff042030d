//! Integration tests of the checker against real local servers: an axum site over plain HTTP
//! and over TLS (rcgen certificates), a closed port, and a tiny UDP DNS responder.

mod dns;
mod guard;
mod http;
mod site;
mod tls;
mod tls_server;

use netpulse_checker::{HttpClient, ProbeContext, Resolver, SsrfGuard};
use netpulse_core::monitor::{HttpSpec, HttpUrl};
use netpulse_core::CheckSpec;

/// A probe context that may reach local test servers.
pub fn open_ctx() -> ProbeContext {
    ProbeContext::new(HttpClient::new(SsrfGuard::allow_all(), Resolver::from_system()))
}

/// An HTTP check of `url` with every option at its default.
pub fn http_spec(url: &str) -> HttpSpec {
    let CheckSpec::Http(spec) = serde_json::from_value(serde_json::json!({ "kind": "http", "url": url })).unwrap()
    else {
        unreachable!("tagged as http")
    };
    spec
}

pub fn url(s: &str) -> url::Url {
    HttpUrl::parse(s).unwrap().as_url().clone()
}

/// A port nothing listens on.
pub async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}
