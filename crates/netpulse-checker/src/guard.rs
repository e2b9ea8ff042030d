//! The SSRF guard: decides whether a resolved address may be connected to.
//!
//! A hosted NetPulse runs checks on behalf of tenants, so a monitor must not be able to reach
//! the machine's own loopback, the private network or the cloud metadata endpoint. The guard
//! is consulted on every *resolved* address right before a connection is opened, and again for
//! every redirect hop, so DNS tricks and redirects cannot route around it. An embedded
//! single-tenant install may use [`SsrfGuard::allow_all`]; the engine decides which.

use serde::Deserialize;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::sync::Arc;

/// Outbound safety (`[ssrf]`): whether checks and deliveries may reach private, loopback and
/// link-local addresses, and the ranges opened anyway.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsrfConfig {
    pub block_private: bool,
    pub allow: Vec<String>,
}

impl SsrfConfig {
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        for a in &self.allow {
            a.parse::<IpCidr>().map_err(|e| ("ssrf.allow", format!("`{a}`: {e}; write CIDRs like \"10.0.0.0/8\"")))?;
        }
        Ok(())
    }

    /// The guard this section asks for (an unparsable range, refused by [`Self::validate`], opens nothing).
    pub fn guard(&self) -> SsrfGuard {
        if self.block_private {
            SsrfGuard::strict(self.allow.iter().filter_map(|a| a.parse().ok()).collect())
        } else {
            SsrfGuard::allow_all()
        }
    }
}

/// Which addresses may be connected to.
#[derive(Clone, Debug)]
pub struct SsrfGuard {
    /// `None` allows everything; `Some` refuses non-public addresses outside the allow list.
    allow: Option<Arc<[IpCidr]>>,
}

impl SsrfGuard {
    /// Allow every address (single-tenant installs that monitor their own network).
    pub fn allow_all() -> Self {
        Self { allow: None }
    }

    /// Refuse loopback, private, link-local, CGNAT, multicast, unspecified and broadcast
    /// addresses unless one of `allow` contains them.
    pub fn strict(allow: Vec<IpCidr>) -> Self {
        Self { allow: Some(allow.into()) }
    }

    /// `Ok` when `ip` may be connected to.
    pub fn check(&self, ip: IpAddr) -> Result<(), Refused> {
        let Some(allow) = &self.allow else {
            return Ok(());
        };
        let ip = ip.to_canonical();
        match AddressClass::of(ip) {
            Some(class) if !allow.iter().any(|c| c.contains(ip)) => Err(Refused { ip, class }),
            _ => Ok(()),
        }
    }
}

/// Why an address is not public.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressClass {
    Loopback,
    Private,
    LinkLocal,
    SharedCgnat,
    Multicast,
    Unspecified,
    Broadcast,
}

impl AddressClass {
    /// The class of a non-public address; `None` for a public one.
    pub fn of(ip: IpAddr) -> Option<Self> {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Self::of_v4(v4),
            IpAddr::V6(v6) => Self::of_v6(v6),
        }
    }

    fn of_v4(ip: Ipv4Addr) -> Option<Self> {
        let [a, b, ..] = ip.octets();
        Some(match () {
            _ if ip.is_loopback() => Self::Loopback,
            _ if ip.is_private() => Self::Private,
            _ if ip.is_link_local() => Self::LinkLocal,
            _ if a == 100 && (64..128).contains(&b) => Self::SharedCgnat,
            _ if ip.is_multicast() => Self::Multicast,
            _ if ip.is_broadcast() => Self::Broadcast,
            _ if a == 0 => Self::Unspecified,
            _ => return None,
        })
    }

    fn of_v6(ip: Ipv6Addr) -> Option<Self> {
        let first = ip.segments()[0];
        if let Some(embedded) = nat64_embedded(ip) {
            return Self::of_v4(embedded);
        }
        Some(match () {
            _ if ip.is_loopback() => Self::Loopback,
            _ if ip.is_unspecified() => Self::Unspecified,
            _ if ip.is_multicast() => Self::Multicast,
            _ if first & 0xfe00 == 0xfc00 => Self::Private,
            _ if first & 0xffc0 == 0xfe80 => Self::LinkLocal,
            _ => return None,
        })
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Loopback => "loopback address",
            Self::Private => "private address",
            Self::LinkLocal => "link-local address (includes cloud metadata endpoints)",
            Self::SharedCgnat => "carrier-grade NAT address",
            Self::Multicast => "multicast address",
            Self::Unspecified => "unspecified address",
            Self::Broadcast => "broadcast address",
        }
    }
}

/// The IPv4 address inside a NAT64 address (`64:ff9b::/96`), which a NAT64 gateway would
/// connect to on our behalf.
fn nat64_embedded(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    (bits >> 32 == 0x0064_ff9b_0000_0000_0000_0000).then(|| Ipv4Addr::from(bits as u32))
}

/// The guard refused an address.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("refused to connect to {ip}: {} (SSRF guard; allow it with ssrf.allow in the config)", class.describe())]
pub struct Refused {
    pub ip: IpAddr,
    pub class: AddressClass,
}

