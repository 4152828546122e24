//! The hash chain: each event's hash covers the previous event's hash, its own sequence number
//! and every field, in a fixed, length-prefixed encoding.
//!
//! ```text
//! entry_hash(n) = SHA-256("medikamente/audit/v1" || entry_hash(n-1) || u64 seq || u64 at
//!                         || 11 fields [|| token list, only on events that carry one])
//! field         = 0x00 (absent) | 0x01 || u32 length || UTF-8 bytes
//! entry_hash(0) = 32 zero bytes (the genesis)
//! checkpoint    = MAC_token("medikamente/audit-checkpoint/v1" || u64 seq || entry_hash(seq))
//! ```
//!
//! Anyone can recompute SHA-256, so the chain alone shows only accidental or naive edits; the
//! checkpoints, signed by a key that never leaves the token, are what an attacker with the
//! database cannot forge.

use sha2::{Digest, Sha256};

use crate::store::audit::AuditRow;

pub const GENESIS: [u8; 32] = [0u8; 32];
const DOMAIN: &[u8] = b"medikamente/audit/v1";
const CHECKPOINT_DOMAIN: &[u8] = b"medikamente/audit-checkpoint/v1";

fn field(h: &mut Sha256, value: Option<&str>) {
    match value {
        None => h.update([0u8]),
        Some(v) => {
            h.update([1u8]);
            h.update(u32::try_from(v.len()).unwrap_or(u32::MAX).to_be_bytes());
            h.update(v.as_bytes());
        }
    }
}

/// The hash of an event at `seq` that follows an event whose hash is `prev`.
pub fn entry_hash(prev: &[u8], seq: i64, row: &AuditRow) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update(prev);
    h.update(seq.to_be_bytes());
    h.update(row.at.to_be_bytes());
    for v in [
        Some(row.request_id.as_str()),
        Some(row.principal.as_str()),
        Some(row.role.as_str()),
        row.branch.as_deref(),
        Some(row.action.as_str()),
        row.patient_token.as_deref(),
        row.purpose.as_deref(),
        row.reason_code.as_deref(),
        Some(row.decision.as_str()),
        Some(row.reasons.as_str()),
        row.client_addr.as_deref(),
    ] {
        field(&mut h, v);
    }
    // A twelfth field only on events that cover many tokens (migration 0010): events without
    // a list hash as they always did, and the self-delimiting fields keep the two apart.
    if let Some(list) = row.patient_tokens.as_deref() {
        field(&mut h, Some(list));
    }
    h.finalize().to_vec()
}

/// What a checkpoint MAC covers.
pub fn checkpoint_message(seq: i64, head: &[u8]) -> Vec<u8> {
    [CHECKPOINT_DOMAIN, &seq.to_be_bytes(), head].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> AuditRow {
        AuditRow {
            at: 1,
            request_id: "r".into(),
            principal: "p".into(),
            role: "doctor".into(),
            branch: None,
            action: "read_record".into(),
            patient_token: Some("pt_x".into()),
            patient_tokens: None,
            purpose: None,
            reason_code: None,
            decision: "permit".into(),
            reasons: "a".into(),
            client_addr: None,
        }
    }

    #[test]
    fn every_field_position_and_predecessor_changes_the_hash() {
        let base = entry_hash(&GENESIS, 1, &row());
        assert_eq!(base, entry_hash(&GENESIS, 1, &row()));
        assert_ne!(base, entry_hash(&GENESIS, 2, &row()), "seq is covered");
        assert_ne!(
            base,
            entry_hash(&[1u8; 32], 1, &row()),
            "the predecessor is covered"
        );
        let mut r = row();
        r.decision = "deny".into();
        assert_ne!(base, entry_hash(&GENESIS, 1, &r));
        // Absent and empty differ, and values cannot slide between fields.
        let mut r = row();
        r.branch = Some(String::new());
        assert_ne!(base, entry_hash(&GENESIS, 1, &r));
        let mut a = row();
        a.request_id = "rp".into();
        a.principal = String::new();
        let mut b = row();
        b.request_id = "r".into();
        b.principal = "p".into();
        assert_ne!(entry_hash(&GENESIS, 1, &a), entry_hash(&GENESIS, 1, &b));
    }

    #[test]
    fn a_token_list_is_covered_and_events_without_one_hash_as_before() {
        // The hash of `row()` in the 11-field encoding of the module doc, computed apart from
        // this code (a few lines of Python's hashlib): chains written before token lists
        // existed (migration 0010) still verify.
        let before = "670bc8f1f8591af7230ccd85b8224917d4edf7ef9c6fee5e1697a04c17673dd1";
        assert_eq!(hex::encode(entry_hash(&GENESIS, 1, &row())), before);
        let mut listed = row();
        listed.patient_token = None;
        listed.patient_tokens = Some("pt_a pt_b".into());
        let base = entry_hash(&GENESIS, 1, &listed);
        let mut shorter = listed.clone();
        shorter.patient_tokens = Some("pt_a".into());
        assert_ne!(
            base,
            entry_hash(&GENESIS, 1, &shorter),
            "the list is covered"
        );
        let mut empty = listed.clone();
        empty.patient_tokens = Some(String::new());
        let mut none = listed;
        none.patient_tokens = None;
        assert_ne!(
            entry_hash(&GENESIS, 1, &empty),
            entry_hash(&GENESIS, 1, &none)
        );
    }
}
