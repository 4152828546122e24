//! Wycheproof conformance for the crypto crates behind the vault.
//!
//! Runs Project Wycheproof's test vectors (<https://github.com/C2SP/wycheproof>)
//! against the same crates, at the same versions, that the vault uses:
//!
//! * `aes_gcm_siv_test.json` through `aes_gcm_siv::Aes256GcmSiv` (the vault's
//!   record sealing) and `Aes128GcmSiv`; only groups with a 96-bit nonce and a
//!   128-bit tag can be expressed with that API, any other group is listed as
//!   skipped and accounted for.
//! * `aes_kwp_test.json` (RFC 5649 key wrap with padding, the same format as
//!   PKCS#11 `CKM_AES_KEY_WRAP_PAD` used by the software key provider) through
//!   `aes_kw::KwpAes128`, `KwpAes192` and `KwpAes256`.
//! * `hkdf_sha256_test.json` through `hkdf::Hkdf<sha2::Sha256>` (subkey derivation).
//!
//! The vector files are read at run time from the folder named by the
//! environment variable `VAULT_WYCHEPROOF_DIR`; they are not part of the
//! repository. If the variable is unset, each test prints
//! "Wycheproof conformance NOT RUN: set VAULT_WYCHEPROOF_DIR" and passes, unless
//! `CI=true`, in which case it fails: CI must never skip. A variable that is set
//! but empty, or names a missing folder or file, is an error naming the path.
//!
//! Results:
//! * `valid`: the operation must succeed and give exactly the expected output
//!   (AEAD: encrypt gives ct||tag and decrypt gives msg back; KWP: wrap gives ct
//!   and unwrap gives msg back; HKDF: expand gives okm).
//! * `invalid`: the operation must fail (AEAD decrypt, KWP unwrap, HKDF
//!   expand, e.g. an output size above 255 * HashLen).
//! * `acceptable`: Wycheproof allows either outcome. These are still run: if the
//!   operation succeeds its output must equal the expected one; if it fails that
//!   is recorded and printed, not treated as an error. (The vector files pinned
//!   for this project contain no `acceptable` cases; the counts printed show it.)
//!
//! Every failing case is collected and reported together, and each suite
//! asserts that it executed at least as many cases as the pinned files hold (a
//! floor), so a parsing mistake that silently skips cases fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests stop at the first fault

use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use aes_gcm_siv::aead::{Aead, KeyInit, Nonce, Payload};
use aes_gcm_siv::{Aes128GcmSiv, Aes256GcmSiv};
use aes_kw::{KwpAes128, KwpAes192, KwpAes256};
use hkdf::Hkdf;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;

const DIR_VAR: &str = "VAULT_WYCHEPROOF_DIR";

// ---------------------------------------------------------------------------
// Locating the vectors
// ---------------------------------------------------------------------------

/// What to do, given `VAULT_WYCHEPROOF_DIR` and `CI`.
#[derive(Debug, PartialEq, Eq)]
enum Plan {
    Run(PathBuf),
    Skip,
    Fail(String),
}

fn plan(dir: Option<OsString>, ci: Option<OsString>) -> Plan {
    match dir {
        Some(d) if d.is_empty() => Plan::Fail(format!(
            "{DIR_VAR} is set but empty; set it to the folder holding the Wycheproof JSON files"
        )),
        Some(d) => Plan::Run(PathBuf::from(d)),
        None if ci.as_deref() == Some("true".as_ref()) => Plan::Fail(format!(
            "Wycheproof conformance NOT RUN: {DIR_VAR} is not set, and CI=true forbids skipping; \
             set {DIR_VAR} to the folder holding the Wycheproof JSON files"
        )),
        None => Plan::Skip,
    }
}

/// Writes straight to the process's stderr, so the line shows up even though the
/// test harness captures `print!`/`eprint!` output of passing tests.
fn say(line: &str) {
    let mut err = std::io::stderr().lock();
    // Best effort: a closed stderr must not turn into a test failure.
    let _ = writeln!(err, "{line}");
}

