//! Monitor definitions: what to check ([`CheckSpec`]), how often ([`Interval`]) and the
//! validated draft ([`MonitorDraft`]) the API turns its input into before any I/O.
//!
//! Validation errors name the field (`FieldError::field`) in the dotted form a user wrote it
//! (`url`, `expected_status`, `interval_s`), with a message that says how to fix it.

use crate::assertion::{Assertion, MAX_ASSERTIONS};
use crate::ids::{ChannelId, MonitorId};
use crate::incident::PolicyLayer;
use serde::{Deserialize, Serialize};
use std::fmt;

mod host_checks;
pub use host_checks::{GrpcSpec, PingSpec, TcpSpec, TlsSpec};

/// One invalid field of user input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// How often a monitor is checked, in whole seconds; bounds come from configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Interval(u32);

impl Interval {
    pub const MAX_SECS: u32 = 86_400;

    /// Accept `secs` if it lies in `[min_secs, 86400]`.
    pub fn new(secs: u32, min_secs: u32) -> Result<Self, FieldError> {
        if secs < min_secs {
            return Err(FieldError::new(
                "interval_s",
                format!("must be at least {min_secs} seconds (got {secs}); raise it to {min_secs} or more"),
            ));
        }
        if secs > Self::MAX_SECS {
            return Err(FieldError::new(
                "interval_s",
                format!("must be at most {} seconds (one day), got {secs}", Self::MAX_SECS),
            ));
        }
        Ok(Self(secs))
    }
    pub const fn from_trusted(secs: u32) -> Self {
        Self(secs)
    }
    pub const fn secs(self) -> u32 {
        self.0
    }
    pub const fn millis(self) -> i64 {
        self.0 as i64 * 1000
    }
}

/// What a monitor checks. Serialized with a `kind` tag: `{"kind":"http","url":…}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CheckSpec {
    Http(HttpSpec),
    Tcp(TcpSpec),
    Dns(DnsSpec),
    Tls(TlsSpec),
    Heartbeat(HeartbeatSpec),
    #[serde(rename = "websocket")]
    WebSocket(WebSocketSpec),
    Ping(PingSpec),
    Grpc(GrpcSpec),
}

impl CheckSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            CheckSpec::Http(_) => "http",
            CheckSpec::Tcp(_) => "tcp",
            CheckSpec::Dns(_) => "dns",
            CheckSpec::Tls(_) => "tls",
            CheckSpec::Heartbeat(_) => "heartbeat",
            CheckSpec::WebSocket(_) => "websocket",
            CheckSpec::Ping(_) => "ping",
            CheckSpec::Grpc(_) => "grpc",
        }
    }

    /// A short human description of the target (shown to the tenant, never on public pages).
    pub fn target(&self) -> String {
        match self {
            CheckSpec::Http(h) => format!("{} {}", h.method, h.url),
            CheckSpec::Tcp(t) => format!("{}:{}", t.host, t.port),
            CheckSpec::Dns(d) => format!("{} {}", d.record_type, d.name),
            CheckSpec::Tls(t) => format!("{}:{}", t.host, t.port),
            CheckSpec::Heartbeat(h) => format!("heartbeat (grace {} s)", h.grace_s),
            CheckSpec::WebSocket(w) => w.url.to_string(),
            CheckSpec::Ping(p) => format!("ping {}", p.host),
            CheckSpec::Grpc(g) => g.target(),
        }
    }

    /// Checks invariants serde cannot express; field names are as the user wrote them.
    pub fn validate(&self) -> Result<(), FieldError> {
        match self {
            CheckSpec::Http(h) => h.validate(),
            CheckSpec::Tcp(t) => validate_host_port("host", &t.host, t.port),
            CheckSpec::Dns(d) => validate_host("query", &d.name),
            CheckSpec::Tls(t) => validate_host_port("host", &t.host, t.port),
            CheckSpec::Heartbeat(h) if h.grace_s > Interval::MAX_SECS => {
                Err(FieldError::new("grace_s", format!("must be at most {} seconds", Interval::MAX_SECS)))
            }
            CheckSpec::Heartbeat(_) => Ok(()),
            CheckSpec::WebSocket(w) => w.validate(),
            CheckSpec::Ping(p) => p.validate(),
            CheckSpec::Grpc(g) => g.validate(),
        }
    }

    /// Whether the engine evaluates this monitor itself (push monitors) rather than probing.
    pub fn is_push(&self) -> bool {
        matches!(self, CheckSpec::Heartbeat(_))
    }
}

