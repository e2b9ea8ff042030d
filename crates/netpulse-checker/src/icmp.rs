//! ICMP echo for the ping probe, over one of two sockets: an unprivileged ICMP datagram
//! socket (allowed to the groups in `net.ipv4.ping_group_range`, which governs IPv6 too), or,
//! when that is refused, a raw ICMP socket (root or `CAP_NET_RAW`).
//!
//! The socket is connected to the target, so the kernel hands it only packets from that
//! address. A datagram socket gets only the echo replies to its own identifier (the kernel
//! picks it, replacing ours); a raw socket gets every ICMP message from the target: its own
//! echo requests too when the target is this host, and replies to other checks of the same
//! target. So a reply counts when it is an echo reply ([`EchoReply::decode`]) carrying the
//! check's random tag and one of its sequence numbers; the identifier is not compared.
//!
//! Checksums: ICMPv4 requests carry the RFC 1071 checksum ([`checksum`]), which a raw socket
//! sends as is (a datagram socket's kernel recomputes it after putting in its identifier); the
//! kernel fills in ICMPv6 checksums on both socket types (it alone knows the source address
//! the pseudo-header needs).

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;
/// The ICMP echo header: type, code, checksum, identifier, sequence number.
const HEADER: usize = 8;
/// After the random tag, the payload says who sent it.
const SIGNATURE: &[u8; 8] = b"NetPulse";

/// Which kind of socket carried the echo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketKind {
    /// `SOCK_DGRAM` with `IPPROTO_ICMP(V6)`: the kernel's unprivileged ping socket.
    Datagram,
    /// `SOCK_RAW`: needs root or `CAP_NET_RAW`; IPv4 replies arrive with their IP header.
    Raw,
}

/// Neither socket could be opened; both reasons, and how to allow one.
#[derive(Debug)]
pub struct NoIcmpSocket {
    pub datagram: io::Error,
    pub raw: io::Error,
}

impl fmt::Display for NoIcmpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot send ICMP: the unprivileged ICMP socket was refused ({}) and so was the raw socket ({})",
            self.datagram, self.raw
        )?;
        let refused = |e: &io::Error| e.kind() == io::ErrorKind::PermissionDenied;
        if refused(&self.datagram) || refused(&self.raw) {
            let binary =
                std::env::current_exe().map_or_else(|_| "the netpulse binary".into(), |p| p.display().to_string());
            write!(
                f,
                "; allow one: let this process's group open ping sockets \
                 (sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"), \
                 or give the binary CAP_NET_RAW (setcap cap_net_raw+ep {binary})"
            )?;
        }
        Ok(())
    }
}

/// An ICMP socket connected to one address, readable and writable without blocking.
///
/// It is driven by Tokio through [`tokio::net::UdpSocket`]: that type only registers the
/// descriptor and calls `send(2)` and `recv(2)` on it, which is all a connected ICMP socket
/// needs, and it is the one safe way in: `AsyncFd::new` is deprecated as unsound and its
/// replacement `AsyncFd::register` is `unsafe`, which this workspace forbids.
pub struct IcmpSocket {
    io: tokio::net::UdpSocket,
    kind: SocketKind,
    v6: bool,
}

impl IcmpSocket {
    /// A datagram socket to `ip`, or a raw one when the datagram socket is refused.
    pub fn open(ip: IpAddr) -> Result<Self, OpenError> {
        let (domain, protocol) = match ip {
            IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4),
            IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6),
        };
        let (socket, kind) = match Socket::new(domain, Type::DGRAM, Some(protocol)) {
            Ok(s) => (s, SocketKind::Datagram),
            Err(datagram) => match Socket::new(domain, Type::RAW, Some(protocol)) {
                Ok(s) => (s, SocketKind::Raw),
                Err(raw) => return Err(OpenError::NoSocket(NoIcmpSocket { datagram, raw })),
            },
        };
        socket.set_nonblocking(true).map_err(OpenError::Io)?;
        socket.connect(&SockAddr::from(SocketAddr::new(ip, 0))).map_err(OpenError::Io)?;
        let io = tokio::net::UdpSocket::from_std(socket.into()).map_err(OpenError::Io)?;
        Ok(Self { io, kind, v6: ip.is_ipv6() })
    }

    pub fn kind(&self) -> SocketKind {
        self.kind
    }

    /// Send one echo request.
    pub async fn send(&self, request: &EchoRequest) -> io::Result<()> {
        let packet = request.encode(self.v6);
        self.io.send(&packet).await.map(drop)
    }

    /// Wait for the next packet from the target: `Some` reply when it is an echo reply, `None`
    /// for anything else. Cancel-safe: a packet is read only once the future is polled to it.
    pub async fn recv_reply(&self) -> io::Result<Option<EchoReply>> {
        let mut buf = [0u8; 1500];
        let n = self.io.recv(&mut buf).await?;
        Ok(EchoReply::decode(self.v6, &buf[..n]))
    }
}

/// Opening the socket failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{0}")]
    NoSocket(NoIcmpSocket),
    #[error("cannot set up the ICMP socket: {0}")]
    Io(io::Error),
}

/// One echo request: `tag` tells our replies apart from anyone else's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EchoRequest {
    pub identifier: u16,
    pub sequence: u16,
    pub tag: [u8; 8],
}

