//! Key derivation from Р 50.1.113-2016: KDF_GOSTR3411_2012_256 (§4.4, RFC 7836 §4.5)
//! and KDF_TREE_GOSTR3411_2012_256 (§4.5), both built on HMAC_GOSTR3411_2012_256.

use crate::hmac_streebog::hmac_parts;
use crate::{Error, SecretBytes, SecretKey};

/// KDF_GOSTR3411_2012_256(K, label, seed) =
/// HMAC_GOSTR3411_2012_256(K, 0x01 || label || 0x00 || seed || 0x01 || 0x00).
///
/// It is KDF_TREE with R = 1 and L = 256 bits, hence the fixed bytes.
pub fn kdf_gostr3411_2012_256(key: &[u8; 32], label: &[u8], seed: &[u8]) -> SecretKey {
    hmac_parts(key, &[&[0x01], label, &[0x00], seed, &[0x01, 0x00]])
}

/// KDF_TREE_GOSTR3411_2012_256(K, label, seed, R) producing `out_len` bytes:
/// `K(i) = HMAC_GOSTR3411_2012_256(K, [i]_R || label || 0x00 || seed || [L]_b)`,
/// output `K(1) || K(2) || ...`, where `[i]_R` is i as R big-endian bytes and
/// `[L]_b` is L = 8 * `out_len` (bits) as big-endian bytes without leading zeros.
///
/// Like gost-engine, `out_len` must be a positive multiple of 32.
///
/// # Errors
/// [`Error::InvalidLength`] if `r` is not 1..=4, `out_len` is not a positive
/// multiple of 32, L does not fit 32 bits, or the block count does not fit R bytes.
pub fn kdf_tree_gostr3411_2012_256(
    key: &[u8; 32],
    label: &[u8],
    seed: &[u8],
    r: usize,
    out_len: usize,
) -> Result<SecretBytes, Error> {
    if !(1..=4).contains(&r) || out_len == 0 || !out_len.is_multiple_of(32) {
        return Err(Error::InvalidLength);
    }
    let blocks = u32::try_from(out_len / 32).map_err(|_| Error::InvalidLength)?;
    let l_bits = u32::try_from(out_len)
        .ok()
        .and_then(|n| n.checked_mul(8))
        .ok_or(Error::InvalidLength)?;
    if r < 4 && blocks >= 1 << (8 * r) {
        return Err(Error::InvalidLength);
    }
    let l_bytes = l_bits.to_be_bytes();
    let l_repr = &l_bytes[l_bits.leading_zeros() as usize / 8..];

    let mut out = SecretBytes::new(Vec::with_capacity(out_len));
    for i in 1..=blocks {
        let i_repr = &i.to_be_bytes()[4 - r..];
        let k_i = hmac_parts(key, &[i_repr, label, &[0x00], seed, l_repr]);
        out.as_mut_vec().extend_from_slice(k_i.as_bytes());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    // RFC 7836 §4.5 (also Р 50.1.113-2016 Appendix A).
    const KEY: [u8; 32] = hex!("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    const LABEL: [u8; 4] = hex!("26bdb878");
    const SEED: [u8; 8] = hex!("af21434145656378");

    #[test]
    fn rfc7836_kdf_known_answer() {
        let k = kdf_gostr3411_2012_256(&KEY, &LABEL, &SEED);
        assert_eq!(
            k.as_bytes(),
            &hex!("a1aa5f7de402d7b3d323f2991c8d4534013137010a83754fd0af6d7cd4922ed9")
        );
    }

    // Р 50.1.113-2016 Appendix A, KDF_TREE with R = 1, L = 512; the same data is the
    // `kdf_etalon` of gost-engine test_keyexpimp.c.
    #[test]
    fn kdf_tree_known_answer() {
        let k = kdf_tree_gostr3411_2012_256(&KEY, &LABEL, &SEED, 1, 64).unwrap();
        assert_eq!(
            k.as_bytes(),
            hex!(
                "22b6837845c6bef65ea71672b265831086d3c76aebe6dae91cad51d83f79d16b"
                "074c9330599d7f8d712fca54392f4ddde93751206b3584c8f43f9e6dc51531f9"
            )
        );
    }

    #[test]
    fn kdf_tree_with_l_256_equals_kdf_256() {
        let tree = kdf_tree_gostr3411_2012_256(&KEY, &LABEL, &SEED, 1, 32).unwrap();
        let kdf = kdf_gostr3411_2012_256(&KEY, &LABEL, &SEED);
        assert_eq!(tree.as_bytes(), kdf.as_bytes());
    }

    #[test]
    fn kdf_tree_rejects_bad_parameters() {
        for (r, len) in [(0, 32), (5, 32), (1, 0), (1, 31), (1, 33), (1, 256 * 32)] {
            assert!(matches!(
                kdf_tree_gostr3411_2012_256(&KEY, &LABEL, &SEED, r, len),
                Err(Error::InvalidLength)
            ));
        }
        // 255 blocks fit in one byte of counter.
        assert!(kdf_tree_gostr3411_2012_256(&KEY, &LABEL, &SEED, 1, 255 * 32).is_ok());
    }
}
