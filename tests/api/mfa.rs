//! Second factors: TOTP enrolment, the code step of sign-in (JSON, OAuth, forms), replay and
//! single use, the throttle on wrong codes, turning it off, recovery codes, the admin's reset.
use serde_json::{json, Value};

use crate::dual;
use crate::helpers::*;
use portcullis::auth::totp::{code_at, STEP_SECS};

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// An authenticator app: hands out codes of steps never used before (waiting for the next step
/// when the one ahead is spent too, as a person would).
struct App {
    secret: Vec<u8>,
    last_step: i64,
}

impl App {
    fn from_enrolment(body: &Value) -> Self {
        let secret = totp_rs::Secret::Encoded(body["secret"].as_str().unwrap().to_string()).to_bytes().unwrap();
        App { secret, last_step: -1 }
    }

    async fn code(&mut self) -> String {
        loop {
            let current = now() / STEP_SECS;
            let step = (self.last_step + 1).max(current - 1);
            if step <= current + 1 {
                self.last_step = step;
                return code_at(&self.secret, step * STEP_SECS);
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }

    /// A code of a step already used.
    fn used_code(&self) -> String {
        code_at(&self.secret, self.last_step * STEP_SECS)
    }
}

/// Turns TOTP on for a signed-in user; returns the app and the recovery codes.
async fn enable_totp(app: &TestApp, access: &str) -> (App, Vec<String>) {
    let response = app
        .api
        .post(app.url("/auth/mfa/totp"))
        .bearer_auth(access)
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert!(body["otpauth_uri"].as_str().unwrap().starts_with("otpauth://totp/"));
    let mut authenticator = App::from_enrolment(&body);
    let code = authenticator.code().await;
    let response = app
        .api
        .post(app.url("/auth/mfa/totp/confirm"))
        .bearer_auth(access)
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let codes: Vec<String> =
        body["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
    (authenticator, codes)
}

/// The password step: `403 mfa_required` with a token, and no cookie.
async fn password_step(app: &TestApp, username: &str) -> String {
    let response = app.login(&app.api, username).await;
    assert!(response.headers().get("set-cookie").is_none(), "no cookie before the second factor");
    let body = assert_error(response, StatusCode::FORBIDDEN, "mfa_required").await;
    assert_eq!(body["methods"], json!(["totp", "recovery_code"]));
    assert!(body.get("access_token").is_none());
    body["mfa_token"].as_str().unwrap().to_string()
}

async fn code_step(app: &TestApp, body: Value) -> reqwest::Response {
    app.post_json(&app.api, "/auth/login/mfa", body).await
}

dual! {
    async fn totp_enrolment_and_sign_in(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let user_id = app.signup(&app.api, "alice").await["user"]["id"].as_str().unwrap().to_string();
        let (access, _) = app.session("alice").await;
        let (other_device, _) = app.session("alice").await;

        let response = app.api.post(app.url("/auth/mfa/totp")).bearer_auth(&access).json(&json!({"password": "not the password"})).send().await.unwrap();
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        let response = app.api.post(app.url("/auth/mfa/totp")).bearer_auth(&access).json(&json!({"password": PASSWORD})).send().await.unwrap();
        let enrolment: Value = response.json().await.unwrap();
        let mut authenticator = App::from_enrolment(&enrolment);
        let status: Value = app.get_bearer("/auth/mfa", &access).await.json().await.unwrap();
        assert_eq!(status["totp"], false, "pending until confirmed");
        assert_eq!(app.login(&app.api, "alice").await.status(), StatusCode::OK, "a pending secret asks for nothing");
        let response = app.api.post(app.url("/auth/mfa/totp/confirm")).bearer_auth(&access).json(&json!({"code": "000000"})).send().await.unwrap();
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
        let code = authenticator.code().await;
        let response = app.api.post(app.url("/auth/mfa/totp/confirm")).bearer_auth(&access).json(&json!({"code": code})).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let codes: Value = response.json().await.unwrap();
        let codes: Vec<String> = codes["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
        assert_eq!(codes.len(), 10);
        assert_eq!(app.get_bearer("/api/me", &other_device).await.status(), StatusCode::UNAUTHORIZED, "other sessions end");
        assert_eq!(app.get_bearer("/api/me", &access).await.status(), StatusCode::OK, "this one stays");
        let status: Value = app.get_bearer("/auth/mfa", &access).await.json().await.unwrap();
        assert_eq!(status, json!({"totp": true, "recovery_codes_left": 10, "passkeys": []}));
        let again = app.api.post(app.url("/auth/mfa/totp")).bearer_auth(&access).json(&json!({"password": PASSWORD})).send().await.unwrap();
        assert_error(again, StatusCode::CONFLICT, "conflict").await;

        // Sign-in: the password alone is not enough.
        let token = password_step(&app, "alice").await;
        let wrong = code_step(&app, json!({"mfa_token": token, "code": "123456"})).await;
        assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
        let replay = code_step(&app, json!({"mfa_token": token, "code": authenticator.used_code()})).await;
        assert_error(replay, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
        let code = authenticator.code().await;
        let response = code_step(&app, json!({"mfa_token": token, "code": code})).await;
        assert_eq!(response.status(), StatusCode::OK, "a wrong code does not spend the token");
        assert!(set_cookie(&response, "refresh_token").is_some());
        let body: Value = response.json().await.unwrap();
        assert_eq!(app.get_bearer("/api/me", body["access_token"].as_str().unwrap()).await.status(), StatusCode::OK);
        let spent = code_step(&app, json!({"mfa_token": token, "code": authenticator.code().await})).await;
        assert_error(spent, StatusCode::UNAUTHORIZED, "invalid_mfa_token").await;
        // The same code once more, with a fresh password check: refused (accepted once).
        let token = password_step(&app, "alice").await;
        let replay = code_step(&app, json!({"mfa_token": token, "code": code})).await;
        assert_error(replay, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;

        // Recovery codes: each works once, typed in any case.
        let response = code_step(&app, json!({"mfa_token": token, "recovery_code": codes[0].to_uppercase()})).await;
        assert_eq!(response.status(), StatusCode::OK);
        let token = password_step(&app, "alice").await;
        let reused = code_step(&app, json!({"mfa_token": token, "recovery_code": codes[0]})).await;
        assert_error(reused, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
        let status: Value = app.get_bearer("/auth/mfa", &access).await.json().await.unwrap();
        assert_eq!(status["recovery_codes_left"], 9);

        // Garbage tokens and expired ones.
        let unknown = code_step(&app, json!({"mfa_token": "x".repeat(43), "code": "123456"})).await;
        assert_error(unknown, StatusCode::UNAUTHORIZED, "invalid_mfa_token").await;
        let missing = code_step(&app, json!({"mfa_token": token})).await;
        assert_error(missing, StatusCode::BAD_REQUEST, "invalid_request").await;
        app.query(|conn| {
            use diesel::prelude::*;
            use portcullis::db::schema::mfa_challenges::dsl::*;
            diesel::update(mfa_challenges).set(expires_at.eq(0i64)).execute(conn)
        }).await;
        let expired = code_step(&app, json!({"mfa_token": token, "code": authenticator.code().await})).await;
        assert_error(expired, StatusCode::UNAUTHORIZED, "invalid_mfa_token").await;

        let kinds = app.audit_kinds(&user_id).await;
        for kind in ["mfa_enabled", "mfa_failed", "recovery_code_used"] {
            assert!(kinds.iter().any(|k| k == kind), "{kind} audited: {kinds:?}");
        }
    }

    async fn the_password_grant_never_bypasses_the_second_factor(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.signup(&app.api, "alice").await;
        let (access, _) = app.session("alice").await;
        let (mut authenticator, _) = enable_totp(&app, &access).await;
        let response = app.api.post(app.url("/oauth/token"))
            .form(&[("grant_type", "password"), ("username", "alice"), ("password", PASSWORD)])
            .send().await.unwrap();
        let body = assert_error(response, StatusCode::FORBIDDEN, "mfa_required").await;
        let mfa_token = body["mfa_token"].as_str().unwrap().to_string();
        assert_eq!(mfa_token.len(), 43);
        // A native client completes it at the token endpoint (Auth0's mfa-otp grant) and gets
        // its refresh token in the body, as from the password grant.
        const GRANT: &str = "http://auth0.com/oauth/grant-type/mfa-otp";
        let wrong = app.api.post(app.url("/oauth/token"))
            .form(&[("grant_type", GRANT), ("mfa_token", &mfa_token), ("otp", "000000")]).send().await.unwrap();
        assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
        assert_eq!(wrong.json::<Value>().await.unwrap()["error"], "invalid_grant");
        let code = authenticator.code().await;
        let response = app.api.post(app.url("/oauth/token"))
            .form(&[("grant_type", GRANT), ("mfa_token", &mfa_token), ("otp", &code)]).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let tokens: Value = response.json().await.unwrap();
        assert!(tokens["refresh_token"].as_str().is_some_and(|t| t.len() == 43));
        assert_eq!(app.get_bearer("/api/me", tokens["access_token"].as_str().unwrap()).await.status(), StatusCode::OK);
    }

    async fn wrong_codes_are_throttled_like_wrong_passwords(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let user_id = app.signup(&app.api, "alice").await["user"]["id"].as_str().unwrap().to_string();
        let (access, _) = app.session("alice").await;
        enable_totp(&app, &access).await;
        let token = password_step(&app, "alice").await;
        let mut statuses = Vec::new();
        for _ in 0..7 {
            statuses.push(code_step(&app, json!({"mfa_token": token, "code": "000000"})).await.status());
        }
        assert_eq!(&statuses[..5], &[StatusCode::UNAUTHORIZED; 5], "five free failures: {statuses:?}");
        let throttled = code_step(&app, json!({"mfa_token": token, "code": "000000"})).await;
        assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(throttled.headers().get("retry-after").is_some());
        // The password check counts against the same throttle.
        assert_eq!(app.login(&app.api, "alice").await.status(), StatusCode::TOO_MANY_REQUESTS);
        let failed = app.audit_kinds(&user_id).await.iter().filter(|k| *k == "mfa_failed").count();
        assert!(failed >= 5, "wrong codes audited as mfa_failed ({failed})");
    }

    async fn turning_totp_off_and_new_recovery_codes(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.signup(&app.api, "alice").await;
        let (access, _) = app.session("alice").await;
        let (mut authenticator, old_codes) = enable_totp(&app, &access).await;
        let response = app.api.post(app.url("/auth/mfa/recovery-codes")).bearer_auth(&access).json(&json!({"password": "wrong password!"})).send().await.unwrap();
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        let response = app.api.post(app.url("/auth/mfa/recovery-codes")).bearer_auth(&access).json(&json!({"password": PASSWORD})).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let new_codes: Value = response.json().await.unwrap();
        let new_code = new_codes["recovery_codes"][0].as_str().unwrap().to_string();
        let token = password_step(&app, "alice").await;
        let dead = code_step(&app, json!({"mfa_token": token, "recovery_code": old_codes[1]})).await;
        assert_error(dead, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;

        let (keeper, _) = {
            let response = code_step(&app, json!({"mfa_token": token, "recovery_code": new_code})).await;
            assert_eq!(response.status(), StatusCode::OK);
            let body: Value = response.json().await.unwrap();
            (body["access_token"].as_str().unwrap().to_string(), ())
        };
        let wrong = app.api.delete(app.url("/auth/mfa/totp")).bearer_auth(&keeper).json(&json!({"password": PASSWORD, "code": "000000"})).send().await.unwrap();
        assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
        let code = authenticator.code().await;
        let response = app.api.delete(app.url("/auth/mfa/totp")).bearer_auth(&keeper).json(&json!({"password": PASSWORD, "code": code})).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_eq!(app.get_bearer("/api/me", &access).await.status(), StatusCode::UNAUTHORIZED, "other sessions end");
        assert_eq!(app.login(&app.api, "alice").await.status(), StatusCode::OK, "the password alone again");
        let status: Value = app.get_bearer("/auth/mfa", &keeper).await.json().await.unwrap();
        assert_eq!(status, json!({"totp": false, "recovery_codes_left": 0, "passkeys": []}));
    }

    async fn an_admin_resets_a_locked_out_users_second_factors(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let alice = app.signup(&app.api, "alice").await["user"]["id"].as_str().unwrap().to_string();
        app.signup(&app.api, "mallory").await;
        let (access, _) = app.session("alice").await;
        enable_totp(&app, &access).await;
        let (mallory, _) = app.session("mallory").await;
        let refused = app.api.delete(app.url(&format!("/api/admin/users/{alice}/mfa"))).bearer_auth(&mallory).send().await.unwrap();
        assert_error(refused, StatusCode::FORBIDDEN, "forbidden").await;
        let (admin, _) = app.admin_session("root").await;
        let response = app.api.delete(app.url(&format!("/api/admin/users/{alice}/mfa"))).bearer_auth(&admin).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_eq!(app.get_bearer("/api/me", &access).await.status(), StatusCode::UNAUTHORIZED, "sessions end");
        assert_eq!(app.login(&app.api, "alice").await.status(), StatusCode::OK, "the password alone again");
        assert!(app.audit_kinds(&alice).await.iter().any(|k| k == "admin_mfa_reset"));
        let missing = app.api.delete(app.url("/api/admin/users/nosuchuser0000000000a/mfa")).bearer_auth(&admin).send().await.unwrap();
        assert_error(missing, StatusCode::NOT_FOUND, "not_found").await;
    }

    async fn the_login_form_leads_to_a_code_page_that_keeps_next(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.signup(&app.api, "alice").await;
        let (access, _) = app.session("alice").await;
        let (mut authenticator, _) = enable_totp(&app, &access).await;
        let csrf = app.page_csrf("/login").await;
        let response = app.post_form("/auth/login", &[("csrf_token", &csrf), ("username", "alice"), ("password", PASSWORD), ("next", "/account")]).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(set_cookie(&response, "refresh_token").is_none());
        let html = response.text().await.unwrap();
        assert!(html.contains(r#"action="/auth/login/mfa""#) && html.contains(r#"name="next" value="/account""#), "{html}");
        let marker = r#"name="mfa_token" value=""#;
        let start = html.find(marker).unwrap() + marker.len();
        let token = html[start..start + html[start..].find('"').unwrap()].to_string();
        let csrf = meta_csrf(&html);
        // Without the CSRF token: refused.
        let response = app.post_form("/auth/login/mfa", &[("mfa_token", &token), ("code", "000000")]).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let response = app.post_form("/auth/login/mfa", &[("csrf_token", &csrf), ("mfa_token", &token), ("code", "000000"), ("next", "/account")]).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let html = response.text().await.unwrap();
        assert!(html.contains("wrong") && html.contains(&token), "the code page again, with the error");
        let code = authenticator.code().await;
        let response = app.post_form("/auth/login/mfa", &[("csrf_token", &csrf), ("mfa_token", &token), ("code", &code), ("next", "/account")]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()["location"], "/account");
        assert!(set_cookie(&response, "refresh_token").is_some());
        let page = app.browser.get(app.url("/account")).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        assert!(page.text().await.unwrap().contains("recovery-codes-left"));
    }

    async fn totp_enrolment_through_the_account_page(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let signup = app.form_signup("alice").await;
        assert_eq!(signup.status(), StatusCode::SEE_OTHER);
        let csrf = app.page_csrf("/account").await;
        // A wrong password is shown in the set-up card, on its field, not in "Change password".
        let response = app.post_form("/auth/mfa/totp", &[("csrf_token", &csrf), ("password", "not my password")]).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let html = response.text().await.unwrap();
        let field = &html[html.find(r#"<input id="totp_password""#).unwrap()..];
        assert!(field[..field.find('>').unwrap()].contains("aria-invalid"), "the set-up field is marked");
        let other = &html[html.find(r#"<input id="current_password""#).unwrap()..];
        assert!(!other[..other.find('>').unwrap()].contains("aria-invalid"), "the password-change field is not");
        let response = app.post_form("/auth/mfa/totp", &[("csrf_token", &csrf), ("password", PASSWORD)]).await;
        assert_eq!(response.status(), StatusCode::OK);
        let html = response.text().await.unwrap();
        assert!(html.contains("<svg") && html.contains("otpauth://totp/"), "a QR code drawn on the server and the URI");
        let marker = r#"id="totp-secret">"#;
        let start = html.find(marker).unwrap() + marker.len();
        let secret = html[start..start + html[start..].find('<').unwrap()].to_string();
        let mut authenticator = App::from_enrolment(&json!({"secret": secret}));
        // A wrong code shows the same QR code again, the error on the code field.
        let response = app.post_form("/auth/mfa/totp/confirm", &[("csrf_token", &csrf), ("code", "000000")]).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let again = response.text().await.unwrap();
        assert!(again.contains(&secret) && again.contains("<svg"), "the pending secret is shown again");
        assert!(again.contains(r#"aria-invalid="true" aria-describedby="form-error" autofocus"#));
        let code = authenticator.code().await;
        let response = app.post_form("/auth/mfa/totp/confirm", &[("csrf_token", &csrf), ("code", &code)]).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["cache-control"], "no-store");
        let html = response.text().await.unwrap();
        assert_eq!(html.matches("<li><code>").count(), 10, "ten recovery codes, shown once");
        let account = app.browser.get(app.url("/account")).send().await.unwrap().text().await.unwrap();
        assert!(account.contains(r#"id="recovery-codes-left">10<"#));
        // Turning it off from the page with a wrong code re-renders the page with the error.
        let response = app.post_form("/auth/mfa/totp/disable", &[("csrf_token", &csrf), ("password", PASSWORD), ("code", "000000")]).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let code = authenticator.code().await;
        let response = app.post_form("/auth/mfa/totp/disable", &[("csrf_token", &csrf), ("password", PASSWORD), ("code", &code)]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let account = app.browser.get(app.url("/account")).send().await.unwrap().text().await.unwrap();
        assert!(account.contains("Set up an authenticator app"));
    }

    async fn the_admin_user_page_shows_and_resets_second_factors(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let alice = app.signup(&app.api, "alice").await["user"]["id"].as_str().unwrap().to_string();
        let (access, _) = app.session("alice").await;
        enable_totp(&app, &access).await;
        app.admin_session("root").await;
        let csrf = app.page_csrf("/login").await;
        app.post_form("/auth/login", &[("csrf_token", &csrf), ("username", "root"), ("password", PASSWORD)]).await;
        let page = app.browser.get(app.url(&format!("/admin/users/{alice}"))).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("Authenticator app: <strong>on</strong>"), "{page}");
        let confirm = app.browser.get(app.url(&format!("/admin/users/{alice}/mfa/reset"))).send().await.unwrap();
        assert_eq!(confirm.status(), StatusCode::OK);
        let csrf = meta_csrf(&confirm.text().await.unwrap());
        let done = app.post_form(&format!("/admin/users/{alice}/mfa/reset"), &[("csrf_token", &csrf)]).await;
        assert_eq!(done.status(), StatusCode::SEE_OTHER);
        assert_eq!(done.headers()["location"], format!("/admin/users/{alice}"));
        let page = app.browser.get(app.url(&format!("/admin/users/{alice}"))).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("Authenticator app: <strong>off</strong>"));
        assert_eq!(app.get_bearer("/api/me", &access).await.status(), StatusCode::UNAUTHORIZED);
        // Without the CSRF token nothing happens.
        let refused = app.post_form(&format!("/admin/users/{alice}/mfa/reset"), &[]).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    }

    async fn wrong_codes_at_enrolment_and_when_turning_off_are_throttled(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let user_id = app.signup(&app.api, "alice").await["user"]["id"].as_str().unwrap().to_string();
        let (access, _) = app.session("alice").await;
        let response = app.api.post(app.url("/auth/mfa/totp")).bearer_auth(&access).json(&json!({"password": PASSWORD})).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let confirm = || async {
            app.api.post(app.url("/auth/mfa/totp/confirm")).bearer_auth(&access).json(&json!({"code": "000000"})).send().await.unwrap().status()
        };
        let mut statuses = Vec::new();
        for _ in 0..6 {
            statuses.push(confirm().await);
        }
        assert_eq!(&statuses[..5], &[StatusCode::UNAUTHORIZED; 5], "{statuses:?}");
        assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS, "a stolen session cannot guess through a pending enrolment");
        assert!(app.audit_kinds(&user_id).await.iter().filter(|k| *k == "mfa_failed").count() >= 5);

        // Turning it off: a known password does not buy unlimited code guesses.
        let Some(app) = spawn_app(db).await else { return };
        app.signup(&app.api, "bob").await;
        let (access, _) = app.session("bob").await;
        enable_totp(&app, &access).await;
        let mut statuses = Vec::new();
        for _ in 0..6 {
            let response = app.api.delete(app.url("/auth/mfa/totp")).bearer_auth(&access)
                .json(&json!({"password": PASSWORD, "code": "000000"})).send().await.unwrap();
            statuses.push(response.status());
        }
        assert_eq!(&statuses[..5], &[StatusCode::UNAUTHORIZED; 5], "{statuses:?}");
        assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS);
    }

    async fn a_pending_code_step_ends_with_the_sessions(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.signup(&app.api, "alice").await;
        let (access, _) = app.session("alice").await;
        let (mut authenticator, _) = enable_totp(&app, &access).await;
        // A phisher holds a password check; the owner logs out everywhere.
        let phished = password_step(&app, "alice").await;
        let response = app.api.post(app.url("/auth/logout-all")).bearer_auth(&access).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        let late = code_step(&app, json!({"mfa_token": phished, "code": authenticator.code().await})).await;
        assert_error(late, StatusCode::UNAUTHORIZED, "invalid_mfa_token").await;
        // And after a password change.
        let token = password_step(&app, "alice").await;
        let response = code_step(&app, json!({"mfa_token": token, "code": authenticator.code().await})).await;
        let keeper = response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
        let phished = password_step(&app, "alice").await;
        let response = app.api.post(app.url("/auth/password")).bearer_auth(&keeper)
            .json(&json!({"current_password": PASSWORD, "new_password": "a new passphrase for alice 7"})).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        let late = code_step(&app, json!({"mfa_token": phished, "code": authenticator.code().await})).await;
        assert_error(late, StatusCode::UNAUTHORIZED, "invalid_mfa_token").await;
    }

    async fn pages_never_carry_a_next_that_leaves_the_site(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        for evil in ["%2F%09%2Fevil.com", "%2F%0A%2Fevil.com", "%2F%2Fevil.com", "https%3A%2F%2Fevil.com"] {
            let html = app.browser.get(app.url(&format!("/login?next={evil}"))).send().await.unwrap().text().await.unwrap();
            assert!(html.contains(r#"name="next" value="""#), "{evil}: the hidden next is emptied");
        }
        let html = app.browser.get(app.url("/login?next=%2Faccount")).send().await.unwrap().text().await.unwrap();
        assert!(html.contains(r#"name="next" value="/account""#));
        // An expired code step sends the form back to the password, keeping a local next.
        app.signup(&app.api, "alice").await;
        let (access, _) = app.session("alice").await;
        enable_totp(&app, &access).await;
        let csrf = app.page_csrf("/login").await;
        let response = app.post_form("/auth/login/mfa", &[("csrf_token", &csrf), ("mfa_token", &"x".repeat(43)), ("code", "123456"), ("next", "/account")]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()["location"], "/login?next=%2Faccount");
    }
}
