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
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
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

    /// Refuse every address that is not globally reachable ([`AddressClass`]: loopback,
    /// private, link-local, CGNAT, multicast, unspecified, broadcast, documentation,
    /// benchmarking and reserved ranges, and IPv6 forms carrying such an IPv4 address)
    /// unless one of `allow` contains it.
    pub fn strict(allow: Vec<IpCidr>) -> Self {
        Self { allow: Some(allow.into()) }
    }

    /// `Ok` unless `host` (a URL's host or a `host` field; `[…]` around IPv6 allowed) names
    /// an address [`Self::check`] refuses without asking DNS: an IP literal, or `localhost`,
    /// which the resolver answers itself. For refusing a target when it is saved; names are
    /// judged on every resolved address when they are connected to.
    pub fn check_host(&self, host: &str) -> Result<(), Refused> {
        let host = host.trim_end_matches('.');
        match crate::resolver::ip_literal(host) {
            Some(ip) => self.check(ip),
            None if host.eq_ignore_ascii_case("localhost") => self.check(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            None => Ok(()),
        }
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
    /// 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32, 3fff::/20.
    Documentation,
    /// 198.18.0.0/15, 2001:2::/48.
    Benchmarking,
    /// Set aside by the IETF and not globally reachable: 192.0.0.0/24, 240.0.0.0/4, the
    /// discard-only `100::/64`, `2001::/23`, the deprecated IPv4-compatible `::/96`, …
    Reserved,
}

/// `a.b.c.d/prefix`.
const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> IpCidr {
    IpCidr { network: IpAddr::V4(Ipv4Addr::new(a, b, c, d)), prefix }
}

/// The first segments of an IPv6 network, the rest zero, `/prefix`.
const fn v6(s: [u16; 4], prefix: u8) -> IpCidr {
    IpCidr { network: IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0)), prefix }
}

/// The IANA IPv4 Special-Purpose Address Registry's entries that are globally reachable
/// although a range below says otherwise (checked first).
const V4_REACHABLE: [IpCidr; 2] = [
    v4(192, 0, 0, 9, 32),  // Port Control Protocol anycast
    v4(192, 0, 0, 10, 32), // Traversal Using Relays around NAT anycast
];

/// The IANA IPv4 Special-Purpose Address Registry's ranges that are not globally reachable
/// (and the deprecated 6to4 relay anycast), plus multicast and the limited broadcast.
const V4_BLOCKED: [(IpCidr, AddressClass); 16] = [
    (v4(0, 0, 0, 0, 8), AddressClass::Unspecified), // "this network"
    (v4(10, 0, 0, 0, 8), AddressClass::Private),
    (v4(100, 64, 0, 0, 10), AddressClass::SharedCgnat),
    (v4(127, 0, 0, 0, 8), AddressClass::Loopback),
    (v4(169, 254, 0, 0, 16), AddressClass::LinkLocal),
    (v4(172, 16, 0, 0, 12), AddressClass::Private),
    (v4(192, 0, 0, 0, 24), AddressClass::Reserved), // IETF protocol assignments
    (v4(192, 0, 2, 0, 24), AddressClass::Documentation),
    (v4(192, 88, 99, 0, 24), AddressClass::Reserved), // 6to4 relay anycast (deprecated)
    (v4(192, 168, 0, 0, 16), AddressClass::Private),
    (v4(198, 18, 0, 0, 15), AddressClass::Benchmarking),
    (v4(198, 51, 100, 0, 24), AddressClass::Documentation),
    (v4(203, 0, 113, 0, 24), AddressClass::Documentation),
    (v4(224, 0, 0, 0, 4), AddressClass::Multicast),
    (v4(255, 255, 255, 255, 32), AddressClass::Broadcast), // before 240/4, which holds it
    (v4(240, 0, 0, 0, 4), AddressClass::Reserved),
];

/// The IANA IPv6 Special-Purpose Address Registry's globally reachable entries inside the
/// ranges below (checked first). NAT64's `64:ff9b::/96` reaches the IPv4 address it carries,
/// which is judged before.
const V6_REACHABLE: [IpCidr; 8] = [
    IpCidr { network: IpAddr::V6(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0)), prefix: 96 },
    IpCidr { network: IpAddr::V6(Ipv6Addr::new(0x2001, 1, 0, 0, 0, 0, 0, 1)), prefix: 128 }, // PCP anycast
    IpCidr { network: IpAddr::V6(Ipv6Addr::new(0x2001, 1, 0, 0, 0, 0, 0, 2)), prefix: 128 }, // TURN anycast
    IpCidr { network: IpAddr::V6(Ipv6Addr::new(0x2001, 1, 0, 0, 0, 0, 0, 3)), prefix: 128 }, // DNS-SD SRP anycast
    v6([0x2001, 3, 0, 0], 32),                                                               // AMT
    v6([0x2001, 4, 0x112, 0], 48),                                                           // AS112-v6
    v6([0x2001, 0x20, 0, 0], 28),                                                            // ORCHIDv2
    v6([0x2001, 0x30, 0, 0], 28),                                                            // Drone Remote ID
];

