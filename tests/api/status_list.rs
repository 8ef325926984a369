//! The Token Status List, read the way another service would: fetch the list named in the
//! token, check its signature with the server's key, inflate it, and look at the token's bit.
use std::io::Read;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

use crate::dual;
use crate::helpers::*;

/// `(uri, idx)` of an access token's status entry.
fn status_of(token: &str) -> (String, usize) {
    let claims = jwt_parts(token).1;
    let entry = &claims["status"]["status_list"];
    (entry["uri"].as_str().expect("a status uri").to_string(), entry["idx"].as_u64().expect("an idx") as usize)
}

/// Fetches a list the way a resource server does and returns its header, claims and bytes.
async fn fetch_list(app: &TestApp, uri: &str) -> (reqwest::header::HeaderMap, Value, Vec<u8>) {
    let path = uri.strip_prefix(&app.auth.settings().public_url).expect("the uri is ours");
    let response = app.api.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    let jwt = response.text().await.unwrap();
    let (header, _) = jwt_parts(&jwt);
    assert_eq!(header["typ"], "statuslist+jwt");
    let key = jsonwebtoken::DecodingKey::from_secret(b"test-access-secret-0123456789abcdef0123");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "sub"]);
    let claims =
        jsonwebtoken::decode::<Value>(&jwt, &key, &validation).expect("signed with the access-token key").claims;
    assert_eq!(claims["sub"], uri);
    assert_eq!(claims["status_list"]["bits"], 1);
    let compressed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims["status_list"]["lst"].as_str().unwrap())
        .unwrap();
    let mut bytes = Vec::new();
    flate2::read::ZlibDecoder::new(&compressed[..]).read_to_end(&mut bytes).expect("zlib");
    (headers, claims, bytes)
}

/// The token's status, as a resource server decodes it: `true` when revoked.
async fn revoked(app: &TestApp, token: &str) -> bool {
    let (uri, idx) = status_of(token);
    let (_, _, bytes) = fetch_list(app, &uri).await;
    bytes[idx / 8] >> (idx % 8) & 1 == 1
}

