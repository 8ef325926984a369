//! Turns raw body fields into domain values, collecting every problem at once.
use crate::domain::{Email, LoginName, Password, Username};
use crate::error::{ApiError, Fields};

/// Collects field problems: shape problems answer 400, password-rule problems 422.
#[derive(Default)]
pub struct Checker {
    invalid: Fields,
    weak: Fields,
    /// A password that cannot be the account's (longer than any password can be).
    unprovable: bool,
}

impl Checker {
    pub fn required(&mut self, name: &'static str, value: Option<String>) -> Option<String> {
        match value {
            Some(v) if !v.is_empty() => Some(v),
            _ => {
                self.invalid.insert(name, "is required".into());
                None
            }
        }
    }

    pub fn username(&mut self, value: Option<String>) -> Option<Username> {
        let raw = self.required("username", value)?;
        Username::parse(&raw).map_err(|why| self.invalid.insert("username", why.into())).ok()
    }

    pub fn email(&mut self, value: Option<String>) -> Option<Email> {
        let raw = self.required("email", value)?;
        Email::parse(&raw).map_err(|why| self.invalid.insert("email", why.into())).ok()
    }

    pub fn login_name(&mut self, value: Option<String>) -> Option<LoginName> {
        let raw = self.required("username", value)?;
        LoginName::parse(&raw).map_err(|why| self.invalid.insert("username", why.into())).ok()
    }

    /// A new password, held to the password rules; `user_inputs` (username, email) count as
    /// guessable words.
    pub fn new_password(
        &mut self,
        name: &'static str,
        value: Option<String>,
        user_inputs: &[&str],
    ) -> Option<Password> {
        let raw = self.required(name, value)?;
        Password::parse_new(raw, user_inputs).map_err(|why| self.weak.insert(name, why.into())).ok()
    }

    /// An existing password: only its presence is checked. One over bcrypt's byte limit cannot
    /// be anyone's password (and must never reach bcrypt, which would truncate it): it answers
    /// as a wrong password.
    pub fn current_password(&mut self, name: &'static str, value: Option<String>) -> Option<secrecy::SecretString> {
        let raw = self.required(name, value)?;
        if raw.len() > crate::domain::PASSWORD_MAX_BYTES {
            self.unprovable = true;
            return None;
        }
        Some(secrecy::SecretString::from(raw))
    }

    pub fn finish(self) -> Result<(), ApiError> {
        if !self.invalid.is_empty() {
            let mut fields = self.invalid;
            fields.extend(self.weak);
            return Err(ApiError::InvalidRequest { description: "some fields are invalid".into(), fields });
        }
        if !self.weak.is_empty() {
            return Err(ApiError::WeakPassword { fields: self.weak });
        }
        if self.unprovable {
            return Err(ApiError::InvalidCredentials);
        }
        Ok(())
    }
}

/// Unwraps values that `finish` has vouched for.
pub fn vouched<T>(value: Option<T>) -> Result<T, ApiError> {
    value.ok_or(ApiError::Internal)
}