/// The IANA IPv6 Special-Purpose Address Registry's ranges that are not globally reachable,
/// link-local, unique local and the deprecated site-local `fec0::/10`. Beyond these, only
/// global unicast (`2000::/3`, the IANA IPv6 Address Space) is reachable: the rest, e.g. the
/// IPv4-compatible `::/96`, the discard-only `100::/64`, the local-use translation prefix
/// `64:ff9b:1::/48` and segment-routing `5f00::/16`, is [`AddressClass::Reserved`].
const V6_BLOCKED: [(IpCidr, AddressClass); 7] = [
    (v6([0x2001, 2, 0, 0], 48), AddressClass::Benchmarking),
    (v6([0x2001, 0, 0, 0], 23), AddressClass::Reserved), // IETF protocol assignments (Teredo too)
    (v6([0x2001, 0xdb8, 0, 0], 32), AddressClass::Documentation),
    (v6([0x3fff, 0, 0, 0], 20), AddressClass::Documentation),
    (v6([0xfe80, 0, 0, 0], 10), AddressClass::LinkLocal),
    (v6([0xfec0, 0, 0, 0], 10), AddressClass::Private), // site-local (deprecated)
    (v6([0xfc00, 0, 0, 0], 7), AddressClass::Private),  // unique local
];

/// One address of every range the strict guard refuses, in the forms an attacker writes them
/// (IPv6 carrying IPv4 in each way, 6to4, NAT64): the table the tests run over every probe
/// kind and every channel kind.
pub const BLOCKED_EXAMPLES: &[(&str, AddressClass)] = &[
    ("127.0.0.1", AddressClass::Loopback),
    ("127.255.0.9", AddressClass::Loopback),
    ("10.1.2.3", AddressClass::Private),
    ("172.16.0.1", AddressClass::Private),
    ("192.168.1.1", AddressClass::Private),
    ("169.254.169.254", AddressClass::LinkLocal),
    ("100.64.0.1", AddressClass::SharedCgnat),
    ("0.0.0.0", AddressClass::Unspecified),
    ("0.1.2.3", AddressClass::Unspecified),
    ("255.255.255.255", AddressClass::Broadcast),
    ("224.0.0.1", AddressClass::Multicast),
    ("192.0.0.1", AddressClass::Reserved),
    ("192.0.0.170", AddressClass::Reserved),
    ("192.88.99.1", AddressClass::Reserved),
    ("240.0.0.1", AddressClass::Reserved),
    ("198.18.0.1", AddressClass::Benchmarking),
    ("198.19.255.254", AddressClass::Benchmarking),
    ("192.0.2.1", AddressClass::Documentation),
    ("198.51.100.7", AddressClass::Documentation),
    ("203.0.113.9", AddressClass::Documentation),
    ("::1", AddressClass::Loopback),
    ("::", AddressClass::Unspecified),
    ("::127.0.0.1", AddressClass::Loopback),
    ("::10.0.0.1", AddressClass::Private),
    ("::8.8.8.8", AddressClass::Reserved),
    ("::ffff:127.0.0.1", AddressClass::Loopback),
    ("::ffff:a9fe:a9fe", AddressClass::LinkLocal),
    ("::ffff:0:127.0.0.1", AddressClass::Loopback),
    ("::ffff:0:a00:1", AddressClass::Private),
    ("64:ff9b::10.0.0.1", AddressClass::Private),
    ("64:ff9b:1::1", AddressClass::Reserved),
    ("2002:7f00:1::1", AddressClass::Loopback),
    ("2002:a9fe:a9fe::", AddressClass::LinkLocal),
    ("2002:c000:201::1", AddressClass::Documentation),
    ("fe80::1", AddressClass::LinkLocal),
    ("fec0::1", AddressClass::Private),
    ("fd12:3456::1", AddressClass::Private),
    ("ff02::1", AddressClass::Multicast),
    ("100::1", AddressClass::Reserved),
    ("2001::1", AddressClass::Reserved),
    ("2001:2::1", AddressClass::Benchmarking),
    ("2001:db8::1", AddressClass::Documentation),
    ("3fff::1", AddressClass::Documentation),
    ("5f00::1", AddressClass::Reserved),
];

