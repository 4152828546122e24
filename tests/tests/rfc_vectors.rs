//! Known-answer tests for the primitives the vault seals records with.
//!
//! * AES-256-GCM-SIV (record sealing): every AEAD_AES_256_GCM_SIV vector of
//!   RFC 8452, Appendix C.2 (<https://www.rfc-editor.org/rfc/rfc8452#appendix-C.2>),
//!   run through `aes_gcm_siv::Aes256GcmSiv`: encryption must give the RFC's
//!   "Result" (ciphertext || 16-byte tag), decryption must give the plaintext
//!   back, and a single flipped tag bit (or a changed AAD) must be rejected.
//! * HKDF-SHA256 (subkey derivation): RFC 5869, Appendix A, test cases 1, 2
//!   and 3 (<https://www.rfc-editor.org/rfc/rfc5869#appendix-A>), checking
//!   both the PRK (extract) and the OKM (expand), through `hkdf::Hkdf<Sha256>`.
//!
//! The vectors are copied by hand from the RFC text into hex literals below; the
//! RFC 8452 ones were also cross-checked against the "RFC 8452" known-answer
//! entries of Wycheproof's `aes_gcm_siv_test.json`, which `conformance.rs` runs.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests stop at the first fault

use aes_gcm_siv::aead::{Aead, KeyInit, Payload};
use aes_gcm_siv::{Aes256GcmSiv, Nonce};
use hex_literal::hex;
use hkdf::Hkdf;
use sha2::Sha256;

/// One AEAD_AES_256_GCM_SIV test vector of RFC 8452, Appendix C.2.
struct GcmSivVector {
    /// Position in Appendix C.2 (1-based), for failure messages.
    number: usize,
    key: [u8; 32],
    nonce: [u8; 12],
    aad: &'static [u8],
    plaintext: &'static [u8],
    /// The RFC's "Result": ciphertext followed by the 16-byte tag.
    result: &'static [u8],
}

/// Key and nonce shared by the first 16 vectors of Appendix C.2.
const K1: [u8; 32] = hex!("01000000000000000000000000000000 00000000000000000000000000000000");
const N1: [u8; 12] = hex!("030000000000000000000000");

