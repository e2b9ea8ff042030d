//! The checks aimed at a host (a name or an IP address) and, but for ping, a port: TCP
//! connect, TLS certificate, ICMP ping and gRPC health, with their defaults and the checks
//! serde cannot express.

use super::{plain_text, validate_host, validate_host_port, yes, FieldError};
use serde::{Deserialize, Serialize};

/// A TCP connect check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpSpec {
    pub host: String,
    pub port: u16,
}

/// A TLS certificate check: down when the certificate is invalid or expires within `warn_days`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSpec {
    pub host: String,
    #[serde(default = "default_tls_port")]
    pub port: u16,
    #[serde(default = "default_warn_days")]
    pub warn_days: u32,
    #[serde(default = "yes")]
    pub verify_tls: bool,
}

fn default_tls_port() -> u16 {
    443
}
fn default_warn_days() -> u32 {
    14
}

/// An ICMP echo (ping) check: `count` echo requests `packet_interval_ms` apart to `host`
/// (a name or an IP literal), each answered within the monitor's timeout or lost. Down when
/// `loss_threshold_percent` or more of the packets are lost (by default: all of them);
/// degraded when the average round trip exceeds `degraded_after_ms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PingSpec {
    pub host: String,
    /// Echo requests sent per check.
    #[serde(default = "default_ping_count")]
    pub count: u8,
    /// Time between two echo requests; `packet_` sets it apart from the monitor's `interval_s`.
    #[serde(default = "default_packet_interval_ms")]
    pub packet_interval_ms: u32,
    /// The share of lost packets, in percent, at which the check is down.
    #[serde(default = "default_loss_threshold_percent")]
    pub loss_threshold_percent: u8,
    /// An average round trip slower than this is `degraded` (still up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degraded_after_ms: Option<u32>,
    /// `4` or `6`: ping the host's first address of that family; left out, its first address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_version: Option<u8>,
}

fn default_ping_count() -> u8 {
    3
}
fn default_packet_interval_ms() -> u32 {
    200
}
fn default_loss_threshold_percent() -> u8 {
    100
}

impl PingSpec {
    pub const MAX_COUNT: u8 = 10;
    pub const PACKET_INTERVAL_MS: std::ops::RangeInclusive<u32> = 10..=1000;

    /// How long sending every packet takes: the spacing before the last one.
    pub fn sending_ms(&self) -> u32 {
        u32::from(self.count.saturating_sub(1)) * self.packet_interval_ms
    }

    pub(super) fn validate(&self) -> Result<(), FieldError> {
        validate_host("host", &self.host)?;
        if !(1..=Self::MAX_COUNT).contains(&self.count) {
            return Err(FieldError::new(
                "count",
                format!("must be 1 to {} packets (got {})", Self::MAX_COUNT, self.count),
            ));
        }
        let (lo, hi) = (Self::PACKET_INTERVAL_MS.start(), Self::PACKET_INTERVAL_MS.end());
        if !Self::PACKET_INTERVAL_MS.contains(&self.packet_interval_ms) {
            return Err(FieldError::new(
                "packet_interval_ms",
                format!("must be {lo} to {hi} ms (got {})", self.packet_interval_ms),
            ));
        }
        if !(1..=100).contains(&self.loss_threshold_percent) {
            return Err(FieldError::new(
                "loss_threshold_percent",
                format!(
                    "must be 1 to 100 (got {}); 100 is down only when every packet is lost",
                    self.loss_threshold_percent
                ),
            ));
        }
        self.validate_ip_version()
    }