async fn becomes_revoked(app: &TestApp, token: &str, why: &str) {
    let started = Instant::now();
    while !revoked(app, token).await {
        assert!(started.elapsed() < Duration::from_secs(1), "{why}: not marked within a second");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn user_id(signup: &Value) -> String {
    signup["user"]["id"].as_str().unwrap().to_string()
}

dual! {
    async fn every_revocation_trigger_flips_the_tokens_bit(db: Db) {
        let Some(app) = spawn_app_with(db, &[("REFRESH_REUSE_GRACE", "0")]).await else { return };
        let alice = user_id(&app.signup(&app.api, "alice").await);
        let (admin, _) = app.admin_session("root").await;

        let (token, refresh) = app.session("alice").await;
        assert!(!revoked(&app, &token).await, "a fresh token is valid");
        app.post_json(&app.api, "/auth/logout", json!({"refresh_token": refresh})).await;
        becomes_revoked(&app, &token, "logout").await;

        let (token, _) = app.session("alice").await;
        let sid = jwt_parts(&token).1["sid"].as_str().unwrap().to_string();
        app.api.delete(app.url(&format!("/auth/sessions/{sid}"))).bearer_auth(&token).send().await.unwrap();
        becomes_revoked(&app, &token, "session revocation").await;

        let (token, refresh) = app.session("alice").await;
        assert_eq!(app.refresh_with_body(&refresh).await.status(), StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(app.refresh_with_body(&refresh).await.status(), StatusCode::UNAUTHORIZED);
        becomes_revoked(&app, &token, "refresh-token reuse").await;

        let (token, _) = app.session("alice").await;
        let (other, _) = app.session("alice").await;
        app.api.post(app.url("/auth/logout-all")).bearer_auth(&token).send().await.unwrap();
        becomes_revoked(&app, &token, "logout-all").await;
        becomes_revoked(&app, &other, "logout-all, another session").await;

        let (token, _) = app.session("alice").await;
        app.api.post(app.url(&format!("/api/admin/users/{alice}/logout-all"))).bearer_auth(&admin).send().await.unwrap();
        becomes_revoked(&app, &token, "forced logout").await;

        let (keeper, _) = app.session("alice").await;
        let (other, _) = app.session("alice").await;
        let new_password = "a fresh passphrase for alice 9";
        let response = app.api.post(app.url("/auth/password")).bearer_auth(&keeper)
            .json(&json!({"current_password": PASSWORD, "new_password": new_password})).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        becomes_revoked(&app, &other, "password change, other session").await;
        assert!(!revoked(&app, &keeper).await, "the session that changed the password stays valid");

        // Role change: tokens with the old role die; a token issued afterwards is valid.
        let (token, refresh) = {
            let response = app.post_json(&app.api, "/auth/login", json!({"username": "alice", "password": new_password})).await;
            let refresh = set_cookie(&response, "refresh_token").unwrap();
            (response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string(), refresh)
        };
        let response = app.api.patch(app.url(&format!("/api/admin/users/{alice}"))).bearer_auth(&admin).json(&json!({"role": "admin"})).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        becomes_revoked(&app, &token, "role change").await;
        let renewed: Value = app.refresh_with_body(&refresh).await.json().await.unwrap();
        let renewed = renewed["access_token"].as_str().unwrap();
        assert_ne!(status_of(renewed), status_of(&token), "the session moved to a new entry");
        assert!(!revoked(&app, renewed).await, "a token issued after the change is valid");

        // Account deletion (root stays the other admin).
        let response = app.api.delete(app.url("/auth/account")).bearer_auth(renewed).json(&json!({"password": new_password})).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        becomes_revoked(&app, renewed, "account deletion").await;
    }

    async fn lists_are_cacheable_bounded_and_published(db: Db) {
        let Some(app) = spawn_app_with(db, &[("STATUS_LIST_SIZE", "8"), ("STATUS_LIST_TTL", "7")]).await else { return };
        app.signup(&app.api, "alice").await;
        let tokens: Vec<String> = futures::future::join_all((0..12).map(|_| async { app.session("alice").await.0 })).await;
        let mut seen = std::collections::HashSet::new();
        for token in &tokens {
            let (uri, idx) = status_of(token);
            assert!(idx < 8, "an index beyond STATUS_LIST_SIZE");
            assert!(seen.insert((uri, idx)), "two sessions share an entry");
        }
        let lists: std::collections::HashSet<String> = seen.iter().map(|(uri, _)| uri.clone()).collect();
        assert!(lists.len() >= 2, "13 sessions cannot fit in one list of 8");

        let (uri, _) = status_of(&tokens[0]);
        let (headers, claims, bytes) = fetch_list(&app, &uri).await;
        assert_eq!(headers["content-type"], "application/statuslist+jwt");
        assert_eq!(headers["cache-control"], "max-age=7");
        assert_eq!(claims["ttl"], 7);
        assert_eq!(bytes.len(), 1);
        let etag = headers["etag"].to_str().unwrap().to_string();
        let path = uri.strip_prefix(&app.auth.settings().public_url).unwrap();
        let again = app.api.get(app.url(path)).header("if-none-match", &etag).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        // Caches that weaken the tag (compression proxies) still get the 304.
        let weakened = app.api.get(app.url(path)).header("if-none-match", format!("\"x\", W/{etag}")).send().await.unwrap();
        assert_eq!(weakened.status(), StatusCode::NOT_MODIFIED);
        assert_error(app.api.get(app.url("/statuslists/nosuchlist")).send().await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;

        let metadata: Value = app.api.get(app.url("/.well-known/oauth-authorization-server")).send().await.unwrap().json().await.unwrap();
        assert_eq!(metadata["token_endpoint"], format!("{}/oauth/token", app.auth.settings().public_url));
        // The issuer is the tokens' `iss`, so discovery-configured validators accept them.
        assert_eq!(metadata["issuer"], jwt_parts(&tokens[0]).1["iss"]);
        assert_eq!(metadata["issuer"], app.auth.settings().jwt_issuer.as_str());
        assert_eq!(
            metadata["grant_types_supported"],
            json!(["password", "refresh_token", "http://auth0.com/oauth/grant-type/mfa-otp"])
        );
        assert_eq!(metadata["token_endpoint_auth_methods_supported"], json!(["none"]));
        assert_eq!(metadata["response_types_supported"], json!([]));
        let published: Vec<&str> = metadata["status_list_uris"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        for uri in &lists {
            assert!(published.contains(&uri.as_str()), "{uri} is not in the metadata");
        }
    }

    async fn another_instance_serves_the_revocation_within_a_second(db: Db) {
        let Some(a) = spawn_app(db).await else { return };
        let b = spawn_on(a.database_url.clone(), DbGuard::Shared, &[]).await;
        a.signup(&a.api, "alice").await;
        let (token, refresh) = a.session("alice").await;
        assert!(!revoked(&b, &token).await);
        a.post_json(&a.api, "/auth/logout", json!({"refresh_token": refresh})).await;
        becomes_revoked(&b, &token, "logout seen from another instance").await;
    }
}