/// RFC 8452, Appendix C.2 (AEAD_AES_256_GCM_SIV), in the RFC's order.
const RFC8452_C2: &[GcmSivVector] = &[
    GcmSivVector {
        number: 1,
        key: K1,
        nonce: N1,
        aad: b"",
        plaintext: b"",
        result: &hex!("07f5f4169bbf55a8400cd47ea6fd400f"),
    },
    GcmSivVector {
        number: 2,
        key: K1,
        nonce: N1,
        aad: b"",
        plaintext: &hex!("0100000000000000"),
        result: &hex!("c2ef328e5c71c83b843122130f7364b7 61e0b97427e3df28"),
    },
    GcmSivVector {
        number: 3,
        key: K1,
        nonce: N1,
        aad: b"",
        plaintext: &hex!("010000000000000000000000"),
        result: &hex!("9aab2aeb3faa0a34aea8e2b18ca50da9 ae6559e48fd10f6e5c9ca17e"),
    },
    GcmSivVector {
        number: 4,
        key: K1,
        nonce: N1,
        aad: b"",
        plaintext: &hex!("01000000000000000000000000000000"),
        result: &hex!("85a01b63025ba19b7fd3ddfc033b3e76 c9eac6fa700942702e90862383c6c366"),
    },
    GcmSivVector {
        number: 5,
        key: K1,
        nonce: N1,
        aad: b"",
        plaintext: &hex!(
            "01000000000000000000000000000000"
            "02000000000000000000000000000000"
        ),
        result: &hex!(
            "4a6a9db4c8c6549201b9edb53006cba8"
            "21ec9cf850948a7c86c68ac7539d027f"
            "e819e63abcd020b006a976397632eb5d"
        ),
    },
    GcmSivVector {
        number: 6,
        key: K1,
        nonce: N1,
        aad: b"",
        plaintext: &hex!(
            "01000000000000000000000000000000"
            "02000000000000000000000000000000"
            "03000000000000000000000000000000"
        ),
        result: &hex!(
            "c00d121893a9fa603f48ccc1ca3c57ce"
            "7499245ea0046db16c53c7c66fe717e3"
            "9cf6c748837b61f6ee3adcee17534ed5"
            "790bc96880a99ba804bd12c0e6a22cc4"
        ),
    },
    GcmSivVector {
        number: 7,
        key: K1,
        nonce: N1,
        aad: b"",
        plaintext: &hex!(
            "01000000000000000000000000000000"
            "02000000000000000000000000000000"
            "03000000000000000000000000000000"
            "04000000000000000000000000000000"
        ),
        result: &hex!(
            "c2d5160a1f8683834910acdafc41fbb1"
            "632d4a353e8b905ec9a5499ac34f96c7"
            "e1049eb080883891a4db8caaa1f99dd0"
            "04d80487540735234e3744512c6f90ce"
            "112864c269fc0d9d88c61fa47e39aa08"
        ),
    },
    GcmSivVector {
        number: 8,
        key: K1,
        nonce: N1,
        aad: &hex!("01"),
        plaintext: &hex!("0200000000000000"),
        result: &hex!("1de22967237a813291213f267e3b452f 02d01ae33e4ec854"),
    },
    GcmSivVector {
        number: 9,
        key: K1,
        nonce: N1,
        aad: &hex!("01"),
        plaintext: &hex!("020000000000000000000000"),
        result: &hex!("163d6f9cc1b346cd453a2e4cc1a4a19a e800941ccdc57cc8413c277f"),
    },
    GcmSivVector {
        number: 10,
        key: K1,
        nonce: N1,
        aad: &hex!("01"),
        plaintext: &hex!("02000000000000000000000000000000"),
        result: &hex!("c91545823cc24f17dbb0e9e807d5ec17 b292d28ff61189e8e49f3875ef91aff7"),
    },
    GcmSivVector {
        number: 11,
        key: K1,
        nonce: N1,
        aad: &hex!("01"),
        plaintext: &hex!(
            "02000000000000000000000000000000"
            "03000000000000000000000000000000"
        ),
        result: &hex!(
            "07dad364bfc2b9da89116d7bef6daaaf"
            "6f255510aa654f920ac81b94e8bad365"
            "aea1bad12702e1965604374aab96dbbc"
        ),
    },
    GcmSivVector {
        number: 12,
        key: K1,
        nonce: N1,
        aad: &hex!("01"),
        plaintext: &hex!(
            "02000000000000000000000000000000"
            "03000000000000000000000000000000"
            "04000000000000000000000000000000"
        ),
        result: &hex!(
            "c67a1f0f567a5198aa1fcc8e3f213143"
            "36f7f51ca8b1af61feac35a86416fa47"
            "fbca3b5f749cdf564527f2314f42fe25"
            "03332742b228c647173616cfd44c54eb"
        ),
    },
    GcmSivVector {
        number: 13,
        key: K1,
        nonce: N1,
        aad: &hex!("01"),
        plaintext: &hex!(
            "02000000000000000000000000000000"
            "03000000000000000000000000000000"
            "04000000000000000000000000000000"
            "05000000000000000000000000000000"
        ),
        result: &hex!(
            "67fd45e126bfb9a79930c43aad2d3696"
            "7d3f0e4d217c1e551f59727870beefc9"
            "8cb933a8fce9de887b1e40799988db1f"
            "c3f91880ed405b2dd298318858467c89"
            "5bde0285037c5de81e5b570a049b62a0"
        ),
    },
    GcmSivVector {
        number: 14,
        key: K1,
        nonce: N1,
        aad: &hex!("010000000000000000000000"),
        plaintext: &hex!("02000000"),
        result: &hex!("22b3f4cd1835e517741dfddccfa07fa4 661b74cf"),
    },
    GcmSivVector {
        number: 15,
        key: K1,
        nonce: N1,
        aad: &hex!("01000000000000000000000000000000 0200"),
        plaintext: &hex!("03000000000000000000000000000000 04000000"),
        result: &hex!(
            "43dd0163cdb48f9fe3212bf61b201976"
            "067f342bb879ad976d8242acc188ab59"
            "cabfe307"
        ),
    },
    GcmSivVector {
        number: 16,
        key: K1,
        nonce: N1,
        aad: &hex!("01000000000000000000000000000000 02000000"),
        plaintext: &hex!("03000000000000000000000000000000 0400"),
        result: &hex!(
            "462401724b5ce6588d5a54aae5375513"
            "a075cfcdf5042112aa29685c912fc205"
            "6543"
        ),
    },
    GcmSivVector {
        number: 17,
        key: hex!("e66021d5eb8e4f4066d4adb9c33560e4 f46e44bb3da0015c94f7088736864200"),
        nonce: hex!("e0eaf5284d884a0e77d31646"),
        aad: b"",
        plaintext: b"",
        result: &hex!("169fbb2fbf389a995f6390af22228a62"),
    },
    GcmSivVector {
        number: 18,
        key: hex!("bae8e37fc83441b16034566b7a806c46 bb91c3c5aedb64a6c590bc84d1a5e269"),
        nonce: hex!("e4b47801afc0577e34699b9e"),
        aad: &hex!("4fbdc66f14"),
        plaintext: &hex!("671fdd"),
        result: &hex!("0eaccb93da9bb81333aee0c785b240d3 19719d"),
    },
    GcmSivVector {
        number: 19,
        key: hex!("6545fc880c94a95198874296d5cc1fd1 61320b6920ce07787f86743b275d1ab3"),
        nonce: hex!("2f6d1f0434d8848c1177441f"),
        aad: &hex!("6787f3ea22c127aaf195"),
        plaintext: &hex!("195495860f04"),
        result: &hex!("a254dad4f3f96b62b84dc40c84636a5e c12020ec8c2c"),
    },
    GcmSivVector {
        number: 20,
        key: hex!("d1894728b3fed1473c528b8426a58299 5929a1499e9ad8780c8d63d0ab4149c0"),
        nonce: hex!("9f572c614b4745914474e7c7"),
        aad: &hex!("489c8fde2be2cf97e74e932d4ed87d"),
        plaintext: &hex!("c9882e5386fd9f92ec"),
        result: &hex!("0df9e308678244c44bc0fd3dc6628dfe 55ebb0b9fb2295c8c2"),
    },
    GcmSivVector {
        number: 21,
        key: hex!("a44102952ef94b02b805249bac80e6f6 1455bfac8308a2d40d8c845117808235"),
        nonce: hex!("5c9e940fea2f582950a70d5a"),
        aad: &hex!("0da55210cc1c1b0abde3b2f204d1e9f8 b06bc47f"),
        plaintext: &hex!("1db2316fd568378da107b52b"),
        result: &hex!("8dbeb9f7255bf5769dd56692404099c2 587f64979f21826706d497d5"),
    },
    GcmSivVector {
        number: 22,
        key: hex!("9745b3d1ae06556fb6aa7890bebc18fe 6b3db4da3d57aa94842b9803a96e07fb"),
        nonce: hex!("6de71860f762ebfbd08284e4"),
        aad: &hex!("f37de21c7ff901cfe8a69615a93fdf7a 98cad481796245709f"),
        plaintext: &hex!("21702de0de18baa9c9596291b08466"),
        result: &hex!("793576dfa5c0f88729a7ed3c2f1bffb3 080d28f6ebb5d3648ce97bd5ba67fd"),
    },
    GcmSivVector {
        number: 23,
        key: hex!("b18853f68d833640e42a3c02c25b6486 9e146d7b233987bddfc240871d7576f7"),
        nonce: hex!("028ec6eb5ea7e298342a94d4"),
        aad: &hex!("9c2159058b1f0fe91433a5bdc20e214e ab7fecef4454a10ef0657df21ac7"),
        plaintext: &hex!("b202b370ef9768ec6561c4fe6b7e7296 fa85"),
        result: &hex!(
            "857e16a64915a787637687db4a951963"
            "5cdd454fc2a154fea91f8363a39fec7d"
            "0a49"
        ),
    },
    GcmSivVector {
        number: 24,
        key: hex!("3c535de192eaed3822a2fbbe2ca9dfc8 8255e14a661b8aa82cc54236093bbc23"),
        nonce: hex!("688089e55540db1872504e1c"),
        aad: &hex!(
            "734320ccc9d9bbbb19cb81b2af4ecbc3"
            "e72834321f7aa0f70b7282b4f33df23f"
            "167541"
        ),
        plaintext: &hex!("ced532ce4159b035277d4dfbb7db6296 8b13cd4eec"),
        result: &hex!(
            "626660c26ea6612fb17ad91e8e767639"
            "edd6c9faee9d6c7029675b89eaf4ba1d"
            "ed1a286594"
        ),
    },
];