/// Loads `file` from the Wycheproof folder, or returns `None` when the run is
/// skipped (variable unset outside CI).
fn load<T: DeserializeOwned>(file: &str) -> Option<T> {
    let dir = match plan(std::env::var_os(DIR_VAR), std::env::var_os("CI")) {
        Plan::Run(dir) => dir,
        Plan::Skip => {
            say(&format!(
                "Wycheproof conformance NOT RUN: set {DIR_VAR} (needed for {file})"
            ));
            return None;
        }
        Plan::Fail(msg) => panic!("{msg}"),
    };
    Some(load_from(&dir, file))
}

fn load_from<T: DeserializeOwned>(dir: &Path, file: &str) -> T {
    assert!(
        dir.is_dir(),
        "{DIR_VAR}={} is not an existing folder",
        dir.display()
    );
    let path = dir.join(file);
    assert!(
        path.is_file(),
        "Wycheproof file {} is missing ({DIR_VAR}={})",
        path.display(),
        dir.display()
    );
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()))
}

#[test]
fn plan_follows_env_rules() {
    let ci = || Some(OsString::from("true"));
    assert_eq!(plan(None, None), Plan::Skip);
    assert_eq!(plan(None, Some(OsString::from("false"))), Plan::Skip);
    assert!(matches!(plan(None, ci()), Plan::Fail(m) if m.contains("NOT RUN")));
    assert!(matches!(plan(Some(OsString::new()), None), Plan::Fail(_)));
    assert!(matches!(plan(Some(OsString::new()), ci()), Plan::Fail(_)));
    assert_eq!(
        plan(Some(OsString::from("/v")), ci()),
        Plan::Run(PathBuf::from("/v"))
    );
}

