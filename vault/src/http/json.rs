//! A JSON body extractor whose rejections are `ApiError`s, with values cut out of parser
//! messages so a bad body never echoes personal data back or into logs.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::ApiError;

pub struct ApiJson<T>(pub T);

/// Replaces quoted values in a serde message: `invalid value: string "Ivanov"` becomes
/// `invalid value: string "…"`. Field names come in backticks and stay.
fn without_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut in_quotes = false;
    for c in message.chars() {
        if c == '"' {
            if in_quotes {
                out.push('…');
            }
            in_quotes = !in_quotes;
            out.push(c);
        } else if !in_quotes {
            out.push(c);
        }
    }
    out
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                without_values(&e.body_text()),
            )),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(ApiError::bad_request(
                "malformed_json",
                without_values(&e.body_text()),
            )),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "json_required",
                "send the body as JSON with Content-Type: application/json",
            )),
            Err(JsonRejection::BytesRejection(_)) => Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "the request body is too large or could not be read",
            )),
            Err(other) => Err(ApiError::bad_request("bad_body", other.body_text())),
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
    }
}
