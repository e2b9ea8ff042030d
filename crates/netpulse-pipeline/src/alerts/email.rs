//! The e-mail channel: recipients, and the message (RFC 5322 + MIME) sent through [`super::smtp`].
//!
//! A channel's `url` holds 1 to 20 comma-separated addresses. Addresses are checked strictly
//! (ASCII dot-atom local part, a host name with a dot), so nothing but an address ever
//! reaches a `RCPT TO` command.
//!
//! Header injection: every header value is built from one-line text (control characters,
//! CR and LF included, become spaces) and non-ASCII text is RFC 2047-encoded, so a monitor
//! named `"x\r\nBcc: a@evil"` stays inside its `Subject`. The body is UTF-8 in
//! quoted-printable (7-bit clean, lines ≤ 76); the `Message-ID` derives from the dedup key,
//! so a retried delivery carries the same id. [`Letter`] writes every mail NetPulse sends,
//! account mail included.

use super::message::{compose, one_line, truncate};
use base64::Engine;
use netpulse_core::alert::AlertEvent;
use sha2::{Digest, Sha256};

/// At most this many recipients per channel.
pub const MAX_RECIPIENTS: usize = 20;

/// `addr` if it is a plain address like `ops@example.com`, else why not.
pub fn parse_address(addr: &str) -> Result<String, String> {
    let addr = addr.trim();
    let (local, domain) = addr.rsplit_once('@').ok_or_else(|| format!("`{addr}` has no @"))?;
    let atom = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local.split('.').all(|part| !part.is_empty() && part.chars().all(atom));
    if !local_ok {
        return Err(format!("`{addr}` has an invalid part before the @"));
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if domain.len() > 253 || !domain.contains('.') || !domain.split('.').all(label_ok) {
        return Err(format!("`{addr}` has an invalid domain (write e.g. ops@example.com)"));
    }
    Ok(addr.to_owned())
}

/// The recipients in a channel's `url`: 1 to [`MAX_RECIPIENTS`] valid, distinct addresses.
pub fn parse_recipients(list: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let addr = parse_address(part)?;
        if !out.iter().any(|a| a.eq_ignore_ascii_case(&addr)) {
            out.push(addr);
        }
    }
    match out.len() {
        0 => Err("must list at least one e-mail address (comma-separated)".into()),
        n if n > MAX_RECIPIENTS => Err(format!("lists {n} addresses; at most {MAX_RECIPIENTS} are allowed")),
        _ => Ok(out),
    }
}

/// A header value: one line, RFC 2047 `=?UTF-8?B?…?=` words when not plain ASCII.
pub fn header_text(s: &str) -> String {
    let s = one_line(s);
    if s.is_ascii() {
        return s;
    }
    // Encoded words of at most 75 characters: 45 input bytes → 60 base64 characters.
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in s.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    words.push(chunk);
    let b64 = base64::engine::general_purpose::STANDARD;
    words.iter().map(|w| format!("=?UTF-8?B?{}?=", b64.encode(w))).collect::<Vec<_>>().join("\r\n ")
}

/// Quoted-printable (RFC 2045) of UTF-8 `text`, with CRLF line ends and soft breaks at 76.
pub fn quoted_printable(text: &str) -> String {
    let mut out = String::new();
    for (i, line) in text.replace("\r\n", "\n").split('\n').enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        let mut width = 0;
        let bytes = line.as_bytes();
        for (j, &b) in bytes.iter().enumerate() {
            let last = j + 1 == bytes.len();
            let literal = ((b'!'..=b'~').contains(&b) && b != b'=') || ((b == b' ' || b == b'\t') && !last);
            let piece = if literal { (b as char).to_string() } else { format!("={b:02X}") };
            if width + piece.len() > 75 {
                out.push_str("=\r\n");
                width = 0;
            }
            width += piece.len();
            out.push_str(&piece);
        }
    }
    out
}

/// One plain-text mail (RFC 5322 + MIME): the one composer of every mail NetPulse sends,
/// alert notices ([`render`]) and account mail (verification, reset, invitation, the notice
/// that someone tried to register) alike, so each has `Date`, a `Message-ID` of its own,
/// one-line headers and a quoted-printable UTF-8 body.
pub struct Letter<'a> {
    pub from: &'a str,
    pub to: &'a [String],
    pub subject: &'a str,
    pub date: time::OffsetDateTime,
    /// The `Message-ID` before its `@` (the domain is the sender's): unique per message, the
    /// same on a retried delivery of it.
    pub id: &'a str,
    /// Headers after the common ones (`X-NetPulse-Event`, …); values are made one-line here.
    pub extra: &'a [(&'a str, String)],
    pub body: &'a str,
}

