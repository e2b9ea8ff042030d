//! Prefixed identifiers (`mon_…`, `inc_…`, `res_…`), all made by one macro.
//!
//! An id is its prefix followed by 26 Crockford base32 characters encoding 128 bits: 48 bits
//! of milliseconds (so ids sort by creation time) and 80 random bits. The domain does not
//! draw randomness itself: callers pass the bits to [`MonitorId::from_parts`] and friends.

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

const CROCKFORD: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Whether a byte is one of [`CROCKFORD`]'s (ids are parsed for every result received).
const IS_CROCKFORD: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < CROCKFORD.len() {
        table[CROCKFORD[i] as usize] = true;
        i += 1;
    }
    table
};

/// Encode 128 bits as 26 lowercase Crockford base32 characters.
pub fn encode_base32(value: u128) -> String {
    (0..26).rev().map(|i| CROCKFORD[((value >> (i * 5)) & 31) as usize] as char).collect()
}

/// The 128 bits of 26 lowercase Crockford base32 characters ([`encode_base32`]'s inverse);
/// `None` for any other text (wrong length, another character, more than 128 bits).
pub fn decode_base32(s: &str) -> Option<u128> {
    if s.len() != 26 {
        return None;
    }
    s.bytes().try_fold(0u128, |v, b| {
        let digit = CROCKFORD.iter().position(|&c| c == b)? as u128;
        v.checked_mul(32).map(|v| v | digit)
    })
}

/// Why a string is not an id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {kind} id (expected `{prefix}` followed by 26 base32 characters)")]
pub struct IdError {
    pub kind: &'static str,
    pub prefix: &'static str,
    pub value: String,
}

/// Implemented by every prefixed id, so callers can mint any of them generically.
pub trait PrefixedId: Sized {
    fn from_parts(millis: i64, random: u128) -> Self;
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// Build an id from a creation time and 80 random bits.
            pub fn from_parts(millis: i64, random: u128) -> Self {
                let v = ((millis as u128 & 0xffff_ffff_ffff) << 80) | (random & ((1u128 << 80) - 1));
                Self(format!("{}{}", $prefix, encode_base32(v)))
            }

            /// Parse an id received from outside (URL path, JSON body).
            pub fn parse(s: &str) -> Result<Self, IdError> {
                let rest = s.strip_prefix($prefix);
                match rest {
                    Some(r) if r.len() == 26 && r.bytes().all(|b| IS_CROCKFORD[usize::from(b)]) => {
                        Ok(Self(s.to_owned()))
                    }
                    _ => Err(IdError { kind: $kind, prefix: $prefix, value: s.chars().take(64).collect() }),
                }
            }

            /// An id whose text is trusted (read back from our own store).
            pub fn from_trusted(s: String) -> Self {
                Self(s)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl PrefixedId for $name {
            fn from_parts(millis: i64, random: u128) -> Self {
                $name::from_parts(millis, random)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

prefixed_id!(/// A tenant (organisation); every piece of data belongs to exactly one.
    TenantId, "ten_", "tenant");
prefixed_id!(/// A monitor.
    MonitorId, "mon_", "monitor");
prefixed_id!(/// One check result; unique, so ingest is idempotent.
    ResultId, "res_", "result");
prefixed_id!(/// An incident (one per outage).
    IncidentId, "inc_", "incident");
prefixed_id!(/// An alert channel.
    ChannelId, "chn_", "channel");
prefixed_id!(/// An API token.
    TokenId, "tok_", "token");
prefixed_id!(/// A person's account; belongs to tenants through memberships.
    UserId, "usr_", "user");
prefixed_id!(/// A public update posted to an incident (shown on status pages and in their feeds).
    UpdateId, "upd_", "incident update");

impl IncidentId {
    /// The incident id for the `seq`-th outage of a monitor: deterministic, so that the same
    /// observations replayed (a redelivered result, a restarted engine) name the same incident.
    pub fn for_outage(monitor: &MonitorId, seq: u64) -> Self {
        let h = fnv1a(monitor.as_str().as_bytes()) as u128;
        let v = (h << 64) | seq as u128;
        Self(format!("{}{}", Self::PREFIX, encode_base32(v)))
    }
}

/// FNV-1a 64-bit: a small, stable hash (used for ids and scheduling jitter, never for security).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_foreign_prefixes() {
        let id = MonitorId::from_parts(1_700_000_000_000, 0xdead_beef);
        assert!(id.as_str().starts_with("mon_"));
        assert_eq!(MonitorId::parse(id.as_str()).unwrap(), id);
        let err = MonitorId::parse("inc_0123456789abcdefghjkmnpqrs").unwrap_err();
        assert!(err.to_string().contains("monitor id"), "{err}");
        assert!(MonitorId::parse("mon_short").is_err());
        assert!(MonitorId::parse("mon_0123456789ABCDEFGHJKMNPQRS").is_err());
    }

    #[test]
    fn base32_decodes_what_it_encodes_and_nothing_else() {
        for v in [0u128, 1, 0xdead_beef, u128::MAX, (1_700_000_000_000u128 << 80) | 12_345] {
            assert_eq!(decode_base32(&encode_base32(v)), Some(v));
        }
        assert_eq!(decode_base32("8zzzzzzzzzzzzzzzzzzzzzzzzz"), None, "more than 128 bits");
        assert_eq!(decode_base32("0123456789ABCDEFGHJKMNPQRS"), None, "upper case is not ours");
        assert_eq!(decode_base32("legacy_5"), None);
    }

    #[test]
    fn ids_sort_by_creation_time() {
        let a = ResultId::from_parts(1000, u128::MAX);
        let b = ResultId::from_parts(1001, 0);
        assert!(a < b);
    }

    #[test]
    fn outage_ids_are_deterministic_and_distinct() {
        let m = MonitorId::from_parts(5, 6);
        assert_eq!(IncidentId::for_outage(&m, 1), IncidentId::for_outage(&m, 1));
        assert_ne!(IncidentId::for_outage(&m, 1), IncidentId::for_outage(&m, 2));
        assert!(IncidentId::parse(IncidentId::for_outage(&m, 9).as_str()).is_ok());
    }
}
