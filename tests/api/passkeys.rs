//! Passkeys over the JSON ceremonies, answered by a software authenticator written here (a
//! P-256 key, "none" attestation, CBOR by hand): what a platform authenticator sends.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use rand::RngCore;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::dual;
use crate::helpers::*;

const ORIGIN: &str = "http://localhost:8080";
const RP_ID: &str = "localhost";

/// CBOR (RFC 8949) heads and the few items WebAuthn needs.
fn cbor_head(major: u8, len: usize, out: &mut Vec<u8>) {
    match len {
        0..=23 => out.push(major << 5 | len as u8),
        24..=255 => out.extend([major << 5 | 24, len as u8]),
        _ => {
            out.push(major << 5 | 25);
            out.extend((len as u16).to_be_bytes());
        }
    }
}

fn cbor_int(value: i64, out: &mut Vec<u8>) {
    if value >= 0 {
        cbor_head(0, value as usize, out)
    } else {
        cbor_head(1, (-1 - value) as usize, out)
    }
}

fn cbor_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    cbor_head(2, bytes.len(), out);
    out.extend(bytes);
}

fn cbor_text(text: &str, out: &mut Vec<u8>) {
    cbor_head(3, text.len(), out);
    out.extend(text.as_bytes());
}

/// A platform authenticator holding one discoverable credential.
struct Authenticator {
    key: SigningKey,
    credential_id: Vec<u8>,
    user_handle: String,
    counter: u32,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Authenticator {
    fn new() -> Self {
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let mut credential_id = vec![0u8; 16];
        rand::rng().fill_bytes(&mut credential_id);
        Authenticator {
            key: SigningKey::from_bytes(&secret.into()).expect("a valid scalar"),
            credential_id,
            user_handle: String::new(),
            counter: 1,
        }
    }

    fn client_data(kind: &str, challenge: &str) -> Vec<u8> {
        json!({"type": kind, "challenge": challenge, "origin": ORIGIN, "crossOrigin": false}).to_string().into_bytes()
    }

    /// `navigator.credentials.create()` and `.toJSON()`, user verified.
    fn create(&mut self, options: &Value) -> Value {
        let public_key = &options["publicKey"];
        assert_eq!(public_key["rp"]["id"], RP_ID);
        assert_eq!(public_key["authenticatorSelection"]["residentKey"], "required");
        assert_eq!(public_key["authenticatorSelection"]["userVerification"], "required");
        self.user_handle = public_key["user"]["id"].as_str().unwrap().to_string();
        let point = self.key.verifying_key().to_encoded_point(false);
        let mut cose = Vec::new();
        cbor_head(5, 5, &mut cose);
        for (label, value) in [(1, 2), (3, -7), (-1, 1)] {
            cbor_int(label, &mut cose);
            cbor_int(value, &mut cose);
        }
        cbor_int(-2, &mut cose);
        cbor_bytes(point.x().unwrap(), &mut cose);
        cbor_int(-3, &mut cose);
        cbor_bytes(point.y().unwrap(), &mut cose);
        let mut auth_data = Sha256::digest(RP_ID).to_vec();
        auth_data.push(0x45); // user present, user verified, attested credential data
        auth_data.extend(self.counter.to_be_bytes());
        auth_data.extend([0u8; 16]); // AAGUID
        auth_data.extend((self.credential_id.len() as u16).to_be_bytes());
        auth_data.extend(&self.credential_id);
        auth_data.extend(cose);
        let mut attestation = Vec::new();
        cbor_head(5, 3, &mut attestation);
        cbor_text("fmt", &mut attestation);
        cbor_text("none", &mut attestation);
        cbor_text("attStmt", &mut attestation);
        cbor_head(5, 0, &mut attestation);
        cbor_text("authData", &mut attestation);
        cbor_bytes(&auth_data, &mut attestation);
        let client_data = Self::client_data("webauthn.create", public_key["challenge"].as_str().unwrap());
        json!({
            "id": b64(&self.credential_id), "rawId": b64(&self.credential_id), "type": "public-key",
            "authenticatorAttachment": "platform", "clientExtensionResults": {},
            "response": {"clientDataJSON": b64(&client_data), "attestationObject": b64(&attestation), "transports": ["internal"]},
        })
    }

    /// `navigator.credentials.get()` and `.toJSON()` with this signature counter.
    fn get(&mut self, options: &Value, counter: u32) -> Value {
        let public_key = &options["publicKey"];
        assert_eq!(public_key["rpId"], RP_ID);
        let mut auth_data = Sha256::digest(RP_ID).to_vec();
        auth_data.push(0x05); // user present, user verified
        auth_data.extend(counter.to_be_bytes());
        let client_data = Self::client_data("webauthn.get", public_key["challenge"].as_str().unwrap());
        let signed = [auth_data.as_slice(), &Sha256::digest(&client_data)[..]].concat();
        let signature: Signature = self.key.sign(&signed);
        json!({
            "id": b64(&self.credential_id), "rawId": b64(&self.credential_id), "type": "public-key",
            "authenticatorAttachment": "platform", "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64(&client_data), "authenticatorData": b64(&auth_data),
                "signature": b64(signature.to_der().as_bytes()), "userHandle": self.user_handle,
            },
        })
    }
}

