//! Untrusted envelope bytes: parsing must never panic, and opening arbitrary bytes under a fixed
//! key and context must fail (a forgery would need the key) without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vault::crypto::{Envelope, SealContext};
use vault::ids::{PatientId, RecordId};
use vault::keys::dek::SubkeyPurpose;
use vault::keys::{Dek, PatientKeys};

fuzz_target!(|data: &[u8]| {
    let _ = Envelope::parse(data);
    let keys = PatientKeys::new(Dek::from_slice(&[3u8; 32]).unwrap(), 1);
    let patient: PatientId = "00000000-0000-4000-8000-000000000001".parse().unwrap();
    let record: RecordId = "00000000-0000-4000-8000-000000000002".parse().unwrap();
    let ctx = SealContext { patient: &patient, record: &record, record_version: 1, field: "body" };
    assert!(keys.open(SubkeyPurpose::RecordSealing, &ctx, data).is_err());
});
