//! Pseudonyms and consumer names: what a consumer of the vault holds instead of personal data.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ParseError;
use crate::string_wire_type;

const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
const TOKEN_PREFIX: &str = "pt_";
const TOKEN_CHARS: usize = 26;

/// A patient's pseudonym in one consumer domain: `pt_` and 26 characters of lowercase RFC 4648
/// base32 (`a-z`, `2-7`), 130 bits of which the vault fills 128 from its RNG.
///
/// `Display` and serde give the full token (for the wire); `Debug` shows only the first six
/// characters, so a `{:?}` in a log line does not leak it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PatientToken(String);

impl PatientToken {
    /// The token for 16 random bytes: their unpadded base32 (the last character carries 3 bits
    /// and two zero bits). The vault supplies the randomness.
    pub fn from_random(bytes: [u8; 16]) -> Self {
        let mut out = String::with_capacity(TOKEN_PREFIX.len() + TOKEN_CHARS);
        out.push_str(TOKEN_PREFIX);
        let mut acc: u32 = 0;
        let mut bits: u32 = 0;
        for byte in bytes {
            acc = (acc << 8) | u32::from(byte);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                out.push(char::from(BASE32[((acc >> bits) & 31) as usize]));
            }
            acc &= (1 << bits) - 1;
        }
        if bits > 0 {
            out.push(char::from(BASE32[((acc << (5 - bits)) & 31) as usize]));
        }
        Self(out)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for PatientToken {
    type Err = ParseError;

    /// Trims and lowercases, then checks `pt_` + 26 base32 characters.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const RULE: &str = "expected 'pt_' followed by 26 characters a-z or 2-7";
        let s = s.trim().to_ascii_lowercase();
        let body = s
            .strip_prefix(TOKEN_PREFIX)
            .ok_or(ParseError::new("patient token", RULE))?;
        // A range test per byte, not a search of the alphabet: tokens are parsed by the
        // hundred in every schedule view and resolve call.
        if body.len() != TOKEN_CHARS
            || !body.bytes().all(|b| matches!(b, b'a'..=b'z' | b'2'..=b'7'))
        {
            return Err(ParseError::new("patient token", RULE));
        }
        Ok(Self(s))
    }
}

impl fmt::Display for PatientToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PatientToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token is ASCII by construction, so byte 6 is a char boundary.
        let shown = self.0.get(..6).unwrap_or("");
        write!(f, "PatientToken({shown}…redacted)")
    }
}

string_wire_type!(
    PatientToken,
    description = "Patient pseudonym in one consumer domain: 'pt_' + 26 lowercase base32 characters (RFC 4648, a-z 2-7).",
    example = "pt_mfrggzdfmztwq2lknnwg23tpob",
    pattern = "^pt_[a-z2-7]{26}$"
);

/// A consumer domain: the system a token belongs to (`clinic-app`, `analytics`). The same patient
/// has unlinkable tokens in different domains. A slug `[a-z][a-z0-9-]{1,31}`, so it never holds a
/// `.` (the service credential `svc.<domain>.<secret>` relies on that).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ConsumerDomain(String);

impl ConsumerDomain {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ConsumerDomain {
    type Err = ParseError;

    /// Trims and lowercases, then checks the slug rule.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        let mut bytes = s.bytes();
        let first_ok = bytes.next().is_some_and(|b| b.is_ascii_lowercase());
        let rest_ok = bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !(first_ok && rest_ok && (2..=32).contains(&s.len())) {
            return Err(ParseError::new(
                "consumer domain",
                "expected 2 to 32 characters a-z, 0-9 or '-', starting with a letter",
            ));
        }
        Ok(Self(s))
    }
}

