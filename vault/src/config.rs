//! Configuration: a TOML file with a few environment overrides, validated once into [`Config`].
//!
//! Unknown keys are errors (`deny_unknown_fields`), insecure choices are named `danger_*`, and
//! secrets (the token PIN) never sit in the file: the file names the environment variable.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

use crate::crypto::Suite;

#[derive(Debug, Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The embedded demo: SQLite files, a software KEK, made-up patients.
    Demo,
    /// Real patients: a PKCS#11 token is required.
    Production,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    mode: Mode,
    #[serde(default = "default_listen")]
    listen: String,
    #[serde(default = "default_data_dir")]
    data_dir: PathBuf,
    #[serde(default)]
    database: DatabaseSection,
    keys: KeysSection,
    #[serde(default)]
    audit: AuditSection,
    #[serde(default)]
    alerts: AlertsSection,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertsSection {
    patients_per_hour: Option<usize>,
    denials_per_10_minutes: Option<usize>,
    service_tokens_per_minute: Option<usize>,
    /// "HH:MM-HH:MM", local time, Monday to Saturday.
    working_hours: Option<String>,
    utc_offset_minutes: Option<i32>,
    /// Alerts are also POSTed here as JSON.
    webhook_url: Option<String>,
    #[serde(default = "default_scan_seconds")]
    scan_every_seconds: u64,
}

impl Default for AlertsSection {
    fn default() -> Self {
        Self {
            patients_per_hour: None,
            denials_per_10_minutes: None,
            service_tokens_per_minute: None,
            working_hours: None,
            utc_offset_minutes: None,
            webhook_url: None,
            scan_every_seconds: default_scan_seconds(),
        }
    }
}

fn default_scan_seconds() -> u64 {
    10
}

fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

