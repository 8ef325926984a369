//! Key rotation: `portcullis rotate-keys` for EdDSA/ES256 (keys in the database, every instance
//! follows), `JWT_SECRET_PREVIOUS` for HS256.
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::dual;
use crate::helpers::*;

async fn jwks_kids(app: &TestApp) -> Vec<String> {
    let jwks: Value = app.api.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect()
}

fn kid_of(token: &str) -> String {
    jwt_parts(token).0["kid"].as_str().unwrap().to_string()
}

/// Runs `portcullis rotate-keys` as an operator would, against the app's database.
fn rotate_keys(app: &TestApp, dir: &str) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("rotate-keys")
        .env_clear()
        .env("DATABASE_URL", &app.database_url)
        .env("JWT_ALGORITHM", "EdDSA")
        .env("JWT_KEYS_DIR", dir)
        .env("JWT_SECRET", "test-access-secret-0123456789abcdef0123")
        .env("JWT_REFRESH_SECRET", "test-refresh-secret-0123456789abcdef012")
        .env("RUST_LOG", "error")
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(output.status.success(), "rotate-keys failed: {stdout}{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

dual! {
    async fn rotate_keys_reaches_every_instance_and_retires_the_old_key(db: Db) {
        let dir = std::env::temp_dir().join(format!("portcullis-keys-{}", portcullis::ids::new_id())).display().to_string();
        let overrides = [("JWT_ALGORITHM", "EdDSA"), ("JWT_KEYS_DIR", dir.as_str()), ("JWT_EXPIRATION", "8")];
        let Some(a) = spawn_app_with(db, &overrides).await else { return };
        let b = spawn_on(a.database_url.clone(), DbGuard::Shared, &overrides).await;
        a.signup(&a.api, "alice").await;
        let (before, _) = a.session("alice").await;
        let old = kid_of(&before);
        assert_eq!(jwks_kids(&a).await, vec![old.clone()]);
        assert_eq!(jwks_kids(&b).await, vec![old.clone()], "both instances sign with the database's key");
        // An instance whose key directory is empty (another machine) needs no key file either.
        let elsewhere = std::env::temp_dir().join(format!("portcullis-keys-{}", portcullis::ids::new_id()));
        let c_dir = elsewhere.display().to_string();
        let c = spawn_on(a.database_url.clone(), DbGuard::Shared, &[("JWT_ALGORITHM", "EdDSA"), ("JWT_KEYS_DIR", &c_dir), ("JWT_EXPIRATION", "8")]).await;
        assert_eq!(kid_of(&c.session("alice").await.0), old);
        assert!(!elsewhere.exists(), "no key file was written on the other machine");

        let printed = rotate_keys(&a, &dir);
        // Every instance follows within a second: new tokens carry the new kid, the JWKS lists both.
        let started = Instant::now();
        let fresh = loop {
            // Judged by when the sign-in was asked for, not answered: a loaded machine may be slow to sign in.
            let asked_after = started.elapsed();
            let (token, _) = b.session("alice").await;
            if kid_of(&token) != old {
                break token;
            }
            assert!(asked_after < Duration::from_secs(1), "the other instance still signs with the old key");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let new = kid_of(&fresh);
        assert!(printed.contains(&new), "{printed}");
        let mut expected = vec![old.clone(), new.clone()];
        expected.sort();
        for app in [&a, &b] {
            // Each instance follows on its own feed (SQLite polls): B already signed with the new
            // key; A must list it within the same bound, judged from the rotation (a loaded
            // machine gets the slack the sign-in loop above already allows).
            let kids = loop {
                let asked_after = started.elapsed();
                let mut kids = jwks_kids(app).await;
                kids.sort();
                if kids == expected || asked_after >= Duration::from_secs(2) {
                    break kids;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            assert_eq!(kids, expected);
            assert_eq!(app.get_bearer("/api/me", &before).await.status(), StatusCode::OK, "a token signed before verifies after");
            assert_eq!(app.get_bearer("/api/me", &fresh).await.status(), StatusCode::OK);
        }
        // A token naming a key nobody has is refused.
        let (header, claims) = jwt_parts(&fresh);
        let mut forged_header = header.clone();
        forged_header["kid"] = "no-such-key".into();
        let b64 = |v: &Value| { use base64::Engine; base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string()) };
        let signature = fresh.rsplit('.').next().unwrap();
        let unknown = format!("{}.{}.{signature}", b64(&forged_header), b64(&claims));
        assert_error(a.get_bearer("/api/me", &unknown).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
        // Once every token the old key signed has expired, it leaves the JWKS.
        tokio::time::sleep(Duration::from_millis(9200)).await;
        assert_eq!(jwks_kids(&a).await, vec![new.clone()]);
        assert_eq!(jwks_kids(&b).await, vec![new.clone()]);
        let audited = a.query(|conn| portcullis::db::audit::page(conn, None, Some("keys_rotated"), 10, 0)).await;
        assert_eq!(audited.len(), 1);
        assert!(audited[0].detail.contains(&new));
    }

    async fn hs256_rotates_through_jwt_secret_previous(db: Db) {
        let Some(old) = spawn_app(db).await else { return };
        old.signup(&old.api, "alice").await;
        let (token, _) = old.session("alice").await;
        let new_secret = "a-brand-new-access-secret-0123456789abcd";
        let rotated = spawn_on(
            old.database_url.clone(),
            DbGuard::Shared,
            &[("JWT_SECRET", new_secret), ("JWT_SECRET_PREVIOUS", "test-access-secret-0123456789abcdef0123")],
        )
        .await;
        assert_eq!(rotated.get_bearer("/api/me", &token).await.status(), StatusCode::OK, "the previous secret verifies");
        let (fresh, _) = rotated.session("alice").await;
        assert_eq!(old.get_bearer("/api/me", &fresh).await.status(), StatusCode::UNAUTHORIZED, "signed with the new secret");
        let dropped = spawn_on(old.database_url.clone(), DbGuard::Shared, &[("JWT_SECRET", new_secret)]).await;
        assert_eq!(dropped.get_bearer("/api/me", &token).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(dropped.get_bearer("/api/me", &fresh).await.status(), StatusCode::OK);
    }
}