fn validate_host(field: &str, host: &str) -> Result<(), FieldError> {
    let ok = !host.is_empty()
        && host.len() <= 253
        && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']'));
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(field, format!("`{host}` is not a host name or IP address")))
    }
}

fn validate_host_port(field: &str, host: &str, port: u16) -> Result<(), FieldError> {
    validate_host(field, host)?;
    if port == 0 {
        return Err(FieldError::new("port", "must be between 1 and 65535"));
    }
    Ok(())
}

/// An HTTP(S) check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSpec {
    pub url: HttpUrl,
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default)]
    pub headers: Vec<Header>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub expected_status: StatusSet,
    /// Text that must appear in the response body.
    #[serde(default)]
    pub keyword: Option<String>,
    /// Text that must not appear in the response body.
    #[serde(default)]
    pub keyword_absent: Option<String>,
    /// Conditions on the response (`$.status == "ok"`, `header.x-version >= 3`); all must hold.
    /// Left out of the serialized spec when empty, so workers that predate them read it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assertions: Vec<Assertion>,
    /// A response slower than this is `degraded` (still up).
    #[serde(default)]
    pub degraded_after_ms: Option<u32>,
    #[serde(default = "yes")]
    pub follow_redirects: bool,
    #[serde(default = "yes")]
    pub verify_tls: bool,
}

fn default_method() -> String {
    "GET".into()
}
fn yes() -> bool {
    true
}

impl HttpSpec {
    fn validate(&self) -> Result<(), FieldError> {
        const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
        if !METHODS.contains(&self.method.as_str()) {
            return Err(FieldError::new(
                "method",
                format!("`{}` is not supported; use one of {}", self.method, METHODS.join(", ")),
            ));
        }
        for (i, h) in self.headers.iter().enumerate() {
            let bad_name =
                h.name.is_empty() || !h.name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
            if bad_name {
                return Err(FieldError::new(
                    format!("headers[{i}].name"),
                    format!("`{}` is not a valid header name", h.name),
                ));
            }
            if h.value.bytes().any(|b| b == b'\r' || b == b'\n') {
                return Err(FieldError::new(format!("headers[{i}].value"), "must not contain line breaks"));
            }
            plain_text(&format!("headers[{i}].value"), &h.value, false)?;
        }
        if self.assertions.len() > MAX_ASSERTIONS {
            return Err(FieldError::new(
                "assertions",
                format!("at most {MAX_ASSERTIONS} assertions per monitor (got {})", self.assertions.len()),
            ));
        }
        if matches!(&self.keyword, Some(k) if k.is_empty()) {
            return Err(FieldError::new("keyword", "must not be empty; omit it instead"));
        }
        if matches!(&self.keyword_absent, Some(k) if k.is_empty()) {
            return Err(FieldError::new("keyword_absent", "must not be empty; omit it instead"));
        }
        for (field, text) in
            [("keyword", &self.keyword), ("keyword_absent", &self.keyword_absent), ("body", &self.body)]
        {
            if let Some(t) = text {
                plain_text(field, t, true)?;
            }
        }
        Ok(())
    }
}

/// Refuse control characters in a user-written text (`\0` cannot be stored in PostgreSQL
/// text, and would reach result error texts); tabs always, and line breaks when `breaks`, pass.
fn plain_text(field: &str, text: &str, breaks: bool) -> Result<(), FieldError> {
    let allowed = |c: char| c == '\t' || (breaks && (c == '\n' || c == '\r'));
    match text.chars().find(|&c| c.is_control() && !allowed(c)) {
        Some(c) => {
            Err(FieldError::new(field, format!("must not contain control characters (found U+{:04X})", c as u32)))
        }
        None => Ok(()),
    }
}

/// One request header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub name: String,
    pub value: String,
}

/// An absolute `http://` or `https://` URL with a host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HttpUrl(url::Url);

impl HttpUrl {
    pub fn parse(s: &str) -> Result<Self, String> {
        absolute_url(s, ["http", "https"], "https://example.com/health").map(Self)
    }
    pub fn as_url(&self) -> &url::Url {
        &self.0
    }
}

