//! Personal data of a patient's identity card: names, birth date, sex, contacts, address, and the
//! names of the fields a consumer can ask for. Documents (SNILS, passport, INN) are in
//! [`crate::documents`].

use std::fmt;
use std::str::FromStr;

use policy::FieldClass;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ParseError;
use crate::{collapse_whitespace, redacted_debug, string_wire_type};

pub use crate::documents::{Inn, Passport, Snils};

/// A surname, given name or patronymic: 1 to 100 characters after trimming, with inner
/// whitespace collapsed to one space. Letters of any alphabet (Cyrillic included), spaces, hyphens
/// and apostrophes (’ and ʼ are stored as '), at least one letter.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PersonName(String);

impl PersonName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for PersonName {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const WHAT: &str = "person name";
        let s: String = collapse_whitespace(s)
            .chars()
            .map(|c| if matches!(c, '’' | 'ʼ') { '\'' } else { c })
            .collect();
        if !(1..=100).contains(&s.chars().count()) {
            return Err(ParseError::new(WHAT, "expected 1 to 100 characters"));
        }
        let allowed = |c: char| {
            c.is_alphabetic()
                || matches!(c, ' ' | '-' | '\'')
                || ('\u{300}'..='\u{36f}').contains(&c)
        };
        if !s.chars().all(allowed) {
            return Err(ParseError::new(
                WHAT,
                "only letters, spaces, hyphens and apostrophes are allowed",
            ));
        }
        if !s.chars().any(char::is_alphabetic) {
            return Err(ParseError::new(WHAT, "expected at least one letter"));
        }
        Ok(Self(s))
    }
}

impl fmt::Display for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_wire_type!(
    PersonName,
    description =
        "Surname, name or patronymic: 1-100 letters (any alphabet), spaces, hyphens, apostrophes.",
    example = "Салтыков-Щедрин",
    min_length = 1,
    max_length = 100
);

/// A birth date: `YYYY-MM-DD`, a real calendar date, year 1900 or later. Ordered by time. It has
/// no clock: the vault checks that it is not in the future.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BirthDate {
    // Field order gives the derived ordering: year, then month, then day.
    year: u16,
    month: u8,
    day: u8,
}

impl BirthDate {
    pub fn from_ymd(year: u16, month: u8, day: u8) -> Result<Self, ParseError> {
        const WHAT: &str = "birth date";
        if !(1900..=9999).contains(&year) {
            return Err(ParseError::new(WHAT, "the year must be 1900 or later"));
        }
        if !(1..=12).contains(&month) {
            return Err(ParseError::new(WHAT, "the month must be 01 to 12"));
        }
        if day == 0 || day > days_in_month(year, month) {
            return Err(ParseError::new(WHAT, "no such day in that month"));
        }
        Ok(Self { year, month, day })
    }

    pub fn year(self) -> u16 {
        self.year
    }

    pub fn month(self) -> u8 {
        self.month
    }

    pub fn day(self) -> u8 {
        self.day
    }
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        _ => 31,
    }
}

impl FromStr for BirthDate {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.trim().as_bytes();
        let digits = |r: std::ops::Range<usize>| {
            b[r].iter().try_fold(0u16, |acc, &d| {
                d.is_ascii_digit().then(|| acc * 10 + u16::from(d - b'0'))
            })
        };
        let shape_ok = b.len() == 10 && b[4] == b'-' && b[7] == b'-';
        let parsed = if shape_ok {
            digits(0..4).zip(digits(5..7)).zip(digits(8..10))
        } else {
            None
        };
        let Some(((year, month), day)) = parsed else {
            return Err(ParseError::new("birth date", "expected YYYY-MM-DD"));
        };
        // month and day are two digits, so they fit in u8.
        Self::from_ymd(year, month as u8, day as u8)
    }
}

impl fmt::Display for BirthDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

string_wire_type!(
    BirthDate,
    description = "Birth date YYYY-MM-DD: a real calendar date, year >= 1900, not in the future.",
    example = "1984-02-29",
    pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
);

/// Sex as recorded in the patient's documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Sex {
    Male,
    Female,
}

impl Sex {
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Male => "male",
            Sex::Female => "female",
        }
    }
}

