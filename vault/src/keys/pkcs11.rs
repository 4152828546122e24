//! KEKs in a PKCS#11 token, through the maintained `cryptoki` crate.
//!
//! The KEK is generated in the token as sensitive, non-extractable and usable only to wrap and
//! unwrap. A DEK visits the token only as a short-lived session object: imported to be wrapped,
//! or unwrapped to be read out, and destroyed at once. The token is found by its label (slot
//! numbers change when tokens are added), and its mechanisms are checked against the profile.
//!
//! Sessions are not shared between threads: each call takes an idle session from a small pool
//! and gives it back afterwards (cryptoki `examples/thread_local_session.rs`). Callers run these
//! blocking calls off the async runtime.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use cryptoki::context::Function;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::vendor_defined::VendorDefinedMechanism;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use secrecy::SecretString;
use zeroize::Zeroize;

use super::profile::Profile;
use super::{Dek, KekVersion, KeyError, KeyProvider};

/// Where the token is and how to log in. The PIN is read from the environment by the config.
pub struct Pkcs11Settings {
    pub module: PathBuf,
    pub token_label: String,
    pub pin: SecretString,
    /// Name of the environment variable the PIN came from, for error messages.
    pub pin_env: String,
    pub kek_label: String,
    pub profile: Profile,
    pub max_idle_sessions: usize,
}

pub struct Pkcs11Provider {
    ctx: Pkcs11,
    slot: Slot,
    token_label: String,
    kek_label: String,
    profile: Profile,
    idle: Mutex<Vec<Session>>,
    max_idle_sessions: usize,
    // Token object handles are valid for every session of this process; caching them saves a
    // C_FindObjects per unwrap.
    kek_handles: Mutex<HashMap<KekVersion, ObjectHandle>>,
    audit_handle: Mutex<Option<ObjectHandle>>,
}

/// C_Initialize may run once per process, but tests and tools may open several providers: one
/// context per module path, kept for the life of the process.
fn context_for(module: &Path) -> Result<Pkcs11, KeyError> {
    static CONTEXTS: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let mut contexts = lock(CONTEXTS.get_or_init(Default::default));
    if let Some(ctx) = contexts.get(module) {
        return Ok(ctx.clone());
    }
    let load_error = |detail: String| KeyError::ModuleLoad {
        module: module.display().to_string(),
        detail,
    };
    let ctx = Pkcs11::new(module).map_err(|e| load_error(e.to_string()))?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(load_error(e.to_string())),
    }
    contexts.insert(module.to_path_buf(), ctx.clone());
    Ok(ctx)
}

/// Token-object writes (creating and destroying keys) exclude every other token call of this
/// process: SoftHSM2's file store answers CKR_GENERAL_ERROR when a thread reads the object
/// store while another writes it. Writes are rare administrative calls; all other calls share
/// the lock, so the unwrap path stays concurrent.
static TOKEN_OBJECT_WRITES: std::sync::RwLock<()> = std::sync::RwLock::new(());

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these locks cannot leave the data inconsistent (pools and
    // caches only), so a poisoned lock is used as is.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Maps a token error to the vault's. Device-level failures are `Unavailable` (503); bad wrapped
/// bytes are the opaque `Unwrap`.
fn token_error(e: CkError) -> KeyError {
    match e {
        CkError::Pkcs11(
            RvError::WrappedKeyInvalid
            | RvError::WrappedKeyLenRange
            | RvError::EncryptedDataInvalid
            | RvError::EncryptedDataLenRange
            | RvError::TemplateInconsistent,
            _,
        ) => KeyError::Unwrap,
        // SoftHSM2 (and some tokens) report a failed integrity check of RFC 5649 unwrapping as a
        // general failure of C_UnwrapKey; device faults come as DEVICE_* / TOKEN_* / SESSION_*.
        CkError::Pkcs11(RvError::GeneralError | RvError::FunctionFailed, Function::UnwrapKey) => {
            KeyError::Unwrap
        }
        other => KeyError::Unavailable(format!("token call failed: {other}")),
    }
}

fn mechanism(code: u64, iv: Option<&[u8; 8]>) -> Result<Mechanism<'_>, KeyError> {
    Ok(match code {
        0x1080 => Mechanism::AesKeyGen,
        0x2109 => Mechanism::AesKeyWrap,
        0x210A => Mechanism::AesKeyWrapPad,
        vendor => {
            let ty = MechanismType::new_vendor_defined(vendor).map_err(|_| {
                KeyError::Config(format!(
                    "mechanism 0x{vendor:X} is neither supported by the vault nor vendor-defined"
                ))
            })?;
            Mechanism::VendorDefined(VendorDefinedMechanism::new(ty, iv))
        }
    })
}

