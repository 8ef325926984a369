//! Access tokens (JWT, one configured algorithm) and refresh tokens (opaque, stored hashed).
use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
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
    /// Not before (RFC 7519 §4.1.5): portcullis sets none, and honours one it is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
}

/// The JOSE header fields verification looks at. Any other member is ignored; a repeated
/// member is a parse error, so a header cannot say two things.
#[derive(Deserialize)]
struct JoseHeader {
    alg: Algorithm,
    typ: Option<String>,
    kid: Option<String>,
    crit: Option<serde::de::IgnoredAny>,
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
///
/// HS256 signs with `JWT_SECRET` and also verifies with `JWT_SECRET_PREVIOUS` during a
/// rotation. EdDSA/ES256 keys live in the database (`signing_keys`): the newest live key signs,
/// a retired one verifies (and stays in the JWKS) until every token it signed has expired; a
/// token must name its key (`kid`). Every instance reloads the set when `rotate-keys` announces
/// a rotation on the revocation event stream.
pub struct JwtKeys {
    algorithm: Algorithm,
    issuer: String,
    audience: String,
    leeway: i64,
    /// How long after its retirement a key may still have signed an unexpired token.
    window: i64,
    set: std::sync::RwLock<std::sync::Arc<KeySet>>,
}

struct KeySet {
    header: Header,
    /// `None` until the database's keys are installed (an instance without the key file).
    encoding: Option<EncodingKey>,
    verifying: Vec<VerifyingKey>,
}

struct VerifyingKey {
    /// `None` for HS256 secrets (tokens carry no `kid`).
    kid: Option<String>,
    decoding: DecodingKey,
    jwk: Option<serde_json::Value>,
    retired_at: Option<i64>,
}

/// A key as stored: its id, PEM, and when it stopped signing.
pub struct StoredKey {
    pub kid: String,
    pub pem: String,
    pub retired_at: Option<i64>,
}

impl JwtKeys {
    /// HS256 keys from the settings; asymmetric ones are installed from the database
    /// (`signing::load_signing_keys`, which seeds an empty table from `JWT_KEYS_DIR`).
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let algorithm = match settings.jwt_algorithm {
            JwtAlgorithm::Hs256 => Algorithm::HS256,
            JwtAlgorithm::EdDsa => Algorithm::EdDSA,
            JwtAlgorithm::Es256 => Algorithm::ES256,
        };
        let set = match settings.jwt_algorithm {
            JwtAlgorithm::Hs256 => {
                let secret = settings.jwt_secret.expose_secret().as_bytes();
                let mut verifying = vec![VerifyingKey {
                    kid: None,
                    decoding: DecodingKey::from_secret(secret),
                    jwk: None,
                    retired_at: None,
                }];
                if let Some(previous) = &settings.jwt_secret_previous {
                    verifying.push(VerifyingKey {
                        kid: None,
                        decoding: DecodingKey::from_secret(previous.expose_secret().as_bytes()),
                        jwk: None,
                        retired_at: None,
                    });
                }
                KeySet {
                    header: access_header(algorithm, None),
                    encoding: Some(EncodingKey::from_secret(secret)),
                    verifying,
                }
            }
            // The keys come from the database (`install`); nothing signs or verifies before.
            _ => KeySet { header: access_header(algorithm, None), encoding: None, verifying: Vec::new() },
        };
        Ok(Self {
            algorithm,
            issuer: settings.jwt_issuer.clone(),
            audience: settings.jwt_audience.clone(),
            leeway: settings.jwt_leeway as i64,
            window: settings.jwt_expiration + settings.jwt_leeway as i64,
            set: std::sync::RwLock::new(std::sync::Arc::new(set)),
        })
    }

    /// Puts a set of stored keys in place (the newest live one signs).
    pub fn install(&self, alg: JwtAlgorithm, keys: &[StoredKey]) -> anyhow::Result<()> {
        let set = build_set(self.algorithm, alg, keys)?;
        *self.set.write().unwrap_or_else(|p| p.into_inner()) = std::sync::Arc::new(set);
        Ok(())
    }

    /// The `kid` new tokens carry (asymmetric keys).
    pub fn signing_kid(&self) -> Option<String> {
        self.current().header.kid.clone()
    }

