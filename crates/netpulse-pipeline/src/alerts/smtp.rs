//! A small SMTP client (RFC 5321) for alert mail: one message per connection.
//!
//! `EHLO` → `STARTTLS` (required when `smtp.tls = "starttls"`, never silently skipped) or
//! TLS from the first byte (`"tls"`) or neither (`"none"`) → `AUTH PLAIN` (or `LOGIN`) when a
//! username is set → `MAIL FROM` → `RCPT TO` per recipient → `DATA` with dot-stuffing →
//! `QUIT`. TLS is rustls with the ring provider and the Mozilla roots, like every other
//! outbound connection. The SMTP server is the operator's (from `[smtp]`), not a tenant's, so
//! it is not subject to the SSRF guard.
//!
//! Errors say whether retrying can help: 4xx replies, connection trouble and timeouts are
//! transient; 5xx replies (unknown recipient, refused login) and protocol violations are
//! permanent. No command argument can carry CR or LF, and data after `STARTTLS`'s reply but
//! before the handshake (a command-injection attack) aborts the session.

use base64::Engine;
use netpulse_store::Secret;
use rustls::pki_types::ServerName;
use serde::Deserialize;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The SMTP server e-mail channels send through; `host = ""` means none configured.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub username: String,
    /// Never printed (`check-config` leaves it out).
    #[serde(skip_serializing)]
    pub password: Secret,
    pub from: String,
    pub tls: SmtpTls,
}

/// How the SMTP connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain connection upgraded with `STARTTLS` (required, not opportunistic); port 587.
    Starttls,
    /// TLS from the first byte (SMTPS); port 465.
    Tls,
    /// No TLS at all: only for a relay on localhost or a trusted network.
    None,
}

impl SmtpConfig {
    pub fn is_configured(&self) -> bool {
        !self.host.trim().is_empty()
    }

    /// Checked once a host is set: a port, a sender address, both credentials or neither.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !self.is_configured() {
            return Ok(());
        }
        if self.port == 0 {
            return Err(("smtp.port", "must be 1 to 65535 (587 for STARTTLS, 465 for TLS)".into()));
        }
        if super::email::parse_address(&self.from).is_err() {
            return Err(("smtp.from", format!("`{}` is not an e-mail address like alerts@example.com", self.from)));
        }
        if self.username.is_empty() != self.password.expose().is_empty() {
            return Err(("smtp.username", "set both smtp.username and smtp.password, or neither".into()));
        }
        Ok(())
    }
}

/// One message for one or more recipients.
pub struct Mail<'a> {
    pub from: &'a str,
    pub to: &'a [String],
    /// Headers and body with CRLF line ends, not dot-stuffed.
    pub message: &'a str,
}

/// Why a message was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SmtpError {
    pub transient: bool,
    pub message: String,
}

fn transient(message: impl Into<String>) -> SmtpError {
    SmtpError { transient: true, message: message.into() }
}

fn permanent(message: impl Into<String>) -> SmtpError {
    SmtpError { transient: false, message: message.into() }
}

/// Deliver `mail` through the server in `cfg`, all within `timeout`.
pub async fn send(cfg: &SmtpConfig, mail: Mail<'_>, timeout: Duration) -> Result<(), SmtpError> {
    match tokio::time::timeout(timeout, session(cfg, mail)).await {
        Ok(result) => result,
        Err(_) => Err(transient(format!(
            "SMTP server {}:{} did not finish within {} ms",
            cfg.host,
            cfg.port,
            timeout.as_millis()
        ))),
    }
}

