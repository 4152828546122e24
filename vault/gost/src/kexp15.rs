//! KExp15 / KImp15 key export and import, Kuznyechik variant
//! (Р 1323565.1.017-2018, Appendix B; the key-wrap mechanism CKM_KUZNECHIK_KEXP_15_WRAP).
//!
//! KExp15(K, K_mac, K_enc, IV) = CTR_{K_enc}(IV, K || OMAC_{K_mac}(IV || K)), where
//! CTR is ГОСТ Р 34.13-2015 §5.2 with the initial counter IV || 0^64 and OMAC is
//! ГОСТ Р 34.13-2015 §5.6 (= CMAC with the 128-bit constant 0x87), both over Kuznyechik.
//! The IV is half a block (8 bytes) and must not repeat under the same key pair.

use cmac::{Cmac, KeyInit, Mac};
use ctr::cipher::{KeyIvInit, StreamCipher};
use kuznyechik::Kuznyechik;
use subtle::ConstantTimeEq;

use crate::{Error, SecretBytes};

/// KExp15 IV length for Kuznyechik: half a block.
pub const KEXP15_IV_LEN: usize = 8;
/// Length of the OMAC appended to the exported key: a full Kuznyechik block.
pub const KEXP15_MAC_LEN: usize = 16;

/// ГОСТ Р 34.13 CTR: the counter is the whole block, incremented modulo 2^128.
type KuznyechikCtr = ctr::Ctr128BE<Kuznyechik>;

/// Exports (wraps) `key_to_export`; the result is `key.len() + 16` bytes.
pub fn kexp15(
    key_to_export: &[u8],
    k_mac: &[u8; 32],
    k_enc: &[u8; 32],
    iv: &[u8; KEXP15_IV_LEN],
) -> Vec<u8> {
    let mac = omac(k_mac, iv, key_to_export);
    // Exact capacity: the key is encrypted in place and must not be left behind by a
    // reallocation.
    let mut out = Vec::with_capacity(key_to_export.len() + KEXP15_MAC_LEN);
    out.extend_from_slice(key_to_export);
    out.extend_from_slice(&mac);
    ctr_apply(k_enc, iv, &mut out);
    out
}

/// Imports (unwraps) a key exported by [`kexp15`], checking its OMAC in constant time.
///
/// # Errors
/// [`Error::Authentication`] for every failure (too short, wrong keys or IV, tampering);
/// nothing is returned on failure and the decrypted buffer is wiped.
pub fn kimp15(
    wrapped: &[u8],
    k_mac: &[u8; 32],
    k_enc: &[u8; 32],
    iv: &[u8; KEXP15_IV_LEN],
) -> Result<SecretBytes, Error> {
    let key_len = wrapped
        .len()
        .checked_sub(KEXP15_MAC_LEN)
        .ok_or(Error::Authentication)?;
    // Held as SecretBytes from the start, so it is wiped on every return path.
    let mut buf = SecretBytes::new(wrapped.to_vec());
    let plain = buf.as_mut_vec();
    ctr_apply(k_enc, iv, plain);
    let (key, mac) = plain.split_at(key_len);
    if !bool::from(omac(k_mac, iv, key)[..].ct_eq(mac)) {
        return Err(Error::Authentication);
    }
    // Drops only the MAC; the Vec's zeroize also wipes spare capacity.
    plain.truncate(key_len);
    Ok(buf)
}

/// OMAC_{K_mac}(IV || K) (ГОСТ Р 34.13-2015 §5.6).
fn omac(k_mac: &[u8; 32], iv: &[u8; KEXP15_IV_LEN], key: &[u8]) -> [u8; KEXP15_MAC_LEN] {
    let mut mac = <Cmac<Kuznyechik> as KeyInit>::new(k_mac.into());
    mac.update(iv);
    mac.update(key);
    mac.finalize().into_bytes().into()
}