    fn current(&self) -> std::sync::Arc<KeySet> {
        self.set.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn sign(&self, claims: &AccessClaims) -> anyhow::Result<String> {
        let set = self.current();
        let encoding = set.encoding.as_ref().ok_or_else(|| anyhow::anyhow!("no signing key is loaded"))?;
        Ok(jsonwebtoken::encode(&set.header, claims, encoding)?)
    }

    /// Signs other JWTs with the access-token key (same `alg` and `kid`), e.g. status lists.
    pub fn sign_other(&self, typ: &str, claims: &impl Serialize) -> anyhow::Result<String> {
        let set = self.current();
        let header = Header { typ: Some(typ.to_string()), ..set.header.clone() };
        let encoding = set.encoding.as_ref().ok_or_else(|| anyhow::anyhow!("no signing key is loaded"))?;
        Ok(jsonwebtoken::encode(&header, claims, encoding)?)
    }

    /// Checks the compact form, signature (with the key the token names), the one configured
    /// algorithm, `typ`, no `crit`, `iss`, `aud`, `exp` and `nbf`. Every request with a token
    /// comes here, so each part is decoded and parsed once (jsonwebtoken's `decode` parses the
    /// header twice and the claims twice); the signature check is jsonwebtoken's.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        if token.len() > 4096 {
            return Err(TokenError::Invalid);
        }
        let mut parts = token.split('.');
        let (Some(header_part), Some(claims_part), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Invalid);
        };
        let header: JoseHeader = decode_part(header_part)?;
        let typ_ok = header
            .typ
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case(ACCESS_TOKEN_TYP) || t.eq_ignore_ascii_case("application/at+jwt"));
        // RFC 7515 §4.1.11: a `crit` extension must be understood, and portcullis understands none.
        if header.alg != self.algorithm || !typ_ok || header.crit.is_some() {
            return Err(TokenError::Invalid);
        }
        let signed = &token.as_bytes()[..header_part.len() + 1 + claims_part.len()];
        let set = self.current();
        let now = crate::clock::now();
        let key = set
            .verifying
            .iter()
            .filter(|key| self.usable(key, now))
            .filter(|key| key.kid.is_none() || key.kid == header.kid)
            .find(|key| {
                jsonwebtoken::crypto::verify(signature, signed, &key.decoding, self.algorithm).unwrap_or(false)
            });
        if key.is_none() {
            return Err(TokenError::Invalid);
        }
        let claims: AccessClaims = decode_part(claims_part)?;
        if claims.iss != self.issuer || claims.aud != self.audience {
            return Err(TokenError::Invalid);
        }
        if claims.nbf.is_some_and(|nbf| nbf > now + self.leeway) {
            return Err(TokenError::Invalid);
        }
        // RFC 7519 §4.1.4: refused on or after `exp`. `now` is whole seconds (the true time is
        // within [now, now + 1)), so the token's last valid second is `exp - 1`.
        if claims.exp <= now - self.leeway {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    /// A key verifies while it signs and, once retired, while its tokens may be unexpired.
    fn usable(&self, key: &VerifyingKey, now: i64) -> bool {
        key.retired_at.is_none_or(|retired| retired + self.window >= now)
    }

    /// The JWK Set's keys: exactly those whose tokens may still be unexpired (none for HS256).
    pub fn jwks(&self) -> Vec<serde_json::Value> {
        let set = self.current();
        let now = crate::clock::now();
        set.verifying.iter().filter(|key| self.usable(key, now)).filter_map(|key| key.jwk.clone()).collect()
    }
}

/// One base64url (unpadded) part of a compact JWS, parsed as JSON.
fn decode_part<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, TokenError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| TokenError::Invalid)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Invalid)
}

fn access_header(algorithm: Algorithm, kid: Option<String>) -> Header {
    let mut header = Header::new(algorithm);
    header.typ = Some(ACCESS_TOKEN_TYP.into());
    header.kid = kid;
    header
}

