//! Wire types shared by the Medikamente vault (server) and clinic-app (client), and a typed client.
//!
//! Every value that crosses the wire is a parsed type: a [`PatientToken`], [`Snils`] or
//! [`PhoneE164`] that exists has passed its rules, and serde goes through the same parser, so a
//! request body with a bad value fails to deserialize with a message that names the rule (never the
//! value). Request types deny unknown fields; response types accept them, so a newer vault can add
//! fields without breaking older clients.
//!
//! Personal-data types print `Type(redacted)` under `Debug`; their `Display` is the full canonical
//! value, for the wire only. Do not log with `%`.
//!
//! No database and no cryptography in this crate: the vault supplies randomness
//! ([`PatientToken::from_random`]) and the clock (it checks that a [`BirthDate`] is not in the
//! future).

pub mod api;
pub mod client;
pub mod documents;
pub mod error;
pub mod identity;
pub mod ids;
pub mod text;

pub use api::*;
pub use client::{ClientError, Credential, VaultClient};
pub use error::{ApiError, ParseError};
pub use identity::{
    Address, BirthDate, Email, FieldName, Inn, Passport, PersonName, PhoneE164, Sex, Snils,
};
pub use ids::{ConsumerDomain, PatientToken};
pub use policy::Purpose;
pub use text::{Justification, RecordText, ShortText};

/// Implements the plumbing every string-shaped newtype shares: `TryFrom<String>` through
/// `FromStr` and `From<T> for String` through `Display` (what `#[serde(try_from = "String",
/// into = "String")]` needs), and an OpenAPI string schema.
macro_rules! string_wire_type {
    (
        $ty:ident,
        description = $desc:expr,
        example = $example:expr
        $(, pattern = $pattern:expr)?
        $(, min_length = $min:expr)?
        $(, max_length = $max:expr)?
    ) => {
        impl TryFrom<String> for $ty {
            type Error = $crate::error::ParseError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl From<$ty> for String {
            fn from(value: $ty) -> String {
                value.to_string()
            }
        }

        impl utoipa::PartialSchema for $ty {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                let schema = utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .description(Some($desc))
                    .examples([serde_json::Value::from($example)]);
                $(let schema = schema.pattern(Some($pattern));)?
                $(let schema = schema.min_length(Some($min));)?
                $(let schema = schema.max_length(Some($max));)?
                schema.into()
            }
        }

        impl utoipa::ToSchema for $ty {}
    };
}

/// `Debug` that shows only the type's name: for personal and medical data.
macro_rules! redacted_debug {
    ($($ty:ident),+ $(,)?) => {
        $(
            impl std::fmt::Debug for $ty {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str(concat!(stringify!($ty), "(redacted)"))
                }
            }
        )+
    };
}

pub(crate) use {redacted_debug, string_wire_type};

/// Collapses every run of whitespace to one space and trims both ends.
pub(crate) fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