impl AddressClass {
    /// The class of a non-public address; `None` for a public one.
    pub fn of(ip: IpAddr) -> Option<Self> {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Self::of_v4(v4),
            IpAddr::V6(v6) => Self::of_v6(v6),
        }
    }

    fn of_v4(ip: Ipv4Addr) -> Option<Self> {
        let ip = IpAddr::V4(ip);
        if V4_REACHABLE.iter().any(|c| c.contains(ip)) {
            return None;
        }
        V4_BLOCKED.iter().find(|(c, _)| c.contains(ip)).map(|(_, class)| *class)
    }

    fn of_v6(ip: Ipv6Addr) -> Option<Self> {
        let addr = IpAddr::V6(ip);
        Some(match () {
            _ if ip.is_loopback() => Self::Loopback,
            _ if ip.is_unspecified() => Self::Unspecified,
            _ if ip.is_multicast() => Self::Multicast,
            _ => {
                if let Some(class) = embedded_v4(ip).and_then(Self::of_v4) {
                    return Some(class);
                }
                if V6_REACHABLE.iter().any(|c| c.contains(addr)) {
                    return None;
                }
                if let Some((_, class)) = V6_BLOCKED.iter().find(|(c, _)| c.contains(addr)) {
                    return Some(*class);
                }
                if ip.segments()[0] & 0xe000 == 0x2000 {
                    return None; // global unicast
                }
                Self::Reserved
            }
        })
    }

    /// In words, e.g. `private address`.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Loopback => "loopback address",
            Self::Private => "private address",
            Self::LinkLocal => "link-local address (includes cloud metadata endpoints)",
            Self::SharedCgnat => "carrier-grade NAT address",
            Self::Multicast => "multicast address",
            Self::Unspecified => "unspecified address",
            Self::Broadcast => "broadcast address",
            Self::Documentation => "documentation address (not routed)",
            Self::Benchmarking => "benchmarking address (not routed)",
            Self::Reserved => "reserved address (IANA special-purpose, not globally reachable)",
        }
    }
}

/// The IPv4 address an IPv6 address carries where the network would deliver to it: the
/// IPv4-compatible `::a.b.c.d` (deprecated, tunnelled by some stacks), the IPv4-mapped
/// `::ffff:a.b.c.d` and IPv4-translated `::ffff:0:a.b.c.d`, NAT64's `64:ff9b::a.b.c.d` (a
/// gateway connects on our behalf) and 6to4's `2002:AABB:CCDD::/48` (a relay does).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    let low = Ipv4Addr::from(bits as u32);
    match bits >> 32 {
        0 | 0xffff | 0xffff_0000 => Some(low),
        0x0064_ff9b_0000_0000_0000_0000 => Some(low),
        _ if ip.segments()[0] == 0x2002 => Some(Ipv4Addr::from((bits >> 80) as u32)),
        _ => None,
    }
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
    fn every_special_purpose_range_is_classified_and_reachable_exceptions_are_not() {
        for (addr, class) in BLOCKED_EXAMPLES {
            assert_eq!(AddressClass::of(ip(addr)), Some(*class), "{addr}");
        }
        let reachable = [
            "192.0.0.9",
            "192.0.0.10",
            "192.31.196.1",
            "192.52.193.1",
            "192.175.48.1",
            "2001:1::1",
            "2001:1::2",
            "2001:3::1",
            "2001:4:112::1",
            "2001:20::1",
            "2620:4f:8000::1",
            "64:ff9b::8.8.8.8",
            "2002:808:808::1",
        ];
        for addr in reachable {
            assert_eq!(AddressClass::of(ip(addr)), None, "{addr}");
        }
    }

    #[test]
    fn a_saved_host_is_judged_when_it_is_an_ip_literal_or_localhost() {
        let strict = SsrfGuard::strict(vec![]);
        assert_eq!(strict.check_host("[::ffff:0:a00:1]").unwrap_err().class, AddressClass::Private);
        assert_eq!(strict.check_host("LocalHost.").unwrap_err().class, AddressClass::Loopback);
        assert!(strict.check_host("example.com").is_ok() && strict.check_host("93.184.216.34").is_ok());
        assert!(SsrfGuard::allow_all().check_host("10.0.0.1").is_ok());
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