async fn start_login(app: &TestApp) -> Value {
    let response = app.api.post(app.url("/auth/passkeys/login/start")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn finish_login(app: &TestApp, login_id: &Value, credential: Value) -> reqwest::Response {
    app.post_json(&app.api, "/auth/passkeys/login/finish", json!({"login_id": login_id, "credential": credential}))
        .await
}

async fn register(app: &TestApp, access: &str, authenticator: &mut Authenticator) -> Value {
    let response = app.api.post(app.url("/auth/passkeys/register/start")).bearer_auth(access).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let options: Value = response.json().await.unwrap();
    let credential = authenticator.create(&options);
    let response = app
        .api
        .post(app.url("/auth/passkeys/register/finish"))
        .bearer_auth(access)
        .json(&json!({"name": "Laptop", "credential": credential}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

dual! {
    async fn passkey_registration_and_usernameless_sign_in(db: Db) {
        let Some(app) = spawn_app_with(db, &[("PUBLIC_URL", ORIGIN)]).await else { return };
        let alice = app.signup(&app.api, "alice").await["user"]["id"].as_str().unwrap().to_string();
        let (access, _) = app.session("alice").await;
        let mut authenticator = Authenticator::new();
        let passkey = register(&app, &access, &mut authenticator).await;
        assert_eq!(passkey["name"], "Laptop");
        assert!(passkey["last_used_at"].is_null());
        assert_eq!(app.get_bearer("/api/me", &access).await.status(), StatusCode::OK, "adding a passkey ends no session");
        // The registration is single-use.
        let replay = app.api.post(app.url("/auth/passkeys/register/finish")).bearer_auth(&access)
            .json(&json!({"name": "Again", "credential": authenticator.create(&json!({"publicKey": {"rp": {"id": RP_ID}, "authenticatorSelection": {"residentKey": "required", "userVerification": "required"}, "user": {"id": authenticator.user_handle}, "challenge": "AAAA"}}))}))
            .send().await.unwrap();
        assert_error(replay, StatusCode::UNAUTHORIZED, "invalid_passkey").await;

        // Usernameless sign-in: no password, no username.
        let options = start_login(&app).await;
        let credential = authenticator.get(&options, 5);
        let response = finish_login(&app, &options["login_id"], credential.clone()).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(set_cookie(&response, "refresh_token").is_some());
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["user"]["username"], "alice");
        assert_eq!(app.get_bearer("/api/me", body["access_token"].as_str().unwrap()).await.status(), StatusCode::OK);
        // The same login_id again: spent.
        assert_error(finish_login(&app, &options["login_id"], credential.clone()).await, StatusCode::UNAUTHORIZED, "invalid_passkey").await;
        // An answer to one ceremony cannot finish another.
        let other = start_login(&app).await;
        assert_error(finish_login(&app, &other["login_id"], credential).await, StatusCode::UNAUTHORIZED, "invalid_passkey").await;
        // A counter that goes backwards (a cloned authenticator): refused and audited.
        let options = start_login(&app).await;
        let cloned = authenticator.get(&options, 3);
        assert_error(finish_login(&app, &options["login_id"], cloned).await, StatusCode::UNAUTHORIZED, "invalid_passkey").await;
        let audit = app.query({
            let alice = alice.clone();
            move |conn| portcullis::db::audit::page(conn, Some(&alice), Some("login_failed"), 10, 0)
        }).await;
        assert!(audit.iter().any(|e| e.detail.contains("counter went backwards")), "audited");

        let status: Value = app.get_bearer("/auth/mfa", &access).await.json().await.unwrap();
        assert_eq!(status["passkeys"][0]["id"], passkey["id"]);
        assert!(status["passkeys"][0]["last_used_at"].is_string());

        // Removed: the passkey signs nobody in any more.
        let id = passkey["id"].as_str().unwrap();
        let response = app.api.delete(app.url(&format!("/auth/passkeys/{id}"))).bearer_auth(&access).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        let again = app.api.delete(app.url(&format!("/auth/passkeys/{id}"))).bearer_auth(&access).send().await.unwrap();
        assert_error(again, StatusCode::NOT_FOUND, "not_found").await;
        let options = start_login(&app).await;
        let credential = authenticator.get(&options, 9);
        assert_error(finish_login(&app, &options["login_id"], credential).await, StatusCode::UNAUTHORIZED, "invalid_passkey").await;
        let kinds = app.audit_kinds(&alice).await;
        assert!(kinds.iter().any(|k| k == "passkey_added") && kinds.iter().any(|k| k == "passkey_removed"));
    }

    async fn a_passkey_of_one_user_cannot_be_claimed_for_another(db: Db) {
        let Some(app) = spawn_app_with(db, &[("PUBLIC_URL", ORIGIN)]).await else { return };
        app.signup(&app.api, "alice").await;
        app.signup(&app.api, "bob").await;
        let (alice, _) = app.session("alice").await;
        let (bob, _) = app.session("bob").await;
        let mut authenticator = Authenticator::new();
        register(&app, &alice, &mut authenticator).await;
        let bob_options: Value = app.api.post(app.url("/auth/passkeys/register/start")).bearer_auth(&bob).send().await.unwrap().json().await.unwrap();
        // Bob's handle with Alice's credential: the owner check refuses it.
        authenticator.user_handle = bob_options["publicKey"]["user"]["id"].as_str().unwrap().to_string();
        let options = start_login(&app).await;
        let credential = authenticator.get(&options, 2);
        assert_error(finish_login(&app, &options["login_id"], credential).await, StatusCode::UNAUTHORIZED, "invalid_passkey").await;
        // Garbage is a 4xx, never a 5xx.
        let options = start_login(&app).await;
        let garbage = finish_login(&app, &options["login_id"], json!({"id": "x"})).await;
        assert_error(garbage, StatusCode::UNAUTHORIZED, "invalid_passkey").await;
        let missing = app.post_json(&app.api, "/auth/passkeys/login/finish", json!({"login_id": "nope"})).await;
        assert_error(missing, StatusCode::BAD_REQUEST, "invalid_request").await;
    }

    async fn passkeys_are_off_when_public_url_is_an_ip_address(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let response = app.api.post(app.url("/auth/passkeys/login/start")).send().await.unwrap();
        assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }
}
