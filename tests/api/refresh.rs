use std::time::Duration;

use diesel::prelude::*;
use portcullis::db::schema::refresh_tokens;
use serde_json::{json, Value};

use crate::dual;
use crate::helpers::*;

/// Live (unused, unrevoked, unexpired) refresh tokens in the whole database.
async fn live_tokens(app: &TestApp) -> i64 {
    let now = portcullis::clock::now();
    app.query(move |conn| {
        refresh_tokens::table
            .filter(refresh_tokens::used_at.is_null())
            .filter(refresh_tokens::revoked_at.is_null())
            .filter(refresh_tokens::expires_at.gt(now))
            .count()
            .get_result(conn)
    })
    .await
}

dual! {
    async fn a_body_refresh_rotates_and_answers_in_the_body_only(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.signup(&app.api, "alice").await;
        let (_, first) = app.session("alice").await;
        let response = app.refresh_with_body(&first).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().get("set-cookie").is_none(), "a body refresh sets no cookie");
        let body: Value = response.json().await.unwrap();
        let second = body["refresh_token"].as_str().unwrap().to_string();
        assert_ne!(second, first);
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(app.get_bearer("/api/me", body["access_token"].as_str().unwrap()).await.status(), StatusCode::OK);
        // The successor rotates on in turn.
        let third = app.refresh_with_body(&second).await;
        assert_eq!(third.status(), StatusCode::OK);
        assert_eq!(live_tokens(&app).await, 2, "one live token per session (signup + login)");
    }

    async fn a_rotation_moves_the_session_on_and_records_who_did_it(db: Db) {
        use portcullis::db::schema::sessions;
        let Some(app) = spawn_app(db).await else { return };
        let signup = app.signup(&app.api, "alice").await;
        let user_id = signup["user"]["id"].as_str().unwrap().to_string();
        let (_, first) = app.session("alice").await;
        let latest_session = || async {
            app.query(|conn| {
                sessions::table
                    .order((sessions::created_at.desc(), sessions::id.desc()))
                    .select(portcullis::db::sessions::SessionRow::as_select())
                    .load(conn)
            })
            .await
        };
        let before = latest_session().await;
        // A second later, so that the rotation's times are distinguishable from the sign-in's.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let response = app
            .api
            .post(app.url("/auth/refresh"))
            .header("user-agent", "rotation-test/1.0")
            .json(&json!({"refresh_token": first}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        let sessions_after = latest_session().await;
        assert_eq!(sessions_after.len(), before.len(), "a rotation opens no session");
        let session = sessions_after.iter().find(|s| s.last_used_at > before[0].last_used_at).expect("one session moved on");
        let lifetime = app.auth.settings().jwt_refresh_expiration;
        assert_eq!(session.expires_at, (session.last_used_at + lifetime).min(session.absolute_expires_at));
        assert!(session.expires_at > before.iter().find(|s| s.id == session.id).unwrap().expires_at);
        assert_eq!(body["user"]["id"], user_id.as_str());
        // The successor is live until the session's new expiry; the presented token is spent.
        let sid = session.id.clone();
        let tokens: Vec<(i64, i64, Option<i64>)> = app
            .query(move |conn| {
                refresh_tokens::table
                    .filter(refresh_tokens::session_id.eq(sid))
                    .order(refresh_tokens::created_at)
                    .select((refresh_tokens::created_at, refresh_tokens::expires_at, refresh_tokens::used_at))
                    .load(conn)
            })
            .await;
        assert_eq!(tokens.len(), 2, "{tokens:?}");
        assert_eq!(tokens[0].2, Some(session.last_used_at), "the presented token is spent at the rotation");
        assert_eq!(tokens[1], (session.last_used_at, session.expires_at, None), "the successor lives as long as its session");
        let uid = user_id.clone();
        let events = app.query(move |conn| portcullis::db::audit::page(conn, Some(&uid), None, 100, 0)).await;
        let event = events.iter().find(|e| e.kind == "refresh").expect("the rotation is audited");
        assert_eq!(event.actor.as_deref(), Some(format!("user:{user_id}").as_str()));
        assert_eq!(event.detail, format!("session={}", session.id));
        assert_eq!(event.ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(event.user_agent.as_deref(), Some("rotation-test/1.0"));
    }

    async fn a_cookie_refresh_answers_in_the_cookie_only(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let signup = app.signup(&app.browser, "alice").await;
        let csrf = app.csrf(&app.browser).await;
        let response = app.browser.post(app.url("/auth/refresh")).header("x-csrf-token", csrf).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let cookie = set_cookie_header(&response, "refresh_token").expect("a new refresh cookie");
        assert!(cookie.contains("SameSite=Strict") && cookie.contains("HttpOnly"));
        assert!(set_cookie(&response, "access_token").is_some());
        let body: Value = response.json().await.unwrap();
        assert!(body.get("refresh_token").is_none());
        assert_eq!(body["user"], signup["user"]);
    }

    async fn refresh_without_a_token_is_refresh_token_required(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        let response = app.api.post(app.url("/auth/refresh")).send().await.unwrap();
        assert_error(response, StatusCode::UNAUTHORIZED, "refresh_token_required").await;
        let response = app.post_json(&app.api, "/auth/refresh", json!({})).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "refresh_token_required").await;
    }

    async fn an_unknown_or_tampered_refresh_token_is_invalid(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.signup(&app.api, "alice").await;
        let (_, token) = app.session("alice").await;
        let mut tampered = token.clone().into_bytes();
        tampered[10] = if tampered[10] == b'A' { b'B' } else { b'A' };
        for bad in [String::from_utf8(tampered).unwrap(), "A".repeat(43), format!("{token}x")] {
            let response = app.refresh_with_body(&bad).await;
            assert_error(response, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
        }
        // None of that hurt the real token.
        assert_eq!(app.refresh_with_body(&token).await.status(), StatusCode::OK);
    }

    async fn reuse_inside_the_grace_window_hands_out_the_same_successor(db: Db) {
        let Some(app) = spawn_app(db).await else { return };
        app.signup(&app.api, "alice").await;
        let (_, token) = app.session("alice").await;
        let first: Value = app.refresh_with_body(&token).await.json().await.unwrap();
        let again = app.refresh_with_body(&token).await;
        assert_eq!(again.status(), StatusCode::OK, "a parallel tab is not a thief");
        let again: Value = again.json().await.unwrap();
        assert_eq!(first["refresh_token"], again["refresh_token"]);
        let next = app.refresh_with_body(first["refresh_token"].as_str().unwrap()).await;
        assert_eq!(next.status(), StatusCode::OK);
        // Every answer that handed out tokens is audited, the one within the window included.
        let uid = app.auth.keys().verify(next.json::<Value>().await.unwrap()["access_token"].as_str().unwrap()).unwrap().sub;
        let refreshes = app.audit_kinds(&uid).await.into_iter().filter(|k| k == "refresh").count();
        assert_eq!(refreshes, 3);
    }

    async fn reuse_after_the_grace_window_revokes_the_whole_session(db: Db) {
        let Some(app) = spawn_app_with(db, &[("REFRESH_REUSE_GRACE", "1")]).await else { return };
        let signup = app.signup(&app.api, "alice").await;
        let (_, stolen) = app.session("alice").await;
        let rotated: Value = app.refresh_with_body(&stolen).await.json().await.unwrap();
        let successor = rotated["refresh_token"].as_str().unwrap().to_string();
        let access = rotated["access_token"].as_str().unwrap().to_string();
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let replay = app.refresh_with_body(&stolen).await;
        assert_error(replay, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;
        // The legitimate holder's successor died with the session, and so did its access token.
        let response = app.refresh_with_body(&successor).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
        assert_error(app.get_bearer("/api/me", &access).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
        // The other session (from signup) is untouched.
        assert_eq!(app.get_bearer("/api/me", signup["access_token"].as_str().unwrap()).await.status(), StatusCode::OK);
        let kinds = app.audit_kinds(signup["user"]["id"].as_str().unwrap()).await;
        assert_eq!(kinds[0], "refresh_reused");
    }

    async fn fifty_concurrent_refreshes_of_one_token_leave_one_live_successor(db: Db) {
        let Some(app) = spawn_app_with(db, &[("DATABASE_POOL_SIZE", "10")]).await else { return };
        app.signup(&app.api, "alice").await;
        let (_, token) = app.session("alice").await;
        let before = live_tokens(&app).await;
        let requests = (0..50).map(|_| {
            let (client, url, token) = (client(false), app.url("/auth/refresh"), token.clone());
            async move { client.post(url).json(&json!({"refresh_token": token})).send().await.unwrap() }
        });
        let responses = futures::future::join_all(requests).await;
        let mut successors = std::collections::HashSet::new();
        for response in responses {
            assert_eq!(response.status(), StatusCode::OK, "every racer is inside the grace window");
            let body: Value = response.json().await.unwrap();
            successors.insert(body["refresh_token"].as_str().unwrap().to_string());
        }
        assert_eq!(successors.len(), 1, "all racers share one successor");
        assert_eq!(live_tokens(&app).await, before, "exactly one live token replaced the old one");
        let successor = successors.into_iter().next().unwrap();
        assert_eq!(app.refresh_with_body(&successor).await.status(), StatusCode::OK);
    }

    async fn fifty_concurrent_refreshes_without_grace_let_exactly_one_through(db: Db) {
        let Some(app) = spawn_app_with(db, &[("REFRESH_REUSE_GRACE", "0")]).await else { return };
        app.signup(&app.api, "alice").await;
        let (_, token) = app.session("alice").await;
        let requests = (0..50).map(|_| {
            let (client, url, token) = (client(false), app.url("/auth/refresh"), token.clone());
            async move { client.post(url).json(&json!({"refresh_token": token})).send().await.unwrap() }
        });
        let statuses: Vec<StatusCode> = futures::future::join_all(requests).await.iter().map(|r| r.status()).collect();
        assert!(statuses.iter().all(|s| !s.is_server_error()), "{statuses:?}");
        let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        assert_eq!(ok, 1, "without a grace window one racer wins and the replays count as theft: {statuses:?}");
        assert_eq!(live_tokens(&app).await, 1, "the stolen session is revoked; the signup session lives");
    }

    async fn a_session_ends_at_its_absolute_lifetime_however_often_it_rotates(db: Db) {
        let Some(app) = spawn_app_with(db, &[("SESSION_MAX_AGE", "6")]).await else { return };
        app.signup(&app.api, "alice").await;
        let signed_in = std::time::Instant::now();
        let (_, mut token) = app.session("alice").await;
        for _ in 0..2 {
            tokio::time::sleep(Duration::from_millis(1000)).await;
            let response = app.refresh_with_body(&token).await;
            assert_eq!(response.status(), StatusCode::OK, "inside the lifetime, rotation works");
            token = response.json::<Value>().await.unwrap()["refresh_token"].as_str().unwrap().to_string();
        }
        // Timestamps are whole seconds: wait until the lifetime has surely passed.
        tokio::time::sleep(Duration::from_secs(7).saturating_sub(signed_in.elapsed())).await;
        assert_error(app.refresh_with_body(&token).await, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    }

    async fn an_idle_session_dies_after_the_refresh_lifetime(db: Db) {
        let Some(app) = spawn_app_with(db, &[("JWT_REFRESH_EXPIRATION", "1")]).await else { return };
        app.signup(&app.api, "alice").await;
        let (_, token) = app.session("alice").await;
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert_error(app.refresh_with_body(&token).await, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    }
}
