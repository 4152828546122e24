//! `as_str`, `ALL`, `Display` and `FromStr` for the crate's closed lists of names.
//!
//! Each name must equal an id in `policies/schema.cedarschema` and the enum's serde name; the
//! tests check both, so a rename cannot drift between Rust, Cedar and the wire.

macro_rules! closed_names {
    ($ty:ident, $kind:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            #[doc = concat!("Every ", $kind, ", in declaration order.")]
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            #[doc = concat!("The name of this ", $kind, " in the Cedar schema and on the wire.")]
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::PolicyError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $ty::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| $crate::PolicyError::UnknownName {
                        kind: $kind,
                        value: s.to_owned(),
                    })
            }
        }
    };
}

pub(crate) use closed_names;
