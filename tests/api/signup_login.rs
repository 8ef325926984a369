use serde_json::json;

use crate::dual;
use crate::helpers::*;

dual! {
    async fn health_check_reports_ok(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let response = app.api.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.json::<serde_json::Value>().await.unwrap(), json!({"status": "ok"}));
    }

    async fn signup_returns_tokens_user_and_both_cookies(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let response = app
            .post_json(&app.api, "/auth/signup", json!({"username": "Alice", "email": "alice@example.com", "password": PASSWORD}))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let refresh = set_cookie_header(&response, "refresh_token").expect("refresh cookie");
        assert!(refresh.contains("HttpOnly") && refresh.contains("SameSite=Strict") && refresh.contains("Max-Age=604800"), "{refresh}");
        let access = set_cookie_header(&response, "access_token").expect("access cookie");
        assert!(access.contains("HttpOnly") && access.contains("Max-Age=900"), "{access}");
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 900);
        assert!(body.get("refresh_token").is_none(), "signup must not put the refresh token in the body");
        assert_eq!(body["user"]["username"], "Alice");
        assert_eq!(body["user"]["email"], "alice@example.com");
        assert_eq!(body["user"]["role"], "user");
        assert!(body["user"]["created_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(body["user"]["id"].as_str().unwrap().len(), 22);
        let kinds = app.audit_kinds(body["user"]["id"].as_str().unwrap()).await;
        assert_eq!(kinds, vec!["signup"]);
    }

    async fn signup_with_a_taken_username_or_email_is_a_conflict(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.signup(&app.api, "bob").await;
        let same_name = app
            .post_json(&app.api, "/auth/signup", json!({"username": "BOB", "email": "other@example.com", "password": PASSWORD}))
            .await;
        let body = assert_error(same_name, StatusCode::CONFLICT, "conflict").await;
        assert!(body["fields"]["username"].is_string());
        let same_email = app
            .post_json(&app.api, "/auth/signup", json!({"username": "robert", "email": "Bob@Example.com", "password": PASSWORD}))
            .await;
        let body = assert_error(same_email, StatusCode::CONFLICT, "conflict").await;
        assert!(body["fields"]["email"].is_string());
    }

    async fn signup_rejects_bad_fields_with_the_field_named(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let cases = [
            (json!({"email": "a@example.com", "password": PASSWORD}), "username"),
            (json!({"username": "alice", "password": PASSWORD}), "email"),
            (json!({"username": "alice", "email": "a@example.com"}), "password"),
            (json!({"username": "alice", "email": "not-an-email", "password": PASSWORD}), "email"),
            (json!({"username": "a".repeat(33), "email": "a@example.com", "password": PASSWORD}), "username"),
            (json!({"username": "alice", "email": format!("{}@example.com", "a".repeat(250)), "password": PASSWORD}), "email"),
            (json!({"username": "al ice", "email": "a@example.com", "password": PASSWORD}), "username"),
        ];
        for (body, field) in cases {
            let response = app.post_json(&app.api, "/auth/signup", body.clone()).await;
            let error = assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
            assert!(error["fields"][field].is_string(), "{field} named for {body}: {error}");
        }
    }

    async fn signup_refuses_short_and_over_72_byte_passwords(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        for password in ["short", &"x".repeat(73), &"é".repeat(37)] {
            let response = app
                .post_json(&app.api, "/auth/signup", json!({"username": "carol", "email": "c@example.com", "password": password}))
                .await;
            let error = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "weak_password").await;
            assert!(error["fields"]["password"].is_string());
        }
        // Exactly 72 bytes is accepted and is the whole password: 71 of them do not sign in.
        let exact: String = "Correct Horse Battery Staple! 7 ravens quietly juggle blue quartz; fjord".chars().take(72).collect();
        assert_eq!(exact.len(), 72);
        let response = app
            .post_json(&app.api, "/auth/signup", json!({"username": "carol", "email": "c@example.com", "password": exact}))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let truncated = app.post_json(&app.api, "/auth/login", json!({"username": "carol", "password": &exact[..71]})).await;
        assert_error(truncated, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }

    async fn login_accepts_username_or_email_in_any_case(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.signup(&app.api, "dave").await;
        for name in ["dave", "DAVE", "dave@example.com", "Dave@Example.COM"] {
            let response = app.post_json(&app.api, "/auth/login", json!({"username": name, "password": PASSWORD})).await;
            assert_eq!(response.status(), StatusCode::OK, "login as {name}");
            assert!(set_cookie(&response, "refresh_token").is_some());
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["user"]["username"], "dave");
            assert!(body.get("refresh_token").is_none());
        }
    }

    async fn wrong_password_and_unknown_user_get_the_same_answer(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let body = app.signup(&app.api, "erin").await;
        let wrong = app.post_json(&app.api, "/auth/login", json!({"username": "erin", "password": "not the password"})).await;
        let wrong = assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        let unknown = app.post_json(&app.api, "/auth/login", json!({"username": "nobody", "password": "not the password"})).await;
        let unknown = assert_error(unknown, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        assert_eq!(wrong, unknown);
        let kinds = app.audit_kinds(body["user"]["id"].as_str().unwrap()).await;
        assert_eq!(kinds, vec!["login_failed", "signup"]);
    }

    async fn an_unknown_user_costs_as_much_time_as_a_wrong_password(db: Db) {
        let Some(app) = spawn_app_with(db, &[("BCRYPT_COST", "10")]).await else { return };
        app.signup(&app.api, "frank").await;
        let mut wrong = Vec::new();
        let mut unknown = Vec::new();
        for _ in 0..5 {
            for (name, samples) in [("frank", &mut wrong), ("nobody", &mut unknown)] {
                let started = std::time::Instant::now();
                let response = app.post_json(&app.api, "/auth/login", json!({"username": name, "password": "wrong password"})).await;
                samples.push(started.elapsed());
                assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            }
        }
        wrong.sort();
        unknown.sort();
        let (wrong, unknown) = (wrong[2].as_secs_f64(), unknown[2].as_secs_f64());
        // bcrypt at cost 10 takes ~60 ms: an unknown user must not answer noticeably faster.
        assert!(unknown > wrong * 0.5, "unknown user answered in {unknown:.4}s, wrong password in {wrong:.4}s");
    }
}
