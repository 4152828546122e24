//! Load benchmark of clinic-app (issue 5, "Performance"), run by `scripts/clinicbench.sh`.
//!
//! Starts a demo vault and clinic-app in this process, both on fresh PostgreSQL databases
//! (`synchronous_commit` as the server has it), on real HTTP over loopback, seeds them, vacuums
//! both (as autovacuum would have long since for a day booked days before, and as pgbench does
//! before it measures; `CLINICBENCH_VACUUM=0` skips it), and measures:
//!
//! 1. **Day view**: a branch day of 300 appointments (15 doctors x 20 slots), fetched with names
//!    (one `POST /v1/resolve` of 300 tokens, purpose `scheduling`, audited by the vault) and with
//!    names withheld (`names=false`, no vault call), in interleaved rounds from the same number
//!    of keep-alive connections. Goal: p99 with names < 3x p99 withheld, same run.
//! 2. **Self-booking race**: 1,000 patients of the app, each with a session, try to book at
//!    once, 10 per slot on 100 slots. Goal: exactly 100 bookings, every other answer a 409.
//!
//! Prints a table and `key=value` lines; exits 1 if any request fails unexpectedly or the race
//! books other than 100 (a missed latency goal is reported, not an error).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use clinic_app::domain::auth::{Role, StaffPrincipal};
use clinic_app::domain::directory::{NewRoom, NewTemplate};
use clinic_app::store::Backend;
use reqwest::StatusCode;
use serde_json::json;
use support::*;

/// This process hosts the vault and clinic-app under test: the same allocator as their
/// binaries (mimalloc, ADR 0018).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Nearest-rank percentile of sorted samples (microseconds).
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Adds `doctors` doctors, each with a room and a 15-minute Monday-to-Saturday template from
/// 09:00 for `slots` slots. Returns their clinic staff ids.
async fn add_doctors(app: &TestApp, doctors: usize, slots: i64, prefix: &str) -> Vec<String> {
    let admin = StaffPrincipal {
        staff_id: "bench-admin".into(),
        role: Role::Administrator,
        branch_id: None,
    };
    let clinic = &app.state.clinic;
    let mut ids = Vec::new();
    for d in 0..doctors {
        let (vault_id, _) = app
            .vault
            .state
            .auth
            .add_staff(
                &format!("{prefix}{d}.vault"),
                PASSWORD,
                policy::Role::Doctor,
                "msk-1",
            )
            .await
            .unwrap();
        let id = app
            .state
            .auth
            .add_staff(
                &format!("{prefix}{d}"),
                &format!("Доктор {prefix}{d}"),
                Role::Doctor,
                Some("msk-1"),
                None,
                Some(&vault_id),
                None,
            )
            .await
            .unwrap();
        let room = clinic
            .add_room(
                &admin,
                None,
                NewRoom {
                    branch_id: "msk-1".into(),
                    name: format!("{prefix}-{d}"),
                },
            )
            .await
            .unwrap();
        let end = 9 * 60 + slots * 15;
        for weekday in 1..=6 {
            clinic
                .add_template(
                    &admin,
                    NewTemplate {
                        doctor_id: id.clone(),
                        room_id: room.clone(),
                        weekday,
                        start: "09:00".into(),
                        end: format!("{:02}:{:02}", end / 60, end % 60),
                        slot_minutes: 15,
                        valid_from: "2026-01-01".into(),
                        valid_until: None,
                    },
                )
                .await
                .unwrap();
        }
        ids.push(id);
    }
    ids
}

/// Registers `n` patients through clinic-app (the vault seals them), 16 at a time (seeding is
/// not what is measured); returns their tokens.
async fn register_many(app: &Arc<TestApp>, n: usize, offset: usize) -> Vec<String> {
    let turns = Arc::new(tokio::sync::Semaphore::new(16));
    let mut tasks = Vec::new();
    for i in 0..n {
        let app = app.clone();
        let turns = turns.clone();
        tasks.push(tokio::spawn(async move {
            let _turn = turns.acquire().await.unwrap();
            let phone = format!("+7917{:07}", offset + i);
            app.register("Нагрузкина", "Вера", &phone, "112-233-445 95")
                .await
        }));
    }
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await.unwrap());
    }
    tokens
}

