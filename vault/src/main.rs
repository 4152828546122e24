//! The `vault` binary: load config, start tracing, build, run until stopped.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use vault::clock::SystemClock;
use vault::config::Config;
use vault::keys::KekVersion;
use vault::keys::custody::blocking;
use vault::keys::rotation;
use vault::startup::{self, Application};
use vault::{demo, telemetry};

/// mimalloc instead of glibc malloc: a day view under load spent a fifth of its CPU in glibc's
/// allocator (ADR 0018).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "vault",
    version,
    about = "Medikamente vault: sealed patient data behind a PKCS#11 token"
)]
struct Cli {
    /// Config file (TOML).
    #[arg(
        long,
        global = true,
        env = "VAULT_CONFIG",
        default_value = "vault.toml"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Serve,
    /// Run the embedded demo: SQLite under ./data, a software KEK, made-up patients.
    Demo {
        #[arg(long, default_value = "127.0.0.1:8200")]
        listen: SocketAddr,
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Key management.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Print the OpenAPI document (no server, database or token needed).
    Openapi,
    /// The audit chain.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Staff accounts.
    Staff {
        #[command(subcommand)]
        command: StaffCommand,
    },
    /// Service credentials of consumer domains (clinic-app, analytics).
    Service {
        #[command(subcommand)]
        command: ServiceCommand,
    },
    /// Patient-rights retention (run daily, e.g. from a systemd timer).
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// Destruction acts (Roskomnadzor order 179).
    Act {
        #[command(subcommand)]
        command: ActCommand,
    },
}

#[derive(Subcommand)]
enum RetentionCommand {
    /// Destroy (crypto-shred) every patient whose retention periods have all ended and who is
    /// under no legal hold, writing a signed act for each; raise alerts for overdue data
    /// requests. Safe to run twice or on two replicas at once; resumes where it stopped.
    Run {
        /// The personal-data operator named in the acts (name and address).
        #[arg(long, env = "VAULT_ACT_OPERATOR", default_value = vault::domain::rights::DEFAULT_OPERATOR)]
        operator: String,
    },
}

#[derive(Subcommand)]
enum ActCommand {
    /// Check every destruction act (or one): its signature by the token's audit key, its
    /// columns against the signed document, and its log extract in the audit chain. Exit code
    /// 0: all verify; 1: a failure is named.
    Verify {
        /// Only this act.
        #[arg(long)]
        act_id: Option<String>,
        /// Check this database instead of the configured one (e.g. a restored backup).
        #[arg(long)]
        database: Option<String>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Export events after a sequence number: JSON lines on stdout, or RFC 5424 syslog frames
    /// to a SIEM over TCP (TLS with --tls-ca). Prints the last sequence number sent on stderr:
    /// pass it as --after next time.
    Export {
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// host:port of the syslog receiver (RFC 6587 octet counting).
        #[arg(long)]
        syslog: Option<String>,
        /// PEM file of the CA that signed the receiver's certificate: switches TLS on.
        #[arg(long, requires = "syslog")]
        tls_ca: Option<PathBuf>,
        /// The receiver's name in its certificate (default: the host of --syslog).
        #[arg(long, requires = "tls_ca")]
        tls_name: Option<String>,
    },
    /// Recompute the chain and check every checkpoint with the key in the token. Exit code 0:
    /// intact; 1: tampering found (the first broken event and bad checkpoints are named).
    Verify {
        /// Check this database instead of the configured one (a SQLite file URL or PostgreSQL URL,
        /// e.g. a restored backup).
        #[arg(long)]
        database: Option<String>,
    },
}

#[derive(Subcommand)]
enum StaffCommand {
    /// Record that a member of staff is also a patient (their vault-staff token), so that a
    /// colleague opening their record raises an alert.
    LinkPatient {
        #[arg(long)]
        username: String,
        /// The patient's token in the vault-staff domain (from a staff search).
        #[arg(long)]
        token: String,
    },
    /// Add a staff account. The password is read from $VAULT_NEW_PASSWORD or the first line of
    /// standard input; roles that read medical data get a TOTP seed, printed once.
    Add {
        #[arg(long)]
        username: String,
        #[arg(long)]
        role: policy::Role,
        #[arg(long)]
        branch: String,
    },
}

#[derive(Subcommand)]
enum ServiceCommand {
    /// Issue (or replace) the credential of a consumer domain; printed once.
    Issue {
        #[arg(long)]
        domain: policy::ConsumerDomain,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create KEK v1 in an empty key store.
    Init,
    /// List KEK versions and how many DEKs each wraps.
    List,
    /// Create the next KEK version and rewrap every DEK under it (resumable: run again to finish).
    Rotate {
        /// DEKs per batch between progress reports.
        #[arg(long, default_value_t = 500)]
        batch: u64,
        /// Only finish an interrupted rewrap; do not create a new KEK version.
        #[arg(long)]
        resume: bool,
    },
    /// Destroy old KEK versions once keys.backup_retention_days have passed since the rewrap
    /// away from them, so that shredded patients stay unreadable in old backups too.
    Retire {
        /// Only show what would be retired and when the others become due.
        #[arg(long)]
        dry_run: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vault: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("vault: {message}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    telemetry::init(!matches!(
        cli.command,
        Command::Serve | Command::Demo { .. }
    ));
    let clock = Arc::new(SystemClock);
    let err = |e: &dyn std::fmt::Display| e.to_string();
    match cli.command {
        Command::Serve => {
            let config = Config::load(&cli.config).map_err(|e| err(&e))?;
            serve(&config, clock, false).await
        }
        Command::Demo { listen, data_dir } => {
            serve(&Config::demo(&data_dir, listen), clock, true).await
        }
        Command::Migrate => {
            let config = Config::load(&cli.config).map_err(|e| err(&e))?;
            startup::open_database(&config).await.map_err(|e| err(&e))?;
            println!(
                "migrations applied to {}",
                vault::store::redact_url(&config.database_url)
            );
            Ok(())
        }
        Command::Keys { command } => {
            let config = Config::load(&cli.config).map_err(|e| err(&e))?;
            keys(&config, clock, command).await
        }
        Command::Audit {
            command:
                AuditCommand::Export {
                    after,
                    syslog,
                    tls_ca,
                    tls_name,
                },
        } => {
            let config = Config::load(&cli.config).map_err(|e| err(&e))?;
            let db = vault::store::Database::connect(&config.database_url, 2)
                .await
                .map_err(|e| {
                    format!(
                        "database {} is unavailable: {e}",
                        vault::store::redact_url(&config.database_url)
                    )
                })?;
            let last = export_audit(
                &db,
                after,
                syslog.as_deref(),
                tls_ca.as_deref(),
                tls_name.as_deref(),
            )
            .await?;
            eprintln!("vault: exported up to event {last}; resume with --after {last}");
            Ok(())
        }
        Command::Audit {
            command: AuditCommand::Verify { database },
        } => {
            let mut config = Config::load(&cli.config).map_err(|e| err(&e))?;
            if let Some(url) = database {
                config.database_url = url;
            }
            let db = vault::store::Database::connect(&config.database_url, 2)
                .await
                .map_err(|e| {
                    format!(
                        "database {} is unavailable: {e}",
                        vault::store::redact_url(&config.database_url)
                    )
                })?;
            let provider = startup::open_provider(&config).await.map_err(|e| err(&e))?;
            let report = vault::audit::verify::verify(&db, provider)
                .await
                .map_err(|e| err(&e))?;
            say(&format!(
                "audit chain: {} events, {} checkpoints",
                report.events, report.checkpoints
            ));
            if let Some(fault) = &report.chain {
                say(&format!("FAIL: {fault}"));
            }
            for fault in &report.checkpoint_faults {
                say(&format!("FAIL: {fault}"));
            }
            if report.passed() {
                say("PASS: the chain is intact and every checkpoint verifies");
                Ok(())
            } else {
                std::process::exit(1);
            }
        }
        Command::Openapi => {
            say(&vault::http::openapi::json());
            Ok(())
        }
        Command::Retention {
            command: RetentionCommand::Run { operator },
        } => {
            let config = Config::load(&cli.config).map_err(|e| err(&e))?;
            retention_run(&config, clock, operator).await
        }
        Command::Act {
            command: ActCommand::Verify { act_id, database },
        } => {
            let mut config = Config::load(&cli.config).map_err(|e| err(&e))?;
            if let Some(url) = database {
                config.database_url = url;
            }
            let db = vault::store::Database::connect(&config.database_url, 2)
                .await
                .map_err(|e| {
                    format!(
                        "database {} is unavailable: {e}",
                        vault::store::redact_url(&config.database_url)
                    )
                })?;
            let provider = startup::open_provider(&config).await.map_err(|e| err(&e))?;
            let checks = vault::domain::rights::verify_acts(&db, &provider, act_id.as_deref())
                .await
                .map_err(|e| err(&e))?;
            let mut failed = 0;
            for c in &checks {
                match (&c.problem, c.audit_seq) {
                    (None, Some(seq)) => say(&format!(
                        "PASS: act {} (log extract: audit event {seq})",
                        c.act_id
                    )),
                    (None, None) => say(&format!("PASS: act {}", c.act_id)),
                    (Some(p), _) => {
                        failed += 1;
                        say(&format!("FAIL: act {}: {p}", c.act_id));
                    }
                }
            }
            say(&format!(
                "destruction acts: {} checked, {failed} failed",
                checks.len()
            ));
            if failed > 0 {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Staff {
            command:
                StaffCommand::Add {
                    username,
                    role,
                    branch,
                },
        } => {
            let config = Config::load(&cli.config).map_err(|e| err(&e))?;
            let services = admin_services(&config, clock).await?;
            let password = match std::env::var("VAULT_NEW_PASSWORD") {
                Ok(p) => zeroize::Zeroizing::new(p),
                Err(_) => {
                    let mut line = zeroize::Zeroizing::new(String::new());
                    std::io::stdin()
                        .read_line(&mut line)
                        .map_err(|e| format!("cannot read the password: {e}"))?;
                    zeroize::Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned())
                }
            };
            let (id, totp) = services
                .auth
                .add_staff(&username, &password, role, &branch)
                .await
                .map_err(|e| err(&e))?;
            say(&format!(
                "staff account {username} created: id {id}, role {role}, branch {branch}"
            ));
            if let Some(uri) = totp {
                say(&format!(
                    "TOTP seed (shown once, load it into the authenticator app): {uri}"
                ));
            }
            Ok(())
        }
        Command::Staff {
            command: StaffCommand::LinkPatient { username, token },
        } => {
            let config = Config::load(&cli.config).map_err(|e| err(&e))?;
            let services = admin_services(&config, clock).await?;
            let db = vault::store::Database::connect(&config.database_url, 2)
                .await
                .map_err(|e| err(&e))?;
            let staff = vault::store::staff::staff_by_username(&db, &username)
                .await
                .map_err(|e| err(&e))?
                .ok_or_else(|| format!("no staff account {username}"))?;
            let found = vault::store::patients::patients_by_tokens(
                &db,
                "vault-staff",
                std::slice::from_ref(&token),
            )
            .await
            .map_err(|e| err(&e))?;
            let (_, patient) = found
                .first()
                .ok_or("no patient has this token in the vault-staff domain")?;
            vault::store::alerts::link_staff_patient(&db, &staff.staff_id, &patient.to_string())
                .await
                .map_err(|e| err(&e))?;
            services
                .auth
                .audit_rights("link_staff_patient", &[format!("staff:{}", staff.staff_id)])
                .await
                .map_err(|e| err(&e))?;
            say(&format!(
                "{username} is linked to their patient record; colleagues opening it raise an alert"
            ));
            Ok(())
        }
        Command::Service {
            command: ServiceCommand::Issue { domain },
        } => {
            let config = Config::load(&cli.config).map_err(|e| err(&e))?;
            let services = admin_services(&config, clock).await?;
            let secret = services
                .auth
                .put_service(domain)
                .await
                .map_err(|e| err(&e))?;
            say(&format!(
                "credential for {domain} (shown once; any earlier one is revoked): {}",
                secret.as_str()
            ));
            Ok(())
        }
    }
}

/// Sends the audit after `after` to stdout (JSON lines) or a syslog receiver; returns the last
/// sequence number exported.
async fn export_audit(
    db: &vault::store::Database,
    after: i64,
    syslog: Option<&str>,
    tls_ca: Option<&std::path::Path>,
    tls_name: Option<&str>,
) -> Result<i64, String> {
    use vault::audit::export;
    let host = hostname();
    let Some(target) = syslog else {
        let mut last = after;
        loop {
            let lines = export::page(db, last, 1000)
                .await
                .map_err(|e| e.to_string())?;
            let Some(l) = lines.last() else {
                return Ok(last);
            };
            last = l.seq;
            for line in &lines {
                say(&serde_json::to_string(line).map_err(|e| e.to_string())?);
            }
        }
    };
    let tcp = tokio::net::TcpStream::connect(target)
        .await
        .map_err(|e| format!("cannot reach the syslog receiver {target}: {e}"))?;
    match tls_ca {
        None => {
            let mut tcp = tcp;
            export::to_syslog(db, after, &mut tcp, &host)
                .await
                .map_err(|e| e.to_string())
        }
        Some(ca) => {
            let mut tls = export::connect_tls(tcp, target, ca, tls_name)
                .await
                .map_err(|e| e.to_string())?;
            let last = export::to_syslog(db, after, &mut tls, &host)
                .await
                .map_err(|e| e.to_string())?;
            let _ = tokio::io::AsyncWriteExt::shutdown(&mut tls).await;
            Ok(last)
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map_or_else(|_| "vault".into(), |h| h.trim().to_owned())
}

async fn admin_services(
    config: &Config,
    clock: Arc<SystemClock>,
) -> Result<startup::Services, String> {
    let (db, sealed) = startup::open_vault(config, clock.clone())
        .await
        .map_err(|e| e.to_string())?;
    startup::services(&db, &Arc::new(sealed), clock, config.checkpoint, false)
        .await
        .map_err(|e| e.to_string())
}

async fn serve(config: &Config, clock: Arc<SystemClock>, seed_demo: bool) -> Result<(), String> {
    let app = Application::build(config, clock)
        .await
        .map_err(|e| e.to_string())?;
    if seed_demo {
        for line in demo::seed(app.state(), &config.data_dir).await? {
            say(&format!("vault: {line}"));
        }
        say(&format!(
            "vault: DEMO MODE - software KEK under {}, never use for real patients",
            config.data_dir.display()
        ));
    }
    let addr = app
        .local_addr()
        .map_or_else(|| config.listen.to_string(), |a| a.to_string());
    say(&format!(
        "vault: listening on http://{addr} (health: /healthz, readiness: /readyz, metrics: /metrics)"
    ));
    app.run_until_stopped(startup::shutdown_signal())
        .await
        .map_err(|e| format!("server stopped: {e}"))
}

/// Prints a line for the operator. A closed stdout (a supervisor that went away) must not stop
/// the server, so write errors are ignored here; `println!` would panic.
fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

async fn keys(
    config: &Config,
    clock: Arc<SystemClock>,
    command: KeysCommand,
) -> Result<(), String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    match command {
        KeysCommand::Init => {
            // A blank replacement token must not get an unrelated v1 under an existing database.
            let db = startup::open_database(config).await.map_err(|x| e(&x))?;
            let used = vault::store::keys::kek_versions_in_use(&db)
                .await
                .map_err(|x| e(&x))?;
            let provider = startup::open_provider(config).await.map_err(|x| e(&x))?;
            let p = provider.clone();
            let versions = blocking(move || p.kek_versions())
                .await
                .map_err(|x| e(&x))?;
            if let Some(v) = versions.last() {
                println!("key store already holds KEK {v}; nothing to do");
                return Ok(());
            }
            if let Some(v) = used.first() {
                return Err(format!(
                    "the database has DEKs wrapped by KEK {v}, which this empty key store lacks: restore the token that holds it instead of initialising a new one"
                ));
            }
            let p = provider.clone();
            if blocking(move || p.ensure_audit_key())
                .await
                .map_err(|x| e(&x))?
            {
                println!("created the audit checkpoint key");
            }
            blocking(move || provider.create_kek(KekVersion::FIRST))
                .await
                .map_err(|x| e(&x))?;
            vault::store::keys::record_kek_version(
                &db,
                KekVersion::FIRST,
                vault::clock::Clock::unix_seconds(&*clock),
            )
            .await
            .map_err(|x| e(&x))?;
            println!("created KEK v1");
            Ok(())
        }
        KeysCommand::List => {
            let (db, sealed) = startup::open_vault(config, clock)
                .await
                .map_err(|x| e(&x))?;
            let p = sealed.custody().provider().clone();
            let versions = blocking(move || p.kek_versions())
                .await
                .map_err(|x| e(&x))?;
            let current = sealed.custody().current_kek();
            // Vault-wide keys (the blind-index and staff-secret root) are wrapped like DEKs: a
            // KEK version that still wraps one must not be retired either.
            let vault_keys = vault::store::keys::vault_keys_wrapped_before(
                &db,
                KekVersion::new(u32::MAX).unwrap_or(current),
            )
            .await
            .map_err(|x| e(&x))?;
            for v in versions {
                let up_to = vault::store::keys::count_wrapped_before(&db, v.next()).await;
                let below = vault::store::keys::count_wrapped_before(&db, v).await;
                // Two counts, so a DEK created between them must not underflow the difference.
                let wrapped = up_to
                    .map_err(|x| e(&x))?
                    .saturating_sub(below.map_err(|x| e(&x))?);
                let mark = if v == current { " (current)" } else { "" };
                let p = sealed.custody().provider().clone();
                let protection = blocking(move || p.describe_kek(v))
                    .await
                    .map_err(|x| e(&x))?;
                let vault_wide = vault_keys
                    .iter()
                    .filter(|k| k.wrapped.kek_version == v)
                    .count();
                println!(
                    "KEK {v}{mark}: wraps {wrapped} DEKs and {vault_wide} vault-wide keys; {protection}"
                );
            }
            Ok(())
        }
        KeysCommand::Rotate { batch, resume } => {
            let (db, sealed) = startup::open_vault(config, clock.clone())
                .await
                .map_err(|x| e(&x))?;
            let custody = sealed.custody();
            // Key operations are audited like accesses.
            let p = custody.provider().clone();
            blocking(move || p.ensure_audit_key())
                .await
                .map_err(|x| e(&x))?;
            let (audit, _task) = vault::audit::AuditWriter::start(
                db.clone(),
                custody.provider().clone(),
                clock.clone(),
                config.checkpoint,
            );
            let key_event = |action: &str, reasons: String| vault::store::audit::AuditRow {
                at: vault::clock::Clock::unix_seconds(&*clock),
                request_id: uuid::Uuid::new_v4().to_string(),
                principal: "operator".into(),
                role: "operator".into(),
                branch: None,
                action: action.into(),
                patient_token: None,
                patient_tokens: None,
                purpose: None,
                reason_code: None,
                decision: "success".into(),
                reasons,
                client_addr: None,
            };
            if !resume {
                let new = rotation::create_next_kek(custody, &db, &*clock)
                    .await
                    .map_err(|x| e(&x))?;
                audit
                    .record(vec![key_event("create_kek", format!("kek:{new}"))])
                    .await
                    .map_err(|x| e(&x))?;
                println!("created KEK {new}; rewrapping DEKs under it");
            }
            let current = custody.current_kek();
            let done = rotation::rewrap_all(custody, &db, &*clock, batch, |p| {
                println!("rewrapped {}/{} DEKs under KEK {current}", p.done, p.total);
            })
            .await
            .map_err(|x| {
                format!("{x} (progress is kept: run `vault keys rotate --resume` to continue)")
            })?;
            audit
                .record(vec![key_event(
                    "rewrap_keys",
                    format!("kek:{current}; rewrapped:{}", done.done),
                )])
                .await
                .map_err(|x| e(&x))?;
            println!(
                "rotation complete: {} DEKs rewrapped, all under KEK {current}",
                done.done
            );
            Ok(())
        }
        KeysCommand::Retire { dry_run } => {
            // One line per KEK version older than the current one, then the current one.
            use vault::domain::oversight::utc_date;
            use vault::keys::retirement::{self, Waiting};
            let date = |at: i64| utc_date(at.div_euclid(86_400));
            let days = config.backup_retention.as_secs() / 86_400;
            let (db, sealed) = startup::open_vault(config, clock.clone())
                .await
                .map_err(|x| e(&x))?;
            let custody = sealed.custody();
            let report = if dry_run {
                retirement::plan(custody, &db, &*clock, config.backup_retention).await
            } else {
                // Each destruction is audited right after it, like `keys rotate` does.
                let p = custody.provider().clone();
                blocking(move || p.ensure_audit_key())
                    .await
                    .map_err(|x| e(&x))?;
                let (audit, _task) = vault::audit::AuditWriter::start(
                    db.clone(),
                    custody.provider().clone(),
                    clock.clone(),
                    config.checkpoint,
                );
                let record = async |r: &retirement::RetiredKek| {
                    let reasons = if r.was_absent {
                        format!("kek:{}; already absent from the key store", r.version)
                    } else {
                        format!("kek:{}", r.version)
                    };
                    let event = vault::store::audit::AuditRow {
                        at: vault::clock::Clock::unix_seconds(&*clock),
                        request_id: uuid::Uuid::new_v4().to_string(),
                        principal: "operator".into(),
                        role: "operator".into(),
                        branch: None,
                        action: "retire_kek".into(),
                        patient_token: None,
                        patient_tokens: None,
                        purpose: None,
                        reason_code: None,
                        decision: "success".into(),
                        reasons,
                        client_addr: None,
                    };
                    audit.record(vec![event]).await.map_err(|x| {
                        format!("its audit event was not written ({x}): record it by hand")
                    })
                };
                retirement::retire_due_recording(
                    custody,
                    &db,
                    &*clock,
                    config.backup_retention,
                    record,
                )
                .await
            }
            .map_err(|x| format!("KEK retirement stopped: {x}"))?;
            for (v, at) in &report.already_retired {
                println!("KEK {v}: retired on {}", date(*at));
            }
            for r in &report.retired {
                let v = r.version;
                match (dry_run, r.was_absent) {
                    (true, false) => println!(
                        "KEK {v}: due, would be destroyed (backup_retention_days = {days} passed since its rewrap)"
                    ),
                    (true, true) => {
                        println!(
                            "KEK {v}: already gone from the key store, would be recorded as retired"
                        )
                    }
                    (false, false) => println!("KEK {v}: retired, destroyed in the key store"),
                    (false, true) => println!(
                        "KEK {v}: retired (it was already gone from the key store; recorded now)"
                    ),
                }
            }
            for w in &report.waiting {
                let v = w.version;
                match w.reason {
                    Waiting::Retention {
                        rewrapped_at,
                        due_at,
                    } => println!(
                        "KEK {v}: not due until {} (UTC): rewrap finished {}, backup_retention_days = {days}",
                        date(due_at),
                        date(rewrapped_at)
                    ),
                    Waiting::StillWraps(n) => println!(
                        "KEK {v}: kept, still wraps {} DEKs and {} vault-wide keys: finish the rewrap with `vault keys rotate --resume`",
                        n.deks, n.vault_keys
                    ),
                }
            }
            println!("KEK {}: current, kept", report.current);
            if dry_run {
                println!("dry run: nothing was changed");
                return Ok(());
            }
            if report.retired.is_empty() {
                println!("nothing retired");
                return Ok(());
            }
            let retired: Vec<String> = report
                .retired
                .iter()
                .map(|r| r.version.to_string())
                .collect();
            println!(
                "retired KEK {}: also destroy it in the token's backups and replicas, and record the destruction in the key-document register",
                retired.join(", ")
            );
            Ok(())
        }
    }
}

/// `vault retention run`: one pass of the retention job, with the audit writer running.
async fn retention_run(
    config: &Config,
    clock: Arc<SystemClock>,
    operator: String,
) -> Result<(), String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let (db, sealed) = startup::open_vault(config, clock.clone())
        .await
        .map_err(|x| e(&x))?;
    // Acts are signed, and destructions audited, with the audit key.
    let p = sealed.custody().provider().clone();
    blocking(move || p.ensure_audit_key())
        .await
        .map_err(|x| e(&x))?;
    let (audit, _task) = vault::audit::AuditWriter::start(
        db.clone(),
        sealed.custody().provider().clone(),
        clock.clone(),
        config.checkpoint,
    );
    let issuer = vault::domain::rights::ActIssuer {
        operator,
        system: vault::domain::rights::SYSTEM_NAME.into(),
    };
    let performed_by = std::env::var("USER").unwrap_or_else(|_| "operator".into());
    let report = vault::domain::rights::retention::run(
        &sealed,
        &audit,
        &*clock,
        &issuer,
        &format!("retention job started by {performed_by}"),
    )
    .await
    .map_err(|x| format!("{x} (nothing half-done: run `vault retention run` again to continue)"))?;
    for (patient, act) in &report.destroyed {
        say(&format!("destroyed patient {patient}: act {act}"));
    }
    for patient in &report.held {
        say(&format!(
            "held: patient {patient} is under a legal hold or an open incident"
        ));
    }
    for a in &report.overdue_alerts {
        say(&format!("ALERT: {}", a.details));
    }
    say(&format!(
        "retention run: {} destroyed, {} held, {} still under retention, {} overdue requests alerted",
        report.destroyed.len(),
        report.held.len(),
        report.waiting.len(),
        report.overdue_alerts.len()
    ));
    Ok(())
}
