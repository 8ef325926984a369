//! The browser surface at the HTTP level: forms, CSRF, redirects, cookies, headers.
use serde_json::json;

use crate::dual;
use crate::helpers::*;

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_string()
}

dual! {
    async fn the_login_form_without_its_csrf_token_is_refused(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.signup(&app.api, "alice").await;
        let _ = app.page_csrf("/login").await;
        for csrf in [None, Some("forged-token")] {
            let mut fields = vec![("username", "alice"), ("password", PASSWORD)];
            if let Some(csrf) = csrf {
                fields.push(("csrf_token", csrf));
            }
            let response = app.post_form("/auth/login", &fields).await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN);
            assert!(set_cookie(&response, "refresh_token").is_none());
            let html = response.text().await.unwrap();
            assert!(html.contains("form has expired"), "{html}");
        }
    }

    async fn the_signup_form_without_its_csrf_token_is_refused(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let response = app
            .post_form("/auth/signup", &[("username", "mallory"), ("email", "m@example.com"), ("password", PASSWORD)])
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let login = app.login(&app.api, "mallory").await;
        assert_error(login, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }

    async fn a_form_sign_in_redirects_with_cookies_and_a_failure_keeps_the_username(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.signup(&app.api, "alice").await;
        let csrf = app.page_csrf("/login").await;
        let failed = app.post_form("/auth/login", &[("csrf_token", &csrf), ("username", "alice"), ("password", "wrong password")]).await;
        assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
        let html = failed.text().await.unwrap();
        assert!(html.contains(r#"value="alice""#) && html.contains("invalid username or password"), "{html}");
        let csrf = meta_csrf(&html);
        let ok = app.post_form("/auth/login", &[("csrf_token", &csrf), ("username", "alice"), ("password", PASSWORD)]).await;
        assert_eq!(ok.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&ok), "/dashboard");
        assert!(set_cookie(&ok, "refresh_token").is_some() && set_cookie(&ok, "access_token").is_some());
        let dashboard = app.browser.get(app.url("/dashboard")).send().await.unwrap();
        assert_eq!(dashboard.status(), StatusCode::OK);
        assert!(dashboard.text().await.unwrap().contains("Signed in as alice"));
    }

    async fn a_form_signup_shows_what_is_wrong_and_keeps_what_was_typed(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let csrf = app.page_csrf("/signup").await;
        let response = app
            .post_form("/auth/signup", &[("csrf_token", &csrf), ("username", "bob"), ("email", "bob@example.com"), ("password", "short")])
            .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = response.text().await.unwrap();
        assert!(html.contains(r#"value="bob""#) && html.contains(r#"value="bob@example.com""#));
        assert!(html.contains("at least 8 characters"), "{html}");
    }

    async fn next_is_followed_only_when_it_is_a_local_path(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.signup(&app.api, "alice").await;
        let cases = [
            ("/dashboard?tab=sessions", "/dashboard?tab=sessions"),
            ("//evil.example", "/dashboard"),
            ("https://evil.example/", "/dashboard"),
            ("/\\evil.example", "/dashboard"),
            ("\\/evil.example", "/dashboard"),
            ("/%2F%2Fevil.example", "/dashboard"),
            ("%2F%2Fevil.example", "/dashboard"),
            ("/%5Cevil.example", "/dashboard"),
            ("/%252F%252Fevil.example", "/dashboard"),
            ("/\t/evil.example", "/dashboard"),
            ("javascript:alert(1)", "/dashboard"),
            ("", "/dashboard"),
        ];
        for (next, expected) in cases {
            let csrf = app.page_csrf("/login").await;
            let response = app
                .post_form("/auth/login", &[("csrf_token", &csrf), ("username", "alice"), ("password", PASSWORD), ("next", next)])
                .await;
            assert_eq!(response.status(), StatusCode::SEE_OTHER, "{next:?}");
            assert_eq!(location(&response), expected, "next={next:?}");
        }
    }

    async fn a_cookie_refresh_needs_the_csrf_header(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.signup(&app.browser, "alice").await;
        let response = app.browser.post(app.url("/auth/refresh")).send().await.unwrap();
        assert_error(response, StatusCode::FORBIDDEN, "forbidden").await;
        let response = app.browser.post(app.url("/auth/refresh")).header("x-csrf-token", "nope").send().await.unwrap();
        assert_error(response, StatusCode::FORBIDDEN, "forbidden").await;
        let csrf = app.csrf(&app.browser).await;
        let response = app.browser.post(app.url("/auth/refresh")).header("x-csrf-token", csrf).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    async fn cookie_authenticated_state_changes_need_the_csrf_token_and_bearer_ones_do_not(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let body = app.signup(&app.browser, "alice").await;
        let (_, other_claims) = jwt_parts(body["access_token"].as_str().unwrap());
        let sid = other_claims["sid"].as_str().unwrap().to_string();
        let (bearer, _) = app.session("alice").await;
        // Cookie-borne, no token: refused, and nothing happened.
        let response = app.browser.post(app.url("/auth/logout-all")).send().await.unwrap();
        assert_error(response, StatusCode::FORBIDDEN, "forbidden").await;
        let response = app.browser.delete(app.url(&format!("/auth/sessions/{sid}"))).send().await.unwrap();
        assert_error(response, StatusCode::FORBIDDEN, "forbidden").await;
        let response = app.browser.post(app.url("/auth/logout")).send().await.unwrap();
        assert_error(response, StatusCode::FORBIDDEN, "forbidden").await;
        let response = app.post_form("/auth/logout-all", &[("csrf_token", "wrong")]).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(app.browser.get(app.url("/api/me")).send().await.unwrap().status(), StatusCode::OK);
        // A Bearer request needs no CSRF token.
        let response = app.api.get(app.url("/auth/sessions")).bearer_auth(&bearer).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        // With the token from the session, the cookie-borne logout-all form works.
        let csrf = app.page_csrf("/dashboard").await;
        let response = app.post_form("/auth/logout-all", &[("csrf_token", &csrf)]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&response), "/login");
        assert_error(app.get_bearer("/api/me", &bearer).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    }

    async fn a_protected_page_without_tokens_redirects_to_login_with_next(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let response = app.browser.get(app.url("/dashboard")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&response), "/login?next=/dashboard");
        let login = app.browser.get(app.url("/login?next=/dashboard")).send().await.unwrap().text().await.unwrap();
        assert!(login.contains(r#"name="next" value="/dashboard""#));
    }

    async fn an_expired_access_cookie_is_refreshed_transparently_on_a_page(db: Db) {
        let Some(app) = spawn_app_with(db, &[("JWT_EXPIRATION", "1")]).await else { return };
        let response = app.form_signup("alice").await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let old_refresh = set_cookie(&response, "refresh_token").unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        let response = app.browser.get(app.url("/dashboard")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "no password prompt");
        let new_refresh = set_cookie(&response, "refresh_token").expect("rotated refresh cookie");
        assert_ne!(new_refresh, old_refresh);
        assert!(set_cookie(&response, "access_token").is_some());
        assert!(response.text().await.unwrap().contains("Signed in as alice"));
    }

    async fn a_dashboard_form_revokes_one_session(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.form_signup("alice").await;
        let (other_access, other_refresh) = app.session("alice").await;
        let (_, claims) = jwt_parts(&other_access);
        let csrf = app.page_csrf("/dashboard").await;
        let path = format!("/auth/sessions/{}/revoke", claims["sid"].as_str().unwrap());
        let response = app.post_form(&path, &[("csrf_token", &csrf)]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&response), "/dashboard");
        assert_error(app.refresh_with_body(&other_refresh).await, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
        let html = app.browser.get(app.url("/dashboard")).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("The session has been revoked."));
    }

    async fn a_form_logout_clears_cookies_and_lands_on_login(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.form_signup("alice").await;
        let csrf = app.page_csrf("/dashboard").await;
        let response = app.post_form("/auth/logout", &[("csrf_token", &csrf)]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&response), "/login");
        assert!(set_cookie_header(&response, "refresh_token").unwrap().contains("Max-Age=0"));
        let page = app.browser.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("You have been signed out."));
        let response = app.browser.get(app.url("/dashboard")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    }
}

#[actix_web::test]
async fn every_cookie_is_secure_httponly_and_scoped_when_cookie_secure_is_on() {
    let app = spawn_app_with(Db::Sqlite, &[("COOKIE_SECURE", "true")]).await.unwrap();
    let response = app
        .post_json(
            &app.api,
            "/auth/signup",
            json!({"username": "alice", "email": "a@example.com", "password": PASSWORD}),
        )
        .await;
    let refresh = set_cookie_header(&response, "refresh_token").unwrap();
    let access = set_cookie_header(&response, "access_token").unwrap();
    let session = set_cookie_header(&response, "portcullis_session").unwrap();
    for (cookie, same_site) in [(&refresh, "SameSite=Strict"), (&access, "SameSite=Lax"), (&session, "SameSite=Lax")] {
        for attribute in ["HttpOnly", "Secure", "Path=/", same_site] {
            assert!(cookie.contains(attribute), "{attribute} missing in {cookie}");
        }
    }
    assert!(refresh.contains("Max-Age=604800") && access.contains("Max-Age=900"));
}

#[actix_web::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app(Db::Sqlite).await.unwrap();
    let html = app.browser.get(app.url("/login")).send().await.unwrap();
    let css_url = {
        let headers = html.headers().clone();
        let body = html.text().await.unwrap();
        let start = body.find("/static/app.").unwrap();
        let url = body[start..start + body[start..].find('"').unwrap()].to_string();
        (headers, url)
    };
    let (page_headers, css_path) = css_url;
    let json = app.api.get(app.url("/api/me")).send().await.unwrap();
    let missing = app.api.get(app.url("/nope")).header("accept", "text/html").send().await.unwrap();
    let css = app.api.get(app.url(&css_path)).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(missing.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    for headers in [&page_headers, json.headers(), missing.headers(), css.headers()] {
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("frame-ancestors 'none'")
                && csp.contains("script-src 'self'")
                && !csp.contains("unsafe-inline")
        );
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "no-referrer");
    }
    assert_eq!(page_headers["cache-control"], "no-store");
    assert_eq!(json.headers()["cache-control"], "no-store");
    assert_eq!(css.status(), StatusCode::OK);
    assert!(css.headers()["cache-control"].to_str().unwrap().contains("immutable"));
}

#[actix_web::test]
async fn pages_have_no_inline_script_or_style() {
    let app = spawn_app(Db::Sqlite).await.unwrap();
    app.form_signup("alice").await;
    for path in ["/login", "/signup", "/dashboard"] {
        let html = app.browser.get(app.url(path)).send().await.unwrap().text().await.unwrap();
        assert!(!html.contains("<script>") && !html.contains("style=") && !html.contains("<style"), "{path}");
        assert!(!html.contains(" onclick=") && !html.contains(" onsubmit="), "{path}");
    }
}
