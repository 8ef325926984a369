//! bcrypt, always on the blocking pool: a hash at cost 12 takes ~250 ms of one core.
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed")]
pub struct HashError(#[source] anyhow::Error);

/// Hashes and verifies passwords at the configured cost; keeps a dummy hash so that an
/// unknown user costs the same time as a wrong password.
#[derive(Clone)]
pub struct Hasher {
    cost: u32,
    dummy_hash: Arc<String>,
}

impl Hasher {
    pub fn new(cost: u32) -> Result<Self, HashError> {
        let dummy = bcrypt::hash(crate::ids::random_b64(24), cost).map_err(|e| HashError(e.into()))?;
        Ok(Self { cost, dummy_hash: Arc::new(dummy) })
    }

    pub async fn hash(&self, password: &SecretString) -> Result<String, HashError> {
        let password = password.clone();
        let cost = self.cost;
        // Passwords are held to 72 bytes before this point; `hash` only drops the NUL terminator.
        blocking(move || bcrypt::hash(password.expose_secret(), cost).map_err(|e| HashError(e.into()))).await
    }

    /// Verifies against `hash`, or against the dummy hash when there is no user.
    pub async fn verify(&self, password: &SecretString, hash: Option<String>) -> Result<bool, HashError> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.as_str().to_string());
        let password = password.clone();
        let matches = blocking(move || {
            // A malformed stored hash counts as a mismatch rather than an error the client sees.
            Ok(bcrypt::verify(password.expose_secret(), &hash).unwrap_or(false))
        })
        .await?;
        Ok(known && matches)
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, HashError> + Send + 'static,
) -> Result<T, HashError> {
    actix_web::rt::task::spawn_blocking(work)
        .await
        .map_err(|e| HashError(anyhow::anyhow!("hashing task failed: {e}")))?
}
