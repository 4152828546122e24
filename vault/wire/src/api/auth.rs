//! Staff login.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A staff login. `Debug` never shows the password or the TOTP code.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    #[schema(format = Password)]
    pub password: String,
    /// The current 6-digit TOTP code, when the account has a second factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp: Option<String>,
}

impl fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("totp", &self.totp.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A staff session: send `session` as `Authorization: Bearer <session>` until `expires_at`
/// (Unix seconds). `Debug` never shows the session.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    pub session: String,
    pub expires_at: i64,
    pub role: String,
}

impl fmt::Debug for LoginResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginResponse")
            .field("session", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("role", &self.role)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn login_secrets_never_show_in_debug() {
        let req: LoginRequest = serde_json::from_value(
            json!({"username": "dr-petrov", "password": "hunter2-correct-horse", "totp": "123456"}),
        )
        .unwrap();
        let dbg = format!("{req:?}");
        assert!(dbg.contains("dr-petrov"));
        assert!(!dbg.contains("hunter2") && !dbg.contains("123456"), "{dbg}");
        let resp: LoginResponse = serde_json::from_value(
            json!({"session": "sess-secret-value", "expires_at": 10, "role": "doctor"}),
        )
        .unwrap();
        assert!(!format!("{resp:?}").contains("sess-secret"));
    }

    #[test]
    fn login_request_shape() {
        let req = LoginRequest {
            username: "registrar".into(),
            password: "pw".into(),
            totp: None,
        };
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"username": "registrar", "password": "pw"})
        );
        assert!(
            serde_json::from_value::<LoginRequest>(
                json!({"username": "a", "password": "b", "remember": true})
            )
            .is_err()
        );
    }
}
