//! A JSON body extractor whose rejections are the services' error bodies, with values cut out of
//! parser messages so a bad body never echoes personal data back or into logs.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use vault_wire::ApiError as Body;

pub struct ApiJson<T>(pub T);

/// Why a body was refused: a status and the common error body.
#[derive(Debug)]
pub struct BodyRejection {
    pub status: StatusCode,
    pub body: Body,
}

impl BodyRejection {
    fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: Body::new(code, message),
        }
    }
}

impl IntoResponse for BodyRejection {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// Cuts values out of a serde message, keeping field names and what was expected:
/// `invalid value: string "Ivanov", expected ...` becomes `invalid value: string "…", expected
/// ...`, and likewise for numbers, characters and booleans (serde quotes those in backticks,
/// the same way it quotes field names, so the kind word before them tells them apart).
fn without_values(message: &str) -> String {
    const BACKTICKED: [&str; 5] = [
        "integer `",
        "floating point `",
        "character `",
        "boolean `",
        "variant `",
    ];
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    loop {
        let string_at = rest.find("string \"").map(|i| (i, "string \"", '"'));
        let tick_at = BACKTICKED
            .iter()
            .filter_map(|m| rest.find(m).map(|i| (i, *m, '`')))
            .min_by_key(|(i, _, _)| *i);
        let Some((at, marker, close)) = [string_at, tick_at]
            .into_iter()
            .flatten()
            .min_by_key(|(i, _, _)| *i)
        else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..at + marker.len()]);
        let value = &rest[at + marker.len()..];
        // A string value may itself contain quotes: it ends at the quote before the parser's
        // own continuation (", expected" or " at line"), or at the message's last quote.
        let end = if close == '"' {
            [
                value.find("\", expected"),
                value.find("\" at line"),
                value.rfind('"'),
            ]
            .into_iter()
            .flatten()
            .min()
        } else {
            value.find('`')
        };
        match end {
            Some(end) => {
                out.push('…');
                out.push(close);
                rest = &value[end + 1..];
            }
            None => {
                out.push('…');
                return out;
            }
        }
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = BodyRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::JsonDataError(e)) => Err(BodyRejection::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                without_values(&e.body_text()),
            )),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(BodyRejection::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                without_values(&e.body_text()),
            )),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(BodyRejection::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "json_required",
                "send the body as JSON with Content-Type: application/json",
            )),
            Err(JsonRejection::BytesRejection(_)) => Err(BodyRejection::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "the request body is too large or could not be read",
            )),
            Err(other) => Err(BodyRejection::new(
                StatusCode::BAD_REQUEST,
                "bad_body",
                other.body_text(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_cut_from_parser_messages() {
        let m = r#"Failed to deserialize the JSON body into the target type: identity.surname: invalid value: string "Ivanov", expected a name at line 1 column 30"#;
        let cleaned = without_values(m);
        assert!(!cleaned.contains("Ivanov"));
        assert!(cleaned.contains("identity.surname"));
        assert!(
            cleaned.contains("expected a name at line 1 column 30"),
            "{cleaned}"
        );
    }

    #[test]
    fn numbers_and_quoted_quotes_are_cut_too() {
        let m = "phone: invalid type: integer `79130000000`, expected a phone number at line 1 column 20";
        let cleaned = without_values(m);
        assert!(!cleaned.contains("79130000000"), "{cleaned}");
        assert!(cleaned.contains("expected a phone number"), "{cleaned}");
        let m = r#"snils: invalid value: string "112"-233-445 95", expected a SNILS at line 1"#;
        let cleaned = without_values(m);
        assert!(
            !cleaned.contains("233") && !cleaned.contains("445"),
            "{cleaned}"
        );
        let m = "sex: unknown variant `Иванова`, expected `male` or `female`";
        assert!(
            !without_values(m).contains("Иванова"),
            "{}",
            without_values(m)
        );
        let m = "unknown field `blood_type`, expected one of `surname`, `name`";
        assert_eq!(without_values(m), m, "field names stay");
    }
}
