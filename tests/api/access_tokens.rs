use portcullis::auth::tokens::{AccessClaims, JwtKeys};
use serde_json::json;

use crate::dual;
use crate::helpers::*;

fn claims_for(app: &TestApp, sub: &str, sid: &str, exp_offset: i64) -> AccessClaims {
    let now = portcullis::clock::now();
    AccessClaims {
        iss: app.auth.settings().jwt_issuer.clone(),
        aud: app.auth.settings().jwt_audience.clone(),
        sub: sub.into(),
        iat: now,
        exp: now + exp_offset,
        jti: "test".into(),
        sid: sid.into(),
        ver: 0,
        role: "user".into(),
        name: "x".into(),
        email: "x@example.com".into(),
        created_at: 0,
        status: None,
        nbf: None,
    }
}

dual! {
    async fn access_tokens_carry_every_claim_and_the_at_jwt_type(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let body = app.signup(&app.api, "alice").await;
        let (header, claims) = jwt_parts(body["access_token"].as_str().unwrap());
        assert_eq!(header["typ"], "at+jwt");
        assert_eq!(header["alg"], "HS256");
        for claim in ["iss", "aud", "sub", "iat", "exp", "jti", "sid", "ver", "role", "name"] {
            assert!(claims.get(claim).is_some(), "claim {claim} missing from {claims}");
        }
        assert_eq!(claims["sub"], body["user"]["id"]);
        assert_eq!(claims["name"], "alice");
        assert_eq!(claims["role"], "user");
        assert_eq!(claims["iss"], "portcullis");
        assert_eq!(claims["aud"], "portcullis");
        assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 900);
    }

    async fn me_answers_the_bearer_of_a_valid_token(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let body = app.signup(&app.api, "alice").await;
        let response = app.get_bearer("/api/me", body["access_token"].as_str().unwrap()).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.json::<serde_json::Value>().await.unwrap(), body["user"]);
    }

    async fn me_reads_the_access_cookie_when_there_is_no_header(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.signup(&app.browser, "alice").await;
        let response = app.browser.get(app.url("/api/me")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    async fn no_token_is_missing_token_with_a_bearer_challenge(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let response = app.api.get(app.url("/api/me")).send().await.unwrap();
        assert_eq!(response.headers()["www-authenticate"], r#"Bearer realm="portcullis""#);
        assert_error(response, StatusCode::UNAUTHORIZED, "missing_token").await;
    }

    async fn a_bad_token_is_invalid_token_with_the_reason_in_the_challenge(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let response = app.get_bearer("/api/me", "not.a.jwt").await;
        let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_string();
        assert!(challenge.starts_with(r#"Bearer realm="portcullis", error="invalid_token", error_description=""#), "{challenge}");
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
    }

    async fn a_bearer_header_that_is_not_text_is_an_invalid_token_not_a_missing_one(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.signup(&app.browser, "alice").await;
        assert_eq!(app.browser.get(app.url("/api/me")).send().await.unwrap().status(), StatusCode::OK, "the cookie alone");
        let header = reqwest::header::HeaderValue::from_bytes(b"Bearer eyJhbGciOi\xff").unwrap();
        let response = app.browser.get(app.url("/api/me")).header("authorization", header).send().await.unwrap();
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
    }

    async fn an_expired_token_is_token_expired(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let body = app.signup(&app.api, "alice").await;
        let (_, claims) = jwt_parts(body["access_token"].as_str().unwrap());
        let expired = claims_for(&app, claims["sub"].as_str().unwrap(), claims["sid"].as_str().unwrap(), -5);
        let token = app.auth.keys().sign(&expired).unwrap();
        let response = app.get_bearer("/api/me", &token).await;
        assert!(response.headers()["www-authenticate"].to_str().unwrap().contains(r#"error="invalid_token""#));
        assert_error(response, StatusCode::UNAUTHORIZED, "token_expired").await;
    }

    async fn the_leeway_admits_a_token_just_past_its_expiry(db: Db) {
        let Some(app) = spawn_app_with(db, &[("JWT_LEEWAY", "30")]).await else { return };
        let body = app.signup(&app.api, "alice").await;
        let (_, claims) = jwt_parts(body["access_token"].as_str().unwrap());
        let just_expired = claims_for(&app, claims["sub"].as_str().unwrap(), claims["sid"].as_str().unwrap(), -5);
        let response = app.get_bearer("/api/me", &app.auth.keys().sign(&just_expired).unwrap()).await;
        assert_eq!(response.status(), StatusCode::OK);
        let long_expired = claims_for(&app, claims["sub"].as_str().unwrap(), claims["sid"].as_str().unwrap(), -60);
        let response = app.get_bearer("/api/me", &app.auth.keys().sign(&long_expired).unwrap()).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "token_expired").await;
    }

    async fn tokens_from_another_key_issuer_audience_or_type_are_invalid(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let body = app.signup(&app.api, "alice").await;
        let (_, claims) = jwt_parts(body["access_token"].as_str().unwrap());
        let (sub, sid) = (claims["sub"].as_str().unwrap(), claims["sid"].as_str().unwrap());
        let other_key = JwtKeys::from_settings(&test_settings(&app.database_url, &[("JWT_SECRET", "another-secret-of-sufficient-length-0123")])).unwrap();
        let mut forged = vec![other_key.sign(&claims_for(&app, sub, sid, 600)).unwrap()];
        let mut wrong_iss = claims_for(&app, sub, sid, 600);
        wrong_iss.iss = "someone-else".into();
        forged.push(app.auth.keys().sign(&wrong_iss).unwrap());
        let mut wrong_aud = claims_for(&app, sub, sid, 600);
        wrong_aud.aud = "another-api".into();
        forged.push(app.auth.keys().sign(&wrong_aud).unwrap());
        // Same key and claims, but an ordinary JWT type and then alg "none".
        let plain = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims_for(&app, sub, sid, 600),
            &jsonwebtoken::EncodingKey::from_secret(b"test-access-secret-0123456789abcdef0123"),
        )
        .unwrap();
        forged.push(plain.clone());
        let unsigned = {
            use base64::Engine;
            let b64 = |v: serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
            format!("{}.{}.", b64(json!({"alg": "none", "typ": "at+jwt"})), plain.split('.').nth(1).unwrap())
        };
        forged.push(unsigned);
        for token in forged {
            let response = app.get_bearer("/api/me", &token).await;
            assert_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
        }
    }

    async fn a_token_not_yet_valid_or_with_a_critical_extension_is_invalid(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let body = app.signup(&app.api, "alice").await;
        let (_, claims) = jwt_parts(body["access_token"].as_str().unwrap());
        let mut claims = serde_json::to_value(claims_for(&app, claims["sub"].as_str().unwrap(), claims["sid"].as_str().unwrap(), 600)).unwrap();
        let sign = |header: &jsonwebtoken::Header, claims: &serde_json::Value| {
            jsonwebtoken::encode(header, claims, &jsonwebtoken::EncodingKey::from_secret(b"test-access-secret-0123456789abcdef0123")).unwrap()
        };
        let header = jsonwebtoken::Header { typ: Some("at+jwt".into()), ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256) };
        // The forgery is otherwise sound: signed with the real key, it is accepted.
        assert_eq!(app.get_bearer("/api/me", &sign(&header, &claims)).await.status(), StatusCode::OK);
        let critical = jsonwebtoken::Header { crit: Some(vec!["exp".into()]), ..header.clone() };
        assert_error(app.get_bearer("/api/me", &sign(&critical, &claims)).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        claims["nbf"] = json!(now + 300);
        assert_error(app.get_bearer("/api/me", &sign(&header, &claims)).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
        claims["nbf"] = json!(now - 10);
        assert_eq!(app.get_bearer("/api/me", &sign(&header, &claims)).await.status(), StatusCode::OK, "a past nbf is fine");
    }

    async fn a_refresh_token_is_never_an_access_token(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.signup(&app.api, "alice").await;
        let (access, refresh) = app.session("alice").await;
        let response = app.get_bearer("/api/me", &refresh).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
        let response = app.refresh_with_body(&access).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    }
}
