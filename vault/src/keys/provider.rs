//! The one trait behind which every key custodian sits.

use thiserror::Error;

use super::{Dek, KekVersion};

/// A custodian of KEKs. Implementations block (a token is a device): callers run them off the
/// async runtime, see [`super::KeyCustody`].
pub trait KeyProvider: Send + Sync + 'static {
    /// Short description for start-up logs: which token or file, never a secret.
    fn describe(&self) -> String;

    /// KEK versions present, ascending.
    fn kek_versions(&self) -> Result<Vec<KekVersion>, KeyError>;

    /// Creates a KEK of this version. Refuses a version that already exists.
    fn create_kek(&self, version: KekVersion) -> Result<(), KeyError>;

    /// Wraps a DEK under the given KEK version.
    fn wrap(&self, kek: KekVersion, dek: &Dek) -> Result<Vec<u8>, KeyError>;

    /// Unwraps a DEK. Any failure of the wrapped bytes themselves is the opaque
    /// [`KeyError::Unwrap`]; a missing KEK is [`KeyError::KekMissing`].
    fn unwrap(&self, kek: KekVersion, wrapped: &[u8]) -> Result<Dek, KeyError>;

    /// Creates the audit checkpoint key if there is none; returns whether it created one.
    fn ensure_audit_key(&self) -> Result<bool, KeyError>;

    /// MAC over audit-chain data with the checkpoint key (HMAC-SHA256, or HMAC-Streebog-256 on
    /// a GOST token or under the GOST suite). The key never leaves the key store.
    fn audit_mac(&self, data: &[u8]) -> Result<Vec<u8>, KeyError>;

    /// How a KEK version is protected, in words, for `vault keys list`.
    fn describe_kek(&self, version: KekVersion) -> Result<String, KeyError> {
        let _ = version;
        Ok("software file (danger: readable by anyone who can read the KEK directory)".into())
    }

    /// Destroys a KEK version: every DEK wrapped only by it becomes unrecoverable, in backups too.
    fn destroy_kek(&self, version: KekVersion) -> Result<(), KeyError>;
}

/// Failures of key custody. Messages name what to fix and never carry key material or PINs.
#[derive(Debug, Error)]
pub enum KeyError {
    #[error(
        "no token labelled '{label}' is present in {module}: check keys.pkcs11.token_label and that the token is plugged in and initialised"
    )]
    TokenNotFound { label: String, module: String },
    #[error("the token refused the PIN from ${pin_env}: set the user PIN of token '{label}' there")]
    PinIncorrect { label: String, pin_env: String },
    #[error("the PIN environment variable ${0} is not set: export the token's user PIN there")]
    PinMissing(String),
    #[error("the PKCS#11 module {module} could not be loaded ({detail}): check keys.pkcs11.module")]
    ModuleLoad { module: String, detail: String },
    #[error(
        "token '{label}' lacks mechanism {mechanism} (0x{code:08X}) that profile '{profile}' needs: use a token that supports it or another hsm-config profile"
    )]
    MechanismMissing {
        label: String,
        profile: String,
        mechanism: String,
        code: u64,
    },
    #[error(
        "KEK {label} is not in the key store: run `vault keys init`, or restore the token that holds it"
    )]
    KekMissing { label: String },
    #[error("KEK {label} already exists")]
    KekExists { label: String },
    #[error("a wrapped key did not unwrap")]
    Unwrap,
    #[error("the key store is unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Config(String),
}

impl KeyError {
    /// Whether this is a fault of the key store (token gone, library error) rather than of input:
    /// the HTTP layer maps these to 503.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            KeyError::Unavailable(_) | KeyError::TokenNotFound { .. }
        )
    }
}
