//! Known-answer tests for the RustCrypto primitives this crate builds on, to catch a
//! dependency upgrade that changes their behaviour or byte order.

use cmac::{Cmac, KeyInit, Mac};
use ctr::cipher::{KeyIvInit, StreamCipher};
use hex_literal::hex;
use kuznyechik::Kuznyechik;
use kuznyechik::cipher::{BlockCipherDecrypt, BlockCipherEncrypt};
use streebog::{Digest, Streebog256};

const KUZ_KEY: [u8; 32] = hex!("8899aabbccddeeff0011223344556677fedcba98765432100123456789abcdef");

/// The four-block plaintext of ГОСТ Р 34.13-2015 Appendix A.1.
const GOST_3413_PT: [u8; 64] = hex!(
    "1122334455667700ffeeddccbbaa9988"
    "00112233445566778899aabbcceeff0a"
    "112233445566778899aabbcceeff0a00"
    "2233445566778899aabbcceeff0a0011"
);

/// ГОСТ Р 34.12-2015 Appendix A.1 / RFC 7801 §5.
#[test]
fn kuznyechik_block() {
    let cipher = Kuznyechik::new((&KUZ_KEY).into());
    let mut block = hex!("1122334455667700ffeeddccbbaa9988").into();
    cipher.encrypt_block(&mut block);
    assert_eq!(block[..], hex!("7f679d90bebc24305a468d42b9d4edcd"));
    cipher.decrypt_block(&mut block);
    assert_eq!(block[..], hex!("1122334455667700ffeeddccbbaa9988"));
}

/// ГОСТ Р 34.13-2015 Appendix A.1.2 (CTR), counter = IV || 0^64.
#[test]
fn kuznyechik_ctr() {
    let iv = hex!("1234567890abcef00000000000000000");
    let mut data = GOST_3413_PT;
    ctr::Ctr128BE::<Kuznyechik>::new((&KUZ_KEY).into(), &iv.into()).apply_keystream(&mut data);
    assert_eq!(
        data,
        hex!(
            "f195d8bec10ed1dbd57b5fa240bda1b8"
            "85eee733f6a13e5df33ce4b33c45dee4"
            "a5eae88be6356ed3d5e877f13564a3a5"
            "cb91fab1f20cbab6d1c6d15820bdba73"
        )
    );
}

/// ГОСТ Р 34.13-2015 Appendix A.1.6 (MAC / OMAC); the standard prints the leftmost
/// 64 bits 336f4d296059fbe3; the full block is from the cmac crate's GOST vector.
#[test]
fn kuznyechik_omac() {
    let mut mac = <Cmac<Kuznyechik> as KeyInit>::new((&KUZ_KEY).into());
    mac.update(&GOST_3413_PT);
    assert_eq!(
        mac.finalize().into_bytes()[..],
        hex!("336f4d296059fbe34ddeb35b37749c67")
    );
}

/// RFC 6986 §10.1 example 1 (ГОСТ Р 34.11-2012 Appendix A, M1). The RFC prints
/// byte strings most significant byte first, i.e. reversed; in natural order M1 is
/// the ASCII text below and the hash is this byte string.
#[test]
fn streebog256_m1() {
    let m1 = b"012345678901234567890123456789012345678901234567890123456789012";
    assert_eq!(m1.len(), 63);
    assert_eq!(
        Streebog256::digest(m1)[..],
        hex!("9d151eefd8590b89daa6ba6cb74af9275dd051026bb149a452fd84e5e57b5500")
    );
}
