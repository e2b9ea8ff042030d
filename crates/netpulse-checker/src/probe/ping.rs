//! The ping probe: resolve `host`, take its first address (of `ip_version`, when set) that
//! the SSRF guard allows, and send `count` ICMP echo requests `packet_interval_ms` apart over
//! an [`IcmpSocket`]. Replies are awaited until the monitor's timeout; a request unanswered
//! by then is lost.
//!
//! Verdict: down when at least `loss_threshold_percent` of the requests were lost (by default
//! all of them), degraded when the average round trip exceeds `degraded_after_ms`, else up.
//! `total_ms` is the average round trip (whole milliseconds) when any reply came, otherwise
//! how long the check took; `dns_ms` the lookup when `host` is a name. Down and degraded
//! results say what was seen, e.g. `1 of 3 echo requests to 127.0.0.1 answered (66% loss;
//! down from 50%); round trip min/avg/max 0.041/0.041/0.041 ms`. No socket at all (neither
//! kind allowed) is `error`, naming both refusals and the two ways to allow one.

use super::{random_bytes, slowness, transport_failure, ProbeContext};
use crate::error::{millis, Deadline, HttpError};
use crate::icmp::{EchoRequest, IcmpSocket};
use netpulse_core::check::ProbeReport;
use netpulse_core::monitor::PingSpec;
use netpulse_core::{Outcome, Timings};
use std::net::IpAddr;
use std::time::{Duration, Instant};

pub(super) async fn probe(spec: &PingSpec, timeout: Duration, ctx: &ProbeContext) -> ProbeReport {
    let started = Instant::now();
    let deadline = Deadline::start(timeout);
    let mut timings = Timings::default();
    let ip = match target(spec, ctx, &deadline, &mut timings).await {
        Ok(ip) => ip,
        Err(err) => return transport_failure(&err, Timings { total_ms: total_ms(started), ..timings }),
    };
    let socket = match IcmpSocket::open(ip) {
        Ok(s) => s,
        Err(err) => {
            return ProbeReport::failed(
                Outcome::Error,
                err.to_string(),
                Timings { total_ms: total_ms(started), ..timings },
            )
        }
    };
    tracing::debug!(%ip, socket = ?socket.kind(), "pinging");
    let tally = exchange(&socket, spec, &deadline).await;
    judge(spec, ip, &tally, timings, millis(started.elapsed()))
}

fn total_ms(started: Instant) -> Option<u32> {
    Some(millis(started.elapsed()))
}

/// The address to ping: `host` itself when it is an IP literal, else its DNS answers; the
/// first of the asked family that the guard allows.
async fn target(
    spec: &PingSpec,
    ctx: &ProbeContext,
    deadline: &Deadline,
    timings: &mut Timings,
) -> Result<IpAddr, HttpError> {
    let host = spec.host.as_str();
    let looked_up = Instant::now();
    let found = deadline.run("resolving DNS", ctx.resolver().lookup_ip(host)).await?;
    if crate::resolver::ip_literal(host).is_none() {
        timings.dns_ms = Some(millis(looked_up.elapsed()));
    }
    let ips = found.map_err(|reason| HttpError::Dns { host: host.to_owned(), reason })?;
    let wanted = ips.iter().map(|ip| ip.to_canonical()).filter(|ip| match spec.ip_version {
        Some(4) => ip.is_ipv4(),
        Some(6) => ip.is_ipv6(),
        _ => true,
    });
    let mut refusal = None;
    for ip in wanted {
        match ctx.guard().check(ip) {
            Ok(()) => return Ok(ip),
            Err(refused) => refusal = refusal.or(Some(refused)),
        }
    }
    Err(match refusal {
        Some(refused) => HttpError::Refused(refused),
        None => {
            let all: Vec<String> = ips.iter().map(IpAddr::to_string).collect();
            let version = spec.ip_version.unwrap_or_default();
            let reason = format!("no IPv{version} address (it has {})", all.join(", "));
            HttpError::Dns { host: host.to_owned(), reason }
        }
    })
}

/// What came back: the round trip of each request (`None`: no reply), and the first
/// failure to send or receive.
#[derive(Debug, Default)]
struct Tally {
    round_trips: Vec<Option<Duration>>,
    socket_error: Option<String>,
}

