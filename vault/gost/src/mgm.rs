//! Kuznyechik in Multilinear Galois Mode (MGM): an AEAD per RFC 9058 and
//! Р 1323565.1.026-2019, with n = 128-bit blocks and a full 128-bit tag (S = n).
//!
//! Written here because the `mgm` crate only works with `cipher` 0.3.
//!
//! Blocks are read as big-endian 128-bit integers, exactly as RFC 9058 §3 maps a bit
//! string to an integer and to a polynomial over GF(2) (bit i is the coefficient of
//! x^i), so `u128` arithmetic matches the RFC directly.

use kuznyechik::Kuznyechik;
use kuznyechik::cipher::{BlockCipherEncrypt, KeyInit};
use subtle::ConstantTimeEq;

use crate::Error;

/// MGM nonce length in bytes (one Kuznyechik block).
pub const MGM_NONCE_LEN: usize = 16;
/// MGM tag length in bytes (the full block; RFC 9058 allows truncation, we do not).
pub const MGM_TAG_LEN: usize = 16;

const BLOCK: usize = 16;
const TOP_BIT: u128 = 1 << 127;
const LOW_HALF: u128 = u64::MAX as u128;

/// Kuznyechik-MGM AEAD (RFC 9058, Р 1323565.1.026-2019).
///
/// Output of [`encrypt`](Self::encrypt) is `ciphertext || 16-byte tag`.
/// The nonce must be unique per key and have its most significant bit clear.
///
/// The key schedule lives in [`Kuznyechik`], which wipes its round keys on drop
/// when the `kuznyechik/zeroize` feature is enabled. Deliberately neither `Debug`
/// nor `Clone`.
pub struct KuznyechikMgm {
    cipher: Kuznyechik,
}