impl FromStr for Sex {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "male" => Ok(Sex::Male),
            "female" => Ok(Sex::Female),
            _ => Err(ParseError::new("sex", "expected male or female")),
        }
    }
}

impl fmt::Display for Sex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A phone number in E.164: `+` and 8 to 15 digits, the first not 0.
///
/// Accepts spaces, `-`, `(`, `)` and `.` between digits. Without a `+`, only a Russian number of
/// 11 digits is accepted: `8 (912) 345-67-89` (trunk prefix 8) and `79123456789` both become
/// `+79123456789`. Other bare digit strings are refused rather than guessed (`9123456789` would
/// otherwise read as an Indian number).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneE164(String);

impl PhoneE164 {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for PhoneE164 {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const WHAT: &str = "phone number";
        let s = s.trim();
        let (plus, rest) = match s.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let mut digits = String::with_capacity(16);
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '\u{a0}' | '-' | '(' | ')' | '.' => {}
                _ => {
                    return Err(ParseError::new(
                        WHAT,
                        "only digits, spaces, '-', '(', ')' and '.' after an optional '+'",
                    ));
                }
            }
        }
        if !plus {
            if digits.len() != 11 || !(digits.starts_with('7') || digits.starts_with('8')) {
                return Err(ParseError::new(
                    WHAT,
                    "without '+', expected a Russian number of 11 digits starting with 7 or 8",
                ));
            }
            digits.replace_range(..1, "7");
        }
        if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
            return Err(ParseError::new(
                WHAT,
                "expected '+' and 8 to 15 digits, the first not 0 (E.164)",
            ));
        }
        digits.insert(0, '+');
        Ok(Self(digits))
    }
}

impl fmt::Display for PhoneE164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_wire_type!(
    PhoneE164,
    description = "Phone number in E.164. Requests may also use '+7 912 345-67-89' or '8 (912) 345-67-89'; responses are always E.164.",
    example = "+79123456789",
    pattern = "^\\+[1-9][0-9]{7,14}$"
);

/// An e-mail address: trimmed, one `@`, a non-empty local part (kept as typed, at most 64
/// characters) and a dotted domain (lowercased; labels of letters, digits and inner hyphens),
/// 254 characters at most.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Email {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const WHAT: &str = "e-mail";
        let s = s.trim();
        let Some((local, domain)) = s.split_once('@') else {
            return Err(ParseError::new(WHAT, "expected one '@'"));
        };
        if domain.contains('@') {
            return Err(ParseError::new(WHAT, "expected one '@'"));
        }
        if local.is_empty()
            || local.chars().count() > 64
            || local.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(ParseError::new(
                WHAT,
                "the part before '@' must be 1 to 64 characters without spaces",
            ));
        }
        let domain = domain.to_lowercase();
        let labels: Vec<&str> = domain.split('.').collect();
        let label_ok = |l: &&str| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        };
        if labels.len() < 2 || !labels.iter().all(label_ok) {
            return Err(ParseError::new(
                WHAT,
                "the domain must be dotted labels of letters, digits and inner hyphens",
            ));
        }
        let email = format!("{local}@{domain}");
        if email.chars().count() > 254 {
            return Err(ParseError::new(WHAT, "at most 254 characters"));
        }
        Ok(Self(email))
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_wire_type!(
    Email,
    description = "E-mail address; the domain is lowercased.",
    example = "ivanova@example.ru",
    max_length = 254
);

/// A postal address as free text: 1 to 300 characters, trimmed, inner whitespace (newlines too)
/// collapsed to one space, no control characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Address(String);

