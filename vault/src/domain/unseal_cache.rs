//! What an unseal read, kept for the next unseal of the same record by the same staff member
//! (ADR 0029).
//!
//! An entry is never trusted on its own: the unseal that uses it sends the patient's revision
//! it was read at with its audit event, and the audit writer writes the event only if that is
//! still the patient's revision (triggers raise it with every change an unseal reads, on any
//! replica). Otherwise nothing is written, the entry is dropped and the unseal reads again. An
//! entry is also not used past the moment its facts change by time alone (a care relationship
//! beginning or ending, a grant expiring).
//!
//! It holds ciphertext, wrapped DEKs and facts (ids, a grant's id and code): nothing that
//! opens without the token. Bounded by the bytes of the envelopes it holds.

use std::sync::{Arc, Mutex};

use lru::LruCache;
use prometheus_client::metrics::counter::Counter;

use crate::ids::{PatientId, RecordId};
use crate::store::records::UnsealRead;

/// The envelopes held at most. A 4 KiB note costs about 4.2 KiB here, so this keeps about
/// 15,000 of them: every record a clinic's doctors open in a day, several times over.
const MAX_BYTES: usize = 64 * 1024 * 1024;

/// One unseal as asked: who, whose, which record, which version (`None`: the latest).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct UnsealKey {
    staff_id: String,
    patient: PatientId,
    record: RecordId,
    version: Option<u32>,
}

impl UnsealKey {
    pub fn new(staff_id: &str, patient: PatientId, record: RecordId, version: Option<u32>) -> Self {
        Self {
            staff_id: staff_id.to_owned(),
            patient,
            record,
            version,
        }
    }
}

pub struct UnsealCache {
    entries: Mutex<Entries>,
    /// Unseals answered from memory, and those whose revision check failed at commit.
    pub hits: Counter,
    pub stale: Counter,
}

struct Entries {
    lru: LruCache<UnsealKey, Arc<UnsealRead>>,
    bytes: usize,
}

fn size(read: &UnsealRead) -> usize {
    read.record.as_ref().map_or(0, |r| r.envelope.len()) + 256
}

impl Default for UnsealCache {
    fn default() -> Self {
        Self {
            entries: Mutex::new(Entries {
                lru: LruCache::unbounded(),
                bytes: 0,
            }),
            hits: Counter::default(),
            stale: Counter::default(),
        }
    }
}

impl UnsealCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // Only a cache: a poisoned lock leaves nothing inconsistent.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The entry for `key`, unless time alone may have changed its facts by `now`.
    pub fn get(&self, key: &UnsealKey, now: i64) -> Option<Arc<UnsealRead>> {
        let mut entries = self.lock();
        let read = entries.lru.get(key)?.clone();
        if read.facts_until.is_some_and(|until| until <= now) {
            entries.remove(key);
            return None;
        }
        drop(entries);
        self.hits.inc();
        Some(read)
    }

    pub fn insert(&self, key: UnsealKey, read: Arc<UnsealRead>) {
        let mut entries = self.lock();
        entries.remove(&key);
        entries.bytes += size(&read);
        entries.lru.put(key, read);
        while entries.bytes > MAX_BYTES {
            match entries.lru.pop_lru() {
                Some((_, old)) => entries.bytes -= size(&old),
                None => break,
            }
        }
    }

    /// Drops an entry whose revision check failed.
    pub fn forget(&self, key: &UnsealKey) {
        self.stale.inc();
        self.lock().remove(key);
    }
}

impl Entries {
    fn remove(&mut self, key: &UnsealKey) {
        if let Some(old) = self.lru.pop(key) {
            self.bytes -= size(&old);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::care::StaffFacts;
    use crate::store::records::StoredRecord;

    fn read(envelope_len: usize, facts_until: Option<i64>) -> Arc<UnsealRead> {
        let patient = PatientId::random();
        Arc::new(UnsealRead {
            facts: StaffFacts::default(),
            record: Some(StoredRecord {
                record: RecordId::random(),
                version: 1,
                patient,
                kind: "visit_note".into(),
                envelope: vec![0; envelope_len],
                created_at: 0,
                author: None,
            }),
            shredded: false,
            deks: Vec::new(),
            revision: 1,
            facts_until,
        })
    }

    fn key(staff: &str) -> UnsealKey {
        UnsealKey::new(staff, PatientId::random(), RecordId::random(), None)
    }

    #[test]
    fn an_entry_is_not_used_once_time_may_have_changed_its_facts() {
        let cache = UnsealCache::default();
        let k = key("dr");
        cache.insert(k.clone(), read(10, Some(100)));
        assert!(
            cache.get(&k, 99).is_some(),
            "before the care relationship ends"
        );
        assert!(cache.get(&k, 100).is_none(), "at its end");
        assert!(cache.get(&k, 99).is_none(), "and it is gone, not hidden");
        let k = key("dr");
        cache.insert(k.clone(), read(10, None));
        assert!(cache.get(&k, i64::MAX).is_some(), "nothing due by time");
        assert_eq!(cache.hits.get(), 2);
    }

    #[test]
    fn keys_name_the_staff_member() {
        let cache = UnsealCache::default();
        let k = key("dr.house");
        cache.insert(k.clone(), read(10, None));
        let other = UnsealKey {
            staff_id: "dr.wilson".into(),
            ..k.clone()
        };
        assert!(cache.get(&other, 0).is_none());
        cache.forget(&k);
        assert!(cache.get(&k, 0).is_none());
        assert_eq!(cache.stale.get(), 1);
    }

    #[test]
    fn bounded_by_the_bytes_it_holds() {
        let cache = UnsealCache::default();
        let big = MAX_BYTES / 4;
        let keys: Vec<_> = (0..6).map(|_| key("dr")).collect();
        for k in &keys {
            cache.insert(k.clone(), read(big, None));
        }
        let bytes = cache.lock().bytes;
        assert!(bytes <= MAX_BYTES, "{bytes}");
        assert!(cache.get(&keys[0], 0).is_none(), "the oldest went first");
        assert!(cache.get(&keys[5], 0).is_some(), "the newest stays");
        // Replacing an entry does not count it twice.
        cache.insert(keys[5].clone(), read(big, None));
        assert_eq!(cache.lock().bytes, bytes);
    }
}
