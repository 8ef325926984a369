//! The Token Status List (draft-ietf-oauth-status-list, JWT form) other services read to see
//! revocations without calling portcullis per request: one bit per session entry, from the
//! same in-memory state the server itself checks tokens against.
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{AuthError, AuthService};
use crate::{clock, db};

/// The media type of the signed list.
pub const MEDIA_TYPE: &str = "application/statuslist+jwt";
/// How long a signed list stays valid (`exp`); it is re-signed after half of it, or at once when
/// a bit changes.
const SIGNED_LIFETIME: i64 = 3600;

/// A signed list as served: the JWT and its entity tag.
#[derive(Clone)]
pub struct SignedList {
    pub jwt: String,
    pub etag: String,
    version: u64,
    issued_at: i64,
}

/// Signed lists by id, so that a list is signed once per change, not once per request.
#[derive(Clone, Default)]
pub struct SignedLists {
    by_id: Arc<Mutex<HashMap<String, SignedList>>>,
}

#[derive(Serialize)]
struct ListClaims<'a> {
    sub: &'a str,
    iat: i64,
    exp: i64,
    ttl: i64,
    status_list: ListBody,
}

#[derive(Serialize)]
struct ListBody {
    bits: u8,
    lst: String,
}

impl AuthService {
    /// The signed status list `id`, or `None` if there is no such list.
    pub async fn status_list(&self, id: &str) -> Result<Option<SignedList>, AuthError> {
        let bits = match self.revocations.status_list(id) {
            Some(bits) => bits,
            // Opened by another instance and not invalidated anywhere yet: all zeros.
            None => {
                let lookup = id.to_string();
                let size =
                    db::run(&self.pool, move |conn| Ok::<_, AuthError>(db::status_lists::size_of(conn, &lookup)?))
                        .await?;
                let Some(size) = size else { return Ok(None) };
                self.revocations.know_list(id, size)
            }
        };
        let now = clock::now();
        let mut cache = self.signed_lists.by_id.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(signed) = cache.get(id) {
            if signed.version == bits.version && now - signed.issued_at < SIGNED_LIFETIME / 2 {
                return Ok(Some(signed.clone()));
            }
        }
        let uri = self.status_list_uri(id);
        let claims = ListClaims {
            sub: &uri,
            iat: now,
            exp: now + SIGNED_LIFETIME,
            ttl: self.settings.status_list_ttl,
            status_list: ListBody { bits: 1, lst: URL_SAFE_NO_PAD.encode(deflate(&bits.bytes)?) },
        };
        let jwt = self.keys.sign_other("statuslist+jwt", &claims)?;
        let etag = format!("\"{}\"", &URL_SAFE_NO_PAD.encode(Sha256::digest(jwt.as_bytes()))[..22]);
        let signed = SignedList { jwt, etag, version: bits.version, issued_at: now };
        cache.insert(id.to_string(), signed.clone());
        Ok(Some(signed))
    }

    /// The URIs of the lists in use (RFC 8414 metadata; a cold path, read from the database).
    pub async fn status_list_uris(&self) -> Result<Vec<String>, AuthError> {
        // During a database outage, the lists this instance knows (the metadata stays up).
        let ids = match db::run(&self.pool, |conn| Ok::<_, AuthError>(db::status_lists::lists(conn)?)).await {
            Ok(lists) => lists.into_iter().map(|(id, _)| id).collect(),
            Err(AuthError::Db(_)) => self.revocations.list_ids(),
            Err(e) => return Err(e),
        };
        Ok(ids.iter().map(|id| self.status_list_uri(id)).collect())
    }
}

/// zlib (RFC 1950) of the bytes, as the draft requires.
fn deflate(bytes: &[u8]) -> Result<Vec<u8>, AuthError> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).map_err(anyhow::Error::from)?;
    Ok(encoder.finish().map_err(anyhow::Error::from)?)
}
