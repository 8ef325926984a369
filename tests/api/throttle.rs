//! The per-account sign-in throttle: exact under parallel guesses, never refusing parallel
//! correct passwords, and unable to lock the owner out of a device they signed in from before.
use futures::future::join_all;
use serde_json::json;

use crate::dual;
use crate::helpers::*;

const WRONG: &str = "not the password";

async fn login_as(app: &TestApp, client: &reqwest::Client, username: &str, password: &str) -> reqwest::Response {
    app.post_json(client, "/auth/login", json!({"username": username, "password": password})).await
}

/// Puts the account where a long guessing run leaves it: 20 failures in a row, the last just now.
async fn under_long_attack(app: &TestApp, username: &str) {
    use diesel::prelude::*;
    use portcullis::db::schema::users;
    let name = username.to_string();
    app.query(move |conn| {
        diesel::update(users::table.filter(users::username_key.eq(name)))
            .set((users::failed_logins.eq(20), users::last_failed_login_at.eq(portcullis::clock::now())))
            .execute(conn)
    })
    .await;
}

fn statuses(responses: &[reqwest::Response]) -> (usize, usize, usize) {
    let count = |s: StatusCode| responses.iter().filter(|r| r.status() == s).count();
    (count(StatusCode::OK), count(StatusCode::UNAUTHORIZED), count(StatusCode::TOO_MANY_REQUESTS))
}

dual! {
    async fn a_stranger_cannot_keep_the_owner_out_of_a_device_they_used_before(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let owner = client(true);
        app.signup(&owner, "alice").await;
        let bobs_browser = client(true);
        app.signup(&bobs_browser, "bob").await;
        under_long_attack(&app, "alice").await;

        let stranger = client(false);
        let refused = login_as(&app, &stranger, "alice", PASSWORD).await;
        let retry: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(retry > 800, "the account is at the 15-minute step (Retry-After {retry})");
        assert_error(refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

        // The owner's client carries its device cookie: only its own failures count.
        assert_eq!(login_as(&app, &owner, "alice", PASSWORD).await.status(), StatusCode::OK);
        // A forged device cookie, or one trusted for another account, is an untrusted client.
        let forged = app.api.post(app.url("/auth/login")).header("cookie", "device=AAAAAAAAAAAAAAAAAAAAAA.forged")
            .json(&json!({"username": "alice", "password": PASSWORD})).send().await.unwrap();
        assert_eq!(forged.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(login_as(&app, &bobs_browser, "alice", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);

        // The trusted device has a throttle of its own: five free failures, then a wait.
        for _ in 0..5 {
            assert_eq!(login_as(&app, &owner, "alice", WRONG).await.status(), StatusCode::UNAUTHORIZED);
        }
        assert_eq!(login_as(&app, &owner, "alice", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
        // ... which does not touch the stranger's view of the account, nor bob's device.
        assert_eq!(login_as(&app, &bobs_browser, "bob", PASSWORD).await.status(), StatusCode::OK);
    }

    async fn the_device_cookie_is_set_on_sign_in_and_kept_on_logout(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.signup(&app.api, "alice").await;
        let response = app.login(&app.api, "alice").await;
        let header = set_cookie_header(&response, "device").expect("a device cookie on sign-in");
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=15552000"] {
            assert!(header.contains(attribute), "{attribute} in {header}");
        }
        app.form_signup("bob").await;
        let csrf = app.page_csrf("/dashboard").await;
        let logout = app.post_form("/auth/logout", &[("csrf_token", &csrf)]).await;
        assert!(set_cookie(&logout, "device").is_none(), "logout keeps the device cookie");
    }

    async fn correct_passwords_in_parallel_are_never_refused(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.signup(&app.api, "alice").await;
        let worker = || async {
            let mut responses = Vec::new();
            for _ in 0..25 {
                responses.push(login_as(&app, &client(false), "alice", PASSWORD).await);
            }
            responses
        };
        let responses: Vec<_> = join_all((0..8).map(|_| worker())).await.into_iter().flatten().collect();
        assert_eq!(statuses(&responses), (200, 0, 0));
    }

    async fn parallel_guesses_are_throttled_exactly(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let user = app.signup(&app.api, "alice").await;
        let responses = join_all((0..20).map(|_| async { login_as(&app, &client(false), "alice", WRONG).await })).await;
        assert_eq!(statuses(&responses), (0, 5, 15), "five free guesses, then the wait");
        let kinds = app.audit_kinds(user["user"]["id"].as_str().unwrap()).await;
        assert_eq!(kinds.iter().filter(|k| *k == "login_failed").count(), 5);
        assert_eq!(kinds.iter().filter(|k| *k == "rate_limited").count(), 1);
    }

    async fn parallel_current_password_guesses_are_throttled_exactly(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.signup(&app.api, "alice").await;
        let (access, _) = app.session("alice").await;
        let guess = || async {
            app.api.post(app.url("/auth/password")).bearer_auth(&access)
                .json(&json!({"current_password": WRONG, "new_password": "a brand new passphrase 42"}))
                .send().await.unwrap()
        };
        let responses = join_all((0..20).map(|_| guess())).await;
        assert_eq!(statuses(&responses), (0, 5, 15), "only five bcrypt checks ran");
    }
}

dual! {
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
