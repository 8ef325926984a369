//! The OAuth 2.0 token endpoint, the JWK Set with asymmetric keys, and the OpenAPI document.
use serde_json::{json, Value};

use crate::dual;
use crate::helpers::*;

async fn token(app: &TestApp, form: &[(&str, &str)]) -> reqwest::Response {
    app.api.post(app.url("/oauth/token")).form(form).send().await.unwrap()
}

async fn oauth_error(response: reqwest::Response, code: &str) {
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
}

dual! {
    async fn the_token_endpoint_grants_by_password_and_by_refresh_token(db: Db) {
        let Some(app) = spawn_app_with(db, &[("REFRESH_REUSE_GRACE", "1")]).await else { return };
        app.signup(&app.api, "alice").await;
        let response = token(&app, &[("grant_type", "password"), ("username", "alice"), ("password", PASSWORD)]).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert!(response.headers().get("set-cookie").is_none());
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 900);
        assert_eq!(app.get_bearer("/api/me", body["access_token"].as_str().unwrap()).await.status(), StatusCode::OK);
        let first = body["refresh_token"].as_str().unwrap().to_string();
        let rotated: Value = token(&app, &[("grant_type", "refresh_token"), ("refresh_token", &first)]).await.json().await.unwrap();
        assert_ne!(rotated["refresh_token"], first.as_str());
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        oauth_error(token(&app, &[("grant_type", "refresh_token"), ("refresh_token", &first)]).await, "invalid_grant").await;
    }

    async fn the_token_endpoint_answers_errors_as_rfc_6749_says(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.signup(&app.api, "alice").await;
        oauth_error(token(&app, &[("grant_type", "password"), ("username", "alice"), ("password", "wrong password")]).await, "invalid_grant").await;
        oauth_error(token(&app, &[("grant_type", "password"), ("username", "nobody"), ("password", "wrong password")]).await, "invalid_grant").await;
        oauth_error(token(&app, &[("grant_type", "client_credentials")]).await, "unsupported_grant_type").await;
        oauth_error(token(&app, &[("username", "alice")]).await, "invalid_request").await;
        oauth_error(token(&app, &[("grant_type", "password"), ("username", "alice")]).await, "invalid_request").await;
        oauth_error(token(&app, &[("grant_type", "refresh_token")]).await, "invalid_request").await;
        oauth_error(token(&app, &[("grant_type", "refresh_token"), ("refresh_token", "garbage")]).await, "invalid_grant").await;
        let json_body = app.post_json(&app.api, "/oauth/token", json!({"grant_type": "password"})).await;
        oauth_error(json_body, "invalid_request").await;
    }
}

#[actix_web::test]
async fn hs256_publishes_an_empty_key_set() {
    let app = spawn_app(Db::Sqlite).await.unwrap();
    let jwks: Value = app.api.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(jwks, json!({"keys": []}));
}

