//! DNS probes and the resolver against a tiny UDP DNS responder on 127.0.0.1: it answers
//! `A 127.0.0.1` and `TXT` for `up.netpulse.test` and NXDOMAIN for every other name.

use super::{open_ctx, site};
use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, TXT};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use netpulse_checker::{run_check, HttpClient, HttpError, HttpRequest, ProbeContext, Resolver, SsrfGuard};
use netpulse_core::monitor::{DnsRecordType, DnsSpec};
use netpulse_core::{CheckSpec, Outcome};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;

const SECOND: Duration = Duration::from_secs(1);

/// Start the responder; returns its address.
async fn spawn_dns() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((len, peer)) = socket.recv_from(&mut buf).await {
            let Ok(query) = Message::from_vec(&buf[..len]) else {
                continue;
            };
            let reply = answer(&query).to_vec().unwrap();
            let _ = socket.send_to(&reply, peer).await;
        }
    });
    addr
}

fn answer(query: &Message) -> Message {
    let mut reply = Message::new();
    reply.set_id(query.id()).set_message_type(MessageType::Response).set_recursion_available(true);
    reply.set_recursion_desired(query.recursion_desired()).set_authoritative(true);
    let Some(q) = query.queries().first() else {
        return reply;
    };
    reply.add_query(q.clone());
    let known: Name = "up.netpulse.test.".parse().unwrap();
    if q.name().to_lowercase() != known {
        reply.set_response_code(ResponseCode::NXDomain);
        return reply;
    }
    let rdata = match q.query_type() {
        RecordType::A => RData::A(A("127.0.0.1".parse().unwrap())),
        RecordType::TXT => RData::TXT(TXT::new(vec!["v=spf1 ".into(), "-all".into()])),
        _ => return reply,
    };
    reply.add_answer(Record::from_rdata(q.name().clone(), 60, rdata));
    reply
}

fn spec(name: &str, record_type: DnsRecordType, expected: Option<&str>, server: SocketAddr) -> CheckSpec {
    CheckSpec::Dns(DnsSpec {
        name: name.into(),
        record_type,
        expected: expected.map(Into::into),
        resolver: Some(server),
    })
}

#[tokio::test]
async fn known_name_is_up_and_matches_expected_answer() {
    let server = spawn_dns().await;
    let report =
        run_check(&spec("up.netpulse.test", DnsRecordType::A, Some("127.0.0.1"), server), SECOND, 0, &open_ctx()).await;
    assert_eq!((report.outcome, report.error.as_deref()), (Outcome::Up, None));
    assert!(report.timings.dns_ms.is_some());
}

#[tokio::test]
async fn wrong_answer_is_down_listing_what_was_returned() {
    let server = spawn_dns().await;
    let report =
        run_check(&spec("UP.netpulse.test.", DnsRecordType::A, Some("1.2.3.4"), server), SECOND, 0, &open_ctx()).await;
    assert_eq!(report.outcome, Outcome::Down);
    assert_eq!(report.error.as_deref(), Some("expected 1.2.3.4, got 127.0.0.1"));
}

#[tokio::test]
async fn missing_name_or_records_are_down() {
    let server = spawn_dns().await;
    let report = run_check(&spec("gone.netpulse.test", DnsRecordType::A, None, server), SECOND, 0, &open_ctx()).await;
    assert_eq!(report.outcome, Outcome::Down);
    assert!(report.error.as_deref().unwrap().contains("does not exist (NXDOMAIN)"), "{report:?}");

    let report = run_check(&spec("up.netpulse.test", DnsRecordType::MX, None, server), SECOND, 0, &open_ctx()).await;
    assert_eq!(report.outcome, Outcome::Down);
    assert!(report.error.as_deref().unwrap().contains("no MX records"), "{report:?}");
}

#[tokio::test]
async fn txt_answers_are_joined_text() {
    let server = spawn_dns().await;
    let answers = Resolver::from_system().lookup("up.netpulse.test", DnsRecordType::TXT, Some(server)).await;
    assert_eq!(answers.unwrap(), vec!["v=spf1 -all".to_owned()]);
}

#[tokio::test]
async fn strict_guard_refuses_a_private_resolver() {
    let server = spawn_dns().await;
    let ctx = ProbeContext::new(HttpClient::new(SsrfGuard::strict(vec![]), Resolver::from_system()));
    let report = run_check(&spec("up.netpulse.test", DnsRecordType::A, None, server), SECOND, 2, &ctx).await;
    assert_eq!(report.outcome, Outcome::Error);
    assert!(report.error.unwrap().starts_with("refused to connect to 127.0.0.1: loopback address"));
}

#[tokio::test]
async fn http_client_resolves_names_through_its_resolver() {
    let (server, base) = (spawn_dns().await, site::spawn().await);
    let client = HttpClient::new(SsrfGuard::allow_all(), Resolver::with_nameservers(&[server]));
    let port = base.rsplit(':').next().unwrap();
    let ok = client.send(HttpRequest::get(super::url(&format!("http://up.netpulse.test:{port}/ok")), SECOND)).await;
    let ok = ok.unwrap();
    assert_eq!(ok.status, 200);
    assert!(ok.timings.dns_ms.is_some());

    let err = client.send(HttpRequest::get(super::url("http://gone.netpulse.test/"), SECOND)).await.unwrap_err();
    assert!(matches!(err, HttpError::Dns { .. }) && err.is_retryable(), "{err}");
    assert!(err.to_string().starts_with("DNS lookup of gone.netpulse.test failed:"), "{err}");
}