async fn session(cfg: &SmtpConfig, mail: Mail<'_>) -> Result<(), SmtpError> {
    for arg in std::iter::once(mail.from).chain(mail.to.iter().map(String::as_str)) {
        if arg.chars().any(|c| c.is_control() || c == '<' || c == '>') {
            return Err(permanent(format!("`{}` cannot be used in an SMTP command", arg.escape_debug())));
        }
    }
    let tcp = TcpStream::connect((cfg.host.as_str(), cfg.port))
        .await
        .map_err(|e| transient(format!("cannot connect to SMTP server {}:{}: {e}", cfg.host, cfg.port)))?;
    let helo = mail.from.rsplit_once('@').map_or("localhost", |(_, d)| d).to_owned();
    match cfg.tls {
        SmtpTls::Tls => {
            let mut c = Conn::new(handshake(tcp, &cfg.host).await?);
            c.expect(220, "greeting").await?;
            c.ehlo(&helo).await?;
            transact(&mut c, cfg, &mail).await
        }
        SmtpTls::Starttls => {
            let mut c = Conn::new(tcp);
            c.expect(220, "greeting").await?;
            if !c.ehlo(&helo).await?.iter().any(|cap| cap.eq_ignore_ascii_case("STARTTLS")) {
                return Err(permanent(format!(
                    "SMTP server {} does not offer STARTTLS; set smtp.tls = \"tls\" (port 465) or \"none\"",
                    cfg.host
                )));
            }
            c.command("STARTTLS", 220, "STARTTLS").await?;
            let tcp = c.into_inner()?;
            let mut c = Conn::new(handshake(tcp, &cfg.host).await?);
            c.ehlo(&helo).await?;
            transact(&mut c, cfg, &mail).await
        }
        SmtpTls::None => {
            let mut c = Conn::new(tcp);
            c.expect(220, "greeting").await?;
            c.ehlo(&helo).await?;
            transact(&mut c, cfg, &mail).await
        }
    }
}

/// Log in (when configured), then `MAIL FROM`, `RCPT TO`…, `DATA`, `QUIT`.
async fn transact<S: AsyncRead + AsyncWrite + Unpin>(
    c: &mut Conn<S>,
    cfg: &SmtpConfig,
    mail: &Mail<'_>,
) -> Result<(), SmtpError> {
    if !cfg.username.is_empty() {
        let b64 = base64::engine::general_purpose::STANDARD;
        let auth = c.caps.iter().find_map(|cap| {
            let (word, mechs) = cap.split_once(' ')?;
            word.eq_ignore_ascii_case("AUTH").then(|| mechs.to_ascii_uppercase())
        });
        let mechs = auth.unwrap_or_default();
        let what = "login (check smtp.username and smtp.password)";
        if mechs.split_whitespace().any(|m| m == "PLAIN") {
            let token = b64.encode(format!("\0{}\0{}", cfg.username, cfg.password.expose()));
            c.command(&format!("AUTH PLAIN {token}"), 235, what).await?;
        } else if mechs.split_whitespace().any(|m| m == "LOGIN") {
            c.command("AUTH LOGIN", 334, what).await?;
            c.command(&b64.encode(&cfg.username), 334, what).await?;
            c.command(&b64.encode(cfg.password.expose()), 235, what).await?;
        } else {
            return Err(permanent("SMTP server offers neither AUTH PLAIN nor AUTH LOGIN (over this connection)"));
        }
    }
    c.command(&format!("MAIL FROM:<{}>", mail.from), 250, "sender (smtp.from)").await?;
    for rcpt in mail.to {
        if let Err(e) = c.command(&format!("RCPT TO:<{rcpt}>"), 250, &format!("recipient {rcpt}")).await {
            let _ = c.command("RSET", 250, "RSET").await;
            return Err(e);
        }
    }
    c.command("DATA", 354, "DATA").await?;
    c.write(dot_stuff(mail.message).as_bytes()).await?;
    c.expect(250, "message").await?;
    let _ = c.command("QUIT", 221, "QUIT").await;
    Ok(())
}

/// `message` with CRLF line ends, a `.` doubled at the start of every line, and the
/// terminating `CRLF . CRLF`.
pub fn dot_stuff(message: &str) -> String {
    let mut out = String::with_capacity(message.len() + 16);
    let message = message.strip_suffix('\n').map_or(message, |m| m.strip_suffix('\r').unwrap_or(m));
    for line in message.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(&line.replace('\r', " "));
        out.push_str("\r\n");
    }
    out.push_str(".\r\n");
    out
}

fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("the ring provider supports the default protocol versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

async fn handshake(tcp: TcpStream, host: &str) -> Result<tokio_rustls::client::TlsStream<TcpStream>, SmtpError> {
    let name = ServerName::try_from(host.trim_start_matches('[').trim_end_matches(']').to_owned())
        .map_err(|e| permanent(format!("smtp.host `{host}` is not a valid TLS server name: {e}")))?;
    tokio_rustls::TlsConnector::from(tls_config())
        .connect(name, tcp)
        .await
        .map_err(|e| permanent(format!("TLS handshake with SMTP server {host} failed: {e}")))
}

/// A connection: buffered replies, the last `EHLO` capabilities.
struct Conn<S> {
    io: BufReader<S>,
    caps: Vec<String>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    fn new(stream: S) -> Self {
        Self { io: BufReader::new(stream), caps: Vec::new() }
    }

    /// The stream back, refusing if the server already sent more than it was asked for.
    fn into_inner(self) -> Result<S, SmtpError> {
        if !self.io.buffer().is_empty() {
            return Err(permanent("SMTP server sent data before the TLS handshake; refusing to continue"));
        }
        Ok(self.io.into_inner())
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), SmtpError> {
        let w = self.io.get_mut();
        w.write_all(bytes).await.map_err(|e| transient(format!("SMTP connection failed while sending: {e}")))?;
        w.flush().await.map_err(|e| transient(format!("SMTP connection failed while sending: {e}")))
    }

    /// One reply: its code and its (joined) text lines.
    async fn reply(&mut self) -> Result<(u16, Vec<String>), SmtpError> {
        let mut lines = Vec::new();
        loop {
            let mut buf = Vec::new();
            let n = (&mut self.io)
                .take(2048)
                .read_until(b'\n', &mut buf)
                .await
                .map_err(|e| transient(format!("SMTP connection failed while reading: {e}")))?;
            if n == 0 {
                return Err(transient("SMTP server closed the connection"));
            }
            let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
            let code = line.get(..3).and_then(|c| c.parse::<u16>().ok());
            let (Some(code), true) = (code, buf.ends_with(b"\n") && lines.len() < 100) else {
                return Err(permanent(format!("SMTP server sent an invalid reply: {}", line.escape_debug())));
            };
            lines.push(line.get(4..).unwrap_or("").to_owned());
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok((code, lines));
            }
        }
    }

    /// Read a reply and require `code`; `what` names the step in the error.
    async fn expect(&mut self, code: u16, what: &str) -> Result<Vec<String>, SmtpError> {
        let (got, lines) = self.reply().await?;
        if got == code || (code == 250 && got == 251) {
            return Ok(lines);
        }
        let text = lines.join(" ");
        let message = format!("SMTP server refused the {what}: {got} {}", text.escape_debug());
        Err(if (400..500).contains(&got) { transient(message) } else { permanent(message) })
    }

    async fn command(&mut self, line: &str, code: u16, what: &str) -> Result<Vec<String>, SmtpError> {
        self.write(format!("{line}\r\n").as_bytes()).await?;
        self.expect(code, what).await
    }

    /// `EHLO`; remembers and returns the capability lines (`STARTTLS`, `AUTH PLAIN LOGIN`, …).
    async fn ehlo(&mut self, name: &str) -> Result<Vec<String>, SmtpError> {
        let lines = self.command(&format!("EHLO {name}"), 250, "EHLO").await?;
        self.caps = lines.into_iter().skip(1).collect();
        Ok(self.caps.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_stuffing_doubles_leading_dots_and_terminates() {
        assert_eq!(dot_stuff("a\r\n.b\r\n..c\r\n."), "a\r\n..b\r\n...c\r\n..\r\n.\r\n");
        assert_eq!(dot_stuff("bare\nlf\rcr\r\n"), "bare\r\nlf cr\r\n.\r\n");
    }
}