/// CTR_{K_enc} with initial counter IV || 0^64 (ГОСТ Р 34.13-2015 §5.2).
fn ctr_apply(k_enc: &[u8; 32], iv: &[u8; KEXP15_IV_LEN], data: &mut [u8]) {
    let mut counter = [0u8; 16];
    counter[..KEXP15_IV_LEN].copy_from_slice(iv);
    KuznyechikCtr::new(k_enc.into(), &counter.into()).apply_keystream(data);
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;
    use proptest::prelude::*;

    // Р 1323565.1.017-2018 Appendix B, Kuznyechik example; reproduced in pygost
    // (pygost/test_wrap.py, TestVectorKExp15.test_kuznechik) and as the ETALON of a
    // PKCS#11 CKM_KUZNECHIK_KEXP_15_WRAP test. K_mac and K_enc are the two halves of
    // the twin key, MAC half first.
    const KEY: [u8; 32] = hex!("8899aabbccddeeff0011223344556677fedcba98765432100123456789abcdef");
    const K_MAC: [u8; 32] =
        hex!("08090a0b0c0d0e0f0001020304050607101112131415161718191a1b1c1d1e1f");
    const K_ENC: [u8; 32] =
        hex!("202122232425262728292a2b2c2d2e2f38393a3b3c3d3e3f3031323334353637");
    const IV: [u8; 8] = hex!("0909472dd9f26be8");
    // Intermediate KEYMAC = OMAC_{K_mac}(IV || K), printed separately in the standard.
    const KEY_MAC: [u8; 16] = hex!("10022ade94ee55b434d2077f5a13aff4");
    const EXPORTED: [u8; 48] = hex!(
        "e36184e84e8d736ff36cc2e5ae065dc6"
        "56b23c20f549b02fdff88e1f3f30d8c2"
        "9a53f3ca554dbad80de152b9a4625b32"
    );

    #[test]
    fn kexp15_known_answer() {
        assert_eq!(omac(&K_MAC, &IV, &KEY), KEY_MAC);
        assert_eq!(kexp15(&KEY, &K_MAC, &K_ENC, &IV), EXPORTED);
    }

    #[test]
    fn kimp15_known_answer() {
        let key = kimp15(&EXPORTED, &K_MAC, &K_ENC, &IV).unwrap();
        assert_eq!(key.as_bytes(), KEY);
    }

    #[test]
    fn kimp15_rejects_tampering_and_wrong_parameters() {
        for i in 0..EXPORTED.len() * 8 {
            let mut bad = EXPORTED;
            bad[i / 8] ^= 1 << (i % 8);
            assert!(matches!(
                kimp15(&bad, &K_MAC, &K_ENC, &IV),
                Err(Error::Authentication)
            ));
        }
        let mut iv = IV;
        iv[7] ^= 1;
        assert!(kimp15(&EXPORTED, &K_MAC, &K_ENC, &iv).is_err());
        assert!(kimp15(&EXPORTED, &K_ENC, &K_MAC, &IV).is_err());
        for len in 0..EXPORTED.len() {
            assert!(matches!(
                kimp15(&EXPORTED[..len], &K_MAC, &K_ENC, &IV),
                Err(Error::Authentication)
            ));
        }
    }

    proptest! {
        #[test]
        fn round_trip(
            key in proptest::collection::vec(any::<u8>(), 0..100),
            k_mac in any::<[u8; 32]>(),
            k_enc in any::<[u8; 32]>(),
            iv in any::<[u8; 8]>(),
        ) {
            let wrapped = kexp15(&key, &k_mac, &k_enc, &iv);
            prop_assert_eq!(wrapped.len(), key.len() + KEXP15_MAC_LEN);
            let unwrapped = kimp15(&wrapped, &k_mac, &k_enc, &iv).unwrap();
            prop_assert_eq!(unwrapped.as_bytes(), &key[..]);
        }
    }
}
