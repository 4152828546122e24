//! `danger_soft`: KEKs in files, for the embedded demo only.
//!
//! Anyone who can read the KEK directory can unwrap every DEK, so the configuration key says
//! `danger`, a production config refuses it, and every start logs a warning. Wrapped DEKs start
//! with a format byte so that both suites' wrappings can coexist:
//! `1` = AES-256 key wrap with padding (RFC 5649, the CKM_AES_KEY_WRAP_PAD format);
//! `2` = KExp15 (R 1323565.1.017-2018, Kuznyechik) with an 8-byte IV after the format byte.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use aes_kw::KwpAes256;
use aes_kw::cipher::KeyInit;
use zeroize::Zeroizing;

use super::{Dek, KekVersion, KeyError, KeyProvider};
use crate::crypto::Suite;

const FORMAT_KWP: u8 = 1;
const AUDIT_KEY_FILE: &str = "audit-mac.key";
const FORMAT_KEXP15: u8 = 2;

pub struct SoftProvider {
    dir: PathBuf,
    suite: Suite,
}

impl SoftProvider {
    pub fn open(dir: &Path, suite: Suite) -> Result<Self, KeyError> {
        fs::create_dir_all(dir).map_err(|e| {
            KeyError::Config(format!(
                "danger_soft KEK directory {} cannot be created: {e}",
                dir.display()
            ))
        })?;
        Ok(Self {
            dir: dir.to_path_buf(),
            suite,
        })
    }

    fn path(&self, version: KekVersion) -> PathBuf {
        self.dir.join(format!("kek-{version}.key"))
    }

    fn read_kek(&self, version: KekVersion) -> Result<Zeroizing<[u8; 32]>, KeyError> {
        let path = self.path(version);
        let bytes = Zeroizing::new(fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => KeyError::KekMissing {
                label: path.display().to_string(),
            },
            _ => KeyError::Unavailable(format!("KEK file {} cannot be read: {e}", path.display())),
        })?);
        let mut kek = Zeroizing::new([0u8; 32]);
        if bytes.len() != 32 {
            return Err(KeyError::Config(format!(
                "{} is not a 32-byte KEK file",
                path.display()
            )));
        }
        kek.copy_from_slice(&bytes);
        Ok(kek)
    }

    /// KExp15 takes a MAC key and an encryption key; both come from the one KEK file.
    fn kexp15_keys(kek: &[u8; 32]) -> (Zeroizing<[u8; 32]>, Zeroizing<[u8; 32]>) {
        let mac = gost_crypto::kdf_gostr3411_2012_256(kek, b"medikamente kexp15 mac", b"v1");
        let enc = gost_crypto::kdf_gostr3411_2012_256(kek, b"medikamente kexp15 enc", b"v1");
        (Zeroizing::new(*mac), Zeroizing::new(*enc))
    }
}

/// Writes 32 random bytes to a new file readable by its owner only; refuses an existing file.
fn write_new_key_file(path: &Path) -> Result<(), KeyError> {
    let mut key = Zeroizing::new([0u8; 32]);
    getrandom::fill(key.as_mut())
        .map_err(|_| KeyError::Unavailable("the system random source failed".into()))?;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => KeyError::KekExists {
            label: path.display().to_string(),
        },
        _ => KeyError::Unavailable(format!("cannot write {}: {e}", path.display())),
    })?;
    file.write_all(key.as_ref())
        .and_then(|()| file.sync_all())
        .map_err(|e| KeyError::Unavailable(format!("cannot write {}: {e}", path.display())))
}

/// RFC 5649 section 4.1: a wrapping holds at least one byte of key, so at least 16 bytes.
/// aes-kw 0.3.1 would accept the 8-byte wrapping of an empty key (Wycheproof AES-KWP tcIds 74,
/// 157, 253), so both directions refuse it here.
pub const KWP_MIN_WRAPPED: usize = 16;

