//! Gatus `conditions` as NetPulse check fields: `[STATUS]` → `expected_status`,
//! `[RESPONSE_TIME] <` → `degraded_after_ms` (approximated: slow is degraded, not down),
//! `[BODY]…` and `len(…)` → `assertions` (`pat(*text*)` → `keyword` or `contains`),
//! `[CERTIFICATE_EXPIRATION] >` → `warn_days`, `[CONNECTED] == true` and
//! `[DNS_RCODE] == NOERROR` → what the check kind already requires. Anything else is reported.

use super::{go_duration_s, literal, Report};
use netpulse_core::assertion::Assertion;
use serde_json::{json, Map, Value};

/// The check kind the conditions apply to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Http,
    Tcp,
    Ping,
    Tls,
    WebSocket,
    Dns,
    Other,
}

impl Target {
    pub fn of(kind: &str) -> Target {
        match kind {
            "http" => Target::Http,
            "tcp" => Target::Tcp,
            "ping" => Target::Ping,
            "tls" => Target::Tls,
            "websocket" => Target::WebSocket,
            "dns" => Target::Dns,
            _ => Target::Other,
        }
    }
}

/// The fields the conditions set, and for an `https://` check the `warn_days` of a certificate
/// condition (a separate `tls` monitor carries it).
#[derive(Debug, Default)]
pub struct Mapped {
    pub fields: Map<String, Value>,
    pub warn_days: Option<u64>,
}

/// One condition: `LEFT OP RIGHT`.
struct Condition<'a> {
    left: &'a str,
    op: &'a str,
    right: &'a str,
}

fn split(c: &str) -> Option<Condition<'_>> {
    const OPS: [&str; 6] = ["==", "!=", "<=", ">=", "<", ">"];
    let (at, op) =
        OPS.iter().filter_map(|op| c.find(op).map(|i| (i, *op))).min_by_key(|(i, op)| (*i, usize::MAX - op.len()))?;
    Some(Condition { left: c[..at].trim(), op, right: c[at + op.len()..].trim() })
}

pub fn map(target: Target, conditions: &[&str], what: &str, report: &mut Report) -> Mapped {
    let mut out = Mapped::default();
    let mut assertions: Vec<String> = Vec::new();
    let mut status_set = false;
    for text in conditions {
        let at = format!("{what}: condition `{text}`");
        let Some(c) = split(text) else {
            report.skip(at, "has no comparison (==, !=, <, <=, >, >=)");
            continue;
        };
        let result = match c.left {
            "[STATUS]" if target == Target::Http && !status_set => status(&c).map(|s| {
                status_set = true;
                out.fields.insert("expected_status".into(), json!(s));
            }),
            "[STATUS]" if target == Target::Http => {
                assertion(&format!("status {} {}", c.op, c.right)).map(|a| assertions.push(a))
            }
            "[RESPONSE_TIME]" => response_time(target, &c, &at, &mut out.fields, report),
            "[CONNECTED]" if c.op == "==" && c.right == "true" => Ok(()),
            "[DNS_RCODE]" if target == Target::Dns && c.op == "==" && c.right == "NOERROR" => Ok(()),
            "[CERTIFICATE_EXPIRATION]" => certificate(target, &c).map(|days| match target {
                Target::Tls => {
                    out.fields.insert("warn_days".into(), json!(days));
                }
                _ => out.warn_days = Some(days),
            }),
            "[BODY]" if target == Target::Dns && c.op == "==" && !c.right.contains('(') => {
                out.fields.insert("expected".into(), json!(c.right));
                Ok(())
            }
            "[BODY]" if target == Target::WebSocket => websocket_expect(&c).map(|e| {
                out.fields.insert("expect".into(), json!(e));
            }),
            _ if target == Target::Http => body(&c, &mut out.fields).map(|a| assertions.extend(a)),
            _ => Err("NetPulse has no such check for this kind of endpoint".into()),
        };
        if let Err(why) = result {
            report.skip(at, why);
        }
    }
    if target == Target::Http && !status_set {
        out.fields.insert("expected_status".into(), json!("100-599")); // Gatus takes any status then
    }
    if !assertions.is_empty() {
        out.fields.insert("assertions".into(), json!(assertions));
    }
    out
}

/// `[STATUS] OP N` (or `== any(200, 201)`) as an `expected_status` set.
fn status(c: &Condition) -> Result<String, String> {
    if let Some(list) = c.right.strip_prefix("any(").and_then(|r| r.strip_suffix(')')) {
        let codes: Result<Vec<u16>, _> = list.split(',').map(|s| s.trim().parse::<u16>()).collect();
        return match (c.op, codes) {
            ("==", Ok(codes)) => Ok(codes.iter().map(u16::to_string).collect::<Vec<_>>().join(",")),
            _ => Err("only `== any(200, 201, …)` of status codes is mapped".into()),
        };
    }
    let n: u16 = c.right.parse().map_err(|_| format!("`{}` is not a status code", c.right))?;
    Ok(match c.op {
        "==" => n.to_string(),
        "<" => format!("100-{}", n.saturating_sub(1)),
        "<=" => format!("100-{n}"),
        ">" => format!("{}-599", n + 1),
        ">=" => format!("{n}-599"),
        _ => {
            let below = (n > 100).then(|| format!("100-{}", n - 1));
            let above = (n < 599).then(|| format!("{}-599", n + 1));
            below.into_iter().chain(above).collect::<Vec<_>>().join(",")
        }
    })
}

