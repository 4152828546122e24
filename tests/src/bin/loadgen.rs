//! Load generator for `scripts/loadbench.sh` (issue 3, "Performance").
//!
//! Against a running vault and a running OpenBao dev server, both on 127.0.0.1, it seeds the
//! vault through its HTTP API, then puts four loads on them, each from a fixed number of
//! keep-alive connections (one per worker):
//!
//! 1. OpenBao `POST /v1/transit/decrypt/<key>` of a 4 KiB plaintext (file audit device on);
//! 2. the vault's audited unseal of a 4 KiB record, `GET /v1/patients/{token}/records/{id}`, by
//!    a doctor with a care relationship (policy decision, audit row commit, decrypt);
//! 3. `POST /v1/resolve` of 1 token x 2 fields, and of 100 tokens x 2 fields.
//!
//! The loads take turns in rounds (a slice of each per round, each slice after an uncounted
//! warm-up), so that other work on a shared machine falls on all of them alike; latencies are
//! pooled per load. It prints requests/s, p50 and p99 of each and the ratios the issue sets as
//! goals, and writes them as `key=value` lines to `--summary`.
//!
//! With `--vault-stub`, the audited unseal is also measured against the same unseal on a vault
//! whose audit writer is stubbed out (issue 4): as a fifth load in the rounds, and, with
//! `--audit-pairs N`, in N pairs of 1 s slices of the two taking turns ABBA after the rounds.
//! The pairs are the measure of the audit's share: this machine kind's speed swings from one
//! slice of seconds to the next, and short slices taking turns put both loads on both sides of
//! every swing.
//!
//! The loads go out on hyper's connection-level HTTP/1.1 client, one connection per worker and
//! each request made ready before the load, as a lean tool like `wrk` would; set-up calls use
//! reqwest. The generator shares the cores with what it measures, so what it costs per request
//! moves both sides' rates (docs/benchmarks.md, session 15).
//!
//! Any non-2xx answer or transport error stops it with exit code 1; a missed goal is reported,
//! not an error.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use reqwest::{Client, Method};
use serde_json::{Value, json};

/// The load generator shares the two cores with what it measures; the services' allocator
/// (mimalloc, ADR 0018) keeps its own share small too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "loadgen",
    about = "Load benchmark of the vault against OpenBao transit (scripts/loadbench.sh)"
)]
struct Args {
    /// Base URL of the vault; must be http://127.0.0.1:<port>.
    #[arg(long)]
    vault: String,
    /// Base URL of the OpenBao dev server; must be http://127.0.0.1:<port>.
    #[arg(long)]
    bao: String,
    /// Base URL of a second vault on the same database with its audit writer stubbed out: its
    /// unseal joins the rounds as a fifth load, the baseline for the audit's cost.
    #[arg(long)]
    vault_stub: Option<String>,
    /// OpenBao token with rights to mount transit (the dev root token).
    #[arg(long, env = "LOADGEN_BAO_TOKEN", hide_env_values = true)]
    bao_token: String,
    /// Credential of the clinic-app consumer domain (`svc.clinic-app.<hex>`).
    #[arg(long, env = "LOADGEN_CLINIC_CREDENTIAL", hide_env_values = true)]
    clinic: String,
    /// Username of the doctor who unseals.
    #[arg(long, default_value = "dr.bench")]
    doctor: String,
    /// The doctor's staff id (printed by `vault staff add`).
    #[arg(long, env = "LOADGEN_DOCTOR_STAFF_ID")]
    doctor_id: String,
    #[arg(long, env = "LOADGEN_DOCTOR_PASSWORD", hide_env_values = true)]
    doctor_password: String,
    /// The doctor's TOTP seed in base32 (the `secret=` of the otpauth URI).
    #[arg(long, env = "LOADGEN_DOCTOR_TOTP_SECRET", hide_env_values = true)]
    totp_secret: String,
    /// Concurrent connections (one worker each, keep-alive).
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Seconds of load before each measured slice (not counted).
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Seconds measured per load in all, split into `rounds` slices.
    #[arg(long, default_value_t = 15)]
    duration: u64,
    /// Rounds: the loads take turns, one slice each per round.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Patients seeded (each gets a care relationship and one record).
    #[arg(long, default_value_t = 200)]
    patients: usize,
    /// Characters of the record text (ASCII, so also its bytes).
    #[arg(long, default_value_t = 4096)]
    record_chars: usize,
    /// Tokens in the batched resolve.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Also run each load on a single connection (latency without queueing; not a goal).
    #[arg(long)]
    single_connection_too: bool,
    /// Pairs of 1 s slices (each after 0.5 s of uncounted warm-up) of the audited and the
    /// stubbed unseal, taking turns ABBA after the rounds; needs `--vault-stub`.
    #[arg(long, default_value_t = 0)]
    audit_pairs: usize,
    /// Where to write the results as key=value lines.
    #[arg(long)]
    summary: Option<PathBuf>,
}

type Failure = String;

/// Only loopback targets: this tool puts real load on what it points at.
fn loopback(url: &str) -> Result<String, Failure> {
    let url = url.trim_end_matches('/');
    let rest = url
        .strip_prefix("http://127.0.0.1:")
        .ok_or_else(|| format!("{url}: only http://127.0.0.1:<port> targets are allowed"))?;
    rest.parse::<u16>()
        .map_err(|_| format!("{url}: expected http://127.0.0.1:<port> with nothing after it"))?;
    Ok(url.to_owned())
}

