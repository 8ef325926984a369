//! Account self-service: change password, forgotten password by mail, delete the account.
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::dual;
use crate::helpers::*;

const NEW_PASSWORD: &str = "a brand new passphrase 42";

async fn change_password(app: &TestApp, token: &str, current: &str, new: &str) -> reqwest::Response {
    app.api
        .post(app.url("/auth/password"))
        .bearer_auth(token)
        .json(&json!({"current_password": current, "new_password": new}))
        .send()
        .await
        .unwrap()
}

async fn forgot(app: &TestApp, email: &str) -> reqwest::Response {
    app.post_json(&app.api, "/auth/password/forgot", json!({ "email": email })).await
}

async fn reset(app: &TestApp, token: &str, password: &str) -> reqwest::Response {
    app.post_json(&app.api, "/auth/password/reset", json!({"token": token, "new_password": password})).await
}

dual! {
    async fn changing_the_password_needs_the_current_one_and_ends_every_other_session(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let signup = app.signup(&app.api, "alice").await;
        let (other_access, other_refresh) = app.session("alice").await;
        let (access, refresh) = app.session("alice").await;
        let wrong = change_password(&app, &access, "not my password", NEW_PASSWORD).await;
        assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        let weak = change_password(&app, &access, PASSWORD, "password1").await;
        let body = assert_error(weak, StatusCode::UNPROCESSABLE_ENTITY, "weak_password").await;
        assert!(body["fields"]["new_password"].is_string());
        let missing = app.api.post(app.url("/auth/password")).bearer_auth(&access).json(&json!({})).send().await.unwrap();
        assert_error(missing, StatusCode::BAD_REQUEST, "invalid_request").await;
        let ok = change_password(&app, &access, PASSWORD, NEW_PASSWORD).await;
        assert_eq!(ok.status(), StatusCode::NO_CONTENT);
        // Other sessions are dead, refresh and access alike; this one lives on.
        assert_error(app.refresh_with_body(&other_refresh).await, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
        assert_error(app.get_bearer("/api/me", &other_access).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
        assert_error(app.get_bearer("/api/me", signup["access_token"].as_str().unwrap()).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
        assert_eq!(app.get_bearer("/api/me", &access).await.status(), StatusCode::OK);
        assert_eq!(app.refresh_with_body(&refresh).await.status(), StatusCode::OK);
        // The old password no longer signs in; the new one does.
        assert_error(app.login(&app.api, "alice").await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        let login = app.post_json(&app.api, "/auth/login", json!({"username": "alice", "password": NEW_PASSWORD})).await;
        assert_eq!(login.status(), StatusCode::OK);
        assert!(app.audit_kinds(signup["user"]["id"].as_str().unwrap()).await.contains(&"password_changed".to_string()));
    }

    async fn a_forgotten_password_is_reset_through_the_mailed_link(db: Db) {
        let Some(app) = spawn_app_with(db, &[("PUBLIC_URL", "https://auth.example.com")]).await else { return };
        let signup = app.signup(&app.api, "alice").await;
        let (old_access, old_refresh) = app.session("alice").await;
        let response = forgot(&app, "Alice@Example.com").await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let mail = app.wait_for_mail("alice@example.com").await;
        assert!(mail.contains("Subject: Reset your portcullis password"));
        assert!(mail.contains("https://auth.example.com/reset?token="), "{mail}");
        let token = reset_token(&mail);
        assert_eq!(token.len(), 43);
        // The link opens the reset page with the token in its form.
        let page = app.browser.get(app.url(&format!("/reset?token={token}"))).send().await.unwrap().text().await.unwrap();
        assert!(page.contains(&format!(r#"name="token" value="{token}""#)));
        let response = reset(&app, &token, NEW_PASSWORD).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        // Every session ended; the new password signs in.
        assert_error(app.refresh_with_body(&old_refresh).await, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
        assert_error(app.get_bearer("/api/me", &old_access).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
        let login = app.post_json(&app.api, "/auth/login", json!({"username": "alice", "password": NEW_PASSWORD})).await;
        assert_eq!(login.status(), StatusCode::OK);
        let kinds = app.audit_kinds(signup["user"]["id"].as_str().unwrap()).await;
        assert!(kinds.contains(&"password_reset_requested".into()) && kinds.contains(&"password_reset".into()), "{kinds:?}");
        // The token is single-use.
        let again = reset(&app, &token, "yet another passphrase 7").await;
        assert_error(again, StatusCode::BAD_REQUEST, "invalid_reset_token").await;
    }

    async fn superseded_expired_and_unknown_reset_tokens_are_refused(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.signup(&app.api, "alice").await;
        forgot(&app, "alice@example.com").await;
        let first = reset_token(&app.wait_for_mail("alice@example.com").await);
        forgot(&app, "alice@example.com").await;
        let second = reset_token(&app.wait_for_mail("alice@example.com").await);
        assert_ne!(first, second);
        assert_error(reset(&app, &first, NEW_PASSWORD).await, StatusCode::BAD_REQUEST, "invalid_reset_token").await;
        // Expire the newer one.
        app.query(|conn| {
            use diesel::prelude::*;
            use portcullis::db::schema::password_resets;
            diesel::update(password_resets::table).set(password_resets::expires_at.eq(portcullis::clock::now() - 1)).execute(conn)
        })
        .await;
        assert_error(reset(&app, &second, NEW_PASSWORD).await, StatusCode::BAD_REQUEST, "invalid_reset_token").await;
        for bogus in ["A".repeat(43), "short".to_string(), String::new()] {
            let response = reset(&app, &bogus, NEW_PASSWORD).await;
            assert!(response.status() == StatusCode::BAD_REQUEST, "{bogus:?}");
        }
        assert_error(reset(&app, &"B".repeat(43), NEW_PASSWORD).await, StatusCode::BAD_REQUEST, "invalid_reset_token").await;
        // The password never changed.
        assert_eq!(app.login(&app.api, "alice").await.status(), StatusCode::OK);
    }

    async fn forgot_answers_the_same_in_the_same_time_for_known_and_unknown_emails(db: Db) {
        let Some(app) = spawn_app_with(db, &[("BCRYPT_COST", "10")]).await else { return };
        app.signup(&app.api, "alice").await;
        let mut answers = Vec::new();
        let mut times = Vec::new();
        for email in ["alice@example.com", "nobody@example.com", "alice@example.com", "nobody@example.com"] {
            let started = Instant::now();
            let response = forgot(&app, email).await;
            times.push(started.elapsed());
            let status = response.status();
            answers.push((status, response.text().await.unwrap()));
        }
        assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
        assert_eq!(answers[0].0, StatusCode::ACCEPTED);
        // The work happens after the answer: both kinds answer fast.
        assert!(times.iter().all(|t| *t < Duration::from_millis(1000)), "{times:?}");
        app.wait_for_mail("alice@example.com").await;
        app.wait_for_mail("alice@example.com").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(app.outbox_len(), 0, "no mail for the unknown address");
        let bad = forgot(&app, "not an email").await;
        assert_error(bad, StatusCode::BAD_REQUEST, "invalid_request").await;
    }

    async fn deleting_the_account_needs_the_password_and_frees_the_username(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let signup = app.signup(&app.api, "alice").await;
        let alice = signup["user"]["id"].as_str().unwrap().to_string();
        let (access, refresh) = app.session("alice").await;
        let delete = |password: &'static str| {
            let (client, url, token) = (app.api.clone(), app.url("/auth/account"), access.clone());
            async move { client.delete(url).bearer_auth(token).json(&json!({ "password": password })).send().await.unwrap() }
        };
        assert_error(delete("not my password").await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        assert_eq!(delete(PASSWORD).await.status(), StatusCode::NO_CONTENT);
        assert_error(app.refresh_with_body(&refresh).await, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
        assert_error(app.get_bearer("/api/me", &access).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
        assert_error(app.login(&app.api, "alice").await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        // Audit events stay, with the user id.
        let kinds = app.audit_kinds(&alice).await;
        assert_eq!(kinds[0], "account_deleted");
        assert!(kinds.contains(&"signup".to_string()));
        // The username and email are free again, for a different account.
        let again = app.signup(&app.api, "alice").await;
        assert_ne!(again["user"]["id"], signup["user"]["id"]);
    }

    async fn the_account_pages_change_the_password_and_delete_after_confirmation(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.form_signup("alice").await;
        let csrf = app.page_csrf("/account").await;
        let wrong = app.post_form("/auth/password", &[("csrf_token", &csrf), ("current_password", "nope nope"), ("new_password", NEW_PASSWORD)]).await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        assert!(wrong.text().await.unwrap().contains("invalid username or password"));
        let changed = app.post_form("/auth/password", &[("csrf_token", &csrf), ("current_password", PASSWORD), ("new_password", NEW_PASSWORD)]).await;
        assert_eq!(changed.status(), StatusCode::SEE_OTHER);
        let confirm = app.browser.get(app.url("/account/delete")).send().await.unwrap().text().await.unwrap();
        assert!(confirm.contains("Delete your account?"));
        let csrf = meta_csrf(&confirm);
        let refused = app.post_form("/account/delete", &[("password", NEW_PASSWORD)]).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "no CSRF token, no deletion");
        let deleted = app.post_form("/account/delete", &[("csrf_token", &csrf), ("password", NEW_PASSWORD)]).await;
        assert_eq!(deleted.status(), StatusCode::SEE_OTHER);
        assert_eq!(deleted.headers()["location"], "/login");
        let login = app.post_json(&app.api, "/auth/login", json!({"username": "alice", "password": NEW_PASSWORD})).await;
        assert_error(login, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
}

#[actix_web::test]
async fn the_last_admin_cannot_delete_their_account() {
    let app = spawn_app(Db::Sqlite).await.unwrap();
    let (token, _) = app.admin_session("root").await;
    let response = app
        .api
        .delete(app.url("/auth/account"))
        .bearer_auth(&token)
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::CONFLICT, "conflict").await;
    let _: Value = app.get_bearer("/api/me", &token).await.json().await.unwrap();
}

/// Reset links that are neither used nor expired.
async fn live_reset_links(app: &TestApp) -> i64 {
    use diesel::prelude::*;
    use portcullis::db::schema::password_resets;
    app.query(|conn| {
        password_resets::table
            .filter(password_resets::used_at.is_null())
            .filter(password_resets::expires_at.gt(portcullis::clock::now()))
            .count()
            .get_result(conn)
    })
    .await
}

dual! {
    async fn a_password_change_retires_reset_links_requested_before_it(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.signup(&app.api, "alice").await;
        let (access, _) = app.session("alice").await;
        forgot(&app, "alice@example.com").await;
        let token = reset_token(&app.wait_for_mail("alice@example.com").await);
        assert_eq!(change_password(&app, &access, PASSWORD, NEW_PASSWORD).await.status(), StatusCode::NO_CONTENT);
        assert_error(reset(&app, &token, "a thief's passphrase 99").await, StatusCode::BAD_REQUEST, "invalid_reset_token").await;
        let login = app.post_json(&app.api, "/auth/login", json!({"username": "alice", "password": NEW_PASSWORD})).await;
        assert_eq!(login.status(), StatusCode::OK);
    }

    async fn concurrent_forgot_requests_leave_one_live_link(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.signup(&app.api, "alice").await;
        let requests = (0..10).map(|_| forgot(&app, "alice@example.com"));
        for response in futures::future::join_all(requests).await {
            assert_eq!(response.status(), StatusCode::ACCEPTED);
        }
        // The mails go out after the answers: wait for all ten.
        for _ in 0..200 {
            if app.outbox_len() == 10 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert_eq!(app.outbox_len(), 10);
        assert_eq!(live_reset_links(&app).await, 1);
    }

    async fn a_bogus_reset_token_costs_no_bcrypt(db: Db) {
        let Some(app) = spawn_app_with(db, &[("BCRYPT_COST", "12")]).await else { return };
        let started = Instant::now();
        let response = reset(&app, &"C".repeat(43), NEW_PASSWORD).await;
        let elapsed = started.elapsed();
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_reset_token").await;
        // One bcrypt at cost 12 takes a quarter of a second or more here.
        assert!(elapsed < Duration::from_millis(120), "a bogus token took {elapsed:?}");
    }
}