impl Address {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Address {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = collapse_whitespace(s);
        if !(1..=300).contains(&s.chars().count()) {
            return Err(ParseError::new("address", "expected 1 to 300 characters"));
        }
        if s.chars().any(char::is_control) {
            return Err(ParseError::new("address", "no control characters"));
        }
        Ok(Self(s))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_wire_type!(
    Address,
    description = "Postal address, free text, 1-300 characters.",
    example = "г. Москва, ул. Тверская, д. 1, кв. 2",
    min_length = 1,
    max_length = 300
);

redacted_debug!(PersonName, BirthDate, PhoneE164, Email, Address);

/// The identity fields a consumer can ask the vault to resolve or that an update changed.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FieldName {
    Surname,
    Name,
    Patronymic,
    BirthDate,
    Sex,
    Phones,
    Email,
    Snils,
    Passport,
    Address,
    Inn,
    /// Surname, name and patronymic in one string ("Иванова Анна Сергеевна"), as schedules and
    /// lists show a patient. Derived by the vault whenever one of the three is written; it
    /// cannot be set.
    FullName,
}

impl FieldName {
    pub const ALL: [FieldName; 12] = [
        FieldName::Surname,
        FieldName::Name,
        FieldName::Patronymic,
        FieldName::BirthDate,
        FieldName::Sex,
        FieldName::Phones,
        FieldName::Email,
        FieldName::Snils,
        FieldName::Passport,
        FieldName::Address,
        FieldName::Inn,
        FieldName::FullName,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FieldName::Surname => "surname",
            FieldName::Name => "name",
            FieldName::Patronymic => "patronymic",
            FieldName::BirthDate => "birth_date",
            FieldName::Sex => "sex",
            FieldName::Phones => "phones",
            FieldName::Email => "email",
            FieldName::Snils => "snils",
            FieldName::Passport => "passport",
            FieldName::Address => "address",
            FieldName::Inn => "inn",
            FieldName::FullName => "full_name",
        }
    }

    /// The policy class of the field, which decides which purposes may see it.
    pub fn class(self) -> FieldClass {
        match self {
            FieldName::Surname
            | FieldName::Name
            | FieldName::Patronymic
            | FieldName::BirthDate
            | FieldName::Sex
            | FieldName::FullName => FieldClass::Identity,
            FieldName::Phones | FieldName::Email | FieldName::Address => FieldClass::Contact,
            FieldName::Snils | FieldName::Passport | FieldName::Inn => FieldClass::Document,
        }
    }
}

impl FromStr for FieldName {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FieldName::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or(ParseError::new(
                "field name",
                "expected one of surname, name, patronymic, birth_date, sex, phones, email, snils, passport, address, inn, full_name",
            ))
    }
}

