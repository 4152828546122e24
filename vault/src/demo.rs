//! Made-up data for the embedded demo, so a first start has something sealed to look at.

use crate::domain::{SealedData, VaultError};
use crate::store::{self, Database};

/// Invented visit notes; no real person is behind any of them.
const DEMO_NOTES: [&str; 3] = [
    "DEMO visit note: seasonal allergy, antihistamine prescribed.",
    "DEMO visit note: routine check-up, no findings.",
    "DEMO lab result: complete blood count within reference ranges.",
];

/// Seals the demo patients once; returns how many were created (0 if data exists already).
pub async fn seed(db: &Database, sealed: &SealedData) -> Result<usize, VaultError> {
    if store::keys::count_patients(db).await? > 0 {
        return Ok(0);
    }
    for note in DEMO_NOTES {
        let patient = sealed.create_patient().await?;
        sealed
            .seal_record(patient, "visit_note", note.as_bytes())
            .await?;
    }
    Ok(DEMO_NOTES.len())
}
