//! Token profiles (`hsm-config/*.toml`): what a token must offer and how the KEK is made there.
//!
//! At start-up the vault compares the profile with the token's `C_GetMechanismList` and refuses
//! a token that lacks a required mechanism, naming it. Vendor mechanisms (TC26 GOST set, base
//! 0xD4321000) differ between token makers, so they are never hard-coded: the profile lists them.

use std::path::Path;

use serde::Deserialize;

use super::KeyError;

/// A parsed token profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    pub description: String,
    pub kek: KekSpec,
    pub audit_mac: AuditMacSpec,
    /// Every mechanism the vault uses on this token.
    pub required: Vec<RequiredMechanism>,
}

/// How KEKs and DEK objects look on this token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KekSpec {
    /// CKA_KEY_TYPE of the KEK (CKK_AES = 0x1F; TC26 twin keys are vendor-defined).
    pub key_type: u64,
    /// Mechanism generating the KEK inside the token.
    pub key_gen: u64,
    /// CKA_VALUE_LEN of the KEK in bytes, where the key type takes one.
    pub key_len: Option<u64>,
    /// Mechanism for C_WrapKey / C_UnwrapKey of DEKs.
    pub wrap: u64,
    /// Length of the IV the wrap mechanism takes as parameter (0: none; KExp15: half a block).
    #[serde(default)]
    pub wrap_iv_len: usize,
    /// CKA_KEY_TYPE given to a DEK while it is a session object in the token.
    pub dek_key_type: u64,
}

/// The key that signs audit-chain checkpoints: generated in the token, used only to sign.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditMacSpec {
    pub key_type: u64,
    pub key_gen: u64,
    pub key_len: Option<u64>,
    pub mechanism: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequiredMechanism {
    pub name: String,
    pub code: u64,
    pub why: String,
}

impl Profile {
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            KeyError::Config(format!(
                "token profile {} cannot be read: {e}",
                path.display()
            ))
        })?;
        let profile: Profile = toml::from_str(&text).map_err(|e| {
            KeyError::Config(format!(
                "token profile {} is invalid: {}",
                path.display(),
                e.message().replace('\n', " ")
            ))
        })?;
        for (what, code) in [
            ("kek.key_gen", profile.kek.key_gen),
            ("kek.wrap", profile.kek.wrap),
        ] {
            if !profile.required.iter().any(|m| m.code == code) {
                return Err(KeyError::Config(format!(
                    "token profile {}: {what} 0x{code:X} is not listed in [[required]]",
                    path.display()
                )));
            }
        }
        Ok(profile)
    }

    /// The first required mechanism the token does not offer, if any.
    pub fn first_missing(&self, offered: &[u64]) -> Option<&RequiredMechanism> {
        self.required.iter().find(|m| !offered.contains(&m.code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn profile(name: &str) -> Profile {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../hsm-config")
            .join(name);
        Profile::load(&path).unwrap()
    }

    #[test]
    fn shipped_profiles_parse() {
        let soft = profile("softhsm2.toml");
        assert_eq!(
            soft.kek.wrap, 0x210A,
            "SoftHSM2 wraps with CKM_AES_KEY_WRAP_PAD"
        );
        let gost = profile("gost-rutoken.toml");
        assert!(
            gost.required
                .iter()
                .all(|m| m.code >= 0xD432_1000 || m.code < 0x8000_0000)
        );
        assert!(
            gost.required
                .iter()
                .any(|m| m.name == "CKM_KUZNYECHIK_KEXP_15_WRAP")
        );
    }

    #[test]
    fn missing_mechanism_is_named() {
        let gost = profile("gost-rutoken.toml");
        let softhsm_offers = [0x1080, 0x2109, 0x210A, 0x251];
        let missing = gost.first_missing(&softhsm_offers).unwrap();
        assert!(missing.name.starts_with("CKM_"), "{missing:?}");
        let soft = profile("softhsm2.toml");
        assert!(
            soft.first_missing(&[0x1080, 0x210A, 0x350, 0x251])
                .is_none()
        );
        assert_eq!(
            soft.first_missing(&[0x1080, 0x210A, 0x350])
                .map(|m| m.name.as_str()),
            Some("CKM_SHA256_HMAC")
        );
    }
}
