//! Asymmetric signing keys (EdDSA, ES256): generated, read from PEM, published as JWKs. The
//! keys in use live in the database (`signing_keys`, see `tokens::JwtKeys`); `JWT_KEYS_DIR`
//! holds the key a database starts with (generated there in development).
use std::path::Path;

use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::{DecodingKey, EncodingKey};
use rand::RngCore;

use crate::config::JwtAlgorithm;

pub struct LoadedKeys {
    pub kid: String,
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
    pub jwk: serde_json::Value,
}

fn file_name(alg: JwtAlgorithm) -> &'static str {
    match alg {
        JwtAlgorithm::EdDsa => "eddsa-private.pem",
        JwtAlgorithm::Es256 => "es256-private.pem",
        JwtAlgorithm::Hs256 => unreachable!("HS256 uses JWT_SECRET, not a key file"),
    }
}

/// The PEM of the key file for `alg` in `dir`, created there in development when missing.
pub fn file_pem(dir: &Path, alg: JwtAlgorithm, production: bool) -> anyhow::Result<String> {
    let path = dir.join(file_name(alg));
    let pem = match std::fs::read_to_string(&path) {
        Ok(pem) => pem,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !production => {
            let pem = generate(alg)?;
            super::tokens::ensure_dir(dir).with_context(|| format!("failed to create {}", dir.display()))?;
            write_private(&path, &pem)?;
            tracing::warn!(path = %path.display(), "generated a new signing key for development");
            pem
        }
        Err(e) => return Err(e).with_context(|| format!("JWT_KEYS_DIR: cannot read {}", path.display())),
    };
    from_pem(alg, &pem).with_context(|| format!("JWT_KEYS_DIR: {} is not a valid key", path.display()))?;
    Ok(pem)
}

pub fn generate(alg: JwtAlgorithm) -> anyhow::Result<String> {
    let mut seed = [0u8; 32];
    loop {
        rand::rng().fill_bytes(&mut seed);
        let pem = match alg {
            // PKCS#8 v1 (the seed alone), as `openssl genpkey` writes it: OpenSSL 3.0 and Python's
            // `cryptography` refuse the v2 form that also carries the public key.
            JwtAlgorithm::EdDsa => ed25519_dalek::pkcs8::KeypairBytes { secret_key: seed, public_key: None }
                .to_pkcs8_pem(Default::default())
                .map(|p| p.to_string()),
            JwtAlgorithm::Es256 => match p256::SecretKey::from_slice(&seed) {
                Ok(key) => key.to_pkcs8_pem(Default::default()).map(|p| p.to_string()),
                // Outside the curve's order (probability ~2^-32): draw again.
                Err(_) => continue,
            },
            JwtAlgorithm::Hs256 => unreachable!(),
        };
        return pem.map_err(|e| anyhow::anyhow!("failed to encode a key: {e}"));
    }
}

fn write_private(path: &Path, pem: &str) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path).with_context(|| format!("failed to write {}", path.display()))?;
    file.write_all(pem.as_bytes())?;
    Ok(())
}

pub fn from_pem(alg: JwtAlgorithm, pem: &str) -> anyhow::Result<LoadedKeys> {
    match alg {
        JwtAlgorithm::EdDsa => {
            let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem).map_err(|e| anyhow::anyhow!("{e}"))?;
            let public = key.verifying_key().to_bytes();
            let x = URL_SAFE_NO_PAD.encode(public);
            let kid = super::tokens::key_id(&public);
            Ok(LoadedKeys {
                kid: kid.clone(),
                encoding: EncodingKey::from_ed_pem(pem.as_bytes())?,
                decoding: DecodingKey::from_ed_components(&x)?,
                jwk: serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"}),
            })
        }
        JwtAlgorithm::Es256 => {
            let key = p256::SecretKey::from_pkcs8_pem(pem).map_err(|e| anyhow::anyhow!("{e}"))?;
            let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&key.public_key(), false);
            let (Some(x), Some(y)) = (point.x(), point.y()) else {
                anyhow::bail!("the public key is the identity point");
            };
            let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
            let kid = super::tokens::key_id(point.as_bytes());
            Ok(LoadedKeys {
                kid: kid.clone(),
                encoding: EncodingKey::from_ec_pem(pem.as_bytes())?,
                decoding: DecodingKey::from_ec_components(&x, &y)?,
                jwk: serde_json::json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "alg": "ES256", "use": "sig"}),
            })
        }
        JwtAlgorithm::Hs256 => unreachable!(),
    }
}