const TAG_LEN: usize = 16;

fn cipher(v: &GcmSivVector) -> Aes256GcmSiv {
    Aes256GcmSiv::new(&v.key.into())
}

fn nonce(v: &GcmSivVector) -> Nonce {
    Nonce::from(v.nonce)
}

/// Guards against the table being trimmed: the brief requires the empty-plaintext,
/// with-AAD and multi-block cases to stay in.
#[test]
fn rfc8452_c2_table_covers_required_shapes() {
    assert_eq!(RFC8452_C2.len(), 24, "Appendix C.2 has 24 vectors");
    for (i, v) in RFC8452_C2.iter().enumerate() {
        assert_eq!(v.number, i + 1, "vectors must stay in RFC order");
        assert_eq!(
            v.result.len(),
            v.plaintext.len() + TAG_LEN,
            "C.2 #{}: result must be ciphertext || 16-byte tag",
            v.number
        );
    }
    assert!(RFC8452_C2.iter().any(|v| v.plaintext.is_empty()));
    assert!(RFC8452_C2.iter().any(|v| !v.aad.is_empty()));
    assert!(RFC8452_C2.iter().any(|v| v.plaintext.len() >= 4 * 16));
    assert!(
        RFC8452_C2
            .iter()
            .any(|v| !v.aad.is_empty() && v.plaintext.len() % 16 != 0)
    );
}

