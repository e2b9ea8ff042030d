//! The DNS probe: ask for one record type, optionally from a given server, and compare the
//! answers with what the monitor expects.

use super::{total_only, ProbeContext};
use crate::error::{millis, Deadline};
use netpulse_core::check::ProbeReport;
use netpulse_core::monitor::DnsSpec;
use netpulse_core::{Outcome, Timings};
use std::time::{Duration, Instant};

pub(super) async fn probe(spec: &DnsSpec, timeout: Duration, ctx: &ProbeContext) -> ProbeReport {
    if let Some(server) = spec.resolver {
        if let Err(refused) = ctx.guard().check(server.ip()) {
            return ProbeReport::failed(Outcome::Error, refused.to_string(), Timings::default());
        }
    }
    let started = Instant::now();
    let lookup = ctx.resolver().lookup(&spec.name, spec.record_type, spec.resolver);
    let answers = match Deadline::start(timeout).run("resolving DNS", lookup).await {
        Ok(answers) => answers,
        Err(timeout) => {
            return ProbeReport::failed(Outcome::Down, timeout.to_string(), total_only(millis(started.elapsed())))
        }
    };
    let elapsed = millis(started.elapsed());
    let timings = Timings { dns_ms: Some(elapsed), total_ms: Some(elapsed), ..Timings::default() };
    match answers.map(|a| matches_expected(spec, &a)) {
        Ok(Ok(())) => ProbeReport::up(timings),
        Ok(Err(problem)) | Err(problem) => ProbeReport::failed(Outcome::Down, problem, timings),
    }
}

/// `Ok` when nothing is expected or one answer equals the expectation (case-insensitive,
/// trailing dot ignored).
fn matches_expected(spec: &DnsSpec, answers: &[String]) -> Result<(), String> {
    let Some(expected) = &spec.expected else {
        return Ok(());
    };
    let norm = |s: &str| s.trim().trim_end_matches('.').to_ascii_lowercase();
    if answers.iter().any(|a| norm(a) == norm(expected)) {
        Ok(())
    } else {
        Err(format!("expected {expected}, got {}", answers.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netpulse_core::monitor::DnsRecordType;

    fn spec(expected: Option<&str>) -> DnsSpec {
        DnsSpec {
            name: "example.com".into(),
            record_type: DnsRecordType::CNAME,
            expected: expected.map(Into::into),
            resolver: None,
        }
    }

    #[test]
    fn expectation_ignores_case_and_trailing_dot() {
        let answers = vec!["Edge.Example.NET".to_owned()];
        assert!(matches_expected(&spec(None), &answers).is_ok());
        assert!(matches_expected(&spec(Some("edge.example.net.")), &answers).is_ok());
        let answers = vec!["5.6.7.8".to_owned(), "9.9.9.9".to_owned()];
        assert_eq!(
            matches_expected(&spec(Some("1.2.3.4")), &answers).unwrap_err(),
            "expected 1.2.3.4, got 5.6.7.8, 9.9.9.9"
        );
    }
}
