//! Name resolution for probes and the HTTP client, built on hickory's Tokio resolver.
//!
//! The system configuration (`/etc/resolv.conf`, the hosts file) is used; when it cannot be
//! read the resolver starts with no upstream servers rather than silently sending queries to a
//! public resolver. IP literals never touch DNS, and `localhost` is always `127.0.0.1`.
//! Answers are returned as text, the way an operator would write them in an `expected` field.

use hickory_resolver::config::{NameServerConfigGroup, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{ResolveError, TokioResolver};
use netpulse_core::monitor::DnsRecordType;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// A cheap-to-clone DNS resolver.
#[derive(Clone)]
pub struct Resolver {
    system: Arc<TokioResolver>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver").finish_non_exhaustive()
    }
}

impl Resolver {
    /// The system resolver; with an unreadable system configuration, one with no upstreams
    /// (only the hosts file and IP literals work then).
    pub fn from_system() -> Self {
        let builder = TokioResolver::builder_tokio().unwrap_or_else(|err| {
            tracing::warn!(%err, "cannot read the system DNS configuration; DNS lookups will fail");
            TokioResolver::builder_with_config(ResolverConfig::new(), TokioConnectionProvider::default())
        });
        Self { system: Arc::new(builder.build()) }
    }

    /// A resolver that asks only `nameservers` (UDP, falling back to TCP) and ignores the
    /// hosts file; for configured resolvers and tests.
    pub fn with_nameservers(nameservers: &[SocketAddr]) -> Self {
        Self { system: Arc::new(direct_resolver(nameservers)) }
    }

    /// The addresses of `host`: an IP literal (brackets allowed) as is, `localhost` as
    /// `127.0.0.1`, anything else through DNS.
    pub async fn lookup_ip(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        if let Some(ip) = ip_literal(host) {
            return Ok(vec![ip]);
        }
        if host.eq_ignore_ascii_case("localhost") || host.eq_ignore_ascii_case("localhost.") {
            return Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]);
        }
        let found = self.system.lookup_ip(host).await.map_err(|e| describe(&e, host, "A/AAAA"))?;
        let ips: Vec<IpAddr> = found.iter().collect();
        if ips.is_empty() {
            return Err(format!("{host} has no A/AAAA records"));
        }
        Ok(ips)
    }

    /// The answers for `name` of `record_type` as text, asking `nameserver` when given.
    /// A/AAAA give the IP, CNAME/NS the target without the trailing dot, MX `"10 mx.example"`,
    /// TXT the joined strings.
    pub async fn lookup(
        &self,
        name: &str,
        record_type: DnsRecordType,
        nameserver: Option<SocketAddr>,
    ) -> Result<Vec<String>, String> {
        let rtype = wire_type(record_type);
        let fqdn = if name.ends_with('.') { name.to_owned() } else { format!("{name}.") };
        let lookup = match nameserver {
            None => self.system.lookup(fqdn.as_str(), rtype).await,
            Some(addr) => direct_resolver(&[addr]).lookup(fqdn.as_str(), rtype).await,
        };
        let lookup = lookup.map_err(|e| describe(&e, name, &record_type.to_string()))?;
        let answers: Vec<String> =
            lookup.record_iter().filter(|r| r.record_type() == rtype).filter_map(|r| answer_text(r.data())).collect();
        if answers.is_empty() {
            return Err(format!("{name} has no {record_type} records"));
        }
        Ok(answers)
    }
}

/// A resolver that asks exactly `addrs` and ignores the hosts file.
fn direct_resolver(addrs: &[SocketAddr]) -> TokioResolver {
    let mut servers = NameServerConfigGroup::new();
    for addr in addrs {
        servers.merge(NameServerConfigGroup::from_ips_clear(&[addr.ip()], addr.port(), true));
    }
    let config = ResolverConfig::from_parts(None, vec![], servers);
    let mut opts = ResolverOpts::default();
    opts.use_hosts_file = ResolveHosts::Never;
    opts.cache_size = 0;
    opts.attempts = 1;
    TokioResolver::builder_with_config(config, TokioConnectionProvider::default()).with_options(opts).build()
}

/// `host` as an IP address if it is one (`[::1]` included).
pub(crate) fn ip_literal(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

fn wire_type(t: DnsRecordType) -> RecordType {
    match t {
        DnsRecordType::A => RecordType::A,
        DnsRecordType::AAAA => RecordType::AAAA,
        DnsRecordType::CNAME => RecordType::CNAME,
        DnsRecordType::MX => RecordType::MX,
        DnsRecordType::TXT => RecordType::TXT,
        DnsRecordType::NS => RecordType::NS,
    }
}

fn answer_text(data: &RData) -> Option<String> {
    let name = |n: &hickory_resolver::Name| n.to_utf8().trim_end_matches('.').to_owned();
    Some(match data {
        RData::A(a) => a.0.to_string(),
        RData::AAAA(a) => a.0.to_string(),
        RData::CNAME(c) => name(&c.0),
        RData::NS(ns) => name(&ns.0),
        RData::MX(mx) => format!("{} {}", mx.preference(), name(mx.exchange())),
        RData::TXT(txt) => txt.iter().map(|s| String::from_utf8_lossy(s)).collect(),
        _ => return None,
    })
}

fn describe(err: &ResolveError, name: &str, what: &str) -> String {
    if err.is_nx_domain() {
        format!("{name} does not exist (NXDOMAIN)")
    } else if err.is_no_records_found() {
        format!("{name} has no {what} records")
    } else {
        err.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn literals_and_localhost_skip_dns() {
        let r = Resolver::from_system();
        assert_eq!(r.lookup_ip("[::1]").await.unwrap(), vec!["::1".parse::<IpAddr>().unwrap()]);
        assert_eq!(r.lookup_ip("10.1.2.3").await.unwrap(), vec!["10.1.2.3".parse::<IpAddr>().unwrap()]);
        assert_eq!(r.lookup_ip("LOCALHOST").await.unwrap(), vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    }
}