fn build_set(algorithm: Algorithm, alg: JwtAlgorithm, keys: &[StoredKey]) -> anyhow::Result<KeySet> {
    let signer = keys
        .iter()
        .rev()
        .find(|key| key.retired_at.is_none())
        .or_else(|| keys.first())
        .ok_or_else(|| anyhow::anyhow!("no signing key"))?;
    let mut verifying = Vec::with_capacity(keys.len());
    let mut encoding = None;
    for key in keys {
        let loaded = super::keys::from_pem(alg, &key.pem)?;
        if key.kid == signer.kid {
            encoding = Some(loaded.encoding);
        }
        verifying.push(VerifyingKey {
            kid: Some(loaded.kid),
            decoding: loaded.decoding,
            jwk: Some(loaded.jwk),
            retired_at: key.retired_at,
        });
    }
    let encoding = encoding.ok_or_else(|| anyhow::anyhow!("the signing key did not load"))?;
    Ok(KeySet { header: access_header(algorithm, Some(signer.kid.clone())), encoding: Some(encoding), verifying })
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

    /// The key that seals private signing keys in the database (its own label).
    pub fn key_sealing_key(&self) -> [u8; 32] {
        let mut key = [0u8; 32];
        key.copy_from_slice(&self.mac(b"portcullis signing key sealing key\0", ""));
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &str = "unit-test-access-secret-0123456789abcdef";

    fn keys() -> JwtKeys {
        let settings = Settings::from_lookup(|name| match name {
            "JWT_SECRET" => Some(SECRET.into()),
            "JWT_REFRESH_SECRET" => Some("unit-test-refresh-secret-0123456789abcdef".into()),
            "DATABASE_URL" => Some("sqlite://:memory:".into()),
            "JWT_LEEWAY" => Some("0".into()),
            _ => None,
        })
        .unwrap();
        JwtKeys::from_settings(&settings).unwrap()
    }

    /// A compact JWS over exactly these header and claims texts, signed with the right key.
    fn signed(header: &str, claims: &str) -> String {
        let message = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(claims));
        let key = EncodingKey::from_secret(SECRET.as_bytes());
        let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256).unwrap();
        format!("{message}.{signature}")
    }

    fn claims(overrides: serde_json::Value) -> String {
        let now = crate::clock::now();
        let mut claims = json!({
            "iss": "portcullis", "aud": "portcullis", "sub": "u", "iat": now, "exp": now + 60,
            "jti": "j", "sid": "s", "ver": 0, "role": "user", "name": "n", "email": "n@example.com",
            "created_at": 0,
        });
        for (k, v) in overrides.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims.to_string()
    }

    const HEADER: &str = r#"{"alg":"HS256","typ":"at+jwt"}"#;

    #[test]
    fn the_compact_form_is_parsed_strictly() {
        let keys = keys();
        let good = signed(HEADER, &claims(json!({})));
        assert!(keys.verify(&good).is_ok());
        assert_eq!(keys.verify(&format!("{good}.")).unwrap_err(), TokenError::Invalid, "a fourth part");
        let (message, signature) = good.rsplit_once('.').unwrap();
        assert!(keys.verify(&format!("{message}.{signature}=")).is_err(), "padding is not base64url");
        assert!(keys.verify(&format!("{message}.")).is_err(), "no signature");
        // A header that names its algorithm twice is refused, whichever comes first.
        let twice = signed(r#"{"alg":"HS256","typ":"at+jwt","alg":"none"}"#, &claims(json!({})));
        assert!(keys.verify(&twice).is_err());
        let unknown_alg = signed(r#"{"alg":"HS257","typ":"at+jwt"}"#, &claims(json!({})));
        assert!(keys.verify(&unknown_alg).is_err());
        let other_members = signed(r#"{"alg":"HS256","typ":"at+jwt","x5u":"https://example.com"}"#, &claims(json!({})));
        assert!(keys.verify(&other_members).is_ok(), "unknown header members are ignored");
    }

    #[test]
    fn every_required_claim_is_checked() {
        let keys = keys();
        for missing in ["iss", "aud", "sub", "iat", "exp"] {
            let token = signed(HEADER, &claims(json!({ missing: null })));
            assert_eq!(keys.verify(&token).unwrap_err(), TokenError::Invalid, "without {missing}");
        }
        let now = crate::clock::now();
        let cases = [
            (json!({"exp": now - 1}), TokenError::Expired),
            (json!({"exp": "soon"}), TokenError::Invalid),
            (json!({"nbf": now + 60}), TokenError::Invalid),
            (json!({"aud": ["portcullis"]}), TokenError::Invalid),
            (json!({"iss": "portcullis2"}), TokenError::Invalid),
        ];
        for (overrides, expected) in cases {
            let token = signed(HEADER, &claims(overrides.clone()));
            assert_eq!(keys.verify(&token).unwrap_err(), expected, "{overrides}");
        }
        assert!(keys.verify(&signed(HEADER, &claims(json!({"nbf": now})))).is_ok(), "nbf now is valid");
        assert_eq!(
            keys.verify(&signed(HEADER, &claims(json!({"exp": now})))).unwrap_err(),
            TokenError::Expired,
            "refused at exp"
        );
        assert!(keys.verify(&signed(HEADER, &claims(json!({"exp": now + 2})))).is_ok(), "valid before exp");
    }
}