impl Letter<'_> {
    /// Headers and body, CRLF line ends, not yet dot-stuffed.
    pub fn render(&self) -> String {
        let domain = self.from.rsplit_once('@').map_or("netpulse.invalid", |(_, d)| d);
        let date = self.date.format(&time::format_description::well_known::Rfc2822).unwrap_or_default();
        let common = [
            ("From", format!("NetPulse <{}>", self.from)),
            ("To", self.to.join(", ")),
            ("Subject", header_text(self.subject)),
            ("Date", date),
            ("Message-ID", format!("<{}@{domain}>", one_line(self.id))),
            ("MIME-Version", "1.0".into()),
            ("Content-Type", "text/plain; charset=utf-8".into()),
            ("Content-Transfer-Encoding", "quoted-printable".into()),
            ("Auto-Submitted", "auto-generated".into()),
        ];
        let mut msg = String::new();
        for (name, value) in
            common.iter().map(|(n, v)| (*n, v.clone())).chain(self.extra.iter().map(|(n, v)| (*n, header_text(v))))
        {
            msg.push_str(&format!("{name}: {value}\r\n"));
        }
        msg.push_str("\r\n");
        msg.push_str(&quoted_printable(self.body));
        msg
    }
}

/// The `Date` of a mail sent now (the store's clock, to the second).
pub fn date_now() -> time::OffsetDateTime {
    let secs = netpulse_store::clock::now().millis().div_euclid(1000);
    time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// A `Message-ID` (before its `@`) no other message has.
pub fn fresh_id() -> String {
    format!("{:032x}", netpulse_store::clock::random_u128())
}

/// The whole message (headers and body, CRLF line ends, not yet dot-stuffed) for `event`.
/// Its `Message-ID` derives from the dedup key, so a retried delivery carries the same id.
pub fn render(event: &AlertEvent, from: &str, to: &[String], base_url: &str, date: time::OffsetDateTime) -> String {
    let m = compose(event, base_url);
    let subject = truncate(&format!("[NetPulse] {}", m.title), 200);
    let mut body = format!("{}\n\n", m.headline);
    for (k, v) in &m.facts {
        body.push_str(&format!("{k}: {v}\n"));
    }
    body.push_str(&format!("\nIncident: {}\n\n-- \nNetPulse uptime monitoring\n", m.link));
    let id = hex::encode(&Sha256::digest(event.dedup_key.as_bytes())[..16]);
    let extra =
        [("X-NetPulse-Event", event.kind.as_str().to_owned()), ("X-NetPulse-Dedup-Key", event.dedup_key.clone())];
    Letter { from, to, subject: &subject, date, id: &id, extra: &extra, body: &body }.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_strictly() {
        assert_eq!(parse_address(" ops@example.com ").unwrap(), "ops@example.com");
        assert!(parse_address("first.last+tag@mail.example.co").is_ok());
        for bad in ["ops", "@example.com", "ops@", "ops@localhost", "a..b@example.com", "a b@example.com"] {
            assert!(parse_address(bad).is_err(), "{bad}");
        }
        assert!(parse_address("ops@example.com>\r\nRCPT TO:<x@evil.com").is_err());
        assert_eq!(parse_recipients("a@example.com, b@example.com,a@example.com").unwrap().len(), 2);
        assert!(parse_recipients(" , ").is_err());
        let many: Vec<String> = (0..21).map(|i| format!("u{i}@example.com")).collect();
        assert!(parse_recipients(&many.join(",")).unwrap_err().contains("at most 20"));
    }

    #[test]
    fn headers_stay_on_one_line_and_non_ascii_is_encoded() {
        assert_eq!(header_text("API\r\nBcc: x@evil.com"), "API  Bcc: x@evil.com");
        let enc = header_text("Zahlungsdienst ist ausgefallen – Köln");
        assert!(enc.starts_with("=?UTF-8?B?"), "{enc}");
        assert!(enc.split("\r\n ").all(|w| w.len() <= 75 && w.ends_with("?=")), "{enc}");
    }

    #[test]
    fn a_letter_has_a_date_its_own_message_id_and_one_line_headers() {
        let to = vec!["ada@example.com".to_owned()];
        let date = time::macros::datetime!(2026-03-01 12:30:05 UTC);
        let (a, b) = (fresh_id(), fresh_id());
        assert_ne!(a, b);
        let extra = [("X-Test", "one\r\nBcc: x@evil.example".to_owned())];
        let letter =
            Letter { from: "np@mail.example", to: &to, subject: "Hi", date, id: &a, extra: &extra, body: "Hello" };
        let text = letter.render();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("\r\nDate: Sun, 01 Mar 2026 12:30:05 +0000\r\n"), "{head}");
        assert!(head.contains(&format!("\r\nMessage-ID: <{a}@mail.example>\r\n")), "{head}");
        assert!(head.ends_with("X-Test: one  Bcc: x@evil.example"), "{head}");
        assert_eq!(body, "Hello");
    }

    #[test]
    fn quoted_printable_is_seven_bit_with_short_lines() {
        assert_eq!(quoted_printable("a=b ü\nend "), "a=3Db =C3=BC\r\nend=20");
        let long = quoted_printable(&"x".repeat(200));
        assert!(long.split("\r\n").all(|l| l.len() <= 76), "{long}");
        assert_eq!(long.replace("=\r\n", ""), "x".repeat(200));
    }
}
