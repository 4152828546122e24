//! GOST cipher-suite pieces that no maintained RustCrypto crate provides, built on
//! the RustCrypto primitives (`kuznyechik`, `streebog`, `hmac`, `cmac`, `ctr`):
//!
//! - [`KuznyechikMgm`]: the MGM AEAD mode (RFC 9058, Р 1323565.1.026-2019) over
//!   Kuznyechik (ГОСТ Р 34.12-2015). The `mgm` crate only works with `cipher` 0.3.
//! - [`kexp15`] / [`kimp15`]: key export/import KExp15/KImp15 (Р 1323565.1.017-2018,
//!   Appendix B), Kuznyechik variant.
//! - [`hmac_streebog256`] / [`verify_hmac_streebog256`]: HMAC_GOSTR3411_2012_256
//!   (Р 50.1.113-2016 §4.1.1, RFC 7836 §4.1.1).
//! - [`kdf_gostr3411_2012_256`] and [`kdf_tree_gostr3411_2012_256`] (Р 50.1.113-2016
//!   §4.4 and §4.5, RFC 7836 §4.5).
//!
//! Every piece is pinned by known-answer tests from the published vectors.
//!
//! # Zeroization
//!
//! Keys this crate returns ([`SecretKey`], [`SecretBytes`]) are wiped on drop and
//! have no `Debug` or `Clone`. The key schedules inside the RustCrypto types
//! (Kuznyechik round keys, CMAC/CTR/HMAC states) are wiped only when their
//! `zeroize` features are enabled (`kuznyechik`, `cmac`, `ctr`, `hmac`, `streebog`).
//!
//! Errors are one small enum, [`Error`]; every decryption, unwrap or verification
//! failure is the same [`Error::Authentication`], so callers cannot tell a bad tag
//! from a bad length.

mod error;
mod hmac_streebog;
mod kdf;
mod kexp15;
mod mgm;
mod secret;

#[cfg(test)]
mod primitive_kats;

pub use error::Error;
pub use hmac_streebog::{
    HMAC_STREEBOG256_LEN, HmacStreebog256, hmac_streebog256, verify_hmac_streebog256,
};
pub use kdf::{kdf_gostr3411_2012_256, kdf_tree_gostr3411_2012_256};
pub use kexp15::{KEXP15_IV_LEN, KEXP15_MAC_LEN, kexp15, kimp15};
pub use mgm::{KuznyechikMgm, MGM_NONCE_LEN, MGM_TAG_LEN};
pub use secret::{SecretBytes, SecretKey};
