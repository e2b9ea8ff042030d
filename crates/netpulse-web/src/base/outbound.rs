//! Where monitors and channels connect to, refused when saved: with `ssrf.block_private`, a
//! host that is an IP literal the SSRF guard refuses (or `localhost`, which the resolver
//! answers itself) is refused at once with the field named, instead of being stored to fail
//! on every check or delivery. Host names are judged where they resolve, on every address at
//! connect time and after each redirect ([`netpulse_checker::SsrfGuard`]).

use super::error::{ApiError, ApiResult};
use netpulse_checker::guard::SsrfConfig;
use netpulse_core::CheckSpec;

/// Refuse `host` (of `field`) when the guard of `ssrf` refuses it without asking DNS.
pub fn refuse_blocked_host(field: &str, host: &str, ssrf: &SsrfConfig) -> ApiResult<()> {
    ssrf.guard().check_host(host).map_err(|refused| {
        ApiError::invalid(
            field,
            format!(
                "{} is a {}, which this server does not connect to (ssrf.block_private; an operator opens ranges with ssrf.allow)",
                refused.ip,
                refused.class.describe()
            ),
        )
    })
}

/// Refuse a check whose target is such a host: an HTTP or WebSocket check's `url`, a TCP,
/// TLS, ping or gRPC check's `host`, a DNS check's `resolver` (the server it asks; the name it asks
/// about is not connected to).
pub fn refuse_blocked_target(spec: &CheckSpec, ssrf: &SsrfConfig) -> ApiResult<()> {
    match spec {
        CheckSpec::Http(h) => refuse_blocked_host("url", h.url.as_url().host_str().unwrap_or(""), ssrf),
        CheckSpec::Tcp(t) => refuse_blocked_host("host", &t.host, ssrf),
        CheckSpec::Tls(t) => refuse_blocked_host("host", &t.host, ssrf),
        CheckSpec::Dns(d) => match d.resolver {
            Some(server) => refuse_blocked_host("resolver", &server.ip().to_string(), ssrf),
            None => Ok(()),
        },
        CheckSpec::WebSocket(w) => refuse_blocked_host("url", w.url.as_url().host_str().unwrap_or(""), ssrf),
        CheckSpec::Ping(p) => refuse_blocked_host("host", &p.host, ssrf),
        CheckSpec::Grpc(g) => refuse_blocked_host("host", &g.host, ssrf),
        CheckSpec::Heartbeat(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_blocked_literals_are_refused_and_only_while_blocking() {
        let strict = SsrfConfig { block_private: true, allow: vec!["10.1.0.0/16".into()] };
        let e = refuse_blocked_host("url", "[::ffff:10.0.0.1]", &strict).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("url"));
        assert!(e.message.starts_with("url: 10.0.0.1 is a private address, which"), "{}", e.message);
        assert!(refuse_blocked_host("host", "LOCALHOST.", &strict).is_err());
        for fine in ["10.1.2.3", "example.com", "93.184.216.34", "[2606:4700::1111]"] {
            assert!(refuse_blocked_host("host", fine, &strict).is_ok(), "{fine}");
        }
        let open = SsrfConfig { block_private: false, allow: vec![] };
        assert!(refuse_blocked_host("host", "127.0.0.1", &open).is_ok());
    }
}