#[test]
fn rfc8452_c2_aes256gcmsiv_encrypt_gives_published_result() {
    for v in RFC8452_C2 {
        let out = cipher(v)
            .encrypt(
                &nonce(v),
                Payload {
                    msg: v.plaintext,
                    aad: v.aad,
                },
            )
            .unwrap_or_else(|e| panic!("C.2 #{}: encrypt failed: {e:?}", v.number));
        assert_eq!(
            hex::encode(&out),
            hex::encode(v.result),
            "C.2 #{}: ciphertext || tag differs from RFC 8452",
            v.number
        );
    }
}

#[test]
fn rfc8452_c2_aes256gcmsiv_decrypt_recovers_plaintext() {
    for v in RFC8452_C2 {
        let out = cipher(v)
            .decrypt(
                &nonce(v),
                Payload {
                    msg: v.result,
                    aad: v.aad,
                },
            )
            .unwrap_or_else(|e| panic!("C.2 #{}: decrypt failed: {e:?}", v.number));
        assert_eq!(
            hex::encode(&out),
            hex::encode(v.plaintext),
            "C.2 #{}: decrypted plaintext differs from RFC 8452",
            v.number
        );
    }
}

#[test]
fn rfc8452_c2_aes256gcmsiv_rejects_flipped_tag_bit() {
    for v in RFC8452_C2 {
        let tag_start = v.result.len() - TAG_LEN;
        // First and last bit of the tag, and one in the middle.
        for bit in [0usize, 63, 127] {
            let mut forged = v.result.to_vec();
            forged[tag_start + bit / 8] ^= 1 << (bit % 8);
            let res = cipher(v).decrypt(
                &nonce(v),
                Payload {
                    msg: &forged,
                    aad: v.aad,
                },
            );
            assert!(
                res.is_err(),
                "C.2 #{}: tag with bit {bit} flipped was accepted",
                v.number
            );
        }
    }
}

#[test]
fn rfc8452_c2_aes256gcmsiv_rejects_changed_aad() {
    for v in RFC8452_C2 {
        let mut aad = v.aad.to_vec();
        match aad.first_mut() {
            Some(b) => *b ^= 0x01,
            None => aad.push(0x00),
        }
        let res = cipher(v).decrypt(
            &nonce(v),
            Payload {
                msg: v.result,
                aad: &aad,
            },
        );
        assert!(
            res.is_err(),
            "C.2 #{}: decrypt succeeded with a different AAD",
            v.number
        );
    }
}

/// One HKDF-SHA256 test case of RFC 5869, Appendix A.
struct HkdfVector {
    case: &'static str,
    ikm: &'static [u8],
    /// `None` means "not provided"; RFC 5869 §2.2 then uses HashLen zero octets.
    salt: Option<&'static [u8]>,
    info: &'static [u8],
    prk: [u8; 32],
    okm: &'static [u8],
}