/// One client per worker with at most one idle connection: `connections` workers hold exactly
/// `connections` keep-alive connections.
fn client() -> Result<Client, Failure> {
    Client::builder()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| format!("http client: {e}"))
}

async fn call(
    http: &Client,
    method: Method,
    url: &str,
    bearer: Option<(&str, &str)>,
    body: Option<&Value>,
) -> Result<(u16, Value), Failure> {
    let mut req = http.request(method.clone(), url);
    if let Some((header, value)) = bearer {
        req = req.header(header, value);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| format!("{method} {url}: {e}"))?;
    let status = resp.status().as_u16();
    let text = resp
        .text()
        .await
        .map_err(|e| format!("{method} {url}: reading the answer: {e}"))?;
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok((status, v))
}

/// `call` that insists on a 2xx answer.
async fn ok(
    http: &Client,
    method: Method,
    url: &str,
    bearer: Option<(&str, &str)>,
    body: Option<&Value>,
) -> Result<Value, Failure> {
    let (status, v) = call(http, method.clone(), url, bearer, body).await?;
    if !(200..300).contains(&status) {
        let shown: String = v.to_string().chars().take(300).collect();
        return Err(format!("{method} {url}: {status} {shown}"));
    }
    Ok(v)
}

fn auth(bearer: &str) -> String {
    format!("Bearer {bearer}")
}

fn unix_now() -> Result<u64, Failure> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|_| "the clock is before 1970".to_owned())
}

fn totp_now(seed_base32: &str) -> Result<String, Failure> {
    let secret = totp_rs::Secret::try_from_base32(seed_base32)
        .map_err(|_| "the TOTP seed is not base32".to_owned())?;
    let totp = totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_secret(secret.as_bytes().to_vec())
        .build()
        .map_err(|e| format!("TOTP: {e}"))?;
    Ok(totp.generate(unix_now()?).to_string())
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Runs `f(i)` for i in 0..count on `workers` tasks.
async fn parallel<F, Fut, T>(workers: usize, count: usize, f: F) -> Result<Vec<T>, Failure>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<T, Failure>> + Send,
    T: Send + 'static,
{
    let f = Arc::new(f);
    let next = Arc::new(AtomicUsize::new(0));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..workers.max(1) {
        let (f, next) = (f.clone(), next.clone());
        set.spawn(async move {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return Ok::<_, Failure>(done);
                }
                done.push((i, f(i).await?));
            }
        });
    }
    let mut all = Vec::with_capacity(count);
    while let Some(r) = set.join_next().await {
        all.extend(r.map_err(|e| format!("worker: {e}"))??);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, t)| t).collect())
}

/// One request of a load run: method, URL, header, body; the answer must be 2xx and at least
/// `min_body` bytes long.
#[derive(Clone)]
struct Shot {
    method: Method,
    /// `http://127.0.0.1:<port>/<path>`, as `loopback` allows.
    url: String,
    header: (&'static str, String),
    body: Option<Bytes>,
}

/// A shot made ready for the wire once, before the load: sending it clones only reference-counted
/// parts.
struct Wire {
    method: Method,
    path: Uri,
    headers: HeaderMap,
    body: Bytes,
}

impl Shot {
    /// `127.0.0.1:<port>` of the URL.
    fn addr(&self) -> Result<&str, Failure> {
        self.url
            .strip_prefix("http://")
            .and_then(|rest| rest.split('/').next())
            .ok_or_else(|| format!("{}: not an http:// URL", self.url))
    }

    fn wire(&self) -> Result<Wire, Failure> {
        let bad = |what: &str| format!("{}: {what} is not valid in a request", self.url);
        let addr = self.addr()?;
        let path = self.url["http://".len() + addr.len()..]
            .parse::<Uri>()
            .map_err(|_| bad("the path"))?;
        let mut headers = HeaderMap::new();
        headers.insert(
            header::HOST,
            HeaderValue::from_str(addr).map_err(|_| bad("the host"))?,
        );
        headers.insert(
            HeaderName::from_static(self.header.0),
            HeaderValue::from_str(&self.header.1).map_err(|_| bad("the header"))?,
        );
        if self.body.is_some() {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        Ok(Wire {
            method: self.method.clone(),
            path,
            headers,
            body: self.body.clone().unwrap_or_default(),
        })
    }
}

impl Wire {
    fn request(&self) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(self.body.clone()));
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.path.clone();
        *req.headers_mut() = self.headers.clone();
        req
    }
}

/// One keep-alive HTTP/1.1 connection on hyper's connection-level client. The load runs use
/// it instead of reqwest's pooled client: with no pool, URL parsing or middleware per request,
/// the generator takes less of the cores it shares with what it measures (as `wrk` would), and
/// it takes the same for OpenBao as for the vault. Set-up calls keep using reqwest.
async fn connect(addr: &str) -> Result<http1::SendRequest<Full<Bytes>>, Failure> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connecting to {addr}: {e}"))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("{addr}: TCP_NODELAY: {e}"))?;
    let (send, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("{addr}: HTTP/1.1 handshake: {e}"))?;
    // The connection's own errors also fail the next request sent on it, which reports them.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(send)
}

