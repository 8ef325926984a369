//! Random identifiers and secrets: never sequential, never reused.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;

/// 128 random bits, URL-safe: ids of users, sessions, tokens and audit events.
pub fn new_id() -> String {
    random_b64(16)
}

/// `bytes` random bytes from the OS-seeded CSPRNG, base64url without padding.
pub fn random_b64(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// An id taken from a URL: the shape our ids have (base64url, at most 64 characters), so
/// nothing else ever reaches a query. A path that does not fit answers 404.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct Id(pub String);

impl TryFrom<String> for Id {
    type Error = &'static str;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        if looks_like_id(&s) {
            Ok(Id(s))
        } else {
            Err("not an id")
        }
    }
}

pub fn looks_like_id(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