/// Send the requests on schedule and match replies to them until all are answered or the
/// deadline passes.
async fn exchange(socket: &IcmpSocket, spec: &PingSpec, deadline: &Deadline) -> Tally {
    let tag = random_bytes::<8>();
    let identifier = u16::from_be_bytes([tag[0], tag[1]]);
    let count = usize::from(spec.count);
    let spacing = Duration::from_millis(spec.packet_interval_ms.into());
    let mut sent_at: Vec<Option<Instant>> = vec![None; count];
    let mut tally = Tally { round_trips: vec![None; count], socket_error: None };
    let mut next = 0;
    let mut next_at = tokio::time::Instant::now();
    let waiting = |sent_at: &[Option<Instant>], tally: &Tally| {
        sent_at.iter().zip(&tally.round_trips).any(|(sent, rtt)| sent.is_some() && rtt.is_none())
    };
    while next < count || waiting(&sent_at, &tally) {
        tokio::select! {
            () = tokio::time::sleep_until(deadline.end()) => break,
            () = tokio::time::sleep_until(next_at), if next < count => {
                let request = EchoRequest { identifier, sequence: sequence_of(next), tag };
                let at = Instant::now();
                match socket.send(&request).await {
                    Ok(()) => sent_at[next] = Some(at),
                    Err(e) => note(&mut tally, format!("sending failed: {e}")),
                }
                next += 1;
                next_at += spacing;
            }
            received = socket.recv_reply() => match received {
                Ok(Some(reply)) if reply.tag == tag => tally.answered(reply.sequence, &sent_at),
                Ok(_) => {}
                Err(e) => note(&mut tally, format!("receiving failed: {e}")),
            },
        }
    }
    tally
}

impl Tally {
    /// Record the first reply to the request with `sequence`, if it was sent.
    fn answered(&mut self, sequence: u16, sent_at: &[Option<Instant>]) {
        let index = usize::from(sequence).wrapping_sub(1);
        if let (Some(Some(sent)), Some(slot @ None)) = (sent_at.get(index), self.round_trips.get_mut(index)) {
            *slot = Some(sent.elapsed());
        }
    }
}

/// Request `index` (from 0) carries sequence number `index + 1`, as ping numbers them.
fn sequence_of(index: usize) -> u16 {
    u16::try_from(index + 1).unwrap_or(u16::MAX)
}

fn note(tally: &mut Tally, error: String) {
    tally.socket_error.get_or_insert(error);
}