/// Sends one request and reads the whole answer: its status and body.
async fn send(
    conn: &mut http1::SendRequest<Full<Bytes>>,
    wire: &Wire,
) -> Result<(StatusCode, Bytes), String> {
    let exchange = async {
        conn.ready().await.map_err(|e| e.to_string())?;
        let resp = conn
            .send_request(wire.request())
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        Ok((status, body))
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .map_err(|_| "no answer within 10 s".to_owned())?
}

struct Stats {
    name: String,
    requests: usize,
    seconds: f64,
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
}

impl Stats {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `connections` workers, each on its own keep-alive connection, send `shots` round-robin
/// (worker w starts at shot w) for `warmup` uncounted, then `duration` counted. Returns the
/// latencies (microseconds) of the requests started in the counted window; any failed request
/// fails the whole run.
async fn measure(
    name: &str,
    connections: usize,
    warmup: Duration,
    duration: Duration,
    shots: Arc<Vec<Shot>>,
    min_body: usize,
) -> Result<Vec<u64>, Failure> {
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let wires: Arc<Vec<Wire>> = Arc::new(shots.iter().map(Shot::wire).collect::<Result<_, _>>()?);
    // Every shot of a load goes to the same service, so every worker connects to the first's.
    let addr = shots
        .first()
        .ok_or_else(|| format!("{name}: no requests to send"))?
        .addr()?
        .to_owned();
    let mut set = tokio::task::JoinSet::new();
    for w in 0..connections {
        let (shots, wires) = (shots.clone(), wires.clone());
        let mut conn = connect(&addr).await?;
        set.spawn(async move {
            let mut lat = Vec::with_capacity(1 << 16);
            let mut errors: Vec<String> = Vec::new();
            let mut i = w;
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let k = i % shots.len();
                i += 1;
                let outcome = match send(&mut conn, &wires[k]).await {
                    Ok((status, b)) if status.is_success() && b.len() >= min_body => Ok(()),
                    Ok((status, b)) => Err(format!(
                        "{} {}: {} ({} bytes) {}",
                        shots[k].method,
                        shots[k].url,
                        status,
                        b.len(),
                        String::from_utf8_lossy(&b[..b.len().min(200)])
                    )),
                    Err(e) => Err(format!("{} {}: {e}", shots[k].method, shots[k].url)),
                };
                let micros = u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX);
                match outcome {
                    Ok(()) if t0 >= measure_from => lat.push(micros),
                    Ok(()) => {}
                    Err(e) => {
                        errors.push(e);
                        // Errors are fatal for the run; stop this worker instead of spinning.
                        break;
                    }
                }
            }
            (lat, errors)
        });
    }
    let mut lat = Vec::new();
    let mut errors = Vec::new();
    while let Some(r) = set.join_next().await {
        let (l, e) = r.map_err(|e| format!("load worker: {e}"))?;
        lat.extend(l);
        errors.extend(e);
    }
    if let Some(first) = errors.first() {
        return Err(format!(
            "{name}: {} failed requests (must be 0); first: {first}",
            errors.len()
        ));
    }
    if lat.is_empty() {
        return Err(format!(
            "{name}: no request completed in the measured window"
        ));
    }
    Ok(lat)
}

fn summarise(name: &str, mut lat: Vec<u64>, seconds: f64) -> Stats {
    lat.sort_unstable();
    let stats = Stats {
        name: name.to_owned(),
        requests: lat.len(),
        seconds,
        p50_us: percentile(&lat, 0.50),
        p99_us: percentile(&lat, 0.99),
        max_us: lat.last().copied().unwrap_or(0),
    };
    println!(
        "{:<44} {:>9.1} req/s  p50 {:>8.2} ms  p99 {:>8.2} ms  max {:>8.2} ms  n={}",
        stats.name,
        stats.rps(),
        stats.p50_us as f64 / 1000.0,
        stats.p99_us as f64 / 1000.0,
        stats.max_us as f64 / 1000.0,
        stats.requests,
    );
    stats
}

/// The sealed body of the record, as the vault stores it (`RecordBody` serialised) and as
/// OpenBao is given it: `{"kind":"visit_note","text":"<record_chars ASCII characters>"}`.
fn record_text(chars: usize) -> String {
    const LINE: &str = "Complaints of a dry cough for three days, no fever; lungs clear on auscultation; advised rest and fluids. ";
    let mut text: String = LINE.chars().cycle().take(chars.saturating_sub(1)).collect();
    text.push('.');
    text
}

struct Vault {
    base: String,
    clinic_tokens: Vec<String>,
    /// (doctor's patient token, record id)
    records: Vec<(String, String)>,
    session: String,
}