impl TryFrom<String> for HttpUrl {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}
impl From<HttpUrl> for String {
    fn from(u: HttpUrl) -> String {
        u.0.into()
    }
}
impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

/// `s` as an absolute URL of one of `schemes` with a host; the error shows `example`.
fn absolute_url(s: &str, schemes: [&str; 2], example: &str) -> Result<url::Url, String> {
    let u =
        url::Url::parse(s).map_err(|e| format!("`{s}` is not a valid URL ({e}); write it in full, e.g. {example}"))?;
    if !schemes.contains(&u.scheme()) {
        let [a, b] = schemes;
        return Err(format!("scheme `{}` is not supported; use {a}:// or {b}://", u.scheme()));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{s}` has no host"));
    }
    Ok(u)
}

/// An absolute `ws://` or `wss://` URL with a host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WsUrl(url::Url);

impl WsUrl {
    pub fn parse(s: &str) -> Result<Self, String> {
        absolute_url(s, ["ws", "wss"], "wss://example.com/socket").map(Self)
    }
    pub fn as_url(&self) -> &url::Url {
        &self.0
    }
}

impl TryFrom<String> for WsUrl {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}
impl From<WsUrl> for String {
    fn from(u: WsUrl) -> String {
        u.0.into()
    }
}
impl fmt::Display for WsUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

/// A WebSocket check: the opening handshake (HTTP/1.1 upgrade, `101`, the accept key), then
/// optionally a text message sent and a reply that must contain `expect`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSocketSpec {
    pub url: WsUrl,
    /// A text message sent once the connection is open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<String>,
    /// Text a message from the server must contain (the first one that does counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<String>,
    /// A reply slower than this (or, without `expect`, a handshake) is `degraded` (still up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degraded_after_ms: Option<u32>,
    #[serde(default = "yes")]
    pub verify_tls: bool,
}

impl WebSocketSpec {
    /// Longest `send` message and `expect` text.
    pub const MAX_SEND: usize = 4096;
    pub const MAX_EXPECT: usize = 1024;

    fn validate(&self) -> Result<(), FieldError> {
        if self.send.as_ref().is_some_and(|t| t.len() > Self::MAX_SEND) {
            return Err(FieldError::new("send", format!("must be at most {} bytes", Self::MAX_SEND)));
        }
        match &self.expect {
            Some(e) if e.is_empty() => {
                Err(FieldError::new("expect", "must not be empty; leave it out to expect nothing"))
            }
            Some(e) if e.len() > Self::MAX_EXPECT => {
                Err(FieldError::new("expect", format!("must be at most {} bytes", Self::MAX_EXPECT)))
            }
            _ => Ok(()),
        }
    }
}

/// Accepted HTTP status codes, written like `"200-299,301"`. Default: `200-399`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StatusSet(Vec<(u16, u16)>);

impl Default for StatusSet {
    fn default() -> Self {
        Self(vec![(200, 399)])
    }
}

impl StatusSet {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut ranges = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (lo, hi) = match part.split_once('-') {
                Some((a, b)) => (a.trim(), b.trim()),
                None => (part, part),
            };
            let parse = |x: &str| {
                x.parse::<u16>()
                    .ok()
                    .filter(|c| (100..=599).contains(c))
                    .ok_or_else(|| format!("`{x}` is not an HTTP status code (100-599); write e.g. \"200-299,301\""))
            };
            let (lo, hi) = (parse(lo)?, parse(hi)?);
            if lo > hi {
                return Err(format!("range `{part}` runs backwards; write the lower code first"));
            }
            ranges.push((lo, hi));
        }
        if ranges.is_empty() {
            return Err("must list at least one status code, e.g. \"200-299\"".into());
        }
        Ok(Self(ranges))
    }
    pub fn contains(&self, code: u16) -> bool {
        self.0.iter().any(|(lo, hi)| (*lo..=*hi).contains(&code))
    }
}

impl TryFrom<String> for StatusSet {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}
impl From<StatusSet> for String {
    fn from(s: StatusSet) -> String {
        s.to_string()
    }
}
impl fmt::Display for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> =
            self.0.iter().map(|(lo, hi)| if lo == hi { lo.to_string() } else { format!("{lo}-{hi}") }).collect();
        f.write_str(&parts.join(","))
    }
}

