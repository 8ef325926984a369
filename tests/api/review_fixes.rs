//! Regression tests for defects found in review.
use serde_json::json;

use crate::dual;
use crate::helpers::*;

dual! {
    async fn a_refused_page_form_does_not_rotate_the_refresh_token_behind_the_browser(db: Db) {
        let Some(app) = spawn_app_with(db, &[("JWT_EXPIRATION", "1"), ("REFRESH_REUSE_GRACE", "0")]).await else { return };
        app.form_signup("alice").await;
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        let refused = app.post_form("/account/delete", &[("password", PASSWORD)]).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        // Had the guard rotated before refusing, this refresh cookie would now be a replay.
        let page = app.browser.get(app.url("/dashboard")).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
    }

    async fn nul_and_control_characters_are_client_errors_on_every_backend(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let (admin, _) = app.admin_session("root").await;
        let login = app.post_json(&app.api, "/auth/login", json!({"username": "a\u{0}b", "password": "whatever pass"})).await;
        assert_error(login, StatusCode::BAD_REQUEST, "invalid_request").await;
        let oauth = app.api.post(app.url("/oauth/token")).form(&[("grant_type", "password"), ("username", "a\u{0}"), ("password", "x")]).send().await.unwrap();
        assert_eq!(oauth.status(), StatusCode::BAD_REQUEST);
        for path in ["/auth/sessions/%00", "/auth/sessions/a%0Ab"] {
            let response = app.api.delete(app.url(path)).bearer_auth(&admin).send().await.unwrap();
            assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
        }
        for path in ["/api/admin/users/%00/sessions", "/api/admin/users/x%00y/logout-all"] {
            let response = app.api.request(if path.ends_with("sessions") { reqwest::Method::GET } else { reqwest::Method::POST }, app.url(path)).bearer_auth(&admin).send().await.unwrap();
            assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
        }
        assert_error(app.get_bearer("/api/admin/users?q=%00", &admin).await, StatusCode::BAD_REQUEST, "invalid_request").await;
        // An admin's browser asking for a malformed user page gets an HTML 404.
        let csrf = app.page_csrf("/login").await;
        app.post_form("/auth/login", &[("csrf_token", &csrf), ("username", "root"), ("password", PASSWORD)]).await;
        let page = app.browser.get(app.url("/admin/users/%00")).header("accept", "text/html").send().await.unwrap();
        assert_eq!(page.status(), StatusCode::NOT_FOUND);
        assert!(page.text().await.unwrap().contains("404"));
        assert_error(app.get_bearer("/api/admin/audit?user_id=%00", &admin).await, StatusCode::BAD_REQUEST, "invalid_request").await;
    }

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

    async fn two_sign_ins_at_once_both_succeed(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.signup(&app.api, "alice").await;
        let (first, second) = (client(false), client(false));
        let (a, b) = futures::join!(app.login(&first, "alice"), app.login(&second, "alice"));
        assert_eq!((a.status(), b.status()), (StatusCode::OK, StatusCode::OK));
    }

    async fn the_current_password_cannot_be_guessed_through_a_stolen_session(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.signup(&app.api, "alice").await;
        let (access, _) = app.session("alice").await;
        let guess = || {
            let (client, url, token) = (app.api.clone(), app.url("/auth/password"), access.clone());
            async move {
                client.post(url).bearer_auth(token).json(&json!({"current_password": "guess guess", "new_password": "a brand new passphrase 42"})).send().await.unwrap()
            }
        };
        for _ in 0..5 {
            assert_error(guess().await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        }
        let throttled = guess().await;
        assert!(throttled.headers().contains_key("retry-after"));
        assert_error(throttled, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    }

    async fn a_throttled_form_sign_in_says_when_to_retry(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.signup(&app.api, "alice").await;
        for _ in 0..5 {
            app.post_json(&app.api, "/auth/login", json!({"username": "alice", "password": "wrong password"})).await;
        }
        let csrf = app.page_csrf("/login").await;
        let page = app.post_form("/auth/login", &[("csrf_token", &csrf), ("username", "alice"), ("password", PASSWORD)]).await;
        assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(page.headers().contains_key("retry-after"));
        assert!(page.text().await.unwrap().contains(r#"value="alice""#));
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
