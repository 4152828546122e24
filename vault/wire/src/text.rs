//! Bounded free text: record bodies and justifications. Medical text is sensitive, so `Debug`
//! never shows it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ParseError;
use crate::{collapse_whitespace, redacted_debug, string_wire_type};

/// Trims, turns CRLF and CR into LF, and refuses control characters other than LF and tab.
fn multiline(s: &str) -> Result<String, &'static str> {
    let s = s.trim().replace("\r\n", "\n").replace('\r', "\n");
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err("no control characters other than line breaks and tabs");
    }
    Ok(s)
}

/// Trims and collapses all whitespace (line breaks too) to single spaces; refuses control
/// characters.
fn single_line(s: &str) -> Result<String, &'static str> {
    let s = collapse_whitespace(s);
    if s.chars().any(char::is_control) {
        return Err("no control characters");
    }
    Ok(s)
}

macro_rules! bounded_text {
    (
        $(#[$doc:meta])*
        $ty:ident, what = $what:expr, normalise = $norm:path, chars = $min:literal ..= $max:literal,
        length_rule = $length_rule:expr, example = $example:expr
    ) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $ty(String);

        impl $ty {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $ty {
            type Err = ParseError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let s = $norm(s).map_err(|rule| ParseError::new($what, rule))?;
                if !($min..=$max).contains(&s.chars().count()) {
                    return Err(ParseError::new($what, $length_rule));
                }
                Ok(Self(s))
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        string_wire_type!(
            $ty,
            description = concat!(
                stringify!($min), " to ", stringify!($max), " characters after trimming."
            ),
            example = $example,
            min_length = $min,
            max_length = $max
        );

        redacted_debug!($ty);
    };
}

bounded_text!(
    /// The text of a record (a visit note, a diagnosis's wording, a prescription's instructions):
    /// 1 to 20000 characters after trimming; line breaks kept (CRLF becomes LF).
    RecordText,
    what = "record text",
    normalise = multiline,
    chars = 1..=20000,
    length_rule = "expected 1 to 20000 characters",
    example = "Жалобы на кашель в течение трёх дней."
);

bounded_text!(
    /// A short single-line value in a record (drug, dosage, test name, result, unit, reference
    /// range): 1 to 200 characters, whitespace collapsed.
    ShortText,
    what = "short text",
    normalise = single_line,
    chars = 1..=200,
    length_rule = "expected 1 to 200 characters on one line",
    example = "Амоксициллин"
);

bounded_text!(
    /// Why a break-glass access is needed: 10 to 2000 characters after trimming.
    Justification,
    what = "justification",
    normalise = multiline,
    chars = 10..=2000,
    length_rule = "expected 10 to 2000 characters",
    example = "Пациент без сознания доставлен в приёмное отделение, лечащий врач недоступен."
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_text_keeps_line_breaks_and_refuses_control_characters() {
        let t: RecordText = "  Жалобы:\r\n\tкашель\r ".parse().unwrap();
        assert_eq!(t.as_str(), "Жалобы:\n\tкашель");
        assert!("".parse::<RecordText>().is_err());
        assert!(" \n ".parse::<RecordText>().is_err());
        assert!("a\u{0}b".parse::<RecordText>().is_err());
        assert!("ж".repeat(20000).parse::<RecordText>().is_ok());
        assert!("ж".repeat(20001).parse::<RecordText>().is_err());
        assert_eq!(format!("{t:?}"), "RecordText(redacted)");
    }

    #[test]
    fn short_text_is_one_line() {
        let t: ShortText = " 500\n мг ".parse().unwrap();
        assert_eq!(t.as_str(), "500 мг");
        assert!("x".repeat(201).parse::<ShortText>().is_err());
        let err = serde_json::from_str::<ShortText>(r#""""#).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid short text: expected 1 to 200"),
            "{err}"
        );
    }

    #[test]
    fn justification_needs_ten_characters() {
        assert!(
            "   короткая ".parse::<Justification>().is_err(),
            "8 characters after trim"
        );
        assert!("без сознания".parse::<Justification>().is_ok());
        assert!("x".repeat(2001).parse::<Justification>().is_err());
    }
}
