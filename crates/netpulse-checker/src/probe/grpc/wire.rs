//! The bytes of `grpc.health.v1.Health/Check`, written and read by hand (two one-field
//! protobuf messages do not warrant a protobuf dependency): gRPC's length-prefixed message
//! framing (a compressed flag, a 4-byte big-endian length, the message), the request
//! `HealthCheckRequest { string service = 1; }`, the reply `HealthCheckResponse {
//! ServingStatus status = 1; }`, and the names of gRPC status codes.

/// The method's HTTP/2 path.
pub(super) const PATH: &str = "/grpc.health.v1.Health/Check";

/// A `HealthCheckRequest` asking about `service`, framed as one uncompressed gRPC message.
pub(super) fn request(service: &str) -> Vec<u8> {
    let mut message = Vec::with_capacity(service.len() + 3);
    if !service.is_empty() {
        // Field 1, wire type 2 (length-delimited); an empty string is the default, left out.
        message.push(0x0a);
        put_varint(&mut message, service.len() as u64);
        message.extend_from_slice(service.as_bytes());
    }
    let mut framed = Vec::with_capacity(message.len() + 5);
    framed.push(0);
    framed.extend_from_slice(&u32::try_from(message.len()).unwrap_or(u32::MAX).to_be_bytes());
    framed.extend(message);
    framed
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A `HealthCheckResponse`'s status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ServingStatus {
    Unknown,
    Serving,
    NotServing,
    /// Only `Watch` is meant to answer this (`Check` fails with `NOT_FOUND`), but some servers do.
    ServiceUnknown,
    /// A value the protocol does not define.
    Other(u64),
}

/// The status in a reply body holding one gRPC message.
pub(super) fn response(body: &[u8]) -> Result<ServingStatus, String> {
    let Some(head) = body.get(..5) else {
        return Err(match body.len() {
            0 => "the reply has no message".to_owned(),
            n => format!("the reply ends inside a message's 5-byte prefix ({n} bytes)"),
        });
    };
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    let rest = &body[5..];
    if rest.len() < len {
        return Err(format!("the reply ends inside its message ({} of {len} bytes)", rest.len()));
    }
    if rest.len() > len {
        return Err("the reply holds more than one message; Check answers with one".to_owned());
    }
    if head[0] != 0 {
        return Err("the reply's message is compressed, which the check did not allow".to_owned());
    }
    serving_status(rest).map_err(|e| format!("the reply is not a HealthCheckResponse ({e})"))
}

/// Field 1 of the message; unknown fields are skipped, a missing status is its default.
fn serving_status(mut message: &[u8]) -> Result<ServingStatus, &'static str> {
    let mut status = 0;
    while !message.is_empty() {
        let key = varint(&mut message)?;
        match (key >> 3, key & 7) {
            (1, 0) => status = varint(&mut message)?,
            (_, 0) => {
                varint(&mut message)?;
            }
            (_, 1) => message = message.get(8..).ok_or("a fixed64 field is cut off")?,
            (_, 2) => {
                let n = usize::try_from(varint(&mut message)?).map_err(|_| "a field is too long")?;
                message = message.get(n..).ok_or("a length-delimited field is cut off")?;
            }
            (_, 5) => message = message.get(4..).ok_or("a fixed32 field is cut off")?,
            _ => return Err("unknown wire type"),
        }
    }
    Ok(match status {
        0 => ServingStatus::Unknown,
        1 => ServingStatus::Serving,
        2 => ServingStatus::NotServing,
        3 => ServingStatus::ServiceUnknown,
        other => ServingStatus::Other(other),
    })
}

fn varint(input: &mut &[u8]) -> Result<u64, &'static str> {
    let mut v = 0u64;
    for (i, byte) in input.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *input = &input[i + 1..];
            return Ok(v);
        }
    }
    Err("a varint is cut off")
}

/// The name gRPC gives status `code`.
pub(super) fn code_name(code: u32) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    NAMES.get(code as usize).copied().unwrap_or("(not a gRPC code)")
}

/// A `grpc-message` as text: it is percent-encoded UTF-8; a broken escape is kept as written.
pub(super) fn message_text(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let hex = raw.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (raw[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reply as a server frames it: one message holding `proto`.
    fn framed(proto: &[u8]) -> Vec<u8> {
        let mut out = vec![0];
        out.extend_from_slice(&(proto.len() as u32).to_be_bytes());
        out.extend_from_slice(proto);
        out
    }

    #[test]
    fn a_request_is_one_uncompressed_message_holding_the_service_as_field_1() {
        assert_eq!(request(""), vec![0, 0, 0, 0, 0], "the default service is an empty message");
        assert_eq!(request("shop.v1.Cart"), [&[0, 0, 0, 0, 14, 0x0a, 12][..], b"shop.v1.Cart"].concat());
        let long = "s".repeat(200);
        let r = request(&long);
        assert_eq!((&r[..8], r.len()), (&[0, 0, 0, 0, 203, 0x0a, 0xc8, 0x01][..], 208), "a two-byte length varint");
    }

    #[test]
    fn a_reply_reads_as_its_serving_status() {
        assert_eq!(response(&framed(&[0x08, 0x01])), Ok(ServingStatus::Serving));
        assert_eq!(response(&framed(&[0x08, 0x02])), Ok(ServingStatus::NotServing));
        assert_eq!(response(&framed(&[0x08, 0x03])), Ok(ServingStatus::ServiceUnknown));
        assert_eq!(response(&framed(&[])), Ok(ServingStatus::Unknown), "proto3 leaves a default (0) out");
        assert_eq!(response(&framed(&[0x08, 0x96, 0x01])), Ok(ServingStatus::Other(150)));
        let unknown_fields =
            [0x12, 0x02, b'h', b'i', 0x18, 0x05, 0x25, 1, 2, 3, 4, 0x29, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 1];
        assert_eq!(response(&framed(&unknown_fields)), Ok(ServingStatus::Serving), "unknown fields are skipped");
    }

    #[test]
    fn a_broken_reply_says_what_is_wrong() {
        assert_eq!(response(&[]).unwrap_err(), "the reply has no message");
        assert!(response(&[0, 0, 0]).unwrap_err().contains("inside a message's 5-byte prefix (3 bytes)"));
        assert!(response(&[0, 0, 0, 0, 2, 0x08]).unwrap_err().contains("inside its message (1 of 2 bytes)"));
        let two = [framed(&[0x08, 1]), framed(&[0x08, 1])].concat();
        assert!(response(&two).unwrap_err().contains("more than one message"));
        assert!(response(&[1, 0, 0, 0, 2, 0x08, 1]).unwrap_err().contains("compressed"));
        let bad = response(&framed(&[0x08, 0x80])).unwrap_err();
        assert_eq!(bad, "the reply is not a HealthCheckResponse (a varint is cut off)");
        assert!(response(&framed(&[0x12, 0x05, b'a'])).unwrap_err().contains("cut off"));
        assert!(response(&framed(&[0x0b])).unwrap_err().contains("unknown wire type"));
    }

    #[test]
    fn status_codes_have_their_grpc_names_and_messages_are_percent_decoded() {
        assert_eq!((code_name(0), code_name(12), code_name(16)), ("OK", "UNIMPLEMENTED", "UNAUTHENTICATED"));
        assert_eq!(code_name(17), "(not a gRPC code)");
        assert_eq!(message_text(b"unknown service %22x%22: caf%C3%A9"), "unknown service \"x\": café");
        assert_eq!(message_text(b"100% sure %zz"), "100% sure %zz");
    }
}