/// RFC 5649 wrap of a 32-byte key under a 32-byte KEK: 40 bytes out.
pub fn kwp_wrap(kek: &[u8; 32], key: &[u8]) -> Result<Vec<u8>, KeyError> {
    if key.is_empty() {
        return Err(KeyError::Config("refusing to wrap an empty key".into()));
    }
    let mut buf = vec![0u8; key.len() + 16];
    let wrapped = KwpAes256::new(kek.into())
        .wrap_key(key, &mut buf)
        .map_err(|_| KeyError::Unwrap)?;
    Ok(wrapped.to_vec())
}

/// RFC 5649 unwrap; every failure is the opaque [`KeyError::Unwrap`].
pub fn kwp_unwrap(kek: &[u8; 32], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    if wrapped.len() < KWP_MIN_WRAPPED {
        return Err(KeyError::Unwrap);
    }
    let mut buf = Zeroizing::new(vec![0u8; wrapped.len()]);
    let len = KwpAes256::new(kek.into())
        .unwrap_key(wrapped, &mut buf)
        .map_err(|_| KeyError::Unwrap)?
        .len();
    buf.truncate(len);
    Ok(buf)
}

impl KeyProvider for SoftProvider {
    fn describe(&self) -> String {
        format!("danger_soft KEK files in {}", self.dir.display())
    }

