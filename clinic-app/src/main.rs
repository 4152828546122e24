//! The `clinic-app` binary: load config, start tracing, build, run until stopped.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use clinic_app::clock::SystemClock;
use clinic_app::config::Config;
use clinic_app::domain::auth::{Auth, Role};
use clinic_app::startup::{self, Application};

/// mimalloc instead of glibc malloc: a day view under load spent a fifth of its CPU in glibc's
/// allocator (ADR 0018).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "clinic-app",
    version,
    about = "Medikamente clinic app: scheduling, billing, the patient app's back end"
)]
struct Cli {
    /// Config file (TOML).
    #[arg(
        long,
        global = true,
        env = "CLINIC_CONFIG",
        default_value = "clinic.toml"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Serve,
    /// Run the embedded demo next to a `vault demo`: SQLite under ./data, made-up directory.
    Demo {
        #[arg(long, default_value = "127.0.0.1:8300")]
        listen: SocketAddr,
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        #[arg(long, default_value = "http://127.0.0.1:8200")]
        vault_url: String,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Print the OpenAPI document (no server or database needed).
    Openapi,
    /// Staff accounts of clinic-app.
    Staff {
        #[command(subcommand)]
        command: StaffCommand,
    },
}

#[derive(Subcommand)]
enum StaffCommand {
    /// Add a staff account. The password is read from CLINIC_STAFF_PASSWORD (never an
    /// argument, which would land in shell history); doctors may have none.
    Add {
        #[arg(long)]
        username: String,
        #[arg(long)]
        display_name: String,
        /// receptionist, cashier, doctor, accountant or administrator.
        #[arg(long)]
        role: String,
        #[arg(long)]
        branch: Option<String>,
        #[arg(long)]
        specialty: Option<String>,
        /// The doctor's staff id in the vault (from `vault staff add`).
        #[arg(long)]
        vault_staff_id: Option<String>,
    },
}

fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .json()
        .with_writer(std::io::stderr)
        .init();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("clinic-app: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let clock = Arc::new(SystemClock);
    match cli.command {
        Command::Openapi => {
            say(&clinic_app::http::openapi::json());
            Ok(())
        }
        Command::Serve => {
            let config = Config::load(&cli.config).map_err(|e| e.to_string())?;
            serve(config, clock, None).await
        }
        Command::Demo {
            listen,
            data_dir,
            vault_url,
        } => {
            let (config, doctor) = clinic_app::demo::config(&data_dir, listen, &vault_url)
                .map_err(|e| e.to_string())?;
            serve(config, clock, Some(doctor)).await
        }
        Command::Migrate => {
            let config = Config::load(&cli.config).map_err(|e| e.to_string())?;
            startup::open_database(&config)
                .await
                .map_err(|e| e.to_string())?;
            say(&format!(
                "migrations applied to {}",
                service_kit::store::redact_url(&config.database_url)
            ));
            Ok(())
        }
        Command::Staff {
            command:
                StaffCommand::Add {
                    username,
                    display_name,
                    role,
                    branch,
                    specialty,
                    vault_staff_id,
                },
        } => {
            let config = Config::load(&cli.config).map_err(|e| e.to_string())?;
            let role: Role = role
                .parse()
                .map_err(|e: clinic_app::domain::ClinicError| e.to_string())?;
            let password = std::env::var("CLINIC_STAFF_PASSWORD").ok();
            if password.is_none() && role != Role::Doctor {
                return Err(
                    "set CLINIC_STAFF_PASSWORD to the new account's password (12+ characters)"
                        .into(),
                );
            }
            let db = startup::open_database(&config)
                .await
                .map_err(|e| e.to_string())?;
            let auth = Auth::new(db, clock);
            let id = auth
                .add_staff(
                    &username,
                    &display_name,
                    role,
                    branch.as_deref(),
                    specialty.as_deref(),
                    vault_staff_id.as_deref(),
                    password.as_deref(),
                )
                .await
                .map_err(|e| e.to_string())?;
            say(&format!("staff {username} ({role}) added with id {id}"));
            Ok(())
        }
    }
}

async fn serve(
    config: Config,
    clock: Arc<SystemClock>,
    demo_doctor: Option<String>,
) -> Result<(), String> {
    let app = Application::build(&config, clock)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(doctor) = demo_doctor {
        for line in clinic_app::demo::seed(app.state(), &doctor).await? {
            say(&format!("clinic-app: {line}"));
        }
    }
    let addr = app
        .local_addr()
        .map_or_else(|| config.listen.to_string(), |a| a.to_string());
    say(&format!(
        "clinic-app: listening on http://{addr} (health: /healthz, readiness: /readyz, API: /openapi.json)"
    ));
    app.run_until_stopped(startup::shutdown_signal())
        .await
        .map_err(|e| format!("server stopped: {e}"))
}