fn alert_rules(section: &AlertsSection) -> Result<crate::audit::alerts::AlertRules, ConfigError> {
    let mut rules = crate::audit::alerts::AlertRules::default();
    if let Some(v) = section.patients_per_hour {
        rules.patients_per_hour = v;
    }
    if let Some(v) = section.denials_per_10_minutes {
        rules.denials_per_10_minutes = v.max(1);
    }
    if let Some(v) = section.service_tokens_per_minute {
        rules.service_tokens_per_minute = v;
    }
    if let Some(v) = section.utc_offset_minutes {
        rules.utc_offset_minutes = v;
    }
    if let Some(hours) = &section.working_hours {
        let parsed = hours
            .split_once('-')
            .and_then(|(a, b)| Some((parse_hhmm(a)?, parse_hhmm(b)?)));
        match parsed {
            Some((from, until)) if from < until => {
                rules.working_from = from;
                rules.working_until = until;
            }
            _ => {
                return Err(ConfigError(format!(
                    "alerts.working_hours = \"{hours}\" is not a range like \"08:00-21:00\""
                )));
            }
        }
    }
    Ok(rules)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditSection {
    #[serde(default = "default_checkpoint_events")]
    checkpoint_every_events: i64,
    #[serde(default = "default_checkpoint_seconds")]
    checkpoint_every_seconds: u64,
    /// Benchmarks only: write no audit at all (to measure the audit's cost). Demo mode only.
    #[serde(default)]
    danger_stub_writer: bool,
}

impl Default for AuditSection {
    fn default() -> Self {
        Self {
            checkpoint_every_events: default_checkpoint_events(),
            checkpoint_every_seconds: default_checkpoint_seconds(),
            danger_stub_writer: false,
        }
    }
}

fn default_checkpoint_events() -> i64 {
    1000
}
fn default_checkpoint_seconds() -> u64 {
    60
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DatabaseSection {
    /// `sqlite://...` or `postgres://...`; default: `sqlite://<data_dir>/vault.db`.
    url: Option<String>,
    max_connections: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysSection {
    provider: ProviderName,
    #[serde(default)]
    suite: SuiteName,
    #[serde(default)]
    cache: CacheSection,
    pkcs11: Option<Pkcs11Section>,
    danger_soft: Option<SoftSection>,
    /// Days backups of the database are kept: `vault keys retire` destroys an old KEK version
    /// only this long after the rewrap moved the last live wrapping off it.
    #[serde(default = "default_backup_retention_days")]
    backup_retention_days: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ProviderName {
    Pkcs11,
    DangerSoft,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
enum SuiteName {
    #[default]
    #[serde(rename = "aes-256-gcm-siv")]
    Aes256GcmSiv,
    #[serde(rename = "gost")]
    Gost,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheSection {
    #[serde(default = "default_cache_capacity")]
    capacity: usize,
    #[serde(default = "default_cache_ttl")]
    ttl_seconds: u64,
}

impl Default for CacheSection {
    fn default() -> Self {
        Self {
            capacity: default_cache_capacity(),
            ttl_seconds: default_cache_ttl(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pkcs11Section {
    module: PathBuf,
    token_label: String,
    #[serde(default = "default_pin_env")]
    pin_env: String,
    #[serde(default = "default_kek_label")]
    kek_label: String,
    profile: PathBuf,
    #[serde(default = "default_sessions")]
    sessions: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SoftSection {
    kek_dir: PathBuf,
}

fn default_listen() -> String {
    "127.0.0.1:8200".into()
}
fn default_data_dir() -> PathBuf {
    "data".into()
}
fn default_cache_capacity() -> usize {
    10_000
}
fn default_cache_ttl() -> u64 {
    300
}
fn default_pin_env() -> String {
    "VAULT_HSM_PIN".into()
}
fn default_kek_label() -> String {
    "medikamente-kek".into()
}
fn default_sessions() -> usize {
    4
}

/// Default of `keys.backup_retention_days`.
pub const DEFAULT_BACKUP_RETENTION_DAYS: u32 = 35;

fn default_backup_retention_days() -> u32 {
    DEFAULT_BACKUP_RETENTION_DAYS
}

fn days(n: u32) -> Duration {
    Duration::from_secs(u64::from(n) * 86_400)
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub mode: Mode,
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub max_connections: u32,
    pub suite: Suite,
    pub cache_capacity: usize,
    pub cache_ttl: Duration,
    pub provider: ProviderConfig,
    /// How long database backups are kept (`keys.backup_retention_days`): the least time between
    /// the rewrap away from a KEK version and its retirement.
    pub backup_retention: Duration,
    /// When the audit writer signs the chain head.
    pub checkpoint: crate::audit::writer::CheckpointPolicy,
    /// Benchmarks only: no audit is written. Refused outside demo mode.
    pub danger_audit_stub: bool,
    pub alert_rules: crate::audit::alerts::AlertRules,
    pub alert_webhook: Option<String>,
    pub alert_scan_every: Duration,
}

#[derive(Debug, Clone)]
pub enum ProviderConfig {
    Pkcs11 {
        module: PathBuf,
        token_label: String,
        pin_env: String,
        kek_label: String,
        profile: PathBuf,
        sessions: usize,
    },
    /// KEK files on disk: demo mode only.
    DangerSoft { kek_dir: PathBuf },
}

/// Environment variables that override the file, for containers and tests.
pub const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("VAULT_LISTEN", "listen"),
    ("VAULT_DATABASE_URL", "database.url"),
    ("VAULT_HSM_MODULE", "keys.pkcs11.module"),
    ("VAULT_HSM_TOKEN_LABEL", "keys.pkcs11.token_label"),
];

/// The 1-based line an error is about. For an unknown key, toml's span covers the whole table,
/// so the line of the key itself is looked up from the span on.
fn error_line(text: &str, e: &toml::de::Error) -> Option<usize> {
    let start = e.span()?.start.min(text.len());
    let first = text[..start].matches('\n').count() + 1;
    let unknown = e
        .message()
        .split("unknown field `")
        .nth(1)
        .and_then(|r| r.split('`').next());
    if let Some(key) = unknown {
        let found = text.lines().enumerate().skip(first - 1).find(|(_, line)| {
            line.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        });
        if let Some((index, _)) = found {
            return Some(index + 1);
        }
    }
    Some(first)
}

impl Config {
    /// Reads and validates a config file, applying environment overrides.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError(format!(
                "config file {} cannot be read: {e}",
                path.display()
            ))
        })?;
        Self::parse(&text, &|name| std::env::var(name).ok()).map_err(|ConfigError(msg)| {
            ConfigError(format!("config file {}: {msg}", path.display()))
        })
    }

    /// Parses config text; `env` looks up overrides (injected so tests need no process env).
    pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut file: FileConfig = toml::from_str(text).map_err(|e| {
            let at = error_line(text, &e)
                .map(|l| format!(" (line {l})"))
                .unwrap_or_default();
            ConfigError(format!("{}{at}", e.message().trim().replace('\n', "; ")))
        })?;
        if let Some(v) = env("VAULT_LISTEN") {
            file.listen = v;
        }
        if let Some(v) = env("VAULT_DATABASE_URL") {
            file.database.url = Some(v);
        }
        if let Some(p) = file.keys.pkcs11.as_mut() {
            if let Some(v) = env("VAULT_HSM_MODULE") {
                p.module = v.into();
            }
            if let Some(v) = env("VAULT_HSM_TOKEN_LABEL") {
                p.token_label = v;
            }
        }
        Self::validate(file)
    }

    fn validate(file: FileConfig) -> Result<Self, ConfigError> {
        let listen: SocketAddr = file.listen.parse().map_err(|_| {
            ConfigError(format!(
                "listen = \"{}\" is not an address like 127.0.0.1:8200",
                file.listen
            ))
        })?;
        let database_url = file
            .database
            .url
            .unwrap_or_else(|| format!("sqlite://{}/vault.db", file.data_dir.display()));
        if !(database_url.starts_with("sqlite:") || database_url.starts_with("postgres")) {
            return Err(ConfigError(
                "database.url must start with sqlite:// or postgres://".into(),
            ));
        }
        if file.keys.backup_retention_days == 0 {
            return Err(ConfigError(
                "keys.backup_retention_days = 0 is refused: `vault keys retire` would destroy old KEK versions that retained backups still need; set it to the number of days database backups are kept (default 35)".into(),
            ));
        }
        let provider = match file.keys.provider {
            ProviderName::DangerSoft => {
                if file.mode != Mode::Demo {
                    return Err(ConfigError(
                        "keys.provider = \"danger_soft\" keeps the KEK in a plain file and is refused when mode = \"production\": configure keys.provider = \"pkcs11\" with a [keys.pkcs11] token".into(),
                    ));
                }
                let section = file.keys.danger_soft.ok_or_else(|| {
                    ConfigError("keys.provider = \"danger_soft\" needs a [keys.danger_soft] section with kek_dir".into())
                })?;
                ProviderConfig::DangerSoft {
                    kek_dir: section.kek_dir,
                }
            }
            ProviderName::Pkcs11 => {
                let p = file.keys.pkcs11.ok_or_else(|| {
                    ConfigError("keys.provider = \"pkcs11\" needs a [keys.pkcs11] section (module, token_label, profile)".into())
                })?;
                if p.token_label.trim().is_empty() {
                    return Err(ConfigError(
                        "keys.pkcs11.token_label is empty: name the token's label".into(),
                    ));
                }
                ProviderConfig::Pkcs11 {
                    module: p.module,
                    token_label: p.token_label,
                    pin_env: p.pin_env,
                    kek_label: p.kek_label,
                    profile: p.profile,
                    sessions: p.sessions.max(1),
                }
            }
        };
        Ok(Config {
            mode: file.mode,
            listen,
            data_dir: file.data_dir,
            database_url,
            max_connections: file.database.max_connections.unwrap_or(16).max(1),
            suite: match file.keys.suite {
                SuiteName::Aes256GcmSiv => Suite::Aes256GcmSiv,
                SuiteName::Gost => Suite::GostKuznyechikMgm,
            },
            cache_capacity: file.keys.cache.capacity,
            cache_ttl: Duration::from_secs(file.keys.cache.ttl_seconds),
            provider,
            backup_retention: days(file.keys.backup_retention_days),
            checkpoint: crate::audit::writer::CheckpointPolicy {
                every_events: file.audit.checkpoint_every_events.max(1),
                every: Duration::from_secs(file.audit.checkpoint_every_seconds.max(1)),
            },
            danger_audit_stub: {
                if file.audit.danger_stub_writer && file.mode != Mode::Demo {
                    return Err(ConfigError(
                        "audit.danger_stub_writer turns the audit off and is refused when mode = \"production\"".into(),
                    ));
                }
                file.audit.danger_stub_writer
            },
            alert_rules: alert_rules(&file.alerts)?,
            alert_webhook: match &file.alerts.webhook_url {
                // Plain HTTP to a bridge on the internal network; no TLS stack is built in.
                Some(url) if !url.starts_with("http://") => {
                    return Err(ConfigError(
                        "alerts.webhook_url must be an http:// URL of a bridge on the internal network".into(),
                    ));
                }
                other => other.clone(),
            },
            alert_scan_every: Duration::from_secs(file.alerts.scan_every_seconds.max(1)),
        })
    }

    /// The configuration `vault demo` runs with: everything under `data_dir`, software KEK.
    pub fn demo(data_dir: &Path, listen: SocketAddr) -> Self {
        Config {
            mode: Mode::Demo,
            listen,
            data_dir: data_dir.to_path_buf(),
            database_url: format!("sqlite://{}/vault.db", data_dir.display()),
            max_connections: 8,
            suite: Suite::Aes256GcmSiv,
            cache_capacity: default_cache_capacity(),
            cache_ttl: Duration::from_secs(default_cache_ttl()),
            provider: ProviderConfig::DangerSoft {
                kek_dir: data_dir.join("danger-soft-kek"),
            },
            backup_retention: days(DEFAULT_BACKUP_RETENTION_DAYS),
            checkpoint: crate::audit::writer::CheckpointPolicy::default(),
            danger_audit_stub: false,
            alert_rules: crate::audit::alerts::AlertRules::default(),
            alert_webhook: None,
            alert_scan_every: Duration::from_secs(default_scan_seconds()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    const PKCS11: &str = r#"
mode = "production"
[database]
url = "postgres://vault@db/vault"
[keys]
provider = "pkcs11"
[keys.pkcs11]
module = "/usr/lib/softhsm/libsofthsm2.so"
token_label = "medikamente"
profile = "hsm-config/softhsm2.toml"
"#;

    #[test]
    fn production_with_token_parses_with_defaults() {
        let c = Config::parse(PKCS11, &no_env).unwrap();
        assert_eq!(c.suite, Suite::Aes256GcmSiv);
        assert_eq!(c.listen.to_string(), "127.0.0.1:8200");
        match c.provider {
            ProviderConfig::Pkcs11 {
                pin_env, kek_label, ..
            } => {
                assert_eq!(pin_env, "VAULT_HSM_PIN");
                assert_eq!(kek_label, "medikamente-kek");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn soft_provider_is_refused_in_production() {
        let text = "mode = \"production\"\n[keys]\nprovider = \"danger_soft\"\n[keys.danger_soft]\nkek_dir = \"k\"\n";
        let err = Config::parse(text, &no_env).unwrap_err().0;
        assert!(err.contains("refused when mode = \"production\""), "{err}");
        assert!(!err.contains('\n'));
    }

    #[test]
    fn unknown_keys_are_named_with_their_line() {
        let text = PKCS11.replace("token_label", "tokn_label");
        let err = Config::parse(&text, &no_env).unwrap_err().0;
        assert!(err.contains("tokn_label"), "{err}");
        assert!(err.contains("line"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }

    #[test]
    fn alert_thresholds_and_working_hours() {
        let text =
            format!("{PKCS11}[alerts]\nworking_hours = \"09:30-18:00\"\npatients_per_hour = 12\n");
        let c = Config::parse(&text, &no_env).unwrap();
        assert_eq!(
            (c.alert_rules.working_from, c.alert_rules.working_until),
            (570, 1080)
        );
        assert_eq!(c.alert_rules.patients_per_hour, 12);
        let bad = format!("{PKCS11}[alerts]\nworking_hours = \"18:00-09:00\"\n");
        let err = Config::parse(&bad, &no_env).unwrap_err().0;
        assert!(err.contains("alerts.working_hours"), "{err}");
    }

    #[test]
    fn backup_retention_defaults_to_35_days_and_refuses_0() {
        let c = Config::parse(PKCS11, &no_env).unwrap();
        assert_eq!(c.backup_retention, Duration::from_secs(35 * 86_400));
        let text = PKCS11.replace(
            "provider = \"pkcs11\"\n",
            "provider = \"pkcs11\"\nbackup_retention_days = 90\n",
        );
        let c = Config::parse(&text, &no_env).unwrap();
        assert_eq!(c.backup_retention, Duration::from_secs(90 * 86_400));
        let text = PKCS11.replace(
            "provider = \"pkcs11\"\n",
            "provider = \"pkcs11\"\nbackup_retention_days = 0\n",
        );
        let err = Config::parse(&text, &no_env).unwrap_err().0;
        assert!(err.contains("keys.backup_retention_days"), "{err}");
        assert!(!err.contains('\n'));
    }

    #[test]
    fn env_overrides_apply() {
        let env = |name: &str| match name {
            "VAULT_DATABASE_URL" => Some("sqlite://x.db".to_string()),
            "VAULT_HSM_TOKEN_LABEL" => Some("other".to_string()),
            _ => None,
        };
        let c = Config::parse(PKCS11, &env).unwrap();
        assert_eq!(c.database_url, "sqlite://x.db");
        assert!(
            matches!(c.provider, ProviderConfig::Pkcs11 { ref token_label, .. } if token_label == "other")
        );
    }
}