    fn kek_versions(&self) -> Result<Vec<KekVersion>, KeyError> {
        let entries = fs::read_dir(&self.dir)
            .map_err(|e| KeyError::Unavailable(format!("KEK directory unreadable: {e}")))?;
        let mut versions: Vec<KekVersion> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_prefix("kek-")?
                    .strip_suffix(".key")?
                    .parse()
                    .ok()
            })
            .collect();
        versions.sort();
        Ok(versions)
    }

    fn create_kek(&self, version: KekVersion) -> Result<(), KeyError> {
        write_new_key_file(&self.path(version))
    }

    fn wrap(&self, kek: KekVersion, dek: &Dek) -> Result<Vec<u8>, KeyError> {
        let kek = self.read_kek(kek)?;
        match self.suite {
            Suite::Aes256GcmSiv => Ok([&[FORMAT_KWP][..], &kwp_wrap(&kek, dek.expose())?].concat()),
            Suite::GostKuznyechikMgm => {
                let (mac, enc) = Self::kexp15_keys(&kek);
                let mut iv = [0u8; 8];
                getrandom::fill(&mut iv)
                    .map_err(|_| KeyError::Unavailable("the system random source failed".into()))?;
                let exported = gost_crypto::kexp15(dek.expose(), &mac, &enc, &iv);
                Ok([&[FORMAT_KEXP15][..], &iv, &exported].concat())
            }
        }
    }

    fn unwrap(&self, kek: KekVersion, wrapped: &[u8]) -> Result<Dek, KeyError> {
        let kek = self.read_kek(kek)?;
        match wrapped.split_first() {
            Some((&FORMAT_KWP, rest)) => Dek::from_slice(&kwp_unwrap(&kek, rest)?),
            Some((&FORMAT_KEXP15, rest)) if rest.len() > 8 => {
                let (iv, exported) = rest.split_at(8);
                let iv: &[u8; 8] = iv.try_into().map_err(|_| KeyError::Unwrap)?;
                let (mac, enc) = Self::kexp15_keys(&kek);
                let key =
                    gost_crypto::kimp15(exported, &mac, &enc, iv).map_err(|_| KeyError::Unwrap)?;
                Dek::from_slice(&key)
            }
            _ => Err(KeyError::Unwrap),
        }
    }

    fn ensure_audit_key(&self) -> Result<bool, KeyError> {
        if self.dir.join(AUDIT_KEY_FILE).exists() {
            return Ok(false);
        }
        write_new_key_file(&self.dir.join(AUDIT_KEY_FILE))?;
        Ok(true)
    }

    fn audit_mac(&self, data: &[u8]) -> Result<Vec<u8>, KeyError> {
        let path = self.dir.join(AUDIT_KEY_FILE);
        let key = Zeroizing::new(fs::read(&path).map_err(|_| KeyError::KekMissing {
            label: path.display().to_string(),
        })?);
        let key: &[u8; 32] = key.as_slice().try_into().map_err(|_| {
            KeyError::Config(format!("{} is not a 32-byte key file", path.display()))
        })?;
        Ok(match self.suite {
            Suite::Aes256GcmSiv => {
                use hmac::{KeyInit, Mac};
                #[allow(clippy::expect_used)]
                // Invariant: HMAC accepts keys of any length.
                let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key)
                    .expect("any key length");
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            Suite::GostKuznyechikMgm => gost_crypto::hmac_streebog256(key, data).to_vec(),
        })
    }

    fn destroy_kek(&self, version: KekVersion) -> Result<(), KeyError> {
        let path = self.path(version);
        // Overwrite before unlinking; on copy-on-write or journalled storage this is best effort,
        // one more reason this provider is for demos only.
        let len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let zeros = vec![0u8; usize::try_from(len).unwrap_or(0)];
        let _ = fs::write(&path, zeros);
        fs::remove_file(&path).map_err(|_| KeyError::KekMissing {
            label: path.display().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(suite: Suite) -> (tempfile::TempDir, SoftProvider) {
        let dir = tempfile::tempdir().unwrap();
        let p = SoftProvider::open(dir.path(), suite).unwrap();
        p.create_kek(KekVersion::FIRST).unwrap();
        (dir, p)
    }

    #[test]
    fn wraps_and_unwraps_under_both_suites() {
        for suite in [Suite::Aes256GcmSiv, Suite::GostKuznyechikMgm] {
            let (_dir, p) = provider(suite);
            let dek = Dek::generate().unwrap();
            let wrapped = p.wrap(KekVersion::FIRST, &dek).unwrap();
            assert!(
                !wrapped.windows(32).any(|w| w == dek.expose()),
                "DEK visible in wrapping"
            );
            let back = p.unwrap(KekVersion::FIRST, &wrapped).unwrap();
            assert_eq!(back.expose(), dek.expose());
        }
    }

    #[test]
    fn empty_key_wrapping_is_refused_both_ways() {
        let kek = [9u8; 32];
        assert!(kwp_wrap(&kek, &[]).is_err());
        let empty_wrapping = [0xa6, 0x59, 0x59, 0xa6, 0, 0, 0, 0];
        assert!(matches!(
            kwp_unwrap(&kek, &empty_wrapping),
            Err(KeyError::Unwrap)
        ));
        let one = kwp_wrap(&kek, &[1]).unwrap();
        assert_eq!(one.len(), 16);
        assert_eq!(&kwp_unwrap(&kek, &one).unwrap()[..], &[1]);
    }

    #[test]
    fn other_kek_version_and_tampering_fail() {
        let (_dir, p) = provider(Suite::Aes256GcmSiv);
        let v2 = KekVersion::FIRST.next();
        p.create_kek(v2).unwrap();
        let dek = Dek::generate().unwrap();
        let wrapped = p.wrap(KekVersion::FIRST, &dek).unwrap();
        assert!(matches!(p.unwrap(v2, &wrapped), Err(KeyError::Unwrap)));
        let mut flipped = wrapped.clone();
        flipped[5] ^= 1;
        assert!(matches!(
            p.unwrap(KekVersion::FIRST, &flipped),
            Err(KeyError::Unwrap)
        ));
        assert!(matches!(p.create_kek(v2), Err(KeyError::KekExists { .. })));
        assert_eq!(p.kek_versions().unwrap(), vec![KekVersion::FIRST, v2]);
        p.destroy_kek(KekVersion::FIRST).unwrap();
        assert!(matches!(
            p.unwrap(KekVersion::FIRST, &wrapped),
            Err(KeyError::KekMissing { .. })
        ));
    }
}