impl KuznyechikMgm {
    /// Creates the AEAD from a 256-bit Kuznyechik key.
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: Kuznyechik::new(key.into()),
        }
    }

    /// Encrypts and authenticates; returns `ciphertext || tag`.
    ///
    /// # Errors
    /// [`Error::InvalidNonce`] if the nonce's top bit is set; [`Error::InvalidLength`]
    /// if `aad` and `plaintext` are both empty or too long for RFC 9058 §4.1
    /// (0 < |A| + |P| < 2^64 bits).
    pub fn encrypt(
        &self,
        nonce: &[u8; MGM_NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let (nonce, len_block) = check_inputs(nonce, aad.len(), plaintext.len())?;
        // Reserve room for the tag now so the buffer never reallocates and leaves a
        // stray copy of the plaintext on the heap.
        let mut out = Vec::with_capacity(plaintext.len() + MGM_TAG_LEN);
        out.extend_from_slice(plaintext);
        self.apply_keystream(nonce, &mut out);
        let tag = self.tag(nonce, aad, &out, len_block);
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Verifies the tag and, only if it is valid, decrypts.
    ///
    /// # Errors
    /// [`Error::Authentication`] for every failure (short input, bad nonce, bad tag),
    /// with no plaintext released.
    pub fn decrypt(
        &self,
        nonce: &[u8; MGM_NONCE_LEN],
        aad: &[u8],
        ciphertext_and_tag: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let ct_len = ciphertext_and_tag
            .len()
            .checked_sub(MGM_TAG_LEN)
            .ok_or(Error::Authentication)?;
        let (ciphertext, tag) = ciphertext_and_tag.split_at(ct_len);
        let (nonce, len_block) =
            check_inputs(nonce, aad.len(), ct_len).map_err(|_| Error::Authentication)?;
        let expected = self.tag(nonce, aad, ciphertext, len_block);
        if !bool::from(expected[..].ct_eq(tag)) {
            return Err(Error::Authentication);
        }
        let mut plaintext = ciphertext.to_vec();
        self.apply_keystream(nonce, &mut plaintext);
        Ok(plaintext)
    }

    /// One Kuznyechik block encryption on the big-endian integer form of a block.
    fn encrypt_u128(&self, x: u128) -> u128 {
        let mut block = x.to_be_bytes().into();
        self.cipher.encrypt_block(&mut block);
        u128::from_be_bytes(block.into())
    }

    /// RFC 9058 §4.1 encryption part: Y_1 = E_K(0 || ICN(nonce)),
    /// Y_{i+1} = incr_r(Y_i), C_i = P_i xor MSB(E_K(Y_i)). Its own inverse.
    fn apply_keystream(&self, nonce: u128, data: &mut [u8]) {
        let mut y = self.encrypt_u128(nonce);
        for chunk in data.chunks_mut(BLOCK) {
            let gamma = self.encrypt_u128(y).to_be_bytes();
            chunk.iter_mut().zip(gamma).for_each(|(d, g)| *d ^= g);
            y = incr_r(y);
        }
    }

    /// RFC 9058 §4.1 tag: Z_1 = E_K(1 || ICN(nonce)), H_i = E_K(Z_i),
    /// Z_{i+1} = incr_l(Z_i), T = E_K(sum H_i (x) block_i), where the blocks are A
    /// and C (each zero-padded on the right) followed by len(A) || len(C).
    fn tag(&self, nonce: u128, aad: &[u8], ciphertext: &[u8], len_block: u128) -> [u8; 16] {
        let mut z = self.encrypt_u128(nonce | TOP_BIT);
        let mut sum = 0u128;
        for chunk in aad.chunks(BLOCK).chain(ciphertext.chunks(BLOCK)) {
            sum ^= gf_mul(self.encrypt_u128(z), pad_block(chunk));
            z = incr_l(z);
        }
        sum ^= gf_mul(self.encrypt_u128(z), len_block);
        self.encrypt_u128(sum).to_be_bytes()
    }
}

/// Checks RFC 9058 §4 input limits; returns the nonce as an integer and the final
/// block len(A)_64 || len(P)_64 (lengths in bits).
fn check_inputs(
    nonce: &[u8; MGM_NONCE_LEN],
    aad_len: usize,
    text_len: usize,
) -> Result<(u128, u128), Error> {
    let nonce = u128::from_be_bytes(*nonce);
    if nonce & TOP_BIT != 0 {
        return Err(Error::InvalidNonce);
    }
    let bits = |len: usize| u64::try_from(len).ok().and_then(|l| l.checked_mul(8));
    let (Some(a_bits), Some(p_bits)) = (bits(aad_len), bits(text_len)) else {
        return Err(Error::InvalidLength);
    };
    // 0 < |A| + |P| < 2^(n/2): empty input is not defined, and the bit lengths must
    // fit the 64-bit halves of the final block.
    match a_bits.checked_add(p_bits) {
        Some(total) if total > 0 => {}
        _ => return Err(Error::InvalidLength),
    }
    Ok((nonce, (u128::from(a_bits) << 64) | u128::from(p_bits)))
}

/// incr_r: adds 1 modulo 2^64 to the right (least significant) half only.
fn incr_r(x: u128) -> u128 {
    // `as u64` keeps exactly the right half.
    (x & !LOW_HALF) | u128::from((x as u64).wrapping_add(1))
}

/// incr_l: adds 1 modulo 2^64 to the left (most significant) half only; adding 2^64
/// modulo 2^128 does exactly that and leaves the right half alone.
fn incr_l(x: u128) -> u128 {
    x.wrapping_add(1 << 64)
}

/// A final partial block, zero-padded on the right (RFC 9058: A_h* || 0^(n-u)).
fn pad_block(chunk: &[u8]) -> u128 {
    let mut block = [0u8; BLOCK];
    block[..chunk.len()].copy_from_slice(chunk);
    u128::from_be_bytes(block)
}

/// Multiplication in GF(2^128) modulo x^128 + x^7 + x^2 + x + 1 (RFC 9058 §3).
///
/// Horner's rule over the bits of `b`, most significant first. No branches or
/// table look-ups depend on the (secret) operands: masks select instead.
fn gf_mul(a: u128, b: u128) -> u128 {
    let mut r = 0u128;
    for i in (0..128).rev() {
        // r = r * x mod f: shift, and fold x^128 back in as x^7 + x^2 + x + 1.
        let carry = (r >> 127).wrapping_neg();
        r = (r << 1) ^ (carry & 0x87);
        // r += b_i * a
        r ^= a & ((b >> i) & 1).wrapping_neg();
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;
    use proptest::prelude::*;

    // RFC 9058 Appendix A, example for Kuznyechik (n = 128), also in
    // Р 1323565.1.026-2019 Appendix A.
    const KEY: [u8; 32] = hex!("8899aabbccddeeff0011223344556677fedcba98765432100123456789abcdef");
    const NONCE: [u8; 16] = hex!("1122334455667700ffeeddccbbaa9988");
    const AAD: [u8; 41] = hex!(
        "02020202020202020101010101010101"
        "04040404040404040303030303030303"
        "ea05050505050505 05"
    );
    const PLAINTEXT: [u8; 67] = hex!(
        "1122334455667700ffeeddccbbaa9988"
        "00112233445566778899aabbcceeff0a"
        "112233445566778899aabbcceeff0a00"
        "2233445566778899aabbcceeff0a0011"
        "aabbcc"
    );
    const CIPHERTEXT: [u8; 67] = hex!(
        "a9757b8147956e9055b8a33de89f42fc"
        "8075d2212bf9fd5bd3f7069aadc16b39"
        "497ab15915a6ba85936b5d0ea9f6851c"
        "c60c14d4d3f883d0ab94420695c76deb"
        "2c7552"
    );
    const TAG: [u8; 16] = hex!("cf5d656f40c34f5c46e8bb0e29fcdb4c");

    fn expected_output() -> Vec<u8> {
        [&CIPHERTEXT[..], &TAG[..]].concat()
    }

    #[test]
    fn rfc9058_kuznyechik_encrypt() {
        let mgm = KuznyechikMgm::new(&KEY);
        assert_eq!(
            mgm.encrypt(&NONCE, &AAD, &PLAINTEXT).unwrap(),
            expected_output()
        );
    }

    #[test]
    fn rfc9058_kuznyechik_decrypt() {
        let mgm = KuznyechikMgm::new(&KEY);
        assert_eq!(
            mgm.decrypt(&NONCE, &AAD, &expected_output()).unwrap(),
            PLAINTEXT
        );
    }

    #[test]
    fn any_bit_flip_fails() {
        let mgm = KuznyechikMgm::new(&KEY);
        let sealed = expected_output();
        // Ciphertext and tag.
        for i in 0..sealed.len() * 8 {
            let mut bad = sealed.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert_eq!(mgm.decrypt(&NONCE, &AAD, &bad), Err(Error::Authentication));
        }
        // Associated data.
        for i in 0..AAD.len() * 8 {
            let mut bad = AAD;
            bad[i / 8] ^= 1 << (i % 8);
            assert_eq!(
                mgm.decrypt(&NONCE, &bad, &sealed),
                Err(Error::Authentication)
            );
        }
        // Nonce (flipping the top bit must fail too, as an invalid nonce).
        for i in 0..NONCE.len() * 8 {
            let mut bad = NONCE;
            bad[i / 8] ^= 1 << (i % 8);
            assert_eq!(mgm.decrypt(&bad, &AAD, &sealed), Err(Error::Authentication));
        }
    }

    #[test]
    fn truncated_or_extended_input_fails_opaquely() {
        let mgm = KuznyechikMgm::new(&KEY);
        let sealed = expected_output();
        for len in 0..sealed.len() {
            assert_eq!(
                mgm.decrypt(&NONCE, &AAD, &sealed[..len]),
                Err(Error::Authentication)
            );
        }
        let mut longer = sealed.clone();
        longer.push(0);
        assert_eq!(
            mgm.decrypt(&NONCE, &AAD, &longer),
            Err(Error::Authentication)
        );
    }

    #[test]
    fn nonce_top_bit_rejected() {
        let mgm = KuznyechikMgm::new(&KEY);
        let mut nonce = NONCE;
        nonce[0] |= 0x80;
        assert_eq!(
            mgm.encrypt(&nonce, &AAD, &PLAINTEXT),
            Err(Error::InvalidNonce)
        );
    }

    #[test]
    fn empty_aad_and_plaintext_rejected() {
        let mgm = KuznyechikMgm::new(&KEY);
        assert_eq!(mgm.encrypt(&NONCE, &[], &[]), Err(Error::InvalidLength));
        assert_eq!(
            mgm.decrypt(&NONCE, &[], &[0u8; MGM_TAG_LEN]),
            Err(Error::Authentication)
        );
    }

    #[test]
    fn counters_increment_one_half_only() {
        assert_eq!(incr_r(u128::MAX), !LOW_HALF);
        assert_eq!(incr_l(u128::MAX), LOW_HALF);
        assert_eq!(incr_r(0), 1);
        assert_eq!(incr_l(0), 1 << 64);
    }

    #[test]
    fn gf_mul_reduces_by_the_rfc_polynomial() {
        // x^127 * x = x^128 = x^7 + x^2 + x + 1.
        assert_eq!(gf_mul(TOP_BIT, 2), 0x87);
        assert_eq!(gf_mul(1, 0x1234), 0x1234);
        assert_eq!(gf_mul(0x1234, 0xabcd), gf_mul(0xabcd, 0x1234));
    }

    proptest! {
        #[test]
        fn round_trip(
            key in any::<[u8; 32]>(),
            nonce in any::<[u8; 16]>(),
            aad in proptest::collection::vec(any::<u8>(), 0..80),
            plaintext in proptest::collection::vec(any::<u8>(), 1..200),
        ) {
            let mut nonce = nonce;
            nonce[0] &= 0x7f;
            let mgm = KuznyechikMgm::new(&key);
            let sealed = mgm.encrypt(&nonce, &aad, &plaintext).unwrap();
            prop_assert_eq!(sealed.len(), plaintext.len() + MGM_TAG_LEN);
            prop_assert_eq!(mgm.decrypt(&nonce, &aad, &sealed).unwrap(), plaintext);
        }
    }
}
