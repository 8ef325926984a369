//! TOTP (RFC 6238: SHA-1, 6 digits, 30 s, ±1 step) through `totp-rs`, and recovery codes.
//! Secrets are sealed at rest (`seal`, bound to the user id).
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use rand::RngCore;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Secret, TOTP};

pub const STEP_SECS: i64 = 30;
const DIGITS: usize = 6;
/// 160 bits, the size RFC 4226 recommends.
const SECRET_BYTES: usize = 20;
pub const RECOVERY_CODES: usize = 10;

pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut secret);
    secret
}

/// The secret as authenticator apps take it (RFC 4648 base32, no padding).
pub fn base32(secret: &[u8]) -> String {
    match Secret::Raw(secret.to_vec()).to_encoded() {
        Secret::Encoded(text) => text.trim_end_matches('=').to_string(),
        Secret::Raw(_) => unreachable!("to_encoded returns the encoded form"),
    }
}

/// The `otpauth://` URI of Google's Key URI Format, which authenticator apps scan.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let label = format!("{issuer}:{account}");
    format!(
        "otpauth://totp/{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        utf8_percent_encode(&label, NON_ALPHANUMERIC),
        base32(secret),
        utf8_percent_encode(issuer, NON_ALPHANUMERIC),
    )
}

/// The step (`unix time / 30`) whose code `code` is, among the current one and one either side,
/// compared in constant time; `None` for a wrong code.
pub fn matching_step(secret: &[u8], code: &str, now: i64) -> Option<i64> {
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp = TOTP::new_unchecked(Algorithm::SHA1, DIGITS, 0, STEP_SECS as u64, secret.to_vec());
    let current = now / STEP_SECS;
    let mut found = None;
    for step in [current - 1, current, current + 1] {
        let expected = totp.generate((step.max(0) * STEP_SECS) as u64);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// The code of the current step (tests, and the browser suite through the same crate).
pub fn code_at(secret: &[u8], now: i64) -> String {
    TOTP::new_unchecked(Algorithm::SHA1, DIGITS, 0, STEP_SECS as u64, secret.to_vec()).generate(now as u64)
}

pub use super::seal::{seal, unseal, SealError};

/// Ten codes of 10 base32 characters (50 bits each), shown as `xxxxx-xxxxx`.
pub fn new_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; 7];
            rand::rng().fill_bytes(&mut bytes);
            let text = base32(&bytes).to_ascii_lowercase();
            format!("{}-{}", &text[..5], &text[5..10])
        })
        .collect()
}

/// A recovery code as typed: case, spaces and dashes do not matter.
pub fn normalize_recovery_code(typed: &str) -> Option<String> {
    let code: String = typed.chars().filter(|c| !matches!(c, '-' | ' ')).collect::<String>().to_ascii_lowercase();
    (code.len() == 10 && code.bytes().all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_sha1_vector() {
        // RFC 6238 appendix B: the ASCII secret "12345678901234567890", T = 59 s → 94287082
        // (8 digits); the 6-digit code is its last six digits.
        let secret = b"12345678901234567890";
        assert_eq!(code_at(secret, 59), "287082");
        assert_eq!(matching_step(secret, "287082", 59), Some(1));
        assert_eq!(matching_step(secret, "287082", 59 + 30), Some(1), "one step of skew");
        assert_eq!(matching_step(secret, "287082", 59 + 90), None);
        assert_eq!(matching_step(secret, "28708", 59), None);
    }

    #[test]
    fn recovery_codes_normalize() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        for code in &codes {
            assert_eq!(code.len(), 11);
            assert_eq!(normalize_recovery_code(&code.to_uppercase()).unwrap(), code.replace('-', ""));
        }
        assert_eq!(normalize_recovery_code("123456"), None);
    }
}
