//! Russian personal documents: SNILS, the internal passport, the personal INN. Each keeps only
//! its digits and checks what can be checked offline (SNILS and INN carry check digits).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ParseError;
use crate::{redacted_debug, string_wire_type};

/// Keeps the ASCII digits of `s`, skipping the separators in `skip`; any other character, or a
/// digit count other than `N`, is an error.
fn digits<const N: usize>(
    s: &str,
    skip: &[char],
    what: &'static str,
    rule: &'static str,
) -> Result<[u8; N], ParseError> {
    let mut out = [0u8; N];
    let mut n = 0;
    for c in s.trim().chars() {
        if skip.contains(&c) {
            continue;
        }
        let Some(d) = c.to_digit(10).filter(|_| c.is_ascii_digit()) else {
            return Err(ParseError::new(what, rule));
        };
        if n == N {
            return Err(ParseError::new(what, rule));
        }
        out[n] = d as u8;
        n += 1;
    }
    if n != N {
        return Err(ParseError::new(what, rule));
    }
    Ok(out)
}

fn write_digits(f: &mut fmt::Formatter<'_>, digits: &[u8]) -> fmt::Result {
    digits
        .iter()
        .try_for_each(|d| fmt::Write::write_char(f, char::from(b'0' + d)))
}

/// SNILS, the individual insurance account number: 11 digits, shown as `112-233-445 95`.
///
/// Accepts `112-233-445 95` or `11223344595` (spaces and hyphens anywhere). The last two digits
/// are the Pension Fund check number: the sum of `digit[i] * (9 - i)` over the first nine digits;
/// below 100 it is the sum itself, 100 and 101 give `00`, above 101 it is `sum % 101` (and `00`
/// if that is 100). Numbers up to 001-001-998 were issued before the check existed and are not
/// checked.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Snils([u8; 11]);

impl Snils {
    /// The check number the first nine digits call for.
    fn expected_check(d: &[u8; 11]) -> u32 {
        let sum: u32 = (0..9).map(|i| u32::from(d[i]) * (9 - i as u32)).sum();
        match sum {
            0..=99 => sum,
            100 | 101 => 0,
            _ => (sum % 101) % 100,
        }
    }
}

impl FromStr for Snils {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let d: [u8; 11] = digits(
            s,
            &[' ', '-'],
            "SNILS",
            "expected 11 digits, as 112-233-445 95 or 11223344595",
        )?;
        let number = d[..9].iter().fold(0u32, |acc, &x| acc * 10 + u32::from(x));
        let check = u32::from(d[9]) * 10 + u32::from(d[10]);
        if number > 1_001_998 && check != Self::expected_check(&d) {
            return Err(ParseError::new("SNILS", "the check number does not match"));
        }
        Ok(Self(d))
    }
}

impl fmt::Display for Snils {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.0;
        write_digits(f, &d[0..3])?;
        f.write_str("-")?;
        write_digits(f, &d[3..6])?;
        f.write_str("-")?;
        write_digits(f, &d[6..9])?;
        f.write_str(" ")?;
        write_digits(f, &d[9..11])
    }
}

string_wire_type!(
    Snils,
    description = "SNILS; requests may omit the separators, responses use 'XXX-XXX-XXX YY'.",
    example = "112-233-445 95",
    pattern = "^[0-9]{3}-?[0-9]{3}-?[0-9]{3}[ -]?[0-9]{2}$"
);

/// An internal passport of the Russian Federation: a 4-digit series and a 6-digit number, shown as
/// `4506 123456`. Accepts `45 06 123456`, `4506 123456` and `4506123456`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Passport([u8; 10]);

impl Passport {
    /// The four digits of the series, e.g. `4506`.
    pub fn series(&self) -> String {
        self.0[..4].iter().map(|d| char::from(b'0' + d)).collect()
    }

    /// The six digits of the number, e.g. `123456`.
    pub fn number(&self) -> String {
        self.0[4..].iter().map(|d| char::from(b'0' + d)).collect()
    }
}

impl FromStr for Passport {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        digits(
            s,
            &[' '],
            "passport",
            "expected a 4-digit series and a 6-digit number, as 4506 123456",
        )
        .map(Self)
    }
}

impl fmt::Display for Passport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_digits(f, &self.0[..4])?;
        f.write_str(" ")?;
        write_digits(f, &self.0[4..])
    }
}

string_wire_type!(
    Passport,
    description = "RF internal passport, series and number; responses use 'SSSS NNNNNN'.",
    example = "4506 123456",
    pattern = "^[0-9]{2} ?[0-9]{2} ?[0-9]{6}$"
);

/// A personal INN (taxpayer number of an individual): 12 digits whose last two are check digits
/// under the FNS rule: each is `(sum % 11) % 10` of the preceding digits weighted by
/// `[7,2,4,10,3,5,9,4,6,8]` (11th) and `[3,7,2,4,10,3,5,9,4,6,8]` (12th).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Inn([u8; 12]);

impl Inn {
    fn check_digit(d: &[u8], weights: &[u32]) -> u8 {
        let sum: u32 = d.iter().zip(weights).map(|(&x, w)| u32::from(x) * w).sum();
        // (sum % 11) % 10 is a single digit.
        ((sum % 11) % 10) as u8
    }
}