/// DNS record types a DNS check can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DnsRecordType {
    A,
    AAAA,
    CNAME,
    MX,
    TXT,
    NS,
}

impl fmt::Display for DnsRecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A DNS check: the name must resolve (and, if given, one answer must equal `expected`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSpec {
    /// The name to resolve; written `query` so it cannot clash with the monitor's own `name`
    /// in the API's flat input (`name` is still read, for drafts stored before).
    #[serde(rename = "query", alias = "name")]
    pub name: String,
    #[serde(default = "default_record_type")]
    pub record_type: DnsRecordType,
    #[serde(default)]
    pub expected: Option<String>,
    /// `ip:port` of the resolver to ask; the system resolver when absent.
    #[serde(default)]
    pub resolver: Option<std::net::SocketAddr>,
}

fn default_record_type() -> DnsRecordType {
    DnsRecordType::A
}

/// A push monitor: the job calls `/api/v1/heartbeat/{token}` at least every interval;
/// no beat within interval + `grace_s` means down.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatSpec {
    #[serde(default = "default_grace")]
    pub grace_s: u32,
}

fn default_grace() -> u32 {
    60
}

/// A monitor as the user asked for it, validated, ready to store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorDraft {
    pub name: String,
    pub spec: CheckSpec,
    pub interval: Interval,
    pub timeout_ms: u32,
    /// Extra attempts inside one check before it counts as failed.
    pub retries: u8,
    pub regions: Vec<String>,
    pub tags: Vec<String>,
    pub paused: bool,
    /// The policy fields set on this monitor; the rest come from the organisation's
    /// defaults ([`crate::incident::Policy::resolve`]). Drafts stored before defaults existed
    /// hold every field, so they keep their values.
    pub policy: PolicyLayer,
    /// Channels notified for this monitor; `None` means every channel of the tenant.
    pub channels: Option<Vec<ChannelId>>,
    /// The monitor this one depends on: while it has an open incident, this monitor's
    /// outages are linked to it and page nobody.
    #[serde(default)]
    pub depends_on: Option<MonitorId>,
    /// What keeps this definition besides people (`None`: only people).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<ManagedBy>,
}

/// What keeps a monitor's or channel's definition besides people: `file`, a
/// monitors-as-code file that `netpulse apply` applied and whose next apply overwrites
/// edits made elsewhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManagedBy {
    File,
}

/// Most tags one monitor may carry (a filter label, not a store of data).
pub const MAX_TAGS: usize = 32;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 64;