async fn seed_vault(a: &Args, base: &str, text: &str) -> Result<Vault, Failure> {
    let http = client()?;
    let clinic = auth(&a.clinic);
    let ready = ok(&http, Method::GET, &format!("{base}/readyz"), None, None).await?;
    println!("vault {base}/readyz: {ready}");

    let login = json!({"username": a.doctor, "password": a.doctor_password, "totp": totp_now(&a.totp_secret)?});
    let v = ok(
        &http,
        Method::POST,
        &format!("{base}/v1/login"),
        None,
        Some(&login),
    )
    .await?;
    let session = v["session"]
        .as_str()
        .ok_or("login answered no session")?
        .to_owned();
    let doctor_id = a.doctor_id.clone();

    let t = Instant::now();
    let (b, c) = (Arc::new(base.to_owned()), Arc::new(clinic.clone()));
    let clinic_tokens = parallel(8, a.patients, move |i| {
        let (b, c) = (b.clone(), c.clone());
        async move {
            let http = client()?;
            let identity = json!({
                "surname": "Нагрузкина", "name": "Тестина", "patronymic": "Бенчевна",
                "birth_date": format!("19{:02}-0{}-1{}", 40 + i % 60, 1 + i % 9, i % 10),
                "sex": if i % 2 == 0 { "female" } else { "male" },
                "phones": [format!("+7913555{:04}", i)],
            });
            let v = ok(
                &http,
                Method::POST,
                &format!("{b}/v1/patients"),
                Some(("authorization", &c)),
                Some(&json!({"identity": identity})),
            )
            .await?;
            v["token"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("register answered no token: {v}"))
        }
    })
    .await?;
    println!(
        "seeded {} patients in {:.1} s",
        clinic_tokens.len(),
        t.elapsed().as_secs_f64()
    );

    let now = i64::try_from(unix_now()?).map_err(|_| "clock")?;
    let (b, c, d) = (
        Arc::new(base.to_owned()),
        Arc::new(clinic.clone()),
        Arc::new(doctor_id),
    );
    let tokens = Arc::new(clinic_tokens.clone());
    parallel(8, clinic_tokens.len(), move |i| {
        let (b, c, d, tokens) = (b.clone(), c.clone(), d.clone(), tokens.clone());
        async move {
            let http = client()?;
            let body = json!({"doctor_staff_id": *d, "patient": tokens[i], "from": now - 60, "until": now + 3 * 3600});
            ok(
                &http,
                Method::PUT,
                &format!("{b}/v1/care-relationships"),
                Some(("authorization", &c)),
                Some(&body),
            )
            .await
            .map(|_| ())
        }
    })
    .await?;

    let bearer = auth(&session);
    let v = ok(
        &http,
        Method::GET,
        &format!("{base}/v1/me/patients"),
        Some(("authorization", &bearer)),
        None,
    )
    .await?;
    let mine: Vec<String> = v["tokens"]
        .as_array()
        .ok_or_else(|| format!("/v1/me/patients: {v}"))?
        .iter()
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect();
    if mine.len() != clinic_tokens.len() {
        return Err(format!(
            "the doctor has {} patients in care, expected {}",
            mine.len(),
            clinic_tokens.len()
        ));
    }

    let (b, s) = (Arc::new(base.to_owned()), Arc::new(bearer.clone()));
    let note =
        Arc::new(json!({"kind": "visit_note", "body": {"kind": "visit_note", "text": text}}));
    let mine = Arc::new(mine);
    let records = parallel(8, mine.len(), move |i| {
        let (b, s, note, mine) = (b.clone(), s.clone(), note.clone(), mine.clone());
        async move {
            let http = client()?;
            let v = ok(
                &http,
                Method::POST,
                &format!("{b}/v1/patients/{}/records", mine[i]),
                Some(("authorization", &s)),
                Some(&note),
            )
            .await?;
            let id = v["record_id"]
                .as_str()
                .ok_or_else(|| format!("create record answered no id: {v}"))?;
            Ok((mine[i].clone(), id.to_owned()))
        }
    })
    .await?;
    println!(
        "seeded {} records of {} characters; set-up took {:.1} s",
        records.len(),
        text.len(),
        t.elapsed().as_secs_f64()
    );

    // One read back, checked in full.
    let (tok, rid) = &records[0];
    let v = ok(
        &http,
        Method::GET,
        &format!("{base}/v1/patients/{tok}/records/{rid}"),
        Some(("authorization", &bearer)),
        None,
    )
    .await?;
    if v["body"]["text"].as_str() != Some(text) {
        return Err("the record read back differs from the one written".into());
    }
    Ok(Vault {
        base: base.to_owned(),
        clinic_tokens,
        records,
        session,
    })
}