async fn asymmetric_round_trip(algorithm: &str, kty: &str) {
    let keys_dir = std::env::temp_dir().join(format!("portcullis-keys-{}", portcullis::ids::new_id()));
    let dir = keys_dir.display().to_string();
    let app = spawn_app_with(Db::Sqlite, &[("JWT_ALGORITHM", algorithm), ("JWT_KEYS_DIR", &dir)]).await.unwrap();
    let body = app.signup(&app.api, "alice").await;
    let access = body["access_token"].as_str().unwrap();
    let jwks: Value = app.api.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kty"], kty);
    assert_eq!(keys[0]["alg"], algorithm);
    let (header, _) = jwt_parts(access);
    assert_eq!(header["alg"], algorithm);
    assert_eq!(header["kid"], keys[0]["kid"]);
    // A third party verifies the token with nothing but the published key.
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(keys[0].clone()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let alg: jsonwebtoken::Algorithm = algorithm.parse().unwrap();
    let mut validation = jsonwebtoken::Validation::new(alg);
    validation.set_audience(&["portcullis"]);
    let verified = jsonwebtoken::decode::<Value>(access, &key, &validation).unwrap();
    assert_eq!(verified.claims["name"], "alice");
    assert_eq!(app.get_bearer("/api/me", access).await.status(), StatusCode::OK);
    // The key survives a restart: a second instance on the same directory signs with it.
    let second =
        spawn_on(app.database_url.clone(), DbGuard::Shared, &[("JWT_ALGORITHM", algorithm), ("JWT_KEYS_DIR", &dir)])
            .await;
    let again: Value = second.api.get(second.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(again["keys"][0]["kid"], keys[0]["kid"]);
    assert_eq!(second.get_bearer("/api/me", access).await.status(), StatusCode::OK);
    // An HS256 token signed with the (public) key material is refused: the algorithm is pinned.
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            typ: Some("at+jwt".into()),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
        },
        &jwt_parts(access).1,
        &jsonwebtoken::EncodingKey::from_secret(keys[0]["x"].as_str().unwrap().as_bytes()),
    )
    .unwrap();
    assert_error(app.get_bearer("/api/me", &forged).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let _ = std::fs::remove_dir_all(keys_dir);
}

#[actix_web::test]
async fn eddsa_tokens_verify_with_the_published_jwk() {
    asymmetric_round_trip("EdDSA", "OKP").await;
}

#[actix_web::test]
async fn es256_tokens_verify_with_the_published_jwk() {
    asymmetric_round_trip("ES256", "EC").await;
}

#[actix_web::test]
async fn the_openapi_document_is_generated_for_every_route_the_router_serves() {
    let app = spawn_app(Db::Sqlite).await.unwrap();
    let doc: Value = app.api.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    // The route table is itself walked against the real router (operations.rs), both ways.
    let routes: Vec<(String, String)> =
        portcullis::routes::methods::all_routes().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    for (method, path) in &routes {
        assert!(doc["paths"][path][method].is_object(), "{method} {path} is served but not documented");
    }
    for (method, path) in portcullis::routes::openapi::documented() {
        assert!(routes.contains(&(method.clone(), path.clone())), "{method} {path} is documented but not served");
    }
    // OpenAPI 3.1 requires every operationId to be unique across the document.
    let mut operation_ids = std::collections::HashMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if let Some(id) = operation["operationId"].as_str() {
                if let Some(first) = operation_ids.insert(id.to_string(), format!("{method} {path}")) {
                    panic!("operationId {id} is used by {first} and {method} {path}");
                }
            }
        }
    }
    assert!(!operation_ids.is_empty());
    // Both body types where both are accepted; a form carries the CSRF token and `next`, and
    // is answered with a 303; every body can be refused as too large or of the wrong type.
    let signup = &doc["paths"]["/auth/signup"]["post"];
    let content = &signup["requestBody"]["content"];
    assert_eq!(content["application/json"]["schema"]["$ref"], "#/components/schemas/SignupRequest");
    let form = &content["application/x-www-form-urlencoded"]["schema"]["allOf"];
    assert_eq!(form[1]["$ref"], "#/components/schemas/FormMeta", "{content}");
    for status in ["201", "303", "400", "403", "409", "413", "415", "422", "429", "503"] {
        assert!(signup["responses"][status].is_object(), "signup lacks {status}");
    }
    // Every refusal is the error body, or an HTML page to a browser.
    let conflict = &signup["responses"]["409"]["content"];
    assert_eq!(conflict["application/json"]["schema"]["$ref"], "#/components/schemas/Error");
    assert!(conflict["text/html"].is_object());
    // The validators' rules are stated, from the same constants.
    let signup_schema = &doc["components"]["schemas"]["SignupRequest"];
    assert_eq!(signup_schema["required"], json!(["username", "email", "password"]));
    let username = &signup_schema["properties"]["username"];
    assert_eq!((username["minLength"].as_u64(), username["maxLength"].as_u64()), (Some(3), Some(32)));
    assert_eq!(signup_schema["properties"]["email"]["pattern"], portcullis::domain::EMAIL_PATTERN);
    assert_eq!(signup_schema["properties"]["password"]["maxLength"], 72);
    assert_eq!(
        doc["components"]["schemas"]["RoleRequest"]["properties"]["role"]["$ref"],
        "#/components/schemas/RoleName"
    );
    assert_eq!(doc["components"]["schemas"]["RoleName"]["enum"], json!(["user", "admin"]));
    let audit_event = &doc["components"]["schemas"]["AuditEvent"]["properties"];
    assert_eq!(audit_event["user_id"]["type"], json!(["string", "null"]));
    // Request schemas require only what the server requires.
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["OAuthTokenRequest"]["required"], json!(["grant_type"]));
    assert_eq!(
        schemas["OAuthTokenRequest"]["properties"]["grant_type"]["enum"],
        json!(["password", "refresh_token", "http://auth0.com/oauth/grant-type/mfa-otp"])
    );
    assert!(schemas["FormMeta"]["required"].is_null(), "{}", schemas["FormMeta"]);
    assert!(schemas["RefreshRequest"]["required"].is_null(), "{}", schemas["RefreshRequest"]);
    for path in ["/auth/refresh", "/auth/logout"] {
        let body = &doc["paths"][path]["post"]["requestBody"];
        assert_ne!(body["required"], json!(true), "{path}: the body is optional");
        // Absent, not null: the schema is the body's own.
        assert_eq!(
            body["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/RefreshRequest",
            "{path}"
        );
    }
    // The token endpoint answers body problems with RFC 6749's 400: no form conventions there.
    let token_endpoint = &doc["paths"]["/oauth/token"]["post"];
    for status in ["303", "415"] {
        assert!(token_endpoint["responses"][status].is_null(), "/oauth/token never answers {status}");
    }
    assert_eq!(
        token_endpoint["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]["$ref"],
        "#/components/schemas/OAuthTokenRequest"
    );
    // Response types state what is always present, and which values are enumerated.
    assert_eq!(schemas["User"]["properties"]["role"]["$ref"], "#/components/schemas/RoleName");
    let passkey_required = schemas["Passkey"]["required"].as_array().unwrap();
    assert!(passkey_required.contains(&json!("last_used_at")), "{}", schemas["Passkey"]);
    let audit_required = schemas["AuditEvent"]["required"].as_array().unwrap();
    for field in ["user_id", "actor", "ip", "user_agent", "device"] {
        assert!(audit_required.contains(&json!(field)), "AuditEvent.{field} is always present (maybe null)");
    }
    // A 429 documents the headers it carries.
    let limited = &doc["paths"]["/auth/login"]["post"]["responses"]["429"]["headers"];
    for header in ["Retry-After", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Limit", "RateLimit-Policy"] {
        assert!(limited[header]["schema"].is_object(), "429 lacks {header}: {limited}");
    }
    // How each operation authenticates.
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["refreshCookie"]["in"], "cookie");
    assert!(
        schemes["refreshCookie"]["description"].as_str().unwrap().contains("Path=/;"),
        "the cookie is set with Path=/"
    );
    assert_eq!(doc["paths"]["/api/me"]["get"]["security"][0], json!({"bearer": []}));
    assert!(doc["paths"]["/auth/login"]["post"]["security"].is_null());
}

