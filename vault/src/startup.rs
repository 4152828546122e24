//! Building and running the vault: config in, a served router out.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use secrecy::SecretString;
use thiserror::Error;
use tokio::net::TcpListener;

use crate::audit::AuditWriter;
use crate::audit::alerts::{AlertScanner, Notifier};
use crate::audit::writer::CheckpointPolicy;
use crate::clock::Clock;
use crate::config::{Config, ConfigError, Mode, ProviderConfig};
use crate::domain::SealedData;
use crate::domain::auth::Auth;
use crate::domain::care::Care;
use crate::domain::oversight::Oversight;
use crate::domain::patients::Patients;
use crate::domain::records::Records;
use crate::keys::cache::DekCache;
use crate::keys::custody::blocking;
use crate::keys::pkcs11::{Pkcs11Provider, Pkcs11Settings};
use crate::keys::profile::Profile;
use crate::keys::soft::SoftProvider;
use crate::keys::system::VaultKeys;
use crate::keys::{KekVersion, KeyCustody, KeyError, KeyProvider};
use crate::store::{self, Database, StoreError, redact_url};
use policy::PolicyEngine;

/// Why the vault did not start. Each message is one line that says what to fix.
#[derive(Debug, Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Keys(#[from] KeyError),
    #[error("database {url} is unavailable: {reason}")]
    Database { url: String, reason: String },
    #[error(
        "the database names KEK {version} but the key store ({store}) has no such version: restore the token that holds it or point the vault at the right token"
    )]
    KekNotInStore { version: KekVersion, store: String },
    #[error("{0}")]
    Service(String),
    #[error("cannot listen on {addr}: {reason}")]
    Bind { addr: SocketAddr, reason: String },
}

pub struct Metrics {
    pub registry: Registry,
    pub dek_cache_entries: Gauge,
    pub http: Arc<service_kit::http::metrics::HttpMetrics>,
}

/// What handlers share.
pub struct AppState {
    pub db: Database,
    pub audit: AuditWriter,
    pub sealed: Arc<SealedData>,
    pub auth: Arc<Auth>,
    pub patients: Arc<Patients>,
    pub records: Arc<Records>,
    pub care: Arc<Care>,
    pub oversight: Arc<Oversight>,
    pub alerts: Arc<crate::domain::alerts::Alerts>,
    pub rights: Arc<crate::domain::rights::Rights>,
    pub alert_scanner: Arc<AlertScanner>,
    pub alert_scan_every: Duration,
    pub clock: Arc<dyn Clock>,
    pub metrics: Metrics,
}

/// Staff sessions last this long; a doctor signs in again after a shift break.
pub const SESSION_TTL: Duration = Duration::from_secs(30 * 60);

/// The domain services over an opened vault.
pub struct Services {
    pub audit: AuditWriter,
    pub auth: Arc<Auth>,
    pub patients: Arc<Patients>,
    pub records: Arc<Records>,
    pub care: Arc<Care>,
    pub oversight: Arc<Oversight>,
    pub alerts: Arc<crate::domain::alerts::Alerts>,
    pub rights: Arc<crate::domain::rights::Rights>,
}

/// Builds the domain services: vault-wide keys, the policy engine, sign-in.
pub async fn services(
    db: &Database,
    sealed: &Arc<SealedData>,
    clock: Arc<dyn Clock>,
    checkpoint: CheckpointPolicy,
    danger_audit_stub: bool,
) -> Result<Services, StartupError> {
    let keys = VaultKeys::load_or_create(db, sealed.custody(), clock.unix_seconds())
        .await
        .map_err(|e| StartupError::Service(e.to_string()))?;
    let provider = sealed.custody().provider().clone();
    // A missing checkpoint key is created only for a chain that has no signed checkpoint yet:
    // a new key would make every existing checkpoint fail verification.
    let signed = crate::store::audit::checkpoints(db)
        .await
        .map_err(|e| StartupError::Service(e.to_string()))?
        .len();
    let p = provider.clone();
    let present = match blocking(move || p.audit_mac(b"probe")).await {
        Ok(_) => true,
        Err(KeyError::KekMissing { .. }) => false,
        Err(e) => return Err(e.into()),
    };
    if !present {
        if signed > 0 {
            return Err(StartupError::Service(format!(
                "the audit checkpoint key is missing from the key store, but the audit has {signed} checkpoints it signed: restore the token that holds it"
            )));
        }
        let p = provider.clone();
        blocking(move || p.ensure_audit_key()).await?;
        tracing::info!("created the audit checkpoint key in the key store");
    }
    let audit = if danger_audit_stub {
        AuditWriter::danger_stub(provider, clock.clone())
    } else {
        AuditWriter::start(db.clone(), provider, clock.clone(), checkpoint).0
    };
    let policy =
        Arc::new(PolicyEngine::new().map_err(|e| StartupError::Service(format!("policy: {e}")))?);
    let auth = Arc::new(
        Auth::new(
            db.clone(),
            audit.clone(),
            keys.clone(),
            clock.clone(),
            SESSION_TTL,
        )
        .map_err(|e| StartupError::Service(e.to_string()))?,
    );
    let patients = Arc::new(Patients::new(
        sealed.clone(),
        audit.clone(),
        keys,
        policy.clone(),
        clock.clone(),
    ));
    let records = Arc::new(Records::new(
        sealed.clone(),
        audit.clone(),
        patients.clone(),
        policy.clone(),
        clock.clone(),
    ));
    let care = Arc::new(Care::new(
        sealed.clone(),
        audit.clone(),
        patients.clone(),
        policy.clone(),
        clock.clone(),
    ));
    let oversight = Arc::new(Oversight::new(
        sealed.clone(),
        audit.clone(),
        patients.clone(),
        policy.clone(),
        clock.clone(),
    ));
    let rights = Arc::new(crate::domain::rights::Rights::new(
        sealed.clone(),
        audit.clone(),
        patients.clone(),
        policy.clone(),
        clock.clone(),
    ));
    let alerts = Arc::new(crate::domain::alerts::Alerts::new(
        db.clone(),
        audit.clone(),
        policy,
        clock,
    ));
    Ok(Services {
        audit,
        auth,
        patients,
        records,
        care,
        oversight,
        alerts,
        rights,
    })
}