impl fmt::Display for FieldName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn de<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
        serde_json::from_value(serde_json::Value::from(s)).map_err(|e| e.to_string())
    }

    #[test]
    fn person_names_accept_any_alphabet_and_collapse_whitespace() {
        let n: PersonName = "  Салтыков-Щедрин  ".parse().unwrap();
        assert_eq!(n.as_str(), "Салтыков-Щедрин");
        assert_eq!(
            "Анна   Мария\tЛуиза"
                .parse::<PersonName>()
                .unwrap()
                .as_str(),
            "Анна Мария Луиза"
        );
        assert_eq!("O’Brien".parse::<PersonName>().unwrap().as_str(), "O'Brien");
        assert!("Ёлкина".parse::<PersonName>().is_ok());
        assert!("d'Artagnan".parse::<PersonName>().is_ok());
        assert!("Ли".parse::<PersonName>().is_ok());
        assert!("我".parse::<PersonName>().is_ok());
        assert!("Й".parse::<PersonName>().is_ok(), "one letter is a name");
        assert!("И\u{306}ван".parse::<PersonName>().is_ok(), "decomposed й");
        assert!(
            "я".repeat(100).parse::<PersonName>().is_ok(),
            "100 chars, 200 bytes"
        );
    }

    #[test]
    fn person_names_refuse_digits_symbols_and_bad_lengths() {
        for (bad, rule) in [
            ("", "expected 1 to 100 characters"),
            ("   ", "expected 1 to 100 characters"),
            ("Иван2", "only letters"),
            ("Robert'); DROP TABLE--", "only letters"),
            ("Иван.", "only letters"),
            ("-", "expected at least one letter"),
            ("' -", "expected at least one letter"),
        ] {
            let err = bad.parse::<PersonName>().unwrap_err();
            assert!(err.rule().starts_with(rule), "{bad}: {err}");
        }
        assert!("я".repeat(101).parse::<PersonName>().is_err());
        let err = de::<PersonName>("Иван2").unwrap_err();
        assert!(
            err.starts_with("invalid person name: only letters"),
            "{err}"
        );
        assert!(!err.contains("Иван"), "the error never echoes the value");
    }

    #[test]
    fn birth_dates_are_real_calendar_dates_from_1900() {
        let d: BirthDate = " 1984-02-29 ".parse().unwrap();
        assert_eq!((d.year(), d.month(), d.day()), (1984, 2, 29));
        assert_eq!(d.to_string(), "1984-02-29");
        assert!(
            "2000-02-29".parse::<BirthDate>().is_ok(),
            "2000 is a leap year"
        );
        assert!("1900-01-01".parse::<BirthDate>().is_ok());
        assert!("2024-12-31".parse::<BirthDate>().is_ok());
        for (bad, rule) in [
            ("1900-02-29", "no such day"), // 1900 is not a leap year
            ("2023-02-29", "no such day"),
            ("2023-04-31", "no such day"),
            ("2023-01-00", "no such day"),
            ("2023-13-01", "the month"),
            ("2023-00-10", "the month"),
            ("1899-12-31", "the year"),
            ("1984-2-29", "expected YYYY-MM-DD"),
            ("29.02.1984", "expected YYYY-MM-DD"),
            ("1984-02-2a", "expected YYYY-MM-DD"),
            ("1984/02/29", "expected YYYY-MM-DD"),
            ("+984-02-29", "expected YYYY-MM-DD"),
            ("", "expected YYYY-MM-DD"),
        ] {
            let err = bad.parse::<BirthDate>().unwrap_err();
            assert!(err.rule().starts_with(rule), "{bad}: {err}");
        }
    }

    #[test]
    fn birth_dates_order_by_time_and_serialize_as_strings() {
        let a: BirthDate = "1999-12-31".parse().unwrap();
        let b: BirthDate = "2000-01-01".parse().unwrap();
        let c: BirthDate = "2000-02-01".parse().unwrap();
        assert!(a < b && b < c);
        assert_eq!(BirthDate::from_ymd(2000, 1, 1).unwrap(), b);
        assert_eq!(serde_json::to_string(&a).unwrap(), r#""1999-12-31""#);
        assert_eq!(de::<BirthDate>("1999-12-31").unwrap(), a);
        let err = de::<BirthDate>("1999-02-30").unwrap_err();
        assert!(err.starts_with("invalid birth date: no such day"), "{err}");
        assert_eq!(format!("{a:?}"), "BirthDate(redacted)");
    }

    #[test]
    fn sex_is_lowercase_on_the_wire() {
        assert_eq!(serde_json::to_string(&Sex::Female).unwrap(), r#""female""#);
        assert_eq!(de::<Sex>("male").unwrap(), Sex::Male);
        assert!(de::<Sex>("Male").is_err());
        assert_eq!(" Female ".parse::<Sex>().unwrap(), Sex::Female);
        assert!("m".parse::<Sex>().is_err());
    }

    #[test]
    fn phones_normalise_russian_forms_to_e164() {
        for input in [
            "+7 912 345-67-89",
            "8 (912) 345-67-89",
            "79123456789",
            "89123456789",
            "+7(912)345.67.89",
            " +79123456789 ",
        ] {
            let p: PhoneE164 = input.parse().unwrap();
            assert_eq!(p.as_str(), "+79123456789", "{input}");
        }
        assert_eq!(
            "+44 20 7946 0958".parse::<PhoneE164>().unwrap().as_str(),
            "+442079460958"
        );
        assert!("+12345678".parse::<PhoneE164>().is_ok(), "8 digits");
        assert!("+123456789012345".parse::<PhoneE164>().is_ok(), "15 digits");
    }

    #[test]
    fn phones_refuse_what_is_not_e164() {
        for (bad, rule) in [
            ("9123456789", "without '+'"), // 10 bare digits: not guessed
            ("8912345678", "without '+'"),
            ("69123456789", "without '+'"),
            ("+1234567", "expected '+' and 8 to 15"),
            ("+1234567890123456", "expected '+' and 8 to 15"),
            ("+0123456789", "expected '+' and 8 to 15"),
            ("+7 912 345-67-89 ext 1", "only digits"),
            ("+7912345678a", "only digits"),
            ("++79123456789", "only digits"),
            ("", "without '+'"),
        ] {
            let err = bad.parse::<PhoneE164>().unwrap_err();
            assert!(err.rule().starts_with(rule), "{bad}: {err}");
        }
        let err = de::<PhoneE164>("12").unwrap_err();
        assert!(err.starts_with("invalid phone number"), "{err}");
        assert_eq!(
            de::<PhoneE164>("8 (912) 345-67-89").unwrap().as_str(),
            "+79123456789"
        );
    }

    #[test]
    fn emails_lowercase_the_domain_only() {
        let e: Email = "  Ivan.Petrov@Example.RU ".parse().unwrap();
        assert_eq!(e.as_str(), "Ivan.Petrov@example.ru");
        assert_eq!(
            "мария@Почта.РФ".parse::<Email>().unwrap().as_str(),
            "мария@почта.рф"
        );
        assert!("a@b.co".parse::<Email>().is_ok());
        assert!("a@mail-box.example.com".parse::<Email>().is_ok());
        for bad in [
            "",
            "ivan",
            "@example.ru",
            "ivan@",
            "ivan@localhost",
            "ivan@@example.ru",
            "ivan@a@example.ru",
            "iv an@example.ru",
            "ivan@example..ru",
            "ivan@.example.ru",
            "ivan@example.ru.",
            "ivan@-example.ru",
            "ivan@exa_mple.ru",
        ] {
            assert!(bad.parse::<Email>().is_err(), "{bad}");
        }
        let long = format!("{}@{}.ru", "a".repeat(64), "b".repeat(186)); // 254
        assert!(long.parse::<Email>().is_ok());
        let too_long = format!("{}@{}.ru", "a".repeat(64), "b".repeat(187));
        assert_eq!(
            too_long.parse::<Email>().unwrap_err().rule(),
            "at most 254 characters"
        );
        assert!(format!("{}@b.ru", "a".repeat(65)).parse::<Email>().is_err());
    }

    #[test]
    fn addresses_are_trimmed_free_text_up_to_300_characters() {
        let a: Address = "  г. Москва,\n ул. Тверская, д. 1 ".parse().unwrap();
        assert_eq!(a.as_str(), "г. Москва, ул. Тверская, д. 1");
        assert!("".parse::<Address>().is_err());
        assert!(" \n ".parse::<Address>().is_err());
        assert!("д".repeat(300).parse::<Address>().is_ok());
        assert!("д".repeat(301).parse::<Address>().is_err());
        assert!("ул. Ленина\u{7}".parse::<Address>().is_err());
    }

    #[test]
    fn personal_data_never_shows_in_debug() {
        let n: PersonName = "Иванова".parse().unwrap();
        let p: PhoneE164 = "+79123456789".parse().unwrap();
        let e: Email = "ivanova@example.ru".parse().unwrap();
        let a: Address = "Тверская 1".parse().unwrap();
        let all = format!("{n:?} {p:?} {e:?} {a:?}");
        assert_eq!(
            all,
            "PersonName(redacted) PhoneE164(redacted) Email(redacted) Address(redacted)"
        );
    }

    #[test]
    fn field_names_are_snake_case_and_map_to_policy_classes() {
        for f in FieldName::ALL {
            let json = serde_json::to_string(&f).unwrap();
            assert_eq!(json, format!("\"{}\"", f.as_str()));
            assert_eq!(f.as_str().parse::<FieldName>().unwrap(), f);
        }
        assert_eq!(de::<FieldName>("birth_date").unwrap(), FieldName::BirthDate);
        assert!(de::<FieldName>("diagnosis").is_err());
        assert!("BirthDate".parse::<FieldName>().is_err());
        assert_eq!(FieldName::Phones.class(), FieldClass::Contact);
        assert_eq!(FieldName::Inn.class(), FieldClass::Document);
        assert_eq!(FieldName::BirthDate.class(), FieldClass::Identity);
        assert_eq!(FieldName::FullName.class(), FieldClass::Identity);
        assert_eq!(de::<FieldName>("full_name").unwrap(), FieldName::FullName);
    }
}