    /// `ip_version` is 4 or 6, and when `host` is an IP address, its own.
    fn validate_ip_version(&self) -> Result<(), FieldError> {
        let literal = self.host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>().ok();
        match (self.ip_version, literal.map(|ip| ip.to_canonical())) {
            (Some(v), _) if v != 4 && v != 6 => Err(FieldError::new(
                "ip_version",
                format!("must be 4 or 6 (got {v}); leave it out to use the host's first address"),
            )),
            (Some(v), Some(ip)) if (v == 4) != ip.is_ipv4() => Err(FieldError::new(
                "ip_version",
                format!(
                    "{} is an IPv{} address; leave ip_version out for an IP address",
                    self.host,
                    if ip.is_ipv4() { 4 } else { 6 }
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// A gRPC health check: `grpc.health.v1.Health/Check` asked about `service` over HTTP/2 (TLS
/// with ALPN `h2`, or plaintext "h2c" with prior knowledge). Up when the reply's status is
/// `SERVING`; degraded when the reply took longer than `degraded_after_ms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcSpec {
    pub host: String,
    pub port: u16,
    /// The service whose health is asked for, as the server registered it
    /// (`package.Service`); empty asks about the server as a whole.
    #[serde(default)]
    pub service: String,
    /// HTTP/2 over TLS; `false` speaks plaintext HTTP/2 (h2c).
    #[serde(default = "yes")]
    pub tls: bool,
    #[serde(default = "yes")]
    pub verify_tls: bool,
    /// A reply slower than this is `degraded` (still up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degraded_after_ms: Option<u32>,
}

impl GrpcSpec {
    /// Longest service name, in bytes.
    pub const MAX_SERVICE: usize = 256;

    /// `host:port`, and the service when one is named.
    pub(super) fn target(&self) -> String {
        match self.service.as_str() {
            "" => format!("{}:{}", self.host, self.port),
            service => format!("{}:{} {service}", self.host, self.port),
        }
    }

    pub(super) fn validate(&self) -> Result<(), FieldError> {
        validate_host_port("host", &self.host, self.port)?;
        if self.service.len() > Self::MAX_SERVICE {
            return Err(FieldError::new("service", format!("must be at most {} bytes", Self::MAX_SERVICE)));
        }
        if self.service.chars().any(char::is_whitespace) {
            return Err(FieldError::new(
                "service",
                format!("`{}` has a space; write the service as registered, e.g. `shop.v1.Cart`", self.service.trim()),
            ));
        }
        plain_text("service", &self.service, false)
    }
}

#[cfg(test)]
mod tests {
    use crate::CheckSpec;

    #[test]
    fn a_ping_check_has_defaults_and_refuses_bad_fields_by_name() {
        let spec: CheckSpec = serde_json::from_str(r#"{"kind":"ping","host":"example.com"}"#).unwrap();
        let CheckSpec::Ping(p) = &spec else { panic!("not ping") };
        assert_eq!((p.count, p.packet_interval_ms, p.loss_threshold_percent), (3, 200, 100));
        assert_eq!((p.degraded_after_ms, p.ip_version), (None, None));
        assert_eq!(spec.target(), "ping example.com");
        let bad = |extra: &str| {
            let s: CheckSpec = serde_json::from_str(&format!(r#"{{"kind":"ping","host":"::1",{extra}}}"#)).unwrap();
            s.validate().unwrap_err().field
        };
        assert_eq!(bad(r#""count":0"#), "count");
        assert_eq!(bad(r#""count":11"#), "count");
        assert_eq!(bad(r#""packet_interval_ms":5"#), "packet_interval_ms");
        assert_eq!(bad(r#""loss_threshold_percent":0"#), "loss_threshold_percent");
        assert_eq!(bad(r#""loss_threshold_percent":101"#), "loss_threshold_percent");
        assert_eq!(bad(r#""ip_version":5"#), "ip_version");
        assert_eq!(bad(r#""ip_version":4"#), "ip_version", "::1 is not IPv4");
        let s: CheckSpec = serde_json::from_str(r#"{"kind":"ping","host":"a b"}"#).unwrap();
        assert_eq!(s.validate().unwrap_err().field, "host");
    }

    #[test]
    fn a_grpc_check_has_defaults_and_refuses_bad_fields_by_name() {
        let spec: CheckSpec = serde_json::from_str(r#"{"kind":"grpc","host":"example.com","port":50051}"#).unwrap();
        let CheckSpec::Grpc(g) = &spec else { panic!("not grpc") };
        assert_eq!((g.service.as_str(), g.tls, g.verify_tls, g.degraded_after_ms), ("", true, true, None));
        assert_eq!(spec.target(), "example.com:50051");
        assert!(spec.validate().is_ok());
        let with = |fields: &str| {
            let s: CheckSpec = serde_json::from_str(&format!(r#"{{"kind":"grpc",{fields}}}"#)).unwrap();
            (s.target(), s.validate().map_err(|e| e.field))
        };
        let at = r#""host":"example.com","port":443"#;
        assert_eq!(with(&format!(r#"{at},"service":"shop.v1.Cart""#)), ("example.com:443 shop.v1.Cart".into(), Ok(())));
        assert_eq!(with(&format!(r#"{at},"service":"shop cart""#)).1, Err("service".into()));
        assert_eq!(with(&format!(r#"{at},"service":"a\u0000""#)).1, Err("service".into()));
        assert_eq!(with(&format!(r#"{at},"service":"{}""#, "s".repeat(257))).1, Err("service".into()));
        assert_eq!(with(r#""host":"a b","port":443"#).1, Err("host".into()));
        assert_eq!(with(r#""host":"example.com","port":0"#).1, Err("port".into()));
        let missing = serde_json::from_str::<CheckSpec>(r#"{"kind":"grpc","host":"example.com"}"#).unwrap_err();
        assert!(missing.to_string().contains("missing field `port`"), "{missing}");
    }
}