impl EchoRequest {
    /// The ICMP message: the echo header, then the tag and [`SIGNATURE`].
    pub fn encode(&self, v6: bool) -> Vec<u8> {
        let kind = if v6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST_V4 };
        let mut packet = Vec::with_capacity(HEADER + 16);
        packet.extend_from_slice(&[kind, 0, 0, 0]);
        packet.extend_from_slice(&self.identifier.to_be_bytes());
        packet.extend_from_slice(&self.sequence.to_be_bytes());
        packet.extend_from_slice(&self.tag);
        packet.extend_from_slice(SIGNATURE);
        if !v6 {
            let sum = checksum(&packet);
            packet[2..4].copy_from_slice(&sum.to_be_bytes());
        }
        packet
    }
}

/// An echo reply's sequence number and tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EchoReply {
    pub sequence: u16,
    pub tag: [u8; 8],
}

impl EchoReply {
    /// Read `packet` as an echo reply; an IPv4 header in front (raw sockets) is skipped.
    pub fn decode(v6: bool, packet: &[u8]) -> Option<Self> {
        let icmp = if v6 { packet } else { strip_ipv4_header(packet)? };
        let expected = if v6 { ECHO_REPLY_V6 } else { ECHO_REPLY_V4 };
        if icmp.len() < HEADER + 8 || icmp[0] != expected || icmp[1] != 0 {
            return None;
        }
        let sequence = u16::from_be_bytes([icmp[6], icmp[7]]);
        let tag = icmp[HEADER..HEADER + 8].try_into().ok()?;
        Some(Self { sequence, tag })
    }
}

/// The ICMP message inside an IPv4 packet, or `packet` itself when it holds no IPv4 header.
/// An ICMP message cannot start with 0x4_ (no ICMPv4 type lies in 64..=79), so the first
/// nibble tells them apart.
fn strip_ipv4_header(packet: &[u8]) -> Option<&[u8]> {
    match packet.first() {
        Some(b) if b >> 4 == 4 => packet.get(usize::from(b & 0x0f) * 4..),
        _ => Some(packet),
    }
}

/// The Internet checksum (RFC 1071): the one's complement of the one's complement sum of
/// the 16-bit big-endian words, an odd last byte padded with zero.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 =
        data.chunks(2).map(|pair| u32::from(u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_matches_the_rfc_1071_example() {
        // RFC 1071 section 3: these bytes sum to ddf2 (one's complement), so the checksum is 220d.
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum(&bytes), !0xddf2);
        assert_eq!(checksum(&bytes), 0x220d);
        assert_eq!(checksum(&[0x00, 0x01, 0xf2]), !(0x0001u16 + 0xf200), "an odd byte is padded");
    }

    #[test]
    fn an_ipv4_request_checks_out_and_its_reply_decodes_behind_an_ip_header() {
        let request = EchoRequest { identifier: 0xbeef, sequence: 3, tag: *b"12345678" };
        let packet = request.encode(false);
        assert_eq!(&packet[..2], &[8, 0]);
        assert_eq!(&packet[4..8], &[0xbe, 0xef, 0, 3]);
        assert_eq!(&packet[8..], b"12345678NetPulse");
        assert_eq!(checksum(&packet), 0, "a packet with its checksum sums to zero");

        let mut reply = packet.clone();
        reply[0] = ECHO_REPLY_V4;
        let expected = Some(EchoReply { sequence: 3, tag: *b"12345678" });
        assert_eq!(EchoReply::decode(false, &reply), expected, "datagram sockets: no IP header");
        let mut with_header = vec![0x46, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1, 0, 0, 0, 0];
        with_header.extend_from_slice(&reply);
        assert_eq!(EchoReply::decode(false, &with_header), expected, "raw sockets: a 24-byte header (IHL 6)");
        assert_eq!(EchoReply::decode(false, &packet), None, "our own request is not a reply");
        assert_eq!(EchoReply::decode(false, &reply[..12]), None, "too short for the tag");
    }

    #[test]
    fn an_ipv6_request_leaves_the_checksum_to_the_kernel() {
        let request = EchoRequest { identifier: 1, sequence: 9, tag: [7; 8] };
        let packet = request.encode(true);
        assert_eq!(&packet[..4], &[128, 0, 0, 0]);
        let mut reply = packet.clone();
        reply[0] = ECHO_REPLY_V6;
        assert_eq!(EchoReply::decode(true, &reply), Some(EchoReply { sequence: 9, tag: [7; 8] }));
        assert_eq!(EchoReply::decode(true, &packet), None);
        assert_eq!(EchoReply::decode(false, &reply), None, "an ICMPv6 reply is not an ICMPv4 one");
    }

    #[test]
    fn without_either_socket_the_message_names_both_failures_and_both_fixes() {
        let e = NoIcmpSocket {
            datagram: io::Error::from_raw_os_error(13), // EACCES: outside ping_group_range
            raw: io::Error::from_raw_os_error(1),       // EPERM: no CAP_NET_RAW
        };
        let text = e.to_string();
        assert!(text.contains("unprivileged ICMP socket was refused (Permission denied"), "{text}");
        assert!(text.contains("raw socket (Operation not permitted"), "{text}");
        assert!(text.contains("sysctl -w net.ipv4.ping_group_range=\"0 2147483647\""), "{text}");
        assert!(text.contains("setcap cap_net_raw+ep /"), "{text}");
    }
}
