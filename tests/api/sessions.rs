use std::time::Duration;

use serde_json::{json, Value};

use crate::dual;
use crate::helpers::*;

dual! {
    async fn logout_with_a_refresh_token_ends_that_session_and_its_access_token(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let signup = app.signup(&app.api, "alice").await;
        let (access, refresh) = app.session("alice").await;
        let response = app.post_json(&app.api, "/auth/logout", json!({"refresh_token": refresh})).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        let cleared = set_cookie_header(&response, "refresh_token").expect("cookie cleared");
        assert!(cleared.contains("Max-Age=0"), "{cleared}");
        assert_error(app.refresh_with_body(&refresh).await, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
        assert_error(app.get_bearer("/api/me", &access).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
        // Only that session: the signup session still works.
        assert_eq!(app.get_bearer("/api/me", signup["access_token"].as_str().unwrap()).await.status(), StatusCode::OK);
        assert_eq!(app.audit_kinds(signup["user"]["id"].as_str().unwrap()).await[0], "logout");
    }

    async fn logout_with_only_an_access_token_ends_its_session(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.signup(&app.api, "alice").await;
        let (access, refresh) = app.session("alice").await;
        let response = app.api.post(app.url("/auth/logout")).bearer_auth(&access).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_error(app.refresh_with_body(&refresh).await, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
        assert_error(app.get_bearer("/api/me", &access).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    }

    async fn logout_without_any_token_is_refresh_token_required(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let response = app.api.post(app.url("/auth/logout")).send().await.unwrap();
        assert_error(response, StatusCode::UNAUTHORIZED, "refresh_token_required").await;
        let response = app.post_json(&app.api, "/auth/logout", json!({"refresh_token": "A".repeat(43)})).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    }

    async fn logout_all_ends_every_session_and_every_access_token(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let signup = app.signup(&app.api, "alice").await;
        let first = app.session("alice").await;
        let second = app.session("alice").await;
        let response = app.api.post(app.url("/auth/logout-all")).bearer_auth(&first.0).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        for (access, refresh) in [&first, &second] {
            assert_error(app.get_bearer("/api/me", access).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
            assert_error(app.refresh_with_body(refresh).await, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
        }
        assert_error(app.get_bearer("/api/me", signup["access_token"].as_str().unwrap()).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
        assert_eq!(app.audit_kinds(signup["user"]["id"].as_str().unwrap()).await[0], "logout_all");
        // Signing in again works and starts a fresh session.
        let (access, _) = app.session("alice").await;
        assert_eq!(app.get_bearer("/api/me", &access).await.status(), StatusCode::OK);
    }

    async fn logout_all_needs_an_access_token(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let response = app.api.post(app.url("/auth/logout-all")).send().await.unwrap();
        assert_error(response, StatusCode::UNAUTHORIZED, "missing_token").await;
    }

    async fn sessions_lists_the_live_sessions_and_marks_the_current_one(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.signup(&app.api, "alice").await;
        let (access, refresh) = app.session("alice").await;
        app.post_json(&app.api, "/auth/logout", json!({"refresh_token": refresh})).await;
        let (access2, _) = app.session("alice").await;
        let _ = access;
        let response = app.get_bearer("/auth/sessions", &access2).await;
        assert_eq!(response.status(), StatusCode::OK);
        let sessions: Vec<Value> = response.json().await.unwrap();
        assert_eq!(sessions.len(), 2, "signup and the second login; the logged-out one is gone");
        assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
        for key in ["id", "created_at", "last_used_at", "expires_at", "user_agent", "ip"] {
            assert!(sessions[0].get(key).is_some(), "{key} in {}", sessions[0]);
        }
        assert_eq!(sessions[0]["ip"], "127.0.0.1");
    }

    async fn a_user_can_end_one_of_their_sessions_but_not_anothers(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.signup(&app.api, "alice").await;
        app.signup(&app.api, "bob").await;
        let (alice_access, _) = app.session("alice").await;
        let (other_access, other_refresh) = app.session("alice").await;
        let (bob_access, _) = app.session("bob").await;
        let (_, other_claims) = jwt_parts(&other_access);
        let other_sid = other_claims["sid"].as_str().unwrap();
        // Bob cannot see or end Alice's session.
        let response = app.api.delete(app.url(&format!("/auth/sessions/{other_sid}"))).bearer_auth(&bob_access).send().await.unwrap();
        assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
        let response = app.api.delete(app.url(&format!("/auth/sessions/{other_sid}"))).bearer_auth(&alice_access).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_error(app.refresh_with_body(&other_refresh).await, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
        assert_error(app.get_bearer("/api/me", &other_access).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
        // Ending it twice, or a session that never existed, is 404.
        let response = app.api.delete(app.url(&format!("/auth/sessions/{other_sid}"))).bearer_auth(&alice_access).send().await.unwrap();
        assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
        let response = app.api.delete(app.url("/auth/sessions/nope")).bearer_auth(&alice_access).send().await.unwrap();
        assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }

    async fn a_logout_on_one_instance_stops_the_access_token_on_another(db: Db) {
        let Some(first) = spawn_app(db).await else { return };
        let second = spawn_on(first.database_url.clone(), DbGuard::Shared, &[]).await;
        first.signup(&first.api, "alice").await;
        let (access, refresh) = first.session("alice").await;
        // The second instance has seen (and cached) the token as valid.
        assert_eq!(second.get_bearer("/api/me", &access).await.status(), StatusCode::OK);
        let response = first.post_json(&first.api, "/auth/logout", json!({"refresh_token": refresh})).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        tokio::time::sleep(portcullis::auth::revocation::MAX_STALENESS + Duration::from_millis(100)).await;
        assert_error(second.get_bearer("/api/me", &access).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    }
}

dual! {
    async fn a_bearer_logout_needs_no_csrf_and_ends_the_bearers_session(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        // The browser client holds cookies from one sign-in and a bearer token from another.
        app.signup(&app.browser, "alice").await;
        let (bearer, bearer_refresh) = app.session("alice").await;
        let response = app.browser.post(app.url("/auth/logout")).bearer_auth(&bearer).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_error(app.refresh_with_body(&bearer_refresh).await, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
        // The cookie session is untouched.
        assert_eq!(app.browser.get(app.url("/api/me")).send().await.unwrap().status(), StatusCode::OK);
        // A bad body token does not fall back to the cookies.
        let response = app.post_json(&app.browser, "/auth/logout", json!({"refresh_token": "A".repeat(43)})).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    }

    async fn sessions_name_their_device_in_words_beside_the_raw_user_agent(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.signup(&app.api, "alice").await;
        let mac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
        let response = app.api.post(app.url("/auth/login")).header("user-agent", mac)
            .json(&json!({"username": "alice", "password": PASSWORD})).send().await.unwrap();
        let access = response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
        let sessions: Value = app.get_bearer("/auth/sessions", &access).await.json().await.unwrap();
        let mine = sessions.as_array().unwrap().iter().find(|s| s["current"] == true).unwrap();
        assert_eq!(mine["device"], "Chrome 131 on macOS");
        assert_eq!(mine["user_agent"], mac);
        let stored: String = app.query(|conn| {
            use diesel::prelude::*;
            use portcullis::db::schema::sessions::dsl::*;
            sessions.filter(user_agent.like("%Macintosh%")).select(device).first(conn)
        }).await;
        assert_eq!(stored, "Chrome 131 on macOS", "computed once, when the session opened");
    }

    async fn a_form_error_points_at_its_field_and_takes_the_focus(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let csrf = app.page_csrf("/signup").await;
        let response = app.post_form("/auth/signup", &[("csrf_token", &csrf), ("username", "alice"), ("email", "not-an-email"), ("password", PASSWORD)]).await;
        let html = response.text().await.unwrap();
        let email = &html[html.find(r#"<input id="email""#).unwrap()..];
        let email = &email[..email.find('>').unwrap()];
        assert!(email.contains(r#"aria-invalid="true" aria-describedby="form-error" autofocus"#), "{email}");
        let username = &html[html.find(r#"<input id="username""#).unwrap()..];
        let username = &username[..username.find('>').unwrap()];
        assert!(!username.contains("autofocus") && !username.contains("aria-invalid"), "{username}");
        assert!(html.contains(r#"id="form-error""#));
    }
}