/// Opens the configured key provider. A `danger_soft` provider logs a warning at every start.
pub async fn open_provider(config: &Config) -> Result<Arc<dyn KeyProvider>, StartupError> {
    match &config.provider {
        ProviderConfig::DangerSoft { kek_dir } => {
            tracing::warn!(
                kek_dir = %kek_dir.display(),
                "DANGER: keys.provider = danger_soft keeps the KEK in a plain file; demo data only, never real patients"
            );
            Ok(Arc::new(SoftProvider::open(kek_dir, config.suite)?))
        }
        ProviderConfig::Pkcs11 {
            module,
            token_label,
            pin_env,
            kek_label,
            profile,
            sessions,
        } => {
            let pin = std::env::var(pin_env).map_err(|_| KeyError::PinMissing(pin_env.clone()))?;
            let settings = Pkcs11Settings {
                module: module.clone(),
                token_label: token_label.clone(),
                pin: SecretString::from(pin),
                pin_env: pin_env.clone(),
                kek_label: kek_label.clone(),
                profile: Profile::load(profile)?,
                max_idle_sessions: *sessions,
            };
            let provider = blocking(move || Pkcs11Provider::open(settings)).await?;
            Ok(Arc::new(provider))
        }
    }
}

/// Connects to the database and applies pending migrations.
pub async fn open_database(config: &Config) -> Result<Database, StartupError> {
    if config.database_url.starts_with("sqlite:") {
        // The embedded default keeps its file under data_dir; make sure the folder exists.
        let _ = std::fs::create_dir_all(&config.data_dir);
    }
    let fail = |e: StoreError| StartupError::Database {
        url: redact_url(&config.database_url),
        reason: match &e {
            StoreError::Unavailable(inner) => inner.to_string().replace('\n', " "),
            other => other.to_string(),
        },
    };
    let db = Database::connect(&config.database_url, config.max_connections)
        .await
        .map_err(fail)?;
    store::migrate(&db).await.map_err(fail)?;
    Ok(db)
}

/// Opens database and keys and checks that every KEK version the database uses is present.
/// In demo mode, an empty key store next to an empty database gets KEK v1; a production token
/// is initialised on purpose, with `vault keys init`.
pub async fn open_vault(
    config: &Config,
    clock: Arc<dyn Clock>,
) -> Result<(Database, SealedData), StartupError> {
    let db = open_database(config).await?;
    let provider = open_provider(config).await?;
    let used = store::keys::kek_versions_in_use(&db)
        .await
        .map_err(|e| StartupError::Database {
            url: redact_url(&config.database_url),
            reason: e.to_string(),
        })?;
    let p = provider.clone();
    let mut present = blocking(move || p.kek_versions()).await?;
    if present.is_empty() && used.is_empty() && config.mode == Mode::Demo {
        let p = provider.clone();
        blocking(move || p.create_kek(KekVersion::FIRST)).await?;
        tracing::info!("demo mode: created software KEK v1");
        present.push(KekVersion::FIRST);
    }
    if let Some(missing) = used.iter().find(|v| !present.contains(v)) {
        return Err(StartupError::KekNotInStore {
            version: *missing,
            store: provider.describe(),
        });
    }
    // Versions from before `kek_versions` existed get their row (for `vault keys retire`).
    for v in &present {
        store::keys::record_kek_version(&db, *v, clock.unix_seconds())
            .await
            .map_err(|e| StartupError::Database {
                url: redact_url(&config.database_url),
                reason: e.to_string(),
            })?;
    }
    let cache = DekCache::new(config.cache_capacity, config.cache_ttl, clock.clone());
    let custody = Arc::new(KeyCustody::new(provider, cache).await?);
    Ok((
        db.clone(),
        SealedData::new(db, custody, config.suite, clock),
    ))
}