const RFC5869_A1: HkdfVector = HkdfVector {
    case: "A.1 (basic test case with SHA-256)",
    ikm: &hex!("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"),
    salt: Some(&hex!("000102030405060708090a0b0c")),
    info: &hex!("f0f1f2f3f4f5f6f7f8f9"),
    prk: hex!("077709362c2e32df0ddc3f0dc47bba63 90b6c73bb50f9c3122ec844ad7c2b3e5"),
    okm: &hex!(
        "3cb25f25faacd57a90434f64d0362f2a"
        "2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
        "34007208d5b887185865"
    ),
};

const RFC5869_A2: HkdfVector = HkdfVector {
    case: "A.2 (SHA-256 with longer inputs/outputs)",
    ikm: &hex!(
        "000102030405060708090a0b0c0d0e0f"
        "101112131415161718191a1b1c1d1e1f"
        "202122232425262728292a2b2c2d2e2f"
        "303132333435363738393a3b3c3d3e3f"
        "404142434445464748494a4b4c4d4e4f"
    ),
    salt: Some(&hex!(
        "606162636465666768696a6b6c6d6e6f"
        "707172737475767778797a7b7c7d7e7f"
        "808182838485868788898a8b8c8d8e8f"
        "909192939495969798999a9b9c9d9e9f"
        "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
    )),
    info: &hex!(
        "b0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
        "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
        "d0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
        "e0e1e2e3e4e5e6e7e8e9eaebecedeeef"
        "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"
    ),
    prk: hex!("06a6b88c5853361a06104c9ceb35b45c ef760014904671014a193f40c15fc244"),
    okm: &hex!(
        "b11e398dc80327a1c8e7f78c596a4934"
        "4f012eda2d4efad8a050cc4c19afa97c"
        "59045a99cac7827271cb41c65e590e09"
        "da3275600c2f09b8367793a9aca3db71"
        "cc30c58179ec3e87c14c01d5c1f3434f"
        "1d87"
    ),
};

const RFC5869_A3: HkdfVector = HkdfVector {
    case: "A.3 (SHA-256 with zero-length salt/info)",
    ikm: &hex!("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"),
    salt: Some(b""),
    info: b"",
    prk: hex!("19ef24a32c717b167f33a91d6f648bdf 96596776afdb6377ac434c1c293ccb04"),
    okm: &hex!(
        "8da4e775a563c18f715f802a063c5a31"
        "b8a11f5c5ee1879ec3454e5f3c738d2d"
        "9d201395faa4b61a96c8"
    ),
};

fn check_hkdf(v: &HkdfVector) {
    let (prk, hk) = Hkdf::<Sha256>::extract(v.salt, v.ikm);
    assert_eq!(
        hex::encode(prk.as_slice()),
        hex::encode(v.prk),
        "RFC 5869 {}: PRK",
        v.case
    );

    let mut okm = vec![0u8; v.okm.len()];
    hk.expand(v.info, &mut okm)
        .unwrap_or_else(|e| panic!("RFC 5869 {}: expand failed: {e:?}", v.case));
    assert_eq!(
        hex::encode(&okm),
        hex::encode(v.okm),
        "RFC 5869 {}: OKM",
        v.case
    );

    // Expanding from the published PRK must give the same OKM.
    let hk = Hkdf::<Sha256>::from_prk(&v.prk)
        .unwrap_or_else(|e| panic!("RFC 5869 {}: from_prk failed: {e:?}", v.case));
    let mut okm = vec![0u8; v.okm.len()];
    hk.expand(v.info, &mut okm)
        .unwrap_or_else(|e| panic!("RFC 5869 {}: expand from PRK failed: {e:?}", v.case));
    assert_eq!(
        hex::encode(&okm),
        hex::encode(v.okm),
        "RFC 5869 {}: OKM from published PRK",
        v.case
    );
}

#[test]
fn rfc5869_a1_hkdf_sha256_basic() {
    check_hkdf(&RFC5869_A1);
}

#[test]
fn rfc5869_a2_hkdf_sha256_long_inputs_outputs() {
    check_hkdf(&RFC5869_A2);
}

#[test]
fn rfc5869_a3_hkdf_sha256_zero_length_salt_and_info() {
    check_hkdf(&RFC5869_A3);
    // A salt that is "not provided" (None) must behave like the zero-length salt.
    check_hkdf(&HkdfVector {
        salt: None,
        ..RFC5869_A3
    });
}