/// Mounts transit, creates a key, encrypts `plaintext` once; returns the ciphertext.
async fn setup_bao(base: &str, token: &str, plaintext: &[u8]) -> Result<String, Failure> {
    let http = client()?;
    let h = Some(("x-vault-token", token));
    let health = ok(
        &http,
        Method::GET,
        &format!("{base}/v1/sys/health"),
        None,
        None,
    )
    .await?;
    println!(
        "openbao {base}: version {}, sealed {}",
        health["version"], health["sealed"]
    );
    let audit = ok(&http, Method::GET, &format!("{base}/v1/sys/audit"), h, None).await?;
    let devices: Vec<String> = audit["data"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(path, d)| format!("{path} type={} {}", d["type"], d["options"]))
                .collect()
        })
        .unwrap_or_default();
    if !devices.iter().any(|d| d.contains("type=\"file\"")) {
        return Err(format!("OpenBao has no file audit device enabled: {audit}"));
    }
    println!("openbao audit devices: {}", devices.join("; "));
    ok(
        &http,
        Method::POST,
        &format!("{base}/v1/sys/mounts/transit"),
        h,
        Some(&json!({"type": "transit"})),
    )
    .await?;
    ok(
        &http,
        Method::POST,
        &format!("{base}/v1/transit/keys/bench"),
        h,
        Some(&json!({"type": "aes256-gcm96"})),
    )
    .await?;
    let v = ok(
        &http,
        Method::POST,
        &format!("{base}/v1/transit/encrypt/bench"),
        h,
        Some(&json!({"plaintext": base64(plaintext)})),
    )
    .await?;
    let ct = v["data"]["ciphertext"]
        .as_str()
        .ok_or_else(|| format!("transit encrypt answered no ciphertext: {v}"))?
        .to_owned();
    let v = ok(
        &http,
        Method::POST,
        &format!("{base}/v1/transit/decrypt/bench"),
        h,
        Some(&json!({"ciphertext": ct})),
    )
    .await?;
    if v["data"]["plaintext"].as_str() != Some(base64(plaintext).as_str()) {
        return Err("transit decrypt does not give back the plaintext".into());
    }
    Ok(ct)
}

/// A counter or gauge from the vault's `/metrics` (OpenMetrics text).
async fn metric(base: &str, name: &str) -> Result<f64, Failure> {
    let http = client()?;
    let resp = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .map_err(|e| format!("{base}/metrics: {e}"))?;
    let text = resp
        .text()
        .await
        .map_err(|e| format!("{base}/metrics: {e}"))?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix(name)
                .filter(|rest| rest.starts_with(' '))
                .and_then(|rest| rest.trim().parse().ok())
        })
        .ok_or_else(|| format!("{base}/metrics has no {name}"))
}