/// An address range such as `10.0.0.0/8`; a bare IP is a single-address range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpCidr {
    network: IpAddr,
    prefix: u8,
}

/// A string that is not an IP address or CIDR range.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not an IP address or CIDR range: {reason}; write e.g. 10.0.0.0/8 or 127.0.0.1")]
pub struct CidrError {
    pub input: String,
    pub reason: String,
}

impl IpCidr {
    /// Parse `10.0.0.0/8`, `fd00::/8` or a bare address. Host bits are masked off.
    pub fn parse(s: &str) -> Result<Self, CidrError> {
        let err = |reason: String| CidrError { input: s.to_owned(), reason };
        let (addr, prefix) = s.trim().split_once('/').map_or((s.trim(), None), |(a, p)| (a, Some(p)));
        let ip: IpAddr = addr.parse().map_err(|_| err(format!("`{addr}` is not an IP address")))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| err(format!("prefix `/{p}` must be a number from 0 to {max}")))?,
        };
        Ok(Self { network: mask(ip, prefix), prefix })
    }

    /// Whether `ip` lies inside this range (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.network.is_ipv4() && mask(ip, self.prefix) == self.network
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) & bits))
        }
        IpAddr::V6(v6) => {
            let bits = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & bits))
        }
    }
}

impl FromStr for IpCidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Self, CidrError> {
        Self::parse(s)
    }
}

impl fmt::Display for IpCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidrs_parse_mask_and_match() {
        let ten = IpCidr::parse("10.0.0.0/8").unwrap();
        assert!(ten.contains(ip("10.255.1.2")) && !ten.contains(ip("11.0.0.1")));
        assert!(ten.contains(ip("::ffff:10.1.2.3")));
        assert_eq!(IpCidr::parse("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
        let one: IpCidr = "127.0.0.1".parse().unwrap();
        assert_eq!(one.to_string(), "127.0.0.1/32");
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        assert!(IpCidr::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
        assert!(IpCidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(!IpCidr::parse("0.0.0.0/0").unwrap().contains(ip("::1")));
    }

    #[test]
    fn bad_cidrs_say_what_is_wrong() {
        let e = IpCidr::parse("10.0.0.0/33").unwrap_err().to_string();
        assert!(e.contains("`/33`") && e.contains("0 to 32"), "{e}");
        let e = IpCidr::parse("intranet").unwrap_err().to_string();
        assert!(e.contains("`intranet` is not an IP address"), "{e}");
        assert!(IpCidr::parse("::/129").is_err());
    }

    #[test]
    fn classifies_non_public_addresses() {
        let cases = [
            ("127.0.0.1", Some(AddressClass::Loopback)),
            ("::1", Some(AddressClass::Loopback)),
            ("10.0.0.1", Some(AddressClass::Private)),
            ("172.16.5.4", Some(AddressClass::Private)),
            ("172.32.0.1", None),
            ("192.168.1.1", Some(AddressClass::Private)),
            ("fd00::1", Some(AddressClass::Private)),
            ("169.254.169.254", Some(AddressClass::LinkLocal)),
            ("fe80::1", Some(AddressClass::LinkLocal)),
            ("100.64.0.1", Some(AddressClass::SharedCgnat)),
            ("100.128.0.1", None),
            ("224.0.0.1", Some(AddressClass::Multicast)),
            ("ff02::1", Some(AddressClass::Multicast)),
            ("0.0.0.0", Some(AddressClass::Unspecified)),
            ("::", Some(AddressClass::Unspecified)),
            ("255.255.255.255", Some(AddressClass::Broadcast)),
            ("::ffff:127.0.0.1", Some(AddressClass::Loopback)),
            ("::ffff:169.254.169.254", Some(AddressClass::LinkLocal)),
            ("64:ff9b::10.0.0.1", Some(AddressClass::Private)),
            ("64:ff9b::8.8.8.8", None),
            ("93.184.216.34", None),
            ("2606:4700::1111", None),
        ];
        for (addr, want) in cases {
            assert_eq!(AddressClass::of(ip(addr)), want, "{addr}");
        }
    }

    #[test]
    fn strict_guard_refuses_unless_allowed() {
        let strict = SsrfGuard::strict(vec![]);
        let e = strict.check(ip("10.0.0.1")).unwrap_err().to_string();
        assert_eq!(
            e,
            "refused to connect to 10.0.0.1: private address (SSRF guard; allow it with ssrf.allow in the config)"
        );
        assert!(strict.check(ip("::ffff:127.0.0.1")).is_err());
        assert!(strict.check(ip("1.1.1.1")).is_ok());
        let allowing = SsrfGuard::strict(vec![IpCidr::parse("127.0.0.1/32").unwrap()]);
        assert!(allowing.check(ip("127.0.0.1")).is_ok());
        assert!(allowing.check(ip("127.0.0.2")).is_err());
        assert!(SsrfGuard::allow_all().check(ip("169.254.169.254")).is_ok());
    }
}
