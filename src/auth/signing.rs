//! The asymmetric signing keys in the database: the first start imports the key file, every
//! instance loads the usable keys, and `rotate-keys` retires the live key for a new one and
//! announces it on the revocation event stream, so every instance reloads within the feed's
//! bound (`revocation::MAX_STALENESS`, one second).
use super::seal;
use super::tokens::{JwtKeys, StoredKey};
use super::{AuthError, AuthService};
use crate::audit::{self, Actor, AuditKind, Requester};
use crate::clock;
use crate::config::{JwtAlgorithm, Settings};
use crate::db::signing_keys::SigningKeyRow;
use crate::db::{self, write_transaction, AnyConnection};

fn alg_name(alg: JwtAlgorithm) -> Option<&'static str> {
    match alg {
        JwtAlgorithm::Hs256 => None,
        JwtAlgorithm::EdDsa => Some("EdDSA"),
        JwtAlgorithm::Es256 => Some("ES256"),
    }
}

impl AuthService {
    /// Makes sure the database holds a live key for the configured algorithm (the key file's,
    /// on the first start), loads the usable keys, and reloads them whenever they rotate.
    pub async fn load_signing_keys(&self) -> Result<(), AuthError> {
        if alg_name(self.settings.jwt_algorithm).is_none() {
            return Ok(());
        }
        let (settings, keys, seal_key) =
            (self.settings.clone(), self.keys.clone(), self.secret_tokens.key_sealing_key());
        db::run(&self.pool, move |conn| {
            write_transaction(conn, |conn| import_file_key(conn, &settings, &seal_key))?;
            reload(conn, &settings, &keys, &seal_key)
        })
        .await?;
        let (settings, keys, seal_key) =
            (self.settings.clone(), self.keys.clone(), self.secret_tokens.key_sealing_key());
        self.revocations.on_keys_rotated(move |conn| {
            if let Err(e) = reload(conn, &settings, &keys, &seal_key) {
                tracing::error!(error = ?anyhow::Error::from(e), "the rotated signing keys could not be loaded");
            }
        });
        Ok(())
    }

    /// Retires the live key and makes a new one (`portcullis rotate-keys`); returns its `kid`.
    pub async fn rotate_signing_keys(&self, client: Requester) -> Result<String, AuthError> {
        let alg = self.settings.jwt_algorithm;
        let Some(name) = alg_name(alg) else {
            return Err(AuthError::Unexpected(anyhow::anyhow!(
                "HS256 keys are rotated in the configuration: set JWT_SECRET_PREVIOUS to the old secret and \
                 JWT_SECRET to the new one, and drop JWT_SECRET_PREVIOUS after JWT_EXPIRATION"
            )));
        };
        let pem = super::keys::generate(alg)?;
        let kid = super::keys::from_pem(alg, &pem)?.kid;
        let sealed = seal::seal(&self.secret_tokens.key_sealing_key(), &kid, pem.as_bytes())
            .map_err(|e| AuthError::Unexpected(e.into()))?;
        let new_kid = kid.clone();
        db::write(&self.pool, move |conn| {
            let now = clock::now();
            let retired = db::signing_keys::retire_live(conn, name, now)?;
            db::signing_keys::insert(
                conn,
                &SigningKeyRow {
                    kid: kid.clone(),
                    alg: name.into(),
                    private_sealed: sealed,
                    created_at: now,
                    retired_at: None,
                },
            )?;
            db::revocations::record(conn, "", &db::revocations::Change::KeysRotated, None, now)?;
            let detail = format!("alg={name} kid={kid} retired={retired}");
            audit::record(conn, AuditKind::KeysRotated, None, &Actor::Cli, &client, &detail)?;
            Ok::<_, AuthError>(())
        })
        .await?;
        self.apply_revocations().await?;
        Ok(new_kid)
    }
}

/// The key file's key becomes the first live key of an empty table.
fn import_file_key(conn: &mut AnyConnection, settings: &Settings, seal_key: &[u8; 32]) -> Result<(), AuthError> {
    let Some(name) = alg_name(settings.jwt_algorithm) else { return Ok(()) };
    let since = clock::now() - window(settings);
    if db::signing_keys::usable(conn, name, since)?.iter().any(|row| row.retired_at.is_none()) {
        return Ok(());
    }
    let pem = super::keys::file_pem(&settings.jwt_keys_dir, settings.jwt_algorithm, settings.is_production())?;
    let kid = super::keys::from_pem(settings.jwt_algorithm, &pem)?.kid;
    if db::signing_keys::find(conn, &kid)?.is_some() {
        return Ok(());
    }
    let sealed = seal::seal(seal_key, &kid, pem.as_bytes()).map_err(|e| AuthError::Unexpected(e.into()))?;
    db::signing_keys::insert(
        conn,
        &SigningKeyRow { kid, alg: name.into(), private_sealed: sealed, created_at: clock::now(), retired_at: None },
    )?;
    Ok(())
}

/// Loads the keys that sign or may still verify into `keys`.
fn reload(conn: &mut AnyConnection, settings: &Settings, keys: &JwtKeys, seal_key: &[u8; 32]) -> Result<(), AuthError> {
    let Some(name) = alg_name(settings.jwt_algorithm) else { return Ok(()) };
    let since = clock::now() - window(settings);
    let mut stored = Vec::new();
    // Oldest first: the newest live key signs.
    for row in db::signing_keys::usable(conn, name, since)?.into_iter().rev() {
        let pem = seal::unseal(seal_key, &row.kid, &row.private_sealed).map_err(|_| {
            AuthError::Unexpected(anyhow::anyhow!(
                "signing key {} does not open: was JWT_REFRESH_SECRET changed?",
                row.kid
            ))
        })?;
        let pem = String::from_utf8(pem).map_err(anyhow::Error::from)?;
        stored.push(StoredKey { kid: row.kid, pem, retired_at: row.retired_at });
    }
    keys.install(settings.jwt_algorithm, &stored)?;
    Ok(())
}

fn window(settings: &Settings) -> i64 {
    settings.jwt_expiration + settings.jwt_leeway as i64
}