fn json_shot(method: Method, url: String, header: (&'static str, String), body: &Value) -> Shot {
    Shot {
        method,
        url,
        header,
        body: Some(Bytes::from(body.to_string())),
    }
}

async fn run(a: Args) -> Result<(), Failure> {
    let vault_base = loopback(&a.vault)?;
    let bao_base = loopback(&a.bao)?;
    if a.connections == 0 || a.duration == 0 {
        return Err("--connections and --duration must be at least 1".into());
    }
    if a.batch > a.patients {
        return Err("--batch needs at least as many --patients".into());
    }
    let warmup = Duration::from_secs(a.warmup);
    let duration = Duration::from_secs(a.duration);
    let text = record_text(a.record_chars);
    let sealed_body = json!({"kind": "visit_note", "text": text}).to_string();

    // Set-up of both before any load, so the runs follow each other closely.
    let ct = setup_bao(&bao_base, &a.bao_token, sealed_body.as_bytes()).await?;
    let vault = seed_vault(&a, &vault_base, &text).await?;
    println!(
        "plaintext per request: {} bytes (record text {} characters); {} connections; each load {} s measured in {} slices, each after {} s of uncounted warm-up",
        sealed_body.len(),
        text.len(),
        a.connections,
        a.duration,
        a.rounds.max(1),
        a.warmup
    );
    println!();

    let suite = Suite {
        bao_shots: Arc::new(vec![json_shot(
            Method::POST,
            format!("{bao_base}/v1/transit/decrypt/bench"),
            ("x-vault-token", a.bao_token.clone()),
            &json!({"ciphertext": ct}),
        )]),
        plaintext_len: sealed_body.len(),
        text_len: text.len(),
        vault: &vault,
        vault_stub: a.vault_stub.clone(),
        clinic: a.clinic.clone(),
        batch: a.batch,
        rounds: a.rounds,
        warmup,
        duration,
    };
    suite.warm_cache().await?;
    let r = suite.run(a.connections, a.audit_pairs).await?;
    let single = if a.single_connection_too {
        println!();
        println!("the same on 1 connection (no queueing; for reference, not a goal):");
        Some(suite.run(1, 0).await?)
    } else {
        None
    };

    let rps_ratio = r.unseal.rps() / r.bao.rps();
    let p99_ratio = r.unseal.p99_us as f64 / r.bao.p99_us as f64;
    let resolve_ratio = r.many.p99_us as f64 / r.one.p99_us as f64;
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!();
    println!("at {} connections:", a.connections);
    println!(
        "  unseal rate / openbao rate     = {rps_ratio:.2}x  (goal >= 3x)    {}",
        verdict(rps_ratio >= 3.0)
    );
    println!(
        "  unseal p99 / openbao p99       = {p99_ratio:.2}   (goal <= 0.20)  {}",
        verdict(p99_ratio <= 0.2)
    );
    println!(
        "  resolve {} p99 / resolve 1 p99 = {resolve_ratio:.2}x (goal < 5x)    {}",
        a.batch,
        verdict(resolve_ratio < 5.0)
    );
    if let Some(stub) = &r.stub {
        let share = r.unseal.rps() / stub.rps();
        match &r.pairs {
            Some(p) => {
                println!(
                    "  unseal with audit / stubbed    = {:.1}%  in {} pairs of 1 s slices (issue 4 goal >= 80%) {}",
                    p.share() * 100.0,
                    p.ratios.len(),
                    verdict(p.share() >= 0.8)
                );
                println!(
                    "    per pair: median {:.1}%, middle half {:.1}-{:.1}%; in the rounds' slices: {:.1}%",
                    p.quantile(0.5) * 100.0,
                    p.quantile(0.25) * 100.0,
                    p.quantile(0.75) * 100.0,
                    share * 100.0
                );
                if let Some((audited, stubbed)) = p.busy {
                    println!(
                        "    machine busy during those slices: audited {:.1}%, stubbed {:.1}%",
                        audited * 100.0,
                        stubbed * 100.0
                    );
                }
            }
            None => println!(
                "  unseal with audit / stubbed    = {:.1}%  in the rounds' slices (issue 4 goal >= 80%; measured by --audit-pairs) {}",
                share * 100.0,
                verdict(share >= 0.8)
            ),
        }
    }
    if let Some(s) = &single {
        println!("at 1 connection (reference):");
        println!(
            "  unseal rate / openbao rate     = {:.2}x; unseal p99 / openbao p99 = {:.2}; resolve {} p99 / resolve 1 p99 = {:.2}x",
            s.unseal.rps() / s.bao.rps(),
            s.unseal.p99_us as f64 / s.bao.p99_us as f64,
            a.batch,
            s.many.p99_us as f64 / s.one.p99_us as f64
        );
    }

    if let Some(path) = &a.summary {
        let mut out = String::new();
        for (prefix, run) in [("", Some(&r)), ("c1_", single.as_ref())] {
            let Some(run) = run else { continue };
            for (key, s) in [
                ("bao", &run.bao),
                ("unseal", &run.unseal),
                ("resolve1", &run.one),
                ("resolve_batch", &run.many),
            ] {
                out += &format!(
                    "{prefix}{key}_rps={:.1}\n{prefix}{key}_p50_ms={:.2}\n{prefix}{key}_p99_ms={:.2}\n{prefix}{key}_max_ms={:.2}\n{prefix}{key}_n={}\n",
                    s.rps(),
                    s.p50_us as f64 / 1000.0,
                    s.p99_us as f64 / 1000.0,
                    s.max_us as f64 / 1000.0,
                    s.requests
                );
            }
            if let Some(stub) = &run.stub {
                out += &format!(
                    "{prefix}unseal_stub_rps={:.1}\n{prefix}unseal_stub_p99_ms={:.2}\n{prefix}audit_share={:.3}\n",
                    stub.rps(),
                    stub.p99_us as f64 / 1000.0,
                    run.unseal.rps() / stub.rps()
                );
            }
            if let Some(p) = &run.pairs {
                out += &format!(
                    "{prefix}audit_pairs={}\n{prefix}audit_share_paired={:.3}\n{prefix}audit_share_paired_median={:.3}\n",
                    p.ratios.len(),
                    p.share(),
                    p.quantile(0.5)
                );
                if let Some((audited, stubbed)) = p.busy {
                    out += &format!(
                        "{prefix}busy_audited={audited:.3}\n{prefix}busy_stubbed={stubbed:.3}\n"
                    );
                }
            }
            out += &format!(
                "{prefix}cache_misses={}\n{prefix}audit_events_per_commit={:.2}\n",
                run.cache_misses, run.events_per_commit
            );
        }
        out += &format!(
            "rps_ratio={rps_ratio:.2}\np99_ratio={p99_ratio:.3}\nresolve_ratio={resolve_ratio:.2}\nbatch={}\nplaintext_bytes={}\n",
            a.batch,
            sealed_body.len()
        );
        std::fs::write(path, out).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// What one pass measures, at some number of connections.
struct Results {
    bao: Stats,
    unseal: Stats,
    one: Stats,
    many: Stats,
    /// The unseal through the vault whose audit writer is stubbed out, when there is one.
    stub: Option<Stats>,
    cache_misses: f64,
    /// Audit events per group commit during the unseal slices.
    events_per_commit: f64,
    /// The audited against the stubbed unseal in short slices taking turns.
    pairs: Option<AuditPairs>,
}

/// Requests completed in pairs of equal slices of the audited and the stubbed unseal.
struct AuditPairs {
    audited: usize,
    stubbed: usize,
    /// Each pair's audited / stubbed, sorted.
    ratios: Vec<f64>,
    /// The machine's busy CPU time over all CPU time during the audited and the stubbed
    /// slices, each with its warm-up (Linux `/proc/stat`; `None` elsewhere): a share well
    /// under the stubbed one means the audited unseal leaves the cores idle while requests
    /// wait for their batch.
    busy: Option<(f64, f64)>,
}

impl AuditPairs {
    /// Audited over stubbed requests, pooled over all pairs: the goal's figure.
    fn share(&self) -> f64 {
        self.audited as f64 / self.stubbed.max(1) as f64
    }

    /// The pair ratio at `q` (0 to 1) of the sorted list.
    fn quantile(&self, q: f64) -> f64 {
        let last = self.ratios.len().saturating_sub(1);
        let i = ((last as f64) * q).round() as usize;
        self.ratios.get(i.min(last)).copied().unwrap_or(0.0)
    }
}

struct Suite<'a> {
    bao_shots: Arc<Vec<Shot>>,
    plaintext_len: usize,
    text_len: usize,
    vault: &'a Vault,
    vault_stub: Option<String>,
    clinic: String,
    batch: usize,
    rounds: usize,
    warmup: Duration,
    duration: Duration,
}

impl Suite<'_> {
    /// Opens every record once on the audited vault and, when there is one, on the stubbed
    /// vault: each process keeps its own key cache and remembered reads, and sealing at set-up
    /// warmed only the audited one's. The miss counter read around each unseal run shows
    /// whether any unseal had to go to the token.
    async fn warm_cache(&self) -> Result<(), Failure> {
        for base in std::iter::once(&self.vault.base).chain(self.vault_stub.as_ref()) {
            self.open_every_record(base).await?;
        }
        Ok(())
    }

    async fn open_every_record(&self, base: &str) -> Result<(), Failure> {
        let (s, recs, b) = (
            Arc::new(auth(&self.vault.session)),
            Arc::new(self.vault.records.clone()),
            Arc::new(base.to_owned()),
        );
        parallel(8, recs.len(), move |i| {
            let (s, recs, b) = (s.clone(), recs.clone(), b.clone());
            async move {
                let (tok, rid) = &recs[i];
                ok(
                    &client()?,
                    Method::GET,
                    &format!("{b}/v1/patients/{tok}/records/{rid}"),
                    Some(("authorization", &s)),
                    None,
                )
                .await
                .map(|_| ())
            }
        })
        .await
        .map(|_| ())
    }

    /// The four loads at `connections`, interleaved: `rounds` rounds of bao, unseal, resolve 1,
    /// resolve N, each slice `duration / rounds` long after its own warm-up, so that whatever
    /// else runs on a shared machine falls on all four alike. Latencies are pooled per load.
    async fn run(&self, connections: usize, audit_pairs: usize) -> Result<Results, Failure> {
        let vault = self.vault;
        let doctor = ("authorization", auth(&vault.session));
        let unseal_shots: Vec<Shot> = vault
            .records
            .iter()
            .map(|(tok, rid)| Shot {
                method: Method::GET,
                url: format!("{}/v1/patients/{tok}/records/{rid}", vault.base),
                header: doctor.clone(),
                body: None,
            })
            .collect();
        let clinic = ("authorization", auth(&self.clinic));
        let resolve_shots = |n: usize| -> Vec<Shot> {
            // Each shot a different window of tokens, so the calls do not all hit the same rows.
            (0..vault.clinic_tokens.len())
                .map(|start| {
                    let tokens: Vec<&String> = (0..n)
                        .map(|k| &vault.clinic_tokens[(start + k) % vault.clinic_tokens.len()])
                        .collect();
                    json_shot(
                        Method::POST,
                        format!("{}/v1/resolve", vault.base),
                        clinic.clone(),
                        &json!({"tokens": tokens, "fields": ["surname", "phones"], "purpose": "scheduling"}),
                    )
                })
                .collect()
        };
        let check = ok(
            &client()?,
            Method::POST,
            &format!("{}/v1/resolve", vault.base),
            Some(("authorization", &clinic.1)),
            Some(&json!({"tokens": [vault.clinic_tokens[0]], "fields": ["surname", "phones"], "purpose": "scheduling"})),
        )
        .await?;
        if check["patients"][0]["fields"]["surname"]["status"] != json!("shown") {
            return Err(format!(
                "resolve does not show the surname for scheduling: {check}"
            ));
        }

        let stub_shots: Option<Vec<Shot>> = self.vault_stub.as_ref().map(|stub| {
            unseal_shots
                .iter()
                .map(|shot| Shot {
                    method: shot.method.clone(),
                    url: shot.url.replacen(&vault.base, stub, 1),
                    header: shot.header.clone(),
                    body: shot.body.clone(),
                })
                .collect()
        });
        let mut loads: Vec<(String, Arc<Vec<Shot>>, usize)> = vec![
            (
                format!("openbao transit decrypt 4 KiB (file audit)  c={connections}"),
                self.bao_shots.clone(),
                self.plaintext_len,
            ),
            (
                format!("vault audited unseal 4 KiB  c={connections}"),
                Arc::new(unseal_shots),
                self.text_len,
            ),
            (
                format!("vault resolve 1 token x 2 fields  c={connections}"),
                Arc::new(resolve_shots(1)),
                2,
            ),
            (
                format!(
                    "vault resolve {} tokens x 2 fields  c={connections}",
                    self.batch
                ),
                Arc::new(resolve_shots(self.batch)),
                2,
            ),
        ];
        if let Some(shots) = stub_shots {
            loads.push((
                format!("vault unseal 4 KiB, audit writer stubbed  c={connections}"),
                Arc::new(shots),
                self.text_len,
            ));
        }
        let rounds = self.rounds.max(1);
        let slice = self.duration / u32::try_from(rounds).map_err(|_| "too many rounds")?;
        let misses = "vault_dek_cache_misses_total";
        let (mut cache_misses, mut cache_hits) = (0.0, 0.0);
        // Audit commits and the events they carried during the unseal slices: their quotient is
        // the group-commit factor the audited unseal got.
        let (batches, events) = ("vault_audit_batches_total", "vault_audit_events_total");
        let (mut unseal_batches, mut unseal_events) = (0.0, 0.0);
        let mut pooled: Vec<Vec<u64>> = vec![Vec::new(); loads.len()];
        for round in 1..=rounds {
            let mut line = format!("  round {round}/{rounds}:");
            for (k, (name, shots, min_body)) in loads.iter().enumerate() {
                let before = if k == 1 {
                    Some((
                        metric(&vault.base, misses).await?,
                        metric(&vault.base, "vault_dek_cache_hits_total").await?,
                        metric(&vault.base, batches).await?,
                        metric(&vault.base, events).await?,
                    ))
                } else {
                    None
                };
                let lat = measure(
                    name,
                    connections,
                    self.warmup,
                    slice,
                    shots.clone(),
                    *min_body,
                )
                .await?;
                if let Some((m, h, b, e)) = before {
                    cache_misses += metric(&vault.base, misses).await? - m;
                    cache_hits += metric(&vault.base, "vault_dek_cache_hits_total").await? - h;
                    unseal_batches += metric(&vault.base, batches).await? - b;
                    unseal_events += metric(&vault.base, events).await? - e;
                }
                line += &format!(" {:.0}/s", lat.len() as f64 / slice.as_secs_f64());
                pooled[k].extend(lat);
            }
            println!(
                "{line}  (openbao, unseal, resolve 1, resolve {}{})",
                self.batch,
                if loads.len() > 4 {
                    ", unseal with the audit stubbed"
                } else {
                    ""
                }
            );
        }
        let pairs = match loads.get(4) {
            Some(stubbed) if audit_pairs > 0 => Some(
                self.pairs(&loads[1], stubbed, connections, audit_pairs)
                    .await?,
            ),
            _ => None,
        };
        let seconds = slice.as_secs_f64() * rounds as f64;
        let mut pooled = pooled.into_iter();
        let events_per_commit = unseal_events / unseal_batches.max(1.0);
        let mut next =
            |k: usize| summarise(&loads[k].0, pooled.next().unwrap_or_default(), seconds);
        let results = Results {
            bao: next(0),
            unseal: next(1),
            one: next(2),
            many: next(3),
            stub: (loads.len() > 4).then(|| next(4)),
            cache_misses,
            events_per_commit,
            pairs,
        };
        println!(
            "  DEK cache during the unseal slices (warm-ups included): {cache_hits} hits, {cache_misses} misses"
        );
        println!(
            "  audit during the unseal slices (warm-ups included): {unseal_events} events in {unseal_batches} commits, {events_per_commit:.2} per commit"
        );
        Ok(results)
    }

    /// `count` pairs of 1 s slices of the audited and the stubbed unseal (`(name, shots,
    /// min_body)` as in the rounds), in the order ABBA, each after 0.5 s of uncounted warm-up.
    async fn pairs(
        &self,
        audited: &(String, Arc<Vec<Shot>>, usize),
        stubbed: &(String, Arc<Vec<Shot>>, usize),
        connections: usize,
        count: usize,
    ) -> Result<AuditPairs, Failure> {
        let (warmup, slice) = (Duration::from_millis(500), Duration::from_secs(1));
        let mut out = AuditPairs {
            audited: 0,
            stubbed: 0,
            ratios: Vec::with_capacity(count),
            busy: None,
        };
        // Busy and total jiffies over the audited ([0]) and the stubbed ([1]) slices, warm-ups
        // included: the warm-up runs the same load.
        let mut cpu = [(0u64, 0u64); 2];
        let mut cpu_known = true;
        for pair in 0..count {
            let order = if pair % 2 == 0 {
                [(audited, true), (stubbed, false)]
            } else {
                [(stubbed, false), (audited, true)]
            };
            let (mut a, mut s) = (0, 0);
            for ((name, shots, min_body), is_audited) in order {
                let before = cpu_jiffies();
                let n = measure(name, connections, warmup, slice, shots.clone(), *min_body)
                    .await?
                    .len();
                match (before, cpu_jiffies()) {
                    (Some((b0, t0)), Some((b1, t1))) => {
                        let c = &mut cpu[usize::from(!is_audited)];
                        c.0 += b1.saturating_sub(b0);
                        c.1 += t1.saturating_sub(t0);
                    }
                    _ => cpu_known = false,
                }
                if is_audited { a = n } else { s = n }
            }
            out.audited += a;
            out.stubbed += s;
            out.ratios.push(a as f64 / s.max(1) as f64);
        }
        out.ratios.sort_by(f64::total_cmp);
        let share = |(busy, total): (u64, u64)| busy as f64 / total.max(1) as f64;
        out.busy = cpu_known.then(|| (share(cpu[0]), share(cpu[1])));
        println!(
            "  {count} pairs of 1 s slices, audited and stubbed unseal taking turns: {} and {} requests",
            out.audited, out.stubbed
        );
        Ok(out)
    }
}

/// Busy and total CPU time of the whole machine so far, in jiffies, from the first line of
/// `/proc/stat` (user nice system idle iowait irq softirq steal ...); `None` where there is no
/// such file. Waiting for I/O counts as idle.
fn cpu_jiffies() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .take(8)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let total: u64 = fields.iter().sum();
    let idle = fields.get(3)? + fields.get(4)?;
    Some((total.saturating_sub(idle), total))
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadgen: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::ExitCode::from(1)
        }
    }
}