/// `connections` workers each send `path` in a loop for `warmup` (uncounted) then `duration`;
/// returns the counted latencies in microseconds. Any non-200 answer fails the run.
async fn measure(
    app: &Arc<TestApp>,
    path: &str,
    connections: usize,
    warmup: Duration,
    duration: Duration,
) -> Vec<u64> {
    let start = Instant::now();
    let counted_from = start + warmup;
    let stop = counted_from + duration;
    let mut workers = Vec::new();
    for _ in 0..connections {
        let app = app.clone();
        let url = format!("{}{path}", app.base);
        workers.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap();
            let mut samples = Vec::new();
            while Instant::now() < stop {
                let sent = Instant::now();
                let r = client
                    .get(&url)
                    .bearer_auth(&app.reception)
                    .send()
                    .await
                    .unwrap();
                let status = r.status();
                let body = r.bytes().await.unwrap();
                assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
                if sent >= counted_from {
                    samples.push(u64::try_from(sent.elapsed().as_micros()).unwrap());
                }
            }
            samples
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    all
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let connections: usize = env_or("CLINICBENCH_CONNECTIONS", 4);
    let rounds: usize = env_or("CLINICBENCH_ROUNDS", 4);
    let seconds: u64 = env_or("CLINICBENCH_DURATION", 5);
    let warmup = Duration::from_secs(env_or("CLINICBENCH_WARMUP", 1));
    let racers: usize = env_or("CLINICBENCH_RACERS", 1000);
    let vacuum = env_or("CLINICBENCH_VACUUM", 1) != 0;

    let app = Arc::new(TestApp::spawn_with(Backend::Postgres, true).await);
    println!("clinicbench: vault and clinic-app up on PostgreSQL; seeding");

    // 1. A day of 300 appointments: 15 doctors x 20 fifteen-minute slots on Monday.
    let doctors = add_doctors(&app, 15, 20, "dv").await;
    let tokens = register_many(&app, 300, 0).await;
    for (i, token) in tokens.iter().enumerate() {
        let doctor = &doctors[i % 15];
        let slot = i64::try_from(i / 15).unwrap();
        let (status, body) = app
            .post(
                &app.reception,
                "/v1/appointments",
                json!({
                    "doctor_id": doctor, "service_code": "A09.05.003",
                    "starts_at": msk(0, 9, 15 * slot), "patient_token": token
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (_, view) = app
        .get(
            &app.reception,
            "/v1/schedule/day?branch_id=msk-1&day=2026-11-30",
        )
        .await;
    let shown = view["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["patient_name"].is_string())
        .count();
    assert_eq!(shown, 300, "every name resolved: {}", view["names"]);
    // A day's patients were registered and booked days before it, and autovacuum has visited
    // their rows since: the bench measures that steady state, as pgbench does, by vacuuming
    // both databases after seeding (CLINICBENCH_VACUUM=0 measures rows fresh from seeding).
    if vacuum {
        for url in [app.vault.database_url.as_deref(), Some(app.db.url.as_str())]
            .into_iter()
            .flatten()
        {
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url)
                .await
                .unwrap();
            sqlx::raw_sql("VACUUM (ANALYZE)")
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }
    println!(
        "clinicbench: 300 appointments booked{}; measuring the day view ({rounds} rounds x {seconds} s per load, {connections} connections)",
        if vacuum {
            ", both databases vacuumed"
        } else {
            ""
        }
    );

    let with_names = "/v1/schedule/day?branch_id=msk-1&day=2026-11-30";
    let withheld = "/v1/schedule/day?branch_id=msk-1&day=2026-11-30&names=false";
    let (mut named, mut bare) = (Vec::new(), Vec::new());
    let calls_before = app.vault_resolve_calls().await;
    // The two loads take turns in the order ABBA (named first in even rounds, withheld first in
    // odd ones): on this machine kind a slice's rate alternates fast and slow from one slice to
    // the next, and a fixed order would give one load every fast slice.
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for names in order {
            let (path, samples) = if names {
                (with_names, &mut named)
            } else {
                (withheld, &mut bare)
            };
            samples.extend(
                measure(
                    &app,
                    path,
                    connections,
                    warmup,
                    Duration::from_secs(seconds),
                )
                .await,
            );
        }
    }
    let resolve_calls = app.vault_resolve_calls().await - calls_before;
    named.sort_unstable();
    bare.sort_unstable();
    let total_seconds = (rounds as f64) * (seconds as f64);
    let row = |name: &str, s: &[u64]| {
        println!(
            "| {name} | {:.0} | {:.2} ms | {:.2} ms | {:.2} ms |",
            s.len() as f64 / total_seconds,
            percentile(s, 0.5) as f64 / 1000.0,
            percentile(s, 0.99) as f64 / 1000.0,
            s.last().copied().unwrap_or(0) as f64 / 1000.0
        );
    };
    println!("| load | req/s | p50 | p99 | max |\n|---|---|---|---|---|");
    row("day view, 300 appointments, names from the vault", &named);
    row("day view, 300 appointments, names withheld", &bare);
    let ratio = percentile(&named, 0.99) as f64 / percentile(&bare, 0.99) as f64;
    // Every named view made exactly one vault call (warm-up views included).
    println!("vault resolve calls during the named loads: {resolve_calls}");
    println!(
        "day view p99 with names / withheld = {ratio:.2}x (goal < 3x: {})",
        if ratio < 3.0 { "met" } else { "MISSED" }
    );

    // 2. 1,000 self-bookings on 100 slots: 5 doctors x 20 slots on Tuesday.
    let race_doctors = add_doctors(&app, 5, 20, "rc").await;
    let racer_tokens = register_many(&app, racers, 100_000).await;
    let mut sessions = Vec::new();
    for token in &racer_tokens {
        sessions.push(app.patient_session(token).await);
    }
    println!("clinicbench: {racers} patients signed in; racing for 100 slots");
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, session) in sessions.into_iter().enumerate() {
        let client = client.clone();
        let url = format!("{}/v1/appointments", app.base);
        let doctor = race_doctors[i % 5].clone();
        let slot = i64::try_from((i / 5) % 20).unwrap();
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .bearer_auth(session)
                .json(&json!({"doctor_id": doctor, "service_code": "A09.05.003", "starts_at": msk(1, 9, 15 * slot)}))
                .send()
                .await
                .unwrap();
            let status = r.status();
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            (status, body["code"].as_str().unwrap_or_default().to_owned())
        }));
    }
    let (mut booked, mut conflicts, mut other) = (0, 0, Vec::new());
    for t in tasks {
        match t.await.unwrap() {
            (StatusCode::CREATED, _) => booked += 1,
            (StatusCode::CONFLICT, code) if code == "slot_taken" => conflicts += 1,
            (status, code) => other.push(format!("{status} {code}")),
        }
    }
    let race_seconds = started.elapsed().as_secs_f64();
    println!(
        "self-booking race: {racers} attempts on 100 slots in {race_seconds:.2} s: {booked} booked, {conflicts} conflicts (slot_taken), {} other",
        other.len()
    );
    let stored = app
        .count("appointments WHERE holds_slot AND starts_at >= 1796072400")
        .await;
    println!("appointments held on Tuesday in the database: {stored}");
    println!(
        "summary: day_view_p99_ratio={ratio:.3} named_p99_us={} withheld_p99_us={} resolve_calls={resolve_calls} race_booked={booked} race_conflicts={conflicts} race_other={} race_seconds={race_seconds:.2}",
        percentile(&named, 0.99),
        percentile(&bare, 0.99),
        other.len()
    );
    let mut databases = vec![app.db.url.clone()];
    databases.extend(app.vault.database_url.clone());
    app.state.clinic.db.close().await;
    drop_postgres(&databases).await;
    if booked != 100 || stored != 100 || !other.is_empty() {
        eprintln!(
            "clinicbench: FAILED: the race must book exactly 100 with only conflicts otherwise; other answers: {other:?}"
        );
        std::process::exit(1);
    }
}
