//! Owned secret byte strings: zeroized on drop, no `Debug`, `Clone` or `Serialize`,
//! so they cannot leak into logs or be copied by accident. They deref to their bytes
//! (like `zeroize::Zeroizing`) so callers can pass them where a slice is expected.

use core::ops::Deref;

use zeroize::{Zeroize, ZeroizeOnDrop};

/// A 256-bit secret key (e.g. a KDF output), wiped from memory on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    pub(crate) fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The key bytes, borrowed.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl Deref for SecretKey {
    type Target = [u8; 32];

    fn deref(&self) -> &[u8; 32] {
        &self.0
    }
}

impl AsRef<[u8]> for SecretKey {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// A variable-length secret (e.g. an imported key), wiped from memory on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    pub(crate) fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub(crate) fn as_mut_vec(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }

    /// The secret bytes, borrowed.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Deref for SecretBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for SecretBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_read_as_plain_bytes() {
        fn takes_slice(bytes: &[u8]) -> usize {
            bytes.len()
        }
        let key = SecretKey::new([7; 32]);
        let copy: [u8; 32] = *key;
        assert_eq!(copy, [7; 32]);
        assert_eq!(key.as_ref(), &[7; 32][..]);
        let bytes = SecretBytes::new(vec![1, 2, 3]);
        assert_eq!(takes_slice(&bytes), 3);
        assert_eq!(bytes.as_bytes(), [1, 2, 3]);
    }
}
