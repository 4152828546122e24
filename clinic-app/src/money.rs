//! Amounts in roubles, held as whole kopecks: no floating point anywhere near money.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// A non-negative amount in kopecks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Kopecks(u64);

#[derive(Debug, Error, PartialEq, Eq)]
pub enum AmountError {
    #[error("amount '{0}' is not a number of roubles like 1500 or 1500.50")]
    Malformed(String),
    #[error("amount '{0}' has more than two digits after the point")]
    TooPrecise(String),
    #[error("amount '{0}' is too large")]
    TooLarge(String),
}

impl Kopecks {
    pub const fn new(kopecks: u64) -> Self {
        Self(kopecks)
    }

    pub const fn get(self) -> u64 {
        self.0
    }

    pub fn checked_add(self, other: Kopecks) -> Option<Kopecks> {
        self.0.checked_add(other.0).map(Kopecks)
    }

    pub fn checked_sub(self, other: Kopecks) -> Option<Kopecks> {
        self.0.checked_sub(other.0).map(Kopecks)
    }
}

impl FromStr for Kopecks {
    type Err = AmountError;

    /// Parses "1500", "1500.5" or "1500.50" (a comma works too, as typed in Russia).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let malformed = || AmountError::Malformed(s.to_owned());
        let normalised = s.trim().replace(',', ".");
        let (whole, frac) = normalised.split_once('.').unwrap_or((&normalised, ""));
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed());
        }
        if !frac.bytes().all(|b| b.is_ascii_digit())
            || (normalised.contains('.') && frac.is_empty())
        {
            return Err(malformed());
        }
        if frac.len() > 2 {
            return Err(AmountError::TooPrecise(s.to_owned()));
        }
        let too_large = || AmountError::TooLarge(s.to_owned());
        let roubles: u64 = whole.parse().map_err(|_| too_large())?;
        let kopecks: u64 = format!("{frac:0<2}").parse().map_err(|_| malformed())?;
        roubles
            .checked_mul(100)
            .and_then(|k| k.checked_add(kopecks))
            .map(Kopecks)
            .ok_or_else(too_large)
    }
}

impl fmt::Display for Kopecks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_a_cashier_types() {
        assert_eq!("1500".parse::<Kopecks>(), Ok(Kopecks::new(150_000)));
        assert_eq!("1500.5".parse::<Kopecks>(), Ok(Kopecks::new(150_050)));
        assert_eq!(" 1500,05 ".parse::<Kopecks>(), Ok(Kopecks::new(150_005)));
        assert_eq!(Kopecks::new(150_005).to_string(), "1500.05");
    }

    #[test]
    fn refuses_what_is_not_money() {
        for bad in ["", "-5", "1e3", "12.", ".5", "abc", "1 500"] {
            assert!(
                matches!(bad.parse::<Kopecks>(), Err(AmountError::Malformed(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            "1.005".parse::<Kopecks>(),
            Err(AmountError::TooPrecise(_))
        ));
        assert!(matches!(
            "999999999999999999999".parse::<Kopecks>(),
            Err(AmountError::TooLarge(_))
        ));
        assert_eq!(Kopecks::new(5).checked_sub(Kopecks::new(6)), None);
    }
}
