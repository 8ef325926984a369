//! Device cookies (OWASP, "Slow down online guessing attacks with device cookies"): after a
//! correct password, the client gets a signed random device id. A later sign-in that presents it
//! for an account it signed in to before is throttled by that device's own failures only, so a
//! stranger guessing the password cannot keep the owner out; any other client shares the
//! account's throttle.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// How long a device cookie lives (renewed at every sign-in), and how long an unused trusted
/// device is remembered.
pub const DEVICE_TTL_SECS: i64 = 180 * 24 * 3600;
/// Random bytes in a device id (22 base64url characters).
const ID_BYTES: usize = 16;

#[derive(Clone)]
pub struct DeviceKeys {
    key: SecretString,
}

impl DeviceKeys {
    pub fn new(key: SecretString) -> Self {
        Self { key }
    }

    /// A new cookie value: `<id>.<mac>`.
    pub fn issue(&self) -> String {
        self.cookie_for(&crate::ids::random_b64(ID_BYTES))
    }

    /// The cookie value for a known device id.
    pub fn cookie_for(&self, id: &str) -> String {
        format!("{id}.{}", self.mac(id))
    }

    /// The device id in a cookie value, if this server signed it.
    pub fn verify(&self, value: &str) -> Option<String> {
        let (id, mac) = value.split_once('.')?;
        let well_formed = id.len() == 22 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        (well_formed && bool::from(self.mac(id).as_bytes().ct_eq(mac.as_bytes()))).then(|| id.to_string())
    }

    fn mac(&self, id: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.expose_secret().as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(b"portcullis device cookie\0");
        mac.update(id.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_cookies_signed_here_name_a_device() {
        let keys = DeviceKeys::new(SecretString::from("k1"));
        let cookie = keys.issue();
        let id = keys.verify(&cookie).expect("our own cookie");
        assert_eq!(keys.cookie_for(&id), cookie);
        assert!(DeviceKeys::new(SecretString::from("k2")).verify(&cookie).is_none());
        assert!(keys.verify(&format!("{id}.AAAA")).is_none());
        assert!(keys.verify("no-dot").is_none());
        assert!(keys.verify("").is_none());
    }
}
