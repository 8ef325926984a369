//! Secrets at rest (TOTP secrets, signing keys): AES-256-GCM under a key derived from the
//! configuration, with what the secret belongs to as authenticated data, so a sealed value
//! copied onto another row does not open.
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;

/// `nonce ‖ ciphertext`, base64url, bound to `owner`.
pub fn seal(key: &[u8; 32], owner: &str, secret: &[u8]) -> Result<String, SealError> {
    let cipher = Aes256Gcm::new(key.into());
    let mut nonce = [0u8; 12];
    rand::rng().fill_bytes(&mut nonce);
    let sealed =
        cipher.encrypt(&Nonce::from(nonce), Payload { msg: secret, aad: owner.as_bytes() }).map_err(|_| SealError)?;
    Ok(URL_SAFE_NO_PAD.encode([nonce.as_slice(), &sealed].concat()))
}

pub fn unseal(key: &[u8; 32], owner: &str, sealed: &str) -> Result<Vec<u8>, SealError> {
    let bytes = URL_SAFE_NO_PAD.decode(sealed).map_err(|_| SealError)?;
    if bytes.len() < 12 {
        return Err(SealError);
    }
    let (nonce, ciphertext) = bytes.split_at(12);
    let nonce: [u8; 12] = nonce.try_into().map_err(|_| SealError)?;
    Aes256Gcm::new(key.into())
        .decrypt(&Nonce::from(nonce), Payload { msg: ciphertext, aad: owner.as_bytes() })
        .map_err(|_| SealError)
}

/// A sealed secret did not open (a changed `JWT_REFRESH_SECRET`, or tampering).
#[derive(Debug, thiserror::Error)]
#[error("a sealed TOTP secret could not be opened")]
pub struct SealError;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_for_their_user() {
        let key = [7u8; 32];
        let sealed = seal(&key, "alice", b"secret bytes").unwrap();
        assert_eq!(unseal(&key, "alice", &sealed).unwrap(), b"secret bytes");
        assert!(unseal(&key, "bob", &sealed).is_err());
        assert!(unseal(&[8u8; 32], "alice", &sealed).is_err());
    }
}
