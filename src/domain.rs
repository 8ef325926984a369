//! Parsed input: values that cannot hold an invalid username, email or password.
//!
//! Usernames are ASCII only (letters, digits, `.`, `_`, `-`; 3–32 characters, starting with a
//! letter or digit) and unique without regard to case, so no two accounts can look alike.
//! Emails are ASCII too, at most 254 bytes, unique without regard to case.
use secrecy::{ExposeSecret, SecretString};

pub const USERNAME_MAX: usize = 32;
pub const EMAIL_MAX: usize = 254;
pub const PASSWORD_MIN_CHARS: usize = 8;
/// bcrypt reads at most 72 bytes; longer passwords are refused, never truncated.
pub const PASSWORD_MAX_BYTES: usize = 72;

#[derive(Debug, Clone)]
pub struct Username {
    display: String,
    key: String,
}

impl Username {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let len = raw.chars().count();
        if len < 3 {
            return Err("must be at least 3 characters");
        }
        if len > USERNAME_MAX {
            return Err("must be at most 32 characters");
        }
        if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
            return Err("may contain only letters a-z, digits, '.', '_' and '-'");
        }
        if !raw.as_bytes()[0].is_ascii_alphanumeric() {
            return Err("must start with a letter or a digit");
        }
        Ok(Self { display: raw.to_string(), key: raw.to_ascii_lowercase() })
    }

    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// The case-folded form that uniqueness and sign-in compare.
    pub fn key(&self) -> &str {
        &self.key
    }
}

#[derive(Debug, Clone)]
pub struct Email {
    display: String,
    key: String,
}

impl Email {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        if raw.len() > EMAIL_MAX {
            return Err("must be at most 254 characters");
        }
        if !raw.is_ascii() {
            return Err("must be an ASCII address");
        }
        if !is_plain_address(raw) {
            return Err("is not a valid email address");
        }
        Ok(Self { display: raw.to_string(), key: raw.to_ascii_lowercase() })
    }

    pub fn as_str(&self) -> &str {
        &self.display
    }

    pub fn key(&self) -> &str {
        &self.key
    }
}

/// A password that satisfies the length rules; kept secret until it is hashed.
#[derive(Debug)]
pub struct Password(SecretString);

impl Password {
    pub fn parse(raw: String) -> Result<Self, &'static str> {
        if raw.chars().count() < PASSWORD_MIN_CHARS {
            return Err("must be at least 8 characters");
        }
        if raw.len() > PASSWORD_MAX_BYTES {
            return Err("must be at most 72 bytes (bcrypt's limit)");
        }
        if raw.contains('\0') {
            return Err("must not contain NUL characters");
        }
        Ok(Self(SecretString::from(raw)))
    }

    /// A password being chosen: the length rules, and not common or easy to guess (zxcvbn
    /// score 2 or more, i.e. beyond about 10^6 guesses, counting the user's own name and email).
    pub fn parse_new(raw: String, user_inputs: &[&str]) -> Result<Self, &'static str> {
        let password = Self::parse(raw)?;
        let estimate = zxcvbn::zxcvbn(password.0.expose_secret(), user_inputs);
        if estimate.score() < zxcvbn::Score::Two {
            return Err("is too common or too easy to guess");
        }
        Ok(password)
    }

    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

/// What someone typed as their login: a username, or an email when it has an `@`.
/// The address rule the OpenAPI document states as `EMAIL_PATTERN`, checked by hand so the two
/// agree exactly: a dot-atom local part (no quoting, comments or display names) and a domain
/// of at least two labels of letters, digits and inner hyphens, each at most 63 characters.
fn is_plain_address(raw: &str) -> bool {
    const ATOM_SPECIALS: &[u8] = b"!#$%&'*+/=?^_`{|}~-";
    let Some((local, domain)) = raw.split_once('@') else { return false };
    let atom =
        |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || ATOM_SPECIALS.contains(&b));
    let label = |part: &str| {
        let bytes = part.as_bytes();
        (1..=63).contains(&bytes.len())
            && bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
            && bytes[0] != b'-'
            && bytes[bytes.len() - 1] != b'-'
    };
    local.split('.').all(atom) && domain.split('.').count() >= 2 && domain.split('.').all(label)
}

/// `is_plain_address` as an ECMA-262 pattern, for the OpenAPI document.
pub const EMAIL_PATTERN: &str = "^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$";
/// `Username::parse` as a pattern (its length is stated as minLength/maxLength).
pub const USERNAME_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._-]*$";

#[derive(Debug, Clone)]
pub struct LoginName {
    pub key: String,
    pub is_email: bool,
}

impl LoginName {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        if raw.is_empty() {
            return Err("is required");
        }
        if raw.len() > EMAIL_MAX {
            return Err("is too long");
        }
        if raw.chars().any(char::is_control) {
            return Err("has control characters");
        }
        Ok(Self { key: raw.to_ascii_lowercase(), is_email: raw.contains('@') })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_fold_case_and_refuse_lookalikes() {
        assert_eq!(Username::parse("Alice").unwrap().key(), "alice");
        assert!(Username::parse("аlice").is_err(), "Cyrillic a must be refused");
        assert!(Username::parse("al").is_err());
        assert!(Username::parse("_alice").is_err());
        assert!(Username::parse(&"a".repeat(33)).is_err());
    }

    #[test]
    fn emails_must_be_plain_ascii_addresses() {
        assert!(Email::parse("a@example.com").is_ok());
        assert!(Email::parse("a@localhost").is_err());
        assert!(Email::parse("Bob <b@example.com>").is_err());
        assert!(Email::parse("ü@example.com").is_err());
        assert!(Email::parse("not-an-email").is_err());
        assert!(Email::parse("a..b@example.com").is_err());
        assert!(Email::parse("a@-example.com").is_err());
        assert!(Email::parse("a@example..com").is_err());
        assert!(Email::parse("a@b@example.com").is_err());
        assert!(Email::parse("o'neil+tag@mail.example.co").is_ok());
    }

    #[test]
    fn passwords_between_8_chars_and_72_bytes() {
        assert!(Password::parse("short".into()).is_err());
        assert!(Password::parse("x".repeat(72)).is_ok());
        assert!(Password::parse("x".repeat(73)).is_err());
        // 24 three-byte characters are 72 bytes; 25 would be silently truncated by bcrypt.
        assert!(Password::parse("€".repeat(24)).is_ok());
        assert!(Password::parse("€".repeat(25)).is_err());
    }

    #[test]
    fn common_and_personal_passwords_are_refused() {
        for weak in ["password", "password123", "qwertyuiop", "iloveyou1", "aaaaaaaaaaaa"] {
            assert!(Password::parse_new(weak.into(), &[]).is_err(), "{weak}");
        }
        assert!(Password::parse_new("alice2024".into(), &["alice"]).is_err());
        assert!(Password::parse_new("correct horse battery".into(), &[]).is_ok());
    }
}

/// What a user may do: the `role` claim and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(Role::User),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
