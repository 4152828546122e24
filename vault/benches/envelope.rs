//! Sealing and opening costs, each against a baseline measured in the same run:
//! * `open_4k/vault_warm_open` (cache hit, envelope parse, AAD, AEAD open) against
//!   `open_4k/bare_aes256gcmsiv_open` (the cipher alone on the same 4 KiB, key set up once);
//! * `open_4k/vault_seal_then_open` for the whole seal + open of a 4 KiB record;
//! * `token/vault_cold_open` (DEK unwrapped in the token every time, off the runtime, subkeys
//!   derived, then opened) against `token/raw_token_unwrap` (C_UnwrapKey + read + destroy through
//!   cryptoki directly, the least it takes to get a DEK out of the token).
//!
//! Run through `scripts/bench.sh`, which makes the SoftHSM2 token and prints the ratios.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark may stop at the first fault

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use aes_gcm_siv::Aes256GcmSiv;
use aes_gcm_siv::aead::{Aead, KeyInit, Payload};
use criterion::{Criterion, criterion_group, criterion_main};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use cryptoki::session::UserType;
use secrecy::SecretString;
use vault::clock::SystemClock;
use vault::crypto::{SealContext, Suite};
use vault::ids::{PatientId, RecordId};
use vault::keys::cache::DekCache;
use vault::keys::dek::SubkeyPurpose;
use vault::keys::pkcs11::{Pkcs11Provider, Pkcs11Settings};
use vault::keys::profile::Profile;
use vault::keys::{Dek, KekVersion, KeyCustody, KeyProvider, PatientKeys, WrappedDek};

const RECORD: [u8; 4096] = [0x5a; 4096];

fn open_4k(c: &mut Criterion) {
    let mut g = c.benchmark_group("open_4k");
    let patient = PatientId::random();
    let record = RecordId::random();
    let ctx = SealContext {
        patient: &patient,
        record: &record,
        record_version: 1,
        field: "body",
    };

    let key = [7u8; 32];
    let bare = Aes256GcmSiv::new(&key.into());
    let nonce = [1u8; 12];
    let sealed = bare
        .encrypt(
            &nonce.into(),
            Payload {
                msg: &RECORD,
                aad: b"",
            },
        )
        .unwrap();
    g.bench_function("bare_aes256gcmsiv_open", |b| {
        b.iter(|| {
            bare.decrypt(
                &nonce.into(),
                Payload {
                    msg: black_box(&sealed),
                    aad: b"",
                },
            )
            .unwrap()
        })
    });

    let cache = DekCache::new(1000, Duration::from_secs(300), Arc::new(SystemClock));
    let keys = Arc::new(PatientKeys::new(Dek::generate().unwrap(), 1));
    cache.insert(patient, keys.clone());
    let envelope = keys
        .seal(
            Suite::Aes256GcmSiv,
            SubkeyPurpose::RecordSealing,
            &ctx,
            &RECORD,
        )
        .unwrap();
    g.bench_function("vault_warm_open", |b| {
        b.iter(|| {
            let keys = cache.get(patient, 1).unwrap();
            keys.open(SubkeyPurpose::RecordSealing, &ctx, black_box(&envelope))
                .unwrap()
        })
    });
    g.bench_function("vault_seal_then_open", |b| {
        b.iter(|| {
            let keys = cache.get(patient, 1).unwrap();
            let env = keys
                .seal(
                    Suite::Aes256GcmSiv,
                    SubkeyPurpose::RecordSealing,
                    &ctx,
                    black_box(&RECORD),
                )
                .unwrap();
            keys.open(SubkeyPurpose::RecordSealing, &ctx, &env).unwrap()
        })
    });
    g.finish();
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run scripts/bench.sh"))
}

fn token(c: &mut Criterion) {
    let kek_label = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let profile_path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../hsm-config/softhsm2.toml");
    let settings = Pkcs11Settings {
        module: env("VAULT_HSM_MODULE").into(),
        token_label: env("VAULT_HSM_TOKEN_LABEL"),
        pin: SecretString::from(env("VAULT_HSM_PIN")),
        pin_env: "VAULT_HSM_PIN".into(),
        kek_label: kek_label.clone(),
        profile: Profile::load(&profile_path).unwrap(),
        max_idle_sessions: 4,
    };
    let provider = Arc::new(Pkcs11Provider::open(settings).unwrap());
    provider.create_kek(KekVersion::FIRST).unwrap();
    let wrapped = WrappedDek {
        kek_version: KekVersion::FIRST,
        bytes: provider
            .wrap(KekVersion::FIRST, &Dek::generate().unwrap())
            .unwrap(),
    };

    // Baseline: cryptoki directly, one session, no pool, no runtime.
    let ctx = Pkcs11::new(env("VAULT_HSM_MODULE")).unwrap();
    let _ = ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
    let label = env("VAULT_HSM_TOKEN_LABEL");
    let slot = ctx
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| ctx.get_token_info(*s).unwrap().label().trim_end() == label)
        .unwrap();
    let session = ctx.open_rw_session(slot).unwrap();
    let _ = session.login(
        UserType::User,
        Some(&SecretString::from(env("VAULT_HSM_PIN"))),
    );
    let kek = session
        .find_objects(&[Attribute::Label(
            KekVersion::FIRST.label(&kek_label).into_bytes(),
        )])
        .unwrap()[0];
    let template = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Token(false),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
    ];

    let mut g = c.benchmark_group("token");
    g.bench_function("raw_token_unwrap", |b| {
        b.iter(|| {
            let h = session
                .unwrap_key(&Mechanism::AesKeyWrapPad, kek, &wrapped.bytes, &template)
                .unwrap();
            let value = session.get_attributes(h, &[AttributeType::Value]).unwrap();
            session.destroy_object(h).unwrap();
            black_box(value)
        })
    });

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Capacity 0: every lookup misses and unwraps in the token.
    let custody = rt
        .block_on(KeyCustody::new(
            provider.clone(),
            DekCache::new(0, Duration::ZERO, Arc::new(SystemClock)),
        ))
        .unwrap();
    let patient = PatientId::random();
    let record = RecordId::random();
    let sctx = SealContext {
        patient: &patient,
        record: &record,
        record_version: 1,
        field: "body",
    };
    let probe = rt
        .block_on(custody.patient_keys(patient, 1, &wrapped))
        .unwrap();
    let envelope = probe
        .seal(
            Suite::Aes256GcmSiv,
            SubkeyPurpose::RecordSealing,
            &sctx,
            &RECORD,
        )
        .unwrap();
    g.bench_function("vault_cold_open", |b| {
        b.iter(|| {
            let keys = rt
                .block_on(custody.patient_keys(patient, 1, &wrapped))
                .unwrap();
            keys.open(SubkeyPurpose::RecordSealing, &sctx, black_box(&envelope))
                .unwrap()
        })
    });
    g.finish();
    provider.destroy_kek(KekVersion::FIRST).unwrap();
}

criterion_group!(benches, open_4k, token);
criterion_main!(benches);