fn key_type(code: u64) -> Result<KeyType, KeyError> {
    KeyType::try_from(code)
        .map_err(|_| KeyError::Config(format!("key type 0x{code:X} is not known to PKCS#11")))
}

impl Pkcs11Provider {
    /// Loads the module, finds the token by label, checks its mechanisms against the profile
    /// and logs in. Every failure names what to fix.
    pub fn open(settings: Pkcs11Settings) -> Result<Self, KeyError> {
        let ctx = context_for(&settings.module)?;
        let slot = Self::find_token(&ctx, &settings)?;

        let offered: Vec<u64> = ctx
            .get_mechanism_list(slot)
            .map_err(token_error)?
            .into_iter()
            .map(|m| m.into())
            .collect();
        if let Some(missing) = settings.profile.first_missing(&offered) {
            return Err(KeyError::MechanismMissing {
                label: settings.token_label.clone(),
                profile: settings.profile.name.clone(),
                mechanism: missing.name.clone(),
                code: missing.code,
            });
        }

        let session = ctx.open_rw_session(slot).map_err(token_error)?;
        let pin = AuthPin::from(secrecy::ExposeSecret::expose_secret(&settings.pin).to_owned());
        match session.login(UserType::User, Some(&pin)) {
            // Login state is per application, not per session: another provider of this
            // process may already be logged in.
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(CkError::Pkcs11(RvError::PinIncorrect | RvError::PinLenRange, _)) => {
                return Err(KeyError::PinIncorrect {
                    label: settings.token_label,
                    pin_env: settings.pin_env,
                });
            }
            Err(e) => return Err(token_error(e)),
        }

        Ok(Self {
            ctx,
            slot,
            token_label: settings.token_label,
            kek_label: settings.kek_label,
            profile: settings.profile,
            idle: Mutex::new(vec![session]),
            max_idle_sessions: settings.max_idle_sessions.max(1),
            kek_handles: Mutex::new(HashMap::new()),
            audit_handle: Mutex::new(None),
        })
    }

    fn find_token(ctx: &Pkcs11, settings: &Pkcs11Settings) -> Result<Slot, KeyError> {
        for slot in ctx.get_slots_with_token().map_err(token_error)? {
            let info = ctx.get_token_info(slot).map_err(token_error)?;
            if info.label().trim_end() == settings.token_label {
                return Ok(slot);
            }
        }
        Err(KeyError::TokenNotFound {
            label: settings.token_label.clone(),
            module: settings.module.display().to_string(),
        })
    }

    /// Runs `f` on an idle session (opening one if none is idle) and returns the session to the
    /// pool unless the token reported it broken.
    fn with_session<T>(
        &self,
        f: impl FnOnce(&Session) -> Result<T, CkError>,
    ) -> Result<T, KeyError> {
        let _shared = TOKEN_OBJECT_WRITES
            .read()
            .unwrap_or_else(|p| p.into_inner());
        self.on_session(f)
    }

    /// Like [`Self::with_session`], alone on the token: for creating and destroying objects.
    /// A general failure is retried once, as SoftHSM2 reports a contended object store so.
    fn with_session_exclusive<T>(
        &self,
        f: impl Fn(&Session) -> Result<T, CkError>,
    ) -> Result<T, KeyError> {
        let _alone = TOKEN_OBJECT_WRITES
            .write()
            .unwrap_or_else(|p| p.into_inner());
        match self.on_session(&f) {
            Err(KeyError::Unavailable(_)) => {
                std::thread::sleep(std::time::Duration::from_millis(50));
                self.on_session(&f)
            }
            other => other,
        }
    }

    fn on_session<T>(&self, f: impl FnOnce(&Session) -> Result<T, CkError>) -> Result<T, KeyError> {
        let session = match lock(&self.idle).pop() {
            Some(s) => s,
            None => self.ctx.open_rw_session(self.slot).map_err(token_error)?,
        };
        let result = f(&session);
        let broken = matches!(
            &result,
            Err(CkError::Pkcs11(
                RvError::SessionHandleInvalid
                    | RvError::SessionClosed
                    | RvError::DeviceRemoved
                    | RvError::TokenNotPresent
                    | RvError::DeviceError,
                _
            ))
        );
        if !broken {
            let mut idle = lock(&self.idle);
            if idle.len() < self.max_idle_sessions {
                idle.push(session);
            }
        }
        result.map_err(token_error)
    }

