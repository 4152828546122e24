//! HMAC_GOSTR3411_2012_256: HMAC (RFC 2104) over Streebog-256 (ГОСТ Р 34.11-2012),
//! as specified in Р 50.1.113-2016 §4.1.1 and RFC 7836 §4.1.1.

use hmac::{KeyInit, Mac};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::{Error, SecretKey};

/// HMAC_GOSTR3411_2012_256 for streaming use or keys that are not 256 bits.
pub type HmacStreebog256 = hmac::Hmac<streebog::Streebog256>;

/// HMAC_GOSTR3411_2012_256 output length in bytes.
pub const HMAC_STREEBOG256_LEN: usize = 32;

/// Streebog's input block size, the size HMAC pads its key to.
const STREEBOG_BLOCK: usize = 64;

/// HMAC_GOSTR3411_2012_256(key, data) with a 256-bit key.
pub fn hmac_streebog256(key: &[u8; 32], data: &[u8]) -> [u8; HMAC_STREEBOG256_LEN] {
    let mut mac = keyed(key);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Checks `tag` against HMAC_GOSTR3411_2012_256(key, data) in constant time.
///
/// # Errors
/// [`Error::Authentication`] if the tag is wrong or has the wrong length.
pub fn verify_hmac_streebog256(key: &[u8; 32], data: &[u8], tag: &[u8]) -> Result<(), Error> {
    let expected = hmac_streebog256(key, data);
    if bool::from(expected[..].ct_eq(tag)) {
        Ok(())
    } else {
        Err(Error::Authentication)
    }
}

/// HMAC over the concatenation of `parts`, kept secret: the KDF's building block.
pub(crate) fn hmac_parts(key: &[u8; 32], parts: &[&[u8]]) -> SecretKey {
    let mut mac = keyed(key);
    for part in parts {
        mac.update(part);
    }
    SecretKey::new(mac.finalize().into_bytes().into())
}

/// HMAC keyed with a 256-bit key.
///
/// HMAC zero-pads a key shorter than the hash block (RFC 2104 §2), so padding it to
/// 64 bytes here gives the same MAC while using the infallible `KeyInit::new`.
fn keyed(key: &[u8; 32]) -> HmacStreebog256 {
    let mut block = Zeroizing::new([0u8; STREEBOG_BLOCK]);
    block[..key.len()].copy_from_slice(key);
    <HmacStreebog256 as KeyInit>::new((&*block).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    // RFC 7836 §4.1.1 (also Р 50.1.113-2016 Appendix A).
    const KEY: [u8; 32] = hex!("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    const DATA: [u8; 16] = hex!("0126bdb87800af214341456563780100");
    const TAG: [u8; 32] = hex!("a1aa5f7de402d7b3d323f2991c8d4534013137010a83754fd0af6d7cd4922ed9");

    #[test]
    fn rfc7836_hmac_known_answer() {
        assert_eq!(hmac_streebog256(&KEY, &DATA), TAG);
    }

    #[test]
    fn padded_key_matches_the_slice_api() {
        let mut mac = HmacStreebog256::new_from_slice(&KEY).unwrap();
        mac.update(&DATA);
        assert_eq!(mac.finalize().into_bytes()[..], TAG);
    }

    #[test]
    fn verify_accepts_good_and_rejects_bad_tags() {
        assert_eq!(verify_hmac_streebog256(&KEY, &DATA, &TAG), Ok(()));
        for i in 0..TAG.len() * 8 {
            let mut bad = TAG;
            bad[i / 8] ^= 1 << (i % 8);
            assert_eq!(
                verify_hmac_streebog256(&KEY, &DATA, &bad),
                Err(Error::Authentication)
            );
        }
        assert_eq!(
            verify_hmac_streebog256(&KEY, &DATA, &TAG[..31]),
            Err(Error::Authentication)
        );
        assert_eq!(
            verify_hmac_streebog256(&KEY, &DATA, &[]),
            Err(Error::Authentication)
        );
    }
}