#[test]
fn missing_folder_and_file_are_named() {
    let missing = std::env::temp_dir().join("vault-wycheproof-no-such-folder");
    let err = std::panic::catch_unwind(|| load_from::<serde_json::Value>(&missing, "x.json"))
        .expect_err("a missing folder must fail");
    let msg = panic_text(err.as_ref());
    assert!(msg.contains(&missing.display().to_string()), "{msg}");

    let dir = tempfile::tempdir().unwrap();
    let err = std::panic::catch_unwind(|| load_from::<serde_json::Value>(dir.path(), "x.json"))
        .expect_err("a missing file must fail");
    let msg = panic_text(err.as_ref());
    assert!(
        msg.contains(&dir.path().join("x.json").display().to_string()),
        "{msg}"
    );
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Shared file shape and bookkeeping
// ---------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Suite<G> {
    algorithm: String,
    number_of_tests: usize,
    test_groups: Vec<G>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
enum Expect {
    Valid,
    Invalid,
    Acceptable,
}

fn bytes(hex_str: &str, tc_id: u32, field: &str) -> Vec<u8> {
    hex::decode(hex_str).unwrap_or_else(|e| panic!("tcId {tc_id}: bad hex in {field}: {e}"))
}

/// Counts of executed cases by expected result, plus everything that went wrong.
#[derive(Default)]
struct Tally {
    valid: usize,
    invalid: usize,
    acceptable: usize,
    /// `acceptable` cases the implementation rejected (allowed, but reported).
    acceptable_rejected: Vec<u32>,
    /// Cases in groups whose parameters we do not use, with the reason.
    skipped: Vec<String>,
    skipped_cases: usize,
    failures: Vec<String>,
}

/// Outcome of one test case.
#[derive(Default)]
struct Case {
    problems: Vec<String>,
    acceptable_rejected: bool,
}

impl Case {
    fn fail(&mut self, what: String) {
        self.problems.push(what);
    }
}

impl Tally {
    fn executed(&self) -> usize {
        self.valid + self.invalid + self.acceptable
    }

    /// Records one executed case and its outcome.
    fn record(&mut self, label: &str, tc_id: u32, comment: &str, expect: Expect, case: Case) {
        match expect {
            Expect::Valid => self.valid += 1,
            Expect::Invalid => self.invalid += 1,
            Expect::Acceptable => self.acceptable += 1,
        }
        if case.acceptable_rejected {
            self.acceptable_rejected.push(tc_id);
        }
        if !case.problems.is_empty() {
            self.failures.push(format!(
                "{label} tcId {tc_id} ({comment}): {}",
                case.problems.join("; ")
            ));
        }
    }

    fn skip_group(&mut self, why: String, cases: usize) {
        self.skipped.push(format!("{why}: {cases} cases"));
        self.skipped_cases += cases;
    }

    /// Prints the counts and asserts: no failures, every case of the file either
    /// executed or in an explicitly skipped group, and at least `floor` executed.
    fn finish(self, file: &str, algorithm: &str, number_of_tests: usize, floor: usize) {
        say(&format!(
            "Wycheproof {file} ({algorithm}): executed {} of {number_of_tests} cases \
             (valid {}, invalid {}, acceptable {}), skipped {}",
            self.executed(),
            self.valid,
            self.invalid,
            self.acceptable,
            self.skipped_cases
        ));
        for s in &self.skipped {
            say(&format!("  skipped group: {s}"));
        }
        if !self.acceptable_rejected.is_empty() {
            say(&format!(
                "  acceptable cases rejected by the implementation (allowed): tcId {:?}",
                self.acceptable_rejected
            ));
        }
        assert!(
            self.failures.is_empty(),
            "{file}: {} of {} executed cases failed:\n  {}",
            self.failures.len(),
            self.executed(),
            self.failures.join("\n  ")
        );
        assert_eq!(
            self.executed() + self.skipped_cases,
            number_of_tests,
            "{file}: executed + skipped cases must add up to numberOfTests"
        );
        assert!(
            self.executed() >= floor,
            "{file}: only {} cases executed, expected at least {floor}",
            self.executed()
        );
    }
}

// ---------------------------------------------------------------------------
// AES-GCM-SIV
// ---------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AeadGroup {
    key_size: u32,
    iv_size: u32,
    tag_size: u32,
    tests: Vec<AeadCase>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AeadCase {
    tc_id: u32,
    comment: String,
    key: String,
    iv: String,
    aad: String,
    msg: String,
    ct: String,
    tag: String,
    result: Expect,
}

/// Number of cases in the pinned file (C2SP/wycheproof dac1dd47): 99 with 128-bit
/// keys and 103 with 256-bit keys, all with 96-bit nonces and 128-bit tags.
const GCM_SIV_FLOOR: usize = 202;
const GCM_SIV_256_FLOOR: usize = 103;

fn check_aead<C: KeyInit + Aead>(label: &str, tc: &AeadCase, tally: &mut Tally) {
    let case = run_aead::<C>(tc);
    tally.record(label, tc.tc_id, &tc.comment, tc.result, case);
}

fn run_aead<C: KeyInit + Aead>(tc: &AeadCase) -> Case {
    let mut case = Case::default();
    let key = bytes(&tc.key, tc.tc_id, "key");
    let iv = bytes(&tc.iv, tc.tc_id, "iv");
    let aad = bytes(&tc.aad, tc.tc_id, "aad");
    let msg = bytes(&tc.msg, tc.tc_id, "msg");
    let mut sealed = bytes(&tc.ct, tc.tc_id, "ct");
    sealed.extend_from_slice(&bytes(&tc.tag, tc.tc_id, "tag"));

    let cipher = match C::new_from_slice(&key) {
        Ok(c) => c,
        Err(e) => {
            case.fail(format!("key of {} bytes refused: {e:?}", key.len()));
            return case;
        }
    };
    let Ok(nonce) = Nonce::<C>::try_from(iv.as_slice()) else {
        case.fail(format!("nonce of {} bytes refused", iv.len()));
        return case;
    };

    let opened = cipher.decrypt(
        &nonce,
        Payload {
            msg: &sealed,
            aad: &aad,
        },
    );
    match (tc.result, opened) {
        (Expect::Valid | Expect::Acceptable, Ok(pt)) => {
            if pt != msg {
                case.fail(format!(
                    "decrypt gave {}, expected {}",
                    hex::encode(pt),
                    tc.msg
                ));
            }
        }
        (Expect::Valid, Err(e)) => case.fail(format!("valid ciphertext rejected: {e:?}")),
        (Expect::Acceptable, Err(_)) => case.acceptable_rejected = true,
        (Expect::Invalid, Ok(pt)) => case.fail(format!(
            "invalid ciphertext accepted, decrypted to {}",
            hex::encode(pt)
        )),
        (Expect::Invalid, Err(_)) => {}
    }

    if tc.result == Expect::Valid {
        match cipher.encrypt(
            &nonce,
            Payload {
                msg: &msg,
                aad: &aad,
            },
        ) {
            Ok(out) if out == sealed => {}
            Ok(out) => case.fail(format!(
                "encrypt gave {}, expected {}{}",
                hex::encode(out),
                tc.ct,
                tc.tag
            )),
            Err(e) => case.fail(format!("encrypt failed: {e:?}")),
        }
    }
    case
}

#[test]
fn wycheproof_aes_gcm_siv() {
    const FILE: &str = "aes_gcm_siv_test.json";
    let Some(suite) = load::<Suite<AeadGroup>>(FILE) else {
        return;
    };
    assert_eq!(
        suite.algorithm, "AES-GCM-SIV",
        "{FILE}: unexpected algorithm"
    );

    let mut tally = Tally::default();
    let mut ran_256 = 0;
    for g in &suite.test_groups {
        let n = g.tests.len();
        if g.iv_size != 96 || g.tag_size != 128 {
            tally.skip_group(
                format!(
                    "keySize {} ivSize {} tagSize {} (the API takes 96-bit nonces and 128-bit tags only)",
                    g.key_size, g.iv_size, g.tag_size
                ),
                n,
            );
            continue;
        }
        match g.key_size {
            128 => {
                for tc in &g.tests {
                    check_aead::<Aes128GcmSiv>("AES-128-GCM-SIV", tc, &mut tally);
                }
            }
            256 => {
                for tc in &g.tests {
                    check_aead::<Aes256GcmSiv>("AES-256-GCM-SIV", tc, &mut tally);
                }
                ran_256 += n;
            }
            other => tally.skip_group(format!("keySize {other} (not AES-128/256)"), n),
        }
    }
    say(&format!(
        "  AES-256-GCM-SIV (the vault's cipher): {ran_256} cases"
    ));
    assert!(
        ran_256 >= GCM_SIV_256_FLOOR,
        "{FILE}: only {ran_256} AES-256-GCM-SIV cases executed, expected at least {GCM_SIV_256_FLOOR}"
    );
    tally.finish(FILE, &suite.algorithm, suite.number_of_tests, GCM_SIV_FLOOR);
}

// ---------------------------------------------------------------------------
// AES-KWP (RFC 5649)
// ---------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KwpGroup {
    key_size: u32,
    tests: Vec<KwpCase>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KwpCase {
    tc_id: u32,
    comment: String,
    key: String,
    msg: String,
    ct: String,
    result: Expect,
}

/// Number of cases in the pinned file: 75 (AES-128), 85 (AES-192), 94 (AES-256).
const KWP_FLOOR: usize = 254;
const KWP_256_FLOOR: usize = 94;

/// The wrap/unwrap calls of `aes_kw::AesKwp`, which is generic over a cipher
/// type the test would otherwise have to name from `aes` directly.
trait Kwp: KeyInit {
    fn wrap<'a>(&self, data: &[u8], buf: &'a mut [u8]) -> Result<&'a [u8], aes_kw::Error>;
    fn unwrap<'a>(&self, data: &[u8], buf: &'a mut [u8]) -> Result<&'a [u8], aes_kw::Error>;
}