/// The verdict on a finished exchange that took `elapsed_ms`.
fn judge(spec: &PingSpec, ip: IpAddr, tally: &Tally, mut timings: Timings, elapsed_ms: u32) -> ProbeReport {
    let count = tally.round_trips.len();
    let replies: Vec<Duration> = tally.round_trips.iter().flatten().copied().collect();
    let lost = count - replies.len();
    let loss = lost * 100 / count.max(1);
    let threshold = spec.loss_threshold_percent;
    let mut summary = format!("{} of {count} echo requests to {ip} answered ({loss}% loss", replies.len());
    let average = (!replies.is_empty()).then(|| replies.iter().sum::<Duration>() / replies.len() as u32);
    timings.total_ms = Some(average.map_or(elapsed_ms, millis));
    let down = lost * 100 >= usize::from(threshold) * count;
    summary.push_str(&if down { format!("; down from {threshold}%)") } else { ")".to_owned() });
    if let Some(average) = average {
        let (min, max) = (replies.iter().min().copied(), replies.iter().max().copied());
        let ms = |d: Option<Duration>| format!("{:.3}", d.unwrap_or_default().as_secs_f64() * 1000.0);
        summary.push_str(&format!("; round trip min/avg/max {}/{}/{} ms", ms(min), ms(Some(average)), ms(max)));
    }
    if let Some(e) = &tally.socket_error {
        summary.push_str(&format!("; {e}"));
    }
    if down {
        return ProbeReport::failed(Outcome::Down, summary, timings);
    }
    match slowness(timings.total_ms, spec.degraded_after_ms) {
        (Outcome::Degraded, Some(why)) => {
            ProbeReport::failed(Outcome::Degraded, format!("{why} (average round trip); {summary}"), timings)
        }
        _ => ProbeReport::up(timings),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HttpClient, Resolver, SsrfGuard};

    fn ctx(guard: SsrfGuard) -> ProbeContext {
        ProbeContext::new(HttpClient::new(guard, Resolver::from_system()))
    }

    fn to(host: &str) -> PingSpec {
        PingSpec { host: host.into(), packet_interval_ms: 20, ..spec(100, None) }
    }

    /// Needs a datagram or raw ICMP socket: root, CAP_NET_RAW or ping_group_range.
    #[tokio::test]
    async fn the_loopback_answers_over_ipv4_and_ipv6() {
        for host in ["127.0.0.1", "::1", "localhost"] {
            let report = probe(&to(host), Duration::from_secs(2), &ctx(SsrfGuard::allow_all())).await;
            let ipv6 = std::net::UdpSocket::bind("[::1]:0").is_ok();
            let note = if ipv6 { "" } else { " (this machine has no IPv6 loopback: ::1 cannot be bound)" };
            assert_eq!(report.outcome, Outcome::Up, "{host}: {report:?}{note}");
            assert!(report.timings.total_ms.is_some_and(|ms| ms < 1000), "{host}: {report:?}");
        }
    }

    #[tokio::test]
    async fn an_address_that_answers_nothing_loses_every_packet_by_the_timeout() {
        // TEST-NET-3 (RFC 5737) is routed nowhere. Not TEST-NET-1: some sandboxes number their
        // own network 192.0.2.0/24, where 192.0.2.1 is the gateway and answers.
        let spec = PingSpec { count: 2, ..to("203.0.113.9") };
        let started = Instant::now();
        let report = probe(&spec, Duration::from_millis(300), &ctx(SsrfGuard::allow_all())).await;
        assert_eq!(report.outcome, Outcome::Down, "203.0.113.9 answered: this network routes TEST-NET-3: {report:?}");
        let error = report.error.unwrap();
        assert!(
            error.starts_with("0 of 2 echo requests to 203.0.113.9 answered (100% loss; down from 100%)"),
            "{error}"
        );
        assert!(started.elapsed() < Duration::from_secs(1), "the timeout ends the wait");
    }

    /// Set in the copy of the test below that runs without CAP_NET_RAW.
    const WITHOUT_NET_RAW: &str = "NETPULSE_TEST_WITHOUT_NET_RAW";

    /// Whether this process may open raw sockets (bit 13 of its effective capabilities).
    fn has_cap_net_raw() -> bool {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let eff = status.lines().find_map(|l| l.strip_prefix("CapEff:")).map(str::trim).unwrap_or("0");
        u64::from_str_radix(eff, 16).is_ok_and(|caps| caps & (1 << 13) != 0)
    }

    /// Whether `net.ipv4.ping_group_range` holds this process's effective group or one of its
    /// supplementary groups (what the kernel asks before opening a datagram ICMP socket).
    fn ping_group_allows_us() -> bool {
        let range = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").unwrap_or_default();
        let bounds: Vec<u64> = range.split_whitespace().filter_map(|n| n.parse().ok()).collect();
        let [low, high] = bounds[..] else { return false };
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).unwrap_or("").to_owned();
        let gid = field("Gid:").split_whitespace().nth(1).and_then(|g| g.parse::<u64>().ok());
        let groups = field("Groups:");
        let mut ids = gid.into_iter().chain(groups.split_whitespace().filter_map(|g| g.parse().ok()));
        ids.any(|g| (low..=high).contains(&g))
    }

    /// With CAP_NET_RAW (the suite runs as root) this test runs itself again under `setpriv`
    /// with the capability dropped from the bounding set. Without it, the datagram socket
    /// must carry the ping when `ping_group_range` allows this process, and otherwise the
    /// result is an error naming both refusals and how to allow one.
    #[tokio::test]
    async fn without_cap_net_raw_a_datagram_socket_pings_or_the_error_says_how_to_allow_one() {
        const NAME: &str =
            "probe::ping::tests::without_cap_net_raw_a_datagram_socket_pings_or_the_error_says_how_to_allow_one";
        if has_cap_net_raw() && std::env::var_os(WITHOUT_NET_RAW).is_none() {
            let out = std::process::Command::new("setpriv")
                .args(["--bounding-set=-net_raw", "--"])
                .arg(std::env::current_exe().unwrap())
                .args(["--exact", NAME, "--test-threads=1"])
                .env(WITHOUT_NET_RAW, "1")
                .output()
                .expect("setpriv (util-linux) runs this test without CAP_NET_RAW");
            let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert!(out.status.success() && text.contains("1 passed"), "without CAP_NET_RAW: {text}");
            return;
        }
        assert!(!has_cap_net_raw(), "setpriv dropped CAP_NET_RAW");
        let report = probe(&to("127.0.0.1"), Duration::from_secs(2), &ctx(SsrfGuard::allow_all())).await;
        if ping_group_allows_us() {
            assert_eq!(report.outcome, Outcome::Up, "ping_group_range allows a datagram socket: {report:?}");
            return;
        }
        assert_eq!(report.outcome, Outcome::Error, "{report:?}");
        let error = report.error.unwrap();
        assert!(
            error.starts_with(
                "cannot send ICMP: the unprivileged ICMP socket was refused (Permission denied (os error 13)) \
                 and so was the raw socket (Operation not permitted (os error 1)); allow one:"
            ),
            "{error}"
        );
        assert!(error.contains("net.ipv4.ping_group_range=") && error.contains("setcap cap_net_raw+ep /"), "{error}");
    }

    #[tokio::test]
    async fn a_guarded_address_is_an_error_and_a_missing_family_is_down() {
        let report = probe(&to("::1"), Duration::from_secs(1), &ctx(SsrfGuard::strict(vec![]))).await;
        assert_eq!(report.outcome, Outcome::Error);
        assert!(report.error.unwrap().starts_with("refused to connect to ::1: loopback address"));
        let v6_of_v4 = PingSpec { ip_version: Some(6), ..to("localhost") };
        let report = probe(&v6_of_v4, Duration::from_secs(1), &ctx(SsrfGuard::allow_all())).await;
        assert_eq!(report.outcome, Outcome::Down);
        assert_eq!(report.error.as_deref(), Some("DNS lookup of localhost failed: no IPv6 address (it has 127.0.0.1)"));
    }

    fn spec(threshold: u8, degraded_after_ms: Option<u32>) -> PingSpec {
        PingSpec {
            host: "192.0.2.1".into(),
            count: 3,
            packet_interval_ms: 200,
            loss_threshold_percent: threshold,
            degraded_after_ms,
            ip_version: None,
        }
    }

    fn tally(round_trips_ms: &[Option<u64>]) -> Tally {
        Tally { round_trips: round_trips_ms.iter().map(|r| r.map(Duration::from_millis)).collect(), socket_error: None }
    }

    #[test]
    fn loss_at_or_above_the_threshold_is_down_and_says_what_was_seen() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let all_lost = judge(&spec(100, None), ip, &tally(&[None, None, None]), Timings::default(), 900);
        assert_eq!(all_lost.outcome, Outcome::Down);
        assert_eq!(
            all_lost.error.as_deref(),
            Some("0 of 3 echo requests to 192.0.2.1 answered (100% loss; down from 100%)")
        );
        assert_eq!(all_lost.timings.total_ms, Some(900), "no reply: the time the check took");

        let one_lost = tally(&[Some(10), None, Some(30)]);
        let up = judge(&spec(100, None), ip, &one_lost, Timings::default(), 900);
        assert_eq!((up.outcome, up.timings.total_ms, up.error), (Outcome::Up, Some(20), None));

        let down = judge(&spec(33, None), ip, &one_lost, Timings::default(), 900);
        assert_eq!(down.outcome, Outcome::Down, "1 of 3 is 33.3%, at least 33%");
        assert_eq!(
            down.error.as_deref(),
            Some("2 of 3 echo requests to 192.0.2.1 answered (33% loss; down from 33%); round trip min/avg/max 10.000/20.000/30.000 ms")
        );
        assert_eq!(judge(&spec(34, None), ip, &one_lost, Timings::default(), 900).outcome, Outcome::Up);
    }

    #[test]
    fn a_slow_average_is_degraded() {
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        let slow = judge(&spec(100, Some(50)), ip, &tally(&[Some(40), Some(60), Some(80)]), Timings::default(), 500);
        assert_eq!(slow.outcome, Outcome::Degraded);
        assert_eq!(
            slow.error.as_deref(),
            Some("slow: 60 ms > 50 ms threshold (average round trip); 3 of 3 echo requests to 2001:db8::1 answered (0% loss); round trip min/avg/max 40.000/60.000/80.000 ms")
        );
        let fine = judge(&spec(100, Some(60)), ip, &tally(&[Some(40), Some(60), Some(80)]), Timings::default(), 500);
        assert_eq!(fine.outcome, Outcome::Up);
    }
}