fn temp_keys_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("portcullis-keys-{}", portcullis::ids::new_id()))
}

dual! {
    async fn generated_eddsa_keys_are_files_openssl_reads(db: Db) {
        let dir = temp_keys_dir();
        let Some(app) = spawn_app_with(db, &[("JWT_ALGORITHM", "EdDSA"), ("JWT_KEYS_DIR", &dir.display().to_string())]).await else { return };
        app.signup(&app.api, "alice").await;
        let path = dir.join("eddsa-private.pem");
        let out = std::process::Command::new("openssl").arg("pkey").arg("-in").arg(&path).arg("-pubout").output().expect("openssl runs");
        assert!(out.status.success(), "openssl pkey refused the key: {}", String::from_utf8_lossy(&out.stderr));
        // The public key OpenSSL derives is the one the JWKS publishes.
        let spki_pem = String::from_utf8(out.stdout).unwrap();
        use ed25519_dalek::pkcs8::DecodePublicKey;
        let public = ed25519_dalek::VerifyingKey::from_public_key_pem(&spki_pem).unwrap();
        let jwks: Value = app.api.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
        use base64::Engine;
        assert_eq!(jwks["keys"][0]["x"], base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(public.to_bytes()));
        let _ = std::fs::remove_dir_all(dir);
    }

    async fn eddsa_keys_written_as_pkcs8_v2_are_still_read(db: Db) {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let dir = temp_keys_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
        let v2 = key.to_pkcs8_pem(Default::default()).unwrap();
        std::fs::write(dir.join("eddsa-private.pem"), v2.as_bytes()).unwrap();
        let Some(app) = spawn_app_with(db, &[("JWT_ALGORITHM", "EdDSA"), ("JWT_KEYS_DIR", &dir.display().to_string())]).await else { return };
        let jwks: Value = app.api.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
        use base64::Engine;
        assert_eq!(jwks["keys"][0]["x"], base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes()));
        let access = app.signup(&app.api, "alice").await["access_token"].as_str().unwrap().to_string();
        assert_eq!(app.get_bearer("/api/me", &access).await.status(), StatusCode::OK);
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[actix_web::test]
async fn the_token_endpoint_answers_a_json_or_plain_body_as_an_invalid_request() {
    let app = spawn_app(Db::Sqlite).await.unwrap();
    let response = app
        .api
        .post(app.url("/oauth/token"))
        .header("content-type", "text/plain")
        .body("grant_type=password")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.json::<serde_json::Value>().await.unwrap()["error"], "invalid_request");
}
