//! Configuration: a TOML file with environment overrides, validated once into [`Config`].
//!
//! Unknown keys are errors. Secrets never sit in the file: the vault credential comes from the
//! environment variable the file names (`CLINIC_VAULT_CREDENTIAL` unless set otherwise).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;
use zeroize::Zeroizing;

#[derive(Debug, Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The clinic as it appears on receipts, exports and tax certificates (its own data).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClinicIdentity {
    pub name: String,
    pub inn: String,
    pub kpp: String,
    pub license: String,
    pub address: String,
}

impl Default for ClinicIdentity {
    fn default() -> Self {
        Self {
            name: "ООО «Медикаменте» (demo)".into(),
            inn: "7707083893".into(),
            kpp: "770701001".into(),
            license: "Л041-01137-77/00000000 (demo)".into(),
            address: "г. Москва, ул. Примерная, д. 1 (demo)".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default = "default_listen")]
    listen: String,
    #[serde(default = "default_data_dir")]
    data_dir: PathBuf,
    #[serde(default)]
    database: DatabaseSection,
    vault: VaultSection,
    #[serde(default)]
    clinic: Option<ClinicIdentity>,
    #[serde(default)]
    reminders: RemindersSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DatabaseSection {
    url: Option<String>,
    max_connections: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VaultSection {
    url: String,
    #[serde(default = "default_credential_env")]
    credential_env: String,
    timeout_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RemindersSection {
    /// The development sink: messages are appended to this file instead of being sent.
    outbox_file: Option<PathBuf>,
    send_every_seconds: Option<u64>,
}

fn default_listen() -> String {
    "127.0.0.1:8300".into()
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}

fn default_credential_env() -> String {
    "CLINIC_VAULT_CREDENTIAL".into()
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    pub max_connections: u32,
    pub vault_url: String,
    /// The clinic-app service secret of the vault (`svc.clinic-app.<secret>` without the prefix).
    pub vault_secret: Zeroizing<String>,
    pub vault_timeout_ms: u64,
    pub clinic: ClinicIdentity,
    /// Where the development message sink writes.
    pub outbox_file: PathBuf,
    pub send_every_seconds: u64,
}

/// Environment variables that override the file, for containers and tests.
pub const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("CLINIC_LISTEN", "listen"),
    ("CLINIC_DATABASE_URL", "database.url"),
    ("CLINIC_VAULT_URL", "vault.url"),
];

impl Config {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError(format!(
                "cannot read the configuration file {}: {e}",
                path.display()
            ))
        })?;
        Self::parse(&text, |name| std::env::var(name).ok())
            .map_err(|e| ConfigError(format!("{}: {}", path.display(), e.0)))
    }

    /// Parses and validates; `env` looks up environment variables (injected for tests).
    pub fn parse(text: &str, env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let file: FileConfig =
            toml::from_str(text).map_err(|e| ConfigError(e.message().to_string()))?;
        let listen = env("CLINIC_LISTEN").unwrap_or(file.listen);
        let listen = listen.parse().map_err(|_| {
            ConfigError(format!(
                "listen: '{listen}' is not an address like 127.0.0.1:8300"
            ))
        })?;
        let database_url = env("CLINIC_DATABASE_URL")
            .or(file.database.url)
            .unwrap_or_else(|| format!("sqlite://{}", file.data_dir.join("clinic.db").display()));
        if !database_url.starts_with("sqlite:") && !database_url.starts_with("postgres") {
            return Err(ConfigError(
                "database.url: expected sqlite://... or postgres://...".into(),
            ));
        }
        let vault_url = env("CLINIC_VAULT_URL").unwrap_or(file.vault.url);
        let secret = env(&file.vault.credential_env).ok_or_else(|| {
            ConfigError(format!(
                "the vault credential is missing: set {} to the clinic-app secret that `vault service issue --domain clinic-app` printed",
                file.vault.credential_env
            ))
        })?;
        // Accept the whole printed credential or only its secret part.
        let secret = secret
            .strip_prefix("svc.clinic-app.")
            .unwrap_or(&secret)
            .to_owned();
        Ok(Config {
            listen,
            database_url,
            max_connections: file.database.max_connections.unwrap_or(16),
            vault_url,
            vault_secret: Zeroizing::new(secret),
            vault_timeout_ms: file.vault.timeout_ms.unwrap_or(3000),
            clinic: file.clinic.unwrap_or_default(),
            outbox_file: file
                .reminders
                .outbox_file
                .unwrap_or_else(|| file.data_dir.join("outbox.jsonl")),
            send_every_seconds: file.reminders.send_every_seconds.unwrap_or(30),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "[vault]\nurl = \"http://127.0.0.1:8200\"\n";

    #[test]
    fn defaults_are_the_embedded_sqlite_file() {
        let c = Config::parse(MINIMAL, |n| {
            (n == "CLINIC_VAULT_CREDENTIAL").then(|| "svc.clinic-app.abc".into())
        })
        .unwrap();
        assert_eq!(c.database_url, "sqlite://data/clinic.db");
        assert_eq!(c.vault_secret.as_str(), "abc");
        assert_eq!(c.listen.port(), 8300);
    }

    #[test]
    fn a_missing_credential_says_which_variable_to_set() {
        let err = Config::parse(MINIMAL, |_| None).unwrap_err();
        assert!(err.0.contains("CLINIC_VAULT_CREDENTIAL"), "{}", err.0);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err =
            Config::parse(&format!("{MINIMAL}colour = 1\n"), |_| Some("x".into())).unwrap_err();
        assert!(err.0.contains("colour"), "{}", err.0);
    }
}