    fn kek_handle(&self, version: KekVersion) -> Result<ObjectHandle, KeyError> {
        if let Some(handle) = lock(&self.kek_handles).get(&version) {
            return Ok(*handle);
        }
        let label = version.label(&self.kek_label);
        let found = self.with_session(|s| {
            s.find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::Token(true),
                Attribute::Label(label.clone().into_bytes()),
            ])
        })?;
        match found.as_slice() {
            [handle] => {
                lock(&self.kek_handles).insert(version, *handle);
                Ok(*handle)
            }
            [] => Err(KeyError::KekMissing { label }),
            _ => Err(KeyError::Config(format!(
                "token '{}' holds several keys labelled {label}: remove the duplicates",
                self.token_label
            ))),
        }
    }

    fn audit_label(&self) -> String {
        format!("{}-audit-v1", self.kek_label)
    }

    fn find_audit_key(&self) -> Result<Option<ObjectHandle>, KeyError> {
        if let Some(h) = *lock(&self.audit_handle) {
            return Ok(Some(h));
        }
        let label = self.audit_label();
        let found = self.with_session(|s| {
            s.find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::Token(true),
                Attribute::Label(label.into_bytes()),
            ])
        })?;
        let handle = found.first().copied();
        *lock(&self.audit_handle) = handle;
        Ok(handle)
    }

    fn wrap_iv(&self) -> Result<Option<[u8; 8]>, KeyError> {
        match self.profile.kek.wrap_iv_len {
            0 => Ok(None),
            8 => {
                let mut iv = [0u8; 8];
                getrandom::fill(&mut iv)
                    .map_err(|_| KeyError::Unavailable("the system random source failed".into()))?;
                Ok(Some(iv))
            }
            other => Err(KeyError::Config(format!(
                "wrap_iv_len {other} is not supported (0 or 8)"
            ))),
        }
    }

    /// The template of a DEK while it is a session object: readable by us, gone at session end.
    fn dek_template(&self) -> Result<Vec<Attribute>, KeyError> {
        Ok(vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(key_type(self.profile.kek.dek_key_type)?),
            Attribute::Token(false),
            Attribute::Sensitive(false),
            Attribute::Extractable(true),
        ])
    }
}

/// The protection attributes of a KEK as the token reports them; `vault keys list` prints them
/// so an operator can see that no KEK is extractable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KekProtection {
    pub sensitive: bool,
    pub extractable: bool,
    pub wrap: bool,
    pub unwrap: bool,
    pub encrypt: bool,
    pub decrypt: bool,
}

impl Pkcs11Provider {
    pub fn kek_protection(&self, version: KekVersion) -> Result<KekProtection, KeyError> {
        let handle = self.kek_handle(version)?;
        let attrs = self.with_session(|s| {
            s.get_attributes(
                handle,
                &[
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                    AttributeType::Wrap,
                    AttributeType::Unwrap,
                    AttributeType::Encrypt,
                    AttributeType::Decrypt,
                ],
            )
        })?;
        // Fail safe: an attribute the token does not report counts as the unsafe value.
        let mut p = KekProtection {
            sensitive: false,
            extractable: true,
            wrap: false,
            unwrap: false,
            encrypt: true,
            decrypt: true,
        };
        for attr in attrs {
            match attr {
                Attribute::Sensitive(v) => p.sensitive = v,
                Attribute::Extractable(v) => p.extractable = v,
                Attribute::Wrap(v) => p.wrap = v,
                Attribute::Unwrap(v) => p.unwrap = v,
                Attribute::Encrypt(v) => p.encrypt = v,
                Attribute::Decrypt(v) => p.decrypt = v,
                _ => {}
            }
        }
        Ok(p)
    }
}

impl KeyProvider for Pkcs11Provider {
    fn describe(&self) -> String {
        format!(
            "pkcs11 token '{}' (profile {})",
            self.token_label, self.profile.name
        )
    }

    fn kek_versions(&self) -> Result<Vec<KekVersion>, KeyError> {
        let mut versions = self
            .with_session(|s| {
                let handles = s.find_objects(&[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::Token(true),
                ])?;
                let mut labels = Vec::with_capacity(handles.len());
                for handle in handles {
                    for attr in s.get_attributes(handle, &[AttributeType::Label])? {
                        if let Attribute::Label(label) = attr {
                            labels.push(String::from_utf8_lossy(&label).into_owned());
                        }
                    }
                }
                Ok(labels)
            })?
            .iter()
            .filter_map(|label| KekVersion::from_label(&self.kek_label, label))
            .collect::<Vec<_>>();
        versions.sort();
        versions.dedup();
        Ok(versions)
    }