macro_rules! impl_kwp {
    ($($t:ty),*) => {$(
        impl Kwp for $t {
            fn wrap<'a>(&self, data: &[u8], buf: &'a mut [u8]) -> Result<&'a [u8], aes_kw::Error> {
                self.wrap_key(data, buf)
            }
            fn unwrap<'a>(&self, data: &[u8], buf: &'a mut [u8]) -> Result<&'a [u8], aes_kw::Error> {
                self.unwrap_key(data, buf)
            }
        }
    )*};
}
impl_kwp!(KwpAes128, KwpAes192, KwpAes256);

/// RFC 5649 section 4.1: at least one byte of key, so at least two 8-byte blocks wrapped.
const KWP_MIN_WRAPPED: usize = 16;

/// aes-kw 0.3.1 unwraps `a65959a600000000` (the RFC 5649 header of an empty key) under any KEK.
/// When this starts failing, the crate is fixed and the guard above may go.
#[test]
fn aes_kw_empty_key_deviation_is_still_present() {
    let kwp = KwpAes256::new_from_slice(&[0u8; 32]).unwrap();
    let mut buf = [0u8; 8];
    let out = kwp.unwrap_key(&hex::decode("a65959a600000000").unwrap(), &mut buf);
    assert_eq!(out.map(<[u8]>::len).ok(), Some(0));
}