pub struct Application {
    listener: TcpListener,
    state: Arc<AppState>,
}

impl Application {
    pub async fn build(config: &Config, clock: Arc<dyn Clock>) -> Result<Self, StartupError> {
        let (db, sealed) = open_vault(config, clock.clone()).await?;
        let sealed = Arc::new(sealed);
        let Services {
            audit,
            auth,
            patients,
            records,
            care,
            oversight,
            alerts,
            rights,
        } = services(
            &db,
            &sealed,
            clock.clone(),
            config.checkpoint,
            config.danger_audit_stub,
        )
        .await?;
        let notifier = match &config.alert_webhook {
            Some(url) => Notifier::Webhook {
                url: url.clone(),
                client: reqwest::Client::new(),
            },
            None => Notifier::Log,
        };
        let alert_scanner = Arc::new(AlertScanner::new(
            db.clone(),
            config.alert_rules.clone(),
            notifier,
            clock.clone(),
        ));
        tracing::info!(key_store = %sealed.custody().provider().describe(), kek = %sealed.custody().current_kek(), "keys ready");
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| StartupError::Bind {
                addr: config.listen,
                reason: e.to_string(),
            })?;
        let mut registry = Registry::with_prefix("vault");
        let cache = sealed.custody().cache();
        registry.register(
            "dek_cache_hits",
            "Patient-key lookups served from memory",
            cache.hits.clone(),
        );
        registry.register(
            "dek_cache_misses",
            "Patient-key lookups that needed a token unwrap",
            cache.misses.clone(),
        );
        let dek_cache_entries = Gauge::default();
        registry.register(
            "dek_cache_entries",
            "Patient keys held in memory",
            dek_cache_entries.clone(),
        );
        registry.register(
            "unseal_cache_hits",
            "Unseals decided on facts read by an earlier unseal, checked when their event commits",
            records.unseal_cache.hits.clone(),
        );
        registry.register(
            "unseal_cache_stale",
            "Unseals whose remembered facts had changed when their event was to commit; read again",
            records.unseal_cache.stale.clone(),
        );
        registry.register(
            "audit_batches",
            "Audit transactions committed by the group writer",
            audit.batches.clone(),
        );
        registry.register(
            "audit_events",
            "Audit events committed by the group writer",
            audit.events.clone(),
        );
        let http = Arc::new(service_kit::http::metrics::HttpMetrics::register(
            &mut registry,
        ));
        let metrics = Metrics {
            registry,
            dek_cache_entries,
            http,
        };
        Ok(Self {
            listener,
            state: Arc::new(AppState {
                db,
                audit,
                sealed,
                auth,
                patients,
                records,
                care,
                oversight,
                alerts,
                rights,
                alert_scanner,
                alert_scan_every: config.alert_scan_every,
                clock,
                metrics,
            }),
        })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Serves until `shutdown` completes, then drains in-flight requests and stops the cache
    /// sweeper.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = self.state.clone();
        let sweeper = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(30));
            loop {
                tick.tick().await;
                let custody = state.sealed.custody();
                custody.cache().sweep_expired();
                // `vault keys rotate` may have run elsewhere: wrap new DEKs under the newest KEK.
                if let Err(e) = custody.refresh().await {
                    tracing::warn!(error = %e, "could not re-read KEK versions");
                }
            }
        });
        let scanner = tokio::spawn(
            self.state
                .alert_scanner
                .clone()
                .run(self.state.alert_scan_every),
        );
        let app = crate::http::router(self.state.clone());
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(self.listener.tap_io(no_delay), app)
            .with_graceful_shutdown(shutdown)
            .await;
        sweeper.abort();
        scanner.abort();
        self.state.db.close().await;
        served
    }
}

/// Answers go out as soon as they are written: without `TCP_NODELAY` the last part of a large
/// answer (a resolve of hundreds of tokens) waits for the client's delayed ACK, about 40 ms.
fn no_delay(stream: &mut tokio::net::TcpStream) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY on a connection");
    }
}

/// Resolves on SIGTERM or ctrl-c.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down: draining requests");
}
