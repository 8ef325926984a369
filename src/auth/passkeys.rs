//! Passkeys through `webauthn-rs`: registration from a signed-in session (a discoverable
//! credential, user verification required) and usernameless sign-in. Ceremony states live in
//! the database, single-use and expiring, so any instance can finish what another started; a
//! registration is bound to its user, a sign-in to its `login_id`.
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder, WebauthnError,
};

use super::signin::Subject;
use super::{AuthError, AuthService, Caller, Issued};
use crate::audit::{self, Actor, AuditKind, Requester};
use crate::clock;
use crate::config::Settings;
use crate::db;
use crate::db::passkeys::PasskeyRow;
use crate::ids;

/// How long a ceremony may take (the browser's prompt included).
const CEREMONY_TTL_SECS: i64 = 300;
const REGISTER: &str = "register";
const LOGIN: &str = "login";

/// The relying party, when `PUBLIC_URL` names a host (WebAuthn refuses IP addresses).
#[derive(Clone)]
pub struct RelyingParty(Option<Arc<Webauthn>>);

impl RelyingParty {
    pub fn from_settings(settings: &Settings) -> Self {
        let built = Url::parse(&settings.public_url).ok().and_then(|origin| {
            let rp_id = origin.domain()?.to_string();
            WebauthnBuilder::new(&rp_id, &origin).ok()?.rp_name("portcullis").build().ok()
        });
        if built.is_none() {
            tracing::warn!(public_url = %settings.public_url, "passkeys are off: PUBLIC_URL must name a host, not an IP address");
        }
        RelyingParty(built.map(Arc::new))
    }
}

/// A `PublicKeyCredential.toJSON()` body; the library does not look at `type`, we do.
fn parse_credential<T: serde::de::DeserializeOwned>(credential: serde_json::Value) -> Result<T, AuthError> {
    if credential.get("type").and_then(|t| t.as_str()) != Some("public-key") {
        return Err(AuthError::InvalidPasskey);
    }
    serde_json::from_value(credential).map_err(|_| AuthError::InvalidPasskey)
}