    fn create_kek(&self, version: KekVersion) -> Result<(), KeyError> {
        let label = version.label(&self.kek_label);
        if self.kek_versions()?.contains(&version) {
            return Err(KeyError::KekExists { label });
        }
        let spec = &self.profile.kek;
        let mut template = vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(key_type(spec.key_type)?),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Wrap(true),
            Attribute::Unwrap(true),
            Attribute::Encrypt(false),
            Attribute::Decrypt(false),
            Attribute::Sign(false),
            Attribute::Verify(false),
            Attribute::Derive(false),
            Attribute::Label(label.into_bytes()),
        ];
        if let Some(len) = spec.key_len {
            template.push(Attribute::ValueLen(len.into()));
        }
        let mech = mechanism(spec.key_gen, None)?;
        let handle = self.with_session_exclusive(|s| s.generate_key(&mech, &template))?;
        lock(&self.kek_handles).insert(version, handle);
        Ok(())
    }

    fn wrap(&self, kek: KekVersion, dek: &Dek) -> Result<Vec<u8>, KeyError> {
        let kek_handle = self.kek_handle(kek)?;
        let iv = self.wrap_iv()?;
        let mech = mechanism(self.profile.kek.wrap, iv.as_ref())?;
        let mut template = self.dek_template()?;
        template.push(Attribute::Value(dek.expose().to_vec()));
        let wrapped = self.with_session(|s| {
            let dek_handle = s.create_object(&template)?;
            let wrapped = s.wrap_key(&mech, kek_handle, dek_handle);
            s.destroy_object(dek_handle)?;
            wrapped
        });
        // The template held a copy of the DEK.
        for attr in &mut template {
            if let Attribute::Value(v) = attr {
                v.zeroize();
            }
        }
        let wrapped = wrapped?;
        // An IV the mechanism took is stored in front of the wrapped key; unwrap needs it back.
        Ok(match iv {
            Some(iv) => [iv.as_slice(), &wrapped].concat(),
            None => wrapped,
        })
    }

    fn unwrap(&self, kek: KekVersion, wrapped: &[u8]) -> Result<Dek, KeyError> {
        let kek_handle = self.kek_handle(kek)?;
        let (iv, wrapped) = match self.profile.kek.wrap_iv_len {
            0 => (None, wrapped),
            n if wrapped.len() > n => {
                let (iv, rest) = wrapped.split_at(n);
                let iv: [u8; 8] = iv.try_into().map_err(|_| KeyError::Unwrap)?;
                (Some(iv), rest)
            }
            _ => return Err(KeyError::Unwrap),
        };
        let mech = mechanism(self.profile.kek.wrap, iv.as_ref())?;
        let template = self.dek_template()?;
        let mut value = self
            .with_session(|s| {
                let handle = s.unwrap_key(&mech, kek_handle, wrapped, &template)?;
                let attrs = s.get_attributes(handle, &[AttributeType::Value]);
                s.destroy_object(handle)?;
                Ok(attrs?.into_iter().find_map(|a| match a {
                    Attribute::Value(v) => Some(v),
                    _ => None,
                }))
            })?
            .ok_or(KeyError::Unwrap)?;
        let dek = Dek::from_slice(&value);
        value.zeroize();
        dek
    }

    fn ensure_audit_key(&self) -> Result<bool, KeyError> {
        if self.find_audit_key()?.is_some() {
            return Ok(false);
        }
        let spec = &self.profile.audit_mac;
        let mut template = vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(key_type(spec.key_type)?),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Verify(true),
            Attribute::Encrypt(false),
            Attribute::Decrypt(false),
            Attribute::Wrap(false),
            Attribute::Unwrap(false),
            Attribute::Derive(false),
            Attribute::Label(self.audit_label().into_bytes()),
        ];
        if let Some(len) = spec.key_len {
            template.push(Attribute::ValueLen(len.into()));
        }
        let mech = match spec.key_gen {
            0x350 => Mechanism::GenericSecretKeyGen,
            other => mechanism(other, None)?,
        };
        let handle = self.with_session_exclusive(|s| s.generate_key(&mech, &template))?;
        *lock(&self.audit_handle) = Some(handle);
        Ok(true)
    }

    fn audit_mac(&self, data: &[u8]) -> Result<Vec<u8>, KeyError> {
        let handle = self.find_audit_key()?.ok_or_else(|| KeyError::KekMissing {
            label: self.audit_label(),
        })?;
        let mech = match self.profile.audit_mac.mechanism {
            0x251 => Mechanism::Sha256Hmac,
            other => mechanism(other, None)?,
        };
        self.with_session(|s| s.sign(&mech, handle, data))
    }

    fn describe_kek(&self, version: KekVersion) -> Result<String, KeyError> {
        let p = self.kek_protection(version)?;
        let safe = KekProtection {
            sensitive: true,
            extractable: false,
            wrap: true,
            unwrap: true,
            encrypt: false,
            decrypt: false,
        };
        Ok(if p == safe {
            "in token: sensitive, non-extractable, wrap/unwrap only".into()
        } else {
            format!("in token, WEAKER THAN REQUIRED: {p:?}")
        })
    }

    fn destroy_kek(&self, version: KekVersion) -> Result<(), KeyError> {
        let handle = self.kek_handle(version)?;
        self.with_session_exclusive(|s| s.destroy_object(handle))?;
        lock(&self.kek_handles).remove(&version);
        Ok(())
    }
}