impl MonitorDraft {
    /// Cross-field checks (the timeout must fit in the interval, names are sane).
    pub fn validate(&self) -> Result<(), FieldError> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(FieldError::new("name", "must be 1 to 200 characters"));
        }
        plain_text("name", &self.name, false)?;
        if self.tags.len() > MAX_TAGS {
            return Err(FieldError::new("tags", format!("at most {MAX_TAGS} tags (got {})", self.tags.len())));
        }
        for (i, t) in self.tags.iter().enumerate() {
            if t.chars().count() > MAX_TAG_CHARS {
                return Err(FieldError::new(
                    format!("tags[{i}]"),
                    format!("must be at most {MAX_TAG_CHARS} characters"),
                ));
            }
            plain_text(&format!("tags[{i}]"), t, false)?;
        }
        self.spec.validate()?;
        if let CheckSpec::Ping(p) = &self.spec {
            if self.timeout_ms <= p.sending_ms() {
                return Err(FieldError::new(
                    "timeout_ms",
                    format!(
                        "must be longer than the {} ms it takes to send {} packets {} ms apart; raise it, or lower count or packet_interval_ms",
                        p.sending_ms(),
                        p.count,
                        p.packet_interval_ms
                    ),
                ));
            }
        }
        if self.timeout_ms < 100 || self.timeout_ms > 120_000 {
            return Err(FieldError::new(
                "timeout_ms",
                format!("must be between 100 and 120000 (got {})", self.timeout_ms),
            ));
        }
        if i64::from(self.timeout_ms) > self.interval.millis() {
            return Err(FieldError::new(
                "timeout_ms",
                format!("must not exceed the interval ({} s); lower it or raise interval_s", self.interval.secs()),
            ));
        }
        if self.retries > 5 {
            return Err(FieldError::new("retries", "must be between 0 and 5"));
        }
        // Every attempt of one check must fit in the interval, or checks would overlap.
        if i64::from(self.timeout_ms) * (i64::from(self.retries) + 1) > self.interval.millis() {
            return Err(FieldError::new(
                "retries",
                format!(
                    "{} attempts of timeout_ms {} do not fit in the {} s interval; lower retries or timeout_ms, or raise interval_s",
                    self.retries + 1,
                    self.timeout_ms,
                    self.interval.secs()
                ),
            ));
        }
        if self.regions.is_empty() {
            return Err(FieldError::new("regions", "must name at least one region, e.g. [\"local\"]"));
        }
        for (i, r) in self.regions.iter().enumerate() {
            if r.is_empty() || r.len() > 64 || !r.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b)) {
                return Err(FieldError::new(
                    format!("regions[{i}]"),
                    format!("`{r}` is not a region name (letters, digits, - and _)"),
                ));
            }
        }
        self.policy.validate_values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_sets_parse_and_match() {
        let s = StatusSet::parse("200-299, 301").unwrap();
        assert!(s.contains(204) && s.contains(301) && !s.contains(302));
        assert_eq!(s.to_string(), "200-299,301");
        assert!(StatusSet::parse("299-200").unwrap_err().contains("backwards"));
        assert!(StatusSet::parse("abc").unwrap_err().contains("`abc`"));
        assert!(StatusSet::parse("").is_err());
    }

    #[test]
    fn urls_must_be_http_with_a_host() {
        assert!(HttpUrl::parse("https://example.com/x").is_ok());
        assert!(HttpUrl::parse("ftp://example.com").unwrap_err().contains("ftp"));
        assert!(HttpUrl::parse("not a url").unwrap_err().contains("not a valid URL"));
    }

    #[test]
    fn spec_json_is_tagged_by_kind() {
        let spec: CheckSpec = serde_json::from_str(r#"{"kind":"http","url":"http://127.0.0.1:9/"}"#).unwrap();
        let CheckSpec::Http(h) = &spec else { panic!("not http") };
        assert_eq!(h.method, "GET");
        assert!(h.expected_status.contains(200) && h.follow_redirects && h.verify_tls);
        let err = serde_json::from_str::<CheckSpec>(r#"{"kind":"smtp"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown variant `smtp`"), "{err}");
    }

    #[test]
    fn a_dns_check_names_its_query_apart_from_the_monitor_name() {
        let new: CheckSpec = serde_json::from_str(r#"{"kind":"dns","query":"example.com"}"#).unwrap();
        let old: CheckSpec = serde_json::from_str(r#"{"kind":"dns","name":"example.com"}"#).unwrap();
        assert_eq!(new, old, "drafts stored before the rename still read");
        assert_eq!(serde_json::to_value(&new).unwrap()["query"], "example.com");
        let CheckSpec::Dns(bad) = serde_json::from_str(r#"{"kind":"dns","query":"a b"}"#).unwrap() else { panic!() };
        assert_eq!(CheckSpec::Dns(bad).validate().unwrap_err().field, "query");
    }

    #[test]
    fn interval_bounds_name_the_field_and_fix() {
        let e = Interval::new(5, 10).unwrap_err();
        assert_eq!(e.field, "interval_s");
        assert!(e.message.contains("at least 10"));
        assert!(Interval::new(10, 10).is_ok());
    }

    #[test]
    fn control_characters_in_http_texts_are_refused_by_field() {
        let spec = |extra: &str| format!(r#"{{"kind":"http","url":"https://example.com/",{extra}}}"#);
        for (extra, field) in [
            (r#""keyword":"a\u0000b""#, "keyword"),
            (r#""keyword_absent":"\u0000""#, "keyword_absent"),
            (r#""body":"x\u0000""#, "body"),
            (r#""headers":[{"name":"X-A","value":"v\u0000"}]"#, "headers[0].value"),
        ] {
            let s: CheckSpec = serde_json::from_str(&spec(extra)).unwrap();
            assert_eq!(s.validate().unwrap_err().field, field, "{extra}");
        }
        let ok: CheckSpec = serde_json::from_str(&spec(r#""keyword":"two\nlines\ttab""#)).unwrap();
        assert!(ok.validate().is_ok(), "line breaks and tabs in a keyword are fine");
    }
}
