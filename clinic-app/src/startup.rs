//! Opening the database and the vault client, building the state and serving HTTP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use prometheus_client::registry::Registry;
use service_kit::http::metrics::HttpMetrics;
use thiserror::Error;
use tokio::net::TcpListener;

use crate::clock::Clock;
use crate::config::Config;
use crate::domain::Clinic;
use crate::domain::auth::Auth;
use crate::store::{self, Database};
use crate::vault::Vault;
use service_kit::store::redact_url as redact_url_for;

#[derive(Debug, Error)]
#[error("{0}")]
pub struct StartupError(pub String);

/// Shared by every handler.
pub struct AppState {
    pub clinic: Clinic,
    pub auth: Auth,
    pub registry: Registry,
    pub http_metrics: Arc<HttpMetrics>,
}

pub async fn open_database(config: &Config) -> Result<Database, StartupError> {
    if let Some(dir) = config
        .database_url
        .strip_prefix("sqlite://")
        .and_then(|path| std::path::Path::new(path).parent())
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).map_err(|e| {
            StartupError(format!(
                "cannot create the data directory {}: {e}",
                dir.display()
            ))
        })?;
    }
    let db = Database::connect(&config.database_url, config.max_connections)
        .await
        .map_err(|e| {
            StartupError(format!(
                "cannot open the database {}: {e}; check [database] url and that the database runs",
                redact_url_for(&config.database_url)
            ))
        })?;
    store::migrate(&db)
        .await
        .map_err(|e| StartupError(format!("cannot migrate the database: {e}")))?;
    Ok(db)
}

pub struct Application {
    listener: TcpListener,
    state: Arc<AppState>,
    send_every: Duration,
}

impl Application {
    pub async fn build(config: &Config, clock: Arc<dyn Clock>) -> Result<Self, StartupError> {
        let db = open_database(config).await?;
        let vault = Vault::new(
            &config.vault_url,
            &config.vault_secret,
            Duration::from_millis(config.vault_timeout_ms),
        )
        .map_err(|e| StartupError(format!("[vault]: {e}")))?;
        let mut registry = Registry::default();
        let http_metrics = Arc::new(HttpMetrics::register(&mut registry));
        let state = Arc::new(AppState {
            auth: Auth::new(db.clone(), clock.clone()),
            clinic: Clinic {
                db,
                vault,
                clock,
                identity: config.clinic.clone(),
                sender: crate::domain::reminders::FileSender::shared(&config.outbox_file),
                login_keys: crate::domain::patient_app::LoginKeys::derive(&config.vault_secret),
            },
            registry,
            http_metrics,
        });
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| StartupError(format!("cannot listen on {}: {e}", config.listen)))?;
        Ok(Self {
            listener,
            state,
            send_every: Duration::from_secs(config.send_every_seconds.max(1)),
        })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Serves until `stop` resolves; sends due messages in the background meanwhile.
    pub async fn run_until_stopped(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartupError> {
        let sender_state = self.state.clone();
        let every = self.send_every;
        let sender = tokio::spawn(async move {
            // The first round is one period after start, not at once, so that it cannot race a
            // round run on demand (the tests send with a period of an hour).
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                tick.tick().await;
                if let Err(e) = sender_state.clinic.send_due_messages().await {
                    tracing::warn!(error = %e, "sending due messages failed; retrying next round");
                }
            }
        });
        let app = crate::http::router(self.state.clone());
        // Without TCP_NODELAY the end of a large answer (a day view) waits for the client's
        // delayed ACK, about 40 ms.
        let listener = self.listener.tap_io(|stream: &mut tokio::net::TcpStream| {
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!(error = %e, "could not set TCP_NODELAY on a connection");
            }
        });
        let served = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(stop)
        .await;
        sender.abort();
        self.state.clinic.db.close().await;
        served.map_err(|e| StartupError(format!("the server stopped: {e}")))
    }
}

pub async fn shutdown_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
