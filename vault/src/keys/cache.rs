//! Unwrapped patient keys in memory: bounded, TTL'd, zeroized on eviction.
//!
//! Entries are `Arc<PatientKeys>`; `PatientKeys` zeroizes its DEK and subkeys on drop, so an
//! entry evicted by capacity, expiry or [`DekCache::forget`] is wiped as soon as the last request
//! still using it finishes.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lru::LruCache;
use prometheus_client::metrics::counter::Counter;

use super::PatientKeys;
use crate::clock::Clock;
use crate::ids::PatientId;

struct Entry {
    keys: Arc<PatientKeys>,
    loaded_at: std::time::SystemTime,
}

pub struct DekCache {
    entries: Mutex<LruCache<(PatientId, u32), Entry>>,
    ttl: Duration,
    clock: Arc<dyn Clock>,
    pub hits: Counter,
    pub misses: Counter,
}

impl DekCache {
    /// A capacity of 0 disables caching: every open unwraps in the token.
    pub fn new(capacity: usize, ttl: Duration, clock: Arc<dyn Clock>) -> Self {
        let entries = match NonZeroUsize::new(capacity) {
            Some(cap) => LruCache::new(cap),
            None => LruCache::unbounded(),
        };
        Self {
            entries: Mutex::new(entries),
            ttl: if capacity == 0 { Duration::ZERO } else { ttl },
            clock,
            hits: Counter::default(),
            misses: Counter::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<(PatientId, u32), Entry>> {
        // Only a cache: a poisoned lock leaves nothing inconsistent.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn expired(&self, entry: &Entry, now: std::time::SystemTime) -> bool {
        now.duration_since(entry.loaded_at)
            .map_or(true, |age| age >= self.ttl)
    }

    pub fn get(&self, patient: PatientId, dek_version: u32) -> Option<Arc<PatientKeys>> {
        let now = self.clock.now();
        let mut entries = self.lock();
        let found = match entries.get(&(patient, dek_version)) {
            Some(entry) if !self.expired(entry, now) => Some(entry.keys.clone()),
            Some(_) => {
                entries.pop(&(patient, dek_version));
                None
            }
            None => None,
        };
        drop(entries);
        match &found {
            Some(_) => self.hits.inc(),
            None => self.misses.inc(),
        };
        found
    }

    pub fn insert(&self, patient: PatientId, keys: Arc<PatientKeys>) {
        if self.ttl.is_zero() {
            return;
        }
        let entry = Entry {
            keys: keys.clone(),
            loaded_at: self.clock.now(),
        };
        self.lock().put((patient, keys.dek_version()), entry);
    }

    /// Drops every key of the patient (after a shred or a DEK rotation).
    pub fn forget(&self, patient: PatientId) {
        let mut entries = self.lock();
        let stale: Vec<_> = entries
            .iter()
            .filter(|(k, _)| k.0 == patient)
            .map(|(k, _)| *k)
            .collect();
        for key in stale {
            entries.pop(&key);
        }
    }

    /// Evicts expired entries; run periodically so keys leave memory even when not touched.
    pub fn sweep_expired(&self) -> usize {
        let now = self.clock.now();
        let mut entries = self.lock();
        let expired: Vec<_> = entries
            .iter()
            .filter(|(_, e)| self.expired(e, now))
            .map(|(k, _)| *k)
            .collect();
        for key in &expired {
            entries.pop(key);
        }
        expired.len()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::keys::Dek;
    use std::time::SystemTime;

    fn keys(version: u32) -> Arc<PatientKeys> {
        Arc::new(PatientKeys::new(Dek::generate().unwrap(), version))
    }

    #[test]
    fn hits_misses_capacity_and_ttl() {
        let clock = Arc::new(ManualClock::new(
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_000),
        ));
        let cache = DekCache::new(2, Duration::from_secs(60), clock.clone());
        let (a, b, c) = (
            PatientId::random(),
            PatientId::random(),
            PatientId::random(),
        );
        assert!(cache.get(a, 1).is_none());
        cache.insert(a, keys(1));
        cache.insert(b, keys(1));
        assert!(cache.get(a, 1).is_some());
        assert!(
            cache.get(a, 2).is_none(),
            "another DEK version is another entry"
        );
        cache.insert(c, keys(1)); // evicts b, the least recently used
        assert!(cache.get(b, 1).is_none());
        assert_eq!((cache.hits.get(), cache.misses.get()), (1, 3));

        clock.advance(Duration::from_secs(61));
        assert!(
            cache.get(a, 1).is_none(),
            "expired entry must not be served"
        );
        assert_eq!(cache.sweep_expired(), 1, "c expired too and is swept");
        assert!(cache.is_empty());
    }

    #[test]
    fn forget_drops_the_patient_and_evicted_keys_are_released() {
        let clock = Arc::new(ManualClock::new(SystemTime::UNIX_EPOCH));
        let cache = DekCache::new(4, Duration::from_secs(60), clock);
        let a = PatientId::random();
        let k = keys(1);
        cache.insert(a, k.clone());
        assert_eq!(Arc::strong_count(&k), 2);
        cache.forget(a);
        assert_eq!(
            Arc::strong_count(&k),
            1,
            "the cache no longer holds the keys"
        );
        assert!(cache.get(a, 1).is_none());
    }

    #[test]
    fn zero_capacity_disables_caching() {
        let cache = DekCache::new(
            0,
            Duration::from_secs(60),
            Arc::new(ManualClock::new(SystemTime::UNIX_EPOCH)),
        );
        let a = PatientId::random();
        cache.insert(a, keys(1));
        assert!(cache.get(a, 1).is_none());
    }
}
