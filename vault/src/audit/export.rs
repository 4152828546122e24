//! Export of the audit to a SIEM: JSON lines, or RFC 5424 syslog over TCP (optionally TLS),
//! resumable from a sequence number. Every line carries its chain hash and its predecessor's,
//! so the receiver can check that nothing between two lines is missing or changed.

use serde::Serialize;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::store::audit::{self, ChainedRow};
use crate::store::{Database, StoreError};

/// One exported event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExportLine {
    pub seq: i64,
    pub at: i64,
    pub request_id: String,
    pub principal: String,
    pub role: String,
    pub branch: Option<String>,
    pub action: String,
    pub patient_token: Option<String>,
    /// The tokens of an event about many patients, space-separated, as hashed into the chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient_tokens: Option<String>,
    pub purpose: Option<String>,
    pub reason_code: Option<String>,
    pub decision: String,
    pub reasons: String,
    pub client_addr: Option<String>,
    /// Hex SHA-256 chain hash of this event.
    pub entry_hash: String,
    /// Hex chain hash of the event before (64 zeros before the first event).
    pub prev_hash: String,
}

/// Up to `limit` events after `after`, with the hash links the receiver checks.
pub async fn page(db: &Database, after: i64, limit: u64) -> Result<Vec<ExportLine>, StoreError> {
    let mut prev = if after > 0 {
        let before = audit::events_after(db, after - 1, 1).await?;
        match before.first() {
            Some(r) if r.seq == after => r.entry_hash.clone().unwrap_or_default(),
            _ => {
                return Err(StoreError::Corrupt(format!(
                    "audit event {after} is missing; run vault audit verify"
                )));
            }
        }
    } else {
        super::chain::GENESIS.to_vec()
    };
    let rows = audit::events_after(db, after, limit).await?;
    Ok(rows
        .into_iter()
        .map(|r: ChainedRow| {
            let hash = r.entry_hash.clone().unwrap_or_default();
            let line = ExportLine {
                seq: r.seq,
                at: r.row.at,
                request_id: r.row.request_id,
                principal: r.row.principal,
                role: r.row.role,
                branch: r.row.branch,
                action: r.row.action,
                patient_token: r.row.patient_token,
                patient_tokens: r.row.patient_tokens,
                purpose: r.row.purpose,
                reason_code: r.row.reason_code,
                decision: r.row.decision,
                reasons: r.row.reasons,
                client_addr: r.row.client_addr,
                entry_hash: hex::encode(&hash),
                prev_hash: hex::encode(&prev),
            };
            prev = hash;
            line
        })
        .collect())
}

/// `YYYY-MM-DDTHH:MM:SSZ` for Unix seconds (RFC 3339, UTC).
pub fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil-from-days (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// One RFC 5424 message: facility 13 (log audit), severity 6 (informational), the chain
/// position as structured data, the event as JSON.
pub fn syslog_message(line: &ExportLine, hostname: &str) -> String {
    let json = serde_json::to_string(line).unwrap_or_default();
    format!(
        "<110>1 {} {hostname} medikamente-vault - audit [chain@32473 seq=\"{}\" hash=\"{}\" prev=\"{}\"] {json}",
        rfc3339(line.at),
        line.seq,
        line.entry_hash,
        line.prev_hash
    )
}

/// Sends events after `after` as octet-counted RFC 5424 frames (RFC 6587) until none are left;
/// returns the last sequence number sent (resume from it next time).
pub async fn to_syslog<W: AsyncWrite + Unpin>(
    db: &Database,
    mut after: i64,
    out: &mut W,
    hostname: &str,
) -> Result<i64, ExportError> {
    loop {
        let lines = page(db, after, 1000).await?;
        let Some(last) = lines.last().map(|l| l.seq) else {
            break;
        };
        for line in &lines {
            let msg = syslog_message(line, hostname);
            out.write_all(format!("{} {msg}", msg.len()).as_bytes())
                .await
                .map_err(ExportError::Io)?;
        }
        out.flush().await.map_err(ExportError::Io)?;
        after = last;
    }
    Ok(after)
}

/// Opens TLS to a syslog receiver whose certificate `ca_pem` signed; `name` is the name in its
/// certificate (default: the host of `target`).
pub async fn connect_tls(
    tcp: tokio::net::TcpStream,
    target: &str,
    ca_pem: &std::path::Path,
    name: Option<&str>,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, ExportError> {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
    use tokio_rustls::rustls::{ClientConfig, RootCertStore};
    let bad_ca = |e: &dyn std::fmt::Display| ExportError::Tls(format!("{}: {e}", ca_pem.display()));
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_pem).map_err(|e| bad_ca(&e))? {
        roots
            .add(cert.map_err(|e| bad_ca(&e))?)
            .map_err(|e| bad_ca(&e))?;
    }
    let config = ClientConfig::builder_with_provider(std::sync::Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| ExportError::Tls(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = name.map_or_else(
        || {
            target
                .rsplit_once(':')
                .map_or(target, |(h, _)| h)
                .to_owned()
        },
        str::to_owned,
    );
    let server = ServerName::try_from(name.clone())
        .map_err(|_| ExportError::Tls(format!("{name} is not a server name")))?;
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(server, tcp)
        .await
        .map_err(|e| ExportError::Tls(format!("TLS with {target} failed: {e}")))
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0}")]
    Tls(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the syslog receiver failed: {0}")]
    Io(std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_800_003_600), "2027-01-15T09:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn syslog_frames_carry_the_chain_position() {
        let line = ExportLine {
            seq: 7,
            at: 1_800_003_600,
            request_id: "r".into(),
            principal: "st-1".into(),
            role: "doctor".into(),
            branch: Some("msk-1".into()),
            action: "read_record".into(),
            patient_token: Some("pt_x".into()),
            patient_tokens: None,
            purpose: Some("treatment".into()),
            reason_code: None,
            decision: "permit".into(),
            reasons: "doctor-care-read".into(),
            client_addr: None,
            entry_hash: "ab".repeat(32),
            prev_hash: "cd".repeat(32),
        };
        let msg = syslog_message(&line, "vault-1");
        assert!(msg.starts_with(
            "<110>1 2027-01-15T09:00:00Z vault-1 medikamente-vault - audit [chain@32473 seq=\"7\""
        ));
        let json = msg.split("] ").nth(1).unwrap();
        let back: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(back["prev_hash"], "cd".repeat(32));
    }
}
