//! Access tokens (JWT, one configured algorithm) and refresh tokens (opaque, stored hashed).
use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{JwtAlgorithm, Settings};

/// RFC 9068's media type for JWT access tokens; a token without it is not one of ours.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub sid: String,
    pub ver: i64,
    pub role: String,
    pub name: String,
    /// The profile `/api/me` answers with, carried so that no request needs the database
    /// (accounts have no email or username change, so it cannot go stale).
    pub email: String,
    pub created_at: i64,
    /// Where other services look up whether this token was revoked (Token Status List).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusClaim>,
}

/// `"status": {"status_list": {"idx": N, "uri": "<PUBLIC_URL>/statuslists/<id>"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusClaim {
    pub status_list: StatusListRef,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusListRef {
    pub idx: i64,
    pub uri: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is invalid")]
    Invalid,
}

/// Signing and verifying keys for access tokens, and the JWK Set that publishes them.
pub struct JwtKeys {
    header: Header,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    algorithm: Algorithm,
    jwks: serde_json::Value,
}

impl JwtKeys {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let (algorithm, encoding, decoding, jwk) = match settings.jwt_algorithm {
            JwtAlgorithm::Hs256 => {
                let secret = settings.jwt_secret.expose_secret().as_bytes();
                (Algorithm::HS256, EncodingKey::from_secret(secret), DecodingKey::from_secret(secret), None)
            }
            JwtAlgorithm::EdDsa => {
                let keys =
                    super::keys::load_or_create(&settings.jwt_keys_dir, JwtAlgorithm::EdDsa, settings.is_production())?;
                (Algorithm::EdDSA, keys.encoding, keys.decoding, Some(keys.jwk))
            }
            JwtAlgorithm::Es256 => {
                let keys =
                    super::keys::load_or_create(&settings.jwt_keys_dir, JwtAlgorithm::Es256, settings.is_production())?;
                (Algorithm::ES256, keys.encoding, keys.decoding, Some(keys.jwk))
            }
        };
        let mut header = Header::new(algorithm);
        header.typ = Some(ACCESS_TOKEN_TYP.into());
        header.kid = jwk.as_ref().and_then(|j| j["kid"].as_str().map(str::to_string));
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&settings.jwt_issuer]);
        validation.set_audience(&[&settings.jwt_audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = settings.jwt_leeway;
        validation.validate_exp = true;
        let jwks = serde_json::json!({ "keys": jwk.into_iter().collect::<Vec<_>>() });
        Ok(Self { header, encoding, decoding, validation, algorithm, jwks })
    }

    pub fn sign(&self, claims: &AccessClaims) -> anyhow::Result<String> {
        Ok(jsonwebtoken::encode(&self.header, claims, &self.encoding)?)
    }

    /// Signs other JWTs with the access-token key (same `alg` and `kid`), e.g. status lists.
    pub fn sign_other(&self, typ: &str, claims: &impl Serialize) -> anyhow::Result<String> {
        let header = Header { typ: Some(typ.to_string()), ..self.header.clone() };
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding)?)
    }

    /// Checks signature, the one configured algorithm, `typ`, `iss`, `aud` and `exp`.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        if token.len() > 4096 {
            return Err(TokenError::Invalid);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        let typ_ok = header
            .typ
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case(ACCESS_TOKEN_TYP) || t.eq_ignore_ascii_case("application/at+jwt"));
        if header.alg != self.algorithm || !typ_ok {
            return Err(TokenError::Invalid);
        }
        match jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation) {
            Ok(data) => Ok(data.claims),
            Err(e) if matches!(e.kind(), ErrorKind::ExpiredSignature) => Err(TokenError::Expired),
            Err(_) => Err(TokenError::Invalid),
        }
    }

    pub fn jwks(&self) -> &serde_json::Value {
        &self.jwks
    }
}

/// Refresh tokens: 256 random bits, base64url. The database keeps only a keyed hash.
#[derive(Clone)]
pub struct SecretTokens {
    pepper: SecretString,
}

/// Length of a refresh token: 32 bytes in base64url without padding.
const REFRESH_TOKEN_LEN: usize = 43;

impl SecretTokens {
    pub fn new(pepper: SecretString) -> Self {
        Self { pepper }
    }

    pub fn generate(&self) -> String {
        crate::ids::random_b64(32)
    }

    /// Rejects anything that is not shaped like one of our tokens before touching the database.
    pub fn is_well_formed(raw: &str) -> bool {
        raw.len() == REFRESH_TOKEN_LEN && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }

    /// The keyed hash stored in the database: a leaked table yields no usable token.
    pub fn hash(&self, raw: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(b"portcullis refresh hash\0", raw))
    }

    /// The keyed hash of a password-reset token (its own domain: never equal to a refresh hash).
    pub fn reset_hash(&self, raw: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(b"portcullis reset hash\0", raw))
    }

    /// The keyed hash of an `mfa_token` or a recovery code (each its own domain).
    pub fn mfa_hash(&self, kind: MfaSecret, raw: &str) -> String {
        let domain: &[u8] = match kind {
            MfaSecret::Token => b"portcullis mfa token hash\0",
            MfaSecret::RecoveryCode => b"portcullis recovery code hash\0",
        };
        URL_SAFE_NO_PAD.encode(self.mac(domain, raw))
    }

    /// The key that seals TOTP secrets at rest, derived from the configuration's refresh secret.
    pub fn sealing_key(&self) -> [u8; 32] {
        let mut key = [0u8; 32];
        key.copy_from_slice(&self.mac(b"portcullis totp sealing key\0", ""));
        key
    }

    /// The token that replaces `raw` on rotation. It is derived rather than random so that a
    /// parallel request presenting `raw` inside the grace window can be handed the same live
    /// successor although only hashes are stored: only a holder of `raw` can obtain it.
    pub fn successor(&self, raw: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(b"portcullis refresh successor\0", raw))
    }

    fn mac(&self, domain: &[u8], raw: &str) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.pepper.expose_secret().as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(domain);
        mac.update(raw.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

/// What a second-factor hash is of.
#[derive(Debug, Clone, Copy)]
pub enum MfaSecret {
    Token,
    RecoveryCode,
}

/// A short, stable key id: the start of the SHA-256 of the public key.
pub fn key_id(public: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(public))[..16].to_string()
}

pub fn ensure_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}