/// The WebAuthn user handle of a user: stable, opaque, derived from the user id.
fn user_handle(user_id: &str) -> Uuid {
    let digest = Sha256::digest(user_id.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::from_bytes(bytes)
}

impl AuthService {
    pub fn passkeys_available(&self) -> bool {
        self.relying_party.0.is_some()
    }

    fn webauthn(&self) -> Result<&Webauthn, AuthError> {
        self.relying_party.0.as_deref().ok_or(AuthError::NotFound)
    }

    /// The creation options for a new passkey of the caller (their existing ones excluded).
    pub async fn start_passkey_registration(&self, caller: &Caller) -> Result<serde_json::Value, AuthError> {
        let webauthn = self.webauthn()?;
        let uid = caller.user_id.clone();
        let existing = db::run(&self.pool, move |conn| Ok::<_, AuthError>(db::passkeys::of_user(conn, &uid)?)).await?;
        let exclude = existing
            .iter()
            .filter_map(|row| serde_json::from_str::<Passkey>(&row.credential).ok())
            .map(|passkey| passkey.cred_id().clone())
            .collect::<Vec<_>>();
        let name = if caller.email.is_empty() { &caller.username } else { &caller.email };
        let (options, state) = webauthn
            .start_passkey_registration(user_handle(&caller.user_id), name, &caller.username, Some(exclude))
            .map_err(|e| AuthError::Unexpected(anyhow::anyhow!("webauthn: {e}")))?;
        let mut options = serde_json::to_value(options).map_err(anyhow::Error::from)?;
        // A passkey is a discoverable credential: usernameless sign-in needs it on the device.
        if let Some(selection) =
            options.pointer_mut("/publicKey/authenticatorSelection").and_then(|v| v.as_object_mut())
        {
            selection.insert("residentKey".into(), "required".into());
            selection.insert("requireResidentKey".into(), true.into());
        }
        let state = serde_json::to_string(&state).map_err(anyhow::Error::from)?;
        let uid = caller.user_id.clone();
        db::write(&self.pool, move |conn| {
            // One registration in flight per user: a new start replaces the old one.
            let id = format!("register:{uid}");
            db::passkeys::take_ceremony(conn, &id, REGISTER, Some(&uid), 0)?;
            db::passkeys::put_ceremony(conn, &id, REGISTER, Some(&uid), &state, clock::now() + CEREMONY_TTL_SECS)?;
            Ok::<_, AuthError>(())
        })
        .await?;
        Ok(options)
    }

    /// Verifies the browser's answer to the caller's registration and stores the passkey.
    pub async fn finish_passkey_registration(
        &self,
        caller: &Caller,
        name: String,
        credential: serde_json::Value,
        client: Requester,
    ) -> Result<PasskeyRow, AuthError> {
        let webauthn = self.webauthn()?.clone();
        let credential: RegisterPublicKeyCredential = parse_credential(credential)?;
        let uid = caller.user_id.clone();
        db::write(&self.pool, move |conn| {
            let now = clock::now();
            let id = format!("register:{uid}");
            let state =
                db::passkeys::take_ceremony(conn, &id, REGISTER, Some(&uid), now)?.ok_or(AuthError::InvalidPasskey)?;
            let state: PasskeyRegistration =
                serde_json::from_str(&state).map_err(|e| AuthError::Unexpected(e.into()))?;
            let passkey = webauthn.finish_passkey_registration(&credential, &state).map_err(|e| {
                tracing::info!(error = %e, "passkey registration refused");
                AuthError::InvalidPasskey
            })?;
            let credential_id = URL_SAFE_NO_PAD.encode(passkey.cred_id().as_slice());
            if db::passkeys::by_credential_id(conn, &credential_id)?.is_some() {
                return Err(AuthError::InvalidPasskey);
            }
            let row = PasskeyRow {
                id: ids::new_id(),
                user_id: uid.clone(),
                name,
                credential_id,
                credential: serde_json::to_string(&passkey).map_err(anyhow::Error::from)?,
                created_at: now,
                last_used_at: None,
            };
            db::passkeys::insert(conn, &row)?;
            let detail = format!("passkey={} name={}", row.id, row.name);
            audit::record(conn, AuditKind::PasskeyAdded, Some(&uid), &Actor::user(&uid), &client, &detail)?;
            Ok(row)
        })
        .await
    }

    pub async fn remove_passkey(&self, caller: &Caller, passkey_id: &str, client: Requester) -> Result<(), AuthError> {
        let (uid, pid) = (caller.user_id.clone(), passkey_id.to_string());
        db::write(&self.pool, move |conn| {
            if db::passkeys::delete_of_user(conn, &uid, &pid)? == 0 {
                return Err(AuthError::NotFound);
            }
            let detail = format!("passkey={pid}");
            audit::record(conn, AuditKind::PasskeyRemoved, Some(&uid), &Actor::user(&uid), &client, &detail)?;
            Ok(())
        })
        .await
    }

    /// The request options of a usernameless sign-in, and the `login_id` that finishes it.
    pub async fn start_passkey_login(&self) -> Result<(serde_json::Value, String), AuthError> {
        let webauthn = self.webauthn()?;
        let (options, state) = webauthn
            .start_discoverable_authentication()
            .map_err(|e| AuthError::Unexpected(anyhow::anyhow!("webauthn: {e}")))?;
        let mut options = serde_json::to_value(options).map_err(anyhow::Error::from)?;
        // A button starts this ceremony, not the autofill UI.
        if let Some(object) = options.as_object_mut() {
            object.remove("mediation");
        }
        let state = serde_json::to_string(&state).map_err(anyhow::Error::from)?;
        let login_id = ids::random_b64(24);
        let id = login_id.clone();
        db::write(&self.pool, move |conn| {
            Ok::<_, AuthError>(db::passkeys::put_ceremony(
                conn,
                &id,
                LOGIN,
                None,
                &state,
                clock::now() + CEREMONY_TTL_SECS,
            )?)
        })
        .await?;
        Ok((options, login_id))
    }

    /// Verifies an assertion against the ceremony `login_id` started and signs its user in.
    /// A signature counter that went backwards (a cloned authenticator) is refused and audited.
    pub async fn finish_passkey_login(
        &self,
        login_id: &str,
        credential: serde_json::Value,
        client: Requester,
    ) -> Result<Issued, AuthError> {
        let webauthn = self.webauthn()?.clone();
        let credential: PublicKeyCredential = parse_credential(credential)?;
        let id = login_id.to_string();
        let state = db::write(&self.pool, move |conn| {
            Ok::<_, AuthError>(db::passkeys::take_ceremony(conn, &id, LOGIN, None, clock::now())?)
        })
        .await?
        .ok_or(AuthError::InvalidPasskey)?;
        let state: DiscoverableAuthentication =
            serde_json::from_str(&state).map_err(|e| AuthError::Unexpected(e.into()))?;
        let (handle, credential_id) =
            webauthn.identify_discoverable_authentication(&credential).map_err(|_| AuthError::InvalidPasskey)?;
        let credential_id = URL_SAFE_NO_PAD.encode(credential_id);
        let lookup = credential_id.clone();
        let (row, user) = db::run(&self.pool, move |conn| {
            let row = db::passkeys::by_credential_id(conn, &lookup)?.ok_or(AuthError::InvalidPasskey)?;
            let user = db::users::find(conn, &row.user_id)?.ok_or(AuthError::InvalidPasskey)?;
            Ok::<_, AuthError>((row, user))
        })
        .await?;
        // The library checks the signature, not who owns the credential.
        if user_handle(&user.id) != handle {
            return Err(AuthError::InvalidPasskey);
        }
        let mut passkey: Passkey =
            serde_json::from_str(&row.credential).map_err(|e| AuthError::Unexpected(e.into()))?;
        let result =
            match webauthn.finish_discoverable_authentication(&credential, state, &[DiscoverableKey::from(&passkey)]) {
                Ok(result) => result,
                Err(e) => {
                    self.audit_refused_passkey(&row, &e, client).await?;
                    return Err(AuthError::InvalidPasskey);
                }
            };
        let updated = match passkey.update_credential(&result) {
            Some(true) => Some(serde_json::to_string(&passkey).map_err(anyhow::Error::from)?),
            _ => None,
        };
        let subject = Subject::Account { user_id: user.id.clone() };
        let device_id = ids::random_b64(16);
        let passkey_id = row.id.clone();
        self.open_signed_in_session(user, &subject, &device_id, client, move |conn| {
            db::passkeys::record_use(conn, &passkey_id, updated.as_deref(), clock::now())?;
            Ok(())
        })
        .await
    }

    async fn audit_refused_passkey(
        &self,
        row: &PasskeyRow,
        error: &WebauthnError,
        client: Requester,
    ) -> Result<(), AuthError> {
        let detail = match error {
            WebauthnError::CredentialPossibleCompromise => {
                format!("passkey={}: signature counter went backwards (a cloned authenticator?)", row.id)
            }
            other => format!("passkey={}: {other}", row.id),
        };
        let uid = row.user_id.clone();
        db::write(&self.pool, move |conn| {
            Ok::<_, AuthError>(audit::record(
                conn,
                AuditKind::LoginFailed,
                Some(&uid),
                &Actor::Anonymous,
                &client,
                &detail,
            )?)
        })
        .await
    }
}