fn check_kwp<K: Kwp>(label: &str, tc: &KwpCase, tally: &mut Tally) {
    let case = run_kwp::<K>(tc);
    tally.record(label, tc.tc_id, &tc.comment, tc.result, case);
}

fn run_kwp<K: Kwp>(tc: &KwpCase) -> Case {
    let mut case = Case::default();
    let key = bytes(&tc.key, tc.tc_id, "key");
    let msg = bytes(&tc.msg, tc.tc_id, "msg");
    let ct = bytes(&tc.ct, tc.tc_id, "ct");

    let kwp = match K::new_from_slice(&key) {
        Ok(k) => k,
        Err(e) => {
            case.fail(format!("key of {} bytes refused: {e:?}", key.len()));
            return case;
        }
    };

    // Large enough for any output: unwrap yields at most ct.len() - 8 bytes.
    let mut buf = vec![0u8; ct.len()];
    // The vault never hands aes-kw a wrapping shorter than RFC 5649's minimum of 16 bytes
    // (`vault::keys::soft::kwp_unwrap`): aes-kw 0.3.1 accepts the 8-byte wrapping of an empty
    // key (tcIds 74, 157, 253; see `aes_kw_empty_key_deviation_is_still_present`). The same
    // guard is applied here, so this suite checks what the vault actually runs.
    let unwrapped = if ct.len() < KWP_MIN_WRAPPED {
        Err(())
    } else {
        kwp.unwrap(&ct, &mut buf)
            .map(<[u8]>::to_vec)
            .map_err(|_| ())
    };
    match (tc.result, unwrapped) {
        (Expect::Valid | Expect::Acceptable, Ok(pt)) => {
            if pt != msg {
                case.fail(format!(
                    "unwrap gave {}, expected {}",
                    hex::encode(pt),
                    tc.msg
                ));
            }
        }
        (Expect::Valid, Err(e)) => case.fail(format!("valid wrapped key rejected: {e:?}")),
        (Expect::Acceptable, Err(_)) => case.acceptable_rejected = true,
        (Expect::Invalid, Ok(pt)) => case.fail(format!(
            "invalid wrapped key of {} bytes accepted, unwrapped to {} bytes {:?}",
            ct.len(),
            pt.len(),
            hex::encode(&pt)
        )),
        (Expect::Invalid, Err(_)) => {}
    }

    if tc.result == Expect::Valid {
        // RFC 5649: the padded length (a multiple of 8) plus the 8-byte AIV.
        let mut out = vec![0u8; msg.len().div_ceil(8) * 8 + 8];
        match kwp.wrap(&msg, &mut out) {
            Ok(w) if w == ct.as_slice() => {}
            Ok(w) => case.fail(format!("wrap gave {}, expected {}", hex::encode(w), tc.ct)),
            Err(e) => case.fail(format!("wrap failed: {e:?}")),
        }
    }
    case
}