impl FromStr for Inn {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const N11: [u32; 10] = [7, 2, 4, 10, 3, 5, 9, 4, 6, 8];
        const N12: [u32; 11] = [3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8];
        let d: [u8; 12] = digits(s, &[], "INN", "a personal INN has 12 digits")?;
        if Self::check_digit(&d[..10], &N11) != d[10] || Self::check_digit(&d[..11], &N12) != d[11]
        {
            return Err(ParseError::new("INN", "the check digits do not match"));
        }
        Ok(Self(d))
    }
}

impl fmt::Display for Inn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_digits(f, &self.0)
    }
}

string_wire_type!(
    Inn,
    description = "Personal INN, 12 digits with two FNS check digits.",
    example = "500100732259",
    pattern = "^[0-9]{12}$"
);

redacted_debug!(Snils, Passport, Inn);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snils_accepts_both_spellings_and_displays_the_canonical_one() {
        for input in [
            "112-233-445 95",
            "11223344595",
            " 112 233 445 95 ",
            "112-233-445-95",
        ] {
            let s: Snils = input.parse().unwrap();
            assert_eq!(s.to_string(), "112-233-445 95", "{input}");
        }
    }

    #[test]
    fn snils_check_number_follows_the_pension_fund_rule() {
        assert!(
            "987-654-321 83".parse::<Snils>().is_ok(),
            "sum 285 > 101: 285 % 101 = 83"
        );
        assert!(
            "001-437-544 00".parse::<Snils>().is_ok(),
            "sum 101 gives 00"
        );
        assert!(
            "009-688-482 00".parse::<Snils>().is_ok(),
            "sum 201: 201 % 101 = 100 gives 00"
        );
        assert!(
            "100-000-001 10".parse::<Snils>().is_ok(),
            "sum below 100 is the check"
        );
        for bad in [
            "112-233-445 96",
            "112-233-445 59",
            "987-654-321 84",
            "001-437-544 01",
        ] {
            let err = bad.parse::<Snils>().unwrap_err();
            assert_eq!(err.rule(), "the check number does not match", "{bad}");
        }
        // Issued before the check existed: any check number.
        assert!("001-001-998 12".parse::<Snils>().is_ok());
        assert!("000-000-001 99".parse::<Snils>().is_ok());
        assert!(
            "001-001-999 12".parse::<Snils>().is_err(),
            "first checked number"
        );
    }

    #[test]
    fn snils_refuses_other_shapes() {
        for bad in [
            "",
            "1122334459",
            "112233445950",
            "112_233_445 95",
            "11223344595a",
            "١١٢٢٣٣٤٤٥٩٥",
        ] {
            let err = bad.parse::<Snils>().unwrap_err();
            assert!(err.rule().starts_with("expected 11 digits"), "{bad}: {err}");
        }
    }

    #[test]
    fn snils_serde_and_debug() {
        let s: Snils = serde_json::from_str(r#""11223344595""#).unwrap();
        assert_eq!(serde_json::to_string(&s).unwrap(), r#""112-233-445 95""#);
        let err = serde_json::from_str::<Snils>(r#""112-233-445 96""#).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid SNILS: the check number does not match"),
            "{err}"
        );
        assert_eq!(format!("{s:?}"), "Snils(redacted)");
    }

    #[test]
    fn passports_accept_spaced_forms() {
        for input in ["45 06 123456", "4506 123456", "4506123456", " 4506 123456 "] {
            let p: Passport = input.parse().unwrap();
            assert_eq!(p.to_string(), "4506 123456", "{input}");
            assert_eq!(
                (p.series().as_str(), p.number().as_str()),
                ("4506", "123456")
            );
        }
        for bad in [
            "",
            "4506 12345",
            "4506 1234567",
            "4506-123456",
            "45О6 123456",
        ] {
            assert!(bad.parse::<Passport>().is_err(), "{bad}");
        }
        let p: Passport = serde_json::from_str(r#""45 06 123456""#).unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), r#""4506 123456""#);
        assert_eq!(format!("{p:?}"), "Passport(redacted)");
    }

    #[test]
    fn inn_check_digits_follow_the_fns_rule() {
        let inn: Inn = "500100732259".parse().unwrap();
        assert_eq!(inn.to_string(), "500100732259");
        assert!(" 770708389324 ".parse::<Inn>().is_ok());
        for bad in [
            "500100732258",
            "500100732249",
            "500100732269",
            "600100732259",
        ] {
            let err = bad.parse::<Inn>().unwrap_err();
            assert_eq!(err.rule(), "the check digits do not match", "{bad}");
        }
        for bad in [
            "7707083893",
            "5001007322590",
            "50010073225a",
            "5001 00732259",
            "",
        ] {
            let err = bad.parse::<Inn>().unwrap_err();
            assert_eq!(err.rule(), "a personal INN has 12 digits", "{bad}");
        }
        let err = serde_json::from_str::<Inn>(r#""500100732258""#).unwrap_err();
        assert!(
            err.to_string().starts_with("invalid INN: the check digits"),
            "{err}"
        );
        assert_eq!(format!("{inn:?}"), "Inn(redacted)");
    }
}