/// `[RESPONSE_TIME] < N` as `degraded_after_ms` where the kind has it.
fn response_time(
    target: Target,
    c: &Condition,
    at: &str,
    fields: &mut Map<String, Value>,
    report: &mut Report,
) -> Result<(), String> {
    let ms: u64 = c.right.parse().map_err(|_| format!("`{}` is not a number of milliseconds", c.right))?;
    let ms = match c.op {
        "<" => ms,
        "<=" => ms + 1,
        _ => return Err("only an upper bound (`<`, `<=`) is mapped".into()),
    };
    if !matches!(target, Target::Http | Target::Ping | Target::WebSocket) {
        return Err("NetPulse has no response-time threshold for this kind of check".into());
    }
    fields.insert("degraded_after_ms".into(), json!(ms));
    report.approximate(
        at,
        format!("degraded_after_ms {ms}: slower is *degraded* in NetPulse (its own notice), not down"),
    );
    Ok(())
}

/// `[CERTIFICATE_EXPIRATION] > 48h` as whole days (rounded up).
fn certificate(target: Target, c: &Condition) -> Result<u64, String> {
    if !matches!(target, Target::Http | Target::Tls) || !matches!(c.op, ">" | ">=") {
        return Err("only `> DURATION` on an https:// or tls:// endpoint is mapped".into());
    }
    let s = go_duration_s(c.right).or_else(|| c.right.parse::<f64>().ok().map(|ms| ms / 1000.0));
    let s = s.ok_or_else(|| format!("`{}` is not a duration (48h)", c.right))?;
    Ok((s / 86_400.0).ceil().max(1.0) as u64)
}

/// `[BODY] == pat(*text*)` of a WebSocket check as its `expect` text.
fn websocket_expect(c: &Condition) -> Result<String, String> {
    let inner = c.right.strip_prefix("pat(").and_then(|r| r.strip_suffix(')')).unwrap_or(c.right);
    let text = inner.trim_start_matches('*').trim_end_matches('*');
    match (c.op, text.contains('*')) {
        ("==", false) if !text.is_empty() => Ok(text.to_owned()),
        _ => Err("only `== pat(*text*)` (a message containing text) is mapped for a WebSocket".into()),
    }
}

/// A body condition of an HTTP check as assertions (or a `keyword`).
fn body(c: &Condition, fields: &mut Map<String, Value>) -> Result<Vec<String>, String> {
    let (subject, length) = match c.left.strip_prefix("len(").and_then(|r| r.strip_suffix(')')) {
        Some(inner) => (inner, true),
        None => (c.left, false),
    };
    let subject = match (subject, length) {
        ("[BODY]", true) => "size".to_owned(),
        ("[BODY]", false) => "body".to_owned(),
        (s, _) => match s.strip_prefix("[BODY]") {
            Some(path) if path.starts_with('.') || path.starts_with('[') => {
                format!("${path}{}", if length { ".length" } else { "" })
            }
            _ => return Err(format!("`{}` is not mapped (NetPulse reads [BODY], [BODY].path, len(…), [STATUS], [RESPONSE_TIME], [CERTIFICATE_EXPIRATION], [CONNECTED])", c.left)),
        },
    };
    if let Some(glob) = c.right.strip_prefix("pat(").and_then(|r| r.strip_suffix(')')) {
        return pattern(&subject, c.op, glob, fields);
    }
    if c.right.starts_with("any(") || c.left.starts_with("has(") {
        return Err("`any(…)` and `has(…)` are not mapped".into());
    }
    let value = literal(c.right);
    assertion(&format!("{subject} {} {value}", c.op)).map(|a| vec![a])
}

/// `SUBJECT == pat(GLOB)`: `*text*` on the whole body is a `keyword`, elsewhere `contains`;
/// another glob is a `matches` of the equivalent regular expression.
fn pattern(subject: &str, op: &str, glob: &str, fields: &mut Map<String, Value>) -> Result<Vec<String>, String> {
    let inner = glob.strip_prefix('*').and_then(|g| g.strip_suffix('*')).filter(|t| !t.contains('*') && !t.is_empty());
    match (op, inner) {
        ("==", Some(text)) if subject == "body" && !fields.contains_key("keyword") => {
            fields.insert("keyword".into(), json!(text));
            Ok(vec![])
        }
        ("==", Some(text)) => assertion(&format!("{subject} contains {}", json!(text))).map(|a| vec![a]),
        ("!=", Some(text)) => assertion(&format!("{subject} !contains {}", json!(text))).map(|a| vec![a]),
        ("==", None) => {
            let regex: String = glob.split('*').map(escape_regex).collect::<Vec<_>>().join(".*");
            assertion(&format!("{subject} matches {}", json!(format!("^{regex}$")))).map(|a| vec![a])
        }
        _ => Err("only `==` and `!=` of a pattern are mapped".into()),
    }
}

fn escape_regex(s: &str) -> String {
    s.chars().fold(String::new(), |mut out, c| {
        if "\\.+?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
        out
    })
}

/// A NetPulse assertion, checked as the API would check it.
fn assertion(text: &str) -> Result<String, String> {
    Assertion::parse(text).map(|_| text.to_owned()).map_err(|e| format!("as `{text}` it {e}"))
}
