//! A browser whose access cookie has expired (it lives `JWT_EXPIRATION` seconds) still holds a
//! valid refresh cookie: every form and cookie request must refresh transparently and then act,
//! never answer "sign in again" while dropping the refresh cookie and doing nothing.
use serde_json::{json, Value};

use crate::dual;
use crate::helpers::*;

const SHORT_ACCESS: &[(&str, &str)] = &[("JWT_EXPIRATION", "1")];

async fn let_the_access_cookie_expire() {
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_string()
}

/// A second device of the user: its access token, refresh token and session id.
async fn phone(app: &TestApp, username: &str) -> (String, String, String) {
    let (access, refresh) = app.session(username).await;
    let sid = jwt_parts(&access).1["sid"].as_str().unwrap().to_string();
    (access, refresh, sid)
}

dual! {
    async fn log_out_everywhere_after_the_access_cookie_expired_logs_out_everywhere(db: Db) {
        let Some(app) = spawn_app_with(db, SHORT_ACCESS).await else { return };
        app.form_signup("alice").await;
        let (_, phone_refresh, _) = phone(&app, "alice").await;
        let csrf = app.page_csrf("/dashboard").await;
        let_the_access_cookie_expire().await;

        let response = app.post_form("/auth/logout-all", &[("csrf_token", &csrf)]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&response), "/login");
        assert_eq!(set_cookie(&response, "refresh_token").as_deref(), Some(""), "logout clears the cookies");
        assert_error(app.refresh_with_body(&phone_refresh).await, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    }

    async fn revoking_a_session_after_the_access_cookie_expired_revokes_it(db: Db) {
        let Some(app) = spawn_app_with(db, SHORT_ACCESS).await else { return };
        app.form_signup("alice").await;
        let (_, phone_refresh, phone_sid) = phone(&app, "alice").await;
        let csrf = app.page_csrf("/dashboard").await;
        let_the_access_cookie_expire().await;

        let response = app.post_form(&format!("/auth/sessions/{phone_sid}/revoke"), &[("csrf_token", &csrf)]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&response), "/dashboard");
        assert_error(app.refresh_with_body(&phone_refresh).await, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
        // This browser stays signed in: its refresh cookie was used, not dropped.
        assert_eq!(app.browser.get(app.url("/dashboard")).send().await.unwrap().status(), StatusCode::OK);
    }

    async fn a_password_change_after_the_access_cookie_expired_changes_it(db: Db) {
        let Some(app) = spawn_app_with(db, SHORT_ACCESS).await else { return };
        app.form_signup("alice").await;
        let csrf = app.page_csrf("/account").await;
        let_the_access_cookie_expire().await;

        let new = "an entirely new passphrase 7";
        let response = app
            .post_form("/auth/password", &[("csrf_token", &csrf), ("current_password", PASSWORD), ("new_password", new)])
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&response), "/account");
        let login = app.post_json(&app.api, "/auth/login", json!({"username": "alice", "password": new})).await;
        assert_eq!(login.status(), StatusCode::OK);
    }

    async fn cookie_json_requests_refresh_instead_of_dropping_the_refresh_cookie(db: Db) {
        let Some(app) = spawn_app_with(db, SHORT_ACCESS).await else { return };
        app.signup(&app.browser, "alice").await;
        let (_, _, phone_sid) = phone(&app, "alice").await;
        let csrf = app.csrf(&app.browser).await;
        let_the_access_cookie_expire().await;

        let me = app.browser.get(app.url("/api/me")).send().await.unwrap();
        assert_eq!(me.status(), StatusCode::OK);
        assert!(set_cookie(&me, "access_token").is_some_and(|v| !v.is_empty()), "a fresh access cookie");
        assert_eq!(me.json::<Value>().await.unwrap()["username"], "alice");

        let_the_access_cookie_expire().await;
        let revoke = app.browser.delete(app.url(&format!("/auth/sessions/{phone_sid}"))).header("x-csrf-token", &csrf).send().await.unwrap();
        assert_eq!(revoke.status(), StatusCode::NO_CONTENT);
        // Without the CSRF token, a cookie request that changes state is refused before any refresh.
        let_the_access_cookie_expire().await;
        let forged = app.browser.post(app.url("/auth/logout-all")).send().await.unwrap();
        assert_error(forged, StatusCode::FORBIDDEN, "forbidden").await;
        assert_eq!(app.browser.get(app.url("/api/me")).send().await.unwrap().status(), StatusCode::OK);
    }

    async fn without_any_cookie_or_token_json_routes_still_say_missing_token(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let response = app.api.post(app.url("/auth/logout-all")).send().await.unwrap();
        assert_error(response, StatusCode::UNAUTHORIZED, "missing_token").await;
    }
}

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
}

dual! {
    async fn revoking_this_browsers_own_session_clears_its_cookies(db: Db) {
        let Some(app) = spawn_app_with(db, SHORT_ACCESS).await else { return };
        app.form_signup("alice").await;
        let csrf = app.page_csrf("/dashboard").await;
        let sessions: Value = app.browser.get(app.url("/auth/sessions")).send().await.unwrap().json().await.unwrap();
        let own = sessions.as_array().unwrap().iter().find(|s| s["current"] == true).expect("the current session")["id"].as_str().unwrap().to_string();
        let_the_access_cookie_expire().await;
        let response = app.post_form(&format!("/auth/sessions/{own}/revoke"), &[("csrf_token", &csrf)]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&response), "/login");
        assert_eq!(set_cookie(&response, "refresh_token").as_deref(), Some(""), "no fresh cookies for a dead session");
        assert_eq!(set_cookie(&response, "access_token").as_deref(), Some(""));
    }
}
