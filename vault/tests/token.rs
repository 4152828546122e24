//! The PKCS#11 provider against a real SoftHSM2 token: KEK protection, wrap/unwrap, KEK
//! versions, finding the token by label, and refusing a token that lacks a profile mechanism.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests stop at the first fault

mod support;

use support::{token_provider, token_settings};
use vault::keys::pkcs11::{KekProtection, Pkcs11Provider};
use vault::keys::{Dek, KekVersion, KeyError, KeyProvider};

#[test]
fn kek_is_generated_sensitive_non_extractable_and_wrap_only() {
    let provider = token_provider();
    assert_eq!(provider.kek_versions().unwrap(), vec![KekVersion::FIRST]);
    assert_eq!(
        provider.kek_protection(KekVersion::FIRST).unwrap(),
        KekProtection {
            sensitive: true,
            extractable: false,
            wrap: true,
            unwrap: true,
            encrypt: false,
            decrypt: false
        }
    );
}

#[test]
fn dek_round_trips_through_the_token_and_tampering_fails() {
    let provider = token_provider();
    let dek = Dek::generate().unwrap();
    let wrapped = provider.wrap(KekVersion::FIRST, &dek).unwrap();
    assert_eq!(wrapped.len(), 40, "RFC 5649 wrap of 32 bytes");
    // RFC 5649 with the default IV is deterministic: re-wrapping what came back yields the same
    // bytes exactly when the unwrapped DEK equals the original, without exposing either.
    let back = provider.unwrap(KekVersion::FIRST, &wrapped).unwrap();
    assert_eq!(provider.wrap(KekVersion::FIRST, &back).unwrap(), wrapped);
    let other = provider
        .wrap(KekVersion::FIRST, &Dek::generate().unwrap())
        .unwrap();
    assert_ne!(other, wrapped);

    for i in [0, 7, 8, 39] {
        let mut bad = wrapped.clone();
        bad[i] ^= 0x01;
        let result = provider.unwrap(KekVersion::FIRST, &bad).map(|_| ());
        assert!(
            matches!(result, Err(KeyError::Unwrap)),
            "byte {i}: {result:?}"
        );
    }
    let truncated = provider
        .unwrap(KekVersion::FIRST, &wrapped[..32])
        .map(|_| ());
    assert!(matches!(truncated, Err(KeyError::Unwrap)), "{truncated:?}");
}

#[test]
fn kek_versions_are_separate_and_missing_ones_are_named() {
    let provider = token_provider();
    let v2 = KekVersion::FIRST.next();
    provider.create_kek(v2).unwrap();
    assert!(matches!(
        provider.create_kek(v2),
        Err(KeyError::KekExists { .. })
    ));
    assert_eq!(
        provider.kek_versions().unwrap(),
        vec![KekVersion::FIRST, v2]
    );

    let dek = Dek::generate().unwrap();
    let under_v1 = provider.wrap(KekVersion::FIRST, &dek).unwrap();
    let under_v2 = provider.wrap(v2, &dek).unwrap();
    assert_ne!(under_v1, under_v2);
    assert!(provider.unwrap(KekVersion::FIRST, &under_v1).is_ok());
    assert!(matches!(
        provider.unwrap(v2, &under_v1).map(|_| ()),
        Err(KeyError::Unwrap)
    ));
    assert!(matches!(
        provider.unwrap(KekVersion::FIRST, &under_v2).map(|_| ()),
        Err(KeyError::Unwrap)
    ));

    // Retiring v1 makes its wrappings unrecoverable, v2 stays.
    provider.destroy_kek(KekVersion::FIRST).unwrap();
    match provider.unwrap(KekVersion::FIRST, &under_v1).map(|_| ()) {
        Err(KeyError::KekMissing { label }) => assert!(label.ends_with("-v1"), "{label}"),
        other => panic!("expected KekMissing, got {other:?}"),
    }
    assert!(provider.unwrap(v2, &under_v2).is_ok());
    assert_eq!(provider.kek_versions().unwrap(), vec![v2]);
}

#[test]
fn token_is_found_by_label_not_slot() {
    let mut settings = token_settings("softhsm2.toml");
    settings.token_label = "no-such-token".into();
    match Pkcs11Provider::open(settings).map(|_| ()) {
        Err(e @ KeyError::TokenNotFound { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("'no-such-token'") && msg.contains("token_label"),
                "{msg}"
            );
        }
        other => panic!("expected TokenNotFound, got {other:?}"),
    }
}

#[test]
fn gost_profile_is_refused_by_softhsm_naming_the_mechanism() {
    match Pkcs11Provider::open(token_settings("gost-rutoken.toml")).map(|_| ()) {
        Err(e @ KeyError::MechanismMissing { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("CKM_KUZNYECHIK_KEY_GEN (0xD4321030)"), "{msg}");
            assert!(msg.contains("gost-rutoken"), "{msg}");
        }
        other => panic!("expected MechanismMissing, got {other:?}"),
    }
}