#[test]
fn wycheproof_aes_kwp() {
    const FILE: &str = "aes_kwp_test.json";
    let Some(suite) = load::<Suite<KwpGroup>>(FILE) else {
        return;
    };
    assert_eq!(suite.algorithm, "AES-KWP", "{FILE}: unexpected algorithm");

    let mut tally = Tally::default();
    let mut ran_256 = 0;
    for g in &suite.test_groups {
        match g.key_size {
            128 => g
                .tests
                .iter()
                .for_each(|tc| check_kwp::<KwpAes128>("KWP-AES-128", tc, &mut tally)),
            192 => g
                .tests
                .iter()
                .for_each(|tc| check_kwp::<KwpAes192>("KWP-AES-192", tc, &mut tally)),
            256 => {
                g.tests
                    .iter()
                    .for_each(|tc| check_kwp::<KwpAes256>("KWP-AES-256", tc, &mut tally));
                ran_256 += g.tests.len();
            }
            other => tally.skip_group(
                format!("keySize {other} (aes-kw offers 128/192/256 only)"),
                g.tests.len(),
            ),
        }
    }
    say(&format!(
        "  KWP-AES-256 (the key provider's wrap): {ran_256} cases"
    ));
    assert!(
        ran_256 >= KWP_256_FLOOR,
        "{FILE}: only {ran_256} KWP-AES-256 cases executed, expected at least {KWP_256_FLOOR}"
    );
    tally.finish(FILE, &suite.algorithm, suite.number_of_tests, KWP_FLOOR);
}

// ---------------------------------------------------------------------------
// HKDF-SHA256
// ---------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HkdfGroup {
    tests: Vec<HkdfCase>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HkdfCase {
    tc_id: u32,
    comment: String,
    ikm: String,
    salt: String,
    info: String,
    size: usize,
    okm: String,
    result: Expect,
}

/// Number of cases in the pinned file.
const HKDF_FLOOR: usize = 86;

fn check_hkdf(tc: &HkdfCase, tally: &mut Tally) {
    let case = run_hkdf(tc);
    tally.record("HKDF-SHA256", tc.tc_id, &tc.comment, tc.result, case);
}

fn run_hkdf(tc: &HkdfCase) -> Case {
    let mut case = Case::default();
    let ikm = bytes(&tc.ikm, tc.tc_id, "ikm");
    let salt = bytes(&tc.salt, tc.tc_id, "salt");
    let info = bytes(&tc.info, tc.tc_id, "info");
    let okm = bytes(&tc.okm, tc.tc_id, "okm");

    // An empty salt is passed as such; HMAC pads it to HashLen zero octets,
    // which is what RFC 5869 prescribes for a salt that is not provided.
    let hk = Hkdf::<Sha256>::new(Some(&salt), &ikm);
    let mut out = vec![0u8; tc.size];
    match (tc.result, hk.expand(&info, &mut out)) {
        (Expect::Valid | Expect::Acceptable, Ok(())) => {
            if out != okm {
                case.fail(format!(
                    "expand({}) gave {}, expected {}",
                    tc.size,
                    hex::encode(&out),
                    tc.okm
                ));
            }
        }
        (Expect::Valid, Err(e)) => case.fail(format!("expand({}) failed: {e:?}", tc.size)),
        (Expect::Acceptable, Err(_)) => case.acceptable_rejected = true,
        (Expect::Invalid, Ok(())) => case.fail(format!(
            "expand({}) succeeded, must fail (at most 255 * 32 = 8160 bytes)",
            tc.size
        )),
        (Expect::Invalid, Err(_)) => {}
    }
    case
}

#[test]
fn wycheproof_hkdf_sha256() {
    const FILE: &str = "hkdf_sha256_test.json";
    let Some(suite) = load::<Suite<HkdfGroup>>(FILE) else {
        return;
    };
    assert_eq!(
        suite.algorithm, "HKDF-SHA-256",
        "{FILE}: unexpected algorithm"
    );

    let mut tally = Tally::default();
    for g in &suite.test_groups {
        for tc in &g.tests {
            check_hkdf(tc, &mut tally);
        }
    }
    tally.finish(FILE, &suite.algorithm, suite.number_of_tests, HKDF_FLOOR);
}