impl fmt::Display for ConsumerDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_wire_type!(
    ConsumerDomain,
    description = "Consumer domain slug.",
    example = "clinic-app",
    pattern = "^[a-z][a-z0-9-]{1,31}$"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_random_is_rfc4648_base32_without_padding() {
        // base32("foobarfoobarfoob") = MZXW6YTBOJTG633CMFZGM33PMI====== (RFC 4648 alphabet).
        let t = PatientToken::from_random(*b"foobarfoobarfoob");
        assert_eq!(t.as_str(), "pt_mzxw6ytbojtg633cmfzgm33pmi");
        assert_eq!(
            PatientToken::from_random([0; 16]).as_str(),
            format!("pt_{}", "a".repeat(26))
        );
        // 128 one-bits: 25 full groups, then 3 bits + 2 zero bits = 0b11100 = 28 = '4'.
        assert_eq!(
            PatientToken::from_random([0xff; 16]).as_str(),
            format!("pt_{}4", "7".repeat(25))
        );
    }

    #[test]
    fn tokens_from_random_parse_back() {
        let t = PatientToken::from_random([0x5a; 16]);
        assert_eq!(t.as_str().parse::<PatientToken>().unwrap(), t);
    }

    #[test]
    fn token_parsing_normalises_case_and_space_and_refuses_the_rest() {
        let t: PatientToken = "  PT_MZXW6YTBOJTG633CMFZGM33PMI\n".parse().unwrap();
        assert_eq!(t.as_str(), "pt_mzxw6ytbojtg633cmfzgm33pmi");
        for bad in [
            "",
            "pt_",
            "mzxw6ytbojtg633cmfzgm33pmi",
            "pt_mzxw6ytbojtg633cmfzgm33pm",   // 25 characters
            "pt_mzxw6ytbojtg633cmfzgm33pmia", // 27
            "pt_mzxw6ytbojtg633cmfzgm33pm1",  // '1' is not base32
            "pt_mzxw6ytbojtg633cmfzgm33pm=",
            "px_mzxw6ytbojtg633cmfzgm33pmi",
        ] {
            let err = bad.parse::<PatientToken>().unwrap_err();
            assert_eq!(err.what(), "patient token", "{bad}");
        }
    }

    #[test]
    fn token_debug_shows_only_six_characters() {
        let t = PatientToken::from_random(*b"foobarfoobarfoob");
        assert_eq!(format!("{t:?}"), "PatientToken(pt_mzx…redacted)");
        assert!(!format!("{:?}", Some(&t)).contains("w6ytb"));
        assert_eq!(t.to_string(), "pt_mzxw6ytbojtg633cmfzgm33pmi");
    }

    #[test]
    fn token_serde_is_a_string_and_bad_tokens_do_not_deserialize() {
        let t = PatientToken::from_random(*b"foobarfoobarfoob");
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#""pt_mzxw6ytbojtg633cmfzgm33pmi""#
        );
        let back: PatientToken =
            serde_json::from_str(r#""pt_mzxw6ytbojtg633cmfzgm33pmi""#).unwrap();
        assert_eq!(back, t);
        let err = serde_json::from_str::<PatientToken>(r#""pt_short""#).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid patient token: expected 'pt_' followed by 26"),
            "{err}"
        );
    }

    #[test]
    fn consumer_domains_are_slugs() {
        assert_eq!(
            " Clinic-App ".parse::<ConsumerDomain>().unwrap().as_str(),
            "clinic-app"
        );
        assert!("analytics".parse::<ConsumerDomain>().is_ok());
        assert!("ab".parse::<ConsumerDomain>().is_ok());
        assert!(
            format!("a{}", "b".repeat(31))
                .parse::<ConsumerDomain>()
                .is_ok()
        );
        for bad in [
            "a",
            "1clinic",
            "-clinic",
            "clinic.app",
            "clinic app",
            "клиника",
            "",
        ] {
            assert!(bad.parse::<ConsumerDomain>().is_err(), "{bad}");
        }
        assert!(
            format!("a{}", "b".repeat(32))
                .parse::<ConsumerDomain>()
                .is_err()
        );
        let err = serde_json::from_str::<ConsumerDomain>(r#""a.b""#).unwrap_err();
        assert!(err.to_string().contains("invalid consumer domain"), "{err}");
    }
}
